#!/bin/bash
# machine layer "core" (user part): git identity and SSH commit signing from the
# instance params, and hooks the managed shell configuration into ~/.zshrc and
# ~/.bashrc. Settings go through `git config --global`, so keys the user adds
# to ~/.gitconfig survive. Re-runs whenever a param changes.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init core-user user

name=${PARAM_gitName:-}
email=${PARAM_gitEmail:-}
key=${PARAM_signingKey:-}

machine_stamp_check core-user "$name" "$email" "$key" && exit 0

# --- git -----------------------------------------------------------------------
if [[ -n $name ]]; then
	git config --global user.name "$name"
else
	machine_log "no gitName param: user.name left as it is"
fi
if [[ -n $email ]]; then
	git config --global user.email "$email"
else
	machine_log "no gitEmail param: user.email left as it is"
fi

git config --global init.defaultBranch main
git config --global pull.rebase true
git config --global fetch.prune true

if [[ -n $key ]]; then
	signers="$HOME/.config/git/allowed_signers"
	mkdir -p "$(dirname "$signers")"
	printf '%s %s\n' "${email:-*}" "$key" >"$signers"
	git config --global gpg.format ssh
	git config --global user.signingkey "$key"
	git config --global gpg.ssh.allowedSignersFile "$signers"
	git config --global commit.gpgsign true
	git config --global tag.gpgsign true
	machine_log "commits and tags are signed with the SSH key from the signingKey param"
else
	# No key (none found on the host, or agent forwarding is off): a signing setup left by an
	# earlier boot would make every commit fail, so it goes.
	if [[ $(git config --global --get gpg.format || true) == ssh ]]; then
		for setting in commit.gpgsign tag.gpgsign user.signingkey; do
			git config --global --unset-all "$setting" || true
		done
	fi
	machine_log "no signingKey param: commits and tags are not signed"
fi

# --- shell configuration -----------------------------------------------------------
# The managed files under /usr/local/lib/machine are rewritten every boot; the
# user's own rc files only get one line that sources them, added once.
#
# The environment (env.sh) must reach every way a command runs, whatever the
# distribution's defaults: `limactl shell` runs `<shell> -l -c …` (a login shell
# that is not interactive), tmux runs `<shell> -c …`. zsh reads ~/.zshenv every
# time; bash reads the first of ~/.bash_profile, ~/.bash_login and ~/.profile
# as a login shell, and ~/.bashrc when interactive.
hook() {
	local rc=$1 managed=$2 what=$3 line=${4:-}
	[[ -n $line ]] || line="[ -r $managed ] && . $managed"
	if [[ ! -f $rc ]] || ! grep -qF "$managed" "$rc"; then
		printf '\n# machine: %s\n%s\n' "$what" "$line" >>"$rc"
		machine_log "hooked $managed into $rc"
	fi
}
env_sh=/usr/local/lib/machine/env.sh
hook "$HOME/.zshenv" "$env_sh" "the environment (PATH, tool settings)" \
	"[ -r $env_sh ] && emulate sh -c '. $env_sh'"
bash_login=$HOME/.profile
for candidate in "$HOME/.bash_profile" "$HOME/.bash_login"; do
	if [[ -f $candidate ]]; then
		bash_login=$candidate
		break
	fi
done
if [[ ! -f $bash_login ]]; then
	# bash reads only this file as a login shell: keep the interactive setup too.
	# shellcheck disable=SC2016 # written literally, expanded when bash reads it
	printf '# ~/.profile, created by machine\n[ -n "${BASH_VERSION:-}" ] && [ -r ~/.bashrc ] && . ~/.bashrc\n' \
		>"$bash_login"
fi
hook "$bash_login" "$env_sh" "the environment (PATH, tool settings)"
hook "$HOME/.zshrc" /usr/local/lib/machine/zshrc "managed shell setup (history, prompt, completion, direnv)"
hook "$HOME/.bashrc" /usr/local/lib/machine/bashrc "managed shell setup (history, prompt, completion, direnv)"

machine_stamp_write
