#!/bin/bash
# machine profile "rust" (user part): the pinned Rust toolchain (with rustfmt
# and clippy) in ~/.rustup and ~/.cargo, as the user's default.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init rust-user user

machine_stamp_check rust-user "$RUST_TOOLCHAIN" && exit 0

rustup="$HOME/.cargo/bin/rustup"
if [[ -x $rustup ]]; then
	"$rustup" toolchain install "$RUST_TOOLCHAIN" --profile minimal --component rustfmt,clippy
	"$rustup" default "$RUST_TOOLCHAIN"
else
	init="$R/usr/local/bin/rustup-init"
	[[ -x $init ]] || machine_die "$init is missing: the rust profile's system script did not run"
	"$init" -y --no-modify-path --profile minimal --default-toolchain "$RUST_TOOLCHAIN" \
		--component rustfmt,clippy
fi
machine_log "Rust $RUST_TOOLCHAIN is the default toolchain"

machine_stamp_write
