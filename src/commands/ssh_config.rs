//! `machine ssh-config [--install]`: the `Include` line that makes machine's VMs (hosts
//! `lima-<vm>`) reachable by plain `ssh` and by IDEs that connect over SSH (VS Code).
//!
//! It includes machine's per-VM files (`ssh_hosts`: each sets what the host forwards, then
//! includes Lima's `ssh.config`, which Lima rewrites at every start), not Lima's files directly:
//! those say `ForwardAgent yes`, which would forward the user's whole agent. `--install` puts it
//! at the top of `~/.ssh/config` (ssh only honours an `Include` before the first `Host`/`Match`
//! block for every host, and keeps the first value it reads), once, replacing the file
//! atomically with its mode kept; the Lima `Include` older versions of machine added is replaced
//! in place (at the top instead when a `Host`/`Match` block comes before it).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::Ctx;
use crate::driver::{lima, ssh_hosts};
use crate::error::{Error, Result, io_error};

/// Print (or, with --install, add to ~/.ssh/config) the Include line for machine's VMs.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "With the line in ~/.ssh/config, `ssh lima-<vm>` works, and VS Code Remote-SSH and\nJetBrains Gateway list every VM as `lima-<vm>` (see also `machine code`). Each host\nforwards its VM's scoped SSH agent (or none when the project turns forwarding off), never\nyour whole agent."
)]
pub struct Args {
    /// Add the line at the top of ~/.ssh/config (once; the rest of the file is kept).
    #[arg(long)]
    pub install: bool,
}

/// The comment above the line `--install` adds.
const COMMENT: &str = "# machine's VMs (lima-<vm>, each with its own agent), added by `machine ssh-config --install`.";
/// The comment above the Lima `Include` that older versions of `--install` added.
const OLD_COMMENT: &str = "# Lima's per-VM hosts (lima-<project>), added by `machine ssh-config --install`.";

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    let lima_home = ctx.lima()?.home;
    let line = include_line(&ctx.paths.state_dir)?;
    // Each VM's file names Lima's: a LIMA_HOME ssh would misread leaves no host to reach.
    ssh_hosts::quote(&lima_home)?;
    refresh_hosts(ctx, &lima_home)?;
    if !args.install {
        ctx.ui.data(&line);
        return Ok(0);
    }
    let file = user_config(ctx)?;
    let patterns = Patterns::new(&ctx.paths.state_dir, &lima_home, home(ctx));
    match install(&file, &patterns, &line)? {
        Installed::Added => ctx.ui.note(&format!("added `{line}` at the top of {}", file.display())),
        Installed::Replaced => ctx.ui.note(&format!(
            "replaced the Lima `Include` machine had added to {} with `{line}`: `ssh lima-<vm>` now forwards each VM's scoped agent (a connection opened before now keeps what it forwards until the VM stops or `machine down`)",
            file.display()
        )),
        Installed::Already => ctx.ui.note(&format!("{} already includes machine's ssh configs", file.display())),
    }
    if let Some(problem) = classify(&read(&file)?.unwrap_or_default(), &patterns).problem(&file) {
        ctx.ui.warn(&problem);
    }
    Ok(0)
}

/// Writes the file of every VM machine has a record of that has none yet (VMs made before
/// machine wrote them). Existing files are left to `up` and the session commands, which know
/// each VM's project as the user addresses it; without a configuration to read, none is written.
fn refresh_hosts(ctx: &mut Ctx<'_>, lima_home: &Path) -> Result<()> {
    let state = ctx.paths.state_dir.clone();
    let missing: Vec<_> = crate::driver::project_state::records(&state)
        .into_iter()
        .filter(|(instance, _)| !ssh_hosts::file(&state, instance).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let config = match ctx.catalog().and_then(|catalog| ctx.config(&catalog)) {
        Ok(config) => config,
        Err(e) => {
            ctx.ui.warn(&format!(
                "{}: `ssh lima-<vm>` cannot reach {} VM(s) made before this version of machine until `machine up` runs for each",
                e.message(),
                missing.len()
            ));
            return Ok(());
        }
    };
    for (instance, applied) in missing {
        let forwards = config.project(&applied.project).is_some_and(|p| p.forward_agent);
        let agent = forwards.then(|| crate::servers::scoped_agent::AgentDir::new(&state, &instance).socket());
        ssh_hosts::write(&state, lima_home, &instance, agent.as_deref())?;
    }
    Ok(())
}

/// `Include <state>/*/ssh.config`, quoted when the path has spaces.
pub fn include_line(state_dir: &Path) -> Result<String> {
    ssh_hosts::quote(state_dir)?;
    let pattern = ssh_hosts::pattern(state_dir);
    Ok(if pattern.contains(char::is_whitespace) {
        format!("Include \"{pattern}\"")
    } else {
        format!("Include {pattern}")
    })
}

/// The two patterns an `Include` in `~/.ssh/config` may name, and the home `~/` stands for.
pub struct Patterns {
    machine: String,
    lima: String,
    home: Option<PathBuf>,
}

impl Patterns {
    pub fn new(state_dir: &Path, lima_home: &Path, home: Option<PathBuf>) -> Self {
        let lima = lima_home.join("*").join("ssh.config").display().to_string();
        Self { machine: ssh_hosts::pattern(state_dir), lima, home }
    }
}

/// A place in a config: line index, then word index on that line.
type At = (usize, usize);

/// What the top of a config says for machine's VMs: where machine's and Lima's `Include` first
/// appear, and the first `Host`/`Match` line (after it, an `Include` is conditional, and ssh
/// may already have read other values).
#[derive(Debug, Default, PartialEq, Eq)]
struct Found {
    machine: Option<At>,
    lima: Option<At>,
    first_block: Option<usize>,
}

fn find(text: &str, patterns: &Patterns) -> Found {
    let mut found = Found::default();
    for (n, line) in text.lines().enumerate() {
        if found.first_block.is_none() && is_block_start(line) {
            found.first_block = Some(n);
        }
        for (w, word) in include_words(line, patterns.home.as_deref()).iter().enumerate() {
            if found.machine.is_none() && *word == patterns.machine {
                found.machine = Some((n, w));
            }
            if found.lima.is_none() && *word == patterns.lima {
                found.lima = Some((n, w));
            }
        }
    }
    found
}

fn is_block_start(line: &str) -> bool {
    let keyword = line.trim().split(|c: char| c.is_whitespace() || c == '=').next().unwrap_or("");
    keyword.eq_ignore_ascii_case("host") || keyword.eq_ignore_ascii_case("match")
}

/// What `~/.ssh/config` does for machine's VMs (line numbers 1-based, for people).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UserConfig {
    /// machine's per-VM files, before any Lima include and any `Host`/`Match` block.
    Machine,
    /// Lima's own files are read first (or alone): their hosts forward the whole agent.
    LimaFirst(usize),
    /// machine's `Include` (`line`) comes after a `Host`/`Match` line (`block`): it is
    /// conditional, and values read before it (a `Host *` with `ForwardAgent yes`) win.
    Late {
        line: usize,
        block: usize,
    },
    Neither,
}

impl UserConfig {
    /// What is wrong, for people (`None`: nothing, or no include at all).
    pub(crate) fn problem(&self, file: &Path) -> Option<String> {
        match self {
            Self::Machine | Self::Neither => None,
            Self::LimaFirst(line) => Some(format!(
                "line {line} of {} includes Lima's own ssh configs before machine's: `ssh lima-<vm>` from a terminal forwards your whole SSH agent into the VM; delete that line, or move it below machine's `Include`",
                file.display()
            )),
            Self::Late { line, block } => Some(format!(
                "machine's `Include` (line {line} of {}) comes after the `Host`/`Match` block of line {block}: ssh may read another `ForwardAgent` first and forward your whole SSH agent; move the `Include` to the top of the file",
                file.display()
            )),
        }
    }
}

fn classify(text: &str, patterns: &Patterns) -> UserConfig {
    let found = find(text, patterns);
    match (found.machine, found.lima) {
        (m, Some(l)) if m.is_none_or(|m| l < m) => UserConfig::LimaFirst(l.0 + 1),
        (Some(m), _) => match found.first_block {
            Some(block) if block < m.0 => UserConfig::Late { line: m.0 + 1, block: block + 1 },
            _ => UserConfig::Machine,
        },
        (None, _) => UserConfig::Neither,
    }
}

fn home(ctx: &Ctx<'_>) -> Option<PathBuf> {
    (ctx.env)("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// `~/.ssh/config`.
pub fn user_config(ctx: &Ctx<'_>) -> Result<PathBuf> {
    home(ctx).map(|h| h.join(".ssh").join("config")).ok_or_else(|| Error::failure("HOME is not set"))
}

/// The patterns an `Include` line names (`~/` expanded); empty for any other line.
fn include_words(line: &str, home: Option<&Path>) -> Vec<String> {
    let line = line.trim();
    let Some((keyword, rest)) = line.split_once(|c: char| c.is_whitespace() || c == '=') else { return Vec::new() };
    if !keyword.eq_ignore_ascii_case("include") {
        return Vec::new();
    }
    let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '=').trim();
    let words: Vec<&str> = if rest.starts_with('"') { vec![rest] } else { rest.split_whitespace().collect() };
    words.iter().map(|w| expand(w.trim_matches('"'), home)).collect()
}

fn expand(word: &str, home: Option<&Path>) -> String {
    match (word.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest).display().to_string(),
        _ => word.to_string(),
    }
}

/// What `--install` did.
#[derive(Debug, PartialEq, Eq)]
enum Installed {
    Added,
    /// The Lima `Include` (with its comment) an older machine added, replaced in place.
    Replaced,
    Already,
}

fn install(file: &Path, patterns: &Patterns, line: &str) -> Result<Installed> {
    let dir = file.parent().expect("~/.ssh/config has a parent");
    create_private_dir(dir)?;
    // A symlinked config (dotfile managers) is edited where it points.
    let target = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let existing = read(&target)?.unwrap_or_default();
    let found = find(&existing, patterns);
    if found.machine.is_some() {
        return Ok(Installed::Already);
    }
    let (text, done) = match replace_old(&existing, patterns, line, found.first_block) {
        Some(text) => (text, Installed::Replaced),
        None => (format!("{COMMENT}\n{line}\n\n{existing}"), Installed::Added),
    };
    write_atomic(&target, text.as_bytes(), mode_of(&target).unwrap_or(0o600))?;
    Ok(done)
}

/// `text` with the old comment and the Lima `Include` below it replaced by machine's: in place
/// when no `Host`/`Match` block comes before them, else removed and machine's put at the top.
fn replace_old(text: &str, patterns: &Patterns, line: &str, first_block: Option<usize>) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let at = lines.windows(2).position(|pair| {
        pair[0].trim_end() == OLD_COMMENT && include_words(pair[1], patterns.home.as_deref()) == [patterns.lima.clone()]
    })?;
    let (before, after) = (lines[..at].concat(), lines[at + 2..].concat());
    Some(if first_block.is_some_and(|block| block < at) {
        format!("{COMMENT}\n{line}\n\n{before}{after}")
    } else {
        format!("{before}{COMMENT}\n{line}\n{after}")
    })
}

fn read(file: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", file, &e)),
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io_error("create", dir, &e))
}

fn mode_of(file: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(file).ok().map(|m| m.permissions().mode() & 0o7777)
}

/// Writes a temp file next to `path` with `mode`, then renames it over `path`.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path.parent().expect("a file path has a parent");
    let mut tmp = tempfile::Builder::new()
        .prefix(".config.machine-")
        .tempfile_in(dir)
        .map_err(|e| io_error("create a file in", dir, &e))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| tmp.write_all(bytes))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io_error("write", tmp.path(), &e))?;
    tmp.persist(path).map_err(|e| io_error("replace", path, &e.error))?;
    Ok(())
}

/// What `~/.ssh/config` does for this context's state dir and Lima, for `code` and `doctor`.
pub(crate) fn installed_here(ctx: &Ctx<'_>) -> Result<UserConfig> {
    let lima_home = lima::lima_home(ctx.env).ok_or_else(|| Error::failure("neither LIMA_HOME nor HOME is set"))?;
    let patterns = Patterns::new(&ctx.paths.state_dir, &lima_home, home(ctx));
    Ok(classify(&read(&user_config(ctx)?)?.unwrap_or_default(), &patterns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns() -> Patterns {
        Patterns::new(Path::new("/h/.local/state/machine"), Path::new("/h/.lima"), Some(PathBuf::from("/h")))
    }

    #[test]
    fn include_lines_are_recognised_in_their_spellings() {
        let p = patterns();
        for text in [
            "Include /h/.local/state/machine/*/ssh.config\n",
            "  include ~/.local/state/machine/*/ssh.config\n",
            "Include=/h/.local/state/machine/*/ssh.config\n",
        ] {
            assert_eq!(find(text, &p), Found { machine: Some((0, 0)), ..Found::default() }, "{text:?}");
        }
        let two = "Include /etc/ssh/x.conf /h/.local/state/machine/*/ssh.config\n";
        assert_eq!(find(two, &p).machine, Some((0, 1)));
        for text in ["# Include /h/.local/state/machine/*/ssh.config\n", "HostName /h/.lima/*/ssh.config\n", ""] {
            assert_eq!(find(text, &p), Found::default(), "{text:?}");
        }
        let late = find("Host a\nInclude ~/.lima/*/ssh.config\n", &p);
        assert_eq!(late, Found { machine: None, lima: Some((1, 0)), first_block: Some(0) });
        let spaced = Patterns::new(Path::new("/a b"), Path::new("/l"), None);
        assert_eq!(find("Include \"/a b/*/ssh.config\"\n", &spaced).machine, Some((0, 0)));
    }

    #[test]
    fn what_ssh_reads_first_decides() {
        let p = patterns();
        let (machine, lima) = ("Include ~/.local/state/machine/*/ssh.config\n", "Include ~/.lima/*/ssh.config\n");
        assert_eq!(classify(&format!("{machine}{lima}Host *\n  User me\n"), &p), UserConfig::Machine);
        assert_eq!(classify(&format!("{lima}{machine}"), &p), UserConfig::LimaFirst(1));
        assert_eq!(classify(lima, &p), UserConfig::LimaFirst(1));
        let one_line = "Include ~/.lima/*/ssh.config ~/.local/state/machine/*/ssh.config\n";
        assert_eq!(classify(one_line, &p), UserConfig::LimaFirst(1), "the words of one line are read in order");
        let after_block = format!("Host *\n  ForwardAgent yes\n{machine}");
        assert_eq!(classify(&after_block, &p), UserConfig::Late { line: 3, block: 1 });
        assert_eq!(classify("Match all\n", &p), UserConfig::Neither);
        let file = Path::new("/h/.ssh/config");
        let text = UserConfig::LimaFirst(1).problem(file).unwrap();
        assert!(text.starts_with("line 1 of /h/.ssh/config includes Lima's own") && text.contains("whole SSH agent"));
        assert!(UserConfig::Late { line: 3, block: 1 }.problem(file).unwrap().contains("block of line 1"));
        assert_eq!(UserConfig::Machine.problem(file), None);
    }

    #[test]
    fn paths_with_spaces_are_quoted_and_unusable_ones_refused() {
        assert_eq!(include_line(Path::new("/h/s")).unwrap(), "Include /h/s/*/ssh.config");
        assert_eq!(include_line(Path::new("/a b")).unwrap(), "Include \"/a b/*/ssh.config\"");
        assert!(include_line(Path::new("/a%b")).unwrap_err().to_string().contains("cannot name"));
    }

    #[test]
    fn install_goes_first_keeps_content_and_mode_and_runs_once() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join(".ssh/config");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "Host *\n  ServerAliveInterval 60\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let (p, line) = (patterns(), include_line(Path::new("/h/.local/state/machine")).unwrap());
        assert_eq!(install(&file, &p, &line).unwrap(), Installed::Added);
        assert_eq!(install(&file, &p, &line).unwrap(), Installed::Already);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().nth(1), Some("Include /h/.local/state/machine/*/ssh.config"), "{text}");
        assert!(text.ends_with("\nHost *\n  ServerAliveInterval 60\n"), "{text}");
        assert_eq!(text.matches("Include").count(), 1);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn the_lima_include_an_older_machine_added_is_replaced_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("config");
        let before =
            format!("# mine\nIdentitiesOnly yes\n{OLD_COMMENT}\nInclude /h/.lima/*/ssh.config\n\nHost *\n  User me\n");
        std::fs::write(&file, &before).unwrap();
        let (p, line) = (patterns(), include_line(Path::new("/h/.local/state/machine")).unwrap());
        assert_eq!(install(&file, &p, &line).unwrap(), Installed::Replaced);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            format!("# mine\nIdentitiesOnly yes\n{COMMENT}\n{line}\n\nHost *\n  User me\n"),
            "only machine's own two lines change"
        );
        assert_eq!(classify(&text, &p), UserConfig::Machine);
    }

    #[test]
    fn an_old_include_moved_below_a_block_is_replaced_at_the_top() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("config");
        let before = format!("Host *\n  ForwardAgent yes\n{OLD_COMMENT}\nInclude /h/.lima/*/ssh.config\n");
        std::fs::write(&file, &before).unwrap();
        let (p, line) = (patterns(), include_line(Path::new("/h/.local/state/machine")).unwrap());
        assert_eq!(install(&file, &p, &line).unwrap(), Installed::Replaced);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, format!("{COMMENT}\n{line}\n\nHost *\n  ForwardAgent yes\n"));
        assert_eq!(classify(&text, &p), UserConfig::Machine);
    }
}
