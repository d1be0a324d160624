#!/bin/bash
# machine layer "node" (user part): installs the pinned pnpm and yarn through
# corepack and makes them the user's defaults.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init node-user user

machine_stamp_check node-user "$PNPM_VERSION" "$YARN_VERSION" && exit 0

export COREPACK_ENABLE_DOWNLOAD_PROMPT=0
corepack install --global "pnpm@$PNPM_VERSION"
corepack install --global "yarn@$YARN_VERSION"
machine_log "pnpm $PNPM_VERSION and yarn $YARN_VERSION activated"

machine_stamp_write
