//! A hermetic world for commands that drive `limactl`, `ssh`, `ssh-add`, `git` and `op`.
//!
//! `FakeEnv::new()` makes a temp root with `bin/` (symlinks to the `fake_tool` example, see
//! `examples/fake_tool.rs` for what each fake does and the `faults.json` schema), `lima/` (`LIMA_HOME`),
//! `home/`, `guest-bin/` (first on the fake guests' PATH) and `tpl/` (templates tests write).
//! Commands built by [`FakeEnv::command`] and [`FakeEnv::machine`] see only that world.

use std::path::{Path, PathBuf};
use std::sync::Once;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// The programs faked by the `fake_tool` example.
pub(crate) const TOOLS: [&str; 5] = ["limactl", "ssh", "ssh-add", "git", "op"];

pub(crate) struct FakeEnv {
    pub(crate) root: TempDir,
}

impl FakeEnv {
    pub(crate) fn new() -> Self {
        let root = tempfile::Builder::new().prefix("fake").tempdir().expect("a temp dir");
        let env = Self { root };
        let binary = fake_binary();
        std::fs::create_dir_all(env.bin()).unwrap();
        for tool in TOOLS {
            std::os::unix::fs::symlink(&binary, env.bin().join(tool)).unwrap();
        }
        for dir in [env.lima_home(), env.home(), env.guest_bin(), env.templates()] {
            std::fs::create_dir_all(dir).unwrap();
        }
        env.guest_tools();
        env
    }

    /// The fake guest runs the real `machine-guest`; `sudo` and `tmux` are stubs that log their
    /// argv to `guest-tools.log`, so nothing privileged or interactive ever runs on the host
    /// (`sudo -n tail …` is passed through for `machine-guest log`).
    fn guest_tools(&self) {
        use std::os::unix::fs::PermissionsExt as _;
        // A copy, not a symlink: a test writing into guest-bin must never reach the repo's file.
        let helper = crate::support::guest_dir().join("files/machine-guest");
        let installed = self.guest_bin().join("machine-guest");
        std::fs::copy(helper, &installed).unwrap();
        std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = self.path().join("guest-tools.log");
        for (tool, body) in [
            ("sudo", "[ \"$1\" = -n ] && shift\ncase \"$1\" in tail) exec \"$@\" ;; esac\nexit 0\n"),
            ("tmux", "exit 0\n"),
        ] {
            let path = self.guest_bin().join(tool);
            let script = format!("#!/bin/sh\necho \"{tool} $*\" >> '{}'\n{body}", log.display());
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// What the stubbed guest `sudo` and `tmux` were asked to do.
    pub(crate) fn guest_tools_log(&self) -> String {
        std::fs::read_to_string(self.path().join("guest-tools.log")).unwrap_or_default()
    }

    pub(crate) fn path(&self) -> &Path {
        self.root.path()
    }

    pub(crate) fn bin(&self) -> PathBuf {
        self.path().join("bin")
    }

    pub(crate) fn lima_home(&self) -> PathBuf {
        self.path().join("lima")
    }

    pub(crate) fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    pub(crate) fn guest_bin(&self) -> PathBuf {
        self.path().join("guest-bin")
    }

    pub(crate) fn templates(&self) -> PathBuf {
        self.path().join("tpl")
    }

    /// Writes `faults.json` (replacing any earlier one); the schema is in `examples/fake_tool.rs`.
    pub(crate) fn faults(&self, json: impl Into<Value>) {
        let json: Value = json.into();
        std::fs::write(self.path().join("faults.json"), json.to_string()).unwrap();
    }

    /// Writes the host's `~/.gitconfig` with these `user.*` keys (machine reads it itself; the
    /// fake git answers only when machine leaves the file to git).
    pub(crate) fn git_identity(&self, keys: &[(&str, &str)]) {
        let mut text = String::from("[user]\n");
        for (key, value) in keys {
            let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
            text.push_str(&format!("\t{key} = \"{quoted}\"\n"));
        }
        std::fs::create_dir_all(self.home()).unwrap();
        std::fs::write(self.home().join(".gitconfig"), text).unwrap();
    }

    /// Every call the fakes recorded, oldest first.
    pub(crate) fn calls(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path().join("calls.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
    }

    /// One `tool arg…` line per call (shell-quoted, root paths as `<root>`; calls made inside a
    /// fake guest start with `[guest N]`), for snapshots.
    pub(crate) fn calls_text(&self) -> String {
        let root = self.path().display().to_string();
        let line = |call: &Value| {
            // machine's list format is long and the same in every call: named, not spelled out.
            let words: Vec<String> = std::iter::once(&call["tool"])
                .chain(call["args"].as_array().into_iter().flatten())
                .map(|w| w.as_str().unwrap_or_default())
                .map(|w| {
                    if w == machine::driver::lima::LIST_FORMAT {
                        "<LIST_FORMAT>".to_string()
                    } else {
                        quote(&w.replace(&root, "<root>"))
                    }
                })
                .collect();
            let prefix = call["guest"].as_str().map(|g| format!("[guest {g}] ")).unwrap_or_default();
            format!("{prefix}{}\n", words.join(" "))
        };
        self.calls().iter().map(line).collect()
    }

    /// Forgets the calls recorded so far.
    pub(crate) fn clear_calls(&self) {
        let _ = std::fs::remove_file(self.path().join("calls.jsonl"));
    }

    /// `program` (a faked tool, or anything on PATH) with the hermetic environment, run in `home/`.
    pub(crate) fn command(&self, program: &str) -> Command {
        let path = if TOOLS.contains(&program) { self.bin().join(program) } else { PathBuf::from(program) };
        let mut cmd = Command::new(path);
        self.hermetic(&mut cmd);
        cmd
    }

    /// The `machine` binary with the hermetic environment.
    pub(crate) fn machine(&self) -> Command {
        let mut cmd = Command::cargo_bin("machine").unwrap();
        self.hermetic(&mut cmd);
        cmd
    }

    /// The `machine` binary with the hermetic environment, as a plain process (for clients that
    /// spawn it themselves, such as the MCP tests').
    pub(crate) fn machine_process(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("machine"));
        cmd.env_clear().current_dir(self.home());
        for (key, value) in self.hermetic_env() {
            cmd.env(key, value);
        }
        cmd
    }

    fn hermetic(&self, cmd: &mut Command) {
        cmd.env_clear().current_dir(self.home());
        for (key, value) in self.hermetic_env() {
            cmd.env(key, value);
        }
    }

    /// The whole environment of a hermetic command: the fakes first on PATH, every folder in the
    /// temp root.
    fn hermetic_env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let system_path = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(std::iter::once(self.bin()).chain(std::env::split_paths(&system_path))).unwrap();
        vec![
            ("PATH", path),
            ("HOME", self.home().into()),
            ("LIMA_HOME", self.lima_home().into()),
            ("MACHINE_FAKE_ROOT", self.path().into()),
            ("MACHINE_STATE_DIR", self.path().join("state").into()),
            ("MACHINE_CONFIG_DIR", self.path().join("config").into()),
            ("MACHINE_CACHE_DIR", self.path().join("cache").into()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            // A daemon on a fixed port per test would collide: the proxy tests turn it back on.
            ("MACHINE_CREDENTIAL_PROXY", "off".into()),
        ]
    }

    /// `Running`/`Stopped`, or `None` when the instance does not exist.
    pub(crate) fn instance_status(&self, name: &str) -> Option<String> {
        let dir = self.lima_home().join(name);
        if !dir.join("lima.yaml").is_file() {
            return None;
        }
        Some(std::fs::read_to_string(dir.join("fake-status")).unwrap_or_default().trim().to_string())
    }

    /// The fake guest's home folder (`HOME` inside `limactl shell`).
    pub(crate) fn guest_home(&self, name: &str) -> PathBuf {
        self.path().join("guests").join(name).join("home")
    }

    /// The fake guest's `/` (`MACHINE_ROOT` inside `limactl shell`).
    pub(crate) fn guest_root(&self, name: &str) -> PathBuf {
        self.path().join("guests").join(name).join("root")
    }

    /// Writes `rel` under the guest's `/` (e.g. `run/machine/failed/docker`).
    pub(crate) fn write_guest_file(&self, name: &str, rel: &str, text: &str) {
        let path = self.guest_root(name).join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Writes `tpl/<rel>` and returns its path.
    pub(crate) fn write_template(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.templates().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Creates instance `name` from a one-image template, and starts it when `running`.
    pub(crate) fn given_instance(&self, name: &str, running: bool) {
        let template = self.write_template(&format!("{name}.yaml"), DEMO_TEMPLATE);
        self.command("limactl")
            .args(["create", "--tty=false", &format!("--name={name}")])
            .arg(template)
            .assert()
            .success();
        if running {
            self.command("limactl").args(["start", "--tty=false", name]).assert().success();
        }
    }
}

/// The transcripts' `demo.yaml`.
pub(crate) const DEMO_TEMPLATE: &str =
    "images:\n- location: /home/dev/images/debian-12-lab-efi.qcow2\n  arch: x86_64\n";

fn quote(word: &str) -> String {
    let plain = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%<>".contains(&b));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// `target/<profile>/examples/fake_tool`. `cargo test` builds it, but `cargo test --test it` does
/// not, so it is built once here when missing or older than its source.
fn fake_binary() -> PathBuf {
    static BUILD: Once = Once::new();
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join("examples").join("fake_tool");
    BUILD.call_once(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fake_tool.rs");
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if modified(&binary) < modified(&source) {
            build_fake(profile_dir);
        }
    });
    assert!(binary.is_file(), "{} is missing", binary.display());
    binary
}

fn build_fake(profile_dir: &Path) {
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(name) => name,
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--example", "fake_tool", "--profile", profile, "--target-dir"])
        .arg(profile_dir.parent().unwrap())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build --example fake_tool");
    assert!(status.success(), "cargo build --example fake_tool failed");
}

/// The signing key of the git identity the lifecycle tests run machine with.
pub(crate) const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ada@laptop";

/// That identity, and no 1Password agent.
pub(crate) const IDENTITY: [(&str, &str); 4] = [
    ("GIT_NAME", "Ada Lovelace"),
    ("GIT_EMAIL", "ada@example.com"),
    ("GIT_SIGNING_KEY", KEY),
    ("ONEPASS_SOCK", "/dev/null"),
];

/// A fake world whose projects.toml is `projects`.
pub(crate) fn env_with(projects: &str) -> FakeEnv {
    let env = FakeEnv::new();
    let config = env.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("projects.toml"), projects).unwrap();
    env
}

/// `machine` in `env`, with [`IDENTITY`].
pub(crate) fn machine(env: &FakeEnv) -> assert_cmd::Command {
    let mut cmd = env.machine();
    cmd.envs(IDENTITY);
    cmd
}

pub(crate) fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
