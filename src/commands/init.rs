//! `machine init [--force]`: writes a commented example projects.toml to start from.

use std::path::{Path, PathBuf};

use super::Ctx;
use crate::driver::stack;
use crate::error::{Error, Result, io_error};

/// The example configuration, also shipped as `projects.toml.example`.
pub const EXAMPLE: &str = include_str!("../../projects.toml.example");

/// Write a commented example projects.toml (every key explained, examples to uncomment).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Replace an existing file (it is kept as projects.toml.bak).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let path = ctx.paths.projects_file.clone();
    if path.exists() {
        if !args.force {
            return Err(Error::usage(format!("{} already exists", path.display()))
                .hint("edit it, add projects with `machine create`, or run `machine init --force` to replace it (the old file is kept as a .bak)"));
        }
        let backup = backup_path(&path);
        std::fs::copy(&path, &backup).map_err(|e| io_error("back up the old file to", &backup, &e))?;
        ctx.ui.note(&format!("kept the old file as {}", backup.display()));
    }
    stack::write_atomic(&path, EXAMPLE.as_bytes())?;
    ctx.ui.note(&format!(
        "wrote {}: uncomment or add a project there (or run `machine create`), then `machine up PROJECT`",
        path.display()
    ));
    Ok(0)
}

/// `projects.toml` → `projects.toml.bak`, next to it.
fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}
