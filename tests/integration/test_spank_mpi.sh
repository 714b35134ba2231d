#!/usr/bin/env bash
# srun -N2 -n4 --mpi=pmix --container-image=debian-mpi: every rank runs in the image (its
# PRETTY_NAME), ranks on both nodes, the allreduce is right, PMIx is clean.
source "$(dirname "$0")/spank_lib.sh"

as_user_ok srun -N2 -n4 --mpi=pmix --container-image="$MPI_IMAGE" mpi_hello
cat "$OUT"
[ "$(grep -c '^rank ' "$OUT")" = 4 ] || { show; fail "expected 4 rank lines"; }
for rank in 0 1 2 3; do
  expect_out "^rank $rank of 4 on [^:]+: allreduce sum 6 \(expected 6\), os Debian GNU/Linux 12 \(bookworm\)$"
done
hosts=$(sed -n 's/^rank [0-9]* of 4 on \([^:]*\):.*/\1/p' "$OUT" | sort -u | wc -l)
[ "$hosts" = 2 ] || { show; fail "ranks ran on $hosts node(s), expected 2"; }
if grep -q 'PMIX ERROR' "$OUT" "$ERR"; then show; fail "PMIX ERROR lines"; fi
nodes_in_service
no_leftovers
pass "MPI hello: 4 ranks on 2 nodes in the image, allreduce correct, no PMIX ERROR"
