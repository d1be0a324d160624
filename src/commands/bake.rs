//! `machine bake [PROJECT] [--force]`: bake the disks a project's VM boots from, ahead of `up`,
//! and the hook `up` calls before it creates a VM.

use super::Ctx;
use crate::compiler::compile::{self, Identity, Stack};
use crate::compiler::config::model::Project;
use crate::compiler::layers::Catalog;
use crate::driver::bake::{self, Baker};
use crate::driver::vm::Lima;
use crate::driver::{host, identity};
use crate::error::Result;

/// Bake the provisioned disks a project's VM starts from, so `up` only provisions what changed.
///
/// One disk per chain prefix: the base (image, core and the standard layers the project keeps)
/// and one more per profile. Each bake starts from the longest prefix already cached.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  machine bake           # the .machine.toml project here, else `default`\n  machine bake blog --force"
)]
pub struct Args {
    /// The project (default: the .machine.toml project here, else `default`).
    pub project: Option<String>,
    /// Bake every prefix again, from the image, even if it is cached.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let (catalog, project) = ctx.project(args.project.as_deref())?;
    let _lock = ctx.lock_project(&project.name)?;
    // Bakes take no params; the identity only makes the written instance file match `render`'s.
    let identity = identity::resolve(ctx.env, ctx.runner).identity;
    let stack = compile::compile(&project, &catalog, &host::facts(&ctx.paths, identity)?)?;
    let lima = ctx.lima()?;
    let base = bake::base_len(&project, &stack);
    let baked = bake::ensure(&mut baker(ctx, &lima), &stack, base, args.force)?;
    let total = bake::prefixes(&stack, base).count();
    let name = &project.name;
    ctx.ui.note(&match baked {
        0 => format!("✓ nothing to bake: all {total} disk(s) of `{name}` are cached (`--force` bakes them again)"),
        n => format!("✓ baked {n} disk(s) for `{name}`; `machine up {name}` boots from them"),
    });
    Ok(0)
}

/// For `up` before it creates a VM: bakes the stack's missing disks, then compiles again so the
/// instance boots from the new disk. Returns the stack unchanged when nothing is missing.
pub fn before_create(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    project: &Project,
    catalog: &Catalog,
    identity: Identity,
    stack: Stack,
) -> Result<Stack> {
    let base = bake::base_len(project, &stack);
    if bake::missing(&stack, base, &host::cached_disks(&ctx.paths.cache_dir)).is_empty() {
        return Ok(stack);
    }
    bake::ensure(&mut baker(ctx, lima), &stack, base, false)?;
    compile::compile(project, catalog, &host::facts(&ctx.paths, identity)?)
}

/// A [`Baker`] borrowing this context's paths and UI.
pub fn baker<'b>(ctx: &'b mut Ctx<'_>, lima: &'b Lima<'b>) -> Baker<'b> {
    Baker { lima, ui: ctx.ui, cache_dir: ctx.paths.cache_dir.clone(), state_dir: ctx.paths.state_dir.clone() }
}
