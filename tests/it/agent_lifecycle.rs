//! The scoped agent's lifecycle against the fake Lima: `up` starts it before `limactl start`,
//! every `limactl start`/`shell` and master reset of the VM carries its socket, sessions start
//! it again when it is gone, `down` and `destroy` stop it; and, with a real ssh-agent behind it,
//! what the fake guest sees through the fake master and what `machine agent log` shows.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::fake::{FakeEnv, env_with, machine, stderr};
use crate::scoped_agent::Keys;

const BLOG: &str = "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n";

fn agent_dir(env: &FakeEnv, instance: &str) -> PathBuf {
    env.path().join("state").join(instance).join("agent")
}

fn pid(env: &FakeEnv) -> String {
    std::fs::read_to_string(agent_dir(env, "blog").join("daemon.pid")).unwrap_or_default().trim().to_string()
}

fn serving(env: &FakeEnv) -> bool {
    UnixStream::connect(agent_dir(env, "blog").join("agent.sock")).is_ok()
}

/// The `limactl` calls for `sub` (`start`, `shell`) and the socket each had, in order.
fn sockets_of(env: &FakeEnv, sub: &str) -> Vec<Option<String>> {
    env.calls()
        .iter()
        .filter(|c| c["tool"] == "limactl" && c.get("guest").is_none())
        .filter(|c| c["args"].as_array().unwrap().iter().any(|a| a == sub))
        .filter(|c| c["args"].as_array().unwrap().iter().any(|a| a == "blog"))
        .map(|c| c["ssh_auth_sock"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn up_starts_the_agent_first_and_every_master_gets_its_socket() {
    let env = env_with(BLOG);
    let out = machine(&env).env("SSH_AUTH_SOCK", "/run/user/1/real-agent.sock").args(["up", "blog"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let socket = agent_dir(&env, "blog").join("agent.sock").display().to_string();
    let starts = sockets_of(&env, "start");
    assert_eq!(starts, [Some(socket.clone())], "limactl start opens the master with the scoped socket");
    let shells = sockets_of(&env, "shell");
    assert!(!shells.is_empty() && shells.iter().all(|s| s.as_deref() == Some(socket.as_str())), "{shells:?}");
    let resets: Vec<Value> = env.calls().into_iter().filter(|c| c["tool"] == "ssh").collect();
    assert!(!resets.is_empty() && resets.iter().all(|c| c["ssh_auth_sock"] == socket.as_str()), "{resets:?}");
    // The guest's side of the fake master forwards the same socket.
    let guest: Vec<Value> = env.calls().into_iter().filter(|c| c.get("guest").is_some()).collect();
    assert!(guest.iter().all(|c| c["ssh_auth_sock"] == socket.as_str()), "{guest:?}");

    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!(mode(&agent_dir(&env, "blog")), 0o700);
    assert_eq!(mode(Path::new(&socket)), 0o600);
    assert!(serving(&env), "the agent outlives `machine up`");
    let policy: Value =
        serde_json::from_str(&std::fs::read_to_string(agent_dir(&env, "blog").join("policy.json")).unwrap()).unwrap();
    assert_eq!(policy["upstream"], "/run/user/1/real-agent.sock", "the host's own agent is behind it");
    assert_eq!(policy["keys"], json!([]), "no ssh_keys: every key");
    assert_eq!(policy["lima_dir"], env.lima_home().join("blog").display().to_string());

    machine(&env).args(["down", "blog"]).assert().success();
}

#[test]
fn sessions_restart_a_dead_agent_and_down_and_destroy_stop_it() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    let first = pid(&env);
    assert!(!first.is_empty() && serving(&env));
    // A crash: the socket file stays, nobody listens.
    std::process::Command::new("kill").args(["-KILL", &first]).status().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while serving(&env) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    env.clear_calls();
    machine(&env).args(["run", "blog", "--", "true"]).assert().success();
    assert!(serving(&env), "run starts the agent again");
    let second = pid(&env);
    assert_ne!(second, first);
    assert!(env.calls_text().contains("-O exit lima-blog"), "the master opened before it is reopened");

    machine(&env).args(["down", "blog"]).assert().success();
    assert!(!serving(&env) && pid(&env).is_empty(), "down stops the agent");
    assert!(!alive(&second), "the process is gone");
    assert!(!agent_dir(&env, "blog").join("agent.sock").exists());

    machine(&env).args(["up", "blog"]).assert().success();
    assert!(serving(&env), "up starts it with the VM");
    let running = pid(&env);
    machine(&env).args(["destroy", "-y", "blog"]).assert().success();
    assert!(!env.path().join("state/blog").exists());
    assert!(!alive(&running), "destroy stops the agent");
}

#[test]
fn a_master_that_forwards_more_keys_than_the_scoped_agent_is_reopened() {
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    // A master opened outside machine forwards the user's whole agent: the guest sees two keys.
    env.faults(json!({"ssh_add_guest": "keys:256 SHA256:a one (ED25519)\n256 SHA256:b two (ED25519)"}));
    env.clear_calls();
    machine(&env).args(["run", "blog", "--", "true"]).assert().success();
    assert!(env.calls_text().contains("-O exit lima-blog"), "{}", env.calls_text());
    machine(&env).args(["down", "blog"]).assert().success();
}

#[test]
fn without_forwarding_there_is_no_agent() {
    let env = env_with("[blog]\nrepos = [\"git@github.com:you/blog.git\"]\nforward_agent = false\n");
    machine(&env).args(["up", "blog"]).assert().success();
    assert!(!agent_dir(&env, "blog").exists(), "no scoped agent for a VM without forwarding");
    let guest: Vec<Value> = env.calls().into_iter().filter(|c| c.get("guest").is_some()).collect();
    assert!(guest.iter().all(|c| c.get("ssh_auth_sock").is_none()), "the guest has no agent: {guest:?}");
}

#[test]
fn the_log_is_shown_escaped_and_as_json() {
    let env = env_with(BLOG);
    let dir = agent_dir(&env, "blog");
    std::fs::create_dir_all(&dir).unwrap();
    let out = machine(&env).args(["agent", "log", "blog"]).output().unwrap();
    assert!(out.status.success());
    assert!(stderr(&out).contains("has logged nothing yet"), "{}", stderr(&out));
    let lines = [
        json!({"time": "2026-12-01T11:49:17Z", "vm": "blog", "request": "sign", "decision": "signed",
               "key": "SHA256:abc", "comment": "ada@laptop", "kind": "sshsig", "namespace": "git"}),
        json!({"time": "2026-12-01T11:50:00Z", "vm": "blog", "request": "sign", "decision": "refused",
               "key": "SHA256:def", "comment": "work", "kind": "ssh-auth", "user": "git\u{1b}]52;c;aGk=\u{7}",
               "service": "ssh-connection", "reason": "the key is not in the project's ssh_keys"}),
        json!({"time": "2026-12-01T11:51:00Z", "vm": "blog", "request": "lock", "decision": "refused",
               "reason": "the scoped agent only lists keys and signs"}),
        json!({"time": "2026-12-01T11:52:00Z", "vm": "blog", "request": "sign", "decision": "signed",
               "key": "SHA256:abc", "comment": "ada@laptop", "kind": "sshsig",
               "namespace": "x\n2026-01-01T00:00:00Z  refused   SHA256:FORGED  git signature"}),
    ];
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    std::fs::write(dir.join("signatures.jsonl"), text).unwrap();
    let out = machine(&env).args(["agent", "log", "blog"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!(table);
    assert!(!table.contains('\u{1b}'), "guest text is escaped");
    assert_eq!(table.lines().count(), 5, "a heading and one row per entry: a guest's newline adds none");
    let out = machine(&env).args(["agent", "log", "blog", "--json"]).output().unwrap();
    let json = String::from_utf8(out.stdout).unwrap();
    assert_eq!(json.lines().count(), 4);
    assert!(!json.contains('\u{1b}') && json.contains("\\u001b"), "{json}");
}

/// The whole chain with a real agent: the fake guest's `ssh-add` (the system's, by path) goes
/// through the fake master to the scoped agent, and sees only the allowed key; an SSH
/// signature made in the guest shows in `machine agent log`.
#[test]
#[cfg_attr(
    not(machine_openssh),
    ignore = "needs OpenSSH's ssh, ssh-agent, ssh-add, ssh-keygen and git on this host when machine is built"
)]
fn the_guest_sees_only_the_allowed_key_and_its_signatures_are_logged() {
    let keys = Keys::new();
    let env = env_with(&format!("{BLOG}ssh_keys = [\"{}\"]\n", keys.fingerprint("one")));
    let real = keys.socket().display().to_string();
    machine(&env).env("SSH_AUTH_SOCK", &real).args(["up", "blog"]).assert().success();
    let ssh_add = system_program("ssh-add");
    let out =
        machine(&env).env("SSH_AUTH_SOCK", &real).args(["run", "blog", "--"]).arg(&ssh_add).arg("-l").output().unwrap();
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{listed}{}", stderr(&out));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains(&keys.fingerprint("one")), "{listed}");

    let message = keys.path().join("message");
    std::fs::write(&message, "hi\n").unwrap();
    let ssh_keygen = system_program("ssh-keygen");
    machine(&env)
        .env("SSH_AUTH_SOCK", &real)
        .args(["run", "blog", "--"])
        .arg(&ssh_keygen)
        .args(["-Y", "sign", "-n", "git", "-f"])
        .arg(keys.public("one"))
        .arg(&message)
        .assert()
        .success();
    let out = machine(&env).args(["agent", "log", "blog"]).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(shown.contains("signed") && shown.contains("git signature") && shown.contains("one@test"), "{shown}");
    machine(&env).args(["down", "blog"]).assert().success();
}

/// Whether process `pid` runs (a zombie nobody reaped does not: it has exited).
fn alive(pid: &str) -> bool {
    let out = std::process::Command::new("ps").args(["-o", "stat=", "-p", pid]).output().unwrap();
    let stat = String::from_utf8_lossy(&out.stdout);
    out.status.success() && !stat.trim().is_empty() && !stat.trim().starts_with('Z')
}

/// `program` from the test's own PATH (the fake guest puts the fakes first on its PATH).
fn system_program(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file()).expect("on PATH")
}

/// `up` refuses a VM machine did not create (Lima's own `default`) before it starts anything
/// for it: no scoped agent would be stopped by a `destroy` that refuses that VM too.
#[test]
fn up_of_a_vm_machine_did_not_create_starts_no_agent() {
    let env = env_with(BLOG);
    env.given_instance("blog", true);
    let out = machine(&env).args(["up", "blog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("machine did not create it"), "{}", stderr(&out));
    assert!(!agent_dir(&env, "blog").exists(), "no agent folder, no daemon");
    assert!(!serving(&env));
}

#[test]
fn a_command_run_elsewhere_keeps_the_policy_of_the_file_the_vm_was_made_from() {
    let env = env_with(BLOG);
    let repo = env.home().join("blog");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::write(repo.join(".machine.toml"), "ssh_keys = [\"two@test\"]\nconfirm_signatures = true\n").unwrap();
    let policy = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(agent_dir(&env, "blog").join("policy.json")).unwrap()).unwrap()
    };
    let out = machine(&env).current_dir(&repo).args(["up", "blog"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let narrowed = policy();
    assert_eq!(narrowed["confirm"], true, "{narrowed}");
    assert_ne!(narrowed["keys"], json!([]), "{narrowed}");

    // From the home folder the project is projects.toml's alone: the repo's narrowing stays.
    machine(&env).args(["run", "blog", "--", "true"]).assert().success();
    assert_eq!(policy(), narrowed, "a command that does not see the .machine.toml loosens nothing");
    // The user's own narrowing, made there, applies at once, on top of the repo's.
    let own = format!("{BLOG}ssh_keys = [\"one@test\"]\n");
    std::fs::write(env.path().join("config/projects.toml"), own).unwrap();
    machine(&env).args(["run", "blog", "--", "true"]).assert().success();
    let both = policy();
    assert_eq!(both["keys"], json!([["one@test"], ["two@test"]]), "{both}");
    assert_eq!(both["confirm"], true);
    std::fs::write(env.path().join("config/projects.toml"), BLOG).unwrap();
    // In the repo the file is seen again: an edit of it applies.
    std::fs::write(repo.join(".machine.toml"), "ssh_keys = [\"two@test\"]\n").unwrap();
    machine(&env).current_dir(&repo).args(["run", "blog", "--", "true"]).assert().success();
    assert_eq!(policy()["confirm"], false);
    machine(&env).args(["down", "blog"]).assert().success();
}

#[test]
fn an_agent_that_ended_during_the_bake_is_started_again_before_the_vm() {
    let env = env_with(BLOG);
    env.faults(json!({"start_delay_ms": 1500}));
    let mut up = env.machine_process();
    up.envs(crate::fake::IDENTITY).args(["up", "blog"]);
    let child = up.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    let baking = || env.calls_text().lines().any(|l| l.starts_with("limactl --tty=false start machine-bake-"));
    while !(baking() && serving(&env)) {
        assert!(std::time::Instant::now() < deadline, "the bake never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // What the agent does when the VM has not run for its whole grace.
    let first = pid(&env);
    std::process::Command::new("kill").args(["-TERM", &first]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(serving(&env), "the VM boots with a scoped agent behind its master");
    assert_ne!(pid(&env), first);
    machine(&env).args(["down", "blog"]).assert().success();
}

#[test]
fn a_flood_of_refused_requests_is_counted_not_logged_one_by_one() {
    use std::io::{Read as _, Write as _};
    let env = env_with(BLOG);
    machine(&env).args(["up", "blog"]).assert().success();
    let mut agent = UnixStream::connect(agent_dir(&env, "blog").join("agent.sock")).unwrap();
    for _ in 0..200 {
        agent.write_all(&[0, 0, 0, 7, 22, 0, 0, 0, 2, b'p', b'w']).unwrap(); // SSH_AGENTC_LOCK "pw"
        let mut answer = [0u8; 5];
        agent.read_exact(&mut answer).unwrap();
        assert_eq!(answer, [0, 0, 0, 1, 5], "SSH_AGENT_FAILURE");
    }
    drop(agent);
    machine(&env).args(["down", "blog"]).assert().success();
    let log = agent_dir(&env, "blog").join("signatures.jsonl");
    let entries = || -> Vec<Value> {
        std::fs::read_to_string(&log).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    crate::support::wait_for(
        || entries().iter().any(|e| e["request"] == "unlogged"),
        "the ending daemon writing the count",
    );
    let entries = entries();
    assert_eq!(entries.iter().filter(|e| e["request"] == "lock").count(), 60);
    let count = entries.iter().find(|e| e["request"] == "unlogged").unwrap();
    assert_eq!((count["unlogged"].as_u64(), count["vm"].as_str()), (Some(140), Some("blog")));
}
