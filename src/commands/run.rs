//! `machine run PROJECT -- CMD…`: run a command in the VM, in the primary repo, with the
//! terminal passed through (TUIs work) and the guest's exit code returned. [`capture`] is the same
//! command with its output captured instead, for the MCP server's `run`.

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use super::{Ctx, session};
use crate::compiler::config::model::RepoUrl;
use crate::driver::exec::Output;
use crate::error::{Error, Result};

/// Run a command in a project's VM, in its primary repo; exits with the command's exit code.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:\n  machine run blog -- npm test\n  machine run blog -- hx src/main.ts")]
pub struct Args {
    /// The project, or PROJECT@BRANCH for a branch VM.
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: String,
    /// The command and its arguments, passed as they are (no shell in between).
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<OsString>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let (_, target) = ctx.target(Some(&args.project))?;
    let lima = ctx.lima()?;
    let session = session::prepare(ctx, &lima, &target)?;
    let argv: Vec<&OsStr> = args.command.iter().map(OsString::as_os_str).collect();
    ctx.runner.interactive(&session.command(&argv))
}

/// Runs `argv` in the project's VM with its output captured instead of the terminal attached: in
/// `workdir` when given (a folder under one of the project's repos, see [`repo_dir`]), else where
/// `machine run` opens. The guest's `timeout` ends it after `timeout` (exit code 124 or 137,
/// what it printed kept); machine kills `limactl` a little later should the guest not answer.
/// At most `keep` bytes of each output stream are kept (see [`crate::driver::exec::Cmd::keep`]).
/// It holds the project's lock, unlike `machine run` (a terminal session may last all day): an
/// agent's command never races an `up`, `down` or `destroy` of the same VM, and waits for one
/// under way.
pub fn capture(
    ctx: &mut Ctx<'_>,
    project: &str,
    argv: &[String],
    workdir: Option<&str>,
    timeout: Duration,
    keep: usize,
) -> Result<Captured> {
    if argv.is_empty() {
        return Err(Error::usage("no command to run")
            .hint("give the program and its arguments as separate words, e.g. [\"npm\", \"test\"]"));
    }
    let (_, target) = ctx.target(Some(project))?;
    let _lock = ctx.lock_project(&target.instance)?;
    let lima = ctx.lima()?;
    let mut session = session::prepare(ctx, &lima, &target)?;
    if let Some(dir) = workdir {
        let home = session::guest_home(ctx, &lima, &target.instance)?.ok_or_else(|| {
            Error::failure(format!("cannot find the guest user's home in VM `{}`", target.shown))
                .hint("leave workdir out to run in the primary repo")
        })?;
        let repos: Vec<&str> = target.project.repos.iter().map(RepoUrl::dir_name).collect();
        session = session.in_dir(repo_dir(dir, &home, &target.shown, &repos)?);
    }
    let words = guarded(argv, timeout);
    let words: Vec<&OsStr> = words.iter().map(OsStr::new).collect();
    let cmd = session.command(&words).timeout(timeout + HOST_GRACE).keep(keep);
    let started = std::time::Instant::now();
    let out = ctx.runner.output(&cmd)?;
    // The guest's `timeout` says 124 (137 when it had to KILL); one machine killed says nothing.
    let timed_out = started.elapsed() >= timeout && matches!(out.code, None | Some(124 | 137));
    Ok(Captured { out, timed_out })
}

/// `argv` under coreutils' `timeout` (in every guest image: TERM at the limit, KILL 5 s later),
/// after the `KEY=VALUE` words the shell takes for assignments, so they still apply to it.
fn guarded(argv: &[String], timeout: Duration) -> Vec<String> {
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (assignments, command) = words.split_at(crate::driver::lima::cmd::leading_assignments(&words));
    let guard = ["timeout".to_string(), "-k".into(), "5".into(), timeout.as_secs().to_string()];
    assignments.iter().map(|w| (*w).to_string()).chain(guard).chain(command.iter().map(|w| (*w).to_string())).collect()
}

/// What [`capture`] ran to.
pub struct Captured {
    pub out: Output,
    /// Whether the timeout ended it (measured around the command alone, not the lock wait).
    pub timed_out: bool,
}

/// How much longer than the guest's `timeout` machine waits before it kills `limactl` itself.
const HOST_GRACE: Duration = Duration::from_secs(15);

/// `workdir` as a guest path under `<home>/code`: `<repo>[/…]` is taken relative to it, and so is
/// the same path written `~/code/<repo>/…` or `<home>/code/<repo>/…`. A path that is not under one
/// of `repos` (the project's repo folders), or that has `.` or `..` in it, is refused: `run` is
/// for the project's own code.
pub fn repo_dir(workdir: &str, home: &str, project: &str, repos: &[&str]) -> Result<String> {
    let code = format!("{home}/code");
    let rel = workdir
        .strip_prefix("~/code/")
        .or_else(|| workdir.strip_prefix(&format!("{code}/")))
        .unwrap_or(workdir)
        .trim_end_matches('/');
    let parts: Vec<&str> = rel.split('/').collect();
    let inside = !rel.starts_with('/')
        && !parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..")
        && repos.contains(&parts[0]);
    if inside {
        return Ok(format!("{code}/{rel}"));
    }
    let hint = match repos.first() {
        None => format!("project `{project}` has no repos: leave workdir out to run in the guest user's home"),
        Some(first) => format!(
            "give a repo folder ({}), a folder under one (`{first}/src`), or the same under `~/code/`",
            repos.join(", ")
        ),
    };
    Err(Error::usage(format!("workdir `{workdir}` is not a folder under one of project `{project}`'s repos"))
        .hint(hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guests_timeout_goes_after_the_assignments_the_shell_reads() {
        let words =
            |argv: &[&str]| guarded(&argv.iter().map(|w| (*w).to_string()).collect::<Vec<_>>(), Duration::from_secs(9));
        assert_eq!(words(&["npm", "test"]), ["timeout", "-k", "5", "9", "npm", "test"]);
        assert_eq!(words(&["FOO=bar", "CI=1", "env"]), ["FOO=bar", "CI=1", "timeout", "-k", "5", "9", "env"]);
        assert_eq!(words(&["a b=c", "x"]), ["timeout", "-k", "5", "9", "a b=c", "x"], "not a name: a program");
        assert_eq!(words(&["-n"]), ["timeout", "-k", "5", "9", "-n"], "timeout stops at its duration");
    }

    const HOME: &str = "/home/ada.guest";

    fn dir(workdir: &str) -> Result<String> {
        repo_dir(workdir, HOME, "blog", &["blog", "api"])
    }

    #[test]
    fn a_repo_or_a_folder_under_one_is_taken_under_code() {
        assert_eq!(dir("blog").unwrap(), "/home/ada.guest/code/blog");
        assert_eq!(dir("api/src/").unwrap(), "/home/ada.guest/code/api/src");
        assert_eq!(dir("~/code/blog/posts").unwrap(), "/home/ada.guest/code/blog/posts");
        assert_eq!(dir("/home/ada.guest/code/blog").unwrap(), "/home/ada.guest/code/blog");
    }

    #[test]
    fn anything_else_is_refused_naming_the_repos() {
        for bad in [
            "",
            "/",
            "/etc",
            "~",
            "~/code",
            "~/.ssh",
            "other",
            "blog/../../.ssh",
            "./blog",
            "blog//x",
            "/home/ada.guest/code",
            "/tmp/code/blog",
        ] {
            let err = dir(bad).unwrap_err().to_string();
            assert!(err.contains("is not a folder under one of project `blog`'s repos"), "{bad}: {err}");
            assert!(err.contains("hint: give a repo folder (blog, api)"), "{bad}: {err}");
        }
        let none = repo_dir("x", HOME, "empty", &[]).unwrap_err().to_string();
        assert!(none.contains("project `empty` has no repos"), "{none}");
    }
}
