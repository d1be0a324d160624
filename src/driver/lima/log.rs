//! Reading what `limactl` logs to stderr (logrus) in any of its three shapes:
//!
//! - logfmt, when stderr is not a terminal: `time="…" level=fatal msg="…" key=value`;
//! - text on a terminal: `FATA[0003] msg<padding>  key=value`, possibly coloured;
//! - `--log-format=json`: `{"level":"info","msg":"…","time":"…"}`.
//!
//! Lima's messages are prose for people, so machine matches on levels and on the few stable
//! markers (`READY.`) and otherwise only shows the messages.

use std::borrow::Cow;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    /// Unescaped; empty when logrus left it out.
    pub msg: String,
    /// Every other key except `time`, in the order written (JSON: sorted, as logrus writes them).
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
    /// `trace`, `panic`, or anything newer, lowercased.
    Other(String),
}

impl Level {
    /// A logrus level name as logfmt and JSON write it.
    pub fn from_name(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warning" | "warn" => Self::Warning,
            "error" => Self::Error,
            "fatal" => Self::Fatal,
            other => Self::Other(other.to_string()),
        }
    }

    /// The upper-case tag of the terminal form, usually truncated to four letters.
    fn from_tag(tag: &str) -> Option<Self> {
        Some(match tag {
            "DEBU" | "DEBUG" => Self::Debug,
            "INFO" => Self::Info,
            "WARN" | "WARNING" => Self::Warning,
            "ERRO" | "ERROR" => Self::Error,
            "FATA" | "FATAL" => Self::Fatal,
            "TRAC" | "TRACE" => Self::Other("trace".into()),
            "PANI" | "PANIC" => Self::Other("panic".into()),
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Fatal => "fatal",
            Self::Other(s) => s,
        }
    }

    fn is_problem(&self) -> bool {
        matches!(self, Self::Warning | Self::Error | Self::Fatal)
    }
}

/// One stderr line as a log entry, or `None` when it is not one of limactl's (a guest command's
/// own output, ssh's messages, the tail of a multi-line message on a terminal).
pub fn parse_line(line: &str) -> Option<LogLine> {
    let line = strip_ansi(line.trim_end_matches(['\r', '\n']));
    if line.starts_with('{') {
        json_line(&line)
    } else if line.starts_with("time=") || line.starts_with("level=") {
        logfmt_line(&line)
    } else {
        tty_line(&line)
    }
}

/// The message of the last fatal line: why limactl exited 1.
pub fn fatal(stderr: &str) -> Option<String> {
    stderr.lines().rev().filter_map(parse_line).find(|l| l.level == Level::Fatal).map(|l| l.msg)
}

/// The messages of warning, error and fatal lines, in order.
pub fn problems(stderr: &str) -> Vec<String> {
    stderr.lines().filter_map(parse_line).filter(|l| l.level.is_problem()).map(|l| l.msg).collect()
}

/// Whether `limactl start` reported `READY.`: every requirement and probe passed. (A failing
/// provision script does not prevent it; only probes do.)
pub fn is_ready(stderr: &str) -> bool {
    stderr.lines().filter_map(parse_line).any(|l| l.level == Level::Info && l.msg.starts_with("READY."))
}

/// Whether `limactl start` failed because Lima linked the forwarded agent socket into
/// `/run/host-services` before its own boot script had created that folder (a race in Lima
/// 2.2.0 on slow boots; the core layer creates the folder first, so this should not happen).
pub fn agent_link_race(stderr: &str) -> bool {
    problems(stderr)
        .iter()
        .any(|m| m.contains("/run/host-services/ssh-auth.sock") && m.contains("failed to create symbolic link"))
}

fn json_line(line: &str) -> Option<LogLine> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(line) else { return None };
    let level = Level::from_name(map.get("level")?.as_str()?);
    let msg = map.get("msg").and_then(Value::as_str).unwrap_or_default().to_string();
    let fields = map
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "level" | "msg" | "time"))
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect();
    Some(LogLine { level, msg, fields })
}

fn logfmt_line(line: &str) -> Option<LogLine> {
    let mut level = None;
    let mut msg = String::new();
    let mut fields = Vec::new();
    for (key, value) in pairs(line)? {
        match key.as_str() {
            "level" if !value.is_empty() => level = Some(Level::from_name(&value)),
            "msg" => msg = value,
            "time" => {}
            _ => fields.push((key, value)),
        }
    }
    Some(LogLine { level: level?, msg, fields })
}

/// `LEVL[stamp] message<padding>  key=value …`. logrus pads the message and puts a further
/// space before each field, so fields begin after the first two-space gap from which the rest of
/// the line reads as `key=value` pairs.
fn tty_line(line: &str) -> Option<LogLine> {
    let open = line.find('[')?;
    let level = Level::from_tag(&line[..open])?;
    let close = open + line[open..].find(']')?;
    let rest = &line[close + 1..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    let mut from = 0;
    while let Some(gap) = rest[from..].find("  ").map(|i| from + i) {
        if let Some(fields) = pairs(&rest[gap..]).filter(|f| !f.is_empty()) {
            return Some(LogLine { level, msg: rest[..gap].trim().to_string(), fields });
        }
        from = gap + 1;
    }
    Some(LogLine { level, msg: rest.trim().to_string(), fields: Vec::new() })
}

/// `key=value key="quoted \"value\""…`, or `None` if any part is not a pair.
fn pairs(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = &rest[..eq];
        if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '"') {
            return None;
        }
        let (value, after) = value(&rest[eq + 1..])?;
        if !after.is_empty() && !after.starts_with(char::is_whitespace) {
            return None;
        }
        out.push((key.to_string(), value));
        rest = after.trim_start();
    }
    Some(out)
}

/// One value and the text after it: quoted when logrus had to, else up to the next space.
fn value(text: &str) -> Option<(String, &str)> {
    if let Some(quoted) = text.strip_prefix('"') {
        return unquote(quoted);
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    Some((text[..end].to_string(), &text[end..]))
}

/// Reads a Go `%q` string up to its closing quote (the opening one already consumed) and returns
/// it unescaped with the text after it. Byte escapes may split UTF-8, hence the byte buffer.
fn unquote(text: &str) -> Option<(String, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    loop {
        match *bytes.get(i)? {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), &text[i + 1..])),
            b'\\' => i += 1 + unescape(&bytes[i + 1..], &mut out)?,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// Decodes one escape (the text after the backslash) into `out`; returns the bytes it used.
fn unescape(after: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let simple = match *after.first()? {
        b'n' => b'\n',
        b't' => b'\t',
        b'r' => b'\r',
        b'\\' => b'\\',
        b'"' => b'"',
        b'\'' => b'\'',
        b'a' => 0x07,
        b'b' => 0x08,
        b'f' => 0x0c,
        b'v' => 0x0b,
        b'x' => return hex_escape(after, 2, out),
        b'u' => return hex_escape(after, 4, out),
        b'U' => return hex_escape(after, 8, out),
        b'0'..=b'7' => {
            let digits = std::str::from_utf8(after.get(..3)?).ok()?;
            out.push(u8::from_str_radix(digits, 8).ok()?);
            return Some(3);
        }
        _ => return None,
    };
    out.push(simple);
    Some(1)
}

/// `\xNN` is one raw byte; `\uNNNN` and `\UNNNNNNNN` are code points.
fn hex_escape(after: &[u8], len: usize, out: &mut Vec<u8>) -> Option<usize> {
    let digits = std::str::from_utf8(after.get(1..=len)?).ok()?;
    let n = u32::from_str_radix(digits, 16).ok()?;
    if len == 2 {
        out.push(u8::try_from(n).ok()?);
    } else {
        out.extend_from_slice(char::from_u32(n)?.encode_utf8(&mut [0; 4]).as_bytes());
    }
    Some(1 + len)
}

/// Drops terminal colour codes (`ESC [ … letter`), which logrus adds on a terminal.
fn strip_ansi(line: &str) -> Cow<'_, str> {
    if !line.contains('\x1b') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
        } else if chars.next() == Some('[') {
            chars.by_ref().find(|c| ('@'..='~').contains(c));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parse result expected for a log line.
    fn line(level: Level, msg: &str, fields: &[(&str, &str)]) -> LogLine {
        let fields = fields.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        LogLine { level, msg: msg.to_string(), fields }
    }

    #[test]
    fn logfmt_with_go_escapes() {
        let text = r#"time="2026-11-23T01:05:57Z" level=warning msg="a \"b\" c\\d\ne\tf" k=v empty= q="x \"y\"""#;
        let want = Some(line(Level::Warning, "a \"b\" c\\d\ne\tf", &[("k", "v"), ("empty", ""), ("q", "x \"y\"")]));
        assert_eq!(parse_line(text), want);
    }

    #[test]
    fn logfmt_rare_escapes() {
        let text = r#"level=info msg="\x41\u00e9\U0001F600\101\a" "#;
        assert_eq!(parse_line(text), Some(line(Level::Info, "A\u{e9}\u{1F600}A\u{7}", &[])));
        assert_eq!(parse_line(r#"level=info msg="\xff""#).map(|l| l.msg), Some("\u{FFFD}".into()));
    }

    #[test]
    fn logfmt_without_msg_and_with_crlf() {
        assert_eq!(parse_line("level=error key=v\r\n"), Some(line(Level::Error, "", &[("key", "v")])));
    }

    #[test]
    fn tty_forms() {
        let padded = format!("FATA[0000] {:<44}  key=value name=\"a b\"", "instance `demo` already exists");
        let want = Some(line(Level::Fatal, "instance `demo` already exists", &[("key", "value"), ("name", "a b")]));
        assert_eq!(parse_line(&padded), want);
        assert_eq!(
            parse_line("INFO[0001] READY. Run `limactl shell demo`"),
            Some(line(Level::Info, "READY. Run `limactl shell demo`", &[]))
        );
        let coloured = "\x1b[33mWARN\x1b[0m[0002] spaced  out words     \x1b[33mfield\x1b[0m=1";
        assert_eq!(parse_line(coloured), Some(line(Level::Warning, "spaced  out words", &[("field", "1")])));
        assert_eq!(parse_line("ERRO[2026-11-23T01:00:00Z] x=y"), Some(line(Level::Error, "x=y", &[])));
    }

    #[test]
    fn json_form() {
        let text = r#"{"error":"boom","level":"fatal","msg":"failed","n":3,"time":"2026-11-23T01:00:00Z"}"#;
        assert_eq!(parse_line(text), Some(line(Level::Fatal, "failed", &[("error", "boom"), ("n", "3")])));
        assert_eq!(parse_line(r#"{"level":"trace"}"#), Some(line(Level::Other("trace".into()), "", &[])));
    }

    #[test]
    fn not_log_lines() {
        for text in [
            "",
            "to-stderr",
            "Master running (pid=26237)\r\n",
            "time flies",
            "INFO: something",
            "INFO[0001]x",
            "NOPE[0001] msg",
            r#"level=info msg="unterminated"#,
            r#"level=info msg="bad \q escape""#,
            r#"level=info msg="x"y"#,
            "time=1 msg=no-level",
            "{\"msg\":\"no level\"}",
            "{not json",
            "[1,2]",
        ] {
            assert_eq!(parse_line(text), None, "{text:?}");
        }
    }

    #[test]
    fn summaries() {
        let stderr = "level=info msg=\"READY. go\"\nlevel=warning msg=w\nguest noise\nlevel=fatal msg=first\nlevel=error msg=e\nlevel=fatal msg=last\n";
        assert_eq!(fatal(stderr).as_deref(), Some("last"));
        assert_eq!(problems(stderr), ["w", "first", "e", "last"]);
        assert!(is_ready(stderr));
        assert!(!is_ready("level=warning msg=\"READY.\"\nREADY.\n"));
        assert_eq!(fatal("level=error msg=e"), None);
    }
}
