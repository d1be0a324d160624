#!/bin/bash
# Build a Debian 12 (bookworm) UEFI cloud-style qcow2 guest image with
# debootstrap, for the end-to-end suite on a host that cannot download the
# official cloud images (no internet, only a Debian package mirror).
#
# The disk: GPT, an EFI system partition holding a standalone GRUB at the
# removable path EFI/BOOT/BOOTX64.EFI, and an ext4 root as the last partition.
# Lima grows the disk; cloud-init (NoCloud, Lima's "cidata" volume) grows the
# root partition and filesystem on first boot, creates the user and runs
# Lima's boot scripts. Only what Lima and cloud-init need is installed: the
# core layer brings zsh, git, tmux and the build tools.
#
# No loop or nbd device is needed: the filesystems are made as files
# (mkfs.ext4 -d, mkfs.vfat + mcopy), written into a raw GPT disk at their
# partition offsets, and the disk is converted to qcow2.
#
# Usage (as root):
#   tests/e2e/build-image.sh [--mirror URL] [--security-mirror URL] [--size SIZE] OUTPUT.qcow2
#   MACHINE_E2E=1 MACHINE_E2E_IMAGE=OUTPUT.qcow2 cargo test --test e2e
#
# Host packages: debootstrap e2fsprogs dosfstools mtools fdisk qemu-utils
# grub-efi-amd64-bin grub-common.
set -euo pipefail

mirror=http://deb.debian.org/debian
security_mirror=http://deb.debian.org/debian-security
size=4G
suite=bookworm
esp_mib=128

usage() {
	echo "usage: $0 [--mirror URL] [--security-mirror URL] [--size SIZE] OUTPUT.qcow2"
	echo "  --mirror URL           Debian mirror (default $mirror)"
	echo "  --security-mirror URL  security mirror (default $security_mirror)"
	echo "  --size SIZE            virtual disk size (default $size)"
}

out=
while (($#)); do
	case $1 in
	--mirror) mirror=${2:?--mirror needs a URL}; shift ;;
	--security-mirror) security_mirror=${2:?--security-mirror needs a URL}; shift ;;
	--size) size=${2:?--size needs a size such as 4G}; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
	*)
		if [[ -n $out ]]; then echo "only one output path" >&2; exit 2; fi
		out=$1
		;;
	esac
	shift
done
if [[ -z $out ]]; then usage >&2; exit 2; fi

step() { printf '==> %s\n' "$*"; }
die() { printf 'build-image: %s\n' "$*" >&2; exit 1; }

((EUID == 0)) || die "must run as root (debootstrap and chroot)"
for tool in debootstrap chroot mkfs.ext4 mkfs.vfat mmd mcopy sfdisk qemu-img grub-mkstandalone numfmt; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[[ -d /usr/lib/grub/x86_64-efi ]] || die "missing /usr/lib/grub/x86_64-efi (apt-get install grub-efi-amd64-bin)"

out=$(realpath -m "$out")
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/build-image.XXXXXX")
root=$work/root

unmount_all() {
	local m
	for m in dev/pts sys proc; do
		if mountpoint -q "$root/$m"; then umount -l "$root/$m"; fi
	done
}
cleanup() {
	unmount_all || true
	# Never descend into anything still mounted.
	rm -rf --one-file-system "$work"
	rm -f "$out.partial"
}
trap cleanup EXIT

# --- root filesystem --------------------------------------------------------
step "debootstrap $suite (minbase) from $mirror"
debootstrap --variant=minbase --arch=amd64 "$suite" "$root" "$mirror"

step "configuring apt sources"
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
EOF

# No daemon starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount -t devpts devpts "$root/dev/pts"

in_root() { LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"; }

# Why each package is here (everything else comes with them):
#   linux-image-cloud-amd64  virtio disk/net/console/scsi, iso9660 for cidata, netfilter
#                            (no AHCI/SATA: the cidata ISO must be on virtio-scsi, as Lima does)
#   systemd-sysv udev dbus libpam-systemd  init, /dev/disk/by-label, logind (loginctl
#                            enable-linger and the user's systemd in Lima's boot scripts)
#   systemd-resolved systemd-timesyncd  DNS from DHCP with networkd; the clock
#   cloud-init cloud-guest-utils  NoCloud user, Lima's boot scripts, growpart
#   openssh-server openssh-sftp-server  Lima talks to the guest over ssh/scp
#   sudo                     Lima's boot scripts and hostagent use sudo
#   iptables rsync           Lima's boot scripts apt-get them otherwise (hostResolver
#                            DNS redirect uses iptables; rsync for copies)
#   procps kmod              sysctl and modprobe in Lima's boot scripts
#   ca-certificates netbase iproute2 e2fsprogs fdisk  TLS, /etc/services, ip, resize2fs, sfdisk
step "installing packages"
in_root apt-get update -q
in_root apt-get dist-upgrade -y -q # the point release's base, plus updates and security
in_root apt-get install -y -q --no-install-recommends \
	linux-image-cloud-amd64 \
	systemd-sysv udev dbus libpam-systemd systemd-resolved systemd-timesyncd \
	cloud-init cloud-guest-utils \
	openssh-server openssh-sftp-server sudo \
	iptables rsync procps kmod \
	ca-certificates netbase iproute2 e2fsprogs fdisk
in_root apt-get clean
[[ -e $root/vmlinuz && -e $root/initrd.img ]] || die "kernel links /vmlinuz and /initrd.img are missing"

step "configuring the guest"
root_uuid=$(cat /proc/sys/kernel/random/uuid)
cat >"$root/etc/fstab" <<EOF
UUID=$root_uuid / ext4 rw,discard,errors=remount-ro 0 1
EOF
echo debian >"$root/etc/hostname"
cat >"$root/etc/hosts" <<EOF
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
EOF
echo LANG=C.UTF-8 >"$root/etc/default/locale"

# DHCP on the first NIC whatever it is called; cloud-init's own file from
# Lima's network-config (10-cloud-init-*.network) sorts first and wins.
cat >"$root/etc/systemd/network/99-dhcp-any.network" <<EOF
[Match]
Name=en* eth*

[Network]
DHCP=yes
EOF
in_root systemctl enable systemd-networkd systemd-resolved
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"

cat >"$root/etc/cloud/cloud.cfg.d/90-machine-image.cfg" <<EOF
# Lima attaches a NoCloud seed (ISO labelled cidata).
datasource_list: [NoCloud, None]
# Keep the mirror this image was built from.
apt:
  preserve_sources_list: true
EOF

# Per-instance identity is made on first boot.
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
rm -f "$root/usr/sbin/policy-rc.d"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
unmount_all

# --- disk -------------------------------------------------------------------
disk_bytes=$(numfmt --from=iec "$size")
((disk_bytes >= 2 * 1024 * 1024 * 1024)) || die "--size $size is too small (2G at least)"
sectors=$((disk_bytes / 512))
esp_start=2048
esp_sectors=$((esp_mib * 2048))
root_start=$((esp_start + esp_sectors))
# 34 sectors at the end hold the backup GPT; round the root down to a MiB.
root_sectors=$(((sectors - 34 - root_start) / 2048 * 2048))

step "making the ext4 root filesystem ($((root_sectors / 2048)) MiB, UUID $root_uuid)"
truncate -s $((root_sectors * 512)) "$work/root.img"
mkfs.ext4 -q -F -L rootfs -U "$root_uuid" -d "$root" "$work/root.img"

step "making GRUB (standalone EFI binary) and the EFI system partition"
cat >"$work/grub.cfg" <<EOF
set timeout=1
insmod part_gpt
insmod ext2
insmod all_video
search --no-floppy --fs-uuid --set=root $root_uuid
menuentry 'Debian GNU/Linux 12' {
	linux /vmlinuz root=UUID=$root_uuid ro console=tty0 console=ttyS0,115200n8
	initrd /initrd.img
}
EOF
grub-mkstandalone -O x86_64-efi -o "$work/BOOTX64.EFI" \
	--modules="part_gpt ext2 search_fs_uuid" --locales= --fonts= --themes= \
	"boot/grub/grub.cfg=$work/grub.cfg"
truncate -s $((esp_sectors * 512)) "$work/esp.img"
mkfs.vfat -F 32 -n EFI "$work/esp.img" >/dev/null
MTOOLS_SKIP_CHECK=1 mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
MTOOLS_SKIP_CHECK=1 mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

step "assembling the GPT disk ($size)"
truncate -s $((sectors * 512)) "$work/disk.raw"
sfdisk -q "$work/disk.raw" <<EOF
label: gpt
unit: sectors
start=$esp_start, size=$esp_sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI System"
start=$root_start, size=$root_sectors, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
EOF
dd if="$work/esp.img" of="$work/disk.raw" bs=1M seek=$((esp_start / 2048)) conv=notrunc,sparse status=none
dd if="$work/root.img" of="$work/disk.raw" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse status=none

step "converting to qcow2: $out"
qemu-img convert -c -f raw -O qcow2 "$work/disk.raw" "$out.partial"
mv -f "$out.partial" "$out"
qemu-img info "$out"
step "done: MACHINE_E2E_IMAGE=$out"
