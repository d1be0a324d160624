//! The bake cache: one provisioned disk per chain prefix, so a new VM boots with its layers
//! already installed and only provisions what no cached disk holds.
//!
//! The cached prefixes of a stack are its base (image, core and the standard layers the project
//! keeps) and every longer prefix its profiles make. Baking prefix k boots a throw-away instance
//! `machine-bake-<key16>` from the longest cached shorter prefix (else from the image), with no
//! params, so nothing in the disk depends on who baked it. After provisioning, the guest is
//! trimmed and stopped, its `disk` copied (copy-on-write where the file system can) to
//! `<cache>/disks/.tmp-<key>.img`, a sidecar `<key>.json` written, and the copy renamed to
//! `<key>.img`: an `.img` that exists is complete. An exclusive lock `<key>.lock` makes
//! concurrent bakes of one key wait for each other; whatever a crashed bake leaves (`.tmp-*`
//! files, `machine-bake-*` instances) is removed by the next bake once its key's lock is free.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::compiler::compile::{BAKE_DISK_GIB, HostOs, Stack};
use crate::compiler::config::model::Project;
use crate::compiler::yaml::{self, Mapping, Value};
use crate::driver::exec::Cmd;
use crate::driver::vm::{Lima, Provisioning};
use crate::driver::{host, lima, stack};
use crate::error::{Error, Result, io_error};
use crate::ui::{Step, Ui};

/// Every bake instance's name starts with this; the rest is the prefix's short key.
pub const INSTANCE_PREFIX: &str = crate::compiler::config::model::RESERVED_PREFIX;

/// Files being written in `<cache>/disks` start with this, then the full key.
const TMP_PREFIX: &str = ".tmp-";

/// What baking needs from the command that asks for it.
pub struct Baker<'b> {
    pub lima: &'b Lima<'b>,
    pub ui: &'b mut Ui,
    pub cache_dir: PathBuf,
    /// Bake templates go to `<state>/bake/<key16>/lima.yaml`.
    pub state_dir: PathBuf,
}

/// What `cache list` shows about a baked disk: `<key>.json`, written when the disk is published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sidecar {
    pub key: String,
    /// Layer names, lowest first.
    pub layers: Vec<String>,
    pub image: String,
    pub arch: String,
    pub vm_type: String,
    /// Unix seconds.
    pub created: u64,
    pub bake_seconds: f64,
    /// The disk's apparent size in bytes (its allocated size is usually far smaller).
    pub size: u64,
    /// The key of the cached disk the bake started from, if any.
    pub from: Option<String>,
}

/// Something `clean_debris` or `cache prune` removed, and the space it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub what: String,
    pub bytes: u64,
}

/// Held while a key is baked or removed; released on drop (and by the OS if machine dies).
pub type KeyLock = crate::driver::lock::Lock;

/// How many layers of the stack its base has: everything below the project's profiles.
pub fn base_len(project: &Project, stack: &Stack) -> usize {
    stack.layers.len().saturating_sub(project.profiles.len()).max(1)
}

/// The prefix lengths the cache keeps for a stack: the base, then one per profile.
pub fn prefixes(stack: &Stack, base_len: usize) -> std::ops::RangeInclusive<usize> {
    let n = stack.layers.len();
    base_len.clamp(1, n)..=n
}

/// The prefix lengths (shortest first) without a cached disk.
pub fn missing(stack: &Stack, base_len: usize, cached: &BTreeMap<String, PathBuf>) -> Vec<usize> {
    prefixes(stack, base_len).filter(|&len| !cached.contains_key(stack.layers[len - 1].key.full())).collect()
}

/// The longest prefix shorter than `len` with a cached disk: where baking prefix `len` starts.
pub fn start_from(stack: &Stack, len: usize, cached: &BTreeMap<String, PathBuf>) -> Option<(usize, PathBuf)> {
    (1..len).rev().find_map(|i| cached.get(stack.layers[i - 1].key.full()).map(|p| (i, p.clone())))
}

/// The name of the instance that bakes the prefix with this key.
pub fn instance_name(key: &crate::compiler::compile::ChainKey) -> String {
    format!("{INSTANCE_PREFIX}{}", key.short())
}

pub fn disks_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("disks")
}

pub fn sidecar_path(cache_dir: &Path, full_key: &str) -> PathBuf {
    disks_dir(cache_dir).join(format!("{full_key}.json"))
}

/// The bake instance's template: the prefix's top layer, a fixed disk size, no params, no agent,
/// and the disk it starts from (else the image layer's own images).
pub fn bake_template(stack: &Stack, len: usize, from: Option<&Path>) -> String {
    let mut map = Mapping::new();
    map.insert(yaml::string("base"), yaml::string(stack.layers[len - 1].path().display().to_string()));
    map.insert(yaml::string("vmType"), yaml::string(stack.vm_type.as_str()));
    map.insert(yaml::string("arch"), yaml::string(stack.arch.as_str()));
    map.insert(yaml::string("disk"), yaml::string(format!("{BAKE_DISK_GIB}GiB")));
    let mut ssh = Mapping::new();
    ssh.insert(yaml::string("forwardAgent"), Value::Bool(false));
    map.insert(yaml::string("ssh"), Value::Mapping(ssh));
    if let Some(disk) = from {
        let mut image = Mapping::new();
        image.insert(yaml::string("location"), yaml::string(disk.display().to_string()));
        image.insert(yaml::string("arch"), yaml::string(stack.arch.as_str()));
        map.insert(yaml::string("images"), Value::Sequence(vec![Value::Mapping(image)]));
    }
    format!("# machine bake of `{}`\n{}", label(stack, len), yaml::to_string(&Value::Mapping(map)))
}

/// `ubuntu-24.04 → core → docker`: the layers of a prefix.
pub fn label(stack: &Stack, len: usize) -> String {
    stack.layers[..len].iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(" → ")
}

/// Bakes every missing prefix of the stack, shortest first, each from the longest cached shorter
/// prefix; `force` rebakes them all from the image. Returns how many disks were baked.
pub fn ensure(b: &mut Baker<'_>, stack: &Stack, base_len: usize, force: bool) -> Result<usize> {
    let cached = host::cached_disks(&b.cache_dir);
    let todo: Vec<usize> = if force { prefixes(stack, base_len).collect() } else { missing(stack, base_len, &cached) };
    if todo.is_empty() {
        return Ok(0);
    }
    let disks = disks_dir(&b.cache_dir);
    std::fs::create_dir_all(&disks).map_err(|e| io_error("create", &disks, &e))?;
    for removed in clean_debris(b.lima, &b.cache_dir, &b.state_dir)? {
        b.ui.note(&format!("removed {}, left by an interrupted bake", removed.what));
    }
    stack::write(stack)?;
    let mut usable = if force { BTreeMap::new() } else { cached };
    let mut baked = 0;
    for len in todo {
        baked += usize::from(bake_prefix(b, stack, len, &mut usable, force)?);
    }
    Ok(baked)
}

/// Bakes one prefix under its key's lock, unless another machine published it meanwhile.
fn bake_prefix(
    b: &mut Baker<'_>,
    stack: &Stack,
    len: usize,
    usable: &mut BTreeMap<String, PathBuf>,
    force: bool,
) -> Result<bool> {
    let key = stack.layers[len - 1].key.full().to_string();
    let mut waited = false;
    let waiting = format!("waiting for another machine to finish baking {}…", label(stack, len));
    let _lock = lock_key(&disks_dir(&b.cache_dir), &key, &mut || {
        if !waited {
            b.ui.note(&waiting);
        }
        waited = true;
    })?;
    let published = host::disk_path(&b.cache_dir, &key);
    if published.is_file() && (!force || waited) {
        usable.insert(key, published);
        return Ok(false);
    }
    let from = start_from(stack, len, usable);
    let step = b.ui.step(&format!("baking {} ({})", label(stack, len), &key[..16]));
    let result = bake_in_vm(b, stack, len, from.as_ref(), &step);
    b.ui.end_step(step, result.is_ok());
    usable.insert(key, result?);
    Ok(true)
}

/// Creates, provisions, trims and stops the bake instance, publishes its disk, and deletes the
/// instance whatever happened.
fn bake_in_vm(
    b: &Baker<'_>,
    stack: &Stack,
    len: usize,
    from: Option<&(usize, PathBuf)>,
    step: &Step,
) -> Result<PathBuf> {
    let layer = &stack.layers[len - 1];
    let name = instance_name(&layer.key);
    let dir = b.state_dir.join("bake").join(layer.key.short());
    let template = dir.join("lima.yaml");
    stack::write_atomic(&template, bake_template(stack, len, from.map(|(_, p)| p.as_path())).as_bytes())?;
    remove_instance(b.lima, &name)?;
    let started = Instant::now();
    let owners = stack.prefix_provision_owners(len);
    let result = provision(b.lima, &name, &template, &owners, step).and_then(|()| {
        step.progress("copying the disk to the cache");
        let from_key = from.map(|(i, _)| stack.layers[i - 1].key.full().to_string());
        publish(b, stack, len, &name, from_key, started.elapsed())
    });
    if let Err(e) = b.lima.delete(&name, true) {
        // After a failure, cleaning up usually fails the same way: say it only when it is news.
        if result.is_ok() {
            tracing::warn!("{e}");
        } else {
            tracing::info!("{e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Boots the bake instance through provisioning, trims its disk and stops it.
fn provision(lima: &Lima<'_>, name: &str, template: &Path, owners: &[String], step: &Step) -> Result<()> {
    step.progress("creating the bake VM");
    lima.create(name, template)?;
    let outcome = lima.start(name, &mut |line| step.progress(line))?;
    // A disk every project may boot from is only published when provisioning is known to be done.
    if outcome == Provisioning::Unknown {
        return Err(Error::failure(format!(
            "could not confirm that provisioning finished in the bake VM `{name}`; nothing was cached"
        ))
        .hint("run `machine bake` again; `machine doctor` checks the host"));
    }
    let subject = format!("the bake VM `{name}`; nothing was cached");
    outcome.into_result(
        lima,
        name,
        &subject,
        "fix the failing layer (see `machine profiles`) and run `machine bake` (or `machine up`) again",
        owners,
    )?;
    step.progress("trimming the disk");
    let argv = [OsStr::new("sudo"), OsStr::new("fstrim"), OsStr::new("-a")];
    let trim = lima.runner.output(&lima::shell(name, None, &argv))?;
    if !trim.success() {
        tracing::warn!("fstrim failed in {name}: {}", String::from_utf8_lossy(&trim.stderr).trim());
    }
    step.progress("stopping the bake VM");
    lima.stop(name, false)
}

/// Copies the stopped instance's disk into the cache, writes its sidecar, and publishes it.
fn publish(
    b: &Baker<'_>,
    stack: &Stack,
    len: usize,
    name: &str,
    from: Option<String>,
    took: Duration,
) -> Result<PathBuf> {
    let key = stack.layers[len - 1].key.full();
    let src = lima::instance_dir(&b.lima.home, name).join("disk");
    if !src.is_file() {
        return Err(Error::failure(format!("Lima left no disk at {}", src.display())).hint(format!(
            "check `limactl list` and the Lima version (machine needs Lima {} or newer)",
            lima::min_version_text()
        )));
    }
    let disks = disks_dir(&b.cache_dir);
    let tmp = disks.join(format!("{TMP_PREFIX}{key}.img"));
    remove_file_if_exists(&tmp)?;
    copy_disk(b.lima, &src, &tmp)?;
    stack::sync_file(&tmp)?;
    let size = std::fs::metadata(&tmp).map_err(|e| io_error("read", &tmp, &e))?.len();
    let sidecar = Sidecar {
        key: key.to_string(),
        layers: stack.layers[..len].iter().map(|l| l.name.clone()).collect(),
        image: stack.layers[0].name.clone(),
        arch: stack.arch.as_str().to_string(),
        vm_type: stack.vm_type.as_str().to_string(),
        created: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        bake_seconds: (took.as_secs_f64() * 10.0).round() / 10.0,
        size,
        from,
    };
    write_sidecar(&b.cache_dir, &sidecar)?;
    let published = host::disk_path(&b.cache_dir, key);
    std::fs::rename(&tmp, &published).map_err(|e| io_error("publish", &published, &e))?;
    stack::sync_dir(&disks)?;
    Ok(published)
}

/// `cp -c` (APFS clone) on macOS, `cp --reflink=auto` on Linux; a plain `cp` if that fails.
pub(crate) fn copy_disk(lima: &Lima<'_>, src: &Path, dst: &Path) -> Result<()> {
    let flag = match host::os() {
        HostOs::Macos => "-c",
        HostOs::Linux => "--reflink=auto",
    };
    let fast = Cmd::new("cp").arg(flag).arg(src).arg(dst);
    if lima.runner.output(&fast)?.success() {
        return Ok(());
    }
    tracing::info!("`{fast}` failed; copying without copy-on-write");
    remove_file_if_exists(dst)?;
    let plain = Cmd::new("cp").arg(src).arg(dst);
    let out = lima.runner.output(&plain)?;
    if out.success() {
        return Ok(());
    }
    let _ = std::fs::remove_file(dst);
    let parent = dst.parent().unwrap_or(dst);
    Err(Error::failure(format!("`{plain}` failed"))
        .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_string())
        .hint(format!("check the free space in {}, then try again", parent.display())))
}

fn write_sidecar(cache_dir: &Path, sidecar: &Sidecar) -> Result<()> {
    let path = sidecar_path(cache_dir, &sidecar.key);
    let tmp = disks_dir(cache_dir).join(format!("{TMP_PREFIX}{}.json", sidecar.key));
    let bytes = serde_json::to_vec_pretty(sidecar).expect("plain data serialises");
    std::fs::write(&tmp, bytes).map_err(|e| io_error("write", &tmp, &e))?;
    stack::sync_file(&tmp)?;
    std::fs::rename(&tmp, &path).map_err(|e| io_error("write", &path, &e))?;
    stack::sync_dir(&disks_dir(cache_dir))
}

/// The sidecar of a cached disk, if it has a readable one.
pub fn read_sidecar(cache_dir: &Path, full_key: &str) -> Option<Sidecar> {
    serde_json::from_slice(&std::fs::read(sidecar_path(cache_dir, full_key)).ok()?).ok()
}

/// Deletes an instance (and its folder, should Lima not know it) if its folder exists.
fn remove_instance(lima: &Lima<'_>, name: &str) -> Result<()> {
    let dir = lima::instance_dir(&lima.home, name);
    if !dir.exists() {
        return Ok(());
    }
    if let Err(e) = lima.delete(name, true) {
        tracing::info!("{e}");
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", &dir, &e)),
    }
}

fn remove_file_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", path, &e)),
    }
}

// --- locks -------------------------------------------------------------------------------------

/// Takes the key's lock, calling `on_wait` while another machine holds it.
pub fn lock_key(disks: &Path, full_key: &str, on_wait: &mut dyn FnMut()) -> Result<KeyLock> {
    crate::driver::lock::exclusive(&disks.join(format!("{full_key}.lock")), on_wait)
}

/// The key's lock if nobody holds it, else `None`.
pub fn try_lock_key(disks: &Path, full_key: &str) -> Result<Option<KeyLock>> {
    crate::driver::lock::try_exclusive(&disks.join(format!("{full_key}.lock")))
}

/// Every lock whose key starts with `short`, if none is held (`Some(empty)` when there are none).
fn try_lock_short(disks: &Path, short: &str) -> Result<Option<Vec<KeyLock>>> {
    let mut locks = Vec::new();
    for name in file_names(disks) {
        let Some(key) = name.strip_suffix(".lock").filter(|k| k.starts_with(short) && is_key(k)) else { continue };
        match try_lock_key(disks, key)? {
            Some(lock) => locks.push(lock),
            None => return Ok(None),
        }
    }
    Ok(Some(locks))
}

// --- debris ------------------------------------------------------------------------------------

/// Removes what interrupted bakes left, skipping anything whose key another machine is baking:
/// `.tmp-*` files, sidecars without a disk, `machine-bake-*` instances and their templates.
pub fn clean_debris(lima: &Lima<'_>, cache_dir: &Path, state_dir: &Path) -> Result<Vec<Removed>> {
    debris(lima, cache_dir, state_dir, true)
}

/// What [`clean_debris`] would remove now, removing nothing.
pub fn debris_preview(lima: &Lima<'_>, cache_dir: &Path, state_dir: &Path) -> Result<Vec<Removed>> {
    debris(lima, cache_dir, state_dir, false)
}

fn debris(lima: &Lima<'_>, cache_dir: &Path, state_dir: &Path, remove: bool) -> Result<Vec<Removed>> {
    let disks = disks_dir(cache_dir);
    let mut removed = Vec::new();
    for name in file_names(&disks) {
        let Some(key) = debris_key(&disks, &name) else { continue };
        let Some(_lock) = try_lock_key(&disks, key)? else { continue };
        let path = disks.join(&name);
        let bytes = allocated(&path);
        if remove {
            remove_file_if_exists(&path)?;
        }
        removed.push(Removed { what: path.display().to_string(), bytes });
    }
    for name in file_names(&disks).into_iter().filter(|_| remove) {
        let Some(key) = name.strip_suffix(".lock").filter(|k| is_key(k) && !disks.join(format!("{k}.img")).exists())
        else {
            continue;
        };
        if let Some(_lock) = try_lock_key(&disks, key)? {
            remove_file_if_exists(&disks.join(&name))?;
        }
    }
    for short in bake_leftovers(lima, state_dir) {
        let Some(_locks) = try_lock_short(&disks, &short)? else { continue };
        let name = format!("{INSTANCE_PREFIX}{short}");
        let dir = lima::instance_dir(&lima.home, &name);
        if dir.exists() {
            let bytes = allocated(&dir);
            if remove {
                remove_instance(lima, &name)?;
            }
            removed.push(Removed { what: format!("bake VM `{name}`"), bytes });
        }
        if remove {
            let _ = std::fs::remove_dir_all(state_dir.join("bake").join(&short));
        }
    }
    Ok(removed)
}

/// The key of a file that is debris when its key is not being baked: a `.tmp-<key>…` file, or a
/// `<key>.json` whose disk is missing.
fn debris_key<'n>(disks: &Path, name: &'n str) -> Option<&'n str> {
    if let Some(rest) = name.strip_prefix(TMP_PREFIX) {
        return rest.get(..64).filter(|k| is_key(k));
    }
    let key = name.strip_suffix(".json").filter(|k| is_key(k))?;
    (!disks.join(format!("{key}.img")).exists()).then_some(key)
}

/// Short keys of bake instances whose folder (in `$LIMA_HOME`) or template exists.
fn bake_leftovers(lima: &Lima<'_>, state_dir: &Path) -> Vec<String> {
    let mut shorts: Vec<String> =
        file_names(&lima.home).into_iter().filter_map(|n| n.strip_prefix(INSTANCE_PREFIX).map(String::from)).collect();
    shorts.extend(file_names(&state_dir.join("bake")));
    shorts.retain(|s| s.len() == 16 && is_key(s));
    shorts.sort();
    shorts.dedup();
    shorts
}

fn is_key(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The names in a folder (none if it cannot be read).
fn file_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

// --- listing and sizes -------------------------------------------------------------------------

/// One cached disk: a baked one, or (with the golden sidecar) a project's golden disk.
#[derive(Debug, Clone)]
pub struct Entry<S = Sidecar> {
    pub key: String,
    pub path: PathBuf,
    /// Bytes the disk takes on the host's file system.
    pub allocated: u64,
    /// What the JSON file beside the disk says (none when it is missing or unreadable).
    pub sidecar: Option<S>,
}

/// Every cached disk, oldest (then shortest) first.
pub fn entries(cache_dir: &Path) -> Vec<Entry> {
    let mut list: Vec<Entry> = host::cached_disks(cache_dir)
        .into_iter()
        .map(|(key, path)| Entry { allocated: allocated(&path), sidecar: read_sidecar(cache_dir, &key), key, path })
        .collect();
    list.sort_by_key(|e| {
        let (created, layers) = e.sidecar.as_ref().map_or((0, 0), |s| (s.created, s.layers.len()));
        (created, layers, e.key.clone())
    });
    list
}

/// Removes a cached disk, its sidecar and its lock, unless its key is being baked.
pub fn remove_disk(cache_dir: &Path, entry: &Entry) -> Result<bool> {
    let disks = disks_dir(cache_dir);
    let Some(lock) = try_lock_key(&disks, &entry.key)? else { return Ok(false) };
    remove_file_if_exists(&entry.path)?;
    remove_file_if_exists(&sidecar_path(cache_dir, &entry.key))?;
    remove_file_if_exists(&disks.join(format!("{}.lock", entry.key)))?;
    drop(lock);
    Ok(true)
}

/// Bytes a file or folder takes on disk (sparse files count only what they hold).
pub fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else { return 0 };
        return entries.flatten().map(|e| allocated(&e.path())).sum();
    }
    meta.blocks() * 512
}

/// `1.5GiB`, `300.0MiB`, `12B`.
#[allow(clippy::cast_precision_loss, reason = "one decimal for people")]
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1}{}", UNITS[unit])
}

/// `<1m`, `5m`, `3h`, `2d`: how long ago `created` (unix seconds) was.
pub fn age(created: u64, now: u64) -> String {
    let secs = now.saturating_sub(created);
    match secs {
        0..60 => "<1m".to_string(),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::compile::{self, HostFacts, Identity};
    use crate::compiler::config::model::Arch;
    use crate::compiler::layers::Catalog;

    fn stack(profiles: &[&str], cached: &[usize]) -> (Stack, BTreeMap<String, PathBuf>) {
        let config = crate::compiler::config::Config {
            projects_file: PathBuf::from("/p.toml"),
            projects: BTreeMap::new(),
            default_profiles: profiles.iter().map(ToString::to_string).collect(),
            default_shell: crate::compiler::config::model::Shell::Zsh,
            local_project: None,
            local_file: None,
            notes: Vec::new(),
            proxy: crate::compiler::config::proxy::ProxySettings::default(),
        };
        let project = config.implicit_project("p");
        let facts = HostFacts {
            os: HostOs::Linux,
            arch: Arch::X86_64,
            identity: Identity::default(),
            state_dir: PathBuf::from("/state"),
            cached_disks: BTreeMap::new(),
            boot_disk: None,
        };
        let stack = compile::compile(&project, &Catalog::builtin(), &facts).unwrap();
        let disks = cached
            .iter()
            .map(|&len| {
                let key = stack.layers[len - 1].key.full().to_string();
                (key.clone(), PathBuf::from(format!("/cache/disks/{key}.img")))
            })
            .collect();
        (stack, disks)
    }

    #[test]
    fn base_then_one_prefix_per_profile() {
        let (s, none) = stack(&["cypress", "playwright"], &[]);
        let base = s.layers.len() - 2;
        assert_eq!(base, 7, "image, core and five standard layers");
        assert_eq!(prefixes(&s, base), 7..=9);
        assert_eq!(missing(&s, base, &none), [7, 8, 9]);
        let (_, cached) = stack(&["cypress", "playwright"], &[7]);
        assert_eq!(missing(&s, base, &cached), [8, 9]);
        let (_, all) = stack(&["cypress", "playwright"], &[7, 8, 9]);
        assert!(missing(&s, base, &all).is_empty());
    }

    #[test]
    fn a_bake_starts_from_the_longest_shorter_cached_prefix() {
        let (s, cached) = stack(&["cypress", "playwright"], &[2, 7]);
        assert_eq!(start_from(&s, 9, &cached).map(|(i, _)| i), Some(7));
        assert_eq!(start_from(&s, 7, &cached).map(|(i, _)| i), Some(2), "a shorter prefix of another project");
        let (_, only_top) = stack(&["cypress", "playwright"], &[9]);
        assert_eq!(start_from(&s, 9, &only_top), None, "never the prefix itself");
        assert_eq!(start_from(&s, 1, &cached), None);
    }

    #[test]
    fn the_bake_template_names_the_prefix_top_and_the_start_disk() {
        let (s, _) = stack(&[], &[]);
        let text = bake_template(&s, 7, Some(Path::new("/cache/disks/k.img")));
        let v = yaml::parse(&text).unwrap();
        assert_eq!(yaml::get(&v, "base").and_then(Value::as_str), Some(s.layers[6].path().to_str().unwrap()));
        assert_eq!(yaml::get(&v, "disk").and_then(Value::as_str), Some("20GiB"));
        assert!(text.contains("location: /cache/disks/k.img"), "{text}");
        assert!(!text.contains("param"), "bakes take no params: {text}");
        assert!(!bake_template(&s, 7, None).contains("images"), "without a disk the image layer's images are used");
    }

    #[test]
    fn debris_names() {
        let key = "a".repeat(64);
        let dir = Path::new("/nonexistent");
        assert_eq!(debris_key(dir, &format!(".tmp-{key}.img")), Some(key.as_str()));
        assert_eq!(debris_key(dir, &format!("{key}.json")), Some(key.as_str()), "a sidecar without its disk");
        assert_eq!(debris_key(dir, &format!("{key}.img")), None);
        assert_eq!(debris_key(dir, ".tmp-short"), None);
    }

    #[test]
    fn sizes_and_ages_for_people() {
        assert_eq!(human_size(12), "12B");
        assert_eq!(human_size(1536), "1.5KiB");
        assert_eq!(human_size(3 << 30), "3.0GiB");
        assert_eq!(age(100, 130), "<1m");
        assert_eq!(age(0, 7200), "2h");
        assert_eq!(age(0, 3 * 86_400 + 5), "3d");
        assert_eq!(age(10, 0), "<1m", "a clock that went back");
    }
}
