//! End-to-end suite against a real Lima: the proof that `machine` works, not the fake.
//!
//! Every test here is ignored unless the suite is built with `MACHINE_E2E=1` (build.rs turns on
//! `cfg(machine_e2e)`), so a plain `cargo test` lists them as ignored instead of passing them:
//!
//! ```sh
//! MACHINE_E2E=1 MACHINE_E2E_IMAGE=/path/to/debian-12.qcow2 cargo test --test e2e -- --nocapture
//! ```
//!
//! It needs `limactl` (Lima 2.1.0 or newer) on PATH, run as a user other than root (limactl
//! refuses root), an OpenSSH server binary (`sshd`, not running) and `ssh-agent`.
//!
//! - `MACHINE_E2E_IMAGE`: a local disk image (default: the default named image, which needs the
//!   internet). `tests/e2e/build-image.sh` builds a Debian 12 one with debootstrap.
//! - `MACHINE_E2E_LIMA`: extra Lima keys as a TOML inline table, e.g.
//!   `{ caCerts = { files = ["/usr/local/share/ca-certificates/my-ca.crt"] } }`.
//! - `MACHINE_E2E_PROFILES`: comma-separated layers to add (`docker,node,gh,claude,codex` and
//!   profiles such as `rust,go`); default: the lean core-only VM, since the standard layers
//!   download from the internet.
//! - `MACHINE_E2E_CACHE`: a bake cache to keep between runs (default: a fresh one per test run,
//!   so the first test bakes).
//!
//! The suite serves a git repo over ssh from the host (an sshd on a loopback port that accepts
//! only a key held in a throwaway ssh-agent, which also holds two other keys), so a clone in the
//! guest proves the agent was forwarded. Each project's `ssh_keys` names the server's key. For a
//! zsh and a bash project it checks: the VM runs, no host directory is mounted, the environment
//! (PATH, tool settings) reaches `run` and the agent's tmux session, the git identity and signing
//! configuration, the guest's `ssh-add -l` lists only the project's key (the scoped agent), the
//! guest cannot remove the host's keys, a plain `ssh lima-<vm>` through `machine ssh-config`'s
//! `Include` forwards the scoped agent (no agent without forwarding), a commit signed through the scoped agent verifies and
//! `machine agent log` shows it and the clone's login, `run` returns
//! the guest's exit code, re-`up` is a status check, `down` + `up` keeps the clone, `destroy`
//! removes everything. Without agent forwarding, a commit in the guest works unsigned. Branch VMs
//! come from the golden disk `down` keeps (no clone), `pr` pushes the guest's commit to the host's
//! server, `reset` brings the VM back from the golden disk, and `prune` removes an unused one.
//! The credential proxy: from inside the guest, a request with the VM's token through
//! `$ANTHROPIC_BASE_URL` reaches an HTTPS upstream on the host (test CA) carrying the real
//! credential, which is nowhere in the guest. An MCP client (the SDK's, over `machine mcp`'s
//! stdio) brings a VM up, runs a command in it, reads its status and stops it. Each test prints
//! the time every step took.

mod host_git;
// The credential proxy's test upstream, shared with the fake-Lima suite.
#[allow(dead_code)]
#[path = "../it/upstream.rs"]
mod upstream;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use host_git::GitServer;

/// One VM at a time: they share the host's two cores and the bake cache.
static ONE_VM: Mutex<()> = Mutex::new(());

fn require_lima() {
    assert!(on_path("limactl"), "MACHINE_E2E=1, but limactl is not on PATH: install Lima 2.1.0 or newer");
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// A bake cache shared by the tests of one run (or kept with `MACHINE_E2E_CACHE`).
fn cache_dir() -> PathBuf {
    static RUN_CACHE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    std::env::var_os("MACHINE_E2E_CACHE").map_or_else(
        || {
            RUN_CACHE
                .get_or_init(|| tempfile::Builder::new().prefix("machine-e2e-cache-").tempdir().unwrap())
                .path()
                .into()
        },
        PathBuf::from,
    )
}

/// The VM under test, deleted whatever happens.
struct Vm {
    name: String,
    env: Vec<(String, String)>,
    dirs: tempfile::TempDir,
    timings: Vec<(String, Duration)>,
}

impl Drop for Vm {
    /// Whatever the test left: the VM, its scoped agent, and the credential proxy daemon (each
    /// test has a state dir of its own, and a daemon left running would hold the next test's port).
    fn drop(&mut self) {
        let _ = self.machine(&["destroy", "-y", &self.name]).stdin(std::process::Stdio::null()).output();
        let _ = Command::new("limactl").args(["delete", "-f", &self.name]).output();
        let _ = self.machine(&["proxy", "stop"]).output();
        eprintln!("\ne2e timings ({}):", self.name);
        for (what, took) in &self.timings {
            eprintln!("  {:>7.1}s  {what}", took.as_secs_f64());
        }
    }
}

struct Setup<'a> {
    suffix: &'a str,
    shell: &'a str,
    forward_agent: bool,
}

impl Vm {
    fn new(server: &GitServer, dirs: tempfile::TempDir, setup: &Setup<'_>) -> Self {
        let name = format!("machine-e2e-{}-{}", setup.suffix, std::process::id());
        let config_dir = dirs.path().join("config");
        std::fs::create_dir_all(&config_dir).unwrap();
        std::fs::write(config_dir.join("projects.toml"), projects_toml(&name, server, setup)).unwrap();
        let lima_home =
            std::env::var("LIMA_HOME").unwrap_or_else(|_| format!("{}/.lima", std::env::var("HOME").expect("HOME")));
        let mut env = vec![
            ("HOME".to_string(), server.home.display().to_string()),
            ("LIMA_HOME".into(), lima_home),
            ("SSH_AUTH_SOCK".into(), server.agent_socket.display().to_string()),
            ("GIT_SSH_COMMAND".into(), server.ssh_command.clone()),
            ("ONEPASS_SOCK".into(), "/dev/null".into()),
            ("MACHINE_CONFIG_DIR".into(), config_dir.display().to_string()),
            ("MACHINE_STATE_DIR".into(), dirs.path().join("state").display().to_string()),
            ("MACHINE_CACHE_DIR".into(), cache_dir().display().to_string()),
            ("GIT_NAME".into(), "E2E Tester".into()),
            ("GIT_EMAIL".into(), "e2e@example.invalid".into()),
            ("GIT_SIGNING_KEY".into(), server.public_key.clone()),
        ];
        // The agent's terminal: tmux needs a usable TERM, and machine supplies one when it is not.
        env.push(("TERM".into(), "dumb".into()));
        Self { name, env, dirs, timings: Vec::new() }
    }

    fn machine(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_machine"));
        cmd.args(args).current_dir(self.dirs.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs machine, echoing its output, and fails the test on an unexpected exit code.
    fn expect(&mut self, args: &[&str], code: i32) -> Output {
        let started = Instant::now();
        let out = self.machine(args).output().expect("machine runs");
        let took = started.elapsed();
        eprintln!("$ machine {} ({:.1}s) -> {:?}", args.join(" "), took.as_secs_f64(), out.status.code());
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(code), "machine {args:?}\nstdout: {}", String::from_utf8_lossy(&out.stdout));
        self.timings.push((format!("machine {}", args.join(" ")), took));
        out
    }

    /// `machine run NAME -- ARGV…`, returning trimmed stdout.
    fn guest(&mut self, argv: &[&str]) -> String {
        let name = self.name.clone();
        let mut args = vec!["run", name.as_str(), "--"];
        args.extend(argv);
        let out = self.expect(&args, 0);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `machine run TARGET -- ARGV…` for another VM of the project (`NAME@BRANCH`).
    fn guest_in(&mut self, target: &str, argv: &[&str]) -> String {
        let mut args = vec!["run", target, "--"];
        args.extend(argv);
        let out = self.expect(&args, 0);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A shell snippet run by `sh -c` in the guest (in the primary repo).
    fn sh(&mut self, script: &str) -> String {
        self.guest(&["sh", "-c", script])
    }

    /// Writes `content` to `~/<rel>` in the guest, executable, through `run`'s stdin.
    fn write_executable(&mut self, rel: &str, content: &str) {
        use std::io::Write as _;
        let script =
            format!("mkdir -p \"$HOME/$(dirname '{rel}')\" && cat > \"$HOME/{rel}\" && chmod +x \"$HOME/{rel}\"");
        let mut child = self
            .machine(&["run", &self.name, "--", "sh", "-c", &script])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("machine runs");
        child.stdin.take().expect("piped").write_all(content.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "writing ~/{rel} in the guest");
    }

    /// `ssh lima-<vm> ARGV…` as a person would run it from a terminal: through the `Include`
    /// that `machine ssh-config` prints, with the host's whole agent in `SSH_AUTH_SOCK`, after
    /// closing Lima's ssh master (so this connection opens the next one).
    fn plain_ssh(&mut self, argv: &[&str]) -> Output {
        use std::os::unix::fs::PermissionsExt as _;
        let include = self.expect(&["ssh-config"], 0);
        let config = self.dirs.path().join("ssh_config");
        std::fs::write(&config, &include.stdout).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        let lima_home = self.env.iter().find(|(k, _)| k == "LIMA_HOME").map(|(_, v)| v.clone()).unwrap();
        let host = format!("lima-{}", self.name);
        let lima_config = format!("{lima_home}/{}/ssh.config", self.name);
        let _ = Command::new("ssh").args(["-F", &lima_config, "-O", "exit", &host]).output();
        let started = Instant::now();
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(&config).arg(&host).args(argv);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.stdin(std::process::Stdio::null()).output().expect("ssh runs");
        eprintln!(
            "$ ssh {host} {} ({:.1}s) -> {:?}",
            argv.join(" "),
            started.elapsed().as_secs_f64(),
            out.status.code()
        );
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        self.timings.push((format!("ssh {host} {}", argv.join(" ")), started.elapsed()));
        out
    }

    fn lima_status(&self) -> Option<String> {
        // Not `--json`: one instance with a big template makes Lima 2.2's fail (see lima::LIST_FORMAT).
        let out =
            Command::new("limactl").args(["list", "--format", "{{.Name}} {{.Status}}"]).output().expect("limactl runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{} ", self.name)).map(str::to_string))
    }

    fn state_dir(&self) -> PathBuf {
        self.dirs.path().join("state")
    }

    /// `machine claude NAME` in a pseudo-terminal, as a person would start it.
    fn agent_session(&mut self) {
        let machine_bin = env!("CARGO_BIN_EXE_machine");
        let mut tty = Command::new("script");
        if cfg!(target_os = "macos") {
            tty.args(["-q", "/dev/null", machine_bin, "claude", &self.name]);
        } else {
            tty.args(["-qec", &format!("{machine_bin} claude {}", self.name), "/dev/null"]);
        }
        tty.current_dir(self.dirs.path());
        for (k, v) in &self.env {
            tty.env(k, v);
        }
        let started = Instant::now();
        let status = tty.status().expect("script(1) runs machine claude in a pseudo-terminal");
        self.timings.push(("machine claude (stub agent)".into(), started.elapsed()));
        assert!(status.success(), "machine claude exited {status}");
    }
}

/// The project: its scoped agent may use only the server's key of the three the agent holds.
fn projects_toml(name: &str, server: &GitServer, setup: &Setup<'_>) -> String {
    let mut text = format!(
        "[{name}]\nrepos = [{}]\ncpus = 2\nmemory = \"2GiB\"\nshell = \"{}\"\nforward_agent = {}\nssh_keys = [{}]\n",
        toml_string(&server.url),
        setup.shell,
        setup.forward_agent,
        toml_string(&server.fingerprint),
    );
    let wanted: Vec<String> = std::env::var("MACHINE_E2E_PROFILES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let standard = ["docker", "node", "gh", "claude", "codex"];
    let without: Vec<String> =
        standard.iter().filter(|s| !wanted.iter().any(|w| w == *s)).map(|s| toml_string(s)).collect();
    let profiles: Vec<String> =
        wanted.iter().filter(|w| !standard.contains(&w.as_str())).map(|w| toml_string(w)).collect();
    text.push_str(&format!("without = [{}]\nprofiles = [{}]\n", without.join(", "), profiles.join(", ")));
    if let Some(image) = std::env::var_os("MACHINE_E2E_IMAGE") {
        text.push_str(&format!("image = {}\n", toml_string(&PathBuf::from(image).display().to_string())));
    }
    if let Ok(lima) = std::env::var("MACHINE_E2E_LIMA") {
        text.push_str(&format!("lima = {lima}\n"));
    }
    text
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What every layer's environment snippet must put into a shell, given which snippets this VM
/// has; `machine-e2e.sh` is the suite's own, proving any new snippet is read.
fn expected_environment(snippets: &str, home: &str) -> Vec<(String, &'static str)> {
    let mut expected = vec![
        (format!("PATH has {home}/.local/bin"), "machine-path.sh"),
        ("PATH has /opt/machine-e2e/bin".into(), "machine-e2e.sh"),
        ("MACHINE_E2E_MARK=snippet-read".into(), "machine-e2e.sh"),
        (format!("PATH has {home}/.cargo/bin"), "machine-rust.sh"),
        ("PATH has /usr/local/go/bin".into(), "machine-go.sh"),
        ("COREPACK_ENABLE_DOWNLOAD_PROMPT=0".into(), "machine-node.sh"),
    ];
    expected.retain(|(_, snippet)| snippets.lines().any(|l| l.ends_with(snippet)));
    expected
}

/// The facts `expected_environment` speaks of, as one shell prints them.
// (No word splitting: zsh does not split `$PATH` on IFS as sh does.)
const ENVIRONMENT_REPORT: &str = r#"printf '%s\n' "$PATH" | tr ':' '\n' | sed 's/^/PATH has /'; echo "MACHINE_E2E_MARK=${MACHINE_E2E_MARK:-}"; echo "COREPACK_ENABLE_DOWNLOAD_PROMPT=${COREPACK_ENABLE_DOWNLOAD_PROMPT:-}""#;

fn assert_environment(report: &str, expected: &[(String, &str)], context: &str) {
    for (line, snippet) in expected {
        assert!(report.lines().any(|l| l == line), "{context}: `{line}` (from {snippet}) is missing:\n{report}");
    }
}

/// A zsh or bash project's VM, from `up` to `destroy`.
fn project_vm_lifecycle(shell: &str) {
    require_lima();
    let _one = ONE_VM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dirs = tempfile::Builder::new().prefix("machine-e2e-").tempdir().expect("a temp dir");
    let server = GitServer::start(dirs.path()).expect("the host's git-over-ssh server starts");
    let mut vm = Vm::new(&server, dirs, &Setup { suffix: shell, shell, forward_agent: true });
    let name = vm.name.clone();

    // The VM runs, with the repo cloned through the forwarded agent.
    vm.expect(&["up", &name], 0);
    assert_eq!(vm.lima_status().as_deref(), Some("Running"));
    let top = vm.guest(&["git", "rev-parse", "--show-toplevel"]);
    assert!(top.ends_with("/code/repo"), "run opens in the primary repo: {top}");
    assert_eq!(vm.guest(&["git", "log", "-1", "--format=%s"]), "initial commit from the host");
    let home = vm.sh("printf %s \"$HOME\"");
    assert_eq!(vm.sh("getent passwd \"$(id -un)\" | cut -d: -f7"), format!("/usr/bin/{shell}"), "the login shell");

    // No host directory is mounted.
    let mounts = vm.guest(&["cat", "/proc/mounts"]);
    for fs in ["9p", "virtiofs", "fuse.sshfs", "sshfs"] {
        assert!(!mounts.lines().any(|l| l.split_whitespace().nth(2) == Some(fs)), "a {fs} mount:\n{mounts}");
    }

    // The environment reaches `run` (a login shell that is not interactive) in the project's shell.
    // Idempotent, as machine's own snippets are: shells read the environment more than once.
    vm.sh("printf 'export MACHINE_E2E_MARK=snippet-read\\ncase \":$PATH:\" in *:/opt/machine-e2e/bin:*) ;; \
         *) PATH=\"$PATH:/opt/machine-e2e/bin\" ;; esac\\n' | sudo tee /etc/profile.d/machine-e2e.sh >/dev/null");
    let snippets = vm.sh("ls /etc/profile.d/machine-*.sh");
    let expected = expected_environment(&snippets, &home);
    let report = vm.guest(&[shell, "-c", ENVIRONMENT_REPORT]);
    assert_environment(&report, &expected, &format!("`machine run` ({shell})"));
    let report = vm.sh(ENVIRONMENT_REPORT);
    assert_environment(&report, &expected, "`machine run` (sh started from the login shell)");

    // The guest's git identity and signing configuration.
    assert_eq!(vm.guest(&["git", "config", "--global", "user.name"]), "E2E Tester");
    assert_eq!(vm.guest(&["git", "config", "--global", "user.email"]), "e2e@example.invalid");
    assert_eq!(vm.guest(&["git", "config", "--global", "gpg.format"]), "ssh");
    assert_eq!(vm.guest(&["git", "config", "--global", "commit.gpgsign"]), "true");
    assert_eq!(vm.guest(&["git", "config", "--global", "user.signingkey"]), server.public_key);

    assert_only_the_project_key(&mut vm, &server);

    // A commit made in the guest is signed through the scoped agent and verifies.
    vm.guest(&["git", "commit", "--allow-empty", "-m", "signed in the guest"]);
    let verify = vm.machine(&["run", &name, "--", "git", "verify-commit", "HEAD"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(
        String::from_utf8_lossy(&verify.stderr).contains("Good \"git\" signature"),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // The scoped agent logged the clone's login and the commit's signature.
    let log = vm.expect(&["agent", "log", &name, "--json"], 0);
    let entries: Vec<serde_json::Value> =
        String::from_utf8_lossy(&log.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let signed = |kind: &str| {
        entries
            .iter()
            .any(|e| e["decision"] == "signed" && e["kind"] == kind && e["key"] == server.fingerprint.as_str())
    };
    assert!(signed("ssh-auth"), "the clone's ssh login is logged: {entries:#?}");
    assert!(
        entries.iter().any(|e| e["decision"] == "signed" && e["namespace"] == "git"),
        "the commit's signature: {entries:#?}"
    );
    assert!(
        entries.iter().any(|e| e["request"] == "remove-all-identities" && e["decision"] == "refused"),
        "{entries:#?}"
    );

    // `run` returns the guest's exit code.
    vm.expect(&["run", &name, "--", "sh", "-c", "exit 7"], 7);

    // The agent's tmux session, with a stub agent that reports where it ran and what it saw.
    vm.write_executable(
        ".local/bin/claude",
        &format!("#!/bin/sh\n{{ pwd; {ENVIRONMENT_REPORT}; }} > \"$HOME/stub-agent-ran\"\n"),
    );
    vm.agent_session();
    let ran = vm.sh("cat \"$HOME/stub-agent-ran\"");
    assert!(
        ran.lines().next().is_some_and(|l| l.ends_with("/code/repo")),
        "the agent starts in the primary repo: {ran}"
    );
    assert_environment(&ran, &expected, "the agent's tmux session");
    assert_eq!(
        vm.machine(&["run", &name, "--", "tmux", "has-session", "-t", "claude"]).status().unwrap().code(),
        Some(1),
        "the session ends with the agent"
    );

    // Re-`up` is a status check: it runs nothing but `limactl list` (and reads the identity).
    let again = vm.expect(&["-v", "up", &name], 0);
    let ran: Vec<String> =
        String::from_utf8_lossy(&again.stderr).lines().filter(|l| l.starts_with("$ ")).map(String::from).collect();
    assert!(
        ran.iter().all(|l| l.contains("limactl list") || l.contains("git config")),
        "re-up ran more than a status check: {ran:?}"
    );

    // `down` + `up` keeps the clone and the guest's own commit.
    vm.expect(&["down", &name], 0);
    assert_eq!(vm.lima_status().as_deref(), Some("Stopped"));
    vm.expect(&["up", &name], 0);
    assert_eq!(vm.guest(&["git", "log", "-1", "--format=%s"]), "signed in the guest");
    // The restart keeps the ssh master Lima opened at boot: it forwards the scoped agent, and
    // its sessions run the VM's login shell.
    let keys = vm.guest(&["ssh-add", "-l"]);
    assert_eq!(keys.lines().count(), 1, "after a restart the scoped agent lists one key: {keys}");
    assert!(keys.contains(&server.fingerprint), "{keys}");
    assert_eq!(vm.sh("printf %s \"$SHELL\""), format!("/usr/bin/{shell}"), "the login shell after a restart");

    // `destroy` removes the VM and what machine stored for it.
    vm.expect(&["destroy", "-y", &name], 0);
    assert_eq!(vm.lima_status(), None);
    assert!(!vm.state_dir().join(&name).exists());
    drop(vm);
    drop(server);
}

/// The guest sees only the project's key of the three the host's agent holds, and cannot
/// remove them; so does a plain `ssh lima-<vm>` from a terminal whose agent holds all three, and
/// the master it opens serves what follows (the commit's signature in the lifecycle test).
fn assert_only_the_project_key(vm: &mut Vm, server: &GitServer) {
    let name = vm.name.clone();
    let host_keys = Command::new("ssh-add").arg("-l").env("SSH_AUTH_SOCK", &server.agent_socket).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&host_keys.stdout).lines().count(), 3, "the host's agent holds three keys");
    let guest_keys = vm.guest(&["ssh-add", "-l"]);
    assert_eq!(guest_keys.lines().count(), 1, "the scoped agent lists one key: {guest_keys}");
    assert!(guest_keys.contains(&server.fingerprint), "{guest_keys}");
    let refused = vm.machine(&["run", &name, "--", "ssh-add", "-D"]).output().unwrap();
    assert!(!refused.status.success(), "the guest cannot remove the host's keys");
    let plain = vm.plain_ssh(&["ssh-add", "-l"]);
    let listed = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.status.success(), "{listed}");
    assert_eq!(listed.lines().count(), 1, "plain ssh forwards the scoped agent: {listed}");
    assert!(listed.contains(&server.fingerprint), "{listed}");
}

#[test]
#[cfg_attr(not(machine_e2e), ignore = "needs a real Lima: MACHINE_E2E=1 cargo test --test e2e (see tests/e2e/main.rs)")]
fn a_zsh_project_from_up_to_destroy() {
    project_vm_lifecycle("zsh");
}

#[test]
#[cfg_attr(not(machine_e2e), ignore = "needs a real Lima: MACHINE_E2E=1 cargo test --test e2e (see tests/e2e/main.rs)")]
fn a_bash_project_from_up_to_destroy() {
    project_vm_lifecycle("bash");
}

/// With `forward_agent = false` the VM has no agent: the clone fails with a warning, and a
/// commit made in the guest works, unsigned.
#[test]
#[cfg_attr(not(machine_e2e), ignore = "needs a real Lima: MACHINE_E2E=1 cargo test --test e2e (see tests/e2e/main.rs)")]
fn without_agent_forwarding_commits_work_unsigned() {
    require_lima();
    let _one = ONE_VM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dirs = tempfile::Builder::new().prefix("machine-e2e-").tempdir().expect("a temp dir");
    let server = GitServer::start(dirs.path()).expect("the host's git-over-ssh server starts");
    let mut vm = Vm::new(&server, dirs, &Setup { suffix: "noagent", shell: "bash", forward_agent: false });
    let name = vm.name.clone();
    let up = vm.expect(&["up", &name], 0);
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(err.contains("agent forwarding is off for this project"), "{err}");
    assert_eq!(vm.machine(&["run", &name, "--", "ssh-add", "-l"]).status().unwrap().code(), Some(2), "no agent");
    let plain = vm.plain_ssh(&["ssh-add", "-l"]);
    assert_eq!(plain.status.code(), Some(2), "a plain `ssh lima-<vm>` forwards no agent either");
    let unset = vm.machine(&["run", &name, "--", "git", "config", "--global", "commit.gpgsign"]).output().unwrap();
    assert!(!unset.status.success(), "commit.gpgsign is not set: {}", String::from_utf8_lossy(&unset.stdout));
    let log = vm
        .sh("git init -q \"$HOME/scratch\" && cd \"$HOME/scratch\" && git commit -q --allow-empty -m unsigned \
         && git log -1 --format='%s %G?'");
    assert_eq!(log, "unsigned N", "the commit is made, and unsigned");
    vm.expect(&["destroy", "-y", &name], 0);
    drop(vm);
    drop(server);
}

/// The many-VM workflow: a golden disk, a branch VM from it, a push by `pr`, `status`,
/// `reset` and `prune`.
#[test]
#[cfg_attr(not(machine_e2e), ignore = "needs a real Lima: MACHINE_E2E=1 cargo test --test e2e (see tests/e2e/main.rs)")]
fn branch_vms_from_the_golden_disk() {
    require_lima();
    let _one = ONE_VM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dirs = tempfile::Builder::new().prefix("machine-e2e-").tempdir().expect("a temp dir");
    let server = GitServer::start(dirs.path()).expect("the host's git-over-ssh server starts");
    let mut vm = Vm::new(&server, dirs, &Setup { suffix: "branch", shell: "bash", forward_agent: true });
    let name = vm.name.clone();
    vm.expect(&["up", &name], 0);
    // `snapshot` of the running VM: stopped for the copy, then booted again with its
    // provisioning checked as `up` checks it; `down` then finds the golden disk made.
    let snapshot = vm.expect(&["snapshot", &name], 0);
    let said = String::from_utf8_lossy(&snapshot.stderr);
    assert!(said.contains("keeping a golden disk") && said.contains("starting and provisioning"), "{said}");
    assert_eq!(vm.sh("printf %s \"$SHELL\""), "/usr/bin/bash", "the VM runs again, with its login shell");
    let keys = vm.guest(&["ssh-add", "-l"]);
    assert_eq!(keys.lines().count(), 1, "after the snapshot's restart the scoped agent lists one key: {keys}");
    let down = vm.expect(&["down", &name], 0);
    assert!(!String::from_utf8_lossy(&down.stderr).contains("keeping a golden disk"), "one golden disk");

    // A branch VM from the golden disk: provisioned, the repo there, no clone.
    let spec = format!("{name}@feature/e2e");
    let branch_instance = machine::compiler::instance::branch_instance(&name, "feature/e2e");
    let _cleanup = Cleanup(branch_instance.clone());
    let up = vm.expect(&["-v", "up", &spec], 0);
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(!err.contains("machine-guest clone"), "a branch VM from the golden disk clones nothing:\n{err}");
    assert!(err.contains("feature/e2e is a new branch"), "{err}");
    let on = vm.guest_in(&spec, &["git", "rev-parse", "--abbrev-ref", "HEAD"]);
    assert_eq!(on, "feature/e2e");
    assert_eq!(vm.guest_in(&spec, &["git", "log", "-1", "--format=%s"]), "initial commit from the host");

    // A commit in the branch VM reaches the host's server by `pr`'s push (no gh for this host).
    vm.guest_in(&spec, &["git", "commit", "--allow-empty", "-m", "made in the branch VM"]);
    let pr = vm.expect(&["pr", &spec], 0);
    assert!(
        String::from_utf8_lossy(&pr.stdout).contains("pushed feature/e2e"),
        "{}",
        String::from_utf8_lossy(&pr.stdout)
    );
    let pushed = Command::new("git")
        .arg("-C")
        .arg(&server.repo)
        .args(["log", "-1", "--format=%s", "feature/e2e"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&pushed.stdout).trim(),
        "made in the branch VM",
        "the host's server has the commit"
    );

    // status reports the branch, tracking, clean.
    let status = vm.expect(&["status", &spec, "--json"], 0);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let repo = &json["vms"][0]["guest"]["repos"][0];
    assert_eq!(repo["branch"], "feature/e2e", "{json}");
    assert_eq!(repo["upstream"], "origin/feature/e2e", "{json}");
    assert_eq!((repo["ahead"].as_u64(), repo["dirty"].as_bool()), (Some(0), Some(false)), "{json}");
    assert_eq!(json["vms"][0]["guest"]["agent"], "keys 1", "{json}");

    // reset: a file of the VM's own goes; the pushed branch comes back from the remote.
    vm.guest_in(&spec, &["sh", "-c", "echo scratch > scratch.txt"]);
    vm.expect(&["reset", &spec, "-y"], 0);
    assert_eq!(vm.guest_in(&spec, &["sh", "-c", "ls scratch.txt 2>/dev/null || echo gone"]), "gone");
    assert_eq!(vm.guest_in(&spec, &["git", "log", "-1", "--format=%s"]), "made in the branch VM");

    // prune removes a branch VM nobody used for long enough.
    let state = vm.state_dir().join(&branch_instance);
    std::fs::write(state.join("last-used"), "1").unwrap();
    vm.expect(&["prune", "-y"], 0);
    let listed = Command::new("limactl").args(["list", "-q"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).lines().any(|l| l == branch_instance), "the branch VM is gone");
    vm.expect(&["destroy", "-y", &name], 0);
    drop(vm);
    drop(server);
}

/// Deletes a Lima instance at the end of a test, whatever happened.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("limactl").args(["delete", "-f", &self.0]).output();
    }
}

/// The host half of the suite: the repo is reachable through the ssh alias with the agent's
/// key, and without the agent it is not.
#[test]
#[cfg_attr(not(machine_e2e), ignore = "needs sshd and ssh-agent: MACHINE_E2E=1 cargo test --test e2e")]
fn the_host_git_server_accepts_only_the_agent_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = GitServer::start(dir.path()).expect("the server starts");
    let ls_remote = |agent: &Path| {
        Command::new("git")
            .args(["ls-remote", &server.url, "HEAD"])
            .env("HOME", &server.home)
            .env("SSH_AUTH_SOCK", agent)
            .env(
                "GIT_SSH_COMMAND",
                format!("{} -o BatchMode=yes -o ConnectTimeout=5 -o IdentityFile=/dev/null", server.ssh_command),
            )
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .unwrap()
    };
    assert!(server.fingerprint.starts_with("SHA256:"), "{}", server.fingerprint);
    let with = ls_remote(&server.agent_socket);
    assert!(with.status.success(), "{}", String::from_utf8_lossy(&with.stderr));
    assert!(String::from_utf8_lossy(&with.stdout).contains("HEAD"));
    let without = ls_remote(&dir.path().join("no-agent.sock"));
    assert!(!without.status.success(), "the server must refuse a client without the agent's key");
}

/// From inside a real guest, `host.lima.internal` is the host's loopback: a request with the
/// VM's token reaches the provider (an HTTPS test upstream on the host) with the credential
/// that only the host holds.
#[test]
#[cfg_attr(not(machine_e2e), ignore = "needs a real Lima: MACHINE_E2E=1 cargo test --test e2e (see tests/e2e/main.rs)")]
fn the_guest_reaches_the_api_through_the_proxy_and_holds_no_credential() {
    require_lima();
    let _one = ONE_VM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dirs = tempfile::Builder::new().prefix("machine-e2e-").tempdir().expect("a temp dir");
    let server = GitServer::start(dirs.path()).expect("the host's git-over-ssh server starts");
    let upstream = upstream::Upstream::start();
    let mut vm = Vm::new(&server, dirs, &Setup { suffix: "proxy", shell: "bash", forward_agent: true });
    let name = vm.name.clone();
    let config = vm.dirs.path().join("config");
    std::fs::write(config.join("ca.pem"), &upstream.ca_pem).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut projects = std::fs::read_to_string(config.join("projects.toml")).unwrap();
    projects.push_str(&format!(
        "\n[proxy]\nport = {port}\nca_file = \"ca.pem\"\n\n[proxy.anthropic]\nupstream = \"{0}\"\ncredential_keychain = false\ncredential_file = false\n\n[proxy.openai]\nupstream = \"{0}/v1\"\ncredential_file = false\n",
        upstream.url()
    ));
    std::fs::write(config.join("projects.toml"), projects).unwrap();
    // A canary no guest file may hold: the test's fake credential, in machine's environment only.
    let canary = format!("canary{}x{}", std::process::id(), port);
    let real = format!("sk-ant-api03-e2e-{canary}");
    vm.env.push(("ANTHROPIC_API_KEY".into(), real.clone()));
    vm.env.push(("OPENAI_API_KEY".into(), format!("sk-proj-e2e-{canary}")));
    vm.expect(&["up", &name], 0);

    let base = vm.guest(&["printenv", "ANTHROPIC_BASE_URL"]);
    assert_eq!(base, format!("http://host.lima.internal:{port}/anthropic"));
    let answer = vm.sh(
        "curl -sS --max-time 60 -H \"Authorization: Bearer $ANTHROPIC_AUTH_TOKEN\" -H 'content-type: application/json' \
         -d '{\"model\":\"claude\",\"max_tokens\":1,\"messages\":[]}' \"$ANTHROPIC_BASE_URL/v1/messages\"",
    );
    assert_eq!(answer, r#"{"echo":"/v1/messages"}"#, "the upstream's answer came back to the guest");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].header("x-api-key"), Some(real.as_str()), "the real credential arrived upstream");
    let token = vm.guest(&["printenv", "ANTHROPIC_AUTH_TOKEN"]);
    assert!(token.starts_with("machine-proxy-"), "{token}");
    assert!(!seen[0].all_text().contains(&token), "the VM's token did not");
    let refused =
        vm.sh("curl -s -o /dev/null -w '%{http_code}' -H 'x-api-key: guessed' \"$ANTHROPIC_BASE_URL/v1/messages\"");
    assert_eq!(refused, "401");
    assert_eq!(upstream.seen().len(), 1, "the refused request never reached the upstream");

    // Codex's route: its system config (written through sudo) names the proxy and the
    // token's variable; a request as Codex makes it reaches OpenAI's upstream with its key.
    let codex = vm.guest(&["cat", "/etc/codex/config.toml"]);
    let codex_url = format!("http://host.lima.internal:{port}/openai");
    assert!(codex.contains(&format!("base_url = \"{codex_url}\"")), "{codex}");
    assert!(codex.contains("env_key = \"OPENAI_API_KEY\""), "{codex}");
    let answer = vm.sh(&format!(
        "curl -sS --max-time 60 -H \"Authorization: Bearer $OPENAI_API_KEY\" -d '{{}}' {codex_url}/responses"
    ));
    assert_eq!(answer, r#"{"echo":"/v1/responses"}"#);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].header("authorization"), Some(format!("Bearer sk-proj-e2e-{canary}").as_str()));

    // The guest holds no credential: not in its environment, not in any file machine could
    // have written (tmpfs included).
    let env = vm.guest(&["env"]);
    assert!(!env.contains(&canary), "the guest's environment holds the credential");
    // The canary in halves, joined on grep's stdin: in one piece it would be in sudo's argv,
    // which the guest's journal records.
    let (head, tail) = canary.split_at(canary.len() / 2);
    let found = vm.sh(&format!(
        "printf %s%s {head} {tail} | sudo grep -rlF -f - /etc /home /root /run /tmp /var /usr/local /opt 2>/dev/null; true"
    ));
    assert_eq!(found, "", "guest files holding the credential");
    let log = vm.expect(&["proxy", "log", &name], 0);
    let log = String::from_utf8_lossy(&log.stdout).into_owned();
    assert!(log.contains(&format!("{name} anthropic POST /anthropic/v1/messages 200")), "{log}");
    // A refused token names no VM: the refusal is in the log of all VMs, as `-`.
    assert!(!log.contains(" 401 "), "{log}");
    let all = vm.expect(&["proxy", "log"], 0);
    let all = String::from_utf8_lossy(&all.stdout).into_owned();
    assert!(all.contains(" - anthropic GET /anthropic/v1/messages 401 "), "{all}");
    vm.expect(&["destroy", "-y", &name], 0);
    vm.expect(&["proxy", "stop"], 0);
    drop(vm);
    drop(server);
}

/// `machine mcp`, driven by the MCP SDK's client over a real stdio pipe, brings a real VM up,
/// runs a command in it, reports its status and stops it.
#[test]
#[cfg_attr(not(machine_e2e), ignore = "needs a real Lima: MACHINE_E2E=1 cargo test --test e2e (see tests/e2e/main.rs)")]
fn an_mcp_client_drives_a_real_vm() {
    use rmcp::ServiceExt as _;
    use rmcp::model::CallToolRequestParams;
    use serde_json::{Value, json};

    require_lima();
    let _one = ONE_VM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dirs = tempfile::Builder::new().prefix("machine-e2e-").tempdir().expect("a temp dir");
    let server = GitServer::start(dirs.path()).expect("the host's git-over-ssh server starts");
    let vm = Vm::new(&server, dirs, &Setup { suffix: "mcp", shell: "bash", forward_agent: true });
    let name = vm.name.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut cmd = vm.machine(&["mcp"]);
        cmd.stderr(std::process::Stdio::inherit());
        let transport = rmcp::transport::TokioChildProcess::new(tokio::process::Command::from(cmd)).unwrap();
        let client = ().serve(transport).await.expect("the MCP handshake");
        let call = |tool: &'static str, args: Value| {
            let Value::Object(args) = args else { unreachable!() };
            let started = Instant::now();
            let request = client.call_tool(CallToolRequestParams::new(tool).with_arguments(args));
            async move {
                let result = request.await.expect("an answer");
                eprintln!("mcp {tool}: {:.1}s", started.elapsed().as_secs_f64());
                assert_ne!(result.is_error, Some(true), "{tool}: {:?}", result.content);
                result.structured_content.expect("a structured result")
            }
        };
        let up = call("up", json!({ "project": name })).await;
        assert!(up["summary"].as_str().unwrap().contains("is ready"), "{up}");
        let ran = call("run", json!({ "project": name, "argv": ["sh", "-c", "git log -1 --format=%s; exit 3"] })).await;
        assert_eq!(ran["exit_code"], 3, "{ran}");
        assert_eq!(ran["stdout"], "initial commit from the host\n", "{ran}");
        let status = call("status", json!({ "project": name })).await;
        assert_eq!(status["vm"]["state"], "Running", "{status}");
        let down = call("down", json!({ "project": name })).await;
        assert_eq!((down["stopped"].as_bool(), down["status"].as_str()), (Some(true), Some("Stopped")), "{down}");
        let _ = client.cancel().await;
    });
    drop(vm);
    drop(server);
}
