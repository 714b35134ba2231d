# shellcheck shell=bash
# Helpers for integration tests (tests/integration/test_*.sh). Source it first:
#
#   source "$(dirname "$0")/lib.sh"
#
# It loads the test bed's env file (the test bed must be up: `scripts/testbed start`, which
# ctest runs as a fixture) and exports its variables: BERTH_TEST_REGISTRY,
# BERTH_TEST_AUTH_REGISTRY, BERTH_TEST_AUTH_USER, BERTH_TEST_AUTH_PASSWORD,
# BERTH_TEST_REGISTRY_LOG, SLURM_CONF. Also defined: BERTH_TOP (the repository),
# BERTH_NETNS, BERTH_TESTBED_DIR, BERTH_TEST_USER (jobs run as it), BERTH_OTHER_USER,
# TEST_HOME (BERTH_TEST_USER's home), MPI_HELLO (tests/data/mpi_hello.c built for the host),
# BERTH_BIN and BERTH_PLUGIN (from ctest, else the build/ defaults).
#
# Running things (all inside the test bed's netns, with SLURM_CONF and
# OMPI_MCA_btl_tcp_if_include=lo set, killed after BERTH_TEST_TIMEOUT seconds, default 300,
# so a job stuck waiting for a drained node fails the test instead of hanging it):
#   as_user CMD...          as BERTH_TEST_USER, from TEST_HOME   e.g. as_user srun -N2 hostname
#   as_other CMD...         as BERTH_OTHER_USER, from its home
#   as_root CMD...          as root (scontrol, sinfo, ...)
#   user_file PATH          makes PATH (stdin -> file) owned by BERTH_TEST_USER: user_file f <<<"x"
# Checks (each prints "FAIL: ..." and exits 1 on failure):
#   fail MSG                 fails the test
#   assert_contains TEXT NEEDLE [WHAT]       TEXT contains the fixed string NEEDLE
#   assert_not_contains TEXT NEEDLE [WHAT]
#   assert_eq ACTUAL EXPECTED [WHAT]
#   node_states              prints "NODE STATE" lines (sinfo)
#   assert_nodes_idle        waits up to 15 s for every node to be idle; fails if one is
#                            drained/down/not idle (call at the end of a test: a failing
#                            plugin can drain a node while srun or sbatch still exits 0)
#   skip MSG                 exit 77 (only when a prerequisite is truly absent)
# Convention: use `set -euo pipefail`; capture output with `out=$(as_user ... 2>&1)` and
# check the content, not only the exit code. Temporary files: mktemp_user (a directory in
# TEST_HOME owned by BERTH_TEST_USER, removed at exit).

set -euo pipefail

BERTH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$BERTH_TOP/scripts/lib/testbed.sh"
source "$BERTH_TOP/scripts/lib/users.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

[ -s "$BERTH_TESTBED_ENV" ] || fail "test bed env file $BERTH_TESTBED_ENV missing: run scripts/testbed start"
[ -e "/run/netns/$BERTH_NETNS" ] || fail "netns $BERTH_NETNS missing: run scripts/testbed start"
set -a
# shellcheck disable=SC1090
source "$BERTH_TESTBED_ENV"
set +a
[ -n "${SLURM_CONF:-}" ] || fail "SLURM_CONF not in $BERTH_TESTBED_ENV: is the cluster up (scripts/cluster start)?"

BERTH_BIN=${BERTH_BIN:-$BERTH_TOP/build/image_tool/berth}
BERTH_PLUGIN=${BERTH_PLUGIN:-$BERTH_TOP/build/spank_plugin/spank_berth.so}
TEST_HOME=$(testbed_user_home "$BERTH_TEST_USER")
MPI_HELLO=$BERTH_TESTBED_DIR/bin/mpi_hello
export BERTH_TOP BERTH_BIN BERTH_PLUGIN TEST_HOME MPI_HELLO

_in_netns_as() { # user (empty: root), dir, command...
  local user=$1 dir=$2; shift 2
  local envs
  mapfile -t envs < <(testbed_env_lines)
  envs+=(SLURM_CONF="$SLURM_CONF" OMPI_MCA_btl_tcp_if_include=lo)
  local limit=(timeout -k 5 "${BERTH_TEST_TIMEOUT:-300}")
  if [ -z "$user" ]; then
    (cd "$dir" && "${limit[@]}" nsenter --net="/run/netns/$BERTH_NETNS" -- env "${envs[@]}" "$@")
  else
    (cd "$dir" && "${limit[@]}" nsenter --net="/run/netns/$BERTH_NETNS" -- runuser -u "$user" -- env "${envs[@]}" "$@")
  fi
}
as_user() { _in_netns_as "$BERTH_TEST_USER" "$TEST_HOME" "$@"; }
as_other() { _in_netns_as "$BERTH_OTHER_USER" "$(testbed_user_home "$BERTH_OTHER_USER")" "$@"; }
as_root() { _in_netns_as "" "$PWD" "$@"; }

user_file() {
  cat >"$1"
  chown "$BERTH_TEST_USER:$(id -gn "$BERTH_TEST_USER")" "$1"
}

_berth_tmpdirs=()
_berth_cleanup() { [ ${#_berth_tmpdirs[@]} -eq 0 ] || rm -rf "${_berth_tmpdirs[@]}"; }
trap _berth_cleanup EXIT
mktemp_user() {
  local d
  d=$(runuser -u "$BERTH_TEST_USER" -- mktemp -d "$TEST_HOME/itest.XXXXXX")
  _berth_tmpdirs+=("$d")
  echo "$d"
}

assert_contains() {
  [[ "$1" == *"$2"* ]] || { printf 'FAIL: %s does not contain "%s". It was:\n%s\n' "${3:-output}" "$2" "$1" >&2; exit 1; }
}
assert_not_contains() {
  [[ "$1" != *"$2"* ]] || { printf 'FAIL: %s contains "%s". It was:\n%s\n' "${3:-output}" "$2" "$1" >&2; exit 1; }
}
assert_eq() {
  [ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

node_states() {
  as_root sinfo -h -N -o '%N %t' | sort -u
}

assert_nodes_idle() {
  local states deadline=$((SECONDS + 15))
  while :; do
    states=$(node_states) || fail "sinfo failed"
    [ -n "$states" ] || fail "sinfo shows no nodes"
    if ! grep -qv ' idle$' <<<"$states"; then return 0; fi
    # drain/down never heal by themselves: fail at once, with the reason.
    if grep -qE ' (drain|drng|drained|down|fail|failg)\*?$' <<<"$states" || [ "$SECONDS" -ge "$deadline" ]; then
      printf 'FAIL: nodes not idle:\n%s\n' "$states" >&2
      as_root sinfo -R >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}
