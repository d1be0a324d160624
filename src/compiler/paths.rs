//! Where machine reads configuration and writes state, from the environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Environment variable names machine reads.
pub mod vars {
    pub const PROJECTS_FILE: &str = "PROJECTS_FILE";
    pub const CONFIG_DIR: &str = "MACHINE_CONFIG_DIR";
    pub const STATE_DIR: &str = "MACHINE_STATE_DIR";
    pub const CACHE_DIR: &str = "MACHINE_CACHE_DIR";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub projects_file: PathBuf,
    /// Holds `profiles/` (user layers).
    pub config_dir: PathBuf,
    /// Generated stacks: `layers/<key>/` and `<project>/lima.yaml`.
    pub state_dir: PathBuf,
    /// Baked disks.
    pub cache_dir: PathBuf,
}

impl Paths {
    /// `$PROJECTS_FILE`, else `$MACHINE_CONFIG_DIR/projects.toml`, else the XDG config dir;
    /// `$MACHINE_STATE_DIR`, else XDG state; `$MACHINE_CACHE_DIR`, else XDG cache.
    pub fn from_env(get: impl Fn(&str) -> Option<OsString>) -> Result<Self> {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let expand = |v: OsString| expand_tilde(Path::new(&v), home.as_deref());
        let xdg = |name: &str, fallback: &str| -> Result<PathBuf> {
            match var(name) {
                Some(dir) if Path::new(&dir).is_absolute() => Ok(PathBuf::from(dir).join("machine")),
                _ => home.as_ref().map(|h| h.join(fallback).join("machine")).ok_or_else(|| {
                    Error::failure("HOME is not set, so machine cannot find its folders").hint(format!(
                        "set HOME, or {}, {} and {}",
                        vars::CONFIG_DIR,
                        vars::STATE_DIR,
                        vars::CACHE_DIR
                    ))
                }),
            }
        };
        let config_dir = match var(vars::CONFIG_DIR) {
            Some(dir) => expand(dir),
            None => xdg("XDG_CONFIG_HOME", ".config")?,
        };
        let projects_file = var(vars::PROJECTS_FILE).map_or_else(|| config_dir.join("projects.toml"), expand);
        let state_dir = match var(vars::STATE_DIR) {
            Some(dir) => expand(dir),
            None => xdg("XDG_STATE_HOME", ".local/state")?,
        };
        let cache_dir = match var(vars::CACHE_DIR) {
            Some(dir) => expand(dir),
            None => xdg("XDG_CACHE_HOME", ".cache")?,
        };
        Ok(Self { projects_file, config_dir, state_dir, cache_dir })
    }

    /// Every path made absolute against `cwd`: `base:` locators and Lima's own paths must not
    /// depend on the folder a later command runs in (a relative `MACHINE_STATE_DIR=state`).
    #[must_use]
    pub fn absolute(self, cwd: &Path) -> Self {
        let abs = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
        Self {
            projects_file: abs(self.projects_file),
            config_dir: abs(self.config_dir),
            state_dir: abs(self.state_dir),
            cache_dir: abs(self.cache_dir),
        }
    }

    pub fn profiles_dir(&self) -> PathBuf {
        self.config_dir.join("profiles")
    }
}

/// `~/x` → `$HOME/x`; everything else unchanged.
pub fn expand_tilde(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn paths(vars: &[(&str, &str)]) -> Paths {
        let map: HashMap<String, OsString> = vars.iter().map(|(k, v)| ((*k).to_string(), OsString::from(v))).collect();
        Paths::from_env(|k| map.get(k).cloned()).unwrap()
    }

    #[test]
    fn xdg_defaults() {
        let p = paths(&[("HOME", "/h")]);
        assert_eq!(p.projects_file, Path::new("/h/.config/machine/projects.toml"));
        assert_eq!(p.state_dir, Path::new("/h/.local/state/machine"));
        assert_eq!(p.cache_dir, Path::new("/h/.cache/machine"));
        let p = paths(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x"), ("XDG_STATE_HOME", "relative")]);
        assert_eq!(p.projects_file, Path::new("/x/machine/projects.toml"));
        assert_eq!(p.state_dir, Path::new("/h/.local/state/machine"), "relative XDG paths are ignored, per the spec");
    }

    #[test]
    fn overrides_win_and_expand_tilde() {
        let p = paths(&[("HOME", "/h"), ("MACHINE_CONFIG_DIR", "~/cfg"), ("MACHINE_STATE_DIR", "/s")]);
        assert_eq!(p.projects_file, Path::new("/h/cfg/projects.toml"));
        assert_eq!(p.profiles_dir(), Path::new("/h/cfg/profiles"));
        assert_eq!(p.state_dir, Path::new("/s"));
        let p = paths(&[("HOME", "/h"), ("PROJECTS_FILE", "~/p.toml")]);
        assert_eq!(p.projects_file, Path::new("/h/p.toml"));
    }

    #[test]
    fn no_home_is_a_clear_error() {
        let err = Paths::from_env(|_| None).unwrap_err();
        assert!(err.to_string().contains("HOME is not set"), "{err}");
    }
}
