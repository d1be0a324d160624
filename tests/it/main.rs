//! The one integration-test binary (faster to link than one per file).

mod support;

mod bake;
mod compile;
mod config_errors;
mod fake;
mod fake_conformance;
mod lifecycle;
mod lima_parsers;
mod lima_rules;
mod profile_errors;
mod properties;
mod provision_harness;
mod render_cli;
mod transcripts;
