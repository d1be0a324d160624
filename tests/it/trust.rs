//! The trust boundary: a `.machine.toml` comes with a repository, so until the user trusts it,
//! nothing it says may reach the host or loosen the user's own settings.

use std::path::PathBuf;

use crate::fake::FakeEnv;

/// A repo folder holding `.machine.toml`, and the user's projects.toml.
struct World {
    env: FakeEnv,
    repo: PathBuf,
}

impl World {
    fn new(local: &str, projects: &str) -> Self {
        let env = FakeEnv::new();
        let config = env.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("projects.toml"), projects).unwrap();
        let repo = env.path().join("src/app");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::write(repo.join(".machine.toml"), local).unwrap();
        Self { env, repo }
    }

    fn local_file(&self) -> PathBuf {
        self.repo.join(".machine.toml")
    }

    fn machine(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = self.env.machine();
        cmd.current_dir(&self.repo).env("GIT_NAME", "Ada").env("GIT_EMAIL", "ada@example.com").args(args);
        cmd.output().unwrap()
    }

    fn render(&self) -> (Option<i32>, String, String) {
        let out = self.machine(&["render"]);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr(&out))
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Each reproduced attack from the report: all refused, naming the key and how to trust.
#[test]
fn an_untrusted_file_cannot_reach_the_host() {
    for (case, local) in [
        ("mount", "repos = []\n[lima]\nmounts = [{ location = \"~\", writable = true }]\n"),
        ("copy-to-host", "repos = []\n[lima]\ncopyToHost = [{ guest = \"/x\", host = \"~/.bashrc\" }]\n"),
        (
            "private key as data",
            "repos = []\n[lima]\nprovision = [{ mode = \"data\", path = \"/tmp/k\", file = \"~/.ssh/id_ed25519\" }]\n",
        ),
        (
            "docker socket",
            "repos = []\n[lima]\nportForwards = [{ guestSocket = \"/run/d.sock\", hostSocket = \"/var/run/docker.sock\", reverse = true }]\n",
        ),
        ("lan port", "repos = []\n[lima]\nportForwards = [{ guestPort = 22, hostIP = \"0.0.0.0\" }]\n"),
        ("ca files", "repos = []\n[lima]\ncaCerts = { files = [\"/etc/shadow\"] }\n"),
        ("probe", "repos = []\n[lima]\nprobes = [{ file = \"/etc/passwd\" }]\n"),
        ("disks", "repos = []\n[lima]\nadditionalDisks = [\"data\"]\n"),
        ("networks", "repos = []\n[lima]\nnetworks = [{ lima = \"shared\" }]\n"),
        ("root", "repos = []\n[lima]\nuser = { name = \"root\" }\n"),
    ] {
        let world = World::new(local, "");
        let (code, _, err) = world.render();
        assert_eq!(code, Some(2), "{case}: {err}");
        assert!(err.contains("`lima` needs a trusted .machine.toml"), "{case}: {err}");
        assert!(err.contains(&format!("machine trust {}", world.local_file().display())), "{case}: {err}");
        assert!(!world.env.path().join("state/app/lima.yaml").exists(), "{case}: nothing is written");
    }
}

#[test]
fn an_untrusted_file_cannot_name_image_paths_own_profiles_or_turn_forwarding_on() {
    let world = World::new(
        "repos = []\nimage = \"../../disk.qcow2\"\nforward_agent = true\nprofiles = [\"mine\"]\narch = \"x86_64\"\n",
        "",
    );
    let profiles = world.env.path().join("config/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(profiles.join("mine.sh"), "#!/bin/sh\necho mine\n").unwrap();
    let (code, _, err) = world.render();
    assert_eq!(code, Some(2), "{err}");
    for what in [
        "`image = \"../../disk.qcow2\"` (an image path or URL; named images are fine) needs a trusted .machine.toml",
        "`forward_agent = true` (turning agent forwarding on) needs a trusted .machine.toml",
        "profile `mine` (your own, from",
        "`arch` needs a trusted .machine.toml",
    ] {
        assert!(err.contains(what), "{what}: {err}");
    }
    // What cannot reach the host is fine untrusted, and render says the file is untrusted.
    let world = World::new(
        "repos = []\nimage = \"debian-12\"\nprofiles = [\"cypress\"]\ncpus = 2\nforward_agent = false\n",
        "",
    );
    let (code, _, err) = world.render();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!("using {} (untrusted: it came with the repository)", world.local_file().display())),
        "{err}"
    );
}

/// A `.machine.toml` with only repos used to replace a projects.toml entry with
/// `forward_agent = false`, turning forwarding back on. It may only tighten the user's settings.
#[test]
fn a_local_file_never_loosens_the_users_own_settings() {
    let world = World::new(
        "repos = [\"https://github.com/x/app.git\"]\n",
        "[app]\nrepos = [\"https://github.com/x/app.git\"]\nforward_agent = false\ncpus = 3\n",
    );
    let (code, out, err) = world.render();
    assert_eq!(code, Some(0), "{err}");
    let instance = out.rsplit("<==\n").next().unwrap();
    assert!(instance.contains("forwardAgent: false"), "{instance}");
    assert!(instance.contains("cpus: 3"), "the user's keys the file does not set stay: {instance}");
    assert!(err.contains("sets repos of [app] over"), "{err}");
    // Trusted, and saying `forward_agent = true`, it still cannot turn it back on.
    std::fs::write(world.local_file(), "forward_agent = true\n").unwrap();
    assert!(world.machine(&["trust"]).status.success());
    let (code, out, err) = world.render();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.rsplit("<==\n").next().unwrap().contains("forwardAgent: false"), "{out}");
}

/// Naming a project of projects.toml gives the file that project's VM and all the user gave it
/// (here a writable host mount and a user profile): untrusted, it may not add code to it, through
/// `repos` or its folder's `origin`, nor drop the user's profiles. Trusted, it may.
#[test]
fn an_untrusted_file_cannot_take_over_the_users_own_project() {
    let own = "[work]\nrepos = [\"https://github.com/me/work.git\"]\nprofiles = [\"rust\"]\n\
               [work.lima]\nmounts = [{ location = \"/srv/work-data\", writable = true }]\n";
    for (case, local, expected) in [
        (
            "other repo",
            "name = \"work\"\nrepos = [\"git@github.com:attacker/payload.git\"]\n",
            ".machine.toml:2:10: a repo that [work] of your projects.toml does not list (git@github.com:attacker/payload.git) needs a trusted .machine.toml",
        ),
        (
            "one more repo",
            "name = \"work\"\nrepos = [\n  \"https://github.com/me/work.git\",\n  \"https://github.com/x/y.git\",\n]\n",
            ".machine.toml:4:3",
        ),
        ("dropped profile", "name = \"work\"\nprofiles = [\"python\"]\n", "dropping profile `rust` of [work]"),
    ] {
        let world = World::new(local, own);
        let (code, out, err) = world.render();
        assert_eq!(code, Some(2), "{case}: {err}");
        assert!(out.is_empty(), "{case}: nothing is rendered: {out}");
        assert!(err.contains(expected), "{case}: {err}");
        assert!(err.contains("then run `machine trust "), "{case}: {err}");
        assert!(world.machine(&["trust"]).status.success());
        let (code, _, err) = world.render();
        assert_eq!(code, Some(0), "{case}, trusted: {err}");
    }
    // The same repo, narrower settings: allowed untrusted.
    let world = World::new("name = \"work\"\nrepos = [\"https://github.com/me/work.git\"]\ncpus = 2\n", own);
    let (code, _, err) = world.render();
    assert_eq!(code, Some(0), "{err}");
}

/// Without an entry in projects.toml, a VM still belongs to the file it was made from: an
/// untrusted file elsewhere naming its project, or the zero-config `default`, is refused.
#[test]
fn an_untrusted_file_cannot_take_over_a_vm_made_from_another_file_or_the_default() {
    let world = World::new("name = \"default\"\nrepos = [\"git@github.com:attacker/payload.git\"]\n", "");
    let (code, _, err) = world.render();
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            ".machine.toml:1:8: the project name `default` (machine's zero-config VM) needs a trusted .machine.toml"
        ),
        "{err}"
    );

    // `app` comes up from its own .machine.toml; the record says so.
    std::fs::write(world.local_file(), "repos = [\"https://github.com/me/app.git\"]\n").unwrap();
    let out = world.machine(&["up"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, _, err) = world.render();
    assert_eq!(code, Some(0), "the same file again: {err}");
    // Another repo's untrusted file naming `app`.
    let evil = world.env.path().join("src/evil");
    std::fs::create_dir_all(evil.join(".git")).unwrap();
    std::fs::write(evil.join(".machine.toml"), "name = \"app\"\nrepos = [\"git@github.com:attacker/payload.git\"]\n")
        .unwrap();
    let mut cmd = world.env.machine();
    let out = cmd.current_dir(&evil).args(["up"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("project `app`, whose VM machine made from "), "{err}");
    assert!(err.contains("src/app/.machine.toml needs a trusted .machine.toml"), "{err}");
}

/// With no `repos` in the file or the user's entry, the folder's `origin` would become the code
/// of the user's project.
#[test]
fn an_untrusted_file_cannot_bring_its_origin_into_the_users_own_project() {
    let world = World::new("name = \"work\"\ncpus = 2\n", "[work]\ncpus = 4\n");
    let runner =
        crate::support::ScriptedRunner::default().answer(&["git", "-C"], 0, "git@github.com:attacker/payload.git\n");
    let err = load_with(&world, &runner).unwrap_err().to_string();
    assert!(
        err.contains("adding its folder's `origin` remote (git@github.com:attacker/payload.git) to [work]"),
        "{err}"
    );
}

/// A trusted file in one repo must not vouch for a link to it in another: the link's folder would
/// supply the relative image path and the `origin`.
#[test]
fn a_linked_local_file_is_refused_even_when_its_target_is_trusted() {
    let world = World::new("image = \"vm.qcow2\"\n[lima]\nmounts = [{ location = \"/srv/aws\" }]\n", "");
    std::fs::write(world.repo.join("vm.qcow2"), "disk").unwrap();
    assert!(world.machine(&["trust"]).status.success());
    let evil = world.env.path().join("src/evil");
    std::fs::create_dir_all(evil.join(".git")).unwrap();
    std::os::unix::fs::symlink("../app/.machine.toml", evil.join(".machine.toml")).unwrap();
    for args in [&["render"][..], &["trust"], &["up"]] {
        let mut cmd = world.env.machine();
        let out = cmd
            .current_dir(&evil)
            .env("GIT_NAME", "Ada")
            .env("GIT_EMAIL", "ada@example.com")
            .args(args)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("evil/.machine.toml is a symbolic link"), "{args:?}: {err}");
        assert!(err.contains("replace the link with a copy"), "{args:?}: {err}");
    }
}

#[test]
fn trusting_records_the_content_and_any_change_undoes_it() {
    let local = "repos = []\n[lima]\nmounts = [{ location = \"/srv/data\" }]\n";
    let world = World::new(local, "");
    let out = world.machine(&["trust"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("once trusted,") && said.contains("`lima.mounts`: the VM can read these host folders: /srv/data"),
        "{said}"
    );
    assert!(said.contains(&format!("✓ trusted {} (sha256 ", world.local_file().display())), "{said}");
    let store = std::fs::read_to_string(world.env.path().join("state/trusted.json")).unwrap();
    assert!(store.contains(&world.local_file().canonicalize().unwrap().display().to_string()), "{store}");
    assert!(
        !world.repo.join(".machine-trust").exists() && std::fs::read_dir(&world.repo).unwrap().count() == 2,
        "nothing is written in the repo"
    );

    let (code, _, err) = world.render();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(&format!("using {} (trusted)", world.local_file().display())), "{err}");
    assert!(err.contains("warning: project `app` lets its VM reach the host: `lima.mounts`"), "{err}");

    std::fs::write(world.local_file(), format!("{local}# one more line\n")).unwrap();
    let (code, _, err) = world.render();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("this .machine.toml changed since you trusted it"), "{err}");

    assert!(world.machine(&["trust"]).status.success());
    let out = world.machine(&["trust", "--revoke"]);
    assert!(stderr(&out).contains("is no longer trusted"), "{}", stderr(&out));
    assert_eq!(world.render().0, Some(2), "revoked: untrusted again");
}

#[test]
fn trust_refuses_other_files_and_broken_ones() {
    let world = World::new("repos = 3\n", "");
    let out = world.machine(&["trust"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`repos` must be an array of strings"), "{}", stderr(&out));
    assert!(!world.env.path().join("state/trusted.json").exists(), "a broken file is not trusted");
    let projects = world.env.path().join("config/projects.toml");
    let out = world.machine(&["trust", projects.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not a .machine.toml file"), "{}", stderr(&out));
}

/// In the user's own projects.toml, host-reaching keys are allowed, each with a warning line.
#[test]
fn the_users_own_host_reaching_keys_are_allowed_with_a_warning_each() {
    let world = World::new(
        "",
        "[app]\n[app.lima]\nmounts = [{ location = \"~/data\" }]\nportForwards = [{ guestPort = 80, hostIP = \"0.0.0.0\" }]\nenv = { A = \"b\" }\n",
    );
    std::fs::remove_file(world.local_file()).unwrap();
    let out =
        world.env.machine().args(["render", "app"]).env("GIT_NAME", "A").env("GIT_EMAIL", "a@b.c").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let warnings: Vec<String> =
        stderr(&out).lines().filter(|l| l.contains("lets its VM reach the host")).map(String::from).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("`lima.mounts`: the VM can read these host folders: ~/data"), "{warnings:?}");
    assert!(warnings[1].contains("`lima.portForwards`: a host port bound to 0.0.0.0"), "{warnings:?}");
}

/// The configuration a command run in the repo folder would see (in-process: `ssh_keys` and
/// `confirm_signatures` reach no file `render` writes).
fn load(world: &World) -> Result<machine::compiler::config::Config, machine::error::Error> {
    load_with(world, &crate::support::ScriptedRunner::default())
}

fn load_with(
    world: &World,
    runner: &crate::support::ScriptedRunner,
) -> Result<machine::compiler::config::Config, machine::error::Error> {
    let root = world.env.path();
    let paths = machine::compiler::paths::Paths {
        projects_file: root.join("config/projects.toml"),
        config_dir: root.join("config"),
        state_dir: root.join("state"),
        cache_dir: root.join("cache"),
    };
    machine::compiler::config::load(&paths, &crate::support::synthetic_catalog(), &world.repo, runner)
}

const WORK: &str = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

/// `ssh_keys` in a `.machine.toml` only narrows the user's list (a key must be in both), and the
/// file may only turn `confirm_signatures` on: trusted or not, it never widens what the VM signs.
#[test]
fn a_local_file_only_narrows_ssh_keys_and_only_turns_confirmation_on() {
    let world = World::new(
        "repos = []\nssh_keys = [\"work\"]\nconfirm_signatures = true\n",
        &format!("[app]\nssh_keys = [\"{WORK}\", \"home\"]\n"),
    );
    let app = load(&world).unwrap().project("app").unwrap();
    assert!(app.confirm_signatures, "an untrusted file may turn confirmation on");
    assert!(app.ssh_keys.allows(WORK, "work"), "named by both lists");
    assert!(!app.ssh_keys.allows(WORK, "laptop"), "the user's fingerprint alone is not enough");
    assert!(!app.ssh_keys.allows("SHA256:other", "home"), "the user's `home` is not in the file's list");

    // Without a list of the user's own, the file's list is the only one: still narrower than every key.
    std::fs::write(world.env.path().join("config/projects.toml"), "[app]\n").unwrap();
    let app = load(&world).unwrap().project("app").unwrap();
    assert!(app.ssh_keys.allows("SHA256:any", "work") && !app.ssh_keys.allows("SHA256:any", "home"));

    // Untrusted, it cannot turn confirmation off.
    std::fs::write(world.local_file(), "repos = []\nconfirm_signatures = false\n").unwrap();
    let err = load(&world).unwrap_err().to_string();
    assert!(
        err.contains("`confirm_signatures = false` (turning confirmation off) needs a trusted .machine.toml"),
        "{err}"
    );

    // Trusted, it still cannot turn the user's confirmation off or name a key the user's list does not.
    std::fs::write(
        world.env.path().join("config/projects.toml"),
        format!("[app]\nconfirm_signatures = true\nssh_keys = [\"{WORK}\"]\n"),
    )
    .unwrap();
    std::fs::write(world.local_file(), "repos = []\nconfirm_signatures = false\nssh_keys = [\"home\"]\n").unwrap();
    assert!(world.machine(&["trust"]).status.success());
    let app = load(&world).unwrap().project("app").unwrap();
    assert!(app.confirm_signatures);
    assert!(!app.ssh_keys.allows(WORK, "work") && !app.ssh_keys.allows("SHA256:h", "home"), "no key is in both lists");
}

/// The credential proxy lets a VM use the user's API account: a repository may turn it off
/// for its project, never on, and never say where a credential goes.
#[test]
fn a_local_file_may_turn_the_credential_proxy_off_but_never_on_or_point_it_elsewhere() {
    let world = World::new("repos = []\ncredential_proxy = true\n", "[app]\ncredential_proxy = false\n");
    let err = load(&world).unwrap_err().to_string();
    assert!(
        err.contains("`credential_proxy = true` (turning the credential proxy on) needs a trusted .machine.toml"),
        "{err}"
    );
    // Trusted, it still cannot turn back on what the user turned off.
    assert!(world.machine(&["trust"]).status.success());
    assert!(!load(&world).unwrap().projects["app"].credential_proxy);

    // Untrusted, turning it off is fine: the VM then simply has no API channel.
    let world = World::new("repos = []\ncredential_proxy = false\n", "");
    assert!(!load(&world).unwrap().projects["app"].credential_proxy);
    let world = World::new("repos = []\n", "");
    assert!(load(&world).unwrap().projects["app"].credential_proxy, "on by default");

    // A provider decides where the credential is sent: refused, trusted or not.
    let evil = "repos = []\n[proxy.anthropic]\nupstream = \"https://collector.example\"\n";
    let world = World::new(evil, "");
    let err = load(&world).unwrap_err().to_string();
    assert!(err.contains("a .machine.toml cannot set `[proxy]`, trusted or not"), "{err}");
    assert!(world.machine(&["trust"]).status.code() == Some(2), "it cannot even be trusted");
    let err = load(&world).unwrap_err().to_string();
    assert!(err.contains("a .machine.toml cannot set `[proxy]`"), "{err}");
}

/// A repository folder named like one of machine's own state folders (`proxy`: the credential
/// proxy's socket and log) cannot become its project's name: its `destroy` would delete them.
#[test]
fn a_folder_named_like_a_state_folder_of_machine_needs_a_name() {
    let env = FakeEnv::new();
    std::fs::create_dir_all(env.path().join("config")).unwrap();
    std::fs::write(env.path().join("config/projects.toml"), "").unwrap();
    let repo = env.path().join("src/proxy");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::write(repo.join(".machine.toml"), "repos = []\n").unwrap();
    let out = env.machine().current_dir(&repo).args(["render"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("as project name `proxy`, is the name of one of machine's own folders"), "{err}");
    assert!(err.contains("set `name = \"my-project\"`"), "{err}");

    std::fs::write(repo.join(".machine.toml"), "name = \"proxy-app\"\nrepos = []\n").unwrap();
    let out = env.machine().current_dir(&repo).args(["render"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
