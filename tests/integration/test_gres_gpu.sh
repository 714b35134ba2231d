#!/usr/bin/env bash
# The test cluster's fake GPUs (scripts/lib/cluster.sh: gres.conf over the fake driver tree's
# /dev/nvidia0-1): Slurm allocates them through gres and tells the step which, host side, no
# container. This is what `--container-gpu=auto` reads (SLURM_STEP_GPUS = N of /dev/nvidiaN).
source "$(dirname "$0")/lib.sh"
assert_nodes_idle

[ -e "$(dirname "$SLURM_CONF")/gres.conf" ] || skip "the cluster was started with BERTH_CLUSTER_GPUS=0"
gres=$(as_root sinfo -h -N -o '%N %G' | sort -u)
echo "$gres"
assert_contains "$gres" "node1 gpu:2" "node1's gres"

# One GPU: Slurm names it in SLURM_STEP_GPUS and CUDA_VISIBLE_DEVICES.
out=$(as_user srun -N1 -w node1 --gres=gpu:1 env 2>&1) || fail "srun --gres=gpu:1: $out"
step=$(printf '%s\n' "$out" | sed -n 's/^SLURM_STEP_GPUS=//p')
cuda=$(printf '%s\n' "$out" | sed -n 's/^CUDA_VISIBLE_DEVICES=//p')
echo "gpu:1 -> SLURM_STEP_GPUS=$step CUDA_VISIBLE_DEVICES=$cuda"
[[ $step =~ ^[01]$ ]] || fail "SLURM_STEP_GPUS=[$step] for one GPU: $out"
[[ $cuda =~ ^[01]$ ]] || fail "CUDA_VISIBLE_DEVICES=[$cuda] for one GPU: $out"

# Both GPUs.
out=$(as_user srun -N1 -w node1 --gres=gpu:2 sh -c 'echo "$SLURM_STEP_GPUS $CUDA_VISIBLE_DEVICES"' 2>&1) ||
  fail "srun --gres=gpu:2: $out"
assert_eq "$out" "0,1 0,1" "gpu:2"

# Two concurrent one-GPU jobs on one node get different GPUs.
dir=$(mktemp_user)
for i in 1 2; do
  as_user srun -N1 -w node1 --gres=gpu:1 sh -c 'echo $SLURM_STEP_GPUS; sleep 3' >"$dir/job$i" 2>&1 &
done
wait
a=$(cat "$dir/job1") b=$(cat "$dir/job2")
echo "concurrent: [$a] [$b]"
[[ $a =~ ^[01]$ && $b =~ ^[01]$ && $a != "$b" ]] || fail "concurrent jobs got [$a] and [$b]"

# No GPU asked: Slurm sets no GPU variable (berth's `auto` then means every GPU of the node).
out=$(as_user srun -N1 -w node1 env 2>&1) || fail "srun without gres: $out"
assert_not_contains "$out" "SLURM_STEP_GPUS=" "no gres"

# More than a node has: refused.
if out=$(as_user srun -N1 --immediate=5 --gres=gpu:3 true 2>&1); then fail "gpu:3 granted: $out"; fi
assert_contains "$out" "Requested node configuration is not available" "gpu:3"
assert_nodes_idle
echo "PASS"
