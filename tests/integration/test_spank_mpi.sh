#!/usr/bin/env bash
# srun -N2 -n4 --mpi=pmix --container-image=debian-mpi: every rank runs in the image (its
# PRETTY_NAME, and `mpi_hello` found in the image's PATH), ranks on both nodes, the allreduce
# is right, PMIx is clean (the step's PMIx directories are bound in).
source "$(dirname "$0")/spank_lib.sh"

# The image's PRETTY_NAME (this step also pulls the image when it is not cached).
as_user_ok srun -N1 -n1 --container-image="$MPI_IMAGE" sh -c '. /etc/os-release && echo "$PRETTY_NAME"'
image_pretty=$(cat "$OUT")
[ -n "$image_pretty" ] || fail "no PRETTY_NAME in the image"

as_user_ok srun -N2 -n4 --mpi=pmix --container-image="$MPI_IMAGE" mpi_hello
cat "$OUT"
[ "$(grep -c '^mpi_hello rank=' "$OUT")" = 4 ] || { show; fail "expected 4 rank lines"; }
for rank in 0 1 2 3; do
  expect_out "^mpi_hello rank=$rank size=4 host=node[0-9]+ allreduce=6 os="
done
[ "$(grep -cF "os=\"$image_pretty\"" "$OUT")" = 4 ] || { show; fail "not every rank saw the image's PRETTY_NAME"; }
hosts=$(sed -n 's/^mpi_hello rank=[0-9]* size=4 host=\([^ ]*\) .*/\1/p' "$OUT" | sort -u | wc -l)
[ "$hosts" = 2 ] || { show; fail "ranks ran on $hosts node(s), expected 2"; }
if grep -q 'PMIX ERROR' "$OUT" "$ERR"; then show; fail "PMIX ERROR lines"; fi
pass "MPI hello: 4 ranks on 2 nodes, allreduce correct, no PMIX ERROR"

# The host is Debian 12 too: show that the ranks ran in the image, not on the host. The image
# has berth's metadata and mpi_hello in /usr/local/bin; the host has neither.
as_user_ok srun -N2 -n2 --container-image="$MPI_IMAGE" sh -c 'test -f /.berth/source.json && command -v mpi_hello'
[ "$(grep -c '^/usr/local/bin/mpi_hello$' "$OUT")" = 2 ] || { show; fail "not in the image"; }
[ ! -e /.berth ] && ! command -v mpi_hello >/dev/null || fail "the host has /.berth or mpi_hello: the check proves nothing"
pass "the ranks ran inside the image"
nodes_in_service
no_leftovers
