//! The request log: one JSON line per request the proxy answered (time, VM, provider, method,
//! path, status, bytes), never a body, a header or a query string. `machine proxy log` reads it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Past this size the log is moved to `requests.jsonl.1` (replacing the older one).
const ROTATE_AT: u64 = 8 * 1024 * 1024;

/// Paths longer than this are cut: the guest chooses them.
const MAX_PATH: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// RFC 3339, UTC, to the second.
    pub time: String,
    /// The Lima instance whose token the request carried; `None` when it carried none that is known.
    pub vm: Option<String>,
    pub provider: Option<String>,
    pub method: String,
    /// As the guest sent it, without the query.
    pub path: String,
    pub status: u16,
    /// Response body bytes passed to the guest.
    pub bytes: u64,
}

impl Record {
    pub fn new(vm: Option<&str>, provider: Option<&str>, method: &str, target: &str) -> Self {
        let path = target.split('?').next().unwrap_or_default();
        let path = if path.len() > MAX_PATH {
            let cut = (0..=MAX_PATH).rev().find(|i| path.is_char_boundary(*i)).unwrap_or(0);
            format!("{}…", &path[..cut])
        } else {
            path.to_string()
        };
        Self {
            time: crate::servers::timestamp::rfc3339(SystemTime::now()),
            vm: vm.map(str::to_string),
            provider: provider.map(str::to_string),
            method: method.to_string(),
            path,
            status: 0,
            bytes: 0,
        }
    }

    /// One line for people: `2026-05-01T12:00:03Z blog anthropic POST /anthropic/v1/messages 200 5123`.
    /// The path came from the guest: control characters are escaped.
    pub fn line(&self) -> String {
        let text = format!(
            "{} {} {} {} {} {} {}",
            self.time,
            self.vm.as_deref().unwrap_or("-"),
            self.provider.as_deref().unwrap_or("-"),
            self.method,
            self.path,
            self.status,
            self.bytes
        );
        crate::ui::escape::one_line(&text).into_owned()
    }
}

/// Appends records, one line per write, so lines of concurrent requests never mix.
pub struct Writer {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl Writer {
    pub fn new(path: PathBuf) -> Self {
        Self { path, file: Mutex::new(None) }
    }

    /// Logging never fails a request: a record that cannot be written is dropped (and said so
    /// in the daemon's own log).
    pub fn write(&self, record: &Record) {
        let mut line = serde_json::to_string(record).expect("plain data serialises");
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // By the path, not the handle: a stopping daemon and its successor share the file, and
        // the one that did not rotate must not rotate the other's new file over the old one.
        let at_path = std::fs::metadata(&self.path).ok();
        if at_path.as_ref().is_some_and(|m| m.len() > ROTATE_AT) {
            let _ = std::fs::rename(&self.path, self.path.with_extension("jsonl.1"));
            *file = None;
        } else if !file.as_ref().is_some_and(|f| same_file(f, at_path.as_ref())) {
            *file = None;
        }
        if file.is_none() {
            *file = open(&self.path);
        }
        if let Some(f) = file.as_mut()
            && let Err(e) = f.write_all(line.as_bytes())
        {
            eprintln!("cannot write {}: {e}", self.path.display());
        }
    }
}

fn same_file(file: &std::fs::File, at_path: Option<&std::fs::Metadata>) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), at_path) {
        (Ok(a), Some(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn open(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| eprintln!("cannot open {}: {e}", path.display()))
        .ok()
}

/// Every record in the log (the rotated one first), oldest first; lines that do not parse are
/// skipped.
pub fn read(path: &Path) -> Vec<Record> {
    let mut all = Vec::new();
    for file in [path.with_extension("jsonl.1"), path.to_path_buf()] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        all.extend(text.lines().filter_map(|l| serde_json::from_str::<Record>(l).ok()));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_no_query_and_show_escaped() {
        let mut r = Record::new(Some("blog"), Some("anthropic"), "POST", "/anthropic/v1/messages?key=secret");
        r.status = 200;
        r.bytes = 42;
        assert_eq!(r.path, "/anthropic/v1/messages");
        assert!(r.line().ends_with(" blog anthropic POST /anthropic/v1/messages 200 42"), "{}", r.line());
        let r = Record::new(None, None, "GET", "/x\u{1b}]52;c;aGk=\u{7}");
        assert!(r.line().contains("- - GET /x\\u{1b}]52;c;aGk=\\u{7} 0 0"), "{}", r.line());
        assert!(Record::new(None, None, "GET", &format!("/{}", "é".repeat(400))).path.ends_with('…'));
    }

    #[test]
    fn a_writer_whose_file_was_rotated_by_another_writes_to_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.jsonl");
        let (old, new) = (Writer::new(path.clone()), Writer::new(path.clone()));
        old.write(&Record { status: 200, ..Record::new(Some("a"), None, "GET", "/before") });
        std::fs::rename(&path, path.with_extension("jsonl.1")).unwrap(); // the other's rotation
        new.write(&Record { status: 201, ..Record::new(Some("a"), None, "GET", "/new") });
        old.write(&Record { status: 202, ..Record::new(Some("a"), None, "GET", "/after") });
        let statuses: Vec<u16> = read(&path).iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 201, 202], "nothing lands in the rotated file, nothing is lost");
    }

    #[test]
    fn written_records_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.jsonl");
        let w = Writer::new(path.clone());
        for status in [200, 401] {
            w.write(&Record { status, ..Record::new(Some("a"), None, "GET", "/x") });
        }
        std::fs::write(dir.path().join("requests.jsonl.1"), "not json\n").unwrap();
        let read: Vec<u16> = read(&path).iter().map(|r| r.status).collect();
        assert_eq!(read, [200, 401]);
    }
}
