#!/usr/bin/env bash
# The registry client against the test bed's real registries (distribution 2.8): resolve and
# fetch every test image (gzip, zstd, multi-arch), auth with `berth login` and environment
# credentials (Basic), the Bearer token flow and injected faults through registry_proxy.py.
# Needs: BERTH_TEST_REGISTRY, BERTH_TEST_AUTH_REGISTRY, BERTH_TEST_AUTH_USER,
# BERTH_TEST_AUTH_PASSWORD (from the test bed's env file) and the netns $BERTH_NETNS.
set -euo pipefail
top=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/scripts/lib/testbed.sh"
if [ -z "${BERTH_TEST_REGISTRY:-}" ] && [ -f "$BERTH_TESTBED_ENV" ]; then
  set -a; . "$BERTH_TESTBED_ENV"; set +a
fi
if [ -z "${BERTH_TEST_REGISTRY:-}" ] || [ ! -e "/run/netns/$BERTH_NETNS" ]; then
  echo "FAIL: the test bed's registry is not up (scripts/testbed start)"; exit 1
fi
probe=${BERTH_REGISTRY_PROBE:-${BERTH_BUILD_DIR:-$top/build}/tests/integration/registry_probe}
berth=${BERTH_BIN:-${BERTH_BUILD_DIR:-$top/build}/image_tool/berth}
proxy_script=$top/tests/integration/registry_proxy.py
reg=$BERTH_TEST_REGISTRY
auth=$BERTH_TEST_AUTH_REGISTRY
work=$(mktemp -d /tmp/berth-registry-test.XXXXXX)
proxy_pid=
cleanup() {
  # `wait` reports the killed proxy's status; under set -e that would become the exit status.
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export XDG_CONFIG_HOME=$work/xdg HOME=$work/home
mkdir -p "$HOME"
unset BERTH_REGISTRY_USER BERTH_REGISTRY_PASSWORD DOCKER_CONFIG
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
innetns() { nsenter --net="/run/netns/$BERTH_NETNS" -- "$@"; }
# probe ARGS...: runs registry_probe in the netns; stdout to $work/out, stderr to $work/err.
probe() {
  innetns env BERTH_INSECURE_REGISTRIES="${insecure}" "$probe" --retries 2 "$@" \
    >"$work/out" 2>"$work/err"
}
expect_ok() { probe "$@" || { fail "registry_probe $* failed: $(cat "$work/err")"; return 1; }; }
expect_error() {  # PATTERN ARGS...
  local pattern=$1; shift
  if probe "$@"; then fail "registry_probe $* succeeded, expected: $pattern"; return 1; fi
  grep -q -- "$pattern" "$work/err" || fail "registry_probe $*: expected '$pattern' in: $(cat "$work/err")"
  [ "$(wc -l <"$work/err")" -eq 1 ] || fail "registry_probe $*: error is not one line: $(cat "$work/err")"
}
# Every fetched file's sha256 equals its digest, and the files exist.
check_fetched() {  # DIR
  local n=0 digest actual
  while read -r _ digest actual; do
    [ "$digest" = "$actual" ] || fail "fetched $digest but the file hashes to $actual"
    [ -f "$1/sha256-${digest#sha256:}" ] || fail "no file for $digest in $1"
    n=$((n + 1))
  done < <(grep '^fetched ' "$work/out")
  [ "$n" -ge 2 ] || fail "expected a config and at least one layer, got $n files"
  ! ls "$1"/*.partial >/dev/null 2>&1 || fail "partial files left in $1"
}
start_proxy() {  # ARGS... (listens on $proxy_addr, forwards to $reg)
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null || true
  proxy_addr=127.0.0.1:$(testbed_free_port)
  # nsenter execs python (no fork, no subshell), so $! is the proxy itself.
  nsenter --net="/run/netns/$BERTH_NETNS" -- python3 "$proxy_script" --listen "$proxy_addr" \
    --upstream "$reg" "$@" </dev/null >/dev/null 2>"$work/proxy.log" &
  proxy_pid=$!
  for _ in $(seq 50); do innetns bash -c "exec 3<>/dev/tcp/${proxy_addr/:/\/}" 2>/dev/null && break; sleep 0.1; done
  insecure=$reg,$auth,$proxy_addr
}
insecure=$reg,$auth
host_arch=$(uname -m); case $host_arch in x86_64) host_arch=amd64 ;; aarch64) host_arch=arm64 ;; esac

echo "== gzip image: resolve, fetch, verify"
if expect_ok --dir "$work/tiny" "$reg/tiny:latest"; then
  check_fetched "$work/tiny"
  grep -q "^reference $reg/tiny:latest@sha256:[0-9a-f]\{64\}$" "$work/out" || fail "reference not pinned: $(cat "$work/out")"
  grep -q '^layer application/vnd.oci.image.layer.v1.tar+gzip \|^layer application/vnd.docker.image.rootfs.diff.tar.gzip ' "$work/out" || fail "no gzip layer"
  grep -q "^platform linux/$host_arch" "$work/out" || fail "platform is not the host's"
  grep -q '^index -$' "$work/out" || fail "single-platform image reported an index"
  manifest=$(awk '/^manifest /{print $2}' "$work/out")
  expect_ok "$reg/tiny@$manifest" && grep -q "^manifest $manifest$" "$work/out" || fail "resolve by digest"
fi

echo "== zstd image"
expect_ok --dir "$work/zstd" "docker://$reg/tiny:zstd" && check_fetched "$work/zstd"
grep -q '^layer application/vnd.oci.image.layer.v1.tar+zstd ' "$work/out" || fail "no zstd layer"

echo "== multi-arch image: host platform, --platform, no match"
if expect_ok "$reg/multiarch:latest"; then
  grep -q '^index sha256:' "$work/out" || fail "no index digest for multiarch"
  host_manifest=$(awk '/^manifest /{print $2}' "$work/out")
  grep -q "^platform linux/$host_arch" "$work/out" || fail "multiarch: not the host platform"
fi
other=arm64; [ "$host_arch" = arm64 ] && other=amd64
if expect_ok --platform "linux/$other" --dir "$work/multi" "$reg/multiarch:latest"; then
  grep -q "^platform linux/$other" "$work/out" || fail "--platform linux/$other not honoured"
  grep -q "^manifest ${host_manifest:-none}$" "$work/out" && fail "--platform chose the host manifest"
  check_fetched "$work/multi"
fi
expect_error "no image for platform linux/s390x; available: .*linux/$host_arch" --platform linux/s390x "$reg/multiarch:latest"

echo "== errors name the reference"
expect_error "resolve \`$reg/tiny:no-such-tag\`: manifest unknown" "$reg/tiny:no-such-tag"
expect_error "resolve \`$reg/no/such/repo:latest\`: .*unknown" "$reg/no/such/repo"
dead=127.0.0.1:$(testbed_free_port)
insecure=$reg,$auth,$dead expect_error "cannot reach registry $dead" "$dead/tiny:latest"
insecure= expect_error "BERTH_INSECURE_REGISTRIES=$reg" "$reg/tiny:latest"

echo "== no /v2/ ping: the first request to a registry is the one that is needed"
if [ -n "${BERTH_TEST_REGISTRY_LOG:-}" ] && [ -f "$BERTH_TEST_REGISTRY_LOG" ]; then
  before=$(wc -l <"$BERTH_TEST_REGISTRY_LOG")
  expect_ok "$reg/tiny:latest"
  sleep 0.2  # the registry writes its access log after answering
  requests=$(tail -n +"$((before + 1))" "$BERTH_TEST_REGISTRY_LOG" | grep -oE '"(GET|HEAD) /v2/[^ ]*' || true)
  grep -q '"GET /v2/tiny/manifests/latest' <<<"$requests" || fail "no manifest request logged: $requests"
  grep -qx '"GET /v2/' <<<"$requests" && fail "the client pinged /v2/ first: $requests"
else
  fail "BERTH_TEST_REGISTRY_LOG not set: cannot check the requests"
fi

echo "== Basic auth: none, wrong (password never shown), berth login, environment"
expect_error "registry $auth requires credentials" "$auth/tiny:latest"
wrong="wrong-pw-$RANDOM-$RANDOM"
echo "$wrong" | "$berth" login --username "$BERTH_TEST_AUTH_USER" --password-stdin "$auth" >/dev/null
[ "$(stat -c %a "$XDG_CONFIG_HOME/berth/auth.json")" = 600 ] || fail "auth.json is not mode 0600"
[ "$(stat -c %a "$XDG_CONFIG_HOME/berth")" = 700 ] || fail "config dir is not mode 0700"
grep -q -- "$wrong" "$XDG_CONFIG_HOME/berth/auth.json" && fail "password in clear text in auth.json"
expect_error "refused the credentials from berth login (HTTP 401" "$auth/tiny:latest"
grep -q -- "$wrong" "$work/err" && fail "the wrong password appears in the error"
innetns env BERTH_INSECURE_REGISTRIES="$insecure" "$probe" -v "$auth/tiny:latest" >/dev/null 2>"$work/verbose" || true
grep -q -- "$wrong" "$work/verbose" && fail "the wrong password appears in the debug log"
echo "$BERTH_TEST_AUTH_PASSWORD" | "$berth" login --username "$BERTH_TEST_AUTH_USER" --password-stdin "$auth" >/dev/null
expect_ok --dir "$work/auth" "$auth/tiny:latest" && check_fetched "$work/auth"
"$berth" logout "$auth" | grep -q "Removed credentials for $auth" || fail "logout"
expect_error "requires credentials" "$auth/tiny:latest"
suffix=$(echo "$auth" | tr -c 'A-Za-z0-9\n' '_' | tr a-z A-Z)
export "BERTH_REGISTRY_USER_$suffix=$BERTH_TEST_AUTH_USER" "BERTH_REGISTRY_PASSWORD_$suffix=$BERTH_TEST_AUTH_PASSWORD"
expect_ok "$auth/tiny:latest"
echo "== enroot's USER@REGISTRY#IMAGE: that user's credentials, never another's or none"
expect_ok "$BERTH_TEST_AUTH_USER@$auth#tiny:latest"
expect_error "no credentials of user \`someone-else\` for $auth" "someone-else@$auth#tiny:latest"
unset "BERTH_REGISTRY_USER_$suffix" "BERTH_REGISTRY_PASSWORD_$suffix"

echo "== Bearer token flow (proxy in front of the registry)"
start_proxy --bearer ":"
expect_ok "$proxy_addr/tiny:latest"
grep -q 'GET /token?service=berth-test&scope=repository%3Atiny%3Apull 200' "$work/proxy.log" || fail "no anonymous token request"
start_proxy --bearer "tokuser:tok-pw-42"
expect_error "refused anonymous access to tiny (token service: HTTP 401)" "$proxy_addr/tiny:latest"
BERTH_REGISTRY_USER=tokuser BERTH_REGISTRY_PASSWORD=bad-tok-pw expect_error "refused the credentials from environment" "$proxy_addr/tiny:latest"
grep -q bad-tok-pw "$work/err" && fail "token password in the error"
export BERTH_REGISTRY_USER=tokuser BERTH_REGISTRY_PASSWORD=tok-pw-42
expect_ok --dir "$work/bearer" "$proxy_addr/tiny:latest" && check_fetched "$work/bearer"
unset BERTH_REGISTRY_USER BERTH_REGISTRY_PASSWORD

echo "== faults: truncation (resumed with Range), 500s (retried), corruption, persistent truncation"
start_proxy --fault truncate
expect_ok --dir "$work/trunc" "$proxy_addr/tiny:latest" && check_fetched "$work/trunc"
grep -q 'blobs/.* 200 truncated' "$work/proxy.log" || fail "proxy did not truncate"
grep -q 'blobs/.* 206$' "$work/proxy.log" || fail "truncated layer not resumed with Range"
start_proxy --fault truncate --fault norange
expect_ok --dir "$work/norange" "$proxy_addr/tiny:latest" && check_fetched "$work/norange"
start_proxy --fault 500-once
expect_ok --dir "$work/500" "$proxy_addr/tiny:latest" && check_fetched "$work/500"
start_proxy --fault 500-always
expect_error "injected failure (HTTP 500)" --dir "$work/500a" "$proxy_addr/tiny:latest"
start_proxy --fault corrupt
expect_error "digest mismatch: expected sha256:" --dir "$work/corrupt" "$proxy_addr/tiny:latest"
start_proxy --fault truncate-always
expect_error "truncated blob" --dir "$work/trunca" "$proxy_addr/tiny:latest"

echo "== mirrors: tried first, the registry itself when they fail"
start_proxy
expect_ok --mirror "$reg=http://$proxy_addr" --dir "$work/mirror" "$reg/tiny:latest" && check_fetched "$work/mirror"
grep -q 'GET /v2/tiny/manifests/latest 200' "$work/proxy.log" || fail "the mirror was not used"
grep -q 'GET /v2/tiny/blobs/' "$work/proxy.log" || fail "blobs did not come from the mirror"
expect_ok --mirror "$reg=http://$dead" --dir "$work/mirror2" "$reg/tiny:latest" && check_fetched "$work/mirror2"

echo "== blobs already present are not downloaded again"
start_proxy
expect_ok --dir "$work/again" "$proxy_addr/tiny:latest"
: >"$work/proxy.log"
expect_ok --dir "$work/again" "$proxy_addr/tiny:latest" && check_fetched "$work/again"
for layer in $(awk '/^layer /{print $3}' "$work/out"); do
  grep -q "blobs/$layer" "$work/proxy.log" && fail "layer $layer was downloaded again"
done

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"; exit 1
fi
echo "all registry client checks passed"
