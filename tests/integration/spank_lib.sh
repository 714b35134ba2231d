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
  local rc=0
  as_user "$@" || rc=$?
  [ $rc = 0 ] || { show; fail "exit $rc: $*"; }
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

# The kernel objects and processes a container may leave behind: loop devices of images,
# squashfs/overlay mounts in any mount namespace, and processes of the test bed's nodes
# (slurmstepd, its helpers, squashfuse) once no job runs.
leftovers() {
  local loops mounts helpers pid
  loops=$(losetup -a 2>/dev/null | grep -c '\.sqsh\|berth' || true)
  mounts=$(cat /proc/[0-9]*/mountinfo 2>/dev/null | grep -E ' - (squashfs|overlay|fuse.squashfuse) ' |
    awk '{print $5}' | sort -u | grep -c . || true)
  helpers=0
  for pid in $(ip netns pids "$BERTH_NETNS" 2>/dev/null); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Eq '^(slurmstepd|squashfuse)' &&
      helpers=$((helpers + 1))
  done
  echo "loops=$loops mounts=$mounts processes=$helpers"
}
LEFTOVERS_BEFORE=$(leftovers)
# True when no count in `leftovers` grew since LEFTOVERS_BEFORE (other engineers' tests on
# this machine may mount and unmount things meanwhile: only growth is ours).
_no_growth() {
  local before=$1 now=$2 field b n
  for field in loops mounts processes; do
    b=$(grep -o "$field=[0-9]*" <<<"$before" | cut -d= -f2)
    n=$(grep -o "$field=[0-9]*" <<<"$now" | cut -d= -f2)
    [ "$n" -le "$b" ] || return 1
  done
}
no_leftovers() {
  local now=""
  for _ in $(seq 20); do  # jobs end and loop devices autoclear asynchronously
    now=$(leftovers)
    _no_growth "$LEFTOVERS_BEFORE" "$now" && return 0
    sleep 0.5
  done
  fail "left behind: before $LEFTOVERS_BEFORE, now $now"
}

# expect_user_error REGEX CMD...: CMD fails, stderr has exactly one `berth:` error line matching
# REGEX, nodes stay in service, nothing left behind.
expect_user_error() {
  local regex=$1
  shift
  if as_user "$@"; then show; fail "succeeded, expected an error: $*"; fi
  local lines
  # One error line from berth (an informational `berth: ... the nodes pull it first` may
  # come before it).
  lines=$(grep -c 'error: berth:' "$ERR" || true)
  [ "$lines" = 1 ] || { show; fail "$lines berth: error lines on stderr (expected 1): $*"; }
  grep -Eq -- "error: berth: .*$regex" "$ERR" || { show; fail "stderr lacks /$regex/: $*"; }
  nodes_in_service
  no_leftovers
  pass "error: $(grep 'berth:' "$ERR" | head -c 200)"
}

# make_image PATH [CONFIG_JSON]: a busybox squashfs at PATH (readable by the test user) whose
# /.berth/config.json is CONFIG_JSON (an OCI image config; default: Env FOO=from-image,
# LANG=image-lang, WorkingDir /opt).
make_image() {
  local out=$1
  local config=${2:-'{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin:/usr/bin","FOO=from-image","LANG=image-lang"],"WorkingDir":"/opt"}}'}
  local root
  root=$(mktemp -d)
  mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,home,opt,root,.berth,mnt/data}
  cp /bin/busybox "$root/bin/busybox"
  local applet
  for applet in sh cat ls env pwd touch echo id hostname readlink test sleep grep mkdir rm true; do
    ln -s busybox "$root/bin/$applet"
  done
  echo 'PRETTY_NAME="berth test busybox"' >"$root/etc/os-release"
  # Writable for everyone (the image's files are root's: a writable container lets the user
  # write only where the modes allow, as on the host).
  mkdir -p "$root/scratch" && chmod 1777 "$root/scratch"
  printf '%s\n' "$config" >"$root/.berth/config.json"
  mksquashfs "$root" "$out" -quiet -no-progress -all-root -noappend >/dev/null
  rm -rf "$root"
  chmod 0644 "$out"
}
