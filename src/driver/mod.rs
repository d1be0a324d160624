//! The effectful driver: running programs (`exec`), Lima (`lima` builds its command lines and
//! parses its output, `vm` runs them), the bake cache and golden disks, writing stacks, and what
//! machine records about each VM. Commands compose these; nothing here prints except through `ui`.

pub mod bake;
pub mod exec;
pub mod gitconfig;
pub mod golden;
pub mod host;
pub mod identity;
pub mod lima;
pub mod lock;
pub mod project_state;
pub mod repo_access;
pub mod ssh_agent;
pub mod ssh_hosts;
pub mod stack;
pub mod vm;
