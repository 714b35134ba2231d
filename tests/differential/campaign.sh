#!/bin/bash
# A differential campaign: N generated layer stacks (seeds FIRST..FIRST+N-1), each converted by
# berth and unpacked by umoci, compared entry by entry (tests/differential/run.py).
#
#   tests/differential/campaign.sh N [FIRST [run.py options...]]
#
# berth: $BERTH_BIN, else $BERTH_BUILD_DIR/image_tool/berth, else build/image_tool/berth.
# Prints every mismatch (seed, differences, a reduced layer listing; --no-reduce skips the
# reduction) and, last, `N stacks, M mismatches`. Needs root (umoci keeps owners and devices
# only as root), umoci, sqfs2tar (squashfs-tools-ng), zstd and python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:?usage: campaign.sh N [FIRST [run.py options...]]}
first=${2:-0}
shift $(($# < 2 ? $# : 2))
BERTH_BIN=${BERTH_BIN:-${BERTH_BUILD_DIR:-$here/../../build}/image_tool/berth}
exec python3 "$here/run.py" --berth "$BERTH_BIN" --seeds "$first:$count" "$@"
