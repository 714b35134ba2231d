#!/bin/bash
# berth push against the test bed's registries (scripts/testbed start):
#   - a pulled image pushed to another repository of the same registry: the same manifest
#     digest, every blob mounted (no PATCH in the registry log); pushed again: nothing sent;
#   - the same image to another registry with its blobs gone from the cache: re-fetched from
#     where it came from, uploaded, still the same digest;
#   - a flattened push (--squash of the layered image): `umoci raw unpack` of the pushed image
#     gives the tree of berth's squashfs (owners, modes, setuid, hard links, xattrs), and the
#     image pulls back;
#   - a sandbox directory with /.berth/config.json and /.berth/runscript: skopeo and berth pull
#     show its Env, Entrypoint, Cmd, WorkingDir, User and Labels; the runscript survives; zstd;
#   - uploads interrupted mid-blob (registry_proxy.py): resumed where the registry says, or
#     started over when the registry dropped the upload;
#   - no permission to push (a proxy answering 403, the token registry's read-only user): one
#     clear line.
set -euo pipefail
SRC=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BERTH_BIN=${BERTH_BIN:-${BERTH_BUILD_DIR:-$SRC/build}/image_tool/berth}
source "$SRC/scripts/lib/testbed.sh"
[[ -f $BERTH_TESTBED_ENV ]] || { echo "FAIL: test bed not started ($BERTH_TESTBED_ENV missing)"; exit 1; }
set -a
# shellcheck source=/dev/null
source "$BERTH_TESTBED_ENV"
set +a
[[ -n ${BERTH_TEST_REGISTRY:-} ]] || { echo "FAIL: BERTH_TEST_REGISTRY not set by the test bed"; exit 1; }
NETNS=/run/netns/$BERTH_NETNS
REG=$BERTH_TEST_REGISTRY
LOG=${BERTH_TEST_REGISTRY_LOG:-}
listing=$SRC/scripts/lib/images/tree_listing.py

work=$(mktemp -d /tmp/berth-push-it.XXXXXX)
chmod 755 "$work"
mnt=$work/mnt
mkdir "$mnt"
proxy_pid=
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  if [[ -n $proxy_pid ]]; then kill "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
innetns() { nsenter --net="$NETNS" -- "$@"; }
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg
mkdir -p "$HOME"
unset BERTH_REGISTRY_USER BERTH_REGISTRY_PASSWORD DOCKER_CONFIG BERTH_PUSH_CHUNK_SIZE

cache=$work/cache
# Repositories of this run only (the registry's storage outlives a run).
ns=push-it/r$(date +%s)$$
berth() { innetns env BERTH_INSECURE_REGISTRIES="$REG,${BERTH_TEST_AUTH_REGISTRY:-},${proxy_addr:-}" "$BERTH_BIN" "$@"; }
pull() { berth pull --cache "$cache" "$@"; }
push() { berth push --cache "$cache" "$@"; }
log_mark() { [[ -n $LOG && -f $LOG ]] && wc -l <"$LOG" || echo 0; }
log_since() { tail -n +$(($1 + 1)) "$LOG" | grep -o '"[A-Z]* /v2/[^ ]* HTTP/1.1" [0-9]*' || true; }
skopeo_config() { innetns skopeo inspect --tls-verify=false --config "docker://$1"; }
skopeo_raw() { innetns skopeo inspect --tls-verify=false --raw "docker://$1"; }
start_proxy() {  # ARGS... (listens on $proxy_addr, forwards to $REG)
  if [[ -n $proxy_pid ]]; then kill "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null || true; fi
  proxy_addr=127.0.0.1:$(testbed_free_port)
  nsenter --net="$NETNS" -- python3 "$SRC/tests/integration/registry_proxy.py" --listen "$proxy_addr" \
    --upstream "$REG" "$@" </dev/null >/dev/null 2>"$work/proxy.log" &
  proxy_pid=$!
  for _ in $(seq 50); do innetns bash -c "exec 3<>/dev/tcp/${proxy_addr/:/\/}" 2>/dev/null && break; sleep 0.1; done
}

echo "== a pulled image, pushed to another repository: same digest, blobs mounted"
for image in tiny:latest layered:gzip tiny:docker; do
  out=$(pull "$REG/$image" 2>"$work/err") || fail "pull $image: $(cat "$work/err")"
  digest=$(sed -n 1p <<<"$out")
  mark=$(log_mark)
  target=$REG/$ns/${image%%:*}:copy-${image##*:}
  out=$(push "$REG/$image" "docker://$target" 2>"$work/err") || fail "push $image: $(cat "$work/err")"
  [[ $(sed -n 1p <<<"$out") == "$digest" ]] || fail "push $image: digest $(sed -n 1p <<<"$out"), pulled $digest"
  [[ $(sed -n 2p <<<"$out") == "$target" ]] || fail "push $image: printed reference $(sed -n 2p <<<"$out")"
  grep -q "pulled image: 0 blobs uploaded" "$work/err" || fail "push $image uploaded blobs: $(cat "$work/err")"
  [[ $(skopeo_raw "$target" | sha256sum | cut -d' ' -f1) == "${digest#sha256:}" ]] ||
    fail "push $image: the registry's manifest is not byte-identical"
  if [[ -n $LOG && -f $LOG ]]; then
    requests=$(log_since "$mark")
    ! grep -q '"PATCH ' <<<"$requests" || fail "push $image sent blob bytes: $requests"
    # Mounted, or there already (tiny:docker shares tiny:latest's blobs).
    mounts=$(grep -c 'mount=sha256.*from=.* 201$' <<<"$requests" || true)
    present=$(grep -c '"HEAD /v2/[^ ]*/blobs/sha256:[^ ]* HTTP/1.1" 200$' <<<"$requests" || true)
    blobs=$(skopeo_raw "$target" | python3 -c 'import json,sys; m=json.load(sys.stdin); print(len(m["layers"]) + 1)')
    [[ $((mounts + present)) -eq $blobs ]] || fail "push $image: $mounts mounted, $present present of $blobs blobs: $requests"
  fi
  echo "ok: $image -> $target ($digest)"
done
# The same target again: every blob is there already (HEAD), nothing is mounted or sent.
mark=$(log_mark)
push "$REG/tiny:latest" "docker://$REG/$ns/tiny:copy-latest" >/dev/null 2>"$work/err" ||
  fail "second push: $(cat "$work/err")"
grep -q "0 blobs uploaded (0.0 MiB), 0 mounted, 2 already there" "$work/err" ||
  fail "second push: $(cat "$work/err")"
[[ -z $LOG ]] || ! log_since "$mark" | grep -q '"POST ' || fail "second push started uploads"
echo "ok: pushed again, nothing sent"

echo "== to another registry, blobs gone from the cache: fetched again, same digest"
if [[ -n ${BERTH_TEST_AUTH_REGISTRY:-} ]]; then
  digest=$(pull "$REG/tiny:latest" 2>/dev/null | sed -n 1p)
  rm -f "$cache"/blobs/sha256-*
  out=$(innetns env BERTH_INSECURE_REGISTRIES="$REG,$BERTH_TEST_AUTH_REGISTRY" \
    BERTH_REGISTRY_USER="$BERTH_TEST_AUTH_USER" BERTH_REGISTRY_PASSWORD="$BERTH_TEST_AUTH_PASSWORD" \
    "$BERTH_BIN" push --cache "$cache" "$REG/tiny:latest" "docker://$BERTH_TEST_AUTH_REGISTRY/$ns/refetched:v1" \
    2>"$work/err") || fail "push to the auth registry: $(cat "$work/err")"
  [[ $(sed -n 1p <<<"$out") == "$digest" ]] || fail "push to the auth registry: digest $(sed -n 1p <<<"$out")"
  grep -q "pulled image: 2 blobs uploaded" "$work/err" || fail "blobs not uploaded: $(cat "$work/err")"
  ls "$cache"/blobs/sha256-* >/dev/null 2>&1 || fail "the layer was not fetched into the blob cache"
  echo "ok: re-fetched and uploaded ($digest)"
fi

echo "== flattened (--squash): umoci's tree of the pushed image is berth's squashfs tree"
out=$(pull "$REG/layered:gzip" 2>"$work/err") || fail "pull layered: $(cat "$work/err")"
layered_sqsh=$(sed -n 2p <<<"$out")
out=$(push --squash "$REG/layered:gzip" "docker://$REG/$ns/flat:v1" 2>"$work/err") ||
  fail "push --squash: $(cat "$work/err")"
flat_digest=$(sed -n 1p <<<"$out")
grep -q "flattened image: 2 blobs uploaded" "$work/err" || fail "push --squash: $(cat "$work/err")"
manifest=$(skopeo_raw "$REG/$ns/flat:v1")
python3 - "$manifest" <<'PY' || fail "flattened manifest: $manifest"
import json, sys
m = json.loads(sys.argv[1])
assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
assert len(m["layers"]) == 1 and m["layers"][0]["mediaType"].endswith("tar+gzip")
PY
config=$(skopeo_config "$REG/$ns/flat:v1")
python3 - "$config" <<'PY' || fail "flattened config: $config"
import json, sys
c = json.loads(sys.argv[1])
assert c["config"]["Labels"]["org.berth.test-image"] == "layered", c
assert c["config"]["Cmd"] == ["/bin/sh"], c
assert len(c["rootfs"]["diff_ids"]) == 1 and len(c["history"]) == 1, c
assert not c["history"][0].get("empty_layer"), c
PY
innetns skopeo copy -q --src-tls-verify=false "docker://$REG/$ns/flat:v1" "oci:$work/oci:flat"
umoci raw unpack --image "$work/oci:flat" "$work/rootfs" >/dev/null 2>&1 || fail "umoci raw unpack"
mount -t squashfs -o loop,ro "$layered_sqsh" "$mnt"
python3 "$listing" "$mnt" | grep -v '^/\.berth' >"$work/berth-tree.txt"
umount "$mnt"
python3 "$listing" "$work/rootfs" | grep -v '^/\.berth' >"$work/umoci-tree.txt"
grep -q $'\t4755\t' "$work/berth-tree.txt" || fail "the layered image has no setuid file?"
grep -q 'user.berth=test' "$work/berth-tree.txt" || fail "the layered image has no xattr?"
diff -u "$work/berth-tree.txt" "$work/umoci-tree.txt" || fail "umoci's tree of the flattened push differs (- berth, + umoci)"
[[ ! -e $work/rootfs/.berth/config.json && ! -e $work/rootfs/.berth/source.json ]] ||
  fail "the flattened layer carries /.berth/config.json or source.json"
out=$(pull "$REG/$ns/flat:v1" 2>"$work/err") || fail "pull the flattened image: $(cat "$work/err")"
[[ $(sed -n 1p <<<"$out") == "$flat_digest" ]] || fail "pulled flattened digest differs"
echo "ok: flattened layered:gzip ($flat_digest)"

echo "== a sandbox directory: config kept verbatim, /.berth/runscript survives, zstd"
sandbox=$work/sandbox
mkdir -p "$sandbox"/{bin,etc,srv/app,.berth}
cp -a "$work/rootfs/bin/busybox" "$sandbox/bin/"
ln -s busybox "$sandbox/bin/sh"
echo "hello from the sandbox" >"$sandbox/srv/app/hello.txt"
chown 1234:5678 "$sandbox/srv/app/hello.txt"
printf '#!/bin/sh\necho runscript\n' >"$sandbox/.berth/runscript"
chmod 755 "$sandbox/.berth/runscript"
cat >"$sandbox/.berth/config.json" <<'JSON'
{"architecture": "amd64", "os": "linux",
 "config": {"Env": ["PATH=/bin", "GREETING=hello world"], "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["cat /srv/app/hello.txt"], "WorkingDir": "/srv/app", "User": "1234:5678",
            "Labels": {"org.example.name": "sandbox", "org.example.quote": "a \"quoted\" value"}},
 "rootfs": {"type": "layers", "diff_ids": ["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}
JSON
out=$(push --compression zstd "$sandbox" "docker://$REG/$ns/sandbox:zstd" 2>"$work/err") ||
  fail "push the sandbox: $(cat "$work/err")"
sandbox_digest=$(sed -n 1p <<<"$out")
skopeo_raw "$REG/$ns/sandbox:zstd" | grep -q 'application/vnd.oci.image.layer.v1.tar+zstd' ||
  fail "sandbox: not a zstd layer"
config=$(skopeo_config "$REG/$ns/sandbox:zstd")
python3 - "$config" <<'PY' || fail "sandbox config: $config"
import json, sys
c = json.loads(sys.argv[1])["config"]
assert c["Env"] == ["PATH=/bin", "GREETING=hello world"], c
assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"] == ["cat /srv/app/hello.txt"], c
assert c["WorkingDir"] == "/srv/app" and c["User"] == "1234:5678", c
assert c["Labels"] == {"org.example.name": "sandbox", "org.example.quote": 'a "quoted" value'}, c
PY
out=$(pull "$REG/$ns/sandbox:zstd" 2>"$work/err") || fail "pull the pushed sandbox: $(cat "$work/err")"
[[ $(sed -n 1p <<<"$out") == "$sandbox_digest" ]] || fail "pulled sandbox digest differs"
mount -t squashfs -o loop,ro "$(sed -n 2p <<<"$out")" "$mnt"
[[ -x $mnt/.berth/runscript ]] || fail "/.berth/runscript lost on push -> pull"
grep -q '"GREETING=hello world"' "$mnt/.berth/config.json" || fail "pulled config: $(cat "$mnt/.berth/config.json")"
[[ $(stat -c %u:%g "$mnt/srv/app/hello.txt") == 1234:5678 ]] || fail "owner of hello.txt lost"
grep -q "$ns/sandbox:zstd" "$mnt/.berth/source.json" || fail "source.json not regenerated"
umount "$mnt"

echo "ok: sandbox ($sandbox_digest)"

echo "== an upload broken mid-blob resumes"
start_proxy --fault patch-drop-once
out=$(innetns env BERTH_INSECURE_REGISTRIES="$REG,$proxy_addr" BERTH_PUSH_CHUNK_SIZE=256K SOURCE_DATE_EPOCH=1700000000 "$BERTH_BIN" -v push \
  --cache "$cache" --squash "$REG/tiny:latest" "docker://$proxy_addr/$ns/resumed:v1" 2>"$work/err") ||
  fail "resumed push: $(cat "$work/err")"
grep -q ' dropped$' "$work/proxy.log" || fail "the proxy dropped nothing: $(cat "$work/proxy.log")"
grep -q 'resuming at byte 262144' "$work/err" || fail "not resumed at the registry's Range: $(cat "$work/err")"
grep -q "^GET /v2/$ns/resumed/blobs/uploads/" "$work/proxy.log" || fail "upload status not asked"
posts=$(grep -c "^POST /v2/$ns/resumed/blobs/uploads/ 202" "$work/proxy.log" || true)
[[ $posts -eq 2 ]] || fail "resume started $posts uploads for 2 blobs: $(cat "$work/proxy.log")"
resumed_digest=$(sed -n 1p <<<"$out")
pull "$proxy_addr/$ns/resumed:v1" >/dev/null 2>"$work/err" || fail "pull the resumed image: $(cat "$work/err")"
echo "ok: resumed ($resumed_digest)"
start_proxy --fault patch-cut-once
out=$(innetns env BERTH_INSECURE_REGISTRIES="$REG,$proxy_addr" BERTH_PUSH_CHUNK_SIZE=256K SOURCE_DATE_EPOCH=1700000000 "$BERTH_BIN" -v push \
  --cache "$cache" --squash "$REG/tiny:latest" "docker://$proxy_addr/$ns/restarted:v1" 2>"$work/err") ||
  fail "restarted push: $(cat "$work/err")"
grep -q ' cut$' "$work/proxy.log" || fail "the proxy cut nothing"
[[ $(sed -n 1p <<<"$out") == "$resumed_digest" ]] || fail "restarted push: another digest (SOURCE_DATE_EPOCH makes flattening reproducible)"
pull "$proxy_addr/$ns/restarted:v1" >/dev/null 2>"$work/err" || fail "pull the restarted image: $(cat "$work/err")"
echo "ok: an upload the registry dropped starts over"

echo "== no permission to push: one clear line"
start_proxy --fault deny-push
if innetns env BERTH_INSECURE_REGISTRIES="$REG,$proxy_addr" "$BERTH_BIN" push --cache "$cache" \
  "$REG/tiny:latest" "docker://$proxy_addr/$ns/denied:v1" >/dev/null 2>"$work/err"; then
  fail "push to a read-only registry succeeded"
fi
[[ $(wc -l <"$work/err") -eq 1 ]] || fail "denied push: not one line: $(cat "$work/err")"
grep -q 'requested access to the resource is denied (HTTP 403)' "$work/err" || fail "denied push: $(cat "$work/err")"
echo "ok: $(cat "$work/err")"
if [[ -n ${BERTH_TEST_TOKEN_REGISTRY:-} && -n ${BERTH_TEST_CA_FILE:-} ]]; then
  # The token service's `limited` user may pull tiny and push to limited/* only.
  token() {
    innetns env BERTH_REGISTRY_CA_FILE="$BERTH_TEST_CA_FILE" BERTH_REGISTRY_USER=limited \
      BERTH_REGISTRY_PASSWORD="$BERTH_TEST_TOKEN_PASSWORD" "$BERTH_BIN" -q push --cache "$cache" "$@"
  }
  out=$(token "$REG/tiny:latest" "docker://$BERTH_TEST_TOKEN_REGISTRY/limited/tiny:v1" 2>"$work/err") ||
    fail "push with a push token: $(cat "$work/err")"
  [[ $(sed -n 1p <<<"$out") == "$(pull "$REG/tiny:latest" 2>/dev/null | sed -n 1p)" ]] || fail "token push: digest"
  if token "$REG/tiny:latest" "docker://$BERTH_TEST_TOKEN_REGISTRY/tiny:pushed" >/dev/null 2>"$work/err"; then
    fail "push with a read-only token succeeded"
  fi
  [[ $(wc -l <"$work/err") -eq 1 ]] || fail "read-only token: not one line: $(cat "$work/err")"
  grep -qE 'may not push|refused|denied' "$work/err" || fail "read-only token: $(cat "$work/err")"
  echo "ok: token registry: $(cat "$work/err")"
fi

echo OK
