//! What every interactive command needs first: a running VM, a live agent connection, and the
//! primary repo's folder to start in.

use super::Ctx;
use crate::config::model::Project;
use crate::error::Result;
use crate::project_state::ProjectDir;
use crate::vm::Lima;

/// Checks the VM runs, heals a stale forwarded agent, and returns the folder to open in.
pub(super) fn prepare(ctx: &mut Ctx<'_>, lima: &Lima<'_>, project: &Project) -> Result<Option<String>> {
    let name = &project.name;
    lima.require_running(name)?;
    if project.forward_agent {
        lima.heal_agent(name);
    }
    let Some(primary) = project.primary_dir() else { return Ok(None) };
    // A clone that failed (e.g. no agent forwarding) leaves no folder to open in: use the home.
    let cloned =
        ProjectDir::new(&ctx.paths.state_dir, name).applied()?.is_some_and(|a| a.cloned.iter().any(|c| c == primary));
    if !cloned {
        return Ok(None);
    }
    Ok(guest_home(ctx, lima, name)?.map(|h| format!("{h}/code/{primary}")))
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
