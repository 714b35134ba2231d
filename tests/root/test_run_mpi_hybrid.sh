#!/usr/bin/env bash
# The Singularity tutorial's hybrid MPI model: the host's mpirun starts `berth exec IMAGE app`
# per rank; the ranks find each other through mpirun's session directory in the host's /tmp.
# The image here is the host's own root used as a sandbox (it has Open MPI); the lead's
# debian-mpi image can replace it once the pull branch converts OCI layouts to squashfs.
source "$(dirname "$0")/lib/common.sh"
command -v mpirun >/dev/null || { echo "mpirun missing" >&2; exit 77; }
hello=/var/tmp/berth-testbed/bin/mpi_hello
if [[ ! -x $hello ]]; then
  hello=$BERTH_BUILD_DIR/test-images/mpi_hello
  if [[ ! -x $hello ]]; then
    command -v mpicc >/dev/null || { echo "mpicc missing" >&2; exit 77; }
    cat >"$hello.c" <<'C'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char** argv) {
  int rank, size, sum = 0;  /* allreduce: the sum of the ranks */
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  printf("mpi_hello rank=%d size=%d allreduce=%d\n", rank, size, sum);
  MPI_Finalize();
  return 0;
}
C
    mpicc -o "$hello" "$hello.c"
  fi
fi
cd /tmp
marker=$(mktemp -d /tmp/berth-mpi.XXXXXX)
trap 'rm -rf "$marker"' EXIT
# Each rank proves it runs in the container (the marker bind exists only there).
out=$(OMPI_MCA_btl_tcp_if_include=lo timeout 120 mpirun --allow-run-as-root --oversubscribe -np 2 \
  "$BERTH" exec -w -B "$marker:/berth-mpi-marker" --sandbox / \
  sh -c "test -d /berth-mpi-marker && exec $hello" 2>&1) || true
echo "$out"
expect_contains "$out" "rank=0 size=2" "rank 0"
expect_contains "$out" "rank=1 size=2" "rank 1"
expect_contains "$out" "allreduce=1" "the ranks communicated (0+1)"
pass "hybrid MPI, 2 ranks"
check_no_leaks
