//! A git repo served over ssh from the host, reachable only with a key held in a throwaway
//! ssh-agent: the guest can clone it only if machine forwarded that agent.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct GitServer {
    /// `ssh://user@host.lima.internal:PORT/…/repo.git`
    pub url: String,
    /// A HOME whose ssh config points `host.lima.internal` at the host's loopback sshd.
    pub home: PathBuf,
    pub agent_socket: PathBuf,
    /// The only key the sshd accepts (its private half is only in the agent).
    pub public_key: String,
    agent: Child,
    sshd: Child,
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.agent.kill();
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

pub fn sshd_path() -> io::Result<PathBuf> {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/opt/homebrew/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| io::Error::other("the e2e suite needs an OpenSSH server (sshd) on the host"))
}

impl GitServer {
    pub fn start(dir: &Path) -> io::Result<Self> {
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
        let agent = Command::new("ssh-agent").arg("-D").arg("-a").arg(&agent_socket).stdout(Stdio::null()).spawn()?;
        wait_for(|| agent_socket.exists(), "ssh-agent's socket")?;
        run(Command::new("ssh-add").arg("-q").arg(&client_key).env("SSH_AUTH_SOCK", &agent_socket))?;
        // From now on only the agent can sign with this key.
        std::fs::remove_file(&client_key)?;

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
        let sshd =
            Command::new(sshd_path()?).arg("-D").arg("-e").arg("-f").arg(&config).stderr(Stdio::null()).spawn()?;
        wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "sshd")?;

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
        std::fs::create_dir_all(home.join(".ssh"))?;
        std::fs::write(
            home.join(".ssh/config"),
            format!(
                "Host host.lima.internal\n  HostName 127.0.0.1\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile {}\n",
                home.join(".ssh/known_hosts").display()
            ),
        )?;
        let url = format!("ssh://{user}@host.lima.internal:{port}{}", repo.display());
        Ok(Self { url, home, agent_socket, public_key, agent, sshd })
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
