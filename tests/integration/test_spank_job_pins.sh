#!/usr/bin/env bash
# One pin per job (spank_plugin/job_pins.hpp): within a job, a tag is resolved with the registry
# once; the job's later steps run the same digest without asking, even after the tag moved; a
# new job sees the moved tag; the job's pins are gone after it ends.
source "$(dirname "$0")/spank_lib.sh"

[ -n "${BERTH_TEST_REGISTRY_LOG:-}" ] && [ -f "$BERTH_TEST_REGISTRY_LOG" ] ||
  fail "BERTH_TEST_REGISTRY_LOG not set or missing in $BERTH_TESTBED_ENV"
state_dir=/run/berth-containers  # the test bed's plugin keeps berth.conf's default

# A repository of our own whose tag we move: first busybox (tiny), later Debian.
repo=pins-$$
tag_to() { testbed_in_netns skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
  "docker://$BERTH_TEST_REGISTRY/$1" "docker://$BERTH_TEST_REGISTRY/$repo:latest"; }
tag_to tiny || fail "skopeo copy tiny failed"
image=$BERTH_TEST_REGISTRY/$repo:latest
which_image='test -e /etc/debian_version && echo debian || echo busybox'
tag_requests() { # lines of the registry log after line $1 that resolve the tag
  tail -n +"$(($1 + 1))" "$BERTH_TEST_REGISTRY_LOG" | grep -cE "\"(GET|HEAD) /v2/$repo/manifests/latest " || true
}

# One job, three steps: the tag is asked for once (the first step); the tag moves before the
# third, which still runs the job's digest.
marker=$SPANK_WORK/moved
chown "$BERTH_TEST_USER:" "$SPANK_WORK"
before=$(wc -l <"$BERTH_TEST_REGISTRY_LOG")
script='set -e
srun -N2 -n2 --container-image='"$image"' sh -c "'"$which_image"'" | sed "s/^/step1 /"
echo step1-done
while [ ! -e '"$marker.0"' ]; do sleep 0.2; done
echo "jobid $SLURM_JOB_ID"
echo "pins $(cat '"$state_dir"'/pins/job$SLURM_JOB_ID | tr "\n" " ")"
srun -N2 -n2 --container-image='"$image"' sh -c "'"$which_image"'" | sed "s/^/step2 /"
while [ ! -e '"$marker"' ]; do sleep 0.2; done
srun -N1 -n1 --container-image='"$image"' sh -c "'"$which_image"'" | sed "s/^/step3 /"'
(
  # Note where the registry's log stands after the first step; move the tag once the second
  # step has run (the job waits for the markers).
  for _ in $(seq 600); do grep -q '^step1-done' "$OUT" 2>/dev/null && break; sleep 0.1; done
  wc -l <"$BERTH_TEST_REGISTRY_LOG" >"$marker.log"
  touch "$marker.0"
  for _ in $(seq 600); do grep -q '^step2 ' "$OUT" 2>/dev/null && break; sleep 0.1; done
  wc -l <"$BERTH_TEST_REGISTRY_LOG" >"$marker.log2"
  tag_to debian-mpi || echo "skopeo copy debian-mpi failed" >"$marker.failed"
  wc -l <"$BERTH_TEST_REGISTRY_LOG" >"$marker.log3"
  touch "$marker"
) &
mover=$!
as_user_ok salloc -N2 -n2 sh -c "$script"
wait "$mover"
[ -e "$marker.failed" ] && fail "$(cat "$marker.failed")"
[ "$(grep -c '^step1 busybox$' "$OUT")" = 2 ] || { show; fail "step 1 did not run the tag's image"; }
[ "$(grep -c '^step2 busybox$' "$OUT")" = 2 ] || { show; fail "step 2 did not run the job's digest"; }
expect_out '^step3 busybox$' "the job's digest after the tag moved"
expect_out "^pins uid $(id -u "$BERTH_TEST_USER") sha256:[0-9a-f]{64} $image " "the pin file names the user, digest and image"
after_step1=$(cat "$marker.log")
n1=$(tail -n +"$((before + 1))" "$BERTH_TEST_REGISTRY_LOG" | head -n "$((after_step1 - before))" |
  grep -cE "\"(GET|HEAD) /v2/$repo/manifests/latest " || true)
[ "$n1" -ge 1 ] || fail "the first step did not resolve the tag with the registry"
before_move=$(cat "$marker.log2") after_move=$(cat "$marker.log3")
n_later=$(($(tag_requests "$after_step1") - $(tag_requests "$before_move") + $(tag_requests "$after_move")))
[ "$n_later" = 0 ] || fail "the job's later steps asked the registry for the tag $n_later times"
pass "one job: the tag resolved once ($n1 request(s)), later steps reuse the digest, also after the tag moved"

# A new job sees the moved tag; the first job's pins are gone (epilog).
first_job=$(sed -n 's/^jobid //p' "$OUT")
[ -n "$first_job" ] || { show; fail "no job id"; }
as_user_ok srun -N1 -n1 --container-image="$image" sh -c "$which_image"
expect_out '^debian$' "a new job runs where the tag points now"
# (first_job read before the next as_user: $OUT is rewritten.) The epilog runs just after the job ends.
for _ in $(seq 50); do [ -e "$state_dir/pins/job$first_job" ] || break; sleep 0.1; done
[ -e "$state_dir/pins/job$first_job" ] && { ls -l "$state_dir/pins/" >&2; fail "job $first_job's pin file left after it ended"; }
pass "a new job pins afresh; no pin file left"

# A pin file srun cannot trust (writable by the user) is ignored: the step asks the registry.
job_script='set -e
srun -N1 -n1 --container-image='"$image"' true
echo "job $SLURM_JOB_ID"
while [ ! -e '"$marker.2"' ]; do sleep 0.2; done
srun -N1 -n1 --container-image='"$image"' sh -c "'"$which_image"'"'
(
  for _ in $(seq 600); do grep -q '^job ' "$OUT" 2>/dev/null && break; sleep 0.1; done
  job=$(sed -n 's/^job //p' "$OUT")
  f=$state_dir/pins/job$job
  # Someone rewrote the file to point at busybox and made it theirs: not believed.
  sed -i "s/^sha256:[0-9a-f]* /sha256:$(printf '0%.0s' $(seq 64)) /" "$f"
  chown "$BERTH_TEST_USER" "$f"
  touch "$marker.2"
) &
mover=$!
as_user_ok salloc -N1 -n1 sh -c "$job_script"
wait "$mover"
expect_out '^debian$' "an untrusted pin file was believed"
pass "a pin file not root's is ignored"

nodes_in_service
no_leftovers
