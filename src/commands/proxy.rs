//! `machine proxy status|stop|log` and the hidden `machine proxy serve`: the credential proxy
//! the VMs reach their providers' APIs through (see `crate::servers::proxy`).

use serde_json::json;

use super::Ctx;
use crate::error::{Error, Result};
use crate::servers::proxy::control::{Request, Status};
use crate::servers::proxy::daemon::{self, Files};
use crate::servers::proxy::log;

/// The credential proxy: VMs reach the providers' APIs with a token of their own, never a credential.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ProxyCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProxyCommand {
    /// Run the proxy in the foreground (`up`, `claude` and `codex` start it in the background).
    #[command(hide = true)]
    Serve,
    /// Whether it runs: its pid, port, the VMs whose tokens it accepts and each provider's credential source (never the credential).
    Status(StatusArgs),
    /// Stop it (VMs then reach no API until the next `machine up`, `claude` or `codex` starts it).
    Stop,
    /// The requests it answered: time, VM, provider, method, path, status and bytes (never bodies or headers).
    #[command(after_long_help = "Examples:\n  machine proxy log\n  machine proxy log blog@feature/login -n 20")]
    Log(LogArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Read every provider's credential now (it may run a credential command or ask the Keychain).
    #[arg(long)]
    pub check: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// Only this VM's requests: PROJECT or PROJECT@BRANCH.
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
    /// How many of the latest requests.
    #[arg(short = 'n', long, default_value_t = 50)]
    pub lines: usize,
    /// Print the records as JSON lines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    match &args.command {
        ProxyCommand::Serve => serve(ctx),
        ProxyCommand::Status(status_args) => status(status_args, ctx),
        ProxyCommand::Stop => stop(ctx),
        ProxyCommand::Log(log_args) => self::log(log_args, ctx),
    }
}

fn serve(ctx: &mut Ctx<'_>) -> Result<i32> {
    let catalog = ctx.catalog()?;
    let settings = ctx.proxy_settings(&catalog)?;
    let home = (ctx.env)("HOME").map(std::path::PathBuf::from);
    daemon::serve(&ctx.paths, settings, home)?;
    Ok(0)
}

fn status(args: &StatusArgs, ctx: &mut Ctx<'_>) -> Result<i32> {
    let files = Files::new(&ctx.paths.state_dir);
    let status = crate::servers::proxy::control::call(&files.socket(), &Request::Status { check: args.check })?
        .and_then(|reply| reply.status);
    let Some(status) = status else {
        if args.json {
            ctx.ui.data(&json!({"running": false}).to_string());
        } else {
            ctx.ui.data("the credential proxy is not running (`machine up`, `claude` and `codex` start it)");
        }
        return Ok(i32::from(args.check));
    };
    let failed = status.providers.iter().any(|p| !p.credential.starts_with("ok") && p.credential != "not read yet");
    if args.json {
        let mut value = serde_json::to_value(&status).expect("plain data serialises");
        value["running"] = json!(true);
        ctx.ui.data(&value.to_string());
    } else {
        let shown = |vm: &str| super::shown_vm(&ctx.paths.state_dir, vm);
        for line in status_lines(&status, &shown) {
            ctx.ui.data(&line);
        }
    }
    Ok(i32::from(args.check && failed))
}

/// `machine proxy status` for people.
/// `shown` turns a Lima instance name into the VM's name as the user writes it.
fn status_lines(status: &Status, shown: &dyn Fn(&str) -> String) -> Vec<String> {
    let vms: Vec<String> = status.vms.iter().map(|vm| shown(vm)).collect();
    let mut lines = vec![
        format!("running: pid {}, machine {}, on 127.0.0.1:{}", status.pid, status.version, status.port),
        format!("VMs: {}", if vms.is_empty() { "none registered".to_string() } else { vms.join(", ") }),
    ];
    for p in &status.providers {
        lines.push(format!("{:<10} {}  credential: {}", p.name, p.upstream, p.credential));
    }
    lines
}

fn stop(ctx: &mut Ctx<'_>) -> Result<i32> {
    let stopped = daemon::stop(&Files::new(&ctx.paths.state_dir))?;
    ctx.ui.note(if stopped { "✓ stopped the credential proxy" } else { "the credential proxy was not running" });
    Ok(0)
}

fn log(args: &LogArgs, ctx: &mut Ctx<'_>) -> Result<i32> {
    let instance = match &args.project {
        Some(arg) => Some(
            crate::compiler::instance::Spec::parse(arg)
                .map_err(|why| {
                    Error::usage(format!("`{arg}` names no VM: {why}")).hint("write PROJECT or PROJECT@BRANCH")
                })?
                .instance(),
        ),
        None => None,
    };
    let records = log::read(&Files::new(&ctx.paths.state_dir).requests());
    let mine: Vec<&log::Record> =
        records.iter().filter(|r| instance.is_none() || r.vm.as_deref() == instance.as_deref()).collect();
    for record in &mine[mine.len().saturating_sub(args.lines)..] {
        if args.json {
            ctx.ui.data(&serde_json::to_string(record).expect("plain data serialises"));
        } else {
            ctx.ui.data(&record.line());
        }
    }
    if mine.is_empty() && !args.json {
        ctx.ui.note("no requests logged yet");
    }
    Ok(0)
}
