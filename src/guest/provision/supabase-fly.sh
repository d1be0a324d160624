#!/bin/bash
# machine profile "supabase-fly": the Supabase CLI and flyctl, pinned release
# tarballs checked against the sha256 values in versions.env.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../files/lib.sh
source "${MACHINE_ROOT:-}/usr/local/lib/machine/lib.sh"
machine_init supabase-fly system

machine_artifact SUPABASE
supabase=("$MACHINE_ART_URL" "$MACHINE_ART_SHA256")
machine_artifact FLYCTL
flyctl=("$MACHINE_ART_URL" "$MACHINE_ART_SHA256")

machine_stamp_check supabase-fly "${supabase[@]}" "${flyctl[@]}" && exit 0

bin="$R/usr/local/bin"
mkdir -p "$bin"
tmp=$(machine_tmpdir)

machine_install_archive SUPABASE 0 "$tmp/supabase"
# `supabase` hands most commands to `supabase-go`, which it looks for beside itself.
for tool in supabase supabase-go; do
	[[ -f $tmp/supabase/$tool ]] || machine_die "the supabase $SUPABASE_VERSION archive has no $tool (an unexpected layout)"
	install -m 755 "$tmp/supabase/$tool" "$bin/$tool"
done
machine_log "supabase $SUPABASE_VERSION installed"

machine_install_archive FLYCTL 0 "$tmp/flyctl"
install -m 755 "$tmp/flyctl/flyctl" "$bin/flyctl"
ln -sfn flyctl "$bin/fly"
machine_log "flyctl $FLYCTL_VERSION installed"

machine_stamp_write
