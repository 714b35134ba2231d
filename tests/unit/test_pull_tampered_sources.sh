#!/bin/bash
# Every layer blob of every local source is verified before anything is stored: a layout whose
# manifest is genuine but whose layer blob was replaced (same file name), truncated or padded,
# an archive carrying such a layout, and a `docker save` archive with a replaced layer.tar are
# each refused with one line, and the cache stays as it was (no image, no temp file). Without
# the check, the tampered content landed in the cache under the genuine manifest digest, where
# every other user's `--container-image=` of that digest would have run it.
set -euo pipefail
BERTH_BIN=${BERTH_BIN:-$BERTH_BUILD_DIR/image_tool/berth}
SRC=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/berth-tampered.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

python3 "$SRC/tests/data/make_oci_layout.py" "$work/genuine" --tag v1 \
  --docker-archive "$work/docker.tar" >/dev/null
cache=$work/cache

# tamper.py LAYOUT MODE: changes the first (gzip) or second (plain) layer blob in place.
cat >"$work/tamper.py" <<'PY'
import gzip, io, json, os, sys, tarfile
layout, mode = sys.argv[1], sys.argv[2]
index = json.load(open(os.path.join(layout, "index.json")))
def blob(d): return os.path.join(layout, "blobs", "sha256", d.split(":")[1])
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
def evil_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"#!/bin/sh\necho owned\n"
        ti = tarfile.TarInfo("usr/local/bin/hostname"); ti.size = len(data); ti.mode = 0o755
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()
if mode == "replace-gzip":      # another valid gzip layer under the genuine name
    open(blob(manifest["layers"][0]["digest"]), "wb").write(gzip.compress(evil_tar()))
elif mode == "replace-plain":   # another valid plain tar, of the genuine blob's very size
    path = blob(manifest["layers"][1]["digest"])
    size = os.path.getsize(path)
    data = evil_tar()
    assert len(data) <= size
    open(path, "wb").write(data + b"\0" * (size - len(data)))
elif mode == "truncate":        # the genuine blob, cut short
    path = blob(manifest["layers"][0]["digest"])
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
elif mode == "append":          # the genuine blob with bytes after its end
    open(blob(manifest["layers"][1]["digest"]), "ab").write(b"\0" * 10240)
PY

state() { { find "$cache" -path "$cache/locks" -prune -o -type f -print 2>/dev/null || true; } | sort; }
expect_refused() {  # WHAT PATTERN SOURCE...
  local what=$1 pattern=$2 before
  shift 2
  before=$(state)
  if "$BERTH_BIN" -q pull --cache "$cache" "$@" >"$work/stdout" 2>"$work/stderr"; then
    fail "$what: accepted: $(cat "$work/stdout")"
  fi
  [[ $(wc -l <"$work/stderr") -eq 1 ]] || fail "$what: not one line: $(cat "$work/stderr")"
  grep -q -- "$pattern" "$work/stderr" || fail "$what: $(cat "$work/stderr")"
  [[ $(state) == "$before" ]] || fail "$what: cache changed: $(state)"
  [[ -z $(ls -A "$cache/images") ]] || fail "$what: an image was stored: $(ls -A "$cache/images")"
  echo "ok: $what: $(cat "$work/stderr")"
}

for mode in replace-gzip replace-plain truncate append; do
  rm -rf "$work/layout" && cp -a "$work/genuine" "$work/layout"
  python3 "$work/tamper.py" "$work/layout" "$mode"
  case $mode in
    replace-plain) pattern='blob: digest mismatch: expected sha256:' ;;  # same size
    *) pattern='blob has [0-9]* bytes, its descriptor says' ;;
  esac
  expect_refused "oci: $mode" "$pattern" "oci:$work/layout:v1"
  tar -C "$work/layout" -cf "$work/oci.tar" .
  expect_refused "oci-archive: $mode" "$pattern" "oci-archive:$work/oci.tar:v1"
done

# docker-archive: layers are named by path; the config's diff_ids are what they must match.
mkdir "$work/docker" && tar -C "$work/docker" -xf "$work/docker.tar"
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][1])' \
  "$work/docker/manifest.json")
python3 - "$work/docker/$layer" <<'PY'
import io, sys, tarfile
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    ti = tarfile.TarInfo("etc/evil"); ti.size = 3
    t.addfile(ti, io.BytesIO(b"bad"))
open(sys.argv[1], "wb").write(buf.getvalue())
PY
tar -C "$work/docker" -cf "$work/docker-tampered.tar" .
expect_refused "docker-archive: replaced layer.tar" \
  'uncompressed content (diff_id in the config): digest mismatch' \
  "docker-archive:$work/docker-tampered.tar"

# The genuine sources still convert, and to the same manifest digest as before.
out=$("$BERTH_BIN" -q pull --cache "$cache" "oci:$work/genuine:v1")
[[ -f $(sed -n 2p <<<"$out") ]] || fail "genuine layout: $out"
"$BERTH_BIN" -q pull --cache "$cache" "docker-archive:$work/docker.tar" >/dev/null ||
  fail "genuine docker archive refused"
echo OK
