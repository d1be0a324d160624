//! `machine down [PROJECT]`: stop the VM, keeping its disk.

use super::Ctx;
use crate::error::{Error, Result};

/// Stop a project's VM (its disk, clones and installed tools are kept).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project (default: the .machine.toml project here, else `default`).
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

/// Stops the project's VM, under its lock.
pub fn stop(args: &Args, ctx: &mut Ctx<'_>) -> Result<Outcome> {
    let (_, project) = ctx.project(args.project.as_deref())?;
    // Not in the middle of an `up` (a clone, a provisioning boot) of the same VM.
    let _lock = ctx.lock_project(&project.name)?;
    let lima = ctx.lima()?;
    let Some(instance) = lima.instance(&project.name)? else {
        return Err(Error::failure(format!("there is no VM `{}`", project.name))
            .hint(format!("create it with `machine up {}`", project.name)));
    };
    if !instance.is_running() {
        ctx.ui.note(&format!("VM `{}` is already {}", project.name, instance.status.as_str().to_lowercase()));
        return Ok(Outcome { project: project.name, stopped: false, status: instance.status.as_str().to_string() });
    }
    let step = ctx.ui.step(&format!("stopping VM `{}`", project.name));
    let stopped = lima.stop(&project.name, false);
    ctx.ui.end_step(step, stopped.is_ok());
    stopped?;
    Ok(Outcome { project: project.name, stopped: true, status: crate::lima::Status::Stopped.as_str().to_string() })
}
