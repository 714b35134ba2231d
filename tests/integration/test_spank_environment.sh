#!/usr/bin/env bash
# The task environment under srun, rule by rule (shared/container/environment.hpp; the same
# rules as berth exec's, see tests/root/test_run_environment.sh): what pyxis users expect.
source "$(dirname "$0")/spank_lib.sh"

# Env: PATH=/bin:/usr/bin, FOO=from-image, LANG=image-lang; SLURM_PROCID=99 must never win.
IMG=$SPANK_WORK/env.sqsh
make_image "$IMG" '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin:/usr/bin","FOO=from-image","LANG=image-lang","SLURM_PROCID=99"]}}'
# --container-gpu=none: the test bed's nodes have fake GPUs, whose injection appends to PATH.
run_env() {  # run_env [VAR=value...] -- [srun options...]: `env` of each of 2 tasks, to $OUT
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  as_user_ok "${vars[@]}" srun -N1 -n2 --container-gpu=none --container-image="$IMG" "$@" \
    sh -c 'env | sed "s/^/task$SLURM_PROCID: /"'
}
host=(OMP_NUM_THREADS=8 NCCL_DEBUG=INFO FOO=host-foo LANG=host-lang
  LD_PRELOAD=/nonexistent/preload.so LD_LIBRARY_PATH=/host/lib PATH=/host/bin:/usr/bin:/bin)

# 1. The task's environment passes (both tasks), host-only names never.
run_env "${host[@]}" --
for t in 0 1; do
  expect_out "^task$t: OMP_NUM_THREADS=8\$" "task $t: OMP_NUM_THREADS did not pass"
  expect_out "^task$t: NCCL_DEBUG=INFO\$" "task $t: NCCL_DEBUG did not pass"
done
expect_out_not '^task[01]: LD_PRELOAD=' "the host's LD_PRELOAD entered the container"
expect_out_not '^task[01]: LD_LIBRARY_PATH=' "the host's LD_LIBRARY_PATH entered the container"
pass "rule 1: exported variables pass, PATH/LD_* do not"

# 2. The image's Env wins (PATH, FOO, LANG); SLURM_* keep each task's own value.
for t in 0 1; do
  expect_out "^task$t: PATH=/bin:/usr/bin\$" "task $t: PATH is not the image's"
  expect_out "^task$t: FOO=from-image\$" "task $t: the image's FOO did not win"
  expect_out "^task$t: LANG=image-lang\$"
  expect_out "^task$t: SLURM_PROCID=$t\$" "task $t: SLURM_PROCID is not the task's"
  expect_out "^task$t: SLURM_JOB_ID=[0-9]+\$"
  expect_out "^task$t: HOME=$TEST_HOME\$"
done
pass "rule 2: image Env wins, SLURM_PROCID per task"

# 3. --container-env=NAME,... / BERTH_CONTAINER_ENV: the task's value wins.
run_env "${host[@]}" -- --container-env=FOO,LANG
expect_out '^task0: FOO=host-foo$' "--container-env=FOO: the image's value won"
expect_out '^task1: LANG=host-lang$'
expect_out '^task0: PATH=/bin:/usr/bin$'
run_env "${host[@]}" BERTH_CONTAINER_ENV=FOO --
expect_out '^task0: FOO=host-foo$' "BERTH_CONTAINER_ENV=FOO: the image's value won"
expect_out '^task0: LANG=image-lang$'
pass "rule 3: --container-env, BERTH_CONTAINER_ENV"

# 4. --container-cleanenv / BERTH_CONTAINER_CLEANENV=1: today's behaviour.
run_env "${host[@]}" -- --container-cleanenv
expect_out_not '^task[01]: (OMP_NUM_THREADS|NCCL_DEBUG)=' "--container-cleanenv passed them"
expect_out '^task1: SLURM_PROCID=1$'
expect_out '^task0: FOO=from-image$'
expect_out "^task0: HOME=$TEST_HOME\$"
run_env "${host[@]}" BERTH_CONTAINER_CLEANENV=1 --
expect_out_not '^task[01]: (OMP_NUM_THREADS|NCCL_DEBUG)=' "BERTH_CONTAINER_CLEANENV=1 passed them"
expect_out '^task0: SLURM_PROCID=0$'
run_env "${host[@]}" -- --container-cleanenv --container-env=NCCL_DEBUG
expect_out '^task0: NCCL_DEBUG=INFO$' "--container-env with --container-cleanenv"
expect_out_not '^task[01]: OMP_NUM_THREADS='
pass "rule 4: --container-cleanenv, BERTH_CONTAINER_CLEANENV"

# A bad name is one error line.
expect_user_error "--container-env: \`2X\` is not a variable name" \
  srun -N1 -n1 --container-image="$IMG" --container-env=2X true
nodes_in_service
no_leftovers
