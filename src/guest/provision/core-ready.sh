#!/bin/bash
# machine readiness probe (core layer). Lima runs it as the user over SSH
# during `limactl start` and retries while it fails. The verdict is
# machine-guest's (`machine-guest status`, the same the host asks): it fails
# while this boot's provisioning runs, and names what failed, whether one of
# machine's layers, a user profile's script or one of Lima's boot scripts.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
guest=${MACHINE_ROOT:-}/usr/local/bin/machine-guest
rc=0
out=$("$guest" status 2>&1) || rc=$?
case $rc in
0) exit 0 ;;
3) echo "machine: provisioning of this boot is still running" >&2 ;;
*) printf 'machine: provisioning failed:\n%s\n' "$out" >&2 ;;
esac
exit 1
