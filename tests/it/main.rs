//! The one integration-test binary (faster to link than one per file).

mod support;

mod agent_lifecycle;
mod bake;
mod branches;
mod compile;
mod completions;
mod config_errors;
mod doctor;
mod fake;
mod fake_conformance;
mod init;
mod lifecycle;
mod lima_parsers;
mod lima_rules;
mod mcp;
mod packaging;
mod profile_errors;
mod properties;
mod provision_harness;
mod proxy;
mod proxy_cli;
mod render_cli;
mod scoped_agent;
mod secrets;
mod transcripts;
mod trust;
mod upstream;
mod wizard;
