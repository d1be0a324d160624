//! What plain `ssh lima-<vm>` (and VS Code, `JetBrains` Gateway) forwards into a machine VM.
//!
//! Lima's per-VM `ssh.config` says `ForwardAgent yes`: included as it is, an `ssh lima-blog`
//! run from a terminal while no ssh master is open would open one that forwards the user's whole
//! agent, and every later connection (machine's too) would share it. So machine writes its own
//! file per VM, `<state>/<instance>/ssh.config`, that sets `ForwardAgent` first (ssh keeps the
//! first value it reads) and then includes Lima's file for the rest: the VM's scoped agent's
//! socket, or `no` for a project without forwarding. `machine ssh-config` makes `~/.ssh/config`
//! include these files (`<state>/*/ssh.config`), not Lima's.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `<state>/<instance>/ssh.config`.
pub fn file(state_dir: &Path, instance: &str) -> PathBuf {
    state_dir.join(instance).join("ssh.config")
}

/// `<state>/*/ssh.config`: the pattern `~/.ssh/config` includes.
pub fn pattern(state_dir: &Path) -> String {
    state_dir.join("*").join("ssh.config").display().to_string()
}

/// The file for one VM. `agent` is the scoped agent's socket, `None` when forwarding is off.
/// Fails when a path cannot be written into an ssh config as it is.
pub fn render(instance: &str, agent: Option<&Path>, lima_config: &Path) -> Result<String> {
    let host = crate::driver::lima::ssh_host(instance);
    let forward = match agent {
        Some(socket) => quote(socket)?,
        None => "no".to_string(),
    };
    let what = if agent.is_some() { "the VM's scoped agent" } else { "no agent (forwarding is off)" };
    Ok(format!(
        "# Written by machine for its VM `{instance}`: `ssh {host}` forwards {what}, then Lima's\n\
         # own settings apply. Rewritten by machine; edits here are lost.\n\
         Host {host}\n  ForwardAgent {forward}\n  Include {}\n",
        quote(lima_config)?
    ))
}

/// Writes the VM's file (only when it changed). `false` when a path cannot be named in an ssh
/// config: then there is no file (so no host `lima-<vm>` through machine's include), and
/// `machine ssh-config` says why.
pub fn write(state_dir: &Path, lima_home: &Path, instance: &str, agent: Option<&Path>) -> Result<bool> {
    let Ok(text) = render(instance, agent, &crate::driver::lima::ssh_config_path(lima_home, instance)) else {
        return Ok(false);
    };
    let path = file(state_dir, instance);
    crate::driver::stack::write_atomic(&path, text.as_bytes())?;
    // ssh refuses every included file others may write, and then every connection: keep 0600
    // even when an existing file had another mode (write_atomic keeps it).
    owner_only(&path)?;
    Ok(true)
}

fn owner_only(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).map_err(|e| crate::error::io_error("read", path, &e))?.permissions().mode();
    if mode & 0o7777 == 0o600 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| crate::error::io_error("set the mode of", path, &e))
}

/// A path as one ssh config argument, in double quotes. ssh expands `%` tokens and `${VAR}` in
/// some arguments, unescapes `\` inside quotes and globs `Include` paths, so a path with any of
/// `"%$\*?[` (or a control character) is refused rather than read differently by ssh.
pub fn quote(path: &Path) -> Result<String> {
    let text = path
        .to_str()
        .filter(|t| !t.chars().any(|c| c.is_control() || matches!(c, '"' | '%' | '$' | '\\' | '*' | '?' | '[')));
    match text {
        Some(text) => Ok(format!("\"{text}\"")),
        None => Err(Error::failure(format!(
            "cannot name {} in an ssh config: the path has a character ssh would read differently (one of `\"%$\\*?[` or a control character)",
            crate::ui::escape::controls(&path.to_string_lossy())
        ))
        .hint("set MACHINE_STATE_DIR and LIMA_HOME to folders whose paths have none of them")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_forwarding_vm_forwards_its_scoped_socket_before_lima_says_yes() {
        let text =
            render("blog", Some(Path::new("/s/blog/agent/agent.sock")), Path::new("/l/blog/ssh.config")).unwrap();
        insta::assert_snapshot!(text, @r#"
        # Written by machine for its VM `blog`: `ssh lima-blog` forwards the VM's scoped agent, then Lima's
        # own settings apply. Rewritten by machine; edits here are lost.
        Host lima-blog
          ForwardAgent "/s/blog/agent/agent.sock"
          Include "/l/blog/ssh.config"
        "#);
    }

    #[test]
    fn a_vm_without_forwarding_forwards_nothing_and_uses_lima_s_host_name() {
        let text = render("blog.fix-a1b2", None, Path::new("/a b/blog.fix-a1b2/ssh.config")).unwrap();
        assert!(text.contains("\nHost lima-blog-fix-a1b2\n  ForwardAgent no\n"), "{text}");
        assert!(text.ends_with("  Include \"/a b/blog.fix-a1b2/ssh.config\"\n"), "{text}");
    }

    #[test]
    fn paths_ssh_would_read_differently_are_refused() {
        for bad in ["/s/%h/x", "/s/${HOME}/x", "/s/\"q\"/x", "/s/new\nline", "/s/a\\b", "/s/*/x", "/s/a?", "/s/[ab]"] {
            let err = quote(Path::new(bad)).unwrap_err().to_string();
            assert!(err.contains("cannot name"), "{bad:?}: {err}");
        }
        assert_eq!(
            quote(Path::new("/Users/ada/Library/Application Support/machine")).unwrap(),
            "\"/Users/ada/Library/Application Support/machine\""
        );
    }

    #[test]
    fn the_file_is_owner_only_even_over_a_looser_one() {
        let tmp = tempfile::tempdir().unwrap();
        let path = file(tmp.path(), "blog");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        assert!(write(tmp.path(), Path::new("/l"), "blog", None).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(std::fs::read_to_string(&path).unwrap().contains("ForwardAgent no"));
        assert!(!write(tmp.path(), Path::new("/l%"), "blog", None).unwrap(), "a path ssh would misread");
    }
}
