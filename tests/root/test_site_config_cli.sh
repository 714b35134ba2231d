#!/usr/bin/env bash
# The berth tool reads berth.conf ($BERTH_CONFIG) like the plugin: site default binds reach
# `berth exec`, the site's zstd level reaches `berth pull`, a bad file is one clear line.
source "$(dirname "$0")/lib/common.sh"
make_test_image

work=$(mktemp -d /tmp/berth-siteconf.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/shared-data"
echo "site data" >"$work/shared-data/readme"
chmod -R a+rX "$work"

cat >"$work/berth.conf" <<CONF
# a site's settings
default_mounts = $work/shared-data:/site-data:ro
zstd_level = 9
CONF
out=$(BERTH_CONFIG=$work/berth.conf $BERTH exec "$IMG" cat /site-data/readme 2>&1)
expect_eq "$out" "site data" "site default bind"
err=$(BERTH_CONFIG=$work/berth.conf $BERTH exec "$IMG" touch /site-data/x 2>&1) && fail "site bind was writable"
expect_contains "$err" "Read-only file system" "ro site bind"
# Without the config the bind is not there.
err=$($BERTH exec "$IMG" cat /site-data/readme 2>&1) && fail "bind present without berth.conf"
pass "default_mounts reach berth exec"

# zstd_level: the superblock's compressor options record the level (unsquashfs -s prints it).
BERTH_CONFIG=$work/berth.conf BERTH_CACHE_DIR=$work/cache $BERTH -q pull -o "$work/img9.sqsh" \
  "$SANDBOX" >/dev/null
expect_contains "$(unsquashfs -s "$work/img9.sqsh")" "compression-level 9" "site zstd level"
BERTH_CONFIG=$work/berth.conf BERTH_CACHE_DIR=$work/cache $BERTH -q pull --zstd-level 5 \
  -o "$work/img5.sqsh" "$SANDBOX" >/dev/null
expect_contains "$(unsquashfs -s "$work/img5.sqsh")" "compression-level 5" "flag over site level"
pass "zstd_level reaches berth pull, --zstd-level wins"

echo "no_such_key = 1" >"$work/bad.conf"
err=$(BERTH_CONFIG=$work/bad.conf $BERTH exec "$IMG" true 2>&1) && fail "bad berth.conf accepted"
expect_contains "$err" "bad.conf:1" "bad config names file:line"
expect_contains "$err" "no_such_key" "bad config names the key"
[[ $(wc -l <<<"$err") -eq 1 ]] || fail "more than one line: $err"
pass "a bad berth.conf is one line naming file:line"
