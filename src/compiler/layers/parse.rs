//! Reads one layer: its header comments, its YAML, and the local files its locators name.

use std::collections::BTreeMap;
use std::path::Path;

use super::{LayerDef, LayerKind, Origin};
use crate::compiler::config::model::check_instance_name;
use crate::compiler::config::source::{Diagnostic, Source, did_you_mean};
use crate::compiler::lima_keys;
use crate::compiler::yaml::{self, Mapping, Value};

/// Metadata a layer declares in its leading comment lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// `# description: …`: one line for `machine profiles`.
    pub description: String,
    /// `# requires: a, b`: layers that must come earlier in the chain.
    pub requires: Vec<String>,
}

/// Keys a layer may not set: machine owns them in the generated stack.
const FORBIDDEN_KEYS: [(&str, &str); 2] = [
    ("base", "machine chains layers itself; list profiles in projects.toml instead"),
    ("param", "params are declared by machine for the instance (gitName, gitEmail, signingKey, shell)"),
];

/// Parses and checks a layer. `read` fetches a locator's file relative to the layer's root;
/// `attach` names a script to append as a `mode: system` step unless the YAML already lists it.
pub fn parse_layer(
    name: &str,
    kind: LayerKind,
    origin: Origin,
    shown: &Path,
    text: &str,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    attach: Option<&str>,
) -> Result<LayerDef, Vec<Diagnostic>> {
    let src = Source::new(shown, text);
    let header = parse_header(text);
    let value = yaml::parse(text).map_err(|e| vec![yaml_error(&src, &e)])?;
    let mut body = match value {
        Value::Mapping(m) => m,
        Value::Null => Mapping::new(),
        _ => return Err(vec![Diagnostic::whole_file(shown, "a layer must be a YAML mapping of Lima template keys")]),
    };
    let mut errors = Vec::new();
    for key in body.keys() {
        let Some(key) = key.as_str() else {
            errors.push(Diagnostic::whole_file(shown, "layer keys must be strings"));
            continue;
        };
        if let Some((_, why)) = FORBIDDEN_KEYS.iter().find(|(k, _)| *k == key) {
            errors.push(at(&src, key, format!("a layer may not set `{key}`")).hint(*why));
        } else if !lima_keys::TOP_LEVEL.contains(&key) {
            let hint = did_you_mean(key, lima_keys::TOP_LEVEL.iter().copied()).map(|k| format!("did you mean `{k}`?"));
            errors.push(at(&src, key, format!("`{key}` is not a Lima template key")).maybe_hint(hint));
        }
    }
    if let Some(script) = attach {
        attach_script(&mut body, script);
    }
    let mut files = BTreeMap::new();
    for (list, what) in [("provision", "provision"), ("probes", "probes")] {
        let Some(entries) = body.get(list) else { continue };
        let Some(entries) = entries.as_sequence() else {
            errors.push(at(&src, list, format!("`{list}` must be a list")));
            continue;
        };
        let is_probe = list == "probes";
        let mut inlined = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let at_path = format!("{what}[{i}]");
            let Some((loc, bytes)) = check_entry(&src, &at_path, entry, is_probe, read, &mut errors) else { continue };
            if is_probe {
                inlined.push((i, bytes));
            } else {
                files.insert(loc, bytes);
            }
        }
        inline_probe_scripts(&mut body, &inlined);
    }
    if errors.is_empty() {
        let mut layer = LayerDef {
            name: name.to_string(),
            kind,
            origin,
            header,
            text: text.to_string(),
            body,
            files,
            param_refs: Vec::new(),
        };
        layer.param_refs = crate::compiler::compile::param_references(&layer);
        Ok(layer)
    } else {
        Err(errors)
    }
}

/// Layer names become file names and list entries: keep them plain.
pub(super) fn check_layer_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok { Ok(()) } else { Err("must use only a-z, 0-9 and inner `-`".to_string()) }
}

/// The leading comment lines of a layer's bytes, all [`parse_header`] reads (a catalog is
/// built on every command; the rest of the layer is read only when it is used).
pub(super) fn header_lines(bytes: &[u8]) -> &[u8] {
    let mut end = 0;
    while bytes.get(end) == Some(&b'#') {
        end = bytes[end..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |n| end + n + 1);
    }
    &bytes[..end]
}

pub(super) fn parse_header(text: &str) -> Header {
    let mut header = Header::default();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let line = line.trim_start_matches('#').trim();
        if let Some(d) = line.strip_prefix("description:") {
            header.description = d.trim().to_string();
        } else if let Some(r) = line.strip_prefix("requires:") {
            header.requires = r.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
    }
    header
}

fn attach_script(body: &mut Mapping, script: &str) {
    let listed = body
        .get("provision")
        .and_then(Value::as_sequence)
        .is_some_and(|entries| entries.iter().any(|e| locator(e).is_some_and(|l| l == script)));
    if listed {
        return;
    }
    let mut step = Mapping::new();
    step.insert(yaml::string("mode"), yaml::string("system"));
    step.insert(yaml::string("file"), yaml::string(script));
    let provision = body.entry(yaml::string("provision")).or_insert_with(|| Value::Sequence(Vec::new()));
    if let Value::Sequence(seq) = provision {
        seq.push(Value::Mapping(step));
    }
}

/// The `file:` locator of a provision or probe entry (a string or `{url: …}`).
fn locator(entry: &Value) -> Option<&str> {
    match yaml::get(entry, "file")? {
        Value::String(s) => Some(s),
        v => yaml::get(v, "url").and_then(Value::as_str),
    }
}

fn is_relative_local(locator: &str) -> bool {
    !locator.contains("://")
        && !locator.starts_with('/')
        && !locator.starts_with('~')
        && !locator.starts_with("template:")
}

/// Lima 2.2 never embeds a probe's `file:` (it only embeds probes that already have a `script`)
/// and then refuses the probe, so a probe file next to the layer becomes its inline `script`.
fn inline_probe_scripts(body: &mut Mapping, scripts: &[(usize, Vec<u8>)]) {
    let Some(Value::Sequence(probes)) = body.get_mut("probes") else { return };
    for (i, bytes) in scripts {
        if let Some(Value::Mapping(probe)) = probes.get_mut(*i) {
            probe.remove("file");
            probe.insert(yaml::string("script"), yaml::string(String::from_utf8_lossy(bytes)));
        }
    }
}

/// Checks one provision or probe entry; returns the local file its `file:` names, read.
fn check_entry(
    src: &Source,
    at_path: &str,
    entry: &Value,
    is_probe: bool,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    errors: &mut Vec<Diagnostic>,
) -> Option<(String, Vec<u8>)> {
    if !entry.is_mapping() {
        errors.push(Diagnostic::whole_file(&src.path, format!("{at_path} must be a mapping")));
        return None;
    }
    if yaml::get(entry, "file").and_then(|f| yaml::get(f, "digest")).is_some() {
        errors.push(at(src, "digest", format!("{at_path}.file.digest is not supported by Lima yet")));
    }
    let script = yaml::get(entry, "script").and_then(Value::as_str);
    for field in ["script", "content"] {
        if let Some(found) = yaml::get(entry, field).and_then(Value::as_str).and_then(unknown_template) {
            let d = at(
                src,
                &found,
                format!("{at_path}.{field} contains `{found}`, which Lima would expand as a Go template"),
            );
            errors.push(d.hint("write `{{\"{{\"}}` for a literal `{{`, or use $PARAM_<name> variables"));
        }
    }
    if is_probe && script.is_some_and(|s| !s.starts_with("#!")) {
        let message = format!("{at_path}.script must start with a `#!` line (Lima refuses it otherwise)");
        errors.push(at(src, "script", message));
    }
    let loc = locator(entry)?;
    if is_probe && script.is_some() {
        errors.push(at(src, loc, format!("{at_path} sets both `script` and `file`; keep one")));
        return None;
    }
    if !is_relative_local(loc) {
        if is_probe {
            let message = format!("{at_path}.file `{loc}` must name a file next to this layer");
            errors.push(
                at(src, loc, message)
                    .hint("Lima does not read probe files itself: machine inlines the ones next to the layer"),
            );
        }
        return None;
    }
    if loc.split(['/', '\\']).any(|seg| seg == "..") {
        errors.push(at(src, loc, format!("{at_path}.file `{loc}` must not contain `..` (Lima refuses it)")));
        return None;
    }
    let base = loc.rsplit('/').next().unwrap_or(loc);
    if check_instance_name(base).is_err() {
        let d = at(
            src,
            loc,
            format!(
                "{at_path}.file `{loc}`: Lima requires file names like `name.sh` (letters, digits, single `-`, `_` or `.` between them)"
            ),
        );
        errors.push(d);
        return None;
    }
    let Some(bytes) = read(loc) else {
        errors.push(at(src, loc, format!("{at_path}.file `{loc}` does not exist next to this layer")));
        return None;
    };
    if is_probe && !bytes.starts_with(b"#!") {
        errors.push(at(src, loc, format!("{at_path}.file `{loc}` must start with a `#!` line")));
    }
    if let Some(found) = unknown_template(&String::from_utf8_lossy(&bytes)) {
        let d = at(
            src,
            loc,
            format!("{at_path}.file `{loc}` contains `{found}`, which Lima would expand as a Go template"),
        );
        errors.push(d.hint("write `{{\"{{\"}}` for a literal `{{`, or use $PARAM_<name> variables"));
    }
    Some((loc.to_string(), bytes))
}

/// Lima runs scripts and data through Go's text/template. The variables it documents for guests
/// are fine; any other `{{…}}` would be rewritten or dropped, so it is refused.
fn unknown_template(text: &str) -> Option<String> {
    const KNOWN: [&str; 5] = [".Home", ".Name", ".Hostname", ".UID", ".User"];
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after.find("}}").map_or(after.len(), |c| c + 2);
        let action = &after[..close.min(after.len())];
        let inner = action.trim_end_matches("}}").trim();
        let ok = KNOWN.contains(&inner)
            || inner
                .strip_prefix(".Param.")
                .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            || inner == "\"{{\"";
        if !ok {
            return Some(format!("{{{{{action}"));
        }
        rest = &after[close.min(after.len())..];
    }
    None
}

/// A diagnostic pointing at the first occurrence of `needle` in the layer text, or at the whole
/// file when the text does not contain it (e.g. a script-only profile).
fn at(src: &Source, needle: &str, message: String) -> Diagnostic {
    match src.text.find(needle) {
        Some(i) => src.error(Some(i..i + needle.len()), message),
        None => Diagnostic::whole_file(&src.path, message),
    }
}

fn yaml_error(src: &Source, e: &yaml::YamlError) -> Diagnostic {
    let offset: usize = src.text.split_inclusive('\n').take(e.line.saturating_sub(1)).map(str::len).sum();
    let line = src.text[offset..].lines().next().unwrap_or("");
    let col: usize = line.chars().take(e.column.saturating_sub(1)).map(char::len_utf8).sum();
    src.error(Some(offset + col..offset + col + 1), format!("invalid YAML: {}", e.message))
}

#[cfg(test)]
mod tests {
    use super::{header_lines, parse_header, unknown_template};

    #[test]
    fn the_header_is_the_leading_comment_lines() {
        let text = "# description: a\n#requires: b, c\nimages: []\n# not: header\n";
        assert_eq!(header_lines(text.as_bytes()), b"# description: a\n#requires: b, c\n");
        assert_eq!(header_lines(b"# only a comment"), b"# only a comment");
        assert_eq!(header_lines(b"images: []\n# x\n"), b"");
        assert_eq!(header_lines(b""), b"");
        let from_lines = parse_header(std::str::from_utf8(header_lines(text.as_bytes())).unwrap());
        assert_eq!(from_lines, parse_header(text));
        assert_eq!(from_lines.requires, ["b", "c"]);
    }

    #[test]
    fn only_lima_guest_variables_may_be_templated() {
        assert_eq!(unknown_template("no braces"), None);
        assert_eq!(unknown_template("path: {{.Home}}/x {{ .User }} {{.Param.gitName}}"), None);
        assert_eq!(unknown_template(r#"literal {{"{{"}} here"#), None);
        assert_eq!(unknown_template("docker inspect -f '{{.State.Pid}}'").as_deref(), Some("{{.State.Pid}}"));
        assert_eq!(unknown_template("unclosed {{ x").as_deref(), Some("{{ x"));
    }
}
