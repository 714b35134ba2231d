#!/bin/bash
# Cold pull + convert from the test bed's registry, against the peers, in one run (issue 3):
#
#   berth      berth pull --insecure REF                 (download, decompress, merge, squash)
#   pipeline   skopeo copy + umoci unpack + mksquashfs -comp zstd   (the enroot/Sarus way)
#   floor      decompress the layers + tar2sqfs of the flattened tree (zstd 3, all CPUs),
#              download not counted
#
#   bench_pull.sh [REF]     default: $BERTH_TEST_REGISTRY/big:latest (scripts/test-images --big)
#
# Targets: pipeline/berth >= 5, berth/floor <= 1.5, berth's peak RSS < 256 MiB.
set -euo pipefail
BERTH_BIN=${BERTH_BIN:-${BERTH_BUILD_DIR:-build}/image_tool/berth}
ENV_FILE=${BERTH_TESTBED_ENV:-/var/tmp/berth-testbed/env}
[[ -f $ENV_FILE ]] || { echo "bench_pull: test bed not started ($ENV_FILE missing)"; exit 77; }
# shellcheck source=/dev/null
source "$ENV_FILE"
NETNS=/run/netns/${BERTH_NETNS:-berth-test}
ref=${1:-$BERTH_TEST_REGISTRY/big:latest}
work=$(mktemp -d /var/tmp/berth-bench-pull.XXXXXX)
trap 'rm -rf "$work"' EXIT
in_netns() { nsenter --net="$NETNS" -- "$@"; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

sync
t0=$(now)
in_netns /usr/bin/time -v "$BERTH_BIN" -q pull --insecure --cache "$work/cache" "$ref" \
  >"$work/berth.out" 2>"$work/berth.time"
t_berth=$(since "$t0")
rss=$(awk '/Maximum resident set size/ {print int($6 / 1024)}' "$work/berth.time")
image=$(sed -n 2p "$work/berth.out")

t0=$(now)
in_netns skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/oci:bench"
t_copy=$(since "$t0")
t0=$(now)
umoci raw unpack --image "$work/oci:bench" "$work/rootfs" >/dev/null 2>&1
t_unpack=$(since "$t0")
t0=$(now)
mksquashfs "$work/rootfs" "$work/pipeline.sqsh" -comp zstd -quiet -no-progress >/dev/null
t_mksquashfs=$(since "$t0")
t_pipeline=$(echo "$t_copy + $t_unpack + $t_mksquashfs" | bc)
rm -rf "$work/rootfs"

mapfile -t blobs < <(python3 -c '
import json, sys
root = sys.argv[1]
idx = json.load(open(root + "/index.json"))
m = json.load(open(root + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
for l in m["layers"]: print(root + "/blobs/sha256/" + l["digest"][7:])' "$work/oci")
python3 "$(dirname "$0")/flatten_layers.py" "$work/flat.tar" "${blobs[@]}"
t0=$(now)
for b in "${blobs[@]}"; do
  case $(head -c4 "$b" | od -An -tx1 | tr -d ' ') in
    1f8b*) gzip -dc "$b" ;;
    28b52ffd) zstd -dc "$b" ;;
    *) cat "$b" ;;
  esac
done >/dev/null
t_decompress=$(since "$t0")
t0=$(now)
tar2sqfs -q -f -c zstd -X level=3 -j "$(nproc)" "$work/floor.sqsh" <"$work/flat.tar"
t_floor=$(echo "$(since "$t0") + $t_decompress" | bc)

printf '%-40s %7.2f s  peak RSS %d MiB  image %s\n' "berth pull (cold)" "$t_berth" "$rss" \
  "$(du -h "$image" | cut -f1)"
printf '%-40s %7.2f s  (copy %.1f, unpack %.1f, mksquashfs %.1f)  image %s\n' \
  "skopeo + umoci + mksquashfs" "$t_pipeline" "$t_copy" "$t_unpack" "$t_mksquashfs" \
  "$(du -h "$work/pipeline.sqsh" | cut -f1)"
printf '%-40s %7.2f s  (decompress %.1f)  image %s\n' "decompress + tar2sqfs (no download)" \
  "$t_floor" "$t_decompress" "$(du -h "$work/floor.sqsh" | cut -f1)"
printf 'ratio pipeline / berth = %.2f (target >= 5)\n' "$(echo "$t_pipeline / $t_berth" | bc -l)"
printf 'ratio berth / floor    = %.2f (target <= 1.5)\n' "$(echo "$t_berth / $t_floor" | bc -l)"
printf 'berth peak RSS %d MiB (target < 256)\n' "$rss"
