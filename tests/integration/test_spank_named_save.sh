#!/usr/bin/env bash
# --container-name keeps a writable container per node across the steps of one job and is
# removed at job end; --container-save writes the final state, which a later job runs.
source "$(dirname "$0")/spank_lib.sh"

IMG=$SPANK_WORK/test.sqsh
make_image "$IMG"

script='srun --container-image='"$IMG"' --container-name=keep sh -c "echo kept >/scratch/in-container"
srun --container-image='"$IMG"' --container-name=keep cat /scratch/in-container
srun --container-image='"$IMG"' cat /scratch/in-container 2>&1 || echo "not in an unnamed container"'
as_user_ok salloc -N1 -n1 sh -c "$script"
expect_out '^kept$' "the named container lost its file between steps"
expect_out 'not in an unnamed container'
pass "named container across two steps"

# Nothing of the job stays on the node (state dir keyed by node and job).
state_dir=$(sed -n 's/^ *state_dir *= *//p' "${BERTH_CONFIG:-/etc/berth/berth.conf}" 2>/dev/null || true)
state_dir=${state_dir:-/run/berth-containers}
sleep 1  # the epilog runs after salloc returns
if find "$state_dir" -mindepth 2 -maxdepth 2 -name 'job*' 2>/dev/null | grep -q .; then
  find "$state_dir" -maxdepth 3 >&2
  fail "named containers left in $state_dir after the job"
fi
pass "named containers removed at job end"

as_user_ok srun -N1 -n1 --container-image="$IMG" --container-save="$SPANK_WORK/saved.sqsh" \
  sh -c 'echo saved-state >/scratch/berth-saved'
[ -s "$SPANK_WORK/saved.sqsh" ] || fail "--container-save wrote nothing"
[ "$(stat -c %U "$SPANK_WORK/saved.sqsh")" = "$BERTH_TEST_USER" ] || fail "the saved image is not the user's"
as_user_ok srun -N1 -n1 --container-image="$SPANK_WORK/saved.sqsh" cat /scratch/berth-saved
expect_out '^saved-state$'
pass "--container-save, then a job runs the saved image"

# A save the user cannot write makes srun fail (issue 11, item 7), with one line, -N1 and -N2:
# checked when the step starts, since after the tasks Slurm's exit code is fixed.
locked=$SPANK_WORK/locked
mkdir "$locked" && chown root: "$locked" && chmod 0755 "$locked"
for nodes in 1 2; do
  expect_user_error "--container-save=$locked/denied.sqsh: cannot create files in $locked: Permission denied" \
    srun -N"$nodes" -n"$nodes" --container-image="$IMG" --container-save="$locked/denied.sqsh" true
  [ -z "$(ls -A "$locked")" ] || fail "something was written in $locked"
done
pass "--container-save to a directory the user cannot write: srun fails (-N1, -N2)"

nodes_in_service
no_leftovers
