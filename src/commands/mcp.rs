//! `machine mcp [--allow-destroy] [--print-config CLIENT]`: serve the Model Context Protocol on
//! stdio (the server is [`crate::servers::mcp`]), or print what a client needs to start it.

use super::Ctx;
use crate::error::Result;
use crate::servers::mcp::{self, client_config::Client};

/// Serve the Model Context Protocol on stdin/stdout, for an agent on this host (Claude Code,
/// Codex, VS Code) to drive project VMs.
///
/// Its tools list the projects, tell a project's status, bring its VM up or down, run a command
/// in it and render its stack (and destroy it, with --allow-destroy); its resources are each
/// configured project's stack and its VM's provisioning log. Logs go to stderr: stdout carries
/// only the protocol.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  claude mcp add --transport stdio machine -- machine mcp\n  machine mcp --print-config codex >> ~/.codex/config.toml\n  machine mcp --allow-destroy"
)]
pub struct Args {
    /// Also offer the `destroy` tool (without it, agents can stop VMs but never delete one).
    #[arg(long)]
    pub allow_destroy: bool,
    /// Print the configuration CLIENT needs to start this server, and exit.
    #[arg(long, value_name = "CLIENT")]
    pub print_config: Option<Client>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    if let Some(client) = args.print_config {
        ctx.ui.data(&mcp::client_config::snippet(client, args.allow_destroy));
        return Ok(0);
    }
    mcp::serve(ctx.paths.clone(), ctx.cwd.clone(), mcp::Options { allow_destroy: args.allow_destroy })?;
    Ok(0)
}
