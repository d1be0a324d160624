//! Every problem a user profile can have is reported with its file before anything reaches Lima.

use machine::compiler::layers::Catalog;

/// (case, files to write into the profiles folder)
const CASES: &[(&str, &[(&str, &str)])] = &[
    ("invalid-yaml", &[("bad.yaml", "provision:\n  - mode: system\n   script: x\n")]),
    ("not-a-mapping", &[("bad.yaml", "- just\n- a list\n")]),
    ("unknown-key", &[("bad.yaml", "portForward:\n- guestPort: 80\n")]),
    ("sets-base", &[("bad.yaml", "base: template:docker\n")]),
    ("sets-param", &[("bad.yaml", "param:\n  x: y\n")]),
    ("dotdot-locator", &[("bad.yaml", "provision:\n- mode: system\n  file: ../outside.sh\n")]),
    ("missing-file", &[("bad.yaml", "provision:\n- mode: system\n  file: nowhere.sh\n")]),
    (
        "file-name-lima-refuses",
        &[("bad.yaml", "provision:\n- mode: system\n  file: lib/_setup.sh\n"), ("lib/_setup.sh", "#!/bin/sh\n")],
    ),
    ("probe-without-shebang", &[("bad.yaml", "probes:\n- script: test -e /x\n")]),
    ("probe-file-without-shebang", &[("bad.yaml", "probes:\n- file: probe.sh\n"), ("probe.sh", "test -e /x\n")]),
    ("script-with-go-template", &[("bad.sh", "#!/bin/bash\ndocker inspect -f '{{.State.Pid}}' x\n")]),
    (
        "inline-with-go-template",
        &[("bad.yaml", "provision:\n- mode: system\n  script: |\n    #!/bin/sh\n    echo {{ .Env }}\n")],
    ),
    (
        "digest-on-locator",
        &[
            ("bad.yaml", "provision:\n- mode: system\n  file:\n    url: s.sh\n    digest: sha256:00\n"),
            ("s.sh", "#!/bin/sh\n"),
        ],
    ),
    ("provision-not-a-list", &[("bad.yaml", "provision: yes\n")]),
    ("probe-file-outside", &[("bad.yaml", "probes:\n- file: /etc/probe.sh\n")]),
    (
        "probe-script-and-file",
        &[("bad.yaml", "probes:\n- script: \"#!/bin/sh\\ntrue\\n\"\n  file: probe.sh\n"), ("probe.sh", "#!/bin/sh\n")],
    ),
    ("bad-profile-name", &[("Bad_Name.sh", "#!/bin/sh\n")]),
];

#[test]
fn every_bad_user_profile_is_rejected_with_its_file() {
    for (case, files) in CASES {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in *files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let mut catalog = Catalog::builtin();
        let errors = catalog.add_user_profiles(dir.path()).expect_err(&format!("{case} should be rejected"));
        let rendered = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n\n")
            .replace(&dir.path().display().to_string(), "<profiles>");
        assert!(rendered.contains("<profiles>/"), "{case}: the error names the file: {rendered}");
        insta::assert_snapshot!(format!("profile__{case}"), rendered);
    }
}

#[test]
fn a_script_only_profile_runs_as_root_and_a_listed_one_is_not_attached_twice() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("solo.sh"), "#!/bin/bash\necho solo\n").unwrap();
    std::fs::write(dir.path().join("listed.sh"), "#!/bin/bash\necho listed\n").unwrap();
    std::fs::write(dir.path().join("listed.yaml"), "provision:\n- mode: user\n  file: listed.sh\n").unwrap();
    let mut catalog = Catalog::builtin();
    catalog.add_user_profiles(dir.path()).unwrap();
    let solo = catalog.profile("solo").unwrap();
    let steps = solo.body.get("provision").and_then(|p| p.as_sequence()).unwrap();
    assert_eq!(machine::compiler::yaml::to_string(&steps[0]), "mode: system\nfile: solo.sh\n");
    let listed = catalog.profile("listed").unwrap();
    let steps = listed.body.get("provision").and_then(|p| p.as_sequence()).unwrap();
    assert_eq!(steps.len(), 1, "the script the YAML lists is not attached again");
}

/// Lima 2.2 never embeds a probe's `file:` and then rejects the probe ("script should already be
/// embedded"), so a probe file reaches Lima as the probe's inline script.
#[test]
fn a_probe_file_is_inlined_as_its_script() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ready.yaml"), "probes:\n- description: ready\n  file: check.sh\n").unwrap();
    std::fs::write(dir.path().join("check.sh"), "#!/bin/sh\ntest -e /run/ready\n").unwrap();
    let mut catalog = Catalog::builtin();
    catalog.add_user_profiles(dir.path()).unwrap();
    let layer = catalog.profile("ready").unwrap();
    let probes = layer.body.get("probes").and_then(|p| p.as_sequence()).unwrap();
    assert_eq!(
        machine::compiler::yaml::to_string(&probes[0]),
        "description: ready\nscript: |\n  #!/bin/sh\n  test -e /run/ready\n"
    );
    assert!(layer.files.is_empty(), "nothing is left for Lima to read: {:?}", layer.files.keys());
    let core = catalog.layer("core").unwrap();
    let probes = core.body.get("probes").and_then(|p| p.as_sequence()).unwrap();
    assert!(probes.iter().all(|p| p.get("file").is_none() && p.get("script").is_some()), "core's probe is inline");
}

/// A `.sh`-only profile's `# description:` and `# requires:` lines count like a YAML one's.
#[test]
fn a_script_profile_header_is_read() {
    use machine::compiler::config::parse::parse_projects_file;
    use machine::compiler::config::source::Source;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.sh"),
        "#!/bin/bash\n# description: builds the web app\n# requires: node\nnpm ci\n",
    )
    .unwrap();
    let mut catalog = Catalog::builtin();
    catalog.add_user_profiles(dir.path()).unwrap();
    let web = catalog.profile("web").unwrap();
    assert_eq!(web.header.description, "builds the web app");
    assert_eq!(catalog.requires("web"), ["node"]);
    let errors =
        parse_projects_file(&Source::new("p.toml", "[app]\nwithout = [\"node\"]\nprofiles = [\"web\"]\n"), &catalog)
            .expect_err("node is left out");
    assert!(errors.iter().any(|e| e.message.contains("layer `web` needs `node` earlier in the stack")), "{errors:?}");
}

/// A broken profile no project uses must not stop every command (`list`, `down`, `destroy` …):
/// each says so, and a project that uses it fails naming both the reference and the profile's
/// own error.
#[test]
fn a_broken_profile_fails_only_the_projects_that_use_it() {
    let env = crate::fake::FakeEnv::new();
    let config = env.path().join("config");
    std::fs::create_dir_all(config.join("profiles")).unwrap();
    std::fs::write(config.join("profiles/broken.yaml"), "not: [valid\n").unwrap();
    std::fs::write(config.join("projects.toml"), "[blog]\nrepos = []\n").unwrap();
    for args in [&["list"][..], &["render", "blog"]] {
        let out = env.machine().args(args).env("GIT_NAME", "Ada").env("GIT_EMAIL", "a@example.com").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(err.contains("profile `broken` does not load, so no project can use it until it is fixed"), "{err}");
        assert!(
            err.contains("profiles/broken.yaml:2:1: invalid YAML"),
            "{args:?}: the profile's own error is shown: {err}"
        );
    }
    let out = env.machine().args(["doctor"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "doctor fails its config check: {text}");
    assert!(text.contains("profile `broken` does not load: "), "{text}");
    std::fs::write(config.join("projects.toml"), "[blog]\nrepos = []\nprofiles = [\"broken\"]\n").unwrap();
    let out = env.machine().args(["render", "blog"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("projects.toml:3:13: profile `broken` in `profiles` does not load"), "{err}");
    assert!(err.contains("profiles/broken.yaml:2:1: invalid YAML"), "{err}");
}

/// A broken profile that replaces a built-in layer (here `docker`) must not leave the built-in
/// one in its place: projects that use the layer fail, naming the profile.
#[test]
fn a_broken_profile_that_replaces_a_built_in_layer_fails_the_projects_that_use_it() {
    let env = crate::fake::FakeEnv::new();
    let config = env.path().join("config");
    std::fs::create_dir_all(config.join("profiles")).unwrap();
    std::fs::write(config.join("profiles/docker.yaml"), "not: [valid\n").unwrap();
    std::fs::write(config.join("projects.toml"), "[blog]\nrepos = []\n[lean]\nrepos = []\nwithout = [\"docker\"]\n")
        .unwrap();
    let run = |project: &str| {
        env.machine()
            .args(["render", project])
            .env("GIT_NAME", "Ada")
            .env("GIT_EMAIL", "a@example.com")
            .output()
            .unwrap()
    };
    let out = run("blog");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("every project that uses the `docker` layer it replaces fails"), "{err}");
    assert!(err.contains("profiles/docker.yaml:2:1: invalid YAML"), "{err}");
    assert!(err.contains("your profile `docker` replaces the built-in layer of that name and does not load"), "{err}");
    let out = run("lean");
    assert!(out.status.success(), "a project without docker renders: {}", String::from_utf8_lossy(&out.stderr));
}
