#!/bin/bash
# Layer merge against a reference unpacker through the registry path (issue 10): generated
# layer stacks (gzip and zstd layers) pushed to the test bed's registry with skopeo, pulled by
# berth from docker://, compared with `umoci raw unpack` of the same layout entry by entry
# (tests/differential/run.py; the local sources run in unit.layer_differential).
set -euo pipefail
SRC=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BERTH_BIN=${BERTH_BIN:-$BERTH_BUILD_DIR/image_tool/berth}
ENV_FILE=${BERTH_TESTBED_ENV:-/var/tmp/berth-testbed/env}
[[ -f $ENV_FILE ]] || { echo "FAIL: test bed not started ($ENV_FILE missing)"; exit 1; }
# shellcheck source=/dev/null
source "$ENV_FILE"
[[ -n ${BERTH_TEST_REGISTRY:-} ]] || { echo "FAIL: BERTH_TEST_REGISTRY not set by the test bed"; exit 1; }
python3 "$SRC/tests/differential/run.py" --berth "$BERTH_BIN" --seeds 500000:40 --min-compared 30 \
  --registry "$BERTH_TEST_REGISTRY" --netns "/run/netns/${BERTH_NETNS:-berth-test}"
