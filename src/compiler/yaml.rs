//! Every YAML (de)serialisation in machine goes through this module.
//!
//! Lima templates are read and written as `serde_yaml_ng` values, whose mappings keep insertion
//! order, so rendered files are deterministic. Nothing is ever built by pasting text into YAML:
//! user strings only reach YAML through the emitter, which quotes them as needed.

use std::fmt;

pub use serde_yaml_ng::{Mapping, Value};

/// A YAML syntax or shape error, with the 1-based position Lima's users can look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Parses one YAML document. An empty document (or one of only comments) is an empty mapping.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    if text.trim().is_empty() {
        return Ok(Value::Mapping(Mapping::new()));
    }
    let to_error = |err: serde_yaml_ng::Error| {
        let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
        YamlError { line, column, message: strip_position(&err.to_string()) }
    };
    let mut value: Value = serde_yaml_ng::from_str(text).map_err(to_error)?;
    // Merge keys (`<<: *defaults`) are resolved here: emitted as a plain `<<` key again, they
    // would mean whatever the next reader makes of them.
    value.apply_merge().map_err(to_error)?;
    Ok(if value == Value::Null { Value::Mapping(Mapping::new()) } else { value })
}

/// The library appends " at line N column M" to messages; we report positions ourselves.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Emits a value as a YAML document (no leading `---`).
pub fn to_string(value: &Value) -> String {
    // Serialising a `Value` cannot fail: every key is a plain scalar and there are no tags.
    serde_yaml_ng::to_string(value).expect("a YAML value always serialises")
}

/// Emits a mapping as [`to_string`] emits it as a value, without copying it into one.
pub fn mapping_to_string(map: &Mapping) -> String {
    serde_yaml_ng::to_string(map).expect("a YAML mapping always serialises")
}

/// Emits any serialisable value (used for JSON-like data such as `--json` output in YAML form).
pub fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_yaml_ng::to_value(value).expect("plain data always converts to a YAML value")
}

pub fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

/// Looks up a string key in a mapping value.
pub fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping().and_then(|m| m.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_is_an_empty_mapping() {
        assert_eq!(parse("  \n# only a comment\n").unwrap(), parse("{}").unwrap());
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        assert!(!err.message.contains(" at line "), "{err:?}");
    }

    #[test]
    fn merge_keys_are_resolved_when_read() {
        let value = parse("base: &b {a: 1, b: 2}\nmine:\n  <<: *b\n  b: 3\n").unwrap();
        assert_eq!(to_string(get(&value, "mine").unwrap()), "b: 3\na: 1\n");
    }

    #[test]
    fn hostile_strings_round_trip() {
        for s in
            ["a: b", "#x", "'q'", "\"q\"", "{{ .Param.x }}", "- item", "line\nbreak", "yes", "", " lead", "0x10", "~"]
        {
            let mut m = Mapping::new();
            m.insert(string("k"), string(s));
            let text = to_string(&Value::Mapping(m));
            let back = parse(&text).unwrap();
            assert_eq!(get(&back, "k").and_then(Value::as_str), Some(s), "{text}");
        }
    }
}
