//! The guest side. `templates/` (one Lima template per layer), `provision/` (their scripts) and
//! `files/` (dotfiles and `machine-guest`, the helper every host command calls in the VM) are
//! embedded by `build.rs` and shipped into the VM by the compiled stack; `report` parses what
//! `machine-guest` prints, as untrusted input.

pub mod report;
