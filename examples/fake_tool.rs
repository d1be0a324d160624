//! Fake `limactl`, `ssh`, `ssh-add`, `git` and `op` in one multi-call binary, for machine's tests.
//!
//! The basename of argv\[0\] picks the tool (tests put symlinks named after the tools first on
//! PATH). `MACHINE_FAKE_ROOT` must be set (exit 97 otherwise). Every call appends one line to
//! `$MACHINE_FAKE_ROOT/calls.jsonl`:
//! `{"tool":"git","args":[…]}`, plus `"stdin":"…"` when the fake read stdin (only
//! `limactl create|start -`), `"guest":"<instance>"` when the call came from inside a fake guest,
//! and `"ssh_auth_sock":"…"` when the call had `SSH_AUTH_SOCK` set (the agent a master opened by
//! that call would forward).
//! Anything the fake does not know prints `fake <tool>: unsupported: <args>` and exits 99.
//!
//! # limactl
//! State lives in `$LIMA_HOME` (default `~/.lima`), laid out like Lima's: `<name>/lima.yaml` (the
//! template exactly as given to create), `fake-status` (`Running`/`Stopped`), `fake-config.json`
//! (the `config` object `list --json` prints: the template with its local `base:` chain and
//! `file:` locators embedded, `--set '.a.b = <json>'` and `--param K=V` applied, defaults filled),
//! `fake-port`, and while running `ssh.config`, `ssh.sock` (a plain file standing for the
//! `ControlMaster`, holding its pid), `ha.pid`, `qemu.pid` and the other sockets as plain files.
//! The call that opens the master (`start`, or a `shell` while none is open) writes the
//! `SSH_AUTH_SOCK` it had into `fake-master-agent`: like Lima's real master, it forwards that
//! agent to every later `limactl shell`, whatever their own `SSH_AUTH_SOCK` (only when the
//! instance's `ssh.forwardAgent` is true).
//! Outputs follow the real 2.2 transcripts line for line, with the current time.
//!
//! The fake guest of instance N is `$MACHINE_FAKE_ROOT/guests/N/{home,root}`. `limactl shell N -- CMD…`
//! executes CMD (argv, no shell) with cwd `--workdir` or the guest home and `HOME`,
//! `MACHINE_ROOT` (the guest's `/`), `MACHINE_FAKE_GUEST=N`, `SSH_AUTH_SOCK` the master's agent
//! (unset when it forwards none) and
//! `PATH=$MACHINE_FAKE_ROOT/guest-bin:$MACHINE_FAKE_ROOT/bin:$PATH`; no CMD runs `bash -l`. A
//! successful start writes `root/run/lima-boot-done` and `root/proc/uptime`; stop empties `root/run/`
//! and writes the guest home into the instance's `disk` (one JSON line per file after the first
//! line), so a copy of that disk given to `create` as its image brings the files along; delete
//! removes both. Fake clones have branches (`HEAD`, `refs/heads`, `refs/remotes/origin`), see `git::branches`.
//!
//! # faults.json (optional, `$MACHINE_FAKE_ROOT/faults.json`, re-read on every call)
//! ```json
//! {
//!   "start":          {"<instance>": "<fault>" | ["<fault>", …]},
//!   "start_delay_ms": 250 | {"<instance>": 250},
//!   "create":         {"<instance>": "fail:<message>" | "kill-caller"},
//!   "ssh_add":        "keys" | "keys:<fingerprint line>" | "no-keys" | "no-agent" | "hang",
//!   "ssh_add_guest":  same as ssh_add, for ssh-add run inside a fake guest (default: ssh_add),
//!   "git_config":     {"user.name": "Ada"},
//!   "git_config_error": "<stderr>"   (`git config` fails, exit 128, as on a bad config line),
//!   "ls_remote":      {"<url>": "<40 hex sha>" | "fail:<stderr>"},
//!   "clone":          {"<url>": "fail:<stderr>"},
//!   "origin":         {"<dir as given to -C>": "<url>"},
//!   "dirty":          {"<dir>": "<status --porcelain output>"},
//!   "unpushed":       {"<dir>": "<log --branches [HEAD] --not --remotes --oneline output>"},
//!   "stashed":        {"<dir>": "<stash list output>"},
//!   "remote_branches": {"<url>": ["main", "<branch>", …]},  (default: main + what was pushed)
//!   "fetch":          {"<url>": "fail:<stderr>"},
//!   "push":           {"<url>": "fail:<stderr>"},
//!   "merged":         {"<url>": ["<branch in the default branch>", …]},
//!   "ahead_behind":   {"<dir>": "<behind>\t<ahead>"},
//!   "op_read":        {"<ref>": "<value>" | "fail:<stderr>"},
//!   "op_env":         {"<id>": {"KEY": "value"} | "<raw output>" | "fail:<stderr>"}
//! }
//! ```
//! Start faults: `provision-fail:<layer>[:<reason>]` (READY and exit 0 as Lima does; the guest gets
//! `run/machine/failed/<layer>` and a failing `var/log/cloud-init-output.log`),
//! `script-fail:<text>` (the provision script containing `<text>` fails with no marker, as a
//! user profile's does: only Lima's log says so), `probe-timeout`
//! (exit 1, instance left Running, no boot-done marker), `degraded[:<probe stderr>]` (exit 1,
//! Running, boot done), `agent-link-race` (Lima 2.2.0 linking the forwarded agent before
//! /run/host-services exists: degraded as above), `missing-image` (exit 1, Stopped). The delay is spent after "Waiting for
//! the essential requirement 1 of 3"; a delay longer than `start --timeout` ends like a timeout.
//! `create`/`start` run the checks `validate` runs: images present, no `..` in relative locators,
//! every `param` key used. `--set` takes only `.a.b = <JSON value>`; other expressions exit 99.
//! Defaults: `ssh-add -l` has a key; `git ls-remote` succeeds with a sha derived from the URL;
//! `git config --get` of an absent key exits 1; `op` fails for anything not configured. A
//! directory is a git repository when it or a parent has `.git`, or a fault names it.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use serde_yaml_ng::{Mapping, Value as Yaml};

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let mut argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let tool = Path::new(&argv0).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let Some(root) = std::env::var_os("MACHINE_FAKE_ROOT").filter(|r| !r.is_empty()) else {
        eprintln!("fake {tool}: MACHINE_FAKE_ROOT is not set; the fake tools only run inside a test's FakeEnv");
        return 97;
    };
    let ctx = Ctx::new(PathBuf::from(root));
    let stdin = reads_stdin(&tool, &args).then(read_stdin);
    ctx.record(&tool, &args, stdin.as_deref());
    match tool.as_str() {
        "limactl" => lima::main(&ctx, &args, stdin),
        "ssh" => ssh::main(&args),
        "ssh-add" => ssh::agent(&ctx, &args),
        "git" => git::main(&ctx, &args),
        "op" => op::main(&ctx, &args),
        _ => unsupported(&tool, &args),
    }
}

/// Only `limactl create|start … -` reads a template from stdin.
fn reads_stdin(tool: &str, args: &[String]) -> bool {
    tool == "limactl" && args.iter().any(|a| a == "create" || a == "start") && args.iter().any(|a| a == "-")
}

fn read_stdin() -> String {
    let mut text = String::new();
    let _ = std::io::stdin().read_to_string(&mut text);
    text
}

fn unsupported(tool: &str, args: &[String]) -> i32 {
    eprintln!("fake {tool}: unsupported: {}", args.join(" "));
    99
}

/// The fake's world: its root folder and the faults configured there.
struct Ctx {
    root: PathBuf,
    faults: Value,
}

impl Ctx {
    fn new(root: PathBuf) -> Self {
        let faults = fs::read_to_string(root.join("faults.json"))
            .ok()
            .map_or(Value::Null, |text| serde_json::from_str(&text).expect("faults.json is not valid JSON"));
        Self { root, faults }
    }

    /// `faults[section][key]`.
    fn fault(&self, section: &str, key: &str) -> Option<&Value> {
        self.faults.get(section)?.get(key)
    }

    fn fault_str(&self, section: &str, key: &str) -> Option<&str> {
        self.fault(section, key)?.as_str()
    }

    /// Appends one JSON line with a single write, so parallel calls never interleave.
    fn record(&self, tool: &str, args: &[String], stdin: Option<&str>) {
        let mut line = format!("{{\"tool\":{},\"args\":{}", json_str(tool), serde_json::to_string(args).unwrap());
        if let Some(text) = stdin {
            line.push_str(&format!(",\"stdin\":{}", json_str(text)));
        }
        if let Ok(guest) = std::env::var("MACHINE_FAKE_GUEST") {
            line.push_str(&format!(",\"guest\":{}", json_str(&guest)));
        }
        if let Some(sock) = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) {
            line.push_str(&format!(",\"ssh_auth_sock\":{}", json_str(&sock.to_string_lossy())));
        }
        line.push_str("}\n");
        let path = self.root.join("calls.jsonl");
        let mut file = fs::OpenOptions::new().create(true).append(true).open(&path).expect("open calls.jsonl");
        file.write_all(line.as_bytes()).expect("write calls.jsonl");
    }
}

fn json_str(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// The text after `fail:`, for fault values that make a tool fail.
fn failure(value: &str) -> Option<&str> {
    value.strip_prefix("fail:")
}

fn with_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') { text.to_string() } else { format!("{text}\n") }
}

// ---------------------------------------------------------------------------------------------
// Time

mod clock {
    use super::{SystemTime, UNIX_EPOCH};

    /// A UTC wall-clock reading, split into calendar fields.
    pub(super) struct Utc {
        pub(super) year: i64,
        pub(super) month: i64,
        pub(super) day: i64,
        pub(super) hour: i64,
        pub(super) minute: i64,
        pub(super) second: i64,
        pub(super) millis: i64,
        pub(super) weekday: usize,
    }

    pub(super) fn now() -> Utc {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(since.as_secs()).unwrap_or(0);
        let days = secs.div_euclid(86_400);
        let rest = secs.rem_euclid(86_400);
        let (year, month, day) = civil(days);
        Utc {
            year,
            month,
            day,
            hour: rest / 3600,
            minute: rest / 60 % 60,
            second: rest % 60,
            millis: i64::from(since.subsec_millis()),
            weekday: usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0),
        }
    }

    /// Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian calendar).
    fn civil(days: i64) -> (i64, i64, i64) {
        let shifted = days + 719_468; // days since 0000-03-01
        let era = shifted.div_euclid(146_097);
        let day_of_era = shifted - era * 146_097;
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let march_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * march_month + 2) / 5 + 1;
        let month = if march_month < 10 { march_month + 3 } else { march_month - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    impl Utc {
        /// `2026-11-23T01:05:56Z`, as logrus prints it.
        pub(super) fn rfc3339(&self) -> String {
            format!("{}T{:02}:{:02}:{:02}Z", self.date("-"), self.hour, self.minute, self.second)
        }

        pub(super) fn date(&self, sep: &str) -> String {
            format!("{:04}{sep}{:02}{sep}{:02}", self.year, self.month, self.day)
        }

        pub(super) fn time(&self) -> String {
            format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
        }

        /// `Mon, 23 Nov 2026 01:09:17 +0000`.
        pub(super) fn rfc2822(&self) -> String {
            const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
            const MONTHS: [&str; 12] =
                ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let month = MONTHS[usize::try_from(self.month - 1).unwrap_or(0)];
            format!("{}, {:02} {month} {:04} {} +0000", DAYS[self.weekday], self.day, self.year, self.time())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// logrus, as limactl prints it on a pipe: `time="…" level=info msg="…" key=value`

mod log {
    pub(super) fn emit(level: &str, msg: &str, fields: &[(&str, &str)]) {
        let mut line = format!("time=\"{}\" level={level} msg={}", super::clock::now().rfc3339(), value(msg));
        for (key, val) in fields {
            line.push_str(&format!(" {key}={}", value(val)));
        }
        eprintln!("{line}");
    }

    pub(super) fn info(msg: &str) {
        emit("info", msg, &[]);
    }

    pub(super) fn warn(msg: &str) {
        emit("warning", msg, &[]);
    }

    pub(super) fn error(msg: &str) {
        emit("error", msg, &[]);
    }

    /// Logs at fatal level and returns limactl's exit code for it.
    pub(super) fn fatal(msg: &str) -> i32 {
        emit("fatal", msg, &[]);
        1
    }

    fn value(text: &str) -> String {
        let plain = text.chars().all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
        if plain { text.to_string() } else { go_quote(text) }
    }

    /// Go's `%q`.
    pub(super) fn go_quote(text: &str) -> String {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Ordered JSON (serde_json sorts object keys; Lima's output keeps Go struct order)

enum J {
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
    Null,
}

impl fmt::Display for J {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            J::Null => f.write_str("null"),
            J::Bool(b) => write!(f, "{b}"),
            J::Num(n) => f.write_str(n),
            J::Str(s) => f.write_str(&json_str(s)),
            J::Arr(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    write!(f, "{}{item}", if i > 0 { "," } else { "" })?;
                }
                f.write_str("]")
            }
            J::Obj(pairs) => {
                f.write_str("{")?;
                for (i, (key, item)) in pairs.iter().enumerate() {
                    write!(f, "{}{}:{item}", if i > 0 { "," } else { "" }, json_str(key))?;
                }
                f.write_str("}")
            }
        }
    }
}

fn js(text: &str) -> J {
    J::Str(text.to_string())
}

fn obj(pairs: Vec<(&str, J)>) -> J {
    J::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn from_yaml(value: &Yaml) -> J {
    match value {
        Yaml::Null => J::Null,
        Yaml::Bool(b) => J::Bool(*b),
        Yaml::Number(n) => J::Num(n.to_string()),
        Yaml::String(s) => js(s),
        Yaml::Sequence(items) => J::Arr(items.iter().map(from_yaml).collect()),
        Yaml::Mapping(map) => J::Obj(map.iter().map(|(k, v)| (scalar_text(k), from_yaml(v))).collect()),
        Yaml::Tagged(tagged) => from_yaml(&tagged.value),
    }
}

/// A YAML scalar as text (`644` and `"644"` alike).
fn scalar_text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => serde_yaml_ng::to_string(other).unwrap_or_default().trim_end().to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Templates: embedding the `base:` chain and `file:` locators, edits, validation

mod template {
    use super::{Mapping, Path, Yaml, fs};

    /// Why a template cannot be used: a fatal Lima error, or something the fake cannot emulate.
    pub(super) enum Fail {
        Fatal(String),
        Unsupported(String),
    }

    /// A template with every local base embedded; `complete` is false when some base was remote.
    pub(super) struct Flat {
        pub(super) map: Mapping,
        pub(super) complete: bool,
    }

    /// Parses `text` (read from `dir`, or stdin when `None`) and embeds its bases.
    pub(super) fn flatten(text: &str, dir: Option<&Path>, depth: usize) -> Result<Flat, Fail> {
        if depth > 32 {
            return Err(Fail::Fatal("base template loop detected".into()));
        }
        let mut map = parse(text)?;
        inline_files(&mut map, dir)?;
        let mut complete = true;
        for locator in take_bases(&mut map) {
            match resolve(&locator, dir)? {
                Some(path) => {
                    let text = read(&path)?;
                    let base = flatten(&text, path.parent(), depth + 1)?;
                    complete &= base.complete;
                    merge(&mut map, base.map);
                }
                None => complete = false,
            }
        }
        Ok(Flat { map, complete })
    }

    pub(super) fn parse(text: &str) -> Result<Mapping, Fail> {
        match serde_yaml_ng::from_str::<Yaml>(text) {
            Ok(Yaml::Mapping(map)) => Ok(map),
            Ok(Yaml::Null) => Ok(Mapping::new()),
            Ok(_) => Err(Fail::Fatal("failed to unmarshal YAML: the template is not a mapping".into())),
            Err(e) => Err(Fail::Fatal(format!("failed to unmarshal YAML: {e}"))),
        }
    }

    pub(super) fn read(path: &Path) -> Result<String, Fail> {
        fs::read_to_string(path).map_err(|_| Fail::Fatal(format!("open {}: no such file or directory", path.display())))
    }

    fn take_bases(map: &mut Mapping) -> Vec<String> {
        let locator = |v: &Yaml| match v {
            Yaml::String(s) => Some(s.clone()),
            Yaml::Mapping(m) => m.get("url").and_then(Yaml::as_str).map(str::to_string),
            _ => None,
        };
        match map.remove("base") {
            Some(Yaml::Sequence(items)) => items.iter().filter_map(locator).collect(),
            Some(other) => locator(&other).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// A local path for a locator; `None` for remote ones (`template:`, `https://`, …).
    fn resolve(locator: &str, dir: Option<&Path>) -> Result<Option<std::path::PathBuf>, Fail> {
        let local = locator.strip_prefix("file://").unwrap_or(locator);
        if local.contains(':') {
            return Ok(None);
        }
        let path = Path::new(local);
        if path.is_absolute() {
            return Ok(Some(path.to_path_buf()));
        }
        if path.components().any(|c| c.as_os_str() == "..") {
            return Err(Fail::Fatal(format!("relative locator path `{locator}` must not contain '..' path segments")));
        }
        match dir {
            Some(dir) => Ok(Some(dir.join(path))),
            None => Err(Fail::Fatal("can't use relative paths when reading template from STDIN".into())),
        }
    }

    /// Replaces `file:` in provision and probe entries by the file's text. Like Lima 2.2.0
    /// (`embedAllScripts`), a probe's file is embedded only when it also has an empty `script:`;
    /// any other probe keeps its `file:`, which validation then refuses.
    fn inline_files(map: &mut Mapping, dir: Option<&Path>) -> Result<(), Fail> {
        for key in ["provision", "probes"] {
            let Some(Yaml::Sequence(entries)) = map.get_mut(key) else { continue };
            for entry in entries.iter_mut().filter_map(Yaml::as_mapping_mut) {
                if key == "probes" && entry.get("script").and_then(Yaml::as_str) != Some("") {
                    continue;
                }
                let Some(file) = entry.remove("file") else { continue };
                let locator = file.as_str().or_else(|| file.get("url").and_then(Yaml::as_str)).unwrap_or_default();
                let Some(path) = resolve(locator, dir)? else {
                    return Err(Fail::Unsupported(format!("remote file locator {locator}")));
                };
                let text = read(&path)?;
                let field = if entry.get("mode").and_then(Yaml::as_str) == Some("data") { "content" } else { "script" };
                entry.insert(field.into(), Yaml::String(text));
            }
        }
        Ok(())
    }

    /// One `template ← base` step of Lima's merge: the template wins, maps merge key by key,
    /// lists append the base's items, except `provision` and `probes` which put them first.
    fn merge(top: &mut Mapping, base: Mapping) {
        for (key, base_value) in base {
            let name = key.as_str().unwrap_or_default().to_string();
            match top.get_mut(&key) {
                None => {
                    top.insert(key, base_value);
                }
                Some(slot) if slot.is_null() => *slot = base_value,
                Some(Yaml::Mapping(mine)) => {
                    if let Yaml::Mapping(theirs) = base_value {
                        merge(mine, theirs);
                    }
                }
                Some(Yaml::Sequence(mine)) => {
                    if let Yaml::Sequence(mut theirs) = base_value {
                        if name == "provision" || name == "probes" {
                            theirs.append(mine);
                            *mine = theirs;
                        } else {
                            mine.append(&mut theirs);
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Applies `--set '.a.b = <JSON value>'`; other yq expressions are beyond the fake.
    pub(super) fn apply_set(map: &mut Mapping, expr: &str) -> Result<(), Fail> {
        let unsupported = || Fail::Unsupported(format!("--set {expr}"));
        let (lhs, rhs) = expr.split_once('=').ok_or_else(unsupported)?;
        let path = lhs.trim().strip_prefix('.').ok_or_else(unsupported)?;
        let keys: Vec<&str> = path.split('.').collect();
        if keys.iter().any(|k| k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
            return Err(unsupported());
        }
        let json: serde_json::Value = serde_json::from_str(rhs.trim()).map_err(|_| unsupported())?;
        let value = serde_yaml_ng::to_value(json).map_err(|_| unsupported())?;
        set_path(map, &keys, value);
        Ok(())
    }

    /// Applies `--param KEY=VALUE`.
    pub(super) fn apply_param(map: &mut Mapping, pair: &str) -> Result<(), Fail> {
        let (key, value) = pair.split_once('=').ok_or_else(|| Fail::Fatal(format!("invalid param {pair:?}")))?;
        set_path(map, &["param", key], Yaml::String(value.to_string()));
        Ok(())
    }

    fn set_path(map: &mut Mapping, keys: &[&str], value: Yaml) {
        let (last, parents) = keys.split_last().expect("a non-empty path");
        let mut here = map;
        for key in parents {
            let slot = here.entry((*key).into()).or_insert_with(|| Yaml::Mapping(Mapping::new()));
            if !slot.is_mapping() {
                *slot = Yaml::Mapping(Mapping::new());
            }
            here = slot.as_mapping_mut().expect("just made a mapping");
        }
        here.insert((*last).into(), value);
    }

    /// The checks of `limactl validate` the fake knows: images present, probes embedded and
    /// starting with `#!`, every param used.
    pub(super) fn validate(flat: &Flat) -> Result<(), Fail> {
        let images = flat.map.get("images").and_then(Yaml::as_sequence).is_some_and(|s| !s.is_empty());
        if flat.complete && !images {
            return Err(Fail::Fatal("field `images` must be set".into()));
        }
        let mut probe_errors = Vec::new();
        for (i, probe) in flat.map.get("probes").and_then(Yaml::as_sequence).into_iter().flatten().enumerate() {
            if probe.get("file").is_some() {
                probe_errors.push(format!(
                    "field `probe[{i}].file.url` must be empty during validation (script should already be embedded)"
                ));
            }
            if probe.get("script").and_then(Yaml::as_str).is_some_and(|s| !s.starts_with("#!")) {
                probe_errors.push(format!("field `probe[{i}].script` must start with a '#!' line"));
            }
        }
        if !probe_errors.is_empty() {
            return Err(Fail::Fatal(probe_errors.join("\n")));
        }
        let Some(Yaml::Mapping(params)) = flat.map.get("param") else { return Ok(()) };
        let users = ["provision", "probes", "copyToHost", "portForwards", "mounts"];
        let haystack: String = users
            .iter()
            .filter_map(|k| flat.map.get(*k))
            .map(|v| serde_yaml_ng::to_string(v).unwrap_or_default())
            .collect();
        for key in params.keys().filter_map(Yaml::as_str) {
            if !haystack.contains(&format!(".Param.{key}")) && !haystack.contains(&format!("PARAM_{key}")) {
                return Err(Fail::Fatal(format!(
                    "field `param` key `{key}` is not used in any provision, probe, copyToHost, or portForward"
                )));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The `config` object of `limactl list --json`, built once at create

mod config {
    use super::{J, Mapping, Yaml, from_yaml, js, obj, scalar_text};
    use std::collections::BTreeMap;

    /// What Go templates in provision scripts may name.
    struct Vars {
        name: String,
        user: String,
        home: String,
        uid: String,
        params: BTreeMap<String, String>,
    }

    fn get<'a>(map: &'a Mapping, key: &str) -> Option<&'a Yaml> {
        map.get(key).filter(|v| !v.is_null())
    }

    fn text_or(map: &Mapping, key: &str, default: &str) -> J {
        js(&get(map, key).map_or_else(|| default.to_string(), scalar_text))
    }

    fn bool_or(map: &Mapping, key: &str, default: bool) -> J {
        J::Bool(get(map, key).and_then(Yaml::as_bool).unwrap_or(default))
    }

    fn sub(map: &Mapping, key: &str) -> Mapping {
        get(map, key).and_then(Yaml::as_mapping).cloned().unwrap_or_default()
    }

    fn nonempty_list<'a>(map: &'a Mapping, key: &str) -> Option<&'a Vec<Yaml>> {
        get(map, key).and_then(Yaml::as_sequence).filter(|s| !s.is_empty())
    }

    /// A Go map: keys sorted.
    fn sorted(map: &Mapping) -> J {
        let pairs: BTreeMap<String, String> = map.iter().map(|(k, v)| (scalar_text(k), scalar_text(v))).collect();
        J::Obj(pairs.into_iter().map(|(k, v)| (k, js(&v))).collect())
    }

    pub(super) fn host_arch() -> &'static str {
        if std::env::consts::ARCH == "aarch64" { "aarch64" } else { "x86_64" }
    }

    /// The guest user: the host's `USER` when Lima would accept it, else `lima`.
    pub(super) fn host_user() -> String {
        let name = std::env::var("USER").unwrap_or_default();
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if valid { name } else { "lima".to_string() }
    }

    fn host_uid() -> String {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").map_or(1000, |m| m.uid()).to_string()
    }

    /// Expands `{{.Name}}`, `{{.User}}`, `{{.Home}}`, `{{.UID}}`, `{{.Hostname}}`, `{{.Param.K}}`.
    fn expand(text: &str, vars: &Vars) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}") else { break };
            let inner = rest[start + 2..start + len].trim();
            let value = match inner {
                ".Name" => Some(vars.name.clone()),
                ".User" => Some(vars.user.clone()),
                ".Home" => Some(vars.home.clone()),
                ".UID" => Some(vars.uid.clone()),
                ".Hostname" => Some(super::hostname(&vars.name)),
                _ => inner.strip_prefix(".Param.").and_then(|k| vars.params.get(k).cloned()),
            };
            out.push_str(&rest[..start]);
            out.push_str(&value.unwrap_or_else(|| rest[start..start + len + 2].to_string()));
            rest = &rest[start + len + 2..];
        }
        out.push_str(rest);
        out
    }

    fn vars(map: &Mapping, name: &str) -> Vars {
        let user_map = sub(map, "user");
        let user = get(&user_map, "name").map_or_else(host_user, scalar_text);
        let params = sub(map, "param").iter().map(|(k, v)| (scalar_text(k), scalar_text(v))).collect();
        let mut vars = Vars { name: name.to_string(), user, home: String::new(), uid: String::new(), params };
        vars.uid = get(&user_map, "uid").map_or_else(host_uid, scalar_text);
        vars.home = get(&user_map, "home").map_or_else(|| format!("/home/{}.guest", vars.user), scalar_text);
        vars.home = expand(&vars.home, &vars);
        vars
    }

    /// The filled `config` object, keys in the order of Lima's `LimaYAML` struct.
    pub(super) fn build(map: &Mapping, name: &str) -> J {
        let vars = vars(map, name);
        let mut pairs: Vec<(&str, J)> = vec![("vmType", text_or(map, "vmType", "qemu"))];
        pairs.extend(get(map, "vmOpts").map(|v| ("vmOpts", from_yaml(v))));
        pairs.push(("os", text_or(map, "os", "Linux")));
        pairs.push(("arch", text_or(map, "arch", host_arch())));
        pairs.push(("images", get(map, "images").map_or(J::Arr(Vec::new()), from_yaml)));
        pairs.push(("cpus", J::Num(get(map, "cpus").map_or_else(|| "2".to_string(), scalar_text))));
        pairs.push(("memory", text_or(map, "memory", "4GiB")));
        pairs.push(("disk", text_or(map, "disk", "100GiB")));
        for key in ["additionalDisks", "mounts"] {
            pairs.extend(nonempty_list(map, key).map(|_| (key, from_yaml(&map[key]))));
        }
        pairs.push(("mountInotify", bool_or(map, "mountInotify", false)));
        pairs.push(("ssh", ssh(&sub(map, "ssh"))));
        pairs.push(("firmware", obj(vec![("legacyBIOS", bool_or(&sub(map, "firmware"), "legacyBIOS", false))])));
        pairs.push(("audio", obj(vec![("device", text_or(&sub(map, "audio"), "device", "")), ("interface", js(""))])));
        pairs.push(("video", obj(vec![("display", text_or(&sub(map, "video"), "display", "none"))])));
        if let Some(list) = nonempty_list(map, "provision") {
            pairs.push(("provision", J::Arr(list.iter().map(|p| provision(p, &vars)).collect())));
        }
        pairs.push(("upgradePackages", bool_or(map, "upgradePackages", false)));
        pairs.push(("containerd", containerd(&sub(map, "containerd"))));
        pairs.push(("guestInstallPrefix", text_or(map, "guestInstallPrefix", "/usr/local")));
        pairs.extend(tail(map, &vars));
        J::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    fn tail<'a>(map: &'a Mapping, vars: &Vars) -> Vec<(&'a str, J)> {
        let mut pairs = Vec::new();
        if let Some(list) = nonempty_list(map, "probes") {
            pairs.push(("probes", J::Arr(list.iter().map(|p| probe(p, vars)).collect())));
        }
        for key in ["portForwards", "copyToHost", "networks"] {
            pairs.extend(nonempty_list(map, key).map(|_| (key, from_yaml(&map[key]))));
        }
        for key in ["env", "param"] {
            let values = sub(map, key);
            if !values.is_empty() {
                pairs.push((key, sorted(&values)));
            }
        }
        let resolver = sub(map, "hostResolver");
        let mut resolver_pairs =
            vec![("enabled", bool_or(&resolver, "enabled", true)), ("ipv6", bool_or(&resolver, "ipv6", false))];
        resolver_pairs.extend(get(&resolver, "hosts").and_then(Yaml::as_mapping).map(|h| ("hosts", sorted(h))));
        pairs.push(("hostResolver", obj(resolver_pairs)));
        pairs.push(("propagateProxyEnv", bool_or(map, "propagateProxyEnv", true)));
        pairs.push(("caCerts", obj(vec![("removeDefaults", bool_or(&sub(map, "caCerts"), "removeDefaults", false))])));
        pairs.push(("plain", bool_or(map, "plain", false)));
        pairs.push(("timezone", text_or(map, "timezone", "Etc/UTC")));
        pairs.push(("nestedVirtualization", bool_or(map, "nestedVirtualization", false)));
        pairs.push(("user", user(vars)));
        pairs.push(("tpm", J::Bool(false)));
        pairs
    }

    fn ssh(map: &Mapping) -> J {
        obj(vec![
            ("localPort", J::Num(get(map, "localPort").map_or_else(|| "0".to_string(), scalar_text))),
            ("loadDotSSHPubKeys", bool_or(map, "loadDotSSHPubKeys", false)),
            ("forwardAgent", bool_or(map, "forwardAgent", false)),
            ("forwardX11", bool_or(map, "forwardX11", false)),
            ("forwardX11Trusted", bool_or(map, "forwardX11Trusted", false)),
        ])
    }

    fn containerd(map: &Mapping) -> J {
        let archive = |arch: &str, file: &str, digest: &str| {
            obj(vec![
                ("location", js(&format!("https://github.com/containerd/nerdctl/releases/download/v2.3.5/{file}"))),
                ("arch", js(arch)),
                ("digest", js(digest)),
            ])
        };
        obj(vec![
            ("system", bool_or(map, "system", false)),
            ("user", bool_or(map, "user", false)),
            (
                "archives",
                J::Arr(vec![
                    archive(
                        "x86_64",
                        "nerdctl-full-2.3.5-linux-amd64.tar.gz",
                        "sha256:b697295c623639734aaab737523c808fd3cc8d3046039fd94fff1744e4c317aa",
                    ),
                    archive(
                        "aarch64",
                        "nerdctl-full-2.3.5-linux-arm64.tar.gz",
                        "sha256:6e4b687f1d138e750a3c8372abc0f81d3d7490b6359c48c0562fc7dfe98859b2",
                    ),
                ]),
            ),
        ])
    }

    fn provision(entry: &Yaml, vars: &Vars) -> J {
        let map = entry.as_mapping().cloned().unwrap_or_default();
        let text =
            |key: &str, default: &str| js(&expand(&get(&map, key).map_or(default.to_string(), scalar_text), vars));
        let mode = get(&map, "mode").map_or_else(|| "system".to_string(), scalar_text);
        if mode != "data" {
            return obj(vec![("mode", js(&mode)), ("script", text("script", ""))]);
        }
        obj(vec![
            ("mode", js(&mode)),
            ("script", js("")),
            ("content", text("content", "")),
            ("overwrite", bool_or(&map, "overwrite", true)),
            ("owner", text("owner", "root:root")),
            ("path", text("path", "")),
            ("permissions", js(&get(&map, "permissions").map_or_else(|| "644".to_string(), scalar_text))),
        ])
    }

    fn probe(entry: &Yaml, vars: &Vars) -> J {
        let map = entry.as_mapping().cloned().unwrap_or_default();
        let mut pairs = vec![
            ("mode", text_or(&map, "mode", "readiness")),
            ("description", text_or(&map, "description", "")),
            ("script", js(&expand(&get(&map, "script").map_or_else(String::new, scalar_text), vars))),
        ];
        pairs.extend(get(&map, "hint").map(|h| ("hint", js(&scalar_text(h)))));
        obj(pairs)
    }

    fn user(vars: &Vars) -> J {
        obj(vec![
            ("name", js(&vars.user)),
            ("comment", js("")),
            ("home", js(&vars.home)),
            ("shell", js("/bin/bash")),
            ("uid", J::Num(vars.uid.clone())),
            ("passwordlessSudo", J::Bool(true)),
        ])
    }
}

/// `lima-<name>`, with `.` and `_` turned into `-`.
fn hostname(name: &str) -> String {
    format!("lima-{}", name.replace(['.', '_'], "-"))
}

/// go-units `RAMInBytes`: `4GiB` → 4294967296 (every unit is a power of 1024).
fn parse_bytes(text: &str) -> u64 {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let number: f64 = text[..split].parse().unwrap_or(0.0);
    let unit = text[split..].trim().to_ascii_lowercase();
    let power = match unit.trim_end_matches('b').trim_end_matches('i') {
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => 0,
    };
    let bytes = number * 1024f64.powi(power);
    format!("{bytes:.0}").parse().unwrap_or(0)
}

/// go-units `BytesSize`: 4294967296 → `4GiB`.
fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut size = format!("{bytes}").parse::<f64>().unwrap_or(0.0);
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    let digits = format!("{size:.0}").len();
    let decimals = 4usize.saturating_sub(digits);
    let mut text = format!("{size:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[unit])
}

// ---------------------------------------------------------------------------------------------
// limactl

mod lima {
    use super::template::{self, Fail};
    use super::{Ctx, Duration, J, Path, PathBuf, Value, fs, js, log, obj, unsupported};

    pub(super) fn main(ctx: &Ctx, args: &[String], stdin: Option<String>) -> i32 {
        let lima = Lima::new(ctx);
        let mut i = 0;
        while i < args.len() && global_len(args, i) > 0 {
            i += global_len(args, i);
        }
        let rest = &args[i.min(args.len())..];
        let Some((command, sub)) = rest.split_first() else { return unsupported("limactl", args) };
        let result = match command.as_str() {
            "--version" | "-v" if sub.is_empty() => {
                println!("limactl version 2.2.0");
                Some(0)
            }
            "list" | "ls" => super::lima_list::list(&lima, sub),
            "create" => create(&lima, sub, stdin),
            "start" => start(&lima, sub, stdin),
            "stop" => stop(&lima, sub),
            "delete" | "rm" | "remove" => delete(&lima, sub),
            "validate" => validate(sub),
            "shell" => super::lima_shell::shell(&lima, sub),
            _ => None,
        };
        result.unwrap_or_else(|| unsupported("limactl", args))
    }

    /// How many words the global flag at `args[i]` takes (0 when it is none).
    fn global_len(args: &[String], i: usize) -> usize {
        let arg = args[i].as_str();
        match arg {
            "--debug" | "--tty" | "-y" | "--yes" => 1,
            "--log-level" | "--log-format" => 2,
            _ if ["--tty=", "--log-level=", "--log-format="].iter().any(|p| arg.starts_with(p)) => 1,
            _ => 0,
        }
    }

    /// Parsed subcommand flags. `None` from [`Opts::parse`] means an unknown flag.
    #[derive(Default)]
    pub(super) struct Opts {
        pub(super) values: Vec<(String, String)>,
        pub(super) flags: Vec<String>,
        pub(super) positional: Vec<String>,
    }

    impl Opts {
        /// `stop_at_positional`: everything after the first positional is positional (`shell`).
        pub(super) fn parse(
            args: &[String],
            valued: &[&str],
            flags: &[&str],
            stop_at_positional: bool,
        ) -> Option<Self> {
            let mut opts = Self::default();
            let mut i = 0;
            while i < args.len() {
                let arg = &args[i];
                if arg == "--" || (stop_at_positional && !opts.positional.is_empty()) {
                    opts.positional.extend(args[i..].iter().cloned());
                    break;
                }
                let global = global_len(args, i);
                if global > 0 {
                    i += global;
                    continue;
                }
                if arg.starts_with('-') && arg != "-" {
                    let (name, inline) = match arg.split_once('=') {
                        Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                        _ => (arg.as_str(), None),
                    };
                    if valued.contains(&name) {
                        let value = if let Some(v) = inline {
                            v
                        } else {
                            i += 1;
                            args.get(i)?.clone()
                        };
                        opts.values.push((name.to_string(), value));
                    } else if flags.contains(&name) && inline.is_none() {
                        opts.flags.push(name.to_string());
                    } else {
                        return None;
                    }
                } else {
                    opts.positional.push(arg.clone());
                }
                i += 1;
            }
            Some(opts)
        }

        pub(super) fn value(&self, name: &str) -> Option<&str> {
            self.values.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
        }

        pub(super) fn all(&self, name: &str) -> Vec<String> {
            self.values.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone()).collect()
        }

        pub(super) fn has(&self, names: &[&str]) -> bool {
            self.flags.iter().any(|f| names.contains(&f.as_str()))
        }
    }

    /// `$LIMA_HOME` and the fake's root.
    pub(super) struct Lima<'a> {
        pub(super) ctx: &'a Ctx,
        pub(super) home: PathBuf,
    }

    impl<'a> Lima<'a> {
        fn new(ctx: &'a Ctx) -> Self {
            let home = std::env::var_os("LIMA_HOME").filter(|h| !h.is_empty()).map_or_else(
                || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".lima"),
                PathBuf::from,
            );
            Self { ctx, home }
        }

        pub(super) fn inst(&self, name: &str) -> Inst {
            Inst { name: name.to_string(), dir: self.home.join(name), guest: self.ctx.root.join("guests").join(name) }
        }

        /// Every instance, sorted by name.
        pub(super) fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.home)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with(['_', '.']) && self.inst(n).exists())
                .collect();
            names.sort();
            names
        }
    }

    /// One instance folder and its fake guest.
    pub(super) struct Inst {
        pub(super) name: String,
        pub(super) dir: PathBuf,
        pub(super) guest: PathBuf,
    }

    impl Inst {
        pub(super) fn exists(&self) -> bool {
            self.dir.join("lima.yaml").is_file()
        }

        pub(super) fn running(&self) -> bool {
            self.read("fake-status").trim() == "Running"
        }

        pub(super) fn read(&self, file: &str) -> String {
            fs::read_to_string(self.dir.join(file)).unwrap_or_default()
        }

        pub(super) fn write(&self, file: &str, text: &str) {
            fs::write(self.dir.join(file), text).expect("write instance file");
        }

        pub(super) fn number(&self, file: &str) -> Option<u32> {
            self.read(file).trim().parse().ok()
        }

        pub(super) fn port(&self) -> u32 {
            self.number("fake-port").unwrap_or(0)
        }

        pub(super) fn config_text(&self) -> String {
            self.read("fake-config.json").trim().to_string()
        }

        pub(super) fn config(&self) -> Value {
            serde_json::from_str(&self.config_text()).unwrap_or(Value::Null)
        }

        pub(super) fn home(&self) -> PathBuf {
            self.guest.join("home")
        }

        pub(super) fn root(&self) -> PathBuf {
            self.guest.join("root")
        }

        pub(super) fn shown(&self) -> String {
            self.dir.display().to_string()
        }
    }

    /// Where `create`/`start` take the template from.
    fn is_template_arg(arg: &str) -> bool {
        let extension = Path::new(arg).extension().map(std::ffi::OsStr::to_ascii_lowercase);
        arg == "-" || arg.contains(['/', ':']) || extension.is_some_and(|e| e == "yaml" || e == "yml")
    }

    fn finish(fail: Fail, args: &[String]) -> i32 {
        match fail {
            Fail::Fatal(msg) => log::fatal(&msg),
            Fail::Unsupported(what) => {
                eprintln!("fake limactl: unsupported: {what} (in {})", args.join(" "));
                99
            }
        }
    }

    const CREATE_VALUED: [&str; 3] = ["--name", "--set", "--param"];

    fn create(lima: &Lima, args: &[String], stdin: Option<String>) -> Option<i32> {
        let opts = Opts::parse(args, &CREATE_VALUED, &[], false)?;
        let [arg] = opts.positional.as_slice() else { return None };
        if !is_template_arg(arg) {
            return None;
        }
        Some(match make_instance(lima, &opts, arg, stdin) {
            Ok(inst) => {
                log::info("Terminal is not available, proceeding without opening an editor");
                log_download(&inst);
                log::info(&format!("Run `limactl start {}` to start the instance.", inst.name));
                if lima.ctx.fault_str("create", &inst.name) == Some("kill-caller") {
                    // The caller dies (`kill -9`) right after the instance exists.
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &std::os::unix::process::parent_id().to_string()])
                        .status();
                }
                0
            }
            Err(fail) => finish(fail, args),
        })
    }

    /// Creates the instance folder and the fake guest from a template argument.
    fn make_instance(lima: &Lima, opts: &Opts, arg: &str, stdin: Option<String>) -> Result<Inst, Fail> {
        let path = (arg != "-").then(|| PathBuf::from(arg));
        let name = match (opts.value("--name"), &path) {
            (Some(name), _) => name.to_string(),
            (None, Some(p)) => p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            (None, None) => return Err(Fail::Fatal("Cannot use stdin without --name".into())),
        };
        if let Some(msg) = lima.ctx.fault_str("create", &name).and_then(super::failure) {
            return Err(Fail::Fatal(msg.to_string()));
        }
        let inst = lima.inst(&name);
        if inst.exists() {
            return Err(Fail::Fatal(format!("instance `{name}` already exists")));
        }
        let text = match &path {
            Some(p) => template::read(p)?,
            None => stdin.unwrap_or_default(),
        };
        let dir = path.as_ref().map(|p| p.parent().unwrap_or(Path::new(".")).to_path_buf());
        let mut flat = template::flatten(&text, dir.as_deref(), 0)?;
        for expr in opts.all("--set") {
            template::apply_set(&mut flat.map, &expr)?;
        }
        for pair in opts.all("--param") {
            template::apply_param(&mut flat.map, &pair)?;
        }
        template::validate(&flat)?;
        write_instance(lima, &inst, &text, &super::config::build(&flat.map, &name), &opts.all("--set"));
        Ok(inst)
    }

    fn write_instance(lima: &Lima, inst: &Inst, text: &str, config: &J, sets: &[String]) {
        fs::create_dir_all(&inst.dir).expect("create the instance folder");
        inst.write("lima.yaml", text);
        inst.write("fake-config.json", &format!("{config}\n"));
        inst.write("fake-status", "Stopped\n");
        // Lima 2.1+ keeps the instance's disk as `disk` in its folder (a baked disk is copied from
        // it). An image that is a fake disk carries the guest home it was made from.
        let from = image(inst).map(|(location, ..)| location).and_then(|l| fs::read_to_string(l).ok());
        inst.write("disk", from.as_deref().filter(|d| d.starts_with(super::DISK_HEADER)).unwrap_or(super::DISK_HEADER));
        if !sets.is_empty() {
            inst.write("fake-set", &format!("{}\n", sets.join("\n")));
        }
        let keys = lima.home.join("_config");
        fs::create_dir_all(&keys).expect("create _config");
        for file in ["user", "user.pub"] {
            if !keys.join(file).exists() {
                fs::write(keys.join(file), "fake key\n").expect("write a fake key");
            }
        }
        fs::create_dir_all(inst.home()).expect("create the guest home");
        fs::create_dir_all(inst.root()).expect("create the guest root");
        super::disk::restore(&inst.read("disk"), &inst.home());
    }

    /// The image Lima would pick: the first for the host arch, else the first.
    pub(super) fn image(inst: &Inst) -> Option<(String, String, String)> {
        let config = inst.config();
        let images = config.get("images")?.as_array()?;
        let arch = super::config::host_arch();
        let chosen = images.iter().find(|i| i["arch"] == arch).or(images.first())?;
        let field = |k: &str| chosen.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        Some((field("location"), field("arch"), field("digest")))
    }

    pub(super) fn log_attempt(location: &str, arch: &str, digest: &str) {
        log::emit(
            "info",
            "Attempting to download the image",
            &[("arch", arch), ("digest", digest), ("location", location)],
        );
    }

    fn log_download(inst: &Inst) {
        if let Some((location, arch, digest)) = image(inst) {
            log_attempt(&location, &arch, &digest);
            log::info(&format!("Downloaded the image from `{location}`"));
        }
        let disk = inst.config()["disk"].as_str().unwrap_or("100GiB").to_string();
        if disk != "4GiB" {
            log::info(&format!("Resize instance {}'s disk from 4GiB to {disk}", inst.name));
        }
    }

    fn start(lima: &Lima, args: &[String], stdin: Option<String>) -> Option<i32> {
        let opts = Opts::parse(args, &["--name", "--set", "--param", "--timeout"], &["--progress"], false)?;
        let timeout = match opts.value("--timeout") {
            Some(text) => Some(parse_duration(text)?),
            None => None,
        };
        let (inst, fresh) = match opts.positional.as_slice() {
            [arg] if is_template_arg(arg) => match make_instance(lima, &opts, arg, stdin) {
                Ok(inst) => (inst, true),
                Err(fail) => return Some(finish(fail, args)),
            },
            [] => (lima.inst(opts.value("--name").unwrap_or("default")), false),
            [name] => (lima.inst(name), false),
            _ => return None,
        };
        if !inst.exists() {
            eprintln!("fake limactl: unsupported: start of instance `{}`, which does not exist", inst.name);
            return Some(99);
        }
        if inst.running() {
            log::info(&format!("Using the existing instance `{}`", inst.name));
            log::info(&format!("The instance `{}` is already running. {}", inst.name, shell_hint(&inst.name)));
            return Some(0);
        }
        Some(super::lima_boot::boot(lima, &inst, fresh, timeout))
    }

    pub(super) fn shell_hint(name: &str) -> String {
        if name == "default" {
            "Run `lima` to open the shell.".to_string()
        } else {
            format!("Run `limactl shell {name}` to open the shell.")
        }
    }

    /// A Go duration (`90s`, `3m`, `1h30m`, `500ms`).
    fn parse_duration(text: &str) -> Option<Duration> {
        let mut total = 0f64;
        let mut rest = text;
        while !rest.is_empty() {
            let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
            let number: f64 = rest[..split].parse().ok()?;
            let unit_len = rest[split..].find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len() - split);
            let scale = match &rest[split..split + unit_len] {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return None,
            };
            total += number * scale;
            rest = &rest[split + unit_len..];
        }
        Some(Duration::from_secs_f64(total))
    }

    fn stop(lima: &Lima, args: &[String]) -> Option<i32> {
        let opts = Opts::parse(args, &[], &["-f", "--force"], false)?;
        let name = match opts.positional.as_slice() {
            [] => "default",
            [name] => name.as_str(),
            _ => return None,
        };
        let inst = lima.inst(name);
        if !inst.exists() {
            return Some(log::fatal(&format!(
                "open {}: no such file or directory",
                inst.dir.join("lima.yaml").display()
            )));
        }
        if opts.has(&["-f", "--force"]) {
            kill(&inst);
            return Some(0);
        }
        if !inst.running() {
            return Some(log::fatal("expected status `Running`, got `Stopped` (maybe use `limactl stop -f`?)"));
        }
        graceful_stop(&inst);
        Some(0)
    }

    fn graceful_stop(inst: &Inst) {
        let dir = inst.shown();
        log::info(&format!("Sending SIGINT to hostagent process {}", inst.number("ha.pid").unwrap_or(0)));
        log::info("Waiting for the host agent and the driver processes to shut down");
        log::info("[hostagent] Received SIGINT, shutting down the host agent");
        log::info("[hostagent] Shutting down the host agent");
        log::info(&format!(
            "[hostagent] Stopping forwarding `/run/lima-guestagent.sock` (guest) to `{dir}/ga.sock` (host)"
        ));
        log::info("[hostagent] Shutting down QEMU with the power button");
        log::info("[hostagent] Sending QMP system_powerdown command");
        log::info("[hostagent] QEMU has exited");
        log::info("Waiting for the instance to shut down");
        log::info(&format!("The instance {} has shut down", inst.name));
        power_off(inst);
    }

    /// `stop -f`: kill what runs, then remove the pid and socket files, naming each.
    fn kill(inst: &Inst) {
        for (file, what) in [("qemu.pid", "the qemu driver process"), ("ha.pid", "the host agent process")] {
            match inst.number(file) {
                Some(pid) => log::info(&format!("Sending SIGKILL to {what} {pid}")),
                None => log::info(&format!("The {} seems already stopped", &what[4..])),
            }
        }
        log::info(&format!("Removing *.pid *.sock *.tmp under `{}`", inst.shown()));
        for path in power_off(inst) {
            log::info(&format!("Removing `{}`", path.display()));
        }
    }

    /// Marks the instance stopped, removes `*.pid *.sock *.tmp` and empties the guest's `/run`.
    pub(super) fn power_off(inst: &Inst) -> Vec<PathBuf> {
        let mut removed: Vec<PathBuf> = fs::read_dir(&inst.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pid" || x == "sock" || x == "tmp"))
            .collect();
        removed.sort();
        for path in &removed {
            let _ = fs::remove_file(path);
        }
        if inst.exists() {
            inst.write("fake-status", "Stopped\n");
            // What the guest wrote is on its disk (a copy of the disk carries it), unless a test
            // put a disk of its own there.
            if inst.read("disk").starts_with(super::DISK_HEADER) {
                inst.write("disk", &super::disk::snapshot(&inst.home()));
            }
        }
        let _ = fs::remove_dir_all(inst.root().join("run"));
        removed
    }

    fn delete(lima: &Lima, args: &[String]) -> Option<i32> {
        let opts = Opts::parse(args, &[], &["-f", "--force"], false)?;
        if opts.positional.is_empty() {
            return None;
        }
        for name in &opts.positional {
            let inst = lima.inst(name);
            if !inst.exists() {
                log::warn(&format!("Ignoring non-existent instance `{name}`"));
                continue;
            }
            if inst.running() && !opts.has(&["-f", "--force"]) {
                return Some(log::fatal(&format!(
                    "failed to delete instance `{name}`: expected status `Stopped`, got `Running`"
                )));
            }
            kill(&inst);
            let _ = fs::remove_dir_all(&inst.dir);
            let _ = fs::remove_dir_all(&inst.guest);
            log::info(&format!("Deleted `{name}` (`{}`)", inst.shown()));
        }
        Some(0)
    }

    fn validate(args: &[String]) -> Option<i32> {
        let opts = Opts::parse(args, &[], &[], false)?;
        if opts.positional.is_empty() {
            return None;
        }
        for arg in &opts.positional {
            let path = Path::new(arg);
            let checked = template::read(path).and_then(|text| {
                let flat = template::flatten(&text, Some(path.parent().unwrap_or(Path::new("."))), 0)?;
                template::validate(&flat)
            });
            match checked {
                Ok(()) => log::info(&format!("`{arg}`: OK")),
                Err(fail) => return Some(finish(fail, args)),
            }
        }
        Some(0)
    }

    /// The `list --json` object of one instance.
    pub(super) fn list_object(lima: &Lima, inst: &Inst) -> J {
        let config = inst.config();
        let text = |k: &str| config[k].as_str().unwrap_or_default().to_string();
        let bytes = |k: &str| J::Num(super::parse_bytes(&text(k)).to_string());
        let mut pairs = vec![
            ("name", js(&inst.name)),
            ("hostname", js(&super::hostname(&inst.name))),
            ("status", js(if inst.running() { "Running" } else { "Stopped" })),
            ("dir", js(&inst.shown())),
            ("vmType", js(&text("vmType"))),
            ("arch", js(&text("arch"))),
            ("cpus", J::Num(config["cpus"].to_string())),
            ("memory", bytes("memory")),
            ("disk", bytes("disk")),
        ];
        if inst.port() > 0 {
            pairs.push(("sshLocalPort", J::Num(inst.port().to_string())));
        }
        pairs.push(("sshConfigFile", js(&inst.dir.join("ssh.config").display().to_string())));
        if inst.running() {
            pairs.push(("hostAgentPID", J::Num(inst.number("ha.pid").unwrap_or(0).to_string())));
            pairs.push(("driverPID", J::Num(inst.number("qemu.pid").unwrap_or(0).to_string())));
        }
        pairs.push(("config", J::Num(inst.config_text())));
        pairs.extend([("sshAddress", js("127.0.0.1")), ("protected", J::Bool(false)), ("limaVersion", js("v2.2.0"))]);
        if let Some(param) = config.get("param") {
            pairs.push(("param", J::Num(param.to_string())));
        }
        let host_os = if std::env::consts::OS == "macos" { "darwin" } else { std::env::consts::OS };
        pairs.extend([
            ("HostOS", js(host_os)),
            ("HostArch", js(super::config::host_arch())),
            ("LimaHome", js(&lima.home.display().to_string())),
            ("IdentityFile", js(&lima.home.join("_config/user").display().to_string())),
        ]);
        obj(pairs)
    }
}

// ---------------------------------------------------------------------------------------------
// limactl start: the boot and its log

/// The first line of a fake disk; the rest is the guest home, one JSON line per file.
const DISK_HEADER: &str = "fake disk image\n";

/// A fake disk holds the guest home's files, so a copied disk (baked, golden) carries them.
mod disk {
    use super::{DISK_HEADER, Path, fs};

    pub(super) fn snapshot(home: &Path) -> String {
        let mut out = DISK_HEADER.to_string();
        let mut files = Vec::new();
        walk(home, home, &mut files);
        files.sort();
        for (rel, data) in files {
            out.push_str(&serde_json::json!({"path": rel, "data": data}).to_string());
            out.push('\n');
        }
        out
    }

    fn walk(home: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(home, &path, files);
            } else if let (Ok(rel), Ok(data)) = (path.strip_prefix(home), fs::read(&path)) {
                files.push((rel.display().to_string(), String::from_utf8_lossy(&data).into_owned()));
            }
        }
    }

    pub(super) fn restore(disk: &str, home: &Path) {
        for line in disk.lines().skip(1) {
            let Ok(file) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let (Some(rel), Some(data)) = (file["path"].as_str(), file["data"].as_str()) else { continue };
            let path = home.join(rel);
            if let Some(parent) = path.parent() {
                let _ = fs::create_dir_all(parent);
            }
            let _ = fs::write(path, data);
        }
    }
}

mod lima_boot {
    use super::lima::{Inst, Lima, image, log_attempt, power_off, shell_hint};
    use super::{Duration, Value, clock, fs, log};

    const GA: &str = "/run/lima-guestagent.sock";

    /// What the configured faults make of this start.
    #[derive(Default)]
    struct Plan {
        failed_layers: Vec<(String, String)>,
        /// Scripts (found by a piece of their text) that fail without a marker, as a user
        /// profile's script does.
        failed_scripts: Vec<String>,
        timeout: bool,
        degraded: Option<String>,
        agent_link_race: bool,
        missing_image: bool,
        delay: Option<Duration>,
    }

    fn plan(lima: &Lima, name: &str) -> Plan {
        let mut plan = Plan::default();
        let faults: Vec<String> = match lima.ctx.fault("start", name) {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        for fault in faults {
            if let Some(rest) = fault.strip_prefix("provision-fail:") {
                let (layer, reason) = rest.split_once(':').unwrap_or((rest, "the provisioning script exited with 1"));
                plan.failed_layers.push((layer.to_string(), reason.to_string()));
            } else if let Some(text) = fault.strip_prefix("script-fail:") {
                plan.failed_scripts.push(text.to_string());
            } else if let Some(stderr) = fault.strip_prefix("degraded") {
                plan.degraded = Some(stderr.strip_prefix(':').unwrap_or_default().to_string());
            } else {
                plan.timeout |= fault == "probe-timeout";
                plan.missing_image |= fault == "missing-image";
                plan.agent_link_race |= fault == "agent-link-race";
            }
        }
        let delay = lima.ctx.faults.get("start_delay_ms").and_then(|d| d.as_u64().or_else(|| d.get(name)?.as_u64()));
        plan.delay = delay.map(Duration::from_millis);
        plan
    }

    pub(super) fn boot(lima: &Lima, inst: &Inst, fresh: bool, timeout: Option<Duration>) -> i32 {
        let plan = plan(lima, &inst.name);
        if fresh {
            log::info("Terminal is not available, proceeding without opening an editor");
        } else {
            log::info(&format!("Using the existing instance `{}`", inst.name));
        }
        let vm_type = inst.config()["vmType"].as_str().unwrap_or("qemu").to_string();
        log::info(&format!("Starting the instance `{}` with internal VM driver `{vm_type}`", inst.name));
        let (location, arch, digest) = image(inst).unwrap_or_default();
        if plan.missing_image {
            log_attempt(&location, &arch, &digest);
            return log::fatal(&format!(
                "failed to download `{location}`: failed to open source {location}: open {location}: no such file or directory"
            ));
        }
        if fresh {
            log_attempt(&location, &arch, &digest);
            log::info(&format!("Downloaded the image from `{location}`"));
            let disk = inst.config()["disk"].as_str().unwrap_or("100GiB").to_string();
            log::info(&format!("Resize instance {}'s disk from 4GiB to {disk}", inst.name));
        }
        let port = power_on(lima, inst);
        hostagent_start(inst, port);
        if let Some(delay) = plan.delay {
            if let Some(limit) = timeout.filter(|t| *t < delay) {
                std::thread::sleep(limit);
                return log::fatal("did not receive an event with the `running` status");
            }
            std::thread::sleep(delay);
        }
        essentials();
        finish(inst, &plan, port)
    }

    fn finish(inst: &Inst, plan: &Plan, port: u32) -> i32 {
        if plan.timeout {
            return timed_out(inst);
        }
        write_guest_boot(inst, plan);
        if plan.agent_link_race {
            return agent_link_race(inst, port);
        }
        match &plan.degraded {
            Some(stderr) => degraded(inst, stderr, port),
            None => ready(inst),
        }
    }

    /// Lima 2.2.0 links the forwarded agent into /run/host-services before its own boot script
    /// has created that folder (on a slow boot): the script fails and start ends degraded.
    fn agent_link_race(inst: &Inst, port: u32) -> i32 {
        let probes = probes(inst);
        wait_optional(&probes);
        guest_agent(inst);
        log::info("[hostagent] Waiting for the final requirement 1 of 1: `boot scripts must have finished`");
        log::info("[hostagent] The final requirement 1 of 1 is satisfied");
        let stderr = "+ ln -sf /tmp/ssh-Xq3k/agent.1022 /run/host-services/ssh-auth.sock\n\
                      ln: failed to create symbolic link '/run/host-services/ssh-auth.sock': No such file or directory\n";
        let quoted = log::go_quote(stderr);
        let error = format!(
            "stdout=``, stderr={q}: failed to execute script {s}: stdout=\"\", stderr={quoted}: exit status 1",
            q = format_args!("`{stderr}`"),
            s = log::go_quote("linking ssh auth socket to static location /run/host-services/ssh-auth.sock"),
        );
        log::error(&format!("[{error}]"));
        log::warn(&format!(
            "DEGRADED. The VM seems running, but file sharing and port forwarding may not work. (hint: see `{}/ha.stderr.log`)",
            inst.shown()
        ));
        log::fatal(&format!(
            "degraded, status={{Running:true Degraded:true Exiting:false Errors:[{error}] SSHLocalPort:{port} \
             CloudInitProgress:<nil> PortForward:<nil> Vsock:<nil>}}"
        ))
    }

    /// A free-looking port for the instance's ssh.
    fn pick_port() -> u32 {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        20_000 + (nanos ^ std::process::id()) % 40_000
    }

    /// Writes what a running instance has: ssh.config, pid files, sockets, a fresh guest `/run`.
    fn power_on(lima: &Lima, inst: &Inst) -> u32 {
        power_off(inst);
        let port = pick_port();
        let pid = std::process::id();
        inst.write("ssh.config", &ssh_config(lima, inst, port));
        set_private(&inst.dir.join("ssh.config"));
        inst.write("ha.pid", &format!("{pid}\n"));
        inst.write("qemu.pid", &format!("{}\n", pid + 20));
        for socket in ["ga.sock", "ha.sock", "qmp.sock", "serial.sock", "serialv.sock"] {
            inst.write(socket, "");
        }
        super::lima_shell::open_master(inst, pid + 42);
        inst.write("fake-port", &format!("{port}\n"));
        inst.write("fake-status", "Running\n");
        fs::create_dir_all(inst.root().join("run")).expect("create the guest /run");
        fs::create_dir_all(inst.home()).expect("create the guest home");
        port
    }

    fn set_private(path: &std::path::Path) {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
    }

    fn ssh_config(lima: &Lima, inst: &Inst, port: u32) -> String {
        let config = inst.config();
        let user = config["user"]["name"].as_str().unwrap_or("lima").to_string();
        let agent = if config["ssh"]["forwardAgent"] == true { "  ForwardAgent yes\n" } else { "" };
        format!(
            "# This SSH config file can be passed to 'ssh -F'.\n\
             # This file is created by Lima, but not used by Lima itself currently.\n\
             # Modifications to this file will be lost on restarting the Lima instance.\n\
             Host lima-{name}\n  IdentityFile \"{home}/_config/user\"\n  StrictHostKeyChecking no\n  \
             UserKnownHostsFile /dev/null\n  NoHostAuthenticationForLocalhost yes\n  \
             PreferredAuthentications publickey\n  Compression no\n  BatchMode yes\n  IdentitiesOnly yes\n  \
             GSSAPIAuthentication no\n  Ciphers \"^aes128-gcm@openssh.com,aes256-gcm@openssh.com\"\n  User {user}\n  \
             ControlMaster auto\n  ControlPath \"{dir}/ssh.sock\"\n  ControlPersist yes\n{agent}  \
             Hostname 127.0.0.1\n  Port {port}\n",
            name = inst.name,
            home = lima.home.display(),
            dir = inst.shown(),
        )
    }

    fn hostagent_start(inst: &Inst, port: u32) {
        let dir = inst.shown();
        log::info(&format!("[hostagent] hostagent socket created at {dir}/ha.sock"));
        log::info("[hostagent] Using system firmware (`/usr/share/OVMF/OVMF_CODE.fd`)");
        log::info(&format!("[hostagent] Starting QEMU (hint: to watch the boot progress, see `{dir}/serial*.log`)"));
        log::info(&format!("SSH Local Port: {port}"));
        log::info("[hostagent] Waiting for the essential requirement 1 of 3: `ssh`");
    }

    fn essentials() {
        log::info("[hostagent] The essential requirement 1 of 3 is satisfied");
        log::info("[hostagent] Waiting for the essential requirement 2 of 3: `user session is ready for ssh`");
        log::info("[hostagent] The essential requirement 2 of 3 is satisfied");
        log::info("[hostagent] Waiting for the essential requirement 3 of 3: `Explicitly start ssh ControlMaster`");
        log::info("[hostagent] The essential requirement 3 of 3 is satisfied");
    }

    fn guest_agent(inst: &Inst) {
        let dir = inst.shown();
        log::info(&format!("[hostagent] Stopping forwarding `{GA}` (guest) to `{dir}/ga.sock` (host)"));
        log::info(&format!("[hostagent] Forwarding `{GA}` (guest) to `{dir}/ga.sock` (host)"));
        log::info("[hostagent] Guest agent is running");
        log::info("[hostagent] Time sync: guest agent is alive, starting time synchronization");
    }

    /// Port-forwarding chatter, in the orders the transcripts show (it varies from boot to boot).
    /// `!` marks the bind warning.
    const FORWARDS_READY: [&str; 14] = [
        "Not forwarding TCP 127.0.0.54:53",
        "Not forwarding TCP 0.0.0.0:22",
        "Forwarding TCP from 0.0.0.0:5355 to 127.0.0.1:5355",
        "Not forwarding TCP 127.0.0.53:53",
        "Not forwarding TCP [::]:22",
        "Forwarding TCP from [::]:5355 to 127.0.0.1:5355",
        "Not forwarding UDP 127.0.0.54:53",
        "!",
        "Not forwarding UDP 127.0.0.53:53",
        "Not forwarding UDP 192.168.5.15:68",
        "Forwarding UDP from 0.0.0.0:5353 to 127.0.0.1:5353",
        "Forwarding UDP from 0.0.0.0:5355 to 127.0.0.1:5355",
        "Forwarding UDP from [::]:5353 to 127.0.0.1:5353",
        "Forwarding UDP from [::]:5355 to 127.0.0.1:5355",
    ];

    const FORWARDS_TIMEOUT: [&str; 17] = [
        "Not forwarding TCP 0.0.0.0:22",
        "Not forwarding TCP 127.0.0.54:53",
        "Forwarding TCP from 0.0.0.0:5355 to 127.0.0.1:5355",
        "Not forwarding TCP 127.0.0.53:53",
        "Not forwarding TCP [::]:22",
        "Forwarding TCP from [::]:5355 to 127.0.0.1:5355",
        "Not forwarding UDP 127.0.0.54:53",
        "!",
        "Not forwarding UDP 127.0.0.53:53",
        "Not forwarding UDP 192.168.5.15:68",
        "Forwarding UDP from 0.0.0.0:5353 to 127.0.0.1:5353",
        "Forwarding UDP from 0.0.0.0:5355 to 127.0.0.1:5355",
        "Forwarding UDP from [::]:5353 to 127.0.0.1:5353",
        "Forwarding UDP from [::]:5355 to 127.0.0.1:5355",
        "Forwarding UDP from 0.0.0.0:36872 to 127.0.0.1:36872",
        "Time sync: guest clock adjusted (was -926ms off)",
        "Forwarding UDP from [::]:45708 to 127.0.0.1:45708",
    ];

    const FORWARDS_DEGRADED: [&str; 19] = [
        "Not forwarding TCP 0.0.0.0:22",
        "Forwarding TCP from 0.0.0.0:5355 to 127.0.0.1:5355",
        "Not forwarding TCP 127.0.0.53:53",
        "Not forwarding TCP 127.0.0.54:53",
        "Not forwarding TCP [::]:22",
        "Forwarding TCP from [::]:5355 to 127.0.0.1:5355",
        "Not forwarding UDP 127.0.0.54:53",
        "!",
        "Not forwarding UDP 127.0.0.53:53",
        "Not forwarding UDP 192.168.5.15:68",
        "Forwarding UDP from 0.0.0.0:5353 to 127.0.0.1:5353",
        "Forwarding UDP from 0.0.0.0:5355 to 127.0.0.1:5355",
        "Forwarding UDP from [::]:5353 to 127.0.0.1:5353",
        "Forwarding UDP from [::]:5355 to 127.0.0.1:5355",
        "Time sync: guest clock adjusted (was -539ms off)",
        "Forwarding UDP from [::]:37023 to 127.0.0.1:37023",
        "Forwarding UDP from 0.0.0.0:48532 to 127.0.0.1:48532",
        "Forwarding UDP from 0.0.0.0:52341 to 127.0.0.1:52341",
        "Forwarding UDP from [::]:51538 to 127.0.0.1:51538",
    ];

    fn forwards(lines: &[&str]) {
        for line in lines {
            if *line == "!" {
                let error = ("error", "listen tcp 127.0.0.1:5355: bind: address already in use");
                log::emit("warning", "[hostagent] failed to listen tcp: 127.0.0.1:5355", &[error]);
            } else {
                log::info(&format!("[hostagent] {line}"));
            }
        }
    }

    /// Probe descriptions and hints from the instance's config.
    fn probes(inst: &Inst) -> Vec<(String, String)> {
        let config = inst.config();
        let field = |p: &Value, k: &str| p[k].as_str().unwrap_or_default().to_string();
        config["probes"]
            .as_array()
            .map_or_else(Vec::new, |ps| ps.iter().map(|p| (field(p, "description"), field(p, "hint"))).collect())
    }

    fn wait_optional(probes: &[(String, String)]) {
        if let Some((description, _)) = probes.first() {
            log::info(&format!(
                "[hostagent] Waiting for the optional requirement 1 of {}: `{description}`",
                probes.len()
            ));
        }
    }

    fn ready(inst: &Inst) -> i32 {
        let probes = probes(inst);
        log::info("[hostagent] Waiting for the guest agent to be running");
        guest_agent(inst);
        for (i, (description, _)) in probes.iter().enumerate() {
            let n = probes.len();
            log::info(&format!("[hostagent] Waiting for the optional requirement {} of {n}: `{description}`", i + 1));
            log::info(&format!("[hostagent] The optional requirement {} of {n} is satisfied", i + 1));
        }
        log::info("[hostagent] Waiting for the final requirement 1 of 1: `boot scripts must have finished`");
        forwards(&FORWARDS_READY);
        log::info("[hostagent] The final requirement 1 of 1 is satisfied");
        log::info(&format!("READY. {}", shell_hint(&inst.name)));
        0
    }

    fn timed_out(inst: &Inst) -> i32 {
        wait_optional(&probes(inst));
        guest_agent(inst);
        forwards(&FORWARDS_TIMEOUT);
        log::fatal("did not receive an event with the `running` status")
    }

    fn degraded(inst: &Inst, stderr: &str, port: u32) -> i32 {
        let probes = probes(inst);
        wait_optional(&probes);
        guest_agent(inst);
        forwards(&FORWARDS_DEGRADED);
        log::info("[hostagent] Waiting for the guest agent to be running");
        log::info("[hostagent] Waiting for the final requirement 1 of 1: `boot scripts must have finished`");
        log::info("[hostagent] The final requirement 1 of 1 is satisfied");
        let (description, hint) = probes.first().cloned().unwrap_or_default();
        let quoted = log::go_quote(stderr);
        let error = format!(
            "failed to satisfy the optional requirement 1 of {n} `{description}`: {hint}: stdout=``, stderr={quoted}: \
             failed to execute script {script}: stdout=\"\", stderr={quoted}: exit status 1",
            n = probes.len().max(1),
            script = log::go_quote(&description),
        );
        log::error(&format!("[{error}]"));
        log::warn(&format!(
            "DEGRADED. The VM seems running, but file sharing and port forwarding may not work. (hint: see `{}/ha.stderr.log`)",
            inst.shown()
        ));
        log::fatal(&format!(
            "degraded, status={{Running:true Degraded:true Exiting:false Errors:[{error}] SSHLocalPort:{port} \
             CloudInitProgress:<nil> PortForward:<nil> Vsock:<nil>}}"
        ))
    }

    /// The guest side of a finished boot: the boot-done marker, failure markers, cloud-init's log.
    fn write_guest_boot(inst: &Inst, plan: &Plan) {
        let root = inst.root();
        let failed = &plan.failed_layers;
        fs::create_dir_all(root.join("run")).expect("create the guest /run");
        fs::write(root.join("run/lima-boot-done"), "").expect("write lima-boot-done");
        let _ = fs::create_dir_all(root.join("proc"));
        let _ = fs::write(root.join("proc/uptime"), "42.17 80.03\n");
        // A writable /etc: machine-guest writes Codex's system config there without sudo.
        let _ = fs::create_dir_all(root.join("etc"));
        if !failed.is_empty() {
            fs::create_dir_all(root.join("run/machine/failed")).expect("create the failure markers");
        }
        for (layer, reason) in failed {
            fs::write(root.join("run/machine/failed").join(layer), format!("{reason}\n"))
                .expect("write a failure marker");
        }
        fs::create_dir_all(root.join("var/log")).expect("create the guest /var/log");
        // cloud-init appends to its log at every boot, as the real one does.
        let path = root.join("var/log/cloud-init-output.log");
        let mut log = fs::read_to_string(&path).unwrap_or_default();
        log.push_str(&cloud_init_log(inst, plan));
        fs::write(path, log).expect("write the cloud-init log");
    }

    /// The scripts of the instance's provision list: `(provision.<mode>/<index>, text)`.
    fn scripts(inst: &Inst) -> Vec<(String, String)> {
        let config = inst.config();
        let list = config["provision"].as_array().cloned().unwrap_or_default();
        list.iter()
            .enumerate()
            .filter(|(_, p)| matches!(p["mode"].as_str(), Some("system" | "user")))
            .map(|(i, p)| {
                let mode = p["mode"].as_str().unwrap_or("system");
                (
                    format!("/mnt/lima-cidata/provision.{mode}/{i:08}"),
                    p["script"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// One boot's section of Lima's boot script in the log: every script, with Lima's warning
    /// for the failing ones (a failed layer's is the first script mentioning it), then the exit.
    fn cloud_init_log(inst: &Inst, plan: &Plan) -> String {
        let now = clock::now();
        let lima = format!("LIMA {}T{}+00:00|", now.date("-"), now.time());
        let user = inst.config()["user"]["name"].as_str().unwrap_or("dev").to_string();
        let mut log = format!(
            "Cloud-init v. 22.4.2 running 'modules:final' at {}. Up 80.00 seconds.\n\
             {lima} Executing /mnt/lima-cidata/boot.Linux/40-install-containerd.sh\n+ exit 0\n",
            now.rfc2822()
        );
        let mut scripts = scripts(inst);
        if scripts.is_empty() && !plan.failed_layers.is_empty() {
            // A bare template: the failing layer's script stands in at index 0.
            scripts.push(("/mnt/lima-cidata/provision.system/00000000".to_string(), String::new()));
        }
        let layer_script = |layer: &str| scripts.iter().position(|(_, text)| text.contains(layer)).or(Some(0));
        let failing_layers: Vec<(usize, &str)> =
            plan.failed_layers.iter().filter_map(|(l, r)| layer_script(l).map(|i| (i, r.as_str()))).collect();
        let mut code = 0;
        for (i, (path, text)) in scripts.iter().enumerate() {
            let as_user = if path.contains("provision.user/") { format!(" (as user {user})") } else { String::new() };
            log.push_str(&format!("{lima} Executing {path}{as_user}\n"));
            let layer = failing_layers.iter().find(|(at, _)| *at == i);
            if let Some((_, reason)) = layer {
                log.push_str(&format!("machine[?] ERROR: {reason}\n"));
            }
            if layer.is_some() || plan.failed_scripts.iter().any(|t| text.contains(t.as_str())) {
                log.push_str(&format!("{lima} WARNING: Failed to execute {path}{as_user}\n"));
                code = 1;
            }
        }
        log.push_str(&format!("{lima} Exiting with code {code}\n"));
        if code != 0 {
            let stamp = format!("{} {},{:03}", now.date("-"), now.time(), now.millis);
            log.push_str(&format!(
                "{stamp} - cc_scripts_per_boot.py[WARNING]: Failed to run module scripts-per-boot (per-boot in /var/lib/cloud/scripts/per-boot)\n\
                 {stamp} - util.py[WARNING]: Running module scripts-per-boot (<module 'cloudinit.config.cc_scripts_per_boot' from '/usr/lib/python3/dist-packages/cloudinit/config/cc_scripts_per_boot.py'>) failed\n"
            ));
        }
        log.push_str(&format!(
            "Cloud-init v. 22.4.2 finished at {}. Datasource DataSourceNoCloud [seed=/dev/sr0][dsmode=net].  Up 87.53 seconds\n",
            now.rfc2822()
        ));
        log
    }
}

// ---------------------------------------------------------------------------------------------
// limactl list

mod lima_list {
    use super::lima::{Inst, Lima, Opts, list_object};
    use super::{Value, log};

    pub(super) fn list(lima: &Lima, args: &[String]) -> Option<i32> {
        let opts = Opts::parse(args, &["--format", "-f"], &["--json", "-q", "--quiet"], false)?;
        let format = if opts.has(&["--json"]) {
            "json".to_string()
        } else {
            opts.value("--format").or(opts.value("-f")).unwrap_or("table").to_string()
        };
        let all = lima.names();
        if opts.positional.is_empty() && all.is_empty() {
            log::warn("No instance found. Run `limactl create` to create an instance.");
            return Some(0);
        }
        let mut names = Vec::new();
        let mut unmatched = false;
        for arg in &opts.positional {
            if all.contains(arg) {
                names.push(arg.clone());
            } else {
                log::warn(&format!("No instance matching {arg} found."));
                unmatched = true;
            }
        }
        if opts.positional.is_empty() {
            names = all;
        }
        let insts: Vec<Inst> = names.iter().map(|n| lima.inst(n)).collect();
        let printed = if opts.has(&["-q", "--quiet"]) {
            for name in &names {
                println!("{name}");
            }
            true
        } else {
            print_instances(lima, &insts, &format)?
        };
        Some(if unmatched && printed { log::fatal("unmatched instances") } else { i32::from(!printed) })
    }

    /// Prints in `format`; `None` for formats the fake does not know, `Some(false)` after an error.
    fn print_instances(lima: &Lima, insts: &[Inst], format: &str) -> Option<bool> {
        match format {
            "json" => {
                for inst in insts {
                    let line = list_object(lima, inst).to_string();
                    // Lima pipes `--json` through a bufio.Scanner: a line must fit its 64 KiB
                    // buffer with the newline, and the whole template is on that line.
                    if line.len() >= SCANNER_MAX {
                        log::fatal("bufio.Scanner: token too long");
                        return Some(false);
                    }
                    println!("{line}");
                }
            }
            "table" => print!("{}", table(lima, insts)),
            template if template.contains("{{") => {
                for inst in insts {
                    match render(lima, inst, template) {
                        Ok(line) => println!("{line}"),
                        Err(field) => {
                            log::fatal(&format!("template: format:1: can't evaluate field {field}"));
                            return Some(false);
                        }
                    }
                }
            }
            _ => return None,
        }
        Some(true)
    }

    fn table(lima: &Lima, insts: &[Inst]) -> String {
        let home = std::env::var("HOME").unwrap_or_default();
        let mut rows =
            vec![["NAME", "STATUS", "SSH", "VMTYPE", "ARCH", "CPUS", "MEMORY", "DISK", "DIR"].map(String::from)];
        for inst in insts {
            let object: Value = serde_json::from_str(&list_object(lima, inst).to_string()).unwrap_or_default();
            let field = |k: &str| object[k].as_str().map_or_else(|| object[k].to_string(), str::to_string);
            let dir = field("dir");
            let shown = match dir.strip_prefix(&format!("{home}/")) {
                Some(rest) if !home.is_empty() => format!("~/{rest}"),
                _ => dir,
            };
            rows.push([
                field("name"),
                field("status"),
                format!("127.0.0.1:{}", inst.port()),
                field("vmType"),
                field("arch"),
                field("cpus"),
                super::format_bytes(object["memory"].as_u64().unwrap_or(0)),
                super::format_bytes(object["disk"].as_u64().unwrap_or(0)),
                shown,
            ]);
        }
        tabwriter(&rows)
    }

    /// Go's tabwriter with padding 4: every column but the last is as wide as its widest cell + 4.
    fn tabwriter(rows: &[[String; 9]]) -> String {
        let mut widths = [0usize; 9];
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count() + 4);
            }
        }
        let mut out = String::new();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                if i + 1 < row.len() {
                    out.push_str(&format!("{cell:<width$}", width = widths[i]));
                } else {
                    out.push_str(cell);
                }
            }
            out.push('\n');
        }
        out
    }

    /// bufio.Scanner's default buffer: the longest line `--json` can print is one byte less.
    const SCANNER_MAX: usize = 64 * 1024;

    /// A Go template over the instance's fields, as far as `{{.Field}}` and `{{json .Field}}` go.
    fn render(lima: &Lima, inst: &Inst, template: &str) -> Result<String, String> {
        let object: Value = serde_json::from_str(&list_object(lima, inst).to_string()).unwrap_or_default();
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let len = rest[start..].find("}}").ok_or_else(|| template.to_string())?;
            let action = rest[start + 2..start + len].trim();
            out.push_str(&rest[..start]);
            let value = match action.strip_prefix("json ") {
                Some(field) => json_value(&object, inst, field.trim().trim_start_matches('.')),
                None => field_value(&object, inst, action.trim_start_matches('.')),
            };
            out.push_str(&value.ok_or_else(|| action.to_string())?);
            rest = &rest[start + len + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `{{json .Field}}`: the field's JSON, Go's zero value when `--json` leaves it out.
    fn json_value(object: &Value, inst: &Inst, field: &str) -> Option<String> {
        let (key, zero) = match field {
            "Name" => ("name", Value::from("")),
            "Status" => ("status", Value::from("")),
            "Dir" => ("dir", Value::from("")),
            "VMType" => ("vmType", Value::from("")),
            "Arch" => ("arch", Value::from("")),
            "SSHConfigFile" => ("sshConfigFile", Value::from("")),
            "CPUs" => ("cpus", Value::from(0)),
            "Memory" => ("memory", Value::from(0)),
            "Disk" => ("disk", Value::from(0)),
            "SSHLocalPort" => ("sshLocalPort", Value::from(0)),
            "Errors" => ("errors", Value::Null),
            // Lima fills the instance's params from its template: an empty map, never null.
            "Param" => ("param", Value::Object(serde_json::Map::new())),
            _ => return field_value(object, inst, field).map(|v| Value::from(v).to_string()),
        };
        Some(object.get(key).filter(|v| !v.is_null()).cloned().unwrap_or(zero).to_string())
    }

    fn field_value(object: &Value, inst: &Inst, field: &str) -> Option<String> {
        let key = match field {
            "Name" => "name",
            "Hostname" => "hostname",
            "Status" => "status",
            "Dir" => "dir",
            "VMType" => "vmType",
            "Arch" => "arch",
            "CPUs" => "cpus",
            "Memory" => "memory",
            "Disk" => "disk",
            "SSHConfigFile" => "sshConfigFile",
            "SSHAddress" => "sshAddress",
            "HostAgentPID" => "hostAgentPID",
            "DriverPID" => "driverPID",
            "LimaHome" => "LimaHome",
            "IdentityFile" => "IdentityFile",
            "SSHLocalPort" => return Some(inst.port().to_string()),
            _ => return None,
        };
        Some(match &object[key] {
            Value::String(s) => s.clone(),
            Value::Null => "0".to_string(),
            other => other.to_string(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// limactl shell and the fake guest

mod lima_shell {
    use super::lima::{Inst, Lima, Opts};
    use super::{Path, PathBuf, fs, log};

    pub(super) fn shell(lima: &Lima, args: &[String]) -> Option<i32> {
        let valued = ["--workdir", "--shell", "--sync"];
        let flags = ["--reconnect", "--start", "--preserve-env"];
        let opts = Opts::parse(args, &valued, &flags, true)?;
        let (name, command) = match opts.positional.split_first() {
            Some((name, rest)) if name != "--" => {
                (name.clone(), rest.strip_prefix(&["--".to_string()]).unwrap_or(rest))
            }
            _ => return None,
        };
        let inst = lima.inst(&name);
        if !inst.exists() {
            return Some(log::fatal(&format!(
                "instance `{name}` does not exist, run `limactl create {name}` to create a new instance"
            )));
        }
        if !inst.running() {
            if !opts.has(&["--start"]) {
                return Some(log::fatal(&format!(
                    "instance `{name}` is stopped, run `limactl start {name}` to start the instance"
                )));
            }
            let code = super::lima_boot::boot(lima, &inst, false, None);
            if code != 0 {
                return Some(code);
            }
        }
        let socket = inst.dir.join("ssh.sock");
        if opts.has(&["--reconnect"]) {
            let _ = fs::remove_file(&socket);
        }
        if !socket.exists() {
            open_master(&inst, std::process::id());
        }
        Some(exec(lima, &inst, opts.value("--workdir"), command))
    }

    /// A new `ControlMaster`: it keeps the agent of the call that opened it.
    pub(super) fn open_master(inst: &Inst, pid: u32) {
        let agent = std::env::var_os("SSH_AUTH_SOCK").map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        inst.write("fake-master-agent", &format!("{agent}\n"));
        inst.write("ssh.sock", &format!("{pid}\n"));
    }

    /// The agent the guest sees: the master's, when the instance forwards one.
    fn forwarded_agent(inst: &Inst) -> Option<String> {
        if inst.config()["ssh"]["forwardAgent"] != true {
            return None;
        }
        let agent = fs::read_to_string(inst.dir.join("fake-master-agent")).ok()?;
        Some(agent.trim().to_string()).filter(|a| !a.is_empty())
    }

    /// Runs the command in the fake guest; returns only when it could not be started.
    fn exec(lima: &Lima, inst: &Inst, workdir: Option<&str>, command: &[String]) -> i32 {
        use std::os::unix::process::CommandExt;
        fs::create_dir_all(inst.home()).expect("create the guest home");
        fs::create_dir_all(inst.root()).expect("create the guest root");
        let cwd = match workdir {
            Some(dir) if !Path::new(dir).is_dir() => {
                eprintln!("bash: line 1: cd: {dir}: No such file or directory");
                return 1;
            }
            Some(dir) => PathBuf::from(dir),
            None => inst.home(),
        };
        let login = ["bash".to_string(), "-l".to_string()];
        let argv = if command.is_empty() { &login[..] } else { command };
        let root = &lima.ctx.root;
        let path = format!(
            "{}:{}:{}",
            root.join("guest-bin").display(),
            root.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut guest = std::process::Command::new(&argv[0]);
        match forwarded_agent(inst) {
            Some(agent) => guest.env("SSH_AUTH_SOCK", agent),
            None => guest.env_remove("SSH_AUTH_SOCK"),
        };
        let error = guest
            .args(&argv[1..])
            .current_dir(cwd)
            .env("HOME", inst.home())
            .env("MACHINE_ROOT", inst.root())
            .env("MACHINE_FAKE_GUEST", &inst.name)
            .env("PATH", path)
            .exec();
        if error.kind() == std::io::ErrorKind::NotFound {
            eprintln!("bash: line 1: {}: command not found", argv[0]);
            127
        } else {
            eprintln!("bash: line 1: {}: {error}", argv[0]);
            126
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ssh and ssh-add

mod ssh {
    use super::{Ctx, Duration, Path, fs, unsupported};

    /// ssh options that take a value.
    const VALUED: &str = "BbcDEeFIiJLlmOoPpQRSWw";

    /// `ssh -F CFG [-O CMD] HOST …`: control commands act on the `ControlPath` file; the rest succeeds.
    pub(super) fn main(args: &[String]) -> i32 {
        let mut config = None;
        let mut control = None;
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            let option = arg.strip_prefix('-').and_then(|o| o.chars().next()).filter(|c| VALUED.contains(*c));
            if let Some(letter) = option {
                let inline = &arg[2..];
                let value = if inline.is_empty() {
                    i += 1;
                    args.get(i).cloned().unwrap_or_default()
                } else {
                    inline.to_string()
                };
                match letter {
                    'F' => config = Some(value),
                    'O' => control = Some(value),
                    _ => {}
                }
            }
            i += 1;
        }
        match (control, config) {
            (Some(command), Some(config)) => control_command(&command, &config),
            _ => 0,
        }
    }

    fn control_command(command: &str, config: &str) -> i32 {
        let Ok(text) = fs::read_to_string(config) else {
            eprint!("Can't open user config file {config}: No such file or directory\r\n");
            return 255;
        };
        let socket = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("ControlPath "))
            .map(|p| p.trim().trim_matches('"').to_string())
            .unwrap_or_default();
        let Ok(pid) = fs::read_to_string(&socket) else {
            eprint!("Control socket connect({socket}): No such file or directory\r\n");
            return 255;
        };
        match command {
            "check" => eprint!("Master running (pid={})\r\n", pid.trim()),
            "exit" => {
                let _ = fs::remove_file(Path::new(&socket));
                eprint!("Exit request sent.\r\n");
            }
            _ => {}
        }
        0
    }

    const FINGERPRINT: &str = "256 SHA256:fAkEkEyFoRmAcHiNeTeStS0000000000000000000000 fake@host (ED25519)";
    const PUBLIC_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForMachineTests0000000000000000 fake@host";

    /// `ssh-add -l` / `-L`, answering as `faults.ssh_add` (or `ssh_add_guest` inside a guest) says.
    pub(super) fn agent(ctx: &Ctx, args: &[String]) -> i32 {
        let [flag] = args else { return unsupported("ssh-add", args) };
        if flag != "-l" && flag != "-L" {
            return unsupported("ssh-add", args);
        }
        let in_guest = std::env::var_os("MACHINE_FAKE_GUEST").is_some();
        let host = ctx.faults.get("ssh_add").and_then(|v| v.as_str());
        let guest = ctx.faults.get("ssh_add_guest").and_then(|v| v.as_str());
        let mode = if in_guest { guest.or(host) } else { host }.unwrap_or("keys");
        let mode = if mode == "hang" {
            std::thread::sleep(Duration::from_mins(1));
            "keys"
        } else {
            mode
        };
        match mode.split_once(':').map_or((mode, None), |(m, line)| (m, Some(line))) {
            ("keys", line) => {
                println!("{}", if flag == "-l" { line.unwrap_or(FINGERPRINT) } else { PUBLIC_KEY });
                0
            }
            ("no-keys", _) => {
                println!("The agent has no identities.");
                1
            }
            ("no-agent", _) => {
                eprintln!("Could not open a connection to your authentication agent.");
                2
            }
            _ => {
                eprintln!("fake ssh-add: unknown ssh_add fault {mode:?}");
                99
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// git

mod git {
    use super::{Ctx, Path, PathBuf, failure, fs, unsupported, with_newline};

    pub(super) fn main(ctx: &Ctx, args: &[String]) -> i32 {
        let mut dir: Option<String> = None;
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "-C" => {
                    dir = args.get(i + 1).cloned();
                    i += 2;
                }
                "-c" => i += 2,
                "--no-pager" => i += 1,
                _ => break,
            }
        }
        let sub: Vec<&str> = args[i.min(args.len())..].iter().map(String::as_str).collect();
        let code = match sub.as_slice() {
            ["ls-remote", rest @ ..] => ls_remote(ctx, rest),
            ["config", "--global", "--get", key] => Some(config(ctx, key)),
            ["config", "--get", key] if !key.starts_with("branch.") => Some(config(ctx, key)),
            ["config", "--global", "-z", "--get-regexp", pattern] => Some(config_regexp(ctx, pattern)),
            ["remote", "get-url", "origin"] => Some(in_repo(ctx, dir.as_deref(), |d| origin(ctx, d))),
            ["clone", rest @ ..] => clone(ctx, dir.as_deref(), rest),
            ["status", "--porcelain"] => Some(in_repo(ctx, dir.as_deref(), |d| answer(ctx, "dirty", d))),
            ["log", "--branches", "--not", "--remotes", "--oneline"]
            | ["log", "--branches", "HEAD", "--not", "--remotes", "--oneline"] => {
                Some(in_repo(ctx, dir.as_deref(), |d| answer(ctx, "unpushed", d)))
            }
            ["stash", "list"] => Some(in_repo(ctx, dir.as_deref(), |d| answer(ctx, "stashed", d))),
            ["check-ref-format", "--branch", name] => Some(branches::check_ref_format(name)),
            rest => return in_repo_dir(ctx, dir.as_deref(), rest).unwrap_or_else(|| unsupported("git", args)),
        };
        code.unwrap_or_else(|| unsupported("git", args))
    }

    /// The branch commands machine-guest runs inside a clone (see [`branches`]).
    fn in_repo_dir(ctx: &Ctx, dir: Option<&str>, sub: &[&str]) -> Option<i32> {
        let known = branches::handles(sub);
        let words = || sub.iter().map(|w| (*w).to_string()).collect::<Vec<_>>();
        known.then(|| {
            in_repo(ctx, dir, |d| branches::run(ctx, Path::new(d), sub).unwrap_or_else(|| unsupported("git", &words())))
        })
    }

    /// A stable fake commit id for a URL.
    pub(super) fn sha(url: &str) -> String {
        let mut out = String::new();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        while out.len() < 40 {
            for byte in url.bytes().chain(out.clone().bytes()) {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            out.push_str(&format!("{hash:016x}"));
        }
        out.truncate(40);
        out
    }

    fn ls_remote(ctx: &Ctx, args: &[&str]) -> Option<i32> {
        let words: Vec<&str> = args.iter().copied().filter(|a| !a.starts_with("--")).collect();
        let (url, refs) = words.split_first()?;
        let answer = ctx.fault_str("ls_remote", url).map_or_else(|| sha(url), str::to_string);
        if let Some(stderr) = failure(&answer) {
            eprint!("{}", with_newline(stderr));
            return Some(128);
        }
        match refs {
            [] => print!("{answer}\tHEAD\n{answer}\trefs/heads/main\n"),
            ["HEAD"] => println!("{answer}\tHEAD"),
            [reference] if reference.starts_with("refs/heads/") => {
                let branch = &reference["refs/heads/".len()..];
                if branches::remote_branches(ctx, url).iter().any(|b| b == branch) {
                    println!("{}\t{reference}", sha(&format!("{url}#{branch}")));
                }
            }
            _ => return None,
        }
        Some(0)
    }

    fn config(ctx: &Ctx, key: &str) -> i32 {
        ctx.fault_str("git_config", key).map_or(1, |value| {
            println!("{value}");
            0
        })
    }

    /// `git config -z --get-regexp '^user\.(name|email|signingkey)$'`: the configured keys the
    /// alternatives name, as `key\nvalue\0`, in that order; exit 1 when none is set.
    fn config_regexp(ctx: &Ctx, pattern: &str) -> i32 {
        if let Some(stderr) = ctx.faults.get("git_config_error").and_then(|v| v.as_str()) {
            eprint!("{}", with_newline(stderr));
            return 128;
        }
        let Some(alternatives) = pattern.strip_prefix("^user\\.(").and_then(|p| p.strip_suffix(")$")) else {
            return unsupported("git", &["config".into(), "--get-regexp".into(), pattern.into()]);
        };
        let mut out = String::new();
        for key in alternatives.split('|').map(|k| format!("user.{k}")) {
            if let Some(value) = ctx.fault_str("git_config", &key) {
                out.push_str(&format!("{key}\n{value}\0"));
            }
        }
        print!("{out}");
        i32::from(out.is_empty())
    }

    /// Runs `then` when `dir` (or the cwd) is a repository, else fails as git does.
    fn in_repo(ctx: &Ctx, dir: Option<&str>, then: impl FnOnce(&str) -> i32) -> i32 {
        let cwd = std::env::current_dir().unwrap_or_default().display().to_string();
        let dir = dir.unwrap_or(&cwd);
        let named = ["origin", "dirty", "unpushed", "stashed"].iter().any(|s| ctx.fault(s, dir).is_some());
        if named {
            return then(dir);
        }
        let path = Path::new(dir);
        if !path.is_dir() {
            eprintln!("fatal: cannot change to '{dir}': No such file or directory");
            return 128;
        }
        if !path.ancestors().any(|p| p.join(".git").exists()) {
            eprintln!("fatal: not a git repository (or any of the parent directories): .git");
            return 128;
        }
        then(dir)
    }

    fn origin(ctx: &Ctx, dir: &str) -> i32 {
        let from_config = || {
            let text = fs::read_to_string(Path::new(dir).join(".git/config")).ok()?;
            let section = text.split("[remote \"origin\"]").nth(1)?;
            section.lines().find_map(|l| l.trim().strip_prefix("url = ").map(str::to_string))
        };
        if let Some(url) = ctx.fault_str("origin", dir).map(str::to_string).or_else(from_config) {
            println!("{url}");
            0
        } else {
            eprintln!("error: No such remote 'origin'");
            2
        }
    }

    fn answer(ctx: &Ctx, section: &str, dir: &str) -> i32 {
        print!("{}", with_newline(ctx.fault_str(section, dir).unwrap_or_default()));
        0
    }

    fn clone(ctx: &Ctx, dir: Option<&str>, args: &[&str]) -> Option<i32> {
        let mut words = Vec::new();
        let mut iter = args.iter().copied();
        while let Some(arg) = iter.next() {
            match arg {
                "--" => {
                    words.extend(iter.by_ref());
                    break;
                }
                "--recurse-submodules" | "-q" | "--quiet" | "--single-branch" | "--no-tags" => {}
                "--depth" | "--branch" | "-b" | "--origin" => {
                    iter.next()?;
                }
                _ if arg.starts_with("--depth=") || arg.starts_with("--branch=") => {}
                _ if arg.starts_with('-') => return None,
                _ => words.push(arg),
            }
        }
        let (url, dest) = match words.as_slice() {
            [url] => (*url, default_dest(url)),
            [url, dest] => (*url, (*dest).to_string()),
            _ => return None,
        };
        Some(clone_into(ctx, dir, url, &dest))
    }

    fn default_dest(url: &str) -> String {
        let last = url.trim_end_matches('/').rsplit(['/', ':']).next().unwrap_or(url);
        last.strip_suffix(".git").unwrap_or(last).to_string()
    }

    fn clone_into(ctx: &Ctx, dir: Option<&str>, url: &str, dest: &str) -> i32 {
        let base = dir.map_or_else(|| std::env::current_dir().unwrap_or_default(), PathBuf::from);
        let target = base.join(dest);
        if target.read_dir().is_ok_and(|mut d| d.next().is_some()) {
            eprintln!("fatal: destination path '{dest}' already exists and is not an empty directory.");
            return 128;
        }
        eprintln!("Cloning into '{dest}'...");
        if let Some(stderr) = ctx.fault_str("clone", url).and_then(failure) {
            eprint!("{}", with_newline(stderr));
            return 128;
        }
        let name = default_dest(url);
        let written = fs::create_dir_all(target.join(".git/refs/heads"))
            .and_then(|()| fs::write(target.join(".git/HEAD"), "ref: refs/heads/main\n"))
            .and_then(|()| fs::write(target.join(".git/refs/heads/main"), format!("{}\n", sha(url))))
            .and_then(|()| branches::write_remote_refs(ctx, &target, url))
            .and_then(|()| fs::write(target.join(".git/config"), format!("[remote \"origin\"]\n\turl = {url}\n")))
            .and_then(|()| fs::write(target.join("README.md"), format!("# {name}\n")));
        match written {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("fatal: could not create work tree dir '{dest}': {e}");
                128
            }
        }
    }

    /// Branches in a fake clone: `.git/HEAD`, `.git/refs/heads/<b>`, `.git/refs/remotes/origin/<b>`
    /// (written by clone and fetch from the remote's branches) and `.git/upstream/<b>` (the
    /// fake's record of `--set-upstream`). A remote's branches are `remote_branches[url]` when
    /// that fault names the URL, else `main` plus every branch pushed to it (kept in
    /// `$MACHINE_FAKE_ROOT/remotes/<sha of url>/`). Faults: `fetch`/`push` `{url: "fail:…"}`,
    /// `merged` `{url: [branches in the default branch]}`, `ahead_behind` `{dir: "<behind>\t<ahead>"}`.
    pub(super) mod branches {
        use super::super::{Ctx, Path, PathBuf, failure, fs, with_newline};

        pub(in super::super) fn check_ref_format(name: &str) -> i32 {
            let bad = name.is_empty()
                || name.starts_with(['-', '/', '.'])
                || name.ends_with(['/', '.'])
                || name.to_ascii_lowercase().ends_with(".lock")
                || name.contains("..")
                || name.contains("//")
                || name.contains("@{")
                || name.chars().any(|c| c.is_control() || " ~^:?*[\\".contains(c));
            if bad {
                eprintln!("fatal: '{name}' is not a valid branch name");
                return 128;
            }
            println!("{name}");
            0
        }

        pub(in super::super) fn handles(sub: &[&str]) -> bool {
            matches!(
                sub.first().copied(),
                Some("symbolic-ref" | "rev-parse" | "switch" | "fetch" | "push" | "merge-base" | "rev-list" | "remote")
            ) || matches!(sub, ["config", "--get", key] if key.starts_with("branch."))
        }

        pub(in super::super) fn run(ctx: &Ctx, repo: &Path, sub: &[&str]) -> Option<i32> {
            let git = repo.join(".git");
            Some(match sub {
                ["symbolic-ref", "--quiet", "--short", "HEAD"] => print_some(head(&git)),
                ["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"] => print_some(
                    read(&git.join("refs/remotes/origin/HEAD"))
                        .and_then(|r| r.strip_prefix("ref: refs/remotes/").map(str::to_string)),
                ),
                ["rev-parse", "--verify", "--quiet", name] => print_some(read(&git.join(name))),
                ["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"] => {
                    print_some(head(&git).and_then(|b| read(&git.join("upstream").join(b))))
                }
                ["rev-list", "--left-right", "--count", "@{upstream}...HEAD"] => {
                    let dir = repo.display().to_string();
                    println!("{}", ctx.fault_str("ahead_behind", &dir).unwrap_or("0\t0"));
                    0
                }
                ["config", "--get", key] => {
                    let branch = key.strip_prefix("branch.")?.strip_suffix(".merge")?;
                    print_some(git.join("upstream").join(branch).is_file().then(|| format!("refs/heads/{branch}")))
                }
                ["switch", "--quiet", rest @ ..] => switch(&git, rest)?,
                ["fetch", "--prune", "--quiet", "origin"] => {
                    let url = origin_url(repo)?;
                    if let Some(stderr) = ctx.fault_str("fetch", &url).and_then(failure) {
                        eprint!("{}", with_newline(stderr));
                        return Some(128);
                    }
                    let _ = fs::remove_dir_all(git.join("refs/remotes/origin"));
                    write_remote_refs(ctx, repo, &url).ok()?;
                    0
                }
                ["remote", "set-head", "origin", "--auto"] => {
                    fs::write(git.join("refs/remotes/origin/HEAD"), "ref: refs/remotes/origin/main\n").ok()?;
                    0
                }
                ["push", "--quiet", "--set-upstream", "origin", branch] => push(ctx, repo, branch)?,
                ["merge-base", "--is-ancestor", local, "refs/remotes/origin/HEAD"] => {
                    let branch = local.strip_prefix("refs/heads/")?;
                    let url = origin_url(repo)?;
                    let merged = ctx.faults.get("merged").and_then(|m| m.get(&url)).and_then(|v| v.as_array());
                    i32::from(!merged.is_some_and(|list| list.iter().any(|b| b.as_str() == Some(branch))))
                }
                _ => return None,
            })
        }

        fn read(path: &Path) -> Option<String> {
            fs::read_to_string(path).ok().map(|t| t.trim_end().to_string())
        }

        fn head(git: &Path) -> Option<String> {
            read(&git.join("HEAD"))?.strip_prefix("ref: refs/heads/").map(str::to_string)
        }

        /// Prints the value, or exits 1 without one (as `--quiet` lookups do).
        fn print_some(value: Option<String>) -> i32 {
            value.map_or(1, |v| {
                println!("{v}");
                0
            })
        }

        fn origin_url(repo: &Path) -> Option<String> {
            let text = fs::read_to_string(repo.join(".git/config")).ok()?;
            let section = text.split("[remote \"origin\"]").nth(1)?;
            section.lines().find_map(|l| l.trim().strip_prefix("url = ").map(str::to_string))
        }

        fn pushed_dir(ctx: &Ctx, url: &str) -> PathBuf {
            ctx.root.join("remotes").join(super::sha(url))
        }

        /// The branches the remote at `url` has.
        pub(in super::super) fn remote_branches(ctx: &Ctx, url: &str) -> Vec<String> {
            if let Some(list) = ctx.faults.get("remote_branches").and_then(|m| m.get(url)).and_then(|v| v.as_array()) {
                return list.iter().filter_map(|b| b.as_str().map(str::to_string)).collect();
            }
            let mut names = vec!["main".to_string()];
            let dir = pushed_dir(ctx, url);
            if let Ok(text) = fs::read_to_string(dir.join("branches")) {
                names.extend(text.lines().map(str::to_string).filter(|b| b != "main"));
            }
            names
        }

        pub(in super::super) fn write_remote_refs(ctx: &Ctx, repo: &Path, url: &str) -> std::io::Result<()> {
            let remotes = repo.join(".git/refs/remotes/origin");
            for branch in remote_branches(ctx, url) {
                let path = remotes.join(&branch);
                fs::create_dir_all(path.parent().expect("a ref has a folder"))?;
                fs::write(path, format!("{}\n", super::sha(&format!("{url}#{branch}"))))?;
            }
            fs::create_dir_all(&remotes)?;
            fs::write(remotes.join("HEAD"), "ref: refs/remotes/origin/main\n")
        }

        fn switch(git: &Path, args: &[&str]) -> Option<i32> {
            let (branch, start, track) = match args {
                [branch] => (*branch, None, false),
                ["--track", "-c", branch, start] => (*branch, Some(*start), true),
                ["--no-track", "-c", branch, start] => (*branch, Some(*start), false),
                _ => return None,
            };
            let local = git.join("refs/heads").join(branch);
            match start {
                None if !local.is_file() => {
                    eprintln!("fatal: invalid reference: {branch}");
                    return Some(128);
                }
                None => {}
                Some(_) if local.is_file() => {
                    eprintln!("fatal: a branch named '{branch}' already exists");
                    return Some(128);
                }
                Some(start) => {
                    let sha = read(&git.join("refs/remotes").join(start))?;
                    fs::create_dir_all(local.parent()?).ok()?;
                    fs::write(&local, format!("{sha}\n")).ok()?;
                    if track {
                        let upstream = git.join("upstream").join(branch);
                        fs::create_dir_all(upstream.parent()?).ok()?;
                        fs::write(upstream, format!("{start}\n")).ok()?;
                    }
                }
            }
            fs::write(git.join("HEAD"), format!("ref: refs/heads/{branch}\n")).ok()?;
            Some(0)
        }

        fn push(ctx: &Ctx, repo: &Path, branch: &str) -> Option<i32> {
            let url = origin_url(repo)?;
            if let Some(stderr) = ctx.fault_str("push", &url).and_then(failure) {
                eprint!("{}", with_newline(stderr));
                return Some(1);
            }
            let git = repo.join(".git");
            let sha = read(&git.join("refs/heads").join(branch))?;
            let dir = pushed_dir(ctx, &url);
            fs::create_dir_all(&dir).ok()?;
            let mut known = fs::read_to_string(dir.join("branches")).unwrap_or_default();
            if !known.lines().any(|b| b == branch) {
                known.push_str(&format!("{branch}\n"));
                fs::write(dir.join("branches"), known).ok()?;
            }
            let remote = git.join("refs/remotes/origin").join(branch);
            fs::create_dir_all(remote.parent()?).ok()?;
            fs::write(remote, format!("{sha}\n")).ok()?;
            let upstream = git.join("upstream").join(branch);
            fs::create_dir_all(upstream.parent()?).ok()?;
            fs::write(upstream, format!("origin/{branch}\n")).ok()?;
            Some(0)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// op (1Password CLI)

mod op {
    use super::{BTreeMap, Ctx, Value, clock, failure, unsupported, with_newline};

    pub(super) fn main(ctx: &Ctx, args: &[String]) -> i32 {
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["read", reference] => read(ctx, reference, true),
            ["read", "-n" | "--no-newline", reference] => read(ctx, reference, false),
            ["environment", "read", id] | ["environment", "read", "--", id] => environment(ctx, id),
            _ => unsupported("op", args),
        }
    }

    fn error(message: &str) -> i32 {
        let now = clock::now();
        eprintln!("[ERROR] {} {} {}", now.date("/"), now.time(), message.trim_end());
        1
    }

    fn read(ctx: &Ctx, reference: &str, newline: bool) -> i32 {
        match ctx.fault_str("op_read", reference) {
            Some(value) => {
                if let Some(message) = failure(value) {
                    return error(message);
                }
                print!("{value}{}", if newline { "\n" } else { "" });
                0
            }
            None => error(&format!("could not read secret '{reference}': the fake op has no value for it")),
        }
    }

    fn environment(ctx: &Ctx, id: &str) -> i32 {
        match ctx.fault("op_env", id) {
            Some(Value::Object(vars)) => {
                let sorted: BTreeMap<&String, &Value> = vars.iter().collect();
                for (key, value) in sorted {
                    println!("{key}={}", value.as_str().map_or_else(|| value.to_string(), str::to_string));
                }
                0
            }
            Some(Value::String(text)) => {
                if let Some(message) = failure(text) {
                    return error(message);
                }
                print!("{}", with_newline(text));
                0
            }
            _ => error(&format!("environment '{id}' was not found by the fake op")),
        }
    }
}
