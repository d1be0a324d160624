//! `machine render` and `machine profiles` as a user runs them.

use assert_cmd::Command;
use std::path::Path;

/// A hermetic command: temp HOME, no inherited config, a fixed identity.
fn machine(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("machine").unwrap();
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_NAME", "Ada Lovelace")
        .env("GIT_EMAIL", "ada@example.com")
        .env("GIT_SIGNING_KEY", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ada@laptop")
        .current_dir(home);
    cmd
}

#[test]
fn zero_config_renders_the_default_project_and_writes_it() {
    let home = tempfile::tempdir().unwrap();
    let out = machine(home.path()).arg("render").assert().success().get_output().clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let state = home.path().join(".local/state/machine");
    let instance = state.join("default/lima.yaml");
    assert!(stdout.contains(&format!("==> {} <==", instance.display())), "{stdout}");
    assert!(instance.is_file(), "render writes the instance file");
    let written = std::fs::read_to_string(&instance).unwrap();
    assert!(stdout.ends_with(&format!("{written}\n")), "the instance file is printed last, as written");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("limactl validate"), "{stderr}");
    // Every layer folder holds its YAML and the files it names.
    let layers = std::fs::read_dir(state.join("layers")).unwrap().count();
    assert!(layers >= 7, "image, core and five standard layers: {layers}");
}

#[test]
fn render_json_is_one_stable_object() {
    let home = tempfile::tempdir().unwrap();
    let out = machine(home.path()).args(["render", "--json"]).assert().success().get_output().clone();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["project"], "default");
    assert_eq!(v["key"].as_str().unwrap().len(), 64);
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers[1]["name"], "core");
    assert_eq!(v["key"], layers.last().unwrap()["key"]);
    assert!(v["instance"]["content"].as_str().unwrap().contains("param:"));
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn missing_identity_is_a_warning_for_render() {
    let home = tempfile::tempdir().unwrap();
    let out = machine(home.path())
        .env_remove("GIT_NAME")
        .env_remove("GIT_EMAIL")
        .env_remove("GIT_SIGNING_KEY")
        .arg("render")
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("warning: no git identity found"), "{stderr}");
    assert!(stderr.contains("warning: no SSH signing key found"), "{stderr}");
}

#[test]
fn unknown_project_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let out = machine(home.path()).args(["render", "nope"]).assert().code(2).get_output().clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("error: no project `nope` in "), "{stderr}");
    assert!(stderr.contains("hint: create it with `machine create nope`, or add a [nope] table to that file (configured projects: none yet"), "{stderr}");
}

#[test]
fn config_errors_name_file_line_and_column_and_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("projects.toml"), "[blog]\nprofiles = [\"cyprus\"]\ncpus = 0\n").unwrap();
    let out = machine(home.path()).env("MACHINE_CONFIG_DIR", &cfg).arg("render").assert().code(2).get_output().clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let file = cfg.join("projects.toml").display().to_string();
    assert!(stderr.contains(&format!("error: {file}:2:13: unknown profile `cyprus`")), "{stderr}");
    assert!(stderr.contains("hint: did you mean `cypress`?"), "{stderr}");
    assert!(stderr.contains(&format!("error: {file}:3:8: `cpus` must be between 1 and 1024, not 0")), "{stderr}");
}

#[test]
fn projects_file_env_var_and_user_profiles() {
    let home = tempfile::tempdir().unwrap();
    let profiles = home.path().join(".config/machine/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(profiles.join("mine.sh"), "#!/bin/bash\necho mine\n").unwrap();
    let file = home.path().join("elsewhere.toml");
    std::fs::write(&file, "[blog]\nprofiles = [\"mine\"]\n").unwrap();
    let out = machine(home.path())
        .env("PROJECTS_FILE", &file)
        .args(["render", "blog"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(&format!("mine ({})", profiles.join("mine.sh").display())), "{stdout}");
    let listing = machine(home.path()).arg("profiles").assert().success().get_output().stdout.clone();
    let listing = String::from_utf8(listing).unwrap();
    assert!(listing.lines().any(|l| l.starts_with("mine ") && l.contains("mine.sh")), "{listing}");
    assert!(listing.lines().any(|l| l.starts_with("cypress ")), "{listing}");
}

#[test]
fn version_and_help() {
    let home = tempfile::tempdir().unwrap();
    let out = machine(home.path()).arg("--version").assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8(out).unwrap(), format!("machine {}\n", env!("CARGO_PKG_VERSION")));
    machine(home.path()).assert().code(2);
}

/// An identity value that would corrupt the guest's git config is refused (exit 2), naming the
/// variable it came from; before, a multi-line key became an empty one and commits went unsigned.
#[test]
fn identity_values_with_control_characters_are_refused() {
    let home = tempfile::tempdir().unwrap();
    for (var, value, says) in [
        (
            "GIT_SIGNING_KEY",
            "ssh-ed25519 AAAAC3Nza ada\n[core]\n\tsshCommand = evil",
            "GIT_SIGNING_KEY contains a line break",
        ),
        ("GIT_SIGNING_KEY", "ssh-ed25519 AAAAC3Nza ada\rx", "GIT_SIGNING_KEY contains a line break"),
        ("GIT_NAME", "Ada\u{1b}[2K", "GIT_NAME contains the control character"),
        ("GIT_EMAIL", "ada @example.com", "GIT_EMAIL is `ada @example.com`, not an email address"),
        ("GIT_EMAIL", "ada@example.com\nx", "GIT_EMAIL contains the control character"),
    ] {
        let out = machine(home.path()).env(var, value).arg("render").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(says), "{var}={value:?}: {stderr}");
    }
}

/// A projects.toml that is not UTF-8 is the user's to fix: exit 2, naming where.
#[test]
fn a_binary_projects_file_is_a_configuration_error() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config/machine");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("projects.toml"), b"[blog]\nrepos = [\"\xff\xfe\"]\n").unwrap();
    let out = machine(home.path()).arg("render").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("projects.toml:2:11: not UTF-8 text (byte 17 of the file)"), "{stderr}");
}

/// `PROJECTS_FILE` pointing at a folder is the user's to fix (exit 2, with what to point it at).
#[test]
fn a_projects_file_that_is_a_folder_is_a_configuration_error() {
    let home = tempfile::tempdir().unwrap();
    let out = machine(home.path()).arg("list").env("PROJECTS_FILE", home.path()).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is a folder, not a configuration file"), "{stderr}");
    assert!(stderr.contains("hint: point PROJECTS_FILE"), "{stderr}");
}

/// `render` and `bake` take a project: a branch VM is refused with the project to name.
#[test]
fn render_and_bake_refuse_a_branch_vm_naming_the_project() {
    let home = tempfile::tempdir().unwrap();
    for command in ["render", "bake"] {
        let out = machine(home.path()).args([command, "blog@feature/x"]).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("`blog@feature/x` is a branch VM: this command takes a project"),
            "{command}: {stderr}"
        );
        assert!(stderr.contains("hint: name the project: `blog`"), "{command}: {stderr}");
    }
}

/// What only the host can judge names the file to fix.
#[cfg(target_os = "linux")]
#[test]
fn vz_on_linux_names_the_file_that_asks_for_it() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config/machine");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("projects.toml"), "[blog]\nrepos = []\nvm_type = \"vz\"\n").unwrap();
    let out = machine(home.path()).args(["render", "blog"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "project `blog` (in {}) sets vm_type = \"vz\", which needs a macOS host",
            config.join("projects.toml").display()
        )),
        "{stderr}"
    );
}

/// A relative `MACHINE_STATE_DIR` is made absolute at startup: Lima resolves `base:` paths
/// itself, from wherever it runs.
#[test]
fn a_relative_state_dir_gives_absolute_base_paths() {
    let home = tempfile::tempdir().unwrap();
    let out = machine(home.path()).env("MACHINE_STATE_DIR", "state").args(["render", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let instance = json["instance"]["content"].as_str().unwrap();
    let base = instance.lines().find_map(|l| l.strip_prefix("base: ")).unwrap();
    let cwd = home.path().canonicalize().unwrap();
    assert!(std::path::Path::new(base).starts_with(cwd.join("state/layers")), "{base}");
}

#[test]
fn render_all_compiles_every_project_in_one_run() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config/machine");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("projects.toml"), "[blog]\n[wiki]\nprofiles = [\"cypress\"]\n").unwrap();
    let out = machine(home.path()).args(["render", "--all", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = json.as_array().unwrap().iter().map(|p| p["project"].as_str().unwrap()).collect();
    assert_eq!(names, ["blog", "wiki"]);
    let text = machine(home.path()).args(["render", "--all"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("/blog/lima.yaml <==") && stdout.contains("/wiki/lima.yaml <=="), "{stdout}");
    let both = machine(home.path()).args(["render", "blog", "--all"]).output().unwrap();
    assert_eq!(both.status.code(), Some(2), "a project and --all conflict");
}
