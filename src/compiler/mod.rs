//! The pure core: configuration → validated model → layers → a stack of Lima templates.
//!
//! `compile` touches no file and runs no program. Its inputs come through two edges that say so:
//! `config::load` reads projects.toml and `.machine.toml` (and asks git for a folder's `origin`
//! through the runner it is given), and `layers` reads the user's profiles folder. `driver::stack`
//! writes the result.

pub mod compile;
pub mod config;
pub mod edit;
pub mod instance;
pub mod layers;
pub mod lima_keys;
pub mod paths;
pub mod yaml;
