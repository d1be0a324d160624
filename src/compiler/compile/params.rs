//! Which Lima params a stack uses, found the way Lima finds them.

use crate::compiler::layers::LayerDef;
use crate::compiler::yaml::Value;

/// The params machine declares for every instance (when some layer uses them).
pub const PARAMS: [&str; 4] = ["gitName", "gitEmail", "signingKey", "shell"];

/// Lima counts a param as used when a text has `PARAM_<key>` as a whole word, or `.Param.<key>`
/// inside `{{ … }}`.
pub fn uses_param(text: &str, key: &str) -> bool {
    let word = format!("PARAM_{key}");
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut from = 0;
    while let Some(i) = text[from..].find(&word) {
        let start = from + i;
        let end = start + word.len();
        let before_ok = start == 0 || !is_word(text.as_bytes()[start - 1]);
        let after_ok = end == text.len() || !is_word(text.as_bytes()[end]);
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let inner = &rest[open + 2..];
        let Some(close) = inner.find("}}") else { break };
        if inner[..close].contains(&format!(".Param.{key}")) {
            return true;
        }
        rest = &inner[close..];
    }
    false
}

/// What of one layer Lima searches for param use (its YAML and the files it inlines), cut down
/// to the only parts [`uses_param`] can match: every `PARAM_…` word and every `{{ … }}` action.
/// Computed once per layer when the catalog is built; the layer texts are large, these are not.
pub fn param_references(layer: &LayerDef) -> Vec<String> {
    let mut texts = value_texts(&Value::Mapping(layer.body.clone()));
    texts.extend(layer.files.values().map(|b| String::from_utf8_lossy(b).into_owned()));
    texts.iter().flat_map(|t| references(t)).collect()
}

fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find("PARAM_") {
        let start = from + i;
        let end = start + bytes[start..].iter().position(|b| !is_word(*b)).unwrap_or(bytes.len() - start);
        // Keep the character before, so a word that starts mid-identifier still does not match.
        let lead = if start > 0 && is_word(bytes[start - 1]) { "x" } else { "" };
        out.push(format!("{lead}{}", &text[start..end]));
        from = end.max(start + 1);
    }
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let inner = &rest[open..];
        let Some(close) = inner[2..].find("}}") else { break };
        out.push(inner[..close + 4].to_string());
        rest = &inner[close + 2..];
    }
    out
}

/// Every string in a YAML value.
pub(super) fn value_texts(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(seq) => seq.iter().flat_map(value_texts).collect(),
        Value::Mapping(m) => m.values().flat_map(value_texts).collect(),
        Value::Tagged(t) => value_texts(&t.value),
        _ => Vec::new(),
    }
}

/// Go's `unicode.IsPrint`, which Lima applies to param values, as far as std can tell: no
/// control characters, no separators other than the space, no format or private-use characters.
pub(super) fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let format = matches!(c, '\u{AD}' | '\u{600}'..='\u{605}' | '\u{61C}' | '\u{6DD}' | '\u{70F}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}' | '\u{E0001}' | '\u{E0020}'..='\u{E007F}');
    let private = matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{10FFFF}');
    let noncharacter = matches!(c as u32, 0xFDD0..=0xFDEF) || (c as u32 & 0xFFFE) == 0xFFFE;
    !(c.is_control() || c.is_whitespace() || format || private || noncharacter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_params_like_lima() {
        assert!(uses_param("git config user.name \"$PARAM_gitName\"", "gitName"));
        assert!(uses_param("${PARAM_gitName}", "gitName"));
        assert!(uses_param("name = {{ .Param.gitName }}", "gitName"));
        assert!(!uses_param("$PARAM_gitNameX", "gitName"));
        assert!(!uses_param("X_PARAM_gitName", "gitName"));
        assert!(!uses_param("gitName", "gitName"));
        assert!(!uses_param("{{ .Param.other }} .Param.gitName", "gitName"));
    }

    #[test]
    fn references_keep_what_uses_param_matches() {
        let text = "a $PARAM_gitName b X_PARAM_shell {{ .Param.signingKey }} {{.Home}} c";
        let refs = references(text);
        for key in ["gitName", "signingKey"] {
            assert!(refs.iter().any(|r| uses_param(r, key)), "{key}: {refs:?}");
        }
        assert!(!refs.iter().any(|r| uses_param(r, "shell")), "X_PARAM_shell is not a use: {refs:?}");
        assert_eq!(uses_param(text, "shell"), refs.iter().any(|r| uses_param(r, "shell")));
    }

    #[test]
    fn printable_matches_go_for_common_cases() {
        for c in ['a', ' ', 'é', '中', '😀', '{', '"', '\\', '$'] {
            assert!(is_printable(c), "{c:?}");
        }
        for c in ['\n', '\t', '\r', '\0', '\u{7f}', '\u{85}', '\u{a0}', '\u{200b}', '\u{2028}', '\u{feff}', '\u{e000}']
        {
            assert!(!is_printable(c), "{c:?}");
        }
    }
}
