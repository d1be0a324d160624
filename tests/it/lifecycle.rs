//! `up`, `down`, `ssh`, `run`, `claude`, `list` and `destroy` against the fake Lima, with the
//! recorded invocations snapshotted.

use serde_json::json;

use crate::fake::{FakeEnv, KEY, env_with, machine, stderr};

const BLOG: &str = "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n";

/// Recorded calls, with the temp root and the bake VM's key (it changes with any layer) redacted.
fn calls(env: &FakeEnv) -> String {
    let text = env.calls_text();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = [rest.find("bake-"), rest.find("bake/")].into_iter().flatten().min() {
        let (head, tail) = rest.split_at(i + 5);
        out.push_str(head);
        let hex = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex == 16 {
            out.push_str("<key>");
            rest = &tail[16..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn up_creates_starts_provisions_and_clones() {
    let env = env_with(BLOG);
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("✓ blog is ready"), "{}", stderr(&out));
    assert_eq!(env.instance_status("blog").as_deref(), Some("Running"));
    assert!(env.guest_home("blog").join("code/blog/.git").is_dir(), "the repo is cloned into ~/code/blog");
    let applied: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path().join("state/blog/applied.json")).unwrap()).unwrap();
    assert_eq!(applied["cloned"], json!(["blog"]));
    insta::assert_snapshot!(calls(&env));
}

#[test]
fn re_up_of_a_running_current_vm_only_lists() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    env.clear_calls();
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        calls(&env),
        "limactl list --format <LIST_FORMAT>\n",
        "no provisioning, no cloning, no reachability check"
    );
}

#[test]
fn a_failed_provision_step_fails_up_naming_it_with_the_log() {
    let env = env_with(BLOG);
    env.faults(json!({"start": {"blog": "provision-fail:docker:apt-get install docker-ce exited 100"}}));
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("error: provisioning failed in VM `blog`"), "{err}");
    assert!(err.contains("failed docker: apt-get install docker-ce exited 100"), "{err}");
    assert!(err.contains("the guest's provisioning log ends with:"), "{err}");
    assert!(
        err.contains("hint: fix the cause, then run `machine down blog && machine up blog` to provision again"),
        "{err}"
    );
    assert!(!env.guest_home("blog").join("code/blog").exists(), "nothing is cloned into a half-provisioned VM");

    // The VM stays up after the failure: a second `up` must not call it ready.
    let again = machine(&env).args(["up", "blog"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(stderr(&again).contains("failed docker"), "{}", stderr(&again));

    // A reboot re-runs provisioning; once it succeeds, `up` goes on to clone.
    env.faults(json!({}));
    machine(&env).args(["down", "blog"]).assert().success();
    let fixed = machine(&env).args(["up", "blog"]).output().unwrap();
    assert!(fixed.status.success(), "{}", stderr(&fixed));
    assert!(env.guest_home("blog").join("code/blog/.git").is_dir());
}

/// A user profile's script has no failure marker; Lima's own log line says it failed, and `up`
/// names the profile, on the first boot and again on the next `up` of the running VM.
#[test]
fn a_failing_user_profile_script_fails_up_naming_the_profile() {
    let env = env_with(&format!("{BLOG}profiles = [\"broken\"]\n"));
    let profiles = env.path().join("config/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(profiles.join("broken.sh"), "#!/bin/sh\necho broken-profile-step\nexit 7\n").unwrap();
    env.faults(json!({"start": {"blog": "script-fail:broken-profile-step"}}));
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("error: provisioning failed in VM `blog`"), "{err}");
    assert!(
        err.contains("failed broken: its system script exited non-zero (Lima's /mnt/lima-cidata/provision.system/"),
        "{err}"
    );
    assert!(!env.guest_home("blog").join("code/blog").exists(), "nothing is cloned into a half-provisioned VM");
    let again = machine(&env).args(["up", "blog"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(stderr(&again).contains("failed broken:"), "{}", stderr(&again));

    // The log keeps every boot; the next clean boot is what counts.
    env.faults(json!({}));
    machine(&env).args(["down", "blog"]).assert().success();
    machine(&env).args(["up", "blog"]).assert().success();
}

/// Lima 2.2.0 can link the forwarded agent before /run/host-services exists; the core layer
/// prevents it, and should it happen anyway `up` says what it was and what to do.
#[test]
fn the_agent_link_race_is_named() {
    let env = env_with(BLOG);
    env.faults(json!({"start": {"blog": "agent-link-race"}}));
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("error: Lima could not link the forwarded SSH agent into VM `blog`"), "{err}");
    assert!(err.contains("/run/host-services did not exist yet"), "{err}");
    assert!(err.contains("hint: the VM is running: `machine down blog && machine up blog`"), "{err}");
}

#[test]
fn the_core_layer_creates_the_agent_folder_at_boot() {
    let core = machine::compiler::layers::Catalog::builtin().layer("core").unwrap().clone();
    let provision = core.body.get("provision").and_then(|p| p.as_sequence()).unwrap();
    let boot = provision
        .iter()
        .find(|p| p.get("mode").and_then(|m| m.as_str()) == Some("boot"))
        .and_then(|p| p.get("script"))
        .and_then(|s| s.as_str())
        .expect("core has a boot step");
    assert!(
        boot.contains("mkdir -p /run/host-services") && boot.contains("chown {{.UID}} /run/host-services"),
        "{boot}"
    );
}

#[test]
fn a_lima_vm_machine_did_not_create_is_never_adopted() {
    let env = env_with(BLOG);
    env.given_instance("default", true);
    let out = machine(&env).arg("up").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("a Lima VM `default` exists, but machine did not create it"), "{err}");
    assert!(err.contains("machine up default --recreate"), "{err}");
    assert!(!calls(&env).contains("shell"), "nothing ran inside it: {}", calls(&env));
}

#[test]
fn run_opens_in_the_home_when_the_primary_repo_was_never_cloned() {
    let env = env_with("[b]\nrepos = [\"git@github.com:you/a.git\"]\nforward_agent = false\n");
    env.faults(json!({"clone": {"git@github.com:you/a.git": "fail:Permission denied (publickey)."}}));
    machine(&env).args(["up", "b"]).assert().success();
    let out = machine(&env).args(["run", "b", "--", "pwd"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), env.guest_home("b").display().to_string());
}

#[test]
fn unreachable_repos_are_all_listed_before_anything_is_created() {
    let env = env_with(
        "[app]\nrepos = [\"git@github.com:you/a.git\", \"git@github.com:you/b.git\", \"https://github.com/you/ok.git\"]\n",
    );
    env.faults(json!({"ls_remote": {
        "git@github.com:you/a.git": "fail:ERROR: Repository not found.",
        "git@github.com:you/b.git": "fail:git@github.com: Permission denied (publickey)."
    }}));
    let out = machine(&env).args(["up", "app"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("error: cannot reach 2 repo(s) from this host"), "{err}");
    assert!(err.contains("git@github.com:you/a.git") && err.contains("ERROR: Repository not found."), "{err}");
    assert!(!err.contains("you/ok.git"), "reachable repos are not listed: {err}");
    assert!(err.contains("Permission denied (publickey)."), "{err}");
    assert!(!calls(&env).contains("create"), "nothing is created: {}", calls(&env));
    let agent = env.path().join("state/app/agent");
    assert!(agent.join("policy.json").is_file(), "the VM's scoped agent had been set up");
    assert!(!agent.join("daemon.pid").exists(), "and was stopped again");
    assert!(std::os::unix::net::UnixStream::connect(agent.join("agent.sock")).is_err(), "nothing serves its socket");
}

#[test]
fn a_changed_configuration_is_reported_with_how_to_apply_it() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    std::fs::write(env.path().join("config/projects.toml"), format!("{BLOG}cpus = 6\nprofiles = [\"modern\"]\n"))
        .unwrap();
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("the VM was created from a different configuration"), "{err}");
    assert!(err.contains("+ layer modern") && err.contains("+ cpus: 6"), "{err}");
    assert!(err.contains("machine up blog --recreate"), "{err}");
}

#[test]
fn recreate_warns_about_unpushed_work_then_rebuilds() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    std::fs::write(env.path().join("config/projects.toml"), format!("{BLOG}cpus = 6\n")).unwrap();
    let blog = env.guest_home("blog").join("code/blog");
    env.faults(json!({"unpushed": {blog.display().to_string(): "abc1234 work in progress"}}));
    let out = machine(&env).args(["up", "blog", "--recreate", "-y"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("work in VM `blog` that exists nowhere else") && err.contains("unpushed blog 1"), "{err}");
    assert!(calls(&env).contains("limactl --tty=false delete -f blog"), "{}", calls(&env));
    let instance = std::fs::read_to_string(env.lima_home().join("blog/lima.yaml")).unwrap();
    assert!(instance.contains("cpus: 6"), "the new VM has the new configuration");
}

#[test]
fn recreate_without_a_terminal_needs_yes() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    let out = machine(&env).args(["up", "blog", "--recreate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("hint: pass -y to confirm"), "{}", stderr(&out));
    assert_eq!(env.instance_status("blog").as_deref(), Some("Running"), "nothing was destroyed");
}

#[test]
fn a_clone_failure_is_fatal_with_agent_forwarding_and_a_warning_without() {
    let env = env_with(
        "[a]\nrepos = [\"git@github.com:you/a.git\"]\n[b]\nrepos = [\"git@github.com:you/a.git\"]\nforward_agent = false\n",
    );
    env.faults(json!({"clone": {"git@github.com:you/a.git": "fail:git@github.com: Permission denied (publickey)."}}));
    let out = machine(&env).args(["up", "a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot clone git@github.com:you/a.git in VM `a`"), "{}", stderr(&out));
    let out = machine(&env).args(["up", "b"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("⚠ b is ready, with warnings:") && err.contains("install a deploy key"), "{err}");
}

#[test]
fn down_stops_and_is_idempotent() {
    let env = env_with(BLOG);
    let out = machine(&env).args(["down", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("there is no VM `blog`"), "{}", stderr(&out));
    machine(&env).args(["up", "blog"]).assert().success();
    machine(&env).args(["down", "blog"]).assert().success();
    assert_eq!(env.instance_status("blog").as_deref(), Some("Stopped"));
    let out = machine(&env).args(["down", "blog"]).output().unwrap();
    assert!(out.status.success());
    assert!(stderr(&out).contains("VM `blog` is already stopped"), "{}", stderr(&out));
}

#[test]
fn up_after_down_boots_again_and_keeps_the_clone() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    machine(&env).args(["down", "blog"]).assert().success();
    env.clear_calls();
    machine(&env).args(["up", "blog"]).assert().success();
    let calls = calls(&env);
    assert!(calls.contains("limactl --tty=false start blog"), "{calls}");
    assert!(!calls.contains("create") && !calls.contains("clone"), "{calls}");
    assert!(env.guest_home("blog").join("code/blog/.git").is_dir());
}

#[test]
fn destroy_removes_the_vm_and_state_but_never_the_configuration() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    let out = machine(&env).args(["destroy", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "without a terminal, destroy needs -y");
    assert_eq!(env.instance_status("blog").as_deref(), Some("Running"));
    machine(&env).args(["destroy", "-y", "blog"]).assert().success();
    assert_eq!(env.instance_status("blog"), None);
    assert!(!env.path().join("state/blog").exists());
    assert_eq!(std::fs::read_to_string(env.path().join("config/projects.toml")).unwrap(), BLOG);
}

#[test]
fn run_passes_the_guest_exit_code_and_opens_in_the_primary_repo() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    let out = machine(&env).args(["run", "blog", "--", "sh", "-c", "pwd; echo 'a b'; exit 7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with(&format!("{}\n", env.guest_home("blog").join("code/blog").display())), "{stdout}");
    assert!(stdout.contains("a b"), "{stdout}");
}

#[test]
fn run_and_ssh_need_a_running_vm() {
    let env = env_with(BLOG);
    let out = machine(&env).args(["run", "blog", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("hint: create it with `machine up blog`"), "{}", stderr(&out));
    machine(&env).args(["up", "blog"]).assert().success();
    machine(&env).args(["down", "blog"]).assert().success();
    let out = machine(&env).args(["ssh", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("VM `blog` is not running (it is stopped)"), "{}", stderr(&out));
}

/// The master Lima opens at boot predates provisioning: a boot that may change the login shell
/// reopens it; a restart of a provisioned VM (every stamp current) keeps it, one ssh handshake
/// fewer.
#[test]
fn only_a_boot_that_provisions_reopens_the_master() {
    let env = env_with(BLOG);
    // `down` then `up` of the VM: the calls that `up` made.
    let restart = || {
        machine(&env).args(["down", "blog"]).assert().success();
        env.clear_calls();
        machine(&env).args(["up", "blog"]).assert().success();
        calls(&env)
    };
    machine(&env).args(["up", "blog"]).assert().success();
    assert!(calls(&env).contains("-O exit lima-blog"), "a first boot: {}", calls(&env));
    let ran = restart();
    assert!(!ran.contains("-O exit"), "a restart: {ran}");

    // A boot after a failed provisioning runs the layers' work again.
    machine(&env).args(["down", "blog"]).assert().success();
    env.faults(json!({"start": {"blog": "provision-fail:docker:apt-get exited 100"}}));
    machine(&env).args(["up", "blog"]).assert().code(1);
    env.faults(json!({}));
    let ran = restart();
    assert!(ran.contains("-O exit lima-blog"), "a boot after a failed one: {ran}");

    // A boot nothing called failed, but whose verdict the guest could not give (its helper
    // broke), is not taken for clean: the next restart reopens the master too.
    machine(&env).args(["down", "blog"]).assert().success();
    let helper = env.guest_bin().join("machine-guest");
    std::fs::rename(&helper, env.guest_bin().join("machine-guest.real")).unwrap();
    let wrapper = format!(
        "#!/bin/sh\n[ \"$1\" = status ] && exit 127\nexec '{}' \"$@\"\n",
        env.guest_bin().join("machine-guest.real").display()
    );
    std::fs::write(&helper, wrapper).unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    machine(&env).args(["up", "blog"]).assert().success();
    std::fs::rename(env.guest_bin().join("machine-guest.real"), &helper).unwrap();
    let ran = restart();
    assert!(ran.contains("-O exit lima-blog"), "a boot after an unverified one: {ran}");
    let ran = restart();
    assert!(!ran.contains("-O exit"), "and once verified, a restart keeps it: {ran}");
}

#[test]
fn ssh_reopens_a_master_whose_agent_went_stale() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    env.faults(json!({"ssh_add": "keys", "ssh_add_guest": "no-keys"}));
    env.clear_calls();
    machine(&env).args(["ssh", "blog"]).write_stdin("").assert().success();
    let calls = calls(&env);
    assert!(calls.contains("-O exit lima-blog"), "the stale master is closed: {calls}");
}

#[test]
fn ssh_keeps_a_healthy_master() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    env.clear_calls();
    machine(&env).args(["ssh", "blog"]).write_stdin("").assert().success();
    assert!(!calls(&env).contains("-O exit"), "{}", calls(&env));
}

#[test]
fn claude_and_codex_run_in_a_named_tmux_session_in_the_primary_repo() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    let out = machine(&env).args(["claude", "blog"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("reattach with `machine claude blog`"), "{}", stderr(&out));
    machine(&env).args(["codex", "blog"]).assert().success();
    let tmux: Vec<String> = env.guest_tools_log().lines().filter(|l| l.starts_with("tmux")).map(String::from).collect();
    assert_eq!(tmux, ["tmux new-session -A -s claude claude", "tmux new-session -A -s codex codex"]);
    assert!(
        calls(&env)
            .contains("limactl shell --shell=/usr/bin/zsh --workdir=<root>/guests/blog/home/code/blog blog -- tmux"),
        "the agent runs in the project's login shell: {}",
        calls(&env)
    );
}

/// tmux refuses a terminal it cannot clear: with TERM unset or `dumb`, the session gets a
/// usable one, and machine says so.
#[test]
fn an_unusable_term_is_replaced_for_tmux() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    for term in [None, Some("dumb")] {
        let mut cmd = machine(&env);
        cmd.args(["-v", "claude", "blog"]);
        match term {
            Some(t) => cmd.env("TERM", t),
            None => cmd.env_remove("TERM"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("which tmux cannot use: the session gets TERM=xterm-256color"), "{err}");
        assert!(err.contains(" TERM=xterm-256color limactl shell --shell=/usr/bin/zsh"), "{err}");
    }
    let out = machine(&env).args(["-v", "claude", "blog"]).env("TERM", "screen-256color").output().unwrap();
    assert!(!stderr(&out).contains("TERM=xterm-256color"), "a usable TERM is kept: {}", stderr(&out));
}

#[test]
fn run_and_ssh_use_the_project_s_login_shell() {
    let env = env_with("[blog]\nrepos = [\"https://github.com/you/blog.git\"]\nshell = \"bash\"\n");
    machine(&env).args(["up", "blog"]).assert().success();
    env.clear_calls();
    machine(&env).args(["run", "blog", "--", "true"]).assert().success();
    machine(&env).args(["ssh", "blog"]).write_stdin("").assert().success();
    let calls = calls(&env);
    assert!(calls.contains("limactl shell --shell=/usr/bin/bash --workdir="), "{calls}");
    assert!(!calls.contains("--shell=/usr/bin/zsh"), "{calls}");
}

#[test]
fn list_shows_lima_instances_and_configured_projects() {
    let env = env_with(&format!("{BLOG}[later]\nrepos = []\n"));
    machine(&env).args(["up", "blog"]).assert().success();
    env.given_instance("other", false);
    let out = machine(&env).arg("list").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
    let out = machine(&env).args(["list", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["blog", "later", "other"]);
    assert_eq!(v["projects"][1]["status"], "not created");
    assert_eq!(v["projects"][2]["configured"], false);
}

#[test]
fn a_missing_limactl_says_how_to_install_it() {
    let env = env_with(BLOG);
    std::fs::remove_file(env.bin().join("limactl")).unwrap();
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("error: `limactl` was not found on PATH") && err.contains("hint: install Lima"), "{err}");
}

#[test]
fn up_refuses_a_missing_identity_with_the_fix() {
    let env = env_with(BLOG);
    let out = env.machine().env("ONEPASS_SOCK", "/dev/null").args(["up", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("git config --global user.name"), "{}", stderr(&out));
}

#[test]
fn an_unknown_project_is_a_usage_error() {
    let env = env_with(BLOG);
    let out = machine(&env).args(["up", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no project `nope`"), "{}", stderr(&out));
}

#[test]
fn a_pruned_or_rebaked_cache_is_not_a_configuration_change() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    std::fs::remove_dir_all(env.path().join("cache/disks")).unwrap();
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("different configuration"), "{}", stderr(&out));
}

#[test]
fn verbose_prints_every_command_it_runs() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    let out = machine(&env).args(["-v", "up", "blog"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ran: Vec<String> = stderr(&out).lines().filter(|l| l.starts_with("$ ")).map(String::from).collect();
    let list = format!("$ limactl list --format '{}'", machine::driver::lima::LIST_FORMAT.replace('\'', "'\\''"));
    assert_eq!(ran, [list], "one line per program, shell-quoted");
}

#[test]
fn an_interrupt_mid_start_leaves_no_half_written_file() {
    use std::os::unix::process::ExitStatusExt as _;
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    machine(&env).args(["down", "blog"]).assert().success();
    env.faults(json!({"start_delay_ms": 5000}));
    let path = std::env::join_paths(
        std::iter::once(env.bin()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("machine"))
        .env_clear()
        .env("PATH", path)
        .env("HOME", env.home())
        .env("LIMA_HOME", env.lima_home())
        .env("MACHINE_FAKE_ROOT", env.path())
        .env("MACHINE_STATE_DIR", env.path().join("state"))
        .env("MACHINE_CONFIG_DIR", env.path().join("config"))
        .env("MACHINE_CACHE_DIR", env.path().join("cache"))
        .env("GIT_NAME", "Ada Lovelace")
        .env("GIT_EMAIL", "ada@example.com")
        .env("GIT_SIGNING_KEY", KEY)
        .env("ONEPASS_SOCK", "/dev/null")
        .current_dir(env.home())
        .args(["up", "blog"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(2), "Ctrl-C ends machine like any program (the shell reports 130)");
    let leftovers: Vec<_> =
        walk(&env.path().join("state")).into_iter().filter(|p| p.to_string_lossy().contains(".tmp")).collect();
    assert!(leftovers.is_empty(), "temp files left behind: {leftovers:?}");
    let applied: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path().join("state/blog/applied.json")).unwrap()).unwrap();
    assert_eq!(applied["cloned"], json!(["blog"]), "the record is whole: the old one, not a mix");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// What the guest says reaches the host's terminal shown, never obeyed: a failure reason with
/// OSC 52 (write the clipboard) and an erase-line sequence arrives escaped.
#[test]
fn guest_text_is_escaped_before_it_reaches_the_terminal() {
    let env = env_with(BLOG);
    env.faults(json!({"start": {"blog": "provision-fail:docker:pwned \u{1b}]52;c;aGVsbG8=\u{7}\u{1b}[2K"}}));
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "no raw control character: {err:?}");
    assert!(err.contains("pwned \\u{1b}]52;c;aGVsbG8=\\u{7}\\u{1b}[2K"), "{err}");
}

/// A config value echoed in an error is escaped too.
#[test]
fn config_values_in_errors_are_escaped() {
    let env = env_with("[blog]\nprofiles = [\"\\u001b[2Kcypress\"]\n");
    let out = machine(&env).args(["render", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(err.contains("unknown profile `\\u{1b}[2Kcypress`"), "{err}");
}

/// `down` during an `up` of the same project waits for it (before, it stopped the VM mid-clone).
#[test]
fn down_waits_for_an_up_of_the_same_project() {
    let env = env_with(BLOG);
    env.faults(json!({"start_delay_ms": {"blog": 1500}}));
    std::thread::scope(|s| {
        let up = s.spawn(|| machine(&env).args(["up", "blog"]).output().unwrap());
        // Until `up` holds the lock (it takes it before anything else), `down` has nothing to stop.
        while !env.calls_text().contains("limactl --tty=false start blog") {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let down = machine(&env).args(["down", "blog"]).output().unwrap();
        let up = up.join().unwrap();
        assert!(up.status.success(), "up: {}", stderr(&up));
        assert!(down.status.success(), "down: {}", stderr(&down));
        assert!(stderr(&down).contains("waiting for another machine command on `blog` to finish"), "{}", stderr(&down));
    });
    assert!(env.guest_home("blog").join("code/blog/.git").is_dir(), "the clone finished");
    assert_eq!(env.instance_status("blog").as_deref(), Some("Stopped"), "then down stopped it");
}

/// Killed right after `limactl create`: the next `up` makes the VM again by itself (before, it
/// refused it as a VM machine did not create, and only `--recreate` got out).
#[test]
fn an_up_killed_after_create_is_recovered_by_the_next_up() {
    let env = env_with(BLOG);
    env.faults(json!({"create": {"blog": "kill-caller"}}));
    let killed = machine(&env).args(["up", "blog"]).output().unwrap();
    assert_eq!(killed.status.code(), None, "killed by a signal: {}", stderr(&killed));
    assert_eq!(env.instance_status("blog").as_deref(), Some("Stopped"), "the VM was created");
    env.faults(json!({}));
    let again = machine(&env).args(["up", "blog"]).output().unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("removing VM `blog`, left by an interrupted create"), "{}", stderr(&again));
    assert_eq!(env.instance_status("blog").as_deref(), Some("Running"));
}

/// `destroy` never deletes a VM machine did not make (Lima's own `default`) unless told to.
#[test]
fn destroy_refuses_a_vm_machine_did_not_create() {
    let env = env_with(BLOG);
    env.given_instance("default", false);
    let out = machine(&env).args(["destroy", "-y", "default"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the Lima VM `default` was not created by machine, so it is not deleted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.instance_status("default").as_deref(), Some("Stopped"), "still there");
    machine(&env).args(["destroy", "-y", "--force", "default"]).assert().success();
    assert_eq!(env.instance_status("default"), None);
}

#[test]
fn list_without_limactl_shows_the_configured_projects() {
    let env = env_with(&format!("{BLOG}[wiki]\n"));
    std::fs::remove_file(env.bin().join("limactl")).unwrap();
    let out = machine(&env).args(["list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<(&str, &str)> = v["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("blog", "unknown"), ("wiki", "unknown")]);
    assert!(stderr(&out).contains("limactl is not on PATH, so the VMs' states are unknown"), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint: install Lima"), "{}", stderr(&out));
}

#[test]
fn bake_without_limactl_says_so_once() {
    let env = env_with(BLOG);
    std::fs::remove_file(env.bin().join("limactl")).unwrap();
    let out = machine(&env).args(["bake", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).matches("`limactl` was not found on PATH").count(), 1, "{}", stderr(&out));
}

#[test]
fn run_without_dashes_says_where_they_go() {
    let env = env_with(BLOG);
    let out = machine(&env).args(["run", "blog", "ls", "-la"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("hint: put the command after `--`: `machine run blog -- ls -la`"),
        "{}",
        stderr(&out)
    );
}

/// Editing a project whose VM exists says what the change is and that it needs `--recreate`.
#[test]
fn editing_a_project_with_a_vm_says_it_needs_recreate() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    let out = machine(&env).args(["create", "blog", "--cpus", "6", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("VM `blog` exists; the VM was created from a different configuration"), "{err}");
    assert!(err.contains("+ cpus: 6"), "{err}");
    assert!(err.contains("`machine up blog --recreate`"), "{err}");
    assert!(!err.contains("to create and start it"), "{err}");
}

fn recorded_inputs(env: &FakeEnv) -> Option<String> {
    let text = std::fs::read_to_string(env.path().join("state/blog/applied.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    record["current"]["inputs"].as_str().map(String::from)
}

/// `status`'s word on the stack (it uses the same record, without compiling on a match).
fn stack_status(env: &FakeEnv, vars: &[(&str, &str)]) -> String {
    let out = machine(env).args(["status", "blog", "--json"]).envs(vars.iter().copied()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    status["vms"][0]["stack"].as_str().unwrap().to_string()
}

fn up_warnings(env: &FakeEnv, vars: &[(&str, &str)]) -> String {
    let out = machine(env).args(["up", "blog"]).envs(vars.iter().copied()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
}

/// A re-`up` whose record holds the fingerprint of the same compile inputs does not compile
/// again; every change to those inputs is still found as drift, and a stack with a user
/// profile (whose files may change on their own) is always compiled.
#[test]
fn a_current_vm_is_not_compiled_again_and_every_change_is_still_found() {
    let env = env_with(BLOG);
    let projects = env.path().join("config/projects.toml");
    up_warnings(&env, &[]);
    assert_eq!(recorded_inputs(&env), None, "a new VM's record comes from create");
    assert!(!up_warnings(&env, &[]).contains("different configuration"));
    let first = recorded_inputs(&env).expect("a current stack records its inputs");
    assert!(!up_warnings(&env, &[]).contains("different configuration"));
    assert_eq!(recorded_inputs(&env).as_deref(), Some(first.as_str()));
    assert_eq!(stack_status(&env, &[]), "current");
    assert_eq!(stack_status(&env, &[("GIT_NAME", "Grace Hopper")]), "drifted", "status sees what up would");
    // status takes the record's word for these inputs, without compiling: a record whose
    // stack key no compile would give still reads as current while its fingerprint matches.
    let path = env.path().join("state/blog/applied.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
    record["key"] = "0".repeat(64).into();
    std::fs::write(&path, record.to_string()).unwrap();
    assert_eq!(stack_status(&env, &[]), "current", "the memo, not a compile");
    assert_eq!(stack_status(&env, &[("GIT_NAME", "Grace Hopper")]), "drifted", "other inputs compile");
    std::fs::write(&path, text).unwrap();

    std::fs::write(&projects, format!("{BLOG}cpus = 3\n")).unwrap();
    assert_eq!(stack_status(&env, &[]), "drifted");
    assert!(up_warnings(&env, &[]).contains("+ cpus: 3"), "a project change");
    assert_eq!(recorded_inputs(&env), None, "a drifted VM records no inputs");
    std::fs::write(&projects, BLOG).unwrap();
    assert!(!up_warnings(&env, &[]).contains("different configuration"));
    assert_eq!(recorded_inputs(&env).as_deref(), Some(first.as_str()), "the same inputs again");
    let other = up_warnings(&env, &[("GIT_NAME", "Grace Hopper")]);
    assert!(other.contains("different configuration") && other.contains("Grace Hopper"), "an identity change: {other}");

    // A user profile: compiled every time, so an edit of its script is found.
    let profiles = env.path().join("config/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(profiles.join("mine.sh"), "#!/bin/sh\necho one\n").unwrap();
    std::fs::write(&projects, format!("{BLOG}profiles = [\"mine\"]\n")).unwrap();
    machine(&env).args(["up", "blog", "--recreate", "-y"]).assert().success();
    up_warnings(&env, &[]);
    assert_eq!(recorded_inputs(&env), None, "no fingerprint with a user profile in the chain");
    std::fs::write(profiles.join("mine.sh"), "#!/bin/sh\necho two\n").unwrap();
    assert!(up_warnings(&env, &[]).contains("layer content changed"), "the edited script");
}

/// What the compile warned about, a re-`up` that does not compile says again.
#[test]
fn a_current_vm_s_warnings_are_shown_on_every_up() {
    let env = env_with(&format!("{BLOG}[blog.lima]\nmounts = [{{ location = \"~/notes\" }}]\n"));
    for round in 0..3 {
        let err = up_warnings(&env, &[]);
        assert!(err.contains("project `blog` lets its VM reach the host"), "round {round}: {err}");
    }
    assert!(recorded_inputs(&env).is_some());
    // A replace after the record's warnings were shown compiles again, and says them once.
    let out = machine(&env).args(["up", "blog", "--recreate", "-y"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out).matches("lets its VM reach the host").count(), 1, "{}", stderr(&out));
}

/// A VM deleted behind machine's back (`limactl delete`): `status` says so instead of calling
/// its stack current, and `up` says the VM and its work are gone before making it again.
#[test]
fn a_vm_deleted_outside_machine_is_reported_and_made_again() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    env.command("limactl").args(["delete", "-f", "blog"]).assert().success();
    let out = machine(&env).args(["status", "blog", "--json"]).output().unwrap();
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let json = &all["vms"][0];
    assert_eq!(json["state"], "not created", "{json}");
    assert_eq!(json["stack"], "unknown", "{json}");
    assert!(json["drift"].as_str().unwrap().contains("the Lima VM is gone (deleted outside machine)"), "{json}");
    assert!(json["provisioned"].is_null(), "{json}");
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("the VM `blog` machine made is gone (deleted outside machine)"), "{err}");
    assert_eq!(env.instance_status("blog").as_deref(), Some("Running"));
}

/// A record still marked `creating` (an `up` running `limactl create`, or one interrupted there)
/// is no VM deleted outside machine.
#[test]
fn status_leaves_an_interrupted_create_alone() {
    let env = env_with(BLOG);
    let dir = env.path().join("state/blog");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("applied.json"),
        r#"{"key":"k","layers":[],"instance_yaml":"","creating":true,"project":"blog"}"#,
    )
    .unwrap();
    let out = machine(&env).args(["status", "blog", "--json"]).output().unwrap();
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    let drift = all["vms"][0]["drift"].to_string();
    assert!(!drift.contains("deleted outside machine"), "{all}");
}
