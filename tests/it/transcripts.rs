//! Loads the real `limactl` 2.2 transcripts in tests/fixtures/lima-transcripts/.
//!
//! Format: `command:`, `exit_code:`, `elapsed_s:` lines, then `=== stdout ===`, `=== stderr ===`
//! sections closed by `=== end ===` (see that folder's README.md).

use crate::support::fixtures;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transcript {
    pub(crate) command: String,
    pub(crate) exit_code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// The transcript `tests/fixtures/lima-transcripts/<name>.txt`.
pub(crate) fn load(name: &str) -> Transcript {
    let path = fixtures().join("lima-transcripts").join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&text).unwrap_or_else(|| panic!("{} is not a transcript", path.display()))
}

fn parse(text: &str) -> Option<Transcript> {
    let command = text.lines().find_map(|l| l.strip_prefix("command: "))?.to_string();
    let exit_code = text.lines().find_map(|l| l.strip_prefix("exit_code: "))?.trim().parse().ok()?;
    let after_out = text.split_once("=== stdout ===\n")?.1;
    let (stdout, rest) = after_out.split_once("=== stderr ===\n")?;
    let (stderr, _) = rest.rsplit_once("=== end ===")?;
    Some(Transcript { command, exit_code, stdout: stdout.to_string(), stderr: stderr.to_string() })
}

#[test]
fn every_transcript_parses() {
    let dir = fixtures().join("lima-transcripts");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let t = load(&name);
            assert!(
                t.command.starts_with("limactl") || t.command.contains("ssh") || t.command.starts_with("cat"),
                "{name}"
            );
            count += 1;
        }
    }
    assert!(count >= 50, "{count}");
    let t = load("shell-exit-code-passthrough");
    assert_eq!(t.exit_code, 7);
    assert_eq!(load("version").stdout, "limactl version 2.2.0\n");
}
