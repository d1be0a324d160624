//! The MCP server's tools: each one a command of the CLI, with a JSON schema for its arguments
//! and one for its structured result. A failure is a tool error (`isError`) whose text is what
//! the CLI prints for it (message, causes and hints); a malformed argument is a tool error too.

use std::time::Duration;

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Server;
use crate::commands::{destroy, down, list, render, run, up};
use crate::error::{Error, Result};

/// How long `run` lets a command take when the call does not say.
const DEFAULT_RUN_TIMEOUT_SECS: u64 = 600;
/// The longest `run` lets a command take.
const MAX_RUN_TIMEOUT_SECS: u64 = 3600;
/// How much of each of a command's stdout and stderr `run` returns: half from the start, half
/// from the end (where test runners and compilers say how it went).
const OUTPUT_CAP: usize = 64 * 1024;
/// What the runner keeps of each stream: a little more than the cap, so that cutting it on
/// character boundaries still fills it.
const KEPT: usize = OUTPUT_CAP + 16;

/// A project, or the default one.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectArgs {
    /// The project (default: the `.machine.toml` project of the server's folder, else `default`).
    #[serde(default)]
    pub project: Option<String>,
}

/// A project, named.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedProjectArgs {
    /// The project.
    pub project: String,
}

/// A command for a project's VM.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    /// The project whose VM runs the command.
    pub project: String,
    /// The program and its arguments, one word each; no shell in between (ask for one: `["bash", "-lc", "…"]`).
    #[schemars(length(min = 1))]
    pub argv: Vec<String>,
    #[schemars(description = "The folder to run in: one of the project's repos or a folder under one, as \
                              `<repo>[/sub/folder]` or `~/code/<repo>[/…]` (default: the primary repo, or the \
                              guest user's home when it was never cloned).")]
    #[serde(default)]
    pub workdir: Option<String>,
    /// Seconds after which the command is killed (default 600, at most 3600).
    #[serde(default)]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_secs: Option<u64>,
}

/// Every VM and configured project, as `machine list --json` prints them.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProjectList {
    /// By name.
    pub projects: Vec<list::Row>,
    /// What machine said on the way: notes and warnings, as the CLI prints them on stderr.
    pub notes: String,
}

/// One VM as `machine status PROJECT --json` reports it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Status {
    /// The VM: Lima's state, driver, drift, provisioning, disk, last use and, when it runs, the
    /// guest's uptime, disk, agent and each repo's branch, ahead/behind and dirty state.
    pub vm: crate::commands::status::VmStatus,
    /// What machine said on the way.
    pub notes: String,
}

/// A VM that is up: running, provisioned, its repos cloned.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Up {
    /// The project.
    pub project: String,
    /// The closing lines `machine up` prints.
    pub summary: String,
    /// What the VM is ready with (a failed clone without agent forwarding, a changed configuration).
    pub warnings: Vec<String>,
    /// Everything machine said on the way: each step, notes and warnings.
    pub notes: String,
}

/// A VM that is down.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Down {
    /// The project.
    pub project: String,
    /// Whether this call stopped it (else it was not running).
    pub stopped: bool,
    /// Lima's status of the VM now.
    pub status: String,
    /// What machine said on the way.
    pub notes: String,
}

/// How a command in a VM ended.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Ran {
    /// The project.
    pub project: String,
    /// The command's exit code; null when it was killed (by a signal, or at the timeout).
    pub exit_code: Option<i32>,
    /// Whether it was killed at the timeout (what it printed until then is kept).
    pub timed_out: bool,
    /// Its standard output: at most 64 KiB, the start and the end, the cut marked in the text.
    pub stdout: String,
    /// Its standard error, capped the same way.
    pub stderr: String,
    /// Whether stdout was cut.
    pub stdout_truncated: bool,
    /// Whether stderr was cut.
    pub stderr_truncated: bool,
    /// What machine said on the way, and what was cut.
    pub notes: String,
}

/// A compiled stack, as `machine render --json` prints it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Rendered {
    #[serde(flatten)]
    pub stack: render::StackJson,
    /// What machine said on the way (which `.machine.toml` was read, warnings).
    pub notes: String,
}

/// A project whose VM and state are gone.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Destroyed {
    /// The project.
    pub project: String,
    /// What machine said on the way.
    pub notes: String,
}

// Every tool returns its structured result, or a tool error: the return types are spelled out,
// since the macros read `Result<Json<T>, _>` there to publish T's schema as the output schema.
#[tool_router(vis = "pub")]
impl Server {
    #[tool(
        description = "List the configured projects and every Lima VM, with each VM's status, CPUs, memory and disk: \
        the same data as `machine list --json`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    pub async fn list_projects(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<ProjectList>, CallToolResult> {
        let (rows, notes) = self.call(&context, list::rows).await;
        Ok(Json(ProjectList { projects: rows.map_err(|e| failure(&e, &notes))?, notes }))
    }

    #[tool(
        description = "One VM (PROJECT, or PROJECT@BRANCH for a branch VM) as `machine status --json` reports it: \
        Lima's state and driver, whether its stack matches the configuration (and what drifted), whether its last \
        boot provisioned, disk, last use and, when it runs, the guest's uptime, disk, agent and each repo's branch, \
        ahead/behind and dirty state.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    pub async fn status(
        &self,
        Parameters(args): Parameters<ProjectArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<Status>, CallToolResult> {
        let (vm, notes) =
            self.call(&context, move |ctx| crate::commands::status::one(ctx, args.project.as_deref())).await;
        Ok(Json(Status { vm: vm.map_err(|e| failure(&e, &notes))?, notes }))
    }

    #[tool(
        description = "Bring a project's VM up, as `machine up` does: create it from the project's stack (minutes the \
        first time), or start it, provision it and clone its repos; nothing when it already runs and is \
        current. Long steps are reported as progress notifications.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
    )]
    pub async fn up(
        &self,
        Parameters(args): Parameters<ProjectArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<Up>, CallToolResult> {
        let (outcome, notes) = self
            .call(&context, move |ctx| {
                // Named first, so that an unknown project is refused as the CLI refuses it and
                // never reaches the `create` wizard, which would read the protocol's stdin.
                let (_, project) = ctx.project(args.project.as_deref())?;
                up::up(&up::Args { project: Some(project.name), branch: None, recreate: false, yes: false }, ctx)
            })
            .await;
        let outcome = outcome.map_err(|e| failure(&e, &notes))?;
        Ok(Json(Up { summary: up::summary(&outcome), project: outcome.project, warnings: outcome.warnings, notes }))
    }

    #[tool(
        description = "Stop a project's VM, as `machine down` does; its disk, clones and installed tools are kept.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn down(
        &self,
        Parameters(args): Parameters<ProjectArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<Down>, CallToolResult> {
        let (outcome, notes) =
            self.call(&context, move |ctx| down::stop(&down::Args { project: args.project }, ctx)).await;
        let outcome = outcome.map_err(|e| failure(&e, &notes))?;
        Ok(Json(Down { project: outcome.project, stopped: outcome.stopped, status: outcome.status, notes }))
    }

    #[tool(
        description = "Run a command in a project's running VM, in its primary repo or another folder under its repos, \
        and return its exit code, stdout and stderr (each at most 64 KiB: the start and the end). argv \
        is passed as it is, with no shell. Calls on one project run one at a time.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
    )]
    pub async fn run(
        &self,
        Parameters(args): Parameters<RunArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<Ran>, CallToolResult> {
        let name = args.project.clone();
        let (outcome, notes) = self
            .call(&context, move |ctx| {
                let limit = run_timeout(args.timeout_secs)?;
                run::capture(ctx, &args.project, &args.argv, args.workdir.as_deref(), limit, KEPT)
            })
            .await;
        let captured = outcome.map_err(|e| failure(&e, &notes))?;
        Ok(Json(ran(name, &captured.out, captured.timed_out, notes)))
    }

    #[tool(
        description = "The stack `machine up` would create a project's VM from, as `machine render --json` prints it: \
        each layer's lima.yaml, lowest first, and the instance's. It touches no VM.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    pub async fn render(
        &self,
        Parameters(args): Parameters<ProjectArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<Rendered>, CallToolResult> {
        let (stacks, notes) = self
            .call(&context, move |ctx| {
                render::stacks(&render::Args { project: args.project, all: false, json: true }, ctx)
            })
            .await;
        let mut stacks = stacks.map_err(|e| failure(&e, &notes))?;
        Ok(Json(Rendered { stack: render::StackJson::new(&stacks.remove(0)), notes }))
    }

    #[tool(
        description = "Delete a project's VM, its disk and everything machine stored for it, as `machine destroy -y` \
        does (its configuration is kept: `up` creates it again). Only served when the server was started \
        with --allow-destroy.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn destroy(
        &self,
        Parameters(args): Parameters<NamedProjectArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<Destroyed>, CallToolResult> {
        let name = args.project.clone();
        let (outcome, notes) = self
            .call(&context, move |ctx| {
                destroy::run(&destroy::Args { project: Some(args.project), yes: true, force: false }, ctx)
            })
            .await;
        outcome.map_err(|e| failure(&e, &notes))?;
        Ok(Json(Destroyed { project: name, notes }))
    }
}

/// A tool error: the error as the CLI prints it, then what machine said before it failed.
fn failure(error: &Error, notes: &str) -> CallToolResult {
    let mut content = vec![ContentBlock::text(error.to_string())];
    if !notes.is_empty() {
        content.push(ContentBlock::text(format!("machine said before that:\n{notes}")));
    }
    CallToolResult::error(content)
}

fn run_timeout(secs: Option<u64>) -> Result<Duration> {
    match secs.unwrap_or(DEFAULT_RUN_TIMEOUT_SECS) {
        secs @ 1..=MAX_RUN_TIMEOUT_SECS => Ok(Duration::from_secs(secs)),
        secs => Err(Error::usage(format!("timeout_secs {secs} is out of range"))
            .hint(format!("give 1 to {MAX_RUN_TIMEOUT_SECS} seconds, or leave it out for {DEFAULT_RUN_TIMEOUT_SECS}"))),
    }
}

/// A finished command as a result: its output capped, and what was cut said in the notes.
fn ran(project: String, out: &crate::driver::exec::Output, timed_out: bool, mut notes: String) -> Ran {
    let (stdout, stdout_cut) = cap(&out.stdout, out.cut[0]);
    let (stderr, stderr_cut) = cap(&out.stderr, out.cut[1]);
    let mut say = |line: String| {
        if !notes.is_empty() {
            notes.push('\n');
        }
        notes.push_str(&line);
    };
    for (stream, cut) in [("stdout", stdout_cut), ("stderr", stderr_cut)] {
        if let Some(total) = cut {
            say(format!("{stream} was {total} bytes: only its first and last {} KiB are shown", OUTPUT_CAP / 2048));
        }
    }
    if timed_out && out.code.is_none() {
        say("the VM did not end the command at its timeout, so machine stopped waiting: it may still be running there"
            .into());
    } else if timed_out {
        say("the command was killed at its timeout (by the guest's `timeout`: exit code 124, or 137 when it had to KILL); its output up to then is shown".into());
    } else if out.code.is_none() {
        say("the command was killed by a signal".into());
    }
    Ran {
        project,
        exit_code: out.code,
        timed_out,
        stdout,
        stderr,
        stdout_truncated: stdout_cut.is_some(),
        stderr_truncated: stderr_cut.is_some(),
        notes,
    }
}

/// `bytes` as text of at most [`OUTPUT_CAP`] bytes (plus the marker of the cut): the first and
/// the last half, cut on character boundaries; with the original size when it was cut.
/// `dropped` bytes were already left out by the runner, right after the first `KEPT / 2`.
fn cap(bytes: &[u8], dropped: usize) -> (String, Option<usize>) {
    if dropped > 0 {
        return cap_kept(bytes, dropped);
    }
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= OUTPUT_CAP {
        return (text.into_owned(), None);
    }
    let half = OUTPUT_CAP / 2;
    let mut head = half;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - half;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    let cut = tail - head;
    (format!("{}\n[… {cut} bytes cut …]\n{}", &text[..head], &text[tail..]), Some(bytes.len()))
}

/// [`cap`] of what the runner kept: its head and its tail, each cut to half the cap.
fn cap_kept(bytes: &[u8], dropped: usize) -> (String, Option<usize>) {
    let split = (KEPT / 2).min(bytes.len());
    let (head, tail) = (String::from_utf8_lossy(&bytes[..split]), String::from_utf8_lossy(&bytes[split..]));
    let half = OUTPUT_CAP / 2;
    let mut end = half.min(head.len());
    while !head.is_char_boundary(end) {
        end -= 1;
    }
    let mut start = tail.len().saturating_sub(half);
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    let total = bytes.len() + dropped;
    let cut = total.saturating_sub(end + (tail.len() - start));
    (format!("{}\n[… {cut} bytes cut …]\n{}", &head[..end], &tail[start..]), Some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_runner_cut_is_said_with_the_whole_size() {
        let mut kept = vec![b'a'; KEPT / 2];
        kept.extend(vec![b'z'; KEPT - KEPT / 2]);
        let (text, total) = cap(&kept, 1_000_000);
        assert_eq!(total, Some(KEPT + 1_000_000));
        assert!(
            text.starts_with(&"a".repeat(OUTPUT_CAP / 2)) && text.ends_with(&"z".repeat(OUTPUT_CAP / 2)),
            "{}",
            &text[..40]
        );
        assert!(
            text.contains(&format!("[… {} bytes cut …]", KEPT + 1_000_000 - OUTPUT_CAP)),
            "the count is the whole stream's"
        );
        assert!(text.len() < OUTPUT_CAP + 64);
    }

    #[test]
    fn short_output_is_kept_whole() {
        assert_eq!(cap(b"ok\n", 0), ("ok\n".to_string(), None));
        let exact = vec![b'x'; OUTPUT_CAP];
        assert_eq!(cap(&exact, 0).1, None);
    }

    #[test]
    fn long_output_keeps_its_start_and_end() {
        let mut bytes = b"START".to_vec();
        bytes.extend(std::iter::repeat_n(b'.', 200_000));
        bytes.extend(b"END");
        let (text, cut) = cap(&bytes, 0);
        assert_eq!(cut, Some(200_008));
        assert!(text.starts_with("START") && text.ends_with("END"), "{}", &text[..20]);
        assert!(text.contains(&format!("[… {} bytes cut …]", 200_008 - OUTPUT_CAP)));
        assert!(text.len() < OUTPUT_CAP + 64);
    }

    #[test]
    fn cuts_fall_between_characters() {
        let bytes = "é".repeat(OUTPUT_CAP).into_bytes();
        let (text, cut) = cap(&bytes, 0);
        assert!(cut.is_some());
        assert!(text.starts_with('é') && text.ends_with('é'));
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(run_timeout(None).unwrap(), Duration::from_secs(DEFAULT_RUN_TIMEOUT_SECS));
        assert_eq!(run_timeout(Some(5)).unwrap(), Duration::from_secs(5));
        for bad in [0, MAX_RUN_TIMEOUT_SECS + 1] {
            let err = run_timeout(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("is out of range") && err.contains("hint: give 1 to 3600 seconds"), "{err}");
        }
    }
}
