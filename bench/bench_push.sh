#!/bin/bash
# berth push against the peers, in one run, on the test bed's registries (issue 14):
#
#   pulled     berth push of a pulled image to an empty repository
#                same registry:   vs skopeo copy docker://REG/IMAGE docker://REG/NEW
#                other registry:  vs skopeo copy oci:LAYOUT docker://AUTH/NEW (the same blobs,
#                                 read from local disk as berth reads its blob cache)
#   flattened  berth push --squash of the pulled image's squashfs to an empty repository
#                vs unsquashfs + tar | gzip (diff_id hashed on the way) + OCI layout + skopeo copy
#
#   bench_push.sh [REF]     default: $BERTH_TEST_REGISTRY/big:latest (scripts/test-images --big)
#
# Targets: pulled <= 1.2x skopeo copy; flattened <= 0.5x the pipeline. Wall time is the target;
# CPU time (user + system, children included) is printed too: on a loaded machine berth's
# parallel compression cannot show in wall time, its CPU cost can.
set -euo pipefail
BERTH_BIN=${BERTH_BIN:-${BERTH_BUILD_DIR:-build}/image_tool/berth}
ENV_FILE=${BERTH_TESTBED_ENV:-${BERTH_TESTBED_DIR:-/var/tmp/berth-testbed}/env}
[[ -f $ENV_FILE ]] || { echo "bench_push: test bed not started ($ENV_FILE missing)"; exit 77; }
# shellcheck source=/dev/null
source "$ENV_FILE"
NETNS=/run/netns/${BERTH_NETNS:-berth-test}
REG=$BERTH_TEST_REGISTRY
AUTH=${BERTH_TEST_AUTH_REGISTRY:-}
ref=${1:-$REG/big:latest}
run=bench-push/r$(date +%s)
work=$(mktemp -d /var/tmp/berth-bench-push.XXXXXX)
trap 'rm -rf "$work"' EXIT
netns=(nsenter --net="$NETNS" -- env BERTH_INSECURE_REGISTRIES="$REG,$AUTH")
in_netns() { "${netns[@]}" "$@"; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }
# cpu NAME CMD...: runs CMD, adds its user+system seconds (children included) to cpu_NAME.
cpu() {
  local name=$1; shift
  /usr/bin/time -f '%U %S' -o "$work/cpu.$name" "$@"
  printf -v "cpu_$name" '%s' "$(awk '{print $1 + $2}' "$work/cpu.$name")"
}
auth_env=(BERTH_REGISTRY_USER="${BERTH_TEST_AUTH_USER:-}" BERTH_REGISTRY_PASSWORD="${BERTH_TEST_AUTH_PASSWORD:-}")
auth_creds=${BERTH_TEST_AUTH_USER:-}:${BERTH_TEST_AUTH_PASSWORD:-}

in_netns "$BERTH_BIN" -q pull --cache "$work/cache" "$ref" >"$work/pull.out"
image=$(sed -n 2p "$work/pull.out")
in_netns skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/oci:bench"
size=$(du -sb "$work/cache/blobs" | cut -f1)
echo "image $ref: $(sed -n 1p "$work/pull.out"), blobs $((size / 1048576)) MiB, squashfs $(($(stat -c %s "$image") / 1048576)) MiB, $(nproc) CPUs"

# 1. The pulled image to an empty repository of the same registry (mounts on both sides).
sync
t0=$(now)
in_netns "$BERTH_BIN" -q push --cache "$work/cache" "$ref" "docker://$REG/$run/berth:same" >/dev/null
t_berth_same=$(since "$t0")
t0=$(now)
in_netns skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$ref" "docker://$REG/$run/skopeo:same"
t_skopeo_same=$(since "$t0")

# 2. To another registry: every byte uploaded, from local files on both sides.
if [[ -n $AUTH ]]; then
  sync
  t0=$(now)
  in_netns env "${auth_env[@]}" "$BERTH_BIN" -q push --cache "$work/cache" "$ref" "docker://$AUTH/$run/berth:other" >/dev/null
  t_berth_other=$(since "$t0")
  t0=$(now)
  in_netns skopeo copy -q --dest-tls-verify=false --dest-creds "$auth_creds" "oci:$work/oci:bench" "docker://$AUTH/$run/skopeo:other"
  t_skopeo_other=$(since "$t0")
fi

# 3. Flattened: berth push --squash vs unsquashfs + tar | gzip + OCI layout + skopeo copy.
sync
t0=$(now)
cpu berth "${netns[@]}" "$BERTH_BIN" -q push --squash --cache "$work/cache" "$image" "docker://$REG/$run/berth:flat" >/dev/null
t_berth_flat=$(since "$t0")
sync
t0=$(now)
cpu unsquashfs unsquashfs -q -n -d "$work/unsquashed" "$image" >/dev/null
mkdir -p "$work/layout/blobs/sha256"
export work
cpu tar bash -c 'tar -C "$work/unsquashed" --numeric-owner --xattrs --exclude=./.berth/config.json \
  --exclude=./.berth/source.json -cf - . |
  tee >(sha256sum | cut -d" " -f1 >"$work/diffid") | gzip >"$work/layer.tar.gz"; sleep 0.1'
cpu layout python3 - "$work" <<'PY'
import hashlib, json, os, sys
work = sys.argv[1]
blobs = os.path.join(work, "layout/blobs/sha256")
def put(data):
    digest = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, digest), "wb").write(data)
    return digest
h = hashlib.sha256()
with open(os.path.join(work, "layer.tar.gz"), "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
layer = h.hexdigest()
size = os.path.getsize(os.path.join(work, "layer.tar.gz"))
os.rename(os.path.join(work, "layer.tar.gz"), os.path.join(blobs, layer))
diffid = open(os.path.join(work, "diffid")).read().strip()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diffid]}}).encode()
c = put(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + c, "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + layer, "size": size}]}).encode()
m = put(manifest)
json.dump({"imageLayoutVersion": "1.0.0"}, open(os.path.join(work, "layout/oci-layout"), "w"))
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:" + m, "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "flat"}}]},
    open(os.path.join(work, "layout/index.json"), "w"))
PY
cpu skopeo "${netns[@]}" skopeo copy -q --dest-tls-verify=false "oci:$work/layout:flat" "docker://$REG/$run/pipeline:flat"
t_pipeline=$(since "$t0")
cpu_pipeline=$(echo "$cpu_unsquashfs + $cpu_tar + $cpu_layout + $cpu_skopeo" | bc)
flat_berth=$(in_netns skopeo inspect --tls-verify=false --raw "docker://$REG/$run/berth:flat" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["size"])')
flat_pipeline=$(in_netns skopeo inspect --tls-verify=false --raw "docker://$REG/$run/pipeline:flat" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["size"])')

printf '%-44s %8s %8s %7s\n' "" berth peer ratio
printf '%-44s %7.2fs %7.2fs %7s\n' "pulled image, same registry (skopeo copy)" "$t_berth_same" "$t_skopeo_same" "$(ratio "$t_berth_same" "$t_skopeo_same")"
if [[ -n $AUTH ]]; then
  printf '%-44s %7.2fs %7.2fs %7s\n' "pulled image, other registry (skopeo oci:)" "$t_berth_other" "$t_skopeo_other" "$(ratio "$t_berth_other" "$t_skopeo_other")"
fi
printf '%-44s %7.2fs %7.2fs %7s\n' "flattened (unsquashfs+tar|gzip+skopeo)" "$t_berth_flat" "$t_pipeline" "$(ratio "$t_berth_flat" "$t_pipeline")"
printf '%-44s %7.2fs %7.2fs %7s\n' "  the same, CPU seconds (user + system)" "$cpu_berth" "$cpu_pipeline" "$(ratio "$cpu_berth" "$cpu_pipeline")"
echo "flattened layer: berth $((flat_berth / 1048576)) MiB, pipeline $((flat_pipeline / 1048576)) MiB (gzip level 6 both)"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg)"
