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

#[cfg(test)]
mod tests {
    use super::*;

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
