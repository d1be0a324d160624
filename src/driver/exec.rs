//! External programs as values, and the one runner that executes them.
//!
//! A [`Cmd`] is data: program, argv, environment changes, working directory, stdin. It prints
//! shell-escaped for `-v`, but is never run through a shell: arguments always travel as argv.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    /// Keep at most this many bytes of each output stream (its first and last halves, see
    /// [`Output::cut`]): what a command in the guest prints must not fill the host's memory.
    pub keep: Option<usize>,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            timeout: None,
            keep: None,
        }
    }

    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    #[must_use]
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    #[must_use]
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// See [`Cmd::keep`]; the program runs in a process group of its own, all of which a
    /// timeout kills.
    #[must_use]
    pub fn keep(mut self, bytes: usize) -> Self {
        self.keep = Some(bytes);
        self
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = self.env.iter().map(|(k, v)| {
            let mut s = k.clone();
            s.push("=");
            s.push(v);
            s
        });
        let all: Vec<String> = words
            .chain(std::iter::once(self.program.clone()))
            .chain(self.args.iter().cloned())
            .map(|w| quote(&w))
            .collect();
        f.write_str(&all.join(" "))
    }
}

/// Quotes a word for display the way a POSIX shell would read it back.
fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%^".contains(&b));
    if plain {
        s.into_owned()
    } else {
        // Control characters are shown escaped: a command line can quote the guest or a repo.
        format!("'{}'", crate::ui::escape::controls(&s.replace('\'', r"'\''")))
    }
}

/// What a finished program left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `None` when the program was killed by a signal or timed out.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// With [`Cmd::keep`]: how many bytes were left out of the middle of stdout and of stderr,
    /// right after their first `keep / 2` bytes.
    pub cut: [usize; 2],
}

impl Output {
    pub fn new(code: Option<i32>, stdout: impl Into<Vec<u8>>, stderr: impl Into<Vec<u8>>) -> Self {
        Self { code, stdout: stdout.into(), stderr: stderr.into(), cut: [0, 0] }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim_end().to_string()
    }
}

/// Runs commands. The real one spawns processes; tests put fake programs first on PATH.
pub trait Runner: Sync {
    /// Runs to completion, capturing stdout and stderr. Fails only if the program cannot start.
    fn output(&self, cmd: &Cmd) -> Result<Output, Error>;

    /// Runs with the terminal attached (an interactive shell, a TUI) and returns its exit code;
    /// a program killed by a signal gives 128 + the signal, as a shell would report it.
    fn interactive(&self, cmd: &Cmd) -> Result<i32, Error>;

    /// Runs to completion, passing each line of its combined stdout and stderr to `on_event` as
    /// it arrives, and a [`Event::Tick`] every [`TICK`] of silence; returning [`Flow::Stop`] kills
    /// the program. All lines are returned as `stderr`.
    fn stream(&self, cmd: &Cmd, on_event: &mut dyn FnMut(Event<'_>) -> Flow) -> Result<Output, Error>;

    /// Starts a program that outlives machine (a daemon): in a process group of its own, so a
    /// Ctrl-C at machine's terminal does not reach it, with stdin from /dev/null and stdout and
    /// stderr appended to `log`. Nobody waits for it; the caller may ask whether it has exited.
    fn spawn_detached(&self, cmd: &Cmd, log: &Path) -> Result<Detached, Error>;
}

/// How often a streamed program's watcher gets a chance to look around.
pub const TICK: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    Line(&'a str),
    Tick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Spawns real processes: with std for a captured command without stdin or timeout, else with
/// duct. `env` is set on every program it runs (the agent socket).
#[derive(Debug, Default)]
pub struct SystemRunner {
    pub env: Vec<(OsString, OsString)>,
}

/// A program [`Runner::spawn_detached`] started.
#[derive(Debug)]
pub struct Detached {
    pub pid: u32,
    /// The handle, when this process started it (a test runner's has none). Dropping it neither
    /// waits for nor kills the program.
    child: Option<std::process::Child>,
}

impl Detached {
    /// A program started elsewhere (by a test runner): it is never seen to exit.
    pub fn untracked(pid: u32) -> Self {
        Self { pid, child: None }
    }

    /// Whether it has already exited (and so will not serve).
    pub fn exited(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some())
    }
}

impl Drop for Detached {
    /// Reaps it when it exits while this process still runs (`machine mcp` lives long, and
    /// would otherwise collect a zombie per daemon that `down` stopped). A thread that waits:
    /// it never keeps this process from exiting, and the program outlives it.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = std::thread::Builder::new().name("reap".into()).spawn(move || child.wait());
        }
    }
}

impl Runner for SystemRunner {
    fn output(&self, cmd: &Cmd) -> Result<Output, Error> {
        tracing::info!("$ {cmd}");
        let started = std::time::Instant::now();
        if let Some(keep) = cmd.keep {
            return self.output_kept(cmd, keep, started);
        }
        if cmd.stdin.is_none() && cmd.timeout.is_none() {
            // std reads both pipes with poll on this thread; duct's capture takes two threads.
            // Only the spawn may be retried by name: a program that started is waited for once.
            use std::process::Stdio;
            let child = self
                .start_with(cmd, |program| {
                    self.command(cmd, program)
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                })
                .map_err(|e| spawn_error(cmd, &e))?;
            let out = child.wait_with_output().map_err(|e| spawn_error(cmd, &e))?;
            log_end(cmd, &out.status.to_string(), started);
            return Ok(Output::new(out.status.code(), out.stdout, out.stderr));
        }

        let handle = self
            .start_with(cmd, |program| {
                let expr = self.expression(cmd, program).stdout_capture().stderr_capture();
                match &cmd.stdin {
                    Some(bytes) => expr.stdin_bytes(bytes.clone()),
                    None => expr.stdin_null(),
                }
                .start()
            })
            .map_err(|e| spawn_error(cmd, &e))?;
        let out = match cmd.timeout {
            None => Some(handle.wait().map_err(|e| spawn_error(cmd, &e))?.clone()),
            Some(limit) => wait_with_timeout(&handle, limit).map_err(|e| spawn_error(cmd, &e))?,
        };
        log_end(cmd, &out.as_ref().map_or("timed out".into(), |o| o.status.to_string()), started);
        Ok(match out {
            Some(o) => Output::new(o.status.code(), o.stdout, o.stderr),
            None => Output::new(None, Vec::new(), b"timed out".to_vec()),
        })
    }

    fn interactive(&self, cmd: &Cmd) -> Result<i32, Error> {
        tracing::info!("$ {cmd}");
        let started = std::time::Instant::now();
        let handle = self
            .start_with(cmd, |program| {
                let expr = self.expression(cmd, program);
                match &cmd.stdin {
                    Some(bytes) => expr.stdin_bytes(bytes.clone()).start(),
                    None => expr.start(),
                }
            })
            .map_err(|e| spawn_error(cmd, &e))?;
        let out = handle.wait().map_err(|e| spawn_error(cmd, &e))?;
        log_end(cmd, &out.status.to_string(), started);
        Ok(exit_code(out.status))
    }

    fn stream(&self, cmd: &Cmd, on_event: &mut dyn FnMut(Event<'_>) -> Flow) -> Result<Output, Error> {
        use std::io::BufRead as _;
        use std::sync::mpsc;
        tracing::info!("$ {cmd}");
        let started = std::time::Instant::now();
        let reader = self
            .start_with(cmd, |program| self.expression(cmd, program).stdin_null().stderr_to_stdout().reader())
            .map_err(|e| spawn_error(cmd, &e))?;
        let reader = std::sync::Arc::new(reader);
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let feeder = {
            let reader = std::sync::Arc::clone(&reader);
            std::thread::spawn(move || {
                let mut lines = std::io::BufReader::new(&*reader);
                loop {
                    let mut line = Vec::new();
                    match lines.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            if tx.send(line).is_err() {
                                break;
                            }
                        }
                    }
                }
            })
        };
        let mut all = Vec::new();
        let mut stopped = false;
        let mut last_tick = std::time::Instant::now();
        loop {
            let mut flow = match rx.recv_timeout(TICK) {
                Ok(line) => {
                    let flow = on_event(Event::Line(String::from_utf8_lossy(&line).trim_end()));
                    all.extend_from_slice(&line);
                    flow
                }
                Err(mpsc::RecvTimeoutError::Timeout) => Flow::Continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            // Ticks keep coming while the program keeps printing, not only in silence.
            if flow == Flow::Continue && last_tick.elapsed() >= TICK {
                last_tick = std::time::Instant::now();
                flow = on_event(Event::Tick);
            }
            if flow == Flow::Stop {
                stopped = true;
                reader.kill().map_err(|e| spawn_error(cmd, &e))?;
                // A grandchild may keep the pipe open: leave the feeder to end on its own.
                break;
            }
        }
        if !stopped {
            let _ = feeder.join();
        }
        let status = reader.try_wait().ok().flatten().map(|o| o.status);
        log_end(cmd, &status.map_or_else(|| "stopped".into(), |s| s.to_string()), started);
        Ok(Output::new(if stopped { None } else { status.map(exit_code) }, Vec::new(), all))
    }

    fn spawn_detached(&self, cmd: &Cmd, log: &Path) -> Result<Detached, Error> {
        self.detached(cmd, log)
    }
}

impl SystemRunner {
    fn detached(&self, cmd: &Cmd, log: &Path) -> Result<Detached, Error> {
        use std::os::unix::process::CommandExt as _;
        tracing::info!("$ {cmd} & (output to {})", log.display());
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| crate::error::io_error("open", log, &e))?;
        let err = out.try_clone().map_err(|e| crate::error::io_error("open", log, &e))?;
        let mut command = self.command(cmd, cmd.program.clone());
        command.stdin(std::process::Stdio::null()).stdout(out).stderr(err).process_group(0);
        let child = command.spawn().map_err(|e| spawn_error(cmd, &e))?;
        Ok(Detached { pid: child.id(), child: Some(child) })
    }
}

/// The exit code a shell would report: the code, or 128 + the signal that killed the program.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    status.code().unwrap_or(1)
}

impl SystemRunner {
    /// Starts `cmd` by its path on the PATH it runs with (see [`Self::resolve`]), or by its bare
    /// name when there is none or when the path fails for another reason than a missing file (a
    /// script without `#!`, an execute bit for someone else): what runs is what execvp runs.
    fn start_with<T>(&self, cmd: &Cmd, start: impl Fn(OsString) -> std::io::Result<T>) -> std::io::Result<T> {
        if let Some(path) = self.resolve(cmd) {
            match start(path.into_os_string()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::debug!("starting {} failed ({e}); starting it by name", cmd.program.to_string_lossy());
                }
                started => return started,
            }
        }
        start(cmd.program.clone())
    }

    /// `cmd` as a std command running `program`, which sees its name as written in argv[0].
    fn command(&self, cmd: &Cmd, program: OsString) -> std::process::Command {
        use std::os::unix::process::CommandExt as _;
        let mut command = std::process::Command::new(program);
        command.arg0(&cmd.program).args(&cmd.args);
        for (k, v) in self.env.iter().chain(&cmd.env) {
            command.env(k, v);
        }
        if let Some(dir) = &cmd.cwd {
            command.current_dir(dir);
        }
        command
    }

    /// `program` is an `OsString` either way: duct takes a Path-typed bare name for `./name`. The
    /// program sees its name as written in argv[0], whichever way it was found.
    fn expression(&self, cmd: &Cmd, program: OsString) -> duct::Expression {
        let arg0 = cmd.program.clone();
        let mut expr = duct::cmd(program, &cmd.args).unchecked().before_spawn(move |command| {
            std::os::unix::process::CommandExt::arg0(command, &arg0);
            Ok(())
        });
        for (k, v) in self.env.iter().chain(&cmd.env) {
            expr = expr.env(k, v);
        }
        if let Some(dir) = &cmd.cwd {
            expr = expr.dir(dir);
        }
        expr
    }

    /// The program's path on the PATH it will run with. duct gives every child a full
    /// environment, and std then starts a bare program name by fork and exec (a copy of this
    /// process's page tables, and a copy-on-write fault for each page either side touches
    /// before the exec) instead of `posix_spawn`; a path lets it use `posix_spawn`. `None` leaves
    /// the name to the spawn, which then reports a missing program as before.
    fn resolve(&self, cmd: &Cmd) -> Option<PathBuf> {
        let program = Path::new(&cmd.program);
        if program.components().count() != 1 || program.as_os_str().is_empty() {
            return None;
        }
        let set = cmd.env.iter().rev().chain(self.env.iter().rev()).find(|(k, _)| k == "PATH").map(|(_, v)| v.clone());
        let path = set.or_else(|| std::env::var_os("PATH"))?;
        // A relative entry is searched from the child's folder: the spawn does that.
        for dir in std::env::split_paths(&path) {
            if !dir.is_absolute() {
                return None;
            }
            let candidate = dir.join(program);
            if is_executable(&candidate) {
                return Some(candidate);
            }
        }
        None
    }
}

impl SystemRunner {
    /// [`Runner::output`] keeping only the ends of each stream, read as they come; at the
    /// timeout the program's whole process group is killed (`limactl` and the ssh under it).
    fn output_kept(&self, cmd: &Cmd, keep: usize, started: std::time::Instant) -> Result<Output, Error> {
        use std::os::unix::process::CommandExt as _;
        use std::process::Stdio;
        let mut child = self
            .start_with(cmd, |program| {
                let stdin = if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() };
                self.command(cmd, program)
                    .process_group(0)
                    .stdin(stdin)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .map_err(|e| spawn_error(cmd, &e))?;
        if let (Some(bytes), Some(mut pipe)) = (cmd.stdin.clone(), child.stdin.take()) {
            std::thread::spawn(move || std::io::Write::write_all(&mut pipe, &bytes));
        }
        let pipes = [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ];
        let kept: [Shared<Kept>; 2] = Default::default();
        let readers = pipes
            .into_iter()
            .zip(kept.clone())
            .map(|(pipe, into)| std::thread::spawn(move || Kept::read(pipe, keep, &into)));
        let readers: Vec<_> = readers.collect();
        let deadline = cmd.timeout.map(|limit| started + limit);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| spawn_error(cmd, &e))? {
                break Some(status);
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                kill_group(child.id());
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let ended = || readers.iter().all(std::thread::JoinHandle::is_finished);
        if !wait_until(ended, OUTPUT_GRACE) {
            kill_group(child.id());
            if !wait_until(ended, OUTPUT_GRACE) {
                tracing::info!("the output of `{cmd}` is still open: machine stops reading it");
            }
        }
        let [(stdout, out_cut), (stderr, err_cut)] = kept.map(|k| Kept::taken(&k));
        log_end(cmd, &status.map_or("timed out".into(), |s| s.to_string()), started);
        Ok(Output { code: status.and_then(|s| s.code()), stdout, stderr, cut: [out_cut, err_cut] })
    }
}

/// Polls `done` every 20 ms until it holds (`true`) or `limit` passed (`false`).
pub fn wait_until(mut done: impl FnMut() -> bool, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// SIGKILL to every process of the group `pgid` leads.
fn kill_group(pgid: u32) {
    let group = format!("-{pgid}");
    let killed = std::process::Command::new("kill").args(["-KILL", "--", &group]).status();
    if !killed.is_ok_and(|s| s.success()) {
        tracing::info!("kill -KILL -- {group} failed");
    }
}

/// A stream's first and last `keep / 2` bytes as they are read, and how many came in all.
#[derive(Debug, Default)]
struct Kept {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: usize,
}

type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

impl Kept {
    /// Reads `pipe` to its end into `into`, keeping `keep` bytes.
    fn read(pipe: Option<Box<dyn std::io::Read + Send>>, keep: usize, into: &Shared<Self>) {
        use std::io::Read as _;
        let Some(mut pipe) = pipe else { return };
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            into.lock().unwrap_or_else(std::sync::PoisonError::into_inner).add(&buf[..n], keep);
        }
    }

    fn add(&mut self, chunk: &[u8], keep: usize) {
        let half = keep / 2;
        self.total += chunk.len();
        let room = half.saturating_sub(self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..room]);
        self.tail.extend(&chunk[room..]);
        let over = self.tail.len().saturating_sub(keep - half);
        self.tail.drain(..over);
    }

    /// What was kept, and how many bytes between its two halves were dropped.
    fn taken(into: &Shared<Self>) -> (Vec<u8>, usize) {
        let kept = std::mem::take(&mut *into.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let cut = kept.total - kept.head.len() - kept.tail.len();
        let mut bytes = kept.head;
        bytes.extend(kept.tail);
        (bytes, cut)
    }
}

/// How long, once the program ended, its output may take to end too: a program it left running
/// in the background can hold the pipes open (its group is killed then).
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// With -vv: how each command ended and how long it took.
fn log_end(cmd: &Cmd, status: &str, started: std::time::Instant) {
    tracing::debug!("  {} ({status}, {:.2}s)", cmd.program.to_string_lossy(), started.elapsed().as_secs_f64());
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn wait_with_timeout(handle: &duct::Handle, limit: Duration) -> std::io::Result<Option<std::process::Output>> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(out) = handle.try_wait()? {
            return Ok(Some(out.clone()));
        }
        if std::time::Instant::now() >= deadline {
            handle.kill()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_error(cmd: &Cmd, err: &std::io::Error) -> Error {
    let program = cmd.program.to_string_lossy();
    if err.kind() == std::io::ErrorKind::NotFound {
        return Error::missing_program(&program, install_hint(&program));
    }
    Error::failure(format!("cannot run `{cmd}`")).caused_by(err)
}

/// How to get a missing program on this host.
pub fn install_hint(program: &str) -> String {
    let mac = cfg!(target_os = "macos");
    match program {
        "limactl" if mac => {
            format!("install Lima {} or newer: `brew install lima`", crate::driver::lima::min_version_text())
        }
        "limactl" => linux_lima_hint(),
        "git" if mac => "install git: `xcode-select --install` or `brew install git`".into(),
        "git" => "install git with your package manager (e.g. `sudo apt-get install git`)".into(),
        "op" if mac => "install the 1Password CLI: `brew install 1password-cli`".into(),
        "op" => "install the 1Password CLI: https://developer.1password.com/docs/cli/get-started/".into(),
        "ssh" | "ssh-add" if mac => "OpenSSH ships with macOS; check your PATH".into(),
        "ssh" | "ssh-add" => "install the OpenSSH client (e.g. `sudo apt-get install openssh-client`)".into(),
        "gh" if mac => "install the GitHub CLI: `brew install gh`".into(),
        "gh" => "install the GitHub CLI: https://github.com/cli/cli#installation".into(),
        other => format!("install `{other}` and make sure it is on PATH"),
    }
}

/// No Linux distribution's own repository ships a current Lima (Debian's has none at all), so
/// the hint names the ways that work, and the QEMU and UEFI packages Lima drives.
fn linux_lima_hint() -> String {
    format!(
        "install Lima {} or newer with Homebrew on Linux (`brew install lima`), Nix (`nix profile install nixpkgs#lima`), \
         or the release tarball from https://github.com/lima-vm/lima/releases unpacked into ~/.local \
         (`tar -C ~/.local -xzf lima-<version>-Linux-x86_64.tar.gz`); Lima drives QEMU, so also install QEMU and UEFI firmware: \
         Debian/Ubuntu `sudo apt-get install qemu-system-x86 qemu-utils ovmf` (arm64: `qemu-system-arm qemu-efi-aarch64`), \
         Fedora `sudo dnf install qemu-kvm qemu-img edk2-ovmf`, Arch `sudo pacman -S qemu-base edk2-ovmf`",
        crate::driver::lima::min_version_text()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_shell_escaped() {
        let cmd =
            Cmd::new("git").env("GIT_TERMINAL_PROMPT", "0").args(["config", "--get", "user.name"]).arg("it's here");
        assert_eq!(cmd.to_string(), "GIT_TERMINAL_PROMPT=0 git config --get user.name 'it'\\''s here'");
    }

    #[test]
    fn runs_argv_without_a_shell() {
        let out = SystemRunner::default().output(&Cmd::new("printf").args(["%s|", "a b", "$HOME", ";echo x"])).unwrap();
        assert_eq!(out.stdout_text(), "a b|$HOME|;echo x|");
        assert!(out.success());
    }

    #[test]
    fn missing_programs_say_how_to_install() {
        let err = SystemRunner::default().output(&Cmd::new("machine-no-such-program")).unwrap_err();
        assert!(err.to_string().contains("was not found on PATH"), "{err}");
    }

    #[test]
    fn a_bare_name_is_found_on_the_path_the_program_runs_with() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("machine-test-tool");
        std::fs::write(&tool, "#!/bin/sh\necho from-the-given-path\n").unwrap();
        std::fs::write(dir.path().join("not-executable"), "").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:/usr/bin:/bin", dir.path().display());
        let runner = SystemRunner { env: vec![("PATH".into(), path.clone().into())] };
        let cmd = Cmd::new("machine-test-tool");
        assert_eq!(runner.resolve(&cmd), Some(tool.clone()));
        assert_eq!(runner.output(&cmd).unwrap().stdout_text(), "from-the-given-path");
        // A command's own PATH wins over the runner's.
        let other = SystemRunner::default();
        assert_eq!(other.resolve(&Cmd::new("machine-test-tool").env("PATH", &path)), Some(tool));
        assert_eq!(runner.resolve(&Cmd::new("not-executable")), None);
        assert_eq!(runner.resolve(&Cmd::new("./machine-test-tool")), None, "a path is left as written");
        // A relative entry first: the search is left to the spawn, which looks from the child's folder.
        let relative = SystemRunner { env: vec![("PATH".into(), format!("bin:{path}").into())] };
        assert_eq!(relative.resolve(&cmd), None);
        // A script without `#!` runs as execvp runs it (by /bin/sh), not as an exec format error.
        let bare = dir.path().join("machine-test-bare");
        std::fs::write(&bare, "echo bare-script \"$0\"\n").unwrap();
        std::fs::set_permissions(&bare, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = runner.output(&Cmd::new("machine-test-bare")).unwrap();
        assert!(out.stdout_text().starts_with("bare-script "), "{}", out.stdout_text());
        // The program sees the name it was given as argv[0].
        let argv0 = runner.output(&Cmd::new("sh").args(["-c", "echo \"$0\""])).unwrap();
        assert_eq!(argv0.stdout_text(), "sh");
        let err = runner.output(&Cmd::new("machine-no-such-program")).unwrap_err();
        assert!(err.to_string().contains("was not found on PATH"), "{err}");
    }

    #[test]
    fn interactive_returns_the_exit_code() {
        assert_eq!(SystemRunner::default().interactive(&Cmd::new("sh").args(["-c", "exit 7"])).unwrap(), 7);
    }

    #[test]
    fn stream_passes_lines_as_they_come() {
        let mut seen = Vec::new();
        let cmd = Cmd::new("sh").args(["-c", "echo one; echo two >&2; exit 3"]);
        let out = SystemRunner::default()
            .stream(&cmd, &mut |e| {
                if let Event::Line(l) = e {
                    seen.push(l.to_string());
                }
                Flow::Continue
            })
            .unwrap();
        assert_eq!(seen, ["one", "two"]);
        assert_eq!(out.code, Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "one\ntwo\n");
    }

    #[test]
    fn stream_ticks_while_the_program_keeps_printing() {
        let mut ticks = 0;
        let cmd = Cmd::new("sh").args(["-c", "i=0; while [ $i -lt 25 ]; do echo $i; i=$((i+1)); sleep 0.2; done"]);
        SystemRunner::default()
            .stream(&cmd, &mut |e| {
                if e == Event::Tick {
                    ticks += 1;
                }
                Flow::Continue
            })
            .unwrap();
        assert!(ticks >= 1, "a chatty 5 s program still gets ticks");
    }

    #[test]
    fn stream_ticks_during_silence_and_can_stop_the_program() {
        let started = std::time::Instant::now();
        let mut ticks = 0;
        let cmd = Cmd::new("sh").args(["-c", "echo waiting; sleep 30"]);
        let out = SystemRunner::default()
            .stream(&cmd, &mut |e| {
                if e == Event::Tick {
                    ticks += 1;
                    return Flow::Stop;
                }
                Flow::Continue
            })
            .unwrap();
        assert_eq!(ticks, 1);
        assert_eq!(out.code, None, "a stopped program has no exit code");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn detached_programs_get_their_own_process_group_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("daemon.log");
        let done = dir.path().join("done");
        let script =
            format!("echo out; echo err >&2; ps -o pgid= -p $$ > '{}.tmp' && mv '{0}.tmp' '{0}'", done.display());
        let pid = SystemRunner::default().spawn_detached(&Cmd::new("sh").args(["-c", &script]), &log).unwrap().pid;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let pgid = std::fs::read_to_string(&done).expect("the detached program ran");
        assert_eq!(pgid.trim(), pid.to_string(), "it leads a process group of its own");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "out\nerr\n");
    }

    #[test]
    fn kept_output_holds_both_ends_and_says_how_much_was_cut() {
        let runner = SystemRunner::default();
        let script = "head -c 300000 /dev/zero | tr '\\0' a; printf END; printf err >&2";
        let out = runner.output(&Cmd::new("sh").args(["-c", script]).keep(1000)).unwrap();
        assert_eq!(out.code, Some(0));
        assert_eq!(out.stdout.len(), 1000);
        assert_eq!(out.cut, [300_003 - 1000, 0]);
        assert!(out.stdout.starts_with(b"aaa") && out.stdout.ends_with(b"aEND"));
        assert_eq!(out.stderr, b"err");
        let whole = runner.output(&Cmd::new("printf").arg("short").keep(1000)).unwrap();
        assert_eq!((whole.stdout.as_slice(), whole.cut), (&b"short"[..], [0, 0]));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_timeout_kills_the_whole_process_group_of_a_kept_command() {
        let runner = SystemRunner::default();
        let script = "sleep 30 & echo $!; wait";
        let cmd = Cmd::new("sh").args(["-c", script]).keep(1000).timeout(Duration::from_millis(300));
        let started = std::time::Instant::now();
        let out = runner.output(&cmd).unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "the sleep held no pipe open: {:?}", started.elapsed());
        assert_eq!(out.code, None, "timed out");
        let pid = String::from_utf8(out.stdout).unwrap();
        // Gone, or a zombie nobody reaped yet (a container's first process may not).
        let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        let alive = state.split(") ").nth(1).is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'));
        assert!(!alive, "the child of the child is gone too (pid {pid}: {state})");
    }

    #[test]
    fn a_background_program_holding_the_output_open_does_not_hold_up_a_kept_command() {
        let started = std::time::Instant::now();
        let out =
            SystemRunner::default().output(&Cmd::new("sh").args(["-c", "echo hi; sleep 30 &"]).keep(100)).unwrap();
        assert_eq!((out.code, out.stdout.as_slice()), (Some(0), &b"hi\n"[..]));
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    }

    #[test]
    fn timeouts_kill() {
        let out =
            SystemRunner::default().output(&Cmd::new("sleep").arg("5").timeout(Duration::from_millis(100))).unwrap();
        assert_eq!(out.code, None);
    }
}
