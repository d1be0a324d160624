//! `machine code [PROJECT]`: open VS Code on the VM's primary repo over Remote-SSH.
//!
//! Runs `code --remote ssh-remote+lima-<project> <guest home>/code/<primary repo>`. VS Code finds
//! the host `lima-<vm>` through the `Include` that `machine ssh-config --install` adds.

use std::path::Path;

use super::Ctx;
use super::doctor::find_on_path;
use super::ssh_config::{UserConfig, installed_here};
use crate::driver::exec::Cmd;
use crate::driver::lima;
use crate::error::{Error, Result};

/// Open VS Code on a project's primary repo in its VM (Remote-SSH).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project, or PROJECT@BRANCH (default: the .machine.toml project here, else `default`).
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    if find_on_path("code", ctx.env).is_none() {
        return Err(Error::failure("VS Code's `code` command is not on PATH").hint(code_hint()));
    }
    let (_, target) = ctx.target(args.project.as_deref())?;
    let (project, name) = (&target.project, target.instance.clone());
    let lima = ctx.lima()?;
    lima.require_running(&name, &target.shown)?;
    // VS Code's ssh shares Lima's master when one is open: open it with the scoped agent.
    super::session::agent(ctx, &lima, &target)?;
    if project.forward_agent {
        let opened = ctx.runner.output(&lima.shell_cmd(&name, &[std::ffi::OsStr::new("true")]));
        if !opened.as_ref().is_ok_and(crate::driver::exec::Output::success) {
            ctx.ui.warn(&format!(
                "could not open Lima's ssh master of `{}` first: VS Code's ssh opens one itself (it forwards the scoped agent, as machine's ssh config says)",
                target.shown
            ));
        }
    }
    let host = lima::ssh_host(&name);
    // VS Code runs its own ssh, which opens a master when none is open: it must read
    // machine's host first (a project without forwarding has no master machine keeps open).
    let config = installed_here(ctx)?;
    if config == UserConfig::Neither {
        return Err(Error::failure(format!(
            "VS Code cannot find the host `{host}`: ~/.ssh/config does not include machine's ssh configs"
        ))
        .hint("run `machine ssh-config --install` (once)"));
    }
    if let Some(problem) = config.problem(Path::new("~/.ssh/config")) {
        return Err(Error::failure(format!("not opening VS Code: {problem}"))
            .hint("`machine ssh-config --install` replaces the line older versions of machine added"));
    }
    let home = super::session::guest_home(ctx, &lima, &name)?.ok_or_else(|| {
        Error::failure(format!("cannot find the guest user's home in VM `{}`", target.shown))
            .hint(format!("run `machine up {}`, which records it", target.shown))
    })?;
    let folder = project.primary_dir().map_or_else(|| home.clone(), |dir| format!("{home}/code/{dir}"));
    let cmd = Cmd::new("code").arg("--remote").arg(format!("ssh-remote+{host}")).arg(&folder);
    let out = ctx.runner.output(&cmd)?;
    if !out.success() {
        return Err(Error::failure(format!("`{cmd}` failed")).caused_by(String::from_utf8_lossy(&out.stderr).trim()));
    }
    ctx.ui.note(&format!("opened {folder} on {host} in VS Code"));
    Ok(0)
}

fn code_hint() -> &'static str {
    if cfg!(target_os = "macos") {
        "in VS Code, run the command `Shell Command: Install 'code' command in PATH`"
    } else {
        "install VS Code (https://code.visualstudio.com) and make sure `code` is on PATH"
    }
}
