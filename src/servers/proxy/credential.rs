//! The real credential, resolved on the host by the daemon. Sources are tried in a fixed
//! order and the first that yields a credential wins: the environment variable, the command,
//! the macOS Keychain item, the file. A source that is not there (a variable unset, no
//! Keychain item, no file) is skipped; one that is there but fails (a command exiting non-zero,
//! an unreadable file) is an error, never silently passed over.
//!
//! The value lives in the daemon's memory only: programs get no credential in their argv (a
//! command's output is read from its stdout), and nothing here writes a file.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::compiler::config::proxy::Provider;
use crate::driver::exec::{Cmd, Runner};
use crate::error::{Error, Result};

/// How long a credential command may take: 1Password may wait for the user to approve.
pub const COMMAND_TIMEOUT: Duration = Duration::from_mins(2);

/// `security find-generic-password` exits with this when there is no such item.
const KEYCHAIN_NOT_FOUND: i32 = 44;

#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    secret: String,
    /// Where it came from, for people: `$ANTHROPIC_API_KEY`, `the Keychain item …`.
    pub source: String,
    /// An Anthropic OAuth access token (Claude Code's login), sent as a bearer token.
    pub oauth: bool,
    /// When it stops working (Claude Code's login says so): it is then read again.
    pub expires: Option<SystemTime>,
}

impl Credential {
    pub fn new(secret: impl Into<String>, source: impl Into<String>) -> Self {
        Self { secret: secret.into(), source: source.into(), oauth: false, expires: None }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }
}

/// Never prints the secret, wherever a credential ends up being debugged.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("source", &self.source).field("oauth", &self.oauth).finish_non_exhaustive()
    }
}

/// What the daemon needs from its host to resolve credentials.
pub struct Host<'a> {
    pub env: &'a (dyn Fn(&str) -> Option<OsString> + Sync),
    pub runner: &'a dyn Runner,
    pub home: Option<&'a Path>,
    /// Whether the Keychain exists (macOS).
    pub keychain: bool,
}

/// One source's answer.
enum Found {
    Yes(Credential),
    /// Not there: why, for the error when no source has one.
    No(String),
}

/// The provider's credential from the first source that has one.
pub fn resolve(provider: &Provider, host: &Host<'_>) -> Result<Credential> {
    let sources = &provider.sources;
    let mut tried = Vec::new();
    let mut attempts: Vec<Box<dyn Fn() -> Result<Found> + '_>> = Vec::new();
    if let Some(var) = &sources.env {
        attempts.push(Box::new(move || from_env(provider, var, host)));
    }
    if let Some(argv) = &sources.command {
        attempts.push(Box::new(move || from_command(provider, argv, host)));
    }
    if let Some(service) = sources.keychain.as_ref().filter(|_| host.keychain) {
        attempts.push(Box::new(move || from_keychain(provider, service, host)));
    }
    if let Some(file) = &sources.file {
        attempts.push(Box::new(move || from_file(provider, file, host)));
    }
    for attempt in attempts {
        match attempt()? {
            Found::Yes(credential) => return Ok(credential),
            Found::No(why) => tried.push(why),
        }
    }
    if sources.keychain.is_some() && !host.keychain {
        tried.push("the Keychain (macOS only)".into());
    }
    let var = sources.env.as_deref().unwrap_or("…");
    Err(Error::failure(format!("no credential for provider `{}` on this host", provider.name))
        .caused_by(format!("tried: {}", tried.join("; ")))
        .hint(format!(
            "set {var} in the environment `machine up` runs in (then `machine proxy stop` so the next `machine up` starts the proxy with it), or set `credential_command` or `credential_file` in [proxy.{}] of projects.toml",
            provider.name
        )))
}

fn from_env(provider: &Provider, var: &str, host: &Host<'_>) -> Result<Found> {
    match (host.env)(var).map(|v| v.to_string_lossy().trim().to_string()).filter(|v| !v.is_empty()) {
        Some(value) => interpret(&value, &format!("${var}")).map_err(|why| unusable(provider, why)),
        None => Ok(Found::No(format!("${var} is not set"))),
    }
}

/// A source that is there but holds nothing usable: an error, so a later source is never used
/// in its place without the user knowing.
fn unusable(provider: &Provider, why: String) -> Error {
    Error::failure(format!("the credential for provider `{}` cannot be used", provider.name))
        .caused_by(why)
        .hint("fix or remove that source (the sources are tried in the order the README gives)")
}

fn from_command(provider: &Provider, argv: &[String], host: &Host<'_>) -> Result<Found> {
    let cmd = Cmd::new(&argv[0]).args(&argv[1..]).timeout(COMMAND_TIMEOUT);
    let shown = cmd.to_string();
    let fail = |why: String| {
        Error::failure(format!("the credential command of provider `{}` failed: `{shown}`", provider.name))
            .caused_by(why)
            .hint(format!(
                "run it yourself to see why, or fix `credential_command` in [proxy.{}] of projects.toml",
                provider.name
            ))
    };
    let out = host.runner.output(&cmd).map_err(|e| fail(e.message().to_string()))?;
    if !out.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let status = out
            .code
            .map_or_else(|| format!("no answer within {}s", COMMAND_TIMEOUT.as_secs()), |c| format!("exit status {c}"));
        return Err(fail(if stderr.is_empty() { status } else { format!("{status}: {stderr}") }));
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if text.is_empty() {
        return Err(fail("it printed nothing on stdout".into()));
    }
    match interpret(&text, &format!("`{shown}`")) {
        Ok(found) => Ok(found),
        Err(why) => Err(fail(why)),
    }
}

fn from_keychain(provider: &Provider, service: &str, host: &Host<'_>) -> Result<Found> {
    let cmd = Cmd::new("security").args(["find-generic-password", "-s", service, "-w"]).timeout(COMMAND_TIMEOUT);
    let out = host.runner.output(&cmd)?;
    let source = format!("the Keychain item `{service}`");
    if out.code == Some(KEYCHAIN_NOT_FOUND) {
        return Ok(Found::No(format!("{source} does not exist")));
    }
    if !out.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::failure(format!("cannot read {source} for provider `{}`", provider.name))
            .caused_by(if why.is_empty() { "`security` failed".to_string() } else { why })
            .hint("allow `security` to read it when macOS asks (unlock the login keychain), or turn it off with `credential_keychain = false`"));
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    interpret(&text, &source).map_err(|why| unusable(provider, why))
}

fn from_file(provider: &Provider, file: &Path, host: &Host<'_>) -> Result<Found> {
    let path = crate::compiler::paths::expand_tilde(file, host.home);
    let source = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => Ok(Found::No(format!("{source} is empty"))),
        Ok(text) => interpret(text.trim(), &source).map_err(|why| unusable(provider, why)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::No(format!("{source} does not exist"))),
        Err(e) => Err(crate::error::io_error("read the credential file", &path, &e)),
    }
}

/// A source's text as a credential. Claude Code's and Codex's own credential files (and
/// Claude Code's Keychain item) are JSON: their token is taken from it. `Err` says why the
/// text holds no usable credential.
fn interpret(text: &str, source: &str) -> Result<Found, String> {
    let credential = if text.starts_with('{') {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|_| format!("{source} is neither a key nor JSON machine knows"))?;
        if let Some(oauth) = json.get("claudeAiOauth") {
            let token = oauth.get("accessToken").and_then(|t| t.as_str()).unwrap_or_default();
            let expires = oauth.get("expiresAt").and_then(serde_json::Value::as_u64).map(from_millis);
            if expires.is_some_and(|at| at <= SystemTime::now()) {
                return Ok(Found::No(format!(
                    "{source} holds a Claude Code login that has expired (run `claude` on the host once to renew it)"
                )));
            }
            Credential { oauth: true, expires, ..Credential::new(token, source) }
        } else if let Some(key) = json.get("OPENAI_API_KEY").and_then(|k| k.as_str()) {
            Credential::new(key, source)
        } else {
            return Ok(Found::No(format!("{source} holds no API key (a ChatGPT login cannot be proxied)")));
        }
    } else {
        let oauth = text.starts_with("sk-ant-oat");
        Credential { oauth, ..Credential::new(text, source) }
    };
    let visible = credential.secret.bytes().all(|b| b.is_ascii_graphic());
    if credential.secret.is_empty() || !visible {
        return Err(format!("{source} is not a single-line key (it has spaces, control characters or nothing)"));
    }
    Ok(Found::Yes(credential))
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::config::proxy::{anthropic, openai};
    use crate::driver::exec::{Event, Flow, Output};
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Answers by program name and records every argv.
    #[derive(Default)]
    struct Fake {
        answers: HashMap<&'static str, Output>,
        calls: Mutex<Vec<String>>,
    }

    impl Fake {
        fn answer(mut self, program: &'static str, code: i32, stdout: &str, stderr: &str) -> Self {
            let out = Output::new(Some(code), stdout, stderr);
            self.answers.insert(program, out);
            self
        }
    }

    impl Runner for Fake {
        fn output(&self, cmd: &Cmd) -> Result<Output> {
            self.calls.lock().unwrap().push(cmd.to_string());
            let program = cmd.program.to_string_lossy();
            self.answers.get(program.as_ref()).cloned().ok_or_else(|| Error::missing_program(&program, String::new()))
        }
        fn interactive(&self, _: &Cmd) -> Result<i32> {
            unreachable!()
        }
        fn stream(&self, _: &Cmd, _: &mut dyn FnMut(Event<'_>) -> Flow) -> Result<Output> {
            unreachable!()
        }
        fn spawn_detached(&self, _: &Cmd, _: &std::path::Path) -> Result<crate::driver::exec::Detached> {
            unreachable!()
        }
    }

    fn host<'a>(env: &'a (dyn Fn(&str) -> Option<OsString> + Sync), runner: &'a Fake, home: &'a Path) -> Host<'a> {
        Host { env, runner, home: Some(home), keychain: true }
    }

    #[test]
    fn the_environment_comes_first() {
        let env = |k: &str| (k == "ANTHROPIC_API_KEY").then(|| OsString::from(" sk-ant-api03-x\n"));
        let runner = Fake::default();
        let c = resolve(&anthropic(), &host(&env, &runner, Path::new("/nonexistent"))).unwrap();
        assert_eq!((c.secret(), c.source.as_str(), c.oauth), ("sk-ant-api03-x", "$ANTHROPIC_API_KEY", false));
        assert!(runner.calls.lock().unwrap().is_empty(), "nothing else is asked");
        assert!(!format!("{c:?}").contains("sk-ant"), "Debug hides the secret");
    }

    #[test]
    fn a_source_that_is_there_but_unusable_is_an_error_not_a_reason_to_try_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = anthropic();
        p.sources.file = Some(dir.path().join("credentials.json"));
        std::fs::write(dir.path().join("credentials.json"), "sk-ant-api03-from-the-file\n").unwrap();
        let env = |k: &str| (k == "ANTHROPIC_API_KEY").then(|| OsString::from("sk-ant-api03-ENV KEY"));
        let runner = Fake::default().answer("security", 44, "", "");
        let err = resolve(&p, &host(&env, &runner, dir.path())).unwrap_err();
        assert!(err.message().contains("the credential for provider `anthropic` cannot be used"), "{err}");
        assert!(err.to_string().contains("$ANTHROPIC_API_KEY is not a single-line key"), "{err}");
        let env = |_: &str| None;
        std::fs::write(dir.path().join("credentials.json"), "{not json").unwrap();
        let err = resolve(&p, &host(&env, &runner, dir.path())).unwrap_err().to_string();
        assert!(err.contains("is neither a key nor JSON machine knows"), "{err}");
    }

    #[test]
    fn then_the_command_whose_stdout_is_the_credential() {
        let env = |_: &str| None;
        let mut p = anthropic();
        p.sources.command = Some(vec!["op".into(), "read".into(), "op://v/i/f".into()]);
        let runner = Fake::default().answer("op", 0, "sk-ant-oat01-y\n", "");
        let c = resolve(&p, &host(&env, &runner, Path::new("/nonexistent"))).unwrap();
        assert_eq!(c.secret(), "sk-ant-oat01-y");
        assert!(c.oauth, "a setup-token is an OAuth token");
        assert_eq!(*runner.calls.lock().unwrap(), ["op read op://v/i/f"]);
    }

    #[test]
    fn a_failing_command_is_an_error_that_says_what_to_do() {
        let env = |_: &str| None;
        let mut p = openai();
        p.sources.command = Some(vec!["op".into(), "read".into(), "op://v/i/f".into()]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".codex")).unwrap();
        std::fs::write(dir.path().join(".codex/auth.json"), r#"{"OPENAI_API_KEY":"sk-file"}"#).unwrap();
        let runner = Fake::default().answer("op", 1, "", "[ERROR] item not found\n");
        let err = resolve(&p, &host(&env, &runner, dir.path())).unwrap_err().to_string();
        assert!(err.contains("the credential command of provider `openai` failed: `op read op://v/i/f`"), "{err}");
        assert!(err.contains("exit status 1: [ERROR] item not found"), "{err}");
        assert!(err.contains("hint: run it yourself"), "{err}");
        let runner = Fake::default().answer("op", 0, "  \n", "");
        let err = resolve(&p, &host(&env, &runner, dir.path())).unwrap_err().to_string();
        assert!(err.contains("it printed nothing on stdout"), "{err}");
        let runner = Fake::default();
        let err = resolve(&p, &host(&env, &runner, dir.path())).unwrap_err().to_string();
        assert!(err.contains("`op` was not found on PATH"), "{err}");
    }

    #[test]
    fn claude_codes_keychain_login_is_its_oauth_token() {
        let env = |_: &str| None;
        let later = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 3_600_000;
        let json =
            format!(r#"{{"claudeAiOauth":{{"accessToken":"sk-ant-oat01-z","refreshToken":"r","expiresAt":{later}}}}}"#);
        let runner = Fake::default().answer("security", 0, &json, "");
        let c = resolve(&anthropic(), &host(&env, &runner, Path::new("/nonexistent"))).unwrap();
        assert_eq!((c.secret(), c.oauth), ("sk-ant-oat01-z", true));
        assert!(c.expires.is_some() && !c.expired(SystemTime::now()));
        assert_eq!(*runner.calls.lock().unwrap(), ["security find-generic-password -s 'Claude Code-credentials' -w"]);

        let expired = r#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-old","expiresAt":1000}}"#;
        let runner = Fake::default().answer("security", 0, expired, "");
        let err = resolve(&anthropic(), &host(&env, &runner, Path::new("/nonexistent"))).unwrap_err().to_string();
        assert!(err.contains("has expired (run `claude` on the host once to renew it)"), "{err}");
    }

    #[test]
    fn nothing_anywhere_lists_what_was_tried() {
        let env = |_: &str| None;
        let runner = Fake::default().answer("security", KEYCHAIN_NOT_FOUND, "", "not found");
        let err = resolve(&anthropic(), &host(&env, &runner, Path::new("/nonexistent"))).unwrap_err().to_string();
        assert!(err.contains("no credential for provider `anthropic` on this host"), "{err}");
        assert!(err.contains("$ANTHROPIC_API_KEY is not set"), "{err}");
        assert!(err.contains("the Keychain item `Claude Code-credentials` does not exist"), "{err}");
        assert!(err.contains("/nonexistent/.claude/.credentials.json does not exist"), "{err}");
        let linux = Host { keychain: false, ..host(&env, &runner, Path::new("/nonexistent")) };
        let err = resolve(&anthropic(), &linux).unwrap_err().to_string();
        assert!(err.contains("the Keychain (macOS only)"), "{err}");
    }

    #[test]
    fn files_hold_a_key_or_a_tools_own_json() {
        let env = |_: &str| None;
        let runner = Fake::default();
        let dir = tempfile::tempdir().unwrap();
        let mut p = openai();
        p.sources.file = Some(dir.path().join("key"));
        std::fs::write(dir.path().join("key"), "sk-proj-1\n").unwrap();
        assert_eq!(resolve(&p, &host(&env, &runner, dir.path())).unwrap().secret(), "sk-proj-1");
        std::fs::write(dir.path().join("key"), r#"{"OPENAI_API_KEY":null,"tokens":{"access_token":"chatgpt"}}"#)
            .unwrap();
        let err = resolve(&p, &host(&env, &runner, dir.path())).unwrap_err().to_string();
        assert!(err.contains("holds no API key (a ChatGPT login cannot be proxied)"), "{err}");
        std::fs::write(dir.path().join("key"), "two words\n").unwrap();
        let err = resolve(&p, &host(&env, &runner, dir.path())).unwrap_err().to_string();
        assert!(err.contains("is not a single-line key"), "{err}");
    }
}
