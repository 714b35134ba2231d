#!/usr/bin/env bash
# The tutorial's hybrid MPI model: the host's mpirun starts `berth exec IMAGE app` per rank,
# the ranks use the image's Open MPI. The image is debian-mpi, pulled from the test registry.
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /var/tmp/berth-hybrid.XXXXXX)
trap 'rm -rf "$work"; _berth_cleanup' EXIT
export BERTH_CACHE_DIR=$work/cache

pulled=$(as_root "$BERTH_BIN" -q pull --insecure "$BERTH_TEST_REGISTRY/debian-mpi:latest") ||
  fail "pull of debian-mpi failed"
image=$(sed -n 2p <<<"$pulled")
[ -f "$image" ] || fail "berth pull printed no image path: $pulled"

# mpirun runs as root here (its session directory is in the host's /tmp, which berth exec
# shares by default); every rank is a separate container process.
out=$(as_root env OMPI_MCA_oob_tcp_if_include=lo mpirun --allow-run-as-root --oversubscribe \
  -np 2 "$BERTH_BIN" exec "$image" /usr/local/bin/mpi_hello 2>&1) || fail "mpirun failed: $out"
echo "$out"
assert_contains "$out" "rank=0 size=2"
assert_contains "$out" "rank=1 size=2"
assert_contains "$out" "allreduce=1"
# The ranks saw the image's OS, not the host's.
[ "$(grep -c 'os="Debian GNU/Linux 12 (bookworm)"' <<<"$out")" = 2 ] || fail "ranks did not run in the image"
assert_not_contains "$out" "PMIX ERROR"
assert_not_contains "$(grep ' squashfs ' /proc/self/mountinfo || true)" "$work" "host mounts"
echo "hybrid MPI: 2 ranks in the image"
