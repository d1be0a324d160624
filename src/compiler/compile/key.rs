//! Content keys of chain prefixes: the name of a layer's folder and of a baked disk.

use sha2::{Digest, Sha256};

use crate::compiler::config::model::{Arch, Project, VmType};
use crate::compiler::layers::{Catalog, LayerDef, Origin};

use super::HostFacts;

/// sha256 over everything in a chain prefix: machine's key format, the guest arch and vmType,
/// then per layer its name, its template text and every file it names (length-prefixed, so no
/// two different inputs hash alike). Paths on the host never enter the key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainKey(String);

const FORMAT: &str = "machine-chain-key/1";

impl ChainKey {
    pub fn seed(arch: Arch, vm_type: VmType) -> Self {
        let mut h = Sha256::new();
        field(&mut h, FORMAT.as_bytes());
        field(&mut h, arch.as_str().as_bytes());
        field(&mut h, vm_type.as_str().as_bytes());
        Self(hex(&h.finalize()))
    }

    /// The key of the prefix this layer ends; `body_yaml` is its body as emitted
    /// ([`crate::compiler::yaml::mapping_to_string`]), which the caller also writes.
    #[must_use]
    pub fn extend(&self, layer: &LayerDef, body_yaml: &str) -> Self {
        let mut h = Sha256::new();
        field(&mut h, self.0.as_bytes());
        field(&mut h, layer.name.as_bytes());
        field(&mut h, layer.text.as_bytes());
        // A user profile's attached script changes the body but not the text.
        field(&mut h, body_yaml.as_bytes());
        for (path, bytes) in &layer.files {
            field(&mut h, path.as_bytes());
            field(&mut h, bytes);
        }
        Self(hex(&h.finalize()))
    }

    pub fn full(&self) -> &str {
        &self.0
    }

    /// The first 16 hex digits: the folder name (64 bits is plenty for one user's layers).
    pub fn short(&self) -> &str {
        &self.0[..16]
    }
}

/// A fingerprint of everything [`super::compile`] reads: the project, the host facts, the
/// instance name, and this program itself (its built-in layers and its compiler: `build`
/// identifies the binary). Compiling is pure, so equal fingerprints compile to equal stacks: `up`
/// of a VM whose record holds this fingerprint need not compile again. `None` when a layer of the
/// chain comes from the user's profiles folder (a profile, or a file shadowing `core` or a
/// standard layer), whose files may live anywhere and change without the project changing.
pub fn inputs_key(
    project: &Project,
    catalog: &Catalog,
    facts: &HostFacts,
    instance: &str,
    build: &str,
) -> Option<String> {
    let mut chain =
        std::iter::once("core").chain(project.standard_layers()).chain(project.profiles.iter().map(String::as_str));
    if chain.any(|name| !matches!(catalog.layer_origin(name), Some(Origin::Builtin))) {
        return None;
    }
    // Their full `Debug` text: every field, every value as written (a float's digits, a
    // mapping's order), which a derived `Hash` would not all keep.
    let mut h = Sha256::new();
    for part in ["machine-compile-inputs/1", build, instance, &format!("{project:?}"), &format!("{facts:?}")] {
        field(&mut h, part.as_bytes());
    }
    Some(hex(&h.finalize()))
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// Lowercase hex of a digest (every key and sum machine writes).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
