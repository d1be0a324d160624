//! `machine create [PROJECT]`: the wizard that adds a project to projects.toml or edits one,
//! and the hook that runs it when `up` meets a project nobody has defined yet.

use std::io::IsTerminal as _;
use std::path::Path;

use super::Ctx;
use crate::compiler::config::model::{DEFAULT_PROJECT, RepoUrl, Shell, Size, check_project_name};
use crate::compiler::config::parse::{ProjectsFile, parse_projects_file};
use crate::compiler::config::source::Source;
use crate::compiler::config::{self, Config, diagnostics_error};
use crate::compiler::layers::Catalog;
use crate::driver::project_state::ProjectDir;
use crate::error::{Error, Result};
use crate::ui::wizard::prompt::{Closed, Terminal};
use crate::ui::wizard::{self, Answers, Env, Given};
use crate::{compiler::edit, driver::stack};

/// Add a project to projects.toml, or edit one, by answering a few questions.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Every answer is also a flag; with --yes nothing is asked and what is not given keeps its current value.\n\nExamples:\n  machine create                 # asks for everything\n  machine create blog            # edits [blog] if it exists, with its values as defaults\n  machine create blog --repo git@github.com:you/blog.git --profile modern --yes"
)]
#[expect(clippy::struct_excessive_bools, reason = "each is a switch on the command line (and its --no- form)")]
pub struct Args {
    /// The project's name (asked when missing).
    pub project: Option<String>,
    /// A repo to clone into ~/code (repeat for several; the first is the primary).
    #[arg(long = "repo", value_name = "URL", value_parser = parse_repo)]
    pub repos: Vec<RepoUrl>,
    /// A profile to add (repeat, or separate with commas; `none` for no profiles).
    #[arg(long = "profile", value_name = "NAME", value_delimiter = ',')]
    pub profiles: Vec<String>,
    /// A standard layer to leave out (repeat, or separate with commas; `standard` for all, `none`
    /// to keep all).
    #[arg(long, value_name = "LAYER", value_delimiter = ',')]
    pub without: Vec<String>,
    /// The guest user's login shell.
    #[arg(long, value_parser = shell_parser())]
    pub shell: Option<Shell>,
    /// Forward the host's SSH agent into the VM (the default).
    #[arg(long, overrides_with = "no_forward_agent")]
    pub forward_agent: bool,
    /// Do not forward the host's SSH agent into the VM.
    #[arg(long)]
    pub no_forward_agent: bool,
    /// A key of your agent the VM may use: its fingerprint (`SHA256:…`) or comment (repeat for
    /// several; `all` for every key, `none` for none).
    #[arg(long = "ssh-key", value_name = "KEY")]
    pub ssh_keys: Vec<String>,
    /// Ask on this computer before each signature the VM asks for.
    #[arg(long, overrides_with = "no_confirm_signatures")]
    pub confirm_signatures: bool,
    /// Do not ask before signatures (the default).
    #[arg(long)]
    pub no_confirm_signatures: bool,
    /// CPUs for the VM (1–1024).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub cpus: Option<u32>,
    /// Memory: GiB (16) or a size (16GiB, 512MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<Size>,
    /// Disk: GiB (60) or a size (60GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub disk: Option<Size>,
    /// Ask nothing: use the flags, else the current values, else the defaults.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

fn parse_repo(s: &str) -> Result<RepoUrl, String> {
    RepoUrl::parse(s).map_err(|why| format!("`{s}` {why}"))
}

/// zsh or bash, as possible values so that completion and `--help` offer them.
fn shell_parser() -> impl clap::builder::TypedValueParser<Value = Shell> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["zsh", "bash"]).map(|s| Shell::parse(&s).expect("a possible value"))
}

fn parse_size(s: &str) -> Result<Size, String> {
    wizard::parse_size(s).ok_or_else(|| format!("`{s}` is not a size: use GiB (16) or a size like 16GiB or 512MiB"))
}

impl Args {
    fn given(&self) -> Result<Given> {
        if self.ssh_keys.len() > 1
            && let Some(word) = self.ssh_keys.iter().find(|k| *k == "all" || *k == "none")
        {
            return Err(Error::usage(format!(
                "`--ssh-key {word}` cannot go with other keys ({})",
                self.ssh_keys.join(", ")
            ))
            .hint(format!("give `--ssh-key {word}` alone, or name only the keys the VM may use")));
        }
        let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        Ok(Given {
            name: self.project.clone(),
            repos: (!self.repos.is_empty()).then(|| self.repos.clone()),
            profiles: some(&self.profiles),
            without: some(&self.without),
            shell: self.shell,
            forward_agent: if self.no_forward_agent { Some(false) } else { self.forward_agent.then_some(true) },
            ssh_keys: match self.ssh_keys.as_slice() {
                [] => None,
                [all] if all == "all" => Some(None),
                [none] if none == "none" => Some(Some(Vec::new())),
                keys => Some(Some(keys.to_vec())),
            },
            confirm_signatures: if self.no_confirm_signatures {
                Some(false)
            } else {
                self.confirm_signatures.then_some(true)
            },
            cpus: self.cpus,
            memory: self.memory.clone(),
            disk: self.disk.clone(),
            yes: self.yes,
        })
    }
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let catalog = ctx.catalog()?;
    let name = write_entry(ctx, &catalog, &args.given()?, None)?;
    match ProjectDir::new(&ctx.paths.state_dir, &name).applied()? {
        // The VM exists: an edit reaches it only through a new VM.
        Some(applied) => {
            let change = ctx.project(Some(&name)).and_then(|(catalog, project)| {
                let identity = ctx.identity(false)?;
                ctx.compile(&project, &catalog, identity)
            });
            match change.ok().and_then(|stack| super::up::drift(&applied, &stack, &name)) {
                Some(drift) => ctx.ui.note(&format!("VM `{name}` exists; {drift}")),
                None => ctx.ui.note(&format!("VM `{name}` already runs this configuration")),
            }
        }
        None => ctx.ui.note(&format!("run `machine up {name}` to create and start it")),
    }
    Ok(0)
}

/// For `up`: on a terminal, a project nobody has defined yet (`up NEW`, or the first bare `up`)
/// goes through the wizard first. Returns the project it wrote, if it ran.
pub fn before_up(ctx: &mut Ctx<'_>, catalog: &Catalog, config: &Config, name: Option<&str>) -> Result<Option<String>> {
    if !std::io::stdin().is_terminal() || !undefined(ctx, config, name)? {
        return Ok(None);
    }
    let shown = name.unwrap_or(DEFAULT_PROJECT);
    ctx.ui.note(&format!("project `{shown}` is not defined yet: let's define it"));
    let given = Given { name: name.map(str::to_string), ..Given::default() };
    write_entry(ctx, catalog, &given, Some(DEFAULT_PROJECT)).map(Some)
}

/// `up NEW` of a valid name with no entry and no VM, or a bare `up` with no projects at all.
fn undefined(ctx: &mut Ctx<'_>, config: &Config, name: Option<&str>) -> Result<bool> {
    if name.is_some_and(|n| n == DEFAULT_PROJECT || check_project_name(n).is_err()) {
        return Ok(false);
    }
    let fresh = match name {
        Some(n) => !config.projects.contains_key(n),
        None => config.local_project.is_none() && config.projects.is_empty(),
    };
    Ok(fresh && ctx.lima()?.instance(name.unwrap_or(DEFAULT_PROJECT))?.is_none())
}

/// Runs the wizard (asking only on a terminal), writes the entry, and returns its name.
fn write_entry(ctx: &mut Ctx<'_>, catalog: &Catalog, given: &Given, suggested_name: Option<&str>) -> Result<String> {
    let path = ctx.paths.projects_file.clone();
    let text = config::read_text(&path)?.unwrap_or_default();
    let file = parse_existing(&path, &text, catalog)?;
    let runner = ctx.runner;
    let user_ssh = (ctx.env)("GIT_SSH_COMMAND");
    let check = |url: &RepoUrl| crate::driver::repo_access::check(runner, url, user_ssh.as_ref());
    let agent_keys = || agent_keys(runner);
    let env = Env {
        catalog,
        defaults: &file.defaults,
        projects: &file.projects,
        projects_file: &path,
        suggested_name,
        check_repo: &check,
        agent_keys: &agent_keys,
    };
    let answers = if !given.yes && std::io::stdin().is_terminal() {
        wizard::run(&env, given, &mut Terminal::new(ctx.ui))?
    } else {
        wizard::run(&env, given, &mut Closed::new(ctx.ui))?
    };
    // Read, edit and write under the projects file's lock, reading it again: another `create`
    // may have written it while the wizard asked (its project must not be lost).
    let waiting = format!("waiting for another machine command that edits {}…", path.display());
    let _lock = crate::driver::lock::exclusive(&edit_lock_path(&path), &mut || ctx.ui.note(&waiting))?;
    let text = config::read_text(&path)?.unwrap_or_default();
    let file = parse_existing(&path, &text, catalog)?;
    let old = Answers::current(&answers.name, file.projects.get(&answers.name), &file.defaults);
    let new_text = edit::apply(&text, &old, &answers)?;
    let entry = edit::entry_text(&new_text, &answers.name).unwrap_or_default();
    if new_text == text {
        ctx.ui.data(&entry);
        ctx.ui.note(&format!("[{}] in {} is unchanged", answers.name, path.display()));
        return Ok(answers.name);
    }
    parse_projects_file(&Source::new(&path, new_text.as_str()), catalog).map_err(|d| {
        diagnostics_error(&d)
            .hint(format!("nothing was written to {}; run `machine create` again with other answers", path.display()))
    })?;
    refuse_read_only(&path)?;
    stack::write_atomic(&path, new_text.as_bytes())?;
    ctx.ui.data(&entry);
    ctx.ui.note(&format!("wrote [{}] to {}", answers.name, path.display()));
    Ok(answers.name)
}

/// The host agent's keys, for the `ssh_keys` check list.
fn agent_keys(
    runner: &dyn crate::driver::exec::Runner,
) -> std::result::Result<Vec<crate::driver::ssh_agent::AgentKey>, String> {
    let out = runner.output(&crate::driver::ssh_agent::list_cmd()).map_err(|e| e.message().to_string())?;
    match out.code {
        Some(0) => Ok(crate::driver::ssh_agent::parse_list(&out.stdout_text())),
        Some(1) => Ok(Vec::new()),
        None => Err("`ssh-add -l` did not answer within 5 s (is the agent locked?)".into()),
        _ => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    }
}

/// `.projects.toml.lock` beside the file: the file itself is replaced by rename, its lock not.
fn edit_lock_path(path: &Path) -> std::path::PathBuf {
    let name = path.file_name().map_or_else(|| "projects.toml".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.lock"))
}

/// A file the user made read-only is theirs to change, not machine's.
fn refuse_read_only(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().readonly() => {
            Err(Error::usage(format!("{} is read-only, so machine does not replace it", path.display())).hint(format!(
                "make it writable (`chmod u+w {}`) and run `machine create` again, or edit it yourself",
                path.display()
            )))
        }
        _ => Ok(()),
    }
}

/// The file as it is; an invalid file is not edited.
fn parse_existing(path: &Path, text: &str, catalog: &Catalog) -> Result<ProjectsFile> {
    parse_projects_file(&Source::new(path, text), catalog).map_err(|d| {
        diagnostics_error(&d).hint(format!("fix {} first: `machine create` only edits a valid file", path.display()))
    })
}
