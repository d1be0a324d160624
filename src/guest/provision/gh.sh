#!/bin/bash
# machine layer "gh": the GitHub CLI from GitHub's apt repository.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init gh system

machine_stamp_check gh "$GH_KEY_FPRS" && exit 0

machine_apt_repo github-cli https://cli.github.com/packages/githubcli-archive-keyring.gpg \
	"$GH_KEY_FPRS" https://cli.github.com/packages stable main
machine_apt_update
machine_apt_install gh

machine_stamp_write
