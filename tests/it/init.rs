//! `machine init`: the example projects.toml, written once (or replaced with a backup), and the
//! example itself: it parses as shipped and with every example uncommented, and documents
//! every key.

use machine::commands::init::EXAMPLE;
use machine::compiler::config::parse::parse_projects_file;
use machine::compiler::config::source::Source;
use machine::compiler::layers::Catalog;

use crate::fake::FakeEnv;

fn projects_toml(env: &FakeEnv) -> std::path::PathBuf {
    env.path().join("config/projects.toml")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The example with every `# ` example line turned into TOML (`##` lines stay comments).
fn uncommented() -> String {
    EXAMPLE
        .lines()
        .map(|l| if l == "#" { "" } else { l.strip_prefix("# ").unwrap_or(l) })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_shipped_example_is_the_embedded_one() {
    let shipped = std::fs::read_to_string(crate::support::manifest_dir().join("projects.toml.example")).unwrap();
    assert_eq!(shipped, EXAMPLE);
}

#[test]
fn the_example_parses_as_is_and_uncommented() {
    let catalog = Catalog::builtin();
    let parsed = parse_projects_file(&Source::new("projects.toml", EXAMPLE), &catalog).expect("the example parses");
    assert!(parsed.projects.is_empty(), "the example defines no project until one is uncommented");
    let text = uncommented();
    let parsed = parse_projects_file(&Source::new("projects.toml", text.as_str()), &catalog)
        .unwrap_or_else(|d| panic!("the uncommented example is invalid: {}", machine::compiler::layers::render(&d)));
    let names: Vec<&str> = parsed.projects.keys().map(String::as_str).collect();
    assert_eq!(names, ["blog", "scratch", "wallet"]);
    assert_eq!(parsed.projects["wallet"].repos.len(), 2, "a multi-repo example");
    assert_eq!(parsed.projects["wallet"].profiles, ["cypress", "playwright"], "an example with profiles");
}

#[test]
fn the_example_documents_every_key() {
    let top = machine::compiler::config::parse::TOP_KEYS.iter().filter(|k| **k != "default_profile");
    let keys: Vec<&str> = top.chain(machine::compiler::config::parse::PROJECT_KEYS.iter()).copied().collect();
    for key in keys {
        let documented = EXAMPLE.lines().any(|l| l.starts_with("## ") && l.contains(key));
        let shown = uncommented()
            .lines()
            .any(|l| l.starts_with(key) || l.contains(&format!(".{key}]")) || l.starts_with(&format!("[{key}")));
        assert!(documented && shown, "`{key}` is explained and shown in the example");
    }
}

#[test]
fn init_writes_the_example_once() {
    let env = FakeEnv::new();
    let out = env.machine().arg("init").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let path = projects_toml(&env);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), EXAMPLE);
    assert!(stderr(&out).contains(&format!("wrote {}", path.display())), "{}", stderr(&out));
    std::fs::write(&path, "[mine]\n").unwrap();
    let out = env.machine().arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("error: {} already exists", path.display())), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[mine]\n", "an existing file is left alone");
}

#[test]
fn init_force_keeps_a_backup() {
    let env = FakeEnv::new();
    let path = projects_toml(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "[mine]\n").unwrap();
    let out = env.machine().args(["init", "--force"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), EXAMPLE);
    assert_eq!(std::fs::read_to_string(path.with_file_name("projects.toml.bak")).unwrap(), "[mine]\n");
}

#[test]
fn create_after_init_appends_below_the_example() {
    let env = FakeEnv::new();
    assert!(env.machine().arg("init").output().unwrap().status.success());
    let out =
        env.machine().args(["create", "blog", "--repo", "git@github.com:you/blog.git", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(projects_toml(&env)).unwrap();
    assert_eq!(text, format!("{EXAMPLE}\n[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n"));
}

/// `none` and `all` are whole answers: mixed with names they used to be dropped or written as a
/// key called "all".
#[test]
fn create_refuses_none_or_all_mixed_with_names() {
    let env = FakeEnv::new();
    for (args, expected) in [
        (&["--profile", "none,modern"][..], "`--profile none` cannot go with other profiles (none,modern)"),
        (&["--without", "docker,none"], "`--without none` cannot go with other layers (docker,none)"),
        (
            &["--ssh-key", "all", "--ssh-key", "you@laptop"],
            "`--ssh-key all` cannot go with other keys (all, you@laptop)",
        ),
        (&["--ssh-key", "you@laptop", "--ssh-key", "none"], "`--ssh-key none` cannot go with other keys"),
    ] {
        let out = env
            .machine()
            .args(["create", "blog", "--repo", "git@github.com:you/blog.git", "--yes"])
            .args(args)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!projects_toml(&env).exists(), "{args:?}: nothing is written");
    }
}
