//! `machine prune [--older-than 30d] [--merged] [--dry-run] [-y] [--force]`: branch VMs nobody
//! uses (or whose branch is merged), what interrupted bakes and copies left, and the disks and
//! layer folders no configured project uses, with what each frees.

use std::time::Duration;

use super::cache::{self, Used};
use super::{Ctx, Target};
use crate::compiler::config::model::RepoUrl;
use crate::driver::bake::{self, Removed};
use crate::driver::lima::Instance;
use crate::driver::project_state::{Applied, ProjectDir, now_secs, records};
use crate::driver::vm::Lima;
use crate::driver::{golden, stack};
use crate::error::{Error, Result};
use crate::guest::report::BranchState;

/// Remove unused branch VMs, leftover bake VMs, unused golden and baked disks and layer folders.
#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // independent command-line flags
#[command(
    after_long_help = "A branch VM goes when it was not used (up, ssh, run, claude, codex) for longer than --older-than, or, with --merged, when its branch is merged into the remote's default branch or was deleted there after a push. A VM whose repos hold uncommitted changes or commits on no remote is kept unless --force; so is a stopped VM whose repos machine could not check when it stopped.\n\nExamples:\n  machine prune --dry-run\n  machine prune --older-than 7d --merged -y"
)]
pub struct Args {
    /// Remove branch VMs unused for this long: a number and s, m, h, d or w.
    #[arg(long, value_name = "AGE", default_value = "30d", value_parser = parse_age)]
    pub older_than: Duration,
    /// Also remove branch VMs whose branch is merged, or was deleted upstream after a push.
    #[arg(long)]
    pub merged: bool,
    /// Say what would be removed and freed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before removing.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// Remove branch VMs even when their repos hold work that exists nowhere else.
    #[arg(long)]
    pub force: bool,
}

/// A layer folder younger than this may belong to an `up` between writing it and creating.
const LAYER_GRACE: Duration = Duration::from_hours(1);

/// `30d`, `12h`, `90m`, `2w`, `45s`.
pub fn parse_age(text: &str) -> std::result::Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 =
        number.parse().map_err(|_| format!("`{text}` is not an age: write a number and s, m, h, d or w (30d)"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "" => return Err(format!("`{text}` has no unit: write a number and s, m, h, d or w (30d)")),
        _ => {
            return Err(format!("`{text}`: `{unit}` is not a unit machine knows; use s, m, h, d or w (a year is 52w)"));
        }
    };
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(|| format!("`{text}` is too long an age"))
}

/// A branch VM that goes, and why.
struct Doomed {
    target: Target,
    why: String,
    bytes: u64,
    /// Held until the VM is deleted: no other machine command starts on it meanwhile.
    _lock: crate::driver::lock::Lock,
}

#[derive(Default)]
struct Plan {
    vms: Vec<Doomed>,
    disks: Vec<bake::Entry>,
    goldens: Vec<golden::Entry>,
    layers: Vec<(std::path::PathBuf, u64)>,
    debris: Vec<Removed>,
}

impl Plan {
    fn lines(&self) -> Vec<Removed> {
        let mut out: Vec<Removed> = self
            .vms
            .iter()
            .map(|d| Removed { what: format!("branch VM `{}` ({})", d.target.shown, d.why), bytes: d.bytes })
            .collect();
        out.extend(
            self.disks.iter().map(|e| Removed { what: format!("baked disk {}", &e.key[..16]), bytes: e.allocated }),
        );
        out.extend(
            self.goldens.iter().map(|g| Removed { what: format!("golden disk {}", &g.key[..16]), bytes: g.allocated }),
        );
        out.extend(
            self.layers
                .iter()
                .map(|(p, b)| Removed { what: format!("unused layer folder {}", p.display()), bytes: *b }),
        );
        out.extend(self.debris.iter().map(|d| Removed { what: d.what.clone(), bytes: d.bytes }));
        out
    }
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let lima = ctx.lima()?;
    let instances = lima.instances()?;
    let used = cache::used_keys(ctx)?;
    let mut plan = Plan { vms: branch_vms(args, ctx, &lima, &instances)?, ..Plan::default() };
    unused_disks(ctx, &used, &mut plan);
    plan.debris = bake::debris_preview(&lima, &ctx.paths.cache_dir, &ctx.paths.state_dir)?;
    plan.debris.extend(
        golden::debris(&ctx.paths.cache_dir)
            .into_iter()
            .map(|(p, bytes)| Removed { what: format!("{}, left by an interrupted copy", p.display()), bytes }),
    );
    plan.debris.extend(cache::render_debris_preview(ctx));
    let lines = plan.lines();
    if lines.is_empty() {
        ctx.ui.data("nothing to prune");
        return Ok(0);
    }
    if args.dry_run {
        let mut out = String::new();
        for r in &lines {
            out.push_str(&format!("would remove {:>8}  {}\n", bake::human_size(r.bytes), r.what));
        }
        out.push_str(&format!("would free {}", bake::human_size(lines.iter().map(|r| r.bytes).sum())));
        ctx.ui.data(&out);
        return Ok(0);
    }
    if !args.yes {
        for r in &lines {
            ctx.ui.note(&format!("  {:>8}  {}", bake::human_size(r.bytes), r.what));
        }
        if !ctx.confirm(&format!("Remove these {} item(s)?", lines.len()))? {
            return Err(Error::failure("aborted: nothing was removed"));
        }
    }
    let removed = execute(ctx, &lima, plan)?;
    cache::report(ctx, &removed);
    Ok(0)
}

/// The branch VMs to remove; the ones kept despite a reason are named on stderr.
fn branch_vms(args: &Args, ctx: &mut Ctx<'_>, lima: &Lima<'_>, instances: &[Instance]) -> Result<Vec<Doomed>> {
    let catalog = ctx.catalog()?;
    let config = ctx.config(&catalog)?;
    let now = now_secs();
    let mut doomed = Vec::new();
    for (instance, applied) in records(&ctx.paths.state_dir) {
        let Some(branch) = applied.branch.clone() else { continue };
        let project_name = if applied.project.is_empty() { instance.clone() } else { applied.project.clone() };
        let project = config.project(&project_name).unwrap_or_else(|| config.implicit_project(&project_name));
        let target = Target { project, shown: format!("{project_name}@{branch}"), branch: Some(branch), instance };
        let dir = target.dir(&ctx.paths.state_dir);
        let Some(lock) = dir.try_lock()? else {
            ctx.ui.note(&format!("keeping `{}`: another machine command is using it", target.shown));
            continue;
        };
        let found = instances.iter().find(|i| i.name == target.instance);
        let Some(why) = reason(args, ctx, lima, &target, &applied, found, now) else { continue };
        if !args.force
            && let Some(kept) = own_work(lima, &target, &applied, found)
        {
            ctx.ui.note(&format!("keeping `{}` ({why}): {kept} (--force removes it anyway)", target.shown));
            continue;
        }
        let bytes = found.map_or(0, |i| bake::allocated(&i.dir.join("disk")));
        doomed.push(Doomed { target, why, bytes, _lock: lock });
    }
    Ok(doomed)
}

/// Why the VM should go, if it should.
fn reason(
    args: &Args,
    ctx: &Ctx<'_>,
    lima: &Lima<'_>,
    target: &Target,
    applied: &Applied,
    found: Option<&Instance>,
    now: u64,
) -> Option<String> {
    let dir = target.dir(&ctx.paths.state_dir);
    // Never used since it was made: count from when its record was written.
    let last = dir.last_used().or_else(|| modified_secs(&dir.path().join("applied.json")));
    if let Some(last) = last
        && now.saturating_sub(last) >= args.older_than.as_secs()
    {
        return Some(format!("unused for {}", bake::age(last, now)));
    }
    if !args.merged {
        return None;
    }
    let branch = target.branch.as_deref()?;
    match found {
        Some(i) if i.is_running() => {
            let primary = target.project.primary_dir().or_else(|| applied.cloned.first().map(String::as_str))?;
            let out = lima.guest(&target.instance, &["branch-state", primary, branch]).ok()?;
            match BranchState::parse(&out.stdout_text(), branch)? {
                BranchState::Merged => Some("its branch is merged".into()),
                BranchState::Gone => Some("its branch was deleted upstream".into()),
                BranchState::Open => None,
            }
        }
        // A stopped VM: the branch is gone when it was pushed and the remote no longer has it.
        _ => {
            let pushed = applied.at_stop.as_ref().is_some_and(|w| w.pushed);
            let url: &RepoUrl = target.project.repos.first()?;
            let user_ssh = (ctx.env)("GIT_SSH_COMMAND");
            let has = crate::driver::repo_access::has_branch(ctx.runner, url, branch, user_ssh.as_ref()).ok()?;
            (pushed && !has).then(|| "its branch was deleted upstream".into())
        }
    }
}

/// Why the VM must be kept for its work, if it must (`None`: nothing of its own, or no VM).
fn own_work(lima: &Lima<'_>, target: &Target, applied: &Applied, found: Option<&Instance>) -> Option<String> {
    let found = found?;
    if !found.is_running() {
        return match &applied.at_stop {
            Some(w) if w.own_work => Some("its repos held uncommitted or unpushed work when it stopped".into()),
            Some(_) => None,
            None => Some(format!(
                "machine could not check its repos when it stopped (`machine up {0}` then `machine down {0}` checks them)",
                target.shown
            )),
        };
    }
    let mut args = vec!["unpushed"];
    args.extend(applied.cloned.iter().map(String::as_str));
    match lima.guest(&target.instance, &args) {
        Ok(out) if out.success() => None,
        Ok(out) if out.code == Some(1) => Some(format!(
            "its repos hold work that exists nowhere else ({})",
            out.stdout_text().lines().collect::<Vec<_>>().join(", ")
        )),
        _ => Some("its repos could not be checked".into()),
    }
}

fn modified_secs(path: &std::path::Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    modified.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
}

fn unused_disks(ctx: &Ctx<'_>, used: &Used, plan: &mut Plan) {
    plan.disks = bake::entries(&ctx.paths.cache_dir).into_iter().filter(|e| !used.baked.contains(&e.key)).collect();
    plan.goldens =
        golden::entries(&ctx.paths.cache_dir).into_iter().filter(|g| !used.golden.contains(&g.key)).collect();
    plan.layers = stack::unused_layers(&ctx.paths.state_dir.join("layers"), &used.layers, LAYER_GRACE);
}

fn execute(ctx: &mut Ctx<'_>, lima: &Lima<'_>, plan: Plan) -> Result<Vec<Removed>> {
    let mut removed = Vec::new();
    for d in plan.vms {
        if lima.instance(&d.target.instance)?.is_some() {
            let step = ctx.ui.step(&format!("deleting VM `{}`", d.target.shown));
            let deleted = lima.delete(&d.target.instance, true);
            ctx.ui.end_step(step, deleted.is_ok());
            deleted?;
        }
        ctx.release_host_channels(&d.target.instance);
        ProjectDir::new(&ctx.paths.state_dir, &d.target.instance).remove()?;
        removed.push(Removed { what: format!("branch VM `{}` ({})", d.target.shown, d.why), bytes: d.bytes });
    }
    for e in &plan.disks {
        if bake::remove_disk(&ctx.paths.cache_dir, e)? {
            removed.push(Removed { what: format!("baked disk {}", &e.key[..16]), bytes: e.allocated });
        }
    }
    for g in &plan.goldens {
        if let Some(bytes) = golden::remove(&ctx.paths.cache_dir, g)? {
            removed.push(Removed { what: format!("golden disk {}", &g.key[..16]), bytes });
        }
    }
    for (path, bytes) in stack::remove_all(plan.layers) {
        removed.push(Removed { what: format!("unused layer folder {}", path.display()), bytes });
    }
    removed.extend(bake::clean_debris(lima, &ctx.paths.cache_dir, &ctx.paths.state_dir)?);
    removed.extend(cache::debris(ctx));
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_hours(30 * 24)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_hours(12)));
        assert_eq!(parse_age("2w"), Ok(Duration::from_hours(14 * 24)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        for bad in ["", "d", "30", "30x", "-1d", "1.5d", "30 d", "99999999999999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
        assert!(parse_age("30").unwrap_err().contains("no unit"));
        assert!(parse_age("1y").unwrap_err().contains("`y` is not a unit machine knows; use s, m, h, d or w"));
    }
}
