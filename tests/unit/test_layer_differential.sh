#!/bin/bash
# Layer merge against a reference unpacker (issue 10): 200 generated layer stacks (files, dirs,
# symlinks, hard-link groups, whiteouts, opaque dirs, type changes, setuid modes, owners,
# xattrs) pulled by berth from oci:, oci-archive: and docker-archive: sources and compared with
# `umoci raw unpack` entry by entry (tests/differential/run.py). Fixed seeds: a failure names
# its seed and a reduced layer listing; `tests/differential/campaign.sh N FIRST` runs more.
set -euo pipefail
SRC=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BERTH_BIN=${BERTH_BIN:-$BERTH_BUILD_DIR/image_tool/berth}
[[ $(id -u) -eq 0 ]] || { echo "needs root (umoci keeps owners and devices only as root)"; exit 77; }
for tool in umoci sqfs2tar zstd python3; do
  command -v "$tool" >/dev/null || { echo "$tool missing"; exit 77; }
done
# Most stacks must be valid: a generator making only stacks umoci refuses would compare nothing.
python3 "$SRC/tests/differential/run.py" --berth "$BERTH_BIN" --seeds 0:200 --min-compared 180
