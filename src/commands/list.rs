//! `machine list [--json]`: Lima's instances and the configured projects, in one view; branch
//! VMs under their project, by the branch as written. [`rows`] is that view as data, for the
//! MCP server's `list_projects` and `status` too.

use serde_json::json;

use super::Ctx;
use crate::error::Result;

/// List VMs and configured projects that have none yet.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One VM or configured project: an entry of `list --json`'s `projects`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Row {
    /// As the user writes it: the project's name for its own VM, `PROJECT@BRANCH` for a branch VM.
    pub name: String,
    /// The Lima instance (the project's name for its own VM).
    pub instance: String,
    /// The project the VM belongs to.
    pub project: String,
    /// The branch of a branch VM, as written; null for a project's own VM.
    pub branch: Option<String>,
    /// Lima's status of the VM (`Running`, `Stopped`, …), `not created`, or `unknown` without limactl.
    pub status: String,
    /// Whether projects.toml defines the project (Lima VMs it does not define are listed too).
    pub configured: bool,
    /// The VM's CPUs, when it exists.
    pub cpus: Option<u32>,
    /// The VM's memory in bytes, when it exists.
    pub memory: Option<u64>,
    /// The VM's disk size in bytes, when it exists.
    pub disk: Option<u64>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let rows = rows(ctx)?;
    Ok(print(args, ctx, &rows))
}

/// Every VM and configured project; a branch VM right after its project.
pub fn rows(ctx: &mut Ctx<'_>) -> Result<Vec<Row>> {
    let catalog = ctx.catalog()?;
    let config = ctx.config(&catalog)?;
    // Without Lima, the configured projects are still worth showing.
    let instances = match ctx.lima()?.instances() {
        Ok(instances) => instances,
        Err(e) if e.is_missing("limactl") => {
            ctx.ui.warn(&format!(
                "limactl is not on PATH, so the VMs' states are unknown\n  hint: {}",
                crate::driver::exec::install_hint("limactl")
            ));
            return Ok(unknown_states(&config));
        }
        Err(e) => return Err(e),
    };
    let branches: std::collections::BTreeMap<String, (String, String)> =
        crate::driver::project_state::records(&ctx.paths.state_dir)
            .into_iter()
            .filter_map(|(name, a)| Some((name, (a.project.clone(), a.branch?))))
            .collect();
    let mut rows: Vec<Row> = instances
        .iter()
        .map(|i| {
            let (project, branch) =
                branches.get(&i.name).cloned().map_or((i.name.clone(), None), |(p, b)| (p, Some(b)));
            Row {
                name: branch.as_ref().map_or_else(|| project.clone(), |b| format!("{project}@{b}")),
                instance: i.name.clone(),
                configured: config.projects.contains_key(&project),
                project,
                branch,
                status: i.status.as_str().to_string(),
                cpus: Some(i.cpus),
                memory: Some(i.memory),
                disk: Some(i.disk),
            }
        })
        .collect();
    for name in config.projects.keys().filter(|n| !instances.iter().any(|i| &i.name == *n)) {
        rows.push(not_running(name, "not created"));
    }
    rows.sort_by(|a, b| (&a.project, &a.branch).cmp(&(&b.project, &b.branch)));
    Ok(rows)
}

fn not_running(name: &str, status: &str) -> Row {
    Row {
        name: name.to_string(),
        instance: name.to_string(),
        project: name.to_string(),
        branch: None,
        status: status.into(),
        configured: true,
        cpus: None,
        memory: None,
        disk: None,
    }
}

/// The configured projects (by name: they are a sorted map), each with its VM's state unknown.
fn unknown_states(config: &crate::compiler::config::Config) -> Vec<Row> {
    config.projects.keys().map(|name| not_running(name, "unknown")).collect()
}

fn print(args: &Args, ctx: &mut Ctx<'_>, rows: &[Row]) -> i32 {
    if args.json {
        ctx.ui.data(&format!("{:#}", json!({ "projects": rows })));
        return 0;
    }
    if rows.is_empty() {
        ctx.ui.note("no VMs and no configured projects yet: `machine up` creates the `default` VM");
        return 0;
    }
    // A branch VM is shown as `  @branch` under its project.
    let label = |r: &Row| r.branch.as_ref().map_or_else(|| r.name.clone(), |b| format!("  @{b}"));
    let width = rows.iter().map(|r| label(r).chars().count()).max().unwrap_or(4).max(4);
    let mut out =
        format!("{:width$}  {:11}  {:>4}  {:>7}  {:>7}  CONFIGURED", "NAME", "STATUS", "CPUS", "MEMORY", "DISK");
    for r in rows {
        let gib = |b: Option<u64>| b.map_or_else(|| "-".to_string(), |b| format!("{}GiB", b >> 30));
        let cpus = r.cpus.map_or_else(|| "-".to_string(), |c| c.to_string());
        let configured = if r.configured { "yes" } else { "no" };
        out.push_str(&format!(
            "\n{:width$}  {:11}  {cpus:>4}  {:>7}  {:>7}  {configured}",
            label(r),
            r.status,
            gib(r.memory),
            gib(r.disk)
        ));
    }
    ctx.ui.data(&out);
    0
}
