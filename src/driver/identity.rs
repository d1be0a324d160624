//! The host identity the guest's git is given: name, email and SSH signing public key.
//!
//! Name and email come from `GIT_NAME`/`GIT_EMAIL`, else the host's global git config (read
//! here by [`crate::driver::gitconfig`] when it can vouch for the file, else by git). The signing key,
//! first match wins: `GIT_SIGNING_KEY`, `OP_SIGNING_KEY_REF` (via `op read`),
//! `GIT_SIGNING_PUBKEY_FILE`, the host's `user.signingkey` (a literal key or a file).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::compiler::compile::Identity;
use crate::compiler::paths::expand_tilde;
use crate::driver::exec::{Cmd, Runner};
use crate::driver::gitconfig;
use crate::error::Error;

/// How long `op read` may wait for 1Password.
const OP_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(1);

/// The identity found, every problem met on the way (each one with its fix), and the values
/// that cannot be used at all.
#[derive(Debug)]
pub struct Resolved {
    pub identity: Identity,
    /// Why the signing key (or git itself) could not be read: commits are then unsigned.
    pub problems: Vec<Error>,
    /// A value that would corrupt the guest's git config (a control character, an address that
    /// is not one): every command that needs the identity refuses to go on (exit 2).
    pub invalid: Vec<Error>,
}

pub fn resolve(get: &dyn Fn(&str) -> Option<OsString>, runner: &dyn Runner) -> Resolved {
    let var = |k: &str| get(k).map(|v| v.to_string_lossy().into_owned()).filter(|v| !v.is_empty());
    let home = get("HOME").map(PathBuf::from);
    let mut problems = Vec::new();
    // The host's config is read only when a variable leaves something to ask it.
    let key_var = ["GIT_SIGNING_KEY", "OP_SIGNING_KEY_REF", "GIT_SIGNING_PUBKEY_FILE"].iter().any(|k| var(k).is_some());
    let config = if var("GIT_NAME").is_none() || var("GIT_EMAIL").is_none() || !key_var {
        git_identity(get, runner).unwrap_or_else(|e| {
            problems.push(e);
            GitIdentity::default()
        })
    } else {
        GitIdentity::default()
    };
    let from = |name: &str, key: &str, configured: &Option<String>| {
        var(name)
            .map(|v| (v, name.to_string()))
            .or_else(|| configured.clone().map(|v| (v, format!("git config {key}"))))
    };
    let mut invalid = Vec::new();
    let mut checked = |found: Option<(String, String)>, check: fn(&str) -> Result<(), String>| match found {
        Some((value, source)) => match check(&value) {
            Ok(()) => value,
            Err(why) => {
                invalid.push(
                    Error::usage(format!("{source} {why}"))
                        .hint(format!("fix {source}: the VM's git config is written from it")),
                );
                String::new()
            }
        },
        None => String::new(),
    };
    let name = checked(from("GIT_NAME", "user.name", &config.name), check_name);
    let email = checked(from("GIT_EMAIL", "user.email", &config.email), check_email);
    let signing_key = match signing_key(&var, config.signing_key, home.as_deref(), runner) {
        Ok(key) => key,
        Err(e) if e.kind() == crate::error::Kind::Usage && e.message().contains("control character") => {
            invalid.push(e);
            String::new()
        }
        Err(e) => {
            problems.push(e);
            String::new()
        }
    };
    Resolved { identity: Identity { name, email, signing_key }, problems, invalid }
}

/// `user.name`, `user.email` and `user.signingkey` from the host's global git config.
#[derive(Debug, Default)]
struct GitIdentity {
    name: Option<String>,
    email: Option<String>,
    signing_key: Option<String>,
}

/// The three keys from the global config file, read here when [`gitconfig`] can vouch for
/// it, else with one `git config -z --get-regexp` (entries are `key\nvalue\0`, so any value
/// survives; git exits 1 when none is set). The last one set wins; set empty, it is unset.
fn git_identity(get: &dyn Fn(&str) -> Option<OsString>, runner: &dyn Runner) -> Result<GitIdentity, Error> {
    let entries = match gitconfig::global_entries(get) {
        Some(entries) => entries,
        None => ask_git(runner)?,
    };
    let mut found = GitIdentity::default();
    for entry in entries {
        let Some(value) = entry.value else { continue };
        let value = Some(String::from_utf8_lossy(&value).into_owned()).filter(|v| !v.is_empty());
        match entry.key.as_str() {
            "user.name" => found.name = value,
            "user.email" => found.email = value,
            "user.signingkey" => found.signing_key = value,
            _ => {}
        }
    }
    Ok(found)
}

/// git's answer; exit 1 is "none of them is set", anything else a file git cannot read.
fn ask_git(runner: &dyn Runner) -> Result<Vec<gitconfig::Entry>, Error> {
    let cmd = Cmd::new("git").args(["config", "--global", "-z", "--get-regexp", r"^user\.(name|email|signingkey)$"]);
    let out = runner.output(&cmd)?;
    match out.code {
        Some(0) => {}
        Some(1) => return Ok(Vec::new()),
        _ => {
            return Err(Error::usage("git cannot read its global config, so the VMs get no git identity")
                .caused_by(String::from_utf8_lossy(&out.stderr).trim())
                .hint("fix the file git names (`git config --global --list` shows what it reads)"));
        }
    }
    let entries = out.stdout.split(|&b| b == 0).filter_map(|entry| {
        let at = entry.iter().position(|&b| b == b'\n')?;
        let key = String::from_utf8_lossy(&entry[..at]).to_ascii_lowercase();
        Some(gitconfig::Entry { key, value: Some(entry[at + 1..].to_vec()) })
    });
    Ok(entries.collect())
}

fn control_character(value: &str) -> Option<char> {
    value.chars().find(|c| c.is_control())
}

fn check_name(name: &str) -> Result<(), String> {
    match control_character(name) {
        Some(c) => Err(format!("contains the control character {c:?}")),
        None => Ok(()),
    }
}

/// An address git and `allowed_signers` can hold: `local@domain`, no spaces or angle brackets.
fn check_email(email: &str) -> Result<(), String> {
    if let Some(c) = control_character(email) {
        return Err(format!("contains the control character {c:?}"));
    }
    let valid = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'))
        && !email.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | '"'));
    if valid { Ok(()) } else { Err(format!("is `{email}`, not an email address (`you@example.com`)")) }
}

fn signing_key(
    var: &dyn Fn(&str) -> Option<String>,
    configured: Option<String>,
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
    let Some(value) = configured else { return Ok(String::new()) };
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
    if let Some(c) = control_character(key) {
        let what = if matches!(c, '\n' | '\r') { "a line break" } else { "a control character" };
        return Err(Error::usage(format!(
            "{source} contains {what} ({c:?}): it must be one public-key line, with no control character"
        ))
        .hint(format!("set {source} to a single line such as `ssh-ed25519 AAAA… you@host`")));
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
    fn names_and_addresses() {
        assert!(check_name("Ann \"Q\" O'Neil").is_ok());
        assert!(check_name("Ann\rB").is_err());
        assert!(check_email("ann+dev@example.com").is_ok());
        for bad in ["ann example.com", "ann@ex ample.com", "@example.com", "ann@", "a@b@c", "<a@b>", "a@b\n"] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
    }

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
        let multi =
            check_public_key("ssh-ed25519 AAAA me\n[core]\n\tsshCommand = evil", "GIT_SIGNING_KEY").unwrap_err();
        assert!(multi.to_string().contains("GIT_SIGNING_KEY contains a line break"), "{multi}");
        assert_eq!(multi.exit_code(), 2);
    }
}
