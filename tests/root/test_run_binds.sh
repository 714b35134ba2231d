#!/usr/bin/env bash
# Binds and writable images: overlay writes vanish, read-only binds refuse writes, bind sources
# are checked with the user's permissions, destinations cannot escape the image.
source "$(dirname "$0")/lib/common.sh"
cd /tmp
work=$(mktemp -d /tmp/berth-binds.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# A read-only image refuses writes; --writable-tmpfs takes them, and they vanish at exit.
set +e
err=$($BERTH exec "$IMG" sh -c 'echo x >/etc/new' 2>&1); rc=$?
set -e
[[ $rc -ne 0 ]] || fail "write to a read-only image succeeded"
expect_contains "$err" "Read-only file system" "read-only image"
expect_eq "$($BERTH exec --writable-tmpfs "$IMG" sh -c 'echo x >/etc/new && cat /etc/new')" x \
  "writable overlay"
expect_eq "$($BERTH exec --writable-tmpfs "$IMG" sh -c 'test -e /etc/new && echo kept || echo gone')" \
  gone "overlay changes vanish"
expect_eq "$($BERTH exec -w --overlay-size 1m "$IMG" sh -c \
  'dd if=/dev/zero of=/big bs=1M count=4 2>&1 | grep -c "No space"')" 1 "overlay size"
pass "writable images"

# Binds: rw reaches the host, ro refuses writes, nosuid/nodev everywhere.
mkdir -p "$work/data"
echo host-data >"$work/data/in"
expect_eq "$($BERTH exec -B "$work/data:/etc/data" "$IMG" cat /etc/data/in)" host-data \
  "missing destination in a read-only image (made in the container's layer: test_run_mount_points)"
expect_eq "$($BERTH exec -w -B "$work/data:/mnt/data" "$IMG" sh -c 'cat /mnt/data/in; echo out >/mnt/data/out')" \
  host-data "rw bind (destination created in the overlay)"
expect_eq "$(cat "$work/data/out")" out "rw bind writes reach the host"
set +e
err=$($BERTH exec -B "$work/data:/srv:ro" "$IMG" sh -c 'echo x >/srv/nope' 2>&1); rc=$?
set -e
[[ $rc -ne 0 && ! -e $work/data/nope ]] || fail "write to a read-only bind succeeded"
expect_contains "$err" "Read-only file system" "ro bind"
opts=$($BERTH exec -B "$work/data:/srv" "$IMG" sh -c "grep ' /srv ' /proc/self/mountinfo")
expect_contains "$opts" "nosuid,nodev" "binds are nosuid,nodev"
expect_eq "$($BERTH exec -B "$work/data/in:/etc/image-marker" "$IMG" cat /etc/image-marker)" \
  host-data "file bind over an image file"
pass "binds"

# Bind sources are checked as the user (root acting for berthtest, as slurmstepd does).
mkdir -p "$work/other"
chown berthother "$work/other"
chmod 0700 "$work/other"
expect_eq "$($BERTH exec --as-user berthtest "$IMG" id -un)" berthtest "--as-user runs as the user"
for source in /root "$work/other"; do
  set +e
  err=$($BERTH exec --as-user berthtest -w -B "$source:/mnt/x" "$IMG" ls /mnt/x 2>&1); rc=$?
  set -e
  [[ $rc -ne 0 ]] || fail "berthtest could bind $source"
  expect_contains "$err" "source \`$source\`: Permission denied" "bind $source as berthtest"
done
set +e
err=$($BERTH exec -B /nonexistent/dir:/mnt "$IMG" true 2>&1); rc=$?
set -e
[[ $rc -ne 0 ]] || fail "missing bind source accepted"
expect_contains "$err" "source \`/nonexistent/dir\`: No such file or directory" "missing source"
expect_eq "$($BERTH exec --as-user berthtest -w -B "$work/data:/mnt/x" "$IMG" cat /mnt/x/in)" \
  host-data "berthtest binds a readable directory"
pass "bind sources checked as the user"

# Destinations resolve inside the image: a symlink climbing out is refused, and nothing of
# the host is touched.
set +e
err=$($BERTH exec -w -B "$work/data:/escape/x" "$IMG" true 2>&1); rc=$?
set -e
[[ $rc -ne 0 ]] || fail "destination through an escaping symlink accepted"
expect_contains "$err" "goes through a symlink leading out of the image" "escaping symlink"
[[ ! -e /root/x ]] || fail "host /root/x was created"
[[ $(printf '%s\n' "$err" | wc -l) -eq 1 ]] || fail "more than one line: $err"
# Mount points are never created on a host directory bound earlier (the host's /tmp).
set +e
err=$($BERTH exec -w -B "$work/data:/tmp/berth-nohost.$$/x" "$IMG" true 2>&1); rc=$?
set -e
[[ $rc -ne 0 && ! -e /tmp/berth-nohost.$$ ]] || fail "mount point created in the host's /tmp"
expect_contains "$err" "\`/tmp\` is not part of the image" "no mount point on host dirs"
expect_eq "$($BERTH exec -c -w -B "$work/data:/tmp/a/b" "$IMG" cat /tmp/a/b/in)" host-data \
  "mount point created in a private tmpfs"
# System mounts through absolute links stay inside the image too.
expect_eq "$($BERTH exec "$IMG" readlink /abs-etc)" "/etc" "absolute link kept"
pass "destinations stay inside the image"

# Home: bound by default (created in the overlay when missing), --no-home turns it off.
home=$(getent passwd berthtest | cut -d: -f6)
echo home-file >"$home/berth-home-marker"
chown berthtest "$home/berth-home-marker"
expect_eq "$($BERTH exec --as-user berthtest "$IMG" sh -c 'cat $HOME/berth-home-marker; whoami')" \
  "home-file
berthtest" "home bound, passwd entry"
expect_eq "$($BERTH exec --as-user berthtest --no-home "$IMG" sh -c "test -e $home/berth-home-marker && echo yes || echo no")" \
  no "--no-home"
rm -f "$home/berth-home-marker"
pass "home"

check_no_leaks
pass "no mounts or loop devices left"
