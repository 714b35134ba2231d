#!/bin/bash
# `scripts/testbed stop` returns only once every daemon it started is gone from the process table
# (zombies included): a restart or a check right after it must not see slurmd or slurmctld.
# Runs last of the integration tests (the name sorts last) and leaves the test bed running again.
set -euo pipefail
SRC=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*"; exit 1; }

before=$(pgrep -c -f '^slurm(d|ctld) ' || true)
[[ $before -ge 2 ]] || fail "the test bed's daemons are not running ($before found)"
"$SRC/scripts/testbed" stop >/dev/null 2>&1
left=$(ps -eo pid,stat,cmd | grep -E '[s]lurm(d|ctld)|\[slurm(d|ctld)\]' || true)
[[ -z $left ]] || fail "still in the process table right after stop: $left"
echo "ok: no slurmd/slurmctld after stop ($before before)"
"$SRC/scripts/testbed" start >/dev/null 2>&1 || fail "restart failed"
echo OK
