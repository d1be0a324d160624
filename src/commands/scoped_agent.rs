//! `machine agent log [PROJECT[@BRANCH]] [--json]`: what the VM's scoped SSH agent signed or
//! refused; and the hidden `machine agent serve INSTANCE`, the agent itself (a daemon machine
//! starts on demand, see `scoped_agent::daemon`).

use super::{Ctx, Target};
use crate::driver::vm::Lima;
use crate::error::{Error, Result};
use crate::servers::scoped_agent::log::Entry;
use crate::servers::scoped_agent::policy::Policy;
use crate::servers::scoped_agent::{AgentDir, daemon};

/// The VM's scoped SSH agent: what it signed and refused.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AgentCommand {
    /// Every signature the VM asked the scoped agent for (signed, refused or denied), and every
    /// other request it refused, oldest first.
    #[command(
        after_long_help = "Columns: time (UTC), decision, key fingerprint and comment, what was signed (a git signature, an ssh login as a user, …).\n\nExamples:\n  machine agent log blog\n  machine agent log blog@feature/login --json"
    )]
    Log(LogArgs),
    /// Serve a VM's scoped agent (started by machine itself; not for people).
    #[command(hide = true)]
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// The project, or PROJECT@BRANCH (default: the .machine.toml project here, else `default`).
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
    /// Print the log's JSON lines as they are.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The Lima instance whose agent to serve.
    pub instance: String,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    match &args.command {
        AgentCommand::Log(log) => self::log(log, ctx),
        AgentCommand::Serve(serve) => {
            crate::compiler::config::model::check_instance_name(&serve.instance)
                .map_err(|why| Error::usage(format!("invalid instance name `{}`: it {why}", serve.instance)))?;
            let dir = AgentDir::new(&ctx.paths.state_dir, &serve.instance);
            daemon::serve(&dir, ctx.runner, daemon::DialogEnv::capture(ctx.env))
        }
    }
}

fn log(args: &LogArgs, ctx: &mut Ctx<'_>) -> Result<i32> {
    let (_, target) = ctx.target(args.project.as_deref())?;
    let dir = AgentDir::new(&ctx.paths.state_dir, &target.instance);
    let log = dir.signature_log();
    let (entries, unreadable) = log.read()?;
    if unreadable > 0 {
        ctx.ui.warn(&format!("{unreadable} line(s) of {} are not log entries", log.path().display()));
    }
    if args.json {
        for entry in &entries {
            ctx.ui.data(&serde_json::to_string(entry).expect("an entry serialises"));
        }
        return Ok(0);
    }
    if entries.is_empty() {
        let why = if target.project.forward_agent {
            format!("the scoped agent of `{}` has logged nothing yet ({})", target.shown, log.path().display())
        } else {
            format!("agent forwarding is off for project `{}`: its VMs have no agent to log", target.project.name)
        };
        ctx.ui.note(&why);
        return Ok(0);
    }
    let rows: Vec<[String; 4]> = entries.iter().map(row).collect();
    let width = rows.iter().map(|r| r[2].chars().count()).max().unwrap_or(0).max(3);
    ctx.ui.data(&format!("{:20}  {:8}  {:width$}  WHAT", "TIME", "DECISION", "KEY"));
    for [time, decision, key, what] in rows {
        // Escaped even off a terminal: this table is for people, and parts came from the guest.
        let line = format!("{time:20}  {decision:8}  {key:width$}  {what}");
        ctx.ui.data(&crate::ui::escape::one_line(&line));
    }
    Ok(0)
}

/// One entry's columns: time, decision, key (fingerprint and comment), what and why.
fn row(e: &Entry) -> [String; 4] {
    let key = match (&e.key, &e.comment) {
        (Some(k), Some(c)) => format!("{k} {c}"),
        (Some(k), None) => k.clone(),
        _ => "-".into(),
    };
    let mut what = e.what();
    if e.confirmed {
        what.push_str(", confirmed on the host");
    }
    if let Some(why) = &e.reason {
        what.push_str(&format!(": {why}"));
    }
    [e.time.clone(), e.decision.as_str().to_string(), key, what]
}

/// Starts (or checks) the target VM's scoped agent with the project's current policy, when the
/// project forwards the agent, and writes what a plain `ssh lima-<vm>` forwards. Returns
/// whether the agent had to be started now: a master opened before then forwarded another one.
pub(super) fn ensure(ctx: &Ctx<'_>, lima: &Lima<'_>, target: &Target) -> Result<bool> {
    let dir = AgentDir::new(&ctx.paths.state_dir, &target.instance);
    // What a plain `ssh lima-<vm>` forwards, before anything can open the VM's ssh master.
    let agent = target.project.forward_agent.then(|| dir.socket());
    crate::driver::ssh_hosts::write(&ctx.paths.state_dir, &lima.home, &target.instance, agent.as_deref())?;
    if !target.project.forward_agent {
        return Ok(false);
    }
    let upstream = crate::servers::scoped_agent::upstream(ctx.env);
    let policy = Policy::for_project(
        &target.shown,
        &target.project,
        upstream,
        crate::driver::lima::instance_dir(&lima.home, &target.instance),
    );
    let exe = std::env::current_exe()
        .map_err(|e| Error::failure("cannot find the machine program to start the scoped agent with").caused_by(e))?;
    // Run from another folder, a project made from a `.machine.toml` is seen without that file
    // (its narrower `ssh_keys`, its `confirm_signatures`): the agent's policy then only narrows.
    let policy = match Policy::load(&dir.policy_file()) {
        Ok(old) if !seen_as_made(ctx, target) => policy.narrowed_by(&old),
        _ => policy,
    };
    daemon::ensure(ctx.runner, &dir, &policy, &exe, &ctx.paths.state_dir)
}

/// Whether this command sees the project through the file its VM was made from.
fn seen_as_made(ctx: &Ctx<'_>, target: &Target) -> bool {
    let made_from = target.dir(&ctx.paths.state_dir).applied().ok().flatten().and_then(|a| a.made_from);
    made_from.is_none_or(|file| target.project.defined_in.as_deref() == Some(file.as_path()))
}

/// Stops the VM's scoped agent (with the VM: `down`, `destroy`, `prune`).
pub(super) fn stop(ctx: &Ctx<'_>, instance: &str) -> Result<()> {
    daemon::stop(ctx.runner, &AgentDir::new(&ctx.paths.state_dir, instance))
}
