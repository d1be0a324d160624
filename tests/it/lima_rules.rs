//! Every rendered layer and every shipped template is checked against Lima 2.2's JSON schema and
//! against the Lima rules the schema does not cover.

use std::path::Path;

use machine::compiler::compile::{PARAMS, uses_param};
use machine::compiler::yaml::{self, Value};

use crate::compile::cases;
use crate::support::manifest_dir;

fn schema() -> (boon::Schemas, boon::SchemaIndex) {
    let path = manifest_dir().join("tests/fixtures/lima-schema-2.2.0.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource("urn:lima:2.2.0", json).unwrap();
    let index = compiler.compile("urn:lima:2.2.0", &mut schemas).unwrap();
    (schemas, index)
}

fn check_schema(schemas: &boon::Schemas, index: boon::SchemaIndex, what: &str, text: &str) {
    let value = yaml::parse(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    let json = serde_json::to_value(&value).unwrap();
    if let Err(e) = schemas.validate(&json, index) {
        panic!("{what} does not match Lima's schema:\n{e:#}\n---\n{text}");
    }
}

#[test]
fn lima_keys_list_matches_the_schema() {
    let path = manifest_dir().join("tests/fixtures/lima-schema-2.2.0.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let keys: Vec<&str> =
        json["$defs"]["LimaYAML"]["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    let mut ours = machine::compiler::lima_keys::TOP_LEVEL.to_vec();
    let mut theirs = keys.clone();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs);
}

#[test]
fn every_shipped_template_matches_the_schema() {
    let (schemas, index) = schema();
    let mut count = 0;
    for entry in walk(&crate::support::guest_dir().join("templates")) {
        let text = std::fs::read_to_string(&entry).unwrap();
        check_schema(&schemas, index, &entry.display().to_string(), &text);
        count += 1;
    }
    assert!(count >= 10, "expected the core, standard, profile and image templates");
}

#[test]
fn every_rendered_file_matches_the_schema() {
    let (schemas, index) = schema();
    for case in cases() {
        for layer in &case.stack.layers {
            check_schema(&schemas, index, &format!("{}: layer {}", case.name, layer.name), &layer.yaml);
        }
        check_schema(&schemas, index, &format!("{}: instance", case.name), &case.stack.instance_yaml);
    }
}

/// Lima refuses params no script uses, `..` in relative locators, and probes without `#!`.
#[test]
fn every_rendered_stack_follows_lima_rules_beyond_the_schema() {
    for case in cases() {
        let stack = &case.stack;
        let instance = yaml::parse(&stack.instance_yaml).unwrap();
        let mut texts: Vec<String> = vec![stack.instance_yaml.clone()];
        for layer in &stack.layers {
            texts.push(layer.yaml.clone());
            texts.extend(layer.files.iter().map(|(_, b)| String::from_utf8_lossy(b).into_owned()));
            let parsed = yaml::parse(&layer.yaml).unwrap();
            for list in ["provision", "probes"] {
                for entry in yaml::get(&parsed, list).and_then(Value::as_sequence).into_iter().flatten() {
                    if let Some(file) = yaml::get(entry, "file").and_then(Value::as_str) {
                        assert!(!file.split('/').any(|s| s == ".."), "{}: `..` in {file}", case.name);
                        let (_, bytes) = layer.files.iter().find(|(p, _)| p == file).unwrap_or_else(|| {
                            panic!("{}: layer {} names {file} but does not carry it", case.name, layer.name)
                        });
                        if list == "probes" {
                            assert!(bytes.starts_with(b"#!"), "{}: probe file {file} lacks #!", case.name);
                        }
                    }
                    if list == "probes"
                        && let Some(script) = yaml::get(entry, "script").and_then(Value::as_str)
                    {
                        assert!(script.starts_with("#!"), "{}: probe script lacks #!", case.name);
                    }
                }
            }
        }
        let params = yaml::get(&instance, "param").and_then(Value::as_mapping).cloned().unwrap_or_default();
        for (key, _) in &params {
            let key = key.as_str().unwrap();
            let used = texts.iter().any(|t| uses_param(t, key));
            assert!(used, "{}: param {key} is declared but no layer uses it", case.name);
        }
        for key in PARAMS {
            let used = stack.layers.iter().any(|l| {
                uses_param(&l.yaml, key) || l.files.iter().any(|(_, b)| uses_param(&String::from_utf8_lossy(b), key))
            });
            assert_eq!(used, params.contains_key(key), "{}: param {key} declared iff used", case.name);
        }
    }
}

/// A real Lima's `limactl validate` must accept every fixture's stack.
#[test]
#[cfg_attr(not(machine_e2e), ignore = "needs a real Lima on PATH: MACHINE_E2E=1 cargo test --test it lima_rules")]
fn limactl_validate_accepts_every_fixture() {
    assert!(which("limactl").is_some(), "MACHINE_E2E=1, but limactl is not on PATH");
    for case in cases() {
        let state = tempfile::tempdir().unwrap();
        let mut stack = case.stack.clone();
        relocate(&mut stack, state.path());
        machine::driver::stack::write(&stack).unwrap();
        let out = std::process::Command::new("limactl").args(["validate"]).arg(&stack.instance_path).output().unwrap();
        assert!(
            out.status.success(),
            "{}: limactl validate failed:\n{}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Moves a stack compiled for `/state` under a real folder.
fn relocate(stack: &mut machine::compiler::compile::Stack, to: &Path) {
    let from = "/state";
    let to = to.display().to_string();
    for layer in &mut stack.layers {
        layer.dir = Path::new(&layer.dir.display().to_string().replacen(from, &to, 1)).to_path_buf();
        layer.yaml = layer.yaml.replace(&format!("base: {from}/"), &format!("base: {to}/"));
    }
    stack.instance_path = Path::new(&stack.instance_path.display().to_string().replacen(from, &to, 1)).to_path_buf();
    stack.instance_yaml = stack.instance_yaml.replace(&format!("base: {from}/"), &format!("base: {to}/"));
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file()))
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The isolation promises: no host mount, no containerd, agent forwarding, no fixed port forwards.
#[test]
fn core_layer_keeps_the_vm_isolated() {
    let core = machine::compiler::layers::Catalog::builtin().layer("core").unwrap().body.clone();
    let get = |k: &str| core.get(k).cloned().unwrap_or(Value::Null);
    assert_eq!(get("mounts"), Value::Sequence(vec![]));
    assert_eq!(yaml::to_string(&get("containerd")), "system: false\nuser: false\n");
    assert_eq!(yaml::to_string(&get("ssh")), "forwardAgent: true\nloadDotSSHPubKeys: false\n");
    assert!(!core.contains_key("portForwards"));
    for layer in machine::compiler::layers::Catalog::builtin().layers() {
        assert!(
            !layer.body.contains_key("mounts") || layer.name == "core",
            "{} must not mount host folders",
            layer.name
        );
    }
}
