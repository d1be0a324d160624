#!/bin/bash
# machine profile "go": the official Go toolchain tarball (checked against
# versions.env) unpacked into /usr/local/go.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init go system

machine_artifact GO
machine_stamp_check go "$MACHINE_ART_URL" "$MACHINE_ART_SHA256" && exit 0

# Unpack next to the destination (not in /tmp, which may be a small tmpfs).
staging="$R/usr/local/.go.machine-new"
rm -rf "$staging"
machine_install_archive GO 1 "$staging"
[[ -x "$staging/bin/go" ]] || machine_die "unexpected layout in the Go archive"
rm -rf "$R/usr/local/go"
mkdir -p "$R/usr/local"
mv "$staging" "$R/usr/local/go"
machine_log "$("$R/usr/local/go/bin/go" version) installed"

machine_stamp_write
