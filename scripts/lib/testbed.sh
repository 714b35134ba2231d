# Shared by scripts/cluster, scripts/registry, scripts/testbed, scripts/test-images and the
# integration tests: where the test bed lives and how to run a command inside it.
# Source it; it defines variables and functions only.

BERTH_TOP=${BERTH_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# The private network namespace (loopback only) every daemon and client of the test bed uses.
BERTH_NETNS=${BERTH_NETNS:-berth-test}
# Run-time state: configs, logs, spool, registry storage, and the env file below.
BERTH_TESTBED_DIR=${BERTH_TESTBED_DIR:-/var/tmp/berth-testbed}
# Built test images (OCI layouts), kept between runs and keyed by recipe.
BERTH_TEST_IMAGE_CACHE=${BERTH_TEST_IMAGE_CACHE:-/var/cache/berth-test-images}
# The ordinary (non-root) users tests run jobs as.
BERTH_TEST_USER=${BERTH_TEST_USER:-berthtest}
BERTH_OTHER_USER=${BERTH_OTHER_USER:-berthother}
# Shell-sourceable exports written by `scripts/registry start` and `scripts/cluster start`
# (BERTH_TEST_REGISTRY=127.0.0.1:PORT, BERTH_TEST_AUTH_REGISTRY, ..., SLURM_CONF).
BERTH_TESTBED_ENV=$BERTH_TESTBED_DIR/env

testbed_log() { echo "testbed: $*" >&2; }
testbed_die() { echo "testbed: error: $*" >&2; exit 1; }

# Creates the namespace with loopback up and a second loopback address (glibc will not
# resolve a host name to 127.0.0.1 alone, and slurmctld dies).
testbed_netns_up() {
  if [ ! -e "/run/netns/$BERTH_NETNS" ]; then
    ip netns add "$BERTH_NETNS"
  fi
  ip -n "$BERTH_NETNS" link set lo up
  ip -n "$BERTH_NETNS" addr add 127.0.0.2/8 dev lo 2>/dev/null || true
}

testbed_netns_down() {
  if [ -e "/run/netns/$BERTH_NETNS" ]; then
    ip netns delete "$BERTH_NETNS"
  fi
}

# Runs a command inside the namespace, with the test bed's env file loaded.
testbed_in_netns() {
  [ -e "/run/netns/$BERTH_NETNS" ] || testbed_die "network namespace $BERTH_NETNS is not up"
  nsenter --net="/run/netns/$BERTH_NETNS" -- env $(testbed_env_assignments) "$@"
}

testbed_env_assignments() {
  [ -f "$BERTH_TESTBED_ENV" ] && grep -E '^[A-Z_]+=' "$BERTH_TESTBED_ENV" | tr '\n' ' '
  true
}

# Sets KEY=VALUE in the env file (replacing an earlier value).
testbed_env_set() {
  mkdir -p "$BERTH_TESTBED_DIR"
  touch "$BERTH_TESTBED_ENV"
  sed -i "/^$1=/d" "$BERTH_TESTBED_ENV"
  echo "$1=$2" >>"$BERTH_TESTBED_ENV"
}

# Picks a free TCP port inside the namespace.
testbed_free_port() {
  local port
  for port in $(shuf -i 20000-40000 -n 50); do
    if ! nsenter --net="/run/netns/$BERTH_NETNS" ss -Htln "sport = :$port" | grep -q .; then
      echo "$port"; return 0
    fi
  done
  testbed_die "no free port found"
}
