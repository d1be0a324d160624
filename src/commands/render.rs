//! `machine render [PROJECT] [--json]`: compile a project's stack, write it, print it. [`stacks`]
//! and [`StackJson`] are the same for the MCP server's `render` tool and stack resources.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::Ctx;
use crate::compiler::compile::{self, Stack};
use crate::compiler::config::model::DEFAULT_PROJECT;
use crate::driver::{host, identity, stack};
use crate::error::Result;

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
    let stacks = stacks(args, ctx)?;
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

/// Compiles and writes the stack of `args`' project (or of every configured one, with `all`),
/// saying which `.machine.toml` was read and warning as the compiler does.
pub fn stacks(args: &Args, ctx: &mut Ctx<'_>) -> Result<Vec<Stack>> {
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
            super::not_a_branch(name)?;
            config.project(name).ok_or_else(|| super::unknown_project(&config, name))
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
    Ok(stacks)
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
    serde_json::to_value(StackJson::new(stack)).expect("a stack's paths are text")
}

/// A compiled stack as `render --json` prints it (and the MCP server's `render` returns it).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StackJson {
    /// The project.
    pub project: String,
    /// Lima's `vmType` (`vz` or `qemu`).
    pub vm_type: String,
    /// The guest architecture (`aarch64` or `x86_64`).
    pub arch: String,
    /// The chain key of the whole stack (it changes with any layer).
    pub key: String,
    /// The layers, lowest first.
    pub layers: Vec<LayerJson>,
    /// The instance's own `lima.yaml`, which `base:`s the top layer.
    pub instance: FileJson,
    /// The baked disk the VM would boot from, if the cache has one.
    pub cached_disk: Option<CachedDiskJson>,
    /// What the compiler warned about.
    pub warnings: Vec<String>,
}

/// One layer of a stack.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LayerJson {
    /// The layer's name.
    pub name: String,
    /// `built-in`, or the user profile's path.
    pub origin: String,
    /// The layer's chain key.
    pub key: String,
    /// Where its `lima.yaml` is written.
    pub path: PathBuf,
    /// Its `lima.yaml`.
    pub content: String,
    /// The files its YAML names, written next to it.
    pub files: Vec<LayerFileJson>,
}

/// A file written next to a layer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LayerFileJson {
    /// Where it is written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
}

/// A written file and its text.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FileJson {
    /// Where it is written.
    pub path: PathBuf,
    /// Its text.
    pub content: String,
}

/// A baked disk in the cache.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CachedDiskJson {
    /// The disk image.
    pub path: PathBuf,
    /// How many of the stack's layers are baked into it.
    pub layers: usize,
}

impl StackJson {
    pub fn new(stack: &Stack) -> Self {
        let layers = stack
            .layers
            .iter()
            .map(|l| LayerJson {
                name: l.name.clone(),
                origin: l.origin.clone(),
                key: l.key.full().to_string(),
                path: l.path(),
                content: l.yaml.clone(),
                files: l
                    .files
                    .iter()
                    .map(|(rel, bytes)| LayerFileJson { path: l.dir.join(rel), bytes: bytes.len() })
                    .collect(),
            })
            .collect();
        Self {
            project: stack.project.clone(),
            vm_type: stack.vm_type.as_str().to_string(),
            arch: stack.arch.as_str().to_string(),
            key: stack.key().full().to_string(),
            layers,
            instance: FileJson { path: stack.instance_path.clone(), content: stack.instance_yaml.clone() },
            cached_disk: stack.cached_disk.as_ref().map(|(n, p)| CachedDiskJson { path: p.clone(), layers: *n }),
            warnings: stack.warnings.clone(),
        }
    }
}
