#!/bin/bash
# shellcheck shell=bash
# Counters and assertions shared by the provisioning harness (run.sh) and the
# machine-guest tests. Sourced; ends with `summary`, whose last line the Rust
# test reads: `N passed, N failed[, N skipped]`.

PASSED=0
FAILED=0
SKIPPED=0

pass() {
	PASSED=$((PASSED + 1))
	printf 'ok    %s\n' "$1"
}
fail() {
	FAILED=$((FAILED + 1))
	printf 'FAIL  %s\n' "$1"
	if [[ -n ${2:-} ]]; then
		printf '%s\n' "$2" | sed 's/^/      /'
	fi
}
skip() {
	SKIPPED=$((SKIPPED + 1))
	printf 'skip  %s\n' "$1"
}
check() { # check <description> <command...>
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
summary() {
	if ((SKIPPED)); then
		printf '%d passed, %d failed, %d skipped\n' "$PASSED" "$FAILED" "$SKIPPED"
	else
		printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
	fi
	((FAILED == 0))
}
