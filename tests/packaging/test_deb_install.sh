#!/usr/bin/env bash
# The .deb as a site installs it: `cpack -G DEB` from the build, its control data (Depends that
# apt can satisfy here, berth.conf a conffile), `dpkg --root` into an empty scratch root (the
# exact file list; the .rpm's too where rpmbuild is installed), then the test cluster restarted
# with the INSTALLED spank_berth.so and the installed berth.conf, and one
# `srun --container-image` step on each node. The cluster is given back with the build's
# plugin at exit, as scripts/testbed started it.
source "$(dirname "$0")/../integration/lib.sh"

build=${BERTH_BUILD_DIR:-$BERTH_TOP/build}
[ -f "$build/CPackConfig.cmake" ] || fail "$build/CPackConfig.cmake missing: configure the build"
command -v help2man >/dev/null || skip "help2man not installed: the package would lack man pages"

# Under the build directory: berth (as root) refuses a berth.conf below a directory others may
# write, like /tmp. World-readable: srun loads the plugin as the test user.
work=$(mktemp -d "$build/deb-install-test.XXXXXX")
chmod 0755 "$work"
insecure=$BERTH_TEST_REGISTRY,$BERTH_TEST_AUTH_REGISTRY
restore_cluster() {
  # The plugstack arguments scripts/testbed start gives, with the build's plugin.
  BERTH_PLUGSTACK_ARGS="insecure_registries=$insecure image_cache=$BERTH_TEST_SITE_CACHE" \
    "$BERTH_TOP/scripts/cluster" start >"$work/restore.log" 2>&1 ||
    { cat "$work/restore.log" >&2; echo "FAIL: could not restart the cluster with $BERTH_PLUGIN" >&2; }
}
cleanup() {
  local rc=$?
  [ "${cluster_changed:-0}" = 0 ] || restore_cluster
  rm -rf "$work"
  _berth_cleanup
  exit $rc
}
trap cleanup EXIT

# 1. The package (cpack first builds whatever of the build is not up to date).
t0=$SECONDS
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; fail "cpack -G DEB failed"; }
debs=("$work"/pkg/berth_*_amd64.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "no single berth_*_amd64.deb: $(ls "$work/pkg")"
deb=${debs[0]}
echo "cpack -G DEB: $((SECONDS - t0)) s"
version=$("$BERTH_BIN" --version | awk '{print $2}')
assert_eq "$(dpkg-deb -f "$deb" Package)" berth "Package"
assert_eq "$(dpkg-deb -f "$deb" Version)" "$version" "Version"
depends=$(dpkg-deb -f "$deb" Depends)
# Linked (found by dpkg-shlibdeps) and opened at run time (listed by hand).
for lib in libc6 libstdc++6 libfmt9 libsquashfs1 libcurl4 libssl3 libarchive13; do
  assert_contains "$depends" "$lib" "Depends"
done
assert_contains "$(dpkg-deb -f "$deb" Recommends)" libsquashfuse0 "Recommends"
assert_eq "$(dpkg-deb --info "$deb" conffiles)" /etc/berth/berth.conf "conffiles"
# apt can install it here: every dependency resolves (simulated, nothing changes).
sim=$(apt-get install -s --no-install-recommends "$deb" 2>&1) || fail "apt-get install -s failed: $sim"
assert_contains "$sim" "Inst berth " "apt-get install -s"
assert_not_contains "$sim" "Broken" "apt-get install -s"

# 2. Installed into an empty root: dpkg's own database there, nothing else (so the
# dependencies, checked above, are not installed in it).
root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
dpkg --root="$root" --force-depends --force-not-root -i "$deb" >"$work/dpkg.log" 2>&1 ||
  { cat "$work/dpkg.log" >&2; fail "dpkg -i failed"; }
status=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status} ${Conffiles}' berth)
assert_contains "$status" "install ok installed" "dpkg status"
assert_contains "$status" "/etc/berth/berth.conf" "dpkg conffiles"
plugin_dir=/usr/lib/x86_64-linux-gnu/slurm-wlm
files=$(cd "$root" && find . -type f ! -path './var/lib/dpkg/*' | sed 's|^\.||' | sort)
expected=$( {
  printf '%s\n' /usr/bin/berth "$plugin_dir/spank_berth.so" /etc/berth/berth.conf \
    /usr/share/berth/plugstack.conf /usr/share/bash-completion/completions/berth
  # One man page for berth and each subcommand (of berth and of berth cache).
  echo /usr/share/man/man1/berth.1.gz
  for sub in $("$BERTH_BIN" --help | sed -n '/^Subcommands:$/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
    echo "/usr/share/man/man1/berth-$sub.1.gz"
    for subsub in $("$BERTH_BIN" "$sub" --help | sed -n '/^Subcommands:$/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
      echo "/usr/share/man/man1/berth-$sub-$subsub.1.gz"
    done
  done
} | sort)
assert_eq "$files" "$expected" "files installed by the .deb"
assert_eq "$(stat -c '%a %U' "$root/usr/bin/berth" "$root/etc/berth/berth.conf" "$root$plugin_dir/spank_berth.so" | paste -sd ' ')" \
  "755 root 644 root 644 root" "modes and owners"
# Stripped: no debug sections in what is shipped.
! readelf -S "$root/usr/bin/berth" | grep -q '\.debug_info' || fail "/usr/bin/berth is not stripped"
assert_eq "$("$root/usr/bin/berth" --version)" "berth $version" "installed berth --version"
cmp -s "$root/etc/berth/berth.conf" "$BERTH_TOP/slurm_conf_examples/berth.conf" ||
  fail "installed berth.conf differs from slurm_conf_examples/berth.conf"
assert_eq "$(grep -v '^#' "$root/usr/share/berth/plugstack.conf" | grep .)" \
  "required $plugin_dir/spank_berth.so" "plugstack.conf snippet"

# The RPM from the same build (where rpmbuild is installed): the same files; berth.conf its only
# %config file (cpack would mark every absolute path %config, the plugin included).
if command -v rpmbuild >/dev/null; then
  cpack --config "$build/CPackConfig.cmake" -G RPM -B "$work/rpm" >"$work/cpack-rpm.log" 2>&1 ||
    { cat "$work/cpack-rpm.log" >&2; fail "cpack -G RPM failed"; }
  rpm=$(echo "$work"/rpm/berth-"$version"-1.x86_64.rpm)
  [ -f "$rpm" ] || fail "no $rpm: $(ls "$work/rpm")"
  assert_eq "$(rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm" | awk '$1 ~ /^-/ {print $2}' | sort)" \
    "$expected" "files of the .rpm"
  assert_eq "$(rpm -qp --configfiles "$rpm")" /etc/berth/berth.conf "%config files of the .rpm"
  assert_contains "$(rpm -qpR "$rpm")" "libcurl.so.4()(64bit)" "Requires of the .rpm"
fi

# 3. The cluster with the installed plugin and the installed (all-defaults) berth.conf; the test
# bed's registries and site cache as plugstack.conf arguments.
plugin=$root$plugin_dir/spank_berth.so
t0=$SECONDS
cluster_changed=1
BERTH_PLUGIN=$plugin \
  BERTH_PLUGSTACK_ARGS="config=$root/etc/berth/berth.conf insecure_registries=$insecure image_cache=$BERTH_TEST_SITE_CACHE" \
  "$BERTH_TOP/scripts/cluster" start >"$work/cluster.log" 2>&1 ||
  { cat "$work/cluster.log" >&2; fail "the cluster did not start with the installed plugin"; }
assert_contains "$(cat "$(dirname "$SLURM_CONF")/plugstack.conf")" "required $plugin config=$root/etc/berth/berth.conf" \
  "the cluster's plugstack.conf"
help=$(as_user srun --help 2>&1) || fail "srun --help failed: $help"
assert_contains "$help" "--container-image" "srun --help with the installed plugin"
out=$(as_user srun -N2 -n2 --ntasks-per-node=1 --container-image="$BERTH_TEST_REGISTRY/tiny:latest" \
  sh -c 'echo "$(hostname) $BERTH_IMAGE"; grep PRETTY_NAME /etc/os-release' 2>&1) ||
  fail "srun --container-image with the installed plugin failed: $out"
assert_contains "$out" "node1 tiny"
assert_contains "$out" "node2 tiny"
assert_eq "$(grep -c 'PRETTY_NAME="berth tiny (busybox)"' <<<"$out")" 2 "os-release of the image on both nodes"
assert_nodes_idle
echo "cluster with the installed plugin, srun: $((SECONDS - t0)) s"
echo "PASS: $(basename "$deb") ($(stat -c %s "$deb") bytes) installs and runs the cluster"
