//! `machine list [--json]`: Lima's instances and the configured projects, in one view; branch
//! VMs under their project, by the branch as written.

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
    /// The Lima instance (the project's name for its own VM).
    name: String,
    /// For a branch VM: its project and branch, from machine's record.
    branch: Option<(String, String)>,
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
    let branches: std::collections::BTreeMap<String, (String, String)> =
        crate::project_state::records(&ctx.paths.state_dir)
            .into_iter()
            .filter_map(|(name, a)| Some((name, (a.project.clone(), a.branch?))))
            .collect();
    let mut rows: Vec<Row> = instances
        .iter()
        .map(|i| Row {
            name: i.name.clone(),
            branch: branches.get(&i.name).cloned(),
            status: i.status.as_str().to_string(),
            configured: config.projects.contains_key(branches.get(&i.name).map_or(&i.name, |(project, _)| project)),
            cpus: Some(i.cpus),
            memory: Some(i.memory),
            disk: Some(i.disk),
        })
        .collect();
    for name in config.projects.keys().filter(|n| !instances.iter().any(|i| &i.name == *n)) {
        rows.push(Row {
            name: name.clone(),
            branch: None,
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
            branch: None,
            status: "unknown".into(),
            configured: true,
            cpus: None,
            memory: None,
            disk: None,
        })
        .collect();
    print(args, ctx, rows)
}

impl Row {
    /// Sorts a branch VM right after its project's own VM.
    fn order(&self) -> (&str, Option<&str>) {
        match &self.branch {
            Some((project, branch)) => (project, Some(branch)),
            None => (&self.name, None),
        }
    }

    /// `blog`, or `blog@feature/x` for a branch VM.
    fn shown(&self) -> String {
        self.branch.as_ref().map_or_else(|| self.name.clone(), |(p, b)| format!("{p}@{b}"))
    }
}

fn print(args: &Args, ctx: &mut Ctx<'_>, mut rows: Vec<Row>) -> i32 {
    rows.sort_by(|a, b| a.order().cmp(&b.order()));
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                let (project, branch) = r.branch.clone().map_or((r.name.clone(), None), |(p, b)| (p, Some(b)));
                json!({"name": r.shown(), "instance": r.name, "project": project, "branch": branch, "status": r.status, "configured": r.configured, "cpus": r.cpus, "memory": r.memory, "disk": r.disk})
            })
            .collect();
        ctx.ui.data(&format!("{:#}", json!({ "projects": list })));
        return 0;
    }
    if rows.is_empty() {
        ctx.ui.note("no VMs and no configured projects yet: `machine up` creates the `default` VM");
        return 0;
    }
    // A branch VM is shown as `  @branch` under its project.
    let label = |r: &Row| r.branch.as_ref().map_or_else(|| r.name.clone(), |(_, b)| format!("  @{b}"));
    let width = rows.iter().map(|r| label(r).chars().count()).max().unwrap_or(4).max(4);
    let mut out =
        format!("{:width$}  {:11}  {:>4}  {:>7}  {:>7}  CONFIGURED", "NAME", "STATUS", "CPUS", "MEMORY", "DISK");
    for r in &rows {
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
