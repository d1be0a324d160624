//! The host's global git config, read as `git config --global` reads it, without starting git
//! (on a cheap command that process was a third of the work).
//!
//! Only what is certain is read here; everything else is left to git itself, which then reads
//! it, or says what is wrong with it. The parser follows git's own (`config.c`): sections
//! `[name]` and `[name "sub"]`, keys with or without a value, quoting, the four escapes,
//! continuation lines, `#`/`;` comments, CRLF and a leading byte order mark. `--global` follows
//! no `include` directive (`--includes` is off for a named file), and neither does this.

use std::ffi::OsString;
use std::path::PathBuf;

/// One entry as `git config -z --list` prints it: the key in git's canonical form (section and
/// name in lower case, a subsection as written) and the value, `None` for a key without `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// Why a file is left to git.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doubt {
    /// git would refuse it (a bad config line): git says where and why.
    Malformed,
    /// git versions read it differently (a tab inside a value: older ones print a space), or
    /// what git prints of it is not plain (a NUL byte, a subsection that is not UTF-8).
    Uncertain,
}

/// The variables that change what `git config --global` reads or whether it runs at all
/// (`GIT_CONFIG` with `--global` is an error; a bad command-scope entry is fatal).
const GIT_VARIABLES: [&str; 4] = ["GIT_CONFIG_GLOBAL", "GIT_CONFIG", "GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS"];

/// The entries of the global config file, in file order; `None` when only git can say: one of
/// [`GIT_VARIABLES`] or a missing `HOME` to interpret, both `~/.gitconfig` and the XDG file
/// present (git versions differ on which they read), a file that cannot be read or that
/// [`parse`] doubts. No file at all is no entry, as for git. (git, run in a repository whose
/// `.git/config` it cannot read, fails where this reads the global file.)
pub fn global_entries(get: &dyn Fn(&str) -> Option<OsString>) -> Option<Vec<Entry>> {
    if GIT_VARIABLES.iter().any(|v| get(v).is_some()) {
        return None;
    }
    let home = get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)?;
    let xdg = match get("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("git/config"),
        None => home.join(".config/git/config"),
    };
    let user = home.join(".gitconfig");
    let file = match (exists(&user), exists(&xdg)) {
        (true, true) => return None,
        (true, false) => user,
        (false, true) => xdg,
        (false, false) => return Some(Vec::new()),
    };
    parse(&std::fs::read(file).ok()?).ok()
}

/// Whether something is at `path` (a dangling link, a folder, an unreadable file count too:
/// git then warns or fails, and is left to).
fn exists(path: &std::path::Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Every entry of one config file's text, as git lists them.
pub fn parse(text: &[u8]) -> Result<Vec<Entry>, Doubt> {
    // git reads C strings: a NUL byte would cut what it prints. Not worth guessing.
    if text.contains(&0) {
        return Err(Doubt::Uncertain);
    }
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    let mut src = Source { text, pos: 0, eof: false };
    let mut entries = Vec::new();
    let mut section = String::new();
    let mut comment = false;
    loop {
        let c = src.next();
        if c == b'\n' {
            if src.eof {
                return Ok(entries);
            }
            comment = false;
            continue;
        }
        if comment || is_space(c) {
            continue;
        }
        match c {
            b'#' | b';' => comment = true,
            b'[' => {
                section = src.section()?;
                section.push('.');
            }
            c if c.is_ascii_alphabetic() => entries.push(src.entry(&section, c)?),
            _ => return Err(Doubt::Malformed),
        }
    }
}

/// git's `isspace`: its own table, ASCII only.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// The text as git's `get_next_char` hands it out: CRLF as `\n`, and the end as an endless
/// run of `\n` with `eof` set.
struct Source<'a> {
    text: &'a [u8],
    pos: usize,
    eof: bool,
}

impl Source<'_> {
    fn next(&mut self) -> u8 {
        let Some(&c) = self.text.get(self.pos) else {
            self.eof = true;
            return b'\n';
        };
        self.pos += 1;
        if c == b'\r' && self.text.get(self.pos) == Some(&b'\n') {
            self.pos += 1;
            return b'\n';
        }
        c
    }

    /// After `[`: `name]` or `name "sub"]`, as the key's stem (`name` or `name.sub`).
    fn section(&mut self) -> Result<String, Doubt> {
        let mut name = String::new();
        loop {
            let c = self.next();
            if self.eof {
                return Err(Doubt::Malformed);
            }
            match c {
                b']' if !name.is_empty() => return Ok(name),
                c if is_space(c) => return self.subsection(name, c),
                c if is_key_char(c) || c == b'.' => name.push(char::from(c.to_ascii_lowercase())),
                _ => return Err(Doubt::Malformed),
            }
        }
    }

    /// `"sub"]` after the section's name and a space; the subsection keeps its case and any
    /// byte but a line break (a backslash takes the next one as it is).
    fn subsection(&mut self, mut name: String, mut c: u8) -> Result<String, Doubt> {
        while is_space(c) {
            if c == b'\n' {
                return Err(Doubt::Malformed);
            }
            c = self.next();
        }
        if c != b'"' {
            return Err(Doubt::Malformed);
        }
        let mut sub = Vec::new();
        loop {
            let mut c = self.next();
            match c {
                b'\n' => return Err(Doubt::Malformed),
                b'"' => break,
                b'\\' => {
                    c = self.next();
                    if c == b'\n' {
                        return Err(Doubt::Malformed);
                    }
                }
                _ => {}
            }
            sub.push(c);
        }
        if self.next() != b']' {
            return Err(Doubt::Malformed);
        }
        name.push('.');
        name.push_str(&String::from_utf8(sub).map_err(|_| Doubt::Uncertain)?);
        Ok(name)
    }

    /// A key whose first letter is `first`, and its value if it has `=`.
    fn entry(&mut self, section: &str, first: u8) -> Result<Entry, Doubt> {
        let mut key = section.to_string();
        key.push(char::from(first.to_ascii_lowercase()));
        let mut c;
        loop {
            c = self.next();
            if self.eof || !is_key_char(c) {
                break;
            }
            key.push(char::from(c.to_ascii_lowercase()));
        }
        while c == b' ' || c == b'\t' {
            c = self.next();
        }
        let value = match c {
            b'\n' => None,
            b'=' => Some(self.value()?),
            _ => return Err(Doubt::Malformed),
        };
        Ok(Entry { key, value })
    }

    /// After `=`, to the end of the line: surrounding blanks dropped, blanks inside kept,
    /// quotes removed, `\n` `\t` `\b` `\\` `\"` and `\` + line break (the line goes on)
    /// understood, anything else after `\` refused. Blanks inside other than spaces are doubted:
    /// git 2.46 and later keep them as written, older versions print a space for each.
    fn value(&mut self) -> Result<Vec<u8>, Doubt> {
        let (mut quote, mut comment, mut blanks) = (false, false, Vec::new());
        let mut value = Vec::new();
        loop {
            let c = self.next();
            if c == b'\n' {
                return if quote { Err(Doubt::Malformed) } else { Ok(value) };
            }
            if comment {
                continue;
            }
            if is_space(c) && !quote {
                if !value.is_empty() {
                    blanks.push(c);
                }
                continue;
            }
            if !quote && (c == b'#' || c == b';') {
                comment = true;
                continue;
            }
            if blanks.iter().any(|&b| b != b' ') {
                return Err(Doubt::Uncertain);
            }
            value.append(&mut blanks);
            match c {
                b'\\' => match self.next() {
                    b'\n' => {}
                    b't' => value.push(b'\t'),
                    b'b' => value.push(0x08),
                    b'n' => value.push(b'\n'),
                    c @ (b'\\' | b'"') => value.push(c),
                    _ => return Err(Doubt::Malformed),
                },
                b'"' => quote = !quote,
                c => value.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, Option<String>)> {
        parse(text.as_bytes())
            .expect("parses")
            .into_iter()
            .map(|e| (e.key, e.value.map(|v| String::from_utf8(v).unwrap())))
            .collect()
    }

    fn one(key: &str, value: &str) -> (String, Option<String>) {
        (key.to_string(), Some(value.to_string()))
    }

    #[test]
    fn sections_keys_and_values() {
        let text = "# mine\n[user]\n\tname = Ada  Lovelace   ; the first\n\temail=\"ada@example.com\"\n[User \"Sub\"] Name = q\n[core.X]\nbare\n";
        assert_eq!(
            pairs(text),
            vec![
                one("user.name", "Ada  Lovelace"),
                one("user.email", "ada@example.com"),
                one("user.Sub.name", "q"),
                ("core.x.bare".into(), None),
            ]
        );
    }

    #[test]
    fn quotes_escapes_and_continuations() {
        assert_eq!(pairs("[a]\nk = \" x \"\\t\\\"y\\\\ # z\n"), vec![one("a.k", " x \t\"y\\")]);
        assert_eq!(pairs("[a]\nk = one\\\n  two\n"), vec![one("a.k", "one  two")]);
        assert_eq!(pairs("[a]\r\nk = v\r\n"), vec![one("a.k", "v")]);
        assert_eq!(pairs("\u{feff}[a]\nk = \"#not a comment\""), vec![one("a.k", "#not a comment")]);
        assert_eq!(pairs("k = before any section\n"), vec![one("k", "before any section")]);
    }

    #[test]
    fn what_git_would_refuse_is_left_to_git() {
        for bad in [
            "[a]\nk = \"open\n",
            "[a]\nk = \\q\n",
            "[a\n",
            "[]\nk = v\n",
            "[a \"sub\" ]\n",
            "[a sub]\n",
            "[a]\nk v\n",
            "[a]\n1k = v\n",
            "[a]\n\u{e9} = v\n",
        ] {
            assert_eq!(parse(bad.as_bytes()), Err(Doubt::Malformed), "{bad:?}");
        }
        for unsure in ["[a]\nk = v\0\n", "[a]\nk = a\tb\n", "[a]\nk = a \rb\n"] {
            assert_eq!(parse(unsure.as_bytes()), Err(Doubt::Uncertain), "{unsure:?}");
        }
        assert_eq!(
            pairs("[a]\nk = \"a\tb\"\t\n"),
            vec![one("a.k", "a\tb")],
            "quoted, or at the end: the same everywhere"
        );
    }

    #[test]
    fn the_file_git_would_read() {
        let home = tempfile::tempdir().unwrap();
        let env = |extra: &[(&'static str, &'static str)]| {
            let extra = extra.to_vec();
            let home = home.path().as_os_str().to_owned();
            move |k: &str| {
                if k == "HOME" {
                    return Some(home.clone());
                }
                extra.iter().find(|(name, _)| *name == k).map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(global_entries(&env(&[])), Some(Vec::new()), "no file: nothing set");
        for var in GIT_VARIABLES {
            assert_eq!(global_entries(&env(&[(var, "")])), None, "{var}");
        }
        assert_eq!(global_entries(&|_| None), None, "no HOME");
        std::fs::create_dir_all(home.path().join(".config/git")).unwrap();
        std::fs::write(home.path().join(".config/git/config"), "[user]\nname = Xdg\n").unwrap();
        let keys = |found: Option<Vec<Entry>>| found.map(|e| e.into_iter().map(|e| e.key).collect::<Vec<_>>());
        assert_eq!(keys(global_entries(&env(&[]))), Some(vec!["user.name".to_string()]));
        assert_eq!(global_entries(&env(&[("XDG_CONFIG_HOME", "/nowhere")])), Some(Vec::new()));
        std::fs::write(home.path().join(".gitconfig"), "[user]\nemail = a@b.c\n").unwrap();
        assert_eq!(global_entries(&env(&[])), None, "both files: git decides");
        std::fs::remove_file(home.path().join(".config/git/config")).unwrap();
        assert_eq!(keys(global_entries(&env(&[]))), Some(vec!["user.email".to_string()]));
        std::fs::remove_file(home.path().join(".gitconfig")).unwrap();
        std::fs::create_dir(home.path().join(".gitconfig")).unwrap();
        assert_eq!(global_entries(&env(&[])), None, "a file that cannot be read: git says why");
    }
}
