//! `machine cache list [--json]` and `machine cache prune [--all] [-y]`: the baked disks in
//! `<cache>/disks` and the projects' golden disks in `<cache>/golden`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::Ctx;
use crate::compiler::compile::{self, HostFacts, Identity};
use crate::compiler::config::model::DEFAULT_PROJECT;
use crate::driver::bake::{self, Entry, Removed};
use crate::driver::{golden, host};
use crate::error::{Error, Result};

/// Show or clean up the baked and golden disks VMs boot from.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CacheCommand {
    /// One line per disk: kind (baked or golden), key, size on disk, age, and its layers or project.
    List(ListArgs),
    /// Remove baked and golden disks no configured project uses, and what interrupted bakes and copies left.
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
    /// Remove every baked and golden disk, used or not.
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
    let goldens = golden::entries(&ctx.paths.cache_dir);
    if args.json {
        let disks: Vec<_> = entries.iter().map(entry_json).collect();
        let golden: Vec<_> = goldens.iter().map(golden_json).collect();
        ctx.ui.data(&format!("{:#}", json!({ "disks": disks, "golden": golden })));
        return;
    }
    if entries.is_empty() && goldens.is_empty() {
        let dir = bake::disks_dir(&ctx.paths.cache_dir);
        ctx.ui.note(&format!(
            "no disks in {}: `machine bake` makes baked disks, `machine down` or `machine snapshot` golden ones",
            dir.parent().unwrap_or(&dir).display()
        ));
        return;
    }
    let now = now();
    let mut out = format!("{:6}  {:16}  {:>8}  {:>4}  LAYERS / PROJECT", "KIND", "KEY", "SIZE", "AGE");
    for e in &entries {
        let age = e.sidecar.as_ref().map_or_else(|| "?".to_string(), |s| bake::age(s.created, now));
        let layers = e.sidecar.as_ref().map_or_else(|| "(no sidecar)".to_string(), |s| s.layers.join(" → "));
        out.push_str(&format!("\nbaked   {}  {:>8}  {age:>4}  {layers}", &e.key[..16], bake::human_size(e.allocated)));
    }
    for g in &goldens {
        let age = g.sidecar.as_ref().map_or_else(|| "?".to_string(), |s| bake::age(s.created, now));
        let project = g.sidecar.as_ref().map_or_else(|| "(no sidecar)".to_string(), |s| s.project.clone());
        out.push_str(&format!("\ngolden  {}  {:>8}  {age:>4}  {project}", &g.key[..16], bake::human_size(g.allocated)));
    }
    ctx.ui.data(&out);
}

fn golden_json(g: &golden::Entry) -> serde_json::Value {
    let mut value = g.sidecar.as_ref().map_or_else(|| json!({ "key": g.key }), |s| json!(s));
    value["path"] = json!(g.path);
    value["allocated"] = json!(g.allocated);
    value
}

/// The sidecar's fields plus where the disk is and what it takes on disk.
fn entry_json(e: &Entry) -> serde_json::Value {
    let mut value = e.sidecar.as_ref().map_or_else(|| json!({ "key": e.key }), |s| json!(s));
    value["path"] = json!(e.path);
    value["allocated"] = json!(e.allocated);
    value
}

fn prune(args: &PruneArgs, ctx: &mut Ctx<'_>) -> Result<i32> {
    let used = if args.all { Used::default() } else { used_keys(ctx)? };
    let doomed: Vec<Entry> =
        bake::entries(&ctx.paths.cache_dir).into_iter().filter(|e| !used.baked.contains(&e.key)).collect();
    let doomed_golden: Vec<golden::Entry> =
        golden::entries(&ctx.paths.cache_dir).into_iter().filter(|g| !used.golden.contains(&g.key)).collect();
    let count = doomed.len() + doomed_golden.len();
    if count > 0 && !args.yes {
        let what = if args.all { "every baked and golden disk" } else { "disks no configured project uses" };
        ctx.ui.note(&format!("{what}:"));
        for e in &doomed {
            ctx.ui.note(&format!("  baked {}", describe(e)));
        }
        for g in &doomed_golden {
            ctx.ui.note(&format!("  golden {}", describe_golden(g)));
        }
        if !ctx.confirm(&format!("Remove {count} disk(s)?"))? {
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
    for g in &doomed_golden {
        match golden::remove(&ctx.paths.cache_dir, g)? {
            Some(bytes) => removed.push(Removed { what: format!("golden disk {}", describe_golden(g)), bytes }),
            None => ctx.ui.note(&format!("kept golden disk {}: another machine is keeping it", &g.key[..16])),
        }
    }
    let lima = ctx.lima()?;
    removed.extend(bake::clean_debris(&lima, &ctx.paths.cache_dir, &ctx.paths.state_dir)?);
    removed.extend(debris(ctx));
    report(ctx, &removed);
    Ok(0)
}

/// Half copies of golden disks and the layer folders interrupted renders left (a render in
/// progress owns one seconds old).
pub(super) fn debris(ctx: &Ctx<'_>) -> Vec<Removed> {
    let mut removed: Vec<Removed> = golden::remove_debris(&ctx.paths.cache_dir)
        .into_iter()
        .map(|(path, bytes)| Removed { what: format!("{}, left by an interrupted copy", path.display()), bytes })
        .collect();
    let layers = ctx.paths.state_dir.join("layers");
    let render = crate::driver::stack::remove_debris(&layers, RENDER_DEBRIS_AGE);
    removed.extend(render.into_iter().map(render_debris));
    removed
}

/// A temp layer folder this old is no render's that still runs.
const RENDER_DEBRIS_AGE: std::time::Duration = std::time::Duration::from_mins(1);

/// What [`debris`] would remove from the layer folders, for `--dry-run`.
pub(super) fn render_debris_preview(ctx: &Ctx<'_>) -> Vec<Removed> {
    let layers = ctx.paths.state_dir.join("layers");
    crate::driver::stack::debris(&layers, RENDER_DEBRIS_AGE).into_iter().map(render_debris).collect()
}

fn render_debris((dir, bytes): (std::path::PathBuf, u64)) -> Removed {
    Removed { what: format!("{}, left by an interrupted render", dir.display()), bytes }
}

pub(super) fn report(ctx: &mut Ctx<'_>, removed: &[Removed]) {
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

/// `0123456789abcdef (project blog)`.
fn describe_golden(g: &golden::Entry) -> String {
    let project = g.sidecar.as_ref().map_or_else(|| "no sidecar".to_string(), |s| format!("project {}", s.project));
    format!("{} ({project})", &g.key[..16])
}

/// The disks the configured projects' current stacks use.
#[derive(Debug, Default)]
pub(super) struct Used {
    /// Every chain key of every layer (a baked disk of any prefix is used).
    pub baked: BTreeSet<String>,
    /// Each project's golden key.
    pub golden: BTreeSet<String>,
    /// The layer folders of every stack.
    pub layers: BTreeSet<std::path::PathBuf>,
}

/// The keys of every configured project's current stack (and `default`'s).
pub(super) fn used_keys(ctx: &mut Ctx<'_>) -> Result<Used> {
    let catalog = ctx.catalog()?;
    let config = ctx.config(&catalog)?;
    // Keys depend on neither the identity nor the cached disks.
    let facts = HostFacts { cached_disks: BTreeMap::new(), ..host::facts(&ctx.paths, Identity::default())? };
    let mut projects: Vec<_> = config.projects.values().cloned().collect();
    if !config.projects.contains_key(DEFAULT_PROJECT) {
        projects.extend(config.project(DEFAULT_PROJECT));
    }
    let mut used = Used::default();
    for project in &projects {
        let stack = compile::compile(project, &catalog, &facts).map_err(|e| {
            Error::failure(format!("cannot tell which disks project `{}` uses", project.name))
                .caused_by(e)
                .hint("fix that project, or remove every disk with `machine cache prune --all`")
        })?;
        used.baked.extend(stack.layers.iter().map(|l| l.key.full().to_string()));
        used.layers.extend(stack.layers.iter().map(|l| l.dir.clone()));
        let repos: Vec<String> = project.repos.iter().map(|r| r.as_str().to_string()).collect();
        used.golden.insert(golden::key_for(stack.key().full(), &stack.instance_yaml, &repos));
    }
    Ok(used)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
