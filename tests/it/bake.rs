//! The bake cache against the fake Lima: publishing, reuse, locking and clean-up, `cache list`
//! and `cache prune`, `up` booting from a fresh bake, and the chain keys the cache is named by.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use machine::compiler::compile::{self, HostOs, Stack};
use machine::compiler::config::model::Arch;
use machine::compiler::config::parse::parse_projects_file;
use machine::compiler::config::source::Source;
use machine::compiler::layers::Catalog;

use crate::fake::FakeEnv;
use crate::support::{guest_dir, host, synthetic_catalog};

/// Stands in for `sudo` in the fake guests: logs its argv and, for `fstrim`, leaves what a real bake
/// VM would have (a 1 MiB `disk` in the instance folder) plus a copy of the instance's template.
const SUDO_STUB: &str = r#"#!/bin/bash
printf '%s\n' "$*" >>"$MACHINE_FAKE_ROOT/sudo.log"
if [[ $1 == fstrim ]]; then
	dir=$LIMA_HOME/$MACHINE_FAKE_GUEST
	head -c 1048576 /dev/zero | tr '\0' x >"$dir/disk"
	mkdir -p "$MACHINE_FAKE_ROOT/baked"
	cp "$dir/lima.yaml" "$MACHINE_FAKE_ROOT/baked/$MACHINE_FAKE_GUEST.yaml"
fi
"#;

/// A fake world with `projects.toml` and a `sudo` stub that fakes `fstrim` (`FakeEnv` already
/// installs a copy of the guest helper).
fn world(projects: &str) -> FakeEnv {
    let env = FakeEnv::new();
    set_projects(&env, projects);
    install(&env.guest_bin().join("sudo"), SUDO_STUB.as_bytes());
    env
}

fn install(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn set_projects(env: &FakeEnv, text: &str) {
    let dir = env.path().join("config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("projects.toml"), text).unwrap();
}

fn disks(env: &FakeEnv) -> PathBuf {
    env.path().join("cache/disks")
}

/// The project's stack as machine compiles it in this world (keys only depend on content).
fn stack(env: &FakeEnv, project: &str) -> Stack {
    let path = env.path().join("config/projects.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let catalog = Catalog::builtin();
    let parsed = parse_projects_file(&Source::new(&path, text), &catalog).unwrap();
    let mut facts = host(HostOs::Linux, Arch::X86_64);
    facts.state_dir = env.path().join("state");
    compile::compile(&parsed.projects[project], &catalog, &facts).unwrap()
}

/// `<key:top-layer>` for every key of the stack, `<root>` for the world's folder.
fn redact(text: &str, env: &FakeEnv, stacks: &[&Stack]) -> String {
    let mut out = text.replace(&env.path().display().to_string(), "<root>");
    for s in stacks {
        for l in &s.layers {
            out = out
                .replace(l.key.full(), &format!("<key:{}>", l.name))
                .replace(l.key.short(), &format!("<key:{}>", l.name));
        }
    }
    out
}

/// The `limactl` calls machine made (not those made inside a guest), redacted.
fn limactl_calls(env: &FakeEnv, stacks: &[&Stack]) -> Vec<String> {
    redact(&env.calls_text(), env, stacks).lines().filter(|l| l.starts_with("limactl ")).map(String::from).collect()
}

/// The calls one bake of the prefix ending in `top` makes, in order.
fn bake_calls(top: &str) -> Vec<String> {
    let name = format!("machine-bake-<key:{top}>");
    vec![
        format!("limactl --tty=false create --name={name} <root>/state/bake/<key:{top}>/lima.yaml"),
        format!("limactl --tty=false start {name}"),
        format!("limactl shell {name} -- machine-guest status"),
        format!("limactl shell {name} -- sudo fstrim -a"),
        format!("limactl --tty=false stop {name}"),
        format!("limactl --tty=false delete -f {name}"),
    ]
}

fn bake(env: &FakeEnv, args: &[&str]) -> (String, String) {
    let out = env.machine().arg("bake").args(args).assert().success().get_output().clone();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// What the bake instance's template said, as the `sudo` stub saved it.
fn baked_template(env: &FakeEnv, layer: &machine::compiler::compile::CompiledLayer) -> String {
    std::fs::read_to_string(env.path().join(format!("baked/machine-bake-{}.yaml", layer.key.short()))).unwrap()
}

fn leftovers(env: &FakeEnv) -> Vec<String> {
    let lima = std::fs::read_dir(env.lima_home()).unwrap().flatten().map(|e| e.file_name());
    let cache = std::fs::read_dir(disks(env)).into_iter().flatten().flatten().map(|e| e.file_name());
    lima.chain(cache)
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.starts_with("machine-bake-") || n.starts_with(".tmp-"))
        .collect()
}

const BASE: &str = "[p]\n";
const WITH_CYPRESS: &str = "[p]\nprofiles = [\"cypress\"]\n";

#[test]
fn a_first_bake_publishes_the_disk_and_its_sidecar_and_deletes_the_vm() {
    let env = world(BASE);
    let s = stack(&env, "p");
    let top = s.layers.last().unwrap();
    let (_, stderr) = bake(&env, &["p"]);
    assert!(stderr.contains("baked 1 disk(s) for `p`"), "{stderr}");
    let img = disks(&env).join(format!("{}.img", top.key.full()));
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 1 << 20, "the bake VM's disk, copied");
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(disks(&env).join(format!("{}.json", top.key.full()))).unwrap()).unwrap();
    let names: Vec<&str> = s.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(sidecar["layers"], serde_json::json!(names));
    assert_eq!((sidecar["image"].as_str(), sidecar["arch"].as_str()), (Some("ubuntu-24.04"), Some("x86_64")));
    assert_eq!(sidecar["size"], 1 << 20);
    assert!(sidecar["from"].is_null() && sidecar["created"].as_u64().unwrap() > 0, "{sidecar}");
    assert_eq!(limactl_calls(&env, &[&s]), bake_calls(top.name.as_str()));
    assert!(leftovers(&env).is_empty(), "{:?}", leftovers(&env));
    let template = baked_template(&env, top);
    assert!(!template.contains("images:") && !template.contains("param"), "from the image, no params:\n{template}");
    assert!(template.contains("disk: 20GiB") && template.contains("forwardAgent: false"), "{template}");
    assert_eq!(std::fs::read_to_string(env.path().join("sudo.log")).unwrap(), "fstrim -a\n");
}

#[test]
fn a_second_bake_does_nothing() {
    let env = world(BASE);
    bake(&env, &["p"]);
    env.clear_calls();
    let (_, stderr) = bake(&env, &["p"]);
    assert!(stderr.contains("nothing to bake: all 1 disk(s) of `p` are cached"), "{stderr}");
    assert!(limactl_calls(&env, &[]).is_empty(), "{:?}", limactl_calls(&env, &[]));
}

#[test]
fn a_new_profile_bakes_only_its_prefix_from_the_cached_base() {
    let env = world(BASE);
    bake(&env, &["p"]);
    set_projects(&env, WITH_CYPRESS);
    let s = stack(&env, "p");
    let (base, top) = (&s.layers[s.layers.len() - 2], s.layers.last().unwrap());
    env.clear_calls();
    bake(&env, &["p"]);
    assert_eq!(limactl_calls(&env, &[&s]), bake_calls("cypress"));
    let template = baked_template(&env, top);
    let base_disk = disks(&env).join(format!("{}.img", base.key.full()));
    assert!(template.contains(&format!("- location: {}\n  arch: x86_64\n", base_disk.display())), "{template}");
    assert!(template.contains(&format!("base: {}", top.path().display())), "{template}");
    let sidecar = machine::driver::bake::read_sidecar(&env.path().join("cache"), top.key.full()).unwrap();
    assert_eq!(sidecar.from.as_deref(), Some(base.key.full()));
}

#[test]
fn force_bakes_every_prefix_again_from_the_image() {
    let env = world(WITH_CYPRESS);
    let s = stack(&env, "p");
    bake(&env, &["p"]);
    env.clear_calls();
    let (_, stderr) = bake(&env, &["p", "--force"]);
    assert!(stderr.contains("baked 2 disk(s)"), "{stderr}");
    let base = &s.layers[s.layers.len() - 2];
    assert_eq!(limactl_calls(&env, &[&s]), [bake_calls(&base.name), bake_calls("cypress")].concat());
    assert!(!baked_template(&env, base).contains("images:"), "a forced bake starts from the image");
    assert!(baked_template(&env, s.layers.last().unwrap()).contains(&format!("{}.img", base.key.full())));
}

#[test]
fn a_failed_provision_publishes_nothing_and_deletes_the_vm() {
    let env = world(BASE);
    let s = stack(&env, "p");
    let name = format!("machine-bake-{}", s.key().short());
    env.faults(serde_json::json!({ "start": { name.clone(): "provision-fail:docker:apt-get failed" } }));
    let out = env.machine().args(["bake", "p"]).assert().code(1).get_output().clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("error: provisioning failed in the bake VM `{name}`; nothing was cached")),
        "{stderr}"
    );
    assert!(stderr.contains("failed docker: apt-get failed"), "{stderr}");
    assert!(stderr.contains("hint: fix the failing layer"), "{stderr}");
    assert!(
        limactl_calls(&env, &[&s])
            .last()
            .unwrap()
            .ends_with(&format!("delete -f machine-bake-<key:{}>", s.layers.last().unwrap().name))
    );
    let published: Vec<_> = std::fs::read_dir(disks(&env)).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(published.iter().all(|n| n.to_string_lossy().ends_with(".lock")), "{published:?}");
    assert!(leftovers(&env).is_empty(), "{:?}", leftovers(&env));
}

#[test]
fn the_next_bake_cleans_up_after_a_crash() {
    let env = world(BASE);
    let stale = "0123456789abcdef";
    env.given_instance(&format!("machine-bake-{stale}"), true);
    std::fs::create_dir_all(disks(&env)).unwrap();
    let tmp = disks(&env).join(format!(".tmp-{}.img", "ab".repeat(32)));
    std::fs::write(&tmp, "half a disk").unwrap();
    env.clear_calls();
    let (_, stderr) = bake(&env, &["p"]);
    assert!(stderr.contains(&format!("removed {}, left by an interrupted bake", tmp.display())), "{stderr}");
    assert!(stderr.contains(&format!("removed bake VM `machine-bake-{stale}`")), "{stderr}");
    assert!(limactl_calls(&env, &[]).contains(&format!("limactl --tty=false delete -f machine-bake-{stale}")));
    assert!(leftovers(&env).is_empty(), "{:?}", leftovers(&env));
    assert!(env.path().join("cache/disks").join(format!("{}.img", stack(&env, "p").key().full())).is_file());
}

#[test]
fn a_second_baker_waits_for_the_first_and_bakes_nothing() {
    // Two projects with the same base: the key's lock (not the project's) makes the second wait.
    let env = world("[p]\n[q]\n");
    env.faults(serde_json::json!({ "start_delay_ms": 2500 }));
    let s = stack(&env, "p");
    let instance = env.lima_home().join(format!("machine-bake-{}", s.key().short()));
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| env.machine().args(["bake", "p"]).output().unwrap());
        let started = std::time::Instant::now();
        while !instance.exists() {
            assert!(started.elapsed().as_secs() < 30, "the first bake never created its VM");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let second = env.machine().args(["bake", "q"]).output().unwrap();
        (first.join().unwrap(), second)
    });
    assert!(first.status.success() && second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("waiting for another machine to finish baking ubuntu-24.04 → core"), "{stderr}");
    assert!(stderr.contains("nothing to bake"), "{stderr}");
    assert!(!stderr.contains("another machine command on project"), "different projects: {stderr}");
    let creates = limactl_calls(&env, &[&s]).iter().filter(|c| c.contains(" create ")).count();
    assert_eq!(creates, 1, "the key was baked once");
}

#[test]
fn cache_list_and_prune() {
    let env = world(WITH_CYPRESS);
    bake(&env, &["p"]);
    let s = stack(&env, "p");
    let list = env.machine().args(["cache", "list"]).assert().success().get_output().stdout.clone();
    insta::assert_snapshot!("cache_list", redact(&String::from_utf8(list).unwrap(), &env, &[&s]));
    let json = env.machine().args(["cache", "list", "--json"]).assert().success().get_output().stdout.clone();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let first = &json["disks"][0];
    assert_eq!(first["key"], s.layers[s.layers.len() - 2].key.full());
    let img = disks(&env).join(format!("{}.img", s.layers[s.layers.len() - 2].key.full()));
    assert_eq!(first["path"].as_str(), img.to_str());
    assert!(first["allocated"].as_u64().unwrap() >= 1 << 20, "{first}");
    assert_eq!(json["disks"][1]["from"], first["key"]);

    set_projects(&env, BASE);
    std::fs::write(disks(&env).join(format!(".tmp-{}.img", "cd".repeat(32))), "").unwrap();
    let out = env.machine().args(["cache", "prune", "-y"]).assert().success().get_output().stdout.clone();
    insta::assert_snapshot!("cache_prune", redact(&String::from_utf8(out).unwrap(), &env, &[&s]));
    let out = env.machine().args(["cache", "prune", "--all", "-y"]).assert().success().get_output().stdout.clone();
    insta::assert_snapshot!("cache_prune_all", redact(&String::from_utf8(out).unwrap(), &env, &[&s]));
    let out = env.machine().args(["cache", "prune"]).assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8(out).unwrap(), "nothing to prune\n");
    let left: Vec<_> = std::fs::read_dir(disks(&env)).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn up_bakes_first_and_the_new_vm_boots_from_the_baked_disk() {
    let env = world(BASE);
    let s = stack(&env, "p");
    env.machine().env("GIT_NAME", "Ada").env("GIT_EMAIL", "ada@example.com").args(["up", "p"]).assert().success();
    let disk = disks(&env).join(format!("{}.img", s.key().full()));
    let instance = std::fs::read_to_string(env.lima_home().join("p/lima.yaml")).unwrap();
    assert!(instance.contains(&format!("- location: {}\n", disk.display())), "{instance}");
    let calls = limactl_calls(&env, &[&s]);
    let create = calls.iter().position(|c| c.contains("create --name=p ")).expect("up creates the VM");
    assert!(calls[..create].contains(&bake_calls(&s.layers.last().unwrap().name)[5]), "{calls:#?}");
}

#[test]
fn a_disk_smaller_than_the_baked_one_is_refused_when_the_file_is_read() {
    // One rule, applied early: whether or not a baked disk exists yet, every VM boots from one.
    let catalog = synthetic_catalog();
    let text = "[small]\ndisk = \"10GiB\"\n[exact]\ndisk = 20\n[big]\ndisk = \"1TiB\"\n";
    let errors = parse_projects_file(&Source::new("p.toml", text), &catalog).unwrap_err();
    assert_eq!(errors.len(), 1, "only `small`: {errors:?}");
    assert!(errors[0].message.contains("a disk of 10GiB is smaller than the 20GiB baked disks"), "{}", errors[0]);
    let text = "[exact]\ndisk = 20\n[big]\ndisk = \"1TiB\"\n";
    let projects = parse_projects_file(&Source::new("p.toml", text), &catalog).unwrap().projects;
    let mut facts = host(HostOs::Linux, Arch::X86_64);
    let stack = compile::compile(&projects["exact"], &catalog, &facts).unwrap();
    facts.cached_disks.insert(stack.layers[1].key.full().to_string(), PathBuf::from("/cache/disks/core.img"));
    for ok in ["exact", "big"] {
        assert!(compile::compile(&projects[ok], &catalog, &facts).unwrap().cached_disk.is_some(), "{ok}");
    }
}

// --- chain keys ----------------------------------------------------------------------------

fn keys(text: &str, project: &str, catalog: &Catalog) -> Vec<(String, String)> {
    let projects = parse_projects_file(&Source::new("p.toml", text), catalog).unwrap().projects;
    let stack = compile::compile(&projects[project], catalog, &host(HostOs::Linux, Arch::X86_64)).unwrap();
    stack.layers.iter().map(|l| (l.name.clone(), l.key.full().to_string())).collect()
}

#[test]
fn reformatting_projects_toml_changes_no_key() {
    let catalog = Catalog::builtin();
    let plain = "default_profiles = [\"python\"]\n[blog]\nrepos = [\"git@github.com:you/blog.git\"]\nprofiles = [\"playwright\", \"cypress\"]\ncpus = 4\nwithout = [\"codex\"]\n[other]\n";
    let reformatted = "# my projects\ndefault_profiles=['python']   # everywhere\n\n[blog] # the blog\nwithout=[ 'codex' ]\ncpus   =   4\nprofiles = [\n  \"playwright\",  # e2e\n  \"cypress\",\n]\nrepos = ['git@github.com:you/blog.git']\n\n[ other ]\n";
    assert_eq!(keys(plain, "blog", &catalog), keys(reformatted, "blog", &catalog));
    assert_eq!(keys(plain, "other", &catalog), keys(reformatted, "other", &catalog));
    assert!(keys(plain, "other", &catalog).iter().any(|(name, _)| name == "python"), "default profiles apply");
}

/// The repository's layer tree, as build.rs embeds it.
fn layer_tree() -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let root = guest_dir();
    let mut tree = BTreeMap::new();
    for top in ["templates", "provision", "files"] {
        walk(&root, &root.join(top), &mut tree);
    }
    tree
}

#[test]
fn editing_one_layers_script_changes_exactly_its_key_and_those_above() {
    let text = "[p]\nprofiles = [\"cypress\"]\n";
    let mut tree = layer_tree();
    let before = keys(text, "p", &Catalog::from_tree(&tree).unwrap());
    assert_eq!(before, keys(text, "p", &Catalog::builtin()), "the tree is what the binary embeds");
    tree.get_mut("provision/node.sh").unwrap().extend_from_slice(b"\n# edited\n");
    let after = keys(text, "p", &Catalog::from_tree(&tree).unwrap());
    let node = before.iter().position(|(name, _)| name == "node").unwrap();
    for (i, ((name, old), (_, new))) in before.iter().zip(&after).enumerate() {
        assert_eq!(old != new, i >= node, "layer {i} `{name}`");
    }
}

/// Layer folders an interrupted render left are removed by `cache prune` (before, by nothing).
#[test]
fn cache_prune_removes_what_an_interrupted_render_left() {
    let env = world(BASE);
    let debris = env.path().join("state/layers/.tmp-a1b2c3");
    std::fs::create_dir_all(&debris).unwrap();
    std::fs::write(debris.join("lima.yaml"), "x: 1\n").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_mins(5);
    std::fs::File::open(&debris).unwrap().set_modified(old).unwrap();
    let out = env.machine().args(["cache", "prune", "-y"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!debris.exists());
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(".tmp-a1b2c3, left by an interrupted render"), "{said}");
}
