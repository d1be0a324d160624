//! An untrusted `.machine.toml` that names a project of the user's projects.toml inherits that
//! project's VM and everything the user gave it (its `lima` table, its own profiles), so it must
//! not put other code into it or take the user's profiles away. Naming a project with no entry,
//! it must not take over the zero-config `default` VM or one made from another file. Other keys
//! it may set are checked by `parse` alone.

use std::ops::Range;
use std::path::Path;

use toml_edit::{Document, Item};

use super::model::{DEFAULT_PROJECT, Project};
use super::parse::untrusted;
use super::source::{Diagnostic, Source};
use super::trust::Trust;

/// What the untrusted file (`src`) does to the user's `own` entry, as the `merged` project shows.
pub(super) fn problems(
    src: &Source,
    own: &Project,
    merged: &Project,
    from_origin: bool,
    trust: Trust,
) -> Vec<Diagnostic> {
    // Parsed again only for the spans of what it refuses: a file that refuses nothing costs nothing.
    let doc = std::cell::OnceCell::new();
    let doc = || doc.get_or_init(|| Document::parse(src.text.as_str()).ok()).as_ref();
    let mut out = Vec::new();
    for url in merged.repos.iter().filter(|url| !own.repos.contains(url)) {
        let what = if from_origin {
            format!("adding its folder's `origin` remote ({url}) to [{}] of your projects.toml", own.name)
        } else {
            format!("a repo that [{}] of your projects.toml does not list ({url})", own.name)
        };
        let span = if from_origin { None } else { doc().and_then(|d| repo_span(d, url.as_str())) };
        out.push(untrusted(src, span, &what, trust));
    }
    for name in own.profiles.iter().filter(|name| !merged.profiles.contains(name)) {
        let what = format!("dropping profile `{name}` of [{}] in your projects.toml", own.name);
        let span = doc().and_then(|d| d.get("profiles")).and_then(Item::span);
        out.push(untrusted(src, span, &what, trust));
    }
    out
}

/// For a project without an entry in projects.toml: `made_from` is the file its existing VM was
/// made from (machine's record; none without a VM or in a record older than the field).
pub(super) fn vm_problems(src: &Source, name: &str, made_from: Option<&Path>, trust: Trust) -> Vec<Diagnostic> {
    let span = || Document::parse(src.text.as_str()).ok().and_then(|d| d.get("name").and_then(Item::span));
    if name == DEFAULT_PROJECT {
        return vec![untrusted(src, span(), "the project name `default` (machine's zero-config VM)", trust)];
    }
    match made_from {
        Some(other) if !same_file(other, &src.path) => vec![untrusted(
            src,
            span(),
            &format!("project `{name}`, whose VM machine made from {}", other.display()),
            trust,
        )],
        _ => Vec::new(),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Where `repos` lists `url` (the key itself when the entry cannot be found).
fn repo_span(doc: &Document<&str>, url: &str) -> Option<Range<usize>> {
    let item = doc.get("repos")?;
    let found =
        item.as_array().and_then(|a| a.iter().find(|v| v.as_str() == Some(url))).and_then(toml_edit::Value::span);
    found.or_else(|| item.span())
}
