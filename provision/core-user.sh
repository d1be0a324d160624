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
hook() {
	local rc=$1 managed=$2
	if [[ ! -f $rc ]] || ! grep -qF "$managed" "$rc"; then
		printf '\n# machine: managed shell setup (history, prompt, completion, direnv)\n[ -r %s ] && . %s\n' \
			"$managed" "$managed" >>"$rc"
		machine_log "hooked $managed into $rc"
	fi
}
hook "$HOME/.zshrc" /usr/local/lib/machine/zshrc
hook "$HOME/.bashrc" /usr/local/lib/machine/bashrc

machine_stamp_write
