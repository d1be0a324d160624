//! The `limactl` (and `ssh -O`) command lines machine runs, and where Lima keeps an instance.
//!
//! `--tty=false` goes first on the commands that would otherwise prompt or open an editor when
//! stdout happens to be a terminal; `shell` and `list` never prompt, and `shell` must keep
//! allocating a terminal for interactive use.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::driver::exec::Cmd;

const LIMACTL: &str = "limactl";

fn limactl() -> Cmd {
    Cmd::new(LIMACTL)
}

/// `limactl --tty=false`: never prompt, never open an editor.
fn batch() -> Cmd {
    limactl().arg("--tty=false")
}

/// The oldest Lima machine works with: 2.1 keeps an instance's disk as `<dir>/disk`, which
/// baking copies. The core layer's `minimumLimaVersion` says the same (a test keeps them equal),
/// so Lima itself refuses an older `limactl create`.
pub const MIN_VERSION: (u32, u32, u32) = (2, 1, 0);

/// [`MIN_VERSION`] as Lima writes it: `2.1.0`.
pub fn min_version_text() -> String {
    let (major, minor, patch) = MIN_VERSION;
    format!("{major}.{minor}.{patch}")
}

/// `limactl --version`.
pub fn version() -> Cmd {
    limactl().arg("--version")
}

/// The `(major, minor, patch)` in `limactl version 2.2.0`; tolerates `v2.2.0` and suffixes such
/// as `-beta.1` or `-12-gabc` (development builds).
pub fn parse_version(stdout: &str) -> Option<(u32, u32, u32)> {
    let line = stdout.lines().find(|l| l.contains("version"))?;
    let word = line.split_whitespace().skip_while(|w| *w != "version").nth(1)?;
    let word = word.strip_prefix('v').unwrap_or(word);
    let end = word.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(word.len());
    let mut parts = word[..end].split('.').map(str::parse::<u32>);
    let triple = (parts.next()?.ok()?, parts.next()?.ok()?, parts.next()?.ok()?);
    parts.next().is_none().then_some(triple)
}

/// The fields machine reads, as one JSON object per instance (the keys `--json` uses).
///
/// Not `--json`: Lima 2.2 pipes `--json` through a line scanner limited to 64 KiB, and each
/// instance's line holds its whole template with every base layer embedded, so one VM with a
/// full stack makes `limactl list --json` fail for every instance ("bufio.Scanner: token too
/// long"). A Go template is printed directly, and this one leaves the template out.
pub const LIST_FORMAT: &str = concat!(
    r#"{"name":{{json .Name}},"status":{{json .Status}},"dir":{{json .Dir}},"vmType":{{json .VMType}},"#,
    r#""arch":{{json .Arch}},"cpus":{{json .CPUs}},"memory":{{json .Memory}},"disk":{{json .Disk}},"#,
    r#""sshLocalPort":{{json .SSHLocalPort}},"sshConfigFile":{{json .SSHConfigFile}},"#,
    r#""errors":{{json .Errors}},"param":{{json .Param}}}"#,
);

/// `limactl list --format <LIST_FORMAT> [NAME…]`; no names lists every instance.
pub fn list_json(names: &[&str]) -> Cmd {
    limactl().args(["list", "--format", LIST_FORMAT]).args(names)
}

/// `limactl --tty=false create --name=NAME TEMPLATE`: prepares the disk, does not boot.
pub fn create(name: &str, template: &Path) -> Cmd {
    batch().arg("create").arg(format!("--name={name}")).arg(template)
}

/// `limactl --tty=false start [--timeout=<N>s] NAME`. Sub-second remainders round up, so a short
/// timeout never becomes `0s`.
pub fn start(name: &str, timeout: Option<Duration>) -> Cmd {
    let cmd = batch().arg("start");
    let cmd = match timeout {
        Some(t) => cmd.arg(format!("--timeout={}s", t.as_secs() + u64::from(t.subsec_nanos() > 0))),
        None => cmd,
    };
    cmd.arg(name)
}

/// `limactl --tty=false stop [-f] NAME`; `-f` kills instead of shutting down.
pub fn stop(name: &str, force: bool) -> Cmd {
    forced(batch().arg("stop"), force).arg(name)
}

/// `limactl --tty=false delete [-f] NAME`; without `-f` Lima refuses a running instance.
pub fn delete(name: &str, force: bool) -> Cmd {
    forced(batch().arg("delete"), force).arg(name)
}

fn forced(cmd: Cmd, force: bool) -> Cmd {
    if force { cmd.arg("-f") } else { cmd }
}

/// `limactl shell [--workdir=DIR] NAME -- ARGV…`, run by Lima's configured `user.shell`
/// (`/bin/bash -l`): for machine's own guest commands. An empty `argv` opens an interactive
/// login shell.
pub fn shell(name: &str, workdir: Option<&str>, argv: &[&OsStr]) -> Cmd {
    shell_command(name, workdir, None, argv)
}

/// `limactl shell --shell=SHELL [--workdir=DIR] NAME -- ARGV…`: as [`shell`], run by the user's
/// own login shell. Lima would otherwise use its `user.shell` (`/bin/bash`) whatever the guest
/// user's login shell is.
pub fn user_shell(name: &str, workdir: Option<&str>, login_shell: &str, argv: &[&OsStr]) -> Cmd {
    shell_command(name, workdir, Some(login_shell), argv)
}

fn shell_command(name: &str, workdir: Option<&str>, login_shell: Option<&str>, argv: &[&OsStr]) -> Cmd {
    let mut cmd = limactl().arg("shell");
    if let Some(path) = login_shell {
        cmd = cmd.arg(format!("--shell={path}"));
    }
    if let Some(dir) = workdir {
        cmd = cmd.arg(format!("--workdir={dir}"));
    }
    cmd = cmd.arg(name);
    if argv.is_empty() { cmd } else { cmd.arg("--").args(literal_argv(argv)) }
}

/// limactl quotes each word for the guest shell, except that leading words containing `=` are
/// taken for `KEY=VALUE` assignments and only their value is quoted. A leading word whose key is
/// not a variable name (`a b=c`, `$(x)=y`) would reach the shell unquoted, so `command` goes in
/// front of it: limactl then quotes it and the shell runs it as the program it is.
fn literal_argv<'a>(argv: &[&'a OsStr]) -> Vec<&'a OsStr> {
    let mut out = Vec::with_capacity(argv.len() + 1);
    let mut assignments = true;
    for word in argv {
        if assignments {
            match word.to_str().and_then(|w| w.split_once('=')) {
                Some((key, _)) if is_name(key) => {}
                Some(_) => {
                    out.push(OsStr::new("command"));
                    assignments = false;
                }
                // Invalid UTF-8 with an `=` would also be split by limactl: keep it literal.
                None if word.as_encoded_bytes().contains(&b'=') => {
                    out.push(OsStr::new("command"));
                    assignments = false;
                }
                None => assignments = false,
            }
        }
        out.push(*word);
    }
    out
}

/// Whether `k` is a shell variable name (what limactl takes a leading `KEY=VALUE` word's key for).
fn is_name(k: &str) -> bool {
    k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How many leading words of `argv` the guest shell takes for `KEY=VALUE` assignments.
pub fn leading_assignments(argv: &[&str]) -> usize {
    argv.iter().take_while(|w| w.split_once('=').is_some_and(|(k, _)| is_name(k))).count()
}

/// `limactl validate PATH`.
pub fn validate(template: &Path) -> Cmd {
    limactl().arg("validate").arg(template)
}

/// What to ask an instance's ssh control master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlOp {
    /// Exit 0 and `Master running (pid=N)` when the master is alive.
    Check,
    /// Ask the master to exit; the next connection becomes the new master.
    Exit,
}

impl ControlOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Check => "check",
            Self::Exit => "exit",
        }
    }
}

/// `ssh -F CONFIG -O check|exit lima-NAME`.
pub fn ssh_control(ssh_config: &Path, name: &str, op: ControlOp) -> Cmd {
    Cmd::new("ssh").arg("-F").arg(ssh_config).args(["-O", op.as_str()]).arg(ssh_host(name))
}

/// The `Host` alias in an instance's ssh.config: `lima-NAME` with `.` and `_` turned into `-`,
/// as Lima derives the guest hostname.
pub fn ssh_host(name: &str) -> String {
    format!("lima-{}", name.replace(['.', '_'], "-"))
}

/// `$LIMA_HOME`, else `$HOME/.lima`; `None` when neither is set. Lima resolves symlinks in it;
/// this does not, since it touches no files.
pub fn lima_home(get: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let var = |name: &str| get(name).filter(|v| !v.is_empty());
    var("LIMA_HOME").map(PathBuf::from).or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".lima")))
}

/// `<LIMA_HOME>/<NAME>`.
pub fn instance_dir(lima_home: &Path, name: &str) -> PathBuf {
    lima_home.join(name)
}

/// `<LIMA_HOME>/<NAME>/ssh.config`, rewritten by the host agent at every start.
pub fn ssh_config_path(lima_home: &Path, name: &str) -> PathBuf {
    instance_dir(lima_home, name).join("ssh.config")
}

/// `<LIMA_HOME>/<NAME>/ssh.sock`, the control master's socket.
pub fn ssh_socket_path(lima_home: &Path, name: &str) -> PathBuf {
    instance_dir(lima_home, name).join("ssh.sock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("limactl version 2.2.0\n"), Some((2, 2, 0)));
        assert_eq!(parse_version("limactl version v2.2.1"), Some((2, 2, 1)));
        assert_eq!(parse_version("limactl version 2.3.0-beta.1"), Some((2, 3, 0)));
        assert_eq!(parse_version("limactl version 2.2.0-12-gabc1234"), Some((2, 2, 0)));
        assert_eq!(parse_version("limactl version 10.20.30+dirty"), Some((10, 20, 30)));
    }

    #[test]
    fn versions_rejected() {
        for text in ["", "limactl version", "limactl version 2.2", "limactl version 2.2.0.1", "version x.y.z", "2.2.0"]
        {
            assert_eq!(parse_version(text), None, "{text:?}");
        }
    }

    #[test]
    fn start_rounds_timeouts_up() {
        assert_eq!(
            start("a", Some(Duration::from_millis(1500))).to_string(),
            "limactl --tty=false start --timeout=2s a"
        );
        assert_eq!(start("a", Some(Duration::from_secs(0))).to_string(), "limactl --tty=false start --timeout=0s a");
    }

    #[test]
    fn shell_words_that_limactl_would_take_for_assignments_stay_literal() {
        let shown = |argv: &[&str]| {
            let argv: Vec<&OsStr> = argv.iter().map(OsStr::new).collect();
            shell("vm", None, &argv).to_string()
        };
        assert_eq!(shown(&["ls", "a=b"]), "limactl shell vm -- ls a=b", "only leading words are assignments");
        assert_eq!(shown(&["FOO=1", "npm", "test"]), "limactl shell vm -- FOO=1 npm test");
        assert_eq!(shown(&["$(touch x)=y", "ls"]), "limactl shell vm -- command '$(touch x)=y' ls");
        assert_eq!(shown(&["A=1", "a b=c"]), "limactl shell vm -- A=1 command 'a b=c'");
        assert_eq!(
            user_shell("vm", Some("/home/u/code/r"), "/usr/bin/zsh", &[]).to_string(),
            "limactl shell --shell=/usr/bin/zsh --workdir=/home/u/code/r vm"
        );
    }

    #[test]
    fn ssh_host_follows_lima_hostnames() {
        assert_eq!(ssh_host("demo"), "lima-demo");
        assert_eq!(ssh_host("my_proj.v2"), "lima-my-proj-v2");
    }

    #[test]
    fn lima_home_prefers_the_variable() {
        let env = |k: &str| match k {
            "LIMA_HOME" => Some(OsString::from("/l")),
            "HOME" => Some(OsString::from("/h")),
            _ => None,
        };
        assert_eq!(lima_home(&env), Some(PathBuf::from("/l")));
        let env = |k: &str| (k == "HOME").then(|| OsString::from("/h"));
        assert_eq!(lima_home(&env), Some(PathBuf::from("/h/.lima")));
        let env = |k: &str| (k == "LIMA_HOME").then(OsString::new);
        assert_eq!(lima_home(&env), None);
    }

    #[test]
    fn instance_paths() {
        let home = Path::new("/home/dev/.lima");
        assert_eq!(instance_dir(home, "demo"), Path::new("/home/dev/.lima/demo"));
        assert_eq!(ssh_config_path(home, "demo"), Path::new("/home/dev/.lima/demo/ssh.config"));
        assert_eq!(ssh_socket_path(home, "demo"), Path::new("/home/dev/.lima/demo/ssh.sock"));
    }
}
