#!/usr/bin/env bash
# --container-gpu on the test cluster's fake GPUs (gres over the fake driver tree, berth.conf
# gpu_driver_root pointing at it, scripts/lib/cluster.sh): a step sees exactly the GPUs Slurm
# gave it, as /dev/nvidiaN (gres index N = device minor N), with the driver's files and
# consistent variables; none with --container-gpu=none; the CUDA check stops the step cleanly.
source "$(dirname "$0")/spank_lib.sh"
[ -e "$(dirname "$SLURM_CONF")/gres.conf" ] || skip "the cluster was started with BERTH_CLUSTER_GPUS=0"

IMG=$SPANK_WORK/test.sqsh
make_image "$IMG"
gpus() { grep -E '^nvidia[0-9]+$' "$OUT" | tr '\n' ' '; }

# One GPU through gres: exactly one nvidiaN, the one Slurm named.
as_user_ok srun -N1 -n1 -w node1 --gres=gpu:1 --container-image="$IMG" \
  sh -c 'ls /dev; echo "step=$SLURM_STEP_GPUS cuda=$CUDA_VISIBLE_DEVICES"'
step=$(sed -n 's/^step=\([0-9]*\) .*/\1/p' "$OUT")
[[ $step =~ ^[01]$ ]] || { show; fail "SLURM_STEP_GPUS=[$step]"; }
[ "$(gpus)" = "nvidia$step " ] || { show; fail "gres=gpu:1 (GPU $step): /dev has [$(gpus)]"; }
expect_out "cuda=GPU-0000000$step-1111-2222-3333-444444444444\$" "CUDA_VISIBLE_DEVICES names the container's GPU"
expect_out '^nvidiactl$' "control device"
pass "--gres=gpu:1: one /dev/nvidiaN"

# Two GPUs; and the driver's files and nvidia-smi.
as_user_ok srun -N1 -n1 --gres=gpu:2 --container-image="$IMG" \
  sh -c 'ls /dev; nvidia-smi; readlink /usr/local/berth-nvidia/lib/libcuda.so.1'
[ "$(gpus)" = "nvidia0 nvidia1 " ] || { show; fail "gres=gpu:2: /dev has [$(gpus)]"; }
expect_out '^fake nvidia-smi of driver 580\.159\.04$'
expect_out '^libcuda\.so\.580\.159\.04$'
pass "--gres=gpu:2: both, driver files"

# No GPU asked of Slurm, on a cluster where Slurm manages GPUs (GresTypes=gpu): none in the
# container either, and no driver files.
as_user_ok srun -N1 -n1 --container-image="$IMG" sh -c 'ls /dev; ls /usr/local/berth-nvidia 2>&1; true'
[ -z "$(gpus)" ] || { show; fail "no --gres on a gres-managed node: /dev has [$(gpus)]"; }
grep -q '^nvidiactl$' "$OUT" && { show; fail "no --gres: nvidiactl injected"; }
expect_out 'No such file or directory' "no --gres: no driver files"
pass "no GPU allocation where Slurm manages GPUs: no GPU"

# --container-gpu=none: no GPU even with gres.
as_user_ok srun -N1 -n1 --gres=gpu:1 --container-gpu=none --container-image="$IMG" ls /dev
[ -z "$(gpus)" ] || { show; fail "--container-gpu=none: /dev has [$(gpus)]"; }
pass "--container-gpu=none"

# --container-gpu-caps: compute only, so libcuda but no nvidia-smi (a utility); bad caps fail.
as_user_ok srun -N1 -n1 --gres=gpu:1 --container-gpu-caps=compute --container-image="$IMG" \
  sh -c 'command -v nvidia-smi || echo no-nvidia-smi; readlink /usr/local/berth-nvidia/lib/libcuda.so.1'
expect_out '^no-nvidia-smi$' "compute only: no nvidia-smi"
expect_out '^libcuda\.so\.580\.159\.04$' "compute only: libcuda"
expect_user_error "container-gpu-caps" \
  srun -N1 -n1 --gres=gpu:1 --container-gpu-caps=bogus --container-image="$IMG" true
pass "--container-gpu-caps"

# A GPU outside the allocation: one line, node stays in service.
expect_user_error "GPU 1 requested but Slurm allocated GPUs" \
  srun -N1 -n1 --gres=gpu:1 --container-gpu=0,1 --container-image="$IMG" true

# The CUDA check: an image needing CUDA 99.0 stops before the command.
NEW=$SPANK_WORK/cuda99.sqsh
make_image "$NEW" '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","NVIDIA_REQUIRE_CUDA=cuda>=13.9"]}}'
expect_user_error "image needs CUDA 13\.9 .* supports only CUDA 13\.0" \
  srun -N1 -n1 --gres=gpu:1 --container-image="$NEW" true
nodes_in_service
no_leftovers
pass "CUDA check"
