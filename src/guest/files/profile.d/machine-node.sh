# shellcheck shell=sh
# machine (node layer): corepack fetches the pinned pnpm/yarn without asking.
export COREPACK_ENABLE_DOWNLOAD_PROMPT=0
