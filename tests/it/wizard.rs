//! The `create` wizard: its flow driven in-process by a scripted prompter (with the synthetic
//! catalog, so snapshots do not churn with the real layers), and the non-interactive CLI form
//! against the fake git.

use std::path::Path;

use machine::compiler::config::model::{Shell, Size};
use machine::compiler::config::parse::{ProjectsFile, parse_projects_file};
use machine::compiler::config::source::Source;
use machine::compiler::edit;
use machine::driver::ssh_agent::AgentKey;
use machine::error::Error;
use machine::ui::wizard::prompt::Scripted;
use machine::ui::wizard::{self, Answers, Env, Given};
use serde_json::json;

use crate::fake::FakeEnv;
use crate::support::synthetic_catalog;

const FILE: &str = "/home/you/.config/machine/projects.toml";

fn parse(text: &str) -> ProjectsFile {
    parse_projects_file(&Source::new(FILE, text), &synthetic_catalog()).expect("a valid projects file")
}

/// What one wizard run did: the new file (or the error) and what was asked and said.
struct Run {
    result: Result<String, Error>,
    transcript: String,
    unused: usize,
}

impl Run {
    fn text(&self) -> &str {
        self.result.as_ref().map_or_else(|e| panic!("the wizard failed: {e}\n{}", self.transcript), String::as_str)
    }
}

/// Runs the wizard over `text` with scripted answers; repos listed in `unreachable` fail the
/// reachability check. The new text must parse.
fn wizard(text: &str, given: &Given, answers: &[&str], unreachable: &[&str]) -> Run {
    wizard_with_agent(text, given, answers, unreachable, &|| Err("no agent in this test".to_string()))
}

/// As [`wizard`], with the host agent's keys as `ssh-add -l` would list them.
fn wizard_with_agent(
    text: &str,
    given: &Given,
    answers: &[&str],
    unreachable: &[&str],
    agent_keys: &dyn Fn() -> Result<Vec<AgentKey>, String>,
) -> Run {
    let catalog = synthetic_catalog();
    let file = parse(text);
    let check = |url: &machine::compiler::config::model::RepoUrl| {
        if unreachable.contains(&url.as_str()) { Err("fatal: repository not found".to_string()) } else { Ok(()) }
    };
    let env = Env {
        catalog: &catalog,
        defaults: &file.defaults,
        projects: &file.projects,
        projects_file: Path::new(FILE),
        suggested_name: None,
        check_repo: &check,
        agent_keys,
    };
    let mut prompter = Scripted::new(answers.iter().copied());
    let result = wizard::run(&env, given, &mut prompter).and_then(|answers| {
        let old = Answers::current(&answers.name, file.projects.get(&answers.name), &file.defaults);
        edit::apply(text, &old, &answers)
    });
    if let Ok(new) = &result {
        parse(new);
    }
    Run { result, transcript: prompter.transcript().to_string(), unused: prompter.remaining() }
}

fn named(name: &str) -> Given {
    Given { name: Some(name.into()), ..Given::default() }
}

#[test]
fn creates_a_project() {
    let answers = [
        "blog",
        "git@github.com:you/blog.git",
        "https://github.com/you/blog-api.git",
        "",
        "cypress",
        "",
        "bash",
        "n",
        "4",
        "8",
        "",
    ];
    let run = wizard("", &Given::default(), &answers, &[]);
    insta::assert_snapshot!(format!("{}\n--- projects.toml\n{}", run.transcript, run.text()));
    assert_eq!(run.unused, 0);
    let project = &parse(run.text()).projects["blog"];
    assert_eq!(project.shell, Shell::Bash);
    assert!(!project.forward_agent);
    assert_eq!(project.memory, Size::from_gib(8));
}

const RICH: &str = r#"# My projects.
default_profiles = ["cypress"]   # most of mine test in a browser

# The blog.
[blog] # since 2019
# where the code is
repos = [
  "git@github.com:you/blog.git", # the site
  # the API, split out in 2024
  "https://github.com/you/blog-api.git",
]
image = "debian-12"              # stable
# sized for the test suite
cpus = 4
memory = "8GiB"
arch = "x86_64"

[blog.lima]
env = { NODE_OPTIONS = "--max-old-space-size=8192" }

# Keep this one last.
[wallet]
repos = ["git@github.com:you/wallet.git"]
"#;

#[test]
fn editing_keeps_comments_key_order_and_other_keys() {
    // Keep the repos and profiles, switch to bash, 8 CPUs, Lima's memory, a 60GiB disk.
    let answers = ["", "", "", "bash", "", "", "8", "default", "60"];
    let run = wizard(RICH, &named("blog"), &answers, &[]);
    assert_eq!(run.unused, 0);
    insta::assert_snapshot!(format!("{}\n--- before\n{RICH}\n--- after\n{}", run.transcript, run.text()));
    let after = run.text();
    for kept in [
        "# where the code is",
        "# the site",
        "# the API, split out in 2024",
        "# sized for the test suite",
        "# stable",
        "[blog.lima]",
        "# Keep this one last.\n[wallet]",
    ] {
        assert!(after.contains(kept), "lost {kept:?}:\n{after}");
    }
    let blog = &parse(after).projects["blog"];
    assert_eq!((blog.cpus, blog.memory.clone(), blog.shell), (Some(8), None, Shell::Bash));
    assert_eq!(blog.repos.len(), 2);
}

#[test]
fn answers_that_change_nothing_leave_the_file_byte_for_byte() {
    let run = wizard(RICH, &named("blog"), &["", "", "", "", "", "", "", "", ""], &[]);
    assert_eq!(run.text(), RICH);
}

#[test]
fn none_gives_a_project_no_profiles() {
    let text = "default_profiles = [\"cypress\"]\n";
    let run = wizard(text, &named("lean"), &["", "none", "", "", "", "", "", "", ""], &[]);
    assert_eq!(run.text(), "default_profiles = [\"cypress\"]\n\n[lean]\nprofiles = []\n");
    assert!(parse(run.text()).projects["lean"].profiles.is_empty());
}

#[test]
fn invalid_answers_are_asked_again() {
    let answers = [
        "My Blog",
        "blog-",
        "blog",
        "github.com/you/blog",
        "git@github.com:you/blog.git",
        "https://example.com/other/blog.git",
        "",
        "",
        "",
        "fish",
    ];
    // A select cannot be answered with something that is not listed: the script says so.
    let run = wizard("", &Given::default(), &answers, &[]);
    assert!(run.result.is_err());
    let answers = [
        "My Blog",
        "blog-",
        "blog",
        "github.com/you/blog",
        "git@github.com:you/blog.git",
        "https://example.com/other/blog.git",
        "",
        "",
        "",
        "",
        "",
        "",
        "0",
        "lots",
        "2",
        "16GB",
        "16GiB",
        "8",
        "512",
    ];
    let run = wizard("", &Given::default(), &answers, &[]);
    assert_eq!(run.unused, 0);
    insta::assert_snapshot!(format!("{}\n--- projects.toml\n{}", run.transcript, run.text()));
}

#[test]
fn an_unreachable_repo_is_kept_only_when_asked_to() {
    let gone = "git@github.com:you/gone.git";
    let answers = [gone, "n", gone, "y", "", "", "", "", "", "", "", "", ""];
    let run = wizard("", &named("blog"), &answers, &[gone]);
    assert_eq!(run.unused, 0);
    assert_eq!(run.transcript.matches("cannot reach git@github.com:you/gone.git").count(), 2, "{}", run.transcript);
    assert!(run.text().contains("repos = [\"git@github.com:you/gone.git\"]"), "{}", run.text());
}

#[test]
fn a_profile_missing_its_requirement_asks_again() {
    // `playwright` requires `node`: leaving node out is refused until it is kept again.
    let answers = ["", "playwright", "docker,gh,claude", "", "docker,node,gh,claude", "", "", "", "", "", ""];
    let run = wizard("", &named("e2e"), &answers, &[]);
    assert_eq!(run.unused, 0);
    assert!(run.transcript.contains("`playwright` needs `node` below it in the stack"), "{}", run.transcript);
    assert_eq!(run.text(), "[e2e]\nprofiles = [\"playwright\"]\nwithout = [\"codex\"]\n");
}

#[test]
fn a_closed_stdin_is_a_clear_error() {
    let run = wizard("", &Given::default(), &["blog", "git@github.com:you/blog.git"], &[]);
    let err = run.result.expect_err("the script ran out");
    assert_eq!(
        err.message(),
        "stdin closed: `machine create` needs a terminal; use `machine create NAME --repo URL … --yes`"
    );
    assert_eq!(err.exit_code(), 2);
    assert!(run.transcript.ends_with("> <EOF>\n"), "{}", run.transcript);
}

#[test]
fn yes_keeps_what_is_not_given() {
    let given = Given { cpus: Some(2), shell: Some(Shell::Bash), yes: true, ..named("blog") };
    let run = wizard(RICH, &given, &[], &[]);
    assert!(run.transcript.is_empty(), "nothing is asked: {}", run.transcript);
    let blog = &parse(run.text()).projects["blog"];
    assert_eq!((blog.cpus, blog.memory.as_ref().map(Size::as_str), blog.shell), (Some(2), Some("8GiB"), Shell::Bash));
    let run = wizard("", &Given { yes: true, ..Given::default() }, &[], &[]);
    assert!(run.result.is_err_and(|e| e.message() == "`--yes` needs the project's name"));
}

#[test]
fn flags_are_checked_against_the_catalog() {
    let given = Given { profiles: Some(vec!["cyprus".into()]), yes: true, ..named("x") };
    let err = wizard("", &given, &[], &[]).result.expect_err("unknown profile");
    insta::assert_snapshot!(err.to_string(), @r"
    error: unknown profile `cyprus`
    hint: did you mean `cypress`?
    ");
    let given = Given { without: Some(vec!["dockr".into()]), yes: true, ..named("x") };
    let err = wizard("", &given, &[], &[]).result.expect_err("unknown layer");
    assert_eq!(err.to_string(), "error: `dockr` is not a standard layer\nhint: did you mean `docker`?");
    let given = Given { disk: Size::from_gib(8), yes: true, ..named("x") };
    let err = wizard("", &given, &[], &[]).result.expect_err("a disk smaller than a baked one");
    assert!(err.message().starts_with("a disk of 8GiB is smaller than the 20GiB baked disk"), "{err}");
}

// ---- the command line -------------------------------------------------------------------------

fn projects_toml(env: &FakeEnv) -> std::path::PathBuf {
    env.path().join("config/projects.toml")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn create_with_flags_writes_the_entry_atomically() {
    let env = FakeEnv::new();
    let out = env
        .machine()
        .args(["create", "blog", "--repo", "git@github.com:you/blog.git", "--repo", "https://github.com/you/api.git"])
        .args(["--profile", "modern,python", "--without", "codex", "--shell", "bash", "--no-forward-agent"])
        .args(["--cpus", "4", "--memory", "8", "--disk", "60GiB", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(projects_toml(&env)).unwrap();
    insta::assert_snapshot!(text);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), text.trim_end(), "the entry is printed");
    let path = projects_toml(&env).display().to_string();
    assert!(
        stderr(&out).contains(&format!("wrote [blog] to {path}\nrun `machine up blog` to create and start it")),
        "{}",
        stderr(&out)
    );
    let mut files: Vec<_> =
        std::fs::read_dir(env.path().join("config")).unwrap().map(|e| e.unwrap().file_name()).collect();
    files.sort();
    assert_eq!(files, [".projects.toml.lock", "projects.toml"], "no temp file is left behind (only the edit lock)");
    let checks = env.calls_text();
    assert!(checks.contains("git ls-remote git@github.com:you/blog.git HEAD"), "{checks}");
    assert!(checks.contains("git ls-remote https://github.com/you/api.git HEAD"), "{checks}");
    // Run again with one change: only that key moves.
    let out = env.machine().args(["create", "blog", "--cpus", "6", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let again = std::fs::read_to_string(projects_toml(&env)).unwrap();
    assert_eq!(again, text.replace("cpus = 4", "cpus = 6"));
}

#[test]
fn an_unreachable_repo_given_as_a_flag_is_kept_with_a_warning() {
    let env = FakeEnv::new();
    let url = "git@github.com:you/private.git";
    env.faults(json!({"ls_remote": {url: "fail:ERROR: Repository not found."}}));
    let out = env.machine().args(["create", "app", "--repo", url, "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "warning: cannot reach {url} from this host (kept, as given):\n  ERROR: Repository not found."
        )),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::read_to_string(projects_toml(&env)).unwrap().contains(url));
}

#[test]
fn without_a_terminal_create_needs_every_answer_or_yes() {
    let env = FakeEnv::new();
    let out = env.machine().args(["create", "blog", "--repo", "git@github.com:you/blog.git"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "error: stdin closed: `machine create` needs a terminal; use `machine create NAME --repo URL … --yes`"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!projects_toml(&env).exists(), "nothing is written");
}

#[test]
fn an_entry_that_would_make_the_file_invalid_is_not_written() {
    let env = FakeEnv::new();
    let out = env
        .machine()
        .args(["create", "e2e", "--profile", "playwright", "--without", "node", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("layer `playwright` needs `node` earlier in the stack"), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint: nothing was written to"), "{}", stderr(&out));
    assert!(!projects_toml(&env).exists());
}

#[test]
fn up_of_an_unknown_project_without_a_terminal_keeps_its_error() {
    let env = FakeEnv::new();
    let out = env.machine().args(["up", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("error: no project `nosuch` in"), "{}", stderr(&out));
    assert!(!projects_toml(&env).exists());
}

/// Every read-modify-write of projects.toml happens under its lock and re-reads the file:
/// ten `create`s at once keep all ten projects (before, most were lost).
#[test]
fn concurrent_creates_keep_every_project() {
    let env = FakeEnv::new();
    std::fs::create_dir_all(env.path().join("config")).unwrap();
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..10)
            .map(|i| {
                let env = &env;
                s.spawn(move || {
                    env.machine().args(["create", &format!("p{i}"), "--cpus", "2", "--yes"]).output().unwrap()
                })
            })
            .collect();
        for run in runs {
            let out = run.join().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
    });
    let parsed = parse(&std::fs::read_to_string(projects_toml(&env)).unwrap());
    let names: Vec<&str> = parsed.projects.keys().map(String::as_str).collect();
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]);
}

/// A projects.toml the user made read-only is not replaced.
#[test]
fn a_read_only_projects_file_is_not_replaced() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = FakeEnv::new();
    let path = projects_toml(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "[blog]\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = env.machine().args(["create", "app", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is read-only, so machine does not replace it"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[blog]\n");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o444);
}

/// Drives `machine ARGS` on a pseudo-terminal (util-linux `script`): each key is typed once the
/// output so far contains its marker. Returns the exit code and everything the terminal showed.
fn on_a_terminal(env: &FakeEnv, args: &str, keys: &[(&str, &str)]) -> (Option<i32>, String) {
    use std::io::{Read as _, Write as _};
    let machine = assert_cmd::cargo::cargo_bin("machine");
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &format!("{} {args}", machine.display()), "/dev/null"])
        .env("HOME", env.home())
        .env("MACHINE_CONFIG_DIR", env.path().join("config"))
        .env("MACHINE_STATE_DIR", env.path().join("state"))
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script runs");
    let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let shown = std::sync::Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    let started = std::time::Instant::now();
    for (marker, key) in keys {
        while !String::from_utf8_lossy(&shown.lock().unwrap()).contains(marker) {
            assert!(
                started.elapsed().as_secs() < 20,
                "never saw {marker:?}: {:?}",
                String::from_utf8_lossy(&shown.lock().unwrap())
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        stdin.write_all(key.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed().as_secs() >= 20 {
            let _ = child.kill();
            panic!("still waiting after the keys: {:?}", String::from_utf8_lossy(&shown.lock().unwrap()));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    reader.join().unwrap();
    let text = String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();
    (status.code(), text)
}

/// Ctrl-C or Esc at a check list ends the wizard with the terminal given back: the cursor shown
/// again and the message on a line of its own (exit 130, nothing written).
#[test]
fn an_interrupted_question_gives_the_terminal_back() {
    if !cfg!(target_os = "linux") || which_script().is_none() {
        return;
    }
    for key in ["\u{3}", "\u{1b}"] {
        let env = FakeEnv::new();
        let path = projects_toml(&env);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "[blog]\n").unwrap();
        let (code, shown) = on_a_terminal(&env, "create blog", &[("Repo URL", "\r"), ("space toggles", key)]);
        assert_eq!(code, Some(130), "{key:?}: {shown:?}");
        let hidden = shown.rfind("\u{1b}[?25l").expect("the check list hides the cursor");
        assert!(
            shown.rfind("\u{1b}[?25h").is_some_and(|shown_at| shown_at > hidden),
            "{key:?}: cursor shown again: {shown:?}"
        );
        assert!(shown.contains("error: cancelled: nothing was written"), "{key:?}: {shown:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[blog]\n", "nothing was written");
    }
}

fn which_script() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("script")).find(|p| p.is_file()))
}

const FP_ONE: &str = "SHA256:c7iIE0QA97ZOV3M8H6/hAWzRMTiv5vmdHb/1hc+apqw";
const FP_TWO: &str = "SHA256:InYIU4LGLW1WQpgnIiQHM8YeLqhsHik7tXonNnXhSbs";
const FP_THREE: &str = "SHA256:zm+/ovA5UnB1C6z6cJZlJYd4jSLGsSbSI9mEnCcg4ng";

fn three_keys() -> Vec<AgentKey> {
    let listed = format!(
        "256 {FP_ONE} one@test (ED25519)\n256 {FP_TWO} two@test (ED25519)\n3072 {FP_THREE} work laptop (RSA)\n"
    );
    machine::driver::ssh_agent::parse_list(&listed)
}

#[test]
fn the_agents_keys_are_offered_as_a_check_list() {
    // name, repos, profiles, layers, shell, forward, keys, confirm, cpus, memory, disk
    let answers = ["blog", "", "", "", "", "", &format!("{FP_ONE},{FP_THREE}"), "y", "", "", ""];
    let run = wizard_with_agent("", &Given::default(), &answers, &[], &|| Ok(three_keys()));
    assert_eq!(run.unused, 0);
    insta::assert_snapshot!(format!("{}\n--- projects.toml\n{}", run.transcript, run.text()));
    let blog = &parse(run.text()).projects["blog"];
    assert!(blog.confirm_signatures);
    assert!(blog.ssh_keys.allows(FP_ONE, "one@test") && !blog.ssh_keys.allows(FP_TWO, "two@test"));

    // Every key checked, for a project without `ssh_keys`: it stays without (every key).
    let answers = ["blog", "", "", "", "", "", "", "", "", "", ""];
    let run = wizard_with_agent("", &Given::default(), &answers, &[], &|| Ok(three_keys()));
    assert!(!run.text().contains("ssh_keys") && !run.text().contains("confirm_signatures"), "{}", run.text());
}

#[test]
fn editing_keys_keeps_the_entries_it_can() {
    let text = "[blog]\nssh_keys = [\"one@test\", \"work laptop\", \"gone@old\"]\nconfirm_signatures = true\n";
    // repos, profiles, layers, shell, forward, keys (two instead of one; work laptop kept), confirm off, …
    let answers = ["", "", "", "", "", &format!("{FP_TWO},{FP_THREE}"), "n", "", "", ""];
    let run = wizard_with_agent(text, &named("blog"), &answers, &[], &|| Ok(three_keys()));
    assert_eq!(run.unused, 0);
    assert!(run.transcript.contains("{[x] SHA256:c7i"), "the current key is checked: {}", run.transcript);
    assert!(run.transcript.contains("Kept `gone@old` in `ssh_keys`"), "{}", run.transcript);
    assert_eq!(run.text(), format!("[blog]\nssh_keys = [\"work laptop\", \"gone@old\", \"{FP_TWO}\"]\n"));
}

#[test]
fn keys_can_be_given_as_flags() {
    let given = |keys: Option<Option<Vec<String>>>| Given {
        name: Some("blog".into()),
        ssh_keys: keys,
        confirm_signatures: Some(true),
        yes: true,
        ..Given::default()
    };
    let run = wizard("[blog]\nssh_keys = [\"x\"]\n", &given(Some(None)), &[], &[]);
    assert_eq!(run.text(), "[blog]\nconfirm_signatures = true\n", "`all` removes the list");
    let run = wizard("", &given(Some(Some(Vec::new()))), &[], &[]);
    assert_eq!(run.text(), "[blog]\nssh_keys = []\nconfirm_signatures = true\n", "`none`: no key at all");
    let err = wizard("", &given(Some(Some(vec!["SHA256:short".into()]))), &[], &[]).result.unwrap_err();
    assert!(err.to_string().contains("`--ssh-key SHA256:short` is not a SHA256 fingerprint"), "{err}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn create_takes_ssh_keys_and_confirmation_as_flags() {
    let env = FakeEnv::new();
    let out = env
        .machine()
        .args(["create", "blog", "--ssh-key", "one@test", "--ssh-key", FP_TWO, "--confirm-signatures", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(env.path().join("config/projects.toml")).unwrap();
    assert_eq!(written, format!("[blog]\nssh_keys = [\"one@test\", \"{FP_TWO}\"]\nconfirm_signatures = true\n"));
}
