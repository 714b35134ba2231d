# Shared by tests/integration/test_spank_*.sh: run jobs as the test user inside the test bed
# and check what the SPANK plugin promises (one `berth:` line per error, nodes never drained,
# nothing left behind). Source it; it defines variables and functions only.
set -euo pipefail
source "${BERTH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/scripts/lib/testbed.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
pass() { echo "ok: $*"; }

[ -f "$BERTH_TESTBED_ENV" ] || fail "no $BERTH_TESTBED_ENV: the test bed is not up (scripts/testbed start)"
set -a
source "$BERTH_TESTBED_ENV"
set +a
[ -n "${BERTH_TEST_REGISTRY:-}" ] || fail "BERTH_TEST_REGISTRY not set in $BERTH_TESTBED_ENV"
[ -n "${SLURM_CONF:-}" ] || fail "SLURM_CONF not set in $BERTH_TESTBED_ENV"

TINY=$BERTH_TEST_REGISTRY/tiny:latest
MPI_IMAGE=$BERTH_TEST_REGISTRY/debian-mpi:latest
TEST_HOME=$(getent passwd "$BERTH_TEST_USER" | cut -d: -f6)
[ -n "$TEST_HOME" ] && [ -d "$TEST_HOME" ] || fail "test user $BERTH_TEST_USER has no home"

# A scratch directory of the test user (removed at exit); jobs start there.
SPANK_WORK=$(mktemp -d "$TEST_HOME/spank-test.XXXXXX")
chown "$BERTH_TEST_USER:" "$SPANK_WORK"
OUT=$SPANK_WORK/stdout
ERR=$SPANK_WORK/stderr
trap 'rm -rf "$SPANK_WORK"' EXIT

# as_user CMD...: runs CMD as the test user in the test bed (cwd $SPANK_WORK), stdout to $OUT,
# stderr to $ERR; returns CMD's exit code. Extra environment: VAR=value before CMD.
as_user() {
  local rc=0
  testbed_in_netns runuser -u "$BERTH_TEST_USER" -- env -C "$SPANK_WORK" \
    HOME="$TEST_HOME" SLURM_CONF="$SLURM_CONF" OMPI_MCA_btl_tcp_if_include=lo \
    "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
  return $rc
}

# as_user_ok CMD...: as_user, failing the test (with stderr shown) when CMD fails.
as_user_ok() {
  as_user "$@" || { cat "$ERR" >&2; fail "exit $?: $*"; }
}

show() { echo "--- stdout"; cat "$OUT"; echo "--- stderr"; cat "$ERR"; } >&2

expect_out() {  # expect_out REGEX [what]
  grep -Eq -- "$1" "$OUT" || { show; fail "${2:-stdout lacks /$1/}"; }
}
expect_out_not() {
  ! grep -Eq -- "$1" "$OUT" || { show; fail "${2:-stdout has /$1/}"; }
}

# Nodes: every node idle or mixed/allocated, none drained or down.
nodes_in_service() {
  local states
  states=$(testbed_in_netns sinfo -h -N -o '%N %T' | sort -u)
  if grep -Eiq 'drain|down|fail' <<<"$states"; then
    echo "$states" >&2
    # Put them back for the tests that follow, then fail this one.
    testbed_in_netns scontrol update NodeName=ALL State=RESUME >/dev/null 2>&1 || true
    fail "nodes drained or down"
  fi
}

# The kernel objects a container may leave behind, counted in the host's mount namespace and
# in the slurmds' (the test bed may run them in their own).
leftovers() {
  local loops mounts helpers
  loops=$(losetup -a 2>/dev/null | grep -c 'berth\|\.sqsh\|images' || true)
  mounts=$(cat /proc/*/mountinfo 2>/dev/null | grep -E ' - (squashfs|overlay|fuse.squashfuse) ' |
    awk '{print $5}' | sort -u | grep -c . || true)
  helpers=$(pgrep -c -f 'berth-container-helper|berth: container helper' || true)
  echo "$loops $mounts $helpers"
}
LEFTOVERS_BEFORE=$(leftovers)
no_leftovers() {
  local now=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do  # loop devices autoclear asynchronously
    now=$(leftovers)
    [ "$now" = "$LEFTOVERS_BEFORE" ] && return 0
    sleep 0.5
  done
  fail "left behind (loop devices, squashfs/overlay mounts, helper processes): before $LEFTOVERS_BEFORE, now $now"
}

# expect_user_error REGEX CMD...: CMD fails, stderr has exactly one `berth:` line matching
# REGEX, nodes stay in service, nothing left behind.
expect_user_error() {
  local regex=$1
  shift
  if as_user "$@"; then show; fail "succeeded, expected an error: $*"; fi
  local lines
  lines=$(grep -c 'berth:' "$ERR" || true)
  [ "$lines" = 1 ] || { show; fail "$lines berth: lines on stderr (expected 1): $*"; }
  grep -Eq -- "berth: .*$regex" "$ERR" || { show; fail "stderr lacks /$regex/: $*"; }
  nodes_in_service
  no_leftovers
  pass "error: $(grep 'berth:' "$ERR" | head -c 200)"
}
