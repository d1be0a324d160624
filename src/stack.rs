//! Writes a compiled stack to the state dir: layers into content-addressed folders, published by
//! rename so a folder that exists is complete; the instance file by atomic replace.

use std::path::Path;

use crate::compile::{CompiledLayer, Stack};
use crate::error::{Result, io_error};

pub fn write(stack: &Stack) -> Result<()> {
    for layer in &stack.layers {
        write_layer(layer)?;
    }
    write_atomic(&stack.instance_path, stack.instance_yaml.as_bytes())
}

fn write_layer(layer: &CompiledLayer) -> Result<()> {
    if std::fs::read(layer.path()).is_ok_and(|existing| existing == layer.yaml.as_bytes()) {
        return Ok(());
    }
    let parent = layer.dir.parent().expect("layer folders live under the state dir");
    std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, &e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(parent)
        .map_err(|e| io_error("create a folder in", parent, &e))?;
    put(&tmp.path().join("lima.yaml"), layer.yaml.as_bytes())?;
    for (rel, bytes) in &layer.files {
        put(&tmp.path().join(rel), bytes)?;
    }
    // A stale, partial folder (from a machine older than the rename protocol) is replaced.
    if layer.dir.exists() {
        std::fs::remove_dir_all(&layer.dir).map_err(|e| io_error("remove", &layer.dir, &e))?;
    }
    let tmp_path = tmp.keep();
    match std::fs::rename(&tmp_path, &layer.dir) {
        Ok(()) => Ok(()),
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

/// Replaces `path` with `bytes` so that readers see the old or the new file, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let dir = path.parent().expect("an absolute file path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error("create a file in", dir, &e))?;
    tmp.write_all(bytes).and_then(|()| tmp.as_file().sync_all()).map_err(|e| io_error("write", tmp.path(), &e))?;
    tmp.persist(path).map_err(|e| io_error("replace", path, &e.error))?;
    Ok(())
}
