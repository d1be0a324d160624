#!/bin/bash
# machine readiness probe (core layer). Lima runs it as the user over SSH
# during `limactl start` and retries while it fails.
#   exit 1 while this boot's provisioning is still running,
#   exit 1 naming the layer(s) that failed (details on stderr),
#   exit 0 once every layer has finished cleanly.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
root=${MACHINE_ROOT:-}

if [[ ! -e "$root/run/lima-boot-done" ]]; then
	echo "machine: provisioning of this boot is still running" >&2
	exit 1
fi

shopt -s nullglob
failed=("$root"/run/machine/failed/*)
if ((${#failed[@]} > 0)); then
	names=()
	for file in "${failed[@]}"; do
		names+=("${file##*/}")
	done
	echo "machine: provisioning failed in layer(s): ${names[*]}" >&2
	for file in "${failed[@]}"; do
		printf '  %s: %s\n' "${file##*/}" "$(<"$file")" >&2
	done
	exit 1
fi
exit 0
