//! Walks a parsed TOML document into the validated model, collecting every problem at once.
//!
//! Parsing is pure: the text arrives in a [`Source`], the known layers in a [`Catalog`], and the
//! result is either the model or the full list of diagnostics (never just the first one).

use std::collections::BTreeMap;
use std::ops::Range;

use toml_edit::{Array, Document, Item, Key, TableLike, Value as TomlValue};

use super::keys::{KeyScope, KeySelector};
use super::model::{Arch, Image, Project, RepoUrl, STANDARD_LAYERS, Shell, Size, VmType, check_project_name};
use super::proxy::{self, ProxySettings};
use super::source::{Diagnostic, Source, did_you_mean};
use super::trust::{Trust, UNTRUSTED_KEYS};
use crate::compiler::layers::Catalog;
use crate::compiler::lima_keys;
use crate::compiler::yaml::{self, Value as Yaml};

/// Top-level keys that are settings rather than projects (`default_profile` is the older form).
pub const TOP_KEYS: [&str; 4] = ["default_profiles", "default_profile", "default_shell", "proxy"];
/// Every key a project table may have.
pub const PROJECT_KEYS: [&str; 15] = [
    "repos",
    "profiles",
    "without",
    "shell",
    "forward_agent",
    "ssh_keys",
    "confirm_signatures",
    "credential_proxy",
    "cpus",
    "memory",
    "disk",
    "image",
    "arch",
    "vm_type",
    "lima",
];
/// Lima keys that have a first-class project key; setting them under `lima` would be ambiguous.
const LIMA_KEYS_OWNED: [(&str, &str); 7] = [
    ("base", "machine composes `base:` itself from the project's layers"),
    ("vmType", "use `vm_type = \"…\"` in the project table"),
    ("arch", "use `arch = \"…\"` in the project table"),
    ("cpus", "use `cpus = N` in the project table"),
    ("memory", "use `memory = \"…GiB\"` in the project table"),
    ("disk", "use `disk = \"…GiB\"` in the project table"),
    ("images", "use `image = \"…\"` in the project table (a named image, a path or a URL)"),
];

/// Top-level settings that apply to every project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    pub profiles: Vec<String>,
    pub shell: Shell,
}

impl Default for Defaults {
    fn default() -> Self {
        Self { profiles: Vec::new(), shell: Shell::Zsh }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectsFile {
    pub defaults: Defaults,
    pub projects: BTreeMap<String, Project>,
    /// The `[proxy]` table: the credential proxy's port and providers.
    pub proxy: ProxySettings,
}

/// The one project a `.machine.toml` defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalProject {
    pub project: Project,
    /// False when the file lists no `repos`: the caller fills in the `origin` remote.
    pub has_repos: bool,
    /// The project keys the file sets (it overrides only these of a `projects.toml` entry).
    pub keys: Vec<String>,
}

pub fn parse_projects_file(src: &Source, catalog: &Catalog) -> Result<ProjectsFile, Vec<Diagnostic>> {
    let doc = parse_toml(src)?;
    let mut w = Walker { src, catalog, errors: Vec::new() };
    let defaults = w.defaults(doc.as_table());
    let proxy = doc.get("proxy").map_or_else(ProxySettings::default, |item| proxy::parse(src, item, &mut w.errors));
    let mut projects = BTreeMap::new();
    for (name, item) in doc.as_table() {
        if TOP_KEYS.contains(&name) {
            continue;
        }
        let key = doc.as_table().key(name);
        let Some(table) = item.as_table_like() else {
            // `default_profile` is only accepted for old files: never suggest it.
            let known = TOP_KEYS.iter().copied().filter(|k| *k != "default_profile");
            let hint = did_you_mean(name, known).map_or_else(
                || format!("projects are tables: write `[{name}]` above the project's keys"),
                |k| format!("did you mean `{k}`?"),
            );
            w.push(w.src.error(span_of_key(key), format!("unknown top-level key `{name}`")).hint(hint));
            continue;
        };
        if let Err(why) = check_project_name(name) {
            w.push(
                w.src
                    .error(span_of_key(key), format!("invalid project name `{name}`: it {why}"))
                    .hint("project names are lowercase Lima instance names, e.g. `my-app`"),
            );
            continue;
        }
        if let Some(project) = w.project(name, table, &defaults, item.span().as_ref(), false) {
            projects.insert(name.to_string(), project);
        }
    }
    w.finish(ProjectsFile { defaults, projects, proxy })
}

/// Parses a `.machine.toml`: one project's keys, plus an optional `name`. Unless the user
/// trusts the file, it may set only what cannot reach the host (see [`trust::UNTRUSTED_KEYS`]).
pub fn parse_local_file(
    src: &Source,
    catalog: &Catalog,
    defaults: &Defaults,
    folder_slug: &str,
    trust: Trust,
) -> Result<LocalProject, Vec<Diagnostic>> {
    let doc = parse_toml(src)?;
    let mut w = Walker { src, catalog, errors: Vec::new() };
    let table = doc.as_table();
    if !trust.is_trusted() {
        w.untrusted_keys(table, trust);
    }
    let name = match table.get("name") {
        Some(item) => {
            let Some(n) = item.as_str() else {
                w.push(w.wrong_type("name", item, "a string"));
                return Err(w.errors);
            };
            if let Err(why) = check_project_name(n) {
                w.push(w.src.error(item.span(), format!("invalid project name `{n}`: it {why}")));
                return Err(w.errors);
            }
            n.to_string()
        }
        None if folder_slug.is_empty() => {
            let d = w.src.error(None, "this folder's name cannot be turned into a project name");
            w.push(d.hint("set `name = \"my-project\"` in this .machine.toml"));
            return Err(w.errors);
        }
        None => match check_project_name(folder_slug) {
            Ok(()) => folder_slug.to_string(),
            Err(why) => {
                let d = w.src.error(None, format!("this folder's name, as project name `{folder_slug}`, {why}"));
                w.push(d.hint("set `name = \"my-project\"` in this .machine.toml"));
                return Err(w.errors);
            }
        },
    };
    let has_repos = table.contains_key("repos");
    let keys = table.iter().map(|(k, _)| k.to_string()).filter(|k| k != "name").collect();
    let project = w.project(&name, table, defaults, None, true);
    w.finish(LocalProject {
        project: project.unwrap_or_else(|| Project::with_defaults(&name, defaults.shell, &defaults.profiles)),
        has_repos,
        keys,
    })
}

/// An untrusted `.machine.toml` setting `what`, and how to trust the file.
pub(super) fn untrusted(src: &Source, span: Option<Range<usize>>, what: &str, trust: Trust) -> Diagnostic {
    let why = match trust {
        Trust::Changed => "this .machine.toml changed since you trusted it",
        _ => "this .machine.toml came with the repository and is not trusted",
    };
    src.error(span, format!("{what} needs a trusted .machine.toml: {why}")).hint(format!(
        "an untrusted file may set only {}; review the file, then run `machine trust {}` (any change to it makes it untrusted again)",
        super::trust::allowed_untrusted(),
        src.path.display()
    ))
}

fn parse_toml(src: &Source) -> Result<Document<String>, Vec<Diagnostic>> {
    Document::parse(src.text.clone()).map_err(|err| {
        let message = err.message().trim_end().to_string();
        vec![src.error(err.span(), format!("invalid TOML: {message}"))]
    })
}

fn span_of_key(key: Option<&Key>) -> Option<Range<usize>> {
    key.and_then(Key::span)
}

fn type_name(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(v) => value_type(v),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

fn value_type(value: &TomlValue) -> &'static str {
    match value {
        TomlValue::String(_) => "a string",
        TomlValue::Integer(_) => "an integer",
        TomlValue::Float(_) => "a float",
        TomlValue::Boolean(_) => "a boolean",
        TomlValue::Datetime(_) => "a date-time",
        TomlValue::Array(_) => "an array",
        TomlValue::InlineTable(_) => "a table",
    }
}

/// A string from the file and where it stands.
type Located<'a> = (&'a str, Option<Range<usize>>);

struct Walker<'a> {
    src: &'a Source,
    catalog: &'a Catalog,
    errors: Vec<Diagnostic>,
}

impl Walker<'_> {
    /// What an untrusted `.machine.toml` may not set: anything that could reach the host, or
    /// loosen the user's own settings.
    fn untrusted_keys(&mut self, table: &toml_edit::Table, trust: Trust) {
        for (key, item) in table {
            let refused = match key {
                "forward_agent" if item.as_bool() == Some(true) => {
                    Some(("`forward_agent = true` (turning agent forwarding on)".to_string(), item.span()))
                }
                "credential_proxy" if item.as_bool() == Some(true) => {
                    Some(("`credential_proxy = true` (turning the credential proxy on)".to_string(), item.span()))
                }
                "image" => item.as_str().filter(|s| !self.catalog.has_image(s)).map(|s| {
                    let what =
                        format!("`image = \"{}\"` (an image path or URL; named images are fine)", s.escape_debug());
                    (what, item.span())
                }),
                "profiles" => {
                    for v in item.as_array().into_iter().flatten() {
                        if let Some(name) = v.as_str().filter(|n| self.is_user_profile(n)) {
                            let what = format!("profile `{name}` (your own, from {})", self.profile_origin(name));
                            self.push(untrusted(self.src, v.span(), &what, trust));
                        }
                    }
                    None
                }
                "confirm_signatures" if item.as_bool() == Some(false) => {
                    Some(("`confirm_signatures = false` (turning confirmation off)".to_string(), item.span()))
                }
                "forward_agent" | "confirm_signatures" | "credential_proxy" => None,
                _ if UNTRUSTED_KEYS.contains(&key) || !PROJECT_KEYS.contains(&key) => None,
                _ => Some((format!("`{key}`"), span_of_key(table.key(key)))),
            };
            if let Some((what, span)) = refused {
                self.push(untrusted(self.src, span, &what, trust));
            }
        }
    }

    fn is_user_profile(&self, name: &str) -> bool {
        self.catalog.profile_origin(name).is_some_and(|o| matches!(o, crate::compiler::layers::Origin::User(_)))
    }

    fn profile_origin(&self, name: &str) -> String {
        match self.catalog.profile_origin(name) {
            Some(crate::compiler::layers::Origin::User(path)) => path.display().to_string(),
            _ => "your profiles folder".to_string(),
        }
    }

    fn push(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<Diagnostic>> {
        if self.errors.is_empty() { Ok(value) } else { Err(self.errors) }
    }

    fn wrong_type(&self, key: &str, item: &Item, expected: &str) -> Diagnostic {
        self.src.error(item.span(), format!("`{key}` must be {expected}, not {}", type_name(item)))
    }

    fn defaults(&mut self, top: &toml_edit::Table) -> Defaults {
        let mut defaults = Defaults::default();
        match (top.get("default_profiles"), top.get("default_profile")) {
            (Some(_), Some(old)) => {
                let d = self.src.error(old.span(), "`default_profile` and `default_profiles` are both set");
                self.push(d.hint("keep only `default_profiles = [\"…\"]`"));
            }
            (Some(list), None) => defaults.profiles = self.profile_list("default_profiles", list),
            (None, Some(old)) => {
                if let Some(name) = old.as_str() {
                    defaults.profiles = self.check_profiles("default_profile", &[(name, old.span())]);
                } else {
                    self.push(self.wrong_type("default_profile", old, "a string (or use `default_profiles = [...]`)"));
                }
            }
            (None, None) => {}
        }
        if let Some(item) = top.get("default_shell") {
            defaults.shell = self.shell("default_shell", item).unwrap_or_default();
        }
        defaults
    }

    fn project(
        &mut self,
        name: &str,
        table: &dyn TableLike,
        defaults: &Defaults,
        header: Option<&Range<usize>>,
        allow_name: bool,
    ) -> Option<Project> {
        let before = self.errors.len();
        let mut p = Project::with_defaults(name, defaults.shell, &defaults.profiles);
        p.defined_in = Some(self.src.path.clone());
        let mut profiles_span = header.cloned();
        for (key, item) in table.iter() {
            match key {
                "name" if allow_name => {}
                "repos" => p.repos = self.repos(item),
                "profiles" => {
                    profiles_span = item.span();
                    p.profiles = self.profile_list("profiles", item);
                }
                "without" => p.without = self.without(item),
                "shell" => p.shell = self.shell(key, item).unwrap_or_default(),
                "forward_agent" => match item.as_bool() {
                    Some(b) => p.forward_agent = b,
                    None => self.push(self.wrong_type(key, item, "true or false")),
                },
                "ssh_keys" => p.ssh_keys = KeyScope::only(self.ssh_keys(item)),
                "confirm_signatures" => match item.as_bool() {
                    Some(b) => p.confirm_signatures = b,
                    None => self.push(self.wrong_type(key, item, "true or false")),
                },
                "credential_proxy" => match item.as_bool() {
                    Some(b) => p.credential_proxy = b,
                    None => self.push(self.wrong_type(key, item, "true or false")),
                },
                // A provider decides where a credential is sent: only the user's own file says.
                "proxy" if allow_name => {
                    let span = span_of_key(table.key(key));
                    let d = self.src.error(span, "a .machine.toml cannot set `[proxy]`, trusted or not");
                    self.push(d.hint("the credential proxy's providers and settings belong in your own projects.toml"));
                }
                "cpus" => p.cpus = self.cpus(item),
                "memory" => p.memory = self.size(key, item),
                "disk" => {
                    p.disk = self.size(key, item);
                    if let Some(Err(why)) = p.disk.as_ref().map(super::model::check_disk) {
                        self.push(self.src.error(item.span(), format!("`disk`: {why}")));
                    }
                }
                "image" => {
                    if let Some(image) = self.image(item) {
                        p.image = image;
                    }
                }
                "arch" => p.arch = self.enum_value(key, item, &["x86_64", "aarch64"]).and_then(|s| Arch::parse(&s)),
                "vm_type" => p.vm_type = self.enum_value(key, item, &["vz", "qemu"]).and_then(|s| VmType::parse(&s)),
                "lima" => p.lima = self.lima(item),
                _ => {
                    let span = span_of_key(table.key(key));
                    let hint = if item.is_table_like() && matches!(name, "projects" | "project") {
                        // `[projects.blog]` is the shape other tools use; here a project is the table.
                        format!("a project is a top-level table: write `[{key}]`, not `[{name}.{key}]`")
                    } else {
                        did_you_mean(key, PROJECT_KEYS).map_or_else(
                            || format!("known keys: {}", PROJECT_KEYS.join(", ")),
                            |k| format!("did you mean `{k}`?"),
                        )
                    };
                    self.push(self.src.error(span, format!("unknown key `{key}` in project `{name}`")).hint(hint));
                }
            }
        }
        self.check_requires(&p, profiles_span.as_ref(), table);
        (self.errors.len() == before).then_some(p)
    }

    fn string_array<'i>(&mut self, key: &str, item: &'i Item) -> Option<Vec<Located<'i>>> {
        let Some(array) = item.as_array() else {
            self.push(self.wrong_type(key, item, "an array of strings"));
            return None;
        };
        Some(self.strings_of(key, array))
    }

    fn strings_of<'i>(&mut self, key: &str, array: &'i Array) -> Vec<Located<'i>> {
        let mut out = Vec::new();
        for v in array {
            if let Some(s) = v.as_str() {
                out.push((s, v.span()));
            } else {
                let d = self.src.error(v.span(), format!("`{key}` entries must be strings, not {}", value_type(v)));
                self.push(d);
            }
        }
        out
    }

    fn repos(&mut self, item: &Item) -> Vec<RepoUrl> {
        let Some(entries) = self.string_array("repos", item) else { return Vec::new() };
        let mut repos: Vec<RepoUrl> = Vec::new();
        // Folder name → the repo that takes it (a map: a list search is quadratic in the repos).
        let mut folders: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (s, span) in entries {
            match RepoUrl::parse(s) {
                Ok(url) => {
                    if let Some(&other) = folders.get(url.dir_name()) {
                        let (other, dir) = (&repos[other], url.dir_name());
                        let d = self.src.error(span, format!("`{s}` would clone into ~/code/{dir} like `{other}`"));
                        self.push(d.hint("each repo of a project needs its own folder name"));
                    } else {
                        folders.insert(url.dir_name().to_string(), repos.len());
                        repos.push(url);
                    }
                }
                Err(why) => {
                    let d = self.src.error(span, format!("repo URL `{}` {why}", s.escape_debug()));
                    self.push(d.hint("use e.g. `git@github.com:you/app.git` or `https://github.com/you/app.git`"));
                }
            }
        }
        repos
    }

    /// `ssh_keys`: fingerprints or comments, each once.
    fn ssh_keys(&mut self, item: &Item) -> Vec<KeySelector> {
        let Some(entries) = self.string_array("ssh_keys", item) else { return Vec::new() };
        let mut out: Vec<KeySelector> = Vec::new();
        for (text, span) in entries {
            match KeySelector::parse(text) {
                Ok(key) if out.contains(&key) => {
                    self.push(self.src.error(span, format!("`{}` is listed twice in `ssh_keys`", text.escape_debug())));
                }
                Ok(key) => out.push(key),
                Err(why) => {
                    let d = self.src.error(span, format!("`ssh_keys` entry `{}` {why}", text.escape_debug()));
                    self.push(d.hint(
                        "name a key by its fingerprint (`SHA256:…`, as `ssh-add -l` or `ssh-keygen -lf KEY.pub` prints it) or by its comment",
                    ));
                }
            }
        }
        out
    }

    fn profile_list(&mut self, key: &str, item: &Item) -> Vec<String> {
        let Some(entries) = self.string_array(key, item) else { return Vec::new() };
        self.check_profiles(key, &entries)
    }

    fn check_profiles(&mut self, key: &str, entries: &[Located<'_>]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (name, span) in entries {
            if STANDARD_LAYERS.contains(name) || *name == "core" {
                let d = self.src.error(span.clone(), format!("`{name}` is a standard layer, not a profile"));
                self.push(d.hint("standard layers are included unless listed in `without = [...]`"));
            } else if let Some(why) = self.catalog.broken_profile(name) {
                let d = self.src.error(span.clone(), format!("profile `{name}` in `{key}` does not load"));
                self.push(d.hint("fix the profile (its errors follow), or take it out of this list"));
                for d in why {
                    self.push(d.clone());
                }
            } else if self.catalog.profile_origin(name).is_none() {
                let known = self.catalog.profile_names();
                let hint = did_you_mean(name, known.iter().copied()).map_or_else(
                    || format!("available profiles: {} (see `machine profiles`)", known.join(", ")),
                    |k| format!("did you mean `{k}`?"),
                );
                self.push(self.src.error(span.clone(), format!("unknown profile `{name}` in `{key}`")).hint(hint));
            } else if out.iter().any(|p| p == name) {
                self.push(self.src.error(span.clone(), format!("profile `{name}` is listed twice")));
            } else {
                out.push((*name).to_string());
            }
        }
        out
    }

    fn without(&mut self, item: &Item) -> Vec<String> {
        let Some(entries) = self.string_array("without", item) else { return Vec::new() };
        let mut out: Vec<String> = Vec::new();
        for (name, span) in entries {
            if name == "standard" {
                out.extend(STANDARD_LAYERS.iter().map(ToString::to_string));
            } else if STANDARD_LAYERS.contains(&name) {
                out.push(name.to_string());
            } else {
                let hint = did_you_mean(name, STANDARD_LAYERS).map_or_else(
                    || format!("standard layers: {} (or \"standard\" for all of them)", STANDARD_LAYERS.join(", ")),
                    |k| format!("did you mean `{k}`?"),
                );
                self.push(self.src.error(span, format!("`{name}` is not a standard layer")).hint(hint));
            }
        }
        out.sort_by_key(|l| STANDARD_LAYERS.iter().position(|s| s == l));
        out.dedup();
        out
    }

    /// Every layer's `requires` must be met by a layer earlier in the chain.
    fn check_requires(&mut self, p: &Project, profiles_span: Option<&Range<usize>>, table: &dyn TableLike) {
        let mut chain: Vec<&str> = vec!["core"];
        chain.extend(p.standard_layers());
        let standard = chain.len();
        chain.extend(p.profiles.iter().map(String::as_str));
        for (i, layer) in chain.iter().enumerate() {
            for needed in self.catalog.requires(layer) {
                if chain[..i].contains(&needed.as_str()) {
                    continue;
                }
                let (span, hint) = if i < standard {
                    let span = table.get("without").and_then(Item::span);
                    (span, format!("also add \"{layer}\" to `without`, or keep `{needed}`"))
                } else if p.without.iter().any(|w| w == needed) {
                    let span = table.get("without").and_then(Item::span);
                    (span, format!("remove \"{needed}\" from `without`"))
                } else {
                    (profiles_span.cloned(), format!("list `{needed}` before `{layer}` in `profiles`"))
                };
                self.push(
                    self.src.error(span, format!("layer `{layer}` needs `{needed}` earlier in the stack")).hint(hint),
                );
            }
        }
    }

    fn shell(&mut self, key: &str, item: &Item) -> Option<Shell> {
        self.enum_value(key, item, &["zsh", "bash"]).and_then(|s| Shell::parse(&s))
    }

    fn enum_value(&mut self, key: &str, item: &Item, allowed: &[&str]) -> Option<String> {
        let expected = allowed.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(" or ");
        let Some(s) = item.as_str() else {
            self.push(self.wrong_type(key, item, &expected));
            return None;
        };
        if allowed.contains(&s) {
            return Some(s.to_string());
        }
        let hint = did_you_mean(s, allowed.iter().copied()).map(|k| format!("did you mean \"{k}\"?"));
        self.push(
            self.src
                .error(item.span(), format!("`{key}` must be {expected}, not \"{}\"", s.escape_debug()))
                .maybe_hint(hint),
        );
        None
    }

    fn cpus(&mut self, item: &Item) -> Option<u32> {
        match item.as_integer() {
            Some(n) if (1..=1024).contains(&n) => u32::try_from(n).ok(),
            Some(n) => {
                self.push(self.src.error(item.span(), format!("`cpus` must be between 1 and 1024, not {n}")));
                None
            }
            None => {
                self.push(self.wrong_type("cpus", item, "a positive integer").hint("write e.g. `cpus = 4`"));
                None
            }
        }
    }

    fn size(&mut self, key: &str, item: &Item) -> Option<Size> {
        let size = match item {
            _ if item.as_integer().is_some() => {
                item.as_integer().and_then(|n| u64::try_from(n).ok()).and_then(Size::from_gib)
            }
            _ if item.as_str().is_some() => item.as_str().and_then(Size::parse),
            _ => {
                let hint = format!("write e.g. `{key} = 16` (GiB) or `{key} = \"16GiB\"`");
                self.push(self.wrong_type(key, item, "an integer (GiB) or a size string").hint(hint));
                return None;
            }
        };
        if size.is_none() {
            let shown = item.as_value().map_or_else(String::new, |v| v.to_string().trim().to_string());
            let d = self.src.error(item.span(), format!("`{key}` = {shown} is not a valid size"));
            self.push(d.hint(format!("use a positive number of GiB (`{key} = 16`) or a size with a binary unit: \"512MiB\", \"16GiB\", \"1TiB\"")));
        }
        size
    }

    /// A named image, or a disk image given by URL or path (relative to the file it is in).
    fn image(&mut self, item: &Item) -> Option<Image> {
        let Some(s) = item.as_str().filter(|s| !s.is_empty() && !s.chars().any(char::is_control)) else {
            self.push(self.wrong_type("image", item, "a non-empty string"));
            return None;
        };
        if self.catalog.has_image(s) {
            return Some(Image::Named(s.to_string()));
        }
        if ["https://", "http://", "file://", "/", "~/"].iter().any(|p| s.starts_with(p)) {
            return Some(Image::Location(s.to_string()));
        }
        let disk_suffix = [".img", ".qcow2", ".raw", ".iso"].iter().any(|e| s.contains(e));
        if s.contains('/') || disk_suffix {
            let base = self.src.path.parent().unwrap_or(std::path::Path::new("."));
            return Some(Image::Location(base.join(s).display().to_string()));
        }
        let known = self.catalog.image_names();
        let hint = did_you_mean(s, known.iter().copied()).map_or_else(
            || format!("named images: {}; or give a disk image path or URL", known.join(", ")),
            |k| format!("did you mean `{k}`?"),
        );
        self.push(self.src.error(item.span(), format!("unknown image `{s}`")).hint(hint));
        None
    }

    fn lima(&mut self, item: &Item) -> BTreeMap<String, Yaml> {
        let mut out = BTreeMap::new();
        let Some(table) = item.as_table_like() else {
            self.push(self.wrong_type("lima", item, "a table of Lima template keys"));
            return out;
        };
        for (key, value) in table.iter() {
            let span = span_of_key(table.key(key));
            if let Some((_, why)) = LIMA_KEYS_OWNED.iter().find(|(k, _)| *k == key) {
                self.push(self.src.error(span, format!("`lima.{key}` is managed by machine")).hint(*why));
            } else if key == "ssh" && value.as_table_like().is_some_and(|t| t.contains_key("forwardAgent")) {
                let d = self.src.error(span, "`lima.ssh.forwardAgent` is managed by machine");
                self.push(d.hint("use `forward_agent = false` in the project table"));
            } else if !lima_keys::TOP_LEVEL.contains(&key) {
                let hint = did_you_mean(key, lima_keys::TOP_LEVEL.iter().copied()).map_or_else(
                    || "see Lima's templates/default.yaml for the keys it knows".to_string(),
                    |k| format!("did you mean `{k}`?"),
                );
                self.push(self.src.error(span, format!("`{key}` is not a Lima template key")).hint(hint));
            } else if let Some(v) = self.passthrough(key, value) {
                out.insert(key.to_string(), v);
            }
        }
        out
    }

    /// Converts passthrough TOML to YAML, refusing `{{` (in keys too) so no text reaches
    /// Lima's Go templates, and the key `<<`, which YAML readers take for a merge key.
    fn passthrough(&mut self, path: &str, item: &Item) -> Option<Yaml> {
        if let Some(table) = item.as_table_like() {
            let mut map = yaml::Mapping::new();
            for (k, v) in table.iter() {
                let key = self.passthrough_key(path, k, span_of_key(table.key(k)))?;
                map.insert(key, self.passthrough(&format!("{path}.{k}"), v)?);
            }
            return Some(Yaml::Mapping(map));
        }
        if let Some(tables) = item.as_array_of_tables() {
            let mut seq = Vec::new();
            for t in tables {
                let mut map = yaml::Mapping::new();
                for (k, v) in t {
                    let key = self.passthrough_key(path, k, span_of_key(t.key(k)))?;
                    map.insert(key, self.passthrough(&format!("{path}.{k}"), v)?);
                }
                seq.push(Yaml::Mapping(map));
            }
            return Some(Yaml::Sequence(seq));
        }
        let value = item.as_value()?;
        self.value_to_yaml(path, value)
    }

    fn passthrough_key(&mut self, path: &str, key: &str, span: Option<Range<usize>>) -> Option<Yaml> {
        let refused = if key == "<<" {
            "is `<<`, which Lima's YAML reader takes for a merge key"
        } else if key.contains("{{") {
            "contains `{{`, which Lima would expand as a Go template"
        } else {
            return Some(yaml::string(key));
        };
        let d = self.src.error(span, format!("a key in `lima.{path}` {refused}"));
        self.push(d.hint("rename the key"));
        None
    }

    fn value_to_yaml(&mut self, path: &str, value: &TomlValue) -> Option<Yaml> {
        Some(match value {
            TomlValue::String(s) => {
                let s = s.value();
                if s.contains("{{") {
                    let d = self.src.error(
                        value.span(),
                        format!("`lima.{path}` contains `{{{{`, which Lima would expand as a Go template"),
                    );
                    self.push(
                        d.hint("put templated provisioning in a profile (<config dir>/profiles/NAME.yaml) instead"),
                    );
                    return None;
                }
                yaml::string(s.as_str())
            }
            TomlValue::Integer(i) => Yaml::Number((*i.value()).into()),
            TomlValue::Float(f) => Yaml::Number((*f.value()).into()),
            TomlValue::Boolean(b) => Yaml::Bool(*b.value()),
            TomlValue::Datetime(d) => yaml::string(d.value().to_string()),
            TomlValue::Array(a) => {
                let mut seq = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    seq.push(self.value_to_yaml(&format!("{path}[{i}]"), v)?);
                }
                Yaml::Sequence(seq)
            }
            TomlValue::InlineTable(t) => {
                let mut map = yaml::Mapping::new();
                for (k, v) in t {
                    let key = self.passthrough_key(path, k, t.key(k).and_then(Key::span))?;
                    map.insert(key, self.value_to_yaml(&format!("{path}.{k}"), v)?);
                }
                Yaml::Mapping(map)
            }
        })
    }
}
