//! The wizard's layer questions: which profiles a project adds, which standard layers it leaves
//! out, and checks that the chain they make is complete (every `# requires:` met).

use super::{Choice, Env, Given, Prompter};
use crate::compiler::config::model::STANDARD_LAYERS;
use crate::compiler::config::source::did_you_mean;
use crate::compiler::layers::Catalog;
use crate::error::{Error, Result};

/// `(profiles, without)`: from the flags, the current values (`--yes`), or the questions.
pub(super) fn choose(
    env: &Env<'_>,
    given: &Given,
    current_profiles: &[String],
    current_without: &[String],
    p: &mut dyn Prompter,
) -> Result<(Vec<String>, Vec<String>)> {
    let given_profiles = given.profiles.as_deref().map(|l| check_profiles(env.catalog, l)).transpose()?;
    let given_without = given.without.as_deref().map(check_without).transpose()?;
    if given.yes || (given_profiles.is_some() && given_without.is_some()) {
        let profiles = given_profiles.unwrap_or_else(|| current_profiles.to_vec());
        return Ok((profiles, given_without.unwrap_or_else(|| current_without.to_vec())));
    }
    let mut profiles = given_profiles.clone().unwrap_or_else(|| current_profiles.to_vec());
    let mut without = given_without.clone().unwrap_or_else(|| current_without.to_vec());
    loop {
        if given_profiles.is_none() {
            profiles = order_by_requires(env.catalog, &ask_profiles(env.catalog, &profiles, p)?);
        }
        if given_without.is_none() {
            without = ask_without(env.catalog, &without, p)?;
        }
        match missing_requirement(env.catalog, &profiles, &without) {
            None => return Ok((profiles, without)),
            Some(problem) => p.say(&problem),
        }
    }
}

/// A multi-select of every profile: the current ones first, in their order, then the rest.
fn ask_profiles(catalog: &Catalog, current: &[String], p: &mut dyn Prompter) -> Result<Vec<String>> {
    let mut names: Vec<&str> = current.iter().map(String::as_str).filter(|n| catalog.profile(n).is_some()).collect();
    names.extend(catalog.profile_names().into_iter().filter(|n| !current.iter().any(|c| c == n)));
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let choices: Vec<Choice> = names.iter().map(|n| choice(catalog, n, current.iter().any(|c| c == n))).collect();
    let picked = p.multi_select("Profiles (extra layers, after the standard ones)", &choices)?;
    Ok(picked.into_iter().filter_map(|i| names.get(i)).map(ToString::to_string).collect())
}

/// A multi-select of the standard layers, kept ones checked; returns the ones left out.
fn ask_without(catalog: &Catalog, current: &[String], p: &mut dyn Prompter) -> Result<Vec<String>> {
    let choices: Vec<Choice> =
        STANDARD_LAYERS.iter().map(|n| choice(catalog, n, !current.iter().any(|c| c == n))).collect();
    let kept = p.multi_select("Standard layers to keep", &choices)?;
    Ok(STANDARD_LAYERS.iter().enumerate().filter(|(i, _)| !kept.contains(i)).map(|(_, n)| (*n).to_string()).collect())
}

fn choice(catalog: &Catalog, name: &str, checked: bool) -> Choice {
    let description = catalog.layer(name).map(|l| l.header.description.clone()).unwrap_or_default();
    Choice { name: name.to_string(), description, checked }
}

/// Puts each selected profile after the selected profiles it requires (a multi-select cannot
/// order them), keeping the selection's order otherwise.
fn order_by_requires(catalog: &Catalog, selected: &[String]) -> Vec<String> {
    fn visit(catalog: &Catalog, name: &str, selected: &[String], trail: &mut Vec<String>, out: &mut Vec<String>) {
        if out.iter().any(|o| o == name) || trail.iter().any(|t| t == name) {
            return;
        }
        trail.push(name.to_string());
        for needed in catalog.requires(name) {
            if selected.contains(needed) {
                visit(catalog, needed, selected, trail, out);
            }
        }
        trail.pop();
        out.push(name.to_string());
    }
    let mut out = Vec::new();
    for name in selected {
        visit(catalog, name, selected, &mut Vec::new(), &mut out);
    }
    out
}

/// The first `# requires:` the chain core → kept standard layers → profiles does not meet.
fn missing_requirement(catalog: &Catalog, profiles: &[String], without: &[String]) -> Option<String> {
    let mut chain: Vec<&str> = vec!["core"];
    chain.extend(STANDARD_LAYERS.iter().filter(|l| !without.iter().any(|w| w == *l)));
    chain.extend(profiles.iter().map(String::as_str));
    for (i, layer) in chain.iter().enumerate() {
        for needed in catalog.requires(layer) {
            if chain[..i].contains(&needed.as_str()) {
                continue;
            }
            let fix = if STANDARD_LAYERS.contains(&needed.as_str()) {
                format!("keep `{needed}`, or leave out `{layer}` too")
            } else {
                format!("select `{needed}` too, or drop `{layer}`")
            };
            return Some(format!("`{layer}` needs `{needed}` below it in the stack: {fix}"));
        }
    }
    None
}

/// `none` is a whole answer: no profiles (or layers), never one among names.
fn none_alone(flag: &str, what: &str, list: &[String]) -> Result<Vec<String>> {
    if list.len() > 1 {
        return Err(Error::usage(format!("`{flag} none` cannot go with other {what} ({})", list.join(",")))
            .hint(format!("give `{flag} none` alone for no {what}, or list the {what} you want")));
    }
    Ok(Vec::new())
}

/// `--profile` values: known profiles, each once; `none` means no profiles.
fn check_profiles(catalog: &Catalog, list: &[String]) -> Result<Vec<String>> {
    if list.iter().any(|n| n == "none") {
        return none_alone("--profile", "profiles", list);
    }
    let mut out: Vec<String> = Vec::new();
    for name in list {
        if STANDARD_LAYERS.contains(&name.as_str()) || name == "core" {
            return Err(Error::usage(format!("`{name}` is a standard layer, not a profile"))
                .hint("standard layers are included unless listed with `--without`"));
        }
        if catalog.profile(name).is_none() {
            let known = catalog.profile_names();
            let hint = did_you_mean(name, known.iter().copied()).map_or_else(
                || format!("available profiles: {} (see `machine profiles`)", known.join(", ")),
                |k| format!("did you mean `{k}`?"),
            );
            return Err(Error::usage(format!("unknown profile `{name}`")).hint(hint));
        }
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

/// `--without` values: standard layers (`standard` for all of them, `none` for none).
fn check_without(list: &[String]) -> Result<Vec<String>> {
    if list.iter().any(|n| n == "none") {
        return none_alone("--without", "layers", list);
    }
    let mut out: Vec<String> = Vec::new();
    for name in list {
        if name == "standard" {
            out.extend(STANDARD_LAYERS.iter().map(ToString::to_string));
        } else if STANDARD_LAYERS.contains(&name.as_str()) {
            out.push(name.clone());
        } else {
            let hint = did_you_mean(name, STANDARD_LAYERS).map_or_else(
                || format!("standard layers: {} (or `standard` for all of them)", STANDARD_LAYERS.join(", ")),
                |k| format!("did you mean `{k}`?"),
            );
            return Err(Error::usage(format!("`{name}` is not a standard layer")).hint(hint));
        }
    }
    out.sort_by_key(|l| STANDARD_LAYERS.iter().position(|s| s == l));
    out.dedup();
    Ok(out)
}
