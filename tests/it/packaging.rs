//! The Homebrew formula, the Nix flake and the release workflow stay in step with Cargo.toml.

use crate::support::manifest_dir;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(rel: &str) -> String {
    std::fs::read_to_string(manifest_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn the_formula_builds_the_cargo_version_s_tag() {
    let formula = read("Formula/machine.rb");
    assert!(
        formula.contains(&format!("tag: \"v{VERSION}\"")),
        "Formula/machine.rb must build tag v{VERSION} (Cargo.toml's version): update its `tag:`"
    );
    for needed in [
        "depends_on \"lima\"",
        "std_cargo_args",
        "completions/machine.bash",
        "completions/_machine",
        "completions/machine.fish",
        "machine --version",
        "machine render --json",
    ] {
        assert!(formula.contains(needed), "Formula/machine.rb lacks {needed:?}");
    }
}

/// One minimum Lima version: doctor's check, the core layer's `minimumLimaVersion` (which Lima
/// itself enforces at create) and what the docs and the formula tell users.
#[test]
fn one_minimum_lima_version_everywhere() {
    let min = machine::driver::lima::min_version_text();
    let core = read("src/guest/templates/core.yaml");
    assert!(
        core.contains(&format!("minimumLimaVersion: \"{min}\"")),
        "src/guest/templates/core.yaml must require Lima {min}"
    );
    assert!(read("Formula/machine.rb").contains(&format!("Lima {min} or newer")), "the formula's caveat says {min}");
    for doc in ["README.md", "ARCHITECTURE.md"] {
        let text = read(doc);
        assert!(text.contains(&format!("Lima {min}")), "{doc} names Lima {min}");
        for stale in ["Lima 2.0 or", "Lima 2.x", "≥ 2.0"] {
            assert!(!text.contains(stale), "{doc} still says {stale:?}");
        }
    }
}

#[test]
fn the_flake_carries_the_cargo_version() {
    let flake = read("flake.nix");
    assert!(
        flake.contains(&format!("version = \"{VERSION}\";")),
        "flake.nix must say version = \"{VERSION}\"; (Cargo.toml's version)"
    );
    for needed in
        ["buildRustPackage", "cargoLock.lockFile = ./Cargo.lock", "pkgs.lima", "installShellCompletion", "apps"]
    {
        assert!(flake.contains(needed), "flake.nix lacks {needed:?}");
    }
}

#[test]
fn the_packaged_completion_files_exist() {
    for file in ["completions/machine.bash", "completions/_machine", "completions/machine.fish"] {
        assert!(manifest_dir().join(file).is_file(), "{file} is missing");
    }
}

#[test]
fn the_release_workflow_is_locked_pinned_and_least_privileged() {
    let workflow = read(".github/workflows/release.yml");
    assert!(workflow.contains("tags: [\"v*\"]") && workflow.contains("workflow_dispatch"));
    assert!(workflow.contains("cargo build --release --locked"));
    assert!(workflow.contains("permissions: {}"), "no permissions unless a job asks");
    for target in
        ["aarch64-apple-darwin", "x86_64-apple-darwin", "x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]
    {
        assert!(workflow.contains(target), "{target} is built");
    }
    for line in workflow.lines().filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("uses: ")) {
        let (_, version) = line.split_once('@').unwrap_or_else(|| panic!("`{line}` has no version"));
        let major = version.strip_prefix('v').unwrap_or_default();
        assert!(!major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()), "`{line}`: pin a major version (@vN)");
    }
}

/// The nightly real-Lima run: the e2e suite, on a schedule and on demand, against Lima's release.
#[test]
fn the_e2e_workflow_runs_the_suite_on_a_real_lima() {
    let workflow = read(".github/workflows/e2e.yml");
    for needed in [
        "schedule:",
        "workflow_dispatch",
        "releases/download/v${LIMA_VERSION}/lima-${LIMA_VERSION}-Linux-x86_64.tar.gz",
        "qemu-system-x86",
        "/dev/kvm",
        "MACHINE_E2E: \"1\"",
        "cargo test --locked --test e2e",
        "MACHINE_E2E=1 cargo test --locked --test it lima_rules",
    ] {
        assert!(workflow.contains(needed), ".github/workflows/e2e.yml lacks {needed:?}");
    }
    assert!(workflow.contains("contents: read"), "read-only token");
}
