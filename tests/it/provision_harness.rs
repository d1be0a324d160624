//! Runs every guest provision script against a scratch root with stubbed system tools
//! (tests/provision/run.sh): idempotency, stamp skips, failure markers, checksum refusals.

use crate::support::manifest_dir;

#[test]
fn provision_scripts_pass_the_stubbed_harness() {
    let out = std::process::Command::new("bash")
        .arg(manifest_dir().join("tests/provision/run.sh"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" 0 failed") || last.contains(" 0 failed,"), "{last}");
}
