//! What one VM's scoped agent serves: written by the machine command that starts or checks the
//! agent (`agent/policy.json`), read again by the agent for every new connection, so an edited
//! `ssh_keys` or a new host agent socket applies without a restart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compiler::config::keys::KeyScope;
use crate::compiler::config::model::Project;
use crate::error::{Error, Result, io_error};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The VM as the user names it, for the log and the confirmation question.
    pub vm: String,
    /// The host's real agent (1Password's or `SSH_AUTH_SOCK`); `None`: there is none.
    pub upstream: Option<PathBuf>,
    /// The `ssh_keys` lists: a key must be named by each (none: every key).
    pub keys: Vec<Vec<String>>,
    /// Ask on the host before each signature.
    pub confirm: bool,
    /// `<LIMA_HOME>/<instance>`: the agent ends a while after the VM stopped running.
    pub lima_dir: PathBuf,
}

impl Policy {
    pub fn for_project(vm: &str, project: &Project, upstream: Option<PathBuf>, lima_dir: PathBuf) -> Self {
        let keys =
            project.ssh_keys.lists().iter().map(|l| l.iter().map(|k| k.as_str().to_string()).collect()).collect();
        Self { vm: vm.to_string(), upstream, keys, confirm: project.confirm_signatures, lima_dir }
    }

    /// This policy, kept at least as narrow as `old`: a key must be named by the lists of both,
    /// and a confirmation either asks for is asked.
    #[must_use]
    pub fn narrowed_by(mut self, old: &Self) -> Self {
        for list in &old.keys {
            if !self.keys.contains(list) {
                self.keys.push(list.clone());
            }
        }
        self.confirm |= old.confirm;
        self
    }

    /// A policy that serves nothing: what the agent uses when its file cannot be read.
    pub fn closed(vm: &str) -> Self {
        Self { vm: vm.to_string(), upstream: None, keys: vec![Vec::new()], confirm: true, lima_dir: PathBuf::new() }
    }

    /// The keys in scope; an entry that does not parse (a hand-edited file) allows nothing.
    pub fn scope(&self) -> KeyScope {
        KeyScope::from_lists(&self.keys).unwrap_or_else(|| KeyScope::only(Vec::new()))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| io_error("read", path, &e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::failure(format!("{} is not a scoped agent policy", path.display())).caused_by(e))
    }

    /// Writes the file when its content changes (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a policy serialises") + "\n";
        crate::driver::stack::write_atomic(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::config::keys::KeySelector;
    use crate::compiler::config::model::Shell;

    #[test]
    fn a_policy_carries_the_projects_keys_and_fails_closed() {
        let mut project = Project::with_defaults("blog", Shell::Zsh, &[]);
        let all = Policy::for_project("blog", &project, None, "/lima/blog".into());
        assert!(all.keys.is_empty() && all.scope().allows("SHA256:x", "c"), "no ssh_keys: every key");
        project.ssh_keys = KeyScope::only(vec![KeySelector::parse("work").unwrap()]);
        project.confirm_signatures = true;
        let only = Policy::for_project("blog", &project, Some("/run/agent.sock".into()), "/lima/blog".into());
        assert_eq!(only.keys, [["work"]]);
        assert!(only.confirm);
        assert!(only.scope().allows("SHA256:x", "work") && !only.scope().allows("SHA256:x", "home"));
        let broken = Policy { keys: vec![vec!["SHA256:nope".into()]], ..only };
        assert!(!broken.scope().allows("SHA256:nope", "work"), "an unreadable entry allows nothing");
        assert!(!Policy::closed("blog").scope().allows("SHA256:x", "work"));
    }

    #[test]
    fn a_narrowed_policy_takes_the_tighter_of_both() {
        let mut project = Project::with_defaults("blog", Shell::Zsh, &[]);
        let every = Policy::for_project("blog", &project, None, "/lima/blog".into());
        project.ssh_keys = KeyScope::only(vec![KeySelector::parse("work").unwrap()]);
        project.confirm_signatures = true;
        let work = Policy::for_project("blog", &project, None, "/lima/blog".into());
        let merged = every.clone().narrowed_by(&work);
        assert_eq!((merged.keys.clone(), merged.confirm), (vec![vec!["work".to_string()]], true));
        assert_eq!(merged.clone().narrowed_by(&work), merged, "merging again changes nothing");
        let home = Policy { keys: vec![vec!["home".into()]], confirm: false, ..every };
        let both = home.narrowed_by(&work);
        assert!(!both.scope().allows("SHA256:x", "work") && !both.scope().allows("SHA256:x", "home"));
        assert!(both.confirm);
    }

    #[test]
    fn saving_is_atomic_and_skips_an_unchanged_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.json");
        let policy = Policy::closed("blog");
        policy.save(&path).unwrap();
        let first = std::fs::metadata(&path).unwrap().modified().unwrap();
        policy.save(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), first);
        assert_eq!(Policy::load(&path).unwrap(), policy);
    }
}
