//! The fake tools against the real `limactl` 2.2 transcripts, and the state and records they keep.
//!
//! Each conformance test drives the fake into the state the transcript was captured in, runs the
//! transcript's own command line (paths moved into the fake's root) and compares exit code,
//! stdout and stderr after [`World::normalise`] has masked timestamps, PIDs, ports and paths.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::fake::{DEMO_TEMPLATE, FakeEnv};
use crate::transcripts;

/// The capture's templates (tests/fixtures/lima-transcripts/README.md), by file stem.
const TEMPLATES: [(&str, &str); 9] = [
    ("demo", DEMO_TEMPLATE),
    (
        "param-unused",
        "images:\n- location: /home/dev/images/debian-12-lab-efi.qcow2\n  arch: x86_64\nparam:\n  Greeting: hello\n",
    ),
    ("base-dotdot", "base: ../debian-lab-efi.yaml\n"),
    ("param-data", PARAM_DATA),
    ("provision-exit3", PROVISION_EXIT3),
    ("probe-fails", PROBE_FAILS),
    ("missing-image", "images:\n- location: /home/dev/images/does-not-exist.qcow2\n  arch: x86_64\n"),
    ("lab", LAB),
    ("small", "images:\n- location: /home/dev/images/debian-12-lab-efi.qcow2\n  arch: x86_64\ncpus: 1\nmemory: 1GiB\n"),
];

/// A template whose instance's `--json` line is longer than Lima's 64 KiB scanner buffer.
fn big_template() -> String {
    format!(
        "images:\n- location: /home/dev/images/debian-12-lab-efi.qcow2\n  arch: x86_64\ncpus: 1\nmemory: 1GiB\nprovision:\n- mode: system\n  script: \"echo {}\"\n",
        "x".repeat(70_000)
    )
}

const PARAM_DATA: &str = r#"images:
- location: /home/dev/images/debian-12-lab-efi.qcow2
  arch: x86_64
param:
  gitName: Nobody
provision:
- mode: data
  path: /etc/lab-gitname
  content: "GIT_NAME={{.Param.gitName}}\n"
  owner: root:root
  permissions: 644
"#;

const PROVISION_EXIT3: &str = r#"images:
- location: /home/dev/images/debian-12-lab-efi.qcow2
  arch: x86_64
provision:
- mode: system
  script: |
    #!/bin/sh
    echo "lab: provisioning step about to fail"
    exit 3
"#;

const PROBE_FAILS: &str = r#"images:
- location: /home/dev/images/debian-12-lab-efi.qcow2
  arch: x86_64
probes:
- mode: readiness
  description: lab marker file /run/never-there to exist
  script: |
    #!/bin/sh
    echo "lab: marker missing" >&2
    test -f /run/never-there
  hint: |
    This probe never succeeds (lab test).
"#;

/// The pre-existing `lab` instance, rebuilt from its `list --json` config.
const LAB: &str = r#"vmOpts:
  qemu:
    cpuType:
      x86_64: host,-arch-capabilities
images:
- location: /home/dev/images/debian-12-lab.qcow2
  arch: x86_64
  kernel:
    location: /home/dev/images/vmlinuz
    arch: x86_64
    cmdline: root=LABEL=debroot ro console=ttyS0 net.ifnames=0
  initrd:
    location: /home/dev/images/initrd.img
    arch: x86_64
memory: 2GiB
disk: 8GiB
firmware:
  legacyBIOS: true
param:
  Greeting: hello-from-param
provision:
- mode: data
  path: /etc/lab-greeting
  content: "GREETING={{.Param.Greeting}}\n"
- mode: system
  script: |
    #!/bin/sh
    echo "param is $PARAM_Greeting" > /var/log/lab-param.log
"#;

/// A [`FakeEnv`] laid out like the capture: the transcripts' templates under `tpl/transcripts/`,
/// `HOME` at the root (so instance folders print as `~/lima/<name>`) and user `dev`.
struct World {
    env: FakeEnv,
}

impl World {
    fn new() -> Self {
        let env = FakeEnv::new();
        for (name, text) in TEMPLATES {
            env.write_template(&format!("transcripts/{name}.yaml"), text);
        }
        Self { env }
    }

    /// Moves the capture's paths into the fake's root.
    fn localise(&self, line: &str) -> String {
        let lima = self.env.lima_home().display().to_string();
        line.replace("~/.lima", &lima)
            .replace("/home/dev/.lima", &lima)
            .replace("/home/dev/tpl", &self.env.templates().display().to_string())
    }

    fn run(&self, line: &str) -> std::process::Output {
        let words = shell_words(&self.localise(line));
        let mut cmd = self.env.command(&words[0]);
        cmd.args(&words[1..]).env("HOME", self.env.path()).env("USER", "dev");
        cmd.output().unwrap()
    }

    /// Runs a setup step, which must succeed.
    fn ok(&self, line: &str) {
        let out = self.run(line);
        assert!(out.status.success(), "{line}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Masks what differs between runs: timestamps, PIDs, ports, uid, and the fake's paths.
    fn normalise(&self, text: &str) -> String {
        let mut text = text
            .replace(&self.env.lima_home().display().to_string(), "/home/dev/.lima")
            .replace(&self.env.templates().display().to_string(), "/home/dev/tpl")
            .replace("~/lima/", "~/.lima/");
        text = mask(&text, "time=\"", |rest| rest.find('"').unwrap_or(0));
        let digits = |rest: &str| rest.bytes().take_while(u8::is_ascii_digit).count();
        for prefix in [
            "SSH Local Port: ",
            "SSHLocalPort:",
            "Port ",
            "127.0.0.1:",
            "process ",
            "pid=",
            "PID\":",
            "\"sshLocalPort\":",
            "\"uid\":",
        ] {
            text = mask(&text, prefix, digits);
        }
        text
    }

    /// Runs the transcript's command and asserts the same exit code, stdout and stderr.
    fn conform(&self, name: &str) {
        let want = transcripts::load(name);
        let out = self.run(&want.command);
        let got_out = self.normalise(&String::from_utf8_lossy(&out.stdout));
        let got_err = self.normalise(&String::from_utf8_lossy(&out.stderr));
        let (want_out, want_err) = (self.normalise(&want.stdout), self.normalise(&want.stderr));
        assert!(want_out == got_out, "{name}: stdout differs:\n{}", diff(&want_out, &got_out));
        assert!(want_err == got_err, "{name}: stderr differs:\n{}", diff(&want_err, &got_err));
        assert_eq!(out.status.code(), Some(want.exit_code), "{name}: exit code");
    }
}

/// Replaces the `len(rest)` characters after each `prefix` by `N` (`T` for text).
fn mask(text: &str, prefix: &str, len: impl Fn(&str) -> usize) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let after = at + prefix.len();
        out.push_str(&rest[..after]);
        let n = len(&rest[after..]);
        if n > 0 {
            out.push(if prefix.ends_with('"') { 'T' } else { 'N' });
        }
        rest = &rest[after + n..];
    }
    out.push_str(rest);
    out
}

/// A line diff (`-` want, `+` got), lines in debug form so a stray `\r` shows.
fn diff(want: &str, got: &str) -> String {
    let (want, got): (Vec<&str>, Vec<&str>) = (want.split('\n').collect(), got.split('\n').collect());
    let mut out = String::new();
    for i in 0..want.len().max(got.len()) {
        match (want.get(i), got.get(i)) {
            (Some(w), Some(g)) if w == g => out.push_str(&format!("  {w:?}\n")),
            (w, g) => {
                out.extend(w.map(|w| format!("- {w:?}\n")));
                out.extend(g.map(|g| format!("+ {g:?}\n")));
            }
        }
    }
    out
}

/// Splits a POSIX shell command line (quotes and backslashes; no expansions).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let current = word.get_or_insert_with(String::new);
                current.extend(chars.by_ref().take_while(|q| *q != c));
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

const CREATE_DEMO: &str = "limactl create --tty=false --name=demo /home/dev/tpl/transcripts/demo.yaml";

/// `demo` created, and started when `running`.
fn with_demo(running: bool) -> World {
    let world = World::new();
    world.ok(CREATE_DEMO);
    if running {
        world.ok("limactl start --tty=false demo");
    }
    world
}

/// `lab` as the capture found it: created, started once, stopped.
fn with_lab() -> World {
    let world = World::new();
    world.ok("limactl create --tty=false --name=lab /home/dev/tpl/transcripts/lab.yaml");
    world.ok("limactl start --tty=false lab");
    world.ok("limactl stop lab");
    world
}

// --- transcripts ---------------------------------------------------------------------------

#[test]
fn version() {
    World::new().conform("version");
}

#[test]
fn list_nosuch() {
    let world = World::new();
    world.conform("list-nosuch");
    world.conform("list-json-nosuch");
}

#[test]
fn list_with_lab_only() {
    let world = with_lab();
    for name in
        ["list-table-one-instance", "list-json-one-instance", "list-quiet-one-instance", "list-format-status-lab"]
    {
        world.conform(name);
    }
}

#[test]
fn list_with_demo_running_and_lab() {
    let world = with_lab();
    world.ok(CREATE_DEMO);
    world.ok("limactl start --tty=false demo");
    for name in
        ["list-table-two-instances", "list-json-two-instances", "list-quiet-two-instances", "list-format-status-demo"]
    {
        world.conform(name);
    }
}

/// One instance with a big template breaks `list --json` for all; machine's `--format` works.
#[test]
fn list_json_fails_on_a_big_template_and_the_format_does_not() {
    let world = World::new();
    world.env.write_template("transcripts/big.yaml", &big_template());
    world.ok("limactl create --tty=false --name=big /home/dev/tpl/transcripts/big.yaml");
    world.ok("limactl create --tty=false --name=small /home/dev/tpl/transcripts/small.yaml");
    world.conform("list-json-token-too-long");
    world.conform("list-format-machine-fields");
    let command = crate::transcripts::load("list-format-machine-fields").command;
    assert_eq!(
        command,
        format!("limactl list --format '{}'", machine::driver::lima::LIST_FORMAT),
        "the transcript ran machine's own format"
    );
}

#[test]
fn create_ok_then_already_exists() {
    let world = World::new();
    world.conform("create-ok");
    world.conform("create-already-exists");
}

#[test]
fn create_with_a_quoted_param_and_list_it() {
    let world = World::new();
    world.conform("create-set-param-quote");
    world.conform("list-json-created-never-started");
}

#[test]
fn start_already_running() {
    with_demo(true).conform("start-already-running");
}

#[test]
fn stop_running_then_stopped() {
    let world = with_demo(true);
    world.conform("stop-ok");
    world.conform("stop-already-stopped");
    world.conform("stop-force-already-stopped");
}

#[test]
fn stop_and_delete_nosuch() {
    let world = World::new();
    world.conform("stop-nosuch");
    world.conform("delete-nosuch");
}

#[test]
fn delete_stopped() {
    let world = with_demo(false);
    world.conform("delete-stopped");
    assert!(!world.env.lima_home().join("demo").exists());
    assert!(!world.env.guest_root("demo").exists());
}

#[test]
fn delete_running_without_force() {
    let world = with_demo(true);
    world.conform("delete-running-without-force");
    assert_eq!(world.env.instance_status("demo").as_deref(), Some("Running"));
}

#[test]
fn shell_into_missing_and_stopped_instances() {
    let world = with_demo(false);
    world.conform("shell-nosuch-instance");
    world.conform("shell-stopped-instance");
}

#[test]
fn shell_passes_exit_codes_streams_and_workdir() {
    let world = with_demo(true);
    for name in ["shell-exit-code-passthrough", "shell-stdout-stderr-split", "shell-workdir"] {
        world.conform(name);
    }
}

#[test]
fn ssh_config_and_control_master() {
    let world = with_demo(true);
    for name in ["ssh-config-file", "ssh-control-check", "ssh-control-exit", "ssh-control-check-after-exit"] {
        world.conform(name);
    }
}

#[test]
fn start_with_a_failing_provision_script_then_force_stop() {
    let world = World::new();
    world.env.faults(json!({"start": {"broken": "provision-fail:exit3"}}));
    world.conform("start-provision-exit3");
    assert!(world.env.guest_root("broken").join("run/lima-boot-done").is_file());
    world.conform("stop-force-running");
}

#[test]
fn start_probe_timeout_then_degraded() {
    let world = World::new();
    world.env.faults(json!({"start": {"probefail": "probe-timeout"}}));
    world.conform("start-probe-fails-timeout");
    world.conform("list-json-after-start-timeout");
    world.ok("limactl stop probefail");
    world.env.faults(json!({"start": {"probefail": "degraded:lab: marker missing\n"}}));
    world.conform("start-probe-fails-degraded");
    world.conform("list-table-after-degraded");
    world.conform("delete-force-running");
}

#[test]
fn start_with_a_missing_image() {
    let world = World::new();
    world.env.faults(json!({"start": {"noimage": "missing-image"}}));
    world.conform("start-missing-image");
    world.conform("list-table-after-missing-image");
    world.conform("delete-leftover-after-missing-image");
}

#[test]
fn validate() {
    let world = World::new();
    for name in ["validate-ok", "validate-base-dotdot", "validate-param-unused"] {
        world.conform(name);
    }
}

// --- state across calls ----------------------------------------------------------------------

fn list_json(env: &FakeEnv) -> Vec<serde_json::Value> {
    let out = env.command("limactl").args(["list", "--json"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn list_json_follows_create_start_stop_delete() {
    let env = FakeEnv::new();
    assert!(list_json(&env).is_empty());
    env.given_instance("demo", false);
    let created = &list_json(&env)[0];
    assert_eq!((created["name"].as_str(), created["status"].as_str()), (Some("demo"), Some("Stopped")));
    assert!(created.get("sshLocalPort").is_none(), "never started: {created}");
    env.command("limactl").args(["start", "demo"]).assert().success();
    let started = &list_json(&env)[0];
    assert_eq!(started["status"], "Running");
    let port = started["sshLocalPort"].as_u64().unwrap();
    assert!(started["hostAgentPID"].as_u64().is_some());
    let config = std::fs::read_to_string(env.lima_home().join("demo/ssh.config")).unwrap();
    assert!(config.ends_with(&format!("  Port {port}\n")), "{config}");
    env.command("limactl").args(["stop", "demo"]).assert().success();
    assert_eq!(list_json(&env)[0]["status"], "Stopped");
    assert_eq!(list_json(&env)[0]["sshLocalPort"].as_u64(), Some(port), "the port stays known when stopped");
    env.command("limactl").args(["delete", "demo"]).assert().success();
    assert!(list_json(&env).is_empty());
    assert_eq!(env.instance_status("demo"), None);
}

#[test]
fn lima_yaml_is_the_template_and_bases_are_embedded_in_the_config() {
    let env = FakeEnv::new();
    env.write_template("layers/image.yaml", DEMO_TEMPLATE);
    env.write_template("layers/core.sh", "#!/bin/bash\necho core {{.Name}}\n");
    let top = "base: layers/image.yaml\nssh:\n  forwardAgent: true\nprovision:\n- mode: user\n  file: layers/core.sh\n";
    let path = env.write_template("top.yaml", top);
    env.command("limactl").args(["create", "--name=proj"]).arg(&path).assert().success();
    assert_eq!(std::fs::read_to_string(env.lima_home().join("proj/lima.yaml")).unwrap(), top);
    let listed = &list_json(&env)[0];
    assert_eq!(listed["config"]["images"][0]["arch"], "x86_64", "{listed}");
    assert_eq!(listed["config"]["provision"][0]["script"], "#!/bin/bash\necho core proj\n");
    env.command("limactl").args(["start", "proj"]).assert().success();
    let ssh_config = std::fs::read_to_string(env.lima_home().join("proj/ssh.config")).unwrap();
    assert!(ssh_config.contains("  ControlPersist yes\n  ForwardAgent yes\n"), "{ssh_config}");
}

#[test]
fn shell_runs_in_the_guest_home_with_machine_root() {
    let env = FakeEnv::new();
    env.given_instance("demo", true);
    env.write_guest_file("demo", "etc/machine-test", "from the guest root\n");
    let script = "pwd; echo \"$HOME\"; cat \"$MACHINE_ROOT/etc/machine-test\"; echo \"${PATH%%:*}\"";
    let out = env.command("limactl").args(["shell", "demo", "--", "sh", "-c", script]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let home = env.guest_home("demo").display().to_string();
    let guest_bin = env.guest_bin().display().to_string();
    assert_eq!(stdout, format!("{home}\n{home}\nfrom the guest root\n{guest_bin}\n"));
    assert!(env.guest_root("demo").join("run/lima-boot-done").is_file());
}

#[test]
fn shell_workdir_must_exist_and_missing_programs_exit_127() {
    let env = FakeEnv::new();
    env.given_instance("demo", true);
    let missing = env.path().join("nowhere");
    env.command("limactl").args(["shell", "--workdir"]).arg(&missing).args(["demo", "pwd"]).assert().code(1);
    env.command("limactl").args(["shell", "demo", "no-such-program-here"]).assert().code(127);
}

#[test]
fn shell_start_boots_a_stopped_instance_and_reconnect_renews_the_master() {
    let env = FakeEnv::new();
    env.given_instance("demo", false);
    env.command("limactl").args(["shell", "--start", "demo", "true"]).assert().success();
    assert_eq!(env.instance_status("demo").as_deref(), Some("Running"));
    let config = env.lima_home().join("demo/ssh.config");
    env.command("ssh").arg("-F").arg(&config).args(["-O", "exit", "lima-demo"]).assert().success();
    env.command("ssh").arg("-F").arg(&config).args(["-O", "check", "lima-demo"]).assert().code(255);
    env.command("limactl").args(["shell", "--reconnect", "demo", "true"]).assert().success();
    env.command("ssh").arg("-F").arg(&config).args(["-O", "check", "lima-demo"]).assert().success();
}

#[test]
fn stop_empties_the_guest_run_folder() {
    let env = FakeEnv::new();
    env.given_instance("demo", true);
    env.write_guest_file("demo", "run/machine/done/core", "ok\n");
    env.command("limactl").args(["stop", "demo"]).assert().success();
    assert!(!env.guest_root("demo").join("run").exists());
    assert!(!env.lima_home().join("demo/ssh.sock").exists());
}

#[test]
fn provision_failure_leaves_markers_and_a_cloud_init_log() {
    let env = FakeEnv::new();
    env.given_instance("demo", false);
    env.faults(json!({"start": {"demo": ["provision-fail:docker:apt-get install docker-ce failed"]}}));
    let out = env.command("limactl").args(["start", "demo"]).assert().success().get_output().clone();
    assert!(String::from_utf8(out.stderr).unwrap().contains("READY."));
    let root = env.guest_root("demo");
    let marker = std::fs::read_to_string(root.join("run/machine/failed/docker")).unwrap();
    assert_eq!(marker, "apt-get install docker-ce failed\n");
    let log = std::fs::read_to_string(root.join("var/log/cloud-init-output.log")).unwrap();
    assert!(log.contains("WARNING: Failed to execute /mnt/lima-cidata/provision."), "{log}");
    assert!(log.contains("Exiting with code 1\n"), "{log}");
}

#[test]
fn start_delay_and_timeout() {
    let env = FakeEnv::new();
    env.given_instance("slow", false);
    env.faults(json!({"start_delay_ms": {"slow": 300}}));
    let began = Instant::now();
    env.command("limactl").args(["start", "--timeout", "100ms", "slow"]).assert().code(1);
    assert_eq!(env.instance_status("slow").as_deref(), Some("Running"), "a timed-out VM stays up");
    env.command("limactl").args(["stop", "slow"]).assert().success();
    env.command("limactl").args(["start", "slow"]).assert().success();
    assert!(began.elapsed() >= Duration::from_millis(400), "{:?}", began.elapsed());
}

#[test]
fn create_faults_and_stdin_templates() {
    let env = FakeEnv::new();
    env.faults(json!({"create": {"bad": "fail:disk full"}}));
    let out = env.command("limactl").args(["create", "--name=bad", "-"]).write_stdin(DEMO_TEMPLATE).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("level=fatal msg=\"disk full\""));
    env.command("limactl").args(["create", "--name=good", "-"]).write_stdin(DEMO_TEMPLATE).assert().success();
    assert_eq!(env.instance_status("good").as_deref(), Some("Stopped"));
    assert_eq!(env.calls()[1]["stdin"], DEMO_TEMPLATE);
}

#[test]
fn calls_are_recorded_with_exact_argv() {
    let env = FakeEnv::new();
    env.given_instance("demo", true);
    env.clear_calls();
    let tricky = ["it's", "two words", "\"quoted\"", ""];
    env.command("limactl").args(["shell", "demo", "--", "true"]).args(tricky).assert().success();
    env.command("limactl").args(["shell", "demo", "git", "config", "--global", "--get", "user.name"]).assert().code(1);
    let calls = env.calls();
    assert_eq!(
        calls[0],
        json!({"tool": "limactl", "args": ["shell", "demo", "--", "true", "it's", "two words", "\"quoted\"", ""]})
    );
    assert_eq!(calls[2], json!({"tool": "git", "args": ["config", "--global", "--get", "user.name"], "guest": "demo"}));
    insta::assert_snapshot!(env.calls_text(), @r#"
    limactl shell demo -- true 'it'\''s' 'two words' '"quoted"' ''
    limactl shell demo git config --global --get user.name
    [guest demo] git config --global --get user.name
    "#);
}

#[test]
fn parallel_calls_do_not_interleave() {
    let env = FakeEnv::new();
    std::thread::scope(|scope| {
        for i in 0..8 {
            let env = &env;
            scope.spawn(move || {
                let url = format!("https://example.invalid/repo-{i}-{}.git", "x".repeat(3000));
                env.command("git").args(["ls-remote", &url, "HEAD"]).assert().success();
            });
        }
    });
    assert_eq!(env.calls().len(), 8);
}

#[test]
fn ssh_add_answers() {
    let env = FakeEnv::new();
    let keys = env.command("ssh-add").arg("-l").output().unwrap();
    assert!(keys.status.success() && String::from_utf8(keys.stdout).unwrap().contains(" SHA256:"));
    env.faults(json!({"ssh_add": "no-keys"}));
    env.command("ssh-add").arg("-l").assert().code(1).stdout("The agent has no identities.\n");
    env.faults(json!({"ssh_add": "no-agent"}));
    env.command("ssh-add")
        .arg("-l")
        .assert()
        .code(2)
        .stderr("Could not open a connection to your authentication agent.\n");
    env.faults(json!({"ssh_add": "hang"}));
    let began = Instant::now();
    let _ = env.command("ssh-add").arg("-l").timeout(Duration::from_millis(300)).output();
    assert!(began.elapsed() < Duration::from_secs(10));
}

#[test]
fn git_answers() {
    let env = FakeEnv::new();
    let repo = env.home().join("proj");
    env.faults(json!({
        "git_config": {"user.name": "Ada Lovelace"},
        "ls_remote": {"https://example.invalid/gone.git": "fail:remote: Repository not found.\nfatal: repository 'https://example.invalid/gone.git/' not found"},
        "clone": {"https://example.invalid/broken.git": "fail:fatal: unable to access"},
        "dirty": {"/guest/work": " M src/main.rs\n"},
        "unpushed": {"/guest/work": "abc1234 wip\n"},
    }));
    let git = |args: &[&str]| env.command("git").args(args).output().unwrap();
    let ok = git(&["ls-remote", "https://example.invalid/repo.git", "HEAD"]);
    assert!(String::from_utf8(ok.stdout).unwrap().ends_with("\tHEAD\n"));
    assert_eq!(git(&["ls-remote", "https://example.invalid/gone.git", "HEAD"]).status.code(), Some(128));
    assert_eq!(git(&["config", "--global", "--get", "user.name"]).stdout, b"Ada Lovelace\n");
    assert_eq!(git(&["config", "--global", "--get", "user.email"]).status.code(), Some(1));
    assert!(git(&["clone", "--recurse-submodules", "--", "https://example.invalid/proj.git"]).status.success());
    assert!(repo.join(".git/HEAD").is_file() && repo.join("README.md").is_file());
    let origin = git(&["-C", repo.to_str().unwrap(), "remote", "get-url", "origin"]);
    assert_eq!(origin.stdout, b"https://example.invalid/proj.git\n");
    assert_eq!(git(&["clone", "https://example.invalid/broken.git", "b"]).status.code(), Some(128));
    assert_eq!(git(&["-C", "/guest/work", "status", "--porcelain"]).stdout, b" M src/main.rs\n");
    assert_eq!(
        git(&["-C", "/guest/work", "log", "--branches", "--not", "--remotes", "--oneline"]).stdout,
        b"abc1234 wip\n"
    );
    assert_eq!(git(&["-C", env.home().to_str().unwrap(), "status", "--porcelain"]).status.code(), Some(128));
    assert_eq!(git(&["gc"]).status.code(), Some(99));
}

/// Branches in a fake clone behave like git's for the commands machine-guest runs.
#[test]
fn git_branches() {
    let env = FakeEnv::new();
    let url = "https://example.invalid/proj.git";
    env.faults(serde_json::json!({"remote_branches": {url: ["main", "topic"]}}));
    let work = env.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let git = |args: &[&str]| env.command("git").current_dir(&work).args(args).output().unwrap();
    let repo = work.join("proj");
    let r = repo.to_str().unwrap();
    assert!(git(&["clone", "--", url, r]).status.success());
    let text = |args: &[&str]| String::from_utf8(git(args).stdout).unwrap();
    assert_eq!(text(&["-C", r, "symbolic-ref", "--quiet", "--short", "HEAD"]), "main\n");
    assert_eq!(text(&["-C", r, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"]), "origin/main\n");
    assert!(git(&["-C", r, "rev-parse", "--verify", "--quiet", "refs/remotes/origin/topic"]).status.success());
    assert_eq!(git(&["-C", r, "rev-parse", "--verify", "--quiet", "refs/heads/topic"]).status.code(), Some(1));
    assert!(git(&["-C", r, "switch", "--quiet", "--track", "-c", "topic", "origin/topic"]).status.success());
    assert_eq!(text(&["-C", r, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"]), "origin/topic\n");
    assert_eq!(
        git(&["-C", r, "switch", "--quiet", "--no-track", "-c", "topic", "origin/main"]).status.code(),
        Some(128)
    );
    assert!(git(&["-C", r, "switch", "--quiet", "--no-track", "-c", "new", "origin/main"]).status.success());
    assert_eq!(git(&["-C", r, "config", "--get", "branch.new.merge"]).status.code(), Some(1));
    assert!(git(&["-C", r, "push", "--quiet", "--set-upstream", "origin", "new"]).status.success());
    assert_eq!(text(&["-C", r, "config", "--get", "branch.new.merge"]), "refs/heads/new\n");
    assert_eq!(git(&["check-ref-format", "--branch", "a..b"]).status.code(), Some(128));
    assert_eq!(text(&["check-ref-format", "--branch", "feature/x"]), "feature/x\n");
    env.faults(serde_json::json!({"fetch": {url: "fail:fatal: unable to access"}}));
    assert_eq!(git(&["-C", r, "fetch", "--prune", "--quiet", "origin"]).status.code(), Some(128));
}

#[test]
fn op_answers() {
    let env = FakeEnv::new();
    env.faults(json!({
        "op_read": {"op://vault/key/public key": "ssh-ed25519 AAAA test", "op://vault/gone/x": "fail:item not found"},
        "op_env": {"env123": {"TOKEN": "t0k", "API_URL": "https://api.invalid"}},
    }));
    env.command("op").args(["read", "op://vault/key/public key"]).assert().success().stdout("ssh-ed25519 AAAA test\n");
    env.command("op").args(["read", "op://vault/gone/x"]).assert().code(1);
    env.command("op").args(["read", "op://vault/unknown/x"]).assert().code(1);
    env.command("op")
        .args(["environment", "read", "env123"])
        .assert()
        .success()
        .stdout("API_URL=https://api.invalid\nTOKEN=t0k\n");
    env.command("op").args(["environment", "read", "nope"]).assert().code(1);
    env.command("op").args(["whoami"]).assert().code(99);
}

#[test]
fn unknown_calls_exit_99_and_a_missing_root_exits_97() {
    let env = FakeEnv::new();
    let out = env.command("limactl").args(["snapshot", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(99));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "fake limactl: unsupported: snapshot list\n");
    env.command("limactl").args(["create", "--cpus=4", "x.yaml"]).assert().code(99);
    env.command("limactl").env_remove("MACHINE_FAKE_ROOT").arg("list").assert().code(97);
}

#[test]
fn validate_rejects_what_is_not_a_mapping() {
    let env = FakeEnv::new();
    let path = env.write_template("list.yaml", "- just\n- a list\n");
    env.command("limactl").arg("validate").arg(&path).assert().code(1);
    env.command("limactl").arg("validate").arg(env.path().join("absent.yaml")).assert().code(1);
}

/// Lima 2.2.0 never embeds a probe's `file:` (only probes with an empty `script:`), then refuses
/// it; the fake does the same, so a stack that relies on it fails here as it does on Lima.
#[test]
fn validate_refuses_a_probe_file_as_lima_does() {
    let env = FakeEnv::new();
    env.write_template("probe.sh", "#!/bin/sh\ntrue\n");
    let path = env.write_template("p.yaml", "images: [{location: /x.qcow2}]\nprobes:\n- file: probe.sh\n");
    let out = env.command("limactl").arg("validate").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr
            .contains("field `probe[0].file.url` must be empty during validation (script should already be embedded)"),
        "{stderr}"
    );
    let path =
        env.write_template("q.yaml", "images: [{location: /x.qcow2}]\nprobes:\n- script: \"\"\n  file: probe.sh\n");
    env.command("limactl").arg("validate").arg(&path).assert().success();
    let path = env.write_template("r.yaml", "images: [{location: /x.qcow2}]\nprobes:\n- script: test -e /x\n");
    let out = env.command("limactl").arg("validate").arg(&path).output().unwrap();
    assert!(String::from_utf8(out.stderr).unwrap().contains("field `probe[0].script` must start with a '#!' line"));
}

#[test]
fn machine_runs_in_the_hermetic_environment() {
    let env = FakeEnv::new();
    env.machine().arg("--version").assert().success();
    assert!(env.calls().is_empty(), "--version runs no external program");
}
