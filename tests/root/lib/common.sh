# Shared set-up for the runtime's root tests: the test image, test users, checks for leaks.
# Source it; it sets IMG (squashfs), SANDBOX (directory), and BERTH.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "root tests need root" >&2
  exit 77
fi
: "${BERTH_BIN:?}" "${BERTH_BUILD_DIR:?}"
BERTH=$BERTH_BIN
IMAGE_DIR=$BERTH_BUILD_DIR/test-images
# -v2: no /.berth/runscript (berth run would run it instead of the Entrypoint).
IMG=$IMAGE_DIR/busybox-v2.sqsh
SANDBOX=$IMAGE_DIR/busybox-v2-rootfs

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
expect_eq() { [[ "$1" == "$2" ]] || fail "$3: expected [$2], got [$1]"; }
expect_contains() { [[ "$1" == *"$2"* ]] || fail "$3: [$1] does not contain [$2]"; }

# The test bed's users.
for u in berthtest berthother; do
  id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
done

# A busybox-static root filesystem with /.berth metadata, squashed once per build directory.
make_test_image() {
  [[ -f $IMG && -d $SANDBOX ]] && return 0
  local lock=$IMAGE_DIR.lock
  mkdir -p "$IMAGE_DIR"
  exec 9>"$lock"
  flock 9
  if [[ -f $IMG && -d $SANDBOX ]]; then exec 9>&-; return 0; fi
  local root=$IMAGE_DIR/rootfs.tmp
  rm -rf "$root"
  mkdir -p "$root"/{bin,etc,proc,sys,dev,tmp,var/tmp,home,root,srv,usr/bin,.berth}
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nimageuser:x:4242:4242::/srv:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nimagegroup:x:4242:\n' >"$root/etc/group"
  echo 'NAME="berth test image"' >"$root/etc/os-release"
  echo "image-only file" >"$root/etc/image-marker"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  ln -s ../../../../../root "$root/escape"   # climbs out of the root
  ln -s /etc "$root/abs-etc"                 # absolute link
  cat >"$root/.berth/config.json" <<'JSON'
{"architecture":"amd64","os":"linux","config":{
 "Env":["PATH=/bin:/usr/bin","IMAGE_VAR=from-image","HOME=/root"],
 "Entrypoint":["/bin/echo","entry"],"Cmd":["default-cmd"],
 "WorkingDir":"/srv","Labels":{"org.example.test":"yes"}}}
JSON
  cat >"$root/.berth/source.json" <<'JSON'
{"reference":"localhost/berth-test:1","digest":"sha256:0123456789abcdef","platform":"linux/amd64","created":"2026-01-01T00:00:00Z","tool":"test"}
JSON
  echo "A test image." >"$root/.berth/help"
  mksquashfs "$root" "$IMG.tmp" -comp zstd -noappend -quiet >/dev/null
  mv "$IMG.tmp" "$IMG"
  rm -rf "$SANDBOX"
  mv "$root" "$SANDBOX"
  exec 9>&-
}

# Fails when a test left a mount of ours or a loop device behind.
check_no_leaks() {
  sleep 0.2
  # Our mounts carry these sources (tmpfs "berth", overlay "berth-root", FUSE "berth-image").
  if grep -E ' - (tmpfs berth|overlay berth-root|fuse\.squashfuse berth-image) ' /proc/self/mountinfo; then
    fail "mounts left behind"
  fi
  if pgrep -x berth-squashfs >/dev/null; then fail "berth's FUSE server left running"; fi
  if pgrep -x squashfuse_ll >/dev/null && pgrep -a -x squashfuse_ll | grep -q /dev/fd/; then
    fail "squashfuse_ll left running"
  fi
  if losetup -a | grep -F "$IMG"; then fail "loop device left attached"; fi
}

make_test_image
