//! Embeds the guest layers (`src/guest/`: `templates/`, `provision/`, `files/`) into the binary, and turns
//! on `cfg(machine_e2e)` under `MACHINE_E2E=1`: the tests that need a real Lima are ignored
//! (shown as such by `cargo test`) without it. Likewise `cfg(machine_openssh)` when OpenSSH's
//! client tools and git are on this host, and `cfg(machine_sshd)` when its server is: the scoped
//! agent's tests against a real ssh-agent and sshd are ignored, with the reason, without them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(machine_e2e)");
    println!("cargo:rerun-if-env-changed=MACHINE_E2E");
    if std::env::var_os("MACHINE_E2E").is_some_and(|v| v == "1") {
        println!("cargo:rustc-cfg=machine_e2e");
    }
    println!("cargo::rustc-check-cfg=cfg(machine_openssh)");
    println!("cargo::rustc-check-cfg=cfg(machine_sshd)");
    if ["ssh", "ssh-agent", "ssh-add", "ssh-keygen", "git"].iter().all(|p| installed(p)) {
        println!("cargo:rustc-cfg=machine_openssh");
    }
    if installed("sshd") {
        println!("cargo:rustc-cfg=machine_sshd");
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let guest = manifest.join("src").join("guest");
    let mut files = Vec::new();
    for top in ["templates", "provision", "files"] {
        println!("cargo:rerun-if-changed=src/guest/{top}");
        collect(&guest, &guest.join(top), &mut files);
    }
    files.sort();
    let mut out = String::from(
        "/// Every embedded file, by its path relative to `src/guest`.\npub(super) static FILES: &[(&str, &[u8])] = &[\n",
    );
    for rel in &files {
        let abs = guest.join(rel);
        writeln!(out, "    ({rel:?}, include_bytes!({:?})),", abs.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_layers.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// On PATH, or in an sbin folder (sshd often is, outside a user's PATH).
fn installed(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let sbin = ["/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin"].map(PathBuf::from);
    std::env::split_paths(&path).chain(sbin).any(|dir| dir.join(program).is_file())
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("walked from the root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
