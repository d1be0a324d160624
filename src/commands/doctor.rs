//! `machine doctor [--json]`: checks the host can run machine's VMs, one line per check, each
//! failure with what to do about it.
//!
//! The host facts that cannot be faked through PATH (the OS, `/dev/kvm`, the firmware folders,
//! the agent's time box) come in a [`Probes`] value, so tests can describe any host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::Ctx;
use crate::compiler::compile::HostOs;
use crate::driver::exec::{Cmd, install_hint};
use crate::error::{Error, Result};
use crate::{compiler::config, driver::host, driver::identity, driver::lima, driver::ssh_agent};

/// Check that this host has what machine needs: Lima, a hypervisor, an SSH agent, a git identity.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Exits 1 when any check fails; [info] lines never fail.")]
pub struct Args {
    /// Print one JSON object: {"ok", "checks": [{"name", "status", "detail", "fix"}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    Info,
}

/// One check's outcome. `name` is a stable identifier; `fix` says what to do (failures always
/// have one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, status: Status::Ok, detail: detail.into(), fix: None }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { name, status: Status::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }

    fn info(name: &'static str, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self { name, status: Status::Info, detail: detail.into(), fix }
    }

    /// `[ok] …`, `[FAIL] … — fix`, `[info] …`.
    pub fn line(&self) -> String {
        let label = match self.status {
            Status::Ok => "[ok]",
            Status::Fail => "[FAIL]",
            Status::Info => "[info]",
        };
        match &self.fix {
            Some(fix) => format!("{label} {} — {fix}", self.detail),
            None => format!("{label} {}", self.detail),
        }
    }
}

/// The host facts doctor reads outside PATH and the runner.
#[derive(Debug, Clone)]
pub struct Probes {
    pub os: HostOs,
    /// `x86_64` or `aarch64`.
    pub arch: String,
    /// The KVM device (`/dev/kvm`).
    pub kvm: PathBuf,
    /// Where distributions put UEFI firmware, besides QEMU's own `share/qemu`.
    pub firmware_dirs: Vec<PathBuf>,
    /// How long `ssh-add -l` may take: a locked 1Password agent waits for approval.
    pub agent_timeout: Duration,
}

/// The distributions' firmware folders (Debian/Ubuntu, Fedora, Arch, openSUSE), as Lima looks.
const FIRMWARE_DIRS: [&str; 10] = [
    "/usr/share/qemu",
    "/usr/local/share/qemu",
    "/usr/share/OVMF",
    "/usr/share/ovmf",
    "/usr/share/edk2/ovmf",
    "/usr/share/edk2/x64",
    "/usr/share/edk2-ovmf/x64",
    "/usr/share/AAVMF",
    "/usr/share/qemu-efi-aarch64",
    "/usr/share/edk2/aarch64",
];

impl Probes {
    /// This host.
    pub fn host() -> Self {
        Self {
            os: host::os(),
            arch: std::env::consts::ARCH.to_string(),
            kvm: PathBuf::from("/dev/kvm"),
            firmware_dirs: FIRMWARE_DIRS.iter().map(PathBuf::from).collect(),
            agent_timeout: Duration::from_secs(5),
        }
    }
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    run_with(args, ctx, &Probes::host())
}

pub fn run_with(args: &Args, ctx: &mut Ctx<'_>, probes: &Probes) -> Result<i32> {
    let checks = checks(ctx, probes);
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if args.json {
        let report = serde_json::json!({ "ok": failed == 0, "checks": checks });
        ctx.ui.data(&format!("{report:#}"));
    } else {
        let mut text: Vec<String> = checks.iter().map(Check::line).collect();
        text.push(if failed == 0 { "all checks passed".into() } else { format!("{failed} check(s) failed") });
        ctx.ui.data(&text.join("\n"));
    }
    Ok(i32::from(failed > 0))
}

/// Every check, in the order they are printed.
pub fn checks(ctx: &Ctx<'_>, probes: &Probes) -> Vec<Check> {
    let mut all = lima_checks(ctx);
    match probes.os {
        HostOs::Linux => all.extend(linux_checks(ctx, probes)),
        HostOs::Macos => all.push(macos_version(ctx)),
    }
    all.extend(["ssh", "ssh-add"].map(|p| program(ctx, p)));
    all.push(agent_keys(ctx, probes));
    all.push(ssh_config_check(ctx));
    all.extend(identity_checks(ctx));
    all.push(op(ctx));
    all.push(config_check(ctx));
    all
}

/// Whether `ssh lima-<vm>` reaches machine's VMs, and with which agent.
fn ssh_config_check(ctx: &Ctx<'_>) -> Check {
    use super::ssh_config::{UserConfig, installed_here};
    const NAME: &str = "ssh-config";
    match installed_here(ctx) {
        Ok(UserConfig::Machine) => {
            Check::ok(NAME, "~/.ssh/config includes machine's VMs: `ssh lima-<vm>` forwards each VM's scoped agent")
        }
        Ok(problem @ (UserConfig::LimaFirst(_) | UserConfig::Late { .. })) => Check::fail(
            NAME,
            problem.problem(Path::new("~/.ssh/config")).unwrap_or_default(),
            "run `machine ssh-config --install` (it replaces the line an older machine added); delete a Lima `Include` you added yourself, or move it below machine's, and keep machine's above every `Host` and `Match` block",
        ),
        Ok(UserConfig::Neither) => Check::info(
            NAME,
            "~/.ssh/config does not include machine's VMs (needed only for plain `ssh lima-<vm>`, VS Code and `machine code`)",
            Some("run `machine ssh-config --install`".into()),
        ),
        Err(e) => Check::info(NAME, e.message(), None),
    }
}

/// `program` on the PATH the context sees (an executable file), like a shell finds it.
pub fn find_on_path(program: &str, env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let path = env("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn program(ctx: &Ctx<'_>, name: &'static str) -> Check {
    match find_on_path(name, ctx.env) {
        Some(path) => Check::ok(name, format!("{name} is {}", path.display())),
        None => Check::fail(name, format!("{name} is not on PATH"), install_hint(name)),
    }
}

fn lima_checks(ctx: &Ctx<'_>) -> Vec<Check> {
    let found = program(ctx, "limactl");
    if found.status == Status::Fail {
        return vec![found];
    }
    vec![found, lima_version(ctx)]
}

fn lima_version(ctx: &Ctx<'_>) -> Check {
    const NAME: &str = "lima-version";
    let out = match ctx.runner.output(&lima::version().timeout(Duration::from_secs(10))) {
        Ok(out) => out,
        Err(e) => return Check::fail(NAME, e.message(), install_hint("limactl")),
    };
    let text = out.stdout_text();
    match lima::parse_version(&text) {
        Some(found) if found >= lima::MIN_VERSION => Check::ok(NAME, format!("Lima {}", version_text(found))),
        Some(found) => Check::fail(
            NAME,
            format!(
                "Lima {} is too old: machine needs Lima {} or newer",
                version_text(found),
                lima::min_version_text()
            ),
            upgrade_lima(),
        ),
        None => Check::info(NAME, format!("cannot read Lima's version from `limactl --version`: {text:?}"), None),
    }
}

fn version_text((major, minor, patch): (u32, u32, u32)) -> String {
    format!("{major}.{minor}.{patch}")
}

fn upgrade_lima() -> String {
    if cfg!(target_os = "macos") { "run `brew upgrade lima`".into() } else { install_hint("limactl") }
}

fn linux_checks(ctx: &Ctx<'_>, probes: &Probes) -> Vec<Check> {
    let qemu = qemu_system(ctx, &probes.arch);
    let mut dirs: Vec<PathBuf> = qemu.iter().filter_map(|q| qemu_share(q)).collect();
    dirs.extend(probes.firmware_dirs.iter().cloned());
    vec![qemu_check(qemu.as_deref(), &probes.arch), qemu_img(ctx), firmware(&dirs, &probes.arch), kvm(&probes.kvm)]
}

/// `$QEMU_SYSTEM_<ARCH>` (Lima honours it), else `qemu-system-<arch>` on PATH.
fn qemu_system(ctx: &Ctx<'_>, arch: &str) -> Option<PathBuf> {
    let var = format!("QEMU_SYSTEM_{}", arch.to_ascii_uppercase());
    if let Some(path) = (ctx.env)(&var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_absolute() {
            Some(path).filter(|p| is_executable(p))
        } else {
            find_on_path(&path.to_string_lossy(), ctx.env)
        };
    }
    find_on_path(&format!("qemu-system-{arch}"), ctx.env)
}

fn qemu_check(found: Option<&Path>, arch: &str) -> Check {
    const NAME: &str = "qemu-system";
    let package = if arch == "aarch64" { "qemu-system-arm" } else { "qemu-system-x86" };
    match found {
        Some(path) => Check::ok(NAME, format!("qemu-system-{arch} is {}", path.display())),
        None => Check::fail(
            NAME,
            format!("qemu-system-{arch} is not on PATH (Lima runs Linux VMs with QEMU)"),
            format!(
                "install QEMU: `sudo apt-get install {package}` (Debian/Ubuntu) or `sudo dnf install qemu-kvm` (Fedora)"
            ),
        ),
    }
}

fn qemu_img(ctx: &Ctx<'_>) -> Check {
    match find_on_path("qemu-img", ctx.env) {
        Some(path) => Check::ok("qemu-img", format!("qemu-img is {}", path.display())),
        None => Check::fail(
            "qemu-img",
            "qemu-img is not on PATH (Lima converts and resizes disks with it)",
            "install it: `sudo apt-get install qemu-utils` (Debian/Ubuntu) or `sudo dnf install qemu-img` (Fedora)",
        ),
    }
}

/// QEMU's own firmware folder: `<prefix>/share/qemu` for `<prefix>/bin/qemu-system-…`.
fn qemu_share(binary: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    Some(real.parent()?.parent()?.join("share/qemu"))
}

/// Whether a file name is UEFI code firmware for `arch`.
fn is_firmware(name: &str, arch: &str) -> bool {
    let prefixes: &[&str] = if arch == "aarch64" {
        &["edk2-aarch64-code", "AAVMF_CODE", "QEMU_EFI"]
    } else {
        &["edk2-x86_64-code", "OVMF_CODE"]
    };
    Path::new(name).extension().is_some_and(|e| e == "fd") && prefixes.iter().any(|p| name.starts_with(p))
}

fn firmware(dirs: &[PathBuf], arch: &str) -> Check {
    const NAME: &str = "firmware";
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        if let Some(name) = names.iter().find(|n| is_firmware(n, arch)) {
            return Check::ok(NAME, format!("UEFI firmware {}", dir.join(name).display()));
        }
    }
    let fix = if arch == "aarch64" {
        "install it: `sudo apt-get install qemu-efi-aarch64` (Debian/Ubuntu) or `sudo dnf install edk2-aarch64` (Fedora)"
    } else {
        "install it: `sudo apt-get install ovmf` (Debian/Ubuntu) or `sudo dnf install edk2-ovmf` (Fedora)"
    };
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Check::fail(NAME, format!("no UEFI firmware for {arch} (looked in {})", looked.join(", ")), fix)
}

fn kvm(device: &Path) -> Check {
    const NAME: &str = "kvm";
    let shown = device.display();
    match std::fs::OpenOptions::new().read(true).write(true).open(device) {
        Ok(_) => Check::ok(NAME, format!("{shown} is readable and writable")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::fail(
            NAME,
            format!("{shown} does not exist: without KVM, VMs are emulated and very slow"),
            "enable virtualization (VT-x/AMD-V) in the firmware settings and load the module \
             (`sudo modprobe kvm_intel` or `kvm_amd`); inside a VM, enable nested virtualization",
        ),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Check::fail(
            NAME,
            format!("no read/write access to {shown}"),
            "run `sudo usermod -aG kvm $USER`, then log out and back in",
        ),
        Err(e) => Check::fail(NAME, format!("cannot open {shown}: {e}"), "check the device's owner and mode"),
    }
}

fn macos_version(ctx: &Ctx<'_>) -> Check {
    const NAME: &str = "macos-version";
    let cmd = Cmd::new("sw_vers").arg("-productVersion").timeout(Duration::from_secs(5));
    let version = ctx.runner.output(&cmd).ok().filter(crate::driver::exec::Output::success).map(|o| o.stdout_text());
    let Some(version) = version else {
        return Check::info(NAME, "cannot read the macOS version (`sw_vers -productVersion`)", None);
    };
    match version.split('.').next().and_then(|m| m.trim().parse::<u32>().ok()) {
        Some(major) if major >= 13 => Check::ok(NAME, format!("macOS {version}")),
        Some(_) => Check::fail(
            NAME,
            format!("macOS {version} is too old: Lima's vz driver needs macOS 13 (Ventura) or newer"),
            "update macOS",
        ),
        None => Check::info(NAME, format!("cannot read the macOS version from {version:?}"), None),
    }
}

/// Which agent `ssh-add` (and the VMs) use: 1Password's when its socket exists.
fn agent_socket(ctx: &Ctx<'_>) -> (Option<PathBuf>, String) {
    if let Some(sock) = ssh_agent::select(ctx.env) {
        let shown = format!("1Password's agent, {}", sock.display());
        return (Some(sock), shown);
    }
    match (ctx.env)("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) {
        Some(sock) => (None, format!("SSH_AUTH_SOCK={}", sock.to_string_lossy())),
        None => (None, "SSH_AUTH_SOCK is not set".into()),
    }
}

fn agent_keys(ctx: &Ctx<'_>, probes: &Probes) -> Check {
    const NAME: &str = "agent-keys";
    let (onepass, via) = agent_socket(ctx);
    if find_on_path("ssh-add", ctx.env).is_none() {
        return Check::fail(
            NAME,
            format!("cannot ask the SSH agent for keys ({via}): no ssh-add"),
            install_hint("ssh-add"),
        );
    }
    let mut cmd = Cmd::new("ssh-add").arg("-l").timeout(probes.agent_timeout);
    if let Some(sock) = onepass {
        cmd = cmd.env("SSH_AUTH_SOCK", sock);
    }
    let out = match ctx.runner.output(&cmd) {
        Ok(out) => out,
        Err(e) => return Check::fail(NAME, e.message(), install_hint("ssh-add")),
    };
    match out.code {
        Some(0) => {
            let keys = out.stdout_text().lines().filter(|l| !l.trim().is_empty()).count();
            Check::ok(NAME, format!("the SSH agent holds {keys} key(s) ({via})"))
        }
        Some(1) => Check::fail(NAME, format!("the SSH agent holds no keys ({via})"), add_key_hint()),
        None => Check::fail(
            NAME,
            format!("the SSH agent did not answer `ssh-add -l` within {}s ({via})", probes.agent_timeout.as_secs_f32()),
            "unlock 1Password (a locked 1Password agent waits for approval), or check SSH_AUTH_SOCK",
        ),
        Some(_) => Check::fail(
            NAME,
            format!("cannot reach the SSH agent ({via})"),
            "start an agent (`eval \"$(ssh-agent)\"`, then `ssh-add`), or turn on 1Password's SSH agent",
        ),
    }
}

fn add_key_hint() -> String {
    let add = if cfg!(target_os = "macos") { "ssh-add --apple-use-keychain" } else { "ssh-add" };
    format!("run `{add} ~/.ssh/id_ed25519`, or turn on 1Password's SSH agent (Settings → Developer)")
}

fn identity_checks(ctx: &Ctx<'_>) -> [Check; 2] {
    let resolved = identity::resolve(ctx.env, ctx.runner);
    let (git_problems, mut key_problems): (Vec<Error>, Vec<Error>) =
        resolved.problems.into_iter().partition(is_git_problem);
    let (bad_key, bad_who): (Vec<Error>, Vec<Error>) =
        resolved.invalid.into_iter().partition(|e| e.message().to_ascii_lowercase().contains("signing"));
    key_problems.splice(0..0, bad_key);
    let id = resolved.identity;
    let who = if let Some(bad) = bad_who.first() {
        let (detail, fix) = split(bad);
        Check::fail("git-identity", detail, fix.unwrap_or_default())
    } else if let Some(problem) = git_problems.first().filter(|_| id.name.is_empty() || id.email.is_empty()) {
        let (detail, fix) = split(problem);
        Check::fail("git-identity", detail, fix.unwrap_or_else(|| install_hint("git")))
    } else if id.name.is_empty() || id.email.is_empty() {
        let fix = "run `git config --global user.name 'Your Name'` and \
                   `git config --global user.email you@example.com` (or set GIT_NAME and GIT_EMAIL)";
        Check::fail("git-identity", "no git identity (user.name and user.email) for the VMs' commits", fix)
    } else {
        Check::ok("git-identity", format!("git identity {} <{}>", id.name, id.email))
    };
    let key = match key_problems.first() {
        Some(problem) => {
            let (detail, fix) = split(problem);
            Check::fail("signing-key", detail, fix.unwrap_or_else(|| "fix the signing key setting it names".into()))
        }
        None if id.signing_key.is_empty() => Check::info(
            "signing-key",
            "no SSH signing key: commits made in the VMs are not signed",
            Some("set `git config --global user.signingkey` to your SSH public key (or GIT_SIGNING_KEY)".into()),
        ),
        None => Check::ok("signing-key", format!("signing key {}", short_key(&id.signing_key))),
    };
    [who, key]
}

/// A problem with git itself or the config it reads (not one with the key it named).
fn is_git_problem(error: &Error) -> bool {
    let message = error.message();
    message.starts_with("`git`") || message.starts_with("cannot run `git ") || message.starts_with("git cannot read")
}

/// An error's message and causes as one line, and its hints as the fix.
fn split(error: &Error) -> (String, Option<String>) {
    let text = error.to_string();
    let mut detail = Vec::new();
    let mut hints = Vec::new();
    for line in text.lines() {
        if let Some(hint) = line.strip_prefix("hint: ") {
            hints.push(hint.to_string());
        } else {
            let line = line.strip_prefix("error: ").unwrap_or(line);
            detail.push(line.trim().trim_start_matches("caused by: ").to_string());
        }
    }
    (detail.join(": "), (!hints.is_empty()).then(|| hints.join("; ")))
}

/// `ssh-ed25519 AAAA…wxyz comment`: enough to recognise, short enough for one line.
fn short_key(key: &str) -> String {
    let mut words = key.split_whitespace();
    let kind = words.next().unwrap_or_default();
    let blob = words.next().unwrap_or_default();
    let tail: String = blob.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
    let comment: Vec<&str> = words.collect();
    format!("{kind} …{tail} {}", comment.join(" ")).trim_end().to_string()
}

fn op(ctx: &Ctx<'_>) -> Check {
    match find_on_path("op", ctx.env) {
        Some(path) => Check::info("op", format!("1Password CLI {} (for `machine secrets`)", path.display()), None),
        None => {
            Check::info("op", "1Password CLI `op` not found: only `machine secrets` needs it", Some(install_hint("op")))
        }
    }
}

fn config_check(ctx: &Ctx<'_>) -> Check {
    const NAME: &str = "config";
    let loaded =
        ctx.catalog().and_then(|catalog| Ok((config::load(&ctx.paths, &catalog, &ctx.cwd, ctx.runner)?, catalog)));
    match loaded {
        Ok((_, catalog)) if catalog.broken_profiles().next().is_some() => {
            let (name, why) = catalog.broken_profiles().next().expect("checked");
            let first = why.first().map(ToString::to_string).unwrap_or_default();
            let first = first.lines().next().unwrap_or_default().to_string();
            Check::fail(
                NAME,
                format!("profile `{name}` does not load: {first}"),
                "fix it, or move it out of the profiles folder: a project that uses it fails until then",
            )
        }
        Ok((config, _)) => {
            let home = (ctx.env)("HOME").map(std::path::PathBuf::from);
            if let Err(e) = crate::servers::proxy::daemon::check_ca_file(&config.proxy, home.as_deref()) {
                let hint = "point `ca_file` at a PEM file of CA certificates, or remove it";
                return Check::fail(NAME, e.message().to_string(), hint);
            }
            let file = &config.projects_file;
            let mut detail = if file.is_file() {
                format!("{} parses ({} project(s) in all)", file.display(), config.projects.len())
            } else {
                format!("no {} (zero-config: the `default` project)", file.display())
            };
            if let (Some(local), Some(file)) = (&config.local_project, config.local_file_status()) {
                detail.push_str(&format!("; project `{local}` comes from {file}"));
            }
            Check::ok(NAME, detail)
        }
        Err(e) => {
            let first = e.message().lines().next().unwrap_or_default().to_string();
            Check::fail(NAME, first, "fix that file: `machine render` shows every problem with its line")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_names() {
        assert!(is_firmware("edk2-x86_64-code.fd", "x86_64"));
        assert!(is_firmware("OVMF_CODE_4M.fd", "x86_64"));
        assert!(!is_firmware("OVMF_VARS_4M.fd", "x86_64"));
        assert!(!is_firmware("edk2-x86_64-code.fd", "aarch64"));
        assert!(is_firmware("AAVMF_CODE.fd", "aarch64"));
        assert!(is_firmware("QEMU_EFI.fd", "aarch64"));
    }

    #[test]
    fn errors_split_into_detail_and_fix() {
        let e = Error::usage("GIT_SIGNING_PUBKEY_FILE names /x, which cannot be read")
            .caused_by("No such file")
            .hint("point it at your key");
        let (detail, fix) = split(&e);
        assert_eq!(detail, "GIT_SIGNING_PUBKEY_FILE names /x, which cannot be read: No such file");
        assert_eq!(fix.as_deref(), Some("point it at your key"));
    }

    #[test]
    fn keys_are_shortened() {
        assert_eq!(
            short_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ada@laptop"),
            "ssh-ed25519 …IExample ada@laptop"
        );
    }

    #[test]
    fn lines() {
        assert_eq!(Check::ok("x", "fine").line(), "[ok] fine");
        assert_eq!(Check::fail("x", "broken", "mend it").line(), "[FAIL] broken — mend it");
        assert_eq!(Check::info("x", "note", None).line(), "[info] note");
    }
}
