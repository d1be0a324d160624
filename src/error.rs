//! The one error type every command returns, and how it is shown.
//!
//! Errors read like `error: <what>` / `  caused by: <why>` / `hint: <what to do>`, and map to the
//! exit codes documented in the README: 2 for usage and configuration mistakes, 1 for failures.

use std::fmt;

/// What kind of failure this is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad arguments or a bad configuration file: the user must change what they wrote.
    Usage,
    /// Something went wrong while doing the work.
    Failure,
    /// The user stopped it (Ctrl-C, Esc at a question).
    Interrupted,
}

#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    causes: Vec<String>,
    hints: Vec<String>,
    /// The program that could not be started because it is not installed.
    missing: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(Kind::Failure, message)
    }

    pub fn interrupted(message: impl Into<String>) -> Self {
        Self::new(Kind::Interrupted, message)
    }

    fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), causes: Vec::new(), hints: Vec::new(), missing: None }
    }

    #[must_use]
    pub fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// `program` is not on PATH.
    pub fn missing_program(program: &str, hint: String) -> Self {
        let mut e = Self::failure(format!("`{program}` was not found on PATH")).hint(hint);
        e.missing = Some(program.to_string());
        e
    }

    /// Whether this says `program` is not installed (a command may then do without it).
    pub fn is_missing(&self, program: &str) -> bool {
        self.missing.as_deref() == Some(program)
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::Usage => 2,
            Kind::Failure => 1,
            Kind::Interrupted => 130,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for cause in &self.causes {
            for (i, line) in cause.lines().enumerate() {
                let lead = if i == 0 { "  caused by: " } else { "             " };
                write!(f, "\n{lead}{line}")?;
            }
        }
        for hint in &self.hints {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Wraps an IO error with the path it concerns, so no error is ever pathless.
pub fn io_error(action: &str, path: &std::path::Path, err: &std::io::Error) -> Error {
    Error::failure(format!("cannot {action} {}", path.display())).caused_by(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_causes_and_hints_in_order() {
        let err = Error::failure("cannot write /x")
            .caused_by("permission denied\nsecond line")
            .hint("check the folder's owner");
        assert_eq!(
            err.to_string(),
            "error: cannot write /x\n  caused by: permission denied\n             second line\nhint: check the folder's owner"
        );
        assert_eq!(err.exit_code(), 1);
        assert_eq!(Error::usage("bad").exit_code(), 2);
    }
}
