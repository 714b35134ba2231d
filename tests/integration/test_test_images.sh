#!/usr/bin/env bash
# Checks what scripts/test-images left behind: every tag in the test bed's registry with the
# expected manifest type, architecture, layer count and layer media types, and the local OCI
# layouts listed in current/images.env. Needs the test bed up (scripts/testbed start).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/lib/testbed.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$BERTH_TESTBED_ENV" ] || fail "no $BERTH_TESTBED_ENV: the test bed is not up"
set -a
# shellcheck disable=SC1090  # written by the test bed
source "$BERTH_TESTBED_ENV"
set +a
[ -n "${BERTH_TEST_REGISTRY:-}" ] || fail "BERTH_TEST_REGISTRY not set in $BERTH_TESTBED_ENV"
IMAGES_ENV=$BERTH_TEST_IMAGE_CACHE/current/images.env
[ -f "$IMAGES_ENV" ] || fail "$IMAGES_ENV missing: scripts/test-images has not run"
# shellcheck disable=SC1090  # written by scripts/test-images
source "$IMAGES_ENV"

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
OCI_GZIP=application/vnd.oci.image.layer.v1.tar+gzip
OCI_ZSTD=application/vnd.oci.image.layer.v1.tar+zstd
DOCKER_GZIP=application/vnd.docker.image.rootfs.diff.tar.gzip

skopeo_in_bed() { testbed_in_netns skopeo --insecure-policy "$@"; }

# check_image REF MANIFEST_TYPE ARCH LAYERS LAYER_TYPE [skopeo inspect options]
check_image() {
  local ref=$1 manifest_type=$2 arch=$3 layers=$4 layer_type=$5
  shift 5
  local manifest config
  manifest=$(skopeo_in_bed inspect --tls-verify=false "$@" --raw \
    "docker://$BERTH_TEST_REGISTRY/$ref") || fail "$ref: not in the registry"
  config=$(skopeo_in_bed inspect --tls-verify=false "$@" --config \
    "docker://$BERTH_TEST_REGISTRY/$ref") || fail "$ref: no config"
  /usr/bin/python3 - "$ref" "$manifest" "$config" "$manifest_type" "$arch" "$layers" \
    "$layer_type" <<'EOF' || exit 1
import json, sys
ref, manifest, config, manifest_type, arch, layers, layer_type = sys.argv[1:]
m, c = json.loads(manifest), json.loads(config)
def check(ok, what):
    if not ok:
        sys.exit(f"FAIL: {ref}: {what}")
check(m.get("mediaType") == manifest_type, f"manifest type {m.get('mediaType')}")
check(c["architecture"] == arch and c["os"] == "linux", f"platform {c['os']}/{c['architecture']}")
check(len(m["layers"]) == int(layers), f"{len(m['layers'])} layers, expected {layers}")
check(len(c["rootfs"]["diff_ids"]) == int(layers), "diff_ids do not match the layers")
types = {l["mediaType"] for l in m["layers"]}
check(types == {layer_type}, f"layer media types {types}")
print(f"ok {ref}: {manifest_type.split('/')[1]}, {arch}, {layers} x {layer_type.split('/')[1]}")
EOF
}

# check_index REF: an OCI index with linux/amd64 and linux/arm64 manifests.
check_index() {
  local ref=$1 index
  index=$(skopeo_in_bed inspect --tls-verify=false --raw "docker://$BERTH_TEST_REGISTRY/$ref") \
    || fail "$ref: not in the registry"
  /usr/bin/python3 - "$ref" "$index" "$OCI_INDEX" <<'EOF' || exit 1
import json, sys
ref, index, index_type = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
if index.get("mediaType") != index_type:
    sys.exit(f"FAIL: {ref}: not an OCI index: {index.get('mediaType')}")
platforms = sorted((d["platform"]["os"], d["platform"]["architecture"]) for d in index["manifests"])
if platforms != [("linux", "amd64"), ("linux", "arm64")]:
    sys.exit(f"FAIL: {ref}: platforms {platforms}")
print(f"ok {ref}: index of {platforms}")
EOF
}

# platform_digest REF ARCH: the digest of the index's manifest for linux/ARCH.
platform_digest() {
  skopeo_in_bed inspect --tls-verify=false --raw "docker://$BERTH_TEST_REGISTRY/$1" \
    | /usr/bin/python3 -c 'import json, sys
print(next(d["digest"] for d in json.load(sys.stdin)["manifests"]
           if d["platform"]["architecture"] == sys.argv[1]))' "$2"
}

check_image tiny:latest "$OCI_MANIFEST" amd64 1 "$OCI_GZIP"
check_image tiny:zstd "$OCI_MANIFEST" amd64 1 "$OCI_ZSTD"
check_image tiny:docker "$DOCKER_MANIFEST" amd64 1 "$DOCKER_GZIP"
check_image layered:gzip "$OCI_MANIFEST" amd64 5 "$OCI_GZIP"
check_image layered:zstd "$OCI_MANIFEST" amd64 5 "$OCI_ZSTD"
check_index multiarch:latest
check_image "multiarch@$(platform_digest multiarch:latest amd64)" "$OCI_MANIFEST" amd64 2 "$OCI_GZIP"
check_image "multiarch@$(platform_digest multiarch:latest arm64)" "$OCI_MANIFEST" arm64 1 "$OCI_GZIP"
# Without --raw, skopeo resolves the index for this machine: the amd64 manifest.
arch=$(skopeo_in_bed inspect --tls-verify=false --format '{{.Architecture}} {{len .Layers}}' \
  "docker://$BERTH_TEST_REGISTRY/multiarch:latest")
[ "$arch" = "amd64 2" ] || fail "multiarch:latest resolves to $arch"
check_image debian-mpi:latest "$OCI_MANIFEST" amd64 3 "$OCI_GZIP"

# The same layer tar in gzip and zstd: same config (same diff_ids), different blobs.
gzip_config=$(skopeo_in_bed inspect --tls-verify=false --config --raw \
  "docker://$BERTH_TEST_REGISTRY/tiny:latest" | sha256sum)
zstd_config=$(skopeo_in_bed inspect --tls-verify=false --config --raw \
  "docker://$BERTH_TEST_REGISTRY/tiny:zstd" | sha256sum)
[ "$gzip_config" = "$zstd_config" ] || fail "tiny:latest and tiny:zstd configs differ"

# Local OCI layouts (sources for local-image tests) and the layered image's expected tree.
for pair in "$BERTH_TEST_IMAGE_TINY:latest" "$BERTH_TEST_IMAGE_TINY:zstd" \
            "$BERTH_TEST_IMAGE_LAYERED:gzip" "$BERTH_TEST_IMAGE_LAYERED:zstd" \
            "$BERTH_TEST_IMAGE_DEBIAN_MPI:latest"; do
  skopeo --insecure-policy inspect --raw "oci:$pair" | grep -q "$OCI_MANIFEST" \
    || fail "local layout oci:$pair unreadable"
done
skopeo --insecure-policy inspect --raw "oci:$BERTH_TEST_IMAGE_MULTIARCH:latest" | grep -q "$OCI_INDEX" \
  || fail "local layout multiarch is not an index"
tree=$BERTH_TEST_IMAGE_LAYERED_TREE
grep -qP '^/layered/xattr.txt\tf\t644\t0\t0\t15\t-\t[0-9a-f]{64}\tuser.berth=test\t-$' "$tree" \
  || fail "$tree: no xattr line"
grep -qP '^/layered/setuid\tf\t4755\t' "$tree" || fail "$tree: no setuid line"
! grep -q '^/layered/deleted.txt' "$tree" || fail "$tree: lists a deleted file"
! grep -q '^/layered/opaque/old1.txt' "$tree" || fail "$tree: lists a file under the opaque dir"
echo "ok local layouts and $tree"
