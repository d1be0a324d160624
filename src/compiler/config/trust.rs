//! Which `.machine.toml` files the user trusts. A `.machine.toml` comes with a repository, not
//! from the user, so until they say otherwise it may only set what cannot reach the host. The
//! user trusts one file's exact content with `machine trust`: its sha256 is recorded in the
//! state dir (never in the repository), and any change to the file makes it untrusted again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, io_error};

/// What the user said about one file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Trusted,
    /// Never trusted.
    Untrusted,
    /// Trusted once, but the file changed since.
    Changed,
}

impl Trust {
    pub fn is_trusted(self) -> bool {
        self == Self::Trusted
    }

    /// For the line `render`, `up` and `doctor` print about the file.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Trusted => "trusted",
            Self::Untrusted => "untrusted: it came with the repository",
            Self::Changed => "untrusted: it changed since you trusted it",
        }
    }
}

/// Keys an untrusted `.machine.toml` may set: nothing among them reaches the host (`ssh_keys`
/// only narrows the user's own list, see `config::overlay`).
pub const UNTRUSTED_KEYS: [&str; 10] =
    ["name", "repos", "profiles", "without", "shell", "cpus", "memory", "disk", "image", "ssh_keys"];

/// Keys an untrusted file may set in one direction only: the safe one.
pub const ONE_WAY: [&str; 3] = ["forward_agent = false", "confirm_signatures = true", "credential_proxy = false"];

/// Everything an untrusted `.machine.toml` may set, for messages.
pub fn allowed_untrusted() -> String {
    format!("{} (built-in profiles and a named image only), {}", UNTRUSTED_KEYS.join(", "), ONE_WAY.join(", "))
}

/// `<state>/trusted.json`: canonical path → sha256 of the content the user trusted.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Store {
    files: BTreeMap<PathBuf, String>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::compiler::compile::hex(&Sha256::digest(bytes))
}

fn store_path(state_dir: &Path) -> PathBuf {
    state_dir.join("trusted.json")
}

fn lock_path(state_dir: &Path) -> PathBuf {
    state_dir.join("locks").join("trusted.lock")
}

fn load(state_dir: &Path) -> Result<Store> {
    let path = store_path(state_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::failure(format!("{} is damaged", path.display()))
                .caused_by(e)
                .hint("delete it: every .machine.toml is then untrusted until you run `machine trust` again")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store::default()),
        Err(e) => Err(io_error("read", &path, &e)),
    }
}

/// The trust of `path`, whose content is `bytes`.
pub fn status(state_dir: &Path, path: &Path, bytes: &[u8]) -> Result<Trust> {
    let store = load(state_dir)?;
    let key = canonical(path)?;
    Ok(match store.files.get(&key) {
        Some(sum) if *sum == sha256_hex(bytes) => Trust::Trusted,
        Some(_) => Trust::Changed,
        None => Trust::Untrusted,
    })
}

/// Records `path`'s current content as trusted; returns its sha256.
pub fn trust(state_dir: &Path, path: &Path, bytes: &[u8]) -> Result<String> {
    let sum = sha256_hex(bytes);
    let key = canonical(path)?;
    update(state_dir, |store| {
        store.files.insert(key, sum.clone());
    })?;
    Ok(sum)
}

/// Forgets `path`; returns whether it was trusted (or had been).
pub fn revoke(state_dir: &Path, path: &Path) -> Result<bool> {
    let key = canonical(path)?;
    let mut had = false;
    update(state_dir, |store| had = store.files.remove(&key).is_some())?;
    Ok(had)
}

/// Read, change and write the store under its lock, so two `machine trust` never lose one.
fn update(state_dir: &Path, change: impl FnOnce(&mut Store)) -> Result<()> {
    let _lock = crate::driver::lock::exclusive(&lock_path(state_dir), &mut || {})?;
    let mut store = load(state_dir)?;
    change(&mut store);
    let bytes = serde_json::to_vec_pretty(&store).expect("plain data serialises");
    crate::driver::stack::write_atomic(&store_path(state_dir), &bytes)
}

/// The store's key for `path`. A symbolic link is refused: trust is given to one folder's file,
/// and a link in another folder would borrow it while its relative paths and its `origin` came
/// from the folder the link is in.
fn canonical(path: &Path) -> Result<PathBuf> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| io_error("find", path, &e))?;
    if meta.file_type().is_symlink() {
        return Err(Error::usage(format!("{} is a symbolic link", path.display())).hint(
            "machine reads a .machine.toml only as a regular file, since a link could borrow the trust of the file it points at: replace the link with a copy of the file",
        ));
    }
    path.canonicalize().map_err(|e| io_error("find", path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_file_stops_being_trusted_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let file = dir.path().join(".machine.toml");
        std::fs::write(&file, "repos = []\n").unwrap();
        assert_eq!(status(&state, &file, b"repos = []\n").unwrap(), Trust::Untrusted);
        let sum = trust(&state, &file, b"repos = []\n").unwrap();
        assert_eq!(sum.len(), 64);
        assert_eq!(status(&state, &file, b"repos = []\n").unwrap(), Trust::Trusted);
        assert_eq!(status(&state, &file, b"[lima]\n").unwrap(), Trust::Changed);
        // The same file reached another way is the same file.
        let other = dir.path().join("sub/../.machine.toml");
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        assert_eq!(status(&state, &other, b"repos = []\n").unwrap(), Trust::Trusted);
        assert!(revoke(&state, &file).unwrap());
        assert_eq!(status(&state, &file, b"repos = []\n").unwrap(), Trust::Untrusted);
        assert!(!revoke(&state, &file).unwrap());
    }
}
