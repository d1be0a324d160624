//! The `create` wizard's flow: questions in, [`Answers`] out.
//!
//! The flow is pure: it talks only to a [`Prompter`] (the terminal, or a script in tests) and to
//! the repo check it is handed, and it reads nothing and writes nothing itself. Each answer can
//! also arrive as a command-line flag ([`Given`]), which skips its question; with `yes` nothing
//! is asked and what is not given keeps its current value (or the default, for a new project).
//! [`Answers`] live in `crate::compiler::edit`, which turns them into an edit of projects.toml.

mod keys;
mod layers;
pub mod prompt;

use std::collections::BTreeMap;
use std::path::Path;

pub use prompt::{Choice, Prompter, stdin_closed};

use crate::compiler::config::model::{Project, RepoUrl, Shell, Size, check_project_name};
use crate::compiler::config::parse::Defaults;
pub use crate::compiler::edit::Answers;
use crate::compiler::layers::Catalog;
use crate::error::{Error, Result};

/// Answers given on the command line; each one skips its question.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub name: Option<String>,
    pub repos: Option<Vec<RepoUrl>>,
    /// Profile names as typed (`none` for no profiles); checked against the catalog.
    pub profiles: Option<Vec<String>>,
    /// Standard layers as typed (`standard` for all, `none` for none).
    pub without: Option<Vec<String>>,
    pub shell: Option<Shell>,
    pub forward_agent: Option<bool>,
    /// `ssh_keys` entries as typed; `Some(None)`: unset it (every key).
    pub ssh_keys: Option<Option<Vec<String>>>,
    pub confirm_signatures: Option<bool>,
    pub cpus: Option<u32>,
    pub memory: Option<Size>,
    pub disk: Option<Size>,
    /// Ask nothing.
    pub yes: bool,
}

/// What the flow may consult.
pub struct Env<'a> {
    pub catalog: &'a Catalog,
    pub defaults: &'a Defaults,
    /// The projects projects.toml defines today.
    pub projects: &'a BTreeMap<String, Project>,
    pub projects_file: &'a Path,
    /// The name offered when none is given (`up` offers `default`).
    pub suggested_name: Option<&'a str>,
    /// Whether this host can reach a repo (`git ls-remote`); `Err` says why not.
    pub check_repo: &'a dyn Fn(&RepoUrl) -> Result<(), String>,
    /// The keys the host's SSH agent holds (`ssh-add -l`); `Err` says why they cannot be listed.
    pub agent_keys: &'a dyn Fn() -> Result<Vec<crate::driver::ssh_agent::AgentKey>, String>,
}

/// Runs the wizard: every question whose answer was not given, in order.
pub fn run(env: &Env<'_>, given: &Given, p: &mut dyn Prompter) -> Result<Answers> {
    let name = ask_name(env, given, p)?;
    let entry = env.projects.get(&name);
    let mut a = Answers::current(&name, entry, env.defaults);
    if !given.yes {
        introduce(env, &a, entry.is_some(), p);
    }
    a.repos = repos(env, given, &a.repos, p)?;
    (a.profiles, a.without) = layers::choose(env, given, &a.profiles, &a.without, p)?;
    a.shell = pick(given.shell, given.yes, a.shell, |s| ask_shell(s, p))?;
    a.forward_agent = pick(given.forward_agent, given.yes, a.forward_agent, |f| {
        p.confirm("Forward the host's SSH agent into the VM (git over SSH, commit signing)?", f)
    })?;
    if let Some(Some(list)) = &given.ssh_keys {
        check_keys(list)?;
    }
    if a.forward_agent {
        let current = a.ssh_keys.clone();
        a.ssh_keys = pick(given.ssh_keys.clone(), given.yes, current, |k| keys::ask(env, k.as_deref(), p))?;
        a.confirm_signatures = pick(given.confirm_signatures, given.yes, a.confirm_signatures, |c| {
            p.confirm("Ask on this computer before each signature the VM asks for?", c)
        })?;
    } else {
        a.ssh_keys = given.ssh_keys.clone().unwrap_or(a.ssh_keys);
        a.confirm_signatures = given.confirm_signatures.unwrap_or(a.confirm_signatures);
    }
    a.cpus = pick(given.cpus.map(Some), given.yes, a.cpus, |c| ask_cpus(c, p))?;
    a.memory = pick(given.memory.clone().map(Some), given.yes, a.memory, |m| ask_size("Memory", m.as_ref(), p))?;
    if let Some(Err(problem)) = given.disk.as_ref().map(crate::compiler::config::model::check_disk) {
        return Err(Error::usage(problem));
    }
    a.disk = pick(given.disk.clone().map(Some), given.yes, a.disk, |d| ask_size("Disk", d.as_ref(), p))?;
    Ok(a)
}

/// `--ssh-key` values must be what `ssh_keys` accepts.
fn check_keys(list: &[String]) -> Result<()> {
    for entry in list {
        crate::compiler::config::keys::KeySelector::parse(entry).map_err(|why| {
            Error::usage(format!("`--ssh-key {entry}` {why}"))
                .hint("give a fingerprint (`SHA256:…`, see `ssh-add -l`) or a key's comment; `all` for every key")
        })?;
    }
    Ok(())
}

/// The given answer, else the current one under `--yes`, else the question's.
fn pick<T>(given: Option<T>, yes: bool, current: T, ask: impl FnOnce(T) -> Result<T>) -> Result<T> {
    match given {
        Some(v) => Ok(v),
        None if yes => Ok(current),
        None => ask(current),
    }
}

fn ask_name(env: &Env<'_>, given: &Given, p: &mut dyn Prompter) -> Result<String> {
    if let Some(name) = &given.name {
        check_project_name(name).map_err(|why| {
            Error::usage(format!("invalid project name `{name}`: it {why}"))
                .hint("project names are Lima instance names, e.g. `my-app`")
        })?;
        return Ok(name.clone());
    }
    if given.yes {
        return Err(Error::usage("`--yes` needs the project's name").hint("run `machine create NAME --yes …`"));
    }
    p.input_checked("Project name", env.suggested_name, &|name| {
        if name.is_empty() {
            return Err(format!("a project needs a name\n  {NAME_RULE}"));
        }
        check_project_name(name).map_err(|why| format!("`{name}` cannot be a project name: it {why}\n  {NAME_RULE}"))
    })
}

/// What a project name may be, for the questions that ask for one.
const NAME_RULE: &str =
    "a project name is lowercase letters and digits, with single `-`, `_` or `.` between them (e.g. `my-app`)";

fn introduce(env: &Env<'_>, current: &Answers, exists: bool, p: &mut dyn Prompter) {
    let file = env.projects_file.display();
    if exists {
        p.say(&format!("Editing [{}] in {file}; Enter keeps each current value.", current.name));
    } else {
        p.say(&format!("Creating [{}] in {file}.", current.name));
    }
}

fn repos(env: &Env<'_>, given: &Given, current: &[RepoUrl], p: &mut dyn Prompter) -> Result<Vec<RepoUrl>> {
    if let Some(list) = &given.repos {
        for url in list {
            if let Err(why) = (env.check_repo)(url) {
                p.say(&format!("warning: cannot reach {url} from this host (kept, as given):\n  {why}"));
            }
        }
        return Ok(list.clone());
    }
    if given.yes {
        return Ok(current.to_vec());
    }
    ask_repos(env, current, p)
}

/// Repo URLs one per prompt until a blank answer. On an existing project a blank first answer
/// keeps the current list, typed URLs replace it, and `none` empties it.
fn ask_repos(env: &Env<'_>, current: &[RepoUrl], p: &mut dyn Prompter) -> Result<Vec<RepoUrl>> {
    if !current.is_empty() {
        let listed: Vec<String> = current.iter().map(|r| format!("  {r}")).collect();
        p.say(&format!("Current repos:\n{}", listed.join("\n")));
    }
    let mut repos: Vec<RepoUrl> = Vec::new();
    loop {
        let k = repos.len() + 1;
        let hint = match (k, current.is_empty()) {
            (1, true) => "Enter for none",
            (1, false) => "Enter keeps the current repos, `none` for no repos",
            _ => "Enter to finish",
        };
        let answer = p.input(&format!("Repo URL #{k} ({hint})"), None)?;
        if answer.is_empty() {
            return Ok(if k == 1 { current.to_vec() } else { repos });
        }
        if k == 1 && answer.eq_ignore_ascii_case("none") {
            return Ok(Vec::new());
        }
        if let Some(url) = accept_repo(env, &repos, &answer, p)? {
            repos.push(url);
        }
    }
}

/// A typed URL, if it is valid, gets its own folder, and is reachable (or the user keeps it).
fn accept_repo(env: &Env<'_>, so_far: &[RepoUrl], answer: &str, p: &mut dyn Prompter) -> Result<Option<RepoUrl>> {
    let url = match RepoUrl::parse(answer) {
        Ok(url) => url,
        Err(why) => {
            p.say(&format!(
                "`{}` {why}; type e.g. git@github.com:you/app.git or https://github.com/you/app.git",
                answer.escape_debug()
            ));
            return Ok(None);
        }
    };
    if let Some(other) = so_far.iter().find(|r| r.dir_name() == url.dir_name()) {
        p.say(&format!(
            "`{url}` would clone into ~/code/{} like `{other}`; each repo needs its own folder",
            url.dir_name()
        ));
        return Ok(None);
    }
    p.say(&format!("checking access to {url}…"));
    match (env.check_repo)(&url) {
        Ok(()) => Ok(Some(url)),
        Err(why) => {
            p.say(&format!("cannot reach {url} from this host:\n  {}", why.replace('\n', "\n  ")));
            Ok(p.confirm("Keep it anyway?", false)?.then_some(url))
        }
    }
}

fn ask_shell(current: Shell, p: &mut dyn Prompter) -> Result<Shell> {
    let shells = [Shell::Zsh, Shell::Bash];
    let names = shells.map(Shell::as_str);
    let default = shells.iter().position(|s| *s == current).unwrap_or(0);
    Ok(shells[p.select("Login shell", &names, default)?])
}

fn ask_cpus(current: Option<u32>, p: &mut dyn Prompter) -> Result<Option<u32>> {
    let shown = current.map(|n| n.to_string());
    ask_parsed(p, "CPUs (`default` for Lima's)", shown.as_deref(), |s| {
        s.parse::<u32>()
            .ok()
            .filter(|n| (1..=1024).contains(n))
            .ok_or_else(|| format!("`{s}` is not a number of CPUs from 1 to 1024"))
    })
}

fn ask_size(what: &str, current: Option<&Size>, p: &mut dyn Prompter) -> Result<Option<Size>> {
    let example = if what == "Disk" { "100GiB" } else { "512MiB" };
    let prompt = format!("{what} in GiB, or a size such as {example} (`default` for Lima's)");
    ask_parsed(p, &prompt, current.map(Size::as_str), |s| {
        let size = parse_size(s).ok_or_else(|| {
            format!("`{s}` is not a size: type a number of GiB (16) or a number with KiB, MiB, GiB or TiB (16GiB)")
        })?;
        if what == "Disk" {
            crate::compiler::config::model::check_disk(&size)?;
        }
        Ok(size)
    })
}

/// An optional value: blank keeps `current`, `default` clears it, anything else must parse.
fn ask_parsed<T>(
    p: &mut dyn Prompter,
    prompt: &str,
    current: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>> {
    let keeps = |a: &str| a.is_empty() || a.eq_ignore_ascii_case("default");
    let answer = p.input_checked(prompt, current, &|a| if keeps(a) { Ok(()) } else { parse(a).map(|_| ()) })?;
    if keeps(&answer) { Ok(None) } else { parse(&answer).map(Some).map_err(Error::usage) }
}

/// A memory or disk size as the config accepts it: an integer (GiB) or `<number><binary unit>`.
pub fn parse_size(s: &str) -> Option<Size> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().ok().and_then(Size::from_gib);
    }
    Size::parse(s)
}
