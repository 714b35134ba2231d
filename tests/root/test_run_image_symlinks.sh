#!/usr/bin/env bash
# Images whose /etc/resolv.conf, /etc/hosts, /etc/passwd or /etc/group are symlinks (systemd
# images: /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf) run, as root and as an
# ordinary user: the host's file lands on the link's target inside the image, made in the
# writable layer when missing. A link leaving the image, or going through /proc, is refused
# with a message naming it.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/variants.sh"
cd /tmp
work=$(mktemp -d /tmp/berth-links.XXXXXX)
chmod 755 "$work"
trap 'restore_fuse; rm -rf "$work"' EXIT

inside_links() {
  # Relative, dangling, its directories missing (systemd's resolv.conf).
  ln -sf ../run/systemd/resolve/stub-resolv.conf "$1/etc/resolv.conf"
  # Absolute, to a file of the image.
  echo "image hosts" >"$1/etc/hosts.real"
  ln -sf /etc/hosts.real "$1/etc/hosts"
  # Absolute, dangling, its directory missing.
  mv "$1/etc/passwd" "$1/etc/passwd.orig"
  ln -sf /usr/lib/userdb/passwd "$1/etc/passwd"
  # Relative, to a file of the image through a directory symlink.
  mkdir -p "$1/usr/share/base"
  mv "$1/etc/group" "$1/usr/share/base/group"
  ln -s usr/share/base "$1/base"
  ln -sf ../base/group "$1/etc/group"
}
leaving_link() { ln -sf ../../../../../../host-group "$1/etc/group"; }
proc_link() { ln -sf /proc/self/fd/0 "$1/etc/hosts"; }
inside=$(make_variant inside inside_links)
leaving=$(make_variant leaving leaving_link)
proc=$(make_variant proc proc_link)
open_fuse

# What the container sees, one item a line.
show='cat /etc/resolv.conf; cat /etc/hosts; cat /etc/hosts.real;
  test -f /run/systemd/resolve/stub-resolv.conf && echo made-in-layer;
  grep -c "^$(id -un):" /etc/passwd; grep -c "^imagegroup:" /etc/group; readlink /etc/resolv.conf'
expected="$(cat /etc/resolv.conf)
$(cat /etc/hosts)
$(cat /etc/hosts)
made-in-layer
1
1
../run/systemd/resolve/stub-resolv.conf"
expect_eq "$($BERTH exec "$inside" sh -c "$show")" "$expected" "root: links inside the image"
expect_eq "$(as_user "$UB" exec "$inside" sh -c "$show")" "$expected" \
  "unprivileged: links inside the image"
pass "host files reach the container through the image's symlinks"

# refused IMAGE TEXT: as root and as the user, berth fails with one line containing TEXT.
refused() {
  local image=$1 text=$2 err rc
  for run in "$BERTH" "as_user $UB"; do
    set +e
    err=$($run exec "$image" true 2>&1); rc=$?
    set -e
    [[ $rc -ne 0 ]] || fail "$run: $image ran"
    expect_eq "$(printf '%s\n' "$err" | wc -l)" 1 "one line: $err"
    expect_contains "$err" "$text" "$run: $image"
  done
}
refused "$leaving" "\`/etc/group\` is a symlink to \`../../../../../../host-group\`, which leads out of the image"
refused "$proc" "\`/etc/hosts\` is a symlink to \`/proc/self/fd/0\`, which goes through the kernel's /proc"
pass "links leaving the image are refused, naming the link"
check_no_leaks
