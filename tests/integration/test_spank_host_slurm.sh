#!/usr/bin/env bash
# The host's Slurm client in a containerized batch script (berth.conf host_slurm, on by
# default): a script that runs in an image without Slurm calls srun, which starts a PMIx MPI
# step whose ranks run in the job's image on both nodes, and scontrol; in an image without glibc
# too (the host's loader and libraries run them); an image that ships its own srun keeps it
# first on PATH; other steps get nothing of it.
source "$(dirname "$0")/spank_lib.sh"

# sbatch_ok NAME ARGS... SCRIPT: sbatch --wait as the test user; the job's output in $OUT, its id
# in $JOB.
sbatch_ok() {
  local name=$1 rc=0
  shift
  as_user sbatch --wait -o "$SPANK_WORK/$name.out" "$@" || rc=$?
  JOB=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' "$OUT")
  [ -n "$JOB" ] || { show; fail "no job id from sbatch"; }
  cp "$SPANK_WORK/$name.out" "$OUT"
  [ $rc = 0 ] || { show; fail "job $JOB ($name) failed: sbatch --wait exit $rc"; }
}
script() { # NAME: the script's text from stdin, owned by the test user
  cat >"$SPANK_WORK/$1.sh"
  chown "$BERTH_TEST_USER:" "$SPANK_WORK/$1.sh"
  echo "$SPANK_WORK/$1.sh"
}

# 1. debian-mpi has no Slurm: the script's srun is the host's, the MPI step's ranks run in the
# image (its PRETTY_NAME, mpi_hello from its PATH) across both nodes; scontrol shows the job.
mpi=$(script mpi <<'EOF'
#!/bin/sh
echo "srun=$(command -v srun)"
test -e /usr/bin/srun && echo "the image has srun"
srun -N2 -n4 --mpi=pmix mpi_hello
echo "srun rc=$?"
scontrol show job "$SLURM_JOB_ID"
echo "scontrol rc=$?"
EOF
)
sbatch_ok mpi -N2 -n4 --container-image="$MPI_IMAGE" "$mpi"
expect_out '^srun=/\.berth/host-slurm/bin/srun$' "srun from the host's client"
expect_out_not 'the image has srun' "debian-mpi must lack Slurm for this test"
[ "$(grep -c '^mpi_hello rank=' "$OUT")" = 4 ] || { show; fail "expected 4 rank lines"; }
for rank in 0 1 2 3; do
  expect_out "^mpi_hello rank=$rank size=4 host=node[0-9]+ allreduce=6 os=\"Debian GNU/Linux 12 \\(bookworm\\)\"$"
done
[ "$(sed -n 's/^mpi_hello .* host=\([^ ]*\) .*/\1/p' "$OUT" | sort -u | wc -l)" = 2 ] ||
  { show; fail "the ranks did not run on two nodes"; }
if grep -q 'PMIX ERROR' "$OUT"; then show; fail "PMIX ERROR lines"; fi
expect_out '^srun rc=0$'
expect_out "^JobId=$JOB JobName=mpi\\.sh$" "scontrol show job"
expect_out '^scontrol rc=0$'
pass "batch script in debian-mpi: srun -N2 -n4 --mpi=pmix mpi_hello and scontrol show job"

# 2. An image without glibc (busybox): the host's loader runs the client; the steps started
# from the script inherit the job's image.
plain=$(script plain <<'EOF'
#!/bin/sh
test -e /lib/x86_64-linux-gnu/libc.so.6 -o -e /usr/lib/x86_64-linux-gnu/libc.so.6 && echo "the image has glibc"
scontrol show job "$SLURM_JOB_ID" | head -n 1
srun -N2 -n2 sh -c '. /etc/os-release; echo "step on $(hostname): $PRETTY_NAME"'
EOF
)
sbatch_ok plain -N2 -n2 --container-image="$TINY" "$plain"
expect_out_not 'the image has glibc' "the tiny image must lack glibc for this test"
expect_out "^JobId=$JOB JobName=plain\\.sh$"
tiny_name=$(grep -o 'step on node1: .*' "$OUT" | sed 's/^step on node1: //')
[ -n "$tiny_name" ] && [[ "$tiny_name" != *Debian* ]] || { show; fail "the step did not run in the job's image"; }
grep -qxF "step on node2: $tiny_name" "$OUT" || { show; fail "no step on node2 in the job's image"; }
pass "batch script in an image without glibc: scontrol, and srun steps in the job's image"

# 3. An image that ships its own srun keeps it first; the host's is still there, later on PATH.
# (A root user in /etc/passwd, as real images have: libslurm looks SlurmUser up.)
IMG=$SPANK_WORK/own-srun.sqsh
make_image "$IMG"
tree=$(mktemp -d)
unsquashfs -q -d "$tree/root" "$IMG" >/dev/null
mkdir -p "$tree/root/usr/bin"
printf '#!/bin/sh\necho "the image'\''s srun $*"\n' >"$tree/root/usr/bin/srun"
chmod 0755 "$tree/root/usr/bin/srun"
echo 'root:x:0:0:root:/root:/bin/sh' >"$tree/root/etc/passwd"
echo 'root:x:0:' >"$tree/root/etc/group"
mksquashfs "$tree/root" "$IMG" -quiet -no-progress -all-root -noappend >/dev/null
chmod 0644 "$IMG"
rm -rf "$tree"
own=$(script own <<'EOF'
#!/bin/sh
echo "srun=$(command -v srun)"
srun -N1 true
echo "PATH=$PATH"
/.berth/host-slurm/bin/srun --version
EOF
)
sbatch_ok own -N1 --container-image="$IMG" "$own"
expect_out '^srun=/usr/bin/srun$'
expect_out "^the image's srun -N1 true$"
expect_out '^PATH=/bin:/usr/bin:/\.berth/host-slurm/bin$' "the image's PATH first, the host's client last"
expect_out '^slurm[-a-z]* [0-9]+\.[0-9]+' "the host's srun"
pass "an image's own srun stays first"

# 4. Only the batch script: a step's tasks have none of it.
as_user_ok srun -N1 -n1 --container-image="$TINY" sh -c 'echo "PATH=$PATH"; ls /.berth/host-slurm 2>&1; true'
expect_out_not 'host-slurm/bin' "a step's PATH"
expect_out 'No such file or directory'
pass "steps get no host client"

nodes_in_service
no_leftovers
