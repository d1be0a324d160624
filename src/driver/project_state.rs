//! What machine remembers about each project's VM, in `<state>/<project>/`, and the lock that
//! keeps two `up`/`destroy` runs of the same project from interleaving.
//!
//! `applied.json` records the stack a VM was created from, so a later `up` can say what changed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::driver::stack::write_atomic;
use crate::error::{Error, Result, io_error};

#[derive(Debug, Clone)]
pub struct ProjectDir {
    dir: PathBuf,
}

/// A compile that found a VM's stack current: the fingerprint of its inputs
/// (`compile::inputs_key`) and the warnings it gave, which `up` shows again without compiling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub inputs: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The stack a VM was created from, and what `up` did in it since.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Full chain key of the layers.
    pub key: String,
    /// The layer names, lowest first.
    pub layers: Vec<String>,
    /// The instance file the VM was created with.
    pub instance_yaml: String,
    /// The guest user's home, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_home: Option<String>,
    /// Repo folders cloned under `~/code`.
    #[serde(default)]
    pub cloned: Vec<String>,
    /// Whether the last boot's provisioning succeeded; a re-`up` checks again only when not.
    #[serde(default)]
    pub provisioned: bool,
    /// Whether the guest itself said so (`machine-guest status` exit 0), not only that nothing
    /// said it failed. Only then can the next boot find every layer's stamp current.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
    /// The layer of each entry of Lima's provision list (see `Stack::provision_owners`), so a
    /// failed script Lima names by index is reported by layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provision: Vec<String>,
    /// Written before `limactl create` and cleared once it returns: a record that still says so
    /// belongs to a create that was interrupted, whose VM (if any) never booted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub creating: bool,
    /// The project the VM belongs to (the record's folder is the Lima instance's name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// The branch of a branch instance (`up PROJECT@BRANCH`), as the user wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The golden disk the VM was made from, if any (its key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden: Option<String>,
    /// The file that defined the project when the VM was made (projects.toml or a repo's
    /// `.machine.toml`; none for the zero-config `default`), so an untrusted `.machine.toml`
    /// elsewhere cannot take the VM over by naming its project. Absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_from: Option<std::path::PathBuf>,
    /// The last compile that found this record's stack current: `up` with the same inputs
    /// need not compile again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Current>,
    /// What `down` found in the VM's repos before stopping it; a stopped VM cannot change, so
    /// `prune` trusts it until the next `up`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_stop: Option<WorkAtStop>,
}

/// The VM's repos as `down` left them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkAtStop {
    /// Uncommitted changes or commits on no remote branch, in any repo.
    pub own_work: bool,
    /// Whether the primary repo's branch tracked a branch of the remote (it was pushed).
    pub pushed: bool,
}

/// Every VM machine keeps a record of: `(folder name = Lima instance, record)`, by name.
pub fn records(state_dir: &Path) -> Vec<(String, Applied)> {
    let Ok(found) = std::fs::read_dir(state_dir) else { return Vec::new() };
    let mut list: Vec<(String, Applied)> = found
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let applied = ProjectDir::new(state_dir, &name).applied().ok()??;
            Some((name, applied))
        })
        .collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list
}

/// Held while a command changes a project's VM or record.
pub type Lock = crate::driver::lock::Lock;

impl ProjectDir {
    pub fn new(state_dir: &Path, project: &str) -> Self {
        Self { dir: state_dir.join(project) }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Takes the project's lock, waiting (and saying so) while another machine holds it. The lock
    /// file lives beside the project folder (`<state>/locks/`), so `destroy` can remove the folder
    /// while holding it.
    pub fn lock(&self, on_wait: impl FnOnce()) -> Result<Lock> {
        let mut on_wait = Some(on_wait);
        crate::driver::lock::exclusive(&self.lock_path(), &mut || {
            if let Some(f) = on_wait.take() {
                f();
            }
        })
    }

    /// The lock if no other command holds it (read-only commands never wait).
    pub fn try_lock(&self) -> Result<Option<Lock>> {
        crate::driver::lock::try_exclusive(&self.lock_path())
    }

    /// `<state>/locks/<name>.lock`: the whole name (a branch VM's has dots; no extension is
    /// replaced, or `blog.fix-…` would share `blog`'s lock).
    fn lock_path(&self) -> PathBuf {
        let locks = self.dir.parent().expect("a project folder has a parent").join("locks");
        let name = self.dir.file_name().expect("a project folder has a name").to_string_lossy();
        locks.join(format!("{name}.lock"))
    }

    pub fn applied(&self) -> Result<Option<Applied>> {
        let path = self.dir.join("applied.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::failure(format!("{} is damaged", path.display()))
                    .caused_by(e)
                    .hint("delete it; the next `machine up` treats the VM as created from an unknown stack")
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path, &e)),
        }
    }

    pub fn record(&self, applied: &Applied) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(applied).expect("plain data serialises");
        write_atomic(&self.dir.join("applied.json"), &bytes)
    }

    /// Records that the VM was used now (`up`, `ssh`, `run`, an agent session), for `prune`.
    pub fn touch(&self) -> Result<()> {
        let path = self.dir.join("last-used");
        if !self.dir.is_dir() {
            return Ok(());
        }
        // Overwritten in place, not truncated first: on ext4 a file truncated to nothing is
        // flushed to disk when closed, which every `up`, `ssh` and `run` would pay.
        let text = now_secs().to_string();
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&path)?;
            file.write_all(text.as_bytes())?;
            file.set_len(text.len() as u64)
        };
        write().map_err(|e| io_error("write", &path, &e))
    }

    /// When the VM was last used, in seconds since the epoch (`None`: never recorded).
    pub fn last_used(&self) -> Option<u64> {
        std::fs::read_to_string(self.dir.join("last-used")).ok()?.trim().parse().ok()
    }

    pub fn forget_applied(&self) -> Result<()> {
        let path = self.dir.join("applied.json");
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &path, &e)),
        }
    }

    /// Removes the whole folder (the compiled stack and the records); layers are shared and kept.
    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &self.dir, &e)),
        }
    }
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_records_now_over_whatever_was_there() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ProjectDir::new(tmp.path(), "p");
        dir.touch().unwrap();
        assert_eq!(dir.last_used(), None, "no folder, no record");
        std::fs::create_dir_all(dir.path()).unwrap();
        std::fs::write(dir.path().join("last-used"), "123456789012345678\n").unwrap();
        let before = now_secs();
        dir.touch().unwrap();
        let used = dir.last_used().expect("a time");
        assert!(used >= before && used <= now_secs(), "{used}");
        assert_eq!(std::fs::read_to_string(dir.path().join("last-used")).unwrap(), used.to_string());
    }

    #[test]
    fn records_round_trip_and_locks_exclude() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ProjectDir::new(tmp.path(), "p");
        assert_eq!(dir.applied().unwrap(), None);
        let applied =
            Applied { key: "k".into(), layers: vec!["core".into()], cloned: vec!["a".into()], ..Applied::default() };
        dir.record(&applied).unwrap();
        assert_eq!(dir.applied().unwrap(), Some(applied));

        let held = dir.lock(|| panic!("the first lock never waits")).unwrap();
        let file = std::fs::File::options().write(true).open(tmp.path().join("locks/p.lock")).unwrap();
        assert!(matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        dir.remove().unwrap();
        assert!(!dir.path().exists(), "the folder goes while the lock is held");
        drop(held);
        assert!(file.try_lock().is_ok());
    }

    #[test]
    fn names_with_dots_have_locks_of_their_own() {
        let tmp = tempfile::tempdir().unwrap();
        let project = ProjectDir::new(tmp.path(), "blog");
        let branch = ProjectDir::new(tmp.path(), "blog.fix-1a2b3c4d");
        let _held = project.lock(|| {}).unwrap();
        assert!(branch.try_lock().unwrap().is_some(), "a branch VM's lock is not its project's");
        assert!(tmp.path().join("locks/blog.fix-1a2b3c4d.lock").is_file());
    }

    #[test]
    fn a_damaged_record_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ProjectDir::new(tmp.path(), "p");
        std::fs::create_dir_all(dir.path()).unwrap();
        std::fs::write(dir.path().join("applied.json"), "{not json").unwrap();
        let err = dir.applied().unwrap_err().to_string();
        assert!(err.contains("is damaged") && err.contains("hint: delete it"), "{err}");
    }
}
