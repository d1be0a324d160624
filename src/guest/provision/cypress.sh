#!/bin/bash
# machine profile "cypress": the system libraries Cypress needs to run headless
# (Xvfb, GTK, NSS, ALSA, ...) and a browser besides Cypress's bundled Electron:
# Google Chrome on amd64 Ubuntu, Debian's chromium on Debian. Ubuntu only ships
# Chromium as a snap, so arm64 Ubuntu keeps Electron only.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init cypress system

arch=$(machine_arch)
distro=$(machine_os_id)
codename=$(machine_os_codename)

machine_stamp_check cypress "$arch" "$distro" "$codename" "$GOOGLE_KEY_FPRS" && exit 0

# Debian 13 and Ubuntu 24.04 renamed some libraries for the 64-bit time_t
# transition; Debian 12 still has the old names.
if [[ $codename == bookworm ]]; then t64=""; else t64="t64"; fi
packages=(
	xvfb xauth fonts-liberation
	"libgtk2.0-0$t64" "libgtk-3-0$t64" "libasound2$t64"
	libgbm-dev libnotify-dev libnss3 libxss1 libxtst6
)

browser=()
if [[ $distro == debian ]]; then
	browser=(chromium)
elif [[ $arch == amd64 ]]; then
	# Stop Chrome's package from adding its own, unsigned-by copy of the repo.
	mkdir -p "$R/etc/default"
	printf 'repo_add_once="false"\nrepo_reenable_on_distupgrade="false"\n' >"$R/etc/default/google-chrome"
	machine_apt_repo google-chrome https://dl.google.com/linux/linux_signing_key.pub \
		"$GOOGLE_KEY_FPRS" https://dl.google.com/linux/chrome/deb/ stable main
	browser=(google-chrome-stable)
else
	machine_log "no Chrome or Chromium .deb for arm64 Ubuntu: Cypress will use its bundled Electron"
fi

machine_apt_update
machine_apt_install "${packages[@]}" "${browser[@]}"

machine_stamp_write
