//! A git repo served over ssh from the host, reachable only with a key held in a throwaway
//! ssh-agent: the guest can clone it only if machine forwarded that agent.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct GitServer {
    /// `ssh://user@host.lima.internal:PORT/…/repo.git`
    pub(crate) url: String,
    /// A HOME for machine and its children.
    pub(crate) home: PathBuf,
    /// `ssh -F <config>` pointing `host.lima.internal` at the host's loopback sshd; the host's git
    /// uses it through `GIT_SSH_COMMAND` (ssh reads `~/.ssh/config` from the passwd home, not
    /// `$HOME`), while the guest resolves that name itself.
    pub(crate) ssh_command: String,
    pub(crate) agent_socket: PathBuf,
    /// The only key the sshd accepts (its private half is only in the agent).
    pub(crate) public_key: String,
    /// Its SHA256 fingerprint: the project's `ssh_keys`. The agent also holds two other keys,
    /// which the VMs' scoped agents must not show.
    pub(crate) fingerprint: String,
    /// The bare repo the URL serves, to check what the guest pushed.
    pub(crate) repo: PathBuf,
    agent: Child,
    sshd: Child,
}

impl Drop for GitServer {
    fn drop(&mut self) {
        for child in [&mut self.sshd, &mut self.agent] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr))))
    }
}

/// Kills a spawned helper when setup fails before the server takes it over.
struct Reaper(Option<Child>);

impl Reaper {
    fn into_inner(mut self) -> Child {
        self.0.take().expect("taken once")
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Debian's sshd refuses to start as root without its privilege separation folder (a normal
/// user's sshd, as on the Lima hosts this suite targets, does not need it).
fn privilege_separation_dir() {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let _ = std::fs::create_dir_all("/run/sshd");
    }
}

fn current_user() -> io::Result<String> {
    if let Ok(user) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        return Ok(user);
    }
    let out = Command::new("id").arg("-un").output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `sshd` on PATH, else where distributions and Homebrew put it (sbin is often not on a user's
/// PATH).
fn sshd_path() -> io::Result<PathBuf> {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    on_path
        .map(|dir| dir.join("sshd"))
        .chain(["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/opt/homebrew/sbin/sshd"].map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or_else(|| io::Error::other("the e2e suite needs an OpenSSH server binary (sshd) on the host"))
}

impl GitServer {
    pub(crate) fn start(dir: &Path) -> io::Result<Self> {
        let user = current_user()?;
        let port = free_port()?;
        let keys = dir.join("keys");
        std::fs::create_dir_all(&keys)?;
        let client_key = keys.join("client");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "machine-e2e", "-f"])
            .arg(&client_key))?;
        run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(keys.join("host")))?;
        let public_key = std::fs::read_to_string(keys.join("client.pub"))?.trim().to_string();
        std::fs::write(keys.join("authorized_keys"), format!("{public_key}\n"))?;

        let agent_socket = dir.join("agent.sock");
        // No inherited stdio: a leftover agent must never hold the test runner's pipes open.
        let agent = Reaper(Some(
            Command::new("ssh-agent")
                .arg("-D")
                .arg("-a")
                .arg(&agent_socket)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        ));
        wait_for(|| agent_socket.exists(), "ssh-agent's socket")?;
        run(Command::new("ssh-add").arg("-q").arg(&client_key).env("SSH_AUTH_SOCK", &agent_socket))?;
        // From now on only the agent can sign with this key.
        std::fs::remove_file(&client_key)?;
        for other in ["other-1", "other-2"] {
            let key = keys.join(other);
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", &format!("machine-e2e-{other}"), "-f"])
                .arg(&key))?;
            run(Command::new("ssh-add").arg("-q").arg(&key).env("SSH_AUTH_SOCK", &agent_socket))?;
            std::fs::remove_file(&key)?;
        }
        let listed = Command::new("ssh-keygen").arg("-lf").arg(keys.join("client.pub")).output()?;
        let fingerprint =
            String::from_utf8_lossy(&listed.stdout).split_whitespace().nth(1).unwrap_or_default().to_string();

        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {auth}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nStrictModes no\nUsePAM no\nPidFile {pid}\nAllowUsers {user}\n",
                host = keys.join("host").display(),
                auth = keys.join("authorized_keys").display(),
                pid = dir.join("sshd.pid").display(),
            ),
        )?;
        privilege_separation_dir();
        let log = dir.join("sshd.log");
        let sshd = Reaper(Some(
            Command::new(sshd_path()?)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?)
                .spawn()?,
        ));
        wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "sshd").map_err(|e| {
            io::Error::other(format!("{e}; its log says: {}", std::fs::read_to_string(&log).unwrap_or_default().trim()))
        })?;

        let repo = dir.join("srv/repo.git");
        run(Command::new("git").args(["init", "-q", "--bare", "-b", "main"]).arg(&repo))?;
        let work = dir.join("work");
        run(Command::new("git").args(["init", "-q", "-b", "main"]).arg(&work))?;
        let git = |args: &[&str]| {
            run(Command::new("git")
                .arg("-C")
                .arg(&work)
                .args(["-c", "user.name=Host", "-c", "user.email=host@example.invalid"])
                .args(args))
        };
        git(&["commit", "-q", "--allow-empty", "-m", "initial commit from the host"])?;
        git(&["push", "-q", repo.to_str().ok_or_else(|| io::Error::other("a UTF-8 temp path"))?, "main"])?;

        let home = dir.join("home");
        std::fs::create_dir_all(&home)?;
        let ssh_config = dir.join("ssh_config");
        std::fs::write(
            &ssh_config,
            format!(
                "Host host.lima.internal\n  HostName 127.0.0.1\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile {}\n",
                dir.join("known_hosts").display()
            ),
        )?;
        let ssh_command = format!("ssh -F {}", ssh_config.display());
        let url = format!("ssh://{user}@host.lima.internal:{port}{}", repo.display());
        Ok(Self {
            url,
            home,
            ssh_command,
            agent_socket,
            public_key,
            fingerprint,
            repo,
            agent: agent.into_inner(),
            sshd: sshd.into_inner(),
        })
    }
}

fn wait_for(ready: impl Fn() -> bool, what: &str) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(io::Error::other(format!("{what} did not come up within 10s")))
}
