# shellcheck shell=sh
# machine (rust layer): rustup's toolchains and `cargo install`ed binaries.
case ":$PATH:" in
*":$HOME/.cargo/bin:"*) ;;
*) PATH="$HOME/.cargo/bin:$PATH" ;;
esac
export PATH
