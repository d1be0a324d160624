//! Branch VMs, golden disks, `status`, `reset`, `prune` and `pr` against the fake Lima.

use serde_json::{Value, json};

use crate::fake::{FakeEnv, env_with, machine};

const BLOG: &str = "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n";
const URL: &str = "git@github.com:you/blog.git";

fn run(env: &FakeEnv, args: &[&str]) -> (i32, String, String) {
    let out = machine(env).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(env: &FakeEnv, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(env, args);
    assert_eq!(code, 0, "machine {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    format!("{stdout}{stderr}")
}

/// The Lima instance of `blog@<branch>` (its name is pure; see `instance::branch_instance`).
fn instance(branch: &str) -> String {
    machine::compiler::instance::branch_instance("blog", branch)
}

fn golden_disks(env: &FakeEnv) -> Vec<String> {
    let dir = env.path().join("cache/golden");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| std::path::Path::new(n).extension().is_some_and(|x| x == "img"))
        .collect();
    names.sort();
    names
}

fn head(env: &FakeEnv, name: &str) -> String {
    std::fs::read_to_string(env.guest_home(name).join("code/blog/.git/HEAD")).unwrap().trim().to_string()
}

/// A provisioned, cloned project whose `down` kept its golden disk.
fn with_golden() -> FakeEnv {
    let env = env_with(BLOG);
    ok(&env, &["up", "blog"]);
    let said = ok(&env, &["down", "blog"]);
    assert!(said.contains("keeping a golden disk of `blog`"), "{said}");
    assert_eq!(golden_disks(&env).len(), 1, "{said}");
    env
}

fn calls_of(env: &FakeEnv, tool: &str) -> Vec<Vec<String>> {
    env.calls()
        .into_iter()
        .filter(|c| c["tool"] == tool)
        .map(|c| c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect())
        .collect()
}

#[test]
fn a_branch_vm_starts_from_the_golden_disk_and_creates_a_new_branch() {
    let env = with_golden();
    env.clear_calls();
    let said = ok(&env, &["up", "blog@feature/login"]);
    let name = instance("feature/login");
    assert_eq!(env.instance_status(&name).as_deref(), Some("Running"), "{said}");
    assert!(said.contains("feature/login is a new branch, from the default branch"), "{said}");
    assert!(said.contains("✓ blog@feature/login is ready"), "{said}");
    assert_eq!(head(&env, &name), "ref: refs/heads/feature/login");
    // The repo came with the disk: no clone, no dependency install, no reachability check.
    let guest: Vec<String> =
        env.calls().iter().filter(|c| c["guest"].is_string()).map(|c| c["args"].to_string()).collect();
    assert!(!guest.iter().any(|c| c.contains("\"clone\"")), "{guest:?}");
    assert!(calls_of(&env, "git").iter().all(|a| a[0] != "ls-remote"), "{:?}", calls_of(&env, "git"));
    let lima_yaml = std::fs::read_to_string(env.path().join("state").join(&name).join("lima.yaml")).unwrap();
    assert!(lima_yaml.contains("cache/golden/"), "boots from the golden disk:\n{lima_yaml}");
    // The project's own VM is untouched.
    assert_eq!(env.instance_status("blog").as_deref(), Some("Stopped"));
    let applied: Value =
        serde_json::from_slice(&std::fs::read(env.path().join("state").join(&name).join("applied.json")).unwrap())
            .unwrap();
    assert_eq!(applied["project"], "blog");
    assert_eq!(applied["branch"], "feature/login");
    assert!(applied["golden"].is_string(), "{applied}");
}

#[test]
fn the_branch_flag_is_the_same_as_the_at_form() {
    let env = with_golden();
    let said = ok(&env, &["up", "blog", "--branch", "feature/login"]);
    assert!(said.contains("✓ blog@feature/login is ready"), "{said}");
    assert_eq!(env.instance_status(&instance("feature/login")).as_deref(), Some("Running"));
    let (code, _, err) = run(&env, &["up", "blog@a", "--branch", "b"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("give the branch once"), "{err}");
}

#[test]
fn a_branch_origin_has_is_fetched_and_tracked() {
    let env = with_golden();
    env.faults(json!({"remote_branches": {URL: ["main", "feature/old"]}}));
    let said = ok(&env, &["up", "blog@feature/old"]);
    assert!(!said.contains("is a new branch"), "{said}");
    let name = instance("feature/old");
    assert_eq!(head(&env, &name), "ref: refs/heads/feature/old");
    let upstream = std::fs::read_to_string(env.guest_home(&name).join("code/blog/.git/upstream/feature/old")).unwrap();
    assert_eq!(upstream.trim(), "origin/feature/old");
}

#[test]
fn an_unreachable_remote_fails_the_checkout_naming_the_branch() {
    let env = with_golden();
    env.faults(json!({"fetch": {URL: "fail:ssh: connect to host github.com port 22: Network is unreachable"}}));
    let (code, _, err) = run(&env, &["up", "blog@feature/login"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot check out feature/login in ~/code/blog of VM `blog@feature/login`"), "{err}");
    assert!(err.contains("Network is unreachable"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    // Once the network is back, `up` finishes the job in the VM it made.
    env.faults(json!({}));
    let said = ok(&env, &["up", "blog@feature/login"]);
    assert!(said.contains("is a new branch"), "{said}");
}

#[test]
fn without_a_golden_disk_a_branch_vm_is_provisioned_and_cloned() {
    let env = env_with(BLOG);
    let said = ok(&env, &["up", "blog@fix"]);
    assert!(said.contains("project `blog` has no golden disk for its current configuration yet"), "{said}");
    let name = instance("fix");
    assert!(env.guest_home(&name).join("code/blog/.git").is_dir());
    assert_eq!(head(&env, &name), "ref: refs/heads/fix");
    assert!(env.instance_status("blog").is_none(), "the project's own VM is not made");
}

#[test]
fn an_interrupted_golden_copy_is_never_used_and_cache_prune_removes_it() {
    let env = with_golden();
    let golden = env.path().join("cache/golden");
    let disk = golden.join(&golden_disks(&env)[0]);
    let tmp = golden.join(format!(".tmp-{}", disk.file_name().unwrap().to_string_lossy()));
    std::fs::rename(&disk, &tmp).unwrap();
    let said = ok(&env, &["up", "blog@feature/login"]);
    assert!(
        said.contains("has no golden disk for its current configuration yet"),
        "a half copy is not a golden disk:\n{said}"
    );
    let lima_yaml =
        std::fs::read_to_string(env.path().join("state").join(instance("feature/login")).join("lima.yaml")).unwrap();
    assert!(!lima_yaml.contains(".tmp-"), "{lima_yaml}");
    ok(&env, &["cache", "prune"]);
    assert!(!tmp.exists(), "cache prune removes the half copy");
}

#[test]
fn a_bad_branch_name_is_a_usage_error() {
    let env = with_golden();
    for bad in ["blog@", "blog@-x", "blog@a..b", "blog@a b", "blog@x.lock", "blog@HEAD", "blog@a.lock/b"] {
        let (code, _, err) = run(&env, &["up", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("is not a branch name"), "{bad}: {err}");
    }
}

fn unpushed_fault(env: &FakeEnv, name: &str) -> Value {
    let dir = env.guest_home(name).join("code/blog").display().to_string();
    json!({ "unpushed": { dir: "abc1234 wip" } })
}

fn gh_stub(env: &FakeEnv, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = env.bin().join("gh");
    let log = env.path().join("gh.log");
    std::fs::write(&path, format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n{body}", log.display())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn gh_log(env: &FakeEnv) -> String {
    std::fs::read_to_string(env.path().join("gh.log")).unwrap_or_default()
}

/// Makes `last-used` of a VM's record `days` old.
fn age_record(env: &FakeEnv, name: &str, days: u64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    std::fs::write(env.path().join("state").join(name).join("last-used"), (now - days * 86_400).to_string()).unwrap();
}

#[test]
fn status_lists_every_vm_and_details_one_with_the_guests_report() {
    let env = with_golden();
    ok(&env, &["up", "blog@feature/login"]);
    let table = ok(&env, &["status"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME "), "{table}");
    assert!(lines.iter().any(|l| l.starts_with("blog ") && l.contains("Stopped") && l.contains("current")), "{table}");
    assert!(
        lines.iter().any(|l| l.starts_with("blog@feature/login ") && l.contains("Running") && l.contains("qemu")),
        "{table}"
    );
    env.clear_calls();
    let detail = ok(&env, &["status", "blog@feature/login"]);
    let lists = env.calls().iter().filter(|c| c["tool"] == "limactl" && c["args"][0] == "list").count();
    assert_eq!(lists, 1, "one `limactl list` for the VM's state");
    for want in
        ["state        Running (qemu)", "stack        current", "agent        works (keys 1)", "uptime", "disk (guest)"]
    {
        assert!(detail.contains(want), "{want}:\n{detail}");
    }
    assert!(detail.contains("repo         ~/code/blog on feature/login (not pushed)"), "{detail}");
    let json: Value = serde_json::from_str(&ok(&env, &["status", "blog@feature/login", "--json"])).unwrap();
    assert_eq!(json["format"], "machine-status/1");
    let vm = &json["vms"][0];
    assert_eq!(
        (vm["name"].as_str(), vm["project"].as_str(), vm["branch"].as_str()),
        (Some("blog@feature/login"), Some("blog"), Some("feature/login"))
    );
    assert_eq!(
        (vm["state"].as_str(), vm["stack"].as_str(), vm["provisioned"].as_bool()),
        (Some("Running"), Some("current"), Some(true))
    );
    assert_eq!(vm["guest"]["uptime_seconds"], 42);
    assert_eq!(
        vm["guest"]["repos"][0],
        json!({"dir": "blog", "branch": "feature/login", "upstream": null, "ahead": null, "behind": null, "dirty": false, "unpushed": 0})
    );
    // A stopped VM: no guest call, the host's facts only.
    let stopped: Value = serde_json::from_str(&ok(&env, &["status", "blog", "--json"])).unwrap();
    assert_eq!(stopped["vms"][0]["state"], "Stopped");
    assert!(stopped["vms"][0]["guest"].is_null());
    // Drift shows up.
    std::fs::write(env.path().join("config/projects.toml"), format!("{BLOG}profiles = [\"cypress\"]\n")).unwrap();
    let drifted = ok(&env, &["status", "blog"]);
    assert!(drifted.contains("stack        drifted") && drifted.contains("+ layer cypress"), "{drifted}");
}

#[test]
fn status_of_a_vm_that_does_not_exist_says_not_created() {
    let env = env_with(BLOG);
    let said = ok(&env, &["status", "blog"]);
    assert!(said.contains("state        not created"), "{said}");
    assert!(ok(&env, &["status"]).contains("machine has made no VMs yet"));
}

#[test]
fn reset_brings_a_branch_vm_back_from_the_golden_disk_after_listing_its_work() {
    let env = with_golden();
    let name = instance("feature/login");
    ok(&env, &["up", "blog@feature/login"]);
    std::fs::write(env.guest_home(&name).join("code/blog/scratch.txt"), "made by an agent\n").unwrap();
    env.faults(unpushed_fault(&env, &name));
    // Without a terminal and without -y, nothing happens.
    let (code, _, err) = run(&env, &["reset", "blog@feature/login"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("work in VM `blog@feature/login` that exists nowhere else"), "{err}");
    assert!(err.contains("unpushed blog 1"), "{err}");
    assert!(env.guest_home(&name).join("code/blog/scratch.txt").exists(), "nothing was changed");
    // A stash is work of its own too.
    let dir = env.guest_home(&name).join("code/blog").display().to_string();
    env.faults(json!({ "stashed": { dir: "stash@{0}: WIP on feature/login: abc1234 x" } }));
    let (code, _, err) = run(&env, &["reset", "blog@feature/login"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("stashed blog 1"), "{err}");
    env.faults(json!({}));
    env.clear_calls();
    let said = ok(&env, &["reset", "blog@feature/login", "-y"]);
    assert!(said.contains("✓ blog@feature/login is ready"), "{said}");
    assert!(!env.guest_home(&name).join("code/blog/scratch.txt").exists(), "the disk was replaced");
    assert_eq!(head(&env, &name), "ref: refs/heads/feature/login");
    let guest: Vec<String> =
        env.calls().iter().filter(|c| c["guest"].is_string()).map(|c| c["args"].to_string()).collect();
    assert!(!guest.iter().any(|c| c.contains("\"clone\"")), "from the golden disk, no clone: {guest:?}");
    let lima_yaml = std::fs::read_to_string(env.path().join("state").join(&name).join("lima.yaml")).unwrap();
    assert!(lima_yaml.contains("cache/golden/"), "{lima_yaml}");
}

#[test]
fn reset_of_a_vm_that_does_not_exist_fails() {
    let env = with_golden();
    let (code, _, err) = run(&env, &["reset", "blog@nothing", "-y"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("there is no VM `blog@nothing` to reset"), "{err}");
}

#[test]
fn reset_without_a_golden_disk_provisions_and_clones_again() {
    let env = env_with(BLOG);
    ok(&env, &["up", "blog"]);
    let said = ok(&env, &["reset", "blog", "-y"]);
    assert!(said.contains("no golden disk for its current configuration"), "{said}");
    assert!(said.contains("cloning"), "{said}");
}

#[test]
fn prune_removes_unused_branch_vms_and_keeps_those_with_work() {
    let env = with_golden();
    ok(&env, &["up", "blog@old"]);
    ok(&env, &["up", "blog@busy"]);
    ok(&env, &["up", "blog@fresh"]);
    let (old, busy, fresh) = (instance("old"), instance("busy"), instance("fresh"));
    age_record(&env, &old, 40);
    age_record(&env, &busy, 40);
    env.faults(unpushed_fault(&env, &busy));
    let dry = ok(&env, &["prune", "--dry-run"]);
    assert!(dry.contains("would remove") && dry.contains("branch VM `blog@old` (unused for"), "{dry}");
    assert!(dry.contains("keeping `blog@busy`") && dry.contains("unpushed blog 1"), "{dry}");
    assert!(!dry.contains("blog@fresh"), "{dry}");
    assert!(dry.contains("would free"), "{dry}");
    assert!(env.instance_status(&old).is_some(), "a dry run removes nothing");
    let (code, _, err) = run(&env, &["prune"]);
    assert_eq!(code, 2, "asks first (and there is no terminal): {err}");
    let said = ok(&env, &["prune", "-y"]);
    assert!(said.contains("removed") && said.contains("freed"), "{said}");
    assert!(env.instance_status(&old).is_none());
    assert!(!env.path().join("state").join(&old).exists(), "its record goes too");
    assert!(env.instance_status(&busy).is_some(), "unpushed work is kept");
    assert!(env.instance_status(&fresh).is_some());
    assert!(env.instance_status("blog").is_some(), "a project's own VM is never pruned");
    let forced = ok(&env, &["prune", "-y", "--force"]);
    assert!(forced.contains("branch VM `blog@busy`"), "{forced}");
    assert!(env.instance_status(&busy).is_none());
}

#[test]
fn prune_trusts_what_down_found_in_a_stopped_vm() {
    let env = with_golden();
    ok(&env, &["up", "blog@clean"]);
    ok(&env, &["up", "blog@dirty"]);
    ok(&env, &["up", "blog@unknown"]);
    let (clean, dirty, unknown) = (instance("clean"), instance("dirty"), instance("unknown"));
    env.faults(unpushed_fault(&env, &dirty));
    ok(&env, &["down", "blog@clean"]);
    ok(&env, &["down", "blog@dirty"]);
    env.faults(json!({}));
    // Stopped behind machine's back: nothing was checked.
    env.command("limactl").args(["stop", &unknown]).assert().success();
    for name in [&clean, &dirty, &unknown] {
        age_record(&env, name, 40);
    }
    let said = ok(&env, &["prune", "-y"]);
    assert!(env.instance_status(&clean).is_none(), "{said}");
    assert!(said.contains("keeping `blog@dirty`") && said.contains("when it stopped"), "{said}");
    assert!(said.contains("keeping `blog@unknown`") && said.contains("could not check its repos"), "{said}");
    assert!(env.instance_status(&dirty).is_some() && env.instance_status(&unknown).is_some());
}

#[test]
fn prune_merged_removes_vms_whose_branch_was_merged_or_deleted_upstream() {
    let env = with_golden();
    ok(&env, &["up", "blog@merged"]);
    ok(&env, &["up", "blog@gone"]);
    ok(&env, &["up", "blog@open"]);
    ok(&env, &["up", "blog@never-pushed"]);
    for branch in ["merged", "gone", "open"] {
        ok(&env, &["pr", &format!("blog@{branch}")]);
    }
    // `gone` stops (down notes it was pushed), then the remote deletes it; `merged` is in main.
    ok(&env, &["down", "blog@gone"]);
    env.faults(json!({
        "remote_branches": {URL: ["main", "merged", "open"]},
        "merged": {URL: ["merged", "never-pushed"]},
    }));
    let said = ok(&env, &["prune", "--merged", "-y"]);
    assert!(said.contains("branch VM `blog@merged` (its branch is merged)"), "{said}");
    assert!(said.contains("branch VM `blog@gone` (its branch was deleted upstream)"), "{said}");
    assert!(env.instance_status(&instance("merged")).is_none());
    assert!(env.instance_status(&instance("gone")).is_none());
    assert!(env.instance_status(&instance("open")).is_some());
    assert!(env.instance_status(&instance("never-pushed")).is_some(), "a branch never pushed is not merged");
}

#[test]
fn prune_removes_unused_disks_and_layer_folders_and_debris() {
    let env = with_golden();
    let golden = env.path().join("cache/golden");
    std::fs::write(golden.join(format!("{}.img", "ab".repeat(32))), "an old golden disk").unwrap();
    std::fs::write(golden.join(format!(".tmp-{}.img", "cd".repeat(32))), "half a copy").unwrap();
    let stale = env.path().join("state/layers/stale-0123456789abcdef");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("lima.yaml"), "{}\n").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_hours(2);
    std::fs::File::open(&stale).unwrap().set_modified(old).unwrap();
    let said = ok(&env, &["prune", "-y"]);
    assert!(said.contains(&format!("golden disk {}", &"ab".repeat(8))), "{said}");
    assert!(said.contains("left by an interrupted copy"), "{said}");
    assert!(said.contains("unused layer folder"), "{said}");
    assert_eq!(golden_disks(&env).len(), 1, "the project's own golden disk stays: {said}");
    assert!(!stale.exists());
    // The layers the configured projects use stay: a new VM still comes up.
    ok(&env, &["up", "blog@after"]);
    assert_eq!(ok(&env, &["prune", "-y"]).trim(), "nothing to prune");
    // An interrupted render's folder alone: previewed, then removed.
    let tmp = env.path().join("state/layers/.tmp-abc");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("lima.yaml"), "{}\n").unwrap();
    std::fs::File::open(&tmp).unwrap().set_modified(old).unwrap();
    let preview = ok(&env, &["prune", "--dry-run"]);
    assert!(preview.contains(".tmp-abc, left by an interrupted render"), "{preview}");
    assert!(tmp.exists(), "a dry run removes nothing");
    let said = ok(&env, &["prune", "-y"]);
    assert!(said.contains(".tmp-abc, left by an interrupted render"), "{said}");
    assert!(!tmp.exists());
}

#[test]
fn prune_refuses_a_bad_age() {
    let env = env_with(BLOG);
    let (code, _, err) = run(&env, &["prune", "--older-than", "30"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no unit"), "{err}");
}

#[test]
fn pr_pushes_from_the_guest_and_opens_the_pull_request_with_gh() {
    let env = with_golden();
    ok(&env, &["up", "blog@feature/login"]);
    gh_stub(&env, "echo https://github.com/you/blog/pull/7\n");
    let said = ok(&env, &["pr", "blog@feature/login"]);
    assert!(said.contains("https://github.com/you/blog/pull/7"), "{said}");
    assert_eq!(gh_log(&env), "pr create --repo you/blog --head feature/login --fill\n");
    let pushes: Vec<Vec<String>> =
        calls_of(&env, "git").into_iter().filter(|a| a.contains(&"push".to_string())).collect();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert!(pushes[0].ends_with(&[
        "push".into(),
        "--quiet".into(),
        "--set-upstream".into(),
        "origin".into(),
        "feature/login".into()
    ]));
    // Flags after -- replace --fill.
    ok(&env, &["pr", "blog@feature/login", "--", "--draft", "--title", "Login form"]);
    assert!(gh_log(&env).ends_with("pr create --repo you/blog --head feature/login --draft --title Login form\n"));
}

#[test]
fn pr_without_gh_prints_the_compare_url() {
    let env = with_golden();
    ok(&env, &["up", "blog@feature/login"]);
    // A dangling link shadows any gh the host has: running it fails as a missing program does.
    std::os::unix::fs::symlink(env.path().join("no-such-gh"), env.bin().join("gh")).unwrap();
    let (code, stdout, err) = run(&env, &["pr", "blog@feature/login"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(stdout.trim(), "https://github.com/you/blog/compare/feature/login?expand=1");
    assert!(err.contains("gh is not installed"), "{err}");
}

#[test]
fn pr_refuses_uncommitted_work_a_failed_push_and_forwarding_off() {
    let env = with_golden();
    let name = instance("feature/login");
    ok(&env, &["up", "blog@feature/login"]);
    gh_stub(&env, "exit 0\n");
    let dir = env.guest_home(&name).join("code/blog").display().to_string();
    env.faults(json!({"dirty": {dir: " M README.md"}}));
    let (code, _, err) = run(&env, &["pr", "blog@feature/login"]);
    assert_eq!(code, 1, "the VM's state, not a usage error: {err}");
    assert!(err.contains("has uncommitted changes"), "{err}");
    env.faults(json!({"push": {URL: "fail:ERROR: Permission to you/blog.git denied"}}));
    let (code, _, err) = run(&env, &["pr", "blog@feature/login"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot push feature/login") && err.contains("Permission to you/blog.git denied"), "{err}");
    assert_eq!(gh_log(&env), "", "no pull request without a push");
    env.faults(json!({}));
    std::fs::write(env.path().join("config/projects.toml"), format!("{BLOG}forward_agent = false\n")).unwrap();
    let (code, _, err) = run(&env, &["pr", "blog@feature/login"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("agent forwarding is off"), "{err}");
}

/// The project's own VM is on the default branch: `pr` never pushes straight onto it.
#[test]
fn pr_refuses_to_push_the_default_branch() {
    let env = with_golden();
    ok(&env, &["up", "blog"]);
    gh_stub(&env, "exit 0\n");
    env.clear_calls();
    let (code, _, err) = run(&env, &["pr", "blog"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("main is the default branch of {URL}: nothing was pushed")), "{err}");
    assert!(err.contains("`machine up blog@my-change`, then `machine pr blog@my-change`"), "{err}");
    let pushes = calls_of(&env, "git").into_iter().filter(|c| c.iter().any(|a| a == "push")).count();
    assert_eq!(pushes, 0, "nothing reached git push");
    assert_eq!(gh_log(&env), "", "no pull request");
}

#[test]
fn pr_of_a_stopped_vm_says_to_start_it() {
    let env = with_golden();
    let (code, _, err) = run(&env, &["pr", "blog"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("VM `blog` is not running"), "{err}");
}

#[test]
fn list_groups_branch_vms_under_their_project_and_completions_know_them() {
    let env = with_golden();
    ok(&env, &["up", "blog@feature/login"]);
    ok(&env, &["up", "blog@a-fix"]);
    let table = ok(&env, &["list"]);
    let lines: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{table}");
    for (line, name) in lines.iter().zip(["blog ", "  @a-fix ", "  @feature/login "]) {
        assert!(line.starts_with(name), "{name:?}:\n{table}");
    }
    let json: Value = serde_json::from_str(&ok(&env, &["list", "--json"])).unwrap();
    let login = json["projects"].as_array().unwrap().iter().find(|p| p["branch"] == "feature/login").unwrap().clone();
    assert_eq!(login["name"], "blog@feature/login");
    assert_eq!(login["project"], "blog");
    assert_eq!(login["instance"], instance("feature/login"));
    assert_eq!(login["configured"], true);
    let words = ok(&env, &["__complete", "vms"]);
    assert_eq!(words.lines().collect::<Vec<_>>(), ["blog", "blog@a-fix", "blog@feature/login", "default"], "{words}");
    // Where no branch VM is taken (render, bake, snapshot, create), only projects.
    let words = ok(&env, &["__complete", "projects"]);
    assert_eq!(words.lines().collect::<Vec<_>>(), ["blog", "default"], "{words}");
}

#[test]
fn branches_whose_slugs_collide_get_vms_of_their_own() {
    let env = with_golden();
    ok(&env, &["up", "blog@feature/x"]);
    ok(&env, &["up", "blog@feature-x"]);
    let (a, b) = (instance("feature/x"), instance("feature-x"));
    assert_ne!(a, b, "the same slug, told apart by the hash");
    assert_eq!(head(&env, &a), "ref: refs/heads/feature/x");
    assert_eq!(head(&env, &b), "ref: refs/heads/feature-x");
    ok(&env, &["destroy", "-y", "blog@feature/x"]);
    assert!(env.instance_status(&a).is_none());
    assert_eq!(env.instance_status(&b).as_deref(), Some("Running"), "destroying one leaves the other");
    // A long branch name still makes a valid, short instance name.
    let long = format!("feature/{}", "very-long-name-".repeat(10));
    ok(&env, &["up", &format!("blog@{long}")]);
    let name = instance(&long);
    assert!(name.len() <= 40, "{name}");
    assert_eq!(env.instance_status(&name).as_deref(), Some("Running"));
}

#[test]
fn snapshot_of_a_running_vm_keeps_its_disk_and_starts_it_again() {
    let env = env_with(BLOG);
    ok(&env, &["up", "blog"]);
    let said = ok(&env, &["snapshot", "blog"]);
    assert!(said.contains("starting and provisioning `blog`"), "{said}");
    assert_eq!(golden_disks(&env).len(), 1, "{said}");
    let listed = ok(&env, &["list"]);
    assert!(listed.lines().any(|l| l.starts_with("blog") && l.contains("Running")), "{listed}");
    assert_eq!(ok(&env, &["snapshot", "blog"]).lines().count(), 1, "one golden disk per configuration");
}

/// `--force` replaces the golden disk only once the new copy is complete: a copy that fails
/// leaves the old one in place.
#[test]
fn a_forced_snapshot_that_fails_keeps_the_golden_disk_it_would_replace() {
    let env = env_with(BLOG);
    ok(&env, &["up", "blog"]);
    ok(&env, &["snapshot", "blog"]);
    let before = golden_disks(&env);
    assert_eq!(before.len(), 1);
    std::fs::remove_file(env.lima_home().join("blog/disk")).unwrap();
    let (code, _, err) = run(&env, &["snapshot", "blog", "--force"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the VM has no disk"), "{err}");
    assert_eq!(golden_disks(&env), before, "the old golden disk is still there");
}

/// The restart after the copy is a boot like any other: a provisioning failure is an error
/// naming the step, and the VM is not called provisioned until a boot succeeds.
#[test]
fn a_snapshot_whose_restart_fails_provisioning_says_so_and_up_checks_again() {
    let env = env_with(BLOG);
    ok(&env, &["up", "blog"]);
    env.faults(json!({"start": {"blog": "provision-fail:docker:apt-get exited 100"}}));
    let (code, _, err) = run(&env, &["snapshot", "blog"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("error: provisioning failed in VM `blog`"), "{err}");
    assert!(err.contains("failed docker: apt-get exited 100"), "{err}");
    assert_eq!(golden_disks(&env).len(), 1, "the copy was made before the restart");
    let (code, _, err) = run(&env, &["up", "blog"]);
    assert_eq!(code, 1, "the running VM is not ready: {err}");
    assert!(err.contains("failed docker"), "{err}");

    env.faults(json!({}));
    ok(&env, &["down", "blog"]);
    ok(&env, &["up", "blog"]);
}

/// A branch VM's Lima name is not a project: typed back, it is refused with the name to use, and
/// the messages machine prints name the VM as the user does.
#[test]
fn a_branch_vms_lima_name_is_refused_and_never_shown() {
    let env = with_golden();
    ok(&env, &["up", "blog@feature/login"]);
    let lima_name = instance("feature/login");
    for args in [&["up", lima_name.as_str()][..], &["ssh", &lima_name], &["down", &lima_name]] {
        let (code, _, err) = run(&env, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains(&format!("`{lima_name}` is the Lima name of the branch VM `blog@feature/login`")),
            "{err}"
        );
        assert!(err.contains("name it as `blog@feature/login`"), "{err}");
    }
    let (code, _, err) = run(&env, &["secrets", "blog@feature/login", "--repo", "nope", "--clear"]);
    assert_ne!(code, 0, "{err}");
    assert!(!err.contains(&lima_name), "{err}");
    assert!(err.contains("VM `blog@feature/login`"), "{err}");
}

/// A branch of a project without repos is refused before any VM is created.
#[test]
fn a_branch_vm_of_a_project_without_repos_is_refused_before_it_is_created() {
    let env = env_with("[notes]\nrepos = []\n");
    let (code, _, err) = run(&env, &["up", "notes@idea"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("project `notes` has no repos, so `notes@idea` has no branch to check out"), "{err}");
    assert!(err.contains("`machine up notes`"), "{err}");
    assert!(
        calls_of(&env, "limactl").iter().all(|c| c.get(1).map(String::as_str) != Some("create")),
        "no VM is created"
    );
}

/// A branch VM whose first boot fails still records the golden disk it came from and that its
/// repos are cloned (they were on that disk).
#[test]
fn a_branch_vm_whose_boot_fails_keeps_its_golden_provenance() {
    let env = with_golden();
    let name = instance("feature/boom");
    env.faults(json!({"start": {name.as_str(): "provision-fail:docker:apt-get exited 100"}}));
    let (code, _, err) = run(&env, &["up", "blog@feature/boom"]);
    assert_eq!(code, 1, "{err}");
    let status: Value = serde_json::from_str(&ok(&env, &["status", "blog@feature/boom", "--json"])).unwrap();
    assert!(status["vms"][0]["golden"].is_string(), "{status}");
    let record: Value =
        serde_json::from_slice(&std::fs::read(env.path().join("state").join(&name).join("applied.json")).unwrap())
            .unwrap();
    assert_eq!(record["cloned"], json!(["blog"]), "{record}");
}
