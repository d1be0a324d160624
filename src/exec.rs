//! External programs as values, and the one runner that executes them.
//!
//! A [`Cmd`] is data: program, argv, environment changes, working directory, stdin. It prints
//! shell-escaped for `-v`, but is never run through a shell: arguments always travel as argv.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            timeout: None,
        }
    }

    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    #[must_use]
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    #[must_use]
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = self.env.iter().map(|(k, v)| {
            let mut s = k.clone();
            s.push("=");
            s.push(v);
            s
        });
        let all: Vec<String> = words
            .chain(std::iter::once(self.program.clone()))
            .chain(self.args.iter().cloned())
            .map(|w| quote(&w))
            .collect();
        f.write_str(&all.join(" "))
    }
}

/// Quotes a word for display the way a POSIX shell would read it back.
fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%^".contains(&b));
    if plain { s.into_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// What a finished program left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `None` when the program was killed by a signal or timed out.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim_end().to_string()
    }
}

/// Runs commands. The real one spawns processes; tests put fake programs first on PATH.
pub trait Runner {
    /// Runs to completion, capturing stdout and stderr. Fails only if the program cannot start.
    fn output(&self, cmd: &Cmd) -> Result<Output, Error>;
}

#[derive(Debug, Default)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn output(&self, cmd: &Cmd) -> Result<Output, Error> {
        tracing::info!("$ {cmd}");
        let mut expr = duct::cmd(&cmd.program, &cmd.args).stdout_capture().stderr_capture().unchecked();
        for (k, v) in &cmd.env {
            expr = expr.env(k, v);
        }
        if let Some(dir) = &cmd.cwd {
            expr = expr.dir(dir);
        }
        expr = match &cmd.stdin {
            Some(bytes) => expr.stdin_bytes(bytes.clone()),
            None => expr.stdin_null(),
        };
        let handle = expr.start().map_err(|e| spawn_error(cmd, &e))?;
        let out = match cmd.timeout {
            None => Some(handle.wait().map_err(|e| spawn_error(cmd, &e))?.clone()),
            Some(limit) => wait_with_timeout(&handle, limit).map_err(|e| spawn_error(cmd, &e))?,
        };
        Ok(match out {
            Some(o) => Output { code: o.status.code(), stdout: o.stdout, stderr: o.stderr },
            None => Output { code: None, stdout: Vec::new(), stderr: b"timed out".to_vec() },
        })
    }
}

fn wait_with_timeout(handle: &duct::Handle, limit: Duration) -> std::io::Result<Option<std::process::Output>> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(out) = handle.try_wait()? {
            return Ok(Some(out.clone()));
        }
        if std::time::Instant::now() >= deadline {
            handle.kill()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_error(cmd: &Cmd, err: &std::io::Error) -> Error {
    let program = cmd.program.to_string_lossy();
    if err.kind() == std::io::ErrorKind::NotFound {
        return Error::failure(format!("`{program}` was not found on PATH")).hint(install_hint(&program));
    }
    Error::failure(format!("cannot run `{cmd}`")).caused_by(err)
}

/// How to get a missing program on this host.
pub fn install_hint(program: &str) -> String {
    let mac = cfg!(target_os = "macos");
    match program {
        "limactl" if mac => "install Lima 2.x: `brew install lima`".into(),
        "limactl" => "install Lima 2.x from https://lima-vm.io/docs/installation/ (or your package manager)".into(),
        "git" if mac => "install git: `xcode-select --install` or `brew install git`".into(),
        "git" => "install git with your package manager (e.g. `sudo apt-get install git`)".into(),
        "op" if mac => "install the 1Password CLI: `brew install 1password-cli`".into(),
        "op" => "install the 1Password CLI: https://developer.1password.com/docs/cli/get-started/".into(),
        "ssh" | "ssh-add" if mac => "OpenSSH ships with macOS; check your PATH".into(),
        "ssh" | "ssh-add" => "install the OpenSSH client (e.g. `sudo apt-get install openssh-client`)".into(),
        other => format!("install `{other}` and make sure it is on PATH"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_shell_escaped() {
        let cmd =
            Cmd::new("git").env("GIT_TERMINAL_PROMPT", "0").args(["config", "--get", "user.name"]).arg("it's here");
        assert_eq!(cmd.to_string(), "GIT_TERMINAL_PROMPT=0 git config --get user.name 'it'\\''s here'");
    }

    #[test]
    fn runs_argv_without_a_shell() {
        let out = SystemRunner.output(&Cmd::new("printf").args(["%s|", "a b", "$HOME", ";echo x"])).unwrap();
        assert_eq!(out.stdout_text(), "a b|$HOME|;echo x|");
        assert!(out.success());
    }

    #[test]
    fn missing_programs_say_how_to_install() {
        let err = SystemRunner.output(&Cmd::new("machine-no-such-program")).unwrap_err();
        assert!(err.to_string().contains("was not found on PATH"), "{err}");
    }

    #[test]
    fn timeouts_kill() {
        let out = SystemRunner.output(&Cmd::new("sleep").arg("5").timeout(Duration::from_millis(100))).unwrap();
        assert_eq!(out.code, None);
    }
}
