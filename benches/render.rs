//! Benchmark: load a projects.toml with 100 projects and compile every project's stack.
//!
//! A plain bench target (no criterion, to keep the build lean): each phase runs a fixed number
//! of iterations after a warm-up, and the median and spread are printed. Run it with
//! `cargo bench --bench render`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use machine::compiler::compile::{self, HostFacts, HostOs, Identity};
use machine::compiler::config::model::Arch;
use machine::compiler::config::parse::parse_projects_file;
use machine::compiler::config::source::Source;
use machine::compiler::layers::Catalog;

const PROJECTS: usize = 100;
const RUNS: usize = 30;

fn projects_toml() -> String {
    let profiles = [r"[]", r#"["cypress"]"#, r#"["playwright", "modern"]"#, r#"["python", "rust", "go"]"#];
    let mut text = String::from("# generated for the benchmark\ndefault_profiles = [\"modern\"]\n");
    for i in 0..PROJECTS {
        text.push_str(&format!(
            "\n[project-{i}]\nrepos = [\"git@github.com:org/repo-{i}.git\", \"https://github.com/org/lib-{i}.git\"]\nprofiles = {}\ncpus = {}\nmemory = \"{}GiB\"\n",
            profiles[i % profiles.len()],
            2 + i % 7,
            4 + i % 13
        ));
        if i % 5 == 0 {
            text.push_str("forward_agent = false\n[project-");
            text.push_str(&format!("{i}.lima]\nenv = {{ LEVEL = \"{i}\" }}\n"));
        }
    }
    text
}

fn facts() -> HostFacts {
    HostFacts {
        os: HostOs::Macos,
        arch: Arch::Aarch64,
        identity: Identity {
            name: "Bench Mark".into(),
            email: "bench@example.com".into(),
            signing_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench bench".into(),
        },
        state_dir: PathBuf::from("/state"),
        cached_disks: BTreeMap::new(),
        boot_disk: None,
    }
}

fn measure(name: &str, mut f: impl FnMut()) {
    for _ in 0..3 {
        f();
    }
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<44} median {:>8.3} ms   min {:>8.3} ms   max {:>8.3} ms   ({RUNS} runs)",
        ms(times[RUNS / 2]),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
}

fn main() {
    let text = projects_toml();
    let catalog = Catalog::builtin();
    let facts = facts();
    let source = Source::new("projects.toml", text.clone());
    let parsed = parse_projects_file(&source, &catalog).expect("the benchmark config is valid");
    assert_eq!(parsed.projects.len(), PROJECTS);

    println!("{PROJECTS} projects, {} bytes of projects.toml", text.len());
    measure("load built-in layer catalog", || {
        black_box(Catalog::builtin());
    });
    measure("parse + validate projects.toml", || {
        black_box(parse_projects_file(&source, &catalog).unwrap());
    });
    measure("compile all 100 stacks", || {
        for project in parsed.projects.values() {
            black_box(compile::compile(project, &catalog, &facts).unwrap());
        }
    });
    // One project with many repos: the duplicate-folder check must stay linear.
    let many: String = std::iter::once("[many]\nrepos = [\n".to_string())
        .chain((0..10_000).map(|i| format!("  \"https://github.com/org/repo-{i}.git\",\n")))
        .chain(std::iter::once("]\n".to_string()))
        .collect();
    let many = Source::new("projects.toml", many);
    measure("parse one project with 10 000 repos", || {
        black_box(parse_projects_file(&many, &catalog).unwrap());
    });
    measure("end to end: catalog + parse + compile all", || {
        let catalog = Catalog::builtin();
        let parsed = parse_projects_file(&source, &catalog).unwrap();
        for project in parsed.projects.values() {
            black_box(compile::compile(project, &catalog, &facts).unwrap());
        }
    });
}
