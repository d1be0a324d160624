#!/bin/bash
# shellcheck shell=bash
# Tests for src/guest/files/machine-guest, the guest-side helper the host runs through
# `limactl shell <vm> -- machine-guest <subcommand> <args...>`.
#
# Sourced by tests/provision/run.sh (sharing its pass/fail counters) or run on
# its own: bash tests/provision/machine-guest.sh
#
# Hermetic: machine-guest runs with env -i, a scratch HOME and MACHINE_ROOT, and
# a PATH made of stubs (git, ssh-add, sudo, pnpm, yarn, npm, bun; each logs its
# argv to a file) plus links to the few real tools it needs (coreutils, grep,
# sed, env and jq when installed). Nothing touches the network or the real home.

if ! declare -F pass >/dev/null; then
	set -uo pipefail
	MG_STANDALONE=1
	HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	TREE=$(cd "$HERE/../../src/guest" && pwd)
	# shellcheck source-path=SCRIPTDIR source=assert.sh
	source "$HERE/assert.sh"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/machine-guest-test.XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
else
	MG_STANDALONE=0
fi

MG_BIN="$TREE/files/machine-guest"
MG="$WORK/machine-guest"
mkdir -p "$MG/stubs" "$MG/sys"

# --- stubs and PATHs ------------------------------------------------------------

cat >"$MG/stubs/.stub" <<'STUB'
#!/bin/bash
# machine-guest test stub: logs "<name> <args %q-quoted>" to $STUB_LOG.
name=${0##*/}
{
	printf '%s' "$name"
	(($#)) && printf ' %q' "$@"
	printf '\n'
} >>"${STUB_LOG:?}"
case $name in
git)
	if [[ ${1:-} == clone ]]; then
		printf 'git-env %s|%s\n' "${GIT_TERMINAL_PROMPT:-}" "${GIT_SSH_COMMAND:-}" >>"$STUB_LOG"
		target=${!#}
		if [[ -n ${STUB_GIT_FAIL:-} ]]; then
			mkdir -p "$target/half"
			echo "fatal: repository not found (stub)" >&2
			exit 128
		fi
		mkdir -p "$target/.git"
		echo "Cloning into '$target'... (stub)" >&2
		exit 0
	fi
	if [[ ${1:-} == -C ]]; then
		repo=$2
		shift 2
		if [[ -e $repo/.git/stub-broken ]]; then
			echo "fatal: not a git repository (stub)" >&2
			exit 128
		fi
		case ${1:-} in
		status) cat "$repo/.git/stub-status" 2>/dev/null ;;
		log) cat "$repo/.git/stub-unpushed" 2>/dev/null ;;
		esac
	fi
	exit 0
	;;
ssh-add)
	rc=${STUB_SSH_ADD_RC:-0}
	case $rc in
	0) for ((i = 1; i <= ${STUB_SSH_KEYS:-1}; i++)); do echo "256 SHA256:stub$i key$i (ED25519)"; done ;;
	1) echo "The agent has no identities." ;;
	*) echo "Could not open a connection to your authentication agent." >&2 ;;
	esac
	exit "$rc"
	;;
sudo)
	[[ ${1:-} == -n ]] && shift
	if [[ -n ${STUB_SUDO_FAIL:-} ]]; then
		echo "sudo: a password is required" >&2
		exit 1
	fi
	# Plays root reading a file the user cannot: tails $STUB_SUDO_FILE instead.
	if [[ ${1:-} == tail ]]; then
		exec tail -n "$3" "$STUB_SUDO_FILE"
	fi
	exit 0
	;;
pnpm | yarn | npm | bun)
	printf 'pm-env %s cwd=%s corepack-prompt=%s purge=%s\n' "$name" "$PWD" \
		"${COREPACK_ENABLE_DOWNLOAD_PROMPT:-}" "${npm_config_confirm_modules_purge:-}" >>"$STUB_LOG"
	echo "$name: resolving (stub)"
	if [[ " ${STUB_PM_FAIL:-} " == *" $name "* ]]; then
		echo "$name: ERR_STUB install failed" >&2
		exit 1
	fi
	exit 0
	;;
esac
exit 0
STUB
chmod 755 "$MG/stubs/.stub"
for name in git ssh-add sudo pnpm yarn npm bun; do
	ln -s .stub "$MG/stubs/$name"
done
# The same stubs without bun, for the missing-tool case.
mkdir -p "$MG/stubs-nobun"
for name in git ssh-add sudo pnpm yarn npm; do
	ln -s ../stubs/.stub "$MG/stubs-nobun/$name"
done

# The real tools machine-guest (and the stubs) may use; nothing else is on PATH.
for tool in awk cat chmod df env grep head id ln mkdir mktemp mv rm rmdir sed stat tail; do
	path=$(PATH=/usr/local/bin:/usr/bin:/bin command -v "$tool") || {
		fail "machine-guest tests: $tool is not installed"
		continue
	}
	ln -s "$path" "$MG/sys/$tool"
done
cp -a "$MG/sys" "$MG/sys-nojq"
MG_HAVE_JQ=0
if path=$(PATH=/usr/local/bin:/usr/bin:/bin command -v jq); then
	ln -s "$path" "$MG/sys/jq"
	MG_HAVE_JQ=1
fi
MG_HAVE_GIT=0
if path=$(PATH=/usr/local/bin:/usr/bin:/bin command -v git); then
	mkdir -p "$MG/realgit"
	ln -s "$path" "$MG/realgit/git"
	MG_REAL_GIT=$path
	MG_HAVE_GIT=1
fi

# --- scratch guest and runner ---------------------------------------------------------

MG_N=0
MG_ROOT="" MG_HOME="" MG_LOG=""
mg_new() { # a fresh scratch guest
	MG_N=$((MG_N + 1))
	MG_ROOT="$MG/root$MG_N"
	MG_HOME="$MG_ROOT/home/tester"
	MG_LOG="$MG_ROOT/stub.log"
	mkdir -p "$MG_HOME" "$MG_ROOT/run" "$MG_ROOT/var/log"
	: >"$MG_LOG"
}

MG_PATH_DEFAULT="$MG/stubs:$MG/sys"
MG_PATH=$MG_PATH_DEFAULT
MG_ENV=()     # extra KEY=value words for the next runs
MG_IN=/dev/null
MG_OUT="" MG_ERR="" MG_RC=0

mg() { # mg <args...>: run machine-guest in the scratch guest
	MG_OUT=$(
		env -i PATH="$MG_PATH" HOME="$MG_HOME" MACHINE_ROOT="$MG_ROOT" LANG=C.UTF-8 \
			STUB_LOG="$MG_LOG" "${MG_ENV[@]}" \
			"$MG_BIN" "$@" <"$MG_IN" 2>"$MG/stderr"
	)
	MG_RC=$?
	MG_ERR=$(<"$MG/stderr")
}

# expect <description> <exit code> <exact stdout>
expect() {
	if [[ $MG_RC == "$2" && $MG_OUT == "$3" ]]; then
		pass "machine-guest $1"
	else
		fail "machine-guest $1" "$(printf 'want exit %s, stdout:\n%s\ngot exit %s, stdout:\n%s\nstderr:\n%s' \
			"$2" "$3" "$MG_RC" "$MG_OUT" "$MG_ERR")"
	fi
}
mcheck() { # mcheck <description> <command...>
	local what=$1
	shift
	check "machine-guest $what" "$@"
}
not() { ! "$@"; }
logged() { grep -qxF -- "$1" "$MG_LOG"; }
not_logged() { ! grep -q -- "$1" "$MG_LOG"; }
err_has() { grep -qF -- "$1" <<<"$MG_ERR"; }

# --- the file and its template entry ---------------------------------------------------

mcheck "is executable and starts with #!/bin/bash and set -euo pipefail" \
	test -x "$MG_BIN" -a "$(head -n 1 "$MG_BIN")" = "#!/bin/bash" -a -n "$(grep -x 'set -euo pipefail' "$MG_BIN")"
mcheck "contains no '{{' (Lima would expand it)" not grep -qF '{{' "$MG_BIN"
entry=$(grep -A3 -xF -- '- mode: data' "$TREE/templates/core.yaml" | grep -A2 -xF '  path: /usr/local/bin/machine-guest')
mcheck "core.yaml places it at /usr/local/bin/machine-guest with mode 755" \
	test "$entry" = "$(printf '  path: /usr/local/bin/machine-guest\n  file: files/machine-guest\n  permissions: "755"')"
if command -v shellcheck >/dev/null; then
	mcheck "is shellcheck -x clean" shellcheck -x "$MG_BIN"
else
	skip "machine-guest is shellcheck -x clean (shellcheck not installed)"
fi

# --- help / unknown ----------------------------------------------------------------------

mg_new
mg help
mcheck "help: prints the usage, exit 0" test "$MG_RC" -eq 0 -a "$(head -n 1 <<<"$MG_OUT")" = "Usage: machine-guest <subcommand> [args...]"
for sub in status log home clone deps unpushed checkout push branch-state facts agent secrets-write secrets-clear envrc-ids proxy-env-write proxy-env-clear; do
	grep -q "^  $sub" <<<"$MG_OUT" || fail "machine-guest help: documents $sub"
done
mg frobnicate
mcheck "unknown subcommand: exit 2, usage on stderr, nothing on stdout" \
	test "$MG_RC" -eq 2 -a -z "$MG_OUT" -a -n "$(grep 'Usage: machine-guest' <<<"$MG_ERR")"
mg
mcheck "no subcommand: exit 2" test "$MG_RC" -eq 2 -a -z "$MG_OUT"

# --- status ------------------------------------------------------------------------------

mg_new
mg status
expect "status: running while boot-done is absent (exit 3)" 3 "running"
mkdir -p "$MG_ROOT/run/machine/done" "$MG_ROOT/run/machine/failed"
touch "$MG_ROOT/run/machine/done/core"
mg status
expect "status: still running with only done markers" 3 "running"
touch "$MG_ROOT/run/lima-boot-done"
mg status
expect "status: ok once boot-done exists and nothing failed" 0 "ok"
printf 'go (system): checksum mismatch for x\nsecond line\n' >"$MG_ROOT/run/machine/failed/go"
printf "docker (system): command 'apt-get install' exited with status 100 (line 20)\n" \
	>"$MG_ROOT/run/machine/failed/docker"
mg status
expect "status: one line per failed layer with the first line of its reason (exit 1)" 1 \
	"failed docker: docker (system): command 'apt-get install' exited with status 100 (line 20)
failed go: go (system): checksum mismatch for x"
rm -f "$MG_ROOT/run/lima-boot-done" "$MG_ROOT/run/machine/failed/docker"
mg status
expect "status: a failure is final even while the boot is still running" 1 \
	"failed go: go (system): checksum mismatch for x"
mg status extra
expect "status: extra argument rejected (exit 2)" 2 ""

# Lima's own lines in the log: scripts without machine's markers (user profiles, Lima's boot
# scripts) fail the boot too; only the last boot Lima finished counts.
mg_new
mkdir -p "$MG_ROOT/run"
touch "$MG_ROOT/run/lima-boot-done"
lima_boot() { # lima_boot <exit code> [failed script path...]
	local code=$1 path
	shift
	printf 'LIMA 2026-11-23T01:09:16+00:00| Executing /mnt/lima-cidata/boot.Linux/40-install-containerd.sh\n'
	for path in "$@"; do
		printf 'LIMA 2026-11-23T01:09:16+00:00| Executing %s\n' "$path"
		printf 'some output\nLIMA 2026-11-23T01:09:17+00:00| WARNING: Failed to execute %s\n' "$path"
	done
	printf 'LIMA 2026-11-23T01:09:18+00:00| Exiting with code %s\n' "$code"
}
log=$MG_ROOT/var/log/cloud-init-output.log
lima_boot 0 >"$log"
mg status
expect "status: ok when Lima's boot script exited 0" 0 "ok"
{
	lima_boot 1 /mnt/lima-cidata/provision.system/00000012
	printf 'LIMA 2026-11-23T01:09:19+00:00| Executing /mnt/lima-cidata/provision.user/00000013 (as user dev)\n'
	printf 'LIMA 2026-11-23T01:09:19+00:00| WARNING: Failed to execute /mnt/lima-cidata/provision.user/00000013 (as user dev)\n'
} >>"$log"
mg status
expect "status: running while Lima's lines follow its last exit (boot-done is written just before)" 3 "running"
printf 'LIMA 2026-11-23T01:09:20+00:00| Exiting with code 1\n' >>"$log"
mg status
expect "status: every script that failed in the last finished boot, user scripts without '(as user)' (exit 1)" 1 \
	"failed-script /mnt/lima-cidata/provision.user/00000013"
lima_boot 1 >>"$log"
mg status
expect "status: a non-zero exit naming no script (exit 1)" 1 "failed-boot 1"
lima_boot 0 >>"$log"
mg status
expect "status: a later clean boot is ok again" 0 "ok"
chmod 000 "$log"
if [[ $(id -u) != 0 ]]; then
	mg status
	expect "status: an unreadable log leaves only machine's markers to check" 0 "ok"
fi
chmod 644 "$log"

# --- log -------------------------------------------------------------------------------------

mg_new
seq 1 100 | sed 's/^/line /' >"$MG_ROOT/var/log/cloud-init-output.log"
mg log
expect "log: the last 60 lines by default" 0 "$(seq 41 100 | sed 's/^/line /')"
mg log 5
expect "log 5: the last 5 lines" 0 "$(seq 96 100 | sed 's/^/line /')"
mcheck "log: a readable file needs no sudo" not_logged "^sudo"
rm -f "$MG_ROOT/var/log/cloud-init-output.log"
printf 'root only 1\nroot only 2\nroot only 3\n' >"$MG/sudo-file"
MG_ENV=(STUB_SUDO_FILE="$MG/sudo-file")
mg log 2
expect "log: an unreadable file is read with sudo -n tail" 0 "root only 2
root only 3"
mcheck "log: ...called as sudo -n tail -n 2 -- <path>" \
	logged "sudo -n tail -n 2 -- $(printf '%q' "$MG_ROOT/var/log/cloud-init-output.log")"
MG_ENV=(STUB_SUDO_FILE="$MG/sudo-file" STUB_SUDO_FAIL=1)
mg log
mcheck "log: neither readable nor sudo: exit 1 with a message" \
	test "$MG_RC" -eq 1 -a -z "$MG_OUT" -a -n "$(grep 'cannot read' <<<"$MG_ERR")"
MG_ENV=()
for bad in 0 abc -5 ''; do
	mg log "$bad"
	expect "log: count '$bad' rejected (exit 2)" 2 ""
done

# --- home --------------------------------------------------------------------------------------

mg_new
mg home
expect "home: prints \$HOME" 0 "$MG_HOME"

# --- clone ---------------------------------------------------------------------------------------

mg_new
mkdir -p "$MG_HOME/code/proj/.git"
mg clone git@github.com:me/proj.git proj
expect "clone: an existing repo prints present (exit 0)" 0 "present proj"
mcheck "clone: ...without calling git" not_logged "^git"
mg_new
mg clone git@github.com:me/new.git new
expect "clone: clones into ~/code/<dir>" 0 "cloned new"
mcheck "clone: git clone --recurse-submodules -- <url> <path>" \
	logged "git clone --recurse-submodules -- git@github.com:me/new.git $(printf '%q' "$MG_HOME/code/new")"
mcheck "clone: no prompts, BatchMode ssh with accept-new" \
	logged "git-env 0|ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new"
mcheck "clone: git's progress goes to stderr" err_has "Cloning into"
mg clone git@github.com:me/new.git new
expect "clone: a second run is idempotent" 0 "present new"
# shellcheck disable=SC2016 # literal on purpose: must reach git unchanged
odd_url='https://example.com/a b/"q" '\''s'\'' $(touch x) `id`.git'
mg clone "$odd_url" odd
expect "clone: a URL with spaces and quotes" 0 "cloned odd"
mcheck "clone: ...reaches git unchanged as one argument" \
	logged "git clone --recurse-submodules -- $(printf '%q' "$odd_url") $(printf '%q' "$MG_HOME/code/odd")"
mg_new
MG_ENV=(STUB_GIT_FAIL=1)
mg clone https://example.com/missing.git gone
MG_ENV=()
expect "clone: a failing clone exits with git's code" 128 ""
mcheck "clone: ...leaves no partial folder" test ! -e "$MG_HOME/code/gone"
mcheck "clone: ...and git's error passes through" err_has "fatal: repository not found"
mkdir -p "$MG_HOME/code/mine"
touch "$MG_HOME/code/mine/notes.txt"
MG_ENV=(STUB_GIT_FAIL=1)
mg clone https://example.com/missing.git mine
MG_ENV=()
mcheck "clone: a failing clone keeps a folder that existed before" \
	test "$MG_RC" -eq 128 -a -e "$MG_HOME/code/mine/notes.txt"
: >"$MG_LOG"
for bad in ../x a/b -x '' . .. /abs $'a\nb'; do
	mg clone https://example.com/r.git "$bad"
	expect "clone: folder name $(printf '%q' "$bad") rejected (exit 2)" 2 ""
done
mcheck "clone: ...without calling git" not_logged "^git"
mg clone https://example.com/r.git
expect "clone: a missing argument is rejected (exit 2)" 2 ""

# --- deps ---------------------------------------------------------------------------------------------

mg_new
deps_dir() { # deps_dir <name> <package.json text or -> [files...]
	local d="$MG_HOME/code/$1" json=$2
	shift 2
	rm -rf "$d"
	mkdir -p "$d"
	[[ $json == - ]] || printf '%s\n' "$json" >"$d/package.json"
	local f
	for f in "$@"; do touch "$d/$f"; done
}
deps_expect() { # deps_expect <what> <dir> <pm>
	: >"$MG_LOG"
	mg deps "$2"
	expect "deps: $1 -> $3" 0 "installed $2 $3"
	mcheck "deps: $1 runs '$3 install' in the folder" \
		test "$(grep -c '' "$MG_LOG")" -eq 2 -a "$(head -n 1 "$MG_LOG")" = "$3 install" \
		-a -n "$(grep -F "pm-env $3 cwd=$MG_HOME/code/$2 corepack-prompt=0" "$MG_LOG")"
}
deps_dir plain - README.md
mg deps plain
expect "deps: no package.json prints none" 0 "none plain"
mcheck "deps: ...and installs nothing" test ! -s "$MG_LOG"
mg deps nothere
mcheck "deps: an absent folder fails (exit 1)" test "$MG_RC" -eq 1 -a -z "$MG_OUT"
for pm in pnpm yarn npm bun; do
	deps_dir "f-$pm" "{
  \"name\": \"x\",
  \"packageManager\": \"$pm@1.2.3+sha512.abcdef\"
}" package-lock.json yarn.lock
	deps_expect "packageManager $pm@... (jq or grep)" "f-$pm" "$pm"
	if [[ $pm == pnpm ]]; then
		mcheck "deps: pnpm runs without the modules-purge prompt" grep -q "purge=false" "$MG_LOG"
	fi
done
deps_dir compact '{"name":"x","dependencies":{"a":"1"},"packageManager":"yarn@4.0.0"}' pnpm-lock.yaml
deps_expect "compact one-line packageManager yarn@" compact yarn
MG_PATH="$MG/stubs:$MG/sys-nojq"
for pm in pnpm bun; do
	deps_expect "packageManager $pm@... without jq" "f-$pm" "$pm"
done
deps_expect "compact one-line packageManager without jq" compact yarn
MG_PATH=$MG_PATH_DEFAULT
if ((MG_HAVE_JQ)); then
	deps_dir nested '{"name":"x","engines":{"x":{"packageManager":"bun@1"}}}' yarn.lock
	deps_expect "jq reads only the top-level packageManager" nested yarn
else
	skip "machine-guest deps: jq reads only the top-level packageManager (jq not installed)"
fi
deps_dir unknown '{"packageManager":"deno@2.0.0"}' yarn.lock
deps_expect "unknown packageManager falls back to the lockfile" unknown yarn
mcheck "deps: ...with a warning" err_has "unknown packageManager 'deno'"
deps_dir l-pnpm '{"name":"x"}' pnpm-lock.yaml package-lock.json
deps_expect "pnpm-lock.yaml" l-pnpm pnpm
deps_dir l-yarn '{"name":"x"}' yarn.lock package-lock.json
deps_expect "yarn.lock" l-yarn yarn
deps_dir l-bunb '{"name":"x"}' bun.lockb
deps_expect "bun.lockb" l-bunb bun
deps_dir l-bun '{"name":"x"}' bun.lock
deps_expect "bun.lock" l-bun bun
deps_dir l-npm '{"name":"x"}' package-lock.json
deps_expect "package-lock.json" l-npm npm
deps_dir l-none '{"name":"x"}'
deps_expect "no lockfile" l-none npm
MG_ENV=(STUB_PM_FAIL=pnpm)
mg deps l-pnpm
MG_ENV=()
expect "deps: a failing install prints failed (exit 1)" 1 "failed l-pnpm pnpm"
mcheck "deps: ...and the tool's output passes through (stderr)" err_has "pnpm: ERR_STUB install failed"
mcheck "deps: ...stdout holds only the result line" not grep -q "resolving" <<<"$MG_OUT"
MG_PATH="$MG/stubs-nobun:$MG/sys"
: >"$MG_LOG"
mg deps l-bun
MG_PATH=$MG_PATH_DEFAULT
expect "deps: a missing tool is a failure" 1 "failed l-bun bun"
mcheck "deps: ...with a clear message" err_has "bun is not installed"
for bad in ../x a/b -x ''; do
	mg deps "$bad"
	expect "deps: folder name $(printf '%q' "$bad") rejected (exit 2)" 2 ""
done

# --- unpushed ------------------------------------------------------------------------------------------

mg_new
repo() { # repo <name> [status text] [unpushed text]
	mkdir -p "$MG_HOME/code/$1/.git"
	[[ -n ${2:-} ]] && printf '%s\n' "$2" >"$MG_HOME/code/$1/.git/stub-status"
	[[ -n ${3:-} ]] && printf '%s\n' "$3" >"$MG_HOME/code/$1/.git/stub-unpushed"
	return 0
}
repo clean
repo dirty " M src/main.rs"
repo ahead "" "$(printf 'abc1234 one\ndef5678 two')"
repo both "?? new.txt" "abc1234 one"
repo broken
touch "$MG_HOME/code/broken/.git/stub-broken"
mg unpushed clean
expect "unpushed: a clean, pushed repo prints nothing (exit 0)" 0 ""
mcheck "unpushed: uses git status --porcelain" \
	logged "git -C $(printf '%q' "$MG_HOME/code/clean") status --porcelain"
mcheck "unpushed: ...and git log --branches HEAD --not --remotes --oneline" \
	logged "git -C $(printf '%q' "$MG_HOME/code/clean") log --branches HEAD --not --remotes --oneline"
mcheck "unpushed: ...and git stash list" \
	logged "git -C $(printf '%q' "$MG_HOME/code/clean") stash list"
mg unpushed dirty
expect "unpushed: uncommitted changes print dirty (exit 1)" 1 "dirty dirty"
mg unpushed ahead
expect "unpushed: local-only commits print their count (exit 1)" 1 "unpushed ahead 2"
mg unpushed clean absent both
expect "unpushed: absent folders are skipped, lines follow the argument order" 1 "dirty both
unpushed both 1"
mg unpushed absent clean
expect "unpushed: only absent and clean folders: exit 0" 0 ""
mg unpushed broken
expect "unpushed: a repo git cannot read counts as dirty" 1 "dirty broken"
mg unpushed
expect "unpushed: no argument checks every repo under ~/code" 1 "unpushed ahead 2
dirty both
unpushed both 1
dirty broken
dirty dirty"
mg unpushed clean ../x
expect "unpushed: a bad folder name is rejected (exit 2)" 2 ""
if ((MG_HAVE_GIT)); then
	mg_new
	rgit() { env -i PATH=/usr/bin:/bin HOME="$MG_HOME" GIT_CONFIG_NOSYSTEM=1 "$MG_REAL_GIT" \
		-c user.name=t -c user.email=t@example.com -c init.defaultBranch=main "$@" >/dev/null 2>&1; }
	rgit init -q --bare "$MG/remote$MG_N.git"
	rgit clone -q "$MG/remote$MG_N.git" "$MG_HOME/code/real"
	rgit -C "$MG_HOME/code/real" commit -q --allow-empty -m pushed
	rgit -C "$MG_HOME/code/real" push -q origin HEAD:main
	MG_PATH="$MG/realgit:$MG/sys"
	mg unpushed real
	expect "unpushed (real git): a pushed repo prints nothing" 0 ""
	rgit -C "$MG_HOME/code/real" commit -q --allow-empty -m local1
	rgit -C "$MG_HOME/code/real" switch -q -c topic
	rgit -C "$MG_HOME/code/real" commit -q --allow-empty -m local2
	touch "$MG_HOME/code/real/untracked.txt"
	mg unpushed real
	expect "unpushed (real git): untracked file and commits on two local branches" 1 "dirty real
unpushed real 2"
	# A stash and a commit on a detached HEAD exist only here too.
	rgit -C "$MG_HOME/code/real" add untracked.txt
	rgit -C "$MG_HOME/code/real" stash -q
	mg unpushed real
	expect "unpushed (real git): a stash counts" 1 "unpushed real 2
stashed real 1"
	rgit -C "$MG_HOME/code/real" stash drop -q
	rgit -C "$MG_HOME/code/real" switch -q --detach origin/main
	rgit -C "$MG_HOME/code/real" commit -q --allow-empty -m detached
	mg unpushed real
	expect "unpushed (real git): a commit on a detached HEAD counts" 1 "unpushed real 3"
	MG_PATH=$MG_PATH_DEFAULT
else
	skip "machine-guest unpushed with real git (git not installed)"
fi

# --- checkout, push, branch-state, facts (real git, a bare repo as origin) ----------------------------

if ((MG_HAVE_GIT)); then
	mg_new
	MG_PATH="$MG/realgit:$MG/sys"
	origin="$MG/origin$MG_N.git"
	rgit init -q --bare "$origin"
	rgit clone -q "$origin" "$MG/seed$MG_N"
	rgit -C "$MG/seed$MG_N" commit -q --allow-empty -m first
	rgit -C "$MG/seed$MG_N" push -q origin HEAD:main
	rgit -C "$MG/seed$MG_N" push -q origin HEAD:feature/old
	rgit -C "$origin" symbolic-ref HEAD refs/heads/main
	rgit clone -q "$origin" "$MG_HOME/code/app"
	app="$MG_HOME/code/app"

	mg checkout app main
	expect "checkout: the branch it is on (no fetch)" 0 "current main"
	mg checkout app feature/old
	expect "checkout: a branch origin has is tracked" 0 "tracking feature/old"
	mcheck "checkout: ...and checked out, tracking origin/feature/old" \
		test "$(git -C "$app" rev-parse --abbrev-ref '@{upstream}')" = origin/feature/old
	# A branch pushed after the clone is found by the fetch.
	rgit -C "$MG/seed$MG_N" push -q origin HEAD:feature/late
	mg checkout app feature/late
	expect "checkout: a branch pushed after the clone is fetched and tracked" 0 "tracking feature/late"
	mg checkout app feature/new
	expect "checkout: a branch nobody has is created from the default branch" 0 "created feature/new main"
	no_upstream() { ! git -C "$app" rev-parse --abbrev-ref '@{upstream}' >/dev/null 2>&1; }
	mcheck "checkout: ...with no upstream" no_upstream
	mg checkout app main
	expect "checkout: a local branch is switched to" 0 "switched main"
	touch "$app/wip.txt"
	mg checkout app feature/new
	expect "checkout: uncommitted changes refuse the switch (exit 1)" 1 ""
	mcheck "checkout: ...says why and stays" test -n "$(err_has 'uncommitted changes' && echo y)" -a "$(git -C "$app" symbolic-ref --short HEAD)" = main
	rm "$app/wip.txt"
	mg checkout app "bad..name"
	expect "checkout: a name git refuses exits 2" 2 ""
	mg checkout app -x
	expect "checkout: an option-shaped name exits 2" 2 ""
	mg checkout nothing main
	expect "checkout: a folder that is not a repo exits 1" 1 ""
	git -C "$app" remote set-url origin "$MG/missing.git"
	mg checkout app feature/unreachable
	mcheck "checkout: an unreachable origin fails with git's code, printing nothing" \
		test "$MG_RC" -ne 0 -a "$MG_RC" -ne 2 -a -z "$MG_OUT"
	mcheck "checkout: ...and says the fetch failed" err_has "git fetch origin failed"
	git -C "$app" remote set-url origin "$origin"

	mg push app feature/old
	expect "push: refuses a branch the repo is not on (exit 1)" 1 ""
	rgit -C "$app" switch -q feature/new
	rgit -C "$app" commit -q --allow-empty -m work
	touch "$app/wip.txt"
	mg push app feature/new
	expect "push: refuses uncommitted changes (exit 1)" 1 ""
	rm "$app/wip.txt"
	mg facts app
	mcheck "facts: a new branch with a commit: no upstream, one unpushed" \
		grep -qxF "repo app feature/new - - - clean 1" <<<"$MG_OUT"
	rgit -C "$app" switch -q main
	rgit -C "$app" commit -q --allow-empty -m straight-to-main
	mg push app main
	expect "push: refuses origin's default branch (exit 3)" 3 "default main"
	mcheck "push: ...and origin's main is unchanged" \
		test "$(git -C "$origin" rev-parse main)" != "$(git -C "$app" rev-parse HEAD)"
	rgit -C "$app" reset -q --hard origin/main
	rgit -C "$app" switch -q feature/new
	mg push app feature/new
	expect "push: pushes and sets the upstream" 0 "pushed feature/new"
	mcheck "push: ...origin has the commit" \
		test "$(git -C "$origin" rev-parse feature/new)" = "$(git -C "$app" rev-parse HEAD)"
	mg facts app
	mcheck "facts: after the push: tracking, even, nothing unpushed" \
		grep -qxF "repo app feature/new origin/feature/new 0 0 clean 0" <<<"$MG_OUT"
	rgit -C "$app" commit -q --allow-empty -m more
	touch "$app/wip.txt"
	mg facts
	mcheck "facts: one ahead and dirty, every repo when no dir" \
		grep -qxF "repo app feature/new origin/feature/new 1 0 dirty 1" <<<"$MG_OUT"
	mcheck "facts: the agent line" grep -qx "agent unreachable\|agent no-keys\|agent keys [0-9]*" <<<"$MG_OUT"
	mcheck "facts: the provisioning line" grep -qxF "provision running" <<<"$MG_OUT"
	mcheck "facts: disk used and size, in bytes" grep -qE '^disk [0-9]+ [0-9]+$' <<<"$MG_OUT"
	mkdir -p "$MG_ROOT/proc" && echo "4242.17 100.00" >"$MG_ROOT/proc/uptime"
	mg facts
	mcheck "facts: uptime in whole seconds" grep -qxF "uptime 4242" <<<"$MG_OUT"
	mcheck "facts: exits 0" test "$MG_RC" -eq 0
	mg facts ../x
	expect "facts: a bad folder name exits 2" 2 ""
	rm "$app/wip.txt"

	mg branch-state app feature/new
	expect "branch-state: pushed, not merged" 0 "open feature/new"
	rgit -C "$MG/seed$MG_N" fetch -q origin
	rgit -C "$MG/seed$MG_N" merge -q --ff-only origin/feature/new
	rgit -C "$MG/seed$MG_N" push -q origin HEAD:main
	rgit -C "$app" reset -q --hard origin/feature/new
	mg branch-state app feature/new
	expect "branch-state: its tip in origin's default branch is merged" 0 "merged feature/new"
	rgit -C "$MG/seed$MG_N" push -q origin :feature/new
	mg branch-state app feature/new
	expect "branch-state: deleted upstream after a push is gone" 0 "gone feature/new"
	rgit -C "$app" switch -q -c never-pushed
	mg branch-state app never-pushed
	expect "branch-state: a branch never pushed is open" 0 "open never-pushed"
	MG_PATH=$MG_PATH_DEFAULT
else
	skip "machine-guest checkout/push/branch-state/facts (git not installed)"
fi

# --- agent ------------------------------------------------------------------------------------------------

mg_new
MG_ENV=(STUB_SSH_ADD_RC=0 STUB_SSH_KEYS=2)
mg agent
expect "agent: keys in the agent (exit 0)" 0 "keys 2"
mcheck "agent: runs ssh-add -l" logged "ssh-add -l"
MG_ENV=(STUB_SSH_ADD_RC=1)
mg agent
expect "agent: no identities (exit 1)" 1 "no-keys"
MG_ENV=(STUB_SSH_ADD_RC=2)
mg agent
expect "agent: no agent reachable (exit 2)" 2 "unreachable"
MG_ENV=()

# --- secrets ------------------------------------------------------------------------------------------------

mg_new
uid=$(id -u)
sdir="$MG_ROOT/run/user/$uid/dev-secrets"
# shellcheck disable=SC2016 # literal on purpose
printf 'API_KEY=s3cr3t-MARKER-$HOME "dq" '\''sq'\'' `x` \\ \nOTHER=2\n\n' >"$MG/secret1"
MG_IN="$MG/secret1"
mg secrets-write proj.env-1_a
MG_IN=/dev/null
expect "secrets-write: prints wrote <id>" 0 "wrote proj.env-1_a"
mcheck "secrets-write: default folder \$MACHINE_ROOT/run/user/<uid>/dev-secrets is 0700" \
	test "$(stat -c %a "$sdir")" = 700
mcheck "secrets-write: the file is 0600" test "$(stat -c %a "$sdir/proj.env-1_a.env")" = 600
mcheck "secrets-write: content is stdin byte for byte (\$, quotes, trailing newlines)" \
	cmp -s "$MG/secret1" "$sdir/proj.env-1_a.env"
mcheck "secrets-write: no temp file is left behind" test "$(find "$sdir" -mindepth 1 | wc -l)" -eq 1
mcheck "secrets-write: the secret appears in no stub's argv" not grep -rqF "s3cr3t-MARKER" "$MG_LOG"
mcheck "secrets-write: ...nor in machine-guest's output" not grep -qF "s3cr3t" <<<"$MG_OUT$MG_ERR"
printf 'NEW=1' >"$MG/secret2"
chmod 755 "$sdir"
MG_IN="$MG/secret2"
mg secrets-write proj.env-1_a
MG_IN=/dev/null
mcheck "secrets-write: rewriting replaces the content (no trailing newline kept as is)" \
	cmp -s "$MG/secret2" "$sdir/proj.env-1_a.env"
mcheck "secrets-write: ...and puts the folder back to 0700" test "$(stat -c %a "$sdir")" = 700
xdg="$MG/xdg$MG_N"
mkdir -p "$xdg"
MG_ENV=(XDG_RUNTIME_DIR="$xdg")
MG_IN="$MG/secret1"
mg secrets-write other
MG_IN=/dev/null
MG_ENV=()
mcheck "secrets-write: honours XDG_RUNTIME_DIR" cmp -s "$MG/secret1" "$xdg/dev-secrets/other.env"
long=$(printf 'a%.0s' {1..129})
# shellcheck disable=SC2016 # a literal $ in the id
for bad in ../x a/b .hidden -x '' 'a b' "$long" 'a$b'; do
	MG_IN="$MG/secret1"
	mg secrets-write "$bad"
	MG_IN=/dev/null
	expect "secrets-write: id $(printf '%q' "${bad:0:20}") rejected (exit 2)" 2 ""
done
mcheck "secrets-write: ...and nothing was written for them" test "$(find "$sdir" -mindepth 1 | wc -l)" -eq 1
mg secrets-write
expect "secrets-write: a missing id is rejected (exit 2)" 2 ""

# secrets-clear: a hard link to the file shows it was zero-filled before removal.
MG_IN="$MG/secret1"
mg secrets-write two
MG_IN=/dev/null
ln "$sdir/proj.env-1_a.env" "$MG/peek$MG_N"
mg secrets-clear proj.env-1_a
expect "secrets-clear <id>: prints cleared <id>" 0 "cleared proj.env-1_a"
mcheck "secrets-clear <id>: the file is gone, the other stays" \
	test ! -e "$sdir/proj.env-1_a.env" -a -e "$sdir/two.env"
mcheck "secrets-clear <id>: its bytes were overwritten with zeros (same length)" \
	cmp -s "$MG/peek$MG_N" <(head -c "$(stat -c %s "$MG/secret2")" /dev/zero)
mg secrets-clear proj.env-1_a
expect "secrets-clear <id>: an absent id prints nothing to clear" 0 "nothing to clear"
mg secrets-clear ../two
expect "secrets-clear: a bad id is rejected (exit 2)" 2 ""
mcheck "secrets-clear: ...and nothing was removed" test -e "$sdir/two.env"
ln "$sdir/two.env" "$MG/peek-all$MG_N"
mg secrets-clear
expect "secrets-clear: no id clears all" 0 "cleared all"
mcheck "secrets-clear: ...removing the folder" test ! -e "$sdir"
mcheck "secrets-clear: ...after zero-filling every file" \
	cmp -s "$MG/peek-all$MG_N" <(head -c "$(stat -c %s "$MG/secret1")" /dev/zero)
mg secrets-clear
expect "secrets-clear: nothing left prints nothing to clear" 0 "nothing to clear"
mg secrets-clear a b
expect "secrets-clear: two ids are rejected (exit 2)" 2 ""

# --- proxy-env ---------------------------------------------------------------------------------------------

mg_new
penv="$MG_ROOT/run/user/$(id -u)/machine/proxy.env"
printf 'MACHINE_PROXY_URL=http://host.lima.internal:7399\nANTHROPIC_AUTH_TOKEN=machine-proxy-T0KEN\n\nOPENAI_API_KEY=machine-proxy-T0KEN' >"$MG/proxy-env1"
MG_IN="$MG/proxy-env1"
mg proxy-env-write
MG_IN=/dev/null
expect "proxy-env-write: counts the variables (blank lines skipped, a last line without newline kept)" 0 "wrote proxy-env 3
codex-config none"
mcheck "proxy-env-write: default folder \$MACHINE_ROOT/run/user/<uid>/machine is 0700" \
	test "$(stat -c %a "${penv%/*}")" = 700
mcheck "proxy-env-write: the file is 0600" test "$(stat -c %a "$penv")" = 600
mcheck "proxy-env-write: one export per variable, quoted" test "$(cat "$penv")" = "export MACHINE_PROXY_URL='http://host.lima.internal:7399'
export ANTHROPIC_AUTH_TOKEN='machine-proxy-T0KEN'
export OPENAI_API_KEY='machine-proxy-T0KEN'"
mcheck "proxy-env-write: the token appears in no stub's argv" not grep -qF "T0KEN" "$MG_LOG"
mcheck "proxy-env-write: ...nor in machine-guest's output" not grep -qF "T0KEN" <<<"$MG_OUT$MG_ERR"
mcheck "proxy-env-write: no temp file is left behind" test "$(find "${penv%/*}" -mindepth 1 | wc -l)" -eq 1
# env.sh, as every shell reads it, exports them (sh, bash and zsh's sh emulation alike).
got=$(env -i PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$MG_ROOT/run/user/$(id -u)" sh -c ". '$TREE/files/env.sh'; printf '%s|%s' \"\$ANTHROPIC_AUTH_TOKEN\" \"\$MACHINE_PROXY_URL\"")
mcheck "env.sh: reads the proxy's variables from \$XDG_RUNTIME_DIR/machine/proxy.env" \
	test "$got" = "machine-proxy-T0KEN|http://host.lima.internal:7399"
got=$(env -i PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$MG/nowhere" sh -c ". '$TREE/files/env.sh'; echo \"rc=\$? [\${ANTHROPIC_AUTH_TOKEN:-}]\"")
mcheck "env.sh: no proxy.env is fine (nothing set, status 0)" test "$got" = "rc=0 []"
got=$(env -i PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$MG_ROOT/run/user/$(id -u)" bash -c ". '$TREE/files/env.sh'; env" | grep -c '^OPENAI_API_KEY=machine-proxy-T0KEN$')
mcheck "env.sh: the variables are exported to the programs a shell starts" test "$got" = 1
# shellcheck disable=SC2016 # literal $ and backquotes on purpose
for bad in 'lower=x' 'A=$(touch /tmp/x)' "A=it's" 'A=a b' 'A=`id`' 'no-equals' '=value' 'A=x;y' '1A=x'; do
	printf 'GOOD=1\n%s\n' "$bad" >"$MG/proxy-bad"
	MG_IN="$MG/proxy-bad"
	mg proxy-env-write
	MG_IN=/dev/null
	expect "proxy-env-write: $(printf '%q' "$bad") is refused (exit 2)" 2 ""
done
mcheck "proxy-env-write: ...and the file written before stays as it was" grep -qxF "export OPENAI_API_KEY='machine-proxy-T0KEN'" "$penv"
mg proxy-env-write extra
expect "proxy-env-write: an argument is refused (exit 2)" 2 ""
xdg="$MG/pxdg$MG_N"
mkdir -p "$xdg"
MG_ENV=(XDG_RUNTIME_DIR="$xdg")
MG_IN="$MG/proxy-env1"
mg proxy-env-write
MG_IN=/dev/null
MG_ENV=()
mcheck "proxy-env-write: honours XDG_RUNTIME_DIR" test -f "$xdg/machine/proxy.env"
chmod 755 "$xdg/machine"
MG_ENV=(XDG_RUNTIME_DIR="$xdg")
MG_IN="$MG/proxy-env1"
mg proxy-env-write
MG_IN=/dev/null
MG_ENV=()
mcheck "proxy-env-write: a folder that exists is made 0700 again" test "$(stat -c %a "$xdg/machine")" = 700
mcheck "proxy-env-write: ...and the file in it is 0600" test "$(stat -c %a "$xdg/machine/proxy.env")" = 600
ln "$penv" "$MG/proxy-peek$MG_N"
mg proxy-env-clear
expect "proxy-env-clear: prints cleared proxy-env" 0 "cleared proxy-env
codex-config none"
mcheck "proxy-env-clear: the file is gone" test ! -e "$penv"
mcheck "proxy-env-clear: ...after its bytes were zero-filled" \
	cmp -s "$MG/proxy-peek$MG_N" <(head -c "$(stat -c %s "$MG/proxy-peek$MG_N")" /dev/zero)
mg proxy-env-clear
expect "proxy-env-clear: nothing left prints nothing to clear" 0 "nothing to clear
codex-config none"

# Codex's system config: a link, made once (directly into a scratch root whose etc is writable,
# through `sudo -n` otherwise), to codex.toml beside proxy.env in the tmpfs.
mg_new
codex="$MG_ROOT/etc/codex/config.toml"
runtime="$MG_ROOT/run/user/$(id -u)/machine/codex.toml"
route=(--codex http://host.lima.internal:7399/openai OPENAI_API_KEY)
MG_IN="$MG/proxy-env1"
mg proxy-env-write "${route[@]}"
expect "proxy-env-write --codex: without a writable etc, the link is made through sudo" 0 "wrote proxy-env 3
codex-config written"
mcheck "proxy-env-write --codex: ...sudo -n mkdir, then sudo -n ln -s to codex.toml" test "$(grep '^sudo' "$MG_LOG")" = \
	"$(printf 'sudo -n mkdir -p -m 0755 -- %q\nsudo -n ln -s -- %q %q' "$MG_ROOT/etc/codex" "$runtime" "$codex")"
MG_ENV=(STUB_SUDO_FAIL=1)
mg proxy-env-write "${route[@]}"
MG_ENV=()
expect "proxy-env-write --codex: a sudo that fails is reported, the variables stay written" 0 "wrote proxy-env 3
codex-config failed"
mcheck "proxy-env-write --codex: ...and said on stderr" grep -qF "sudo -n failed" <<<"$MG_ERR"
mkdir -p "$MG_ROOT/etc"
: >"$MG_LOG"
mg proxy-env-write "${route[@]}"
expect "proxy-env-write --codex: links Codex's system config to the tmpfs" 0 "wrote proxy-env 3
codex-config written"
mcheck "proxy-env-write --codex: ...without sudo when etc is writable" not grep -q "^sudo" "$MG_LOG"
mcheck "proxy-env-write --codex: ...a link to codex.toml" test "$(readlink "$codex")" = "$runtime"
mcheck "proxy-env-write --codex: ...whose folder is 0755" test "$(stat -c %a "${codex%/*}")" = 755
mcheck "proxy-env-write --codex: ...a provider with the proxy's URL" \
	grep -qxF 'base_url = "http://host.lima.internal:7399/openai"' "$codex"
mcheck "proxy-env-write --codex: ...which Codex uses unless the user's config says otherwise" \
	grep -qxF 'model_provider = "machine-proxy"' "$codex"
mcheck "proxy-env-write --codex: ...env_key names the variable" grep -qxF 'env_key = "OPENAI_API_KEY"' "$codex"
mcheck "proxy-env-write --codex: ...and holds no token" not grep -qF "T0KEN" "$codex"
mcheck "proxy-env-write --codex: ...no temp file is left behind" test "$(find "${runtime%/*}" -mindepth 1 | wc -l)" -eq 2
mcheck "proxy-env-write --codex: ...codex.toml is the user's alone (0600)" test "$(stat -c %a "$runtime")" = 600
mg proxy-env-write "${route[@]}"
expect "proxy-env-write --codex: the same route again is left as it is" 0 "wrote proxy-env 3
codex-config unchanged"
mg proxy-env-write --codex http://host.lima.internal:7500/openai OPENAI_API_KEY
expect "proxy-env-write --codex: another port rewrites it" 0 "wrote proxy-env 3
codex-config written"
mcheck "proxy-env-write --codex: ...with the new URL" grep -qxF 'base_url = "http://host.lima.internal:7500/openai"' "$codex"
mg proxy-env-write
expect "proxy-env-write: without --codex, the route is removed" 0 "wrote proxy-env 3
codex-config removed"
mcheck "proxy-env-write: ...codex.toml is gone, the link dangles (Codex reads no file)" test ! -e "$codex" -a -L "$codex"
mg proxy-env-write "${route[@]}"
expect "proxy-env-write --codex: a dangling link of machine's is used again" 0 "wrote proxy-env 3
codex-config written"
mcheck "proxy-env-write --codex: ...without making it again" test "$(readlink "$codex")" = "$runtime"
mg proxy-env-clear
expect "proxy-env-clear: removes the route too" 0 "cleared proxy-env
codex-config removed"
rm -f "$codex"
printf 'model = "mine"\n' >"$codex"
mg proxy-env-write "${route[@]}"
expect "proxy-env-write --codex: a Codex config that is not machine's link is left alone" 0 "wrote proxy-env 3
codex-config foreign"
mcheck "proxy-env-write --codex: ...unchanged" test "$(cat "$codex")" = 'model = "mine"'
mcheck "proxy-env-write --codex: ...and it says so on stderr" grep -qF "is not machine's" <<<"$MG_ERR"
mg proxy-env-clear
expect "proxy-env-clear: a foreign Codex config is not machine's to remove" 0 "cleared proxy-env
codex-config removed"
mcheck "proxy-env-clear: ...it stays as it was" test "$(cat "$codex")" = 'model = "mine"'
mg proxy-env-write "${route[@]}"
for bad in "--codex ftp://x OPENAI_API_KEY" "--codex http://a'b OPENAI_API_KEY" "--codex http://x lower" "--codex http://x" "--other a b"; do
	read -ra words <<<"$bad"
	printf 'OTHER=1\n' >"$MG/proxy-env2"
	MG_IN="$MG/proxy-env2"
	mg proxy-env-write "${words[@]}"
	expect "proxy-env-write: $(printf '%q' "$bad") is refused (exit 2)" 2 ""
	mcheck "proxy-env-write: ...and proxy.env is as it was" grep -qF "machine-proxy-T0KEN" "$MG_ROOT/run/user/$(id -u)/machine/proxy.env"
done
MG_IN=/dev/null

# --- envrc-ids -----------------------------------------------------------------------------------------------

mg_new
mkdir -p "$MG_HOME/code/app/.git" "$MG_HOME/code/app/sub/.git" "$MG_HOME/code/bare/.git" \
	"$MG_HOME/code/nothing/.git" "$MG_HOME/code/group/inner/.git"
cat >"$MG_HOME/code/app/.envrc" <<'EOF'
# use op_env commented-out
  #use op_env also-commented
use op_env app-dev
	use op_env "app.staging"   # a comment
use op_env app-dev
use node
EOF
printf 'use op_env nested-id\n' >"$MG_HOME/code/app/sub/.envrc"
printf 'use op_env group-id\n' >"$MG_HOME/code/group/inner/.envrc"
printf 'use op_env group-top\n' >"$MG_HOME/code/group/.envrc"
printf 'export FOO=1\nuse op_env\n' >"$MG_HOME/code/bare/.envrc"
mg envrc-ids app
expect "envrc-ids: every use op_env id once, commented lines ignored" 0 "app app-dev
app app.staging"
mg envrc-ids bare
expect "envrc-ids: an .envrc without ids prints <dir> -" 0 "bare -"
mg envrc-ids nothing absent
expect "envrc-ids: no .envrc (or no folder) prints nothing" 0 ""
mg envrc-ids
expect "envrc-ids: no argument reads every top-level repo, never nested ones" 0 "app app-dev
app app.staging
bare -"
mg envrc-ids bare app
expect "envrc-ids: explicit folders in the given order" 0 "bare -
app app-dev
app app.staging"
mg envrc-ids app/sub
expect "envrc-ids: a nested path is rejected (exit 2)" 2 ""
mg_new
mg envrc-ids
expect "envrc-ids: no ~/code at all prints nothing" 0 ""

if ((MG_STANDALONE)); then
	summary
fi
