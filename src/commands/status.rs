//! `machine status [PROJECT[@BRANCH]] [--json]`: what a VM is, whether it still matches the
//! configuration, and what its repos hold. Without a target: one line per VM machine made.
//!
//! The JSON (`"format": "machine-status/1"`) is documented in ARCHITECTURE.md and stays
//! compatible: fields are only ever added.

use serde::Serialize;
use serde_json::json;

use super::{Ctx, Target};
use crate::compiler::compile::HostFacts;
use crate::compiler::layers::Catalog;
use crate::driver::bake;
use crate::driver::lima::Instance;
use crate::driver::project_state::{Applied, ProjectDir, records};
use crate::driver::vm::Lima;
use crate::error::Result;
use crate::guest::report::{Facts, RepoState};

pub const FORMAT: &str = "machine-status/1";

/// Show a VM's state, drift, provisioning, disk, agent and repos (every VM without a target).
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  machine status                    # one line per VM\n  machine status blog@feature/login\n  machine status blog --json        # documented, stable fields (ARCHITECTURE.md)"
)]
pub struct Args {
    /// The VM: PROJECT or PROJECT@BRANCH (default: every VM machine made).
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One VM, as `status` reports it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct VmStatus {
    /// As the user writes it: `blog` or `blog@feature/x`.
    pub name: String,
    pub project: String,
    pub branch: Option<String>,
    /// The Lima instance.
    pub instance: String,
    /// Lima's status (`Running`, `Stopped`, `Broken`, …), or `not created`.
    pub state: String,
    /// Lima's vmType (`qemu`, `vz`).
    pub driver: Option<String>,
    /// `current`, `drifted`, or `unknown` (no record, or the configuration does not compile).
    pub stack: &'static str,
    /// What drifted, or why the stack is unknown.
    pub drift: Option<String>,
    /// Whether the last boot's provisioning succeeded (`None`: no record).
    pub provisioned: Option<bool>,
    /// When machine last used the VM (`up`, `ssh`, `run`, an agent session), seconds since the epoch.
    pub last_used: Option<u64>,
    /// Bytes the VM's disk takes on the host.
    pub disk_allocated: Option<u64>,
    /// The golden disk the VM was made from.
    pub golden: Option<String>,
    /// What the guest reported (only for one running VM).
    pub guest: Option<Facts>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let catalog = ctx.catalog()?;
    let lima = ctx.lima()?;
    let instances = lima.instances()?;
    let list = match &args.project {
        Some(arg) => vec![one_of(ctx, &catalog, Some(arg), &instances)?],
        None => every(ctx, &catalog, &instances)?,
    };
    if args.json {
        ctx.ui.data(&format!("{:#}", json!({ "format": FORMAT, "vms": list })));
    } else if args.project.is_some() {
        ctx.ui.data(&detail(&list[0]));
    } else if list.is_empty() {
        ctx.ui.note("machine has made no VMs yet: `machine up` creates one");
    } else {
        ctx.ui.data(&table(&list));
    }
    Ok(0)
}

/// One VM (`PROJECT` or `PROJECT@BRANCH`), with the guest's report when it runs: what
/// `machine status TARGET --json` prints, and the MCP server's `status`.
pub fn one(ctx: &mut Ctx<'_>, arg: Option<&str>) -> Result<VmStatus> {
    let catalog = ctx.catalog()?;
    let instances = ctx.lima()?.instances()?;
    one_of(ctx, &catalog, arg, &instances)
}

/// [`one`], with Lima's instances already listed.
fn one_of(ctx: &mut Ctx<'_>, catalog: &Catalog, arg: Option<&str>, instances: &[Instance]) -> Result<VmStatus> {
    let config = ctx.config(catalog)?;
    let target = ctx.target_in(&config, arg, false)?;
    let applied = target.dir(&ctx.paths.state_dir).applied()?;
    let facts = host_facts(ctx);
    let mut status = of(ctx, catalog, &target, instances, applied, &facts);
    if status.state == "Running" {
        status.guest = Some(guest_facts(&ctx.lima()?, &target, &status));
    }
    Ok(status)
}

/// Every VM machine has a record of.
fn every(ctx: &mut Ctx<'_>, catalog: &Catalog, instances: &[Instance]) -> Result<Vec<VmStatus>> {
    let config = ctx.config(catalog)?;
    let facts = host_facts(ctx);
    let mut list = Vec::new();
    for (instance, applied) in records(&ctx.paths.state_dir) {
        let project_name = if applied.project.is_empty() { instance.clone() } else { applied.project.clone() };
        let project = config.project(&project_name).unwrap_or_else(|| config.implicit_project(&project_name));
        let shown = applied.branch.as_ref().map_or_else(|| project_name.clone(), |b| format!("{project_name}@{b}"));
        let target = Target { project, branch: applied.branch.clone(), instance, shown };
        list.push(of(ctx, catalog, &target, instances, Some(applied), &facts));
    }
    Ok(list)
}

/// This host's facts for every VM's compile, quietly (no identity checks); why not, as text.
fn host_facts(ctx: &Ctx<'_>) -> std::result::Result<HostFacts, String> {
    let identity = crate::driver::identity::resolve(ctx.env, ctx.runner).identity;
    crate::driver::host::facts(&ctx.paths, identity).map_err(|e| e.message().to_string())
}

/// What the host knows about one VM (no guest call), from its record.
fn of(
    ctx: &Ctx<'_>,
    catalog: &Catalog,
    target: &Target,
    instances: &[Instance],
    applied: Option<Applied>,
    facts: &std::result::Result<HostFacts, String>,
) -> VmStatus {
    let found = instances.iter().find(|i| i.name == target.instance);
    // A record without its Lima VM: deleted outside machine (`limactl delete`).
    let gone = found.is_none() && applied.as_ref().is_some_and(|a| !a.creating);
    let (stack, drift) = if gone {
        (
            "unknown",
            Some(format!(
                "the Lima VM is gone (deleted outside machine): `machine up {}` creates it again",
                target.shown
            )),
        )
    } else {
        drift(catalog, target, applied.as_ref(), facts)
    };
    VmStatus {
        name: target.shown.clone(),
        project: target.project.name.clone(),
        branch: target.branch.clone(),
        instance: target.instance.clone(),
        state: found.map_or_else(|| "not created".to_string(), |i| i.status.as_str().to_string()),
        driver: found.map(|i| i.vm_type.clone()),
        stack,
        drift,
        provisioned: applied.as_ref().filter(|_| !gone).map(|a| a.provisioned),
        last_used: ProjectDir::new(&ctx.paths.state_dir, &target.instance).last_used(),
        disk_allocated: found.map(|i| bake::allocated(&i.dir.join("disk"))),
        golden: applied.and_then(|a| a.golden),
        guest: None,
    }
}

/// Whether the VM's stack is the configuration's, quietly (no warnings, no identity checks).
fn drift(
    catalog: &Catalog,
    target: &Target,
    applied: Option<&Applied>,
    facts: &std::result::Result<HostFacts, String>,
) -> (&'static str, Option<String>) {
    let Some(applied) = applied else { return ("unknown", Some("machine has no record of this VM".into())) };
    let facts = match facts {
        Ok(facts) => facts,
        Err(e) => return ("unknown", Some(format!("the configuration does not compile: {e}"))),
    };
    // What `up` recorded as current for these very inputs needs no compile to confirm.
    if super::up::memo(Some(applied), &target.project, catalog, facts, &target.instance).1.is_some() {
        return ("current", None);
    }
    match crate::compiler::compile::compile(&target.project, catalog, facts) {
        Ok(stack) => match super::up::drift(applied, &stack, &target.shown) {
            None => ("current", None),
            Some(what) => ("drifted", Some(what)),
        },
        Err(e) => ("unknown", Some(format!("the configuration does not compile: {}", e.message()))),
    }
}

fn guest_facts(lima: &Lima<'_>, target: &Target, status: &VmStatus) -> Facts {
    let mut args = vec!["facts"];
    args.extend(target.project.repos.iter().map(crate::compiler::config::model::RepoUrl::dir_name));
    let cmd = lima.guest_cmd(&target.instance, &args).timeout(std::time::Duration::from_secs(20));
    match lima.runner.output(&cmd) {
        Ok(out) if out.success() => Facts::parse(&out.stdout_text()),
        Ok(out) => {
            tracing::warn!("`{cmd}` failed in {}: {}", status.name, String::from_utf8_lossy(&out.stderr).trim());
            Facts::default()
        }
        Err(e) => {
            tracing::warn!("`{cmd}`: {e}");
            Facts::default()
        }
    }
}

fn table(list: &[VmStatus]) -> String {
    let width = list.iter().map(|s| s.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!(
        "{:width$}  {:11}  {:6}  {:8}  {:11}  {:>8}  LAST USED",
        "NAME", "STATE", "DRIVER", "STACK", "PROVISIONED", "DISK"
    );
    let now = crate::driver::project_state::now_secs();
    for s in list {
        let provisioned = match s.provisioned {
            Some(true) => "yes",
            Some(false) => "no",
            None => "?",
        };
        let disk = s.disk_allocated.map_or_else(|| "-".into(), bake::human_size);
        let used = s.last_used.map_or_else(|| "-".into(), |t| format!("{} ago", bake::age(t, now)));
        out.push_str(&format!(
            "\n{:width$}  {:11}  {:6}  {:8}  {provisioned:11}  {disk:>8}  {used}",
            s.name,
            s.state,
            s.driver.as_deref().unwrap_or("-"),
            s.stack,
        ));
    }
    out
}

fn detail(s: &VmStatus) -> String {
    let mut out = format!("{} (Lima instance {})\n", s.name, s.instance);
    let line = |out: &mut String, key: &str, value: &str| out.push_str(&format!("  {key:12} {value}\n"));
    line(&mut out, "state", &format!("{}{}", s.state, s.driver.as_ref().map_or(String::new(), |d| format!(" ({d})"))));
    line(&mut out, "stack", s.stack);
    if let Some(drift) = &s.drift {
        out.push_str(&format!("    {}\n", drift.replace('\n', "\n    ")));
    }
    let provisioned = match s.provisioned {
        Some(true) => "yes, the last boot provisioned cleanly",
        Some(false) => "no: the last boot's provisioning failed or did not finish",
        None => "unknown",
    };
    line(&mut out, "provisioned", provisioned);
    let now = crate::driver::project_state::now_secs();
    if let Some(t) = s.last_used {
        line(&mut out, "last used", &format!("{} ago", bake::age(t, now)));
    }
    if let Some(bytes) = s.disk_allocated {
        line(&mut out, "disk (host)", &bake::human_size(bytes));
    }
    if let Some(g) = &s.golden {
        line(&mut out, "made from", &format!("golden disk {}", &g[..16.min(g.len())]));
    }
    if let Some(facts) = &s.guest {
        guest_lines(&mut out, facts);
    }
    out.trim_end().to_string()
}

fn guest_lines(out: &mut String, f: &Facts) {
    let line = |out: &mut String, key: &str, value: &str| out.push_str(&format!("  {key:12} {value}\n"));
    if let Some(up) = f.uptime_seconds {
        line(out, "uptime", &bake::age(0, up));
    }
    if let (Some(used), Some(size)) = (f.disk_used, f.disk_size) {
        line(out, "disk (guest)", &format!("{} used of {}", bake::human_size(used), bake::human_size(size)));
    }
    if let Some(p) = &f.provision {
        line(out, "this boot", p);
    }
    let agent = match f.agent.as_deref() {
        Some(keys) if keys.starts_with("keys") => format!("works ({keys})"),
        Some("no-keys") => "reachable, but it holds no keys (`ssh-add` on the host)".into(),
        Some("unreachable") => "not reachable from inside (forwarding is off, or the ssh master is stale)".into(),
        _ => "unknown".into(),
    };
    line(out, "agent", &agent);
    for r in &f.repos {
        line(out, "repo", &repo_text(r));
    }
    if f.ignored > 0 {
        line(out, "note", &format!("{} line(s) of the guest's report had no known shape and were ignored", f.ignored));
    }
}

fn repo_text(r: &RepoState) -> String {
    let branch = r.branch.as_deref().unwrap_or("(detached)");
    let tracking = match (&r.upstream, r.ahead, r.behind) {
        (Some(u), Some(a), Some(b)) => format!("{u}, {a} ahead, {b} behind"),
        (Some(u), ..) => u.clone(),
        (None, ..) => "not pushed".into(),
    };
    let dirty = if r.dirty { ", uncommitted changes" } else { "" };
    let unpushed = if r.unpushed > 0 { format!(", {} commit(s) on no remote", r.unpushed) } else { String::new() };
    format!("~/code/{} on {branch} ({tracking}{dirty}{unpushed})", r.dir)
}
