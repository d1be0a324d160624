//! The host identity the guest's git is given: name, email and SSH signing public key.
//!
//! Name and email come from `GIT_NAME`/`GIT_EMAIL`, else the host's global git config. The
//! signing key, first match wins: `GIT_SIGNING_KEY`, `OP_SIGNING_KEY_REF` (via `op read`),
//! `GIT_SIGNING_PUBKEY_FILE`, the host's `user.signingkey` (a literal key or a file).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::compile::Identity;
use crate::error::Error;
use crate::exec::{Cmd, Runner};
use crate::paths::expand_tilde;

/// How long `op read` may wait for 1Password.
const OP_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(1);

/// The identity found, plus every problem met on the way (each one with its fix).
#[derive(Debug)]
pub struct Resolved {
    pub identity: Identity,
    pub problems: Vec<Error>,
}

pub fn resolve(get: &dyn Fn(&str) -> Option<OsString>, runner: &dyn Runner) -> Resolved {
    let var = |k: &str| get(k).map(|v| v.to_string_lossy().into_owned()).filter(|v| !v.is_empty());
    let home = get("HOME").map(PathBuf::from);
    let mut problems = Vec::new();
    let mut git = |key: &str| match runner.output(&Cmd::new("git").args(["config", "--global", "--get", key])) {
        Ok(out) if out.success() => Some(out.stdout_text()).filter(|s| !s.is_empty()),
        Ok(_) => None,
        Err(e) => {
            problems.push(e);
            None
        }
    };
    let name = var("GIT_NAME").or_else(|| git("user.name")).unwrap_or_default();
    let email = var("GIT_EMAIL").or_else(|| git("user.email")).unwrap_or_default();
    let signing_key = match signing_key(&var, &mut || git("user.signingkey"), home.as_deref(), runner) {
        Ok(key) => key,
        Err(e) => {
            problems.push(e);
            String::new()
        }
    };
    Resolved { identity: Identity { name, email, signing_key }, problems }
}

fn signing_key(
    var: &dyn Fn(&str) -> Option<String>,
    configured: &mut dyn FnMut() -> Option<String>,
    home: Option<&Path>,
    runner: &dyn Runner,
) -> Result<String, Error> {
    if let Some(key) = var("GIT_SIGNING_KEY") {
        return check_public_key(&key, "GIT_SIGNING_KEY");
    }
    if let Some(reference) = var("OP_SIGNING_KEY_REF") {
        // Time-boxed: a locked 1Password may wait for a Touch ID that never comes.
        let out = runner.output(&Cmd::new("op").arg("read").arg(&reference).timeout(OP_TIMEOUT))?;
        if out.code.is_none() {
            return Err(Error::failure(format!(
                "`op read {reference}` gave no answer within {}s",
                OP_TIMEOUT.as_secs()
            ))
            .hint("unlock 1Password (and approve the prompt), or unset OP_SIGNING_KEY_REF"));
        }
        if !out.success() {
            return Err(Error::failure(format!("`op read {reference}` failed"))
                .caused_by(String::from_utf8_lossy(&out.stderr).trim())
                .hint("unlock 1Password and enable its CLI integration, or unset OP_SIGNING_KEY_REF"));
        }
        return check_public_key(&out.stdout_text(), "OP_SIGNING_KEY_REF");
    }
    if let Some(file) = var("GIT_SIGNING_PUBKEY_FILE") {
        return read_key_file(&expand_tilde(Path::new(&file), home), "GIT_SIGNING_PUBKEY_FILE");
    }
    // Asked last: git runs only when no variable names the key.
    let Some(value) = configured() else { return Ok(String::new()) };
    let value = value.strip_prefix("key::").unwrap_or(&value).to_string();
    if ["ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-"].iter().any(|p| value.starts_with(p)) {
        return check_public_key(&value, "git config user.signingkey");
    }
    read_key_file(&expand_tilde(Path::new(&value), home), "git config user.signingkey")
}

fn read_key_file(path: &Path, source: &str) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(format!("{source} names {}, which cannot be read", path.display()))
            .caused_by(e)
            .hint("point it at your SSH public key, e.g. ~/.ssh/id_ed25519.pub")
    })?;
    check_public_key(text.trim(), source)
}

/// A signing key must be one public-key line; never a private key.
fn check_public_key(key: &str, source: &str) -> Result<String, Error> {
    let key = key.trim();
    if key.contains("PRIVATE KEY") {
        return Err(Error::usage(format!("{source} holds a PRIVATE key; machine only needs the public one"))
            .hint("use the matching .pub file: private keys never enter the VM"));
    }
    let mut words = key.split_whitespace();
    let valid = matches!((words.next(), words.next()), (Some(kind), Some(blob))
        if (kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-"))
            && blob.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
    if !valid || key.lines().count() != 1 {
        return Err(Error::usage(format!("{source} is not an SSH public key line (`ssh-ed25519 AAAA… comment`)")));
    }
    Ok(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys() {
        assert!(check_public_key("ssh-ed25519 AAAAC3Nza me@host", "x").is_ok());
        assert!(
            check_public_key("-----BEGIN OPENSSH PRIVATE KEY-----\nabc", "x")
                .unwrap_err()
                .to_string()
                .contains("PRIVATE")
        );
        assert!(check_public_key("hello", "x").is_err());
        assert!(check_public_key("ssh-ed25519 AAAA\nssh-rsa BBBB", "x").is_err());
    }
}
