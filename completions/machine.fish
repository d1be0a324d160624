# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_machine_global_optspecs
    string join \n v/verbose h/help V/version
end

function __fish_machine_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_machine_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_machine_using_subcommand
    set -l cmd (__fish_machine_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c machine -n "__fish_machine_needs_command" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_needs_command" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_needs_command" -s V -l version -d 'Print version'
complete -c machine -n "__fish_machine_needs_command" -f -a "init" -d 'Write a commented example projects.toml (every key explained, examples to uncomment)'
complete -c machine -n "__fish_machine_needs_command" -f -a "create" -d 'Add a project to projects.toml, or edit one, by answering a few questions'
complete -c machine -n "__fish_machine_needs_command" -f -a "up" -d 'Create (if needed), start, provision and clone a project\'s VM, or one of its branch VMs'
complete -c machine -n "__fish_machine_needs_command" -f -a "down" -d 'Stop a project\'s VM (its disk, clones and installed tools are kept)'
complete -c machine -n "__fish_machine_needs_command" -f -a "ssh" -d 'Open a shell in a project\'s VM, in its primary repo (heals a stale agent connection first)'
complete -c machine -n "__fish_machine_needs_command" -f -a "run" -d 'Run a command in a project\'s VM, in its primary repo; exits with the command\'s exit code'
complete -c machine -n "__fish_machine_needs_command" -f -a "claude" -d 'Start Claude Code in a tmux session in the VM\'s primary repo, or reattach to it'
complete -c machine -n "__fish_machine_needs_command" -f -a "codex" -d 'Start the Codex CLI in a tmux session in the VM\'s primary repo, or reattach to it'
complete -c machine -n "__fish_machine_needs_command" -f -a "list" -d 'List VMs and configured projects that have none yet'
complete -c machine -n "__fish_machine_needs_command" -f -a "status" -d 'Show a VM\'s state, drift, provisioning, disk, agent and repos (every VM without a target)'
complete -c machine -n "__fish_machine_needs_command" -f -a "prune" -d 'Remove unused branch VMs, leftover bake VMs, unused golden and baked disks and layer folders'
complete -c machine -n "__fish_machine_needs_command" -f -a "reset" -d 'Bring a VM back to freshly provisioned and cloned (from the golden disk when there is one)'
complete -c machine -n "__fish_machine_needs_command" -f -a "pr" -d 'Push the VM\'s branch and open a pull request for it (with `gh` on the host)'
complete -c machine -n "__fish_machine_needs_command" -f -a "destroy" -d 'Delete a project\'s VM and everything machine stored for it (not its configuration)'
complete -c machine -n "__fish_machine_needs_command" -f -a "render" -d 'Print the Lima template stack `up` would create, without touching Lima'
complete -c machine -n "__fish_machine_needs_command" -f -a "profiles" -d 'List the profiles (and the standard layers) with one line each'
complete -c machine -n "__fish_machine_needs_command" -f -a "bake" -d 'Bake the provisioned disks a project\'s VM starts from, so `up` only provisions what changed'
complete -c machine -n "__fish_machine_needs_command" -f -a "cache" -d 'Show or clean up the baked and golden disks VMs boot from'
complete -c machine -n "__fish_machine_needs_command" -f -a "doctor" -d 'Check that this host has what machine needs: Lima, a hypervisor, an SSH agent, a git identity'
complete -c machine -n "__fish_machine_needs_command" -f -a "secrets" -d 'Copy a project\'s 1Password Environments (`use op_env <id>` in its repos\' .envrc) into its VM'
complete -c machine -n "__fish_machine_needs_command" -f -a "agent" -d 'The VM\'s scoped SSH agent: `machine agent log` shows what it signed and refused'
complete -c machine -n "__fish_machine_needs_command" -f -a "proxy" -d 'The credential proxy: VMs reach the providers\' APIs with a token of their own, never a credential'
complete -c machine -n "__fish_machine_needs_command" -f -a "snapshot" -d 'Keep the project VM\'s disk as the project\'s golden disk (branch VMs and resets start from it)'
complete -c machine -n "__fish_machine_needs_command" -f -a "trust" -d 'Trust a repository\'s .machine.toml (its current content), or stop trusting it'
complete -c machine -n "__fish_machine_needs_command" -f -a "ssh-config" -d 'Print (or, with --install, add to ~/.ssh/config) the Include line for machine\'s VMs'
complete -c machine -n "__fish_machine_needs_command" -f -a "code" -d 'Open VS Code on a project\'s primary repo in its VM (Remote-SSH)'
complete -c machine -n "__fish_machine_needs_command" -f -a "mcp" -d 'Serve the Model Context Protocol on stdin/stdout, for an agent on this host (Claude Code, Codex, VS Code) to drive project VMs'
complete -c machine -n "__fish_machine_needs_command" -f -a "completions" -d 'Print a shell completion script (project and profile names come from your configuration)'
complete -c machine -n "__fish_machine_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c machine -n "__fish_machine_using_subcommand init" -l force -d 'Replace an existing file (it is kept as projects.toml.bak)'
complete -c machine -n "__fish_machine_using_subcommand init" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand init" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand create" -l repo -d 'A repo to clone into ~/code (repeat for several; the first is the primary)' -r
complete -c machine -n "__fish_machine_using_subcommand create" -l without -d 'A standard layer to leave out (repeat, or separate with commas; `standard` for all, `none` to keep all)' -r
complete -c machine -n "__fish_machine_using_subcommand create" -l shell -d 'The guest user\'s login shell' -r -f -a "zsh\t''
bash\t''"
complete -c machine -n "__fish_machine_using_subcommand create" -l ssh-key -d 'A key of your agent the VM may use: its fingerprint (`SHA256:…`) or comment (repeat for several; `all` for every key, `none` for none)' -r
complete -c machine -n "__fish_machine_using_subcommand create" -l cpus -d 'CPUs for the VM (1–1024)' -r
complete -c machine -n "__fish_machine_using_subcommand create" -l memory -d 'Memory: GiB (16) or a size (16GiB, 512MiB)' -r
complete -c machine -n "__fish_machine_using_subcommand create" -l disk -d 'Disk: GiB (60) or a size (60GiB)' -r
complete -c machine -n "__fish_machine_using_subcommand create" -l profile -d 'A profile to add (repeat, or separate with commas; `none` for no profiles)' -r -f -a "(machine __complete profiles)"
complete -c machine -n "__fish_machine_using_subcommand create" -l forward-agent -d 'Forward the host\'s SSH agent into the VM (the default)'
complete -c machine -n "__fish_machine_using_subcommand create" -l no-forward-agent -d 'Do not forward the host\'s SSH agent into the VM'
complete -c machine -n "__fish_machine_using_subcommand create" -l confirm-signatures -d 'Ask on this computer before each signature the VM asks for'
complete -c machine -n "__fish_machine_using_subcommand create" -l no-confirm-signatures -d 'Do not ask before signatures (the default)'
complete -c machine -n "__fish_machine_using_subcommand create" -s y -l yes -d 'Ask nothing: use the flags, else the current values, else the defaults'
complete -c machine -n "__fish_machine_using_subcommand create" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand up" -l branch -d 'A VM of its own for this branch of the project\'s primary repo (as PROJECT@BRANCH)' -r
complete -c machine -n "__fish_machine_using_subcommand up" -l recreate -d 'Destroy the VM and create it again from the current configuration'
complete -c machine -n "__fish_machine_using_subcommand up" -s y -l yes -d 'Do not ask before destroying (with --recreate)'
complete -c machine -n "__fish_machine_using_subcommand up" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand up" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand down" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand down" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand ssh" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand ssh" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand run" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand claude" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand claude" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand codex" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand codex" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand list" -l json -d 'Print one JSON object instead of a table'
complete -c machine -n "__fish_machine_using_subcommand list" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand list" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand status" -l json -d 'Print one JSON object instead of text'
complete -c machine -n "__fish_machine_using_subcommand status" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand prune" -l older-than -d 'Remove branch VMs unused for this long: a number and s, m, h, d or w' -r
complete -c machine -n "__fish_machine_using_subcommand prune" -l merged -d 'Also remove branch VMs whose branch is merged, or was deleted upstream after a push'
complete -c machine -n "__fish_machine_using_subcommand prune" -l dry-run -d 'Say what would be removed and freed; remove nothing'
complete -c machine -n "__fish_machine_using_subcommand prune" -s y -l yes -d 'Do not ask before removing'
complete -c machine -n "__fish_machine_using_subcommand prune" -l force -d 'Remove branch VMs even when their repos hold work that exists nowhere else'
complete -c machine -n "__fish_machine_using_subcommand prune" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand reset" -s y -l yes -d 'Do not ask before replacing the VM\'s disk'
complete -c machine -n "__fish_machine_using_subcommand reset" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand reset" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand pr" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand pr" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand destroy" -s y -l yes -d 'Do not ask for confirmation'
complete -c machine -n "__fish_machine_using_subcommand destroy" -l force -d 'Delete the Lima VM of that name even when machine did not create it'
complete -c machine -n "__fish_machine_using_subcommand destroy" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand destroy" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand render" -l all -d 'Every configured project (with --json: one array of objects)'
complete -c machine -n "__fish_machine_using_subcommand render" -l json -d 'Print one JSON object instead of YAML'
complete -c machine -n "__fish_machine_using_subcommand render" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand render" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand profiles" -l json -d 'Print one JSON object instead of a table'
complete -c machine -n "__fish_machine_using_subcommand profiles" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand profiles" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand bake" -l force -d 'Bake every prefix again, from the image, even if it is cached'
complete -c machine -n "__fish_machine_using_subcommand bake" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand bake" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand cache; and not __fish_seen_subcommand_from list prune help" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand cache; and not __fish_seen_subcommand_from list prune help" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand cache; and not __fish_seen_subcommand_from list prune help" -f -a "list" -d 'One line per disk: kind (baked or golden), key, size on disk, age, and its layers or project'
complete -c machine -n "__fish_machine_using_subcommand cache; and not __fish_seen_subcommand_from list prune help" -f -a "prune" -d 'Remove baked and golden disks no configured project uses, and what interrupted bakes and copies left'
complete -c machine -n "__fish_machine_using_subcommand cache; and not __fish_seen_subcommand_from list prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c machine -n "__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from list" -l json -d 'Print one JSON object instead of a table'
complete -c machine -n "__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from prune" -l all -d 'Remove every baked and golden disk, used or not'
complete -c machine -n "__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from prune" -s y -l yes -d 'Do not ask before removing disks'
complete -c machine -n "__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from prune" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "list" -d 'One line per disk: kind (baked or golden), key, size on disk, age, and its layers or project'
complete -c machine -n "__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Remove baked and golden disks no configured project uses, and what interrupted bakes and copies left'
complete -c machine -n "__fish_machine_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c machine -n "__fish_machine_using_subcommand doctor" -l json -d 'Print one JSON object: {"ok", "checks": [{"name", "status", "detail", "fix"}]}'
complete -c machine -n "__fish_machine_using_subcommand doctor" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand secrets" -l repo -d 'Only this repo: its folder name under ~/code in the VM' -r
complete -c machine -n "__fish_machine_using_subcommand secrets" -l clear -d 'Remove the copied environments from the VM (only --repo\'s, when given)'
complete -c machine -n "__fish_machine_using_subcommand secrets" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand secrets" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand agent; and not __fish_seen_subcommand_from log serve help" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand agent; and not __fish_seen_subcommand_from log serve help" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand agent; and not __fish_seen_subcommand_from log serve help" -f -a "log" -d 'Every signature the VM asked the scoped agent for (signed, refused or denied), and every other request it refused, oldest first'
complete -c machine -n "__fish_machine_using_subcommand agent; and not __fish_seen_subcommand_from log serve help" -f -a "serve" -d 'Serve a VM\'s scoped agent (started by machine itself; not for people)'
complete -c machine -n "__fish_machine_using_subcommand agent; and not __fish_seen_subcommand_from log serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c machine -n "__fish_machine_using_subcommand agent; and __fish_seen_subcommand_from log" -l json -d 'Print the log\'s JSON lines as they are'
complete -c machine -n "__fish_machine_using_subcommand agent; and __fish_seen_subcommand_from log" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand agent; and __fish_seen_subcommand_from log" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand agent; and __fish_seen_subcommand_from serve" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand agent; and __fish_seen_subcommand_from serve" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "log" -d 'Every signature the VM asked the scoped agent for (signed, refused or denied), and every other request it refused, oldest first'
complete -c machine -n "__fish_machine_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "serve" -d 'Serve a VM\'s scoped agent (started by machine itself; not for people)'
complete -c machine -n "__fish_machine_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and not __fish_seen_subcommand_from serve status stop log help" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and not __fish_seen_subcommand_from serve status stop log help" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand proxy; and not __fish_seen_subcommand_from serve status stop log help" -f -a "serve" -d 'Run the proxy in the foreground (`up`, `claude` and `codex` start it in the background)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and not __fish_seen_subcommand_from serve status stop log help" -f -a "status" -d 'Whether it runs: its pid, port, the VMs whose tokens it accepts and each provider\'s credential source (never the credential)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and not __fish_seen_subcommand_from serve status stop log help" -f -a "stop" -d 'Stop it (VMs then reach no API until the next `machine up`, `claude` or `codex` starts it)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and not __fish_seen_subcommand_from serve status stop log help" -f -a "log" -d 'The requests it answered: time, VM, provider, method, path, status and bytes (never bodies or headers)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and not __fish_seen_subcommand_from serve status stop log help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from serve" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from serve" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from status" -l check -d 'Read every provider\'s credential now (it may run a credential command or ask the Keychain)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from status" -l json -d 'Print one JSON object'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from status" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from stop" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from log" -s n -l lines -d 'How many of the latest requests' -r
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from log" -l json -d 'Print the records as JSON lines'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from log" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from log" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from help" -f -a "serve" -d 'Run the proxy in the foreground (`up`, `claude` and `codex` start it in the background)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from help" -f -a "status" -d 'Whether it runs: its pid, port, the VMs whose tokens it accepts and each provider\'s credential source (never the credential)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop it (VMs then reach no API until the next `machine up`, `claude` or `codex` starts it)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from help" -f -a "log" -d 'The requests it answered: time, VM, provider, method, path, status and bytes (never bodies or headers)'
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c machine -n "__fish_machine_using_subcommand snapshot" -l force -d 'Keep it even when the VM\'s repos hold work of their own, or a golden disk exists'
complete -c machine -n "__fish_machine_using_subcommand snapshot" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand snapshot" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand trust" -l revoke -d 'Stop trusting the file'
complete -c machine -n "__fish_machine_using_subcommand trust" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand trust" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand ssh-config" -l install -d 'Add the line at the top of ~/.ssh/config (once; the rest of the file is kept)'
complete -c machine -n "__fish_machine_using_subcommand ssh-config" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand ssh-config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand code" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand code" -s h -l help -d 'Print help'
complete -c machine -n "__fish_machine_using_subcommand mcp" -l print-config -d 'Print the configuration CLIENT needs to start this server, and exit' -r -f -a "claude\t'Claude Code: a `claude mcp add` command line, or the `.mcp.json` entry'
codex\t'The Codex CLI and IDE extension: a table for `~/.codex/config.toml`'
vscode\t'VS Code: the `.vscode/mcp.json` entry'"
complete -c machine -n "__fish_machine_using_subcommand mcp" -l allow-destroy -d 'Also offer the `destroy` tool (without it, agents can stop VMs but never delete one)'
complete -c machine -n "__fish_machine_using_subcommand mcp" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand mcp" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand completions" -s v -l verbose -d 'Print every external command machine runs (-v), and more detail (-vv)'
complete -c machine -n "__fish_machine_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "init" -d 'Write a commented example projects.toml (every key explained, examples to uncomment)'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "create" -d 'Add a project to projects.toml, or edit one, by answering a few questions'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "up" -d 'Create (if needed), start, provision and clone a project\'s VM, or one of its branch VMs'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "down" -d 'Stop a project\'s VM (its disk, clones and installed tools are kept)'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "ssh" -d 'Open a shell in a project\'s VM, in its primary repo (heals a stale agent connection first)'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "run" -d 'Run a command in a project\'s VM, in its primary repo; exits with the command\'s exit code'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "claude" -d 'Start Claude Code in a tmux session in the VM\'s primary repo, or reattach to it'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "codex" -d 'Start the Codex CLI in a tmux session in the VM\'s primary repo, or reattach to it'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "list" -d 'List VMs and configured projects that have none yet'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "status" -d 'Show a VM\'s state, drift, provisioning, disk, agent and repos (every VM without a target)'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "prune" -d 'Remove unused branch VMs, leftover bake VMs, unused golden and baked disks and layer folders'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "reset" -d 'Bring a VM back to freshly provisioned and cloned (from the golden disk when there is one)'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "pr" -d 'Push the VM\'s branch and open a pull request for it (with `gh` on the host)'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "destroy" -d 'Delete a project\'s VM and everything machine stored for it (not its configuration)'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "render" -d 'Print the Lima template stack `up` would create, without touching Lima'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "profiles" -d 'List the profiles (and the standard layers) with one line each'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "bake" -d 'Bake the provisioned disks a project\'s VM starts from, so `up` only provisions what changed'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "cache" -d 'Show or clean up the baked and golden disks VMs boot from'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "doctor" -d 'Check that this host has what machine needs: Lima, a hypervisor, an SSH agent, a git identity'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "secrets" -d 'Copy a project\'s 1Password Environments (`use op_env <id>` in its repos\' .envrc) into its VM'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "agent" -d 'The VM\'s scoped SSH agent: `machine agent log` shows what it signed and refused'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "proxy" -d 'The credential proxy: VMs reach the providers\' APIs with a token of their own, never a credential'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "snapshot" -d 'Keep the project VM\'s disk as the project\'s golden disk (branch VMs and resets start from it)'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "trust" -d 'Trust a repository\'s .machine.toml (its current content), or stop trusting it'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "ssh-config" -d 'Print (or, with --install, add to ~/.ssh/config) the Include line for machine\'s VMs'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "code" -d 'Open VS Code on a project\'s primary repo in its VM (Remote-SSH)'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "mcp" -d 'Serve the Model Context Protocol on stdin/stdout, for an agent on this host (Claude Code, Codex, VS Code) to drive project VMs'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "completions" -d 'Print a shell completion script (project and profile names come from your configuration)'
complete -c machine -n "__fish_machine_using_subcommand help; and not __fish_seen_subcommand_from init create up down ssh run claude codex list status prune reset pr destroy render profiles bake cache doctor secrets agent proxy snapshot trust ssh-config code mcp completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c machine -n "__fish_machine_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "list" -d 'One line per disk: kind (baked or golden), key, size on disk, age, and its layers or project'
complete -c machine -n "__fish_machine_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "prune" -d 'Remove baked and golden disks no configured project uses, and what interrupted bakes and copies left'
complete -c machine -n "__fish_machine_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "log" -d 'Every signature the VM asked the scoped agent for (signed, refused or denied), and every other request it refused, oldest first'
complete -c machine -n "__fish_machine_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "serve" -d 'Serve a VM\'s scoped agent (started by machine itself; not for people)'
complete -c machine -n "__fish_machine_using_subcommand help; and __fish_seen_subcommand_from proxy" -f -a "serve" -d 'Run the proxy in the foreground (`up`, `claude` and `codex` start it in the background)'
complete -c machine -n "__fish_machine_using_subcommand help; and __fish_seen_subcommand_from proxy" -f -a "status" -d 'Whether it runs: its pid, port, the VMs whose tokens it accepts and each provider\'s credential source (never the credential)'
complete -c machine -n "__fish_machine_using_subcommand help; and __fish_seen_subcommand_from proxy" -f -a "stop" -d 'Stop it (VMs then reach no API until the next `machine up`, `claude` or `codex` starts it)'
complete -c machine -n "__fish_machine_using_subcommand help; and __fish_seen_subcommand_from proxy" -f -a "log" -d 'The requests it answered: time, VM, provider, method, path, status and bytes (never bodies or headers)'

# machine: project and profile names come from your configuration, through `machine __complete`.
complete -c machine -n "__fish_machine_using_subcommand create" -f -a "(machine __complete projects)"
complete -c machine -n "__fish_machine_using_subcommand render" -f -a "(machine __complete projects)"
complete -c machine -n "__fish_machine_using_subcommand bake" -f -a "(machine __complete projects)"
complete -c machine -n "__fish_machine_using_subcommand snapshot" -f -a "(machine __complete projects)"
complete -c machine -n "__fish_machine_using_subcommand up" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand down" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand ssh" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand run" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand claude" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand codex" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand status" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand reset" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand pr" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand destroy" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand secrets" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand agent; and __fish_seen_subcommand_from log" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand proxy; and __fish_seen_subcommand_from log" -f -a "(machine __complete vms)"
complete -c machine -n "__fish_machine_using_subcommand code" -f -a "(machine __complete vms)"
