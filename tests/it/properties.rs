//! Open-ended input must be rejected with a clear error or come through byte-exact: project
//! names, git identities, repo URLs and passthrough strings never inject into YAML or paths, and
//! the paths machine writes into ssh configs are read back by ssh exactly.

use machine::compiler::compile::{self, HostOs, Identity};
use machine::compiler::config::model::{Arch, RepoUrl, check_project_name};
use machine::compiler::config::parse::parse_projects_file;
use machine::compiler::config::source::Source;
use machine::compiler::yaml::{self, Value};
use proptest::prelude::*;

use crate::support::{host, synthetic_catalog};

/// Strings heavy in characters that break YAML, shells, TOML and git config.
fn nasty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 ._@-]{0,8}",
        Just("{{ .Param.x }}".to_string()),
        Just("$(id)".to_string()),
        Just("`x`".to_string()),
        Just(": ".to_string()),
        Just("#".to_string()),
        Just("'\"\\".to_string()),
        Just("\n".to_string()),
        Just("\t".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{200b}".to_string()),
        Just("- ".to_string()),
        Just("&a *a !tag".to_string()),
        Just("é中😀".to_string()),
        Just("[section]".to_string()),
        Just("../".to_string()),
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|v| v.concat())
}

fn toml_string(s: &str) -> String {
    toml_edit::Value::from(s).to_string()
}

fn instance_param(identity: Identity, key: &str) -> Result<String, String> {
    let project =
        parse_projects_file(&Source::new("p.toml", "[p]\n"), &synthetic_catalog()).unwrap().projects["p"].clone();
    let mut facts = host(HostOs::Linux, Arch::X86_64);
    facts.identity = identity;
    let stack = compile::compile(&project, &synthetic_catalog(), &facts).map_err(|e| e.to_string())?;
    let parsed = yaml::parse(&stack.instance_yaml).unwrap();
    Ok(yaml::get(yaml::get(&parsed, "param").unwrap(), key).and_then(Value::as_str).unwrap().to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn identities_are_rejected_or_byte_exact(name in nasty(), email in nasty()) {
        let id = Identity { name: name.clone(), email: email.clone(), signing_key: String::new() };
        match instance_param(id.clone(), "gitName") {
            Ok(got) => {
                prop_assert_eq!(got, name);
                prop_assert_eq!(instance_param(id, "gitEmail").unwrap(), email);
            }
            Err(e) => prop_assert!(e.contains("unprintable character"), "{}", e),
        }
    }

    #[test]
    fn project_names_are_rejected_or_safe_path_components(name in nasty()) {
        let text = format!("[{}]\n", toml_edit::Key::new(name.as_str()));
        match parse_projects_file(&Source::new("p.toml", text), &synthetic_catalog()) {
            Ok(parsed) => {
                prop_assert!(check_project_name(&name).is_ok());
                let project = parsed.projects[&name].clone();
                let stack = compile::compile(&project, &synthetic_catalog(), &host(HostOs::Linux, Arch::X86_64)).unwrap();
                let dir = stack.instance_path.parent().unwrap();
                prop_assert_eq!(dir.parent().unwrap(), std::path::Path::new("/state"));
                prop_assert_eq!(dir.file_name().unwrap().to_str().unwrap(), name.as_str());
                prop_assert!(!stack.instance_yaml.contains(&name) || name.len() < 4, "names do not go into YAML");
            }
            Err(errors) => prop_assert!(errors.iter().all(|e| e.message.contains("project name") && e.line > 0)),
        }
    }

    #[test]
    fn repo_urls_are_rejected_or_kept_exactly(url in nasty(), scheme in prop_oneof![Just(""), Just("https://h/"), Just("git@h:"), Just("ssh://u@h:22/")]) {
        let url = format!("{scheme}{url}");
        let text = format!("[p]\nrepos = [{}]\n", toml_string(&url));
        match parse_projects_file(&Source::new("p.toml", text), &synthetic_catalog()) {
            Ok(parsed) => {
                let repos = &parsed.projects["p"].repos;
                prop_assert_eq!(repos.len(), 1);
                prop_assert_eq!(repos[0].as_str(), url.as_str());
                prop_assert!(!url.starts_with('-') && !url.chars().any(|c| c.is_control() || c.is_whitespace()));
                let dir = repos[0].dir_name();
                prop_assert!(!dir.is_empty() && dir != "." && dir != ".." && !dir.contains('/'));
            }
            Err(errors) => {
                prop_assert!(RepoUrl::parse(&url).is_err());
                prop_assert!(errors.iter().all(|e| e.message.contains("repo URL") && e.hint.is_some()));
            }
        }
    }

    #[test]
    fn passthrough_strings_are_rejected_or_byte_exact(value in nasty()) {
        let text = format!("[p.lima.env]\nX = {}\n", toml_string(&value));
        match parse_projects_file(&Source::new("p.toml", text), &synthetic_catalog()) {
            Ok(parsed) => {
                let project = parsed.projects["p"].clone();
                let stack = compile::compile(&project, &synthetic_catalog(), &host(HostOs::Linux, Arch::X86_64)).unwrap();
                let parsed = yaml::parse(&stack.instance_yaml).unwrap();
                let got = yaml::get(yaml::get(&parsed, "env").unwrap(), "X").and_then(Value::as_str).unwrap();
                prop_assert_eq!(got, value.as_str());
            }
            Err(errors) => prop_assert!(value.contains("{{") && errors[0].message.contains("Go template")),
        }
    }
}

/// One host-reaching (or harmless) `lima` entry, as a TOML `key = value` line.
fn lima_entry() -> impl Strategy<Value = String> {
    let path =
        prop_oneof![Just("~".to_string()), Just("/".to_string()), Just("~/.ssh/id_ed25519".to_string()), nasty()];
    (path, any::<bool>(), 0u16..65535).prop_flat_map(|(p, b, port)| {
        let p = toml_string(&p);
        prop_oneof![
            Just(format!("mounts = [{{ location = {p}, writable = {b} }}]")),
            Just(format!("copyToHost = [{{ guest = \"/etc/x\", host = {p} }}]")),
            Just(format!("portForwards = [{{ guestSocket = \"/run/x.sock\", hostSocket = {p}, reverse = {b} }}]")),
            Just(format!("portForwards = [{{ guestPort = {port}, hostIP = \"0.0.0.0\" }}]")),
            Just(format!("caCerts = {{ files = [{p}] }}")),
            Just(format!("provision = [{{ mode = \"data\", path = \"/x\", file = {p} }}]")),
            Just(format!("probes = [{{ file = {p} }}]")),
            Just(format!("additionalDisks = [{p}]")),
            Just("networks = [{ lima = \"shared\" }]".to_string()),
            Just("user = { name = \"root\" }".to_string()),
            Just(format!("ssh = {{ loadDotSSHPubKeys = {b} }}")),
            Just("env = { A = \"b\" }".to_string()),
        ]
    })
}

/// An arbitrary `.machine.toml`: some keys an untrusted file may set, some it may not.
fn local_file() -> impl Strategy<Value = String> {
    let image = prop_oneof![
        Just("debian-12".to_string()),
        Just("../../disk.qcow2".to_string()),
        Just("/srv/disk.img".to_string()),
        Just("https://example.com/x.qcow2".to_string()),
        nasty(),
    ];
    (
        prop::option::of(image),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(vec!["x86_64", "aarch64"])),
        prop::collection::vec(lima_entry(), 0..4),
        prop::option::of(prop::sample::select(vec!["cypress", "mine"])),
    )
        .prop_map(|(image, forward, arch, lima, profile)| {
            let mut text = String::from("repos = []\n");
            if let Some(i) = image {
                text.push_str(&format!("image = {}\n", toml_string(&i)));
            }
            if let Some(f) = forward {
                text.push_str(&format!("forward_agent = {f}\n"));
            }
            if let Some(a) = arch {
                text.push_str(&format!("arch = \"{a}\"\n"));
            }
            if let Some(p) = profile {
                text.push_str(&format!("profiles = [\"{p}\"]\n"));
            }
            if !lima.is_empty() {
                text.push_str(&format!("[lima]\n{}\n", lima.join("\n")));
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever an untrusted `.machine.toml` says, the stack compiled from it reaches no host
    /// path, socket or port, boots only a named image and does not turn forwarding on.
    #[test]
    fn an_untrusted_local_file_never_reaches_the_host(text in local_file()) {
        use machine::compiler::config::parse::{Defaults, parse_local_file};
        use machine::compiler::config::trust::Trust;
        let profiles = tempfile::tempdir().unwrap();
        std::fs::write(profiles.path().join("mine.sh"), "#!/bin/sh\n").unwrap();
        let mut catalog = machine::compiler::layers::Catalog::builtin();
        catalog.add_user_profiles(profiles.path()).unwrap();
        let src = Source::new("/repo/.machine.toml", text.clone());
        let Ok(local) = parse_local_file(&src, &catalog, &Defaults::default(), "repo", Trust::Untrusted) else {
            return Ok(());
        };
        let project = local.project;
        prop_assert!(project.lima.is_empty(), "{}", text);
        prop_assert!(matches!(project.image, machine::compiler::config::model::Image::Named(_)), "{}", text);
        prop_assert!(project.profiles.iter().all(|p| p != "mine"), "{}", text);
        prop_assert!(!text.contains("forward_agent = true"), "forwarding is never turned on: {}", text);
        let stack = compile::compile(&project, &catalog, &host(HostOs::Linux, Arch::X86_64)).unwrap();
        let instance = yaml::parse(&stack.instance_yaml).unwrap();
        let keys: std::collections::BTreeMap<String, Value> = instance
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone()))
            .collect();
        prop_assert_eq!(machine::compiler::config::reach::host_reach(&keys, None), Vec::<String>::new(), "{}", text);
        prop_assert!(stack.warnings.iter().all(|w| !w.contains("reach the host")), "{}", text);
    }
}

/// Config text shaped like git config (sections, keys, values, comments), with the quoting,
/// escapes, blanks and line ends git's parser treats specially, and some lines of debris.
fn git_config_text() -> impl Strategy<Value = String> {
    let pick = |items: &'static [&'static str]| prop::sample::select(items.to_vec());
    let value = prop::collection::vec(
        pick(&["x", "y z", " ", "\t", "\"", "\\n", "\\t", "\\b", "\\\"", "\\\\", "\\\n", "#", ";", "é", "\\q", "\r"]),
        0..6,
    )
    .prop_map(|v| v.concat());
    let header =
        (pick(&["user", "User", "core", "a.B", "", "x y"]), pick(&["", " \"Sub\"", " \"a\\\"b\"", " \"open", "\"q\""]))
            .prop_map(|(name, sub)| format!("[{name}{sub}]"));
    let entry =
        (pick(&["", " ", "\t"]), pick(&["name", "Email", "signingKey", "k-1", "1k", "é"]), pick(&["", " ", "\t "]))
            .prop_flat_map(move |(indent, key, gap)| {
                prop::option::of(value.clone()).prop_map(move |v| match v {
                    Some(v) => format!("{indent}{key}{gap}={v}"),
                    None => format!("{indent}{key}{gap}"),
                })
            });
    let line = prop_oneof![
        3 => header,
        6 => entry,
        1 => pick(&["# a comment", "; another", "", "  ", "garbage here", "\u{feff}"]).prop_map(str::to_string),
    ];
    let ending = pick(&["\n", "\n", "\r\n"]);
    prop::collection::vec((line, ending), 0..8)
        .prop_map(|lines| lines.into_iter().flat_map(|(l, e)| [l, e.to_string()]).collect())
}

/// `git config --file F -z --list`, or `None` when git refuses the file.
fn git_list(text: &str) -> Option<Vec<machine::driver::gitconfig::Entry>> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new("git")
        .args(["config", "--file"])
        .arg(&file)
        .args(["-z", "--list"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir.path())
        .output()
        .expect("git runs (the tests need git, as machine's users do)");
    if !out.status.success() {
        return None;
    }
    let mut entries = Vec::new();
    for item in out.stdout.split(|&b| b == 0).filter(|i| !i.is_empty()) {
        let (key, value) = match item.iter().position(|&b| b == b'\n') {
            Some(at) => (&item[..at], Some(item[at + 1..].to_vec())),
            None => (item, None),
        };
        entries.push(machine::driver::gitconfig::Entry { key: String::from_utf8(key.to_vec()).unwrap(), value });
    }
    Some(entries)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// machine reads the host's global git config itself: what it finds is what git lists, and
    /// what git refuses, or what git versions read differently, it leaves to git.
    #[test]
    fn the_git_config_reader_agrees_with_git(text in git_config_text()) {
        use machine::driver::gitconfig::{parse, Doubt};
        match (parse(text.as_bytes()), git_list(&text)) {
            (Ok(ours), Some(git)) => prop_assert_eq!(ours, git, "{:?}", text),
            (Err(Doubt::Uncertain), Some(_)) | (Err(_), None) => {}
            (ours, git) => prop_assert!(false, "{text:?}: machine read {ours:?}, git {git:?}"),
        }
    }
}

/// What the installed ssh reads as `ForwardAgent` for `host` from `config` (`ssh -G`), or its
/// error.
fn ssh_forward_agent(config: &std::path::Path, host: &str) -> Result<String, String> {
    let out = std::process::Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(config)
        .arg(host)
        .output()
        .expect("ssh runs (the tests need OpenSSH's client, as machine's users do)");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    text.lines().find_map(|l| l.strip_prefix("forwardagent ")).map(str::to_string).ok_or(text)
}

/// The host's repo check talks to a server a repository may name: the options machine adds win
/// over an ssh config that forwards everything (as the README says), as the installed ssh reads them.
#[test]
#[cfg_attr(not(machine_openssh), ignore = "needs OpenSSH's client on this host")]
fn the_repo_checks_ssh_forwards_nothing_whatever_the_config_says() {
    let url = RepoUrl::parse("git@attacker.example:x/y.git").unwrap();
    let cmd = machine::driver::repo_access::ls_remote(&url, None);
    let ssh = cmd.env.iter().find(|(k, _)| k == "GIT_SSH_COMMAND").expect("the check sets GIT_SSH_COMMAND").1.clone();
    let words: Vec<String> = ssh.to_string_lossy().split_whitespace().map(String::from).collect();
    assert_eq!(words[0], "ssh");
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    std::fs::write(&config, "Host *\n  ForwardAgent yes\n  ForwardX11 yes\n  LocalForward 9000 localhost:9000\n")
        .unwrap();
    let out = std::process::Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(&config)
        .args(&words[1..])
        .arg("git@attacker.example")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for line in ["forwardagent no", "forwardx11 no", "clearallforwardings yes", "batchmode yes"] {
        assert!(text.lines().any(|l| l == line), "ssh -G lacks `{line}`:\n{text}");
    }
}

/// Path text heavy in what ssh config arguments treat specially.
fn ssh_path_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        nasty(),
        Just("%h".to_string()),
        Just("%%".to_string()),
        Just("${HOME}".to_string()),
        Just("$HOME".to_string()),
        Just("*".to_string()),
        Just("?".to_string()),
        Just("[ab]".to_string()),
        Just("\\".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("#c".to_string()),
        Just(" = ".to_string()),
        Just("~".to_string()),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A per-VM ssh config names the scoped agent's socket as ssh reads it, or machine refuses
    /// the path: nothing in it can add a line, a token ssh expands, or a glob.
    #[test]
    fn ssh_config_paths_are_refused_or_read_back_by_ssh(dir in ssh_path_text(), instance in "[a-z][a-z0-9]{0,6}([.-][a-z0-9]{1,4})?") {
        use std::path::{Path, PathBuf};
        let socket = PathBuf::from(format!("/state/{dir}/agent.sock"));
        let lima = PathBuf::from(format!("/lima/{dir}/ssh.config"));
        let Ok(text) = machine::driver::ssh_hosts::render(&instance, Some(&socket), &lima) else {
            let refused = machine::driver::ssh_hosts::quote(Path::new(&format!("/{dir}"))).is_err();
            prop_assert!(refused, "render refused only what quote refuses: {:?}", dir);
            return Ok(());
        };
        prop_assert_eq!(text.lines().count(), 5, "{}", text);
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("ssh.config");
        std::fs::write(&file, &text).unwrap();
        let host = machine::driver::lima::ssh_host(&instance);
        prop_assert_eq!(ssh_forward_agent(&file, &host), Ok(socket.display().to_string()), "{}", text);
        // Another host reads nothing of it.
        prop_assert_ne!(ssh_forward_agent(&file, "github.com"), Ok(socket.display().to_string()));
    }
}

/// Branch-name text near git's rules: its special characters, parts that start or end badly.
fn branch_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9_-]{1,5}",
        Just("/".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just(".lock".to_string()),
        Just("HEAD".to_string()),
        Just("@".to_string()),
        Just("@{".to_string()),
        Just("{".to_string()),
        Just("~".to_string()),
        Just("^".to_string()),
        Just(":".to_string()),
        Just("é".to_string()),
    ];
    prop::collection::vec(piece, 1..5).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Every branch name machine accepts, git accepts too (`git check-ref-format --branch`), so a
    /// branch VM is never created for a name the guest's `git switch` refuses.
    #[test]
    #[cfg_attr(not(machine_openssh), ignore = "needs git on this host")]
    fn every_branch_name_machine_accepts_git_accepts(branch in branch_text()) {
        if machine::compiler::instance::check_branch(&branch).is_ok() {
            let out = std::process::Command::new("git").args(["check-ref-format", "--branch", &branch]).output().unwrap();
            prop_assert!(out.status.success(), "machine accepts {:?}, git refuses it", branch);
        }
    }
}
