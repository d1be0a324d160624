#!/bin/bash
# machine layer "docker": Docker Engine, CLI, buildx and compose from Docker's
# own apt repository (Ubuntu or Debian flavour, read from /etc/os-release); the
# Lima user joins the docker group and the daemon is enabled.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init docker system

user=$(machine_user)
distro=$(machine_os_id)
codename=$(machine_os_codename)

machine_stamp_check docker "$DOCKER_KEY_FPRS" "$distro" "$codename" && exit 0

machine_apt_repo docker "https://download.docker.com/linux/$distro/gpg" "$DOCKER_KEY_FPRS" \
	"https://download.docker.com/linux/$distro" "$codename" stable
machine_apt_update
machine_apt_install docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin

usermod -aG docker "$user"
systemctl enable --now docker.service containerd.service
machine_log "docker is enabled; $user is in the docker group (effective at the next login)"

machine_stamp_write
