#!/bin/bash
# machine layer "codex": OpenAI's Codex CLI, pinned, from npm (needs the node
# layer earlier in the chain).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init codex system

machine_stamp_check codex "$CODEX_VERSION" && exit 0

command -v npm >/dev/null || machine_die "npm not found: the codex layer needs the node layer before it"
npm install --global --no-fund --no-audit "@openai/codex@$CODEX_VERSION"

machine_stamp_write
