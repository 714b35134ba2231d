#!/usr/bin/env bash
# An image whose config is far above 64 KiB (2,000 history entries and a 100 KiB Env value:
# both exist in real images) runs, as root and as an ordinary user: the helper that builds the
# container passes it whole (it once stopped at 64 KiB with "message too large").
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/variants.sh"
cd /  # not visible inside as such: the command starts in the image's WorkingDir
work=$(mktemp -d /tmp/berth-bigconfig.XXXXXX)
chmod 755 "$work"
trap 'restore_fuse; rm -rf "$work"' EXIT

big_config() {
  python3 - "$1/.berth/config.json" <<'PY'
import json, sys
history = [{"created": "2026-01-01T00:00:00Z", "created_by": "RUN step %d " % i + "x" * 40}
           for i in range(2000)]
config = {"architecture": "amd64", "os": "linux",
          "config": {"Env": ["PATH=/bin:/usr/bin", "BIG_VAR=" + "b" * 100000],
                     "Cmd": ["sh"], "WorkingDir": "/srv"},
          "history": history}
with open(sys.argv[1], "w") as out:
    json.dump(config, out)
PY
  stat -c %s "$1/.berth/config.json" >"$work/config-size"
}
image=$(make_variant big big_config)
size=$(cat "$work/config-size")
(( size > 200000 )) || fail "the test config is only $size bytes"

expect_eq "$($BERTH exec "$image" sh -c 'echo ${#BIG_VAR} $PWD')" "100000 /srv" "root: big config"
open_fuse
expect_eq "$(as_user "$UB" exec "$image" sh -c 'echo ${#BIG_VAR} $PWD')" "100000 /srv" \
  "unprivileged: big config"
pass "a $size-byte image config runs"
check_no_leaks
