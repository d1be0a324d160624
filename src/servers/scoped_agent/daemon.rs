//! The scoped agent as a process: `machine agent serve INSTANCE` (the daemon, one per VM, held
//! by a lock), and what other machine commands do about it: start it when it is not running,
//! stop it with the VM.
//!
//! The daemon ends by itself when its policy file is removed (the VM's state is gone) or when
//! the VM has not been running for [`IDLE_GRACE`] (Lima's `ha.pid` is absent: a VM stopped some
//! other way than `machine down`, or one whose create failed). `down` and `destroy` stop it.

use std::ffi::OsString;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::AgentDir;
use super::confirm;
use super::log::{Budget, Entry};
use super::policy::Policy;
use super::server::{AgentSocket, Handler, serve_connection};
use crate::driver::exec::{Cmd, Runner};
use crate::error::{Error, Result, io_error};

/// How long the daemon outlives a VM that stopped running without `machine down`.
pub const IDLE_GRACE: Duration = Duration::from_mins(10);

/// How often the daemon looks at its VM.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// How long a starting daemon may take to listen, and a stopping one to end.
const READY_WITHIN: Duration = Duration::from_secs(5);

/// Connections served at once; more are closed at once (each is a thread on the host, and the
/// guest can open as many as it likes).
const MAX_CONNECTIONS: usize = 64;

/// The environment a confirmation dialog needs, taken once at start (threads share it).
#[derive(Debug, Clone, Default)]
pub struct DialogEnv(Vec<(String, OsString)>);

impl DialogEnv {
    pub fn capture(env: &dyn Fn(&str) -> Option<OsString>) -> Self {
        let keys = ["PATH", "DISPLAY", "WAYLAND_DISPLAY"];
        Self(keys.iter().filter_map(|k| env(k).map(|v| ((*k).to_string(), v))).collect())
    }

    fn get(&self, key: &str) -> Option<OsString> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
}

/// Why the daemon should end now, if it should.
pub fn end_reason(policy_exists: bool, vm_running: bool, not_running_for: Duration) -> Option<&'static str> {
    if !policy_exists {
        return Some("its policy file is gone (the VM's state was removed)");
    }
    (!vm_running && not_running_for >= IDLE_GRACE).then_some("the VM has not been running for 10 minutes")
}

/// Serves the VM's socket until it is time to end; returns at once (0) when another daemon
/// already serves it. Exits the process when done: connections may still be open.
pub fn serve(dir: &AgentDir, runner: &dyn Runner, env: DialogEnv) -> Result<i32> {
    let Some(_lock) = crate::driver::lock::try_exclusive(&dir.lock_file())? else {
        tracing::info!("another scoped agent serves {}", dir.socket().display());
        return Ok(0);
    };
    let term = signals()?;
    crate::driver::stack::write_atomic(&dir.pid_file(), format!("{}\n", std::process::id()).as_bytes())?;
    let listener = listen(&dir.socket())?;
    tracing::info!("scoped agent for {} listening on {}", dir.instance(), dir.socket().display());
    let shared = Shared { dir, runner, env, dialog: std::sync::Mutex::new(()), budgets: Default::default() };
    let open = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for stream in listener.incoming() {
                match stream {
                    Ok(_) if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS => {
                        tracing::warn!("{MAX_CONNECTIONS} connections are open: closing a new one");
                    }
                    Ok(mut stream) => {
                        let (shared, open) = (&shared, &open);
                        open.fetch_add(1, Ordering::SeqCst);
                        s.spawn(move || {
                            shared.serve(&mut stream);
                            open.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                    Err(e) => tracing::warn!("cannot accept a connection: {e}"),
                }
            }
        });
        let why = watch(dir, &term);
        tracing::info!("scoped agent for {} ends: {why}", dir.instance());
        shared.flush();
        let _ = std::fs::remove_file(dir.socket());
        let _ = std::fs::remove_file(dir.pid_file());
        std::process::exit(0)
    })
}

/// SIGTERM and SIGINT end the daemon (after cleaning up); SIGHUP (its terminal closing) does not.
fn signals() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let term = Arc::new(AtomicBool::new(false));
    let ignored = Arc::new(AtomicBool::new(false));
    let register = |signal, flag: &Arc<AtomicBool>| {
        signal_hook::flag::register(signal, Arc::clone(flag))
            .map_err(|e| Error::failure("cannot set up the scoped agent's signal handling").caused_by(e))
    };
    register(SIGTERM, &term)?;
    register(SIGINT, &term)?;
    register(SIGHUP, &ignored)?;
    Ok(term)
}

/// Binds the socket (replacing a dead daemon's) and makes it owner-only.
fn listen(socket: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::remove_file(socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("remove", socket, &e)),
    }
    let listener = UnixListener::bind(socket).map_err(|e| io_error("listen on", socket, &e))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_error("set the mode of", socket, &e))?;
    Ok(listener)
}

/// Returns when the daemon should end, and why.
fn watch(dir: &AgentDir, term: &AtomicBool) -> &'static str {
    let mut last_running = Instant::now();
    let mut next_check = Instant::now();
    loop {
        if term.load(Ordering::SeqCst) {
            return "stopped";
        }
        if Instant::now() >= next_check {
            next_check = Instant::now() + CHECK_EVERY;
            let running = Policy::load(&dir.policy_file()).is_ok_and(|p| p.lima_dir.join("ha.pid").exists());
            if running {
                last_running = Instant::now();
            }
            if !dir.socket().exists() {
                return "its socket was removed";
            }
            if let Some(why) = end_reason(dir.policy_file().exists(), running, last_running.elapsed()) {
                return why;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What every connection of one daemon shares.
struct Shared<'a> {
    dir: &'a AgentDir,
    runner: &'a dyn Runner,
    env: DialogEnv,
    /// One question on the desktop at a time.
    dialog: std::sync::Mutex<()>,
    /// What the log may still take one by one this minute: of sign requests, and of the others
    /// (a flood of one kind never hides the other).
    budgets: [std::sync::Mutex<Budget>; 2],
}

impl Shared<'_> {
    fn serve(&self, stream: &mut UnixStream) {
        // Read for each connection: an edited `ssh_keys` applies to the next one.
        let policy = Policy::load(&self.dir.policy_file()).unwrap_or_else(|e| {
            tracing::warn!("serving nothing: {e}");
            Policy::closed(self.dir.instance())
        });
        let mut upstream = AgentSocket::new(policy.upstream.clone());
        let append = |entry: &Entry| {
            let signs = entry.request == "sign";
            let (due, write) = self.lock_budget(signs).admit(entry, Instant::now());
            if let Some(n) = due {
                self.append(&Entry::unlogged(&entry.vm, n, signs));
            }
            if write {
                self.append(entry);
            }
        };
        let confirm = |question: &str| {
            let _one = self.dialog.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let env = |k: &str| self.env.get(k);
            confirm::ask(self.runner, confirm::dialog(question, cfg!(target_os = "macos"), &env))
        };
        let mut handler = Handler { policy: &policy, upstream: &mut upstream, confirm: &confirm, log: &append };
        serve_connection(stream, &mut handler);
    }

    fn lock_budget(&self, signs: bool) -> std::sync::MutexGuard<'_, Budget> {
        self.budgets[usize::from(signs)].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn append(&self, entry: &Entry) {
        if let Err(e) = self.dir.signature_log().append(entry) {
            tracing::warn!("{e}");
        }
    }

    /// Writes the count of entries not logged one by one, as the daemon ends.
    fn flush(&self) {
        for signs in [false, true] {
            if let Some(n) = self.lock_budget(signs).rest() {
                let vm =
                    Policy::load(&self.dir.policy_file()).map_or_else(|_| self.dir.instance().to_string(), |p| p.vm);
                self.append(&Entry::unlogged(&vm, n, signs));
            }
        }
    }
}

/// Whether a daemon holds the VM's lock (it runs, or is starting).
pub fn is_running(dir: &AgentDir) -> Result<bool> {
    crate::driver::lock::is_held(&dir.lock_file())
}

/// Writes the policy and makes sure a daemon serves it; returns whether one had to be started.
/// `exe` is machine itself, `state_dir` what the daemon must use.
pub fn ensure(runner: &dyn Runner, dir: &AgentDir, policy: &Policy, exe: &Path, state_dir: &Path) -> Result<bool> {
    dir.check_socket_path()?;
    dir.create()?;
    policy.save(&dir.policy_file())?;
    if is_running(dir)? && wait_for(|| UnixStream::connect(dir.socket()).is_ok()) {
        return Ok(false);
    }
    let cmd = Cmd::new(exe)
        .args(["-v", "agent", "serve"])
        .arg(dir.instance())
        .env(crate::compiler::paths::vars::STATE_DIR, state_dir)
        .cwd(dir.path());
    let mut child = runner.spawn_detached(&cmd, &dir.daemon_log())?;
    let accepts = || UnixStream::connect(dir.socket()).is_ok();
    // Not the whole wait for a daemon that died at once (unless another one, started at the
    // same time, holds the lock and is about to serve).
    wait_for(|| accepts() || (child.exited() && !is_running(dir).unwrap_or(false)));
    if accepts() {
        return Ok(true);
    }
    let log = std::fs::read_to_string(dir.daemon_log()).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
    Err(Error::failure(format!("the scoped SSH agent for VM `{}` did not start", policy.vm))
        .caused_by(if tail.is_empty() { "(it wrote nothing)".to_string() } else { tail.join("\n") })
        .hint(format!(
            "its log is {}; `forward_agent = false` runs the VM without an agent",
            dir.daemon_log().display()
        )))
}

/// Stops the VM's daemon, if one runs, and removes its socket.
pub fn stop(runner: &dyn Runner, dir: &AgentDir) -> Result<()> {
    if is_running(dir)? {
        let pid = std::fs::read_to_string(dir.pid_file()).unwrap_or_default();
        let pid = pid.trim();
        if pid.bytes().all(|b| b.is_ascii_digit()) && !pid.is_empty() {
            let out = runner.output(&Cmd::new("kill").args(["-TERM", pid]))?;
            if !out.success() {
                tracing::info!("kill {pid}: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
        }
        if !wait_for(|| !is_running(dir).unwrap_or(false)) {
            return Err(Error::failure(format!("the scoped SSH agent of `{}` did not stop", dir.instance()))
                .hint(format!("stop process {pid} yourself (its pid file is {})", dir.pid_file().display())));
        }
    }
    for leftover in [dir.socket(), dir.pid_file()] {
        let _ = std::fs::remove_file(leftover);
    }
    Ok(())
}

/// Polls `ready` until it holds or [`READY_WITHIN`] passed.
fn wait_for(ready: impl FnMut() -> bool) -> bool {
    crate::driver::exec::wait_until(ready, READY_WITHIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_ends_with_its_state_or_a_long_stopped_vm() {
        assert_eq!(end_reason(true, true, Duration::ZERO), None);
        assert_eq!(end_reason(true, false, Duration::from_mins(9)), None, "a VM that is starting");
        assert!(end_reason(true, false, IDLE_GRACE).is_some());
        assert!(end_reason(false, true, Duration::ZERO).is_some(), "destroyed: at once");
    }
}
