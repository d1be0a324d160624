//! `ssh_keys`: which keys of the host's SSH agent a project's VM may see and sign with.
//!
//! An entry names a key by its SHA256 fingerprint (as `ssh-add -l` prints it) or by its comment.
//! A project's scope is a list of such lists: a key is in scope when every list names it. The
//! user's `projects.toml` gives the first list, a `.machine.toml` may add one (it can only narrow
//! what the VM sees), and no list at all means every key of the agent.

use std::fmt;

/// One `ssh_keys` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeySelector {
    /// `SHA256:<43 base64 characters>`.
    Fingerprint(String),
    /// A key comment, matched exactly.
    Comment(String),
}

impl KeySelector {
    /// An entry as written in `ssh_keys`; `Err` says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(body) = text.strip_prefix("SHA256:") {
            return if is_sha256_body(body) {
                Ok(Self::Fingerprint(text.to_string()))
            } else {
                Err("is not a SHA256 fingerprint: `SHA256:` must be followed by 43 base64 characters".into())
            };
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("sha256:") || lower.starts_with("md5:") {
            return Err("is not a SHA256 fingerprint as `ssh-add -l` prints it (`SHA256:` and 43 characters)".into());
        }
        if text.trim().is_empty() {
            return Err("is empty".into());
        }
        if text.chars().any(char::is_control) {
            return Err("contains a control character".into());
        }
        if looks_like_public_key(text) {
            return Err("is a public key, not a fingerprint or a comment".into());
        }
        Ok(Self::Comment(text.to_string()))
    }

    /// The entry as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Fingerprint(s) | Self::Comment(s) => s,
        }
    }

    /// Whether this entry names the key with that fingerprint and comment.
    pub fn matches(&self, fingerprint: &str, comment: &str) -> bool {
        match self {
            Self::Fingerprint(f) => f == fingerprint,
            Self::Comment(c) => c == comment,
        }
    }
}

impl fmt::Display for KeySelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_sha256_body(body: &str) -> bool {
    body.len() == 43 && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `ssh-ed25519 AAAA…`: a key line pasted where its fingerprint belongs.
fn looks_like_public_key(text: &str) -> bool {
    let mut words = text.split_whitespace();
    let (Some(kind), Some(blob)) = (words.next(), words.next()) else { return false };
    let kind_like = ["ssh-", "ecdsa-", "sk-"].iter().any(|p| kind.starts_with(p));
    kind_like && blob.starts_with("AAAA")
}

/// The keys a VM may use: every list must name a key (no list: every key).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyScope {
    lists: Vec<Vec<KeySelector>>,
}

impl KeyScope {
    /// Every key of the agent.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only the keys `list` names (an empty list: none).
    pub fn only(list: Vec<KeySelector>) -> Self {
        Self { lists: vec![list] }
    }

    /// From stored lists (the policy file); `None` when an entry does not parse.
    pub fn from_lists(lists: &[Vec<String>]) -> Option<Self> {
        let lists = lists
            .iter()
            .map(|l| l.iter().map(|s| KeySelector::parse(s).ok()).collect::<Option<Vec<_>>>())
            .collect::<Option<Vec<_>>>()?;
        Some(Self { lists })
    }

    /// This scope, further limited to what `other` allows.
    #[must_use]
    pub fn narrowed_by(&self, other: &Self) -> Self {
        let mut lists = self.lists.clone();
        for list in &other.lists {
            if !lists.contains(list) {
                lists.push(list.clone());
            }
        }
        Self { lists }
    }

    pub fn is_all(&self) -> bool {
        self.lists.is_empty()
    }

    /// The first list: what the project's own entry says (`None`: every key).
    pub fn own(&self) -> Option<&[KeySelector]> {
        self.lists.first().map(Vec::as_slice)
    }

    pub fn lists(&self) -> &[Vec<KeySelector>] {
        &self.lists
    }

    /// Whether the key with that fingerprint and comment is in scope.
    pub fn allows(&self, fingerprint: &str, comment: &str) -> bool {
        self.lists.iter().all(|list| list.iter().any(|s| s.matches(fingerprint, comment)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

    fn sel(s: &str) -> KeySelector {
        KeySelector::parse(s).unwrap()
    }

    #[test]
    fn entries_are_fingerprints_or_comments() {
        assert_eq!(sel(FP), KeySelector::Fingerprint(FP.into()));
        assert_eq!(sel("ada@laptop"), KeySelector::Comment("ada@laptop".into()));
        assert_eq!(sel("work key (yubikey)"), KeySelector::Comment("work key (yubikey)".into()));
        for bad in [
            "SHA256:short",
            "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
            "MD5:12:34",
            "",
            "  ",
            "tab\there",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ada@laptop",
        ] {
            assert!(KeySelector::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn a_key_must_be_named_by_every_list() {
        let all = KeyScope::all();
        assert!(all.allows(FP, "anything"));
        let own = KeyScope::only(vec![sel(FP), sel("work")]);
        assert!(own.allows(FP, "laptop"));
        assert!(own.allows("SHA256:other", "work"));
        assert!(!own.allows("SHA256:other", "laptop"));
        let narrowed = own.narrowed_by(&KeyScope::only(vec![sel("work")]));
        assert!(!narrowed.allows(FP, "laptop"), "the repo's list narrows the user's");
        assert!(narrowed.allows("SHA256:other", "work"));
        let none = KeyScope::only(Vec::new());
        assert!(!none.allows(FP, "work"), "an empty list allows nothing");
        assert!(!all.narrowed_by(&none).allows(FP, "work"));
        assert_eq!(all.narrowed_by(&own), own, "narrowing every key gives the other list");
    }

    #[test]
    fn stored_lists_round_trip() {
        let scope = KeyScope::only(vec![sel(FP), sel("work")]).narrowed_by(&KeyScope::only(vec![sel("work")]));
        let stored: Vec<Vec<String>> =
            scope.lists().iter().map(|l| l.iter().map(|s| s.as_str().to_string()).collect()).collect();
        assert_eq!(KeyScope::from_lists(&stored), Some(scope));
        assert_eq!(KeyScope::from_lists(&[vec!["SHA256:bad".into()]]), None);
    }
}
