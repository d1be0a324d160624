#!/bin/bash
# machine profile "playwright": the system libraries Playwright's browsers need,
# installed by Playwright itself at the pinned version (needs the node layer).
# Browsers are left to each project (`npx playwright install`), since they must
# match the project's own Playwright version.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init playwright system

machine_stamp_check playwright "$PLAYWRIGHT_VERSION" "$(machine_os_codename)" && exit 0

command -v npx >/dev/null || machine_die "npx not found: the playwright profile needs the node layer before it"
machine_apt_update
# install-deps runs apt-get itself: bound it in time, give its apt the dpkg lock
# wait (APT_CONFIG names apt's main configuration file, which the guests do not
# otherwise have), and retry it when it fails on a lock.
apt_conf="$(machine_tmpdir)/apt.conf"
printf 'DPkg::Lock::Timeout "%s";\n' "$MACHINE_APT_LOCK_WAIT" >"$apt_conf"
APT_CONFIG=$apt_conf machine_with_apt_locks timeout 1800 npx --yes "playwright@$PLAYWRIGHT_VERSION" install-deps

machine_stamp_write
