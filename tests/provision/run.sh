#!/bin/bash
# Tests for machine's guest provisioning layers (src/guest/: templates/, provision/, files/).
#
# Every provision script runs against a scratch root: MACHINE_ROOT redirects the
# guest paths (/usr/local/lib/machine, /var/lib/machine, /run/machine, /etc/apt,
# /usr/local/bin, ...) and HOME points into it. apt-get, curl, npm, git, gpg,
# systemctl, sudo, ... are stubs that log their arguments to a file and succeed
# (or fail on request). Nothing touches the network or the real system.
#
# For each script and each guest flavour (Ubuntu 24.04 amd64, Debian 12 arm64,
# Debian 13 amd64) it checks that
#   1. the first run succeeds, writes its stamp and /run/machine/done/<layer>;
#   2. a second run does no work (no new stub calls), exits 0 in under a second;
#   3. changing one input (a param, a pin in versions.env, or the script text)
#      makes it run again;
#   4. a failing command makes it fail and write /run/machine/failed/<layer>.
# Plus lib.sh behaviour (offline reboots, UNVERIFIED and wrong checksums, wrong
# repository keys), core's git/shell setup, claude's settings merge, the
# readiness probe, template structure and the machine-guest helper
# (tests/provision/machine-guest.sh, sourced below).
#
# Usage: tests/provision/run.sh [-v]     (-v prints the output of failing runs)
# The last line is "N passed, N failed" (", N skipped" when tools are missing).

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The guest tree: templates/, provision/ and files/.
TREE=$(cd "$HERE/../../src/guest" && pwd)
VERBOSE=0
[[ ${1:-} == -v ]] && VERBOSE=1

# shellcheck source-path=SCRIPTDIR source=assert.sh
source "$HERE/assert.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/machine-provision-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- stubs ------------------------------------------------------------------------

STUBS="$WORK/stubs"
mkdir -p "$STUBS"

# Download payloads: curl returns the tarball for archive URLs and a no-op shell
# script for anything else (installers, apt keys, rustup-init). The tarball
# holds every binary the layers look for, at the depth each layer expects.
PAYLOAD_TAR="$WORK/payload.tar.gz"
PAYLOAD_BIN="$WORK/payload.bin"
make_payloads() {
	local d="$WORK/payload-src" f
	mkdir -p "$d/pkg/bin" "$d/pkg/runtime/queries"
	# A downloaded installer run with arguments (Claude Code's: `bash install.sh <version>`)
	# records them, so the claude stub then reports that version.
	# shellcheck disable=SC2016 # the payload's own variables, expanded when it runs
	printf '#!/bin/sh\n[ -n "${STUB_INSTALLED:-}" ] && [ "$#" -gt 0 ] && echo "$*" >"$STUB_INSTALLED"\nexit 0\n' >"$PAYLOAD_BIN"
	for f in supabase supabase-go flyctl fzf lazygit pkg/bat pkg/delta pkg/hx pkg/uv pkg/uvx pkg/bin/go pkg/bin/gofmt; do
		cp "$PAYLOAD_BIN" "$d/$f"
		chmod 755 "$d/$f"
	done
	printf 'stub\n' >"$d/pkg/runtime/queries/README"
	(cd "$d" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - \
		supabase supabase-go flyctl fzf lazygit pkg) | gzip -n >"$PAYLOAD_TAR"
}
make_payloads

cat >"$STUBS/.stub" <<'STUB'
#!/bin/bash
# Test stub: logs "<name> <args %q-quoted>" to $STUB_LOG, then behaves.
name=${0##*/}
{
	printf '%s' "$name"
	(($#)) && printf ' %q' "$@"
	printf '\n'
} >>"${STUB_LOG:?}"

# STUB_FAIL: space separated rules "cmd" (always fail) or "cmd:word" (fail when
# one argument equals word).
for rule in ${STUB_FAIL:-}; do
	cmd=${rule%%:*}
	word=""
	[[ $rule == *:* ]] && word=${rule#*:}
	[[ $cmd == "$name" ]] || continue
	if [[ -z $word ]] || printf '%s\n' "$@" | grep -qxF -- "$word"; then
		echo "stub $name: failing on purpose" >&2
		exit "${STUB_FAIL_STATUS:-100}"
	fi
done

# STUB_APT_LOCKED: a file; while it holds a number N > 0, apt-get fails as when
# another apt run holds the lists lock, and N goes down by one.
if [[ $name == apt-get && -n ${STUB_APT_LOCKED:-} && -s $STUB_APT_LOCKED ]]; then
	left=$(<"$STUB_APT_LOCKED")
	if ((left > 0)); then
		echo $((left - 1)) >"$STUB_APT_LOCKED"
		echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
		exit 100
	fi
fi

case $name in
dpkg)
	[[ ${1:-} == --print-architecture ]] && echo "${STUB_ARCH:-amd64}"
	;;
curl)
	out="" url=""
	while (($#)); do
		case $1 in
		-o) out=$2; shift ;;
		http://* | https://*) url=$1 ;;
		esac
		shift
	done
	case $url in
	*.tar.gz | *.tar.xz | *.tgz) src=$STUB_PAYLOAD_TAR ;;
	*) src=$STUB_PAYLOAD_BIN ;;
	esac
	if [[ -n $out ]]; then cat "$src" >"$out"; else cat "$src"; fi
	;;
gpg)
	if printf '%s\n' "$@" | grep -qx -- --show-keys; then
		for fpr in ${STUB_GPG_FPRS//,/ }; do
			echo "pub:-:4096:1:0000000000000000:0:::-:::scESC::::::23::0:"
			echo "fpr:::::::::$fpr:"
			echo "sub:-:4096:1:1111111111111111:0::::::e::::::23:"
			echo "fpr:::::::::FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:"
		done
	fi
	;;
node)
	echo "v24.0.0"
	;;
git)
	# A git config that an earlier boot gave SSH signing.
	if [[ "$*" == "config --global --get gpg.format" && -n ${STUB_GIT_GPG_FORMAT:-} ]]; then
		echo "$STUB_GIT_GPG_FORMAT"
	fi
	;;
claude)
	if [[ ${1:-} == --version ]]; then
		version=${STUB_CLAUDE_VERSION:-}
		[[ -z $version && -s ${STUB_INSTALLED:-} ]] && version=$(<"$STUB_INSTALLED")
		echo "${version:-0.0.0} (Claude Code)"
	fi
	;;
sudo)
	[[ ${1:-} == -n ]] && shift
	exec "$@"
	;;
esac
exit 0
STUB
chmod 755 "$STUBS/.stub"
STUBBED=(apt-get apt-cache curl npm npx corepack node systemctl sudo chsh chown usermod gpg dpkg
	git claude apparmor_parser getent)
for name in "${STUBBED[@]}"; do
	ln -s .stub "$STUBS/$name"
done

# Stub calls that count as "work" (anything else, e.g. dpkg --print-architecture
# or chown of home directories, is allowed on a skipped run).
WORK_RE='^(apt-get|apt-cache|curl|npm|npx|corepack|claude|apparmor_parser|git|chsh|usermod|systemctl|gpg|rustup-init)( |$)'

# --- test versions.env ------------------------------------------------------------
# The real pins, optionally edited with sed, then every *_SHA256_* replaced by the
# checksum of what the curl stub returns for that URL.
make_versions() { # make_versions <dest> [sed-expression...]
	local dest=$1
	shift
	cp "$TREE/files/versions.env" "$dest"
	local expr
	for expr in "$@"; do
		sed -i -e "$expr" "$dest"
	done
	local tar_sha bin_sha
	tar_sha=$(sha256sum "$PAYLOAD_TAR" | cut -d' ' -f1)
	bin_sha=$(sha256sum "$PAYLOAD_BIN" | cut -d' ' -f1)
	(
		set +u
		# shellcheck disable=SC1090
		source "$dest"
		for var in $(compgen -v | grep -E '_URL_(AMD64|ARM64)$'); do
			url=${!var}
			case $url in
			*.tar.gz | *.tar.xz | *.tgz) sha=$tar_sha ;;
			*) sha=$bin_sha ;;
			esac
			printf '%s=%s\n' "${var/_URL_/_SHA256_}" "$sha"
		done
	) >>"$dest.overrides"
	printf '\n# test overrides\n' >>"$dest"
	cat "$dest.overrides" >>"$dest"
	rm -f "$dest.overrides"
}

# --- scratch roots ----------------------------------------------------------------

ROOT=""
LOG=""
FLAVOUR_ID=ubuntu
FLAVOUR_CODENAME=noble
FLAVOUR_VERSION=24.04
FLAVOUR_ARCH=amd64
N_ROOT=0

new_root() { # new_root: a fresh scratch guest
	N_ROOT=$((N_ROOT + 1))
	ROOT="$WORK/root$N_ROOT"
	LOG="$ROOT/stub.log"
	mkdir -p "$ROOT/usr/local/lib/machine" "$ROOT/etc" "$ROOT/tmp" "$ROOT/root" \
		"$ROOT/home/tester/.ssh" "$ROOT/home/tester/.config/direnv/lib" \
		"$ROOT/proc/sys/kernel" "$ROOT/usr/local/bin"
	: >"$LOG"
	# What Lima's `mode: data` entries of the core layer put in place.
	cp "$TREE/files/lib.sh" "$ROOT/usr/local/lib/machine/lib.sh"
	make_versions "$ROOT/usr/local/lib/machine/versions.env"
	cat >"$ROOT/etc/os-release" <<EOF
ID=$FLAVOUR_ID
VERSION_ID="$FLAVOUR_VERSION"
VERSION_CODENAME=$FLAVOUR_CODENAME
EOF
	echo 1 >"$ROOT/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
	# rust-user.sh runs the rustup-init that rust.sh installs.
	cp "$STUBS/.stub" "$ROOT/usr/local/bin/rustup-init"
}

set_versions() { # set_versions [sed-expression...]: rewrite versions.env of ROOT
	make_versions "$ROOT/usr/local/lib/machine/versions.env" "$@"
}

# Extra environment for the next runs (KEY=value words).
EXTRA_ENV=()
STUB_FAIL_RULES=""
GPG_FPRS=""
OUT=""
RC=0

# run_script <script> <mode>: runs provision/<script> (or a path) as Lima would.
run_script() {
	local script=$1 mode=$2 home
	[[ $script == */* ]] || script="$TREE/provision/$script"
	if [[ $mode == user ]]; then home="$ROOT/home/tester"; else home="$ROOT/root"; fi
	OUT=$(
		env -i \
			PATH="$STUBS:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
			HOME="$home" TMPDIR="$ROOT/tmp" LANG=C.UTF-8 \
			MACHINE_ROOT="$ROOT" \
			LIMA_CIDATA_USER=tester LIMA_CIDATA_HOME="$ROOT/home/tester" LIMA_CIDATA_UID=1000 \
			STUB_LOG="$LOG" STUB_ARCH="$FLAVOUR_ARCH" STUB_FAIL="$STUB_FAIL_RULES" \
			STUB_GPG_FPRS="$GPG_FPRS" \
			STUB_PAYLOAD_TAR="$PAYLOAD_TAR" STUB_PAYLOAD_BIN="$PAYLOAD_BIN" STUB_INSTALLED="$ROOT/stub-installed" \
			PARAM_gitName="Test User" PARAM_gitEmail="test@example.com" \
			PARAM_signingKey="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITESTKEY test" PARAM_shell=zsh \
			"${EXTRA_ENV[@]}" \
			"$script" 2>&1
	)
	RC=$?
}

# Reading a version to check the pin is not work (claude-user asks at every boot).
work_lines() { grep -E "$WORK_RE" "$LOG" | grep -cvxF "claude --version" || true; }

stamp_path() { # stamp_path <layer> <mode>
	if [[ $2 == user ]]; then
		printf '%s\n' "$ROOT/home/tester/.local/state/machine/stamps/$1"
	else
		printf '%s\n' "$ROOT/var/lib/machine/stamps/$1"
	fi
}

show_output() {
	((VERBOSE)) && printf '%s\n' "$OUT" | sed 's/^/      | /'
	return 0
}

now() { printf '%s\n' "${EPOCHREALTIME/,/.}"; }

# --- the per-layer contract ---------------------------------------------------------
# layer | script | mode | input change | failing command | apt key fingerprints var
# The input change is env:KEY=value, ver:<sed expression> or script (append a
# comment to a copy of the script).
LAYERS=(
	"core|core.sh|system|env:PARAM_shell=bash|apt-get|"
	"core-user|core-user.sh|user|env:PARAM_gitName=Someone Else|git|"
	"docker|docker.sh|system|ver:s/^DOCKER_KEY_FPRS=/DOCKER_KEY_FPRS=0123456789ABCDEF0123456789ABCDEF01234567,/|apt-get|DOCKER_KEY_FPRS"
	"node|node.sh|system|ver:s/^NODE_MAJOR=.*/NODE_MAJOR=22/|apt-get|NODESOURCE_KEY_FPRS"
	"node-user|node-user.sh|user|ver:s/^PNPM_VERSION=.*/PNPM_VERSION=10.0.0/|corepack|"
	"gh|gh.sh|system|ver:s/^GH_KEY_FPRS=.*/GH_KEY_FPRS=2C6106201985B60E6C7AC87323F3D4EA75716059/|apt-get|GH_KEY_FPRS"
	"claude|claude.sh|system|script|apparmor_parser|"
	"claude-user|claude-user.sh|user|ver:s/^CLAUDE_VERSION=.*/CLAUDE_VERSION=2.2.0/|curl|"
	"codex|codex.sh|system|ver:s/^CODEX_VERSION=.*/CODEX_VERSION=0.140.0/|npm|"
	"cypress|cypress.sh|system|ver:s/^GOOGLE_KEY_FPRS=.*/GOOGLE_KEY_FPRS=EB4C1BFD4F042F6DDDCCEC917721F63BD38B4796/|apt-get|GOOGLE_KEY_FPRS"
	"playwright|playwright.sh|system|ver:s/^PLAYWRIGHT_VERSION=.*/PLAYWRIGHT_VERSION=1.61.0/|npx|"
	"supabase-fly|supabase-fly.sh|system|ver:s/^FLYCTL_VERSION=.*/FLYCTL_VERSION=0.4.106/|curl|"
	"modern|modern.sh|system|ver:s/^FZF_VERSION=.*/FZF_VERSION=0.74.0/|curl|"
	"modern-user|modern-user.sh|user|ver:s/^DELTA_VERSION=.*/DELTA_VERSION=0.20.0/|git|"
	"python|python.sh|system|ver:s/^UV_VERSION=.*/UV_VERSION=0.12.0/|curl|"
	"rust|rust.sh|system|ver:s/^RUSTUP_VERSION=.*/RUSTUP_VERSION=1.29.1/|curl|"
	"rust-user|rust-user.sh|user|ver:s/^RUST_TOOLCHAIN=.*/RUST_TOOLCHAIN=1.95.0/|rustup-init|"
	"go|go.sh|system|ver:s/^GO_VERSION=.*/GO_VERSION=1.26.5/|curl|"
)

# The fingerprint the gpg stub reports: the first one pinned for that key.
fpr_for() {
	local var=$1
	[[ -n $var ]] || return 0
	(
		set +u
		# shellcheck disable=SC1091
		source "$ROOT/usr/local/lib/machine/versions.env"
		printf '%s\n' "${!var%%,*}"
	)
}

test_layer() { # test_layer <flavour label> <spec>
	local label=$1 spec=$2 layer script mode change failcmd fprvar
	IFS='|' read -r layer script mode change failcmd fprvar <<<"$spec"
	local t="[$label] $layer"
	local stamp before after start elapsed old_stamp

	# 1. first run
	EXTRA_ENV=() STUB_FAIL_RULES=""
	new_root
	GPG_FPRS=$(fpr_for "$fprvar")
	stamp=$(stamp_path "$layer" "$mode")
	run_script "$script" "$mode"
	if ((RC == 0)) && [[ -f $stamp && -f $ROOT/run/machine/done/$layer && ! -e $ROOT/run/machine/failed/$layer ]] &&
		(($(work_lines) > 0)); then
		pass "$t: first run succeeds, does work, writes its stamp and done marker"
	else
		fail "$t: first run succeeds, does work, writes its stamp and done marker" "exit $RC"
		show_output
		return
	fi

	# 2. second run: nothing to do
	before=$(work_lines)
	start=$(now)
	run_script "$script" "$mode"
	elapsed=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
	after=$(work_lines)
	if ((RC == 0 && after == before)) && [[ -f $ROOT/run/machine/done/$layer ]]; then
		pass "$t: second run does no work and exits 0"
	else
		fail "$t: second run does no work and exits 0" "exit $RC, work lines $before -> $after"
		show_output
	fi
	# A figure, not an assertion: timings depend on the machine's load (see README, Performance).
	printf 'time  %s: second run took %ss\n' "$t" "$elapsed"

	# 3. a changed input runs the layer again
	old_stamp=$(<"$stamp")
	before=$(work_lines)
	local target=$script
	case $change in
	env:*) EXTRA_ENV=("${change#env:}") ;;
	ver:*) set_versions "${change#ver:}" ;;
	script)
		target="$ROOT/tmp/$script"
		cp "$TREE/provision/$script" "$target"
		printf '# changed\n' >>"$target"
		;;
	esac
	run_script "$target" "$mode"
	after=$(work_lines)
	if ((RC == 0 && after > before)) && [[ "$(<"$stamp")" != "$old_stamp" ]]; then
		pass "$t: changing an input ($change) runs it again"
	else
		fail "$t: changing an input ($change) runs it again" "exit $RC, work lines $before -> $after"
		show_output
	fi
	EXTRA_ENV=()

	# 4. a failing command fails the layer and leaves a failed marker
	new_root
	stamp=$(stamp_path "$layer" "$mode")
	STUB_FAIL_RULES=$failcmd
	run_script "$script" "$mode"
	STUB_FAIL_RULES=""
	local marker="$ROOT/run/machine/failed/$layer"
	if ((RC != 0)) && [[ -s $marker && ! -e $ROOT/run/machine/done/$layer && ! -e $stamp ]] &&
		grep -q -- "$failcmd" "$marker"; then
		pass "$t: failing $failcmd fails it and writes failed/$layer naming the command"
	else
		fail "$t: failing $failcmd fails it and writes failed/$layer naming the command" \
			"exit $RC; marker: $(cat "$marker" 2>/dev/null)"
		show_output
	fi
}

FLAVOURS=(
	"ubuntu-24.04/amd64|ubuntu|noble|24.04|amd64"
	"debian-12/arm64|debian|bookworm|12|arm64"
	"debian-13/amd64|debian|trixie|13|amd64"
)
for flavour in "${FLAVOURS[@]}"; do
	IFS='|' read -r label FLAVOUR_ID FLAVOUR_CODENAME FLAVOUR_VERSION FLAVOUR_ARCH <<<"$flavour"
	for spec in "${LAYERS[@]}"; do
		test_layer "$label" "$spec"
	done
done
FLAVOUR_ID=ubuntu FLAVOUR_CODENAME=noble FLAVOUR_VERSION=24.04 FLAVOUR_ARCH=amd64

# --- lib.sh and layer specifics -----------------------------------------------------

# Offline reboot: a layer with a stamp tolerates a failing apt-get update ...
new_root
run_script core.sh system
EXTRA_ENV=(PARAM_shell=bash) STUB_FAIL_RULES="apt-get:update"
run_script core.sh system
check "offline: core with a stamp tolerates a failing apt-get update" test "$RC" -eq 0
EXTRA_ENV=() STUB_FAIL_RULES=""
# ... a layer never provisioned does not.
new_root
STUB_FAIL_RULES="apt-get:update"
run_script core.sh system
STUB_FAIL_RULES=""
check "offline: core without a stamp fails when apt-get update fails" test "$RC" -ne 0
check "offline: the failure names apt-get update" grep -q "apt-get update failed" "$ROOT/run/machine/failed/core"

# A stamped layer does not touch the network at all on reboot.
new_root
run_script go.sh system
: >"$LOG"
STUB_FAIL_RULES="curl apt-get"
run_script go.sh system
STUB_FAIL_RULES=""
check "offline: a stamped layer succeeds with curl and apt-get failing" test "$RC" -eq 0
check "offline: ...and calls neither" test "$(work_lines)" -eq 0

# UNVERIFIED and wrong checksums are refused.
new_root
sed -i 's/^GO_SHA256_AMD64=.*/GO_SHA256_AMD64=UNVERIFIED/' "$ROOT/usr/local/lib/machine/versions.env"
run_script go.sh system
check "UNVERIFIED: go refuses to install" test "$RC" -ne 0
check "UNVERIFIED: the failed marker explains why" grep -q "UNVERIFIED" "$ROOT/run/machine/failed/go"
check "UNVERIFIED: nothing was downloaded" test "$(work_lines)" -eq 0
new_root
sed -i 's/^GO_SHA256_AMD64=.*/GO_SHA256_AMD64=0000000000000000000000000000000000000000000000000000000000000000/' \
	"$ROOT/usr/local/lib/machine/versions.env"
run_script go.sh system
check "checksum mismatch: go fails" test "$RC" -ne 0
check "checksum mismatch: the failed marker says so" grep -q "checksum mismatch" "$ROOT/run/machine/failed/go"
check "checksum mismatch: nothing was installed" test ! -e "$ROOT/usr/local/go"

# A repository key with an unexpected fingerprint is refused.
new_root
GPG_FPRS=0123456789ABCDEF0123456789ABCDEF01234567
run_script docker.sh system
check "apt key: a key with another fingerprint fails docker" test "$RC" -ne 0
check "apt key: the failed marker names the fingerprint problem" grep -q "fingerprint" "$ROOT/run/machine/failed/docker"
check "apt key: no key was installed" test ! -e "$ROOT/etc/apt/keyrings/machine-docker.gpg"
GPG_FPRS=$(fpr_for DOCKER_KEY_FPRS)
run_script docker.sh system
check "apt key: the docker source is signed-by its keyring" \
	grep -q "signed-by=/etc/apt/keyrings/machine-docker.gpg\] https://download.docker.com/linux/ubuntu noble stable" \
	"$ROOT/etc/apt/sources.list.d/machine-docker.list"
check "apt key: docker adds the user to the docker group" grep -q "^usermod -aG docker tester" "$LOG"
GPG_FPRS=""

# A failure after a success in the same boot clears the done marker, and vice versa.
new_root
run_script codex.sh system
set_versions 's/^CODEX_VERSION=.*/CODEX_VERSION=0.140.0/'
STUB_FAIL_RULES=npm
run_script codex.sh system
STUB_FAIL_RULES=""
check "markers: a failed re-run removes done/codex" test ! -e "$ROOT/run/machine/done/codex"
run_script codex.sh system
check "markers: a successful re-run removes failed/codex" test ! -e "$ROOT/run/machine/failed/codex"
check "markers: ...and writes done/codex" test -e "$ROOT/run/machine/done/codex"

# core: login shell, git identity with awkward characters, signing, rc hooks.
new_root
# shellcheck disable=SC2016 # literal on purpose: must reach git unexpanded
odd_name='Ann "Q" O'\''Neil \ {{.Param.x}} $(touch /tmp/pwned) `id`'
# shellcheck disable=SC2016
odd_key='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIODD {{x}} $(y)'
EXTRA_ENV=(PARAM_gitName="$odd_name" PARAM_gitEmail='ann+dev@example.com' PARAM_signingKey="$odd_key" PARAM_shell=bash)
run_script core.sh system
check "core: chsh sets the login shell from PARAM_shell" grep -qx "chsh -s /usr/bin/bash tester" "$LOG"
check "core: home directories written by Lima are handed to the user" grep -q "^chown tester: .*/home/tester/.ssh" "$LOG"
run_script core-user.sh user
check "core-user: user.name is set verbatim from the param" \
	grep -qxF "git config --global user.name $(printf '%q' "$odd_name")" "$LOG"
check "core-user: the signing key is set verbatim" \
	grep -qxF "git config --global user.signingkey $(printf '%q' "$odd_key")" "$LOG"
for setting in "gpg.format ssh" "commit.gpgsign true" "tag.gpgsign true" "init.defaultBranch main" \
	"pull.rebase true" "fetch.prune true"; do
	check "core-user: git config --global $setting" grep -qxF "git config --global $setting" "$LOG"
done
check "core-user: allowed_signers holds '<email> <key>'" \
	test "$(<"$ROOT/home/tester/.config/git/allowed_signers")" = "ann+dev@example.com $odd_key"
check "core-user: gpg.ssh.allowedSignersFile points at it" \
	grep -qxF "git config --global gpg.ssh.allowedSignersFile $ROOT/home/tester/.config/git/allowed_signers" "$LOG"
check "core-user: ~/.zshrc sources the managed zshrc" grep -qF "/usr/local/lib/machine/zshrc" "$ROOT/home/tester/.zshrc"
check "core-user: ~/.zshenv reads the environment for every zsh" \
	grep -qxF "[ -r /usr/local/lib/machine/env.sh ] && emulate sh -c '. /usr/local/lib/machine/env.sh'" "$ROOT/home/tester/.zshenv"
check "core-user: without a bash login file, ~/.profile is created and reads the environment" \
	grep -qxF "[ -r /usr/local/lib/machine/env.sh ] && . /usr/local/lib/machine/env.sh" "$ROOT/home/tester/.profile"
check "core-user: ...and keeps ~/.bashrc for interactive login shells" grep -qF ". ~/.bashrc" "$ROOT/home/tester/.profile"
new_root
printf 'export MINE=1\n' >"$ROOT/home/tester/.bash_profile"
printf '# the distro profile\n' >"$ROOT/home/tester/.profile"
run_script core-user.sh user
check "core-user: an existing ~/.bash_profile (which shadows ~/.profile) gets the hook" \
	grep -qF "/usr/local/lib/machine/env.sh" "$ROOT/home/tester/.bash_profile"
check "core-user: ...keeping the user's lines" grep -qx "export MINE=1" "$ROOT/home/tester/.bash_profile"
check "core-user: ...and ~/.profile is left alone" test "$(<"$ROOT/home/tester/.profile")" = "# the distro profile"
printf 'alias mine=true\n' >"$ROOT/home/tester/.bashrc"
EXTRA_ENV=(PARAM_gitName="Other")
run_script core-user.sh user
check "core-user: ~/.bashrc keeps the user's lines and gains the hook" \
	grep -qx "alias mine=true" "$ROOT/home/tester/.bashrc"
check "core-user: the hook is added once" test "$(grep -c "/usr/local/lib/machine/bashrc" "$ROOT/home/tester/.bashrc")" -eq 1
: >"$LOG"
EXTRA_ENV=(PARAM_gitName="Other" PARAM_signingKey="")
run_script core-user.sh user
check "core-user: no signing key skips signing config" test "$(grep -c "gpgsign true" "$LOG")" -eq 0
check "core-user: ...and says so" grep -q "commits and tags are not signed" <<<"$OUT"
: >"$LOG"
EXTRA_ENV=(PARAM_gitName="Third" PARAM_signingKey="" STUB_GIT_GPG_FORMAT=ssh)
run_script core-user.sh user
for setting in commit.gpgsign tag.gpgsign user.signingkey; do
	check "core-user: a signing setup left by an earlier boot is removed ($setting)" \
		grep -qxF "git config --global --unset-all $setting" "$LOG"
done
# apt: the timers that would take apt's locks are turned off; a held lock is waited for.
new_root
run_script core.sh system
check "core: apt's boot-time timers are turned off" grep -qxF "systemctl disable --now apt-daily.timer" "$LOG"
check "core: ...both of them" grep -qxF "systemctl disable --now apt-daily-upgrade.timer" "$LOG"
new_root
echo 2 >"$WORK/apt-locked"
EXTRA_ENV=(STUB_APT_LOCKED="$WORK/apt-locked")
run_script core.sh system
check "apt lock: a layer waits while another apt run holds the lists lock" test "$RC" -eq 0
check "apt lock: ...and runs apt-get update again" test "$(grep -c '^apt-get .*update' "$LOG")" -eq 3
new_root
echo 99 >"$WORK/apt-locked"
EXTRA_ENV=(STUB_APT_LOCKED="$WORK/apt-locked" MACHINE_APT_LOCK_WAIT=0)
run_script core.sh system
check "apt lock: the wait is bounded, then the layer fails" grep -q "apt-get update failed" "$ROOT/run/machine/failed/core"
check "apt lock: ...saying why" grep -q "apt is still locked after 0s" <<<"$OUT"
rm -f "$WORK/apt-locked"
EXTRA_ENV=(PARAM_shell=fish)
new_root
run_script core.sh system
check "core: an unknown shell fails the layer" grep -q "unknown shell 'fish'" "$ROOT/run/machine/failed/core"
EXTRA_ENV=()

# claude: the pin holds even when the installed Claude Code moved on by itself.
new_root
run_script claude-user.sh user
: >"$LOG"
run_script claude-user.sh user
check "claude: a boot with the pinned version installed reinstalls nothing" test "$(grep -c "install.sh" "$LOG")" -eq 0
echo "9.9.9" >"$ROOT/stub-installed"
: >"$LOG"
run_script claude-user.sh user
check "claude: a version that moved (an auto-update) is put back to the pin" grep -q "claude.ai/install.sh" "$LOG"
check "claude: ...saying so" grep -q "not the pinned" <<<"$OUT"
check "claude: ...and is the pin again" grep -q "^$(sed -n 's/^CLAUDE_VERSION=//p' "$TREE/files/versions.env")" "$ROOT/stub-installed"

# claude: settings.json is merged, never overwritten.
new_root
mkdir -p "$ROOT/home/tester/.claude"
printf '{"theme":"dark","permissions":{"allow":["Bash(ls)"]}}\n' >"$ROOT/home/tester/.claude/settings.json"
run_script claude-user.sh user
settings="$ROOT/home/tester/.claude/settings.json"
check "claude: defaultMode auto is added" test "$(jq -r .permissions.defaultMode "$settings")" = auto
check "claude: the user's other settings survive" test "$(jq -c '[.theme, .permissions.allow]' "$settings")" = '["dark",["Bash(ls)"]]'
check "claude: the official marketplace is added" \
	grep -qxF "claude plugin marketplace add anthropics/claude-plugins-official" "$LOG"
check "claude: the installer gets the pinned version" grep -q "claude.ai/install.sh" "$LOG"
new_root
mkdir -p "$ROOT/home/tester/.claude"
settings="$ROOT/home/tester/.claude/settings.json"
printf '{"permissions":{"defaultMode":"plan"}}\n' >"$settings"
run_script claude-user.sh user
check "claude: a defaultMode the user chose is kept" test "$(jq -r .permissions.defaultMode "$settings")" = plan
new_root
mkdir -p "$ROOT/home/tester/.claude"
settings="$ROOT/home/tester/.claude/settings.json"
printf '{broken\n' >"$settings"
run_script claude-user.sh user
check "claude: invalid settings.json fails the layer and is left alone" \
	test "$RC" -ne 0 -a "$(<"$settings")" = "{broken"
new_root
run_script claude.sh system
check "claude: the bwrap AppArmor profile is written when userns is restricted" \
	test -s "$ROOT/etc/apparmor.d/machine-bwrap"

# Installed files land where the templates and PATH snippets expect them.
new_root
run_script modern.sh system
check "modern: helix lives in /opt/helix with its runtime" test -x "$ROOT/opt/helix/hx" -a -d "$ROOT/opt/helix/runtime"
check "modern: hx is linked into /usr/local/bin" test "$(readlink "$ROOT/usr/local/bin/hx")" = /opt/helix/hx
for tool in bat delta fzf lazygit; do
	check "modern: $tool installed" test -x "$ROOT/usr/local/bin/$tool"
done
new_root
run_script supabase-fly.sh system
check "supabase-fly: supabase (with its supabase-go), flyctl and fly installed" \
	test -x "$ROOT/usr/local/bin/supabase" -a -x "$ROOT/usr/local/bin/supabase-go" -a -x "$ROOT/usr/local/bin/flyctl" -a -L "$ROOT/usr/local/bin/fly"
new_root
run_script go.sh system
check "go: toolchain unpacked in /usr/local/go" test -x "$ROOT/usr/local/go/bin/go"
new_root
run_script python.sh system
check "python: uv and uvx installed" test -x "$ROOT/usr/local/bin/uv" -a -x "$ROOT/usr/local/bin/uvx"
new_root
GPG_FPRS=$(fpr_for NODESOURCE_KEY_FPRS)
run_script node.sh system
GPG_FPRS=""
check "node: NodeSource's repository is pinned above the distribution" \
	grep -q "Pin: origin deb.nodesource.com" "$ROOT/etc/apt/preferences.d/machine-nodesource"
check "node: corepack shims enabled" grep -qx "corepack enable" "$LOG"
FLAVOUR_ID=debian FLAVOUR_CODENAME=bookworm FLAVOUR_VERSION=12 FLAVOUR_ARCH=arm64
new_root
run_script cypress.sh system
check "cypress: Debian 12 uses the pre-t64 library names" grep -q "libasound2 " "$LOG"
check "cypress: Debian gets chromium" grep -q " chromium" "$LOG"
FLAVOUR_ID=ubuntu FLAVOUR_CODENAME=noble FLAVOUR_VERSION=24.04 FLAVOUR_ARCH=amd64
new_root
GPG_FPRS=$(fpr_for GOOGLE_KEY_FPRS)
run_script cypress.sh system
check "cypress: Ubuntu amd64 gets google-chrome-stable with t64 libraries" \
	grep -q "libasound2t64 .*google-chrome-stable" "$LOG"
GPG_FPRS=""

# --- readiness probe ------------------------------------------------------------------

probe() {
	mkdir -p "$ROOT/usr/local/bin"
	cp "$TREE/files/machine-guest" "$ROOT/usr/local/bin/machine-guest"
	OUT=$(env -i PATH="/usr/bin:/bin" HOME="$ROOT/home/tester" MACHINE_ROOT="$ROOT" "$TREE/provision/core-ready.sh" 2>&1)
	RC=$?
}
new_root
probe
check "probe: fails while /run/lima-boot-done is absent" test "$RC" -ne 0
mkdir -p "$ROOT/run/machine/done" "$ROOT/run/machine/failed"
touch "$ROOT/run/lima-boot-done" "$ROOT/run/machine/done/core"
probe
check "probe: passes when the boot is done and nothing failed" test "$RC" -eq 0
printf 'docker (system): command '\''apt-get install'\'' exited with status 100 (line 20)\n' \
	>"$ROOT/run/machine/failed/docker"
printf 'go (system): checksum mismatch\n' >"$ROOT/run/machine/failed/go"
probe
check "probe: fails when a layer failed" test "$RC" -ne 0
check "probe: names the failed layers" grep -q "failed docker: " <<<"$OUT"
check "probe: ...each of them" grep -q "failed go: go (system): checksum mismatch" <<<"$OUT"
check "probe: prints what failed" grep -q "exited with status 100" <<<"$OUT"
rm -f "$ROOT"/run/machine/failed/*
mkdir -p "$ROOT/var/log"
printf 'LIMA 2026-11-23T01:09:17+00:00| WARNING: Failed to execute /mnt/lima-cidata/provision.system/00000021\nLIMA 2026-11-23T01:09:18+00:00| Exiting with code 1\n' \
	>"$ROOT/var/log/cloud-init-output.log"
probe
check "probe: fails when a script without machine's markers failed (a user profile's)" test "$RC" -ne 0
check "probe: ...naming the script" grep -q "failed-script /mnt/lima-cidata/provision.system/00000021" <<<"$OUT"

# --- templates --------------------------------------------------------------------------

LAYER_KEYS_FORBIDDEN='^(base|vmType|arch|cpus|memory|disk|param):'
for tmpl in "$TREE"/templates/*.yaml "$TREE"/templates/images/*.yaml; do
	name=${tmpl#"$TREE/templates/"}
	first=$(head -n 1 "$tmpl")
	if [[ $first =~ ^#\ description:\ .+ ]]; then
		pass "template $name: first line is '# description: ...'"
	else
		fail "template $name: first line is '# description: ...'" "$first"
	fi
	second=$(sed -n 2p "$tmpl")
	if [[ $second == "# requires:"* ]]; then
		ok=1
		IFS=',' read -ra required <<<"${second#\# requires:}"
		for req in "${required[@]}"; do
			req=$(tr -d '[:space:]' <<<"$req")
			[[ -f $TREE/templates/$req.yaml ]] || ok=0
		done
		if ((ok)); then pass "template $name: requires existing layers"; else fail "template $name: requires existing layers" "$second"; fi
	fi
	if grep -qE "$LAYER_KEYS_FORBIDDEN" "$tmpl"; then
		fail "template $name: no base/vmType/arch/cpus/memory/disk/param keys"
	else
		pass "template $name: no base/vmType/arch/cpus/memory/disk/param keys"
	fi
	bad=""
	while read -r ref; do
		[[ -z $ref ]] && continue
		if [[ $ref == /* || $ref == *..* || ! -f $TREE/$ref ]]; then
			bad+="$ref "
		fi
	done < <(sed -n 's/^ *file: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$tmpl")
	if [[ -z $bad ]]; then
		pass "template $name: every file: is a relative path to an existing file"
	else
		fail "template $name: every file: is a relative path to an existing file" "$bad"
	fi
done

for img in "$TREE"/templates/images/*.yaml; do
	name=${img#"$TREE/templates/"}
	if [[ "$(grep -vE '^ *(#|$)' "$img" | grep -vE '^(images:|- location:|  (arch|digest):)')" == "" ]]; then
		pass "template $name: holds only an images list"
	else
		fail "template $name: holds only an images list"
	fi
	for arch in x86_64 aarch64; do
		dated=$(grep -A2 -E '^- location: .*[0-9]{8}' "$img" | grep -B1 -E "digest: \"sha(256|512):[0-9a-f]+\"" |
			grep -c "arch: \"$arch\"")
		fallback=$(grep -A1 -E '^- location: ' "$img" | grep -vE '[0-9]{8}' | grep -c "arch: \"$arch\"")
		check "template $name: $arch has a dated image with a digest" test "$dated" -ge 1
		check "template $name: $arch has an undated fallback" test "$fallback" -ge 1
	done
done

referenced=$(cat "$TREE"/templates/*.yaml | sed -n 's/^ *file: *\(provision\/.*\)$/\1/p' | sort -u)
for script in "$TREE"/provision/*.sh; do
	rel=${script#"$TREE/"}
	check "$rel is used by a template" grep -qxF "$rel" <<<"$referenced"
	check "$rel starts with #!/bin/bash, set -euo pipefail, DEBIAN_FRONTEND" \
		test "$(head -n 1 "$script")" = "#!/bin/bash" -a -n "$(grep -x 'set -euo pipefail' "$script")" \
		-a -n "$(grep -x 'export DEBIAN_FRONTEND=noninteractive' "$script")"
done

# Lima runs script text and data content through Go templates: no {{ anywhere,
# and params only ever as $PARAM_* environment variables.
if grep -rn '{{' "$TREE/provision" "$TREE/files" >/dev/null; then
	fail "no '{{' in provision/ or files/ (Lima would expand it)" "$(grep -rn '{{' "$TREE/provision" "$TREE/files")"
else
	pass "no '{{' in provision/ or files/ (Lima would expand it)"
fi
if grep -rn '{{ *\.Param' "$TREE/templates" >/dev/null; then
	fail "no {{.Param...}} in templates"
else
	pass "no {{.Param...}} in templates"
fi

# --- machine-guest (files/machine-guest) ------------------------------------------------

# shellcheck source-path=SCRIPTDIR source=machine-guest.sh
source "$HERE/machine-guest.sh"

# Schema validation and shellcheck are run by the Rust suite (tests/it/lima_rules.rs) and .ci/run.

summary
