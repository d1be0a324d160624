#!/bin/bash
# machine layer "claude" (user part): Claude Code at the pinned version through
# Anthropic's native installer (no node needed), the official plugin
# marketplace, and permissions.defaultMode "auto" merged into
# ~/.claude/settings.json without touching anything else in it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init claude-user user

export PATH="$HOME/.local/bin:$PATH"

# Pinned means pinned: the native install updates itself unless told not to
# (DISABLE_AUTOUPDATER, set for every shell by /etc/profile.d/machine-claude.sh),
# and a version that moved anyway is put back at the next boot, stamp or not.
installed=""
if command -v claude >/dev/null; then
	installed=$(DISABLE_AUTOUPDATER=1 claude --version 2>/dev/null || true)
fi
if machine_stamp_check claude-user "$CLAUDE_VERSION" "$CLAUDE_MARKETPLACE"; then
	[[ $installed == "$CLAUDE_VERSION "* ]] && exit 0
	machine_log "Claude Code is at '${installed:-nothing}', not the pinned $CLAUDE_VERSION: installing the pin again"
fi

# --- Claude Code ------------------------------------------------------------------
if [[ $installed == "$CLAUDE_VERSION "* ]]; then
	machine_log "Claude Code $CLAUDE_VERSION already installed"
else
	installer="$(machine_tmpdir)/claude-install.sh"
	machine_fetch https://claude.ai/install.sh "$installer"
	# The installer checks the binary against the release manifest's sha256.
	bash "$installer" "$CLAUDE_VERSION"
	command -v claude >/dev/null || machine_die "the Claude Code installer finished but 'claude' is not on PATH"
fi

# --- plugin marketplace -------------------------------------------------------------
marketplace_name=${CLAUDE_MARKETPLACE##*/}
known="$HOME/.claude/plugins/known_marketplaces.json"
if [[ -f $known ]] && jq -e --arg n "$marketplace_name" 'has($n)' "$known" >/dev/null 2>&1; then
	machine_log "plugin marketplace $marketplace_name already added"
else
	if ! output=$(claude plugin marketplace add "$CLAUDE_MARKETPLACE" 2>&1); then
		if [[ $output != *already* ]]; then
			printf '%s\n' "$output" >&2
			machine_die "could not add the plugin marketplace $CLAUDE_MARKETPLACE"
		fi
	fi
	machine_log "plugin marketplace $CLAUDE_MARKETPLACE added"
fi

# --- settings: merge, never overwrite -------------------------------------------------
settings="$HOME/.claude/settings.json"
mkdir -p "$(dirname "$settings")"
if [[ ! -s $settings ]]; then
	printf '{}\n' >"$settings"
fi
merged="$(machine_tmpdir)/settings.json"
if ! jq '.permissions = (.permissions // {}) | .permissions.defaultMode = (.permissions.defaultMode // "auto")' \
	"$settings" >"$merged"; then
	machine_die "$settings is not valid JSON; fix it and re-run (it was left unchanged)"
fi
if ! cmp -s "$merged" "$settings"; then
	cat "$merged" >"$settings"
	machine_log "permissions.defaultMode set in $settings"
fi

machine_stamp_write
