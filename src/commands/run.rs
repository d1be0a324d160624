//! `machine run PROJECT -- CMD…`: run a command in the VM, in the primary repo, with the
//! terminal passed through (TUIs work) and the guest's exit code returned.

use std::ffi::{OsStr, OsString};

use super::{Ctx, session};
use crate::error::Result;

/// Run a command in a project's VM, in its primary repo; exits with the command's exit code.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:\n  machine run blog -- npm test\n  machine run blog -- hx src/main.ts")]
pub struct Args {
    /// The project, or PROJECT@BRANCH for a branch VM.
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
