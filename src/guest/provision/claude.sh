#!/bin/bash
# machine layer "claude" (system part): lets bubblewrap (used by Claude Code's
# sandbox) create user namespaces on Ubuntu, where AppArmor restricts them for
# unconfined programs. Claude Code itself is installed per user by
# claude-user.sh.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init claude system

machine_stamp_check claude && exit 0

restrict="$R/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
profile="$R/etc/apparmor.d/machine-bwrap"
if [[ -r $restrict && "$(<"$restrict")" == 1 ]]; then
	mkdir -p "$(dirname "$profile")"
	cat >"$profile" <<'PROFILE'
# machine: allow bubblewrap to create user namespaces (Claude Code's sandbox).
abi <abi/4.0>,
include <tunables/global>

profile machine-bwrap /usr/bin/bwrap flags=(unconfined) {
  userns,

  include if exists <local/machine-bwrap>
}
PROFILE
	apparmor_parser -r "$profile"
	machine_log "AppArmor profile for bwrap loaded"
else
	machine_log "unprivileged user namespaces are not restricted; no AppArmor change needed"
fi

machine_stamp_write
