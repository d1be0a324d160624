//! `machine trust [PATH] [--revoke]`: let a repository's `.machine.toml` set what can reach the
//! host (the `lima` table, image paths, your own profiles, turning forwarding on), after you
//! read it. The file's sha256 is recorded in the state dir; any change to it undoes the trust.

use std::path::PathBuf;

use super::Ctx;
use crate::compiler::config::{self, trust};
use crate::error::{Error, Result};

/// What `--help` says an untrusted file may set (a test holds it to `trust::UNTRUSTED_KEYS`).
pub const UNTRUSTED_HELP: &str =
    "Until trusted, a .machine.toml may set only name, repos, profiles (built-in ones), without,
shell, cpus, memory, disk, a named image and ssh_keys (which only narrows yours), and
forward_agent = false, confirm_signatures = true, credential_proxy = false. Naming a project of
your projects.toml, it may not add repos that entry does not list or drop its profiles; it may not
be `default` or name a project whose VM was made from another file. Trusting
records the file's sha256 in the state dir; any later change to the file makes it untrusted
again. A .machine.toml that is a symbolic link is refused.

Examples:
  machine trust                      # the .machine.toml of this folder (or a parent)
  machine trust ~/src/app/.machine.toml
  machine trust --revoke";

/// Trust a repository's .machine.toml (its current content), or stop trusting it.
#[derive(Debug, clap::Args)]
#[command(after_long_help = UNTRUSTED_HELP)]
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

#[cfg(test)]
mod tests {
    use crate::compiler::config::trust::{ONE_WAY, UNTRUSTED_KEYS};

    #[test]
    fn the_help_names_every_key_an_untrusted_file_may_set() {
        // As words: `name` must not pass on "named".
        let words: Vec<&str> = super::UNTRUSTED_HELP.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').collect();
        for key in UNTRUSTED_KEYS {
            assert!(words.contains(&key), "`machine trust --help` does not name {key}");
        }
        for setting in ONE_WAY {
            assert!(super::UNTRUSTED_HELP.contains(setting), "`machine trust --help` does not name {setting}");
        }
    }
}
