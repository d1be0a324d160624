//! Text from the guest, from a repository's files or from a config value can hold terminal
//! control sequences (OSC 52 writes the clipboard, CSI erases lines). Everything machine prints
//! for people passes through [`controls`] first, so such text is shown, never obeyed.

use std::borrow::Cow;
use std::io::{self, Write};

/// `text` with every control character except newline and tab written as a visible `\u{…}`
/// escape (C0, DEL and the C1 range, which some terminals read as ESC sequences).
pub fn controls(text: &str) -> Cow<'_, str> {
    escape(text, |c| c.is_control() && c != '\n' && c != '\t')
}

/// `text` with every control character escaped, newline and tab too: for a field that came
/// from the guest inside a line or a table, where a newline would make a row of its own.
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, char::is_control)
}

/// `text` with each character `unsafe_char` picks written as a visible `\u{…}` escape.
fn escape(text: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A writer that escapes control characters in what passes through it (for log lines, which
/// quote commands and their output).
pub struct Escaping<W>(pub W);

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(controls(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_shown_not_obeyed() {
        assert_eq!(controls("plain\ttext\nnext line"), "plain\ttext\nnext line");
        assert_eq!(controls("\u{1b}]52;c;aGVsbG8=\u{7}"), "\\u{1b}]52;c;aGVsbG8=\\u{7}");
        assert_eq!(controls("erase\u{1b}[2K\rline"), "erase\\u{1b}[2K\\u{d}line");
        assert_eq!(controls("c1 \u{9b}31m"), "c1 \\u{9b}31m");
        assert!(matches!(controls("nothing to do"), Cow::Borrowed(_)));
    }

    #[test]
    fn one_line_escapes_newlines_and_tabs_too() {
        assert_eq!(one_line("git\n2026-01-01  signed\tx"), "git\\u{a}2026-01-01  signed\\u{9}x");
        assert_eq!(one_line("\u{1b}[2K"), "\\u{1b}[2K");
        assert!(matches!(one_line("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_writer_escapes_what_it_passes_on() {
        let mut out = Escaping(Vec::new());
        out.write_all(b"$ git clone \x1b[31mred\n").unwrap();
        assert_eq!(String::from_utf8(out.0).unwrap(), "$ git clone \\u{1b}[31mred\n");
    }
}
