//! `machine reset [PROJECT[@BRANCH]] [-y]`: the VM back to freshly provisioned and cloned, from
//! the project's golden disk (no provisioning work, no clone), after listing the work in it that
//! exists nowhere else.

use super::Ctx;
use super::up::{self, Options};
use crate::error::{Error, Result};

/// Bring a VM back to freshly provisioned and cloned (from the golden disk when there is one).
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "The VM's disk is replaced: commits, stashes and files that exist only in the VM are lost (they are listed first). A branch VM gets its branch checked out again, from the remote when it was pushed.\n\nExamples:\n  machine reset blog@feature/login\n  machine reset blog -y"
)]
pub struct Args {
    /// The VM: PROJECT or PROJECT@BRANCH (default: the .machine.toml project here, else `default`).
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
    /// Do not ask before replacing the VM's disk.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let (catalog, target) = ctx.target(args.project.as_deref())?;
    if ctx.lima()?.instance(&target.instance)?.is_none() {
        return Err(Error::failure(format!("there is no VM `{}` to reset", target.shown))
            .hint(format!("create it with `machine up {}`", target.shown)));
    }
    let outcome = up::bring_up(ctx, &catalog, &target, Options { replace: true, yes: args.yes, from_golden: true })?;
    ctx.ui.note(&up::summary(&outcome));
    Ok(0)
}
