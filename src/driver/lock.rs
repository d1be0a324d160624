//! Exclusive advisory locks on lock files (`flock`), for every read-modify-write machine does:
//! a project's VM and record, a bake key, the projects file. The OS drops a lock when its holder
//! exits, crash or not, so a lock is never stale. Lock files sit beside what they guard, never
//! on it, so an atomic rename of the guarded file leaves the lock in place.

use std::fs::{File, TryLockError};
use std::path::Path;

use crate::error::{Result, io_error};

/// Held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the lock at `path` (creating the file), calling `on_wait` once if another process
/// holds it, then waiting. When the file is removed while waiting (a prune), the new one is
/// locked instead.
pub fn exclusive(path: &Path, on_wait: &mut dyn FnMut()) -> Result<Lock> {
    let mut waited = false;
    loop {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                if !waited {
                    on_wait();
                    waited = true;
                }
                file.lock().map_err(|e| io_error("lock", path, &e))?;
            }
            Err(TryLockError::Error(e)) => return Err(io_error("lock", path, &e)),
        }
        if is_same_file(&file, path) {
            return Ok(Lock { _file: file });
        }
    }
}

/// The lock at `path` if nobody holds it, else `None`.
pub fn try_exclusive(path: &Path) -> Result<Option<Lock>> {
    let file = open(path)?;
    match file.try_lock() {
        Ok(()) if is_same_file(&file, path) => Ok(Some(Lock { _file: file })),
        Ok(()) | Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(io_error("lock", path, &e)),
    }
}

/// Whether another process holds the lock at `path` (a daemon that runs, or is starting). A
/// lock file that does not exist is not held, and is not created.
pub fn is_held(path: &Path) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    Ok(try_exclusive(path)?.is_none())
}

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
    }
    File::options().create(true).truncate(false).write(true).open(path).map_err(|e| io_error("open", path, &e))
}

fn is_same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_held_says_whether_another_holder_has_it_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.lock");
        assert!(!is_held(&path).unwrap());
        assert!(!path.exists(), "asking creates no lock file");
        let held = try_exclusive(&path).unwrap().expect("free");
        assert!(is_held(&path).unwrap());
        drop(held);
        assert!(!is_held(&path).unwrap());
    }

    #[test]
    fn a_held_lock_excludes_and_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.lock");
        let held = exclusive(&path, &mut || panic!("the first lock never waits")).unwrap();
        assert!(try_exclusive(&path).unwrap().is_none());
        drop(held);
        assert!(try_exclusive(&path).unwrap().is_some());
    }

    #[test]
    fn a_waiter_says_so_once_and_gets_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = exclusive(&path, &mut || {}).unwrap();
        let waiter = std::thread::spawn({
            let path = path.clone();
            move || {
                let mut waits = 0;
                let _lock = exclusive(&path, &mut || waits += 1).unwrap();
                waits
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(held);
        assert_eq!(waiter.join().unwrap(), 1);
    }
}
