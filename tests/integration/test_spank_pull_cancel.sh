#!/usr/bin/env bash
# scancel while the nodes pull a large image (issue 11, item 5): slurmstepd is not told until
# the tasks exist, so the pull itself must notice. Through a proxy that makes blobs trickle,
# a 2-node job is cancelled mid-pull: the job leaves CG long before the pull could have ended,
# the nodes stay in service, the site cache keeps no partial file and no held lock, and a
# later step pulls the image and runs.
source "$(dirname "$0")/spank_lib.sh"

BERTH_BIN=${BERTH_BIN:-$BERTH_TOP/build/image_tool/berth}
[ -x "$BERTH_BIN" ] || fail "no berth binary at $BERTH_BIN"
site_cache=${BERTH_TEST_SITE_CACHE:?the test bed sets BERTH_TEST_SITE_CACHE}
top=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

# 128 KiB/s: the MPI image (tens of MiB) would take minutes; the job must be gone in seconds.
proxy_addr=127.0.0.1:$(testbed_free_port)
proxy_log=$(mktemp)
nsenter --net="/run/netns/$BERTH_NETNS" -- python3 "$top/tests/integration/registry_proxy.py" \
  --listen "$proxy_addr" --upstream "$BERTH_TEST_REGISTRY" --fault slow --rate $((128 << 10)) \
  </dev/null >/dev/null 2>"$proxy_log" &
proxy_pid=$!
cleanup() {
  kill "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
  rm -rf "$SPANK_WORK" "$proxy_log"
}
trap cleanup EXIT
for _ in $(seq 50); do
  testbed_in_netns bash -c "exec 3<>/dev/tcp/${proxy_addr/:/\/}" 2>/dev/null && break
  sleep 0.1
done

# Not in the site cache (same digest whichever name it is pulled by), no blob kept either.
digest=$(testbed_in_netns skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$MPI_IMAGE")
"$BERTH_BIN" cache --cache "$site_cache" rm "$digest" >/dev/null 2>&1 || true
"$BERTH_BIN" cache --cache "$site_cache" gc --max-size 0 >/dev/null || fail "berth cache gc failed"

slow_image=$proxy_addr/debian-mpi:latest
as_user_ok env BERTH_INSECURE_REGISTRIES="$proxy_addr" sbatch --parsable -N2 -J berth-pull-cancel \
  -o /dev/null --wrap "srun -N2 -n2 --container-image=$slow_image true"
job=$(tr -d '[:space:]' <"$OUT")
[ -n "$job" ] || { show; fail "sbatch printed no job id"; }

# Wait until a node is downloading a layer through the proxy, let it run a moment, cancel.
for _ in $(seq 300); do
  grep -q 'blobs/.* slow start' "$proxy_log" && break
  sleep 0.1
done
grep -q 'blobs/.* slow start' "$proxy_log" || { cat "$proxy_log" >&2; fail "no blob download started"; }
sleep 2
testbed_in_netns scancel "$job"

job_state() { testbed_in_netns squeue -h -j "$job" -o %T 2>/dev/null || true; }
state=""
for _ in $(seq 60); do  # 30 s: far less than the minutes the trickling pull would take
  state=$(job_state)
  [ -z "$state" ] || [ "$state" = CANCELLED ] && break
  sleep 0.5
done
if [ -n "$state" ] && [ "$state" != CANCELLED ]; then
  testbed_in_netns scontrol show job "$job" >&2 || true
  cat "$proxy_log" >&2
  fail "job $job still $state 30 s after scancel (the pull went on)"
fi
pass "job $job left CG after scancel during its pull"
# The proxy sees the hang-up at its next writes into the closed connection (every 0.1 s).
for _ in $(seq 50); do
  grep -q 'blobs/.* aborted' "$proxy_log" && break
  sleep 0.2
done
grep -q 'blobs/.* aborted' "$proxy_log" || { cat "$proxy_log" >&2; fail "the proxy saw no download abandoned"; }
pass "the download was abandoned"

nodes_in_service
# Nothing half-written, no lock held.
partial=$(find "$site_cache" -name '*.partial' -o -name '*.tmp-*' | head -5)
[ -z "$partial" ] || fail "left in the site cache: $partial"
for lock in "$site_cache"/locks/*; do
  [ -e "$lock" ] || continue
  flock -n -x "$lock" true || fail "lock $lock still held after the job"
done
pass "site cache: no partial or temp file, no lock held"
no_leftovers

as_user_ok srun -N2 -n2 --container-image="$MPI_IMAGE" sh -c 'test -f /.berth/source.json && echo in-image'
[ "$(grep -c '^in-image$' "$OUT")" = 2 ] || { show; fail "the step after a cancelled pull did not run in the image"; }
pass "a later step pulls the image and runs"
nodes_in_service
no_leftovers
