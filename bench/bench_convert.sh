#!/bin/bash
# Conversion speed: a synthetic multi-layer OCI layout -> squashfs, berth vs the peers, on the
# same data in one run (ratios, not absolute times, are what to compare across machines).
#
#   bench_convert.sh [--data-mb N] [--layers N] [--layout DIR[:TAG]] [--pipeline]
#
#   berth        berth pull -o X.sqsh oci:LAYOUT           (decompress + merge + squash, streaming)
#   tar2sqfs     decompress every layer + tar2sqfs of the flattened tar (zstd level 3, all CPUs):
#                the floor a streaming converter can hope for
#   pipeline     umoci unpack + mksquashfs -comp zstd (the enroot/Sarus way; --pipeline only)
set -euo pipefail
BERTH_BIN=${BERTH_BIN:-${BERTH_BUILD_DIR:-build}/image_tool/berth}
SRC=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
data_mb=200 layers=5 pipeline=0 given_layout=
while [[ $# -gt 0 ]]; do
  case $1 in
    --data-mb) data_mb=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --pipeline) pipeline=1; shift ;;
    --layout) given_layout=$2; shift 2 ;;
    *) echo "usage: $0 [--data-mb N] [--layers N] [--pipeline]"; exit 2 ;;
  esac
done
work=${BENCH_WORK:-/var/tmp/berth-bench-convert-$data_mb-$layers}
tag=""
if [[ -n $given_layout ]]; then
  layout=${given_layout%%:*}
  [[ $given_layout == *:* ]] && tag=${given_layout#*:}
  work=${BENCH_WORK:-/var/tmp/berth-bench-convert-$(basename "$(readlink -f "$layout")")-$tag}
else
  layout=$work/layout
fi
mkdir -p "$work"
if [[ ! -f $layout/index.json ]]; then
  echo "generating a $data_mb MiB, $layers-layer layout in $layout ..."
  python3 "$SRC/tests/data/make_oci_layout.py" "$layout" --data-mb "$data_mb" --layers "$layers" \
    --no-features >/dev/null
fi
# The layers in manifest order, and the flattened tar of the merged tree (whiteouts applied,
# last entry of a path wins) that tar2sqfs gets: made once, not timed.
mapfile -t blobs < <(python3 -c '
import json, sys
root, tag = sys.argv[1], sys.argv[2]
idx = json.load(open(root + "/index.json"))
ms = [m for m in idx["manifests"]
      if not tag or m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
m = json.load(open(root + "/blobs/sha256/" + ms[0]["digest"][7:]))
for l in m["layers"]: print(root + "/blobs/sha256/" + l["digest"][7:])' "$layout" "$tag")
if [[ ! -f $work/flat.tar ]]; then
  echo "flattening ${#blobs[@]} layers for tar2sqfs ..."
  python3 "$(dirname "$0")/flatten_layers.py" "$work/flat.tar" "${blobs[@]}"
fi

now() { date +%s.%N; }
rss_of() { awk '/Maximum resident set size/ {print $6}' "$1"; }
sync

rm -f "$work/berth.sqsh"
t0=$(now)
/usr/bin/time -v "$BERTH_BIN" -q pull --cache "$work/cache" -o "$work/berth.sqsh" "oci:$layout${tag:+:$tag}" \
  >/dev/null 2>"$work/berth.time"
t_berth=$(echo "$(now) - $t0" | bc)

t0=$(now)
for b in "${blobs[@]}"; do
  if [[ $(head -c2 "$b" | od -An -tx1 | tr -d ' ') == 1f8b ]]; then gzip -dc "$b"; else cat "$b"; fi
done >/dev/null
t_decompress=$(echo "$(now) - $t0" | bc)
rm -f "$work/tar2sqfs.sqsh"
t0=$(now)
/usr/bin/time -v tar2sqfs -q -f -c zstd -X level=3 -j "$(nproc)" "$work/tar2sqfs.sqsh" \
  <"$work/flat.tar" 2>"$work/tar2sqfs.time"
t_tar2sqfs=$(echo "$(now) - $t0 + $t_decompress" | bc)

printf '%-28s %8.2f s  peak RSS %6d MiB  image %s\n' "berth pull -o" "$t_berth" \
  $(($(rss_of "$work/berth.time") / 1024)) "$(du -h "$work/berth.sqsh" | cut -f1)"
printf '%-28s %8.2f s  (decompress %.2f s)  image %s\n' "decompress + tar2sqfs" "$t_tar2sqfs" \
  "$t_decompress" "$(du -h "$work/tar2sqfs.sqsh" | cut -f1)"
printf 'ratio berth / (decompress+tar2sqfs) = %.2f  (target <= 1.5)\n' \
  "$(echo "$t_berth / $t_tar2sqfs" | bc -l)"

if [[ $pipeline -eq 1 ]]; then
  rm -rf "$work/unpack" "$work/pipeline.sqsh"
  t0=$(now)
  umoci raw unpack --image "$layout${tag:+:$tag}" "$work/unpack" >/dev/null 2>&1
  mksquashfs "$work/unpack" "$work/pipeline.sqsh" -comp zstd -quiet -no-progress >/dev/null
  t_pipeline=$(echo "$(now) - $t0" | bc)
  rm -rf "$work/unpack"
  printf '%-28s %8.2f s\n' "umoci unpack + mksquashfs" "$t_pipeline"
  printf 'ratio pipeline / berth = %.2f  (target >= 5)\n' "$(echo "$t_pipeline / $t_berth" | bc -l)"
fi
