//! `machine trust [PATH] [--revoke]`: let a repository's `.machine.toml` set what can reach the
//! host (the `lima` table, image paths, your own profiles, turning forwarding on), after you
//! read it. The file's sha256 is recorded in the state dir; any change to it undoes the trust.

use std::path::PathBuf;

use super::Ctx;
use crate::compiler::config::{self, trust};
use crate::error::{Error, Result};

/// Trust a repository's .machine.toml (its current content), or stop trusting it.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Until trusted, a .machine.toml may set only repos, profiles (built-in ones), without, shell,\ncpus, memory, disk and a named image. Trusting records the file's sha256 in the state dir;\nany later change to the file makes it untrusted again.\n\nExamples:\n  machine trust                      # the .machine.toml of this folder (or a parent)\n  machine trust ~/src/app/.machine.toml\n  machine trust --revoke"
)]
pub struct Args {
    /// The file (default: the .machine.toml of this folder or a parent, up to the git root).
    pub path: Option<PathBuf>,
    /// Stop trusting the file.
    #[arg(long)]
    pub revoke: bool,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let path = match &args.path {
        Some(path) => ctx.cwd.join(path),
        None => config::find_local_file(&ctx.cwd).ok_or_else(|| {
            Error::usage(format!("there is no {} in this folder or above it (up to the git root)", config::LOCAL_FILE))
                .hint("name the file: `machine trust PATH/.machine.toml`")
        })?,
    };
    if path.file_name().is_none_or(|n| n != config::LOCAL_FILE) {
        return Err(Error::usage(format!("{} is not a {} file", path.display(), config::LOCAL_FILE))
            .hint("your own projects.toml needs no trust: machine always reads it in full"));
    }
    if args.revoke {
        let was = trust::revoke(&ctx.paths.state_dir, &path)?;
        ctx.ui.note(&if was {
            format!("{} is no longer trusted", path.display())
        } else {
            format!("{} was not trusted", path.display())
        });
        return Ok(0);
    }
    let catalog = ctx.catalog()?;
    let defaults = config::defaults(&ctx.paths, &catalog)?;
    // A file that would not load is not worth trusting: say why first.
    let (local, bytes) = config::read_local_file(&path, &defaults, &catalog)?;
    for what in config::reach::host_reach(&local.project.lima, path.parent()) {
        ctx.ui.warn(&format!(
            "once trusted, {} lets project `{}` reach the host: {what}",
            path.display(),
            local.project.name
        ));
    }
    let sum = trust::trust(&ctx.paths.state_dir, &path, &bytes)?;
    ctx.ui.note(&format!(
        "✓ trusted {} (sha256 {}…): it may set every project key; any change to it makes it untrusted again",
        path.display(),
        &sum[..16]
    ));
    Ok(0)
}
