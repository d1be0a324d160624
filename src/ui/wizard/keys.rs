//! The wizard's `ssh_keys` question: a check list of the host agent's keys.
//!
//! All checked, for a project without `ssh_keys`, keeps it without (every key of the agent, also
//! ones added later). Otherwise the answer is a list: the entries the project had that name only
//! checked keys stay as written (a comment stays a comment), entries that name no key the agent
//! holds now stay too, and every other checked key is added by its fingerprint.

use super::{Choice, Env, Prompter};
use crate::compiler::config::keys::KeySelector;
use crate::driver::ssh_agent::AgentKey;
use crate::error::Result;

/// The new `ssh_keys` (`None`: every key), asked with the agent's keys; without keys to offer
/// the current value stays.
pub(super) fn ask(env: &Env<'_>, current: Option<&[String]>, p: &mut dyn Prompter) -> Result<Option<Vec<String>>> {
    let keys = match (env.agent_keys)() {
        Ok(keys) if !keys.is_empty() => keys,
        Ok(_) => {
            p.say("The host's SSH agent holds no keys to choose from: `ssh_keys` stays as it is.");
            return Ok(current.map(<[String]>::to_vec));
        }
        Err(why) => {
            p.say(&format!("Cannot list the host's SSH agent's keys ({why}): `ssh_keys` stays as it is."));
            return Ok(current.map(<[String]>::to_vec));
        }
    };
    let selectors: Option<Vec<KeySelector>> =
        current.map(|list| list.iter().filter_map(|s| KeySelector::parse(s).ok()).collect());
    let allowed =
        |k: &AgentKey| selectors.as_ref().is_none_or(|list| list.iter().any(|s| s.matches(&k.fingerprint, &k.comment)));
    let choices: Vec<Choice> = keys
        .iter()
        .map(|k| Choice { name: k.fingerprint.clone(), description: describe(k), checked: allowed(k) })
        .collect();
    let picked =
        p.multi_select("Keys of your SSH agent the VM may use (all: every key, also ones added later)", &choices)?;
    let checked: Vec<&AgentKey> = picked.iter().filter_map(|&i| keys.get(i)).collect();
    if current.is_none() && checked.len() == keys.len() {
        return Ok(None);
    }
    Ok(Some(merge(current.unwrap_or_default(), &keys, &checked, p)))
}

fn describe(key: &AgentKey) -> String {
    match (key.comment.is_empty(), key.kind.is_empty()) {
        (false, false) => format!("{} ({})", key.comment, key.kind),
        (false, true) => key.comment.clone(),
        (true, _) => format!("({})", key.kind),
    }
}

/// The list that allows exactly the checked keys among `keys`, keeping what it can of `current`.
fn merge(current: &[String], keys: &[AgentKey], checked: &[&AgentKey], p: &mut dyn Prompter) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in current {
        let Ok(selector) = KeySelector::parse(entry) else { continue };
        let named: Vec<&AgentKey> = keys.iter().filter(|k| selector.matches(&k.fingerprint, &k.comment)).collect();
        if named.is_empty() {
            p.say(&format!("Kept `{entry}` in `ssh_keys`: no key your agent holds now matches it."));
            out.push(entry.clone());
        } else if named.iter().all(|k| checked.contains(k)) {
            out.push(entry.clone());
        }
    }
    for key in checked {
        let covered =
            out.iter().filter_map(|e| KeySelector::parse(e).ok()).any(|s| s.matches(&key.fingerprint, &key.comment));
        if !covered {
            out.push(key.fingerprint.clone());
        }
    }
    out
}
