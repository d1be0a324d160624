//! Writes a compiled stack to the state dir: layers into content-addressed folders, published by
//! rename so a folder that exists is complete; the instance file by atomic replace.

use std::path::Path;

use crate::compiler::compile::{CompiledLayer, Stack};
use crate::error::{Result, io_error};

pub fn write(stack: &Stack) -> Result<()> {
    for layer in &stack.layers {
        write_layer(layer)?;
    }
    write_atomic(&stack.instance_path, stack.instance_yaml.as_bytes())
}

/// A temp folder of an interrupted render older than this is debris (a live one is seconds old).
const DEBRIS_AGE: std::time::Duration = std::time::Duration::from_hours(1);

fn write_layer(layer: &CompiledLayer) -> Result<()> {
    if std::fs::read(layer.path()).is_ok_and(|existing| existing == layer.yaml.as_bytes()) {
        return Ok(());
    }
    let parent = layer.dir.parent().expect("layer folders live under the state dir");
    std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, &e))?;
    remove_debris(parent, DEBRIS_AGE);
    let tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempdir_in(parent)
        .map_err(|e| io_error("create a folder in", parent, &e))?;
    put(&tmp.path().join("lima.yaml"), layer.yaml.as_bytes())?;
    for (rel, bytes) in &layer.files {
        put(&tmp.path().join(rel), bytes)?;
    }
    sync_tree(tmp.path())?;
    // A stale, partial folder (from a machine older than the rename protocol) is replaced.
    if layer.dir.exists() {
        std::fs::remove_dir_all(&layer.dir).map_err(|e| io_error("remove", &layer.dir, &e))?;
    }
    let tmp_path = tmp.keep();
    match std::fs::rename(&tmp_path, &layer.dir) {
        Ok(()) => sync_dir(parent),
        // Another machine process published the same content first.
        Err(_) if layer.path().is_file() => {
            let _ = std::fs::remove_dir_all(&tmp_path);
            Ok(())
        }
        Err(e) => Err(io_error("publish", &layer.dir, &e)),
    }
}

fn put(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
    }
    std::fs::write(path, bytes).map_err(|e| io_error("write", path, &e))
}

/// How a layer folder being written is named until it is published by rename.
pub const TMP_PREFIX: &str = ".tmp-";

/// Removes `.tmp-*` folders under `layers/` that interrupted renders left, when older than `age`
/// (a render in progress owns a young one). Best effort: debris never fails a render.
/// Returns what was removed, with its size in bytes.
pub fn remove_debris(layers: &Path, age: std::time::Duration) -> Vec<(std::path::PathBuf, u64)> {
    remove_all(debris(layers, age))
}

/// What [`remove_debris`] would remove.
pub fn debris(layers: &Path, age: std::time::Duration) -> Vec<(std::path::PathBuf, u64)> {
    layer_folders(layers, age, |name| name.starts_with(TMP_PREFIX))
}

/// Published layer folders older than `age` that are not in `used`, with their sizes. Lima
/// copies a template's bases into the instance at create, so a layer folder is only ever needed
/// by the next create of a stack that holds it.
pub fn unused_layers(
    layers: &Path,
    used: &std::collections::BTreeSet<std::path::PathBuf>,
    age: std::time::Duration,
) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = layer_folders(layers, age, |name| !name.starts_with(TMP_PREFIX));
    found.retain(|(path, _)| !used.contains(path));
    found
}

/// Removes the folders; what it removed.
pub fn remove_all(folders: Vec<(std::path::PathBuf, u64)>) -> Vec<(std::path::PathBuf, u64)> {
    folders.into_iter().filter(|(path, _)| std::fs::remove_dir_all(path).is_ok()).collect()
}

/// Folders under `layers` whose name passes `pick`, untouched for at least `age`.
fn layer_folders(
    layers: &Path,
    age: std::time::Duration,
    pick: impl Fn(&str) -> bool,
) -> Vec<(std::path::PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(layers) else { return Vec::new() };
    let mut found: Vec<(std::path::PathBuf, u64)> = entries
        .flatten()
        .filter(|e| e.path().is_dir() && pick(&e.file_name().to_string_lossy()))
        .filter(|e| {
            let old = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
            old.is_some_and(|o| o >= age)
        })
        .map(|e| (e.path(), tree_size(&e.path())))
        .collect();
    found.sort();
    found
}

fn tree_size(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            std::fs::read_dir(path).map_or(0, |entries| entries.flatten().map(|e| tree_size(&e.path())).sum())
        }
        Ok(meta) => meta.len(),
        Err(_) => 0,
    }
}

/// fsyncs every file under `dir`, then the folders, so a rename publishes complete data.
fn sync_tree(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error("read", dir, &e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            sync_file(&path)?;
        }
    }
    sync_dir(dir)
}

/// fsyncs a file's data.
pub fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(|e| io_error("sync", path, &e))
}

/// fsyncs a folder, making the renames and creations in it durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(|e| io_error("sync", dir, &e))
}

/// Replaces `path` with `bytes` so that readers see the old or the new file, never a mix. A
/// symlink (a dotfile manager's) is written through, and an existing file keeps its mode. A file
/// that already holds `bytes` is left alone (no temp file, no fsync, no rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let target = resolve_link(path);
    if std::fs::read(&target).is_ok_and(|existing| existing == bytes) {
        return Ok(());
    }
    let dir = target.parent().expect("an absolute file path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error("create a file in", dir, &e))?;
    tmp.write_all(bytes).and_then(|()| tmp.as_file().sync_all()).map_err(|e| io_error("write", tmp.path(), &e))?;
    if let Ok(meta) = std::fs::metadata(&target) {
        tmp.as_file().set_permissions(meta.permissions()).map_err(|e| io_error("set the mode of", tmp.path(), &e))?;
    }
    tmp.persist(&target).map_err(|e| io_error("replace", &target, &e.error))?;
    sync_dir(dir)
}

/// The file a symlink points at (following chains), or the path itself.
fn resolve_link(path: &Path) -> std::path::PathBuf {
    let mut current = path.to_path_buf();
    for _ in 0..16 {
        match std::fs::read_link(&current) {
            Ok(next) => current = current.parent().map_or(next.clone(), |dir| dir.join(&next)),
            Err(_) => break,
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn writes_through_symlinks_and_keeps_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/projects.toml");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("projects.toml");
        std::os::unix::fs::symlink("dotfiles/projects.toml", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o640);
        let fresh = dir.path().join("new/file");
        write_atomic(&fresh, b"x").unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"x");
        // The same content again is not written again.
        let before = std::fs::metadata(&fresh).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_atomic(&fresh, b"x").unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().modified().unwrap(), before);
    }
}

#[cfg(test)]
mod debris_tests {
    use super::*;

    #[test]
    fn old_temp_folders_go_and_young_ones_and_layers_stay() {
        let dir = tempfile::tempdir().unwrap();
        for name in [".tmp-old", ".tmp-young", "0123456789abcdef"] {
            std::fs::create_dir_all(dir.path().join(name)).unwrap();
            std::fs::write(dir.path().join(name).join("lima.yaml"), "x: 1\n").unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_hours(2);
        std::fs::File::open(dir.path().join(".tmp-old")).unwrap().set_modified(old).unwrap();
        let removed = remove_debris(dir.path(), DEBRIS_AGE);
        assert_eq!(removed, [(dir.path().join(".tmp-old"), 5)]);
        assert!(dir.path().join(".tmp-young").is_dir() && dir.path().join("0123456789abcdef").is_dir());
    }
}
