# shellcheck shell=bash source-path=SCRIPTDIR
# machine: helpers shared by every provisioning script.
#
# Placed by the core layer at /usr/local/lib/machine/lib.sh (a Lima `mode: data`
# file, so it is on disk before any system or user script runs) and sourced by
# each script right after `set -euo pipefail`.
#
# Every guest path below is prefixed with $MACHINE_ROOT (empty in a real VM) so
# the test harness can run the scripts against a scratch directory.
#
# Typical use:
#   machine_init docker system
#   machine_stamp_check docker "$DOCKER_KEY_FPRS" && exit 0
#   ...work...
#   machine_stamp_write
#
# On exit the trap records the outcome for the readiness probe:
#   /run/machine/done/<layer>    the script finished (or was already up to date)
#   /run/machine/failed/<layer>  the script failed; holds the failing command

R="${MACHINE_ROOT:-}"
MACHINE_LIB_DIR="$R/usr/local/lib/machine"
MACHINE_STATE_DIR="$R/var/lib/machine"
MACHINE_RUN_DIR="$R/run/machine"

MACHINE_LAYER=""
MACHINE_MODE=""
MACHINE_STAMP_FILE=""
MACHINE_STAMP_HASH=""
MACHINE_HAD_STAMP=0
MACHINE_FAILURE=""
MACHINE_TMP=""

export DEBIAN_FRONTEND=noninteractive

machine_log() {
	printf 'machine[%s] %s\n' "${MACHINE_LAYER:-?}" "$*"
}

machine_warn() {
	printf 'machine[%s] WARNING: %s\n' "${MACHINE_LAYER:-?}" "$*" >&2
}

# Stop the script with a message that also lands in /run/machine/failed/<layer>.
machine_die() {
	MACHINE_FAILURE="$*"
	# Also keep it in a file: machine_die may run inside $(...), whose variables
	# never reach the exit trap of the main shell.
	if [[ -n $MACHINE_TMP && -d $MACHINE_TMP ]]; then
		printf '%s\n' "$*" >"$MACHINE_TMP/.failure"
	fi
	printf 'machine[%s] ERROR: %s\n' "${MACHINE_LAYER:-?}" "$*" >&2
	exit 1
}

# --- markers for the readiness probe -------------------------------------------

# Write $MACHINE_RUN_DIR/<kind>/<layer>. User scripts cannot write under /run,
# so they fall back to passwordless sudo (the Lima user has it).
machine__marker_write() {
	local kind=$1 text=$2 dir="$MACHINE_RUN_DIR/$1"
	if mkdir -p "$dir" 2>/dev/null && [[ -w $dir ]]; then
		printf '%s\n' "$text" >"$dir/$MACHINE_LAYER"
	else
		sudo -n mkdir -p "$dir" &&
			printf '%s\n' "$text" | sudo -n tee "$dir/$MACHINE_LAYER" >/dev/null
	fi || printf 'machine[%s] WARNING: could not write the %s marker\n' "$MACHINE_LAYER" "$kind" >&2
	if [[ $kind == "done" ]]; then
		machine__marker_remove failed
	fi
}

machine__marker_remove() {
	local file="$MACHINE_RUN_DIR/$1/$MACHINE_LAYER"
	[[ -e $file ]] || return 0
	rm -f "$file" 2>/dev/null || sudo -n rm -f "$file" || true
}

# Names a command a helper ran and saw fail, for the failure marker: the ERR trap
# would only see the helper's own `return`. A caller that handles the failure
# clears MACHINE_FAILURE again.
machine__failed_command() {
	local rc=$1
	shift
	[[ -n $MACHINE_FAILURE ]] || MACHINE_FAILURE="command '$*' exited with status $rc"
}

machine__on_err() {
	# Keep the first failure: later ERR traps only see the command that called it.
	if [[ -z $MACHINE_FAILURE ]]; then
		local where="line $2"
		[[ $4 == */lib.sh ]] && where="lib.sh line $2"
		MACHINE_FAILURE="command '$3' exited with status $1 ($where)"
	fi
}

machine__on_exit() {
	local rc=$?
	trap - ERR
	set +e
	if [[ -n $MACHINE_TMP && -d $MACHINE_TMP ]]; then
		if [[ -s $MACHINE_TMP/.failure ]]; then
			MACHINE_FAILURE=$(<"$MACHINE_TMP/.failure")
		fi
		rm -rf "$MACHINE_TMP"
	fi
	if ((rc == 0)); then
		machine__marker_write "done" "ok"
	else
		local why=${MACHINE_FAILURE:-"exited with status $rc"}
		printf 'machine[%s] FAILED: %s\n' "$MACHINE_LAYER" "$why" >&2
		machine__marker_write failed "$MACHINE_LAYER ($MACHINE_MODE): $why"
	fi
	exit "$rc"
}

# machine_init <layer> <system|user>
# Names the layer for logs and markers, installs the traps and loads the pins.
machine_init() {
	MACHINE_LAYER=$1
	MACHINE_MODE=$2
	case $MACHINE_MODE in
	system | user) ;;
	*)
		machine_die "machine_init: mode must be system or user, not '$MACHINE_MODE'"
		;;
	esac
	set -E
	trap 'machine__on_err "$?" "$LINENO" "$BASH_COMMAND" "${BASH_SOURCE[0]:-}"' ERR
	trap machine__on_exit EXIT
	MACHINE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/machine-$MACHINE_LAYER.XXXXXX")

	if [[ $MACHINE_MODE == system ]]; then
		# cloud-init may run us without a usable HOME; npm and friends need one.
		if [[ -z ${HOME:-} || $HOME == / ]]; then
			export HOME=/root
		fi
		mkdir -p "$MACHINE_RUN_DIR/done" "$MACHINE_RUN_DIR/failed" "$MACHINE_STATE_DIR/stamps"
		chmod 755 "$MACHINE_RUN_DIR" "$MACHINE_RUN_DIR/done" "$MACHINE_RUN_DIR/failed"
	fi
	machine__marker_remove "done"
	machine__marker_remove failed

	if [[ ! -r "$MACHINE_LIB_DIR/versions.env" ]]; then
		machine_die "missing $MACHINE_LIB_DIR/versions.env (placed by the core layer)"
	fi
	# shellcheck source=versions.env
	source "$MACHINE_LIB_DIR/versions.env"
}

# --- stamps ----------------------------------------------------------------------

machine__stamp_dir() {
	if [[ $MACHINE_MODE == user ]]; then
		printf '%s\n' "$HOME/.local/state/machine/stamps"
	else
		printf '%s\n' "$MACHINE_STATE_DIR/stamps"
	fi
}

# machine_stamp_check <layer> <inputs...>
# Hashes this script's own text plus the given input values. Returns 0 when the
# stamp written by the last successful run matches (the caller then exits 0
# without doing any work); returns 1 when the layer has to run.
machine_stamp_check() {
	local layer=$1
	shift
	local script=$0
	[[ -r $script ]] || machine_die "cannot read own script text at '$script'"
	MACHINE_STAMP_FILE="$(machine__stamp_dir)/$layer"
	MACHINE_STAMP_HASH=$(
		{
			cat -- "$script"
			local value
			for value in "$@"; do
				printf '\0%s' "$value"
			done
		} | sha256sum | cut -d' ' -f1
	)
	if [[ -f $MACHINE_STAMP_FILE ]]; then
		MACHINE_HAD_STAMP=1
		if [[ "$(<"$MACHINE_STAMP_FILE")" == "$MACHINE_STAMP_HASH" ]]; then
			machine_log "up to date (stamp $MACHINE_STAMP_FILE), nothing to do"
			return 0
		fi
		machine_log "inputs changed since the last run, provisioning again"
	else
		machine_log "no stamp yet, provisioning"
	fi
	return 1
}

# machine_stamp_write: call as the last step once the layer's work succeeded.
machine_stamp_write() {
	[[ -n $MACHINE_STAMP_FILE ]] || machine_die "machine_stamp_write called before machine_stamp_check"
	mkdir -p "$(dirname "$MACHINE_STAMP_FILE")"
	printf '%s\n' "$MACHINE_STAMP_HASH" >"$MACHINE_STAMP_FILE.tmp"
	mv -f "$MACHINE_STAMP_FILE.tmp" "$MACHINE_STAMP_FILE"
	machine_log "done, stamp written"
}

# --- guest facts ---------------------------------------------------------------

# Debian architecture name: amd64 or arm64.
machine_arch() {
	local arch
	arch=$(dpkg --print-architecture)
	case $arch in
	amd64 | arm64) printf '%s\n' "$arch" ;;
	*) machine_die "unsupported architecture '$arch' (machine supports amd64 and arm64)" ;;
	esac
}

# Prints one field (ID, VERSION_CODENAME, ...) of /etc/os-release.
machine_os_field() {
	local field=$1 file="$R/etc/os-release"
	[[ -r $file ]] || machine_die "cannot read $file"
	(
		# shellcheck disable=SC1090
		source "$file"
		printf '%s\n' "${!field:-}"
	)
}

# ubuntu or debian; anything else is refused.
machine_os_id() {
	local id
	id=$(machine_os_field ID)
	case $id in
	ubuntu | debian) printf '%s\n' "$id" ;;
	*) machine_die "unsupported distribution '$id' (machine supports Ubuntu 24.04, Debian 12 and 13)" ;;
	esac
}

machine_os_codename() {
	local codename
	codename=$(machine_os_field VERSION_CODENAME)
	[[ -n $codename ]] || machine_die "no VERSION_CODENAME in /etc/os-release"
	printf '%s\n' "$codename"
}

# The Lima user and home, for system scripts (Lima's boot script exports these).
machine_user() {
	[[ -n ${LIMA_CIDATA_USER:-} ]] || machine_die "LIMA_CIDATA_USER is not set (not running under Lima?)"
	printf '%s\n' "$LIMA_CIDATA_USER"
}

machine_user_home() {
	if [[ -n ${LIMA_CIDATA_HOME:-} ]]; then
		printf '%s\n' "$LIMA_CIDATA_HOME"
		return
	fi
	local home
	home=$(getent passwd "$(machine_user)" | cut -d: -f6)
	[[ -n $home ]] || machine_die "cannot find the home directory of $(machine_user)"
	printf '%s\n' "$home"
}

# A scratch directory (created by machine_init) removed when the script exits.
machine_tmpdir() {
	printf '%s\n' "$MACHINE_TMP"
}

# --- apt -----------------------------------------------------------------------

# How long a layer waits for apt's locks before it fails (seconds).
MACHINE_APT_LOCK_WAIT=${MACHINE_APT_LOCK_WAIT:-600}

# apt-get with bounded waits for both of apt's locks. DPkg::Lock::Timeout covers
# dpkg's lock only; `apt-get update` takes /var/lib/apt/lists/lock and fails at
# once when apt-daily (started by a timer at boot) holds it.
machine__apt() {
	machine_with_apt_locks apt-get -o DPkg::Lock::Timeout="$MACHINE_APT_LOCK_WAIT" -o Acquire::Retries=3 "$@"
}

# machine_with_apt_locks <command...>: runs a command that runs apt, again while
# it fails on one of apt's locks, until MACHINE_APT_LOCK_WAIT has passed.
machine_with_apt_locks() {
	local deadline=$((SECONDS + MACHINE_APT_LOCK_WAIT)) err rc
	err="$(machine_tmpdir)/apt.err"
	while :; do
		rc=0
		"$@" 2>"$err" || rc=$?
		cat "$err" >&2
		if ((rc == 0)); then
			return 0
		fi
		if ! grep -qE 'Could not get lock|Unable to lock' "$err"; then
			machine__failed_command "$rc" "$@"
			return "$rc"
		fi
		if ((SECONDS >= deadline)); then
			machine_warn "apt is still locked after ${MACHINE_APT_LOCK_WAIT}s (another apt run, e.g. apt-daily, holds it)"
			machine__failed_command "$rc" "$@"
			return "$rc"
		fi
		machine_log "apt is locked by another apt run; waiting"
		sleep 5
	done
}

# Apt's own timers (apt-daily, apt-daily-upgrade and with them unattended-upgrades)
# start at boot and take apt's locks in the middle of provisioning; machine keeps
# the VM's packages itself, so they are turned off (for every later boot too).
machine_apt_timers_off() {
	local timer
	for timer in apt-daily.timer apt-daily-upgrade.timer; do
		if systemctl is-enabled --quiet "$timer" 2>/dev/null; then
			systemctl disable --now "$timer" >/dev/null 2>&1 || machine_warn "could not disable $timer"
			machine_log "disabled $timer (it would take apt's locks during provisioning)"
		fi
	done
}

# Refresh the package lists. A failure is tolerated only when this layer was
# provisioned before (it has a stamp): the cached lists then still work offline.
machine_apt_update() {
	if machine__apt update -qq; then
		return 0
	fi
	if ((MACHINE_HAD_STAMP)); then
		machine_warn "apt-get update failed; continuing with the cached package lists"
		MACHINE_FAILURE=""
		return 0
	fi
	machine_die "apt-get update failed (is the network up?)"
}

machine_apt_install() {
	machine__apt install -y -qq --no-install-recommends "$@"
}

# Primary-key fingerprints of an OpenPGP key file, one per line.
machine__key_fingerprints() {
	local home
	home=$(mktemp -d "${TMPDIR:-/tmp}/machine-gnupg.XXXXXX")
	GNUPGHOME=$home gpg --batch --quiet --show-keys --with-colons "$1" |
		awk -F: '$1 == "pub" { primary = 1; next }
		         $1 == "fpr" && primary { print toupper($10); primary = 0 }
		         $1 == "sub" { primary = 0 }'
	local status=${PIPESTATUS[0]}
	rm -rf "$home"
	return "$status"
}

# machine_apt_repo <name> <key-url> <fingerprints,comma,separated> <uri> <suite> [components...]
# Installs the repository key (kept if already present and still valid) after
# checking that every primary key in it is one of the pinned fingerprints, and
# rewrites /etc/apt/sources.list.d/machine-<name>.list with signed-by.
machine_apt_repo() {
	local name=$1 key_url=$2 fprs=$3 uri=$4 suite=$5
	shift 5
	local keydir="$R/etc/apt/keyrings" tmp key ext found=0
	mkdir -p "$keydir" "$R/etc/apt/sources.list.d"

	for ext in asc gpg; do
		key="$keydir/machine-$name.$ext"
		if [[ -s $key ]] && machine__key_ok "$key" "$fprs"; then
			found=1
			break
		fi
	done
	if ((!found)); then
		tmp="$(machine_tmpdir)/$name.key"
		machine_fetch "$key_url" "$tmp"
		machine__key_ok "$tmp" "$fprs" ||
			machine_die "the key at $key_url does not match the pinned fingerprint(s) $fprs"
		if head -c 64 "$tmp" | grep -q -- '-----BEGIN PGP'; then ext=asc; else ext=gpg; fi
		rm -f "$keydir/machine-$name.asc" "$keydir/machine-$name.gpg"
		key="$keydir/machine-$name.$ext"
		install -m 644 "$tmp" "$key"
		machine_log "installed apt key for $name ($fprs)"
	fi
	local guest_key=${key#"$R"}
	printf 'deb [arch=%s signed-by=%s] %s %s %s\n' "$(machine_arch)" "$guest_key" "$uri" "$suite" "$*" \
		>"$R/etc/apt/sources.list.d/machine-$name.list"
}

# True when the key file's primary fingerprints are all in the pinned list.
machine__key_ok() {
	local file=$1 allowed=",${2^^},"
	local fprs fpr
	fprs=$(machine__key_fingerprints "$file") || return 1
	[[ -n $fprs ]] || return 1
	while read -r fpr; do
		[[ $allowed == *",$fpr,"* ]] || return 1
	done <<<"$fprs"
}

# --- downloads -----------------------------------------------------------------

machine_fetch() {
	local url=$1 dest=$2
	machine_log "downloading $url"
	curl -fsSL --retry 3 --retry-delay 2 --connect-timeout 20 -o "$dest" "$url"
}

# machine_fetch_verified <url> <sha256> <dest>
# Refuses checksums that are missing or marked UNVERIFIED in versions.env.
machine_fetch_verified() {
	local url=$1 want=$2 dest=$3 got
	if [[ -z $want || $want == UNVERIFIED ]]; then
		machine_die "refusing to install $url: versions.env pins no verified sha256 for it (value '${want:-}'); add the real checksum first"
	fi
	[[ $want =~ ^[0-9a-f]{64}$ ]] || machine_die "malformed sha256 '$want' for $url in versions.env"
	machine_fetch "$url" "$dest"
	got=$(sha256sum "$dest" | cut -d' ' -f1)
	if [[ $got != "$want" ]]; then
		rm -f "$dest"
		machine_die "checksum mismatch for $url: expected $want, got $got"
	fi
}

# machine_artifact <TOOL>: looks up <TOOL>_URL_<ARCH> and <TOOL>_SHA256_<ARCH>
# in versions.env for this machine's architecture and sets MACHINE_ART_URL and
# MACHINE_ART_SHA256.
machine_artifact() {
	local tool=$1 arch url_var sha_var
	arch=$(machine_arch)
	url_var="${tool}_URL_${arch^^}"
	sha_var="${tool}_SHA256_${arch^^}"
	MACHINE_ART_URL=${!url_var:-}
	MACHINE_ART_SHA256=${!sha_var:-}
	[[ -n $MACHINE_ART_URL ]] || machine_die "versions.env has no $url_var"
}

# machine_install_archive <TOOL> <strip-components> <dest-dir>
# Downloads the tool's archive for this architecture, verifies it and unpacks it.
machine_install_archive() {
	local tool=$1 strip=$2 dest=$3 archive
	machine_artifact "$tool"
	archive="$(machine_tmpdir)/$tool.archive"
	machine_fetch_verified "$MACHINE_ART_URL" "$MACHINE_ART_SHA256" "$archive"
	mkdir -p "$dest"
	tar -xf "$archive" -C "$dest" --strip-components="$strip" --no-same-owner
	rm -f "$archive"
}
