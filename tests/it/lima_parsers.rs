//! The `lima` module against real `limactl` 2.2 output: every transcript's stdout and stderr
//! through the parsers, and every command builder's text.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use machine::driver::lima::{self, ControlOp, Instance, Level, Status};

use crate::support::fixtures;
use crate::transcripts::{Transcript, load};

/// Transcripts whose stderr is not limactl's log: a guest command's own stderr, or ssh's.
const FOREIGN_STDERR: [&str; 4] =
    ["shell-stdout-stderr-split", "ssh-control-check", "ssh-control-check-after-exit", "ssh-control-exit"];

fn all() -> Vec<(String, Transcript)> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("lima-transcripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), load(&n))).collect()
}

fn instances(name: &str) -> Vec<Instance> {
    let t = load(name);
    lima::parse_list_json(&t.stdout).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
}

#[test]
fn list_one_instance() {
    let got = instances("list-json-one-instance");
    let want = Instance {
        name: "lab".into(),
        status: Status::Stopped,
        dir: "/home/dev/.lima/lab".into(),
        vm_type: "qemu".into(),
        arch: "x86_64".into(),
        cpus: 2,
        memory: 2 << 30,
        disk: 8 << 30,
        ssh_local_port: Some(34355),
        ssh_config_file: Some("/home/dev/.lima/lab/ssh.config".into()),
        errors: Vec::new(),
        param: params(&[("Greeting", "hello-from-param")]),
    };
    assert_eq!(got, [want]);
}

#[test]
fn list_two_instances() {
    let got = instances("list-json-two-instances");
    insta::assert_snapshot!("list-json-two-instances", format!("{got:#?}"));
    assert_eq!(
        got.iter().map(|i| (i.name.as_str(), &i.status)).collect::<Vec<_>>(),
        [("demo", &Status::Running), ("lab", &Status::Stopped)]
    );
}

#[test]
fn list_created_never_started_has_no_port() {
    let [demo3] = &instances("list-json-created-never-started")[..] else { panic!("one instance") };
    assert_eq!((demo3.name.as_str(), &demo3.status, demo3.ssh_local_port), ("demo3", &Status::Stopped, None));
    assert_eq!(demo3.ssh_config_file.as_deref(), Some(Path::new("/home/dev/.lima/demo3/ssh.config")));
    assert_eq!(demo3.param, params(&[("gitName", "O'Brien")]));
    assert_eq!((demo3.memory, demo3.disk), (4 << 30, 100 << 30));
}

#[test]
fn list_after_start_timeout_is_running() {
    let [probefail] = &instances("list-json-after-start-timeout")[..] else { panic!("one instance") };
    assert_eq!((&probefail.status, probefail.ssh_local_port), (&Status::Running, Some(39277)));
    assert!(probefail.errors.is_empty() && probefail.param.is_empty());
}

#[test]
fn list_nosuch_is_empty() {
    let t = load("list-json-nosuch");
    assert_eq!(lima::parse_list_json(&t.stdout), Ok(Vec::new()));
    assert_eq!(lima::fatal(&t.stderr).as_deref(), Some("unmatched instances"));
    assert_eq!(lima::problems(&t.stderr), ["No instance matching nosuch found.", "unmatched instances"]);
}

#[test]
fn every_stderr_line_of_limactl_parses() {
    let mut lines = 0;
    for (name, t) in all() {
        let foreign = FOREIGN_STDERR.contains(&name.as_str());
        for line in t.stderr.lines() {
            match lima::parse_line(line) {
                Some(parsed) if !foreign => assert!(!parsed.msg.is_empty(), "{name}: {line}"),
                None if foreign => {}
                other => panic!("{name}: {line:?} → {other:?}"),
            }
            lines += 1;
        }
    }
    assert!(lines > 200, "{lines}");
}

#[test]
fn limactl_fails_exactly_when_it_logs_fatal() {
    for (name, t) in all() {
        if t.command.starts_with("limactl ") && !t.command.starts_with("limactl shell ") {
            assert_eq!(lima::fatal(&t.stderr).is_some(), t.exit_code == 1, "{name}");
        }
    }
}

#[test]
fn fatal_messages() {
    let cases = [
        ("create-already-exists", "instance `demo` already exists"),
        ("delete-running-without-force", "failed to delete instance `demo`: expected status `Stopped`, got `Running`"),
        ("stop-already-stopped", "expected status `Running`, got `Stopped` (maybe use `limactl stop -f`?)"),
        ("stop-nosuch", "open /home/dev/.lima/nosuch/lima.yaml: no such file or directory"),
        (
            "validate-param-unused",
            "field `param` key `Greeting` is not used in any provision, probe, copyToHost, or portForward",
        ),
        ("validate-base-dotdot", "relative locator path `../debian-lab-efi.yaml` must not contain '..' path segments"),
        ("start-probe-fails-timeout", "did not receive an event with the `running` status"),
        (
            "start-missing-image",
            "failed to download `/home/dev/images/does-not-exist.qcow2`: failed to open source \
             /home/dev/images/does-not-exist.qcow2: open /home/dev/images/does-not-exist.qcow2: no such file or directory",
        ),
        ("shell-stopped-instance", "instance `demo` is stopped, run `limactl start demo` to start the instance"),
        (
            "shell-nosuch-instance",
            "instance `nosuch` does not exist, run `limactl create nosuch` to create a new instance",
        ),
    ];
    for (name, want) in cases {
        assert_eq!(lima::fatal(&load(name).stderr).as_deref(), Some(want), "{name}");
    }
}

#[test]
fn degraded_fatal_is_unescaped() {
    let failure = "failed to satisfy the optional requirement 1 of 1 `lab marker file /run/never-there to exist`: \
                   This probe never succeeds (lab test).\n: stdout=``, stderr=\"lab: marker missing\\n\": failed to \
                   execute script \"lab marker file /run/never-there to exist\": stdout=\"\", \
                   stderr=\"lab: marker missing\\n\": exit status 1";
    let want = format!(
        "degraded, status={{Running:true Degraded:true Exiting:false Errors:[{failure}] SSHLocalPort:39013 \
         CloudInitProgress:<nil> PortForward:<nil> Vsock:<nil>}}"
    );
    let stderr = load("start-probe-fails-degraded").stderr;
    assert_eq!(lima::fatal(&stderr), Some(want));
    let problems = lima::problems(&stderr);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert_eq!(problems[1], format!("[{failure}]"));
    assert!(problems[2].starts_with("DEGRADED. "), "{}", problems[2]);
}

#[test]
fn readiness() {
    for name in ["start-demo-to-ready", "start-provision-exit3"] {
        assert!(lima::is_ready(&load(name).stderr), "{name}");
    }
    for name in
        ["start-probe-fails-timeout", "start-probe-fails-degraded", "start-missing-image", "start-already-running"]
    {
        assert!(!lima::is_ready(&load(name).stderr), "{name}");
    }
}

#[test]
fn validate_unknown_key_warns_twice() {
    let t = load("validate-unknown-key");
    let warning = "Non-strict YAML detected; please check for typos";
    assert_eq!(lima::problems(&t.stderr), [warning, warning]);
    assert_eq!(lima::fatal(&t.stderr), None);
    let first = lima::parse_line(t.stderr.lines().next().unwrap()).unwrap();
    assert_eq!(first.level, Level::Warning);
    let keys: Vec<&str> = first.fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["comment", "error"]);
    assert_eq!(first.fields[0].1, "/home/dev/tpl/transcripts/unknown-key.yaml");
    assert!(first.fields[1].1.starts_with("[4:1] unknown field \"colour\"\n   1 | images:\n"), "{:?}", first.fields[1]);
    assert!(first.fields[1].1.ends_with(">  4 | colour: blue\n       ^\n"), "{:?}", first.fields[1]);
}

#[test]
fn fields_keep_order_and_empty_values() {
    let stderr = load("create-ok").stderr;
    let line = lima::parse_line(stderr.lines().nth(1).unwrap()).unwrap();
    assert_eq!((line.level, line.msg.as_str()), (Level::Info, "Attempting to download the image"));
    let fields: Vec<(&str, &str)> = line.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(fields, [("arch", "x86_64"), ("digest", ""), ("location", "/home/dev/images/debian-12-lab-efi.qcow2")]);
}

#[test]
fn stderr_summary() {
    let mut out = String::new();
    for (name, t) in all().into_iter().filter(|(_, t)| !t.stderr.is_empty()) {
        let fatal = lima::fatal(&t.stderr).map_or_else(|| "-".into(), |f| format!("{f:?}"));
        out += &format!("{name} (exit {}, ready {}):\n  fatal: {fatal}\n", t.exit_code, lima::is_ready(&t.stderr));
        for problem in lima::problems(&t.stderr) {
            out += &format!("  problem: {problem:?}\n");
        }
    }
    insta::assert_snapshot!("stderr-summary", out);
}

#[test]
fn version_transcript() {
    assert_eq!(lima::parse_version(&load("version").stdout), Some((2, 2, 0)));
    assert_eq!(lima::version().to_string(), "limactl --version");
}

#[test]
fn ssh_config_matches_our_paths() {
    let home = Path::new("/home/dev/.lima");
    let config = load("ssh-config-file").stdout;
    assert!(config.lines().any(|l| l == format!("Host {}", lima::ssh_host("demo"))), "{config}");
    let socket = lima::ssh_socket_path(home, "demo");
    assert!(config.contains(&format!("ControlPath \"{}\"", socket.display())), "{config}");
    let listed = &instances("list-json-two-instances")[0];
    assert_eq!(listed.ssh_config_file.as_deref(), Some(lima::ssh_config_path(home, "demo").as_path()));
    assert_eq!(listed.dir, lima::instance_dir(home, "demo"));
}

#[test]
fn lifecycle_commands() {
    let tpl = Path::new("/home/dev/tpl/demo.yaml");
    let (list_all, list_two) = (
        format!("limactl list --format '{}'", lima::LIST_FORMAT),
        format!("limactl list --format '{}' demo lab", lima::LIST_FORMAT),
    );
    let cases = [
        (lima::list_json(&[]), list_all.as_str()),
        (lima::list_json(&["demo", "lab"]), list_two.as_str()),
        (lima::create("demo", tpl), "limactl --tty=false create --name=demo /home/dev/tpl/demo.yaml"),
        (lima::create("demo", Path::new("/a b/t.yaml")), "limactl --tty=false create --name=demo '/a b/t.yaml'"),
        (lima::start("demo", None), "limactl --tty=false start demo"),
        (lima::start("demo", Some(Duration::from_mins(15))), "limactl --tty=false start --timeout=900s demo"),
        (lima::stop("demo", false), "limactl --tty=false stop demo"),
        (lima::stop("demo", true), "limactl --tty=false stop -f demo"),
        (lima::delete("demo", false), "limactl --tty=false delete demo"),
        (lima::delete("demo", true), "limactl --tty=false delete -f demo"),
        (lima::validate(tpl), "limactl validate /home/dev/tpl/demo.yaml"),
    ];
    for (cmd, want) in cases {
        assert_eq!(cmd.to_string(), want);
    }
}

#[test]
fn shell_commands() {
    let argv = [OsStr::new("sh"), OsStr::new("-c"), OsStr::new("echo \"$HOME\"; exit 7")];
    let cmd = lima::shell("demo", Some("/tmp/a b"), &argv);
    assert_eq!(cmd.to_string(), r#"limactl shell '--workdir=/tmp/a b' demo -- sh -c 'echo "$HOME"; exit 7'"#);
    assert_eq!(cmd.args.last().map(std::ffi::OsString::as_os_str), Some(OsStr::new("echo \"$HOME\"; exit 7")));
    assert_eq!(lima::shell("demo", None, &[OsStr::new("pwd")]).to_string(), "limactl shell demo -- pwd");
    assert_eq!(lima::shell("demo", None, &[]).to_string(), "limactl shell demo");
    assert_eq!(lima::shell("demo", Some("/tmp"), &[]).to_string(), "limactl shell --workdir=/tmp demo");
}

#[test]
fn ssh_control_commands() {
    let config = PathBuf::from("/home/dev/.lima/demo/ssh.config");
    let check = lima::ssh_control(&config, "demo", ControlOp::Check);
    assert_eq!(check.to_string(), "ssh -F /home/dev/.lima/demo/ssh.config -O check lima-demo");
    let exit = lima::ssh_control(&config, "my_box.2", ControlOp::Exit);
    assert_eq!(exit.to_string(), "ssh -F /home/dev/.lima/demo/ssh.config -O exit lima-my-box-2");
}
