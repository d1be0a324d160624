//! The command line: global flags and one subcommand per file under `commands/`.

use clap::{Parser, Subcommand};

use crate::commands::{profiles, render};

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
    Render(render::Args),
    Profiles(profiles::Args),
}
