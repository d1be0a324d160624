//! Every validation rule has a fixture under tests/fixtures/invalid/ and a snapshot of its error.

use machine::compiler::config::parse::parse_projects_file;
use machine::compiler::config::source::Source;

use crate::support::{fixtures, synthetic_catalog};

#[test]
fn every_invalid_fixture_is_rejected_with_a_located_error() {
    let catalog = synthetic_catalog();
    let dir = fixtures().join("invalid");
    let mut cases: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 30, "expected one fixture per validation rule");
    for path in cases {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let shown = format!("{name}.toml");
        let errors =
            parse_projects_file(&Source::new(&shown, text), &catalog).expect_err(&format!("{name} should be rejected"));
        for e in &errors {
            assert!(e.line > 0 && e.column > 0, "{name}: every error names a line and column: {e}");
        }
        let rendered = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n\n");
        insta::assert_snapshot!(format!("invalid__{name}"), rendered);
    }
}

#[test]
fn valid_configs_parse() {
    let catalog = synthetic_catalog();
    let text = r#"
# comments are fine
default_profiles = ["cypress"]
default_shell = "bash"

[blog]
repos = ["git@github.com:you/blog.git"]

[wallet]
repos = ["git@github.com:you/a.git", "https://github.com/you/b.git"]
profiles = []
without = ["docker", "codex"]
shell = "zsh"
forward_agent = false
ssh_keys = ["SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", "ada@laptop"]
confirm_signatures = true
cpus = 8
memory = 16
disk = "60GiB"
image = "debian-12"
arch = "x86_64"
vm_type = "qemu"

[wallet.lima]
env = { FOO = "bar" }
portForwards = [{ guestPort = 8080, hostPort = 18080 }]
"#;
    let parsed = parse_projects_file(&Source::new("p.toml", text), &catalog).unwrap();
    let blog = &parsed.projects["blog"];
    assert_eq!(blog.profiles, ["cypress"], "default_profiles apply when `profiles` is absent");
    assert_eq!(blog.shell.as_str(), "bash");
    let wallet = &parsed.projects["wallet"];
    assert!(wallet.profiles.is_empty(), "an explicit empty list wins over the defaults");
    assert_eq!(wallet.standard_layers(), ["node", "gh", "claude"]);
    assert_eq!(wallet.memory.as_ref().unwrap().as_str(), "16GiB");
    assert_eq!(wallet.disk.as_ref().unwrap().as_str(), "60GiB");
    assert_eq!(wallet.primary_dir(), Some("a"));
    assert!(wallet.lima.contains_key("portForwards"));
    assert!(wallet.confirm_signatures && !blog.confirm_signatures);
    assert!(blog.ssh_keys.is_all(), "no `ssh_keys`: every key of the agent");
    let keys: Vec<&str> =
        wallet.ssh_keys.own().unwrap().iter().map(machine::compiler::config::keys::KeySelector::as_str).collect();
    assert_eq!(keys, ["SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", "ada@laptop"]);
    assert!(wallet.ssh_keys.allows("SHA256:other", "ada@laptop"));
    assert!(!wallet.ssh_keys.allows("SHA256:other", "bob@laptop"));
}

#[test]
fn old_single_default_profile_is_accepted() {
    let catalog = synthetic_catalog();
    let parsed = parse_projects_file(&Source::new("p.toml", "default_profile = \"cypress\"\n[a]\n"), &catalog).unwrap();
    assert_eq!(parsed.projects["a"].profiles, ["cypress"]);
}

#[test]
fn without_standard_means_lean() {
    let catalog = synthetic_catalog();
    let parsed = parse_projects_file(&Source::new("p.toml", "[a]\nwithout = [\"standard\"]\n"), &catalog).unwrap();
    assert!(parsed.projects["a"].standard_layers().is_empty());
}

#[test]
fn proxy_settings_and_the_opt_out_parse() {
    let catalog = synthetic_catalog();
    let text = "[proxy]\nport = 9000\n\n[proxy.mistral]\nupstream = \"https://api.mistral.ai/v1\"\nheader = \"Authorization: Bearer {}\"\ncredential_command = [\"op\", \"read\", \"op://dev/mistral/key\"]\nguest_url_env = \"MISTRAL_BASE_URL\"\nguest_token_env = \"MISTRAL_API_KEY\"\n\n[blog]\ncredential_proxy = false\n\n[shop]\n";
    let parsed = parse_projects_file(&Source::new("p.toml", text), &catalog).unwrap();
    assert!(!parsed.projects.contains_key("proxy"), "`[proxy]` holds settings, not a project");
    assert!(!parsed.projects["blog"].credential_proxy);
    assert!(parsed.projects["shop"].credential_proxy, "on unless turned off");
    assert_eq!(parsed.proxy.port, 9000);
    let names: Vec<&str> = parsed.proxy.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["anthropic", "openai", "mistral"]);
    let mistral = parsed.proxy.provider("mistral").unwrap();
    assert_eq!(mistral.upstream.base_path, "/v1");
    assert_eq!(mistral.sources.command.as_ref().unwrap()[0], "op");
}
