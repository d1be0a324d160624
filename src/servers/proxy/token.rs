//! Per-VM tokens: what a guest holds in place of a credential. A token is random, is kept on
//! the host in the VM's state folder (`proxy-token.json`, mode 0600) so a restarted daemon still
//! knows it, and is compared in constant time.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io_error};

/// Every token starts with this, so one found somewhere says what it is.
pub const PREFIX: &str = "machine-proxy-";

/// `<state>/<instance>/proxy-token.json`.
pub const FILE_NAME: &str = "proxy-token.json";

/// 32 random bytes from the operating system's generator, hex, after [`PREFIX`].
pub fn generate() -> Result<String> {
    let mut bytes = [0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| Error::failure("the system's random number generator failed"))?;
    Ok(format!("{PREFIX}{}", crate::compiler::compile::hex(&bytes)))
}

/// Equality that takes the same time wherever the first difference is.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// What the host keeps about a VM's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFile {
    pub token: String,
    /// sha256 of the environment last written into the guest (it changes with the port or the
    /// providers: then it is written again).
    pub guest_env: String,
}

pub fn path(state_dir: &Path, instance: &str) -> PathBuf {
    state_dir.join(instance).join(FILE_NAME)
}

pub fn read(path: &Path) -> Result<Option<TokenFile>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::failure(format!("{} is damaged", path.display()))
                .caused_by(e)
                .hint("delete it: the next `machine up` gives the VM a new token")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, &e)),
    }
}

/// Writes the file with mode 0600 (replaced atomically; an older file is made 0600 first, since
/// the replacement keeps its mode).
pub fn write(path: &Path, file: &TokenFile) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if path.exists() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error("set the mode of", path, &e))?;
    }
    let bytes = serde_json::to_vec(file).expect("plain data serialises");
    crate::driver::stack::write_atomic(path, &bytes)
}

pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error("remove", path, &e)),
        _ => Ok(()),
    }
}

/// The tokens the daemon accepts: one per registered VM.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Vec<(String, String)>,
}

impl Registry {
    /// Every VM with a token file under `state_dir` (what a starting daemon accepts).
    pub fn load(state_dir: &Path) -> Self {
        let mut registry = Self::default();
        let Ok(dirs) = std::fs::read_dir(state_dir) else { return registry };
        for entry in dirs.flatten() {
            let Some(instance) = entry.file_name().to_str().map(str::to_string) else { continue };
            if let Ok(Some(file)) = read(&entry.path().join(FILE_NAME)) {
                registry.insert(&instance, file.token);
            }
        }
        registry
    }

    pub fn insert(&mut self, instance: &str, token: String) {
        self.remove(instance);
        self.entries.push((instance.to_string(), token));
    }

    pub fn remove(&mut self, instance: &str) {
        self.entries.retain(|(name, _)| name != instance);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn instances(&self) -> Vec<String> {
        let mut names: Vec<String> = self.entries.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        names
    }

    /// The VM whose token this is. Every entry is compared, so the time taken says nothing
    /// about which one (nearly) matched.
    pub fn find(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for (instance, token) in &self.entries {
            if ct_eq(token.as_bytes(), presented.as_bytes()) {
                found = Some(instance.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64, "{a}");
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn the_registry_finds_only_exact_tokens() {
        let mut r = Registry::default();
        r.insert("blog", "t-blog".into());
        r.insert("shop", "t-shop".into());
        assert_eq!(r.find("t-blog"), Some("blog"));
        assert_eq!(r.find("t-blo"), None);
        assert_eq!(r.find(""), None);
        r.insert("blog", "t-new".into());
        assert_eq!(r.find("t-blog"), None, "a new token replaces the old one");
        r.remove("shop");
        assert_eq!(r.instances(), ["blog"]);
    }

    #[test]
    fn token_files_are_private_and_loaded_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "blog");
        write(&file, &TokenFile { token: "t1".into(), guest_env: "e".into() }).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&file, &TokenFile { token: "t2".into(), guest_env: "e".into() }).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::create_dir_all(dir.path().join("layers")).unwrap();
        assert_eq!(Registry::load(dir.path()).find("t2"), Some("blog"));
        remove(&file).unwrap();
        remove(&file).unwrap();
        assert_eq!(Registry::load(dir.path()).find("t2"), None);
    }
}
