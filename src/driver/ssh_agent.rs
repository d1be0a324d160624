//! Which SSH agent the VM gets: 1Password's when its socket exists, else the caller's own.
//!
//! Lima's ssh master inherits `SSH_AUTH_SOCK` from the process that opens it, so machine sets
//! it on every program it runs rather than once per VM.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The 1Password agent socket's usual place on this OS.
fn default_onepass(home: &Path) -> PathBuf {
    if cfg!(target_os = "macos") {
        home.join("Library/Group Containers/2BUA8C4S2C.com.1password/t/agent.sock")
    } else {
        home.join(".1password/agent.sock")
    }
}

/// `ONEPASS_SOCK` (or 1Password's default socket) when it is a socket; otherwise `None`, and
/// the inherited `SSH_AUTH_SOCK` stays. `ONEPASS_SOCK=/dev/null` opts out.
pub fn select(get: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let candidate = match get("ONEPASS_SOCK").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => default_onepass(Path::new(&get("HOME")?)),
    };
    is_socket(&candidate).then_some(candidate)
}

#[cfg(unix)]
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

#[cfg(not(unix))]
fn is_socket(_: &Path) -> bool {
    false
}

/// A key the agent holds, as `ssh-add -l` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentKey {
    /// `SHA256:…`
    pub fingerprint: String,
    pub comment: String,
    /// `ED25519`, `RSA`, …
    pub kind: String,
}

/// `ssh-add -l` (5 s limit: a locked 1Password agent waits for approval).
pub fn list_cmd() -> crate::driver::exec::Cmd {
    crate::driver::exec::Cmd::new("ssh-add").arg("-l").timeout(std::time::Duration::from_secs(5))
}

/// The keys in `ssh-add -l` output (`256 SHA256:… comment words (ED25519)`); other lines are
/// skipped.
pub fn parse_list(text: &str) -> Vec<AgentKey> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.splitn(3, ' ');
            let (_bits, fingerprint, rest) = (words.next()?, words.next()?, words.next().unwrap_or_default());
            if !fingerprint.starts_with("SHA256:") {
                return None;
            }
            let (comment, kind) = match rest.rsplit_once(" (") {
                Some((comment, kind)) if kind.ends_with(')') => (comment, kind.trim_end_matches(')')),
                _ if rest.starts_with('(') && rest.ends_with(')') => ("", &rest[1..rest.len() - 1]),
                _ => (rest, ""),
            };
            Some(AgentKey { fingerprint: fingerprint.into(), comment: comment.into(), kind: kind.into() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_add_lists_parse() {
        let text = "256 SHA256:c7iIE0QA97ZOV3M8H6/hAWzRMTiv5vmdHb/1hc+apqw ada@laptop (ED25519)
\
                    3072 SHA256:InYIU4LGLW1WQpgnIiQHM8YeLqhsHik7tXonNnXhSbs work key (2024) (RSA)
\
                    256 SHA256:zm+/ovA5UnB1C6z6cJZlJYd4jSLGsSbSI9mEnCcg4ng (ECDSA)
\
                    The agent has no identities.\n";
        let keys = parse_list(text);
        let got: Vec<(&str, &str)> = keys.iter().map(|k| (k.comment.as_str(), k.kind.as_str())).collect();
        assert_eq!(got, [("ada@laptop", "ED25519"), ("work key (2024)", "RSA"), ("", "ECDSA")]);
        assert_eq!(keys[0].fingerprint, "SHA256:c7iIE0QA97ZOV3M8H6/hAWzRMTiv5vmdHb/1hc+apqw");
    }

    #[test]
    fn a_real_socket_is_chosen_and_anything_else_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let with = |v: &Path| {
            let v = v.as_os_str().to_owned();
            move |k: &str| (k == "ONEPASS_SOCK").then(|| v.clone())
        };
        assert_eq!(select(&with(&sock)), Some(sock.clone()));
        assert_eq!(select(&with(Path::new("/dev/null"))), None);
        let plain = dir.path().join("file");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(select(&with(&plain)), None);
        let home = dir.path().to_owned();
        assert_eq!(select(&move |k: &str| (k == "HOME").then(|| home.clone().into_os_string())), None);
    }
}
