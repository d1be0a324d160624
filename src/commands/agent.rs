//! `machine claude [PROJECT]` and `machine codex [PROJECT]`: the agent in a persistent tmux
//! session named after it; running the command again reattaches.

use std::ffi::OsStr;

use super::{Ctx, proxy_vm, session};
use crate::error::Result;

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
    /// The project, or PROJECT@BRANCH for a branch VM (default: the .machine.toml project here, else `default`).
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
}

pub fn run(agent: Agent, args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let (catalog, target) = ctx.target(args.project.as_deref())?;
    let lima = ctx.lima()?;
    let session = session::prepare(ctx, &lima, &target)?;
    if let Some(warning) = proxy_vm::connect(ctx, &catalog, &lima, &target, proxy_vm::When::Always) {
        ctx.ui.warn(&warning);
    }
    let program = agent.program();
    ctx.ui.note(&format!(
        "detach with ctrl-b d ({program} keeps running); reattach with `machine {program} {}`",
        target.shown
    ));
    // `-A` attaches when the session exists; the session ends when the agent exits.
    let words = ["tmux", "new-session", "-A", "-s", program, program];
    let argv: Vec<&OsStr> = words.iter().map(OsStr::new).collect();
    let mut cmd = session.command(&argv);
    // tmux refuses a terminal it cannot clear ("terminal does not support clear"); ssh hands the
    // guest the host's TERM.
    let term = (ctx.env)("TERM").map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
    if !usable_term(&term) {
        let shown = if term.is_empty() { "unset".to_string() } else { format!("`{term}`") };
        ctx.ui.note(&format!("TERM is {shown}, which tmux cannot use: the session gets TERM={FALLBACK_TERM}"));
        cmd = cmd.env("TERM", FALLBACK_TERM);
    }
    ctx.runner.interactive(&cmd)
}

/// What tmux gets when the host's TERM is unusable: every guest has its terminfo entry.
const FALLBACK_TERM: &str = "xterm-256color";

fn usable_term(term: &str) -> bool {
    !matches!(term, "" | "dumb" | "unknown")
}
