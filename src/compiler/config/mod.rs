//! Configuration: finding `projects.toml` and `.machine.toml`, and loading them into the model.
//!
//! A missing `projects.toml` is zero-config, never an error. A `.machine.toml` is looked for from
//! the current directory up to the git root; it defines or replaces one project.

pub mod keys;
pub mod model;
pub mod parse;
pub mod proxy;
pub mod reach;
pub mod source;
mod takeover;
pub mod trust;

use std::path::{Path, PathBuf};

pub use model::Config;
use model::{RepoUrl, slugify};
use parse::{Defaults, parse_local_file, parse_projects_file};
use source::{Diagnostic, Source};
pub use trust::Trust;

use crate::compiler::layers::Catalog;
use crate::compiler::paths::Paths;
use crate::driver::exec::{Cmd, Runner};
use crate::error::{Error, Result, io_error};

pub const LOCAL_FILE: &str = ".machine.toml";

pub fn load(paths: &Paths, catalog: &Catalog, cwd: &Path, runner: &dyn Runner) -> Result<Config> {
    let mut config = Config {
        projects_file: paths.projects_file.clone(),
        projects: std::collections::BTreeMap::default(),
        default_profiles: Vec::new(),
        default_shell: model::Shell::Zsh,
        local_project: None,
        local_file: None,
        notes: Vec::new(),
        proxy: proxy::ProxySettings::default(),
    };
    let mut defaults = Defaults::default();
    if let Some(text) = read_text(&paths.projects_file)? {
        let parsed = parse_projects_file(&Source::new(&paths.projects_file, text), catalog)
            .map_err(|d| diagnostics_error(&d))?;
        defaults = parsed.defaults;
        config.projects = parsed.projects;
        config.proxy = parsed.proxy;
    }
    config.default_profiles.clone_from(&defaults.profiles);
    config.default_shell = defaults.shell;
    if let Some(local_path) = find_local_file(cwd) {
        load_local(&mut config, &local_path, &paths.state_dir, &defaults, catalog, runner)?;
    }
    Ok(config)
}

/// The top-level defaults of projects.toml (for reading a `.machine.toml` on its own).
pub fn defaults(paths: &Paths, catalog: &Catalog) -> Result<Defaults> {
    let Some(text) = read_text(&paths.projects_file)? else { return Ok(Defaults::default()) };
    let parsed =
        parse_projects_file(&Source::new(&paths.projects_file, text), catalog).map_err(|d| diagnostics_error(&d))?;
    Ok(parsed.defaults)
}

/// The credential proxy's settings: the `[proxy]` table of projects.toml only (never a
/// `.machine.toml`'s).
pub fn proxy_settings(paths: &Paths, catalog: &Catalog) -> Result<proxy::ProxySettings> {
    let Some(text) = read_text(&paths.projects_file)? else { return Ok(proxy::ProxySettings::default()) };
    let parsed =
        parse_projects_file(&Source::new(&paths.projects_file, text), catalog).map_err(|d| diagnostics_error(&d))?;
    Ok(parsed.proxy)
}

/// The project a `.machine.toml` defines, read as if trusted (for `machine trust`, which shows
/// what trusting it would allow).
pub fn read_local_file(path: &Path, defaults: &Defaults, catalog: &Catalog) -> Result<(parse::LocalProject, Vec<u8>)> {
    let text = read_text(path)?.ok_or_else(|| Error::usage(format!("there is no {}", path.display())))?;
    let folder = path.parent().unwrap_or(Path::new("/"));
    let slug = folder.file_name().map(|n| slugify(&n.to_string_lossy())).unwrap_or_default();
    let bytes = text.clone().into_bytes();
    let local = parse_local_file(&Source::new(path, text), catalog, defaults, &slug, Trust::Trusted)
        .map_err(|d| diagnostics_error(&d))?;
    Ok((local, bytes))
}

fn load_local(
    config: &mut Config,
    path: &Path,
    state_dir: &Path,
    defaults: &Defaults,
    catalog: &Catalog,
    runner: &dyn Runner,
) -> Result<()> {
    let text = read_text(path)?.unwrap_or_default();
    let trust = trust::status(state_dir, path, text.as_bytes())?;
    let folder = path.parent().unwrap_or(Path::new("/"));
    let slug = folder.file_name().map(|n| slugify(&n.to_string_lossy())).unwrap_or_default();
    let src = Source::new(path, text);
    let local = parse_local_file(&src, catalog, defaults, &slug, trust).map_err(|d| diagnostics_error(&d))?;
    let own = config.projects.get(&local.project.name).cloned();
    let mut project = match &own {
        Some(own) => {
            config.notes.push(format!(
                "{} sets {} of [{}] over {}",
                path.display(),
                if local.keys.is_empty() { "nothing".to_string() } else { local.keys.join(", ") },
                own.name,
                config.projects_file.display()
            ));
            overlay(own, &local)
        }
        None => local.project.clone(),
    };
    let mut from_origin = false;
    if !local.has_repos && project.repos.is_empty() {
        match origin_remote(folder, runner)? {
            Some(url) => {
                project.repos = vec![url];
                from_origin = true;
            }
            None => config.notes.push(format!(
                "{} lists no repos and its folder has no `origin` remote: project `{}` gets a VM without code",
                path.display(),
                project.name
            )),
        }
    }
    if !trust.is_trusted() {
        let problems = match &own {
            Some(own) => takeover::problems(&src, own, &project, from_origin, trust),
            None => takeover::vm_problems(&src, &project.name, made_from(state_dir, &project.name).as_deref(), trust),
        };
        if !problems.is_empty() {
            return Err(diagnostics_error(&problems));
        }
    }
    config.local_project = Some(project.name.clone());
    config.local_file = Some((path.to_path_buf(), trust));
    config.projects.insert(project.name.clone(), project);
    Ok(())
}

/// Which file the VM of project `name` was made from, when machine's record of it says.
fn made_from(state_dir: &Path, name: &str) -> Option<PathBuf> {
    let applied = crate::driver::project_state::ProjectDir::new(state_dir, name).applied().ok()??;
    applied.made_from
}

/// The user's own entry with the keys a `.machine.toml` sets laid over it. The file may only
/// tighten what the user said: agent forwarding the user turned off stays off, its `ssh_keys`
/// narrows the user's (a key must be in both), and it can turn `confirm_signatures` on, not off.
fn overlay(own: &model::Project, local: &parse::LocalProject) -> model::Project {
    let mut out = own.clone();
    let from = &local.project;
    for key in &local.keys {
        match key.as_str() {
            "repos" => out.repos.clone_from(&from.repos),
            "profiles" => out.profiles.clone_from(&from.profiles),
            "without" => out.without.clone_from(&from.without),
            "shell" => out.shell = from.shell,
            "forward_agent" => out.forward_agent = own.forward_agent && from.forward_agent,
            "ssh_keys" => out.ssh_keys = own.ssh_keys.narrowed_by(&from.ssh_keys),
            "confirm_signatures" => out.confirm_signatures = own.confirm_signatures || from.confirm_signatures,
            "credential_proxy" => out.credential_proxy = own.credential_proxy && from.credential_proxy,
            "cpus" => out.cpus = from.cpus,
            "memory" => out.memory.clone_from(&from.memory),
            "disk" => out.disk.clone_from(&from.disk),
            "image" => out.image.clone_from(&from.image),
            "arch" => out.arch = from.arch,
            "vm_type" => out.vm_type = from.vm_type,
            "lima" => out.lima.extend(from.lima.clone()),
            _ => {}
        }
    }
    out.defined_in.clone_from(&from.defined_in);
    out
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
        // The path the user pointed machine at is wrong: theirs to fix, so a usage error.
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Err(Error::usage(format!(
            "{} is a folder, not a configuration file",
            path.display()
        ))
        .hint(
            "point PROJECTS_FILE at the file itself (e.g. `~/.config/machine/projects.toml`), or MACHINE_CONFIG_DIR at the folder that holds it",
        )),
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
