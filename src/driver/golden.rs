//! Golden disks: the disk of a project's VM as it first came up, provisioned and with its repos
//! cloned, kept in the cache so that the project's other VMs (branch instances, resets) start
//! from it instead of provisioning and cloning again.
//!
//! A golden disk is named by a key over what it holds: the chain key of the stack the VM was
//! made from, its `disk` size, and the project's repos. It is copied copy-on-write where the
//! file system allows (`cp -c` on APFS, reflink on Linux) to a `.tmp-` name, fsynced and
//! published by rename, like a baked disk: a golden disk that exists is complete.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::driver::vm::Lima;
use crate::driver::{bake, stack};
use crate::error::{Error, Result, io_error};

const FORMAT: &str = "machine-golden/1";

/// `<cache>/golden`.
pub fn dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("golden")
}

/// The key of a project's golden disk.
pub fn key(chain_key: &str, disk: Option<&str>, repos: &[String]) -> String {
    let mut h = Sha256::new();
    for field in [FORMAT, chain_key, disk.unwrap_or("")].into_iter().chain(repos.iter().map(String::as_str)) {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    crate::compiler::compile::hex(&h.finalize())
}

/// The golden key of a project's stack: its chain key, the `disk:` of its instance file and
/// its repos (one rule for `down`/`snapshot`, which keep disks, and `up`, which looks for them).
pub fn key_for(chain_key: &str, instance_yaml: &str, repos: &[String]) -> String {
    key(chain_key, instance_disk(instance_yaml).as_deref(), repos)
}

/// The `disk:` of an instance file.
fn instance_disk(instance_yaml: &str) -> Option<String> {
    let value = crate::compiler::yaml::parse(instance_yaml).ok()?;
    crate::compiler::yaml::get(&value, "disk").and_then(crate::compiler::yaml::Value::as_str).map(str::to_string)
}

pub fn disk_path(cache_dir: &Path, key: &str) -> PathBuf {
    dir(cache_dir).join(format!("{key}.img"))
}

fn sidecar_path(cache_dir: &Path, key: &str) -> PathBuf {
    dir(cache_dir).join(format!("{key}.json"))
}

fn lock_path(cache_dir: &Path, key: &str) -> PathBuf {
    dir(cache_dir).join(format!("{key}.lock"))
}

/// What a golden disk is, next to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    pub key: String,
    pub project: String,
    pub repos: Vec<String>,
    /// The chain key of the stack the VM was made from.
    pub stack: String,
    pub created: u64,
    pub size: u64,
}

/// The golden disk of `key`, if one was published.
pub fn find(cache_dir: &Path, key: &str) -> Option<PathBuf> {
    Some(disk_path(cache_dir, key)).filter(|p| p.is_file())
}

/// Copies a stopped VM's disk into the cache as the golden disk `sidecar.key`. Another machine
/// keeping the same key waits for the first; a disk that is already there is kept.
/// With `replace`, a disk already published for the key is replaced by the rename, so it stays
/// usable until the new copy is complete (a failed or interrupted copy leaves it as it was).
pub fn publish(
    lima: &Lima<'_>,
    cache_dir: &Path,
    vm_disk: &Path,
    mut sidecar: Sidecar,
    replace: bool,
) -> Result<PathBuf> {
    let golden = dir(cache_dir);
    std::fs::create_dir_all(&golden).map_err(|e| io_error("create", &golden, &e))?;
    let _lock = crate::driver::lock::exclusive(&lock_path(cache_dir, &sidecar.key), &mut || {})?;
    let published = disk_path(cache_dir, &sidecar.key);
    if published.is_file() && !replace {
        return Ok(published);
    }
    if !vm_disk.is_file() {
        return Err(Error::failure(format!("the VM has no disk at {}", vm_disk.display())));
    }
    let tmp = golden.join(format!(".tmp-{}.img", sidecar.key));
    let _ = std::fs::remove_file(&tmp);
    bake::copy_disk(lima, vm_disk, &tmp)?;
    stack::sync_file(&tmp)?;
    sidecar.size = bake::allocated(&tmp);
    let bytes = serde_json::to_vec_pretty(&sidecar).expect("plain data serialises");
    stack::write_atomic(&sidecar_path(cache_dir, &sidecar.key), &bytes)?;
    std::fs::rename(&tmp, &published).map_err(|e| io_error("publish", &published, &e))?;
    stack::sync_dir(&golden)?;
    Ok(published)
}

/// One golden disk in the cache.
pub type Entry = bake::Entry<Sidecar>;

/// Every golden disk, oldest first.
pub fn entries(cache_dir: &Path) -> Vec<Entry> {
    let Ok(found) = std::fs::read_dir(dir(cache_dir)) else { return Vec::new() };
    let mut list: Vec<Entry> = found
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let key =
                name.strip_suffix(".img").filter(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()))?;
            let sidecar =
                std::fs::read(sidecar_path(cache_dir, key)).ok().and_then(|b| serde_json::from_slice(&b).ok());
            Some(Entry { key: key.to_string(), allocated: bake::allocated(&e.path()), path: e.path(), sidecar })
        })
        .collect();
    list.sort_by_key(|e| (e.sidecar.as_ref().map_or(0, |s| s.created), e.key.clone()));
    list
}

/// Removes a golden disk (unless another machine is keeping it right now); what it freed.
pub fn remove(cache_dir: &Path, entry: &Entry) -> Result<Option<u64>> {
    let Some(lock) = crate::driver::lock::try_exclusive(&lock_path(cache_dir, &entry.key))? else { return Ok(None) };
    for path in [entry.path.clone(), sidecar_path(cache_dir, &entry.key), lock_path(cache_dir, &entry.key)] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("remove", &path, &e)),
        }
    }
    drop(lock);
    Ok(Some(entry.allocated))
}

/// Copies that an interrupted keep left (`.tmp-*`), once nobody keeps that key.
pub fn remove_debris(cache_dir: &Path) -> Vec<(PathBuf, u64)> {
    debris_with(cache_dir, true)
}

/// The `.tmp-*` copies nobody is making right now, with their sizes (nothing is removed).
pub fn debris(cache_dir: &Path) -> Vec<(PathBuf, u64)> {
    debris_with(cache_dir, false)
}

fn debris_with(cache_dir: &Path, remove: bool) -> Vec<(PathBuf, u64)> {
    let Ok(found) = std::fs::read_dir(dir(cache_dir)) else { return Vec::new() };
    let mut list = Vec::new();
    for e in found.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(key) = name.strip_prefix(".tmp-").and_then(|n| n.strip_suffix(".img")) else { continue };
        // Held while removing: a keep of the same key cannot start on the file meanwhile.
        if let Ok(Some(_lock)) = crate::driver::lock::try_exclusive(&lock_path(cache_dir, key)) {
            let bytes = bake::allocated(&e.path());
            if !remove || std::fs::remove_file(e.path()).is_ok() {
                list.push((e.path(), bytes));
            }
        }
    }
    list.sort();
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cover_the_stack_the_disk_and_the_repos() {
        let repos = vec!["git@h:a.git".to_string()];
        let k = key("chain", Some("60GiB"), &repos);
        assert_eq!(k.len(), 64);
        assert_eq!(k, key("chain", Some("60GiB"), &repos));
        assert_ne!(k, key("chain2", Some("60GiB"), &repos));
        assert_ne!(k, key("chain", None, &repos));
        assert_ne!(k, key("chain", Some("60GiB"), &["git@h:b.git".to_string()]));
        assert_ne!(key("a", Some("b"), &[]), key("ab", None, &[]), "length-prefixed fields");
    }
}
