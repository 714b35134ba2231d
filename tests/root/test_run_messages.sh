#!/usr/bin/env bash
# Clear one-line messages, as root (acting for a user) and as an ordinary user: a working
# directory that exists but cannot be reached says "Permission denied"; a corrupt or
# truncated squashfs says so, with no library noise and no "command not found".
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/variants.sh"
cd /tmp
work=$(mktemp -d /tmp/berth-messages.XXXXXX)
chmod 755 "$work"
trap 'restore_fuse; rm -rf "$work"' EXIT

secret_dir() { mkdir -p "$1/secret/dir"; chmod 0700 "$1/secret"; }
image=$(make_variant secret secret_dir)
open_fuse

# fails_with TEXT COMMAND...: the command fails with exactly one line of output, containing TEXT.
fails_with() {
  local text=$1 err rc
  shift
  set +e
  err=$("$@" 2>&1); rc=$?
  set -e
  [[ $rc -ne 0 ]] || fail "$* succeeded"
  expect_eq "$(printf '%s\n' "$err" | wc -l)" 1 "one line from $*: [$err]"
  expect_contains "$err" "$text" "$*"
}

fails_with "working directory \`/secret/dir\`: Permission denied" \
  "$BERTH" exec --as-user berthtest --pwd /secret/dir "$image" true
fails_with "--pwd /secret/dir: open \`/secret/dir\` in the image: Permission denied" \
  as_user "$UB" exec --pwd /secret/dir "$image" true
# One the image lacks is made in the container's own layer (not an error any more).
expect_eq "$("$BERTH" exec --pwd /no/such "$image" pwd)" /no/such "--pwd the image lacks"
pass "an unreachable working directory: Permission denied"

# Truncated copies (half, and only the end of its tables cut off) and random bytes.
size=$(stat -c %s "$IMG")
head -c $((size / 2)) "$IMG" >"$work/half.sqsh"
head -c $((size - 4096 - 100)) "$IMG" >"$work/tail.sqsh"
head -c 65536 /dev/urandom >"$work/random.sqsh"
chmod 644 "$work"/*.sqsh
for bad in half tail random; do
  fails_with "\`$work/$bad.sqsh\` is not a squashfs image (corrupt or truncated)" \
    "$BERTH" exec "$work/$bad.sqsh" sh -c true
  fails_with "\`$work/$bad.sqsh\` is not a squashfs image (corrupt or truncated)" \
    as_user "$UB" exec "$work/$bad.sqsh" sh -c true
done
pass "a corrupt squashfs: one line"
check_no_leaks
