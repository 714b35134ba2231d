#!/bin/bash
# A synthetic layered OCI layout -> `berth pull oci:DIR` -> kernel squashfs mount, compared with
# `umoci raw unpack` of the same layout: paths, types, modes, owners, hard links, link targets,
# mtimes and contents must match (setuid/setgid bits included: berth keeps them by default).
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "needs root"; exit 77; }
command -v umoci >/dev/null || { echo "umoci missing"; exit 77; }
BERTH_BIN=${BERTH_BIN:-$BERTH_BUILD_DIR/image_tool/berth}
SRC=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

work=$(mktemp -d /tmp/berth-roundtrip.XXXXXX)
mnt=$work/mnt
loops_before=$(losetup -a | wc -l)
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT

python3 "$SRC/tests/data/make_oci_layout.py" "$work/layout" --tag v1 >/dev/null
out=$("$BERTH_BIN" -q pull --cache "$work/cache" "oci:$work/layout:v1")
digest=$(sed -n 1p <<<"$out")
image=$(sed -n 2p <<<"$out")
[[ $digest == sha256:* ]] || { echo "FAIL: no digest printed: $out"; exit 1; }
[[ -f $image ]] || { echo "FAIL: image $image missing"; exit 1; }

umoci raw unpack --image "$work/layout:v1" "$work/ref" >/dev/null 2>&1
mkdir "$mnt"
mount -t squashfs -o loop,ro "$image" "$mnt"

python3 "$SRC/tests/data/tree_manifest.py" "$work/ref" >"$work/ref.txt"
python3 "$SRC/tests/data/tree_manifest.py" "$mnt" --exclude .berth >"$work/berth.txt"
if ! diff -u "$work/ref.txt" "$work/berth.txt"; then
  echo "FAIL: trees differ (- umoci, + berth)"
  exit 1
fi
# Spot checks, so an empty tree on both sides cannot pass.
grep -q '^etc/replaced file 644 0:0 mtime=1700000000 nlink=1 ' "$work/berth.txt"
grep -q '^usr/bin/shared-link file 755 0:0 mtime=1700000000 nlink=2 ' "$work/berth.txt"
grep -q '^var/lib/opaque/new ' "$work/berth.txt"
if grep -Eq '^(var/lib/opaque/old1|etc/gone|var/lib/tree/leaf) ' "$work/berth.txt"; then
  echo "FAIL: whited-out path present"
  exit 1
fi
grep -q '^usr/bin/su file 4755 ' "$work/berth.txt"
xattr=$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.berth").decode())' \
  "$mnt/etc/xattr")
[[ $xattr == yes ]] || { echo "FAIL: xattr user.berth is '$xattr'"; exit 1; }
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["config"]["Cmd"]==["/bin/sh"]' \
  "$mnt/.berth/config.json"
grep -q "\"digest\": *\"$digest\"" "$mnt/.berth/source.json"

umount "$mnt"

# The test images' `layered` layout (scripts/test-images), when built: its merged tree as umoci
# unpacked it (expected-tree.txt), setuid/setgid bits included.
images_env=${BERTH_TEST_IMAGE_CACHE:-/var/cache/berth-test-images}/current/images.env
listing=$SRC/scripts/lib/images/tree_listing.py
if [[ -f $images_env && -f $listing ]]; then
  # shellcheck source=/dev/null
  source "$images_env"
  grep -v '^#' "$BERTH_TEST_IMAGE_LAYERED_TREE" >"$work/expected-tree.txt"
  for tag in gzip zstd; do
    out=$("$BERTH_BIN" -q pull --cache "$work/cache" "oci:$BERTH_TEST_IMAGE_LAYERED:$tag" 2>/dev/null)
    mount -t squashfs -o loop,ro "$(sed -n 2p <<<"$out")" "$mnt"
    python3 "$listing" "$mnt" | grep -v -e '^/\.berth' -e '^#' >"$work/layered-$tag.txt"
    umount "$mnt"
    diff -u "$work/expected-tree.txt" "$work/layered-$tag.txt" ||
      { echo "FAIL: layered:$tag differs from expected-tree.txt (- umoci, + berth)"; exit 1; }
    echo "OK: layered:$tag matches expected-tree.txt ($(wc -l <"$work/expected-tree.txt") entries)"
  done
else
  echo "note: test images not built (scripts/test-images): layered comparison skipped"
fi

loops_after=$(losetup -a | wc -l)
[[ $loops_after -eq $loops_before ]] || { echo "FAIL: loop device left attached"; losetup -a; exit 1; }
echo "OK: $(wc -l <"$work/berth.txt") paths match umoci's unpack"
