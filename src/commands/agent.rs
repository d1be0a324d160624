//! `machine claude [PROJECT]` and `machine codex [PROJECT]`: the agent in a persistent tmux
//! session named after it; running the command again reattaches.

use std::ffi::OsStr;

use super::{Ctx, session};
use crate::error::Result;
use crate::lima;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    Claude,
    Codex,
}

impl Agent {
    fn program(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project (default: the .machine.toml project here, else `default`).
    pub project: Option<String>,
}

pub fn run(agent: Agent, args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let (_, project) = ctx.project(args.project.as_deref())?;
    let lima = ctx.lima()?;
    let workdir = session::prepare(ctx, &lima, &project)?;
    let program = agent.program();
    ctx.ui.note(&format!(
        "detach with ctrl-b d ({program} keeps running); reattach with `machine {program} {}`",
        project.name
    ));
    // `-A` attaches when the session exists; the session ends when the agent exits.
    let words = ["tmux", "new-session", "-A", "-s", program, program];
    let argv: Vec<&OsStr> = words.iter().map(OsStr::new).collect();
    ctx.runner.interactive(&lima::shell(&project.name, workdir.as_deref(), &argv))
}
