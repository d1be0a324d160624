#!/bin/bash
# machine profile "python": uv and uvx from the pinned release tarball (checked
# against versions.env), plus the distribution's venv module and Python headers for
# building native extensions. uv fetches Python versions on demand.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init python system

machine_artifact UV
machine_stamp_check python "$MACHINE_ART_URL" "$MACHINE_ART_SHA256" && exit 0

machine_apt_update
machine_apt_install python3-dev python3-venv

bin="$R/usr/local/bin"
mkdir -p "$bin"
tmp=$(machine_tmpdir)
machine_install_archive UV 1 "$tmp/uv"
install -m 755 "$tmp/uv/uv" "$bin/uv"
install -m 755 "$tmp/uv/uvx" "$bin/uvx"
machine_log "uv $UV_VERSION installed"

machine_stamp_write
