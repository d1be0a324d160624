//! `machine completions bash|zsh|fish`: shell completion scripts, and the hidden
//! `machine __complete projects|profiles` they call for names that live in the configuration.
//!
//! `clap_complete` writes the static part (subcommands, flags) from the CLI definition. Project and
//! profile names change with `projects.toml` and `.machine.toml`, so each script also gets a small
//! hook that asks `machine __complete …` at completion time. The hook's targets are found by
//! walking the same definition: every subcommand whose first positional is `project` (offering
//! branch VMs too where its value name is `PROJECT[@BRANCH]`), and every `--profile` option. The files under `completions/` are this output; a test keeps them current.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use clap::{Arg, Command, CommandFactory as _, ValueHint};

use super::Ctx;
use crate::compiler::config;
use crate::compiler::config::model::DEFAULT_PROJECT;
use crate::compiler::layers::Catalog;
use crate::error::Result;

/// The program name the scripts complete.
const BIN: &str = "machine";

/// Print a shell completion script (project and profile names come from your configuration).
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Install:\n  \
    bash: machine completions bash > ~/.local/share/bash-completion/completions/machine\n  \
    zsh:  machine completions zsh > \"${fpath[1]}/_machine\"   (then restart zsh)\n  \
    fish: machine completions fish > ~/.config/fish/completions/machine.fish")]
pub struct Args {
    /// The shell to write the script for.
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    pub const ALL: [Self; 3] = [Self::Bash, Self::Zsh, Self::Fish];

    /// The file under `completions/` that holds this shell's script.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Bash => "machine.bash",
            Self::Zsh => "_machine",
            Self::Fish => "machine.fish",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Bash => "bash",
            Self::Zsh => "zsh",
            Self::Fish => "fish",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct CompleteArgs {
    /// What to list, one name per line.
    pub what: Values,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Values {
    /// Configured projects (`.machine.toml` included) and `default`.
    Projects,
    /// The projects, and the branch VMs that exist as PROJECT@BRANCH.
    Vms,
    /// Built-in and user profiles.
    Profiles,
    /// The standard layers `without` can leave out, and `standard` for all of them.
    Layers,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<i32> {
    ctx.ui.data(script(args.shell).trim_end());
    Ok(0)
}

/// Prints the names; a broken configuration gives fewer names, never an error, since a shell
/// completing a word has nowhere to show one.
pub fn complete(args: &CompleteArgs, ctx: &mut Ctx<'_>) -> Result<i32> {
    let catalog = ctx.catalog().unwrap_or_else(|_| Catalog::builtin());
    let names: BTreeSet<String> = match args.what {
        Values::Profiles => catalog.profile_names().into_iter().map(String::from).collect(),
        Values::Layers => crate::compiler::config::model::STANDARD_LAYERS
            .iter()
            .map(ToString::to_string)
            .chain(std::iter::once("standard".to_string()))
            .collect(),
        Values::Projects | Values::Vms => {
            let mut names: BTreeSet<String> = config::load(&ctx.paths, &catalog, &ctx.cwd, ctx.runner)
                .map(|c| c.projects.into_keys().collect())
                .unwrap_or_default();
            names.insert(DEFAULT_PROJECT.to_string());
            if args.what == Values::Vms {
                names.extend(
                    crate::driver::project_state::records(&ctx.paths.state_dir)
                        .into_iter()
                        .filter_map(|(_, applied)| applied.branch.map(|b| format!("{}@{b}", applied.project))),
                );
            }
            names
        }
    };
    if !names.is_empty() {
        ctx.ui.data(&names.into_iter().collect::<Vec<_>>().join("\n"));
    }
    Ok(0)
}

/// The completion script for machine's own command line.
pub fn script(shell: Shell) -> String {
    script_for(&crate::cli::Cli::command(), shell)
}

/// The completion script for `cmd` (a parameter so tests can feed a synthetic CLI).
pub fn script_for(cmd: &Command, shell: Shell) -> String {
    let mut targets = Targets::default();
    let mut cmd = mark(visible_only(cmd), "", &mut targets);
    let mut out = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, BIN, &mut out);
    let text = String::from_utf8(out).expect("clap_complete writes UTF-8");
    match shell {
        Shell::Bash => bash(text, &targets),
        Shell::Zsh => zsh(&text, &targets),
        Shell::Fish => fish(&text, &targets),
    }
}

/// What the hooks complete from the configuration, found by walking the CLI definition.
#[derive(Debug, Default)]
struct Targets {
    /// Subcommand paths (`render`, `bake`) whose first positional is a project.
    projects: Vec<String>,
    /// Subcommand paths (`up`, `ssh`) whose first positional is a project or `PROJECT@BRANCH`.
    vms: Vec<String>,
    /// `(subcommand path, long option)` pairs that take a profile name.
    profiles: Vec<(String, String)>,
    /// `(subcommand path, long option)` pairs that take a standard layer's name (`--without`).
    layers: Vec<(String, String)>,
    /// Options that take a value: the word after one is not a positional.
    valued: BTreeSet<String>,
    /// Subcommand paths that have subcommands of their own.
    parents: Vec<String>,
}

/// Marks project positionals and `--profile` values with value hints nothing else uses, so the
/// generated zsh and fish text can be pointed at `machine __complete` without guessing.
const PROJECT_HINT: ValueHint = ValueHint::Hostname;
const VM_HINT: ValueHint = ValueHint::EmailAddress;
const PROFILE_HINT: ValueHint = ValueHint::Username;

/// The value name of a positional that takes a branch VM too.
const VM_VALUE_NAME: &str = "PROJECT[@BRANCH]";

fn mark(cmd: Command, path: &str, targets: &mut Targets) -> Command {
    let first_positional = cmd.get_positionals().next().map(|a| a.get_id().to_string());
    let mut cmd = cmd;
    let ids: Vec<String> = cmd.get_arguments().map(|a| a.get_id().to_string()).collect();
    for id in ids {
        let arg = cmd.get_arguments().find(|a| a.get_id() == id.as_str()).expect("listed above");
        assert!(
            ![PROJECT_HINT, VM_HINT, PROFILE_HINT].contains(&arg.get_value_hint()),
            "`{id}` uses a value hint the completion hooks reserve"
        );
        if !arg.is_positional() && arg.get_action().takes_values() {
            targets.valued.extend(option_words(arg));
        }
        if !path.is_empty() && first_positional.as_deref() == Some(id.as_str()) && id == "project" {
            let takes_branch = arg.get_value_names().is_some_and(|n| n.iter().any(|n| n == VM_VALUE_NAME));
            let (list, hint) =
                if takes_branch { (&mut targets.vms, VM_HINT) } else { (&mut targets.projects, PROJECT_HINT) };
            list.push(path.to_string());
            cmd = cmd.mut_arg(&id, |a| a.value_hint(hint));
        } else if arg.get_long() == Some("profile") && arg.get_action().takes_values() {
            targets.profiles.push((path.to_string(), "--profile".into()));
            cmd = cmd.mut_arg(&id, |a| a.value_hint(PROFILE_HINT));
        } else if arg.get_long() == Some("without") && arg.get_action().takes_values() {
            targets.layers.push((path.to_string(), "--without".into()));
        }
    }
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    if !names.is_empty() && !path.is_empty() {
        targets.parents.push(path.to_string());
    }
    for name in names {
        let sub_path = if path.is_empty() { name.clone() } else { format!("{path} {name}") };
        cmd = cmd.mut_subcommand(&name, |sub| mark(sub, &sub_path, targets));
    }
    cmd
}

fn option_words(arg: &Arg) -> Vec<String> {
    let longs = arg.get_long().into_iter().map(|l| format!("--{l}"));
    longs.chain(arg.get_short().map(|s| format!("-{s}"))).collect()
}

/// The same command without its hidden subcommands (`clap_complete` would offer `__complete`).
fn visible_only(cmd: &Command) -> Command {
    let visible: Vec<Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    let root = Command::new(BIN).args(cmd.get_arguments().cloned()).subcommands(visible);
    if cmd.get_version().is_some() { root.version(env!("CARGO_PKG_VERSION")) } else { root }
}

const HOOK_NOTE: &str = "machine: project and profile names come from your configuration, through `machine __complete`";

/// The bash hook: finds the subcommand and how many positionals precede the cursor, offers names
/// from `machine __complete` where they belong, and hands everything else to clap's `_machine`.
const BASH_HOOK: &str = r#"
_machine_config_values() {
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$(machine __complete "$1" 2>/dev/null)" -- "$2"))
}

_machine_with_config() {
    local cur=$2 prev=$3 word path="" skip=0 positionals=0 i
    local parents='|@PARENTS@|'
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == = ]]; then
            skip=1
            continue
        fi
        if ((skip)); then
            skip=0
            continue
        fi
        case $word in
        --)
            _machine "$@"
            return
            ;;
@VALUED@        -*) ;;
        *)
            if [[ -z $path ]]; then
                path=$word
            elif ((positionals == 0)) && [[ $parents == *"|$path|"* ]]; then
                path="$path $word"
            else
                positionals=$((positionals + 1))
            fi
            ;;
        esac
    done
    case "$path:$prev" in
@PROFILES@@LAYERS@    esac
    # The word after an option that takes a value is that value: clap completes it (or nothing).
    case $prev in
@VALUE_OF@    esac
    if [[ $cur != -* ]] && ((positionals == 0)); then
        case $path in
@PROJECTS@        esac
    fi
    _machine "$@"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _machine_with_config -o nosort -o bashdefault -o default machine
else
    complete -F _machine_with_config -o bashdefault -o default machine
fi
"#;

fn bash(mut text: String, t: &Targets) -> String {
    let arm = |patterns: Vec<String>, indent: &str, body: &str| {
        if patterns.is_empty() {
            return String::new();
        }
        format!("{indent}{})\n{indent}    {body}\n{indent}    ;;\n", patterns.join(" | "))
    };
    let valued = arm(t.valued.iter().cloned().collect(), "        ", "skip=1");
    let value_of = arm(t.valued.iter().cloned().collect(), "    ", "_machine \"$@\"; return");
    let profiles = t.profiles.iter().map(|(p, o)| format!("\"{p}:{o}\"")).collect();
    let layers = t.layers.iter().map(|(p, o)| format!("\"{p}:{o}\"")).collect();
    let projects = t.projects.iter().map(|p| format!("\"{p}\"")).collect();
    let vms = t.vms.iter().map(|p| format!("\"{p}\"")).collect();
    let hook = BASH_HOOK
        .replace("@PARENTS@", &t.parents.join("|"))
        .replace("@VALUED@", &valued)
        .replace("@PROFILES@", &arm(profiles, "    ", "_machine_config_values profiles \"$cur\"; return 0"))
        .replace("@LAYERS@", &arm(layers, "    ", "_machine_config_values layers \"$cur\"; return 0"))
        .replace("@VALUE_OF@", &value_of)
        .replace(
            "@PROJECTS@",
            &(arm(projects, "        ", "_machine_config_values projects \"$cur\"; return 0")
                + &arm(vms, "        ", "_machine_config_values vms \"$cur\"; return 0")),
        );
    let _ = write!(text, "\n# {HOOK_NOTE}.{hook}");
    text
}

fn zsh(text: &str, t: &Targets) -> String {
    let tail = "if [ \"$funcstack[1]\" = \"_machine\" ]; then";
    let at = text.rfind(tail).expect("clap_complete's zsh script ends by registering _machine");
    let body = text[..at]
        .replace(":_hosts' \\", ":_machine_projects' \\")
        .replace(":_email_addresses' \\", ":_machine_vms' \\")
        .replace(":_users' \\", ":_machine_profiles' \\");
    debug_assert_eq!(body.matches(":_machine_projects'").count(), t.projects.len());
    debug_assert_eq!(body.matches(":_machine_vms'").count(), t.vms.len());
    let mut hooks = format!("# {HOOK_NOTE}.\n");
    for (what, tag) in [("projects", "project"), ("vms", "VM"), ("profiles", "profile")] {
        let _ = write!(
            hooks,
            "(( $+functions[_machine_{what}] )) ||\n_machine_{what}() {{\n    local -a names\n    \
             names=(${{(f)\"$(_call_program {what} machine __complete {what} 2>/dev/null)\"}})\n    \
             _wanted {what} expl '{tag}' compadd -a names\n}}\n"
        );
    }
    format!("{body}{hooks}\n{}", &text[at..])
}

fn fish(text: &str, t: &Targets) -> String {
    let mut out = text.replace("(__fish_complete_users)", "(machine __complete profiles)");
    let _ = writeln!(out, "\n# {HOOK_NOTE}.");
    let paths = t.projects.iter().map(|p| (p, "projects")).chain(t.vms.iter().map(|p| (p, "vms")));
    for (path, what) in paths {
        let mut words = path.split(' ');
        let top = words.next().unwrap_or_default();
        let mut condition = format!("__fish_machine_using_subcommand {top}");
        for word in words {
            let _ = write!(condition, "; and __fish_seen_subcommand_from {word}");
        }
        let _ = writeln!(out, "complete -c machine -n \"{condition}\" -f -a \"(machine __complete {what})\"");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CLI shaped like machine's, with a `--profile` option machine does not have yet.
    fn synthetic() -> Command {
        Command::new("machine")
            .arg(Arg::new("verbose").short('v').action(clap::ArgAction::Count).global(true))
            .subcommand(Command::new("up").arg(Arg::new("project")))
            .subcommand(
                Command::new("create")
                    .arg(Arg::new("project"))
                    .arg(Arg::new("profile").long("profile").action(clap::ArgAction::Append)),
            )
            .subcommand(Command::new("secrets").arg(Arg::new("project")).arg(Arg::new("repo").long("repo")))
            .subcommand(Command::new("run").arg(Arg::new("project").required(true)))
            .subcommand(Command::new("cache").subcommand(Command::new("prune").arg(Arg::new("project"))))
            .subcommand(Command::new("__complete").hide(true).arg(Arg::new("what")))
    }

    #[test]
    fn targets_are_found_by_walking_the_definition() {
        let mut t = Targets::default();
        let _ = mark(visible_only(&synthetic()), "", &mut t);
        assert_eq!(t.projects, ["up", "create", "secrets", "run", "cache prune"]);
        assert_eq!(t.profiles, [("create".to_string(), "--profile".to_string())]);
        assert_eq!(t.valued.iter().collect::<Vec<_>>(), ["--profile", "--repo"]);
        assert_eq!(t.parents, ["cache"]);
    }

    #[test]
    fn every_shell_wires_both_value_kinds_and_hides_the_helper() {
        for shell in Shell::ALL {
            let text = script_for(&synthetic(), shell);
            assert!(text.contains("machine __complete \"$1\"") || text.contains("__complete projects"), "{text}");
            assert!(!text.contains("-a \"__complete\"") && !text.contains("(__complete)"), "{shell:?}");
            assert!(!text.contains("_hosts") && !text.contains("__fish_print_hostnames"), "{shell:?}");
        }
        let zsh = script_for(&synthetic(), Shell::Zsh);
        assert_eq!(zsh.matches(":_machine_projects' \\").count(), 5, "{zsh}");
        assert_eq!(zsh.matches(":_machine_profiles' \\").count(), 1, "{zsh}");
        let fish = script_for(&synthetic(), Shell::Fish);
        assert!(fish.contains("-l profile -r -f -a \"(machine __complete profiles)\""), "{fish}");
        assert!(fish.contains("__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from prune"));
        let bash = script_for(&synthetic(), Shell::Bash);
        assert!(bash.contains("\"create:--profile\")"), "{bash}");
        assert!(bash.contains("--profile | --repo)\n            skip=1\n"), "{bash}");
    }
}
