#!/bin/bash
# What machine's everyday commands cost on the host, with the fake tools (examples/fake_tool.rs)
# standing in for limactl, ssh, git and op, so only machine's own work is measured:
#
#   --help      parse the command line and print help
#   list        one `limactl list`, the configuration read
#   re-up       `machine up` of a running VM whose stack is current (identity, compile, one list,
#               the check that its scoped agent and the credential proxy still run)
#   status      every VM's state and drift
#
# A benchmark, not a test: it prints the mean wall time and the mean CPU time (user + system of
# machine and the fakes it ran) per call over N calls. The README's performance section quotes it.
#
# Usage: benches/commands.sh [-n CALLS]   (builds the release binary and the fake tools)
set -euo pipefail

calls=200
while (($#)); do
	case $1 in
	-n) calls=${2:?-n needs a number}; shift ;;
	-h | --help) sed -n '2,15p' "$0"; exit 0 ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done
here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --locked --quiet --manifest-path "$here/Cargo.toml" --bin machine --example fake_tool
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" | sed 's/.*"target_directory":"\([^"]*\)".*/\1/')
machine=$target/release/machine
fake=$target/release/examples/fake_tool

root=$(mktemp -d "${TMPDIR:-/tmp}/machine-commands.XXXXXX")
# The VM's scoped agent and the credential proxy are daemons that outlive each call: end them.
cleanup() {
	"$machine" destroy -y blog >/dev/null 2>&1 || true
	"$machine" proxy stop >/dev/null 2>&1 || true
	rm -rf "$root"
}
# Until the fake environment is exported below, machine would act on the real one.
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/home" "$root/lima" "$root/config" "$root/guest-bin"
for tool in limactl ssh ssh-add git op; do ln -s "$fake" "$root/bin/$tool"; done
cp "$here/src/guest/files/machine-guest" "$root/guest-bin/machine-guest"
printf '#!/bin/sh\nexit 0\n' >"$root/guest-bin/sudo"
chmod 755 "$root/guest-bin/machine-guest" "$root/guest-bin/sudo"
cat >"$root/config/projects.toml" <<'TOML'
[blog]
repos = ["git@github.com:you/blog.git"]
[api]
repos = ["git@github.com:you/api.git", "git@github.com:you/lib.git"]
profiles = ["rust"]
TOML
export PATH=$root/bin:$PATH HOME=$root/home LIMA_HOME=$root/lima MACHINE_FAKE_ROOT=$root
export MACHINE_STATE_DIR=$root/state MACHINE_CONFIG_DIR=$root/config MACHINE_CACHE_DIR=$root/cache
export GIT_CONFIG_NOSYSTEM=1 GIT_NAME=Bench GIT_EMAIL=bench@example.invalid ONEPASS_SOCK=/dev/null
trap cleanup EXIT
cd "$root/home"
"$machine" up blog >/dev/null 2>"$root/err" || { echo "machine up blog failed:" >&2; cat "$root/err" >&2; exit 1; }

# measure <label> <args…>: mean wall and CPU milliseconds per call.
measure() {
	local label=$1 start end cpu0 cpu1
	shift
	"$machine" "$@" >/dev/null 2>"$root/err" || { echo "machine $* failed:" >&2; cat "$root/err" >&2; exit 1; }
	children_cpu
	cpu0=$(<"$root/cpu")
	start=$(date +%s%N)
	for ((i = 0; i < calls; i++)); do "$machine" "$@" >/dev/null 2>&1; done
	end=$(date +%s%N)
	children_cpu
	cpu1=$(<"$root/cpu")
	awk -v l="$label" -v w=$((end - start)) -v c0="$cpu0" -v c1="$cpu1" -v n="$calls" \
		'BEGIN { printf "| %s | %.1f ms | %.1f ms |\n", l, w / n / 1e6, (c1 - c0) * 1000 / n }'
}
# User + system seconds of this shell's finished children (bash's `times`, second line). `times`
# runs in this shell, not in a pipeline or a command substitution: a subshell has no finished
# children of its own.
children_cpu() {
	times >"$root/times"
	sed -n 2p "$root/times" | awk '{ split($1, u, "m"); split($2, s, "m"); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' >"$root/cpu"
}

printf 'mean of %d calls on %s (%s cores)\n| command | wall | CPU |\n|---|---|---|\n' "$calls" "$(uname -sm)" "$(nproc)"
measure "machine --help" --help
measure "machine list" list
measure "machine up blog (running, current)" up blog
measure "machine status" status
