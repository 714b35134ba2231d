#!/usr/bin/env bash
# sbatch with #SBATCH --container-image: the batch script runs in the image, a later srun step
# inherits the image, another image can be named.
source "$(dirname "$0")/spank_lib.sh"

IMG=$SPANK_WORK/test.sqsh
make_image "$IMG"

cat >"$SPANK_WORK/job.sh" <<JOB
#!/bin/sh
#SBATCH -N1 -n1
#SBATCH --container-image=$IMG
#SBATCH --output=$SPANK_WORK/job.out
grep -q "berth test busybox" /etc/os-release && echo "script: in-image"
JOB
chown "$BERTH_TEST_USER:" "$SPANK_WORK/job.sh"
as_user_ok sbatch --wait "$SPANK_WORK/job.sh"
grep -q '^script: in-image$' "$SPANK_WORK/job.out" || { cat "$SPANK_WORK/job.out" >&2; fail "the batch script did not run in the image"; }
pass "batch script in the image"

# A host batch script (container given on the command line of sbatch is the same as
# #SBATCH) whose later steps inherit the image: run the srun from a host script via salloc.
as_user_ok salloc -N1 -n1 --container-image="$IMG" srun sh -c 'grep -q "berth test busybox" /etc/os-release && echo step: in-image'
expect_out '^step: in-image$' "a step inside the allocation did not inherit the image"
OTHER=$SPANK_WORK/other.sqsh
make_image "$OTHER" '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","WHICH=other"]}}'
as_user_ok salloc -N1 -n1 --container-image="$IMG" srun --container-image="$OTHER" sh -c 'echo "step: $WHICH"'
expect_out '^step: other$' "a step naming another image did not get it"
pass "later steps inherit the image unless they name another"

# sbatch --wait fails when the containerized script fails with a user error.
cat >"$SPANK_WORK/bad.sh" <<JOB
#!/bin/sh
#SBATCH -N1 -n1
#SBATCH --container-image=$BERTH_TEST_REGISTRY/no-such-image:1
#SBATCH --output=$SPANK_WORK/bad.out
echo ran
JOB
chown "$BERTH_TEST_USER:" "$SPANK_WORK/bad.sh"
if as_user sbatch --wait "$SPANK_WORK/bad.sh"; then fail "sbatch --wait succeeded with an unknown image"; fi
nodes_in_service
pass "sbatch --wait fails on a bad image, nodes not drained"
no_leftovers
