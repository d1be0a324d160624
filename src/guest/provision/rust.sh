#!/bin/bash
# machine profile "rust" (system part): rustup-init at the pinned version,
# checked against versions.env, installed as /usr/local/bin/rustup-init.
# rust-user.sh then installs the pinned toolchain into the user's home.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init rust system

machine_artifact RUSTUP
machine_stamp_check rust "$MACHINE_ART_URL" "$MACHINE_ART_SHA256" && exit 0

download="$(machine_tmpdir)/rustup-init"
machine_fetch_verified "$MACHINE_ART_URL" "$MACHINE_ART_SHA256" "$download"
mkdir -p "$R/usr/local/bin"
install -m 755 "$download" "$R/usr/local/bin/rustup-init"
machine_log "rustup-init $RUSTUP_VERSION installed"

machine_stamp_write
