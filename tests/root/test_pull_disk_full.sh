#!/usr/bin/env bash
# A pull that runs out of disk space fails with one line and leaves the cache as it was:
# no image, no temporary file, no index entry. The cache is a 1 MiB tmpfs; the image (a
# busybox root with padding that does not compress) needs more.
source "$(dirname "$0")/lib/common.sh"

work=$(mktemp -d /tmp/berth-diskfull.XXXXXX)
cache=$work/cache
mkdir -p "$cache" "$work/root/bin"
cleanup() { umount "$cache" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$cache"

cp /bin/busybox "$work/root/bin/busybox"
head -c 3M /dev/urandom >"$work/root/padding"   # random data: squashfs cannot shrink it

err=$($BERTH -q pull --cache "$cache" "$work/root" 2>&1 >/dev/null) && fail "pull into a full disk succeeded"
[[ $(wc -l <<<"$err") -eq 1 ]] || fail "more than one line: $err"
expect_contains "$err" "No space left on device" "disk-full error"
leftover=$(find "$cache" -type f ! -name '*.lock' ! -name 'index.json')
[[ -z $leftover ]] || fail "files left in the cache: $leftover"
listed=$($BERTH cache --cache "$cache" list) || fail "cache list failed"
[[ $listed != *"$work/root"* ]] || fail "failed pull listed in the cache: $listed"
pass "disk full: one line ($err), cache unchanged"
