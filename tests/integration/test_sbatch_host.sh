#!/usr/bin/env bash
# A 2-node batch job as the test user: `sbatch --wait` of a script that runs one step per
# node and the MPI hello; its output file must show both nodes and all ranks.
source "$(dirname "$0")/lib.sh"
assert_nodes_idle

dir=$(mktemp_user)
user_file "$dir/job.sh" <<EOF2
#!/bin/bash
#SBATCH -N2 -n2 --ntasks-per-node=1
#SBATCH -o $dir/job.out
#SBATCH -J berth-sbatch-test
echo "batch on \$(hostname) as \$(id -un) job \$SLURM_JOB_ID nodes \$SLURM_JOB_NODELIST"
srun sh -c 'echo "step on \$(hostname)"'
srun --mpi=pmix $MPI_HELLO
echo "batch done"
EOF2

out=$(as_user sbatch --wait "$dir/job.sh" 2>&1) || fail "sbatch --wait exited $?: $out"
assert_contains "$out" "Submitted batch job"
[ -f "$dir/job.out" ] || fail "no output file $dir/job.out"
result=$(cat "$dir/job.out")
echo "$result"

mapfile -t nodes < <(node_states | awk '{print $1}')
assert_contains "$result" "batch on ${nodes[0]} as $BERTH_TEST_USER"
assert_contains "$result" "step on ${nodes[0]}"
assert_contains "$result" "step on ${nodes[1]}"
for rank in 0 1; do
  assert_contains "$result" "mpi_hello rank=$rank size=2 host=${nodes[$rank]} allreduce=1"
done
assert_contains "$result" "batch done"
assert_not_contains "$result" "PMIX ERROR"
assert_eq "$(stat -c %U "$dir/job.out")" "$BERTH_TEST_USER" "owner of the output file"
assert_nodes_idle
echo "PASS"
