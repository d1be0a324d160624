//! The daemon's life: `machine proxy serve` in the foreground, and for every other command
//! starting it in the background when it is not there (or runs with other settings), asking
//! it things over its control socket, and stopping it.
//!
//! Its files live in `<state>/proxy/` (mode 0700): `daemon.lock` (held while it runs, so only
//! one runs), `daemon.pid`, `control.sock` (0600), `daemon.log` (its stdout and stderr) and
//! `requests.jsonl` (the request log).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::control::{self, Request, Status};
use super::credential::{self, Host};
use super::server;
use crate::compiler::config::proxy::ProxySettings;
use crate::compiler::paths::{Paths, vars};
use crate::driver::exec::{Cmd, Runner, SystemRunner};
use crate::error::{Error, Result, io_error};

/// How long the daemon outlives the last VM it serves (`down`, `destroy` and `prune` unregister
/// them; a VM stopped some other way keeps its token until then).
pub const IDLE_GRACE: Duration = Duration::from_mins(10);

/// How often the daemon looks whether its pid file still names it.
const WATCH_EVERY: Duration = Duration::from_secs(5);

/// How long a new daemon may take to answer.
const START_WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// Where the daemon keeps its files.
#[derive(Debug, Clone)]
pub struct Files {
    dir: PathBuf,
}

impl Files {
    pub fn new(state_dir: &Path) -> Self {
        Self { dir: state_dir.join("proxy") }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn lock(&self) -> PathBuf {
        self.dir.join("daemon.lock")
    }

    pub fn pid(&self) -> PathBuf {
        self.dir.join("daemon.pid")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    pub fn daemon_log(&self) -> PathBuf {
        self.dir.join("daemon.log")
    }

    pub fn requests(&self) -> PathBuf {
        self.dir.join("requests.jsonl")
    }

    /// Whether a daemon holds the lock (runs, or is starting).
    pub fn running(&self) -> bool {
        crate::driver::lock::is_held(&self.lock()).unwrap_or(false)
    }

    fn create_dir(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::create_dir_all(&self.dir).map_err(|e| io_error("create", &self.dir, &e))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error("set the mode of", &self.dir, &e))
    }
}

/// What a daemon with these settings reports, so a client can tell one with other settings.
pub fn fingerprint(settings: &ProxySettings) -> String {
    let json = serde_json::to_vec(settings).expect("plain data serialises");
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update([0]);
    hasher.update(&json);
    crate::compiler::compile::hex(&hasher.finalize()[..8])
}

/// `machine proxy serve`: binds, then serves until stopped (SIGTERM, SIGINT or `stop`), idle
/// for [`IDLE_GRACE`] or displaced (see [`displaced`]).
pub fn serve(paths: &Paths, settings: ProxySettings, home: Option<PathBuf>) -> Result<()> {
    let files = Files::new(&paths.state_dir);
    files.create_dir()?;
    let Some(lock) = crate::driver::lock::try_exclusive(&files.lock())? else {
        let pid = std::fs::read_to_string(files.pid()).unwrap_or_default();
        return Err(Error::failure(format!("the credential proxy already runs (pid {})", pid.trim()))
            .hint("`machine proxy status` shows it; `machine proxy stop` stops it"));
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failure("cannot start the proxy's runtime").caused_by(e))?;
    // Called once the daemon takes no more connections, before it lets the requests in flight
    // finish: a new daemon may then start (a stop, or settings that changed, must not wait for
    // a long answer to end). Dropped uncalled (a daemon that failed to start), it does the same.
    let held = Held { files: files.clone(), _lock: lock };
    let release = move || drop(held);
    runtime.block_on(serve_async(paths, &files, settings, home, release))
}

/// The daemon's hold on its files: letting go removes its socket and pid file (unless another
/// daemon displaced it: they are not its own) and then unlocks.
struct Held {
    files: Files,
    _lock: crate::driver::lock::Lock,
}

impl Drop for Held {
    fn drop(&mut self) {
        if names_me(&self.files.pid()) {
            let _ = std::fs::remove_file(self.files.socket());
            let _ = std::fs::remove_file(self.files.pid());
        }
    }
}

async fn serve_async(
    paths: &Paths,
    files: &Files,
    settings: ProxySettings,
    home: Option<PathBuf>,
    release: impl FnOnce(),
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let port = settings.port;
    // Loopback only: the guests reach it as host.lima.internal, nothing else on the network does.
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await.map_err(|e| {
        Error::failure(format!("the credential proxy cannot listen on 127.0.0.1:{port}"))
            .caused_by(e)
            .hint("another program uses that port: set another with `[proxy] port = N` in projects.toml")
    })?;
    let socket = files.socket();
    let _ = std::fs::remove_file(&socket);
    let control = tokio::net::UnixListener::bind(&socket).map_err(|e| io_error("listen on", &socket, &e))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_error("set the mode of", &socket, &e))?;
    crate::driver::stack::write_atomic(&files.pid(), format!("{}\n", std::process::id()).as_bytes())?;
    let options = server::Options {
        fingerprint: fingerprint(&settings),
        settings,
        state_dir: paths.state_dir.clone(),
        request_log: files.requests(),
        resolver: system_resolver(home.clone()),
        home,
        idle_exit: Some(IDLE_GRACE),
        header_timeout: server::HEADER_TIMEOUT,
    };
    eprintln!(
        "machine {} credential proxy on 127.0.0.1:{port} (pid {})",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    let signals = signals()?;
    let displaced = displaced(files.pid());
    let shutdown = async move {
        tokio::select! {
            () = signals => {}
            () = displaced => {}
        }
    };
    server::run(options, listener, Some(control), shutdown, release).await
}

/// Completes when the pid file no longer names this process: its state dir was removed, or
/// another daemon was started in its place. Either way, nothing will ask this one again.
async fn displaced(pid_file: PathBuf) {
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        if names_another(&pid_file) {
            eprintln!("{} no longer names this daemon: stopping", pid_file.display());
            return;
        }
    }
}

fn names_me(pid_file: &Path) -> bool {
    std::fs::read_to_string(pid_file).is_ok_and(|text| text.trim() == std::process::id().to_string())
}

/// Whether the pid file is gone or names another process. A file that cannot be read just now
/// (no file descriptor left, say) displaces nobody.
fn names_another(pid_file: &Path) -> bool {
    match std::fs::read_to_string(pid_file) {
        Ok(text) => text.trim() != std::process::id().to_string(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Credentials from this process's environment, programs run as they are everywhere else.
fn system_resolver(home: Option<PathBuf>) -> server::Resolver {
    let runner = SystemRunner::default();
    Arc::new(move |provider| {
        let env = |k: &str| std::env::var_os(k);
        let host = Host { env: &env, runner: &runner, home: home.as_deref(), keychain: cfg!(target_os = "macos") };
        credential::resolve(provider, &host)
    })
}

/// Completes on SIGTERM or SIGINT. SIGHUP (the terminal that started it closing) is ignored. A
/// second SIGTERM or SIGINT, while the requests in flight finish, ends the process at once.
fn signals() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let fail = |e: std::io::Error| Error::failure("cannot listen for signals").caused_by(e);
    let mut term = signal(SignalKind::terminate()).map_err(fail)?;
    let mut int = signal(SignalKind::interrupt()).map_err(fail)?;
    let mut hup = signal(SignalKind::hangup()).map_err(fail)?;
    Ok(async move {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {}
            }
        }
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("stopped again: ending without waiting for the requests in flight");
            std::process::exit(0);
        });
    })
}

/// The daemon's status, when one answers.
pub fn ping(files: &Files) -> Result<Option<Status>> {
    Ok(control::call(&files.socket(), &Request::Ping)?.and_then(|r| r.status))
}

/// One request that must succeed.
pub fn ask(files: &Files, request: &Request) -> Result<Option<Status>> {
    let Some(reply) = control::call(&files.socket(), request)? else {
        return Err(Error::failure("the credential proxy is not running").hint("`machine up` starts it"));
    };
    if !reply.ok {
        return Err(Error::failure(format!(
            "the credential proxy refused: {}",
            reply.error.unwrap_or_else(|| "(no reason)".into())
        )));
    }
    Ok(reply.status)
}

/// Has a daemon with these settings accept the VM's token (its file written first): in one
/// round trip when such a daemon runs, else after [`ensure`] started one.
pub fn register(
    paths: &Paths,
    settings: &ProxySettings,
    runner: &dyn Runner,
    home: Option<&Path>,
    instance: &str,
) -> Result<()> {
    let files = Files::new(&paths.state_dir);
    let request = Request::Register { instance: instance.to_string() };
    let want = fingerprint(settings);
    if let Some(reply) = control::call(&files.socket(), &request)?
        && reply.ok
        && reply.status.is_some_and(|s| s.fingerprint == want)
    {
        return Ok(());
    }
    ensure(paths, settings, runner, home)?;
    ask(&files, &request).map(drop)
}

/// `[proxy] ca_file`, when set, must be a file this user can read: found out here, not as a
/// daemon that fails to start. `home` is what its `~` stands for.
pub fn check_ca_file(settings: &ProxySettings, home: Option<&Path>) -> Result<()> {
    let Some(path) = &settings.ca_file else { return Ok(()) };
    let path = &crate::compiler::paths::expand_tilde(path, home);
    match std::fs::File::open(path).and_then(|f| f.metadata()) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(Error::usage(format!("[proxy] ca_file {} is not a file", path.display()))
            .hint("point `ca_file` in projects.toml's [proxy] table at a PEM file of CA certificates, or remove it")),
        Err(e) => Err(Error::usage(format!("[proxy] ca_file {} cannot be read", path.display()))
            .caused_by(e)
            .hint("point `ca_file` in projects.toml's [proxy] table at a PEM file of CA certificates, or remove it")),
    }
}

/// A daemon running with these settings: the one there, else a new one (a daemon with other
/// settings, or of another machine version, is stopped first).
pub fn ensure(paths: &Paths, settings: &ProxySettings, runner: &dyn Runner, home: Option<&Path>) -> Result<Status> {
    check_ca_file(settings, home)?;
    let files = Files::new(&paths.state_dir);
    let want = fingerprint(settings);
    if let Some(status) = ping(&files)? {
        if status.fingerprint == want {
            return Ok(status);
        }
        tracing::info!("the credential proxy runs with other settings: restarting it");
        stop(&files)?;
    }
    files.create_dir()?;
    // A second try when the first daemon could not take over: one that was just ending by
    // itself (idle) may still have held the lock or the port.
    for _ in 0..2 {
        if let Some(status) = start(paths, &files, runner)? {
            return Ok(status);
        }
        let deadline = std::time::Instant::now() + START_WAIT;
        while files.running() && std::time::Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
    Err(Error::failure("the credential proxy did not start")
        .caused_by(log_tail(&files.daemon_log(), 8))
        .hint(format!("its log is {}", files.daemon_log().display())))
}

/// Spawns a daemon and waits until one answers; `None` when it ended first.
fn start(paths: &Paths, files: &Files, runner: &dyn Runner) -> Result<Option<Status>> {
    let exe = std::env::current_exe().map_err(|e| Error::failure("cannot find the machine program").caused_by(e))?;
    // Absolute paths: the daemon runs in its own folder, and must find the same state and config.
    let cmd = Cmd::new(exe)
        .args(["proxy", "serve"])
        .env(vars::STATE_DIR, &paths.state_dir)
        .env(vars::CONFIG_DIR, &paths.config_dir)
        .env(vars::PROJECTS_FILE, &paths.projects_file)
        .env(vars::CACHE_DIR, &paths.cache_dir)
        .cwd(files.dir());
    let mut child = runner.spawn_detached(&cmd, &files.daemon_log())?;
    let deadline = std::time::Instant::now() + START_WAIT;
    while std::time::Instant::now() < deadline {
        if let Some(status) = ping(files)? {
            return Ok(Some(status));
        }
        // It exited: unless another daemon that started at the same time holds the lock, it failed.
        if child.exited() && !files.running() {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
    Ok(None)
}

/// Stops the daemon and waits until it is gone; `false` when none ran.
pub fn stop(files: &Files) -> Result<bool> {
    if control::call(&files.socket(), &Request::Stop)?.is_none() && !files.running() {
        return Ok(false);
    }
    let deadline = std::time::Instant::now() + START_WAIT;
    while files.running() {
        if std::time::Instant::now() >= deadline {
            let pid = std::fs::read_to_string(files.pid()).unwrap_or_default();
            return Err(
                Error::failure("the credential proxy did not stop").hint(format!("end it with `kill {}`", pid.trim()))
            );
        }
        std::thread::sleep(POLL);
    }
    Ok(true)
}

/// The last `n` lines of a log, for an error.
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    if tail.is_empty() { "(it wrote nothing)".into() } else { tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_that_is_missing_or_a_folder_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let with = |path: std::path::PathBuf| ProxySettings { ca_file: Some(path), ..ProxySettings::default() };
        assert!(check_ca_file(&ProxySettings::default(), None).is_ok());
        let folder = check_ca_file(&with(dir.path().to_path_buf()), None).unwrap_err();
        assert!(folder.message().ends_with("is not a file"), "{folder}");
        let missing = check_ca_file(&with(dir.path().join("ca.pem")), None).unwrap_err();
        assert!(missing.message().ends_with("cannot be read"), "{missing}");
        assert_eq!(missing.exit_code(), 2);
        std::fs::write(dir.path().join("ca.pem"), "pem").unwrap();
        assert!(check_ca_file(&with(dir.path().join("ca.pem")), None).is_ok());
        let in_home = with(std::path::PathBuf::from("~/ca.pem"));
        assert!(check_ca_file(&in_home, Some(dir.path())).is_ok(), "`~` is the home given");
        assert!(check_ca_file(&in_home, None).is_err(), "without a home `~` is a folder name");
    }

    #[test]
    fn only_a_missing_pid_file_or_another_pid_displaces_the_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("daemon.pid");
        assert!(names_another(&pid), "gone");
        std::fs::write(&pid, format!("{}\n", std::process::id())).unwrap();
        assert!(!names_another(&pid));
        std::fs::write(&pid, "1\n").unwrap();
        assert!(names_another(&pid));
        std::fs::create_dir(dir.path().join("unreadable")).unwrap();
        assert!(!names_another(&dir.path().join("unreadable")), "a read that fails otherwise displaces nobody");
    }

    #[test]
    fn the_fingerprint_follows_the_settings() {
        let a = ProxySettings::default();
        let b = ProxySettings { port: 9999, ..ProxySettings::default() };
        assert_eq!(fingerprint(&a), fingerprint(&ProxySettings::default()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 16);
    }

    #[test]
    fn nothing_runs_in_an_empty_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::new(dir.path());
        assert!(!files.running());
        assert_eq!(ping(&files).unwrap(), None);
        assert!(!stop(&files).unwrap());
        assert!(ask(&files, &Request::Ping).unwrap_err().to_string().contains("not running"));
    }
}
