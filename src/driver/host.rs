//! Gathering host facts for the compiler: the only effectful step before compiling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compiler::compile::{HostFacts, HostOs, Identity};
use crate::compiler::config::model::Arch;
use crate::compiler::paths::Paths;
use crate::error::{Error, Result};

pub fn os() -> HostOs {
    if cfg!(target_os = "macos") { HostOs::Macos } else { HostOs::Linux }
}

pub fn arch() -> Result<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(Arch::X86_64),
        "aarch64" => Ok(Arch::Aarch64),
        other => Err(Error::failure(format!("machine runs on x86_64 and aarch64 hosts, not {other}"))),
    }
}

pub fn facts(paths: &Paths, identity: Identity) -> Result<HostFacts> {
    Ok(HostFacts {
        os: os(),
        arch: arch()?,
        identity,
        state_dir: paths.state_dir.clone(),
        cached_disks: cached_disks(&paths.cache_dir),
        boot_disk: None,
    })
}

/// This program as built: its path, size and modification time, so any rebuild (new layers, a
/// changed compiler) tells apart from the last; `None` when it cannot be found.
/// Looked up once per process (`status` asks for every VM).
pub fn build_id() -> Option<String> {
    static ID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let exe = std::env::current_exe().ok()?;
        let meta = std::fs::metadata(&exe).ok()?;
        let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(format!("{} {} {} {}", env!("CARGO_PKG_VERSION"), exe.display(), meta.len(), modified.as_nanos()))
    })
    .clone()
}

/// Where the baked disk of a chain prefix is published (by rename, so existing means complete).
pub fn disk_path(cache_dir: &Path, full_key: &str) -> PathBuf {
    cache_dir.join("disks").join(format!("{full_key}.img"))
}

/// Baked disks present in the cache, by chain key.
pub fn cached_disks(cache_dir: &Path) -> BTreeMap<String, PathBuf> {
    let Ok(entries) = std::fs::read_dir(cache_dir.join("disks")) else { return BTreeMap::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let key = name.strip_suffix(".img")?;
            (key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit())).then(|| (key.to_string(), e.path()))
        })
        .collect()
}
