//! Reading `limactl list --json`: NDJSON, one compact object per instance (not an array).
//!
//! Only `name` is required. Lima omits empty numbers and strings (`cpus`, `sshLocalPort`, …) and
//! a broken instance may lack most keys, so everything else defaults rather than failing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub name: String,
    pub status: Status,
    pub dir: PathBuf,
    pub vm_type: String,
    pub arch: String,
    pub cpus: u32,
    /// Bytes.
    pub memory: u64,
    /// Bytes.
    pub disk: u64,
    /// `None` before the first start (and for Lima's placeholder port 0).
    pub ssh_local_port: Option<u16>,
    pub ssh_config_file: Option<PathBuf>,
    /// Lima's own complaints about the instance; non-string entries rendered as compact JSON.
    pub errors: Vec<String>,
    /// The instance's `param:` values (non-string values rendered as compact JSON).
    pub param: BTreeMap<String, String>,
}

/// An instance's status as `limactl list` reports it. A failed readiness probe still shows as
/// `Running`: list has no degraded state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Running,
    Stopped,
    Broken,
    Uninitialized,
    Installing,
    /// Anything else, including Lima's `""` (unknown).
    Unknown(String),
}

impl Status {
    pub fn parse(text: &str) -> Self {
        match text {
            "Running" => Self::Running,
            "Stopped" => Self::Stopped,
            "Broken" => Self::Broken,
            "Uninitialized" => Self::Uninitialized,
            "Installing" => Self::Installing,
            other => Self::Unknown(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Running => "Running",
            Self::Stopped => "Stopped",
            Self::Broken => "Broken",
            Self::Uninitialized => "Uninitialized",
            Self::Installing => "Installing",
            Self::Unknown(s) => s,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line of `limactl list --json` that is not an instance object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`limactl list --json` line {line}: {reason}")]
pub struct ListError {
    /// 1-based.
    pub line: usize,
    pub reason: String,
}

/// The keys machine reads; serde ignores the rest (`config` alone is the whole filled template).
/// `Option`s absorb both a missing key and Go's `null`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    name: String,
    status: Option<String>,
    dir: Option<PathBuf>,
    vm_type: Option<String>,
    arch: Option<String>,
    cpus: Option<u32>,
    memory: Option<u64>,
    disk: Option<u64>,
    ssh_local_port: Option<u16>,
    ssh_config_file: Option<PathBuf>,
    errors: Option<Vec<Value>>,
    param: Option<BTreeMap<String, Value>>,
}

impl From<Raw> for Instance {
    fn from(raw: Raw) -> Self {
        Self {
            name: raw.name,
            status: Status::parse(raw.status.as_deref().unwrap_or_default()),
            dir: raw.dir.unwrap_or_default(),
            vm_type: raw.vm_type.unwrap_or_default(),
            arch: raw.arch.unwrap_or_default(),
            cpus: raw.cpus.unwrap_or_default(),
            memory: raw.memory.unwrap_or_default(),
            disk: raw.disk.unwrap_or_default(),
            ssh_local_port: raw.ssh_local_port.filter(|&p| p != 0),
            ssh_config_file: raw.ssh_config_file.filter(|p| !p.as_os_str().is_empty()),
            errors: raw.errors.unwrap_or_default().into_iter().map(text).collect(),
            param: raw.param.unwrap_or_default().into_iter().map(|(k, v)| (k, text(v))).collect(),
        }
    }
}

/// A JSON string as its text; anything else (Go marshals `error` values as `{}`) compactly.
fn text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Every instance in `limactl list --json` output, in order. Blank lines are skipped; an unknown
/// instance gives empty stdout (and exit 1), hence an empty list.
pub fn parse_list_json(stdout: &str) -> Result<Vec<Instance>, ListError> {
    stdout
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str::<Raw>(line)
                .map(Instance::from)
                .map_err(|e| ListError { line: i + 1, reason: e.to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_object() {
        let got = parse_list_json("\n{\"name\":\"x\"}\n\n").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "x");
        assert_eq!(got[0].status, Status::Unknown(String::new()));
        assert_eq!(got[0].ssh_local_port, None);
        assert!(got[0].errors.is_empty() && got[0].param.is_empty());
    }

    #[test]
    fn nulls_port_zero_and_odd_values() {
        let line = r#"{"name":"b","status":"Broken","errors":["no disk",{},{"x":1}],"param":{"a":"1","n":2},"sshLocalPort":0,"cpus":null}"#;
        let got = &parse_list_json(line).unwrap()[0];
        assert_eq!(got.status, Status::Broken);
        assert_eq!(got.errors, ["no disk", "{}", r#"{"x":1}"#]);
        assert_eq!(got.param.get("n").map(String::as_str), Some("2"));
        assert_eq!((got.ssh_local_port, got.cpus), (None, 0));
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse_list_json("{\"name\":\"a\"}\n\n[{\"name\":\"b\"}]\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.to_string().starts_with("`limactl list --json` line 3: invalid type"), "{err}");
        let err = parse_list_json("{\"status\":\"Running\"}").unwrap_err();
        assert!(err.reason.contains("missing field `name`"), "{err}");
        assert_eq!(parse_list_json("{\"name\":\"a\",\"cpus\":-1}").unwrap_err().line, 1);
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["Running", "Stopped", "Broken", "Uninitialized", "Installing", "", "Paused"] {
            assert_eq!(Status::parse(s).as_str(), s);
            assert_eq!(Status::parse(s).to_string(), s);
        }
        assert_eq!(Status::parse("Paused"), Status::Unknown("Paused".into()));
    }
}
