//! What every interactive command needs first: a running VM, a live agent connection, and the
//! primary repo's folder to start in.

use super::Ctx;
use crate::config::model::Project;
use crate::error::{Error, Result};
use crate::project_state::ProjectDir;
use crate::vm::Lima;

/// Checks the VM runs, heals a stale forwarded agent, and returns the folder to open in.
pub(super) fn prepare(ctx: &mut Ctx<'_>, lima: &Lima<'_>, project: &Project) -> Result<Option<String>> {
    let name = &project.name;
    match lima.instance(name)? {
        Some(i) if i.is_running() => {}
        Some(i) => {
            return Err(Error::failure(format!("VM `{name}` is {}", i.status.as_str().to_lowercase()))
                .hint(format!("start it with `machine up {name}`")));
        }
        None => {
            return Err(
                Error::failure(format!("there is no VM `{name}`")).hint(format!("create it with `machine up {name}`"))
            );
        }
    }
    if project.forward_agent {
        lima.heal_agent(name);
    }
    let Some(primary) = project.primary_dir() else { return Ok(None) };
    let home = ProjectDir::new(&ctx.paths.state_dir, name).applied()?.and_then(|a| a.guest_home);
    Ok(home.map(|h| format!("{h}/code/{primary}")))
}
