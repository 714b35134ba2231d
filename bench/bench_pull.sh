#!/bin/bash
# Cold pull + convert from the test bed's registry, against the peers and the CPU limit, in one
# run (issues 3 and 18):
#
#   berth      berth pull --insecure REF                 (download, inflate, merge, squash)
#   berth/zlib the same with BERTH_GZIP_INFLATER=zlib    (what ISA-L gains)
#   pipeline   skopeo copy + umoci unpack + mksquashfs -comp zstd   (the enroot/Sarus way)
#   floor      decompress the layers + tar2sqfs of the flattened tree (zstd 3, all CPUs),
#              download not counted
#   limit      the CPU time to inflate every layer with the fastest inflater Debian has
#              (ISA-L's igzip; zstd -d, cat for the others) plus zstd -3 of the flattened
#              tree's tar stream, divided by the cores: what the work costs, perfectly spread
#              over the cores, with nothing else (no download, hashing, tar parsing, merge)
#
#   bench_pull.sh [REF]     default: $BERTH_TEST_REGISTRY/big:latest (pushed from the local
#                           layout of scripts/test-images --big when the registry lacks it)
#
# Targets: berth/limit <= 1.3, pipeline/berth >= 15, berth's peak RSS < 256 MiB.
# The machine is shared: the load average is printed first; compare only one run's numbers.
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
# cpu_of FILE: user + system seconds from `/usr/bin/time -f '%U %S'` output (its last line).
cpu_of() { tail -1 "$1" | awk '{print $1 + $2}'; }
cores=$(nproc)

if [[ $# -eq 0 ]] && ! in_netns skopeo inspect -n --tls-verify=false "docker://$ref" >/dev/null 2>&1; then
  images_env=${BERTH_TEST_IMAGE_CACHE:-/var/cache/berth-test-images}/current/images.env
  # shellcheck source=/dev/null
  [[ -f $images_env ]] && source "$images_env"
  [[ -d ${BERTH_TEST_IMAGE_BIG:-} ]] || { echo "bench_pull: no big image (scripts/test-images --big)"; exit 77; }
  in_netns skopeo copy -q --dest-tls-verify=false "oci:$BERTH_TEST_IMAGE_BIG:latest" "docker://$ref"
fi

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($cores cores)"
pull() {  # NAME [ENV...]: a cold pull into a fresh cache; sets t_NAME, rss_NAME, cpu_NAME
  local name=$1
  shift
  sync
  local t0
  t0=$(now)
  in_netns env "$@" /usr/bin/time -v "$BERTH_BIN" -q pull --insecure --cache "$work/cache-$name" \
    "$ref" >"$work/$name.out" 2>"$work/$name.time"
  printf -v "t_$name" '%s' "$(since "$t0")"
  printf -v "rss_$name" '%s' "$(awk '/Maximum resident set size/ {print int($6 / 1024)}' "$work/$name.time")"
  printf -v "cpu_$name" '%s' "$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$work/$name.time")"
}
pull berth
image=$(sed -n 2p "$work/berth.out")
pull zlib BERTH_GZIP_INFLATER=zlib
# Both images must hold the same tree: compare a digest of every entry (path, type, mode, owner,
# mtime, link, content) apart from /.berth (source.json holds the pull's date).
tree_digest() {
  sqfs2tar --no-skip "$1" 2>/dev/null | python3 -c '
import hashlib, sys, tarfile
h = hashlib.sha256()
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as t:
    for m in t:
        if m.name == ".berth" or m.name.startswith(".berth/"):
            continue
        h.update(repr((m.name, m.type, m.mode, m.uid, m.gid, m.mtime, m.linkname, m.size,
                       sorted(m.pax_headers.items()))).encode())
        if m.isfile():
            f = t.extractfile(m)
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
print(h.hexdigest())'
}
if [[ $(tree_digest "$image") == $(tree_digest "$(sed -n 2p "$work/zlib.out")") ]]; then
  same="same tree"
else
  same="TREES DIFFER"
fi
rm -rf "$work/cache-zlib"

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
decompress() {  # INFLATER: every layer to stdout
  for b in "${blobs[@]}"; do
    case $(head -c4 "$b" | od -An -tx1 | tr -d ' ') in
      1f8b*) "$1" -dc "$b" ;;
      28b52ffd) zstd -dc "$b" ;;
      *) cat "$b" ;;
    esac
  done
}
cat "${blobs[@]}" "$work/flat.tar" >/dev/null  # in the page cache for every reader below
t0=$(now)
decompress gzip >/dev/null
t_decompress=$(since "$t0")
t0=$(now)
tar2sqfs -q -f -c zstd -X level=3 -j "$cores" "$work/floor.sqsh" <"$work/flat.tar"
t_floor=$(echo "$(since "$t0") + $t_decompress" | bc)

# The limit: CPU seconds of the inflater and of zstd -3, spread over the cores.
export -f decompress
export blobs_list="${blobs[*]}"
/usr/bin/time -f '%U %S' -o "$work/inflate.cpu" bash -c \
  'read -ra blobs <<<"$blobs_list"; decompress igzip >/dev/null'
cpu_inflate=$(cpu_of "$work/inflate.cpu")
/usr/bin/time -f '%U %S' -o "$work/zstd.cpu" zstd -3 -T1 -q -c "$work/flat.tar" >"$work/flat.tar.zst"
cpu_zstd=$(cpu_of "$work/zstd.cpu")
t_limit=$(echo "($cpu_inflate + $cpu_zstd) / $cores" | bc -l)

printf '%-44s %7.2f s  CPU %6.2f s  peak RSS %d MiB  image %s\n' "berth pull (cold, ISA-L when present)" \
  "$t_berth" "$cpu_berth" "$rss_berth" "$(du -h "$image" | cut -f1)"
printf '%-44s %7.2f s  CPU %6.2f s  peak RSS %d MiB  image %s\n' "berth pull (cold, BERTH_GZIP_INFLATER=zlib)" \
  "$t_zlib" "$cpu_zlib" "$rss_zlib" "$same"
printf '%-44s %7.2f s  (copy %.1f, unpack %.1f, mksquashfs %.1f)  image %s\n' \
  "skopeo + umoci + mksquashfs" "$t_pipeline" "$t_copy" "$t_unpack" "$t_mksquashfs" \
  "$(du -h "$work/pipeline.sqsh" | cut -f1)"
printf '%-44s %7.2f s  (decompress %.1f)  image %s\n' "gzip -d + tar2sqfs (no download)" \
  "$t_floor" "$t_decompress" "$(du -h "$work/floor.sqsh" | cut -f1)"
printf '%-44s %7.2f s  (CPU: igzip -d %.2f s + zstd -3 %.2f s, / %d cores)  zstd %s\n' \
  "limit: (inflate + zstd -3) / cores" "$t_limit" "$cpu_inflate" "$cpu_zstd" "$cores" \
  "$(du -h "$work/flat.tar.zst" | cut -f1)"
printf 'ratio berth / limit     = %.2f (target <= 1.3); berth CPU / limit CPU = %.2f\n' \
  "$(echo "$t_berth / $t_limit" | bc -l)" "$(echo "$cpu_berth / ($cpu_inflate + $cpu_zstd)" | bc -l)"
printf 'ratio pipeline / berth  = %.2f (target >= 15)\n' "$(echo "$t_pipeline / $t_berth" | bc -l)"
printf 'ratio berth / floor     = %.2f\n' "$(echo "$t_berth / $t_floor" | bc -l)"
printf 'ratio zlib / ISA-L      = %.2f (berth with each inflater)\n' "$(echo "$t_zlib / $t_berth" | bc -l)"
printf 'berth peak RSS %d MiB (target < 256)\n' "$rss_berth"
