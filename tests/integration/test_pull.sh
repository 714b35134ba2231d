#!/bin/bash
# berth pull against the test bed's registry (scripts/testbed start): every test image, gzip
# and zstd, OCI and Docker media types, an index (host platform and --platform), the layered
# image's merged tree compared with umoci's (expected-tree.txt), /.berth metadata, and two
# concurrent pulls of one image converting it once.
set -euo pipefail
SRC=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BERTH_BIN=${BERTH_BIN:-$BERTH_BUILD_DIR/image_tool/berth}
if [[ -f $SRC/tests/integration/lib.sh ]]; then
  # shellcheck source=/dev/null
  source "$SRC/tests/integration/lib.sh"
fi
ENV_FILE=${BERTH_TESTBED_ENV:-/var/tmp/berth-testbed/env}
[[ -f $ENV_FILE ]] || { echo "FAIL: test bed not started ($ENV_FILE missing)"; exit 1; }
# shellcheck source=/dev/null
source "$ENV_FILE"
[[ -n ${BERTH_TEST_REGISTRY:-} ]] || { echo "BERTH_TEST_REGISTRY not set by the test bed"; exit 1; }
IMAGES_ENV=${BERTH_TEST_IMAGE_CACHE:-/var/cache/berth-test-images}/current/images.env
NETNS=/run/netns/${BERTH_NETNS:-berth-test}
REG=$BERTH_TEST_REGISTRY

work=$(mktemp -d /tmp/berth-pull-it.XXXXXX)
chmod 755 "$work"
mnt=$work/mnt
mkdir "$mnt"
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
loops_before=$(losetup -a | wc -l)

# berth pull in the test bed's namespace; stdout: digest and path.
pull() { nsenter --net="$NETNS" -- "$BERTH_BIN" pull --insecure --cache "$work/cache" "$@"; }
mount_image() { mount -t squashfs -o loop,ro "$1" "$mnt"; }

check_tiny() {  # REF: a busybox image with berth's metadata
  local out image
  out=$(pull "$1" 2>"$work/stderr") || fail "pull $1: $(cat "$work/stderr")"
  image=$(sed -n 2p <<<"$out")
  mount_image "$image"
  [[ -x $mnt/bin/busybox ]] || fail "$1: /bin/busybox missing"
  [[ $(readlink "$mnt/bin/sh") == *busybox ]] || fail "$1: /bin/sh is not busybox"
  grep -q '"org.berth.test-image": *"tiny"' "$mnt/.berth/config.json" || fail "$1: config label"
  grep -q "\"digest\": *\"$(sed -n 1p <<<"$out")\"" "$mnt/.berth/source.json" ||
    fail "$1: source.json digest"
  umount "$mnt"
  echo "ok: $1"
}
check_tiny "docker://$REG/tiny:latest"
check_tiny "$REG/tiny:zstd"
check_tiny "$REG/tiny:docker"
# enroot/pyxis spellings, as sbatch scripts written for pyxis use them: the same images,
# recorded under the canonical name (USER@ matters only to a registry asking for credentials).
check_tiny "$REG#tiny:latest"
check_tiny "docker://someone@$REG#tiny:zstd"
listed=$("$BERTH_BIN" cache --cache "$work/cache" list)
awk -v ref="$REG/tiny:latest" '$1 == ref {found=1} END {exit !found}' <<<"$listed" ||
  fail "$REG#tiny:latest is not listed as $REG/tiny:latest: $listed"
! grep -q '#' <<<"$listed" || fail "an enroot spelling was recorded: $listed"
echo "ok: enroot/pyxis references"

# The layered image: the merged tree must equal umoci's (setuid/setgid bits included).
listing=$SRC/scripts/lib/images/tree_listing.py
for tag in gzip zstd; do
  out=$(pull "$REG/layered:$tag" 2>"$work/stderr") || fail "pull layered:$tag: $(cat "$work/stderr")"
  mount_image "$(sed -n 2p <<<"$out")"
  if [[ -f $IMAGES_ENV && -f $listing ]]; then
    # shellcheck source=/dev/null
    source "$IMAGES_ENV"
    python3 "$listing" "$mnt" | grep -v '^/\.berth' >"$work/berth-tree.txt"
    grep -v '^#' "$BERTH_TEST_IMAGE_LAYERED_TREE" >"$work/expected-tree.txt"
    diff -u "$work/expected-tree.txt" <(grep -v '^#' "$work/berth-tree.txt") ||
      fail "layered:$tag: tree differs from umoci's (- expected, + berth)"
  else
    echo "note: $IMAGES_ENV or $listing missing: tree comparison skipped"
  fi
  umount "$mnt"
  echo "ok: layered:$tag"
done

# An index: the host's platform, then arm64 on request.
out=$(pull "$REG/multiarch:latest" 2>"$work/stderr") || fail "multiarch: $(cat "$work/stderr")"
mount_image "$(sed -n 2p <<<"$out")"
[[ $(cat "$mnt/arch") == amd64 ]] || fail "multiarch: /arch is $(cat "$mnt/arch")"
umount "$mnt"
out=$(pull --platform linux/arm64 "$REG/multiarch:latest" 2>"$work/stderr") ||
  fail "multiarch arm64: $(cat "$work/stderr")"
mount_image "$(sed -n 2p <<<"$out")"
[[ $(cat "$mnt/arch") == arm64 ]] || fail "multiarch arm64: /arch is $(cat "$mnt/arch")"
umount "$mnt"
echo "ok: multiarch"

# Unknown tag: one clear line, nothing added to the cache.
before=$(ls "$work/cache/images" | wc -l)
if pull "$REG/tiny:no-such-tag" 2>"$work/stderr"; then fail "unknown tag pulled"; fi
[[ $(wc -l <"$work/stderr") -eq 1 ]] || fail "unknown tag: not one line: $(cat "$work/stderr")"
grep -q 'tiny:no-such-tag' "$work/stderr" || fail "unknown tag: reference not named"
[[ $(ls "$work/cache/images" | wc -l) -eq $before ]] || fail "unknown tag changed the cache"
echo "ok: unknown tag"

# Two concurrent pulls of one image into a fresh cache: one converts, the other reuses.
rm -rf "$work/cache"
log_start=0
[[ -n ${BERTH_TEST_REGISTRY_LOG:-} && -f $BERTH_TEST_REGISTRY_LOG ]] &&
  log_start=$(wc -l <"$BERTH_TEST_REGISTRY_LOG")
pull "$REG/debian-mpi:latest" >"$work/a.out" 2>"$work/a.err" &
a=$!
pull "$REG/debian-mpi:latest" >"$work/b.out" 2>"$work/b.err" &
b=$!
wait $a || fail "concurrent pull a: $(cat "$work/a.err")"
wait $b || fail "concurrent pull b: $(cat "$work/b.err")"
cmp -s "$work/a.out" "$work/b.out" || fail "concurrent pulls printed different images"
converted=$(cat "$work/a.err" "$work/b.err" | grep -c 'converting' || true)
[[ $converted -eq 1 ]] || fail "concurrent pulls converted $converted times"
[[ -z $(find "$work/cache/images" -name '.*tmp-*') ]] || fail "temp files left in the cache"
if [[ -n ${BERTH_TEST_REGISTRY_LOG:-} && -f $BERTH_TEST_REGISTRY_LOG ]]; then
  # Layer blobs (the large responses) downloaded once in all; the small config blob is read by
  # each resolve.
  twice=$(tail -n +$((log_start + 1)) "$BERTH_TEST_REGISTRY_LOG" |
    awk '$7 ~ /^\/v2\/debian-mpi\/blobs\// && $9 == 200 && $10 > 65536 { n[$7]++ }
         END { for (b in n) if (n[b] > 1) print b, n[b] }')
  [[ -z $twice ]] || fail "layer blobs downloaded more than once: $twice"
else
  echo "note: BERTH_TEST_REGISTRY_LOG not set: download count not checked"
fi
mount_image "$(sed -n 2p <"$work/a.out")"
[[ -x $mnt/usr/local/bin/mpi_hello ]] || fail "debian-mpi: mpi_hello missing"
umount "$mnt"
echo "ok: concurrent pulls"

[[ $(losetup -a | wc -l) -eq $loops_before ]] || fail "loop devices left attached"
echo OK
