//! `machine secrets [PROJECT] [--repo R] [--clear]`: copy the 1Password Environments a VM's repos
//! ask for (`use op_env <id>` in their `.envrc`) into the VM's memory, or remove them.
//!
//! The guest helper lists the ids (`machine-guest envrc-ids`); the host reads each Environment
//! with `op environment read <id>` and hands it to `machine-guest secrets-write <id>` on stdin.
//! A secret is never in any argv and never written to the host's disk; in the guest it lands in
//! `$XDG_RUNTIME_DIR/dev-secrets/<id>.env` (tmpfs, mode 0600), where direnv's `use op_env` reads it.

use std::time::Duration;

use super::Ctx;
use super::doctor::find_on_path;
use crate::driver::exec::{Cmd, Output, install_hint};
use crate::driver::vm::Lima;
use crate::error::{Error, Result};

/// Copy a project's 1Password Environments (`use op_env <id>` in its repos' .envrc) into its VM.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  machine secrets blog                 # every repo's environments\n  machine secrets blog --repo api      # only ~/code/api/.envrc\n  machine secrets blog --clear         # remove them all from the VM"
)]
pub struct Args {
    /// The project, or PROJECT@BRANCH (default: the .machine.toml project here, else `default`).
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
    /// Only this repo: its folder name under ~/code in the VM.
    #[arg(long, value_name = "REPO")]
    pub repo: Option<String>,
    /// Remove the copied environments from the VM (only --repo's, when given).
    #[arg(long)]
    pub clear: bool,
}

/// How long `op` may take: it may wait for the user to approve access in 1Password.
const OP_TIMEOUT: Duration = Duration::from_mins(2);

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    if let Some(repo) = &args.repo {
        check_repo(repo)?;
    }
    let (_, target) = ctx.target(args.project.as_deref())?;
    let vm = Vm { name: &target.instance, shown: &target.shown };
    if !args.clear && find_on_path("op", ctx.env).is_none() {
        return Err(Error::failure(
            "the 1Password CLI `op` is not on PATH; `machine secrets` reads Environments with it",
        )
        .hint(install_hint("op")));
    }
    // Writing into the VM while an `up` reboots or clones it would race it.
    let _lock = ctx.lock_project(vm.name)?;
    let lima = ctx.lima()?;
    lima.require_running(vm.name, vm.shown)?;
    let repo = args.repo.as_deref();
    if args.clear {
        return match repo {
            Some(repo) => clear_repo(ctx, &lima, &vm, repo),
            None => clear_all(ctx, &lima, &vm),
        };
    }
    sync(ctx, &lima, &vm, repo)
}

/// The VM: its Lima name for the guest calls, and how the user names it in messages.
struct Vm<'a> {
    name: &'a str,
    shown: &'a str,
}

/// A repo is named by its folder under `~/code`: a plain name, as the guest helper insists.
fn check_repo(repo: &str) -> Result<()> {
    let plain = !repo.is_empty() && repo != "." && repo != ".." && !repo.starts_with('-') && !repo.contains('/');
    if plain && !repo.chars().any(char::is_control) {
        return Ok(());
    }
    Err(Error::usage(format!("`--repo {repo}` is not a folder name"))
        .hint("name the repo's folder under ~/code in the VM, e.g. `--repo api`"))
}

/// Fails, saying how to start it, unless the project's VM runs.
fn sync(ctx: &mut Ctx<'_>, lima: &Lima<'_>, vm: &Vm<'_>, repo: Option<&str>) -> Result<i32> {
    let wanted = environments(ctx, lima, vm, repo)?;
    let mut synced = 0;
    let mut failures = Vec::new();
    for (dir, id) in &wanted {
        ctx.ui.note(&format!("[secrets] {dir} ({id})"));
        match read_environment(ctx, id) {
            Ok(secret) => {
                write_environment(lima, vm, id, secret)?;
                synced += 1;
            }
            Err(e) => failures.push(e),
        }
    }
    ctx.ui.data(&format!("synced {synced} environment(s)"));
    let last = failures.pop();
    for failure in failures {
        ctx.ui.warn(&failure.to_string());
    }
    last.map_or(Ok(0), Err)
}

/// `(repo folder, environment id)` pairs, each id once; an error when there is nothing to do.
fn environments(ctx: &mut Ctx<'_>, lima: &Lima<'_>, vm: &Vm<'_>, repo: Option<&str>) -> Result<Vec<(String, String)>> {
    let shown = vm.shown;
    let listed = envrc_ids(lima, vm, repo)?;
    let mut wanted: Vec<(String, String)> = Vec::new();
    for (dir, id) in &listed {
        let Some(id) = id else { continue };
        // The guest names the ids: only what has 1Password's id shape is ever handed to `op`.
        if !is_environment_id(id) {
            ctx.ui.warn(&format!(
                "~/code/{dir}/.envrc in VM `{shown}`: not a 1Password Environment id: `{id}` (skipped)"
            ));
            continue;
        }
        if !wanted.iter().any(|(_, seen)| seen == id) {
            wanted.push((dir.clone(), id.clone()));
        }
    }
    if !wanted.is_empty() {
        return Ok(wanted);
    }
    let add = "add a line `use op_env <environment id>` (the 1Password Environment's id) to the repo's .envrc";
    Err(match (repo, listed.is_empty()) {
        (Some(repo), true) => Error::failure(format!("VM `{shown}` has no ~/code/{repo}/.envrc"))
            .hint(format!("check the repo's folder name (`machine ssh {shown}`, then `ls ~/code`), or {add}")),
        (Some(repo), false) => {
            Error::failure(format!("~/code/{repo}/.envrc in VM `{shown}` has no `use op_env <id>` line")).hint(add)
        }
        (None, true) => Error::failure(format!("no repo in VM `{shown}` has an .envrc")).hint(add),
        (None, false) => {
            Error::failure(format!("no .envrc under ~/code in VM `{shown}` has a `use op_env <id>` line")).hint(add)
        }
    })
}

/// Asks the guest: one `<dir> <id>` line per id, `<dir> -` for an .envrc without one.
fn envrc_ids(lima: &Lima<'_>, vm: &Vm<'_>, repo: Option<&str>) -> Result<Vec<(String, Option<String>)>> {
    let mut args = vec!["envrc-ids"];
    args.extend(repo);
    let out = lima.guest(vm.name, &args)?;
    if !out.success() {
        return Err(guest_failed(vm.shown, "cannot list the repos' .envrc files", &out));
    }
    Ok(out
        .stdout_text()
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(dir, id)| (dir.to_string(), (id != "-").then(|| id.to_string())))
        .collect())
}

/// 1Password's ids (Environments' too) are 26 lowercase letters and digits.
fn is_environment_id(id: &str) -> bool {
    id.len() == 26 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn read_environment(ctx: &Ctx<'_>, id: &str) -> Result<Vec<u8>> {
    let cmd = Cmd::new("op").args(["environment", "read", "--", id]).timeout(OP_TIMEOUT);
    let out = ctx.runner.output(&cmd)?;
    if out.success() {
        return Ok(out.stdout);
    }
    let why = match out.code {
        None => format!("no answer within {}s", OP_TIMEOUT.as_secs()),
        Some(_) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
    };
    Err(Error::failure(format!("`op environment read {id}` failed"))
        .caused_by(if why.is_empty() { "(no output)".into() } else { why })
        .hint("unlock 1Password and turn on its CLI integration (Settings → Developer), and check the id in .envrc"))
}

/// Hands the secret to the guest helper on stdin.
fn write_environment(lima: &Lima<'_>, vm: &Vm<'_>, id: &str, secret: Vec<u8>) -> Result<()> {
    let mut cmd = lima.guest_cmd(vm.name, &["secrets-write", id]);
    cmd.stdin = Some(secret);
    let out = lima.runner.output(&cmd)?;
    if out.success() {
        return Ok(());
    }
    Err(guest_failed(vm.shown, &format!("cannot store environment {id}"), &out))
}

fn clear_all(ctx: &mut Ctx<'_>, lima: &Lima<'_>, vm: &Vm<'_>) -> Result<i32> {
    let shown = vm.shown;
    let out = lima.guest(vm.name, &["secrets-clear"])?;
    if !out.success() {
        return Err(guest_failed(vm.shown, "cannot clear the environments", &out));
    }
    let cleared = out.stdout_text() == "cleared all";
    ctx.ui.data(&if cleared {
        format!("cleared every environment in VM `{shown}`")
    } else {
        format!("VM `{shown}` holds no environments")
    });
    Ok(0)
}

fn clear_repo(ctx: &mut Ctx<'_>, lima: &Lima<'_>, vm: &Vm<'_>, repo: &str) -> Result<i32> {
    let mut cleared = 0;
    for (_, id) in environments(ctx, lima, vm, Some(repo))? {
        let out = lima.guest(vm.name, &["secrets-clear", &id])?;
        if !out.success() {
            return Err(guest_failed(vm.shown, &format!("cannot clear environment {id}"), &out));
        }
        if out.stdout_text() == format!("cleared {id}") {
            cleared += 1;
            ctx.ui.note(&format!("[secrets] cleared {id}"));
        } else {
            ctx.ui.note(&format!("[secrets] {id} was not in the VM"));
        }
    }
    ctx.ui.data(&format!("cleared {cleared} environment(s)"));
    Ok(0)
}

fn guest_failed(shown: &str, what: &str, out: &Output) -> Error {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Error::failure(format!("{what} in VM `{shown}`"))
        .caused_by(if stderr.is_empty() { "(no output)".to_string() } else { stderr })
        .hint(format!("check the VM with `machine up {shown}`"))
}
