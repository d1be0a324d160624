//! The validated configuration: what every later stage may rely on without re-checking.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::compiler::yaml::Value;

/// The layers every project gets unless it lists them in `without`, in chain order.
pub const STANDARD_LAYERS: [&str; 5] = ["docker", "node", "gh", "claude", "codex"];

/// The guest image a project gets when it names none.
pub const DEFAULT_IMAGE: &str = "ubuntu-24.04";

/// The project `up` and `render` fall back to when nothing else names one.
pub const DEFAULT_PROJECT: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where projects.toml was looked for (it may not exist: zero-config).
    pub projects_file: PathBuf,
    pub projects: BTreeMap<String, Project>,
    pub default_profiles: Vec<String>,
    pub default_shell: Shell,
    /// The project a `.machine.toml` near the current directory defines, if any.
    pub local_project: Option<String>,
    /// That `.machine.toml`, and whether the user trusts it.
    pub local_file: Option<(PathBuf, super::trust::Trust)>,
    /// Things the user should know that are not errors (e.g. a local file shadowing an entry).
    pub notes: Vec<String>,
    /// projects.toml's `[proxy]` table (the defaults when there is none).
    pub proxy: super::proxy::ProxySettings,
}

impl Config {
    /// `<path> (trusted)` or `<path> (untrusted: …)`: the `.machine.toml` that was read.
    pub fn local_file_status(&self) -> Option<String> {
        let (path, trust) = self.local_file.as_ref()?;
        Some(format!("{} ({})", path.display(), trust.describe()))
    }

    /// Which `.machine.toml` was read and whether it is trusted, for `render` and `up`.
    pub fn local_file_note(&self) -> Option<String> {
        let (path, trust) = self.local_file.as_ref()?;
        let mut note = format!("using {}", self.local_file_status()?);
        if !trust.is_trusted() {
            note.push_str(&format!(
                "; it may set only {}; `machine trust {}` lets it set the rest",
                super::trust::allowed_untrusted(),
                path.display()
            ));
        }
        Some(note)
    }

    /// The project of that name, or the implicit default project every zero-config user has.
    pub fn project(&self, name: &str) -> Option<Project> {
        if let Some(p) = self.projects.get(name) {
            return Some(p.clone());
        }
        (name == DEFAULT_PROJECT).then(|| self.implicit_project(DEFAULT_PROJECT))
    }

    /// A project with no entry: defaults everywhere, the top-level default profiles.
    pub fn implicit_project(&self, name: &str) -> Project {
        Project::with_defaults(name, self.default_shell, &self.default_profiles)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// A valid Lima instance name, safe as a path component.
    pub name: String,
    /// The file that defines it; `None` for the implicit `default` project.
    pub defined_in: Option<PathBuf>,
    pub repos: Vec<RepoUrl>,
    /// Profile layers, in the order the user listed them.
    pub profiles: Vec<String>,
    /// Standard layers this project opts out of.
    pub without: Vec<String>,
    pub shell: Shell,
    pub forward_agent: bool,
    /// The keys of the host's agent the VM may list and sign with (through the scoped agent).
    pub ssh_keys: super::keys::KeyScope,
    /// Ask on the host before each signature the VM asks for.
    pub confirm_signatures: bool,
    /// The VM reaches the providers' APIs through the host's credential proxy (`machine proxy`).
    pub credential_proxy: bool,
    pub cpus: Option<u32>,
    pub memory: Option<Size>,
    pub disk: Option<Size>,
    pub image: Image,
    pub arch: Option<Arch>,
    pub vm_type: Option<VmType>,
    /// Top-level Lima keys merged verbatim into the instance's own layer.
    pub lima: BTreeMap<String, Value>,
}

impl Project {
    /// A project with nothing set beyond the top-level defaults.
    pub fn with_defaults(name: &str, shell: Shell, profiles: &[String]) -> Self {
        Self {
            name: name.to_string(),
            defined_in: None,
            repos: Vec::new(),
            profiles: profiles.to_vec(),
            without: Vec::new(),
            shell,
            forward_agent: true,
            ssh_keys: super::keys::KeyScope::all(),
            confirm_signatures: false,
            credential_proxy: true,
            cpus: None,
            memory: None,
            disk: None,
            image: Image::Named(DEFAULT_IMAGE.to_string()),
            arch: None,
            vm_type: None,
            lima: BTreeMap::new(),
        }
    }

    /// The standard layers this project keeps, in chain order.
    pub fn standard_layers(&self) -> Vec<&'static str> {
        STANDARD_LAYERS.into_iter().filter(|l| !self.without.iter().any(|w| w == l)).collect()
    }

    /// The folder of the file that defines the project: where its own relative files live.
    pub fn config_dir(&self) -> Option<&std::path::Path> {
        self.defined_in.as_deref().and_then(std::path::Path::parent)
    }

    /// The primary repo's folder name under `~/code`, if the project has repos.
    pub fn primary_dir(&self) -> Option<&str> {
        self.repos.first().map(RepoUrl::dir_name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shell {
    #[default]
    Zsh,
    Bash,
}

impl Shell {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "zsh" => Some(Self::Zsh),
            "bash" => Some(Self::Bash),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zsh => "zsh",
            Self::Bash => "bash",
        }
    }

    /// Where the shell lives in every supported guest (the core layer `chsh`es to it).
    pub fn guest_path(self) -> &'static str {
        match self {
            Self::Zsh => "/usr/bin/zsh",
            Self::Bash => "/usr/bin/bash",
        }
    }
}

/// CPU architecture, in Lima's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "x86_64" => Some(Self::X86_64),
            "aarch64" => Some(Self::Aarch64),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VmType {
    Vz,
    Qemu,
}

impl VmType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "vz" => Some(Self::Vz),
            "qemu" => Some(Self::Qemu),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vz => "vz",
            Self::Qemu => "qemu",
        }
    }
}

/// A memory or disk size, kept in the `<n>GiB` form Lima understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Size(String);

impl Size {
    /// An integer means GiB; a string must be a number with a binary unit (`16GiB`, `512MiB`).
    pub fn from_gib(n: u64) -> Option<Self> {
        (n > 0).then(|| Self(format!("{n}GiB")))
    }

    pub fn parse(s: &str) -> Option<Self> {
        let unit_at = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, unit) = s.split_at(unit_at);
        if !["KiB", "MiB", "GiB", "TiB"].contains(&unit) {
            return None;
        }
        let mut parts = number.split('.');
        let whole = parts.next()?;
        let frac = parts.next();
        let digits_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits_ok(whole) || parts.next().is_some() || frac.is_some_and(|f| !digits_ok(f)) {
            return None;
        }
        let positive = number.bytes().any(|b| (b'1'..=b'9').contains(&b));
        positive.then(|| Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The size in GiB.
    pub fn gib(&self) -> f64 {
        let at = self.0.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(self.0.len());
        let (number, unit) = self.0.split_at(at);
        let scale = match unit {
            "KiB" => 1.0 / (1024.0 * 1024.0),
            "MiB" => 1.0 / 1024.0,
            "TiB" => 1024.0,
            _ => 1.0,
        };
        number.parse::<f64>().unwrap_or(0.0) * scale
    }
}

/// The size of every baked disk. VMs boot from baked disks and Lima cannot shrink a disk, so a
/// project's `disk` must be at least this much.
pub const BAKE_DISK_GIB: u32 = 20;

/// The one rule for a project's `disk` (the parser and the wizard both apply it).
pub fn check_disk(size: &Size) -> Result<(), String> {
    if size.gib() >= f64::from(BAKE_DISK_GIB) {
        return Ok(());
    }
    Err(format!(
        "a disk of {} is smaller than the {BAKE_DISK_GIB}GiB baked disks VMs boot from, and Lima cannot shrink a disk: use at least {BAKE_DISK_GIB}GiB (or leave `disk` out for Lima's 100GiB)",
        size.as_str()
    ))
}

/// The guest image: one of the named images machine ships, or a disk image location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    Named(String),
    /// An absolute path or a URL, passed to Lima as an `images:` location.
    Location(String),
}

/// A git remote URL that is safe to hand to `git clone --`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RepoUrl(String);

impl RepoUrl {
    /// Accepts `https://`, `ssh://`, `git://` URLs and scp-style `user@host:path`.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.is_empty() {
            return Err("is empty");
        }
        if s.starts_with('-') {
            return Err("starts with `-`, which git would read as an option");
        }
        let transport = s.split_once("::").is_some_and(|(name, _)| {
            name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
        });
        if transport {
            // `ext::<command>`, `fd::<n>` and other `<transport>::<address>` forms run programs.
            return Err("uses git's `<transport>::<address>` form (`ext::`, `fd::`), which runs a program");
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("contains whitespace or control characters");
        }
        let not_a_url = "is not an https://, ssh://, git:// or scp-style (user@host:path) URL";
        let path = if let Some(rest) = ["https://", "ssh://", "git://"].iter().find_map(|p| s.strip_prefix(p)) {
            let (authority, path) = rest.split_once('/').ok_or("names no repository path")?;
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = host
                .rsplit_once(':')
                .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                .map_or(host, |(h, _)| h);
            check_host(host)?;
            if authority.starts_with('-') {
                return Err("has a user starting with `-`, which ssh would read as an option");
            }
            path
        } else if let Some((user_host, path)) = s.split_once(':') {
            if user_host.is_empty() || user_host.contains('/') || path.starts_with("//") {
                return Err(not_a_url);
            }
            let (user, host) = user_host.rsplit_once('@').map_or(("", user_host), |(u, h)| (u, h));
            if user.starts_with('-') {
                return Err("has a user starting with `-`, which ssh would read as an option");
            }
            check_host(host)?;
            path
        } else {
            return Err(not_a_url);
        };
        let url = Self(s.to_string());
        if path.trim_matches('/').is_empty() || matches!(url.dir_name(), "" | "." | "..") {
            return Err("names no repository path");
        }
        Ok(url)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `OWNER/NAME` of a github.com repo (`git@github.com:o/n.git`, `https://github.com/o/n`,
    /// `ssh://git@github.com/o/n.git`); `None` for any other host or shape.
    pub fn github_repo(&self) -> Option<String> {
        let s = self.0.as_str();
        let path = ["https://", "ssh://", "git://"]
            .iter()
            .find_map(|p| s.strip_prefix(p))
            .and_then(|rest| {
                let (authority, path) = rest.split_once('/')?;
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                let host = host.split_once(':').map_or(host, |(h, _)| h);
                host.eq_ignore_ascii_case("github.com").then_some(path)
            })
            .or_else(|| {
                let (user_host, path) = s.split_once(':')?;
                let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
                (!s.contains("://") && host.eq_ignore_ascii_case("github.com")).then_some(path)
            })?;
        let path = path.trim_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let (owner, name) = path.split_once('/')?;
        let plain =
            |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        (plain(owner) && plain(name) && !name.contains('/')).then(|| format!("{owner}/{name}"))
    }

    /// The folder `git clone` creates: the last path segment without `.git`.
    pub fn dir_name(&self) -> &str {
        let trimmed = self.0.trim_end_matches('/');
        let last = trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed);
        last.strip_suffix(".git").unwrap_or(last)
    }
}

/// A host name or address ssh and git take as one: never empty, never option-shaped
/// (`-oProxyCommand=…`), only the characters host names and IP addresses use.
fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("has no host");
    }
    if host.starts_with('-') {
        return Err("has a host starting with `-`, which ssh would read as an option");
    }
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let ok = match bracketed {
        Some(v6) => !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
        None => host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')),
    };
    if ok { Ok(()) } else { Err("has a host that is not a host name or IP address") }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The names machine gives its own Lima instances; no project may take one.
pub const RESERVED_PREFIX: &str = "machine-bake-";

/// Folders and files of machine's own in its state dir, beside the projects' folders: a project
/// of one of these names would share it (and its `destroy` would delete it).
pub const RESERVED_NAMES: [&str; 5] = ["bake", "layers", "locks", "proxy", "trusted.json"];

/// A project name: a Lima instance name in lowercase (folders named after projects must not
/// collide on case-insensitive file systems, such as macOS's), not one of machine's own.
pub fn check_project_name(name: &str) -> Result<(), String> {
    check_instance_name(name)?;
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "has uppercase letters; use lowercase (`{}`): names that differ only in case would share a folder on macOS",
            name.to_ascii_lowercase()
        ));
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(format!("starts with `{RESERVED_PREFIX}`, which machine keeps for its bake VMs"));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!(
            "is the name of one of machine's own folders in its state dir ({})",
            RESERVED_NAMES.join(", ")
        ));
    }
    Ok(())
}

/// Lima's instance-name rule (`[A-Za-z0-9]+([._-][A-Za-z0-9]+)*`, at most 76 characters, not
/// ending in `.yaml`/`.yml`), which also makes the name a safe path component. Lima applies it to
/// the names of the files a template embeds, too.
pub fn check_instance_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > 76 {
        return Err(format!("is {} characters long; Lima allows at most 76", name.len()));
    }
    let mut prev_sep = true;
    for c in name.chars() {
        let sep = matches!(c, '.' | '_' | '-');
        if !(c.is_ascii_alphanumeric() || sep) {
            return Err(format!("contains {c:?}; use letters, digits, and single `-`, `_` or `.` between them"));
        }
        if sep && prev_sep {
            return Err("must start with a letter or digit and not have two separators in a row".into());
        }
        prev_sep = sep;
    }
    if prev_sep {
        return Err("must end with a letter or digit".into());
    }
    let extension = std::path::Path::new(name).extension().unwrap_or_default();
    if extension.eq_ignore_ascii_case("yaml") || extension.eq_ignore_ascii_case("yml") {
        return Err("must not end in .yaml or .yml".into());
    }
    Ok(())
}

/// Turns a folder name into a project name: lowercase, runs of other characters become `-`.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(76).collect::<String>().trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(Size::from_gib(16).unwrap().as_str(), "16GiB");
        assert!(Size::from_gib(0).is_none());
        for ok in ["16GiB", "512MiB", "1.5TiB", "2048KiB"] {
            assert_eq!(Size::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["16", "16G", "16GB", "GiB", "0GiB", "1..5GiB", ".5GiB", "-1GiB", "16 GiB", "1.GiB"] {
            assert!(Size::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn repo_urls() {
        for (url, dir) in [
            ("https://github.com/you/blog.git", "blog"),
            ("https://github.com/you/blog", "blog"),
            ("git@github.com:you/blog.git", "blog"),
            ("ssh://git@host:2222/srv/repo.git", "repo"),
            ("git://host/x/y", "y"),
            ("git@host:repo", "repo"),
            ("ssh://git@[::1]:22/x.git", "x"),
            ("https://user@gitlab.example.com:8443/g/p.git", "p"),
        ] {
            assert_eq!(RepoUrl::parse(url).unwrap().dir_name(), dir, "{url}");
        }
        for bad in [
            "",
            "github.com/you/blog",
            "-oProxyCommand=x",
            "https://github.com/you/blog git",
            "file:///tmp/x",
            "/tmp/repo",
            "https://",
            "https://host",
            "host:",
            "ftp://host/x",
            "https://host/..",
            "ext::sh -c touch% /tmp/pwned",
            "ext::sh",
            "fd::0",
            "fd::7,8",
            "ssh://-oProxyCommand=touch/x",
            "ssh://git@-oProxyCommand=x/y",
            "a@-oProxyCommand=x:y",
            "-a@host:y",
            "https://ho$t/x",
        ] {
            assert!(RepoUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn github_repos() {
        let repo = |s: &str| RepoUrl::parse(s).unwrap().github_repo();
        for url in [
            "git@github.com:you/blog.git",
            "https://github.com/you/blog",
            "https://github.com/you/blog.git/",
            "ssh://git@github.com/you/blog.git",
            "ssh://git@GitHub.com:22/you/blog",
        ] {
            assert_eq!(repo(url).as_deref(), Some("you/blog"), "{url}");
        }
        for url in [
            "git@gitlab.com:you/blog.git",
            "https://github.com/you",
            "https://github.com/a/b/c",
            "https://evil.com/github.com/a/b",
            "git@github.com.evil.com:a/b",
        ] {
            assert_eq!(repo(url), None, "{url}");
        }
    }

    #[test]
    fn project_names_follow_lima() {
        for ok in ["default", "blog", "my-app", "a.b_c", "a1", "machine-bakery", &"x".repeat(76)] {
            assert!(check_project_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "a--b", "a/b", "..", ".", "a b", "é", "x.yaml", &"x".repeat(77)] {
            assert!(check_project_name(bad).is_err(), "{bad}");
            assert!(check_instance_name(bad).is_err(), "{bad}");
        }
        assert!(check_project_name("Blog").unwrap_err().contains("use lowercase (`blog`)"));
        assert!(check_instance_name("Blog").is_ok(), "Lima itself allows uppercase");
        assert!(check_project_name("machine-bake-0123456789abcdef").unwrap_err().contains("bake VMs"));
        for reserved in RESERVED_NAMES {
            assert!(check_project_name(reserved).unwrap_err().contains("machine's own folders"), "{reserved}");
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("My App"), "my-app");
        assert_eq!(slugify("__x__y__"), "x-y");
        assert_eq!(slugify("ÄÖ"), "");
    }
}
