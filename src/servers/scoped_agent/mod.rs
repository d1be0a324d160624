//! The scoped SSH agent: one per VM, a host-side ssh-agent in front of the user's real agent
//! that lists only the keys the project allows, signs only with them, refuses everything else
//! and logs every signature.
//!
//! Lima's ssh master forwards whatever `SSH_AUTH_SOCK` it was opened with, and every forwarded
//! channel of the VM goes through it. machine therefore opens the master (`limactl start`,
//! `limactl shell`, after `ssh -O exit`) with `SSH_AUTH_SOCK` set to the VM's scoped socket, and
//! keeps the agent running as a daemon (`machine agent serve INSTANCE`) for as long as the VM
//! runs. Pieces: [`policy`] (what the agent serves), [`server`] (one connection),
//! [`signed_data`] (what a signature is for), [`log`] (the signature log), [`confirm`] (the
//! optional question on the host), [`daemon`] (the process and its lifecycle).

pub mod confirm;
pub mod daemon;
pub mod log;
pub mod policy;
pub mod server;
pub mod signed_data;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_error};

/// The longest socket path every supported OS accepts (macOS's `sun_path` holds 104 bytes).
pub const MAX_SOCKET_PATH: usize = 103;

/// `<state>/<instance>/agent/`: the VM's scoped agent, mode 0700.
#[derive(Debug, Clone)]
pub struct AgentDir {
    dir: PathBuf,
    instance: String,
}

impl AgentDir {
    pub fn new(state_dir: &Path, instance: &str) -> Self {
        Self { dir: state_dir.join(instance).join("agent"), instance: instance.to_string() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The socket the VM's ssh master forwards (mode 0600).
    pub fn socket(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }

    /// What the agent serves, rewritten by every machine command that checks the agent.
    pub fn policy_file(&self) -> PathBuf {
        self.dir.join("policy.json")
    }

    /// The daemon's process id, while it runs.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("daemon.pid")
    }

    /// Held by the running daemon: at most one per VM.
    pub fn lock_file(&self) -> PathBuf {
        self.dir.join("daemon.lock")
    }

    /// The daemon's own messages (its stdout and stderr).
    pub fn daemon_log(&self) -> PathBuf {
        self.dir.join("daemon.log")
    }

    /// One JSON line per signature request (and refused request).
    pub fn signature_log(&self) -> log::SignatureLog {
        log::SignatureLog::new(self.dir.join("signatures.jsonl"))
    }

    /// Creates the folder, owner-only: the socket in it signs with the user's keys.
    pub fn create(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::create_dir_all(&self.dir).map_err(|e| io_error("create", &self.dir, &e))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error("set the mode of", &self.dir, &e))
    }

    /// Fails when the socket's path is longer than a Unix socket's may be.
    pub fn check_socket_path(&self) -> Result<()> {
        let len = self.socket().as_os_str().len();
        if len <= MAX_SOCKET_PATH {
            return Ok(());
        }
        Err(Error::failure(format!(
            "the scoped agent's socket {} is {len} bytes long; a Unix socket path may have at most {MAX_SOCKET_PATH}",
            self.socket().display()
        ))
        .hint("set MACHINE_STATE_DIR to a shorter folder (e.g. ~/.machine-state)"))
    }
}

/// The host's real agent: 1Password's when its socket exists, else `SSH_AUTH_SOCK` (never a
/// scoped agent's own socket, which would ask itself).
pub fn upstream(env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let found = crate::driver::ssh_agent::select(env)
        .or_else(|| env("SSH_AUTH_SOCK").filter(|s| !s.is_empty()).map(PathBuf::from))?;
    (!is_scoped_socket(&found)).then_some(found)
}

/// A scoped agent's socket: `agent.sock` beside a `policy.json`.
fn is_scoped_socket(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "agent.sock") && path.parent().is_some_and(|d| d.join("policy.json").exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_is_owner_only_and_long_paths_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let state = tempfile::tempdir().unwrap();
        let dir = AgentDir::new(state.path(), "blog");
        dir.create().unwrap();
        assert_eq!(std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(dir.socket(), state.path().join("blog/agent/agent.sock"));
        let long = AgentDir::new(&state.path().join("x".repeat(100)), "blog");
        assert!(long.check_socket_path().unwrap_err().to_string().contains("MACHINE_STATE_DIR"));
    }

    #[test]
    fn the_upstream_is_never_a_scoped_socket() {
        let state = tempfile::tempdir().unwrap();
        let dir = AgentDir::new(state.path(), "blog");
        dir.create().unwrap();
        std::fs::write(dir.policy_file(), "{}").unwrap();
        let sock = dir.socket().into_os_string();
        let own = move |k: &str| match k {
            "SSH_AUTH_SOCK" => Some(sock.clone()),
            "ONEPASS_SOCK" => Some("/dev/null".into()),
            _ => None,
        };
        assert_eq!(upstream(&own), None);
        let real = |k: &str| match k {
            "SSH_AUTH_SOCK" => Some("/run/user/1/agent.sock".into()),
            "ONEPASS_SOCK" => Some("/dev/null".into()),
            _ => None,
        };
        assert_eq!(upstream(&real), Some(PathBuf::from("/run/user/1/agent.sock")));
    }
}
