#!/usr/bin/env bash
# berth exec as an ordinary user: user namespace, the image served over FUSE by berth itself
# (libsquashfuse) or by the program berth.conf names (squashfuse_ll), the same mount plan.
# /dev/fuse is 0600 on the test machines: opened up for the test and restored after.
source "$(dirname "$0")/lib/common.sh"
cd /tmp

fuse_mode=$(stat -c %a /dev/fuse)
restore() { chmod "$fuse_mode" /dev/fuse; rm -rf "${work:-}"; }
trap restore EXIT
chmod 0666 /dev/fuse

# The user must be able to reach the image and the berth binary.
work=$(mktemp -d /tmp/berth-unpriv.XXXXXX)
chmod 755 "$work"
cp "$IMG" "$work/img.sqsh"
cp "$BERTH" "$work/berth"
chmod 755 "$work/berth"
chmod 644 "$work/img.sqsh"
as_user() { runuser -u berthtest -- "$@"; }
B=$work/berth
I=$work/img.sqsh

expect_eq "$(as_user "$B" exec "$I" cat /etc/image-marker)" "image-only file" "image file"
expect_eq "$(as_user "$B" exec "$I" id -un)" berthtest "runs as the user"
expect_eq "$(as_user "$B" exec "$I" sh -c 'grep -c "^berthtest:" /etc/passwd')" 1 "passwd entry"
served_by() { as_user env "$@" "$B" exec "$I" sh -c 'cat /proc/[0-9]*/comm 2>/dev/null | grep -xE "berth-squashfs|squashfuse_ll"'; }
expect_eq "$(served_by)" berth-squashfs "image served by berth's own FUSE server"
# A corrupt image: one line naming the problem, nothing mounted (checked at the end).
head -c 4096 /dev/urandom >"$work/bad.sqsh"; chmod 644 "$work/bad.sqsh"
set +e
err=$(as_user "$B" exec "$work/bad.sqsh" true 2>&1); rc=$?
set -e
[[ $rc -ne 0 ]] || fail "a corrupt image ran"
expect_eq "$(printf '%s\n' "$err" | wc -l)" 1 "one error line for a corrupt image: $err"
expect_contains "$err" "not a squashfs image" "corrupt image"
# The site may name its own server program instead (berth.conf `squashfuse`).
printf 'squashfuse = %s\n' "$(command -v squashfuse_ll)" >"$work/berth.conf"
chmod 644 "$work/berth.conf"
expect_eq "$(served_by BERTH_CONFIG="$work/berth.conf")" squashfuse_ll "image served by squashfuse_ll"
expect_eq "$(as_user env BERTH_CONFIG="$work/berth.conf" "$B" exec "$I" cat /etc/image-marker)" \
  "image-only file" "image file through squashfuse_ll"
expect_eq "$(cd /tmp && as_user "$B" exec "$I" sh -c 'ls /tmp | grep -c "^upper$"')" 0 \
  "host /tmp, not the staging area"
expect_eq "$(as_user "$B" exec "$I" sh -c 'test -e /etc/debian_version && echo host || echo none')" \
  none "host files hidden"
set +e
as_user "$B" exec "$I" sh -c 'exit 7'; rc=$?
expect_eq $rc 7 "exit code"
err=$(as_user "$B" exec "$I" sh -c 'echo x >/etc/x' 2>&1); rc=$?
[[ $rc -ne 0 ]] || fail "write to the read-only image succeeded"
err=$(as_user "$B" exec -B /root:/mnt "$I" true 2>&1); rc=$?
set -e
[[ $rc -ne 0 ]] || fail "berthtest could bind /root"
expect_contains "$err" "source \`/root\`: Permission denied" "bind /root as berthtest"
mkdir "$work/data"; echo d >"$work/data/f"; chown -R berthtest "$work/data"
expect_eq "$(as_user "$B" exec -B "$work/data:/srv" "$I" sh -c 'cat /srv/f; echo w >/srv/g; cat /srv/g')" \
  "d
w" "rw bind"
expect_eq "$(as_user "$B" exec --writable-tmpfs "$I" sh -c '(echo t >/srv/x) 2>/dev/null; echo ok')" ok \
  "writable overlay starts"
expect_eq "$(as_user "$B" exec --sandbox "$SANDBOX" cat /etc/image-marker)" "image-only file" "sandbox"
pass "unprivileged exec"

# No FUSE server or mount left behind by the user's runs.
sleep 0.3
if pgrep -u berthtest -x squashfuse_ll >/dev/null; then fail "squashfuse_ll left running"; fi
if pgrep -u berthtest -x berth-squashfs >/dev/null; then fail "berth-squashfs left running"; fi
check_no_leaks
pass "nothing left behind"
