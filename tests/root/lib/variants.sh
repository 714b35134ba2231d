# Variants of the test image for one test: a copy of the busybox root changed by a function,
# squashed into the test's work directory. Source after common.sh; needs $work (mode 755, so
# the unprivileged test user can reach it).

# make_variant NAME FUNCTION: runs FUNCTION ROOT on a copy of the test image's root, then
# prints the path of NAME.sqsh (readable by everyone).
make_variant() {
  local name=$1 change=$2 root=$work/$1.root
  rm -rf "$root"
  cp -a "$SANDBOX" "$root"
  "$change" "$root"
  mksquashfs "$root" "$work/$name.sqsh" -comp zstd -noappend -quiet >/dev/null
  chmod 644 "$work/$name.sqsh"
  rm -rf "$root"
  echo "$work/$name.sqsh"
}

# Unprivileged runs: /dev/fuse opened up for the test (0600 on the test machines) and restored
# by the EXIT trap the caller sets with restore_fuse; berth copied where the user can run it.
open_fuse() {
  fuse_mode=$(stat -c %a /dev/fuse)
  chmod 0666 /dev/fuse
  cp "$BERTH" "$work/berth"
  chmod 755 "$work/berth"
  UB=$work/berth
}
restore_fuse() { [[ -z ${fuse_mode:-} ]] || chmod "$fuse_mode" /dev/fuse; }
as_user() { runuser -u berthtest -- "$@"; }
