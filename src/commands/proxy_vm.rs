//! A VM's API channel, as `up`, `claude` and `codex` set it up and `down` and `destroy` take
//! it away: the proxy daemon running, the VM's token in its 0600 file and registered with the
//! daemon, and the guest's environment (`machine-guest proxy-env-write`, the token on stdin).

use super::{Ctx, Target};
use crate::compiler::config::trust::sha256_hex;
use crate::compiler::layers::Catalog;
use crate::driver::vm::Lima;
use crate::error::{Error, Result};
use crate::servers::proxy::control::Request;
use crate::servers::proxy::daemon::{self, Files};
use crate::servers::proxy::token::{self, TokenFile};

/// `MACHINE_CREDENTIAL_PROXY=off` turns the proxy off for every project (as
/// `credential_proxy = false` does for one).
const OFF_VAR: &str = "MACHINE_CREDENTIAL_PROXY";

/// When the guest's environment is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// This command booted the VM: a new token (the old one went with the guest's tmpfs).
    Booted,
    /// A running VM: only when something changed (a cheap `up` stays cheap).
    Changed,
    /// An agent session: always (a guest rebooted from inside lost it).
    Always,
}

/// Sets the channel up, or takes it away for a project without the proxy. A failure is a
/// warning for the caller to show: the VM works without it.
pub(super) fn connect(
    ctx: &mut Ctx<'_>,
    catalog: &Catalog,
    lima: &Lima<'_>,
    target: &Target,
    when: When,
) -> Option<String> {
    let result = if enabled(ctx, target) {
        link(ctx, catalog, lima, target, when)
    } else {
        unlink(ctx, lima, target).map(|()| None)
    };
    result.unwrap_or_else(|e| {
        Some(format!(
            "the credential proxy is not set up for VM `{}`, so it reaches no provider's API through it:\n{e}",
            target.shown
        ))
    })
}

fn enabled(ctx: &Ctx<'_>, target: &Target) -> bool {
    let off = (ctx.env)(OFF_VAR).is_some_and(|v| matches!(v.to_str(), Some("off" | "0" | "false" | "no")));
    target.project.credential_proxy && !off
}

/// Registers the VM's token and gives the guest its variables; a warning when Codex in the
/// guest cannot be pointed at the proxy.
fn link(ctx: &mut Ctx<'_>, catalog: &Catalog, lima: &Lima<'_>, target: &Target, when: When) -> Result<Option<String>> {
    let settings = ctx.proxy_settings(catalog)?;
    let path = token::path(&ctx.paths.state_dir, &target.instance);
    let old = token::read(&path)?;
    let token = match &old {
        Some(file) if when != When::Booted => file.token.clone(),
        _ => token::generate()?,
    };
    let env = crate::servers::proxy::guest_env(&settings, &token);
    let args = crate::servers::proxy::guest_env_args(&settings);
    // What the guest was last given, arguments included (a changed Codex route is written too).
    let given = format!("{}\0{env}", args.join("\0"));
    let current = TokenFile { token: token.clone(), guest_env: sha256_hex(given.as_bytes()) };
    let written = old.as_ref().filter(|o| o.token == token).map(|o| o.guest_env.clone()).unwrap_or_default();
    token::write(&path, &TokenFile { token, guest_env: written.clone() })?;
    let home = (ctx.env)("HOME").map(std::path::PathBuf::from);
    daemon::register(&ctx.paths, &settings, ctx.runner, home.as_deref(), &target.instance)?;
    if when == When::Changed && written == current.guest_env {
        return Ok(None);
    }
    let codex = write_guest_env(lima, &target.instance, &args, &env)?;
    // A route the user can put in place is tried again (and said again) at the next `up`; an
    // older guest helper stays older until the VM is made again.
    if !matches!(codex, CodexRoute::Foreign | CodexRoute::Failed) {
        token::write(&path, &current)?;
    }
    Ok(codex.warning(&target.shown))
}

/// What became of Codex's route to the proxy in the guest.
#[derive(Debug, PartialEq, Eq)]
enum CodexRoute {
    /// In place, removed, or not asked for.
    Done,
    /// `/etc/codex/config.toml` is not machine's link.
    Foreign,
    /// `sudo -n` could not make the link.
    Failed,
    /// The VM's `machine-guest` predates `--codex` (its template is fixed at create).
    OldGuest,
}

impl CodexRoute {
    fn warning(&self, vm: &str) -> Option<String> {
        let (what, hint) = match self {
            Self::Done => return None,
            Self::Foreign => (
                "keeps a /etc/codex/config.toml of its own",
                format!(
                    "remove it in the VM (`machine ssh {vm}`, then `sudo rm /etc/codex/config.toml`) and run `machine up {vm}` again"
                ),
            ),
            Self::Failed => (
                "could not link /etc/codex/config.toml (`sudo -n` failed in the guest)",
                format!("check `sudo -n true` in the VM, then run `machine up {vm}` again"),
            ),
            Self::OldGuest => (
                "has a machine-guest from before machine configured Codex",
                format!("`machine up {vm} --recreate` gives it the current one"),
            ),
        };
        Some(format!(
            "Codex in VM `{vm}` does not use the credential proxy: the VM {what} (Claude Code and the proxy's variables are set up)\n  hint: {hint}"
        ))
    }
}

/// Hands the variables to the guest helper on stdin (never in its argv, which holds only the
/// Codex route). A guest helper that refuses `--codex` (exit 2: an older one) gets the
/// variables without it.
fn write_guest_env(lima: &Lima<'_>, name: &str, args: &[String], env: &str) -> Result<CodexRoute> {
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = lima.guest_cmd(name, &args);
        cmd.stdin = Some(env.as_bytes().to_vec());
        lima.runner.output(&cmd)
    };
    let mut out = run(args)?;
    let mut route = CodexRoute::Done;
    if out.code == Some(2) && args.iter().any(|a| a == "--codex") {
        out = run(&args[..1])?; // the subcommand alone
        route = CodexRoute::OldGuest;
    }
    if out.success() {
        let said = |line: &str| out.stdout_text().lines().any(|l| l == line);
        if said("codex-config foreign") {
            route = CodexRoute::Foreign;
        } else if said("codex-config failed") {
            route = CodexRoute::Failed;
        }
        return Ok(route);
    }
    let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(Error::failure("cannot write the proxy's variables into the VM")
        .caused_by(if why.is_empty() { "(no output)".to_string() } else { why })
        .hint(format!("check the VM with `machine up {name}`")))
}

/// No proxy for this project (any more): its token is forgotten and the guest's copy cleared.
fn unlink(ctx: &mut Ctx<'_>, lima: &Lima<'_>, target: &Target) -> Result<()> {
    if !forget(ctx, &target.instance)? {
        return Ok(());
    }
    let out = lima.guest(&target.instance, &["proxy-env-clear"])?;
    if !out.success() {
        return Err(Error::failure("cannot clear the proxy's variables in the VM")
            .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(())
}

/// Stops accepting the VM's token (the daemon is told when it runs; it is never started for
/// this) and removes its file; whether there was one.
pub(super) fn forget(ctx: &Ctx<'_>, instance: &str) -> Result<bool> {
    let path = token::path(&ctx.paths.state_dir, instance);
    let had = path.exists();
    let files = Files::new(&ctx.paths.state_dir);
    crate::servers::proxy::control::call(&files.socket(), &Request::Forget { instance: instance.to_string() })?;
    token::remove(&path)?;
    Ok(had)
}
