# shellcheck shell=bash
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

# Execs CMD with only stdin, stdout and stderr open; call it in a subshell to start a daemon.
# A daemon must not keep a descriptor of its caller: a `flock` around a test run would stay
# held for as long as the registry or munged lives.
testbed_exec_clean() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
  done
  exec "$@"
}
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
  local assignments
  mapfile -t assignments < <(testbed_env_lines)
  nsenter --net="/run/netns/$BERTH_NETNS" -- env "${assignments[@]}" "$@"
}

# The env file's KEY=VALUE lines, one a line (for mapfile).
testbed_env_lines() {
  [ -f "$BERTH_TESTBED_ENV" ] && grep -E '^[A-Z_]+=' "$BERTH_TESTBED_ENV"
  true
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

# Removes KEY from the env file.
testbed_env_unset() {
  [ -f "$BERTH_TESTBED_ENV" ] && sed -i "/^$1=/d" "$BERTH_TESTBED_ENV"
  true
}

# Reads KEY from the env file (empty when absent).
testbed_env_get() {
  [ -f "$BERTH_TESTBED_ENV" ] && sed -n "s/^$1=//p" "$BERTH_TESTBED_ENV" | tail -n 1
  true
}

# Polls CMD... every 0.1 s until it succeeds; fails after SECONDS.
testbed_wait_for() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# True when the pid in PIDFILE is alive and its command line contains PATTERN (guards
# against a recycled pid). Never looks processes up by name.
testbed_pidfile_alive() {
  local pidfile=$1 pattern=$2 pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

# Stops the processes recorded in PIDFILEs (those alive whose command line matches PATTERN):
# SIGTERM to all, waits up to SECONDS for them to exit, then SIGKILL. Removes the pid files.
# True when none of the PIDs is alive. A zombie counts as dead: PID 1 of some machines reaps
# orphans only every few seconds.
testbed_all_dead() {
  local pid state
  for pid in "$@"; do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || continue
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] && return 1
  done
  return 0
}

# True when none of the PIDs exists any more, zombies included (pgrep and ps still list a
# zombie until its parent, often PID 1, reaps it).
testbed_all_reaped() {
  local pid
  for pid in "$@"; do
    [ -e "/proc/$pid" ] && return 1
  done
  return 0
}

testbed_stop_pidfiles() { # pattern seconds pidfile...
  local pattern=$1 seconds=$2 pidfile pids=()
  shift 2
  for pidfile in "$@"; do
    if testbed_pidfile_alive "$pidfile" "$pattern"; then
      pids+=("$(cat "$pidfile")")
      kill -TERM "${pids[-1]}" 2>/dev/null || true
    fi
  done
  if [ ${#pids[@]} -gt 0 ] && ! testbed_wait_for "$seconds" testbed_all_dead "${pids[@]}"; then
    testbed_log "$pattern (pids ${pids[*]}) ignored SIGTERM for ${seconds}s: SIGKILL"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    testbed_wait_for 5 testbed_all_dead "${pids[@]}" || true
  fi
  # Return only once they are gone from the process table: an immediate restart or check must
  # not see them (bounded: reaping is up to their parent).
  [ ${#pids[@]} -eq 0 ] || testbed_wait_for 5 testbed_all_reaped "${pids[@]}" || true
  rm -f "$@"
}

testbed_stop_pidfile() { # pidfile pattern [seconds]
  testbed_stop_pidfiles "$2" "${3:-10}" "$1"
}

# Processes living in the test bed's network namespace (all of them were started by the
# test bed: daemons, job steps and anything a test left behind).
testbed_netns_pids() {
  [ -e "/run/netns/$BERTH_NETNS" ] || return 0
  ip netns pids "$BERTH_NETNS" 2>/dev/null || true
}

# Deletes the namespace if nothing runs in it any more (scripts/cluster and scripts/registry
# call it on stop: whichever stops last removes the namespace).
testbed_netns_down_if_unused() {
  [ -e "/run/netns/$BERTH_NETNS" ] || return 0
  [ -z "$(testbed_netns_pids)" ] && testbed_netns_down
  true
}

# Kills whatever still runs in the namespace (TERM, then KILL after 5 s) and deletes it.
testbed_netns_destroy() {
  local pids
  pids=$(testbed_netns_pids)
  if [ -n "$pids" ]; then
    testbed_log "killing leftover processes in netns $BERTH_NETNS: $(echo $pids)"
    kill -TERM $pids 2>/dev/null || true
    # shellcheck disable=SC2046 # pids are numbers
    testbed_wait_for 5 sh -c "[ -z \"\$(ip netns pids $BERTH_NETNS)\" ]" || kill -KILL $(testbed_netns_pids) 2>/dev/null || true
    testbed_wait_for 5 sh -c "[ -z \"\$(ip netns pids $BERTH_NETNS)\" ]" || true
  fi
  testbed_netns_down
}
