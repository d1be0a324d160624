//! `machine doctor` on faked hosts (one test per failing check), plus `ssh-config` and `code`,
//! the other commands that look at the host's own setup.
//!
//! Doctor runs in-process so the host facts PATH cannot fake (OS, `/dev/kvm`, firmware folders,
//! the agent's time box) come from a [`Probes`] value; programs are the fakes of [`FakeEnv`]
//! plus small stubs (QEMU, `sw_vers`, an old `limactl`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use machine::commands::Ctx;
use machine::commands::doctor::{self, Check, Probes, Status};
use machine::compiler::compile::HostOs;
use machine::compiler::paths::Paths;
use machine::driver::exec::SystemRunner;
use machine::ui::Ui;
use serde_json::{Value, json};

use crate::fake::{FakeEnv, TOOLS};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ada@laptop";

/// A host that passes every check: the fake tools, QEMU stubs with firmware in QEMU's own
/// `share/qemu`, a writable stand-in for `/dev/kvm`, and an identity in `~/.gitconfig`.
struct Host {
    env: FakeEnv,
    vars: BTreeMap<String, OsString>,
    probes: Probes,
}

impl Host {
    fn new() -> Self {
        let env = FakeEnv::new();
        let tools = env.path().join("tools");
        std::fs::create_dir_all(&tools).unwrap();
        for tool in TOOLS {
            std::os::unix::fs::symlink(env.bin().join(tool), tools.join(tool)).unwrap();
        }
        let qemu = env.path().join("qemu");
        for stub in [format!("qemu-system-{}", arch()), "qemu-img".into()] {
            script(&qemu.join("bin").join(stub), "exit 0");
        }
        write(&qemu.join(format!("share/qemu/edk2-{}-code.fd", arch())), "firmware");
        write(&env.path().join("kvm"), "");
        env.git_identity(&[("name", "Ada Lovelace"), ("email", "ada@example.com"), ("signingKey", KEY)]);
        let path = std::env::join_paths([tools, qemu.join("bin")]).unwrap();
        let vars: BTreeMap<String, OsString> = [
            ("PATH", path),
            ("HOME", env.home().into()),
            ("LIMA_HOME", env.lima_home().into()),
            ("MACHINE_FAKE_ROOT", env.path().into()),
            ("MACHINE_STATE_DIR", env.path().join("state").into()),
            ("MACHINE_CONFIG_DIR", env.path().join("config").into()),
            ("MACHINE_CACHE_DIR", env.path().join("cache").into()),
            ("ONEPASS_SOCK", "/dev/null".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let probes = Probes {
            os: HostOs::Linux,
            arch: arch().into(),
            kvm: env.path().join("kvm"),
            firmware_dirs: Vec::new(),
            // Generous: on a loaded machine the fake ssh-add can take seconds to start, and a
            // timed-out agent check would fail tests about other checks.
            agent_timeout: Duration::from_mins(1),
        };
        Self { env, vars, probes }
    }

    fn set(&mut self, key: &str, value: impl Into<OsString>) -> &mut Self {
        self.vars.insert(key.into(), value.into());
        self
    }

    /// Removes a program from the PATH the checks see.
    fn without(&self, program: &str) {
        for dir in ["tools", "qemu/bin"] {
            let _ = std::fs::remove_file(self.env.path().join(dir).join(program));
        }
    }

    /// Replaces a program with a shell script.
    fn stub(&self, program: &str, body: &str) {
        self.without(program);
        script(&self.env.path().join("tools").join(program), body);
    }

    /// Runs doctor in-process: (exit code, stdout).
    fn doctor(&self, json: bool) -> (i32, String) {
        let vars = self.vars.clone();
        let get = move |k: &str| vars.get(k).cloned();
        let runner = SystemRunner { env: self.vars.iter().map(|(k, v)| (k.into(), v.clone())).collect() };
        let out = Rc::new(RefCell::new(Vec::new()));
        let mut ui = Ui::new(Box::new(Shared(Rc::clone(&out))), Box::new(std::io::sink()));
        let mut ctx = Ctx {
            paths: Paths::from_env(&get).unwrap(),
            cwd: self.env.home(),
            env: &get,
            runner: &runner,
            ui: &mut ui,
            proxy: None,
        };
        let code = doctor::run_with(&doctor::Args { json }, &mut ctx, &self.probes).unwrap();
        drop(ui);
        (code, String::from_utf8(out.take()).unwrap())
    }

    fn checks(&self) -> Vec<Check> {
        let (_, text) = self.doctor(true);
        let report: Value = serde_json::from_str(&text).unwrap();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Check {
                name: leak(c["name"].as_str().unwrap()),
                status: match c["status"].as_str().unwrap() {
                    "ok" => Status::Ok,
                    "fail" => Status::Fail,
                    _ => Status::Info,
                },
                detail: c["detail"].as_str().unwrap().into(),
                fix: c["fix"].as_str().map(String::from),
            })
            .collect()
    }

    /// The only failing check, which must be `name`; its detail and fix.
    fn only_failure(&self, name: &str) -> (String, String) {
        let (code, text) = self.doctor(false);
        assert_eq!(code, 1, "{text}");
        let failed: Vec<Check> = self.checks().into_iter().filter(|c| c.status == Status::Fail).collect();
        assert_eq!(failed.iter().map(|c| c.name).collect::<Vec<_>>(), [name], "{text}");
        assert!(text.ends_with("1 check(s) failed\n"), "{text}");
        let check = &failed[0];
        let line = format!("[FAIL] {} — {}", check.detail, check.fix.as_deref().unwrap());
        assert!(without_op_time(&text).contains(&without_op_time(&line)), "{text}");
        (check.detail.clone(), check.fix.clone().unwrap())
    }
}

/// `op` stamps its errors with the time (`[ERROR] 2026/12/01 11:45:45 …`): the text and the JSON
/// run of one doctor can straddle a second, and differ there only.
fn without_op_time(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("[ERROR] ") {
        let (head, tail) = rest.split_at(at + "[ERROR] ".len());
        out.push_str(head);
        out.push_str("<time>");
        rest = tail.get("2026/12/01 11:45:45".len()..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn arch() -> &'static str {
    std::env::consts::ARCH
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn script(path: &Path, body: &str) {
    write(path, &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_working_zero_config_host_passes() {
    let host = Host::new();
    let (code, text) = host.doctor(false);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("[FAIL]"), "{text}");
    assert!(text.ends_with("all checks passed\n"), "{text}");
    for expected in [
        "[ok] Lima 2.2.0",
        &format!("/qemu/share/qemu/edk2-{}-code.fd", arch()),
        "[ok] the SSH agent holds 1 key(s) (SSH_AUTH_SOCK is not set)",
        "[ok] git identity Ada Lovelace <ada@example.com>",
        "[ok] signing key ssh-ed25519 …IExample ada@laptop",
        "[info] 1Password CLI",
        "(zero-config: the `default` project)",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

#[test]
fn json_is_one_stable_object() {
    let host = Host::new();
    host.without("op");
    let (code, text) = host.doctor(true);
    assert_eq!(code, 0, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["checks", "ok"]);
    assert_eq!(report["ok"], json!(true));
    let names: Vec<&str> = report["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "limactl",
            "lima-version",
            "qemu-system",
            "qemu-img",
            "firmware",
            "kvm",
            "ssh",
            "ssh-add",
            "agent-keys",
            "ssh-config",
            "git-identity",
            "signing-key",
            "op",
            "config"
        ]
    );
    for check in report["checks"].as_array().unwrap() {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["detail", "fix", "name", "status"], "{check}");
        assert!(["ok", "fail", "info"].contains(&check["status"].as_str().unwrap()), "{check}");
    }
    let op = &report["checks"][12];
    assert_eq!(op["status"], "info", "a missing op never fails: {op}");
    assert!(op["fix"].as_str().unwrap().contains("1Password CLI"), "{op}");
}

#[test]
fn the_binary_prints_the_same_shape_and_exits_by_it() {
    let env = FakeEnv::new();
    let out = env.machine().args(["doctor", "--json"]).env("ONEPASS_SOCK", "/dev/null").output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = report["checks"].as_array().unwrap().iter().any(|c| c["status"] == "fail");
    assert_eq!(report["ok"], json!(!failed));
    assert_eq!(out.status.code(), Some(i32::from(failed)));
}

#[test]
fn missing_limactl() {
    let host = Host::new();
    host.without("limactl");
    let (detail, fix) = host.only_failure("limactl");
    assert_eq!(detail, "limactl is not on PATH");
    assert!(fix.contains("Lima 2.1.0 or newer"), "{fix}");
    if cfg!(target_os = "linux") {
        // Debian's apt has no Lima: the hint names ways that exist, and the QEMU packages.
        for way in ["brew install lima", "nixpkgs#lima", "~/.local", "qemu-system-x86", "ovmf", "edk2-ovmf"] {
            assert!(fix.contains(way), "the hint names {way}: {fix}");
        }
        assert!(!fix.contains("package manager"), "{fix}");
    }
    assert!(!host.checks().iter().any(|c| c.name == "lima-version"), "no version check without limactl");
}

#[test]
fn lima_1_is_too_old() {
    let host = Host::new();
    host.stub("limactl", "echo 'limactl version 1.2.1'");
    let (detail, fix) = host.only_failure("lima-version");
    assert_eq!(detail, "Lima 1.2.1 is too old: machine needs Lima 2.1.0 or newer");
    assert!(fix.contains("Lima 2.1.0 or newer") || fix.contains("brew upgrade lima"), "{fix}");
}

#[test]
fn lima_2_0_is_too_old_and_2_1_0_is_enough() {
    let host = Host::new();
    host.stub("limactl", "echo 'limactl version 2.0.3'");
    let (detail, _) = host.only_failure("lima-version");
    assert_eq!(detail, "Lima 2.0.3 is too old: machine needs Lima 2.1.0 or newer");
    host.stub("limactl", "echo 'limactl version 2.1.0'");
    assert!(host.checks().iter().any(|c| c.name == "lima-version" && c.detail == "Lima 2.1.0"));
}

#[test]
fn no_qemu() {
    let host = Host::new();
    host.without(&format!("qemu-system-{}", arch()));
    // QEMU's own share/qemu is found through its binary; the distro folders still count.
    let mut host = host;
    host.probes.firmware_dirs = vec![host.env.path().join("qemu/share/qemu")];
    let (detail, fix) = host.only_failure("qemu-system");
    assert!(detail.starts_with(&format!("qemu-system-{} is not on PATH", arch())), "{detail}");
    assert!(fix.contains("apt-get install qemu-system-"), "{fix}");
}

#[test]
fn qemu_can_be_named_by_lima_s_variable() {
    let mut host = Host::new();
    let elsewhere = host.env.path().join("opt/qemu/bin/qemu-custom");
    script(&elsewhere, "exit 0");
    write(&host.env.path().join(format!("opt/qemu/share/qemu/edk2-{}-code.fd", arch())), "fw");
    host.without(&format!("qemu-system-{}", arch()));
    host.set(&format!("QEMU_SYSTEM_{}", arch().to_uppercase()), elsewhere.as_os_str());
    let (code, text) = host.doctor(false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("opt/qemu/share/qemu/edk2-"), "{text}");
}

#[test]
fn no_qemu_img() {
    let host = Host::new();
    host.without("qemu-img");
    let (_, fix) = host.only_failure("qemu-img");
    assert!(fix.contains("qemu-utils"), "{fix}");
}

#[test]
fn no_firmware() {
    let mut host = Host::new();
    std::fs::remove_file(host.env.path().join(format!("qemu/share/qemu/edk2-{}-code.fd", arch()))).unwrap();
    let distro = host.env.path().join("usr/share/OVMF");
    write(&distro.join("OVMF_VARS_4M.fd"), "not code");
    host.probes.firmware_dirs = vec![distro.clone()];
    let (detail, fix) = host.only_failure("firmware");
    assert!(detail.starts_with(&format!("no UEFI firmware for {}", arch())), "{detail}");
    assert!(detail.contains(&distro.display().to_string()), "the folders looked in are named: {detail}");
    assert!(fix.contains("sudo apt-get install"), "{fix}");
    // A distro's OVMF build counts.
    write(&distro.join("OVMF_CODE_4M.fd"), "code");
    host.probes.arch = "x86_64".into();
    let firmware = host.checks().into_iter().find(|c| c.name == "firmware").unwrap();
    assert_eq!(firmware.status, Status::Ok, "{firmware:?}");
}

#[test]
fn no_kvm_device() {
    let mut host = Host::new();
    host.probes.kvm = host.env.path().join("no-such-kvm");
    let (detail, fix) = host.only_failure("kvm");
    assert!(detail.ends_with("does not exist: without KVM, VMs are emulated and very slow"), "{detail}");
    assert!(fix.contains("nested virtualization"), "{fix}");
}

#[test]
fn kvm_that_cannot_be_opened_read_write() {
    let mut host = Host::new();
    // A folder cannot be opened for writing, even by root (the tests may run as root, which
    // ignores file modes, so a mode-000 device would still open).
    host.probes.kvm = host.env.path().join("state");
    std::fs::create_dir_all(&host.probes.kvm).unwrap();
    let (detail, _) = host.only_failure("kvm");
    assert!(detail.starts_with("cannot open"), "{detail}");
}

#[test]
fn macos_13_or_newer_and_no_qemu_checks() {
    let mut host = Host::new();
    host.probes.os = HostOs::Macos;
    host.probes.kvm = PathBuf::from("/nonexistent");
    host.without("qemu-img");
    host.stub("sw_vers", "echo 14.6.1");
    let (code, text) = host.doctor(false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("[ok] macOS 14.6.1"), "{text}");
    assert!(!text.contains("qemu") && !text.contains("kvm"), "{text}");
    host.stub("sw_vers", "echo 12.7.4");
    let (detail, _) = host.only_failure("macos-version");
    assert!(detail.contains("needs macOS 13 (Ventura) or newer"), "{detail}");
}

#[test]
fn ssh_missing() {
    let host = Host::new();
    host.without("ssh");
    let (_, fix) = host.only_failure("ssh");
    assert!(fix.contains("OpenSSH"), "{fix}");
}

#[test]
fn agent_without_keys() {
    let host = Host::new();
    host.env.faults(json!({"ssh_add": "no-keys"}));
    host.env.git_identity(&[("name", "A"), ("email", "a@b.c")]);
    let (detail, fix) = host.only_failure("agent-keys");
    assert_eq!(detail, "the SSH agent holds no keys (SSH_AUTH_SOCK is not set)");
    assert!(fix.contains("ssh-add") && fix.contains("1Password"), "{fix}");
}

#[test]
fn unreachable_agent_names_its_socket() {
    let mut host = Host::new();
    host.env.faults(json!({"ssh_add": "no-agent"}));
    host.env.git_identity(&[("name", "A"), ("email", "a@b.c")]);
    host.set("SSH_AUTH_SOCK", "/tmp/agent.sock");
    let (detail, _) = host.only_failure("agent-keys");
    assert_eq!(detail, "cannot reach the SSH agent (SSH_AUTH_SOCK=/tmp/agent.sock)");
}

#[test]
fn the_1password_agent_is_named_when_its_socket_exists() {
    let mut host = Host::new();
    let sock = host.env.path().join("1p.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    host.set("ONEPASS_SOCK", sock.as_os_str());
    let agent = host.checks().into_iter().find(|c| c.name == "agent-keys").unwrap();
    assert_eq!(agent.detail, format!("the SSH agent holds 1 key(s) (1Password's agent, {})", sock.display()));
}

#[test]
fn a_hanging_agent_is_time_boxed() {
    let mut host = Host::new();
    host.env.faults(json!({"ssh_add": "hang"}));
    host.env.git_identity(&[("name", "A"), ("email", "a@b.c")]);
    host.probes.agent_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let (detail, fix) = host.only_failure("agent-keys");
    assert!(started.elapsed() < Duration::from_secs(20), "doctor waited {:?}", started.elapsed());
    assert!(detail.starts_with("the SSH agent did not answer `ssh-add -l` within 1s"), "{detail}");
    assert!(fix.contains("unlock 1Password"), "{fix}");
    assert_eq!(Probes::host().agent_timeout, Duration::from_secs(5), "the real time box is 5 s");
}

#[test]
fn no_git_identity() {
    let host = Host::new();
    host.env.git_identity(&[]);
    let (detail, fix) = host.only_failure("git-identity");
    assert!(detail.starts_with("no git identity"), "{detail}");
    assert!(fix.contains("git config --global user.name") && fix.contains("GIT_NAME"), "{fix}");
    let key = host.checks().into_iter().find(|c| c.name == "signing-key").unwrap();
    assert_eq!(key.status, Status::Info, "no signing key means unsigned commits, not a failure: {key:?}");
}

#[test]
fn an_identity_from_the_environment_needs_no_git_config() {
    let mut host = Host::new();
    host.env.git_identity(&[]);
    host.set("GIT_NAME", "Grace Hopper").set("GIT_EMAIL", "grace@example.com").set("GIT_SIGNING_KEY", KEY);
    let (code, text) = host.doctor(false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("[ok] git identity Grace Hopper <grace@example.com>"), "{text}");
}

#[test]
fn an_unresolvable_signing_key() {
    let mut host = Host::new();
    host.set("GIT_SIGNING_PUBKEY_FILE", "~/.ssh/missing.pub");
    let (detail, fix) = host.only_failure("signing-key");
    assert!(detail.contains("GIT_SIGNING_PUBKEY_FILE names") && detail.contains("missing.pub"), "{detail}");
    assert!(fix.contains("SSH public key"), "{fix}");
}

#[test]
fn a_signing_key_from_a_failing_op() {
    let mut host = Host::new();
    host.env.git_identity(&[("name", "A"), ("email", "a@b.c")]);
    host.env.faults(json!({"op_read": {"op://Private/key/public key": "fail:You are not currently signed in."}}));
    host.set("OP_SIGNING_KEY_REF", "op://Private/key/public key");
    let (detail, fix) = host.only_failure("signing-key");
    assert!(detail.contains("You are not currently signed in."), "{detail}");
    assert!(fix.contains("unlock 1Password"), "{fix}");
}

#[test]
fn a_broken_config() {
    let host = Host::new();
    write(&host.env.path().join("config/projects.toml"), "[blog]\nrepos = 3\n");
    let (detail, fix) = host.only_failure("config");
    assert!(detail.contains("projects.toml:2:"), "{detail}");
    assert!(fix.contains("machine render"), "{fix}");
}

#[test]
fn a_valid_config_and_a_local_project_are_described() {
    let host = Host::new();
    write(&host.env.path().join("config/projects.toml"), "[blog]\n[wiki]\n");
    write(&host.env.home().join(".machine.toml"), "name = \"app\"\nrepos = [\"https://github.com/you/app.git\"]\n");
    let config = host.checks().into_iter().find(|c| c.name == "config").unwrap();
    assert_eq!(config.status, Status::Ok);
    let local = host.env.home().join(".machine.toml");
    assert!(
        config.detail.ends_with(&format!(
            "parses (3 project(s) in all); project `app` comes from {} (untrusted: it came with the repository)",
            local.display()
        )),
        "{config:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// ssh-config and code

fn ssh_config(env: &FakeEnv) -> PathBuf {
    env.home().join(".ssh/config")
}

fn machine_include(env: &FakeEnv) -> String {
    format!("Include {}/state/*/ssh.config", env.path().display())
}

#[test]
fn ssh_config_prints_the_include_of_machine_s_per_vm_files() {
    let env = FakeEnv::new();
    let out = env.machine().arg("ssh-config").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{}\n", machine_include(&env)));
    assert!(!ssh_config(&env).exists(), "printing changes nothing");
}

#[test]
fn ssh_config_install_creates_the_folder_and_file_privately() {
    let env = FakeEnv::new();
    let out = env.machine().args(["ssh-config", "--install"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.home().join(".ssh")), 0o700);
    assert_eq!(mode(&ssh_config(&env)), 0o600);
    let text = std::fs::read_to_string(ssh_config(&env)).unwrap();
    assert!(text.contains(&format!("\n{}\n", machine_include(&env))), "{text}");
}

#[test]
fn ssh_config_install_goes_first_once_and_keeps_the_file() {
    let env = FakeEnv::new();
    let before = "Host github.com\n  User git\n\nHost *\n  ServerAliveInterval 30\n";
    write(&ssh_config(&env), before);
    std::fs::set_permissions(ssh_config(&env), std::fs::Permissions::from_mode(0o600)).unwrap();
    let first = env.machine().args(["ssh-config", "--install"]).output().unwrap();
    assert!(String::from_utf8_lossy(&first.stderr).contains("added `Include "), "{first:?}");
    let second = env.machine().args(["ssh-config", "--install"]).output().unwrap();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already includes machine's ssh configs"), "{second:?}");
    let text = std::fs::read_to_string(ssh_config(&env)).unwrap();
    assert_eq!(text.matches("Include ").count(), 1, "{text}");
    let include = text.find("Include ").unwrap();
    assert!(include < text.find("Host ").unwrap(), "Include must come before every Host block:\n{text}");
    assert!(text.ends_with(before), "{text}");
    assert_eq!(std::fs::metadata(ssh_config(&env)).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn ssh_config_install_accepts_an_existing_tilde_include() {
    let env = FakeEnv::new();
    write(&ssh_config(&env), "Include ~/.local/state/machine/*/ssh.config\n");
    let out = env
        .machine()
        .args(["ssh-config", "--install"])
        .env("MACHINE_STATE_DIR", env.home().join(".local/state/machine"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("already includes"), "{out:?}");
}

/// What `ssh lima-<vm>` reads first for a VM: machine's file, written by `up`.
fn host_file(env: &FakeEnv, instance: &str) -> String {
    std::fs::read_to_string(env.path().join(format!("state/{instance}/ssh.config")))
        .unwrap_or_else(|e| panic!("no ssh config for {instance}: {e}"))
}

#[test]
fn up_writes_what_a_plain_ssh_to_the_vm_forwards() {
    let env = FakeEnv::new();
    write(
        &env.path().join("config/projects.toml"),
        "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n[api]\nforward_agent = false\n",
    );
    crate::fake::machine(&env).args(["up", "blog"]).assert().success();
    crate::fake::machine(&env).args(["up", "api"]).assert().success();
    let blog = host_file(&env, "blog");
    let socket = env.path().join("state/blog/agent/agent.sock");
    let lima = env.lima_home().join("blog/ssh.config");
    assert!(
        blog.contains(&format!(
            "Host lima-blog\n  ForwardAgent \"{}\"\n  Include \"{}\"\n",
            socket.display(),
            lima.display()
        )),
        "{blog}"
    );
    let api = host_file(&env, "api");
    assert!(api.contains("Host lima-api\n  ForwardAgent no\n"), "{api}");
    let mode = std::fs::metadata(env.path().join("state/api/ssh.config")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "ssh refuses an included file others may write");
    // Turning forwarding off applies to the next session, before it can open a master.
    write(
        &env.path().join("config/projects.toml"),
        "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\nforward_agent = false\n",
    );
    crate::fake::machine(&env).args(["run", "blog", "--", "true"]).assert().success();
    assert!(host_file(&env, "blog").contains("  ForwardAgent no\n"), "{}", host_file(&env, "blog"));
    env.machine().args(["destroy", "-y", "blog"]).assert().success();
    assert!(!env.path().join("state/blog/ssh.config").exists(), "destroy removes the VM's file");
}

#[test]
fn ssh_config_writes_the_files_of_vms_made_before_them_and_replaces_the_old_lima_include() {
    let env = FakeEnv::new();
    write(&env.path().join("config/projects.toml"), "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n");
    crate::fake::machine(&env).args(["up", "blog"]).assert().success();
    std::fs::remove_file(env.path().join("state/blog/ssh.config")).unwrap();
    let old = format!(
        "# Lima's per-VM hosts (lima-<project>), added by `machine ssh-config --install`.\nInclude {}/*/ssh.config\n\nHost *\n  User me\n",
        env.lima_home().display()
    );
    write(&ssh_config(&env), &old);
    // doctor names the exposure before the fix ...
    let doctor = env.machine().args(["doctor", "--json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "ssh-config").unwrap().clone();
    assert_eq!(check["status"], "fail", "{check}");
    assert!(check["detail"].as_str().unwrap().contains("forwards your whole SSH agent"), "{check}");
    // ... and --install mends it in place.
    let out = env.machine().args(["ssh-config", "--install"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("replaced the Lima `Include`"), "{out:?}");
    let text = std::fs::read_to_string(ssh_config(&env)).unwrap();
    assert!(text.starts_with(&format!("# machine's VMs (lima-<vm>, each with its own agent), added by `machine ssh-config --install`.\n{}\n\nHost *\n  User me\n", machine_include(&env))), "{text}");
    assert!(!text.contains(&env.lima_home().display().to_string()), "{text}");
    assert!(host_file(&env, "blog").contains("ForwardAgent \""), "the VM's file is back");
    let doctor = env.machine().args(["doctor", "--json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "ssh-config").unwrap().clone();
    assert_eq!(check["status"], "ok", "{check}");
}

#[test]
fn ssh_config_warns_about_a_lima_include_of_the_user_s_own_before_machine_s() {
    let env = FakeEnv::new();
    write(&ssh_config(&env), &format!("Include {}/*/ssh.config\n", env.lima_home().display()));
    let out = env.machine().args(["ssh-config", "--install"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // machine's goes to the top, so it is read first: no warning is left.
    assert!(err.contains("added `Include "), "{err}");
    assert!(!err.contains("whole SSH agent"), "{err}");
    // A Lima include the user moves above machine's again is named, with its line.
    let text = std::fs::read_to_string(ssh_config(&env)).unwrap();
    write(&ssh_config(&env), &format!("Include {}/*/ssh.config\n{text}", env.lima_home().display()));
    let out = env.machine().args(["ssh-config", "--install"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1 of ") && err.contains("whole SSH agent"), "{err}");
}

/// A `code` stub that records its argv.
fn fake_code(env: &FakeEnv) -> PathBuf {
    let dir = env.path().join("vscode");
    script(&dir.join("code"), &format!("printf '%s\\n' \"$@\" > '{}'", env.path().join("code-args").display()));
    dir
}

fn with_path(env: &FakeEnv, cmd: &mut assert_cmd::Command, extra: &Path) {
    let path = std::env::join_paths([env.bin(), extra.to_path_buf(), PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
    cmd.env("PATH", path.unwrap());
}

/// A fake world with `projects` and a running VM `blog` whose record knows its guest home.
fn running_blog(projects: &str) -> FakeEnv {
    let env = FakeEnv::new();
    write(&env.path().join("config/projects.toml"), projects);
    env.given_instance("blog", true);
    write(
        &env.path().join("state/blog/applied.json"),
        r#"{"key":"k","layers":[],"instance_yaml":"","guest_home":"/home/ada.linux"}"#,
    );
    env
}

/// `machine code blog` with a `code` stub on PATH.
fn run_code(env: &FakeEnv) -> std::process::Output {
    let dir = fake_code(env);
    let mut cmd = env.machine();
    with_path(env, &mut cmd, &dir);
    cmd.args(["code", "blog"]).output().unwrap()
}

#[test]
fn code_opens_the_primary_repo_over_remote_ssh() {
    let env = running_blog("[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n");
    env.machine().args(["ssh-config", "--install"]).assert().success();
    let out = run_code(&env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let args = std::fs::read_to_string(env.path().join("code-args")).unwrap();
    assert_eq!(args, "--remote\nssh-remote+lima-blog\n/home/ada.linux/code/blog\n");
}

#[test]
fn code_says_when_it_could_not_open_the_master_first() {
    let env = running_blog("[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n");
    env.machine().args(["ssh-config", "--install"]).assert().success();
    let failing_true = env.guest_bin().join("true");
    std::fs::write(&failing_true, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&failing_true, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = run_code(&env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("could not open Lima's ssh master of `blog` first"), "{err}");
    assert!(env.path().join("code-args").exists(), "VS Code still opens");
}

#[test]
fn code_says_what_is_missing() {
    let env = FakeEnv::new();
    write(&env.path().join("config/projects.toml"), "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n");
    let run = |extra: Option<&Path>| {
        let mut cmd = env.machine();
        match extra {
            Some(dir) => with_path(&env, &mut cmd, dir),
            None => {
                cmd.env("PATH", env.bin());
            }
        }
        let out = cmd.args(["code", "blog"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(None);
    assert!(err.contains("`code` command is not on PATH") && err.contains("hint: "), "{err}");
    let dir = fake_code(&env);
    let err = run(Some(&dir));
    assert!(err.contains("there is no VM `blog`") && err.contains("machine up blog"), "{err}");
    env.given_instance("blog", false);
    let err = run(Some(&dir));
    assert!(err.contains("VM `blog` is not running") && err.contains("machine up blog"), "{err}");
    env.command("limactl").args(["start", "blog"]).assert().success();
    let err = run(Some(&dir));
    assert!(err.contains("cannot find the host `lima-blog`"), "{err}");
    assert!(err.contains("hint: run `machine ssh-config --install`"), "{err}");
    assert!(!env.path().join("code-args").exists(), "code never ran");
}

#[test]
fn code_refuses_a_config_that_reads_lima_s_own_hosts_first() {
    let env = running_blog("[blog]\nforward_agent = false\n");
    // VS Code's own ssh would open the master through Lima's `ForwardAgent yes`.
    write(
        &ssh_config(&env),
        &format!("Include {}/*/ssh.config\n{}\n", env.lima_home().display(), machine_include(&env)),
    );
    let out = run_code(&env);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not opening VS Code: line 1 of ~/.ssh/config includes Lima's own ssh configs"), "{err}");
    assert!(err.contains("hint: `machine ssh-config --install`"), "{err}");
    assert!(!env.path().join("code-args").exists(), "code never ran");
}

#[test]
fn ssh_config_refuses_a_lima_home_ssh_would_read_differently() {
    let env = FakeEnv::new();
    let lima = env.path().join("lima%h");
    let out = env.machine().arg("ssh-config").env("LIMA_HOME", &lima).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot name {} in an ssh config", lima.display())), "{err}");
    assert!(err.contains("hint: set MACHINE_STATE_DIR and LIMA_HOME"), "{err}");
    assert!(out.stdout.is_empty(), "no Include is printed");
}

#[test]
fn ssh_config_says_which_vms_it_cannot_write_a_file_for_when_the_configuration_is_broken() {
    let env = FakeEnv::new();
    write(&env.path().join("config/projects.toml"), "[blog]\n");
    crate::fake::machine(&env).args(["up", "blog"]).assert().success();
    std::fs::remove_file(env.path().join("state/blog/ssh.config")).unwrap();
    write(&env.path().join("config/projects.toml"), "[blog\n");
    let out = env.machine().arg("ssh-config").output().unwrap();
    assert!(out.status.success(), "the Include is still printed: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`ssh lima-<vm>` cannot reach 1 VM(s) made before this version of machine"), "{err}");
    assert!(!env.path().join("state/blog/ssh.config").exists(), "nothing is guessed");
}

#[test]
fn ssh_config_leaves_a_vm_s_existing_file_to_the_commands_that_write_it() {
    let env = FakeEnv::new();
    write(&env.path().join("config/projects.toml"), "[blog]\n");
    crate::fake::machine(&env).args(["up", "blog"]).assert().success();
    // As a session in the folder of a `.machine.toml` that turns forwarding off wrote it.
    let file = env.path().join("state/blog/ssh.config");
    write(&file, "Host lima-blog\n  ForwardAgent no\n");
    env.machine().arg("ssh-config").assert().success();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "Host lima-blog\n  ForwardAgent no\n");
}

#[test]
fn the_global_git_config_is_read_without_starting_git() {
    let host = Host::new();
    let (code, text) = host.doctor(false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("[ok] git identity Ada Lovelace <ada@example.com>"), "{text}");
    let git: Vec<_> = host.env.calls().into_iter().filter(|c| c["tool"] == "git").collect();
    assert!(git.is_empty(), "{git:?}");
}

#[test]
fn a_global_git_config_machine_cannot_vouch_for_is_read_by_git() {
    let host = Host::new();
    // A tab inside a value: git 2.46 and later keep it, older versions print a space.
    std::fs::write(host.env.home().join(".gitconfig"), "[user]\n\tname = Ada\tLovelace\n").unwrap();
    host.env.faults(json!({"git_config": {"user.name": "Ada Lovelace", "user.email": "ada@example.com"}}));
    let (code, text) = host.doctor(false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("[ok] git identity Ada Lovelace <ada@example.com>"), "{text}");
    assert!(host.env.calls().iter().any(|c| c["tool"] == "git" && c["args"][0] == "config"), "git was asked");
}

#[test]
fn a_global_git_config_git_refuses_is_named() {
    let host = Host::new();
    std::fs::write(host.env.home().join(".gitconfig"), "[user\n").unwrap();
    host.env.faults(json!({"git_config_error": "fatal: bad config line 1 in file /home/ada/.gitconfig"}));
    let (detail, fix) = host.only_failure("git-identity");
    assert!(detail.starts_with("git cannot read its global config"), "{detail}");
    assert!(detail.contains("bad config line 1"), "{detail}");
    assert!(fix.contains("git config --global --list"), "{fix}");
}
