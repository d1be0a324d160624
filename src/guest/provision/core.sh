#!/bin/bash
# machine layer "core" (system part): the distribution's base packages and the
# user's login shell. Runs as root on every boot; skips itself when its stamp
# (this script plus PARAM_shell) is unchanged.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init core system

user=$(machine_user)
home=$(machine_user_home)

# Every boot, cheap and offline: Lima writes our data files into the home
# directory as root, so directories it had to create may belong to root.
for dir in "$home/.config" "$home/.config/direnv" "$home/.config/direnv/lib" "$home/.ssh"; do
	if [[ -d $dir ]]; then
		chown "$user:" "$dir"
	fi
done
if [[ -d "$home/.ssh" ]]; then
	chmod 700 "$home/.ssh"
fi

shell=${PARAM_shell:-zsh}
case $shell in
zsh | bash) ;;
*) machine_die "unknown shell '$shell' (PARAM_shell must be zsh or bash)" ;;
esac

machine_stamp_check core "$shell" && exit 0

packages=(
	build-essential pkg-config
	ca-certificates curl gnupg
	git openssh-client
	jq unzip zip xz-utils
	ripgrep fd-find
	zsh zsh-autosuggestions zsh-syntax-highlighting bash-completion
	tmux direnv less file procps
	python3 python3-venv
	bubblewrap socat
)

machine_apt_timers_off
machine_apt_update
machine_apt_install "${packages[@]}"

machine_log "login shell of $user: /usr/bin/$shell"
chsh -s "/usr/bin/$shell" "$user"

machine_stamp_write
