#!/usr/bin/env bash
# Step start overhead of the SPANK plugin, measured in one run against plain srun:
#   1. srun -N2 -n4 --container-image=IMG true  vs  srun -N2 -n4 true   (ratio; target <= 1.15)
#   2. 1, 4 and 16 tasks on one node (--overcommit): the container's extra time per step must
#      not grow with the task count (one mount namespace per node, every task joins it).
# Needs the test bed up (scripts/testbed start). BENCH_IMAGE=REF measures a registry image
# (cached after the warm-up run: srun pins the tag with the registry, the nodes find the image
# in the site cache, zstd-compressed by berth), e.g. BENCH_IMAGE=$BERTH_TEST_REGISTRY/tiny
# (busybox); the default is a busybox squashfs made here with mksquashfs the way berth writes
# images into its cache (zstd level 3, 128 KiB blocks): a cached image without any pull.
#
# The two-node step is also run, in the same interleaved rounds, as information (the target is
# the first line's ratio):
#   - with --container-gpu=none: the test bed's nodes have fake GPUs, which `auto` injects into
#     every container step;
#   - with copies of a squashfs image (squashfs paths only) compressed with gzip (mksquashfs's
#     default: a user's own image file) and not compressed at all. Every step mounts its image
#     afresh, so on every node every step the kernel decompresses again whatever its programs
#     read (busybox `true` reads most of the 2 MB binary); these lines show how much of the
#     extra time is that, i.e. the image's part, not berth's.
#
#   3. one pin per job: inside one allocation, after the job's first step, a step by tag
#      (--container-image=REG/REPO:TAG) vs the same step by digest vs bare srun (target: tag
#      <= 1.10x bare). Only for a registry image (BENCH_IMAGE=$BERTH_TEST_REGISTRY/tiny).
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
# as berth's cache stores images (a cached image without any pull).
image=${BENCH_IMAGE:-}
if [ -z "$image" ]; then
  scratch=$(mktemp -d /var/tmp/bench-spank.XXXXXX)
  trap 'rm -rf "$scratch"' EXIT
  mkdir -p "$scratch/root"/{bin,etc,proc,sys,dev,tmp,home}
  cp /bin/busybox "$scratch/root/bin/"
  for applet in sh true; do ln -s busybox "$scratch/root/bin/$applet"; done
  mksquashfs "$scratch/root" "$scratch/busybox.sqsh" -quiet -no-progress -all-root \
    -comp zstd -Xcompression-level 3 -b 131072 >/dev/null
  chmod 0755 "$scratch" && chmod 0644 "$scratch/busybox.sqsh"
  image=$scratch/busybox.sqsh
fi
# Copies of a squashfs image (see above); none for a registry reference.
copies=()
if [ -f "$image" ]; then
  [ -n "${scratch:-}" ] || { scratch=$(mktemp -d /var/tmp/bench-spank.XXXXXX); trap 'rm -rf "$scratch"' EXIT; }
  [ -d "$scratch/root" ] || unsquashfs -quiet -no-progress -d "$scratch/root" "$image" >/dev/null
  mksquashfs "$scratch/root" "$scratch/gzip.sqsh" -quiet -no-progress -all-root >/dev/null
  mksquashfs "$scratch/root" "$scratch/raw.sqsh" -quiet -no-progress -all-root \
    -noI -noD -noF -noX >/dev/null
  chmod 0755 "$scratch" && chmod 0644 "$scratch"/*.sqsh
  copies=("gzip copy of the image|--container-image=$scratch/gzip.sqsh"
    "uncompressed copy of the image|--container-image=$scratch/raw.sqsh")
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

# measure ARGS...: interleaved rounds of the plain and the container step (the machine is
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

# measure_split ARGS...: like measure, with the variants of the top in the same rounds: prints
# "plain container" medians, then one median per variant (gpu=none, then the copies).
measure_split() {
  local variants=("--container-image=$image --container-gpu=none")
  local copy i
  for copy in "${copies[@]}"; do variants+=("${copy#*|}"); done
  local plain=() container=() results=()
  run "$@" true >/dev/null; run --container-image="$image" "$@" true >/dev/null  # warm up
  for i in "${!variants[@]}"; do
    # shellcheck disable=SC2086  # a variant is a list of options
    run ${variants[$i]} "$@" true >/dev/null
  done
  for _ in $(seq "$rounds"); do
    plain+=("$(run "$@" true)")
    container+=("$(run --container-image="$image" "$@" true)")
    for i in "${!variants[@]}"; do
      # shellcheck disable=SC2086
      results[i]+="$(run ${variants[$i]} "$@" true) "
    done
  done
  local line
  line="$(printf '%s\n' "${plain[@]}" | median) $(printf '%s\n' "${container[@]}" | median)"
  for i in "${!variants[@]}"; do
    line+=" $(tr ' ' '\n' <<<"${results[i]}" | grep . | median)"
  done
  echo "$line"
}

ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "bench_spank: $rounds rounds, image $image, medians"
read -r plain container nogpu copy_medians < <(measure_split -N2 -n4)
printf '%-34s plain %6s ms  container %6s ms  ratio %s (target <= 1.15)\n' \
  "srun -N2 -n4 true" "$plain" "$container" "$(ratio_of "$container" "$plain")"
printf '  %-52s %6s ms  ratio %s\n' "--container-gpu=none" "$nogpu" "$(ratio_of "$nogpu" "$plain")"
read -r -a copy_medians <<<"${copy_medians:-}"
for i in "${!copies[@]}"; do
  printf '  %-52s %6s ms  ratio %s\n' "${copies[$i]%%|*}" "${copy_medians[$i]}" \
    "$(ratio_of "${copy_medians[$i]}" "$plain")"
done

for tasks in 1 4 16; do
  read -r plain container < <(measure -N1 -n"$tasks" --overcommit)
  printf '%-34s plain %6s ms  container %6s ms  overhead %5s ms\n' \
    "srun -N1 -n$tasks --overcommit true" "$plain" "$container" \
    "$(awk -v a="$container" -v b="$plain" 'BEGIN { printf "%.0f", a - b }')"
done

# 3. One pin per job: srun inside an allocation (SLURM_JOB_ID set, as in a batch script or an
# salloc shell) finds the tag's digest the job's first step pinned, on the node, without asking
# the registry.
if [ ! -f "$image" ]; then
  job=$(testbed_in_netns runuser -u "$BERTH_TEST_USER" -- env -C "$home" SLURM_CONF="$SLURM_CONF" \
    salloc -N2 --no-shell 2>&1 | sed -n 's/.*Granted job allocation \([0-9]*\).*/\1/p')
  [ -n "$job" ] || { echo "bench_spank: salloc failed" >&2; exit 1; }
  in_job() { SLURM_JOB_ID=$job run --jobid="$job" "$@"; }
  # The tag's digest, from the registry (REG/REPO[:TAG], plain HTTP on the test bed).
  repo=${image#*/} tagname=latest
  [[ $repo == *:* ]] && { tagname=${repo##*:}; repo=${repo%:*}; }
  digest=$(testbed_in_netns curl -sfI \
    -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://${image%%/*}/v2/$repo/manifests/$tagname" | tr -d '\r' |
    sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
  [ -n "$digest" ] || { echo "bench_spank: no digest for $image" >&2; exit 1; }
  by_digest="${image%%/*}/$repo@$digest"
  in_job -N2 -n4 true >/dev/null; in_job --container-image="$image" -N2 -n4 true >/dev/null
  bare=() tag=() dig=()
  for _ in $(seq "$rounds"); do
    bare+=("$(in_job -N2 -n4 true)")
    tag+=("$(in_job --container-image="$image" -N2 -n4 true)")
    dig+=("$(in_job --container-image="$by_digest" -N2 -n4 true)")
  done
  testbed_in_netns scancel "$job" 2>/dev/null || true
  b=$(printf '%s\n' "${bare[@]}" | median); t=$(printf '%s\n' "${tag[@]}" | median)
  d=$(printf '%s\n' "${dig[@]}" | median)
  printf '%-34s bare %6s ms  by tag %6s ms  ratio %s (target <= 1.10)  by digest %6s ms  ratio %s\n' \
    "in one allocation, -N2 -n4 true" "$b" "$t" "$(ratio_of "$t" "$b")" "$d" "$(ratio_of "$d" "$b")"
fi
