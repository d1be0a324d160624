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
npx --yes "playwright@$PLAYWRIGHT_VERSION" install-deps

machine_stamp_write
