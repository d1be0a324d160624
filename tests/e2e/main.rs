//! End-to-end suite against a real Lima. Opt-in: it runs only with `MACHINE_E2E=1` and
//! `limactl` on PATH, and is skipped with a message otherwise.
//!
//! ```sh
//! MACHINE_E2E=1 MACHINE_E2E_IMAGE=~/images/debian-12-genericcloud-amd64.qcow2 \
//!   cargo test --test e2e -- --nocapture
//! ```
//!
//! - `MACHINE_E2E_IMAGE`: a local disk image (default: the project's default named image, which
//!   needs the internet).
//! - `MACHINE_E2E_LIMA`: extra Lima keys as a TOML inline table, e.g.
//!   `{ vmOpts = { qemu = { cpuType = { x86_64 = "max" } } } }`.
//! - `MACHINE_E2E_PROFILES`: comma-separated layers to include (`docker,node,gh,claude,codex` and
//!   profiles); default: none, the lean core-only VM, since the standard layers need the internet.
//!
//! The suite serves a git repo over ssh from the host (an sshd on a loopback port that accepts
//! only a key held in a throwaway ssh-agent), so a successful clone in the guest proves the agent
//! was forwarded. It then checks: the VM runs; no host directory is mounted; the guest's git
//! identity and signing config; a commit made in the guest is signed and verifies; `run` returns
//! the guest's exit code; the agent tmux session pattern with a stub agent; re-`up` is a no-op;
//! `down` + `up` keeps the clone; `destroy` removes everything. Timings are printed at the end.

mod host_git;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use host_git::GitServer;

fn enabled() -> bool {
    if std::env::var_os("MACHINE_E2E").is_none_or(|v| v != "1") {
        eprintln!("skipped: the end-to-end suite needs a real Lima; run it with MACHINE_E2E=1 (see tests/e2e/main.rs)");
        return false;
    }
    if !on_path("limactl") {
        eprintln!("skipped: MACHINE_E2E=1 but limactl is not on PATH; install Lima 2.x");
        return false;
    }
    true
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// The VM under test, deleted whatever happens.
struct Vm {
    name: String,
    env: Vec<(String, String)>,
    dirs: tempfile::TempDir,
    timings: Vec<(String, Duration)>,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = Command::new("limactl").args(["delete", "-f", &self.name]).output();
    }
}

impl Vm {
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

    fn lima_status(&self) -> Option<String> {
        let out = Command::new("limactl").args(["list", "--json"]).output().expect("limactl runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["name"] == self.name.as_str())
            .map(|v| v["status"].as_str().unwrap_or_default().to_string())
    }

    fn state_dir(&self) -> PathBuf {
        self.dirs.path().join("state")
    }
}

fn projects_toml(name: &str, repo: &str) -> String {
    let mut text = format!("[{name}]\nrepos = [{}]\ncpus = 2\nmemory = \"2GiB\"\n", toml_string(repo));
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

#[test]
fn a_project_vm_from_up_to_destroy() {
    if !enabled() {
        return;
    }
    let dirs = tempfile::Builder::new().prefix("machine-e2e-").tempdir().expect("a temp dir");
    let server = GitServer::start(dirs.path()).expect("the host's git-over-ssh server starts");
    let name = format!("machine-e2e-{}", std::process::id());
    let lima_home =
        std::env::var("LIMA_HOME").unwrap_or_else(|_| format!("{}/.lima", std::env::var("HOME").expect("HOME")));
    let config_dir = dirs.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("projects.toml"), projects_toml(&name, &server.url)).unwrap();
    let env = vec![
        ("HOME".to_string(), server.home.display().to_string()),
        ("LIMA_HOME".into(), lima_home),
        ("SSH_AUTH_SOCK".into(), server.agent_socket.display().to_string()),
        ("GIT_SSH_COMMAND".into(), server.ssh_command.clone()),
        ("ONEPASS_SOCK".into(), "/dev/null".into()),
        ("MACHINE_CONFIG_DIR".into(), config_dir.display().to_string()),
        ("MACHINE_STATE_DIR".into(), dirs.path().join("state").display().to_string()),
        (
            "MACHINE_CACHE_DIR".into(),
            std::env::var("MACHINE_E2E_CACHE").unwrap_or_else(|_| dirs.path().join("cache").display().to_string()),
        ),
        ("GIT_NAME".into(), "E2E Tester".into()),
        ("GIT_EMAIL".into(), "e2e@example.invalid".into()),
        ("GIT_SIGNING_KEY".into(), server.public_key.clone()),
    ];
    let mut vm = Vm { name: name.clone(), env, dirs, timings: Vec::new() };

    // The VM runs, with the repo cloned through the forwarded agent.
    vm.expect(&["up", &name], 0);
    assert_eq!(vm.lima_status().as_deref(), Some("Running"));
    let top = vm.guest(&["git", "rev-parse", "--show-toplevel"]);
    assert!(top.ends_with("/code/repo"), "run opens in the primary repo: {top}");
    assert_eq!(vm.guest(&["git", "log", "-1", "--format=%s"]), "initial commit from the host");

    // No host directory is mounted.
    let mounts = vm.guest(&["cat", "/proc/mounts"]);
    for fs in ["9p", "virtiofs", "fuse.sshfs", "sshfs"] {
        assert!(!mounts.lines().any(|l| l.split_whitespace().nth(2) == Some(fs)), "a {fs} mount:\n{mounts}");
    }

    // The guest's git identity and signing configuration.
    assert_eq!(vm.guest(&["git", "config", "--global", "user.name"]), "E2E Tester");
    assert_eq!(vm.guest(&["git", "config", "--global", "user.email"]), "e2e@example.invalid");
    assert_eq!(vm.guest(&["git", "config", "--global", "gpg.format"]), "ssh");
    assert_eq!(vm.guest(&["git", "config", "--global", "commit.gpgsign"]), "true");
    assert_eq!(vm.guest(&["git", "config", "--global", "user.signingkey"]), server.public_key);

    // A commit made in the guest is signed through the agent and verifies.
    vm.guest(&["git", "commit", "--allow-empty", "-m", "signed in the guest"]);
    let verify = vm.machine(&["run", &name, "--", "git", "verify-commit", "HEAD"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(
        String::from_utf8_lossy(&verify.stderr).contains("Good \"git\" signature"),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // `run` returns the guest's exit code.
    vm.expect(&["run", &name, "--", "sh", "-c", "exit 7"], 7);

    // The agent's tmux session pattern, with a stub agent that records where it ran.
    vm.guest(&["mkdir", "-p", ".local/bin"]);
    vm.guest(&["sh", "-c", "printf '#!/bin/sh\\npwd > \"$HOME/stub-agent-ran\"\\n' > \"$HOME/.local/bin/claude\" && chmod +x \"$HOME/.local/bin/claude\""]);
    let machine_bin = env!("CARGO_BIN_EXE_machine");
    let mut tty = Command::new("script");
    if cfg!(target_os = "macos") {
        tty.args(["-q", "/dev/null", machine_bin, "claude", &name]);
    } else {
        tty.args(["-qec", &format!("{machine_bin} claude {name}"), "/dev/null"]);
    }
    for (k, v) in &vm.env {
        tty.env(k, v);
    }
    let status = tty.status().expect("script(1) runs machine claude in a pseudo-terminal");
    assert!(status.success(), "machine claude exited {status}");
    assert!(vm.guest(&["cat", "stub-agent-ran"]).ends_with("/code/repo"));
    assert_eq!(
        vm.machine(&["run", &name, "--", "tmux", "has-session", "-t", "claude"]).status().unwrap().code(),
        Some(1),
        "the session ends with the agent"
    );

    // Re-`up` is a no-op: it runs nothing but `limactl list`.
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

    // `destroy` removes the VM and what machine stored for it.
    vm.expect(&["destroy", "-y", &name], 0);
    assert_eq!(vm.lima_status(), None);
    assert!(!vm.state_dir().join(&name).exists());

    eprintln!("\ne2e timings:");
    for (what, took) in &vm.timings {
        eprintln!("  {:>7.1}s  {what}", took.as_secs_f64());
    }
    drop(server);
}

/// The host half of the suite runs anywhere: the repo is reachable through the ssh alias with
/// the agent's key, and without the agent it is not.
#[test]
fn the_host_git_server_accepts_only_the_agent_key() {
    if !on_path("ssh-agent") || host_git::sshd_path().is_err() {
        eprintln!("skipped: needs ssh-agent and sshd");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = GitServer::start(dir.path()).expect("the server starts");
    let ls_remote = |agent: &std::path::Path| {
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
    let with = ls_remote(&server.agent_socket);
    assert!(with.status.success(), "{}", String::from_utf8_lossy(&with.stderr));
    assert!(String::from_utf8_lossy(&with.stdout).contains("HEAD"));
    let without = ls_remote(&dir.path().join("no-agent.sock"));
    assert!(!without.status.success(), "the server must refuse a client without the agent's key");
}
