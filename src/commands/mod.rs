//! One module per subcommand; each has its clap `Args` and a `run`.

pub mod profiles;
pub mod render;

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::Command;
use crate::config::{self, Config};
use crate::error::Result;
use crate::exec::Runner;
use crate::layers::Catalog;
use crate::paths::Paths;
use crate::ui::Ui;

/// What every command gets: where things are, how to run programs, how to print.
pub struct Ctx<'a> {
    pub paths: Paths,
    pub cwd: PathBuf,
    pub env: &'a dyn Fn(&str) -> Option<OsString>,
    pub runner: &'a dyn Runner,
    pub ui: &'a mut Ui,
}

impl Ctx<'_> {
    /// The built-in layers plus the user's profiles.
    pub fn catalog(&self) -> Result<Catalog> {
        let mut catalog = Catalog::builtin();
        catalog.add_user_profiles(&self.paths.profiles_dir()).map_err(|d| config::diagnostics_error(&d))?;
        Ok(catalog)
    }

    pub fn config(&mut self, catalog: &Catalog) -> Result<Config> {
        let config = config::load(&self.paths, catalog, &self.cwd, self.runner)?;
        for note in &config.notes {
            self.ui.note(note);
        }
        Ok(config)
    }
}

pub fn dispatch(command: &Command, ctx: &mut Ctx<'_>) -> Result<()> {
    match command {
        Command::Render(args) => render::run(args, ctx),
        Command::Profiles(args) => profiles::run(args, ctx),
    }
}
