#!/usr/bin/env bash
# Step start overhead of the SPANK plugin, measured in one run against plain srun:
#   1. srun -N2 -n4 --container-image=IMG true  vs  srun -N2 -n4 true   (ratio; target <= 1.15)
#   2. 1, 4 and 16 tasks on one node (--overcommit): the container's extra time per step must
#      not grow with the task count (one mount namespace per node, every task joins it).
# Needs the test bed up (scripts/testbed start). BENCH_IMAGE=REF measures a registry image
# (cached after the warm-up run); the default is a busybox squashfs made here.
#
#   bench/bench_spank.sh [ROUNDS]      (default 10 rounds, medians reported)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/scripts/lib/testbed.sh"
[ -f "$BERTH_TESTBED_ENV" ] || { echo "bench_spank: the test bed is not up" >&2; exit 1; }
set -a; source "$BERTH_TESTBED_ENV"; set +a
rounds=${1:-10}
home=$(getent passwd "$BERTH_TEST_USER" | cut -d: -f6)
# The image: BENCH_IMAGE (a cached reference or a squashfs), else a busybox squashfs made here
# (a cached image without any pull: what every step after the first sees).
image=${BENCH_IMAGE:-}
if [ -z "$image" ]; then
  scratch=$(mktemp -d /var/tmp/bench-spank.XXXXXX)
  trap 'rm -rf "$scratch"' EXIT
  mkdir -p "$scratch/root"/{bin,etc,proc,sys,dev,tmp,home}
  cp /bin/busybox "$scratch/root/bin/"
  for applet in sh true; do ln -s busybox "$scratch/root/bin/$applet"; done
  mksquashfs "$scratch/root" "$scratch/busybox.sqsh" -quiet -no-progress -all-root >/dev/null
  chmod 0755 "$scratch" && chmod 0644 "$scratch/busybox.sqsh"
  image=$scratch/busybox.sqsh
fi

run() {  # run ARGS...: one srun as the test user, its wall time in ms on stdout
  local start end
  start=$(date +%s%N)
  testbed_in_netns runuser -u "$BERTH_TEST_USER" -- env -C "$home" SLURM_CONF="$SLURM_CONF" \
    srun "$@" >/dev/null 2>&1 || { echo "bench_spank: srun $* failed" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# measure NAME ARGS...: interleaved rounds of the plain and the container step (the machine is
# noisy: both see the same conditions); prints "plain container" medians in ms.
measure() {
  local plain=() container=()
  run "$@" true >/dev/null; run --container-image="$image" "$@" true >/dev/null  # warm up
  for _ in $(seq "$rounds"); do
    plain+=("$(run "$@" true)")
    container+=("$(run --container-image="$image" "$@" true)")
  done
  echo "$(printf '%s\n' "${plain[@]}" | median) $(printf '%s\n' "${container[@]}" | median)"
}

echo "bench_spank: $rounds rounds, image $image, medians"
read -r plain container < <(measure -N2 -n4)
ratio=$(awk -v a="$container" -v b="$plain" 'BEGIN { printf "%.2f", a / b }')
printf '%-34s plain %6s ms  container %6s ms  ratio %s (target <= 1.15)\n' \
  "srun -N2 -n4 true" "$plain" "$container" "$ratio"

for tasks in 1 4 16; do
  read -r plain container < <(measure -N1 -n"$tasks" --overcommit)
  printf '%-34s plain %6s ms  container %6s ms  overhead %5s ms\n' \
    "srun -N1 -n$tasks --overcommit true" "$plain" "$container" \
    "$(awk -v a="$container" -v b="$plain" 'BEGIN { printf "%.0f", a - b }')"
done
