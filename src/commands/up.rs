//! `machine up [PROJECT] [--recreate] [-y]`: from nothing to an agent-ready VM, and cheap when
//! the VM is already running and current.

use super::{Ctx, Target, proxy_vm};
use crate::compiler::compile::{self, HostFacts, Stack};
use crate::compiler::config::model::{DEFAULT_PROJECT, Project, RepoUrl};
use crate::compiler::layers::Catalog;
use crate::driver::project_state::{Applied, Current, ProjectDir};
use crate::driver::vm::{Lima, Provisioning};
use crate::driver::{golden, host, lima, repo_access, stack};
use crate::error::{Error, Result};

/// Create (if needed), start, provision and clone a project's VM, or one of its branch VMs.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  machine up                 # the .machine.toml project here, else `default`\n  machine up blog\n  machine up blog@feature/login   # a VM of its own for a branch (from the golden disk)\n  machine up blog --branch feature/login\n  machine up blog --recreate"
)]
pub struct Args {
    /// The project, or PROJECT@BRANCH for a branch VM (default: the .machine.toml project here, else `default`).
    #[arg(value_name = "PROJECT[@BRANCH]")]
    pub project: Option<String>,
    /// A VM of its own for this branch of the project's primary repo (as PROJECT@BRANCH).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Destroy the VM and create it again from the current configuration.
    #[arg(long)]
    pub recreate: bool,
    /// Do not ask before destroying (with --recreate).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

/// How [`bring_up`] treats a VM that exists.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Options {
    /// Delete it first (asking, unless `yes`, after listing its unpushed work).
    pub replace: bool,
    pub yes: bool,
    /// Start a new VM from the project's golden disk when it has one (branch VMs always do).
    pub from_golden: bool,
}

/// What a successful `up` leaves to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The VM as the user writes it (`blog`, `blog@feature/x`).
    pub project: String,
    /// What the VM is ready with (a failed clone without agent forwarding, configuration drift).
    pub warnings: Vec<String>,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let outcome = up(args, ctx)?;
    ctx.ui.note(&summary(&outcome));
    Ok(0)
}

/// Everything `up` does but the closing summary.
pub fn up(args: &Args, ctx: &mut Ctx<'_>) -> Result<Outcome> {
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
    let arg = match (&name, &args.branch) {
        (Some(spec), Some(_)) if spec.contains('@') => {
            return Err(Error::usage("give the branch once: PROJECT@BRANCH or --branch BRANCH"));
        }
        (name, Some(branch)) => {
            let project =
                name.clone().or_else(|| config.local_project.clone()).unwrap_or_else(|| DEFAULT_PROJECT.into());
            Some(format!("{project}@{branch}"))
        }
        (name, None) => name.clone(),
    };
    let target = ctx.target_in(&config, arg.as_deref(), true)?;
    let options = Options { replace: args.recreate, yes: args.yes, from_golden: false };
    bring_up(ctx, &catalog, &target, options)
}

/// From nothing (or a stopped or replaced VM) to a VM that runs, provisioned, with the repos
/// cloned and, for a branch VM, the branch checked out.
pub(super) fn bring_up(ctx: &mut Ctx<'_>, catalog: &Catalog, target: &Target, options: Options) -> Result<Outcome> {
    let project = &target.project;
    let (name, shown) = (target.instance.as_str(), target.shown.as_str());
    if target.branch.is_some() && project.repos.is_empty() {
        // Refused before a VM is created for nothing (a boot is a minute or more).
        return Err(Error::usage(format!(
            "project `{}` has no repos, so `{shown}` has no branch to check out",
            project.name
        ))
        .hint(format!("list the project's repos, or use the project's own VM: `machine up {}`", project.name)));
    }
    let dir = target.dir(&ctx.paths.state_dir);
    let _lock = ctx.lock_project(name)?;
    let identity = ctx.identity(true)?;
    let facts = host::facts(&ctx.paths, identity.clone())?;
    let mut applied = dir.applied()?;
    let (inputs, known) = memo(applied.as_ref(), project, catalog, &facts, name);
    let mut stack = match known {
        Some(current) => {
            current.warnings.iter().for_each(|w| ctx.ui.warn(w));
            None
        }
        None => Some(target_stack(ctx, catalog, target, &facts)?),
    };
    let lima = ctx.lima()?;
    let mut instance = lima.instance(name)?;
    settle_record(ctx, &lima, &dir, target, &mut instance, &mut applied)?;
    if instance.is_some() && applied.is_none() && !options.replace {
        // Maybe Lima's own `default` VM, or one machine's record of which is gone: never adopt it.
        return Err(Error::usage(format!(
            "a Lima VM `{name}` exists, but machine did not create it (or lost its record)"
        ))
        .hint(format!(
            "use another project name, or replace that VM with `machine up {shown} --recreate` (it is deleted)"
        )));
    }
    // Before anything may open the VM's ssh master: `limactl start`, a clone, a checkout, the
    // look for unpushed work before a replace.
    let fresh_agent = super::scoped_agent::ensure(ctx, &lima, target)?;
    if options.replace && instance.is_some() {
        replace(ctx, &lima, target, &dir, applied.as_ref(), options)?;
        (instance, applied) = (None, None);
    }
    if instance.is_none() && stack.is_none() {
        // Its warnings were shown with the record's.
        stack = Some(branch_named(ctx, target, compile::compile(project, catalog, &facts)?));
    }
    // A new VM of a project with a golden disk starts from it: provisioned, repos cloned.
    let golden = match (&instance, &stack) {
        (None, Some(stack)) if target.branch.is_some() || options.from_golden => {
            golden_stack(ctx, catalog, target, &facts, stack)?
        }
        _ => None,
    };
    let mut warnings = Vec::new();
    let fresh = instance.is_none();
    let pending: Vec<&RepoUrl> = project
        .repos
        .iter()
        .filter(|_| golden.is_none())
        .filter(|r| fresh || !applied.as_ref().is_some_and(|a| a.cloned.iter().any(|c| c == r.dir_name())))
        .collect();
    if let Err(e) = check_reachable(ctx, &pending) {
        // Nothing was created: the agent started for the new VM would wait ten minutes for it.
        if fresh_agent
            && instance.is_none()
            && let Err(stop) = super::scoped_agent::stop(ctx, name)
        {
            ctx.ui.warn(&stop.to_string());
        }
        return Err(e);
    }
    // Right after a boot the ssh master is fresh (opened with this process's agent).
    let booted = !instance.as_ref().is_some_and(lima::Instance::is_running);
    let mut applied = match (instance, golden) {
        (None, Some((stack, key))) => create(ctx, &lima, &stack, &dir, target, Some(key))?,
        (None, None) => {
            let stack = stack.expect("compiled for a VM to create");
            let stack = super::bake::before_create(ctx, &lima, project, catalog, identity, stack)?;
            create(ctx, &lima, &branch_named(ctx, target, stack), &dir, target, None)?
        }
        (Some(found), _) => {
            let applied = applied.expect("a VM without a record was refused above");
            let compiled = stack.as_ref().map(|stack| (stack, inputs));
            resume(ctx, &lima, target, &dir, applied, compiled, found.is_running(), &mut warnings)?
        }
    };
    if project.forward_agent && (fresh_agent || !pending.is_empty() || target.branch.is_some()) && !booted {
        lima.heal_agent(name, fresh_agent);
    }
    clone_repos(ctx, &lima, target, &pending, &dir, &mut applied, &mut warnings)?;
    if let Some(branch) = &target.branch {
        checkout(ctx, &lima, target, branch, &mut warnings)?;
    }
    let when = if booted { proxy_vm::When::Booted } else { proxy_vm::When::Changed };
    warnings.extend(proxy_vm::connect(ctx, catalog, &lima, target, when));
    dir.touch()?;
    Ok(Outcome { project: shown.to_string(), warnings })
}

/// The project's stack, named for the target's Lima instance; its warnings are shown.
fn target_stack(ctx: &mut Ctx<'_>, catalog: &Catalog, target: &Target, facts: &HostFacts) -> Result<Stack> {
    let stack = ctx.compile_with(&target.project, catalog, facts)?;
    Ok(branch_named(ctx, target, stack))
}

/// A branch VM's stack is the project's, under the VM's own name and state folder.
fn branch_named(ctx: &Ctx<'_>, target: &Target, mut stack: Stack) -> Stack {
    if target.branch.is_some() {
        stack.project.clone_from(&target.instance);
        stack.instance_path = ctx.paths.state_dir.join(&target.instance).join("lima.yaml");
    }
    stack
}

/// The stack booting from the project's golden disk, and the disk's key, when there is one for
/// the current configuration.
fn golden_stack(
    ctx: &mut Ctx<'_>,
    catalog: &Catalog,
    target: &Target,
    facts: &HostFacts,
    stack: &Stack,
) -> Result<Option<(Stack, String)>> {
    let repos: Vec<String> = target.project.repos.iter().map(|r| r.as_str().to_string()).collect();
    let key = golden::key_for(stack.key().full(), &stack.instance_yaml, &repos);
    let Some(path) = golden::find(&ctx.paths.cache_dir, &key) else {
        ctx.ui.note(&format!(
            "project `{}` has no golden disk for its current configuration yet: this VM is provisioned and cloned from scratch (`machine down {}` keeps one)",
            target.project.name, target.project.name
        ));
        return Ok(None);
    };
    let facts = HostFacts { boot_disk: Some(path), ..facts.clone() };
    let stack = compile::compile(&target.project, catalog, &facts)?;
    Ok(Some((branch_named(ctx, target, stack), key)))
}

/// The fingerprint of what this compile would read, and the record's note that those very
/// inputs compiled to its stack: then the stack is current without compiling, and only its
/// warnings are worth showing again.
pub(super) fn memo<'a>(
    applied: Option<&'a Applied>,
    project: &Project,
    catalog: &Catalog,
    facts: &HostFacts,
    instance: &str,
) -> (Option<String>, Option<&'a Current>) {
    let inputs = host::build_id().and_then(|build| compile::inputs_key(project, catalog, facts, instance, &build));
    let known = applied.and_then(|a| a.current.as_ref()).filter(|c| Some(&c.inputs) == inputs.as_ref());
    (inputs, known)
}

/// A VM that exists: says how its configuration drifted (when it was compiled: `None` is a
/// stack known to be current), starts it if stopped, or checks again a boot whose provisioning
/// failed. A compile that finds the stack current is recorded with its inputs.
#[allow(clippy::too_many_arguments)]
fn resume(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    target: &Target,
    dir: &ProjectDir,
    mut applied: Applied,
    compiled: Option<(&Stack, Option<String>)>,
    running: bool,
    warnings: &mut Vec<String>,
) -> Result<Applied> {
    let (name, shown) = (target.instance.as_str(), target.shown.as_str());
    if let Some((stack, inputs)) = compiled {
        applied.current = match drift(&applied, stack, shown) {
            Some(note) => {
                warnings.push(note);
                None
            }
            None => inputs.map(|inputs| Current { inputs, warnings: stack.warnings.clone() }),
        };
    }
    // A VM that runs can change: what `down` noted about its repos no longer holds.
    applied.at_stop = None;
    if !running {
        restart(ctx, lima, dir, &mut applied, name, shown)?;
    } else if !applied.provisioned {
        // The last boot's provisioning failed or had not finished (the VM stays up): it is
        // still this boot's.
        let subject = format!("VM `{shown}`");
        let verdict = lima.provisioning(name);
        let verified = matches!(verdict, Provisioning::Done);
        verdict.into_result(lima, name, &subject, &reboot_hint(shown), &applied.provision)?;
        // It finished after Lima's master opened, and may have changed the login shell.
        lima.close_master(name);
        applied.verified = verified;
    }
    applied.provisioned = true;
    dir.record(&applied)?;
    Ok(applied)
}

/// Checks out the branch in the primary repo: the remote's when it has one, else a new branch
/// from the default one.
fn checkout(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    target: &Target,
    branch: &str,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let Some(primary) = target.project.primary_dir() else {
        warnings.push(format!("project `{}` has no repos: there is no branch to check out", target.project.name));
        return Ok(());
    };
    let step = ctx.ui.step(&format!("checking out {branch} in ~/code/{primary}"));
    let out = lima.guest(&target.instance, &["checkout", primary, branch])?;
    ctx.ui.end_step(step, out.success());
    if out.success() {
        if out.stdout_text().starts_with("created") {
            ctx.ui.note(&format!(
                "{branch} is a new branch, from the default branch (push it with `machine pr {}`)",
                target.shown
            ));
        }
        return Ok(());
    }
    Err(Error::failure(format!("cannot check out {branch} in ~/code/{primary} of VM `{}`", target.shown))
        .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_string())
        .hint("check that the host's SSH agent holds a key with access (`ssh-add -l`), then run `machine up` again"))
}

/// `golden`: the key of the golden disk the stack starts from (its repos are cloned already).
/// Both are in the record from the start, so a boot that is interrupted loses neither.
fn create(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    stack: &Stack,
    dir: &ProjectDir,
    target: &Target,
    golden: Option<String>,
) -> Result<Applied> {
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
        project: target.project.name.clone(),
        branch: target.branch.clone(),
        cloned: if golden.is_some() {
            target.project.repos.iter().map(|r| r.dir_name().to_string()).collect()
        } else {
            Vec::new()
        },
        golden,
        made_from: target.project.defined_in.clone(),
        ..Applied::default()
    };
    dir.record(&intent)?;
    // A bake before this can outlast what the scoped agent waits for a VM that never ran.
    super::scoped_agent::ensure(ctx, lima, target)?;
    let step = ctx.ui.step(&format!("creating VM `{}`", target.shown));
    let created = lima.create(&stack.project, &stack.instance_path);
    ctx.ui.end_step(step, created.is_ok());
    created?;
    let applied = Applied { creating: false, ..intent };
    dir.record(&applied)?;
    let verified = boot(ctx, lima, &stack.project, &target.shown, &applied.provision, true)?;
    let applied = Applied { provisioned: true, verified, ..applied };
    dir.record(&applied)?;
    Ok(applied)
}

/// Starts a stopped VM that came up before, and records how its provisioning went: not
/// provisioned until the guest says so (an interrupted or failed boot is checked again by the
/// next `up`).
pub(super) fn restart(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    dir: &ProjectDir,
    applied: &mut Applied,
    name: &str,
    shown: &str,
) -> Result<()> {
    // A boot after one the guest called clean finds every layer's stamp current: nothing it
    // runs changes the login shell, so the master Lima opens stays.
    let settled = applied.provisioned && applied.verified;
    (applied.provisioned, applied.verified) = (false, false);
    dir.record(applied)?;
    applied.verified = boot(ctx, lima, name, shown, &applied.provision, !settled)?;
    applied.provisioned = true;
    dir.record(applied)
}

/// Starts the VM and fails, naming the step, when any provision step of this boot failed;
/// returns whether the guest said its provisioning finished cleanly (rather than nothing saying
/// it failed). `provisions` says whether this boot may run a layer's real work (a first boot,
/// or one after a boot the guest did not call clean).
fn boot(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    name: &str,
    shown: &str,
    owners: &[String],
    provisions: bool,
) -> Result<bool> {
    let step = ctx.ui.step(&format!("starting and provisioning `{shown}`"));
    let outcome = lima.start(name, &mut |line| step.progress(line));
    let ok = matches!(outcome, Ok(Provisioning::Done | Provisioning::Unknown));
    ctx.ui.end_step(step, ok);
    let outcome = outcome?;
    let verified = matches!(outcome, Provisioning::Done);
    outcome.into_result(lima, name, &format!("VM `{shown}`"), &reboot_hint(shown), owners)?;
    if provisions {
        // Provisioning may have changed the login shell, which the master Lima opened before
        // it ran would keep using; a fresh master picks it up.
        lima.close_master(name);
    }
    Ok(verified)
}

/// Provisioning runs at boot: retrying means rebooting.
fn reboot_hint(name: &str) -> String {
    format!("fix the cause, then run `machine down {name} && machine up {name}` to provision again")
}

/// Says how the VM's stack differs from the current configuration, if it does.
pub(super) fn drift(applied: &Applied, stack: &Stack, shown: &str) -> Option<String> {
    // The usual case, without parsing either file.
    if applied.key == stack.key().full() && applied.instance_yaml == stack.instance_yaml {
        return None;
    }
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
        "the VM was created from a different configuration:\n    {}\n  apply it with `machine up {shown} --recreate` (it warns about unpushed work first)",
        changes.join("\n    "),
    ))
}

/// The instance file without what is not configuration: `base:` (the chain key covers the
/// layers) and `images:` (only ever the baked disk it booted from, which the cache may change).
fn comparable(instance_yaml: &str) -> String {
    match crate::compiler::yaml::parse(instance_yaml) {
        Ok(crate::compiler::yaml::Value::Mapping(mut map)) => {
            map.remove("base");
            map.remove("images");
            crate::compiler::yaml::to_string(&crate::compiler::yaml::Value::Mapping(map))
        }
        _ => instance_yaml.to_string(),
    }
}

/// Deletes the VM for `--recreate`, after listing the work in it that exists nowhere else.
fn replace(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    target: &Target,
    dir: &ProjectDir,
    applied: Option<&Applied>,
    options: Options,
) -> Result<()> {
    let (name, shown) = (target.instance.as_str(), target.shown.as_str());
    warn_unpushed(ctx, lima, name, shown, applied)?;
    let question = if options.from_golden {
        format!("Reset VM `{shown}` to freshly provisioned and cloned (its disk is replaced)?")
    } else {
        format!("Destroy VM `{shown}` and create it again?")
    };
    if !options.yes && !ctx.confirm(&question)? {
        return Err(Error::failure("aborted: nothing was changed"));
    }
    let step = ctx.ui.step(&format!("deleting VM `{shown}`"));
    let deleted = lima.delete(name, true);
    ctx.ui.end_step(step, deleted.is_ok());
    deleted?;
    // The deleted VM's token must not outlive it (the new VM's boot gets one of its own); its
    // scoped agent stays, for the new VM.
    if let Err(e) = super::proxy_vm::forget(ctx, name) {
        ctx.ui.warn(&format!("the credential proxy may still accept the token of VM `{shown}`: {e}"));
    }
    dir.forget_applied()
}

/// Warns about commits, stashes and changes in the VM's repos that no remote has; returns
/// whether there are any (a stopped VM cannot be checked: that counts as unknown, so `None`).
pub(super) fn warn_unpushed(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    name: &str,
    shown: &str,
    applied: Option<&Applied>,
) -> Result<Option<bool>> {
    // Without a record, `unpushed` with no folder checks every repo under ~/code.
    let cloned: Vec<&str> = applied.map(|a| a.cloned.iter().map(String::as_str).collect()).unwrap_or_default();
    if !lima.instance(name)?.is_some_and(|i| i.is_running()) {
        // What `down` found before stopping it still holds.
        return Ok(match applied.and_then(|a| a.at_stop.as_ref()) {
            Some(w) if w.own_work => {
                ctx.ui.warn(&format!("VM `{shown}` held uncommitted or unpushed work when it stopped"));
                Some(true)
            }
            Some(_) => Some(false),
            None => {
                ctx.ui
                    .warn(&format!("VM `{shown}` is stopped, so its repos could not be checked for unpushed commits"));
                None
            }
        });
    }
    let mut args = vec!["unpushed"];
    args.extend(cloned);
    let out = lima.guest(name, &args)?;
    if !out.success() {
        ctx.ui.warn(&format!("work in VM `{shown}` that exists nowhere else:\n{}", out.stdout_text()));
    }
    Ok(Some(!out.success()))
}

/// A record whose VM never finished `limactl create`, or whose VM was deleted outside machine:
/// forgotten (the half-made VM deleted), so the VM is made again.
fn settle_record(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    dir: &ProjectDir,
    target: &Target,
    instance: &mut Option<lima::Instance>,
    applied: &mut Option<Applied>,
) -> Result<()> {
    let (name, shown) = (target.instance.as_str(), target.shown.as_str());
    if applied.as_ref().is_some_and(|a| a.creating) {
        // An interrupted create: nothing ever ran in that VM, so it is made again.
        if instance.is_some() {
            ctx.ui.note(&format!("removing VM `{shown}`, left by an interrupted create"));
            lima.delete(name, true)?;
        }
        *instance = None;
    } else if instance.is_none() && applied.is_some() {
        // Deleted outside machine (`limactl delete`): whatever was only in it is gone.
        ctx.ui.warn(&format!(
            "the VM `{shown}` machine made is gone (deleted outside machine), with any work that was only in it: creating it again"
        ));
    } else {
        return Ok(());
    }
    ctx.release_host_channels(name);
    dir.forget_applied()?;
    *applied = None;
    Ok(())
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
    target: &Target,
    repos: &[&RepoUrl],
    dir: &ProjectDir,
    applied: &mut Applied,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let (project, name) = (&target.project, target.instance.as_str());
    for repo in repos {
        let folder = repo.dir_name();
        let step = ctx.ui.step(&format!("cloning {repo} into ~/code/{folder}"));
        let out = lima.guest(name, &["clone", repo.as_str(), folder])?;
        ctx.ui.end_step(step, out.success());
        if !out.success() {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if !project.forward_agent {
                warnings.push(format!(
                    "clone failed for {repo}: agent forwarding is off for this project; install a deploy key in the VM, then run `machine up {}` again\n  {why}",
                    target.shown
                ));
                continue;
            }
            return Err(Error::failure(format!("cannot clone {repo} in VM `{}`", target.shown)).caused_by(why).hint(
                "check that the host's SSH agent holds a key with access (`ssh-add -l`), then run `machine up` again",
            ));
        }
        applied.cloned.push(folder.to_string());
        dir.record(applied)?;
        if out.stdout_text().starts_with("cloned") {
            install_deps(ctx, lima, target, folder, warnings)?;
        }
    }
    Ok(())
}

/// JS dependencies, best-effort: a failure is a warning, never a failed `up`.
fn install_deps(
    ctx: &mut Ctx<'_>,
    lima: &Lima<'_>,
    target: &Target,
    folder: &str,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let step = ctx.ui.step(&format!("installing dependencies of {folder}"));
    let out = lima.guest(&target.instance, &["deps", folder])?;
    ctx.ui.end_step(step, out.success());
    if !out.success() {
        warnings.push(format!(
            "installing the dependencies of {folder} failed; run it inside the VM (`machine ssh {}`)",
            target.shown
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
        // A warning that quotes an error keeps its lines under its bullet.
        text.push_str(&format!("\n  - {}", w.replace('\n', "\n    ")));
    }
    text
}
