//! `machine cache list [--json]` and `machine cache prune [--all] [-y]`: the baked disks in
//! `<cache>/disks`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::Ctx;
use crate::bake::{self, Entry, Removed};
use crate::compile::{self, HostFacts, Identity};
use crate::config::model::DEFAULT_PROJECT;
use crate::error::{Error, Result};
use crate::host;

/// Show or clean up the baked disks VMs boot from.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CacheCommand {
    /// One line per baked disk: key, size on disk, age and layers.
    List(ListArgs),
    /// Remove baked disks no configured project uses, and what interrupted bakes left.
    #[command(
        after_long_help = "Examples:\n  machine cache prune        # asks before removing disks\n  machine cache prune --all -y"
    )]
    Prune(PruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove every baked disk, used or not.
    #[arg(long)]
    pub all: bool,
    /// Do not ask before removing disks.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    match &args.command {
        CacheCommand::List(list) => {
            self::list(list, ctx);
            Ok(0)
        }
        CacheCommand::Prune(prune) => self::prune(prune, ctx),
    }
}

fn list(args: &ListArgs, ctx: &mut Ctx<'_>) {
    let entries = bake::entries(&ctx.paths.cache_dir);
    if args.json {
        let disks: Vec<_> = entries.iter().map(entry_json).collect();
        ctx.ui.data(&format!("{:#}", json!({ "disks": disks })));
        return;
    }
    if entries.is_empty() {
        let dir = bake::disks_dir(&ctx.paths.cache_dir);
        ctx.ui.note(&format!("no baked disks in {}: `machine bake` makes them", dir.display()));
        return;
    }
    let now = now();
    let mut out = format!("{:16}  {:>8}  {:>4}  LAYERS", "KEY", "SIZE", "AGE");
    for e in &entries {
        let age = e.sidecar.as_ref().map_or_else(|| "?".to_string(), |s| bake::age(s.created, now));
        let layers = e.sidecar.as_ref().map_or_else(|| "(no sidecar)".to_string(), |s| s.layers.join(" → "));
        out.push_str(&format!("\n{}  {:>8}  {age:>4}  {layers}", &e.key[..16], bake::human_size(e.allocated)));
    }
    ctx.ui.data(&out);
}

/// The sidecar's fields plus where the disk is and what it takes on disk.
fn entry_json(e: &Entry) -> serde_json::Value {
    let mut value = e.sidecar.as_ref().map_or_else(|| json!({ "key": e.key }), |s| json!(s));
    value["path"] = json!(e.path);
    value["allocated"] = json!(e.allocated);
    value
}

fn prune(args: &PruneArgs, ctx: &mut Ctx<'_>) -> Result<i32> {
    let keep = if args.all { BTreeSet::new() } else { used_keys(ctx)? };
    let doomed: Vec<Entry> =
        bake::entries(&ctx.paths.cache_dir).into_iter().filter(|e| !keep.contains(&e.key)).collect();
    if !doomed.is_empty() && !args.yes {
        let what = if args.all { "every baked disk" } else { "baked disks no configured project uses" };
        ctx.ui.note(&format!("{what}:"));
        for e in &doomed {
            ctx.ui.note(&format!("  {}", describe(e)));
        }
        if !ctx.confirm(&format!("Remove {} disk(s)?", doomed.len()))? {
            return Err(Error::failure("aborted: nothing was removed"));
        }
    }
    let mut removed = Vec::new();
    for e in &doomed {
        if bake::remove_disk(&ctx.paths.cache_dir, e)? {
            removed.push(Removed { what: format!("disk {}", describe(e)), bytes: e.allocated });
        } else {
            ctx.ui.note(&format!("kept disk {}: another machine is baking it", &e.key[..16]));
        }
    }
    let lima = ctx.lima()?;
    removed.extend(bake::clean_debris(&lima, &ctx.paths.cache_dir, &ctx.paths.state_dir)?);
    // Layer folders an interrupted render left (a render in progress owns one seconds old).
    let layers = ctx.paths.state_dir.join("layers");
    for (dir, bytes) in crate::stack::remove_debris(&layers, std::time::Duration::from_mins(1)) {
        removed.push(Removed { what: format!("{}, left by an interrupted render", dir.display()), bytes });
    }
    report(ctx, &removed);
    Ok(0)
}

fn report(ctx: &mut Ctx<'_>, removed: &[Removed]) {
    if removed.is_empty() {
        ctx.ui.data("nothing to prune");
        return;
    }
    let mut out = String::new();
    for r in removed {
        out.push_str(&format!("removed {:>8}  {}\n", bake::human_size(r.bytes), r.what));
    }
    let total = removed.iter().map(|r| r.bytes).sum();
    out.push_str(&format!("freed {}", bake::human_size(total)));
    ctx.ui.data(&out);
}

/// `0123456789abcdef (ubuntu-24.04 → core → docker)`.
fn describe(e: &Entry) -> String {
    let layers = e.sidecar.as_ref().map_or_else(|| "no sidecar".to_string(), |s| s.layers.join(" → "));
    format!("{} ({layers})", &e.key[..16])
}

/// Every chain key of every configured project's current stack (and `default`'s).
fn used_keys(ctx: &mut Ctx<'_>) -> Result<BTreeSet<String>> {
    let catalog = ctx.catalog()?;
    let config = ctx.config(&catalog)?;
    // Keys depend on neither the identity nor the cached disks.
    let facts = HostFacts { cached_disks: BTreeMap::new(), ..host::facts(&ctx.paths, Identity::default())? };
    let mut projects: Vec<_> = config.projects.values().cloned().collect();
    if !config.projects.contains_key(DEFAULT_PROJECT) {
        projects.extend(config.project(DEFAULT_PROJECT));
    }
    let mut keys = BTreeSet::new();
    for project in &projects {
        let stack = compile::compile(project, &catalog, &facts).map_err(|e| {
            Error::failure(format!("cannot tell which disks project `{}` uses", project.name))
                .caused_by(e)
                .hint("fix that project, or remove every disk with `machine cache prune --all`")
        })?;
        keys.extend(stack.layers.iter().map(|l| l.key.full().to_string()));
    }
    Ok(keys)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
