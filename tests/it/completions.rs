//! Shell completions: the committed scripts match the generator, they parse, and bash really
//! completes project names from the configuration (`.machine.toml` included).

use std::path::{Path, PathBuf};

use machine::commands::completions::Shell;

use crate::fake::FakeEnv;
use crate::support::manifest_dir;

const UPDATE: &str = "MACHINE_UPDATE_COMPLETIONS";

fn committed(shell: Shell) -> PathBuf {
    manifest_dir().join("completions").join(shell.file_name())
}

fn generated(env: &FakeEnv, shell: Shell) -> String {
    let out = env.machine().args(["completions", shell.name()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn committed_scripts_are_current() {
    let env = FakeEnv::new();
    let mut stale = Vec::new();
    for shell in Shell::ALL {
        let fresh = generated(&env, shell);
        let path = committed(shell);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(fresh.as_str()) {
            continue;
        }
        if std::env::var_os(UPDATE).is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, fresh).unwrap();
        } else {
            stale.push(format!("completions/{}", shell.file_name()));
        }
    }
    assert!(
        stale.is_empty(),
        "{} differ from `machine completions`: regenerate them with `{UPDATE}=1 cargo test --test it completions` \
         (or `cargo run -q -- completions bash > completions/machine.bash`, and so on)",
        stale.join(", ")
    );
}

#[test]
fn scripts_wire_project_names_for_every_project_command() {
    for shell in Shell::ALL {
        let text = std::fs::read_to_string(committed(shell)).unwrap();
        assert!(text.contains("__complete projects") || text.contains("_machine_config_values projects"), "{shell:?}");
        assert!(
            !text.contains("__complete)") && !text.contains("\"__complete\""),
            "the helper stays hidden: {shell:?}"
        );
    }
    let bash = std::fs::read_to_string(committed(Shell::Bash)).unwrap();
    for command in ["up", "down", "ssh", "run", "claude", "destroy", "secrets", "code", "render", "bake"] {
        assert!(bash.contains(&format!("\"{command}\"")), "{command} completes project names");
    }
    let fish = std::fs::read_to_string(committed(Shell::Fish)).unwrap();
    assert!(fish.contains("-n \"__fish_machine_using_subcommand secrets\" -f -a \"(machine __complete vms)\""));
    assert!(fish.contains("-n \"__fish_machine_using_subcommand render\" -f -a \"(machine __complete projects)\""));
    let zsh = std::fs::read_to_string(committed(Shell::Zsh)).unwrap();
    assert!(zsh.contains(":_machine_vms'") && zsh.contains(":_machine_projects'"), "zsh knows both lists");
}

#[test]
fn scripts_parse() {
    for (shell, program) in [(Shell::Bash, "bash"), (Shell::Zsh, "zsh"), (Shell::Fish, "fish")] {
        let Some(found) = which(program) else { continue };
        let out = std::process::Command::new(found).arg("-n").arg(committed(shell)).output().unwrap();
        assert!(out.status.success(), "{program} -n: {}", String::from_utf8_lossy(&out.stderr));
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

fn complete_projects_world() -> (FakeEnv, PathBuf) {
    let env = FakeEnv::new();
    std::fs::create_dir_all(env.path().join("config")).unwrap();
    std::fs::write(env.path().join("config/projects.toml"), "[blog]\n[wallet]\n").unwrap();
    let app = env.home().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join(".machine.toml"), "name = \"app-local\"\nrepos = [\"https://github.com/you/app.git\"]\n")
        .unwrap();
    (env, app)
}

#[test]
fn complete_lists_projects_and_profiles() {
    let (env, app) = complete_projects_world();
    let out = env.machine().args(["__complete", "projects"]).current_dir(&app).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "app-local\nblog\ndefault\nwallet\n");
    let out = env.machine().args(["__complete", "profiles"]).output().unwrap();
    let profiles = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(profiles.lines().any(|l| l == "cypress"), "{profiles}");

    std::fs::write(env.path().join("config/projects.toml"), "[broken\n").unwrap();
    let out = env.machine().args(["__complete", "projects"]).output().unwrap();
    assert!(out.status.success(), "a broken config completes quietly");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "default\n");
    assert!(out.stderr.is_empty());
}

/// What bash offers for `line` (which ends where the cursor is) with the committed script.
fn bash_offers(env: &FakeEnv, cwd: &Path, line: &str) -> Vec<String> {
    let machine_dir = assert_cmd::cargo::cargo_bin("machine").parent().unwrap().to_path_buf();
    let script = format!(
        "source '{}'\nread -ra COMP_WORDS <<< \"$LINE\"\n[[ $LINE == *' ' ]] && COMP_WORDS+=('')\n\
         COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\nCOMP_LINE=$LINE\nCOMP_POINT=${{#LINE}}\n\
         _machine_with_config machine \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        committed(Shell::Bash).display()
    );
    let mut cmd = env.command("bash");
    let path = std::env::join_paths([machine_dir, PathBuf::from("/usr/bin"), PathBuf::from("/bin")]).unwrap();
    let out = cmd.arg("-c").arg(script).env("LINE", line).env("PATH", path).current_dir(cwd).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(String::from).collect()
}

#[test]
fn bash_completes_project_names_from_the_configuration() {
    if which("bash").is_none() {
        return;
    }
    let (env, app) = complete_projects_world();
    assert_eq!(bash_offers(&env, &app, "machine up "), ["app-local", "blog", "default", "wallet"]);
    assert_eq!(bash_offers(&env, &app, "machine ssh b"), ["blog"]);
    assert_eq!(bash_offers(&env, &app, "machine -v destroy w"), ["wallet"]);
    assert_eq!(bash_offers(&env, &app, "machine secrets --repo api "), ["app-local", "blog", "default", "wallet"]);
    assert!(bash_offers(&env, &app, "machine up blog ").iter().all(|w| w != "wallet"), "one project per command");
    assert!(bash_offers(&env, &app, "machine up --re").contains(&"--recreate".to_string()));
    assert!(bash_offers(&env, &app, "machine ss").contains(&"ssh-config".to_string()));
    // After an option that takes a value, its own values (or nothing), never project names.
    for line in
        ["machine create --shell ", "machine create --repo ", "machine create --cpus ", "machine secrets blog --repo "]
    {
        assert!(!bash_offers(&env, &app, line).contains(&"blog".to_string()), "{line}");
    }
    assert_eq!(bash_offers(&env, &app, "machine create --shell "), ["zsh", "bash"], "the shells, not files");
    assert_eq!(
        bash_offers(&env, &app, "machine create --without "),
        ["claude", "codex", "docker", "gh", "node", "standard"]
    );
}
