//! The credential proxy as users meet it: `up`, `claude`, `down`, `destroy` and `machine proxy`
//! against the fake Lima, a real daemon on a free loopback port and an HTTPS upstream with a
//! test CA. The credential is in `up`'s environment only; it must reach the upstream and
//! nothing else: no recorded argv, no guest file, no host file.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use assert_cmd::Command;

use crate::fake::FakeEnv;
use crate::support::files;
use crate::upstream::{Upstream, request_blocking};

const REAL: &str = "sk-ant-api03-REAL-credential-that-stays-on-the-host";
const REAL_OPENAI: &str = "sk-proj-REAL-openai-key-that-stays-on-the-host";
const BLOG: &str = "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n";

/// A fake world whose proxy runs on a port of its own, forwarding anthropic to `upstream`;
/// dropping it stops the daemon it started.
struct World {
    env: FakeEnv,
    port: u16,
    upstream: Upstream,
}

impl World {
    fn new(extra: &str) -> Self {
        let env = FakeEnv::new();
        let upstream = Upstream::start();
        let port = free_port();
        let config = env.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("ca.pem"), &upstream.ca_pem).unwrap();
        let projects = format!(
            "[proxy]\nport = {port}\nca_file = \"ca.pem\"\n\n[proxy.anthropic]\nupstream = \"{}\"\ncredential_keychain = false\ncredential_file = false\n{extra}\n{BLOG}",
            upstream.url()
        );
        std::fs::write(config.join("projects.toml"), projects).unwrap();
        Self { env, port, upstream }
    }

    fn machine(&self) -> Command {
        Self::with_credentials(self.env.machine())
    }

    /// `cmd` with the proxy turned on and the host's credentials in its environment.
    fn with_credentials(mut cmd: Command) -> Command {
        cmd.env_remove("MACHINE_CREDENTIAL_PROXY")
            .env("GIT_NAME", "Ada Lovelace")
            .env("GIT_EMAIL", "ada@example.com")
            .env("ONEPASS_SOCK", "/dev/null")
            .env("ANTHROPIC_API_KEY", REAL)
            .env("OPENAI_API_KEY", REAL_OPENAI);
        cmd
    }

    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = self.machine().args(args).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    }

    fn state(&self) -> PathBuf {
        self.env.path().join("state")
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.state().join("proxy/daemon.pid")).ok()?.trim().parse().ok()
    }

    /// The guest's `proxy.env` (the fake guest has no `XDG_RUNTIME_DIR`: machine-guest's default).
    fn guest_env(&self, vm: &str) -> Option<String> {
        std::fs::read_to_string(self.guest_env_dir(vm).join("proxy.env")).ok()
    }

    /// Where `proxy.env` and Codex's `codex.toml` live in the guest's tmpfs.
    fn guest_env_dir(&self, vm: &str) -> PathBuf {
        let uid = String::from_utf8(std::process::Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
        self.env.guest_root(vm).join(format!("run/user/{}/machine", uid.trim()))
    }

    /// Codex's system config in the guest, when there is one.
    fn codex_config(&self, vm: &str) -> Option<String> {
        std::fs::read_to_string(self.env.guest_root(vm).join("etc/codex/config.toml")).ok()
    }

    /// The VM's token, as its shells get it.
    /// `up blog`, which must succeed: the VM's token in the guest and the daemon's pid.
    fn up_blog(&self) -> (String, u32) {
        assert_eq!(self.run(&["up", "blog"]).0, Some(0));
        (self.guest_token("blog"), self.pid().expect("up started the daemon"))
    }

    fn guest_token(&self, vm: &str) -> String {
        let env = self.guest_env(vm).expect("the guest has the proxy's variables");
        let line = env.lines().find(|l| l.starts_with("export ANTHROPIC_AUTH_TOKEN=")).expect("a token line");
        line.split('=').nth(1).unwrap().trim_matches('\'').to_string()
    }

    fn ask(&self, token: &str) -> crate::upstream::Answer {
        let auth = format!("Bearer {token}");
        request_blocking(self.port, "POST", "/anthropic/v1/messages", &[("authorization", &auth)], "{}")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.machine().args(["proxy", "stop"]).output();
        if let Some(pid) = self.pid() {
            let _ = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).output();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn alive(pid: u32) -> bool {
    std::process::Command::new("kill").args(["-0", &pid.to_string()]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn up_gives_the_vm_a_token_and_the_credential_never_leaves_the_host() {
    let world = World::new("");
    let (code, _, err) = world.run(&["up", "blog"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("✓ blog is ready"), "no proxy warning: {err}");

    // The guest's shells get the proxy's URL and the VM's token, never the credential.
    let env = world.guest_env("blog").unwrap();
    let url = format!("http://host.lima.internal:{}", world.port);
    assert!(env.contains(&format!("export ANTHROPIC_BASE_URL='{url}/anthropic'")), "{env}");
    assert!(env.contains(&format!("export OPENAI_BASE_URL='{url}/openai'")), "{env}");
    let token = world.guest_token("blog");
    assert!(token.starts_with("machine-proxy-") && env.contains(&format!("OPENAI_API_KEY='{token}'")), "{env}");
    // Codex reads neither of those: its system config names the route and the variable.
    let codex = world.codex_config("blog").expect("Codex's system config");
    assert!(codex.contains(&format!("base_url = \"{url}/openai\"")), "{codex}");
    assert!(codex.contains("env_key = \"OPENAI_API_KEY\"") && !codex.contains(&token), "{codex}");

    // A request with the token gets the upstream's answer; the upstream got the credential.
    let answer = world.ask(&token);
    assert_eq!(answer.status, 200, "{answer:?}");
    let seen = world.upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-api-key"), Some(REAL));
    assert!(!seen[0].all_text().contains(&token));

    // The token is kept on the host, private; the token went to the guest on stdin only.
    let token_file = world.state().join("blog/proxy-token.json");
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&token_file).unwrap().contains(&token));
    let calls = world.env.calls();
    assert!(
        calls.iter().any(|c| c["tool"] == "limactl" && c["args"].to_string().contains("\"proxy-env-write\"")),
        "the guest helper wrote the variables"
    );
    for call in &calls {
        let text = call.to_string();
        assert!(!text.contains(REAL) && !text.contains(REAL_OPENAI), "a credential is in a recorded call: {text}");
        assert!(!text.contains(&token), "the token is in a recorded argv: {text}");
    }

    // `machine proxy` shows it without showing the credential.
    let (code, out, _) = world.run(&["proxy", "status", "--check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("on 127.0.0.1:{}", world.port)) && out.contains("VMs: blog"), "{out}");
    assert!(out.contains("credential: ok ($ANTHROPIC_API_KEY)"), "{out}");
    let (_, out, _) = world.run(&["proxy", "log", "blog"]);
    assert!(out.trim_end().ends_with("blog anthropic POST /anthropic/v1/messages 200 23"), "{out}");
    let (_, out, _) = world.run(&["proxy", "log", "other"]);
    assert_eq!(out, "");

    // Nowhere on disk, host or guest: state, config, the daemon's logs, the guest's files.
    let leaked: Vec<PathBuf> = files(world.env.path())
        .into_iter()
        .filter(|(_, bytes)| {
            let text = String::from_utf8_lossy(bytes);
            text.contains(REAL) || text.contains(REAL_OPENAI)
        })
        .map(|(p, _)| p)
        .collect();
    assert!(leaked.is_empty(), "the credential was written to {leaked:?}");
}

#[test]
fn the_daemon_is_started_again_after_it_was_killed() {
    let world = World::new("");
    let (token, first) = world.up_blog();
    std::process::Command::new("kill").args(["-9", &first.to_string()]).status().unwrap();
    while alive(first) {
        std::thread::yield_now();
    }
    let (code, out, _) = world.run(&["proxy", "status"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("not running"), "{out}");

    // An agent session brings it back, and the VM's token still works.
    let (code, _, err) = world.run(&["claude", "blog"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");
    let second = world.pid().expect("claude started the daemon again");
    assert_ne!(first, second);
    assert!(alive(second));
    assert_eq!(world.ask(&token).status, 200);
    assert_eq!(world.guest_token("blog"), token, "a running VM keeps its token");

    // `up` of the running VM finds it there (and does not start another).
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    assert_eq!(world.pid(), Some(second));
}

#[test]
fn a_daemon_whose_state_dir_is_removed_stops_and_frees_its_port() {
    let world = World::new("");
    let (_, pid) = world.up_blog();
    std::fs::remove_dir_all(world.state()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if alive(pid) {
        let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("the daemon of a removed state dir still runs after 20 s");
    }
    std::net::TcpListener::bind(("127.0.0.1", world.port)).expect("its port is free again");
}

#[test]
fn up_starts_the_daemon_while_one_that_is_ending_still_holds_the_lock() {
    let world = World::new("");
    let dir = world.state().join("proxy");
    std::fs::create_dir_all(&dir).unwrap();
    // An idle daemon on its way out: it holds the lock for a moment and answers nothing.
    let mut ending =
        std::process::Command::new("flock").arg(dir.join("daemon.lock")).args(["sleep", "1"]).spawn().unwrap();
    let held = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::process::Command::new("flock")
        .args(["-n"])
        .arg(dir.join("daemon.lock"))
        .arg("true")
        .status()
        .unwrap()
        .success()
    {
        assert!(std::time::Instant::now() < held, "the lock was never taken");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (code, _, err) = world.run(&["up", "blog"]);
    ending.wait().unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("credential proxy"), "the proxy started on the second try: {err}");
    assert!(world.pid().is_some_and(alive));
}

#[test]
fn a_daemon_with_other_settings_is_replaced_and_the_vm_registered_with_the_new_one() {
    let world = World::new("");
    let (token, first) = world.up_blog();
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    assert_eq!(world.pid(), Some(first), "the same settings: the same daemon");

    let projects = world.env.path().join("config/projects.toml");
    let text = std::fs::read_to_string(&projects).unwrap();
    std::fs::write(
        &projects,
        text.replace("credential_file = false", "credential_file = false\nheader = \"x-other-key: {}\""),
    )
    .unwrap();
    let (code, _, err) = world.run(&["up", "blog"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("credential proxy"), "{err}");
    let second = world.pid().expect("up started a daemon with the new settings");
    assert_ne!(first, second);
    assert_eq!(world.guest_token("blog"), token, "a running VM keeps its token");
    let (code, out, _) = world.run(&["proxy", "status"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("VMs: blog"), "the new daemon accepts the VM: {out}");
}

#[test]
fn down_and_destroy_take_the_token_away_and_a_new_boot_gets_a_new_one() {
    let world = World::new("");
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    let first = world.guest_token("blog");
    assert_eq!(world.run(&["down", "blog"]).0, Some(0));
    assert_eq!(world.ask(&first).status, 401, "a stopped VM's token is refused");
    assert!(!world.state().join("blog/proxy-token.json").exists());
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    let second = world.guest_token("blog");
    assert_ne!(first, second);
    assert_eq!(world.ask(&second).status, 200);

    // A branch VM has a token of its own.
    assert_eq!(world.run(&["up", "blog@feature/login"]).0, Some(0));
    let instances: Vec<String> = std::fs::read_dir(world.env.lima_home())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("blog.feature-login-"))
        .collect();
    assert_eq!(instances.len(), 1, "{instances:?}");
    let branch = world.guest_token(&instances[0]);
    assert_ne!(branch, second);
    assert_eq!(world.ask(&branch).status, 200);
    let (_, out, _) = world.run(&["proxy", "status"]);
    assert!(out.contains("VMs: blog, blog@feature/login"), "a branch VM is named as the user names it: {out}");

    assert_eq!(world.run(&["destroy", "blog@feature/login", "-y"]).0, Some(0));
    assert_eq!(world.ask(&branch).status, 401);
    assert_eq!(world.ask(&second).status, 200, "the project's own VM keeps its token");

    // A VM deleted to be made again (`--recreate`, as `reset` does) takes its token with it,
    // even when the new VM then fails to come up.
    world
        .env
        .faults(serde_json::json!({"start": {"blog": "provision-fail:docker:apt-get install docker-ce exited 100"}}));
    assert_ne!(world.run(&["up", "blog", "--recreate", "-y"]).0, Some(0));
    assert_eq!(world.ask(&second).status, 401, "the deleted VM's token is refused");
    world.env.faults(serde_json::json!({}));
    assert_eq!(world.run(&["up", "blog", "--recreate", "-y"]).0, Some(0));
    let third = world.guest_token("blog");
    assert_ne!(third, second);
    assert_eq!(world.ask(&third).status, 200);
}

#[test]
fn credential_proxy_false_gives_the_vm_nothing_and_takes_away_what_it_had() {
    let world = World::new("");
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    let token = world.guest_token("blog");
    let projects = world.env.path().join("config/projects.toml");
    let text = std::fs::read_to_string(&projects).unwrap();
    std::fs::write(&projects, format!("{text}credential_proxy = false\n")).unwrap();
    let (code, _, err) = world.run(&["up", "blog"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(world.guest_env("blog"), None, "the guest's variables are cleared");
    assert_eq!(world.codex_config("blog"), None, "and Codex's route to the proxy");
    // The route lives in the tmpfs: after a reboot without the proxy, Codex has no route left.
    std::fs::write(&projects, format!("{text}\n")).unwrap();
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    assert!(world.codex_config("blog").is_some());
    std::fs::write(&projects, format!("{text}credential_proxy = false\n")).unwrap();
    assert_eq!(world.run(&["down", "blog"]).0, Some(0));
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    assert_eq!(world.codex_config("blog"), None, "a dangling link: Codex reads no file");
    assert!(!world.state().join("blog/proxy-token.json").exists());
    assert_eq!(world.ask(&token).status, 401);

    // A project that never had it starts no daemon at all.
    let world = World::new("");
    let projects = world.env.path().join("config/projects.toml");
    let text = std::fs::read_to_string(&projects).unwrap();
    std::fs::write(&projects, format!("{text}credential_proxy = false\n")).unwrap();
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    assert_eq!(world.pid(), None);
    assert!(!world.state().join("proxy").exists());
    assert_eq!(world.guest_env("blog"), None);
    assert!(!world.env.calls().iter().any(|c| c["args"].to_string().contains("proxy-env")));
}

/// A Codex system config that is not machine's is kept, and `up` says what that means until
/// the user removes it; then the next `up` of the running VM puts the route in place.
#[test]
fn a_codex_config_of_the_guest_s_own_is_kept_with_a_warning_until_it_is_gone() {
    let world = World::new("");
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    let link = world.env.guest_root("blog").join("etc/codex/config.toml");
    std::fs::remove_file(&link).unwrap();
    std::fs::write(&link, "model = \"mine\"\n").unwrap();
    assert_eq!(world.run(&["down", "blog"]).0, Some(0));
    for round in ["after a boot", "on the running VM"] {
        let (code, _, err) = world.run(&["up", "blog"]);
        assert_eq!(code, Some(0), "{err}");
        assert!(err.contains("Codex in VM `blog` does not use the credential proxy"), "{round}: {err}");
        assert!(err.contains("keeps a /etc/codex/config.toml of its own"), "{round}: {err}");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "model = \"mine\"\n");
    }
    std::fs::remove_file(&link).unwrap();
    let (code, _, err) = world.run(&["up", "blog"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("Codex in VM"), "{err}");
    assert!(world.codex_config("blog").is_some_and(|c| c.contains("model_provider = \"machine-proxy\"")));
}

/// A VM whose guest helper predates `--codex` (its template is fixed at create) still gets the
/// proxy's variables, and `up` says what Codex lacks.
#[test]
fn an_older_guest_helper_gets_the_variables_and_a_warning_about_codex() {
    use std::os::unix::fs::PermissionsExt as _;
    let world = World::new("");
    let helper = world.env.guest_bin().join("machine-guest");
    let real = world.env.path().join("machine-guest.real");
    std::fs::rename(&helper, &real).unwrap();
    let shim = format!(
        "#!/bin/bash\nif [[ $1 == proxy-env-write && $# -gt 1 ]]; then echo 'machine-guest: proxy-env-write takes no arguments' >&2; exit 2; fi\nexec '{}' \"$@\"\n",
        real.display()
    );
    std::fs::write(&helper, shim).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, _, err) = world.run(&["up", "blog"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("has a machine-guest from before machine configured Codex"), "{err}");
    assert!(err.contains("--recreate"), "{err}");
    assert_eq!(world.ask(&world.guest_token("blog")).status, 200, "the variables are there");
    assert_eq!(world.codex_config("blog"), None);
    let (_, _, again) = world.run(&["up", "blog"]);
    assert!(!again.contains("Codex in VM"), "said once, not at every up: {again}");
}

/// A running VM set up by a machine that recorded the hash of the variables alone gets the
/// Codex route at its next `up`.
#[test]
fn a_running_vm_whose_guest_was_given_less_gets_codex_s_route_at_the_next_up() {
    let world = World::new("");
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    let runtime = world.guest_env_dir("blog").join("codex.toml");
    std::fs::remove_file(&runtime).unwrap();
    let file = world.state().join("blog/proxy-token.json");
    let mut record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let token = record["token"].as_str().unwrap().to_string();
    let settings = machine::compiler::config::proxy::ProxySettings { port: world.port, ..Default::default() };
    let env = machine::servers::proxy::guest_env(&settings, &token);
    record["guest_env"] = machine::compiler::config::trust::sha256_hex(env.as_bytes()).into();
    std::fs::write(&file, record.to_string()).unwrap();
    assert_eq!(world.run(&["up", "blog"]).0, Some(0));
    assert!(world.codex_config("blog").is_some());
}

#[test]
fn a_failing_credential_command_is_reported_on_the_host_and_refused_to_the_guest() {
    let world = World::new(
        "credential_env = false\ncredential_command = [\"sh\", \"-c\", \"echo 'the vault is locked' >&2; exit 3\"]\n",
    );
    let (code, _, err) = world.run(&["up", "blog"]);
    assert_eq!(code, Some(0), "{err}");
    let answer = world.ask(&world.guest_token("blog"));
    assert_eq!(answer.status, 502, "{answer:?}");
    assert!(answer.body.contains("no usable credential for `anthropic`"), "{}", answer.body);
    assert!(world.upstream.seen().is_empty());
    let (code, out, _) = world.run(&["proxy", "status", "--check"]);
    assert_eq!(code, Some(1), "a failed check exits 1: {out}");
    assert!(out.contains("credential: the credential command of provider `anthropic` failed: `sh -c"), "{out}");
    assert!(out.contains("exit status 3: the vault is locked"), "{out}");
    let log = std::fs::read_to_string(world.state().join("proxy/daemon.log")).unwrap();
    assert!(log.contains("the vault is locked") && log.contains("hint: run it yourself"), "{log}");
}

#[test]
fn a_port_in_use_is_a_warning_that_says_what_to_do() {
    let world = World::new("");
    let _taken = std::net::TcpListener::bind(("127.0.0.1", world.port)).unwrap();
    let (code, _, err) = world.run(&["up", "blog"]);
    assert_eq!(code, Some(0), "the VM still comes up: {err}");
    assert!(err.contains("⚠ blog is ready, with warnings"), "{err}");
    assert!(err.contains("the credential proxy is not set up for VM `blog`"), "{err}");
    assert!(err.contains(&format!("cannot listen on 127.0.0.1:{}", world.port)), "{err}");
    assert!(err.contains("`[proxy] port = N`"), "{err}");
    assert_eq!(world.guest_env("blog"), None);
}

#[test]
fn proxy_commands_without_a_daemon_and_a_log_from_the_guest_shown_escaped() {
    let world = World::new("");
    let (code, out, _) = world.run(&["proxy", "status"]);
    assert_eq!(
        (code, out.trim()),
        (Some(0), "the credential proxy is not running (`machine up`, `claude` and `codex` start it)")
    );
    let (code, out, _) = world.run(&["proxy", "status", "--json"]);
    assert_eq!((code, out.trim()), (Some(0), r#"{"running":false}"#));
    let (code, _, err) = world.run(&["proxy", "stop"]);
    assert_eq!(code, Some(0));
    assert!(err.contains("was not running"), "{err}");
    let (_, _, err) = world.run(&["proxy", "log"]);
    assert!(err.contains("no requests logged yet"), "{err}");

    let dir = world.state().join("proxy");
    std::fs::create_dir_all(&dir).unwrap();
    let hostile = r#"{"time":"2026-01-01T00:00:00Z","vm":"blog","provider":"anthropic","method":"GET","path":"/anthropic/\u001b]52;c;aGk=\u0007","status":404,"bytes":9}"#;
    std::fs::write(dir.join("requests.jsonl"), format!("{hostile}\n")).unwrap();
    let (_, out, _) = world.run(&["proxy", "log"]);
    assert_eq!(out, "2026-01-01T00:00:00Z blog anthropic GET /anthropic/\\u{1b}]52;c;aGk=\\u{7} 404 9\n");
    let (_, out, _) = world.run(&["proxy", "log", "--json"]);
    assert!(!out.contains('\u{1b}'), "JSON escapes it too: {out:?}");
}

/// A `ca_file` that cannot be read is found by `doctor`, and `up` says so once (the VM still
/// comes up, without the proxy), instead of a daemon that fails to start.
#[test]
fn an_unreadable_ca_file_is_named_by_doctor_and_once_by_up() {
    let world = World::new("");
    std::fs::remove_file(world.env.path().join("config/ca.pem")).unwrap();
    let (code, out, _) = world.run(&["doctor"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("ca.pem cannot be read"), "{out}");
    let (code, _, err) = world.run(&["up", "blog"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err.matches("ca.pem cannot be read").count(), 1, "{err}");
    assert!(err.contains("\n    error: [proxy] ca_file"), "a warning's lines are indented under it: {err}");
    assert!(world.pid().is_none(), "no daemon was started");
}

/// A daemon that fails after it bound (a CA file that holds no certificate) leaves no socket or
/// pid file that names a process that is gone.
#[test]
fn a_daemon_that_fails_to_start_leaves_no_socket_or_pid_file() {
    let world = World::new("");
    std::fs::write(world.env.path().join("config/ca.pem"), "not a certificate\n").unwrap();
    let (code, _, err) = world.run(&["proxy", "serve"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("it holds no certificate"), "{err}");
    let dir = world.state().join("proxy");
    assert!(!dir.join("control.sock").exists() && !dir.join("daemon.pid").exists(), "{err}");
}

/// A SIGTERM lets an answer in flight finish (the daemon no longer listens meanwhile); a second
/// one ends the daemon at once.
#[test]
fn a_second_sigterm_ends_the_drain_at_once() {
    use http_body_util::BodyExt as _;
    let world = World::new("");
    let (token, pid) = world.up_blog();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let auth = format!("Bearer {token}");
        let response =
            crate::upstream::send(world.port, "POST", "/anthropic/v1/sse", &[("authorization", &auth)], "{}").await;
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert!(first.data_ref().is_some_and(|d| !d.is_empty()), "the stream has begun");
        let term = || std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
        term();
        let closed = || std::net::TcpStream::connect(("127.0.0.1", world.port)).is_err();
        crate::support::wait_for(closed, "the draining daemon stopping its listening");
        assert!(alive(pid), "the answer in flight holds the daemon");
        term();
        crate::support::wait_for(|| !alive(pid), "a second SIGTERM ending it");
    });
}

/// A daemon out of file descriptors says so once (not once per failed accept), keeps running,
/// and serves again, saying so, once the connections that held them are gone.
#[test]
fn a_daemon_out_of_file_descriptors_says_so_once_and_recovers() {
    let world = World::new("");
    // The daemon `up` starts inherits `up`'s limit.
    let mut up = World::with_credentials(world.env.command("/bin/sh"));
    let machine = assert_cmd::cargo::cargo_bin("machine");
    up.args(["-c", "ulimit -n 64 && exec \"$0\" up blog"]).arg(&machine);
    assert!(up.output().unwrap().status.success());
    let (token, pid) = (world.guest_token("blog"), world.pid().expect("up started the daemon"));
    let log = world.state().join("proxy/daemon.log");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let failures = || read_log().matches("accepting a connection failed").count();

    let held: Vec<_> = (0..100).map(|_| std::net::TcpStream::connect(("127.0.0.1", world.port)).unwrap()).collect();
    crate::support::wait_for(|| failures() > 0, "a failed accept logged");
    // Several pauses later, still one line, and the daemon is alive.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(failures(), 1, "{}", read_log());
    assert!(read_log().contains("Too many open files"), "{}", read_log());
    assert!(alive(pid));

    drop(held);
    assert_eq!(world.ask(&token).status, 200, "{}", read_log());
    let recovered = read_log();
    assert!(recovered.contains("accepting works again ("), "{recovered}");
    assert_eq!(world.pid(), Some(pid), "the same daemon serves");
}
