//! All printing: data to stdout, status and warnings to stderr.

use std::io::Write;

pub struct Ui {
    stdout: Box<dyn Write>,
    stderr: Box<dyn Write>,
}

impl Ui {
    pub fn new(stdout: Box<dyn Write>, stderr: Box<dyn Write>) -> Self {
        Self { stdout, stderr }
    }

    pub fn stdio() -> Self {
        Self::new(Box::new(std::io::stdout()), Box::new(std::io::stderr()))
    }

    /// The command's product. A closed pipe (`machine render | head`) is not an error.
    pub fn data(&mut self, text: &str) {
        let _ = writeln!(self.stdout, "{text}");
    }

    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.stderr, "{text}");
    }

    pub fn warn(&mut self, text: &str) {
        let text = text.strip_prefix("error: ").unwrap_or(text);
        let _ = writeln!(self.stderr, "warning: {text}");
    }
}
