#!/usr/bin/env bash
# Sandboxes (issue 13 §5): berth exec|shell|run [--writable] [--fakeroot] DIR runs a directory
# tree as the container's root, read-only unless --writable changes it in place; berth build
# IMG.sqsh DIR (and -t REF DIR) makes an image of it; its owner can always rm -rf it. The round
# trip as an unprivileged user: exec --writable --fakeroot adds a program (and a 0555 directory
# with files) -> build -> the program runs from the image -> rm -rf as the owner. Then as root.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/variants.sh"
cd /tmp

work=$(mktemp -d /tmp/berth-sandbox.XXXXXX)
chmod 755 "$work"
trap 'restore_fuse; rm -rf "$work"' EXIT
open_fuse
export BERTH_CACHE_DIR=$work/cache
user_uid=$(id -u berthtest)

mkdir "$work/cache" "$work/out"
chown berthtest: "$work/cache" "$work/out"
sb=$work/out/sb  # in a directory of the user's: its owner may remove it
cp -a "$SANDBOX" "$sb"
rm -rf "$sb/home"  # no mount point for the user's home: it is skipped, never made in the sandbox
chown -R berthtest: "$sb"
u() { as_user "$UB" "$@"; }

# Read-only unless --writable; --writable-tmpfs changes nothing in the directory.
err=$(u exec "$sb" sh -c 'echo x >/srv/new' 2>&1 || true)
expect_contains "$err" "Read-only file system" "read-only by default"
u exec --writable-tmpfs "$sb" sh -c 'echo x >/srv/new'
[[ ! -e $sb/srv/new ]] || fail "--writable-tmpfs wrote into the sandbox"
pass "read-only unless --writable"

# --writable as the user: changes land in the directory, as the user's files.
u exec --writable "$sb" sh -c 'echo kept >/srv/note'
expect_eq "$(cat "$sb/srv/note")" kept "--writable keeps the change"
expect_eq "$(stat -c %u "$sb/srv/note")" "$user_uid" "--writable: the user's file"
[[ ! -e $sb/home ]] || fail "mount point made in the sandbox"
err=$(u exec --writable -B "$work:/data/x" "$sb" true 2>&1 || true)
expect_contains "$err" "destination \`/data/x\` does not exist in the sandbox (make it first)" \
  "a bind's missing destination"
[[ ! -e $sb/data ]] || fail "bind destination made in the sandbox"
pass "--writable as the user"

# --fakeroot: root inside, your own ids only (subuid is refused for a sandbox changed in place).
err=$(u exec --writable --fakeroot --userns=subuid "$sb" true 2>&1 || true)
expect_contains "$err" "a sandbox changed in place uses --userns=single" "--userns=subuid refused"
out=$(u exec --writable --fakeroot "$sb" sh -c '
  printf "#!/bin/sh\necho hello from the sandbox\n" >/usr/bin/hello && chmod 755 /usr/bin/hello &&
  mkdir -p /opt/ro/sub && echo f >/opt/ro/sub/file && chown 123:456 /opt/ro/sub/file &&
  chmod 0555 /opt/ro/sub /opt/ro && id -u')
expect_eq "$out" 0 "--fakeroot: root inside"
expect_eq "$(stat -c %u "$sb/usr/bin/hello")" "$user_uid" "--fakeroot: root's file is the user's outside"
expect_eq "$(stat -c %u "$sb/opt/ro/sub/file")" "$user_uid" "--fakeroot: chown only pretends"
expect_eq "$(stat -c %a "$sb/opt/ro/sub")" 755 "the 0555 directory is the owner's to change again"
expect_eq "$(u exec "$sb" hello)" "hello from the sandbox" "the program runs from the sandbox"
pass "exec --writable --fakeroot"

# The sandbox into an image, a file and a name in the cache; the program runs from both.
u build "$work/out/sb.sqsh" "$sb" >"$work/build.out"
expect_eq "$(head -c 4 "$work/out/sb.sqsh")" hsqs "build IMG.sqsh DIR: a squashfs image"
expect_eq "$(u run --entrypoint hello "$work/out/sb.sqsh")" "hello from the sandbox" "the image runs the program"
expect_eq "$(u exec "$work/out/sb.sqsh" cat /srv/note)" kept "the image holds the sandbox's change"
u build -t localhost/sandboxed:1 "$sb" >/dev/null
expect_eq "$(u exec localhost/sandboxed:1 hello)" "hello from the sandbox" "build -t REF DIR: runs by name"
err=$(u build "$work/out/x.sqsh" "$work/missing" 2>&1 || true)
expect_contains "$err" "missing\`: No such file or directory" "build from a missing directory"
pass "build from a sandbox"

# Its owner removes it, with no help.
as_user rm -rf "$sb"
[[ ! -e $sb ]] || fail "the owner could not remove the sandbox"
pass "rm -rf by the owner"

# As root: --writable changes root's sandbox in place; --fakeroot is root itself.
rsb=$work/rsb
cp -a "$SANDBOX" "$rsb"
$BERTH exec --writable --fakeroot "$rsb" sh -c 'echo root >/srv/root-note && chown 4242 /srv/root-note'
expect_eq "$(stat -c %u "$rsb/srv/root-note")" 4242 "root: real ownership"
expect_eq "$($BERTH shell --writable "$rsb" -c 'cat /srv/root-note')" root "shell --writable DIR"
BERTH_CACHE_DIR=$work/rcache $BERTH build "$work/rsb.sqsh" "$rsb" >/dev/null
expect_eq "$($BERTH exec "$work/rsb.sqsh" stat -c %u /srv/root-note)" 4242 "root's image keeps owners"
rm -rf "$rsb"
pass "as root"

check_no_leaks
pass "no mounts or loop devices left"
