//! The pure compiler: a project, the layer catalog and host facts in; a Lima template stack out.
//!
//! The stack is a linear chain (image → core → standard layers → profiles in config order), one
//! `base:` per file, so Lima runs the lowest layer's provisioning first. Each chain node lives in
//! a content-addressed folder whose key covers everything that went into it and everything below
//! it, which is also the bake-cache key of that prefix. The instance's own `lima.yaml` sits on
//! top: resources, agent forwarding, a cached disk, params, and the user's `lima` passthrough.
//!
//! Nothing here touches the file system or spawns a process; [`crate::driver::stack`] writes the result.

mod key;
mod params;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use key::{ChainKey, hex, inputs_key};
pub use params::{PARAMS, param_references, uses_param};

use crate::compiler::config::model::{Arch, Image, Project, VmType};
use crate::compiler::layers::{Catalog, LayerDef, Origin};
use crate::compiler::yaml::{self, Mapping, Value};
use crate::error::{Error, Result};

/// Host operating system, as far as Lima cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOs {
    Macos,
    Linux,
}

/// The git identity the guest is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
    /// An SSH public key line (`ssh-ed25519 AAAA… comment`), or empty.
    pub signing_key: String,
}

/// Everything about the host the compiler needs, gathered beforehand.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub os: HostOs,
    pub arch: Arch,
    pub identity: Identity,
    /// Root of generated state: layers go to `<state>/layers`, instances to `<state>/<project>`.
    pub state_dir: PathBuf,
    /// Baked disks by the full chain key of the prefix they were baked from.
    pub cached_disks: BTreeMap<String, PathBuf>,
    /// A disk that already holds the whole stack (a project's golden disk): when set, the
    /// instance boots from it instead of the longest baked prefix.
    pub boot_disk: Option<PathBuf>,
}

/// One node of the chain, ready to be written to `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledLayer {
    pub name: String,
    /// `built-in`, or the user profile's path.
    pub origin: String,
    pub key: ChainKey,
    pub dir: PathBuf,
    pub yaml: String,
    /// Files the YAML names by relative path, to be written next to it.
    pub files: Vec<(String, Vec<u8>)>,
    /// How many `provision` entries the layer adds to Lima's list.
    pub provision: usize,
}

impl CompiledLayer {
    pub fn path(&self) -> PathBuf {
        self.dir.join("lima.yaml")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub project: String,
    pub vm_type: VmType,
    pub arch: Arch,
    /// Lowest first.
    pub layers: Vec<CompiledLayer>,
    pub instance_path: PathBuf,
    pub instance_yaml: String,
    /// The cached disk the instance boots from, and how many layers it already contains.
    pub cached_disk: Option<(usize, PathBuf)>,
    /// Things that are not errors but that `up` would refuse or the user should know.
    pub warnings: Vec<String>,
    /// How many `provision` entries the instance file itself adds (from the `lima` table).
    pub instance_provision: usize,
}

/// Who added the entries of the instance's `lima` table to Lima's provision list.
pub const LIMA_TABLE_OWNER: &str = "the project's `lima` table";

impl Stack {
    /// The key of the whole chain: equal keys mean equal guests, up to the instance layer.
    pub fn key(&self) -> &ChainKey {
        &self.layers.last().expect("a stack always has an image and a core layer").key
    }

    /// The layer each entry of Lima's final `provision` list comes from, by index: Lima puts a
    /// base's entries before the template's, so the lowest layer's come first and the instance
    /// file's last. A failing script is named by that index (`provision.<mode>/<index>`).
    pub fn provision_owners(&self) -> Vec<String> {
        let mut owners = self.prefix_provision_owners(self.layers.len());
        owners.extend(std::iter::repeat_n(LIMA_TABLE_OWNER.to_string(), self.instance_provision));
        owners
    }

    /// As [`Self::provision_owners`] for the first `len` layers alone (a bake VM's list).
    pub fn prefix_provision_owners(&self, len: usize) -> Vec<String> {
        self.layers[..len].iter().flat_map(|l| std::iter::repeat_n(l.name.clone(), l.provision)).collect()
    }
}

pub fn compile(project: &Project, catalog: &Catalog, host: &HostFacts) -> Result<Stack> {
    let (vm_type, arch) = machine_type(project, host)?;
    check_identity(&host.identity)?;
    let chain = layer_chain(project, catalog)?;
    let layers_root = host.state_dir.join("layers");
    let mut key = ChainKey::seed(arch, vm_type);
    let mut layers: Vec<CompiledLayer> = Vec::new();
    for def in &chain {
        let body_yaml = yaml::mapping_to_string(&def.body);
        key = key.extend(def, &body_yaml);
        let dir = layers_root.join(key.short());
        let base = layers.last().map(CompiledLayer::path);
        layers.push(CompiledLayer {
            name: def.name.clone(),
            origin: match &def.origin {
                Origin::Builtin => "built-in".to_string(),
                Origin::User(p) => p.display().to_string(),
            },
            key: key.clone(),
            dir,
            yaml: layer_yaml(def, &body_yaml, base.as_deref()),
            files: def.files.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            provision: provision_len(&def.body),
        });
    }
    check_size(&project.name, &layers)?;
    let cached_disk = host.boot_disk.clone().map(|disk| (layers.len(), disk)).or_else(|| {
        layers
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, l)| host.cached_disks.get(l.key.full()).map(|p| (i + 1, p.clone())))
    });
    let mut warnings: Vec<String> = crate::compiler::config::reach::host_reach(&project.lima, project.config_dir())
        .into_iter()
        .map(|what| format!("project `{}` lets its VM reach the host: {what}", project.name))
        .collect();
    let params = declared_params(project, host, &chain, &mut warnings)?;
    let top = layers.last().expect("the chain has at least two layers").path();
    let instance = instance_yaml(project, vm_type, arch, &top, cached_disk.as_ref().map(|(_, p)| p.as_path()), params);
    Ok(Stack {
        project: project.name.clone(),
        vm_type,
        arch,
        layers,
        instance_path: host.state_dir.join(&project.name).join("lima.yaml"),
        instance_yaml: instance,
        cached_disk,
        warnings,
        instance_provision: project.lima.get("provision").and_then(Value::as_sequence).map_or(0, Vec::len),
    })
}

fn provision_len(body: &Mapping) -> usize {
    body.get("provision").and_then(Value::as_sequence).map_or(0, Vec::len)
}

pub use crate::compiler::config::model::BAKE_DISK_GIB;

/// Lima embeds every base and file into one template and refuses more than 4 MiB.
const LIMA_EMBED_LIMIT: usize = 4 * 1024 * 1024;

fn check_size(project: &str, layers: &[CompiledLayer]) -> Result<()> {
    let total: usize = layers.iter().map(|l| l.yaml.len() + l.files.iter().map(|(_, b)| b.len()).sum::<usize>()).sum();
    if total <= LIMA_EMBED_LIMIT {
        return Ok(());
    }
    let biggest =
        layers.iter().flat_map(|l| l.files.iter().map(move |(p, b)| (b.len(), l.name.as_str(), p.as_str()))).max();
    let mut err = Error::usage(format!(
        "the stack of project `{project}` is {} KiB; Lima accepts at most 4 MiB once it embeds every file",
        total / 1024
    ));
    if let Some((size, layer, path)) = biggest {
        err = err.caused_by(format!("the largest file is {path} in layer `{layer}` ({size} bytes)"));
    }
    Err(err.hint("download large artifacts in a provision script instead of shipping them in a profile"))
}

/// vmType is vz on macOS and qemu on Linux unless configured; arch follows the host.
fn machine_type(project: &Project, host: &HostFacts) -> Result<(VmType, Arch)> {
    let arch = project.arch.unwrap_or(host.arch);
    let default = match host.os {
        HostOs::Macos if arch == host.arch => VmType::Vz,
        _ => VmType::Qemu,
    };
    let vm_type = project.vm_type.unwrap_or(default);
    if vm_type == VmType::Vz && host.os != HostOs::Macos {
        return Err(Error::usage(format!(
            "project `{}`{} sets vm_type = \"vz\", which needs a macOS host",
            project.name,
            defined_in(project)
        ))
        .hint("remove `vm_type` to use qemu on this host"));
    }
    if vm_type == VmType::Vz && arch != host.arch {
        return Err(Error::usage(format!(
            "project `{}`{} asks for arch {} with vm_type = \"vz\", which only runs the host's arch ({})",
            project.name,
            defined_in(project),
            arch.as_str(),
            host.arch.as_str()
        ))
        .hint("use vm_type = \"qemu\" for a foreign architecture"));
    }
    Ok((vm_type, arch))
}

/// ` (in FILE)`: where to fix a project's key that only the host can judge.
fn defined_in(project: &Project) -> String {
    project.defined_in.as_ref().map(|f| format!(" (in {})", f.display())).unwrap_or_default()
}

/// Lima refuses params with unprintable characters, and git config must never see a newline.
fn check_identity(identity: &Identity) -> Result<()> {
    for (what, value) in
        [("git user.name", &identity.name), ("git user.email", &identity.email), ("signing key", &identity.signing_key)]
    {
        if let Some(c) = value.chars().find(|c| !params::is_printable(*c)) {
            return Err(Error::usage(format!("the {what} contains the unprintable character {c:?}"))
                .hint("fix it in your git config (or GIT_NAME / GIT_EMAIL / GIT_SIGNING_KEY)"));
        }
    }
    Ok(())
}

/// image → core → standard layers the project keeps → profiles in the project's order.
fn layer_chain<'c>(project: &Project, catalog: &'c Catalog) -> Result<Vec<std::borrow::Cow<'c, LayerDef>>> {
    use std::borrow::Cow;
    let missing = |name: &str| Error::failure(format!("layer `{name}` is missing from this build of machine"));
    let image = match &project.image {
        Image::Named(name) => Cow::Borrowed(catalog.image(name).ok_or_else(|| {
            Error::usage(format!("unknown image `{name}`"))
                .hint(format!("named images: {}", catalog.image_names().join(", ")))
        })?),
        Image::Location(location) => Cow::Owned(location_image(location, project.arch)),
    };
    // A user profile that replaces a built-in layer and does not load must not leave the
    // built-in one in its place unnoticed.
    let replaced = |name: &str| {
        match catalog.broken_profile(name) {
        Some(why) => Err(crate::compiler::config::diagnostics_error(why).hint(format!(
            "your profile `{name}` replaces the built-in layer of that name and does not load: fix it, or move it out of the profiles folder to use the built-in one"
        ))),
        None => Ok(()),
    }
    };
    if let Image::Named(name) = &project.image {
        replaced(name)?;
    }
    replaced("core")?;
    let mut chain = vec![image, Cow::Borrowed(catalog.layer("core").ok_or_else(|| missing("core"))?)];
    for name in project.standard_layers() {
        replaced(name)?;
        chain.push(Cow::Borrowed(catalog.layer(name).ok_or_else(|| missing(name))?));
    }
    for name in &project.profiles {
        let def = catalog.profile(name).ok_or_else(|| {
            Error::usage(format!("unknown profile `{name}` in project `{}`", project.name))
                .hint("see `machine profiles`")
        })?;
        chain.push(Cow::Borrowed(def));
    }
    Ok(chain)
}

/// A one-entry image layer for a disk image given by path or URL.
fn location_image(location: &str, arch: Option<Arch>) -> LayerDef {
    let mut entry = Mapping::new();
    entry.insert(yaml::string("location"), yaml::string(location));
    if let Some(arch) = arch {
        entry.insert(yaml::string("arch"), yaml::string(arch.as_str()));
    }
    let mut body = Mapping::new();
    body.insert(yaml::string("images"), Value::Sequence(vec![Value::Mapping(entry)]));
    let text = yaml::to_string(&Value::Mapping(body.clone()));
    LayerDef {
        name: "image".to_string(),
        kind: crate::compiler::layers::LayerKind::Image,
        origin: Origin::Builtin,
        header: crate::compiler::layers::Header::default(),
        text,
        body,
        files: BTreeMap::new(),
        param_refs: Vec::new(),
    }
}

/// A chain node: `base:` first (absent for the lowest), then the layer's own keys, as emitted
/// once for the key (`body_yaml`): a block mapping is its entries one after another.
fn layer_yaml(def: &LayerDef, body_yaml: &str, base: Option<&Path>) -> String {
    let Some(base) = base else { return format!("# machine layer `{}`\n{body_yaml}", def.name) };
    if !def.body.is_empty() && !def.body.contains_key("base") {
        let mut line = Mapping::new();
        line.insert(yaml::string("base"), yaml::string(base.display().to_string()));
        return format!("# machine layer `{}`\n{}{body_yaml}", def.name, yaml::mapping_to_string(&line));
    }
    whole_layer_yaml(def, Some(base))
}

/// [`layer_yaml`] emitted as one mapping.
fn whole_layer_yaml(def: &LayerDef, base: Option<&Path>) -> String {
    let mut map = Mapping::new();
    if let Some(base) = base {
        map.insert(yaml::string("base"), yaml::string(base.display().to_string()));
    }
    for (k, v) in &def.body {
        map.insert(k.clone(), v.clone());
    }
    format!("# machine layer `{}`\n{}", def.name, yaml::to_string(&Value::Mapping(map)))
}

/// Declares exactly the params the stack uses (Lima refuses unused ones).
fn declared_params(
    project: &Project,
    host: &HostFacts,
    chain: &[std::borrow::Cow<'_, LayerDef>],
    warnings: &mut Vec<String>,
) -> Result<Mapping> {
    let id = &host.identity;
    // Signing goes through the forwarded agent: without it, a configured key would make every
    // commit fail ("No private key found"), so the VM gets none and commits unsigned.
    let signing_key = if project.forward_agent { id.signing_key.as_str() } else { "" };
    let values = [
        ("gitName", id.name.as_str()),
        ("gitEmail", id.email.as_str()),
        ("signingKey", signing_key),
        ("shell", project.shell.as_str()),
    ];
    let passthrough = project.lima.iter().map(|(k, v)| (yaml::string(k.as_str()), v.clone())).collect::<Mapping>();
    let texts: Vec<String> = chain
        .iter()
        .flat_map(|d| d.param_refs.iter().cloned())
        .chain(params::value_texts(&Value::Mapping(passthrough)))
        .collect();
    let mut out = Mapping::new();
    for (key, value) in values {
        if texts.iter().any(|t| uses_param(t, key)) {
            out.insert(yaml::string(key), yaml::string(value));
        }
    }
    if let Some(user) = project.lima.get("param").and_then(Value::as_mapping) {
        for (k, v) in user {
            let k = k.as_str().unwrap_or_default();
            if PARAMS.contains(&k) {
                return Err(Error::usage(format!("`lima.param.{k}` is set by machine"))
                    .hint("remove it from the project's `lima` table"));
            }
            if !texts.iter().any(|t| uses_param(t, k)) {
                return Err(Error::usage(format!("`lima.param.{k}` is not used by any provision script or probe"))
                    .hint("Lima refuses unused params: use it as $PARAM_{k} in a script, or remove it"));
            }
            out.insert(yaml::string(k), v.clone());
        }
    }
    if (out.contains_key("gitName") || out.contains_key("gitEmail")) && (id.name.is_empty() || id.email.is_empty()) {
        warnings.push(
            "no git identity found: set `git config --global user.name/user.email` or GIT_NAME / GIT_EMAIL".into(),
        );
    }
    if out.contains_key("signingKey") && project.forward_agent && id.signing_key.is_empty() {
        warnings.push("no SSH signing key found: commits in the VM will not be signed (see `machine doctor`)".into());
    }
    Ok(out)
}

fn instance_yaml(
    project: &Project,
    vm_type: VmType,
    arch: Arch,
    top: &Path,
    cached_disk: Option<&Path>,
    params: Mapping,
) -> String {
    let mut map = Mapping::new();
    map.insert(yaml::string("base"), yaml::string(top.display().to_string()));
    map.insert(yaml::string("vmType"), yaml::string(vm_type.as_str()));
    map.insert(yaml::string("arch"), yaml::string(arch.as_str()));
    if let Some(cpus) = project.cpus {
        map.insert(yaml::string("cpus"), Value::Number(cpus.into()));
    }
    for (key, size) in [("memory", &project.memory), ("disk", &project.disk)] {
        if let Some(size) = size {
            map.insert(yaml::string(key), yaml::string(size.as_str()));
        }
    }
    if let Some(disk) = cached_disk {
        let mut image = Mapping::new();
        image.insert(yaml::string("location"), yaml::string(disk.display().to_string()));
        image.insert(yaml::string("arch"), yaml::string(arch.as_str()));
        map.insert(yaml::string("images"), Value::Sequence(vec![Value::Mapping(image)]));
    }
    let mut ssh = project.lima.get("ssh").and_then(Value::as_mapping).cloned().unwrap_or_default();
    if !project.forward_agent {
        ssh.insert(yaml::string("forwardAgent"), Value::Bool(false));
    }
    if !ssh.is_empty() {
        map.insert(yaml::string("ssh"), Value::Mapping(ssh));
    }
    if !params.is_empty() {
        map.insert(yaml::string("param"), Value::Mapping(params));
    }
    for (key, value) in &project.lima {
        if key != "ssh" && key != "param" {
            map.insert(yaml::string(key.as_str()), value.clone());
        }
    }
    format!(
        "# Generated by machine from your configuration; edits here are overwritten.\n{}",
        yaml::to_string(&Value::Mapping(map))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inputs_key_follows_every_input_and_refuses_user_profiles() {
        use crate::compiler::config::model::Shell;
        let catalog = Catalog::builtin();
        let project = Project::with_defaults("blog", Shell::Bash, &["modern".to_string()]);
        let facts = HostFacts {
            os: HostOs::Linux,
            arch: Arch::X86_64,
            identity: Identity { name: "A".into(), email: "a@b.c".into(), signing_key: String::new() },
            state_dir: PathBuf::from("/state"),
            cached_disks: BTreeMap::new(),
            boot_disk: None,
        };
        let key = |p: &Project, f: &HostFacts, instance: &str, build: &str| inputs_key(p, &catalog, f, instance, build);
        let base = key(&project, &facts, "blog", "b1").expect("built-in layers only");
        assert_eq!(key(&project, &facts, "blog", "b1").as_deref(), Some(base.as_str()), "stable");
        let mut other = project.clone();
        other.cpus = Some(3);
        let mut moved = facts.clone();
        moved.cached_disks.insert("k".repeat(64), PathBuf::from("/cache/disks/k.img"));
        let mut renamed = facts.clone();
        renamed.identity.name = "B".into();
        let with_ratio = |ratio: f64| {
            let mut p = project.clone();
            let mut param = Mapping::new();
            param.insert(yaml::string("ratio"), Value::Number(ratio.into()));
            p.lima.insert("param".into(), Value::Mapping(param));
            p
        };
        assert_ne!(key(&with_ratio(0.5), &facts, "blog", "b1"), key(&with_ratio(0.7), &facts, "blog", "b1"), "a float");
        for changed in [
            key(&other, &facts, "blog", "b1"),
            key(&project, &moved, "blog", "b1"),
            key(&project, &renamed, "blog", "b1"),
            key(&project, &facts, "blog-feature", "b1"),
            key(&project, &facts, "blog", "b2"),
        ] {
            assert_ne!(changed.as_deref(), Some(base.as_str()));
        }
        let mut user = Catalog::builtin();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("modern.sh"), "#!/bin/sh\necho mine\n").unwrap();
        user.add_user_profiles(dir.path()).unwrap();
        assert_eq!(inputs_key(&project, &user, &facts, "blog", "b1"), None, "a user profile shadows `modern`");
        let mut core = Catalog::builtin();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("core.sh"), "#!/bin/sh\necho mine\n").unwrap();
        core.add_user_profiles(dir.path()).unwrap();
        let plain = Project::with_defaults("blog", Shell::Bash, &[]);
        assert!(inputs_key(&plain, &catalog, &facts, "blog", "b1").is_some());
        assert_eq!(inputs_key(&plain, &core, &facts, "blog", "b1"), None, "a user file shadows `core`");
    }

    /// A layer's file is its body emitted once and prefixed with `base:`: the same text as
    /// the whole mapping emitted, for every built-in layer, image and profile.
    #[test]
    fn a_layer_file_is_its_emitted_body_after_its_base() {
        let catalog = Catalog::builtin();
        let located = location_image("https://example.com/a.qcow2", None);
        let mut defs: Vec<&LayerDef> = catalog.layers();
        defs.extend(catalog.images());
        defs.push(&located);
        assert!(defs.len() > 10, "{}", defs.len());
        for def in defs {
            let body_yaml = yaml::mapping_to_string(&def.body);
            assert_eq!(body_yaml, yaml::to_string(&Value::Mapping(def.body.clone())));
            for base in [None, Some(Path::new("/state/layers/0123/lima.yaml")), Some(Path::new("/a b/'x'/: #y"))] {
                assert_eq!(layer_yaml(def, &body_yaml, base), whole_layer_yaml(def, base), "{} on {base:?}", def.name);
            }
        }
    }
}
