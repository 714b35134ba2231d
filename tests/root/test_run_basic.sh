#!/usr/bin/env bash
# berth run/exec/inspect on a real squashfs image: what is visible, environment, entrypoint,
# exit codes and signals, bad input; nothing left mounted afterwards.
source "$(dirname "$0")/lib/common.sh"
cd /tmp

# The image's files are seen, the host's are not (except what is bound).
expect_eq "$($BERTH exec "$IMG" cat /etc/image-marker)" "image-only file" "image file"
expect_eq "$($BERTH exec "$IMG" sh -c 'test -e /etc/debian_version && echo host || echo none')" \
  none "host file hidden"
expect_eq "$($BERTH exec "$IMG" sh -c 'grep -c berth /etc/os-release')" 1 "image os-release"
touch /tmp/berth-basic-marker.$$
expect_eq "$($BERTH exec "$IMG" ls /tmp/berth-basic-marker.$$)" "/tmp/berth-basic-marker.$$" \
  "host /tmp bound"
expect_eq "$($BERTH exec --contain "$IMG" sh -c "ls /tmp/berth-basic-marker.$$ 2>&1 || true")" \
  "ls: /tmp/berth-basic-marker.$$: No such file or directory" "--contain: private /tmp"
rm -f /tmp/berth-basic-marker.$$
expect_contains "$($BERTH exec "$IMG" cat /proc/self/mountinfo)" " / ro,nosuid,nodev" "ro root"
pass "visibility"

# Environment: tests/root/test_run_environment.sh.

# run: Docker ENTRYPOINT/CMD rules; working directory.
expect_eq "$($BERTH run "$IMG")" "entry default-cmd" "run: entrypoint + cmd"
expect_eq "$($BERTH run "$IMG" a b)" "entry a b" "run: args replace cmd"
expect_eq "$($BERTH run --entrypoint /bin/echo "$IMG" x)" "x" "run: --entrypoint"
expect_eq "$(cd / && $BERTH exec "$IMG" pwd)" "/srv" "image WorkingDir"
expect_eq "$($BERTH exec --pwd /etc "$IMG" pwd)" "/etc" "--pwd"
expect_eq "$(cd /tmp && $BERTH exec "$IMG" pwd)" "/tmp" "cwd when bound"
pass "entrypoint/cmd/workdir"

# Exit codes and signals pass through.
set +e
$BERTH exec "$IMG" sh -c 'exit 42'; rc=$?
expect_eq $rc 42 "exit code"
$BERTH exec "$IMG" sh -c 'kill -TERM $$'; rc=$?
expect_eq $rc 143 "killed by SIGTERM"
$BERTH exec "$IMG" sh -c 'kill -KILL $$'; rc=$?
expect_eq $rc 137 "killed by SIGKILL"
set -e
pass "exit codes and signals"

# Bad input: one line, non-zero, nothing left behind.
bad() {  # bad EXPECTED-FRAGMENT berth-args...
  local fragment=$1; shift
  local err rc=0
  err=$($BERTH "$@" 2>&1 >/dev/null) || rc=$?
  [[ $rc -ne 0 ]] || fail "berth $* succeeded"
  expect_contains "$err" "$fragment" "berth $*"
  [[ $(printf '%s\n' "$err" | wc -l) -eq 1 ]] || fail "more than one line: $err"
}
bad "command \`nosuchcmd\` not found in the image" exec "$IMG" nosuchcmd
bad "no such file or directory" exec /nonexistent/img.sqsh true
head -c 4096 /dev/urandom >/tmp/berth-corrupt.$$.sqsh
bad "is not a squashfs image" exec /tmp/berth-corrupt.$$.sqsh true
printf 'hsqs' >/tmp/berth-corrupt.$$.sqsh; head -c 4096 /dev/zero >>/tmp/berth-corrupt.$$.sqsh
bad "is not a squashfs image (corrupt or truncated)" exec /tmp/berth-corrupt.$$.sqsh true
rm -f /tmp/berth-corrupt.$$.sqsh
# A working directory the image lacks is made in the container's own layer; one that names a
# file is an error.
expect_eq "$($BERTH exec --pwd /nonexistent "$IMG" pwd)" /nonexistent "--pwd the image lacks"
bad "working directory \`/bin/sh\`: Not a directory" exec --pwd /bin/sh "$IMG" true
# A reference goes through the image cache and the registry: an unreachable (loopback) one
# fails with one line and leaves the cache as it was.
refcache=$(mktemp -d /tmp/berth-refcache.XXXXXX)
BERTH_CACHE_DIR=$refcache bad "cannot reach registry 127.0.0.1:9" exec docker://127.0.0.1:9/busybox:latest true
[[ -z $(find "$refcache/images" -type f 2>/dev/null) ]] || fail "failed pull left an image in the cache"
rm -rf "$refcache"
bad "unknown option \`rx\`" exec -B /tmp:/x:rx "$IMG" true
other=$(mktemp -d /tmp/berth-arch.XXXXXX)
cp -a "$SANDBOX/." "$other/"
sed -i 's/"amd64"/"arm64"/' "$other/.berth/config.json"
bad "the image is for linux/arm64, this host is linux/amd64" exec --sandbox "$other" true
rm -rf "$other"
pass "bad input"

# A sandbox directory runs too.
expect_eq "$($BERTH exec --sandbox "$SANDBOX" cat /etc/image-marker)" "image-only file" "sandbox"

# inspect, text and JSON, without mounting.
out=$($BERTH inspect "$IMG")
expect_contains "$out" "Digest:     sha256:0123456789abcdef" "inspect digest"
expect_contains "$out" 'Entrypoint: ["/bin/echo","entry"]' "inspect entrypoint"
expect_contains "$out" "org.example.test=yes" "inspect labels"
json=$($BERTH inspect --json "$IMG")
expect_eq "$(printf '%s' "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["platform"], d["cmd"], d["workingDir"], d["help"].strip(), d["definition"])')" \
  "linux/amd64 ['default-cmd'] /srv A test image. None" "inspect --json"
pass "inspect"

check_no_leaks
pass "no mounts or loop devices left"
