#!/bin/bash
# machine profile "modern" (user part): makes delta git's pager. Uses
# `git config --global`, so the rest of ~/.gitconfig is left alone.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init modern-user user

machine_stamp_check modern-user "$DELTA_VERSION" && exit 0

git config --global core.pager delta
git config --global interactive.diffFilter "delta --color-only"
git config --global delta.navigate true
git config --global merge.conflictStyle zdiff3

machine_stamp_write
