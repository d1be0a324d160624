//! `machine list [--json]`: Lima's instances and the configured projects, in one view.

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

struct Row {
    name: String,
    status: String,
    configured: bool,
    cpus: Option<u32>,
    memory: Option<u64>,
    disk: Option<u64>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
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
            return Ok(unknown_states(args, ctx, &config));
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
    Ok(print(args, ctx, rows))
}

/// The configured projects, each with its VM's state unknown.
fn unknown_states(args: &Args, ctx: &mut Ctx<'_>, config: &crate::config::Config) -> i32 {
    let rows = config
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
        .collect();
    print(args, ctx, rows)
}

fn print(args: &Args, ctx: &mut Ctx<'_>, mut rows: Vec<Row>) -> i32 {
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| json!({"name": r.name, "status": r.status, "configured": r.configured, "cpus": r.cpus, "memory": r.memory, "disk": r.disk}))
            .collect();
        ctx.ui.data(&format!("{:#}", json!({ "projects": list })));
        return 0;
    }
    if rows.is_empty() {
        ctx.ui.note("no VMs and no configured projects yet: `machine up` creates the `default` VM");
        return 0;
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out =
        format!("{:width$}  {:11}  {:>4}  {:>7}  {:>7}  CONFIGURED", "NAME", "STATUS", "CPUS", "MEMORY", "DISK");
    for r in &rows {
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
