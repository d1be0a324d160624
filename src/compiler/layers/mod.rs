//! The catalog of layers a stack can be built from: machine's built-in layers (embedded in the
//! binary) and the user's own profiles from `<config dir>/profiles/`, which shadow built-ins.
//!
//! A layer is a Lima template fragment plus the local files its `file:` locators name. Layers are
//! checked here against the Lima rules the JSON schema does not cover, so a bad user profile is
//! reported with its file before anything reaches Lima.

mod embedded;
mod parse;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use parse::{Header, parse_layer};

use crate::compiler::config::model::STANDARD_LAYERS;
use crate::compiler::config::source::Diagnostic;
use crate::compiler::yaml::Mapping;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Core,
    Standard,
    Profile,
    Image,
}

/// Where a layer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    /// A user profile; the path of the file that defines it.
    User(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LayerDef {
    pub name: String,
    pub kind: LayerKind,
    pub origin: Origin,
    pub header: Header,
    /// The template fragment's source text, exactly as written.
    pub text: String,
    /// The parsed fragment (with a user profile's script attached).
    pub body: Mapping,
    /// Local files the fragment's `file:` locators name, by their relative path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The parts of the layer that can name a param (see `compile::param_references`).
    pub param_refs: Vec<String>,
}

/// A layer in the catalog: what the configuration checks need (kind, origin, header) at once,
/// the parsed definition on first use. A built-in layer's YAML is parsed only when a stack or a
/// listing uses it, so `list`, `status` and the configuration checks never parse one.
#[derive(Debug, Clone)]
struct Slot {
    kind: LayerKind,
    origin: Origin,
    header: Header,
    /// A built-in layer's path in the embedded tree (its definition is parsed from there).
    builtin: Option<&'static str>,
    def: OnceLock<LayerDef>,
}

impl Slot {
    fn ready(layer: LayerDef) -> Self {
        Self {
            kind: layer.kind,
            origin: layer.origin.clone(),
            header: layer.header.clone(),
            builtin: None,
            def: OnceLock::from(layer),
        }
    }

    fn def(&self, name: &str) -> &LayerDef {
        self.def.get_or_init(|| {
            let path = self.builtin.expect("only a built-in layer's definition is parsed on first use");
            let text = String::from_utf8_lossy(embedded_file(path).unwrap_or_default());
            let read = |rel: &str| embedded_file(rel).map(<[u8]>::to_vec);
            match parse_layer(name, self.kind, Origin::Builtin, Path::new(path), &text, &read, None) {
                Ok(layer) => layer,
                // The test suite parses every built-in layer, so this is a build defect.
                Err(errors) => panic!("built-in layer {path} is invalid:\n{}", render(&errors)),
            }
        })
    }
}

/// The embedded `templates/`, `provision/` and `files/` as a tree, for [`Catalog::from_tree`].
pub fn embedded_tree() -> BTreeMap<String, Vec<u8>> {
    embedded::FILES.iter().map(|(path, bytes)| ((*path).to_string(), bytes.to_vec())).collect()
}

fn embedded_file(path: &str) -> Option<&'static [u8]> {
    embedded::FILES.iter().find(|(p, _)| *p == path).map(|(_, bytes)| *bytes)
}

/// A layer's name and kind from its path in the tree (`templates/NAME.yaml`,
/// `templates/images/NAME.yaml`); `None` for any other file.
fn layer_path(path: &str) -> Option<(&str, LayerKind)> {
    let stem = path.strip_prefix("templates/")?.strip_suffix(".yaml")?;
    Some(match stem.strip_prefix("images/") {
        Some(image) => (image, LayerKind::Image),
        None if stem == "core" => (stem, LayerKind::Core),
        None if STANDARD_LAYERS.contains(&stem) => (stem, LayerKind::Standard),
        None => (stem, LayerKind::Profile),
    })
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    layers: BTreeMap<String, Slot>,
    images: BTreeMap<String, Slot>,
    /// User profiles that failed to load, with why: an error only for a project that uses one.
    broken: BTreeMap<String, Vec<Diagnostic>>,
}

impl Catalog {
    /// The layers built into this binary (each parsed when first used).
    pub fn builtin() -> Self {
        let mut catalog = Self::default();
        for (path, bytes) in embedded::FILES {
            let Some((name, kind)) = layer_path(path) else { continue };
            let header = parse::parse_header(&String::from_utf8_lossy(parse::header_lines(bytes)));
            let slot = Slot { kind, origin: Origin::Builtin, header, builtin: Some(path), def: OnceLock::new() };
            catalog.insert_slot(name, slot);
        }
        catalog
    }

    /// Builds a catalog from a tree of `templates/…`, `provision/…` and `files/…` paths, parsing
    /// and checking every layer now.
    pub fn from_tree(tree: &BTreeMap<String, Vec<u8>>) -> Result<Self, Vec<Diagnostic>> {
        let mut catalog = Self::default();
        let mut errors = Vec::new();
        let read = |rel: &str| tree.get(rel).cloned();
        for (path, bytes) in tree {
            let Some((name, kind)) = layer_path(path) else { continue };
            let text = String::from_utf8_lossy(bytes).into_owned();
            let display = Path::new(path);
            match parse_layer(name, kind, Origin::Builtin, display, &text, &read, None) {
                Ok(layer) => catalog.insert(layer),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() { Ok(catalog) } else { Err(errors) }
    }

    /// Adds the user's profiles from `dir` (`NAME.yaml` and/or `NAME.sh`); they shadow built-ins.
    pub fn add_user_profiles(&mut self, dir: &Path) -> Result<(), Vec<Diagnostic>> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(vec![Diagnostic::whole_file(dir, format!("cannot read the profiles folder: {e}"))]),
        };
        let mut names = std::collections::BTreeSet::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str());
            if matches!(ext, Some("yaml" | "sh"))
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                names.insert(stem.to_string());
            }
        }
        let mut errors = Vec::new();
        for name in names {
            match load_user_profile(dir, &name) {
                Ok(layer) => self.insert(layer),
                Err(e) => {
                    errors.extend(e.iter().cloned());
                    self.broken.insert(name, e);
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Why the user profile `name` did not load, when it did not.
    pub fn broken_profile(&self, name: &str) -> Option<&[Diagnostic]> {
        self.broken.get(name).map(Vec::as_slice)
    }

    /// The user profiles that did not load, by name.
    pub fn broken_profiles(&self) -> impl Iterator<Item = (&str, &[Diagnostic])> {
        self.broken.iter().map(|(name, d)| (name.as_str(), d.as_slice()))
    }

    fn insert(&mut self, layer: LayerDef) {
        let name = layer.name.clone();
        self.insert_slot(&name, Slot::ready(layer));
    }

    fn insert_slot(&mut self, name: &str, slot: Slot) {
        let map = if slot.kind == LayerKind::Image { &mut self.images } else { &mut self.layers };
        map.insert(name.to_string(), slot);
    }

    /// Any non-image layer by name: core, a standard layer or a profile.
    pub fn layer(&self, name: &str) -> Option<&LayerDef> {
        self.layers.get(name).map(|slot| slot.def(name))
    }

    /// A layer a project may list in `profiles`.
    pub fn profile(&self, name: &str) -> Option<&LayerDef> {
        self.layers.get(name).filter(|slot| slot.kind == LayerKind::Profile).map(|slot| slot.def(name))
    }

    /// Where the non-image layer `name` comes from (a user's file may shadow a built-in core or
    /// standard layer as well as a profile), without parsing it.
    pub fn layer_origin(&self, name: &str) -> Option<&Origin> {
        self.layers.get(name).map(|slot| &slot.origin)
    }

    /// Where the profile `name` comes from, when there is one (without parsing it).
    pub fn profile_origin(&self, name: &str) -> Option<&Origin> {
        self.layers.get(name).filter(|slot| slot.kind == LayerKind::Profile).map(|slot| &slot.origin)
    }

    pub fn profile_names(&self) -> Vec<&str> {
        self.layers.iter().filter(|(_, slot)| slot.kind == LayerKind::Profile).map(|(name, _)| name.as_str()).collect()
    }

    /// Every non-image layer, core first, then standard layers, then profiles by name.
    pub fn layers(&self) -> Vec<&LayerDef> {
        let mut all: Vec<&LayerDef> = self.layers.iter().map(|(name, slot)| slot.def(name)).collect();
        all.sort_by_key(|l| {
            (
                l.kind != LayerKind::Core,
                l.kind != LayerKind::Standard,
                STANDARD_LAYERS.iter().position(|s| *s == l.name),
            )
        });
        all
    }

    pub fn image(&self, name: &str) -> Option<&LayerDef> {
        self.images.get(name).map(|slot| slot.def(name))
    }

    pub fn has_image(&self, name: &str) -> bool {
        self.images.contains_key(name)
    }

    pub fn image_names(&self) -> Vec<&str> {
        self.images.keys().map(String::as_str).collect()
    }

    pub fn images(&self) -> impl Iterator<Item = &LayerDef> {
        self.images.iter().map(|(name, slot)| slot.def(name))
    }

    /// The layers that must come earlier in the chain than `name`.
    pub fn requires(&self, name: &str) -> &[String] {
        self.layers.get(name).map_or(&[], |slot| slot.header.requires.as_slice())
    }
}

/// A user profile: `NAME.yaml` (optional) and `NAME.sh` (optional, run as root at every boot
/// unless the YAML lists it itself).
fn load_user_profile(dir: &Path, name: &str) -> Result<LayerDef, Vec<Diagnostic>> {
    let yaml_path = dir.join(format!("{name}.yaml"));
    let script = format!("{name}.sh");
    let shown = if yaml_path.exists() { yaml_path.clone() } else { dir.join(&script) };
    if let Err(why) = parse::check_layer_name(name) {
        return Err(vec![Diagnostic::whole_file(&shown, format!("profile name `{name}` {why}"))]);
    }
    let text = match std::fs::read_to_string(&yaml_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(vec![Diagnostic::whole_file(&yaml_path, format!("cannot read: {e}"))]),
    };
    let read = |rel: &str| std::fs::read(dir.join(rel)).ok();
    let attach = dir.join(&script).is_file().then_some(script.as_str());
    let kind = match name {
        "core" => LayerKind::Core,
        n if STANDARD_LAYERS.contains(&n) => LayerKind::Standard,
        _ => LayerKind::Profile,
    };
    let mut layer = parse_layer(name, kind, Origin::User(shown.clone()), &shown, &text, &read, attach)?;
    // A script-only profile (or a YAML one without a header) says what it is in the script's
    // leading comments, after the `#!` line.
    if layer.header == Header::default()
        && let Some(script) = attach.and_then(|s| std::fs::read_to_string(dir.join(s)).ok())
    {
        let comments = script.lines().skip_while(|l| l.starts_with("#!")).collect::<Vec<_>>().join("\n");
        layer.header = parse::parse_header(&comments);
    }
    Ok(layer)
}

/// Renders diagnostics one after another, as the CLI prints them.
pub fn render(errors: &[Diagnostic]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n\n")
}
