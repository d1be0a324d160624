//! Shared test fixtures: a small synthetic layer catalog, host facts, and a scripted runner.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use machine::compiler::compile::{HostFacts, HostOs, Identity};
use machine::compiler::config::model::Arch;
use machine::compiler::layers::Catalog;
use machine::driver::exec::{Cmd, Event, Flow, Output, Runner};
use machine::error::Error;

pub(crate) fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The guest tree build.rs embeds: `templates/`, `provision/`, `files/`.
pub(crate) fn guest_dir() -> PathBuf {
    manifest_dir().join("src/guest")
}

pub(crate) fn fixtures() -> PathBuf {
    manifest_dir().join("tests/fixtures")
}

/// A catalog shaped like the real one but tiny and stable, so error snapshots do not churn when
/// the real layers change.
pub(crate) fn synthetic_catalog() -> Catalog {
    let mut tree: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut add = |path: &str, text: &str| {
        tree.insert(path.to_string(), text.as_bytes().to_vec());
    };
    add(
        "templates/images/ubuntu-24.04.yaml",
        "# description: Ubuntu 24.04\nimages:\n- location: https://example.invalid/noble-amd64.img\n  arch: x86_64\n- location: https://example.invalid/noble-arm64.img\n  arch: aarch64\n",
    );
    add(
        "templates/images/debian-12.yaml",
        "# description: Debian 12\nimages:\n- location: https://example.invalid/debian-12-amd64.qcow2\n  arch: x86_64\n",
    );
    add(
        "templates/core.yaml",
        "# description: the core VM\nmounts: []\nssh:\n  forwardAgent: true\nprovision:\n- mode: system\n  file: provision/core.sh\nprobes:\n- description: provisioning finished\n  script: |\n    #!/bin/bash\n    test -e /run/lima-boot-done\n",
    );
    add(
        "provision/core.sh",
        "#!/bin/bash\ngit config --global user.name \"$PARAM_gitName\"\ngit config --global user.email \"$PARAM_gitEmail\"\necho \"$PARAM_signingKey $PARAM_shell\"\n",
    );
    for name in ["docker", "node", "gh", "claude", "cypress"] {
        add(
            &format!("templates/{name}.yaml"),
            &format!("# description: {name} layer\nprovision:\n- mode: system\n  file: provision/{name}.sh\n"),
        );
        add(&format!("provision/{name}.sh"), &format!("#!/bin/bash\necho {name}\n"));
    }
    for name in ["codex", "playwright"] {
        add(
            &format!("templates/{name}.yaml"),
            &format!(
                "# description: {name} layer\n# requires: node\nprovision:\n- mode: user\n  file: provision/{name}.sh\n"
            ),
        );
        add(&format!("provision/{name}.sh"), &format!("#!/bin/bash\nnpm install -g {name}\n"));
    }
    Catalog::from_tree(&tree).expect("the synthetic catalog is valid")
}

pub(crate) fn identity() -> Identity {
    Identity {
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        signing_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ada@laptop".into(),
    }
}

pub(crate) fn host(os: HostOs, arch: Arch) -> HostFacts {
    HostFacts {
        os,
        arch,
        identity: identity(),
        state_dir: PathBuf::from("/state"),
        cached_disks: BTreeMap::new(),
        boot_disk: None,
    }
}

/// Answers commands whose argv starts with a given prefix; records every call.
#[derive(Default)]
pub(crate) struct ScriptedRunner {
    pub(crate) answers: Vec<(Vec<String>, Output)>,
    pub(crate) calls: Mutex<Vec<String>>,
}

impl ScriptedRunner {
    pub(crate) fn answer(mut self, argv: &[&str], code: i32, stdout: &str) -> Self {
        let out = Output::new(Some(code), stdout.as_bytes(), Vec::new());
        self.answers.push((argv.iter().map(ToString::to_string).collect(), out));
        self
    }
}

impl Runner for ScriptedRunner {
    fn output(&self, cmd: &Cmd) -> Result<Output, Error> {
        let argv: Vec<String> =
            std::iter::once(&cmd.program).chain(&cmd.args).map(|a| a.to_string_lossy().into_owned()).collect();
        self.calls.lock().unwrap().push(cmd.to_string());
        let found = self.answers.iter().find(|(prefix, _)| argv.starts_with(prefix));
        Ok(found.map_or(Output::new(Some(1), Vec::new(), b"not scripted".to_vec()), |(_, o)| o.clone()))
    }

    fn interactive(&self, cmd: &Cmd) -> Result<i32, Error> {
        Ok(self.output(cmd)?.code.unwrap_or(1))
    }

    fn spawn_detached(&self, cmd: &Cmd, _log: &Path) -> Result<machine::driver::exec::Detached, Error> {
        self.calls.lock().unwrap().push(format!("{cmd} &"));
        Ok(machine::driver::exec::Detached::untracked(1))
    }

    fn stream(&self, cmd: &Cmd, on_event: &mut dyn FnMut(Event<'_>) -> Flow) -> Result<Output, Error> {
        let out = self.output(cmd)?;
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            on_event(Event::Line(line));
        }
        Ok(out)
    }
}

/// Replaces a real directory in text with a stable placeholder.
pub(crate) fn redact(text: &str, dir: &Path, with: &str) -> String {
    text.replace(&dir.display().to_string(), with)
}

/// Every file under `dir` (recursively), with its content.
pub(crate) fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            found.extend(files(&path));
        } else if meta.is_file() {
            found.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
        }
    }
    found
}

/// Polls `ready` every 20 ms; fails the test naming `what` when it has not held within 10 s.
pub(crate) fn wait_for(ready: impl Fn() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "waited 10 s for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
