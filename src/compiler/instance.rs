//! Which VM a command means: a project's own (`blog`), or one of its branch instances
//! (`blog@feature/x`), and the Lima instance name each one gets. Pure.
//!
//! A branch instance's Lima name is a slug of both parts plus a hash of the exact pair, so it is
//! stable (the same pair always gives the same name), valid for Lima
//! (`[A-Za-z0-9]+([._-][A-Za-z0-9]+)*`), collision-free (two pairs never share a name, whatever
//! their slugs) and short: Lima's ssh control socket lives at `<LIMA_HOME>/<name>/ssh.sock`, and
//! a Unix socket path is at most 104 bytes on macOS.

use sha2::{Digest, Sha256};

/// The longest branch instance name: with `~/.lima/` under a typical home, the socket path
/// stays well under the 104 bytes macOS allows.
pub const BRANCH_NAME_MAX: usize = 40;

/// The most of a branch instance name the branch's slug takes.
const SLUG_MAX: usize = 18;

/// A parsed `PROJECT[@BRANCH]` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub project: String,
    pub branch: Option<String>,
}

impl Spec {
    /// `PROJECT` or `PROJECT@BRANCH`; the project part is checked by the caller (it may be a
    /// name with no entry), the branch here.
    pub fn parse(arg: &str) -> Result<Self, String> {
        match arg.split_once('@') {
            None => Ok(Self { project: arg.to_string(), branch: None }),
            Some((project, branch)) => {
                check_branch(branch)?;
                Ok(Self { project: project.to_string(), branch: Some(branch.to_string()) })
            }
        }
    }

    /// The Lima instance this names.
    pub fn instance(&self) -> String {
        match &self.branch {
            None => self.project.clone(),
            Some(branch) => branch_instance(&self.project, branch),
        }
    }

    /// How the user writes it: `blog` or `blog@feature/x`.
    pub fn shown(&self) -> String {
        match &self.branch {
            None => self.project.clone(),
            Some(branch) => format!("{}@{branch}", self.project),
        }
    }
}

/// A branch name git accepts (`git check-ref-format --branch`, as far as a name can be checked
/// without git) and that is safe to pass as one argv word.
pub fn check_branch(branch: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{}` is not a branch name: {why}", branch.escape_debug()));
    if branch.is_empty() {
        return bad("it is empty");
    }
    if branch.starts_with('-') {
        return bad("it starts with `-`");
    }
    if branch.chars().any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c)) {
        return bad("it contains a space, a control character or one of ~ ^ : ? * [ \\");
    }
    if branch.contains("..") || branch.contains("@{") || branch.contains("//") {
        return bad("it contains `..`, `@{` or `//`");
    }
    if branch == "HEAD" {
        return bad("`HEAD` names whatever is checked out");
    }
    let ends_lock = branch.split('/').any(|part| part.to_ascii_lowercase().ends_with(".lock"));
    if branch.starts_with('/') || branch.ends_with('/') || branch.ends_with('.') || ends_lock {
        return bad("it starts or ends with `/`, ends with `.`, or a part of it ends with `.lock`");
    }
    if branch.split('/').any(|part| part.starts_with('.')) || branch == "@" {
        return bad("a part of it starts with `.`, or it is `@`");
    }
    if branch.len() > 200 {
        return bad("it is longer than 200 characters");
    }
    Ok(())
}

/// `<project>.<branch slug>-<hash>`, at most [`BRANCH_NAME_MAX`] characters.
pub fn branch_instance(project: &str, branch: &str) -> String {
    let mut h = Sha256::new();
    h.update(project.as_bytes());
    h.update([0]);
    h.update(branch.as_bytes());
    // Room for both parts (the name also holds `.`, `-` and the hash): the slug gets up to
    // `SLUG_MAX` of it, the project the rest.
    let hash = crate::compiler::compile::hex(&h.finalize()[..4]);
    let slug = slug(branch);
    let room = BRANCH_NAME_MAX - hash.len() - 2;
    let project_part = truncate(project, room - slug.len().min(SLUG_MAX));
    let slug_part = truncate(&slug, room - project_part.len());
    if slug_part.is_empty() { format!("{project_part}-{hash}") } else { format!("{project_part}.{slug_part}-{hash}") }
}

/// Lowercase letters and digits, runs of anything else as one `-`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// At most `max` characters, never ending in a separator (Lima refuses that).
fn truncate(text: &str, max: usize) -> String {
    let cut: String = text.chars().take(max).collect();
    cut.trim_end_matches(['-', '.', '_']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::config::model::check_instance_name;

    #[test]
    fn specs() {
        assert_eq!(Spec::parse("blog").unwrap(), Spec { project: "blog".into(), branch: None });
        let s = Spec::parse("blog@feature/Login-Form").unwrap();
        assert_eq!(s.branch.as_deref(), Some("feature/Login-Form"));
        assert_eq!(s.shown(), "blog@feature/Login-Form");
        assert_eq!(s.instance(), branch_instance("blog", "feature/Login-Form"));
        assert_eq!(Spec::parse("blog").unwrap().instance(), "blog");
        for bad in ["blog@", "blog@-x", "blog@a b", "blog@a..b", "blog@x.lock", "blog@a/", "blog@.hidden", "blog@a:b"] {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branch_instance_names_are_stable_valid_short_and_distinct() {
        let a = branch_instance("blog", "feature/login-form");
        assert_eq!(a, branch_instance("blog", "feature/login-form"), "stable");
        assert!(a.starts_with("blog.feature-login-form-"), "{a}");
        // Same slug, different branches: different names.
        assert_ne!(branch_instance("blog", "Feature/Login"), branch_instance("blog", "feature-login"));
        // A project's own name never carries the hash's shape after a `.`-slug.
        assert_ne!(branch_instance("blog.x", "y"), branch_instance("blog", "x.y"));
        for (project, branch) in [
            ("blog", "x"),
            ("a", "é中😀"),
            (&"p".repeat(76) as &str, &"b/".repeat(90) as &str),
            ("my-app", "release/2026.12"),
            ("x", "---a---"),
        ] {
            let name = branch_instance(project, branch);
            assert!(name.len() <= BRANCH_NAME_MAX, "{name}");
            assert!(check_instance_name(&name).is_ok(), "{name}: {:?}", check_instance_name(&name));
        }
    }
}
