#!/usr/bin/env bash
# As root, berth believes only what no user could have changed: a berth.conf that a user could
# write (the file, or a directory above it) is refused with one line — otherwise a user adds a
# default_mounts entry that binds their program over /usr/local/bin/hostname in every other
# user's containers — and so is a site cache that a user could write or owns (a user could swap
# an image another user's step runs, or plant a symlink that makes root write elsewhere).
source "$(dirname "$0")/lib/common.sh"
make_test_image

work=$(mktemp -d /tmp/berth-trust.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
mkdir "$work/evil" "$work/etc"
printf '#!/bin/sh\necho pwned-by-user\n' >"$work/evil/hostname"
chmod -R a+rX "$work/evil" && chmod 0755 "$work/evil/hostname"
echo "default_mounts = $work/evil/hostname:/usr/local/bin/hostname:ro" >"$work/etc/berth.conf"

refused_config() {  # WHAT: berth exec as root must refuse the config with one line
  local err
  err=$(BERTH_CONFIG=$work/etc/berth.conf $BERTH exec "$IMG" /usr/local/bin/hostname 2>&1) &&
    fail "$1: config accepted, ran: $err"
  [[ $err != *pwned-by-user* ]] || fail "$1: the user's program ran"
  [[ $(wc -l <<<"$err") -eq 1 ]] || fail "$1: not one line: $err"
  expect_contains "$err" "refusing site configuration \`$work/etc/berth.conf\`" "$1"
  echo "$err"
}

# Root's own file, 0644 in root's 0755 directory: read (the bind is there).
out=$(BERTH_CONFIG=$work/etc/berth.conf $BERTH exec "$IMG" /usr/local/bin/hostname 2>&1)
expect_eq "$out" "pwned-by-user" "a root-owned berth.conf is used"

chmod 0666 "$work/etc/berth.conf"
expect_contains "$(refused_config "world-writable")" "is writable by every user (mode 0666)" "mode"
chmod 0664 "$work/etc/berth.conf"
expect_contains "$(refused_config "group-writable")" "writable by group" "group mode"
chmod 0644 "$work/etc/berth.conf"
chown berthtest "$work/etc/berth.conf"
expect_contains "$(refused_config "owned by a user")" "is owned by uid $(id -u berthtest)" "owner"
chown root "$work/etc/berth.conf"
chmod 0777 "$work/etc"
expect_contains "$(refused_config "directory writable")" "\`$work/etc\` is writable by every user" \
  "directory above"
chmod 0755 "$work/etc"
chown berthtest "$work/etc"
expect_contains "$(refused_config "directory owned by a user")" "\`$work/etc\` is owned by uid" \
  "directory owner"
chown root "$work/etc"
pass "berth.conf that a user could change is refused as root"

# The same file is the user's own business when the user runs berth: not checked.
chown berthtest "$work/etc/berth.conf"
out=$(runuser -u berthtest -- env BERTH_CONFIG="$work/etc/berth.conf" BERTH_CACHE_DIR=/tmp/berth-trust-user.$$ \
  "$BERTH" cache list 2>&1) ||
  fail "a user's own berth.conf refused for that user: $out"
chown root "$work/etc/berth.conf"
rm -rf /tmp/berth-trust-user.$$
pass "a user's own berth.conf is not checked when the user runs berth"

# Caches. `berth pull` as root into a cache a user can write or owns: refused, nothing written.
pull_refused() {  # WHAT CACHE PATTERN
  local err
  err=$($BERTH -q pull --cache "$2" "$SANDBOX" 2>&1) && fail "$1: pull accepted: $err"
  [[ $(wc -l <<<"$err") -eq 1 ]] || fail "$1: not one line: $err"
  expect_contains "$err" "image cache \`$2\` refused" "$1"
  expect_contains "$err" "$3" "$1"
}
mkdir -p "$work/cache777" && chmod 0777 "$work/cache777"
pull_refused "a world-writable cache" "$work/cache777" "is writable by every user (mode 0777)"
[[ -z $(ls -A "$work/cache777") ]] || fail "the refused cache was written: $(ls -A "$work/cache777")"

mkdir -p "$work/usercache/images" && chown -R berthtest "$work/usercache"
mkdir -m 0700 "$work/rootonly"
# The user's symlink `blobs` points at a directory only root may write.
ln -s "$work/rootonly" "$work/usercache/blobs" && chown -h berthtest "$work/usercache/blobs"
pull_refused "a cache a user owns" "$work/usercache" "is owned by uid $(id -u berthtest)"
[[ -z $(ls -A "$work/rootonly") ]] || fail "root wrote through the user's link: $(ls -A "$work/rootonly")"

# Subdirectories and image files of an otherwise good cache.
out=$($BERTH -q pull --cache "$work/good" "$SANDBOX")
image=$(sed -n 2p <<<"$out")
chmod 0777 "$work/good/images"
pull_refused "a world-writable images/" "$work/good" "\`$work/good/images\` is writable by every user"
chmod 0755 "$work/good/images"
# Run by digest from that cache (berth exec finds it in $BERTH_CACHE_DIR).
digest=$(sed -n 1p <<<"$out")
BERTH_CACHE_DIR=$work/good $BERTH exec "$digest" true || fail "exec from the good cache failed"
chmod 0666 "$image"
err=$(BERTH_CACHE_DIR=$work/good $BERTH exec "$digest" true 2>&1) && fail "writable image file accepted"
expect_contains "$err" "\`$image\` is writable by every user (mode 0666)" "image file mode"
chmod 0644 "$image"
pass "caches a user could change are refused as root, nothing written to them"

# A service account may own the cache when berth.conf names it (root-squashed filesystems).
echo "cache_owner = berthtest" >"$work/etc/owner.conf"
out=$(BERTH_CONFIG=$work/etc/owner.conf $BERTH -q pull --cache "$work/usercache2" "$SANDBOX" 2>&1) ||
  fail "root cannot create a cache below a root dir: $out"
chown -R berthtest "$work/usercache2"
out=$(BERTH_CONFIG=$work/etc/owner.conf $BERTH -q pull --cache "$work/usercache2" "$SANDBOX" 2>&1) ||
  fail "cache_owner's cache refused: $out"
err=$($BERTH -q pull --cache "$work/usercache2" "$SANDBOX" 2>&1) && fail "no cache_owner: accepted"
expect_contains "$err" "is owned by uid $(id -u berthtest)" "without cache_owner"
pass "cache_owner lets root trust a service account's cache"
