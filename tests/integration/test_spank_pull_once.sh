#!/usr/bin/env bash
# An image not in the cache is pulled once for a 2-node step: one node downloads each blob,
# the other waits for it (blob GETs counted in the registry's log), and srun says so.
source "$(dirname "$0")/spank_lib.sh"

[ -n "${BERTH_TEST_REGISTRY_LOG:-}" ] && [ -f "$BERTH_TEST_REGISTRY_LOG" ] ||
  fail "BERTH_TEST_REGISTRY_LOG not set or missing in $BERTH_TESTBED_ENV"
[ -x "${BERTH_BIN:-}" ] || fail "BERTH_BIN is not set"

image=$BERTH_TEST_REGISTRY/layered:gzip
# Out of the site cache first (the cache the plugin uses: berth.conf of the test bed).
"$BERTH_BIN" cache rm "$image" >/dev/null 2>&1 || true

before=$(wc -l <"$BERTH_TEST_REGISTRY_LOG")
as_user_ok srun -N2 -n2 --container-image="$image" sh -c 'echo "on $(hostname)"'
[ "$(grep -c '^on ' "$OUT")" = 2 ] || { show; fail "expected 2 task lines"; }
grep -q 'not in the image cache yet: the nodes pull it first' "$ERR" ||
  { show; fail "srun did not say that the image is pulled"; }

new_lines=$(tail -n +"$((before + 1))" "$BERTH_TEST_REGISTRY_LOG")
blob_gets=$(grep -E '"?GET /v2/[^ ]*/blobs/sha256:' <<<"$new_lines" | grep -oE 'blobs/sha256:[0-9a-f]{64}' | sort)
[ -n "$blob_gets" ] || fail "no blob GETs in the registry log: was the image really not cached?"
dupes=$(uniq -d <<<"$blob_gets")
[ -z "$dupes" ] || fail "blobs fetched more than once: $dupes"
pass "pulled once for 2 nodes: $(wc -l <<<"$blob_gets") blob GET(s), each once"

# Cached now: the next step fetches no blob.
before=$(wc -l <"$BERTH_TEST_REGISTRY_LOG")
as_user_ok srun -N2 -n2 --container-image="$image" true
if tail -n +"$((before + 1))" "$BERTH_TEST_REGISTRY_LOG" | grep -q '/blobs/sha256:'; then
  fail "a cached image was downloaded again"
fi
pass "cached image: no blob fetched"
nodes_in_service
no_leftovers
