//! The scoped SSH agent (`machine agent serve`) against a real `ssh-agent` holding three keys,
//! with a policy that allows one: what OpenSSH's own tools (ssh-add, ssh-keygen, git, ssh)
//! get through it, what it refuses, and what it logs. Each test runs its own agents in a
//! temp folder; the private keys are deleted once the real agent holds them.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};
use ssh_agent_lib::blocking::Client;
use ssh_agent_lib::proto::{Extension, PublicCredential, SignRequest};
use ssh_agent_lib::ssh_key::{HashAlg, PublicKey};
use tempfile::TempDir;

use crate::support::wait_for;

/// A real ssh-agent holding `one`, `two` and `three` (comments `one@test`, …), whose private
/// keys are gone from disk; `extra` is a key it does not hold (private half kept, to try adding).
pub(crate) struct Keys {
    dir: TempDir,
    socket: PathBuf,
    agent: Child,
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = self.agent.kill();
        let _ = self.agent.wait();
    }
}

impl Keys {
    pub(crate) fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("scoped").tempdir().unwrap();
        let socket = dir.path().join("real.sock");
        let agent = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent starts");
        wait_for(|| UnixStream::connect(&socket).is_ok(), "ssh-agent's socket");
        let keys = Self { dir, socket, agent };
        for name in ["one", "two", "three", "extra"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", &format!("{name}@test"), "-f"])
                .arg(keys.private(name)));
        }
        for name in ["one", "two", "three"] {
            run(keys.ssh_add(&keys.socket).arg("-q").arg(keys.private(name)));
            std::fs::remove_file(keys.private(name)).unwrap();
        }
        keys
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The real agent's socket.
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    fn private(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    pub(crate) fn public(&self, name: &str) -> PathBuf {
        self.path().join(format!("{name}.pub"))
    }

    fn public_key(&self, name: &str) -> PublicKey {
        std::fs::read_to_string(self.public(name)).unwrap().parse().unwrap()
    }

    pub(crate) fn fingerprint(&self, name: &str) -> String {
        self.public_key(name).fingerprint(HashAlg::Sha256).to_string()
    }

    /// `ssh-add` talking to the agent at `socket`.
    fn ssh_add(&self, socket: &Path) -> Command {
        let mut cmd = Command::new("ssh-add");
        cmd.env("SSH_AUTH_SOCK", socket).env("HOME", self.path()).stdin(Stdio::null());
        cmd
    }

    /// What `ssh-add -l` on `socket` lists.
    fn listed(&self, socket: &Path) -> String {
        String::from_utf8_lossy(&self.ssh_add(socket).arg("-l").output().unwrap().stdout).into_owned()
    }
}

/// A scoped agent: `machine agent serve vm`, as machine starts it, with a policy file.
struct Scoped {
    state: PathBuf,
    instance: String,
    daemon: Child,
}

impl Drop for Scoped {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl Scoped {
    /// Serves `instance` with `policy` (merged over a policy allowing only `one`), its
    /// environment `env` on top of a bare one.
    fn start(keys: &Keys, instance: &str, policy: &Value, env: &[(&str, &str)]) -> Self {
        let state = keys.path().join("state");
        let dir = state.join(instance).join("agent");
        std::fs::create_dir_all(&dir).unwrap();
        let mut full = json!({
            "vm": instance,
            "upstream": keys.socket,
            "keys": [[keys.fingerprint("one")]],
            "confirm": false,
            "lima_dir": keys.path().join("lima").join(instance),
        });
        for (k, v) in policy.as_object().unwrap() {
            full[k] = v.clone();
        }
        std::fs::write(dir.join("policy.json"), full.to_string()).unwrap();
        let daemon = serve(&state, instance, env).spawn().expect("machine agent serve starts");
        let scoped = Self { state, instance: instance.to_string(), daemon };
        wait_for(|| UnixStream::connect(scoped.socket()).is_ok(), "the scoped agent's socket");
        scoped
    }

    fn dir(&self) -> PathBuf {
        self.state.join(&self.instance).join("agent")
    }

    fn socket(&self) -> PathBuf {
        self.dir().join("agent.sock")
    }

    /// The signature log, one JSON value per line.
    fn log(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir().join("signatures.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("daemon.log")).unwrap_or_default()
    }

    fn client(&self) -> Client<UnixStream> {
        Client::new(UnixStream::connect(self.socket()).unwrap())
    }
}

/// `machine -vv agent serve INSTANCE` with a bare environment, its output (down to each refused
/// session-bind) in `daemon.log`.
fn serve(state: &Path, instance: &str, env: &[(&str, &str)]) -> Command {
    let dir = state.join(instance).join("agent");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("daemon.log")).unwrap();
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("machine"));
    cmd.args(["-vv", "agent", "serve", instance])
        .env_clear()
        .env("HOME", state)
        .env("MACHINE_STATE_DIR", state)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn sign_request(keys: &Keys, name: &str, data: &[u8]) -> SignRequest {
    SignRequest {
        credential: PublicCredential::Key(keys.public_key(name).key_data().clone()),
        data: data.to_vec(),
        flags: 0,
    }
}

#[test]
#[cfg_attr(
    not(machine_openssh),
    ignore = "needs OpenSSH's ssh, ssh-agent, ssh-add, ssh-keygen and git on this host when machine is built"
)]
fn the_vm_side_lists_only_the_allowed_key() {
    let keys = Keys::new();
    let scoped = Scoped::start(&keys, "vm", &json!({}), &[]);
    assert_eq!(keys.listed(&keys.socket).lines().count(), 3, "the real agent holds three keys");
    let listed = keys.listed(&scoped.socket());
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains(&keys.fingerprint("one")) && listed.contains("one@test"), "{listed}");

    // By comment works as well, and an edited policy applies to the next connection.
    let policy = scoped.dir().join("policy.json");
    let mut edited: Value = serde_json::from_str(&std::fs::read_to_string(&policy).unwrap()).unwrap();
    edited["keys"] = json!([["two@test", "three@test"]]);
    std::fs::write(&policy, edited.to_string()).unwrap();
    let listed = keys.listed(&scoped.socket());
    assert!(listed.contains("two@test") && listed.contains("three@test") && !listed.contains("one@test"), "{listed}");
}

#[test]
#[cfg_attr(
    not(machine_openssh),
    ignore = "needs OpenSSH's ssh, ssh-agent, ssh-add, ssh-keygen and git on this host when machine is built"
)]
fn signing_with_another_key_is_refused_and_every_signature_is_logged() {
    let keys = Keys::new();
    let scoped = Scoped::start(&keys, "vm", &json!({}), &[]);
    let mut client = scoped.client();
    assert!(client.sign(sign_request(&keys, "two", b"data")).is_err(), "key two is not in scope");
    assert!(client.sign(sign_request(&keys, "one", b"data")).is_ok(), "key one is");

    // ssh-keygen's own SSH signature, verified against the key.
    let message = keys.path().join("message");
    std::fs::write(&message, "hello\n").unwrap();
    run(Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "file", "-f"])
        .arg(keys.public("one"))
        .arg(&message)
        .env("SSH_AUTH_SOCK", scoped.socket()));
    let signers = keys.path().join("allowed_signers");
    std::fs::write(&signers, format!("one@test {}\n", std::fs::read_to_string(keys.public("one")).unwrap().trim()))
        .unwrap();
    run(Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", "file", "-I", "one@test", "-f"])
        .arg(&signers)
        .arg("-s")
        .arg(keys.path().join("message.sig"))
        .stdin(std::fs::File::open(&message).unwrap()));
    // ssh-keygen does not even ask for key two: the agent does not list it.
    let out = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "file", "-f"])
        .arg(keys.public("two"))
        .arg(&message)
        .env("SSH_AUTH_SOCK", scoped.socket())
        .output()
        .unwrap();
    assert!(!out.status.success(), "signing with key two must fail");

    let log = scoped.log();
    let summary: Vec<(String, String, String)> = log
        .iter()
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (field("decision"), field("comment"), field("kind"))
        })
        .collect();
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        summary,
        [s("refused", "two@test", "other"), s("signed", "one@test", "other"), s("signed", "one@test", "sshsig")],
        "{log:#?}"
    );
    assert_eq!(log[0]["key"], keys.fingerprint("two"));
    assert_eq!(log[0]["reason"], "the key is not in the project's ssh_keys");
    assert_eq!(log[2]["namespace"], "file");
    assert!(log.iter().all(|e| e["vm"] == "vm" && e["time"].as_str().is_some_and(|t| t.ends_with('Z'))));
}

#[test]
#[cfg_attr(
    not(machine_openssh),
    ignore = "needs OpenSSH's ssh, ssh-agent, ssh-add, ssh-keygen and git on this host when machine is built"
)]
fn adding_removing_and_locking_are_refused() {
    let keys = Keys::new();
    let scoped = Scoped::start(&keys, "vm", &json!({ "keys": [] }), &[]);
    let sock = scoped.socket();
    for (what, args) in [
        ("add", vec![keys.private("extra").display().to_string()]),
        ("remove", vec!["-d".into(), keys.public("one").display().to_string()]),
        ("remove all", vec!["-D".into()]),
    ] {
        let out = keys.ssh_add(&sock).args(&args).output().unwrap();
        assert!(!out.status.success(), "{what} must be refused: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut client = scoped.client();
    assert!(client.lock("secret".into()).is_err(), "lock");
    assert!(client.unlock("secret".into()).is_err(), "unlock");
    let query = Extension { name: "query".into(), details: Vec::new().into() };
    assert!(client.extension(query).is_err(), "an extension");
    assert_eq!(keys.listed(&keys.socket).lines().count(), 3, "the real agent is unchanged and unlocked");
    assert_eq!(keys.listed(&sock).lines().count(), 3, "still served on the same socket");

    let refused: Vec<String> = scoped
        .log()
        .iter()
        .map(|e| format!("{} {}", e["request"].as_str().unwrap(), e["decision"].as_str().unwrap()))
        .collect();
    for expected in [
        "add-identity refused",
        "remove-identity refused",
        "remove-all-identities refused",
        "lock refused",
        "unlock refused",
        "extension query refused",
    ] {
        assert!(refused.iter().any(|r| r == expected), "{expected}: {refused:?}");
    }
}

#[test]
#[cfg_attr(
    not(machine_openssh),
    ignore = "needs OpenSSH's ssh, ssh-agent, ssh-add, ssh-keygen and git on this host when machine is built"
)]
fn a_git_commit_signed_through_the_scoped_agent_verifies() {
    let keys = Keys::new();
    let scoped = Scoped::start(&keys, "vm", &json!({}), &[]);
    let repo = keys.path().join("repo");
    let git = |args: &[&str]| {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(&repo)
            .args(["-c", "user.name=Tester", "-c", "user.email=one@test", "-c", "gpg.format=ssh"])
            .args(args)
            .env("SSH_AUTH_SOCK", scoped.socket())
            .env("HOME", keys.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        cmd
    };
    run(Command::new("git").args(["init", "-q"]).arg(&repo));
    let one = format!("user.signingkey={}", keys.public("one").display());
    run(&mut git(&["-c", &one, "commit", "-q", "-S", "--allow-empty", "-m", "signed through the scoped agent"]));
    let signers = keys.path().join("allowed_signers");
    std::fs::write(&signers, format!("one@test {}\n", std::fs::read_to_string(keys.public("one")).unwrap().trim()))
        .unwrap();
    let verify =
        run(&mut git(&["-c", &format!("gpg.ssh.allowedSignersFile={}", signers.display()), "verify-commit", "HEAD"]));
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(said.contains("Good \"git\" signature for one@test"), "{said}");

    let two = format!("user.signingkey={}", keys.public("two").display());
    let refused = git(&["-c", &two, "commit", "-q", "-S", "--allow-empty", "-m", "not allowed"]).output().unwrap();
    assert!(!refused.status.success(), "a commit signed with key two fails");

    let log = scoped.log();
    let git_signatures: Vec<&Value> = log.iter().filter(|e| e["namespace"] == "git").collect();
    assert_eq!(git_signatures.len(), 1, "{log:#?}");
    assert_eq!(git_signatures[0]["decision"], "signed");
    assert_eq!(git_signatures[0]["key"], keys.fingerprint("one"));
}

/// An ssh login through the scoped agent, forwarding it, and a second login from inside that
/// session through the forwarded agent: both OpenSSH clients send `session-bind@openssh.com`,
/// the scoped agent refuses it, and both logins still work.
#[test]
#[cfg_attr(
    not(all(machine_openssh, machine_sshd)),
    ignore = "needs OpenSSH's server (sshd) and client tools on this host when machine is built"
)]
fn ssh_logins_work_though_session_bind_is_refused() {
    let keys = Keys::new();
    let scoped = Scoped::start(&keys, "vm", &json!({}), &[]);
    let server = Sshd::start(&keys, "one");
    let options = format!(
        "-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentityFile=/dev/null -p {}",
        server.port
    );
    let inner = format!("ssh {options} {}@127.0.0.1 echo nested-login-ok", server.user);
    let out = Command::new("ssh")
        .args(options.split(' '))
        .arg("-A")
        .arg(format!("{}@127.0.0.1", server.user))
        .arg(format!("ssh-add -l && {inner}"))
        .env("SSH_AUTH_SOCK", scoped.socket())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}\nsshd: {}", server.log());
    assert!(said.contains(&keys.fingerprint("one")), "the forwarded agent lists key one: {said}");
    assert_eq!(said.matches("SHA256:").count(), 1, "and only key one: {said}");
    assert!(said.contains("nested-login-ok"), "the login through the forwarded agent worked: {said}");

    let daemon = scoped.daemon_log();
    assert!(daemon.contains("refused session-bind@openssh.com (host key SHA256:"), "{daemon}");
    assert!(daemon.contains("for authentication") && daemon.contains("for forwarding"), "{daemon}");
    let log = scoped.log();
    let logins: Vec<&Value> = log.iter().filter(|e| e["kind"] == "ssh-auth").collect();
    assert_eq!(logins.len(), 2, "two logins, each one signature: {logins:#?}");
    for login in logins {
        assert_eq!((login["decision"].as_str(), login["user"].as_str()), (Some("signed"), Some(server.user.as_str())));
        assert_eq!(login["service"], "ssh-connection");
    }
}

/// A loopback sshd that accepts only `key`.
struct Sshd {
    port: u16,
    user: String,
    dir: PathBuf,
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn start(keys: &Keys, key: &str) -> Self {
        let dir = keys.path().join("sshd");
        std::fs::create_dir_all(&dir).unwrap();
        run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(dir.join("host")));
        std::fs::copy(keys.public(key), dir.join("authorized_keys")).unwrap();
        let user = String::from_utf8_lossy(&run(Command::new("id").arg("-un")).stdout).trim().to_string();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {auth}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nAllowAgentForwarding yes\nStrictModes no\nUsePAM no\nPidFile {pid}\nAllowUsers {user}\n",
                host = dir.join("host").display(),
                auth = dir.join("authorized_keys").display(),
                pid = dir.join("sshd.pid").display(),
            ),
        )
        .unwrap();
        if user == "root" {
            // Debian's sshd refuses to start as root without its privilege separation folder.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let sshd = ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/opt/homebrew/sbin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .unwrap_or("sshd");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd starts");
        let server = Self { port, user, dir, child };
        wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "sshd");
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

/// A dialog program for `confirm_signatures` that answers from `answer` (0: Allow) and
/// records what it was asked; both the Linux and the macOS one, each where it is looked for.
fn fake_dialogs(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = dir.join("dialog-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let asked = dir.join("asked");
    let answer = dir.join("answer");
    // Shell builtins only: the agent's PATH holds nothing but this folder.
    let zenity = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\nread -r a < '{}'\nexit \"$a\"\n",
        asked.display(),
        answer.display()
    );
    let osascript = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\nread -r a < '{}'\nif [ \"$a\" = 0 ]; then echo 'button returned:Allow, gave up:false'; else exit 1; fi\n",
        asked.display(),
        answer.display()
    );
    for (name, script) in [("zenity", zenity), ("osascript", osascript)] {
        std::fs::write(bin.join(name), script).unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
#[cfg_attr(
    not(machine_openssh),
    ignore = "needs OpenSSH's ssh, ssh-agent, ssh-add, ssh-keygen and git on this host when machine is built"
)]
fn confirm_signatures_asks_first_and_denies_without_a_yes() {
    let keys = Keys::new();
    let bin = fake_dialogs(keys.path());
    let path = bin.display().to_string();
    let scoped = Scoped::start(&keys, "vm", &json!({ "confirm": true }), &[("PATH", &path), ("DISPLAY", ":99")]);
    let answer = keys.path().join("answer");

    std::fs::write(&answer, "0").unwrap();
    assert!(scoped.client().sign(sign_request(&keys, "one", b"data")).is_ok(), "allowed on the host");
    std::fs::write(&answer, "1").unwrap();
    assert!(scoped.client().sign(sign_request(&keys, "one", b"data")).is_err(), "denied on the host");
    let asked = std::fs::read_to_string(keys.path().join("asked")).unwrap();
    assert_eq!(asked.matches("asks to sign with your key").count(), 2, "{asked}");
    assert!(asked.contains(&keys.fingerprint("one")) && asked.contains("one@test"), "{asked}");

    // No dialog program at all: denied, and nothing reaches the real agent.
    let bare = keys.path().join("bare-bin");
    std::fs::create_dir_all(&bare).unwrap();
    let bare_path = bare.display().to_string();
    let silent = Scoped::start(&keys, "vm2", &json!({ "confirm": true }), &[("PATH", &bare_path), ("DISPLAY", ":99")]);
    assert!(silent.client().sign(sign_request(&keys, "one", b"data")).is_err());

    let decisions: Vec<(String, bool, String)> = scoped
        .log()
        .iter()
        .chain(&silent.log())
        .map(|e| {
            let reason = e["reason"].as_str().unwrap_or_default().to_string();
            (e["decision"].as_str().unwrap().to_string(), e["confirmed"] == true, reason)
        })
        .collect();
    assert_eq!(decisions[0], ("signed".into(), true, String::new()));
    assert_eq!(decisions[1], ("denied".into(), false, "the user said no".into()));
    assert_eq!(decisions[2].0, "denied");
    assert!(
        decisions[2].2.starts_with("no osascript") || decisions[2].2.starts_with("neither zenity"),
        "{decisions:?}"
    );
}

#[test]
#[cfg_attr(
    not(machine_openssh),
    ignore = "needs OpenSSH's ssh, ssh-agent, ssh-add, ssh-keygen and git on this host when machine is built"
)]
fn one_daemon_per_vm_and_a_stopped_one_cleans_up() {
    let keys = Keys::new();
    let scoped = Scoped::start(&keys, "vm", &json!({}), &[]);
    let second = serve(&scoped.state, "vm", &[]).status().unwrap();
    assert!(second.success(), "a second daemon for the same VM leaves at once");
    assert_eq!(keys.listed(&scoped.socket()).lines().count(), 1, "the first still serves");
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!(mode(&scoped.socket()), 0o600);
    let pid = std::fs::read_to_string(scoped.dir().join("daemon.pid")).unwrap();
    assert_eq!(pid.trim(), scoped.daemon.id().to_string());

    run(Command::new("kill").args(["-TERM", pid.trim()]));
    wait_for(|| !scoped.socket().exists(), "the socket's removal");
    assert!(!scoped.dir().join("daemon.pid").exists());
    assert!(scoped.daemon_log().contains("ends: stopped"), "{}", scoped.daemon_log());
}
