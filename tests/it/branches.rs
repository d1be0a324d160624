//! Branch VMs, golden disks, `status`, `reset`, `prune` and `pr` against the fake Lima.

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::fake::FakeEnv;

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ada@laptop";
const BLOG: &str = "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n";
const URL: &str = "git@github.com:you/blog.git";

fn env_with(projects: &str) -> FakeEnv {
    let env = FakeEnv::new();
    let config = env.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("projects.toml"), projects).unwrap();
    env
}

fn machine(env: &FakeEnv) -> Command {
    let mut cmd = env.machine();
    cmd.env("GIT_NAME", "Ada Lovelace")
        .env("GIT_EMAIL", "ada@example.com")
        .env("GIT_SIGNING_KEY", KEY)
        .env("ONEPASS_SOCK", "/dev/null");
    cmd
}

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
    machine::instance::branch_instance("blog", branch)
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
    assert!(said.contains("project `blog` has no golden disk yet"), "{said}");
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
    assert!(said.contains("has no golden disk yet"), "a half copy is not a golden disk:\n{said}");
    let lima_yaml =
        std::fs::read_to_string(env.path().join("state").join(instance("feature/login")).join("lima.yaml")).unwrap();
    assert!(!lima_yaml.contains(".tmp-"), "{lima_yaml}");
    ok(&env, &["cache", "prune"]);
    assert!(!tmp.exists(), "cache prune removes the half copy");
}

#[test]
fn a_bad_branch_name_is_a_usage_error() {
    let env = with_golden();
    for bad in ["blog@", "blog@-x", "blog@a..b", "blog@a b", "blog@x.lock"] {
        let (code, _, err) = run(&env, &["up", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("is not a branch name"), "{bad}: {err}");
    }
}
