#!/usr/bin/env bash
# `berth exec REF` as root provides the image as srun does (cache::provideImage): into
# berth.conf's image_cache, through its registry mirrors, over plain HTTP only to the
# registries it names insecure; nothing from the caller's BERTH_* variables.
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /var/tmp/berth-exec-site.XXXXXX)
trap 'rm -rf "$work"; _berth_cleanup' EXIT
chmod 755 "$work"
REG=$BERTH_TEST_REGISTRY
cat >"$work/berth.conf" <<CONF
image_cache = $work/cache
insecure_registries = $REG
registry_mirrors = mirror-only.invalid=$REG
CONF
: >"$work/empty.conf"

berth_exec() { # berth.conf only: no BERTH_CACHE_DIR, no BERTH_INSECURE_REGISTRIES
  as_root env -u BERTH_CACHE_DIR -u BERTH_INSECURE_REGISTRIES BERTH_CONFIG="$work/berth.conf" \
    "$BERTH_BIN" exec "$@"
}

out=$(berth_exec "docker://$REG/tiny:latest" cat /etc/os-release 2>&1) ||
  fail "berth exec docker://$REG/tiny:latest: $out"
assert_contains "$out" 'PRETTY_NAME="berth tiny (busybox)"' "the image's os-release"
images=$(find "$work/cache/images" -name '*.sqsh' | wc -l)
assert_eq "$images" 1 "images in berth.conf's image_cache"
echo "insecure_registries and image_cache reach berth exec"

# A registry reachable only through its mirror: the same image, found in the same cache.
out=$(berth_exec mirror-only.invalid/tiny:latest cat /etc/os-release 2>&1) ||
  fail "berth exec through the mirror: $out"
assert_contains "$out" 'PRETTY_NAME="berth tiny (busybox)"' "the image through the mirror"
assert_eq "$(find "$work/cache/images" -name '*.sqsh' | wc -l)" 1 "one image for both names"
# Without berth.conf the name leads nowhere.
err=$(as_root env -u BERTH_INSECURE_REGISTRIES BERTH_CACHE_DIR="$work/other" BERTH_CONFIG="$work/empty.conf" \
  "$BERTH_BIN" exec mirror-only.invalid/tiny:latest true 2>&1) && fail "pulled without the mirror"
assert_contains "$err" "mirror-only.invalid" "the error names the registry"
echo "registry_mirrors reach berth exec"
