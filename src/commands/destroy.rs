//! `machine destroy [PROJECT] [-y]`: delete the VM and the project's state folder.
//!
//! projects.toml is never touched: the project can be brought back with `machine up`.

use super::Ctx;
use crate::error::{Error, Result};

/// Delete a project's VM and everything machine stored for it (not its configuration).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project, or PROJECT@BRANCH (default: the .machine.toml project here, else `default`).
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// Delete the Lima VM of that name even when machine did not create it.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let (_, target) = ctx.target(args.project.as_deref())?;
    let (name, shown) = (target.instance.clone(), target.shown.clone());
    let dir = target.dir(&ctx.paths.state_dir);
    let lock = ctx.lock_project(&name)?;
    let lima = ctx.lima()?;
    let exists = lima.instance(&name)?.is_some();
    if exists && dir.applied()?.is_none() && !args.force {
        // Lima's own `default`, or a VM another tool made: never machine's to delete.
        return Err(Error::usage(format!("the Lima VM `{name}` was not created by machine, so it is not deleted"))
            .hint(format!("delete it with `limactl delete {name}`, or `machine destroy {shown} --force`")));
    }
    if exists && !args.yes && !ctx.confirm(&format!("Destroy VM `{shown}`, its disk and everything in it?"))? {
        return Err(Error::failure("aborted: nothing was deleted"));
    }
    if exists {
        let step = ctx.ui.step(&format!("deleting VM `{shown}`"));
        let deleted = lima.delete(&name, true);
        ctx.ui.end_step(step, deleted.is_ok());
        deleted?;
    } else {
        ctx.ui.note(&format!("there is no VM `{shown}`; removing what machine stored for it"));
    }
    ctx.release_host_channels(&name);
    dir.remove()?;
    drop(lock);
    ctx.ui.note(&format!("✓ destroyed `{shown}` (its configuration is kept: `machine up {shown}` creates it again)"));
    Ok(0)
}
