//! `machine render [PROJECT] [--json]`: compile a project's stack, write it, print it.

use serde_json::json;

use super::Ctx;
use crate::compile::{self, Stack};
use crate::config::model::DEFAULT_PROJECT;
use crate::error::{Error, Result};
use crate::{host, identity, stack};

/// Print the Lima template stack `up` would create, without touching Lima.
///
/// The stack is written to the state dir (layers are content-addressed, so this is idempotent),
/// so it can be checked with `limactl validate <path>`.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  machine render            # the .machine.toml project here, else `default`\n  machine render blog --json"
)]
pub struct Args {
    /// The project (default: the .machine.toml project here, else `default`).
    #[arg(conflicts_with = "all")]
    pub project: Option<String>,
    /// Every configured project (with --json: one array of objects).
    #[arg(long)]
    pub all: bool,
    /// Print one JSON object instead of YAML.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<()> {
    let catalog = ctx.catalog()?;
    let config = ctx.config(&catalog)?;
    if let Some(note) = config.local_file_note() {
        ctx.ui.note(&note);
    }
    let names: Vec<String> = if args.all {
        config.projects.keys().cloned().collect()
    } else {
        vec![
            args.project
                .clone()
                .or_else(|| config.local_project.clone())
                .unwrap_or_else(|| DEFAULT_PROJECT.to_string()),
        ]
    };
    let projects = names
        .iter()
        .map(|name| {
            config.project(name).ok_or_else(|| {
                let known: Vec<&str> = config.projects.keys().map(String::as_str).collect();
                let listed = if known.is_empty() { "none yet".to_string() } else { known.join(", ") };
                Error::usage(format!("no project `{name}` in {}", config.projects_file.display()))
                    .hint(format!("configured projects: {listed}; `default` always exists"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // One identity and one look at the cache for every project.
    let resolved = identity::resolve(ctx.env, ctx.runner);
    if let Some(invalid) = resolved.invalid.into_iter().next() {
        return Err(invalid);
    }
    for problem in &resolved.problems {
        ctx.ui.warn(&problem.to_string());
    }
    let facts = host::facts(&ctx.paths, resolved.identity)?;
    let mut stacks = Vec::new();
    for project in &projects {
        let stack = compile::compile(project, &catalog, &facts)?;
        stack::write(&stack)?;
        for warning in &stack.warnings {
            ctx.ui.warn(warning);
        }
        stacks.push(stack);
    }
    if args.json {
        let json = if args.all { json!(stacks.iter().map(to_json).collect::<Vec<_>>()) } else { to_json(&stacks[0]) };
        ctx.ui.data(&format!("{json:#}"));
    } else {
        for stack in &stacks {
            ctx.ui.data(&to_text(stack));
            ctx.ui.note(&format!("check it with: limactl validate {}", stack.instance_path.display()));
        }
    }
    Ok(())
}

/// Each file under a `==> path <==` header, lowest layer first, the instance last.
pub fn to_text(stack: &Stack) -> String {
    let mut out = String::new();
    let total = stack.layers.len();
    for (i, layer) in stack.layers.iter().enumerate() {
        out.push_str(&format!("==> {} <==\n", layer.path().display()));
        out.push_str(&format!(
            "# layer {}/{total}: {} ({}), key {}\n",
            i + 1,
            layer.name,
            layer.origin,
            layer.key.short()
        ));
        out.push_str(&layer.yaml);
        for (rel, bytes) in &layer.files {
            out.push_str(&format!("# + {} ({} bytes)\n", layer.dir.join(rel).display(), bytes.len()));
        }
        out.push('\n');
    }
    out.push_str(&format!("==> {} <==\n", stack.instance_path.display()));
    out.push_str(&stack.instance_yaml);
    out
}

/// The stable `--json` shape (documented in the README).
pub fn to_json(stack: &Stack) -> serde_json::Value {
    let layers: Vec<_> = stack
        .layers
        .iter()
        .map(|l| {
            let files: Vec<_> = l
                .files
                .iter()
                .map(|(rel, bytes)| json!({"path": l.dir.join(rel), "bytes": bytes.len()}))
                .collect();
            json!({"name": l.name, "origin": l.origin, "key": l.key.full(), "path": l.path(), "content": l.yaml, "files": files})
        })
        .collect();
    json!({
        "project": stack.project,
        "vmType": stack.vm_type.as_str(),
        "arch": stack.arch.as_str(),
        "key": stack.key().full(),
        "layers": layers,
        "instance": {"path": stack.instance_path, "content": stack.instance_yaml},
        "cachedDisk": stack.cached_disk.as_ref().map(|(n, p)| json!({"path": p, "layers": n})),
        "warnings": stack.warnings,
    })
}
