#!/bin/bash
# What machine costs on a real Lima, next to Lima alone, measured side by side in one run:
#
#   new VM    `machine up` of a new project from a warm bake cache
#             vs bare `limactl create` + `limactl start` of the same baked disk, empty template
#   restart   `machine down` + `machine up`  vs  bare `limactl stop` + `limactl start`
#   re-up     `machine up` of a running, current VM
#   branch VM `machine up PROJECT@BRANCH` from the project's golden disk
#             vs bare `limactl create` + `limactl start` of that golden disk, empty template
#   reset     `machine reset -y PROJECT@BRANCH`  vs  the same bare create + start
#
# The project has no repos, so the branch VM's checkout (a `git fetch`, network-bound and the
# same with or without machine) is not in the figures.
#
# A benchmark, not a test: it prints figures (median of N rounds, and the ratios) and fails
# only when something it runs fails. The README's performance section quotes its output.
#
# Usage: benches/real-lima.sh [-n ROUNDS] [--image PATH] [--machine PATH]
#   needs limactl (not as root), jq, and a machine binary (default: target/release/machine,
#   else `machine` on PATH). --image: a local disk image, as for the e2e suite
#   (tests/e2e/build-image.sh); without it the default named image (downloaded).
set -euo pipefail

rounds=3
image=
machine=
while (($#)); do
	case $1 in
	-n) rounds=${2:?-n needs a number}; shift ;;
	--image) image=${2:?--image needs a path}; shift ;;
	--machine) machine=${2:?--machine needs a path}; shift ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z $machine ]]; then
	if [[ -x $here/target/release/machine ]]; then machine=$here/target/release/machine; else machine=$(command -v machine); fi
fi
for tool in limactl jq "$machine"; do
	command -v "$tool" >/dev/null || { echo "real-lima.sh: $tool not found" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/machine-bench.XXXXXX")
project=bench-$$
bare=bench-bare-$$
cleanup() {
	"$machine" destroy -y "$project" >/dev/null 2>&1 || true
	for b in $("$machine" list --json 2>/dev/null | jq -r '.projects[] | select(.branch != null) | .name'); do
		"$machine" destroy -y "$b" >/dev/null 2>&1 || true
	done
	limactl delete -f "$bare" >/dev/null 2>&1 || true
	# The credential proxy daemon outlives the VMs it served.
	"$machine" proxy stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

export MACHINE_CONFIG_DIR=$work/config MACHINE_STATE_DIR=$work/state
export MACHINE_CACHE_DIR=${MACHINE_CACHE_DIR:-$work/cache}
export GIT_NAME=${GIT_NAME:-Bench} GIT_EMAIL=${GIT_EMAIL:-bench@example.invalid}
mkdir -p "$MACHINE_CONFIG_DIR"
{
	printf '[%s]\nwithout = ["standard"]\ncpus = 2\nmemory = "2GiB"\n' "$project"
	[[ -z $image ]] || printf 'image = "%s"\n' "$image"
} >"$MACHINE_CONFIG_DIR/projects.toml"

now() { date +%s.%N; }
# timed <name> <command...>: appends the seconds the command took to $work/<name>.
timed() {
	local name=$1 start
	shift
	start=$(now)
	"$@" >>"$work/log" 2>&1 || { echo "real-lima.sh: '$*' failed; its output:" >&2; tail -n 40 "$work/log" >&2; exit 1; }
	awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f\n", b - a }' >>"$work/$name"
}
median() { sort -n "$work/$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "warming the bake cache (not timed)…" >&2
"$machine" bake "$project" >>"$work/log" 2>&1
disk=$("$machine" render "$project" --json 2>/dev/null | jq -r '.cachedDisk.path')
[[ -f $disk ]] || { echo "real-lima.sh: no baked disk for $project" >&2; exit 1; }
# The bare side: the same disk and resources, and nothing of machine's (no layers, no probe).
cat >"$work/bare.yaml" <<EOF
images: [{location: "$disk", arch: "$(uname -m | sed 's/arm64/aarch64/')"}]
cpus: 2
memory: 2GiB
disk: 100GiB
containerd: {system: false, user: false}
EOF

echo "keeping the project's golden disk (not timed)…" >&2
"$machine" up "$project" >>"$work/log" 2>&1
"$machine" down "$project" >>"$work/log" 2>&1
golden=$("$machine" cache list --json 2>/dev/null | jq -r --arg p "$project" '.golden[] | select(.project == $p) | .path')
[[ -f $golden ]] || { echo "real-lima.sh: no golden disk for $project" >&2; exit 1; }
"$machine" destroy -y "$project" >>"$work/log" 2>&1
sed "s|$disk|$golden|" "$work/bare.yaml" >"$work/bare-golden.yaml"

for ((i = 1; i <= rounds; i++)); do
	echo "round $i of $rounds…" >&2
	timed machine-new "$machine" up "$project"
	timed machine-reup "$machine" up "$project"
	timed machine-down "$machine" down "$project"
	timed machine-restart-up "$machine" up "$project"
	"$machine" destroy -y "$project" >>"$work/log" 2>&1
	timed bare-create limactl --tty=false create --name="$bare" "$work/bare.yaml"
	timed bare-start limactl --tty=false start "$bare"
	timed bare-stop limactl --tty=false stop "$bare"
	timed bare-restart-start limactl --tty=false start "$bare"
	limactl delete -f "$bare" >>"$work/log" 2>&1
	timed machine-branch "$machine" up "$project@round-$i"
	timed machine-reset "$machine" reset -y "$project@round-$i"
	"$machine" destroy -y "$project@round-$i" >>"$work/log" 2>&1
	timed bare-golden-create limactl --tty=false create --name="$bare" "$work/bare-golden.yaml"
	timed bare-golden-start limactl --tty=false start "$bare"
	limactl delete -f "$bare" >>"$work/log" 2>&1
done

sum() { awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN { printf "%.1f", a + b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
new_machine=$(median machine-new)
new_bare=$(sum bare-create bare-start)
restart_machine=$(sum machine-down machine-restart-up)
restart_bare=$(sum bare-stop bare-restart-start)
printf '\nmedian of %d rounds on %s (%s cores), %s\n' "$rounds" "$(uname -sm)" "$(nproc)" "$(limactl --version)"
printf '| step | machine | bare Lima | ratio |\n|---|---|---|---|\n'
printf '| new VM from a warm cache (up vs create + start) | %.1f s | %s s | %s× |\n' \
	"$new_machine" "$new_bare" "$(ratio "$new_machine" "$new_bare")"
printf '| restart (down + up vs stop + start) | %s s | %s s | %s× |\n' \
	"$restart_machine" "$restart_bare" "$(ratio "$restart_machine" "$restart_bare")"
branch_bare=$(sum bare-golden-create bare-golden-start)
printf '| branch VM from the golden disk (up P@B vs create + start) | %s s | %s s | %s× |\n' \
	"$(median machine-branch)" "$branch_bare" "$(ratio "$(median machine-branch)" "$branch_bare")"
printf '| reset of the branch VM (reset -y vs create + start) | %s s | %s s | %s× |\n' \
	"$(median machine-reset)" "$branch_bare" "$(ratio "$(median machine-reset)" "$branch_bare")"
printf '| re-up of a running VM | %s s | | |\n' "$(median machine-reup)"
printf '| (parts: machine down %s s, up %s s; limactl create %s s, start %s s, stop %s s, start %s s) | | | |\n' \
	"$(median machine-down)" "$(median machine-restart-up)" "$(median bare-create)" "$(median bare-start)" \
	"$(median bare-stop)" "$(median bare-restart-start)"
