#!/usr/bin/env bash
# An image not in the cache is pulled once for a 2-node step: one node downloads each blob,
# the other waits for it (blob GETs counted in the registry's log), and srun says so.
# A pull cancelled half-way: test_spank_pull_cancel.sh.
source "$(dirname "$0")/spank_lib.sh"

[ -n "${BERTH_TEST_REGISTRY_LOG:-}" ] && [ -f "$BERTH_TEST_REGISTRY_LOG" ] ||
  fail "BERTH_TEST_REGISTRY_LOG not set or missing in $BERTH_TESTBED_ENV"
BERTH_BIN=${BERTH_BIN:-$BERTH_TOP/build/image_tool/berth}
[ -x "$BERTH_BIN" ] || fail "no berth binary at $BERTH_BIN"

image=$BERTH_TEST_REGISTRY/layered:gzip
# Out of the site cache first (the test bed's: image_cache in the plugin's plugstack arguments).
site_cache=${BERTH_TEST_SITE_CACHE:?the test bed sets BERTH_TEST_SITE_CACHE}
"$BERTH_BIN" cache --cache "$site_cache" rm "$image" >/dev/null 2>&1 || true
# ... and its layers out of the blob store the cache keeps for re-pulls.
"$BERTH_BIN" cache --cache "$site_cache" gc --max-size 0 >/dev/null || fail "berth cache gc failed"

before=$(wc -l <"$BERTH_TEST_REGISTRY_LOG")
as_user_ok srun -N2 -n2 --container-image="$image" sh -c 'echo "on $(hostname)"'
[ "$(grep -c '^on ' "$OUT")" = 2 ] || { show; fail "expected 2 task lines"; }
grep -q 'not in the image cache yet: the nodes pull it first' "$ERR" ||
  { show; fail "srun did not say that the image is pulled"; }

new_lines=$(tail -n +"$((before + 1))" "$BERTH_TEST_REGISTRY_LOG")
manifest=$(testbed_in_netns skopeo inspect --tls-verify=false --raw "docker://$image")
read -r config layers < <(/usr/bin/python3 -c '
import json, sys
m = json.loads(sys.argv[1])
print(m["config"]["digest"], ",".join(l["digest"] for l in m["layers"]))' "$manifest")
count_gets() { grep -cE "\"GET /v2/[^ ]*/blobs/$1 " <<<"$new_lines" || true; }
for layer in ${layers//,/ }; do
  n=$(count_gets "$layer")
  [ "$n" = 1 ] || { grep -E 'GET /v2/' <<<"$new_lines" >&2; fail "layer $layer fetched $n times for a 2-node step (expected once)"; }
done
# The config blob once too: resolving reads it (the platform of a single-platform image) and the
# conversion reuses it.
n=$(count_gets "$config")
[ "$n" = 1 ] || { grep -E 'GET /v2/' <<<"$new_lines" >&2; fail "config $config fetched $n times (expected once)"; }
# Only one node asked the registry for the pinned manifest: the other waited for its pull.
digest=$(grep -oE '"GET /v2/layered/manifests/sha256:[0-9a-f]{64} ' <<<"$new_lines" | sort | uniq -c)
[ "$(wc -l <<<"$digest")" = 1 ] && [ "$(awk '{print $1}' <<<"$digest")" = 1 ] ||
  { grep -E 'GET /v2/' <<<"$new_lines" >&2; fail "the pinned manifest was fetched by more than one node: $digest"; }
pass "pulled once for 2 nodes: $(wc -w <<<"${layers//,/ }") layers each fetched once, one node resolved the pinned digest"

# Cached now: the next step fetches no blob.
before=$(wc -l <"$BERTH_TEST_REGISTRY_LOG")
as_user_ok srun -N2 -n2 --container-image="$image" true
new_lines=$(tail -n +"$((before + 1))" "$BERTH_TEST_REGISTRY_LOG")
for layer in ${layers//,/ }; do
  [ "$(count_gets "$layer")" = 0 ] || fail "layer $layer of a cached image was downloaded again"
done
pass "cached image: no layer fetched"
nodes_in_service
no_leftovers
