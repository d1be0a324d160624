//! Editing projects.toml in place, for `machine create`.
//!
//! The file is edited through `toml_edit`, never re-serialised from the model: only the keys
//! whose value the wizard changed are touched, so comments, blank lines, key order, other
//! tables and the keys the wizard does not ask about (`image`, `lima`, …) stay as they were. A
//! changed value keeps its key's comments and its trailing comment; a changed array keeps the
//! comments of the entries it keeps; a removed key's comment lines move to a neighbour. A new
//! project is appended at the end of the file after one blank line.

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use crate::compiler::config::model::{Project, RepoUrl, STANDARD_LAYERS, Shell, Size};
use crate::compiler::config::parse::Defaults;
use crate::error::{Error, Result};

/// The keys the wizard decides for one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    pub name: String,
    pub repos: Vec<RepoUrl>,
    pub profiles: Vec<String>,
    /// Standard layers left out, in chain order.
    pub without: Vec<String>,
    pub shell: Shell,
    pub forward_agent: bool,
    /// `ssh_keys` as written (`None`: not set, every key of the agent).
    pub ssh_keys: Option<Vec<String>>,
    pub confirm_signatures: bool,
    pub cpus: Option<u32>,
    pub memory: Option<Size>,
    pub disk: Option<Size>,
}

impl Answers {
    /// What the file means today for `name`: its entry, or what a new entry gets by default.
    pub fn current(name: &str, entry: Option<&Project>, defaults: &Defaults) -> Self {
        match entry {
            Some(p) => Self {
                name: name.to_string(),
                repos: p.repos.clone(),
                profiles: p.profiles.clone(),
                without: p.without.clone(),
                shell: p.shell,
                forward_agent: p.forward_agent,
                ssh_keys: p.ssh_keys.own().map(|l| l.iter().map(|k| k.as_str().to_string()).collect()),
                confirm_signatures: p.confirm_signatures,
                cpus: p.cpus,
                memory: p.memory.clone(),
                disk: p.disk.clone(),
            },
            None => Self {
                name: name.to_string(),
                repos: Vec::new(),
                profiles: defaults.profiles.clone(),
                without: Vec::new(),
                shell: defaults.shell,
                forward_agent: true,
                ssh_keys: None,
                confirm_signatures: false,
                cpus: None,
                memory: None,
                disk: None,
            },
        }
    }
}

/// One key's edit.
#[derive(Debug, Clone)]
enum Change {
    List(&'static str, Vec<String>),
    Value(&'static str, Value),
    Remove(&'static str),
}

/// `text` with `new.name`'s entry changed from `old` to `new` (or appended, when the file has
/// no such entry). `old` must describe what the file means today.
pub fn apply(text: &str, old: &Answers, new: &Answers) -> Result<String> {
    let mut doc: DocumentMut =
        text.parse().map_err(|e| Error::usage(format!("cannot edit a file that is not valid TOML: {e}")))?;
    let changes = changes(old, new);
    match doc.get_mut(&new.name) {
        Some(Item::Table(table)) => {
            for change in &changes {
                change_table(table, change);
            }
        }
        Some(Item::Value(Value::InlineTable(table))) => {
            for change in &changes {
                change_inline(table, change);
            }
        }
        Some(_) => return Err(Error::usage(format!("`{}` in the file is not a project table", new.name))),
        None => append(&mut doc, &new.name, &changes),
    }
    Ok(doc.to_string())
}

/// One project's entry as it stands in `text` (its header, keys and sub-tables), for printing.
pub fn entry_text(text: &str, name: &str) -> Option<String> {
    let doc: DocumentMut = text.parse().ok()?;
    let mut item = doc.get(name)?.clone();
    if let Item::Table(table) = &mut item {
        table.decor_mut().set_prefix("");
    }
    let mut only = DocumentMut::new();
    only.insert(name, item);
    Some(only.to_string().trim().to_string())
}

/// The keys to edit: exactly those whose meaning differs.
fn changes(old: &Answers, new: &Answers) -> Vec<Change> {
    let mut out = Vec::new();
    if old.repos != new.repos {
        out.push(list_or_remove("repos", new.repos.iter().map(RepoUrl::to_string).collect()));
    }
    if old.profiles != new.profiles {
        out.push(Change::List("profiles", new.profiles.clone()));
    }
    if old.without != new.without {
        let all = new.without.len() == STANDARD_LAYERS.len();
        out.push(if all {
            Change::List("without", vec!["standard".into()])
        } else {
            list_or_remove("without", new.without.clone())
        });
    }
    if old.shell != new.shell {
        out.push(Change::Value("shell", new.shell.as_str().into()));
    }
    if old.forward_agent != new.forward_agent {
        out.push(Change::Value("forward_agent", new.forward_agent.into()));
    }
    if old.ssh_keys != new.ssh_keys {
        out.push(new.ssh_keys.clone().map_or(Change::Remove("ssh_keys"), |keys| Change::List("ssh_keys", keys)));
    }
    if old.confirm_signatures != new.confirm_signatures {
        out.push(if new.confirm_signatures {
            Change::Value("confirm_signatures", true.into())
        } else {
            Change::Remove("confirm_signatures")
        });
    }
    if old.cpus != new.cpus {
        out.push(new.cpus.map_or(Change::Remove("cpus"), |n| Change::Value("cpus", i64::from(n).into())));
    }
    for (key, old, new) in [("memory", &old.memory, &new.memory), ("disk", &old.disk, &new.disk)] {
        if old != new {
            out.push(new.as_ref().map_or(Change::Remove(key), |s| Change::Value(key, Size::as_str(s).into())));
        }
    }
    out
}

fn list_or_remove(key: &'static str, items: Vec<String>) -> Change {
    if items.is_empty() { Change::Remove(key) } else { Change::List(key, items) }
}

fn change_table(table: &mut Table, change: &Change) {
    match change {
        Change::Remove(key) => remove_keeping_comments(table, key),
        _ => set(table, change),
    }
}

fn change_inline(table: &mut InlineTable, change: &Change) {
    match change {
        Change::Remove(key) => {
            table.remove(key);
        }
        _ if table.contains_key(change_key(change)) => set(table, change),
        _ => {
            // Inline tables keep their closing space on the last value: move it to the new one.
            let last_suffix = table.iter_mut().last().and_then(|(_, v)| {
                let suffix = v.decor().suffix().and_then(|s| s.as_str()).map(str::to_string);
                v.decor_mut().set_suffix("");
                suffix
            });
            set(table, change);
            if let Some(value) = table.get_mut(change_key(change)) {
                value.decor_mut().set_prefix(" ");
                value.decor_mut().set_suffix(last_suffix.unwrap_or_else(|| " ".into()));
            }
        }
    }
}

fn change_key(change: &Change) -> &'static str {
    match change {
        Change::List(key, _) | Change::Value(key, _) | Change::Remove(key) => key,
    }
}

/// Sets a key's value, keeping the decor (spacing, trailing comment) of the value it replaces.
fn set(table: &mut dyn TableLike, change: &Change) {
    let key = change_key(change);
    let old = table.get(key).and_then(Item::as_value);
    let mut value = match change {
        Change::List(_, items) => Value::Array(merge_array(key, old.and_then(Value::as_array), items)),
        Change::Value(_, value) => value.clone(),
        Change::Remove(_) => return,
    };
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        Some(other) => *other = Item::Value(value),
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

/// Removes a key; comment lines above it move to the next key, else below the previous one,
/// else below the table's header.
fn remove_keeping_comments(table: &mut Table, key: &str) {
    let keys: Vec<String> = table.iter().filter(|(_, item)| item.is_value()).map(|(k, _)| k.to_string()).collect();
    let Some((removed, _)) = table.remove_entry(key) else { return };
    let comments = removed.leaf_decor().prefix().and_then(|p| p.as_str()).unwrap_or_default().to_string();
    if comments.trim().is_empty() {
        return;
    }
    let at = keys.iter().position(|k| k == key).unwrap_or(0);
    if let Some(mut next) = keys.get(at + 1).and_then(|k| table.key_mut(k)) {
        let own = next.leaf_decor().prefix().and_then(|p| p.as_str()).unwrap_or_default().to_string();
        next.leaf_decor_mut().set_prefix(format!("{comments}{own}"));
        return;
    }
    let below = format!("\n{}", comments.trim_end_matches('\n'));
    let previous = at.checked_sub(1).and_then(|i| keys.get(i));
    if let Some(value) = previous.and_then(|k| table.get_mut(k)).and_then(Item::as_value_mut) {
        append_suffix(value.decor_mut(), &below);
        return;
    }
    append_suffix(table.decor_mut(), &below);
}

fn append_suffix(decor: &mut toml_edit::Decor, text: &str) {
    let own = decor.suffix().and_then(|s| s.as_str()).unwrap_or_default().to_string();
    decor.set_suffix(format!("{own}{text}"));
}

/// The new array for a list key. Entries that stay keep their comments; the layout (one line,
/// or one entry per line) follows the old array, and `repos` with several entries goes one per
/// line.
fn merge_array(key: &str, old: Option<&Array>, items: &[String]) -> Array {
    let old_lines = old.filter(|a| is_multiline(a));
    let grows = key == "repos" && items.len() > 1 && old.is_none_or(|a| a.len() <= 1);
    if !items.is_empty() && (old_lines.is_some() || grows) {
        return lines_array(old_lines, items);
    }
    let mut array = Array::new();
    for item in items {
        array.push(item.as_str());
    }
    array
}

fn is_multiline(array: &Array) -> bool {
    array.iter().any(|v| prefix_of(v).contains('\n')) || array.trailing().as_str().is_some_and(|t| t.contains('\n'))
}

fn prefix_of(value: &Value) -> &str {
    value.decor().prefix().and_then(|p| p.as_str()).unwrap_or_default()
}

/// One entry per line, following `old` (a one-entry-per-line array). In the old array, entry k's prefix is "rest of the previous line
/// (its same-line comment)\n comment lines above k, indent"; the pieces are moved so each
/// kept entry carries its own comments.
fn lines_array(old: Option<&Array>, items: &[String]) -> Array {
    let old_values: Vec<&Value> = old.map(|a| a.iter().collect()).unwrap_or_default();
    let old_trailing = old.and_then(|a| a.trailing().as_str()).unwrap_or("\n").to_string();
    let first_line = |s: &str| s.split_once('\n').map_or(s.to_string(), |(l, _)| l.to_string());
    let after_first = |s: &str| s.split_once('\n').map(|(_, r)| r.to_string());
    // Entry k's comment on its own line: the first line of what follows it.
    let same_line =
        |k: usize| old_values.get(k + 1).map_or_else(|| first_line(&old_trailing), |next| first_line(prefix_of(next)));
    let opening = old_values.first().map(|v| first_line(prefix_of(v))).unwrap_or_default();
    let indent = old_values
        .first()
        .and_then(|v| prefix_of(v).rsplit_once('\n').map(|(_, i)| i.to_string()))
        .unwrap_or_else(|| "  ".into());
    let mut array = Array::new();
    let mut previous_tail = opening;
    for item in items {
        let found = old_values.iter().position(|v| v.as_str() == Some(item.as_str()));
        let mut value = found.map_or_else(|| Value::from(item.as_str()), |k| old_values[k].clone());
        let above = found.and_then(|k| after_first(prefix_of(old_values[k]))).unwrap_or_else(|| indent.clone());
        value.decor_mut().set_prefix(format!("{previous_tail}\n{above}"));
        if found.is_none() {
            value.decor_mut().set_suffix("");
        }
        previous_tail = found.map(same_line).unwrap_or_default();
        array.push_formatted(value);
    }
    let closing = after_first(&old_trailing).unwrap_or_default();
    array.set_trailing(format!("{previous_tail}\n{closing}"));
    array.set_trailing_comma(old.is_none_or(Array::trailing_comma));
    array
}

/// Appends `[name]` with the changed keys after everything else, one blank line before it.
fn append(doc: &mut DocumentMut, name: &str, changes: &[Change]) {
    let mut table = Table::new();
    for change in changes {
        set(&mut table, change);
    }
    let trailing = doc.trailing().as_str().unwrap_or_default().trim_end().to_string();
    let prefix = if !trailing.is_empty() {
        format!("{trailing}\n\n")
    } else if doc.as_table().is_empty() {
        String::new()
    } else {
        "\n".to_string()
    };
    doc.set_trailing("");
    table.decor_mut().set_prefix(prefix);
    table.set_position(Some(last_position(doc.as_table()) + 1));
    doc.insert(name, Item::Table(table));
}

/// The highest document position of any table header in `table`.
fn last_position(table: &Table) -> isize {
    let mut last = table.position().unwrap_or(0);
    for (_, item) in table {
        match item {
            Item::Table(sub) => last = last.max(last_position(sub)),
            Item::ArrayOfTables(array) => {
                for sub in array {
                    last = last.max(last_position(sub));
                }
            }
            _ => {}
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::config::model::Shell;

    fn answers(name: &str) -> Answers {
        Answers::current(name, None, &Defaults::default())
    }

    fn repo(s: &str) -> RepoUrl {
        RepoUrl::parse(s).unwrap()
    }

    #[test]
    fn appends_a_new_project_after_trailing_comments() {
        let text = "[a]\nx = 1\n\n# the end\n\n\n";
        let mut new = answers("blog");
        new.repos = vec![repo("git@h:you/blog.git")];
        let out = apply(text, &answers("blog"), &new).unwrap();
        assert_eq!(out, "[a]\nx = 1\n\n# the end\n\n[blog]\nrepos = [\"git@h:you/blog.git\"]\n");
        assert_eq!(apply("", &answers("n"), &answers("n")).unwrap(), "[n]\n");
        assert_eq!(apply("[a]\nx = 1", &answers("n"), &answers("n")).unwrap(), "[a]\nx = 1\n\n[n]\n");
    }

    #[test]
    fn a_new_project_goes_after_out_of_order_sub_tables() {
        let text = "[a]\n[b]\n[a.x]\ny = 1\n";
        let out = apply(text, &answers("c"), &answers("c")).unwrap();
        assert_eq!(out, "[a]\n[b]\n[a.x]\ny = 1\n\n[c]\n");
    }

    #[test]
    fn several_repos_go_one_per_line_and_keep_their_comments() {
        let text = "[w]\nrepos = [ # mine\n  # the app\n  \"git@h:a.git\", # primary\n  \"git@h:b.git\",\n] # end\n";
        let mut old = answers("w");
        old.repos = vec![repo("git@h:a.git"), repo("git@h:b.git")];
        let mut new = old.clone();
        new.repos = vec![repo("git@h:c.git"), repo("git@h:a.git")];
        let out = apply(text, &old, &new).unwrap();
        assert_eq!(
            out,
            "[w]\nrepos = [ # mine\n  \"git@h:c.git\",\n  # the app\n  \"git@h:a.git\", # primary\n] # end\n"
        );
        let mut two = answers("n");
        two.repos = vec![repo("git@h:a.git"), repo("git@h:b.git")];
        let out = apply("", &answers("n"), &two).unwrap();
        assert_eq!(out, "[n]\nrepos = [\n  \"git@h:a.git\",\n  \"git@h:b.git\",\n]\n");
    }

    #[test]
    fn a_removed_key_leaves_its_comments_behind() {
        let text = "[p]\n# sized for tests\ncpus = 4\nmemory = 8 # GiB\n\n[q]\n";
        let mut old = answers("p");
        old.cpus = Some(4);
        old.memory = Size::from_gib(8);
        let mut new = old.clone();
        new.cpus = None;
        assert_eq!(apply(text, &old, &new).unwrap(), "[p]\n# sized for tests\nmemory = 8 # GiB\n\n[q]\n");
        new.memory = None;
        new.cpus = Some(4);
        let text = "[p]\ncpus = 4\n# sized for tests\nmemory = 8\n";
        assert_eq!(apply(text, &old, &new).unwrap(), "[p]\ncpus = 4\n# sized for tests\n");
        let text = "[p] # mine\n# sized for tests\nmemory = 8\n";
        let mut only = answers("p");
        only.memory = Size::from_gib(8);
        assert_eq!(apply(text, &only, &answers("p")).unwrap(), "[p] # mine\n# sized for tests\n");
    }

    #[test]
    fn inline_tables_gain_keys_tidily() {
        let mut new = answers("a");
        new.cpus = Some(2);
        new.shell = Shell::Bash;
        let out = apply("a = { repos = [] }\n", &answers("a"), &new).unwrap();
        assert_eq!(out, "a = { repos = [], shell = \"bash\", cpus = 2 }\n");
    }

    #[test]
    fn the_entry_is_printed_without_the_comments_above_it() {
        let text = "[a]\nx = 1\n\n# about b\n[b]\ny = 2\n\n[b.lima]\nz = 3\n";
        assert_eq!(entry_text(text, "b").unwrap(), "[b]\ny = 2\n\n[b.lima]\nz = 3");
    }
}
