#!/usr/bin/env bash
# berth exec --fakeroot: root inside without root outside, in both unprivileged modes (subuid:
# 0 -> the user, 1..65536 -> the user's /etc/subuid range; single: 0 -> the user only, ownership
# calls faked), as root (the identity), and built by root for a user (--as-user: what the Slurm
# plugin does for --container-remap-root). Root inside never reaches what the user could not.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/variants.sh"
cd /tmp

work=$(mktemp -d /tmp/berth-fakeroot.XXXXXX)
chmod 755 "$work"
subid_backup=$work/subid-backup
restore() {
  restore_fuse
  if [[ -f $subid_backup/subuid ]]; then
    cp "$subid_backup/subuid" /etc/subuid
    cp "$subid_backup/subgid" /etc/subgid
  fi
  rm -rf "$work"
}
trap restore EXIT
open_fuse
cp "$IMG" "$work/img.sqsh"
chmod 644 "$work/img.sqsh"
I=$work/img.sqsh
user_uid=$(id -u berthtest)
user_gid=$(id -g berthtest)

# berthtest needs subordinate ids (useradd gives them on Debian; added for the test otherwise).
if ! grep -q '^berthtest:' /etc/subuid 2>/dev/null || ! grep -q '^berthtest:' /etc/subgid 2>/dev/null; then
  mkdir "$subid_backup"
  touch /etc/subuid /etc/subgid
  cp /etc/subuid /etc/subgid "$subid_backup/"
  grep -q '^berthtest:' /etc/subuid || echo "berthtest:300000:65536" >>/etc/subuid
  grep -q '^berthtest:' /etc/subgid || echo "berthtest:300000:65536" >>/etc/subgid
fi
subuid_base=$(awk -F: '$1 == "berthtest" {print $2; exit}' /etc/subuid)
subgid_base=$(awk -F: '$1 == "berthtest" {print $2; exit}' /etc/subgid)

fake() { as_user "$UB" exec --fakeroot "$@"; }

# A directory of the user's, bound in: what root inside makes there belongs to the user outside.
data=$work/data
mkdir "$data"
chown berthtest: "$data"
# Host root's secrets next to it, and a setuid-root program that would read them.
echo secret >"$work/secret"
chmod 600 "$work/secret"
mkdir "$work/suid"
cp /bin/busybox "$work/suid/cat"
chmod 4755 "$work/suid/cat"
ln -s cat "$work/suid/id"

for mode in subuid single; do
  expect_eq "$(fake --userns=$mode "$I" id -u)" 0 "$mode: root inside"
  expect_eq "$(fake --userns=$mode "$I" id -g)" 0 "$mode: root's group inside"
  expect_eq "$(fake --userns=$mode "$I" sh -c 'id -un')" root "$mode: named root (the image's passwd)"
  maps=$(fake --userns=$mode "$I" cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')
  if [[ $mode == subuid ]]; then
    expect_eq "$maps" "0 $user_uid 1
1 $subuid_base 65536" "subuid: the map"
  else
    expect_eq "$maps" "0 $user_uid 1" "single: the map"
  fi

  # Files root makes are the user's outside.
  fake --userns=$mode -B "$data:/data" "$I" sh -c "echo x >/data/$mode-file"
  expect_eq "$(stat -c %u:%g "$data/$mode-file")" "$user_uid:$user_gid" "$mode: root's file outside"
  expect_eq "$(fake --userns=$mode -B "$data:/data" "$I" stat -c %u:%g /data/$mode-file)" "0:0" \
    "$mode: the user's file inside"
  # The image's files are root's inside: a writable container changes them.
  expect_eq "$(fake --userns=$mode --writable-tmpfs "$I" sh -c \
    'echo changed >>/etc/image-marker && echo new >/etc/new-file && cat /etc/new-file')" new \
    "$mode: root writes the image's /etc"
  expect_eq "$(fake --userns=$mode --writable "$I" sh -c 'mkdir /srv/x && stat -c %u /srv/x')" 0 \
    "$mode: --writable is the tmpfs layer for an image"
  set +e
  fake --userns=$mode "$I" sh -c 'echo x >/etc/new-file' 2>/dev/null
  rc=$?
  set -e
  [[ $rc -ne 0 ]] || fail "$mode: the read-only image was written"

  # Root inside is the user outside: host root's files stay out of reach, setuid or not.
  set +e
  out=$(fake --userns=$mode -B "$work:/w" "$I" sh -c \
    'cat /w/secret; /w/suid/cat /w/secret; echo x >>/w/secret; echo end' 2>&1)
  set -e
  expect_contains "$out" "Permission denied" "$mode: host root's file"
  ! grep -qx secret <<<"$out" || fail "$mode: root inside read host root's file: $out"
  expect_eq "$(cat "$work/secret")" secret "$mode: host root's file unchanged"
  expect_eq "$(fake --userns=$mode "$I" sh -c 'grep ^NoNewPrivs: /proc/self/status | tr -d "\t "')" \
    "NoNewPrivs:1" "$mode: no_new_privs"
  expect_eq "$(fake --userns=$mode -B "$work:/w" "$I" /w/suid/id -u)" 0 \
    "$mode: a setuid-root program is only root inside"
done
pass "root inside, the user's files outside, host root out of reach"

# subuid: ownership is exact; an id inside maps to the range, one past it fails.
fake --userns=subuid -B "$data:/data" "$I" sh -c 'touch /data/owned && chown 1000:1000 /data/owned'
expect_eq "$(stat -c %u:%g "$data/owned")" "$((subuid_base + 999)):$((subgid_base + 999))" \
  "subuid: uid 1000 inside is base+999 outside"
expect_eq "$(fake --userns=subuid -B "$data:/data" "$I" stat -c %u:%g /data/owned)" "1000:1000" \
  "subuid: and 1000 inside"
set +e
out=$(fake --userns=subuid -B "$data:/data" "$I" chown 70000 /data/owned 2>&1)
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "subuid: chown past the range succeeded"
expect_contains "$out" "Invalid argument" "subuid: chown past the range"
set +e
fake --userns=subuid -B "$data:/data" "$I" mknod /data/null c 1 3 2>/dev/null
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "subuid: mknod of a device succeeded"
[[ ! -e $data/null ]] || fail "subuid: a device node was made"
pass "subuid: exact ownership within the range"

# single: chown, set*id and device mknod only pretend; files stay root's (the user's outside).
fake --userns=single -B "$data:/data" "$I" sh -c 'touch /data/faked && chown 1000:1000 /data/faked'
expect_eq "$(stat -c %u:%g "$data/faked")" "$user_uid:$user_gid" "single: the faked chown changed nothing"
expect_eq "$(fake --userns=single -B "$data:/data" "$I" sh -c 'mknod /data/null c 1 3 && echo made')" \
  made "single: mknod of a device pretends"
[[ ! -e $data/null ]] || fail "single: a device node was made"
expect_eq "$(fake --userns=single -B "$data:/data" "$I" sh -c 'mkfifo /data/fifo && test -p /data/fifo && echo fifo')" \
  fifo "single: a fifo is made for real"
pass "single: faked ownership calls"

# auto: the user has ranges, so subuid.
expect_eq "$(fake "$I" sh -c 'wc -l </proc/self/uid_map')" 2 "auto picks subuid"
set +e
err=$(fake --userns=bogus "$I" true 2>&1); rc=$?
set -e
[[ $rc -ne 0 ]] || fail "--userns=bogus accepted"
expect_contains "$err" "expected auto, subuid or single" "--userns=bogus"
err=$(as_user "$UB" exec --userns=single "$I" true 2>&1) && fail "--userns without --fakeroot accepted"
expect_contains "$err" "--userns goes with --fakeroot" "--userns alone"
printf 'allow_fakeroot = false\n' >"$work/nofake.conf"
chmod 644 "$work/nofake.conf"
err=$(as_user env BERTH_CONFIG="$work/nofake.conf" "$UB" exec --fakeroot "$I" true 2>&1) \
  && fail "allow_fakeroot = false ignored"
expect_contains "$err" "allow_fakeroot" "site switch"
printf 'build_userns = single\n' >"$work/single.conf"
chmod 644 "$work/single.conf"
expect_eq "$(as_user env BERTH_CONFIG="$work/single.conf" "$UB" exec --fakeroot "$I" sh -c 'wc -l </proc/self/uid_map')" \
  1 "the site's build_userns"
pass "mode choice and site switches"

# Root: --fakeroot is root itself. Root for a user (--as-user): the namespace is the user's.
expect_eq "$("$BERTH" exec --fakeroot "$I" sh -c 'id -u; tr -s " " </proc/self/uid_map | sed "s/^ //"')" \
  "0
0 0 4294967295" "root: the identity"
expect_eq "$("$BERTH" exec --as-user berthtest --fakeroot --userns=single -B "$data:/data" "$I" \
  sh -c 'id -u; echo r >/data/by-root-for-user; tr -s " " </proc/self/uid_map | sed "s/^ //"')" \
  "0
0 $user_uid 1" "root builds it for the user"
expect_eq "$(stat -c %u "$data/by-root-for-user")" "$user_uid" "--as-user: the user's file"
expect_eq "$("$BERTH" exec --as-user berthtest --fakeroot --userns=subuid "$I" sh -c 'wc -l </proc/self/uid_map')" \
  2 "root writes the subuid map itself"
pass "root and --as-user"

sleep 0.3
check_no_leaks
pass "nothing left behind"
