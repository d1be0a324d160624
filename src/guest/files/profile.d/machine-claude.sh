# shellcheck shell=sh
# machine (claude layer): Claude Code stays at the version files/versions.env pins;
# its native install would otherwise update itself in the background.
export DISABLE_AUTOUPDATER=1
