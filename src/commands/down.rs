//! `machine down [PROJECT]`: stop the VM, keeping its disk.

use super::Ctx;
use crate::error::{Error, Result};

/// Stop a project's VM (its disk, clones and installed tools are kept).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project, or PROJECT@BRANCH (default: the .machine.toml project here, else `default`).
    pub project: Option<String>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
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
        return Ok(0);
    }
    let golden = super::snapshot::golden_candidate(ctx, &lima, &target)?;
    let step = ctx.ui.step(&format!("stopping VM `{shown}`"));
    let stopped = lima.stop(name, false);
    ctx.ui.end_step(step, stopped.is_ok());
    stopped?;
    if let Some(candidate) = golden {
        super::snapshot::keep_golden(ctx, &lima, &target, candidate);
    }
    Ok(0)
}
