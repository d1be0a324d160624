#!/bin/bash
# machine profile "modern" (system part): bat, git-delta, fzf, lazygit and helix
# from their pinned release tarballs, each checked against versions.env.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init modern system

tools=(BAT DELTA FZF LAZYGIT HELIX)
inputs=()
for tool in "${tools[@]}"; do
	machine_artifact "$tool"
	inputs+=("$MACHINE_ART_URL" "$MACHINE_ART_SHA256")
done

machine_stamp_check modern "${inputs[@]}" && exit 0

bin="$R/usr/local/bin"
mkdir -p "$bin"
tmp=$(machine_tmpdir)

machine_install_archive BAT 1 "$tmp/bat"
install -m 755 "$tmp/bat/bat" "$bin/bat"

machine_install_archive DELTA 1 "$tmp/delta"
install -m 755 "$tmp/delta/delta" "$bin/delta"

machine_install_archive FZF 0 "$tmp/fzf"
install -m 755 "$tmp/fzf/fzf" "$bin/fzf"

machine_install_archive LAZYGIT 0 "$tmp/lazygit"
install -m 755 "$tmp/lazygit/lazygit" "$bin/lazygit"

# helix finds its runtime/ next to the real path of the hx binary. Unpack next
# to the destination (not in /tmp, which may be a small tmpfs).
staging="$R/opt/.helix.machine-new"
rm -rf "$staging"
machine_install_archive HELIX 1 "$staging"
[[ -x "$staging/hx" && -d "$staging/runtime" ]] || machine_die "unexpected layout in the helix archive"
rm -rf "$R/opt/helix"
mv "$staging" "$R/opt/helix"
ln -sfn /opt/helix/hx "$bin/hx"

machine_log "bat $BAT_VERSION, delta $DELTA_VERSION, fzf $FZF_VERSION, lazygit $LAZYGIT_VERSION, helix $HELIX_VERSION installed"
machine_stamp_write
