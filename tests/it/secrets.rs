//! `machine secrets` against the fake Lima, guest and `op`: the secret travels only on stdin,
//! lands in the guest's runtime folder with mode 0600, and nowhere on the host.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use serde_json::json;

use crate::fake::FakeEnv;
use crate::support::files;

const SECRET: &str = "s3cr3t-VALUE-that-must-stay-in-memory";
const BLOG: &str = "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n";

/// A configured `blog` whose VM runs (when `running`) with `~/code/blog` holding `envrc`.
fn world(running: bool, envrc: Option<&str>) -> FakeEnv {
    let env = FakeEnv::new();
    std::fs::create_dir_all(env.path().join("config")).unwrap();
    std::fs::write(env.path().join("config/projects.toml"), BLOG).unwrap();
    env.given_instance("blog", running);
    let repo = env.guest_home("blog").join("code/blog");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    if let Some(text) = envrc {
        std::fs::write(repo.join(".envrc"), text).unwrap();
    }
    env.faults(json!({"op_env": {"blogenvironmentid000000001": {"API_TOKEN": SECRET, "REGION": "eu"}}}));
    env
}

fn secrets(env: &FakeEnv, args: &[&str]) -> (Option<i32>, String, String) {
    let out = env.machine().arg("secrets").args(args).env("ONEPASS_SOCK", "/dev/null").output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn guest_secret_file(env: &FakeEnv, id: &str) -> Option<PathBuf> {
    files(&env.guest_root("blog")).into_iter().map(|(p, _)| p).find(|p| p.ends_with(format!("dev-secrets/{id}.env")))
}

#[test]
fn sync_sends_the_secret_on_stdin_only() {
    let env = world(true, Some("dotenv_if_exists\nuse op_env blogenvironmentid000000001\n"));
    let (code, stdout, stderr) = secrets(&env, &["blog"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "synced 1 environment(s)\n");
    assert!(stderr.contains("[secrets] blog (blogenvironmentid000000001)"), "{stderr}");

    let file = guest_secret_file(&env, "blogenvironmentid000000001").expect("the guest has the environment");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("API_TOKEN={SECRET}\nREGION=eu\n"));
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);

    let calls = env.calls();
    assert!(
        calls
            .iter()
            .any(|c| c["tool"] == "op"
                && c["args"] == json!(["environment", "read", "--", "blogenvironmentid000000001"]))
    );
    for call in &calls {
        assert!(!call.to_string().contains(SECRET), "the secret is in a recorded call: {call}");
    }
    // Nothing on the host holds it: not the state, config or cache folders, not the fakes' own
    // records (faults.json is the test's input, and guests/ is the VM).
    let host_files = files(env.path());
    let leaked: Vec<&PathBuf> = host_files
        .iter()
        .filter(|(p, bytes)| {
            !p.starts_with(env.path().join("guests"))
                && !p.ends_with("faults.json")
                && String::from_utf8_lossy(bytes).contains(SECRET)
        })
        .map(|(p, _)| p)
        .collect();
    assert!(leaked.is_empty(), "the secret reached the host's disk: {leaked:?}");
}

#[test]
fn every_repo_and_each_id_once() {
    let env = world(true, Some("use op_env blogenvironmentid000000001\n"));
    let api = env.guest_home("blog").join("code/api");
    std::fs::create_dir_all(api.join(".git")).unwrap();
    std::fs::write(
        api.join(".envrc"),
        "use op_env apienvironmentid0000000002\nuse op_env blogenvironmentid000000001\n",
    )
    .unwrap();
    env.faults(json!({"op_env": {"blogenvironmentid000000001": {"A": "1"}, "apienvironmentid0000000002": {"B": "2"}}}));
    let (code, stdout, stderr) = secrets(&env, &["blog"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "synced 2 environment(s)\n");
    let reads = env.calls().iter().filter(|c| c["tool"] == "op").count();
    assert_eq!(reads, 2, "blogenvironmentid000000001 is read once although two repos use it");
    assert!(guest_secret_file(&env, "apienvironmentid0000000002").is_some());

    let (code, stdout, _) = secrets(&env, &["blog", "--repo", "api"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, "synced 2 environment(s)\n", "--repo api has both of its ids");
}

#[test]
fn clear_removes_everything_or_one_repo_s_ids() {
    let env = world(true, Some("use op_env blogenvironmentid000000001\n"));
    secrets(&env, &["blog"]);
    assert!(guest_secret_file(&env, "blogenvironmentid000000001").is_some());

    let (code, stdout, stderr) = secrets(&env, &["blog", "--clear", "--repo", "blog"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "cleared 1 environment(s)\n");
    assert!(guest_secret_file(&env, "blogenvironmentid000000001").is_none());

    secrets(&env, &["blog"]);
    env.clear_calls();
    let (code, stdout, _) = secrets(&env, &["blog", "--clear"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, "cleared every environment in VM `blog`\n");
    assert!(guest_secret_file(&env, "blogenvironmentid000000001").is_none());
    assert!(!env.calls().iter().any(|c| c["tool"] == "op"), "clearing never asks 1Password");

    let (_, stdout, _) = secrets(&env, &["blog", "--clear"]);
    assert_eq!(stdout, "VM `blog` holds no environments\n");
}

#[test]
fn clear_works_without_op() {
    let env = world(true, Some("use op_env blogenvironmentid000000001\n"));
    std::fs::remove_file(env.bin().join("op")).unwrap();
    let (code, _, stderr) = secrets(&env, &["blog", "--clear"]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn op_missing() {
    let env = world(true, Some("use op_env blogenvironmentid000000001\n"));
    std::fs::remove_file(env.bin().join("op")).unwrap();
    let (code, _, stderr) = secrets(&env, &["blog"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("the 1Password CLI `op` is not on PATH"), "{stderr}");
    assert!(stderr.contains("hint: install the 1Password CLI"), "{stderr}");
}

#[test]
fn vm_not_running_or_absent() {
    let env = world(false, Some("use op_env blogenvironmentid000000001\n"));
    let (code, _, stderr) = secrets(&env, &["blog"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("VM `blog` is not running (it is stopped)"), "{stderr}");
    assert!(stderr.contains("hint: start it with `machine up blog`"), "{stderr}");

    env.command("limactl").args(["delete", "-f", "blog"]).assert().success();
    let (_, _, stderr) = secrets(&env, &["blog"]);
    assert!(stderr.contains("there is no VM `blog`") && stderr.contains("machine up blog"), "{stderr}");
}

#[test]
fn no_envrc() {
    let env = world(true, None);
    let (code, stdout, stderr) = secrets(&env, &["blog"]);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert!(stderr.contains("no repo in VM `blog` has an .envrc"), "{stderr}");
    assert!(stderr.contains("hint: add a line `use op_env <environment id>`"), "{stderr}");

    let (_, _, stderr) = secrets(&env, &["blog", "--repo", "blog"]);
    assert!(stderr.contains("VM `blog` has no ~/code/blog/.envrc"), "{stderr}");
    let (_, _, stderr) = secrets(&env, &["blog", "--repo", "../x"]);
    assert!(stderr.contains("`--repo ../x` is not a folder name"), "{stderr}");
}

#[test]
fn no_op_env_line() {
    let env = world(true, Some("export PORT=3000\n"));
    let (code, _, stderr) = secrets(&env, &["blog"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no .envrc under ~/code in VM `blog` has a `use op_env <id>` line"), "{stderr}");
    let (_, _, stderr) = secrets(&env, &["blog", "--repo", "blog", "--clear"]);
    assert!(stderr.contains("~/code/blog/.envrc in VM `blog` has no `use op_env <id>` line"), "{stderr}");
}

#[test]
fn an_op_failure_shows_its_stderr_and_what_to_do() {
    let env = world(true, Some("use op_env blogenvironmentid000000001\n"));
    env.faults(
        json!({"op_env": {"blogenvironmentid000000001": "fail:authorization prompt dismissed, please try again"}}),
    );
    let (code, stdout, stderr) = secrets(&env, &["blog"]);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "synced 0 environment(s)\n");
    assert!(stderr.contains("error: `op environment read blogenvironmentid000000001` failed"), "{stderr}");
    assert!(stderr.contains("authorization prompt dismissed"), "{stderr}");
    assert!(stderr.contains("hint: unlock 1Password and turn on its CLI integration"), "{stderr}");
    assert!(guest_secret_file(&env, "blogenvironmentid000000001").is_none());
}

#[test]
fn one_failure_does_not_stop_the_others() {
    let env = world(true, Some("use op_env badenvironmentid0000000003\nuse op_env blogenvironmentid000000001\n"));
    env.faults(json!({"op_env": {"badenvironmentid0000000003": "fail:no such environment", "blogenvironmentid000000001": {"A": "1"}}}));
    let (code, stdout, stderr) = secrets(&env, &["blog"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout, "synced 1 environment(s)\n");
    assert!(guest_secret_file(&env, "blogenvironmentid000000001").is_some());
    assert!(stderr.contains("no such environment"), "{stderr}");
}

/// The ids come from the guest, which the host does not trust: only 1Password's id shape (26
/// lowercase letters and digits) is read, after `--`, and anything else is shown escaped.
#[test]
fn ids_from_the_guest_that_are_not_1password_ids_are_not_read() {
    let env = world(true, Some("use op_env blogenvironmentid000000001\n"));
    // A guest whose helper answers with an option-shaped id and one with an escape sequence.
    let helper = env.guest_bin().join("machine-guest");
    std::fs::rename(&helper, env.guest_bin().join("machine-guest.real")).unwrap();
    std::fs::write(
        &helper,
        "#!/bin/sh\nif [ \"$1\" = envrc-ids ]; then\n  printf 'blog p --format=json\\nblog \\033]52;c;x\\007\\nblog blogenvironmentid000000001\\n'\n  exit 0\nfi\nexec \"$0.real\" \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.faults(json!({"op_env": {"blogenvironmentid000000001": {"A": "1"}}}));
    let (code, stdout, stderr) = secrets(&env, &["blog"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "synced 1 environment(s)\n");
    assert!(stderr.contains("not a 1Password Environment id: `p --format=json`"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    let calls = env.calls();
    let op: Vec<_> = calls.iter().filter(|c| c["tool"] == "op").collect();
    assert_eq!(op.len(), 1, "only the real id is read: {op:?}");
}
