//! Configuration text with its origin, and diagnostics that point into it.
//!
//! Every configuration error names the file, line and column, shows the line with a caret under
//! the offending text, says what was expected and, when it can, what to write instead.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A configuration file's path and text.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self { path: path.into(), text: text.into() }
    }

    /// A diagnostic at a byte span of this file (the start of the file when the span is unknown).
    pub fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        let span = span.unwrap_or(0..0);
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..].find('\n').map_or(self.text.len(), |i| start + i);
        let line = self.text[..start].matches('\n').count() + 1;
        let column = self.text[line_start..start].chars().count() + 1;
        let end = span.end.clamp(start, line_end);
        let width = self.text[start..end].chars().count().max(1);
        Diagnostic {
            path: self.path.clone(),
            line,
            column,
            width,
            line_text: self.text[line_start..line_end].trim_end_matches('\r').to_string(),
            message: message.into(),
            hint: None,
        }
    }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub width: usize,
    pub line_text: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn maybe_hint(self, hint: Option<String>) -> Self {
        match hint {
            Some(h) => self.hint(h),
            None => self,
        }
    }

    /// A diagnostic about a whole file rather than a place in it.
    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            width: 0,
            line_text: String::new(),
            message: message.into(),
            hint: None,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)?;
        } else {
            write!(f, "{}:{}:{}: {}", self.path.display(), self.line, self.column, self.message)?;
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            let before: String =
                self.line_text.chars().take(self.column - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            write!(f, "\n{pad} |\n{number} | {}\n{pad} | {before}{}", self.line_text, "^".repeat(self.width))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// The closest candidate to a misspelt word, if one is close enough to be a plausible typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_line_and_column() {
        let src = Source::new("p.toml", "[a]\ncpus = \"four\"\n");
        let d = src.error(Some(11..17), "`cpus` must be a positive integer").hint("write `cpus = 4`");
        assert_eq!((d.line, d.column, d.width), (2, 8, 6));
        assert_eq!(
            d.to_string(),
            "p.toml:2:8: `cpus` must be a positive integer\n  |\n2 | cpus = \"four\"\n  |        ^^^^^^\n  hint: write `cpus = 4`"
        );
    }

    #[test]
    fn suggestions_only_when_close() {
        assert_eq!(did_you_mean("cpu", ["cpus", "memory"]), Some("cpus"));
        assert_eq!(did_you_mean("zzz", ["cpus", "memory"]), None);
    }
}
