//! What every interactive command needs first: a running VM, a live agent connection, and the
//! primary repo's folder to start in.

use std::ffi::OsStr;

use super::{Ctx, Target};
use crate::compiler::config::model::Shell;
use crate::driver::exec::Cmd;
use crate::driver::lima;
use crate::driver::project_state::ProjectDir;
use crate::driver::vm::Lima;
use crate::error::Result;

/// Where and how an interactive command runs in the guest.
pub(super) struct Session {
    name: String,
    /// The primary repo, when it was cloned; else Lima's default (the home).
    workdir: Option<String>,
    shell: Shell,
    /// The VM's scoped agent socket, for a session that opens the ssh master.
    agent_socket: Option<std::path::PathBuf>,
}

impl Session {
    /// `limactl shell` run by the project's login shell (a login shell: its profile, hence
    /// machine's environment setup, is read), in the session's folder.
    pub(super) fn command(&self, argv: &[&OsStr]) -> Cmd {
        let cmd = lima::user_shell(&self.name, self.workdir.as_deref(), self.shell.guest_path(), argv);
        match &self.agent_socket {
            Some(socket) => cmd.env("SSH_AUTH_SOCK", socket),
            None => cmd,
        }
    }

    /// The same session, opening in `dir` (a guest path) instead.
    pub(super) fn in_dir(self, dir: String) -> Self {
        Self { workdir: Some(dir), ..self }
    }
}

/// Checks the VM runs, starts its scoped agent (when it is gone) and heals a master that
/// forwards the wrong agent, and finds the folder to open in; records the VM as used now (for
/// `machine prune --older-than`).
pub(super) fn prepare(ctx: &mut Ctx<'_>, lima: &Lima<'_>, target: &Target) -> Result<Session> {
    let (project, name) = (&target.project, &target.instance);
    lima.require_running(name, &target.shown)?;
    agent(ctx, lima, target)?;
    target.dir(&ctx.paths.state_dir).touch()?;
    let workdir = match project.primary_dir() {
        // A clone that failed (e.g. no agent forwarding) leaves no folder to open in: use the home.
        Some(primary) if was_cloned(ctx, name, primary)? => {
            guest_home(ctx, lima, name)?.map(|h| format!("{h}/code/{primary}"))
        }
        _ => None,
    };
    Ok(Session { name: name.clone(), workdir, shell: project.shell, agent_socket: lima.agent_socket(name) })
}

/// For a project that forwards the agent: its scoped agent runs and the VM's ssh master (if
/// one is open) forwards it. For every project: a plain `ssh lima-<vm>` forwards that agent or
/// none.
pub(super) fn agent(ctx: &Ctx<'_>, lima: &Lima<'_>, target: &Target) -> Result<()> {
    let fresh = super::scoped_agent::ensure(ctx, lima, target)?;
    if target.project.forward_agent {
        lima.heal_agent(&target.instance, fresh);
    }
    Ok(())
}

fn was_cloned(ctx: &Ctx<'_>, name: &str, folder: &str) -> Result<bool> {
    Ok(ProjectDir::new(&ctx.paths.state_dir, name).applied()?.is_some_and(|a| a.cloned.iter().any(|c| c == folder)))
}

/// The guest user's home: as `up` recorded it, else asked of the guest (and recorded).
pub(super) fn guest_home(ctx: &Ctx<'_>, lima: &Lima<'_>, name: &str) -> Result<Option<String>> {
    let dir = ProjectDir::new(&ctx.paths.state_dir, name);
    let applied = dir.applied()?;
    if let Some(home) = applied.as_ref().and_then(|a| a.guest_home.clone()) {
        return Ok(Some(home));
    }
    let home = lima.guest_home(name);
    if let (Some(mut applied), Some(found)) = (applied, &home) {
        applied.guest_home = Some(found.clone());
        dir.record(&applied)?;
    }
    Ok(home)
}
