#!/usr/bin/env bash
# Package installs as root inside a container, as an ordinary user, offline, in both
# unprivileged identity modes: `berth exec --writable --fakeroot IMG dpkg -i x.deb` and
# `apt-get install` from a local file: repository, on the Debian test image (debian-mpi,
# converted once per build directory). subuid: a postinst's chown is exact and apt really
# drops to _apt; single: chown pretends and apt is told not to drop (the scaffold's setting).
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/variants.sh"
cd /tmp

images_env=${BERTH_TEST_IMAGE_CACHE:-/var/cache/berth-test-images}/current/images.env
if [[ ! -f $images_env && -n ${BERTH_SOURCE_DIR:-} ]]; then
  "$BERTH_SOURCE_DIR/scripts/test-images" --build-only >&2 || true
fi
[[ -f $images_env ]] || { echo "no test images (scripts/test-images --build-only)" >&2; exit 77; }
source "$images_env"
layout=${BERTH_TEST_IMAGE_DEBIAN_MPI:-}
[[ -f $layout/index.json ]] || { echo "no debian-mpi test image" >&2; exit 77; }
command -v dpkg-deb >/dev/null && command -v dpkg-scanpackages >/dev/null \
  || { echo "dpkg-deb or dpkg-scanpackages missing (dpkg-dev)" >&2; exit 77; }

# The Debian image as squashfs, once per build directory and layout.
key=$(sha256sum "$layout/index.json" | cut -c1-16)
DEB_IMG=$IMAGE_DIR/debian-$key.sqsh
if [[ ! -f $DEB_IMG ]]; then
  exec 8>"$IMAGE_DIR.debian.lock"
  flock 8
  if [[ ! -f $DEB_IMG ]]; then
    "$BERTH" -q pull -o "$DEB_IMG.tmp" "oci:$layout:latest" >/dev/null
    mv "$DEB_IMG.tmp" "$DEB_IMG"
  fi
  exec 8>&-
fi

work=$(mktemp -d /tmp/berth-fakeroot-dpkg.XXXXXX)
chmod 755 "$work"
trap 'restore_fuse; rm -rf "$work"' EXIT
open_fuse
cp "$DEB_IMG" "$work/debian.sqsh"
chmod 644 "$work/debian.sqsh"
I=$work/debian.sqsh
grep -q '^berthtest:' /etc/subuid && grep -q '^berthtest:' /etc/subgid \
  || { echo "berthtest has no subordinate ids" >&2; exit 77; }

# Two tiny packages: berth-hello (a postinst that chowns and adds a system user) for dpkg -i,
# berth-hello2 in a local repository for apt-get.
make_deb() {  # make_deb NAME OUTPUT [POSTINST]
  local name=$1 pkg=$work/$1.pkg
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/$name"
  printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: berth tests <t@example.org>\nDescription: berth test package\n' \
    "$name" >"$pkg/DEBIAN/control"
  if [[ -n ${3:-} ]]; then
    printf '%s\n' "$3" >"$pkg/DEBIAN/postinst"
    chmod 755 "$pkg/DEBIAN/postinst"
  fi
  printf '#!/bin/sh\necho "hello from %s"\n' "$name" >"$pkg/usr/bin/$name"
  chmod 755 "$pkg/usr/bin/$name"
  echo data >"$pkg/usr/share/$name/owned"
  dpkg-deb --root-owner-group --build "$pkg" "$2" >/dev/null
  rm -rf "$pkg"
}
make_deb berth-hello "$work/berth-hello_1.0_all.deb" '#!/bin/sh
set -e
chown 1:1 /usr/share/berth-hello/owned'
# A package that adds a system user: useradd rewrites /etc/shadow and /etc/gshadow, files of
# group shadow (subuid maps the group; single gets root-owned copies in the scaffold).
make_deb berth-user "$work/berth-user_1.0_all.deb" '#!/bin/sh
set -e
useradd --system --no-create-home --shell /usr/sbin/nologin berthsvc'
mkdir "$work/repo"
make_deb berth-hello2 "$work/repo/berth-hello2_1.0_all.deb"
(cd "$work/repo" && dpkg-scanpackages . /dev/null >Packages 2>/dev/null)
chmod -R a+rX "$work"

install_script='set -e
dpkg -i /w/berth-hello_1.0_all.deb >/dev/null
berth-hello
stat -c "owned %u:%g" /usr/share/berth-hello/owned
rm -rf /etc/apt/sources.list /etc/apt/sources.list.d/*
echo "deb [trusted=yes] file:/w/repo ./" >/etc/apt/sources.list
apt-get -qq update
apt-get -qq install -y berth-hello2 >/dev/null
berth-hello2
echo "sandbox user: $(apt-config dump APT::Sandbox::User | cut -d\" -f2)"'

for mode in subuid single; do
  out=$(as_user "$UB" exec --writable --fakeroot --userns=$mode -B "$work:/w" "$I" \
    sh -c "$install_script" 2>&1) || fail "$mode: install failed: $out"
  echo "$out" | sed "s/^/  $mode: /"
  expect_contains "$out" "hello from berth-hello" "$mode: dpkg -i, then the program runs"
  expect_contains "$out" "hello from berth-hello2" "$mode: apt-get install from a local repository"
  [[ $out != *"Permission denied"* && $out != *"failed"* ]] || fail "$mode: apt or dpkg complained"
  expect_eq "$(as_user "$UB" exec --writable --fakeroot --userns=$mode -B "$work:/w" "$I" \
    sh -c 'dpkg -i /w/berth-user_1.0_all.deb >/dev/null && getent passwd berthsvc | cut -d: -f1')" \
    berthsvc "$mode: a postinst adds a system user (the image's passwd and shadow, writable)"
  if [[ $mode == subuid ]]; then
    expect_contains "$out" "owned 1:1" "subuid: the postinst's chown is exact"
    expect_contains "$out" "sandbox user: _apt" "subuid: apt drops to _apt for real"
  else
    expect_contains "$out" "owned 0:0" "single: the postinst's chown pretends"
    expect_contains "$out" "sandbox user: root" "single: apt keeps root (scaffold setting)"
  fi
  # The changes lived in the container's own layer: the image is as it was.
  expect_eq "$(as_user "$UB" exec --fakeroot --userns=$mode "$I" sh -c 'command -v berth-hello || echo none')" \
    none "$mode: the image is unchanged"
  pass "$mode: dpkg -i and apt-get install as root inside"
done
# The apt setting is in the scaffold only where apt is, and only in the single mode.
expect_eq "$(as_user "$UB" exec --fakeroot --userns=subuid "$I" sh -c 'ls /etc/apt/apt.conf.d/ | grep -c berth || true')" \
  0 "subuid: no scaffold setting"
check_no_leaks
pass "nothing left behind"
