#!/bin/bash
# machine layer "node" (system part): Node.js LTS from NodeSource's apt
# repository, preferred over the distribution's nodejs, and corepack's pnpm/yarn
# shims enabled system-wide. The pinned pnpm and yarn are activated for the
# user by node-user.sh.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init node system

machine_stamp_check node "$NODE_MAJOR" "$NODESOURCE_KEY_FPRS" && exit 0

machine_apt_repo nodesource https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key \
	"$NODESOURCE_KEY_FPRS" "https://deb.nodesource.com/node_$NODE_MAJOR.x" nodistro main
mkdir -p "$R/etc/apt/preferences.d"
cat >"$R/etc/apt/preferences.d/machine-nodesource" <<PIN
Package: nodejs
Pin: origin deb.nodesource.com
Pin-Priority: 600
PIN
machine_apt_update
machine_apt_install nodejs

machine_log "node $(node --version) installed"
corepack enable
machine_stamp_write
