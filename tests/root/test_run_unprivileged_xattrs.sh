#!/usr/bin/env bash
# Extended attributes through berth's own FUSE server (unprivileged mode): an image with xattrs
# shows them inside the container; for an image without any, the server declines xattr
# requests (the kernel then stops asking) and programs see "no attribute", not an error.
source "$(dirname "$0")/lib/common.sh"
command -v mksquashfs >/dev/null || { echo "mksquashfs missing" >&2; exit 77; }
cd /tmp

fuse_mode=$(stat -c %a /dev/fuse)
restore() { chmod "$fuse_mode" /dev/fuse; rm -rf "${work:-}"; }
trap restore EXIT
chmod 0666 /dev/fuse

# /var/tmp: a disk file system (user xattrs on tmpfs depend on the kernel version).
work=$(mktemp -d /var/tmp/berth-xattr.XXXXXX)
chmod 755 "$work"
mkdir "$work/bin"
cc -static -O1 -o "$work/bin/xattr_probe" "$BERTH_SOURCE_DIR/tests/root/xattr_probe.c"
cp "$BERTH" "$work/berth"
chmod 755 "$work/berth" "$work/bin" "$work/bin/xattr_probe"

# The busybox test image plus a file carrying a user xattr.
cp -a "$SANDBOX" "$work/root"
mkdir -p "$work/root/data"
echo payload >"$work/root/data/file"
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.berth", b"from-the-image")' \
  "$work/root/data/file"
mksquashfs "$work/root" "$work/xattrs.sqsh" -quiet -no-progress -all-root >/dev/null
unsquashfs -s "$work/xattrs.sqsh" | grep -q "Number of xattr ids [1-9]" ||
  fail "mksquashfs kept no xattr: the test image is not what this test needs"
cp "$IMG" "$work/plain.sqsh"
chmod 644 "$work/xattrs.sqsh" "$work/plain.sqsh"

probe() {  # probe IMAGE FILE: the container's view of FILE's user.berth
  runuser -u berthtest -- "$work/berth" exec -B "$work/bin:/srv" "$1" /srv/xattr_probe "$2" user.berth
}
expect_eq "$(probe "$work/xattrs.sqsh" /data/file)" from-the-image "xattr of an image file"
expect_eq "$(probe "$work/xattrs.sqsh" /etc/image-marker)" none "file without the xattr"
expect_eq "$(probe "$work/plain.sqsh" /etc/image-marker)" none "image without xattrs"
pass "xattrs through the FUSE server"

sleep 0.3
if pgrep -u berthtest -x berth-squashfs >/dev/null; then fail "berth-squashfs left running"; fi
check_no_leaks
pass "nothing left behind"
