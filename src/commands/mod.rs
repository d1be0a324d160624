//! One module per subcommand; each has its clap `Args` and a `run`.

pub mod agent;
pub mod bake;
pub mod cache;
pub mod code;
pub mod completions;
pub mod create;
pub mod destroy;
pub mod doctor;
pub mod down;
pub mod init;
pub mod list;
pub mod mcp;
pub mod pr;
pub mod profiles;
pub mod proxy;
mod proxy_vm;
pub mod prune;
pub mod render;
pub mod reset;
pub mod run;
pub mod scoped_agent;
pub mod secrets;
mod session;
pub mod snapshot;
pub mod ssh;
pub mod ssh_config;
pub mod status;
pub mod trust;
pub mod up;

use std::ffi::OsString;
use std::path::PathBuf;

use std::io::IsTerminal as _;

use crate::cli::Command;
use crate::compiler::compile::{self, HostFacts, Identity, Stack};
use crate::compiler::config::model::{DEFAULT_PROJECT, Project, check_project_name};
use crate::compiler::config::{self, Config};
use crate::compiler::instance::Spec;
use crate::compiler::layers::Catalog;
use crate::compiler::paths::Paths;
use crate::driver::exec::Runner;
use crate::driver::project_state::ProjectDir;
use crate::driver::vm::Lima;
use crate::driver::{host, identity, lima};
use crate::error::{Error, Result};
use crate::ui::Ui;
use crate::ui::wizard::prompt::Prompter as _;

/// What every command gets: where things are, how to run programs, how to print.
pub struct Ctx<'a> {
    pub paths: Paths,
    pub cwd: PathBuf,
    pub env: &'a dyn Fn(&str) -> Option<OsString>,
    pub runner: &'a dyn Runner,
    pub ui: &'a mut Ui,
    /// projects.toml's `[proxy]` table, as the last [`Ctx::config`] read it.
    pub proxy: Option<crate::compiler::config::proxy::ProxySettings>,
}

/// Diagnostics as one block of text, for a warning.
fn diagnostics_text(diagnostics: &[crate::compiler::config::source::Diagnostic]) -> String {
    diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl<'a> Ctx<'a> {
    /// The built-in layers plus the user's profiles. A profile that does not load is an error only
    /// for a project that uses it (see [`Ctx::config`]); an unreadable profiles folder is one now.
    pub fn catalog(&self) -> Result<Catalog> {
        let mut catalog = Catalog::builtin();
        if let Err(errors) = catalog.add_user_profiles(&self.paths.profiles_dir())
            && catalog.broken_profiles().next().is_none()
        {
            return Err(config::diagnostics_error(&errors));
        }
        Ok(catalog)
    }

    pub fn config(&mut self, catalog: &Catalog) -> Result<Config> {
        let config = config::load(&self.paths, catalog, &self.cwd, self.runner)?;
        for (name, why) in catalog.broken_profiles() {
            let why = diagnostics_text(why);
            let effect = if catalog.layer(name).is_some() || catalog.image(name).is_some() {
                format!("every project that uses the `{name}` layer it replaces fails")
            } else {
                "no project can use it".to_string()
            };
            self.ui.warn(&format!("profile `{name}` does not load, so {effect} until it is fixed:\n{why}"));
        }
        for note in &config.notes {
            self.ui.note(note);
        }
        self.proxy = Some(config.proxy.clone());
        Ok(config)
    }

    /// The credential proxy's settings: those the configuration was read with, else read now.
    pub fn proxy_settings(&mut self, catalog: &Catalog) -> Result<crate::compiler::config::proxy::ProxySettings> {
        if let Some(settings) = &self.proxy {
            return Ok(settings.clone());
        }
        let settings = config::proxy_settings(&self.paths, catalog)?;
        self.proxy = Some(settings.clone());
        Ok(settings)
    }

    /// The named project, else the `.machine.toml` project here, else `default`. A name with no
    /// entry is accepted when a VM of that name exists (it gets the defaults).
    pub fn project(&mut self, name: Option<&str>) -> Result<(Catalog, Project)> {
        self.project_from(name, false)
    }

    fn project_from(&mut self, name: Option<&str>, note_source: bool) -> Result<(Catalog, Project)> {
        let catalog = self.catalog()?;
        let config = self.config(&catalog)?;
        let project = self.project_in(&config, name, note_source)?;
        Ok((catalog, project))
    }

    /// The project `name` (or the default one) of a configuration already loaded; with
    /// `note_source`, first says which `.machine.toml` was read and whether it is trusted.
    pub fn project_in(&mut self, config: &Config, name: Option<&str>, note_source: bool) -> Result<Project> {
        if let Some(note) = config.local_file_note().filter(|_| note_source) {
            self.ui.note(&note);
        }
        let name =
            name.map(str::to_string).or_else(|| config.local_project.clone()).unwrap_or_else(|| DEFAULT_PROJECT.into());
        not_a_branch(&name)?;
        check_project_name(&name).map_err(|why| Error::usage(format!("invalid project name `{name}`: it {why}")))?;
        if let Some(project) = config.project(&name) {
            return Ok(project);
        }
        if self.lima()?.instance(&name)?.is_some() {
            // A branch VM's Lima name is not a project: the VM is `PROJECT@BRANCH`.
            let shown = shown_vm(&self.paths.state_dir, &name);
            if shown != name {
                return Err(Error::usage(format!("`{name}` is the Lima name of the branch VM `{shown}`"))
                    .hint(format!("name it as `{shown}`")));
            }
            return Ok(config.implicit_project(&name));
        }
        Err(unknown_project(config, &name))
    }

    /// The VM `arg` names (`PROJECT` or `PROJECT@BRANCH`; none: the `.machine.toml` project
    /// here, else `default`), with the project it belongs to.
    pub fn target(&mut self, arg: Option<&str>) -> Result<(Catalog, Target)> {
        let catalog = self.catalog()?;
        let config = self.config(&catalog)?;
        let target = self.target_in(&config, arg, false)?;
        Ok((catalog, target))
    }

    /// As [`Self::target`], for a configuration already loaded.
    pub fn target_in(&mut self, config: &Config, arg: Option<&str>, note_source: bool) -> Result<Target> {
        let spec = match arg {
            Some(arg) => Spec::parse(arg).map_err(|why| {
                Error::usage(format!("`{arg}` names no VM: {why}")).hint("write PROJECT or PROJECT@BRANCH")
            })?,
            None => {
                Spec { project: config.local_project.clone().unwrap_or_else(|| DEFAULT_PROJECT.into()), branch: None }
            }
        };
        // A branch instance of a project nobody configured still belongs to that project.
        let project = match (&spec.branch, config.project(&spec.project)) {
            (Some(_), None) if self.lima()?.instance(&spec.instance())?.is_some() => {
                check_project_name(&spec.project)
                    .map_err(|why| Error::usage(format!("invalid project name `{}`: it {why}", spec.project)))?;
                config.implicit_project(&spec.project)
            }
            _ => self.project_in(config, Some(&spec.project), note_source)?,
        };
        let instance = spec.instance();
        Ok(Target { project, shown: spec.shown(), branch: spec.branch, instance })
    }

    /// Takes the project's lock (see [`ProjectDir::lock`]), saying so while another machine
    /// command on the same project holds it. Every command that changes a VM or its record
    /// takes it; read-only ones never wait for it.
    pub fn lock_project(&mut self, name: &str) -> Result<crate::driver::lock::Lock> {
        let state_dir = &self.paths.state_dir;
        let ui = &mut *self.ui;
        // The VM's name as the user writes it costs a read of its record: only when waiting.
        ProjectDir::new(state_dir, name).lock(|| {
            let shown = shown_vm(state_dir, name);
            ui.note(&format!("waiting for another machine command on `{shown}` to finish…"));
        })
    }

    /// Lima, through this context's runner (borrowing the runner, not the context).
    pub fn lima(&self) -> Result<Lima<'a>> {
        let home = lima::lima_home(self.env).ok_or_else(|| Error::failure("neither LIMA_HOME nor HOME is set"))?;
        Ok(Lima::new(self.runner, home).with_agents(&self.paths.state_dir))
    }

    /// The git identity for the guest; `strict` (for `up`) refuses a missing name or email. A
    /// signing key that cannot be resolved is a warning: commits are then unsigned.
    pub fn identity(&mut self, strict: bool) -> Result<Identity> {
        let resolved = identity::resolve(self.env, self.runner);
        if let Some(invalid) = resolved.invalid.into_iter().next() {
            return Err(invalid);
        }
        for problem in resolved.problems {
            self.ui.warn(&format!("{problem}\n  (the VM's commits will not be signed until this is fixed)"));
        }
        let id = resolved.identity;
        if strict && (id.name.is_empty() || id.email.is_empty()) {
            return Err(Error::usage("no git identity for the VM's commits")
                .hint("run `git config --global user.name 'Your Name'` and `git config --global user.email you@example.com`, or set GIT_NAME and GIT_EMAIL"));
        }
        Ok(id)
    }

    /// Compiles the project's stack against this host.
    pub fn compile(&mut self, project: &Project, catalog: &Catalog, identity: Identity) -> Result<Stack> {
        let facts = host::facts(&self.paths, identity)?;
        self.compile_with(project, catalog, &facts)
    }

    /// Compiles the project's stack against facts already gathered, showing its warnings.
    pub fn compile_with(&mut self, project: &Project, catalog: &Catalog, facts: &HostFacts) -> Result<Stack> {
        let stack = compile::compile(project, catalog, facts)?;
        for warning in &stack.warnings {
            self.ui.warn(warning);
        }
        Ok(stack)
    }

    /// What a VM that stops or goes away leaves on the host: its scoped agent is stopped and its
    /// proxy token revoked (a boot gets a new one). Both are always tried; a failure is a
    /// warning, so it never keeps the VM's own stop or removal from completing.
    pub fn release_host_channels(&mut self, instance: &str) {
        if let Err(e) = scoped_agent::stop(self, instance) {
            self.ui.warn(&e.to_string());
        }
        if let Err(e) = proxy_vm::forget(self, instance) {
            self.ui.warn(&format!("the credential proxy may still accept the token of VM `{instance}`: {e}"));
        }
    }

    /// Asks a yes/no question on the terminal (default no).
    pub fn confirm(&mut self, question: &str) -> Result<bool> {
        if !std::io::stdin().is_terminal() {
            return Err(Error::usage(format!("{question} — needs confirmation, but stdin is not a terminal"))
                .hint("pass -y to confirm"));
        }
        // The wizard's prompt, so every yes/no question looks the same.
        crate::ui::wizard::prompt::Terminal::new(self.ui).confirm(question, false)
    }
}

/// The VM a command acts on, and the project it belongs to.
#[derive(Debug, Clone)]
pub struct Target {
    pub project: Project,
    /// `None` for the project's own VM.
    pub branch: Option<String>,
    /// The Lima instance name (the project's name for its own VM).
    pub instance: String,
    /// As the user writes it: `blog` or `blog@feature/x`.
    pub shown: String,
}

impl Target {
    /// Where machine keeps what it knows about this VM.
    pub fn dir(&self, state_dir: &std::path::Path) -> ProjectDir {
        ProjectDir::new(state_dir, &self.instance)
    }
}

/// How the user names the VM whose Lima instance is `instance`: `PROJECT@BRANCH` for a branch VM
/// (from its record), else the instance name itself.
pub(crate) fn shown_vm(state_dir: &std::path::Path, instance: &str) -> String {
    match ProjectDir::new(state_dir, instance).applied() {
        Ok(Some(applied)) if applied.branch.is_some() && !applied.project.is_empty() => {
            format!("{}@{}", applied.project, applied.branch.unwrap_or_default())
        }
        _ => instance.to_string(),
    }
}

/// Refuses `PROJECT@BRANCH` where only a project makes sense (`render`, `bake`, `snapshot`).
pub(super) fn not_a_branch(name: &str) -> Result<()> {
    match name.split_once('@') {
        Some((project, _)) => Err(Error::usage(format!("`{name}` is a branch VM: this command takes a project"))
            .hint(format!("name the project: `{project}`"))),
        None => Ok(()),
    }
}

pub(super) fn unknown_project(config: &Config, name: &str) -> Error {
    let known: Vec<&str> = config.projects.keys().map(String::as_str).collect();
    let listed = if known.is_empty() { "none yet".to_string() } else { known.join(", ") };
    Error::usage(format!("no project `{name}` in {}", config.projects_file.display()))
        .hint(format!(
            "create it with `machine create {name}`, or add a [{name}] table to that file (configured projects: {listed}; `default` always exists)"
        ))
}

/// Runs a command; `Ok(code)` is the process exit code (the guest's, for `run` and `ssh`).
pub fn dispatch(command: &Command, ctx: &mut Ctx<'_>) -> Result<i32> {
    match command {
        Command::Init(args) => init::run(args, ctx),
        Command::Create(args) => create::run(args, ctx),
        Command::Up(args) => up::run(args, ctx),
        Command::Down(args) => down::run(args, ctx),
        Command::Ssh(args) => ssh::run(args, ctx),
        Command::Run(args) => run::run(args, ctx),
        Command::Claude(args) => agent::run(agent::Agent::Claude, args, ctx),
        Command::Codex(args) => agent::run(agent::Agent::Codex, args, ctx),
        Command::List(args) => list::run(args, ctx),
        Command::Destroy(args) => destroy::run(args, ctx),
        Command::Render(args) => render::run(args, ctx).map(|()| 0),
        Command::Profiles(args) => profiles::run(args, ctx).map(|()| 0),
        Command::Bake(args) => bake::run(args, ctx),
        Command::Cache(args) => cache::run(args, ctx),
        Command::Doctor(args) => doctor::run(args, ctx),
        Command::Secrets(args) => secrets::run(args, ctx),
        Command::Agent(args) => scoped_agent::run(args, ctx),
        Command::Trust(args) => trust::run(args, ctx),
        Command::Snapshot(args) => snapshot::run(args, ctx),
        Command::Status(args) => status::run(args, ctx),
        Command::Prune(args) => prune::run(args, ctx),
        Command::Proxy(args) => proxy::run(args, ctx),
        Command::Reset(args) => reset::run(args, ctx),
        Command::Pr(args) => pr::run(args, ctx),
        Command::SshConfig(args) => ssh_config::run(args, ctx),
        Command::Code(args) => code::run(args, ctx),
        Command::Mcp(args) => mcp::run(args, ctx),
        Command::Completions(args) => completions::run(args, ctx),
        Command::Complete(args) => completions::complete(args, ctx),
    }
}
