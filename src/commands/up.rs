//! `machine up [PROJECT] [--recreate] [-y]`: from nothing to an agent-ready VM, and cheap when
//! the VM is already running and current.

use super::Ctx;
use crate::compile::Stack;
use crate::config::model::{Project, RepoUrl};
use crate::error::{Error, Result};
use crate::project_state::{Applied, ProjectDir};
use crate::vm::{Lima, Provisioning};
use crate::{lima, repo_access, stack};

/// Create (if needed), start, provision and clone a project's VM.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  machine up             # the .machine.toml project here, else `default`\n  machine up blog\n  machine up blog --recreate"
)]
pub struct Args {
    /// The project (default: the .machine.toml project here, else `default`).
    pub project: Option<String>,
    /// Destroy the VM and create it again from the current configuration.
    #[arg(long)]
    pub recreate: bool,
    /// Do not ask before destroying (with --recreate).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

/// What a successful `up` leaves to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub project: String,
    /// What the VM is ready with (a failed clone without agent forwarding, configuration drift).
    pub warnings: Vec<String>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let outcome = bring_up(args, ctx)?;
    ctx.ui.note(&summary(&outcome));
    Ok(0)
}

/// Everything `up` does but the closing summary.
pub fn bring_up(args: &Args, ctx: &mut Ctx<'_>) -> Result<Outcome> {
    // A project nobody has defined yet goes through the `create` wizard first (on a terminal).
    let catalog = ctx.catalog()?;
    let mut config = ctx.config(&catalog)?;
    let name = match super::create::before_up(ctx, &catalog, &config, args.project.as_deref())? {
        Some(created) => {
            // The wizard wrote the project: read the file it wrote.
            config = ctx.config(&catalog)?;
            Some(created)
        }
        None => args.project.clone(),
    };
    let project = ctx.project_in(&config, name.as_deref(), true)?;
    let dir = ProjectDir::new(&ctx.paths.state_dir, &project.name);
    let _lock = ctx.lock_project(&project.name)?;
    let identity = ctx.identity(true)?;
    let stack = ctx.compile(&project, &catalog, identity.clone())?;
    let lima = ctx.lima()?;
    let mut instance = lima.instance(&project.name)?;
    let mut applied = dir.applied()?;
    if applied.as_ref().is_some_and(|a| a.creating) {
        // An interrupted create: nothing ever ran in that VM, so it is made again.
        if instance.is_some() {
            ctx.ui.note(&format!("removing VM `{}`, left by an interrupted create", project.name));
            lima.delete(&project.name, true)?;
        }
        dir.forget_applied()?;
        (instance, applied) = (None, None);
    }
    if instance.is_some() && applied.is_none() && !args.recreate {
        // Maybe Lima's own `default` VM, or one machine's record of which is gone: never adopt it.
        return Err(Error::usage(format!(
            "a Lima VM `{}` exists, but machine did not create it (or lost its record)",
            project.name
        ))
        .hint(format!(
            "use another project name, or replace that VM with `machine up {} --recreate` (it is deleted)",
            project.name
        )));
    }
    if args.recreate && instance.is_some() {
        recreate(ctx, &lima, &project, &dir, applied.as_ref(), args.yes)?;
        instance = None;
        applied = None;
    }
    let mut warnings = Vec::new();
    let fresh = instance.is_none();
    let pending: Vec<&RepoUrl> = project
        .repos
        .iter()
        .filter(|r| fresh || !applied.as_ref().is_some_and(|a| a.cloned.iter().any(|c| c == r.dir_name())))
        .collect();
    check_reachable(ctx, &pending)?;
    // Right after a boot the ssh master is fresh (opened with this process's agent).
    let booted = !instance.as_ref().is_some_and(lima::Instance::is_running);
    let mut applied = match instance {
        None => {
            let stack = super::bake::before_create(ctx, &lima, &project, &catalog, identity, stack)?;
            create(ctx, &lima, &stack, &dir)?
        }
        Some(found) => {
            let mut applied = applied.expect("a VM without a record was refused above");
            if let Some(note) = drift(&applied, &stack) {
                warnings.push(note);
            }
            if !found.is_running() {
                applied.provisioned = false;
                dir.record(&applied)?;
                boot(ctx, &lima, &project.name, &applied.provision)?;
            } else if !applied.provisioned {
                // The last boot's provisioning failed (the VM stays up): it is still this boot's.
                let subject = format!("VM `{}`", project.name);
                lima.provisioning(&project.name).into_result(
                    &lima,
                    &project.name,
                    &subject,
                    &reboot_hint(&project.name),
                    &applied.provision,
                )?;
            }
            applied.provisioned = true;
            dir.record(&applied)?;
            applied
        }
    };
    if project.forward_agent && !pending.is_empty() && !booted {
        lima.heal_agent(&project.name);
    }
    clone_repos(ctx, &lima, &project, &pending, &dir, &mut applied, &mut warnings)?;
    Ok(Outcome { project: project.name, warnings })
}

fn create(ctx: &mut Ctx<'_>, lima: &Lima<'_>, stack: &Stack, dir: &ProjectDir) -> Result<Applied> {
    stack::write(stack)?;
    let leftover = lima::instance_dir(&lima.home, &stack.project);
    if leftover.exists() {
        // A folder Lima does not list is debris from a failed create; Lima refuses to reuse it.
        ctx.ui.note(&format!("removing {}, left by an earlier failed create", leftover.display()));
        std::fs::remove_dir_all(&leftover).map_err(|e| crate::error::io_error("remove", &leftover, &e))?;
    }
    // The intent goes first: a machine killed during or right after `limactl create` leaves a
    // record that says so, and the next `up` makes the VM again instead of refusing it.
    let intent = Applied {
        key: stack.key().full().to_string(),
        layers: stack.layers.iter().map(|l| l.name.clone()).collect(),
        instance_yaml: stack.instance_yaml.clone(),
        provision: stack.provision_owners(),
        creating: true,
        ..Applied::default()
    };
    dir.record(&intent)?;
    let step = ctx.ui.step(&format!("creating VM `{}`", stack.project));
    let created = lima.create(&stack.project, &stack.instance_path);
    ctx.ui.end_step(step, created.is_ok());
    created?;
    let applied = Applied { creating: false, ..intent };
    dir.record(&applied)?;
    boot(ctx, lima, &stack.project, &applied.provision)?;
    let applied = Applied { provisioned: true, ..applied };
    dir.record(&applied)?;
    Ok(applied)
}

/// Starts the VM and fails, naming the step, when any provision step of this boot failed.
fn boot(ctx: &mut Ctx<'_>, lima: &Lima<'_>, name: &str, owners: &[String]) -> Result<()> {
    let step = ctx.ui.step(&format!("starting and provisioning `{name}`"));
    let outcome = lima.start(name, &mut |line| step.progress(line));
    let ok = matches!(outcome, Ok(Provisioning::Done | Provisioning::Unknown));
    ctx.ui.end_step(step, ok);
    outcome?.into_result(lima, name, &format!("VM `{name}`"), &reboot_hint(name), owners)?;
    // Provisioning may have changed the login shell; a fresh master picks it up.
    lima.close_master(name);
    Ok(())
}

/// Provisioning runs at boot: retrying means rebooting.
fn reboot_hint(name: &str) -> String {
    format!("fix the cause, then run `machine down {name} && machine up {name}` to provision again")
}

/// Says how the VM's stack differs from the current configuration, if it does.
pub(super) fn drift(applied: &Applied, stack: &Stack) -> Option<String> {
    let (old_instance, new_instance) = (comparable(&applied.instance_yaml), comparable(&stack.instance_yaml));
    if applied.key == stack.key().full() && old_instance == new_instance {
        return None;
    }
    let now: Vec<String> = stack.layers.iter().map(|l| l.name.clone()).collect();
    let mut changes = Vec::new();
    for added in now.iter().filter(|l| !applied.layers.contains(l)) {
        changes.push(format!("+ layer {added}"));
    }
    for removed in applied.layers.iter().filter(|l| !now.contains(l)) {
        changes.push(format!("- layer {removed}"));
    }
    if applied.key != stack.key().full() && changes.is_empty() {
        changes.push("layer content changed (a newer machine or an edited profile)".into());
    }
    let old: Vec<&str> = old_instance.lines().collect();
    let new: Vec<&str> = new_instance.lines().collect();
    changes.extend(old.iter().filter(|l| !new.contains(l)).map(|l| format!("- {l}")));
    changes.extend(new.iter().filter(|l| !old.contains(l)).map(|l| format!("+ {l}")));
    Some(format!(
        "the VM was created from a different configuration:\n    {}\n  apply it with `machine up {} --recreate` (it warns about unpushed work first)",
        changes.join("\n    "),
        stack.project
    ))
}

/// The instance file without what is not configuration: `base:` (the chain key covers the
/// layers) and `images:` (only ever the baked disk it booted from, which the cache may change).
fn comparable(instance_yaml: &str) -> String {
    match crate::yaml::parse(instance_yaml) {
        Ok(crate::yaml::Value::Mapping(mut map)) => {
            map.remove("base");
            map.remove("images");
            crate::yaml::to_string(&crate::yaml::Value::Mapping(map))
        }
        _ => instance_yaml.to_string(),
    }
}

fn recreate(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    project: &Project,
    dir: &ProjectDir,
    applied: Option<&Applied>,
    yes: bool,
) -> Result<()> {
    // Without a record, `unpushed` with no folder checks every repo under ~/code.
    let cloned: Vec<&str> = applied.map(|a| a.cloned.iter().map(String::as_str).collect()).unwrap_or_default();
    if lima.instance(&project.name)?.is_some_and(|i| i.is_running()) {
        let mut args = vec!["unpushed"];
        args.extend(cloned);
        let out = lima.guest(&project.name, &args)?;
        if !out.success() {
            ctx.ui.warn(&format!("work in VM `{}` that exists nowhere else:\n{}", project.name, out.stdout_text()));
        }
    } else {
        ctx.ui
            .warn(&format!("VM `{}` is stopped, so its repos could not be checked for unpushed commits", project.name));
    }
    if !yes && !ctx.confirm(&format!("Destroy VM `{}` and create it again?", project.name))? {
        return Err(Error::failure("aborted: nothing was changed"));
    }
    let step = ctx.ui.step(&format!("deleting VM `{}`", project.name));
    let deleted = lima.delete(&project.name, true);
    ctx.ui.end_step(step, deleted.is_ok());
    deleted?;
    dir.forget_applied()
}

/// `git ls-remote` every repo from the host in parallel, and list every failure at once.
fn check_reachable(ctx: &mut Ctx<'_>, repos: &[&RepoUrl]) -> Result<()> {
    if repos.is_empty() {
        return Ok(());
    }
    let step = ctx.ui.step(&format!("checking access to {} repo(s)", repos.len()));
    let user_ssh = (ctx.env)("GIT_SSH_COMMAND");
    let results = repo_access::check_all(ctx.runner, repos, user_ssh.as_ref());
    let failures: Vec<String> = repos
        .iter()
        .zip(results)
        .filter_map(|(url, r)| r.err().map(|why| format!("{url}\n  {}", why.replace('\n', "\n  "))))
        .collect();
    ctx.ui.end_step(step, failures.is_empty());
    if failures.is_empty() {
        return Ok(());
    }
    Err(Error::failure(format!("cannot reach {} repo(s) from this host", failures.len()))
        .caused_by(failures.join("\n"))
        .hint("check the URLs in the configuration for typos, and that your SSH agent (`ssh-add -l`) holds a key with access"))
}

fn clone_repos(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    project: &Project,
    repos: &[&RepoUrl],
    dir: &ProjectDir,
    applied: &mut Applied,
    warnings: &mut Vec<String>,
) -> Result<()> {
    for repo in repos {
        let folder = repo.dir_name();
        let step = ctx.ui.step(&format!("cloning {repo} into ~/code/{folder}"));
        let out = lima.guest(&project.name, &["clone", repo.as_str(), folder])?;
        ctx.ui.end_step(step, out.success());
        if !out.success() {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if !project.forward_agent {
                warnings.push(format!(
                    "clone failed for {repo}: agent forwarding is off for this project; install a deploy key in the VM, then run `machine up {}` again\n  {why}",
                    project.name
                ));
                continue;
            }
            return Err(Error::failure(format!("cannot clone {repo} in VM `{}`", project.name)).caused_by(why).hint(
                "check that the host's SSH agent holds a key with access (`ssh-add -l`), then run `machine up` again",
            ));
        }
        applied.cloned.push(folder.to_string());
        dir.record(applied)?;
        if out.stdout_text().starts_with("cloned") {
            install_deps(ctx, lima, &project.name, folder, warnings)?;
        }
    }
    Ok(())
}

/// JS dependencies, best-effort: a failure is a warning, never a failed `up`.
fn install_deps(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    name: &str,
    folder: &str,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let step = ctx.ui.step(&format!("installing dependencies of {folder}"));
    let out = lima.guest(name, &["deps", folder])?;
    ctx.ui.end_step(step, out.success());
    if !out.success() {
        warnings.push(format!(
            "installing the dependencies of {folder} failed; run it inside the VM (`machine ssh {name}`)"
        ));
    }
    Ok(())
}

/// The closing lines: ready, and how to get in; or ready with warnings, each on its own line.
pub fn summary(outcome: &Outcome) -> String {
    let name = &outcome.project;
    if outcome.warnings.is_empty() {
        return format!(
            "✓ {name} is ready: `machine ssh {name}` to log in, `machine claude {name}` to start Claude Code"
        );
    }
    let mut text = format!("⚠ {name} is ready, with warnings:");
    for w in &outcome.warnings {
        text.push_str(&format!("\n  - {w}"));
    }
    text
}
