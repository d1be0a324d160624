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

if [[ -x "$HOME/.cargo/bin/rustup" ]]; then
	"$HOME/.cargo/bin/rustup" toolchain install "$RUST_TOOLCHAIN" --profile minimal --component rustfmt,clippy
	"$HOME/.cargo/bin/rustup" default "$RUST_TOOLCHAIN"
else
	[[ -x "$R/usr/local/bin/rustup-init" ]] ||
		machine_die "/usr/local/bin/rustup-init is missing: the rust profile's system script did not run"
	"$R/usr/local/bin/rustup-init" -y --no-modify-path --profile minimal \
		--default-toolchain "$RUST_TOOLCHAIN" --component rustfmt,clippy
fi
machine_log "Rust $RUST_TOOLCHAIN is the default toolchain"

machine_stamp_write
