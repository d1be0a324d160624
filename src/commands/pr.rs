//! `machine pr [PROJECT[@BRANCH]] [-- GH FLAGS…]`: push the branch from the guest through the
//! forwarded agent, then open a pull request from the host with `gh`, or print the compare URL.
//!
//! The work leaves the VM only by that push: nothing of the guest is read on the host but the
//! guest helper's result lines, and the branch name `gh` gets is the one the user typed (or,
//! for a project's own VM, the guest's current branch, checked like any branch name).

use std::ffi::OsString;

use super::{Ctx, Target};
use crate::compiler::instance::check_branch;
use crate::driver::exec::Cmd;
use crate::driver::vm::Lima;
use crate::error::{Error, Result};
use crate::guest::report::Facts;

/// Push the VM's branch and open a pull request for it (with `gh` on the host).
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Runs `gh pr create --repo OWNER/NAME --head BRANCH --fill` on the host; flags after `--` replace `--fill`. Without gh, prints the compare URL to open.\n\nExamples:\n  machine pr blog@feature/login\n  machine pr blog@feature/login -- --draft --title 'Login form'"
)]
pub struct Args {
    /// The VM: PROJECT@BRANCH, or PROJECT for the branch its own VM is on.
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
    /// Flags for `gh pr create` (instead of `--fill`).
    #[arg(last = true, value_name = "GH FLAGS")]
    pub gh: Vec<OsString>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let (_, target) = ctx.target(args.project.as_deref())?;
    let lima = ctx.lima()?;
    lima.require_running(&target.instance, &target.shown)?;
    if !target.project.forward_agent {
        return Err(Error::usage(format!(
            "agent forwarding is off for project `{}`: the VM cannot push through your SSH agent",
            target.project.name
        ))
        .hint(format!(
            "push from inside (`machine ssh {}`) with a key of its own, then open the pull request",
            target.shown
        )));
    }
    let Some(url) = target.project.repos.first() else {
        return Err(Error::usage(format!("project `{}` has no repos: there is nothing to push", target.project.name)));
    };
    super::session::agent(ctx, &lima, &target)?;
    let dir = url.dir_name();
    let branch = branch(&lima, &target, dir)?;
    let step = ctx.ui.step(&format!("pushing {branch} from ~/code/{dir} of `{}`", target.shown));
    let out = lima.guest(&target.instance, &["push", dir, &branch])?;
    ctx.ui.end_step(step, out.success());
    if out.code == Some(3) && out.stdout_text().starts_with("default ") {
        return Err(Error::failure(format!("{branch} is the default branch of {url}: nothing was pushed"))
            .hint(format!(
                "a pull request comes from a branch of its own: work on one in a branch VM (`machine up {}@my-change`, then `machine pr {}@my-change`), or `git switch -c my-change` in the VM",
                target.project.name, target.project.name
            )));
    }
    if !out.success() {
        return Err(Error::failure(format!("cannot push {branch} from VM `{}`", target.shown))
            .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_string())
            .hint(
                "check that the host's SSH agent holds a key that may push (`ssh-add -l`), then run `machine pr` again",
            ));
    }
    let _ = target.dir(&ctx.paths.state_dir).touch();
    let Some(repo) = url.github_repo() else {
        ctx.ui.data(&format!("pushed {branch} to {url}; open the pull request on its host"));
        return Ok(0);
    };
    open(ctx, &repo, &branch, &args.gh)
}

/// The branch to push: the target's, or the one the project's own VM is on. Refuses
/// uncommitted work (it would not be in the pull request).
fn branch(lima: &Lima<'_>, target: &Target, dir: &str) -> Result<String> {
    let out = lima.guest(&target.instance, &["facts", dir])?;
    let facts = Facts::parse(&out.stdout_text());
    let Some(repo) = facts.repos.iter().find(|r| r.dir == dir) else {
        return Err(Error::failure(format!("VM `{}` has no repo at ~/code/{dir}", target.shown))
            .hint(format!("run `machine up {}` to clone it", target.shown)));
    };
    if repo.dirty {
        return Err(Error::failure(format!("~/code/{dir} in VM `{}` has uncommitted changes", target.shown))
            .hint("commit them (or stash them) in the VM first: a pull request holds only commits"));
    }
    let current = repo.branch.clone();
    match (&target.branch, current) {
        (Some(wanted), Some(on)) if *wanted != on => {
            Err(Error::failure(format!("~/code/{dir} in VM `{}` is on {on}, not {wanted}", target.shown))
                .hint(format!("switch back in the VM (`machine ssh {}`), then run `machine pr` again", target.shown)))
        }
        (Some(wanted), Some(_)) => Ok(wanted.clone()),
        (_, None) => Err(Error::failure(format!("~/code/{dir} in VM `{}` is not on a branch", target.shown))
            .hint("check out a branch in the VM first")),
        (None, Some(on)) => {
            check_branch(&on).map_err(|why| Error::failure(format!("the VM reports an unusable branch: {why}")))?;
            Ok(on)
        }
    }
}

/// `gh pr create` on the host; without gh, the compare URL.
fn open(ctx: &mut Ctx<'_>, repo: &str, branch: &str, flags: &[OsString]) -> Result<i32> {
    let mut cmd = Cmd::new("gh").args(["pr", "create", "--repo", repo, "--head", branch]);
    cmd = if flags.is_empty() { cmd.arg("--fill") } else { cmd.args(flags) };
    let compare = compare_url(repo, branch);
    match ctx.runner.output(&cmd) {
        Ok(out) if out.success() => {
            ctx.ui.data(out.stdout_text().trim());
            Ok(0)
        }
        Ok(out) => Err(Error::failure(format!("`{cmd}` failed"))
            .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_string())
            .hint(format!("the branch is pushed: open the pull request at {compare}"))),
        Err(e) if e.is_missing("gh") => {
            ctx.ui.note("gh is not installed on this host: open the pull request in a browser");
            ctx.ui.data(&compare);
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// `https://github.com/OWNER/NAME/compare/BRANCH?expand=1`, the branch percent-encoded.
pub fn compare_url(repo: &str, branch: &str) -> String {
    let mut encoded = String::new();
    for b in branch.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'~') {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("https://github.com/{repo}/compare/{encoded}?expand=1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_urls_encode_the_branch() {
        assert_eq!(
            compare_url("you/blog", "feature/login"),
            "https://github.com/you/blog/compare/feature/login?expand=1"
        );
        assert_eq!(
            compare_url("you/blog", "fix#12+ü"),
            "https://github.com/you/blog/compare/fix%2312%2B%C3%BC?expand=1"
        );
    }
}
