//! Configuration: finding `projects.toml` and `.machine.toml`, and loading them into the model.
//!
//! A missing `projects.toml` is zero-config, never an error. A `.machine.toml` is looked for from
//! the current directory up to the git root; it defines or replaces one project.

pub mod model;
pub mod parse;
pub mod source;

use std::path::{Path, PathBuf};

pub use model::Config;
use model::{RepoUrl, slugify};
use parse::{Defaults, parse_local_file, parse_projects_file};
use source::{Diagnostic, Source};

use crate::error::{Error, Result, io_error};
use crate::exec::{Cmd, Runner};
use crate::layers::Catalog;
use crate::paths::Paths;

pub const LOCAL_FILE: &str = ".machine.toml";

pub fn load(paths: &Paths, catalog: &Catalog, cwd: &Path, runner: &dyn Runner) -> Result<Config> {
    let mut config = Config {
        projects_file: paths.projects_file.clone(),
        projects: std::collections::BTreeMap::default(),
        default_profiles: Vec::new(),
        default_shell: model::Shell::Zsh,
        local_project: None,
        notes: Vec::new(),
    };
    let mut defaults = Defaults::default();
    if let Some(text) = read_text(&paths.projects_file)? {
        let parsed = parse_projects_file(&Source::new(&paths.projects_file, text), catalog)
            .map_err(|d| diagnostics_error(&d))?;
        defaults = parsed.defaults;
        config.projects = parsed.projects;
    }
    config.default_profiles.clone_from(&defaults.profiles);
    config.default_shell = defaults.shell;
    if let Some(local_path) = find_local_file(cwd) {
        load_local(&mut config, &local_path, &defaults, catalog, runner)?;
    }
    Ok(config)
}

fn load_local(
    config: &mut Config,
    path: &Path,
    defaults: &Defaults,
    catalog: &Catalog,
    runner: &dyn Runner,
) -> Result<()> {
    let text = read_text(path)?.unwrap_or_default();
    let folder = path.parent().unwrap_or(Path::new("/"));
    let slug = folder.file_name().map(|n| slugify(&n.to_string_lossy())).unwrap_or_default();
    let local =
        parse_local_file(&Source::new(path, text), catalog, defaults, &slug).map_err(|d| diagnostics_error(&d))?;
    let mut project = local.project;
    if !local.has_repos {
        match origin_remote(folder, runner)? {
            Some(url) => project.repos = vec![url],
            None => config.notes.push(format!(
                "{} lists no repos and its folder has no `origin` remote: project `{}` gets a VM without code",
                path.display(),
                project.name
            )),
        }
    }
    if config.projects.contains_key(&project.name) {
        config.notes.push(format!(
            "{} replaces [{}] from {}",
            path.display(),
            project.name,
            config.projects_file.display()
        ));
    }
    config.local_project = Some(project.name.clone());
    config.projects.insert(project.name.clone(), project);
    Ok(())
}

/// `.machine.toml` in `cwd` or a parent, stopping at the git root (only `cwd` outside a repo).
pub fn find_local_file(cwd: &Path) -> Option<PathBuf> {
    let in_repo = cwd.ancestors().any(|d| d.join(".git").exists());
    for dir in cwd.ancestors() {
        let candidate = dir.join(LOCAL_FILE);
        if candidate.is_file() {
            return Some(candidate);
        }
        if !in_repo || dir.join(".git").exists() {
            break;
        }
    }
    None
}

fn origin_remote(folder: &Path, runner: &dyn Runner) -> Result<Option<RepoUrl>> {
    let cmd = Cmd::new("git").arg("-C").arg(folder).args(["remote", "get-url", "origin"]);
    let out = runner.output(&cmd)?;
    if !out.success() {
        return Ok(None);
    }
    let url = out.stdout_text();
    RepoUrl::parse(&url).map(Some).map_err(|why| {
        Error::usage(format!("the `origin` remote of {} (`{url}`) {why}", folder.display()))
            .hint(format!("set `repos = [\"…\"]` in {}", folder.join(LOCAL_FILE).display()))
    })
}

/// A configuration file's text, or `None` when it does not exist.
pub fn read_text(path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => text_of(path, bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, &e)),
    }
}

/// A configuration file is UTF-8 text (TOML requires it); anything else is the user's to fix.
fn text_of(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        // The pieces between newlines before the bad byte: its line is the last of them.
        let line = bytes[..at].split(|b| *b == b'\n').count();
        let column = 1 + at - bytes[..at].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        Error::usage(format!("{}:{line}:{column}: not UTF-8 text (byte {at} of the file)", path.display()))
            .hint("a configuration file must be UTF-8 text; save it as UTF-8 (is it the right file?)")
    })
}

/// One error listing every diagnostic, in file order.
pub fn diagnostics_error(diagnostics: &[Diagnostic]) -> Error {
    let text = diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n\nerror: ");
    Error::usage(text)
}
