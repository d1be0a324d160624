//! The signature log: one JSON object per line in `<state>/<instance>/agent/signatures.jsonl`,
//! for every signature the VM asked for (made or not) and every other request the scoped agent
//! refused. Fields that came from the guest (namespace, user, service) are stored as they came
//! and escaped only when shown.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::signed_data::SignedData;
use crate::error::{Result, io_error};

/// When the log passes this size it is moved to `signatures.jsonl.1` (one old file is kept).
const ROTATE_AT: u64 = 8 * 1024 * 1024;

/// Entries other than a signature made (refusals, denials, failures) written one by one in a
/// minute; the rest of that minute's are counted in one entry. A guest can send such requests
/// by the thousand for nothing, and must not push the signatures out of the log by rotation.
pub const UNSIGNED_PER_MINUTE: u32 = 60;
const MINUTE: std::time::Duration = std::time::Duration::from_mins(1);

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The host's agent signed.
    Signed,
    /// The scoped agent said no (a key outside `ssh_keys`, or a request it never serves).
    Refused,
    /// The confirmation on the host said no (or could not be asked).
    Denied,
    /// The host's agent could not be reached or did not sign.
    Failed,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::Refused => "refused",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// UTC, RFC 3339 (`2026-12-01T11:49:17Z`).
    pub time: String,
    /// The VM as the user names it (`blog`, `blog@feature/x`).
    pub vm: String,
    /// `sign`, or the refused request (`add-identity`, `lock`, `extension query`, …).
    pub request: String,
    pub decision: Decision,
    /// The key's SHA256 fingerprint (signatures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The key's comment in the host's agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `sshsig`, `ssh-auth` or `other` (signatures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// An SSH signature's namespace (`git`, `file`, …), as the guest sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// An ssh login's user and service, as the guest sent them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The host key the guest's ssh client said it logs in to (hostbound logins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// The size of data that is neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    /// Whether the user confirmed it on the host (`confirm_signatures`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
    /// Why it was refused, denied or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a count of entries not written one by one (see [`UNSIGNED_PER_MINUTE`]): how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlogged: Option<u64>,
}

impl Entry {
    /// A request other than a signature, refused.
    pub fn refused_request(vm: &str, request: &str) -> Self {
        let mut e = Self::new(vm, request, Decision::Refused);
        e.reason = Some("the scoped agent only lists keys and signs".into());
        e
    }

    /// `n` requests refused, denied or failed past a minute's [`UNSIGNED_PER_MINUTE`]: sign
    /// requests (`unlogged sign`) or the others (`unlogged`).
    pub fn unlogged(vm: &str, n: u64, signs: bool) -> Self {
        let mut e = Self::new(vm, if signs { "unlogged sign" } else { "unlogged" }, Decision::Refused);
        e.unlogged = Some(n);
        e
    }

    /// A signature request with `key`, for `data`; its decision is set by the caller.
    pub fn signature(vm: &str, key: &str, data: &SignedData) -> Self {
        let mut e = Self::new(vm, "sign", Decision::Failed);
        e.key = Some(key.to_string());
        e.kind = Some(data.kind().to_string());
        match data {
            SignedData::Sshsig { namespace, .. } => e.namespace = Some(namespace.clone()),
            SignedData::SshAuth { user, service, host_key } => {
                e.user = Some(user.clone());
                e.service = Some(service.clone());
                e.host_key.clone_from(host_key);
            }
            SignedData::Other { bytes } => e.bytes = Some(*bytes),
        }
        e
    }

    fn new(vm: &str, request: &str, decision: Decision) -> Self {
        Self {
            time: crate::servers::timestamp::rfc3339(SystemTime::now()),
            vm: vm.to_string(),
            request: request.to_string(),
            decision,
            key: None,
            comment: None,
            kind: None,
            namespace: None,
            user: None,
            service: None,
            host_key: None,
            bytes: None,
            confirmed: false,
            reason: None,
            unlogged: None,
        }
    }

    #[must_use]
    pub fn decided(mut self, decision: Decision, reason: Option<String>) -> Self {
        self.decision = decision;
        self.reason = reason;
        self
    }

    /// What was signed, for people: `git signature`, `ssh login as git`, …
    pub fn what(&self) -> String {
        if let Some(n) = self.unlogged {
            let what = if self.request == "unlogged sign" {
                "sign requests refused, denied or failed"
            } else {
                "refused requests"
            };
            return format!("{n} more {what}, not logged one by one (at most {UNSIGNED_PER_MINUTE} a minute are)");
        }
        match (self.kind.as_deref(), self.namespace.as_deref()) {
            (Some("sshsig"), Some("git")) => "git signature (commit or tag; namespace git)".into(),
            (Some("sshsig"), Some("file")) => "file signature (ssh-keygen -Y sign; namespace file)".into(),
            (Some("sshsig"), ns) => format!("SSH signature, namespace {}", ns.unwrap_or("?")),
            (Some("ssh-auth"), _) => {
                let mut s = format!("ssh login as {}", self.user.as_deref().unwrap_or("?"));
                if let Some(host) = &self.host_key {
                    s.push_str(&format!(" to host key {host}"));
                }
                s
            }
            (Some(_), _) => format!("other data ({} bytes)", self.bytes.unwrap_or(0)),
            (None, _) => format!("{} request", self.request),
        }
    }
}

/// How many entries other than a signature made this minute has written, and how many it
/// did not.
#[derive(Debug, Default)]
pub struct Budget {
    minute: Option<std::time::Instant>,
    written: u32,
    unlogged: u64,
}

impl Budget {
    /// For an entry at `now`: the count of an earlier minute's unlogged entries, when one is due
    /// (written first), and whether the entry itself is written.
    pub fn admit(&mut self, entry: &Entry, now: std::time::Instant) -> (Option<u64>, bool) {
        let due = self.next_minute(now);
        if entry.decision == Decision::Signed {
            return (due, true);
        }
        if self.written < UNSIGNED_PER_MINUTE {
            self.written += 1;
            return (due, true);
        }
        self.unlogged += 1;
        (due, false)
    }

    /// The count still to write when the daemon ends.
    pub fn rest(&mut self) -> Option<u64> {
        (self.unlogged > 0).then(|| std::mem::take(&mut self.unlogged))
    }

    fn next_minute(&mut self, now: std::time::Instant) -> Option<u64> {
        if self.minute.is_some_and(|start| now.duration_since(start) < MINUTE) {
            return None;
        }
        self.minute = Some(now);
        self.written = 0;
        self.rest()
    }
}

/// Where the log lives, and appending to it.
#[derive(Debug, Clone)]
pub struct SignatureLog {
    path: PathBuf,
}

impl SignatureLog {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line with a single write, so concurrent connections never interleave.
    pub fn append(&self, entry: &Entry) -> Result<()> {
        self.rotate();
        let mut line = serde_json::to_string(entry).expect("a log entry serialises");
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| io_error("open", &self.path, &e))?;
        file.write_all(line.as_bytes()).map_err(|e| io_error("write", &self.path, &e))
    }

    fn rotate(&self) {
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= ROTATE_AT) {
            let _ = std::fs::rename(&self.path, self.path.with_extension("jsonl.1"));
        }
    }

    /// The rotated file's entries, then the current file's, oldest first. Lines that are not
    /// entries (a crash mid-write) are counted, not shown.
    pub fn read(&self) -> Result<(Vec<Entry>, usize)> {
        let mut entries = Vec::new();
        let mut unreadable = 0;
        for path in [self.path.with_extension("jsonl.1"), self.path.clone()] {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("read", &path, &e)),
            };
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str(line) {
                    Ok(entry) => entries.push(entry),
                    Err(_) => unreadable += 1,
                }
            }
        }
        Ok((entries, unreadable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_a_minute_s_budget_refusals_are_counted_and_signatures_always_written() {
        let start = std::time::Instant::now();
        let mut budget = Budget::default();
        let refused = Entry::refused_request("blog", "lock");
        let signed =
            Entry::signature("blog", "SHA256:x", &SignedData::Other { bytes: 1 }).decided(Decision::Signed, None);
        for _ in 0..UNSIGNED_PER_MINUTE {
            assert_eq!(budget.admit(&refused, start), (None, true));
        }
        assert_eq!(budget.admit(&refused, start), (None, false), "over the minute's budget");
        assert_eq!(budget.admit(&refused, start), (None, false));
        assert_eq!(budget.admit(&signed, start), (None, true), "a signature is always written");
        let later = start + std::time::Duration::from_secs(61);
        assert_eq!(budget.admit(&refused, later), (Some(2), true), "the count comes first, then a new minute");
        assert_eq!(budget.rest(), None);
        assert_eq!(
            Entry::unlogged("blog", 2, false).what(),
            "2 more refused requests, not logged one by one (at most 60 a minute are)"
        );
    }

    #[test]
    fn the_counts_of_sign_requests_and_of_others_say_which() {
        let signs = Entry::unlogged("blog", 3, true);
        assert_eq!(signs.request, "unlogged sign");
        assert!(signs.what().starts_with("3 more sign requests refused, denied or failed"), "{}", signs.what());
    }

    #[test]
    fn entries_say_what_was_signed() {
        let git = Entry::signature(
            "blog",
            "SHA256:x",
            &SignedData::Sshsig { namespace: "git".into(), hash: "sha512".into() },
        );
        assert_eq!(git.what(), "git signature (commit or tag; namespace git)");
        let login = SignedData::SshAuth { user: "git".into(), service: "ssh-connection".into(), host_key: None };
        assert_eq!(Entry::signature("blog", "SHA256:x", &login).what(), "ssh login as git");
        assert_eq!(
            Entry::signature("blog", "SHA256:x", &SignedData::Other { bytes: 3 }).what(),
            "other data (3 bytes)"
        );
        assert_eq!(Entry::refused_request("blog", "lock").what(), "lock request");
    }

    #[test]
    fn lines_round_trip_and_broken_ones_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let log = SignatureLog::new(dir.path().join("signatures.jsonl"));
        let entry = Entry::signature(
            "blog",
            "SHA256:x",
            &SignedData::Sshsig { namespace: "git".into(), hash: "sha512".into() },
        )
        .decided(Decision::Signed, None);
        log.append(&entry).unwrap();
        log.append(&Entry::refused_request("blog", "add-identity")).unwrap();
        let mut file = std::fs::OpenOptions::new().append(true).open(log.path()).unwrap();
        file.write_all(b"{\"cut off\n").unwrap();
        let (entries, unreadable) = log.read().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], entry);
        assert_eq!(entries[1].decision, Decision::Refused);
        assert_eq!(unreadable, 1);
        let line = std::fs::read_to_string(log.path()).unwrap();
        assert!(line.starts_with("{\"time\":"), "{line}");
        assert!(line.contains("\"request\":\"sign\",\"decision\":\"signed\",\"key\":\"SHA256:x\""), "{line}");
        assert!(line.contains("\"namespace\":\"git\""), "{line}");
    }
}
