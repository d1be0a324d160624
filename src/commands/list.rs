//! `machine list [--json]`: Lima's instances and the configured projects, in one view.
//! [`rows`] is that view as data, for the MCP server's `list_projects` and `status` too.

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
    /// The project's name, which is also its VM's.
    pub name: String,
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

/// Every VM and configured project, by name.
pub fn rows(ctx: &mut Ctx<'_>) -> Result<Vec<Row>> {
    let catalog = ctx.catalog()?;
    let config = ctx.config(&catalog)?;
    // Without Lima, the configured projects are still worth showing.
    let instances = match ctx.lima()?.instances() {
        Ok(instances) => instances,
        Err(e) if e.is_missing("limactl") => {
            ctx.ui.warn(&format!(
                "limactl is not on PATH, so the VMs' states are unknown\n  hint: {}",
                crate::exec::install_hint("limactl")
            ));
            return Ok(unknown_states(&config));
        }
        Err(e) => return Err(e),
    };
    let mut rows: Vec<Row> = instances
        .iter()
        .map(|i| Row {
            name: i.name.clone(),
            status: i.status.as_str().to_string(),
            configured: config.projects.contains_key(&i.name),
            cpus: Some(i.cpus),
            memory: Some(i.memory),
            disk: Some(i.disk),
        })
        .collect();
    for name in config.projects.keys().filter(|n| !instances.iter().any(|i| &i.name == *n)) {
        rows.push(Row {
            name: name.clone(),
            status: "not created".into(),
            configured: true,
            cpus: None,
            memory: None,
            disk: None,
        });
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// The configured projects (by name: they are a sorted map), each with its VM's state unknown.
fn unknown_states(config: &crate::config::Config) -> Vec<Row> {
    config
        .projects
        .keys()
        .map(|name| Row {
            name: name.clone(),
            status: "unknown".into(),
            configured: true,
            cpus: None,
            memory: None,
            disk: None,
        })
        .collect()
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
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out =
        format!("{:width$}  {:11}  {:>4}  {:>7}  {:>7}  CONFIGURED", "NAME", "STATUS", "CPUS", "MEMORY", "DISK");
    for r in rows {
        let gib = |b: Option<u64>| b.map_or_else(|| "-".to_string(), |b| format!("{}GiB", b >> 30));
        let cpus = r.cpus.map_or_else(|| "-".to_string(), |c| c.to_string());
        let configured = if r.configured { "yes" } else { "no" };
        out.push_str(&format!(
            "\n{:width$}  {:11}  {cpus:>4}  {:>7}  {:>7}  {configured}",
            r.name,
            r.status,
            gib(r.memory),
            gib(r.disk)
        ));
    }
    ctx.ui.data(&out);
    0
}
