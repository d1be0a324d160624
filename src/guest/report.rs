//! What `machine-guest` prints, parsed. Pure.
//!
//! The guest is not trusted: a line that does not have the documented shape is dropped (and
//! counted, so `status` can say so), numbers must parse, folder names must be plain names, and
//! branch names must pass [`crate::compiler::instance::check_branch`]. Text that reaches the terminal is
//! still escaped by the `Ui`.

use serde::Serialize;

use crate::compiler::instance::check_branch;

/// `machine-guest facts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Facts {
    pub uptime_seconds: Option<u64>,
    pub disk_used: Option<u64>,
    pub disk_size: Option<u64>,
    /// `keys <n>`, `no-keys` or `unreachable`.
    pub agent: Option<String>,
    /// The `status` line: `ok`, `running`, `failed …`.
    pub provision: Option<String>,
    pub repos: Vec<RepoState>,
    /// Lines that had no documented shape.
    #[serde(skip)]
    pub ignored: usize,
}

/// One `repo` line of `facts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RepoState {
    pub dir: String,
    /// `None` when HEAD is detached.
    pub branch: Option<String>,
    /// `origin/<branch>`, or `None` when the branch tracks nothing.
    pub upstream: Option<String>,
    pub ahead: Option<u64>,
    pub behind: Option<u64>,
    pub dirty: bool,
    /// Commits on no remote branch.
    pub unpushed: u64,
}

impl Facts {
    pub fn parse(text: &str) -> Self {
        let mut facts = Self::default();
        for line in text.lines() {
            if !facts.take(line) {
                facts.ignored += 1;
            }
        }
        facts
    }

    /// Whether the repos hold work that exists nowhere else.
    pub fn own_work(&self) -> bool {
        self.repos.iter().any(|r| r.dirty || r.unpushed > 0)
    }

    fn take(&mut self, line: &str) -> bool {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["uptime", s] => set(&mut self.uptime_seconds, s.parse().ok()),
            ["disk", used, size] => match (used.parse().ok(), size.parse().ok()) {
                (Some(used), Some(size)) => {
                    (self.disk_used, self.disk_size) = (Some(used), Some(size));
                    true
                }
                _ => false,
            },
            ["agent", "keys", n] if n.parse::<u32>().is_ok() => set(&mut self.agent, Some(format!("keys {n}"))),
            ["agent", state @ ("no-keys" | "unreachable")] => set(&mut self.agent, Some((*state).to_string())),
            ["provision", rest @ ..]
                if !rest.is_empty() && rest[0].chars().all(|c| c.is_ascii_lowercase() || c == '-') =>
            {
                set(&mut self.provision, Some(rest.join(" ")))
            }
            ["repo", dir, branch, upstream, ahead, behind, state, unpushed] => {
                match repo(dir, branch, upstream, ahead, behind, state, unpushed) {
                    Some(r) => {
                        self.repos.push(r);
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }
}

fn set<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    let ok = value.is_some();
    if ok {
        *slot = value;
    }
    ok
}

fn repo(
    dir: &str,
    branch: &str,
    upstream: &str,
    ahead: &str,
    behind: &str,
    state: &str,
    unpushed: &str,
) -> Option<RepoState> {
    if !plain_dir(dir) {
        return None;
    }
    let branch = optional(branch).map(|b| check_branch(b).map(|()| b.to_string())).transpose().ok()?;
    let upstream = match optional(upstream) {
        Some(u) => Some(u.strip_prefix("origin/").filter(|b| check_branch(b).is_ok()).map(|_| u.to_string())?),
        None => None,
    };
    let count = |text: &str| -> Option<Option<u64>> {
        match optional(text) {
            None => Some(None),
            Some(n) => n.parse().ok().map(Some),
        }
    };
    let dirty = match state {
        "clean" => false,
        "dirty" => true,
        _ => return None,
    };
    Some(RepoState {
        dir: dir.to_string(),
        branch,
        upstream,
        ahead: count(ahead)?,
        behind: count(behind)?,
        dirty,
        unpushed: unpushed.parse().ok()?,
    })
}

fn optional(word: &str) -> Option<&str> {
    (word != "-").then_some(word)
}

/// A plain folder name under `~/code`, as machine-guest's `check_dir` demands.
pub fn plain_dir(dir: &str) -> bool {
    !dir.is_empty()
        && dir != "."
        && dir != ".."
        && !dir.starts_with('-')
        && !dir.contains('/')
        && !dir.chars().any(char::is_control)
}

/// `machine-guest branch-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchState {
    /// Its tip is in the remote's default branch.
    Merged,
    /// It was pushed, and the remote deleted it.
    Gone,
    Open,
}

impl BranchState {
    pub fn parse(text: &str, branch: &str) -> Option<Self> {
        let line = text.lines().next()?;
        let (state, name) = line.split_once(' ')?;
        if name != branch {
            return None;
        }
        match state {
            "merged" => Some(Self::Merged),
            "gone" => Some(Self::Gone),
            "open" => Some(Self::Open),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_lines() {
        let facts = Facts::parse(
            "uptime 4242\ndisk 100 2000\nagent keys 2\nprovision failed docker: apt-get exited 100\n\
             repo app feature/x origin/feature/x 1 0 dirty 1\nrepo lib - - - - clean 0\n",
        );
        assert_eq!(facts.uptime_seconds, Some(4242));
        assert_eq!((facts.disk_used, facts.disk_size), (Some(100), Some(2000)));
        assert_eq!(facts.agent.as_deref(), Some("keys 2"));
        assert_eq!(facts.provision.as_deref(), Some("failed docker: apt-get exited 100"));
        assert_eq!(
            facts.repos,
            vec![
                RepoState {
                    dir: "app".into(),
                    branch: Some("feature/x".into()),
                    upstream: Some("origin/feature/x".into()),
                    ahead: Some(1),
                    behind: Some(0),
                    dirty: true,
                    unpushed: 1,
                },
                RepoState {
                    dir: "lib".into(),
                    branch: None,
                    upstream: None,
                    ahead: None,
                    behind: None,
                    dirty: false,
                    unpushed: 0
                },
            ]
        );
        assert!(facts.own_work());
        assert_eq!(facts.ignored, 0);
    }

    #[test]
    fn lines_without_the_documented_shape_are_dropped_and_counted() {
        let facts = Facts::parse(
            "uptime soon\ndisk 1\nagent keys many\nrepo ../x main - - - clean 0\nrepo a -x - - - clean 0\n\
             repo a main upstream 0 0 clean 0\nrepo a main - - - shiny 0\nrepo a main - - - clean -1\n\
             provision \u{1b}[2J\nwhatever\n",
        );
        assert_eq!(facts, Facts { ignored: 10, ..Facts::default() });
    }

    #[test]
    fn branch_states() {
        assert_eq!(BranchState::parse("merged a/b\n", "a/b"), Some(BranchState::Merged));
        assert_eq!(BranchState::parse("gone a\n", "a"), Some(BranchState::Gone));
        assert_eq!(BranchState::parse("open a\n", "a"), Some(BranchState::Open));
        assert_eq!(BranchState::parse("merged b\n", "a"), None, "another branch's answer");
        assert_eq!(BranchState::parse("closed a\n", "a"), None);
        assert_eq!(BranchState::parse("", "a"), None);
    }
}
