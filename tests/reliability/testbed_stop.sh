#!/usr/bin/env bash
# Campaign 7 (issue 17): test bed hygiene. `scripts/testbed stop` must return only after every
# process the test bed started has exited: the Slurm daemons, the registries and their helpers
# (everything in the test bed's network namespace) and munged when the test bed started it. Each
# cycle starts the test bed, records those processes, stops it and looks for each of them in the
# process table (zombies count) right after `stop` returns.
#
#   testbed_stop.sh [--full]    1 cycle (--full: 5). Run it holding /tmp/berth-testbed.lock,
#                               with nobody else using the test bed; it leaves it stopped.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/scripts/lib/testbed.sh"
cycles=${BERTH_STOP_CYCLES:-1}
[[ ${1:-} == --full ]] && cycles=5
failed=0
for ((c = 1; c <= cycles; c++)); do
  "$top/scripts/testbed" start >/tmp/berth-testbed-cycle.log 2>&1 || {
    echo "FAIL cycle $c: start failed: $(tail -3 /tmp/berth-testbed-cycle.log)"; exit 1; }
  pids=$(ip netns pids "$BERTH_NETNS" 2>/dev/null | sort -n)
  if [[ -s /run/munge/munged.pid ]]; then pids+=" $(cat /run/munge/munged.pid)"; fi
  n=$(wc -w <<<"$pids")
  t0=$(date +%s.%N)
  "$top/scripts/testbed" stop >/dev/null 2>&1
  t1=$(date +%s.%N)
  left=()
  for pid in $pids; do
    [[ -e /proc/$pid ]] && left+=("$pid:$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | head -c 60)($(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null))")
  done
  if [[ ${#left[@]} -gt 0 ]]; then
    echo "FAIL cycle $c: ${#left[@]} of $n processes still there after stop: ${left[*]}"
    failed=$((failed + 1))
  else
    echo "ok cycle $c: $n processes, all gone when stop returned ($(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s)"
  fi
done
echo "$cycles stop cycles, $((cycles - failed)) clean, $failed failed"
[[ $failed -eq 0 ]]
