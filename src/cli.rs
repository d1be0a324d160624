//! The command line: global flags and one subcommand per file under `commands/`.

use clap::{Parser, Subcommand};

use crate::commands::{create, init};

use crate::commands::{
    agent, bake, cache, code, completions, destroy, doctor, down, list, mcp, pr, profiles, proxy, prune, render, reset,
    run, scoped_agent, secrets, snapshot, ssh, ssh_config, status, trust, up,
};

/// One disposable, agent-ready Lima VM per software project.
#[derive(Debug, Parser)]
#[command(name = "machine", version, about, max_term_width = 100)]
pub struct Cli {
    /// Print every external command machine runs (-v), and more detail (-vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::Args),
    Create(create::Args),
    Up(up::Args),
    Down(down::Args),
    Ssh(ssh::Args),
    Run(run::Args),
    /// Start Claude Code in a tmux session in the VM's primary repo, or reattach to it.
    Claude(agent::Args),
    /// Start the Codex CLI in a tmux session in the VM's primary repo, or reattach to it.
    Codex(agent::Args),
    List(list::Args),
    Status(status::Args),
    Prune(prune::Args),
    Reset(reset::Args),
    Pr(pr::Args),
    Destroy(destroy::Args),
    Render(render::Args),
    Profiles(profiles::Args),
    Bake(bake::Args),
    Cache(cache::Args),
    Doctor(doctor::Args),
    Secrets(secrets::Args),
    /// The VM's scoped SSH agent: `machine agent log` shows what it signed and refused.
    Agent(scoped_agent::Args),
    Proxy(proxy::Args),
    Snapshot(snapshot::Args),
    Trust(trust::Args),
    SshConfig(ssh_config::Args),
    Code(code::Args),
    Mcp(mcp::Args),
    Completions(completions::Args),
    /// Values for the completion scripts (project and profile names); not for people.
    #[command(name = "__complete", hide = true)]
    Complete(completions::CompleteArgs),
}
