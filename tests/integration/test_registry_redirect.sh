#!/usr/bin/env bash
# A registry that answers blob GETs with a 307 to "object storage" on another host and port
# (BERTH_TEST_REDIRECT_REGISTRY in front of the token registry, blob store on 127.0.0.2, both
# HTTPS; scripts/lib/registry/redirect_registry.py), as registries backed by S3 do: pulls
# follow the redirect, and the storage never sees the registry's Authorization header (it
# refuses such requests, as S3 does) nor any other credential; manifests still go to the
# registry with the token.
source "$(dirname "$0")/registry_lib.sh"
reg=$BERTH_TEST_REDIRECT_REGISTRY
store=$BERTH_TEST_BLOB_STORE
store_log=$BERTH_TEST_BLOB_STORE_LOG
redirect_log=$BERTH_TEST_REDIRECT_LOG
password=$BERTH_TEST_TOKEN_PASSWORD
env_extra=("BERTH_REGISTRY_CA_FILE=$BERTH_TEST_CA_FILE" "BERTH_REGISTRY_USER=berth"
  "BERTH_REGISTRY_PASSWORD=$password")

echo "== blobs come from the storage, without credentials"
store_mark=$(wc -l <"$store_log")
redirect_mark=$(wc -l <"$redirect_log")
expect_ok --dir "$work/blobs" "$reg/tiny:latest" && check_fetched "$work/blobs"
sleep 0.2
redirects=$(log_since "$redirect_log" "$redirect_mark" | grep -c " 307 -> https://$store/blobs/sha256/" || true)
served=$(log_since "$store_log" "$store_mark")
[ "$redirects" -ge 2 ] || fail "expected the config and layer GETs to be redirected: $(log_since "$redirect_log" "$redirect_mark")"
[ "$(grep -c ' authorization=absent .* 200 ' <<<"$served" || true)" -ge 2 ] ||
  fail "the blob store served too little: $served"
grep -q 'authorization=PRESENT' <<<"$served" && fail "Authorization reached the blob store: $served"
grep -qiE 'headers=[^ ]*(authorization|cookie|proxy-authorization)' <<<"$served" &&
  fail "a credential header reached the blob store: $served"
# The registry itself got the token (manifests are not redirected).
log_since "$redirect_log" "$redirect_mark" | grep -q "GET /v2/tiny/manifests/latest 200" ||
  fail "the manifest did not come from the registry: $(log_since "$redirect_log" "$redirect_mark")"

echo "== a whole pull (berth pull) through the redirects"
store_mark=$(wc -l <"$store_log")
pull "$reg/tiny:zstd" || fail "berth pull through redirects: $(cat "$work/err")"
sleep 0.2
grep -q 'authorization=PRESENT' <(log_since "$store_log" "$store_mark") &&
  fail "Authorization reached the blob store during berth pull"
log_since "$store_log" "$store_mark" | grep -q ' 200 ' || fail "berth pull did not use the blob store"

echo "== the storage is HTTPS with the same CA: without it, the registry is refused first"
env_extra=("BERTH_REGISTRY_USER=berth" "BERTH_REGISTRY_PASSWORD=$password")
expect_error "$reg: TLS certificate not trusted" "$reg/tiny:latest" || true

finish
