//! `machine ssh-config [--install]`: the `Include` line that makes Lima's per-VM ssh configs
//! (hosts `lima-<project>`) visible to plain `ssh` and to IDEs that connect over SSH (VS Code).
//!
//! Lima rewrites `<LIMA_HOME>/<vm>/ssh.config` at every start (the port changes), so machine
//! never copies hosts into `~/.ssh/config`: one `Include` of the glob keeps every VM current.
//! `--install` puts it at the top of the file (ssh only honours an `Include` before the first
//! `Host`/`Match` block for every host), once, replacing the file atomically with its mode kept.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::Ctx;
use crate::error::{Error, Result, io_error};
use crate::lima;

/// Print (or, with --install, add to ~/.ssh/config) the Include line for Lima's per-VM hosts.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "With the line in ~/.ssh/config, `ssh lima-<project>` works, and VS Code Remote-SSH and\nJetBrains Gateway list every VM as `lima-<project>` (see also `machine code`)."
)]
pub struct Args {
    /// Add the line at the top of ~/.ssh/config (once; the rest of the file is kept).
    #[arg(long)]
    pub install: bool,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let lima_home = ctx.lima()?.home;
    let line = include_line(&lima_home);
    if !args.install {
        ctx.ui.data(&line);
        return Ok(0);
    }
    let file = user_config(ctx)?;
    if install(&file, &lima_home, &line, home(ctx).as_deref())? {
        ctx.ui.note(&format!("added `{line}` at the top of {}", file.display()));
    } else {
        ctx.ui.note(&format!("{} already includes Lima's ssh configs", file.display()));
    }
    Ok(0)
}

/// `Include <LIMA_HOME>/*/ssh.config`, quoted when the path has spaces.
pub fn include_line(lima_home: &Path) -> String {
    let pattern = pattern(lima_home);
    if pattern.contains(char::is_whitespace) { format!("Include \"{pattern}\"") } else { format!("Include {pattern}") }
}

fn pattern(lima_home: &Path) -> String {
    lima_home.join("*").join("ssh.config").display().to_string()
}

fn home(ctx: &Ctx<'_>) -> Option<PathBuf> {
    (ctx.env)("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// `~/.ssh/config`.
pub fn user_config(ctx: &Ctx<'_>) -> Result<PathBuf> {
    home(ctx).map(|h| h.join(".ssh").join("config")).ok_or_else(|| Error::failure("HOME is not set"))
}

/// Whether `file` already includes Lima's configs (a missing file does not).
pub fn is_installed(file: &Path, lima_home: &Path, home: Option<&Path>) -> Result<bool> {
    Ok(read(file)?.is_some_and(|text| has_include(&text, &pattern(lima_home), home)))
}

/// Whether an `Include` line of `text` names `pattern` (`~/` expanded).
fn has_include(text: &str, pattern: &str, home: Option<&Path>) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        let Some((keyword, rest)) = line.split_once(|c: char| c.is_whitespace() || c == '=') else { return false };
        if !keyword.eq_ignore_ascii_case("include") {
            return false;
        }
        let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '=').trim();
        let words: Vec<&str> = if rest.starts_with('"') { vec![rest] } else { rest.split_whitespace().collect() };
        words.iter().any(|w| expand(w.trim_matches('"'), home) == pattern)
    })
}

fn expand(word: &str, home: Option<&Path>) -> String {
    match (word.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest).display().to_string(),
        _ => word.to_string(),
    }
}

/// Adds the line unless it is there; `false` when it already was.
fn install(file: &Path, lima_home: &Path, line: &str, home: Option<&Path>) -> Result<bool> {
    if is_installed(file, lima_home, home)? {
        return Ok(false);
    }
    let dir = file.parent().expect("~/.ssh/config has a parent");
    create_private_dir(dir)?;
    // A symlinked config (dotfile managers) is edited where it points.
    let target = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let existing = read(&target)?.unwrap_or_default();
    let mode = mode_of(&target).unwrap_or(0o600);
    let text = format!(
        "# Lima's per-VM hosts (lima-<project>), added by `machine ssh-config --install`.\n{line}\n\n{existing}"
    );
    write_atomic(&target, text.as_bytes(), mode)?;
    Ok(true)
}

fn read(file: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", file, &e)),
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io_error("create", dir, &e))
}

fn mode_of(file: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(file).ok().map(|m| m.permissions().mode() & 0o7777)
}

/// Writes a temp file next to `path` with `mode`, then renames it over `path`.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path.parent().expect("a file path has a parent");
    let mut tmp = tempfile::Builder::new()
        .prefix(".config.machine-")
        .tempfile_in(dir)
        .map_err(|e| io_error("create a file in", dir, &e))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| tmp.write_all(bytes))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io_error("write", tmp.path(), &e))?;
    tmp.persist(path).map_err(|e| io_error("replace", path, &e.error))?;
    Ok(())
}

/// Whether `~/.ssh/config` includes the configs of this context's Lima.
pub(crate) fn installed_here(ctx: &Ctx<'_>) -> Result<bool> {
    let lima_home = lima::lima_home(ctx.env).ok_or_else(|| Error::failure("neither LIMA_HOME nor HOME is set"))?;
    is_installed(&user_config(ctx)?, &lima_home, home(ctx).as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_lines_are_recognised_in_their_spellings() {
        let pattern = "/h/.lima/*/ssh.config";
        let home = Some(Path::new("/h"));
        for text in [
            "Include /h/.lima/*/ssh.config\n",
            "  include ~/.lima/*/ssh.config\n",
            "Include=/h/.lima/*/ssh.config\n",
            "Include /etc/ssh/x.conf /h/.lima/*/ssh.config\n",
        ] {
            assert!(has_include(text, pattern, home), "{text:?}");
        }
        for text in ["# Include /h/.lima/*/ssh.config\n", "Host x\n  HostName /h/.lima/*/ssh.config\n", ""] {
            assert!(!has_include(text, pattern, home), "{text:?}");
        }
        assert!(has_include("Include \"/a b/*/ssh.config\"\n", "/a b/*/ssh.config", None));
    }

    #[test]
    fn paths_with_spaces_are_quoted() {
        assert_eq!(include_line(Path::new("/h/.lima")), "Include /h/.lima/*/ssh.config");
        assert_eq!(include_line(Path::new("/a b")), "Include \"/a b/*/ssh.config\"");
    }

    #[test]
    fn install_goes_first_keeps_content_and_mode_and_runs_once() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join(".ssh/config");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "Host *\n  ServerAliveInterval 60\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let lima_home = Path::new("/l");
        assert!(install(&file, lima_home, &include_line(lima_home), None).unwrap());
        assert!(!install(&file, lima_home, &include_line(lima_home), None).unwrap());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.lines().nth(1) == Some("Include /l/*/ssh.config"), "{text}");
        assert!(text.ends_with("\nHost *\n  ServerAliveInterval 60\n"), "{text}");
        assert_eq!(text.matches("Include").count(), 1);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
    }
}
