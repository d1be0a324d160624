#!/bin/bash
# What three everyday commands cost on the host, machine against the original Python `machine`
# it replaces (katspaugh/machine, a single script, bin/machine; measured with its commit
# 8be461ef), both driven by this project's fake tools (examples/fake_tool.rs standing in for
# limactl, ssh, ssh-add, git and op) in one fake world, so only each tool's own work and the
# programs it starts are measured:
#
#   --help            parse the command line and print help
#   list              list VMs and configured projects
#   up blog           `up` of the VM `blog`, already running and cloned
#
# For each tool and command: N calls (default 100), mean wall ms and mean CPU ms (user + system
# of the tool and every program it waited for, from bash's `times`). The two tools run in
# alternating blocks of B calls (default 10), so background load falls on both alike. Every
# call's exit status and output are checked (a call that fails fast would measure nothing); one
# sample of each is printed, with the fake-tool calls it made.
#
# The original is not part of this repository: pass its script with --original. It runs on
# Python 3.11 or newer with no packages; --python picks the interpreter (a pyenv shim adds
# ~100 ms of its own to every call, so give the real binary).
#
# Usage: benches/against-python.sh --original PATH [--python PYTHON] [-n CALLS] [-b BLOCK]
set -euo pipefail

calls=100 block=10 py=$(command -v python3 || true) pytool=
while (($#)); do
	case $1 in
	-n) calls=${2:?-n needs a number}; shift ;;
	-b) block=${2:?-b needs a number}; shift ;;
	--python) py=${2:?--python needs an interpreter}; shift ;;
	--original) pytool=${2:?--original needs the path of the Python tool}; shift ;;
	-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done
[[ -n $pytool && -x $pytool ]] || { echo "against-python.sh: give the original tool's script (executable) with --original PATH" >&2; exit 2; }
[[ -x $py ]] || { echo "against-python.sh: no Python interpreter (--python PATH)" >&2; exit 2; }
((calls % block == 0)) || { echo "-n must be a multiple of -b" >&2; exit 2; }
pytool=$(cd "$(dirname "$pytool")" && pwd)/$(basename "$pytool")
main=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --locked --quiet --manifest-path "$main/Cargo.toml" --bin machine --example fake_tool
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$main/Cargo.toml" | sed 's/.*"target_directory":"\([^"]*\)".*/\1/')

root=$(mktemp -d "${TMPDIR:-/tmp}/machine-compare.XXXXXX")
rust=$root/rustbin/machine
cleanup() {
	"$rust" destroy -y blog >/dev/null 2>&1 || true
	"$rust" proxy stop >/dev/null 2>&1 || true
	rm -rf "$root"
}
# Until the fake environment is exported below, machine would act on the real one.
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/rustbin" "$root/bin" "$root/pybin" "$root/home/.lima" "$root/config" "$root/guest-bin"
cp "$target/release/machine" "$target/release/examples/fake_tool" "$root/rustbin/"
for tool in limactl ssh ssh-add git op; do ln -s "$root/rustbin/fake_tool" "$root/bin/$tool"; done
# The script starts with `#!/usr/bin/env python3`: the chosen interpreter goes first on PATH.
ln -s "$py" "$root/pybin/python3"
cp "$main/src/guest/files/machine-guest" "$root/guest-bin/machine-guest"
printf '#!/bin/sh\nexit 0\n' >"$root/guest-bin/sudo"
chmod 755 "$root/guest-bin/machine-guest" "$root/guest-bin/sudo"
# Both tools take `[name]` tables with `repos` (and `profiles`) in $MACHINE_CONFIG_DIR/projects.toml
# or $PROJECTS_FILE.
cat >"$root/config/py-projects.toml" <<'TOML'
[blog]
repos = ["git@github.com:you/blog.git"]
[api]
repos = ["git@github.com:you/api.git", "git@github.com:you/lib.git"]
profiles = ["rust"]
TOML
# The Rust tool's credential proxy listens on 127.0.0.1: a free port of its own, so it neither
# fails on nor disturbs another proxy on this host (default 7399). The Python tool has no proxy
# and would list a [proxy] table as a project: it reads the same file without it ($PROJECTS_FILE,
# set for its calls only).
port=17399
while ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && ((port < 17499)); do port=$((port + 1)); done
{ cat "$root/config/py-projects.toml"; printf '[proxy]\nport = %d\n' "$port"; } >"$root/config/projects.toml"
# LIMA_HOME is ~/.lima: the Python tool hard-codes Path.home()/.lima for the instance folder
# (ssh.sock, ssh.config), the Rust tool and the fake limactl follow LIMA_HOME.
export PATH=$root/pybin:$root/bin:$PATH HOME=$root/home LIMA_HOME=$root/home/.lima MACHINE_FAKE_ROOT=$root
export MACHINE_STATE_DIR=$root/state MACHINE_CONFIG_DIR=$root/config MACHINE_CACHE_DIR=$root/cache
export GIT_CONFIG_NOSYSTEM=1 GIT_NAME=Bench GIT_EMAIL=bench@example.invalid ONEPASS_SOCK=/dev/null
trap cleanup EXIT
cd "$root/home"
# The Rust tool creates, provisions and clones `blog` in the fake; both tools then see it running.
"$rust" up blog >/dev/null 2>"$root/err" || { echo "machine up blog failed:" >&2; cat "$root/err" >&2; exit 1; }

label=("--help" "list" "up blog (running)")
args=("--help" "list" "up blog")
declare -A expect=([rust,0]="^Usage: machine" [py,0]="^usage: machine" [rust,1]="^blog +Running"
	[py,1]="^blog +Running" [rust,2]="^✓ blog is ready" [py,2]="^✓ blog ready")
# Tool-specific environment, set before each of its calls without a fork.
use() {
	if [[ $1 == py ]]; then export PROJECTS_FILE=$root/config/py-projects.toml; else unset PROJECTS_FILE; fi
}
tools=(rust py)
declare -A bin=([rust]=$rust [py]=$pytool) wall cpu

# ms of a `times` field such as 0m1.234s, without a fork.
to_ms() {
	local t=$1 m s
	m=${t%%m*}; s=${t#*m}; s=${s%s}
	REPLY=$((m * 60000 + 10#${s%.*} * 1000 + 10#${s#*.}))
}
# User + system ms of this shell's finished children, in REPLY (bash's `times`, second line).
children_ms() {
	local u s
	times >"$root/times"
	{ read -r _; read -r u s; } <"$root/times"
	to_ms "$u"; local um=$REPLY
	to_ms "$s"; REPLY=$((um + REPLY))
}
now_us() { REPLY=${EPOCHREALTIME/./}; }

# check <verbose>: one call of each command of each tool; exit 0, the expected line, no warning.
check() {
	local verbose=$1 c t rc fakes execs
	for c in 0 1 2; do
		for t in "${tools[@]}"; do
			use "$t"
			: >"$root/calls.jsonl"
			read -ra a <<<"${args[c]}"
			set +e
			"${bin[$t]}" "${a[@]}" >"$root/out" 2>&1
			rc=$?
			set -e
			if ((verbose)); then
				fakes=$(wc -l <"$root/calls.jsonl")
				echo
				echo "## $t: machine ${args[c]}  (exit $rc; $fakes fake-tool calls)"
				sed 's/^/    /' "$root/out" | head -45
				sed 's/^/    fake: /' "$root/calls.jsonl" | cut -c1-160
				if command -v strace >/dev/null; then
					strace -f -qq -e trace=execve -o "$root/strace" "${bin[$t]}" "${a[@]}" >/dev/null 2>&1 || true
					execs=$(grep -E '^[0-9]+ +execve\(' "$root/strace" | grep -E '= 0$' | sed -E 's/^[0-9]+ +execve\("([^"]*)".*/\1/' | xargs -rn1 basename | tr '\n' ' ')
					echo "    execve (successful, process tree): $(wc -w <<<"$execs"): $execs"
				fi
			fi
			((rc == 0)) || { echo "machine ${args[c]} ($t) exited $rc:" >&2; cat "$root/out" >&2; exit 1; }
			grep -Eq "${expect[$t,$c]}" "$root/out" || { echo "machine ${args[c]} ($t): no line /${expect[$t,$c]}/:" >&2; cat "$root/out" >&2; exit 1; }
			# The one expected warning: the fake world has no signing key (Rust `up` says so).
			if grep -v 'no SSH signing key found' "$root/out" | grep -Eiq 'warn|error|⚠'; then
				echo "machine ${args[c]} ($t) warned:" >&2; cat "$root/out" >&2; exit 1
			fi
		done
	done
}
echo "# samples (one call each; stdout+stderr; exit code; what the call ran); Rust proxy port $port"
check 1

# Alternating blocks: round r runs rust then py when r is even, py then rust when odd.
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for c in 0 1 2; do
	read -ra a <<<"${args[c]}"
	for t in "${tools[@]}"; do wall[$t,$c]=0 cpu[$t,$c]=0; done
	for ((r = 0; r < calls / block; r++)); do
		order=(rust py)
		((r % 2)) && order=(py rust)
		for t in "${order[@]}"; do
			use "$t"
			fails=0
			children_ms; c0=$REPLY
			now_us; w0=$REPLY
			for ((i = 0; i < block; i++)); do "${bin[$t]}" "${a[@]}" >/dev/null 2>&1 || fails=$((fails + 1)); done
			now_us; w1=$REPLY
			children_ms; c1=$REPLY
			((fails == 0)) || { echo "machine ${args[c]} ($t): $fails of $block calls failed" >&2; exit 1; }
			wall[$t,$c]=$((wall[$t,$c] + w1 - w0))
			cpu[$t,$c]=$((cpu[$t,$c] + c1 - c0))
		done
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
# The same checks after all the calls: still running, cloned, the proxy up, no warning.
check 0
unset PROJECTS_FILE

echo
echo "# mean of $calls calls per tool and command, alternating blocks of $block; $(uname -sm), $(nproc) cores"
echo "# Python tool on $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])'); load average before $load0, after $load1"
echo "| command | Rust wall | Python wall | wall ratio | Rust CPU | Python CPU | CPU ratio |"
echo "|---|---|---|---|---|---|---|"
for c in 0 1 2; do
	awk -v l="${label[c]}" -v n="$calls" -v rw="${wall[rust,$c]}" -v pw="${wall[py,$c]}" \
		-v rc="${cpu[rust,$c]}" -v pc="${cpu[py,$c]}" 'BEGIN {
		rw /= n * 1000; pw /= n * 1000; rc /= n; pc /= n
		printf "| machine %s | %.2f ms | %.2f ms | %.1f× | %.2f ms | %.2f ms | %s |\n", l, rw, pw, pw / rw, rc, pc, (rc > 0 ? sprintf("%.1f×", pc / rc) : "n/a (Rust CPU below the 1 ms resolution of times)")
	}'
done
