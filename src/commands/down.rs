//! `machine down [PROJECT]`: stop the VM, keeping its disk.

use super::Ctx;
use crate::driver::project_state::WorkAtStop;
use crate::error::{Error, Result};

/// Stop a project's VM (its disk, clones and installed tools are kept).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project, or PROJECT@BRANCH (default: the .machine.toml project here, else `default`).
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
}

/// What `down` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub project: String,
    /// Whether this `down` stopped the VM (else it was not running).
    pub stopped: bool,
    /// Lima's status of the VM afterwards (`Stopped`, or what it already was).
    pub status: String,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    stop(args, ctx).map(|_| 0)
}

/// Stops the VM, under its lock (keeping the project's golden disk the first time).
pub fn stop(args: &Args, ctx: &mut Ctx<'_>) -> Result<Outcome> {
    let (_, target) = ctx.target(args.project.as_deref())?;
    // Not in the middle of an `up` (a clone, a provisioning boot) of the same VM.
    let _lock = ctx.lock_project(&target.instance)?;
    let lima = ctx.lima()?;
    let (name, shown) = (&target.instance, &target.shown);
    let Some(instance) = lima.instance(name)? else {
        return Err(
            Error::failure(format!("there is no VM `{shown}`")).hint(format!("create it with `machine up {shown}`"))
        );
    };
    if !instance.is_running() {
        ctx.ui.note(&format!("VM `{shown}` is already {}", instance.status.as_str().to_lowercase()));
        ctx.release_host_channels(name);
        return Ok(Outcome { project: shown.clone(), stopped: false, status: instance.status.as_str().to_string() });
    }
    record_work(ctx, &lima, &target)?;
    let golden = super::snapshot::golden_candidate(ctx, &lima, &target)?;
    let step = ctx.ui.step(&format!("stopping VM `{shown}`"));
    let stopped = lima.stop(name, false);
    ctx.ui.end_step(step, stopped.is_ok());
    stopped?;
    // Its token went with the guest's tmpfs; the next boot gets a new one.
    ctx.release_host_channels(name);
    if let Some(candidate) = golden {
        super::snapshot::keep_golden(ctx, &lima, &target, candidate);
    }
    Ok(Outcome {
        project: shown.clone(),
        stopped: true,
        status: crate::driver::lima::Status::Stopped.as_str().to_string(),
    })
}

/// Notes what the repos hold before the VM stops (for `prune`, which cannot look inside a
/// stopped VM). A guest that cannot answer leaves no note: prune then keeps the VM.
fn record_work(ctx: &mut Ctx<'_>, lima: &crate::driver::vm::Lima<'_>, target: &super::Target) -> Result<()> {
    let dir = target.dir(&ctx.paths.state_dir);
    let Some(mut applied) = dir.applied()? else { return Ok(()) };
    let mut args = vec!["facts"];
    args.extend(target.project.repos.iter().map(crate::compiler::config::model::RepoUrl::dir_name));
    let out = lima.guest(&target.instance, &args)?;
    applied.at_stop = out.success().then(|| {
        let facts = crate::guest::report::Facts::parse(&out.stdout_text());
        let primary = target.project.primary_dir();
        let pushed = facts.repos.iter().any(|r| Some(r.dir.as_str()) == primary && r.upstream.is_some());
        WorkAtStop { own_work: facts.own_work(), pushed }
    });
    dir.record(&applied)
}
