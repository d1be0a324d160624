//! Snapshots of the rendered stack for a matrix of fixtures (tests/fixtures/compile/<case>/).
//!
//! Each case folder holds an optional `projects.toml`, optional user `profiles/`, an optional
//! repo folder with a `.machine.toml`, and `case.toml` with the host facts:
//! `project`, `os` (macos|linux), `arch`, `cwd` (relative), `origin` (what `git remote get-url
//! origin` answers), `git_root` (a folder to mark as a git checkout) and `cached_layers` (a baked
//! disk exists for the first N layers).

use std::path::{Path, PathBuf};

use machine::compiler::compile::{self, HostOs, Stack};
use machine::compiler::config::{self, model::Arch};
use machine::compiler::layers::Catalog;
use machine::compiler::paths::Paths;
use machine::compiler::yaml;

use crate::support::{ScriptedRunner, files, fixtures, host, redact};

pub(crate) struct Case {
    pub(crate) name: String,
    /// The case's private copy: the rendered text names it, and it lives as long as the case.
    pub(crate) dir: PathBuf,
    pub(crate) stack: Stack,
    pub(crate) notes: Vec<String>,
    _copy: tempfile::TempDir,
}

pub(crate) fn cases() -> Vec<Case> {
    let root = fixtures().join("compile");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.into_iter().map(|dir| compile_case(&dir)).collect()
}

fn compile_case(fixture: &Path) -> Case {
    let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
    let (copy, dir) = private_copy(fixture, &name);
    let dir = dir.as_path();
    let spec: toml_edit::DocumentMut = std::fs::read_to_string(dir.join("case.toml")).unwrap().parse().unwrap();
    let get = |k: &str| spec.get(k).and_then(|v| v.as_str()).map(ToString::to_string);
    let os = match get("os").as_deref() {
        Some("macos") => HostOs::Macos,
        _ => HostOs::Linux,
    };
    let arch = get("arch").and_then(|a| Arch::parse(&a)).unwrap_or(Arch::X86_64);
    let paths = Paths {
        projects_file: dir.join("projects.toml"),
        config_dir: dir.to_path_buf(),
        state_dir: PathBuf::from("/state"),
        cache_dir: PathBuf::from("/cache"),
    };
    let mut catalog = Catalog::builtin();
    catalog.add_user_profiles(&paths.profiles_dir()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    // A nested `.git` cannot be committed, so the repo marker is made in the copy.
    if let Some(root) = get("git_root") {
        std::fs::create_dir_all(dir.join(root).join(".git")).unwrap();
    }
    let cwd = get("cwd").map_or_else(|| dir.to_path_buf(), |c| dir.join(c));
    let mut runner = ScriptedRunner::default();
    if let Some(origin) = get("origin") {
        runner = runner.answer(&["git", "-C"], 0, &origin);
    }
    let config = config::load(&paths, &catalog, &cwd, &runner).unwrap_or_else(|e| panic!("{name}: {e}"));
    let project_name = get("project").or_else(|| config.local_project.clone()).unwrap_or_else(|| "default".into());
    let project = config.project(&project_name).unwrap_or_else(|| panic!("{name}: no project {project_name}"));
    let mut facts = host(os, arch);
    let mut stack = compile::compile(&project, &catalog, &facts).unwrap_or_else(|e| panic!("{name}: {e}"));
    if let Some(n) = spec.get("cached_layers").and_then(toml_edit::Item::as_integer) {
        let key = stack.layers[usize::try_from(n).unwrap() - 1].key.full().to_string();
        facts.cached_disks.insert(key.clone(), PathBuf::from(format!("/cache/disks/{key}.img")));
        stack = compile::compile(&project, &catalog, &facts).unwrap();
    }
    Case { name, dir: dir.to_path_buf(), stack, notes: config.notes, _copy: copy }
}

/// Copies a fixture folder, so that compiling it writes nothing into the checkout (which may be
/// read-only to the user running the tests, as for the real-Lima checks).
fn private_copy(fixture: &Path, name: &str) -> (tempfile::TempDir, PathBuf) {
    let copy = tempfile::tempdir().unwrap();
    let dir = copy.path().canonicalize().unwrap().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (path, bytes) in files(fixture) {
        let to = dir.join(path.strip_prefix(fixture).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    (copy, dir)
}

/// The chain, user layers in full, and the instance file, with keys and fixture paths redacted.
fn snapshot_text(case: &Case) -> String {
    let s = &case.stack;
    let mut out = format!("project: {}  vmType: {}  arch: {}\n", s.project, s.vm_type.as_str(), s.arch.as_str());
    for note in &case.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    for w in &s.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str("chain (lowest first):\n");
    for (i, l) in s.layers.iter().enumerate() {
        let files: Vec<&str> = l.files.iter().map(|(p, _)| p.as_str()).collect();
        out.push_str(&format!("  {}. {} ({}) files: [{}]\n", i + 1, l.name, l.origin, files.join(", ")));
        let base = yaml::get(&yaml::parse(&l.yaml).unwrap(), "base").and_then(|b| b.as_str().map(String::from));
        let expected = (i > 0).then(|| s.layers[i - 1].path().display().to_string());
        assert_eq!(base, expected, "{}: layer {} must sit on the previous one", case.name, l.name);
    }
    for l in s.layers.iter().filter(|l| l.origin != "built-in") {
        out.push_str(&format!("==> user layer {}\n{}", l.name, l.yaml));
    }
    out.push_str(&format!("==> {}\n{}", s.instance_path.display(), s.instance_yaml));
    redact_keys(&redact(&out, &case.dir, "<fixture>"), s)
}

pub(crate) fn redact_keys(text: &str, stack: &Stack) -> String {
    let mut out = text.to_string();
    for l in &stack.layers {
        out = out
            .replace(l.key.full(), &format!("<key:{}>", l.name))
            .replace(l.key.short(), &format!("<key:{}>", l.name));
    }
    out
}

#[test]
fn fixture_matrix_snapshots() {
    let cases = cases();
    assert!(cases.len() >= 10, "the fixture matrix shrank");
    for case in &cases {
        insta::assert_snapshot!(format!("stack__{}", case.name), snapshot_text(case));
    }
}

/// Built-in layers are parsed on first use: each one parses, and to what the eager, checked
/// parse of the same embedded tree gives.
#[test]
fn every_built_in_layer_parses_on_demand_as_the_checked_parse_does() {
    let lazy = Catalog::builtin();
    let tree = machine::compiler::layers::embedded_tree();
    let eager = Catalog::from_tree(&tree).expect("the embedded layers pass every check");
    let names = |c: &Catalog| c.layers().iter().map(|l| l.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&lazy), names(&eager));
    assert!(names(&lazy).len() >= 10, "{:?}", names(&lazy));
    for (a, b) in lazy.layers().into_iter().zip(eager.layers()) {
        assert_eq!(a, b, "layer {}", a.name);
    }
    let images = |c: &Catalog| c.images().cloned().collect::<Vec<_>>();
    assert_eq!(images(&lazy), images(&eager));
    assert!(!images(&lazy).is_empty());
    assert_eq!(lazy.requires("playwright"), ["node"], "the header, read without parsing the layer");
}

#[test]
fn built_in_layers_render_stably() {
    let cases = cases();
    let default = cases.iter().find(|c| c.name == "zero-config").expect("a zero-config case");
    for l in &default.stack.layers {
        insta::assert_snapshot!(format!("layer__{}", l.name), redact_keys(&l.yaml, &default.stack));
    }
}

#[test]
fn keys_depend_on_content_not_on_paths() {
    let cases = cases();
    let a = cases.iter().find(|c| c.name == "zero-config").unwrap();
    let mut facts = host(HostOs::Linux, Arch::X86_64);
    facts.state_dir = PathBuf::from("/elsewhere/entirely");
    let project = machine::compiler::config::Config {
        projects_file: PathBuf::from("/nowhere/projects.toml"),
        projects: std::collections::BTreeMap::default(),
        default_profiles: Vec::new(),
        default_shell: machine::compiler::config::model::Shell::Zsh,
        local_project: None,
        local_file: None,
        notes: Vec::new(),
        proxy: machine::compiler::config::proxy::ProxySettings::default(),
    }
    .project("default")
    .unwrap();
    let b = compile::compile(&project, &Catalog::builtin(), &facts).unwrap();
    assert_eq!(a.stack.key(), b.key(), "the state dir must not change keys");
    assert!(b.layers.iter().all(|l| l.dir.starts_with("/elsewhere/entirely/layers")));
}

#[test]
fn stacks_over_limas_embed_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("big")).unwrap();
    std::fs::write(dir.path().join("big/blob.txt"), "x".repeat(5 * 1024 * 1024)).unwrap();
    std::fs::write(dir.path().join("huge.yaml"), "provision:\n- mode: data\n  path: /opt/blob\n  file: big/blob.txt\n")
        .unwrap();
    let mut catalog = Catalog::builtin();
    catalog.add_user_profiles(dir.path()).unwrap();
    let text = "[p]\nprofiles = [\"huge\"]\n";
    let parsed = machine::compiler::config::parse::parse_projects_file(
        &machine::compiler::config::source::Source::new("p.toml", text),
        &catalog,
    )
    .unwrap();
    let err = compile::compile(&parsed.projects["p"], &catalog, &host(HostOs::Linux, Arch::X86_64)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("Lima accepts at most 4 MiB"), "{text}");
    assert!(text.contains("big/blob.txt in layer `huge`"), "{text}");
    assert_eq!(err.exit_code(), 2);
}
