//! Whether this host can reach a repo: `git ls-remote`, never prompting, time-boxed, in parallel.

use std::ffi::OsString;
use std::time::Duration;

use crate::compiler::config::model::RepoUrl;
use crate::driver::exec::{Cmd, Runner};

/// How long `git ls-remote` may take before the repo counts as unreachable.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// `git ls-remote URL HEAD` with prompts off. A `GIT_SSH_COMMAND` the user set (a wrapper, an
/// `-F` config) is kept and only extended, since git reads it as a shell command line anyway.
/// The URL may come from a repository's `.machine.toml`, so the server it names gets no agent,
/// X11 or port forwarding, whatever the user's ssh config says for it (options given on the
/// command line win over the config; the user's own `GIT_SSH_COMMAND` options come first).
pub fn ls_remote(url: &RepoUrl, user_ssh: Option<&OsString>) -> Cmd {
    ls_remote_ref(url, "HEAD", user_ssh)
}

/// `git ls-remote URL REF`, as [`ls_remote`].
fn ls_remote_ref(url: &RepoUrl, reference: &str, user_ssh: Option<&OsString>) -> Cmd {
    let base = user_ssh.map(|s| s.to_string_lossy().into_owned()).filter(|s| !s.trim().is_empty());
    let ssh = format!(
        "{} -o BatchMode=yes -o ConnectTimeout=10 -o ForwardAgent=no -o ForwardX11=no -o ClearAllForwardings=yes",
        base.as_deref().unwrap_or("ssh")
    );
    Cmd::new("git")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", ssh)
        .args(["ls-remote", url.as_str(), reference])
        .timeout(TIMEOUT)
}

/// `Ok` when reachable, else why not (git's own message).
pub fn check(runner: &dyn Runner, url: &RepoUrl, user_ssh: Option<&OsString>) -> Result<(), String> {
    match runner.output(&ls_remote(url, user_ssh)) {
        Ok(out) if out.success() => Ok(()),
        Ok(out) if out.code.is_none() => Err(format!("no answer within {}s", TIMEOUT.as_secs())),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            Err(if stderr.is_empty() { "`git ls-remote` failed".to_string() } else { stderr })
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Whether the remote has the branch (`refs/heads/BRANCH`); `Err` when it cannot be asked.
pub fn has_branch(
    runner: &dyn Runner,
    url: &RepoUrl,
    branch: &str,
    user_ssh: Option<&OsString>,
) -> Result<bool, String> {
    let reference = format!("refs/heads/{branch}");
    match runner.output(&ls_remote_ref(url, &reference, user_ssh)) {
        Ok(out) if out.success() => {
            Ok(out.stdout_text().lines().any(|l| l.split('\t').nth(1) == Some(reference.as_str())))
        }
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks every repo at once; results in the order given.
pub fn check_all(runner: &dyn Runner, urls: &[&RepoUrl], user_ssh: Option<&OsString>) -> Vec<Result<(), String>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = urls.iter().map(|url| scope.spawn(move || check(runner, url, user_ssh))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("the check crashed".into()))).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_users_ssh_command_and_adds_batch_mode() {
        let url = RepoUrl::parse("git@github.com:you/app.git").unwrap();
        let plain = ls_remote(&url, None);
        assert_eq!(
            plain.to_string(),
            "GIT_TERMINAL_PROMPT=0 'GIT_SSH_COMMAND=ssh -o BatchMode=yes -o ConnectTimeout=10 -o ForwardAgent=no -o ForwardX11=no -o ClearAllForwardings=yes' git ls-remote git@github.com:you/app.git HEAD"
        );
        let custom = ls_remote(&url, Some(&OsString::from("ssh -F /tmp/cfg")));
        assert!(
            custom.to_string().contains("'GIT_SSH_COMMAND=ssh -F /tmp/cfg -o BatchMode=yes -o ConnectTimeout=10 -o ForwardAgent=no -o ForwardX11=no -o ClearAllForwardings=yes'"),
            "{custom}"
        );
        assert_eq!(ls_remote(&url, Some(&OsString::from("  "))).to_string(), plain.to_string());
    }
}
