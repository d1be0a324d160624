//! `machine snapshot [PROJECT] [--force]`, and the golden disk `down` keeps: a copy of the
//! project's VM disk as it first came up (provisioned, repos cloned, nothing of its own yet),
//! from which branch VMs and resets start (see [`crate::driver::golden`]).

use std::ffi::OsStr;

use super::{Ctx, Target};
use crate::driver::golden::{self, Sidecar};
use crate::driver::lima;
use crate::driver::project_state::{Applied, now_secs};
use crate::driver::vm::Lima;
use crate::error::{Error, Result};

/// Keep the project VM's disk as the project's golden disk (branch VMs and resets start from it).
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "`machine down` keeps one by itself the first time, when the VM's repos hold no work of their own.\nA running VM is stopped for the copy and started again.\n\nExamples:\n  machine snapshot blog\n  machine snapshot blog --force   # the VM's repos have uncommitted or unpushed work: keep it anyway"
)]
pub struct Args {
    /// The project (default: the .machine.toml project here, else `default`).
    pub project: Option<String>,
    /// Keep it even when the VM's repos hold work of their own, or a golden disk exists.
    #[arg(long)]
    pub force: bool,
}

/// A golden disk about to be kept.
pub(super) struct Candidate {
    sidecar: Sidecar,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let (catalog, target) = ctx.target(args.project.as_deref())?;
    if target.branch.is_some() {
        return Err(Error::usage("golden disks are made from a project's own VM, not a branch VM")
            .hint(format!("run `machine snapshot {}`", target.project.name)));
    }
    let _lock = ctx.lock_project(&target.instance)?;
    let lima = ctx.lima()?;
    let name = target.instance.clone();
    let Some(applied) = target.dir(&ctx.paths.state_dir).applied()?.filter(|a| a.provisioned) else {
        return Err(Error::failure(format!("VM `{name}` has not come up provisioned yet"))
            .hint(format!("run `machine up {name}` first")));
    };
    let sidecar = sidecar(&target, &applied);
    if let Some(existing) = golden::find(&ctx.paths.cache_dir, &sidecar.key)
        && !args.force
    {
        ctx.ui.note(&format!(
            "`{name}` already has a golden disk for this configuration: {} (`machine snapshot {name} --force` replaces it)",
            existing.display()
        ));
        return Ok(0);
    }
    let running = lima.instance(&name)?.is_some_and(|i| i.is_running());
    if running {
        if !args.force {
            refuse_own_work(&lima, &target)?;
        }
        trim(&lima, &name);
        let step = ctx.ui.step(&format!("stopping VM `{name}` for the copy"));
        let stopped = lima.stop(&name, false);
        ctx.ui.end_step(step, stopped.is_ok());
        stopped?;
        // Its token went with the guest's tmpfs (the restart registers a new one).
        if let Err(e) = super::proxy_vm::forget(ctx, &name) {
            ctx.ui.warn(&format!("the credential proxy may still accept the old token of VM `{name}`: {e}"));
        }
    }
    let kept = keep(ctx, &lima, &target, sidecar, args.force);
    if running {
        // Running again even when the copy failed: it was running before.
        restart(ctx, &catalog, &lima, &target)?;
    }
    kept?;
    Ok(0)
}

/// Starts the VM again after the copy, as `up` starts a stopped VM (its provisioning checked
/// and recorded), with its scoped agent and a new proxy token; when it does not come up, its
/// agent is stopped (a stopped VM needs none).
fn restart(
    ctx: &mut Ctx<'_>,
    catalog: &crate::compiler::layers::Catalog,
    lima: &Lima<'_>,
    target: &Target,
) -> Result<()> {
    let name = &target.instance;
    super::scoped_agent::ensure(ctx, lima, target)?;
    let dir = target.dir(&ctx.paths.state_dir);
    let outcome = match dir.applied()? {
        Some(mut applied) => super::up::restart(ctx, lima, &dir, &mut applied, name, &target.shown),
        None => Err(Error::failure(format!("the record of VM `{name}` went away during the copy"))
            .hint(format!("run `machine up {name}`"))),
    };
    if let Err(e) = outcome {
        if let Err(stop) = super::scoped_agent::stop(ctx, name) {
            ctx.ui.warn(&stop.to_string());
        }
        return Err(e);
    }
    // The reboot emptied the guest's tmpfs: a new token and its variables.
    if let Some(warning) = super::proxy_vm::connect(ctx, catalog, lima, target, super::proxy_vm::When::Booted) {
        ctx.ui.warn(&warning);
    }
    Ok(())
}

/// For `down` of a running VM: the golden disk to keep once it is stopped, when the project has
/// none for this configuration yet and the VM holds no work of its own (a golden disk is what
/// every later VM of the project starts from).
pub(super) fn golden_candidate(ctx: &mut Ctx<'_>, lima: &Lima<'_>, target: &Target) -> Result<Option<Candidate>> {
    if target.branch.is_some() {
        return Ok(None);
    }
    let Some(applied) = target.dir(&ctx.paths.state_dir).applied()? else { return Ok(None) };
    let cloned = target.project.repos.iter().all(|r| applied.cloned.iter().any(|c| c == r.dir_name()));
    if !applied.provisioned || !cloned {
        return Ok(None);
    }
    let sidecar = sidecar(target, &applied);
    if golden::find(&ctx.paths.cache_dir, &sidecar.key).is_some() {
        return Ok(None);
    }
    if let Err(own_work) = refuse_own_work(lima, target) {
        ctx.ui.note(&format!("not keeping a golden disk of `{}`: {}", target.instance, own_work.message()));
        return Ok(None);
    }
    trim(lima, &target.instance);
    Ok(Some(Candidate { sidecar }))
}

/// For `down`, once the VM is stopped. A failure is a warning: the VM is down either way.
pub(super) fn keep_golden(ctx: &mut Ctx<'_>, lima: &Lima<'_>, target: &Target, candidate: Candidate) {
    if let Err(e) = keep(ctx, lima, target, candidate.sidecar, false) {
        ctx.ui.warn(&format!("the golden disk of `{}` was not kept:\n{e}", target.instance));
    }
}

/// Publishes the stopped VM's disk; `replace` replaces one published for the same key.
fn keep(ctx: &mut Ctx<'_>, lima: &Lima<'_>, target: &Target, sidecar: Sidecar, replace: bool) -> Result<()> {
    let disk = lima::instance_dir(&lima.home, &target.instance).join("disk");
    let step = ctx.ui.step(&format!("keeping a golden disk of `{}`", target.instance));
    let kept = golden::publish(lima, &ctx.paths.cache_dir, &disk, sidecar, replace);
    ctx.ui.end_step(step, kept.is_ok());
    let path = kept?;
    ctx.ui.note(&format!(
        "kept {} ({}): branch VMs (`machine up {}@BRANCH`) and `machine reset` start from it",
        path.display(),
        crate::driver::bake::human_size(crate::driver::bake::allocated(&path)),
        target.project.name
    ));
    Ok(())
}

fn sidecar(target: &Target, applied: &Applied) -> Sidecar {
    let repos: Vec<String> = target.project.repos.iter().map(|r| r.as_str().to_string()).collect();
    let key = golden::key_for(&applied.key, &applied.instance_yaml, &repos);
    Sidecar {
        key,
        project: target.project.name.clone(),
        repos,
        stack: applied.key.clone(),
        created: now_secs(),
        size: 0,
    }
}

/// A golden disk must not carry work that exists nowhere else (it would reach every branch VM).
fn refuse_own_work(lima: &Lima<'_>, target: &Target) -> Result<()> {
    let mut args = vec!["unpushed"];
    args.extend(target.project.repos.iter().map(crate::compiler::config::model::RepoUrl::dir_name));
    let out = lima.guest(&target.instance, &args)?;
    if out.success() {
        return Ok(());
    }
    let found = out.stdout_text().lines().collect::<Vec<_>>().join(", ");
    Err(Error::failure(format!("its repos hold work that exists nowhere else ({found})"))
        .hint("push or discard it first, or pass --force to `machine snapshot`"))
}

/// Released blocks make the copy small (the guest's file systems are discard-mounted).
fn trim(lima: &Lima<'_>, name: &str) {
    let argv = [OsStr::new("sudo"), OsStr::new("fstrim"), OsStr::new("-a")];
    if let Ok(out) = lima.runner.output(&lima.shell_cmd(name, &argv))
        && !out.success()
    {
        tracing::warn!("fstrim failed in {name}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
}
