#!/usr/bin/env bash
# The test bed runs MPI across nodes: `srun -N2 -n4 --mpi=pmix` of mpi_hello on the host, as
# the test user. Every rank 0..3 reports size 4 and allreduce sum 6, ranks ran on both
# nodes' host names, PMIx reports no error, and the nodes are idle afterwards.
source "$(dirname "$0")/lib.sh"
assert_nodes_idle

[ -x "$MPI_HELLO" ] || fail "$MPI_HELLO missing (scripts/cluster start builds it)"
mapfile -t nodes < <(node_states | awk '{print $1}')
[ ${#nodes[@]} -ge 2 ] || fail "need 2 nodes, sinfo shows: ${nodes[*]}"

start=$(date +%s.%N)
out=$(as_user srun -N2 -n4 --mpi=pmix "$MPI_HELLO" 2>&1) || fail "srun exited $?: $out"
end=$(date +%s.%N)
echo "$out"
awk -v s="$start" -v e="$end" 'BEGIN { printf "srun -N2 -n4 --mpi=pmix mpi_hello: %.2f s\n", e - s }'

for rank in 0 1 2 3; do
  line=$(grep "^mpi_hello rank=$rank " <<<"$out") || fail "rank $rank printed nothing: $out"
  assert_contains "$line" "size=4" "rank $rank"
  assert_contains "$line" "allreduce=6" "rank $rank"
done
assert_eq "$(grep -c '^mpi_hello rank=' <<<"$out")" 4 "number of rank lines"
hosts=$(grep -o ' host=[^ ]*' <<<"$out" | sort -u | sed 's/ host=//' | tr '\n' ' ')
assert_eq "$hosts" "${nodes[0]} ${nodes[1]} " "host names of the ranks"
assert_not_contains "$out" "PMIX ERROR"
assert_not_contains "$out" "error" "srun output"
assert_nodes_idle
echo "PASS"
