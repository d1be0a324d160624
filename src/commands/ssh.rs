//! `machine ssh [PROJECT]`: a login shell in the VM, in the primary repo.

use super::{Ctx, session};
use crate::error::Result;

/// Open a shell in a project's VM, in its primary repo (heals a stale agent connection first).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project, or PROJECT@BRANCH for a branch VM (default: the .machine.toml project here, else `default`).
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let (_, target) = ctx.target(args.project.as_deref())?;
    let lima = ctx.lima()?;
    let session = session::prepare(ctx, &lima, &target)?;
    ctx.runner.interactive(&session.command(&[]))
}
