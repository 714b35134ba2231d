#!/usr/bin/env bash
# The real-GPU check (issue 6), for a lent GPU machine (device tool; one H200, driver 580.159.04,
# driver files in /usr/local/nvidia/{lib64,bin}, no Slurm). Prepare first, on the build machine:
#   bench/gpu/prepare_bundle.sh          (berth + its libraries + an image with vector_add)
# then run this with the device tool, carrying build/gpu-bundle:
#   run(command="bench/gpu/real_gpu_check.sh", carry=["build/gpu-bundle"], timeout_s=300)
# It prints (and copies to $OUT/real_gpu_check.log):
#   1. the host's view: nvidia-smi -L, `berth info --gpu` (driver, CUDA version from the child
#      probe, GPUs with PCI address and NUMA/CPU locality, the injection plan, timings);
#   2. `berth exec --gpu IMAGE vector_add` and `... nvidia-smi`, when this berth has `exec`;
#   3. always: the same plan applied by this script itself (unshare -m, squashfs, one bind per
#      plan line, chroot), so the library's plan is checked on a real GPU even without the
#      runtime: vector_add must print the device name and "OK", nvidia-smi must list the GPU, and
#      a container given GPU index 0 must see only /dev/nvidia0.
# BERTH_GPU_CHECK_DRIVER_ROOT=DIR runs it against a fake driver tree (a dry run without a GPU).
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bundle=${BERTH_GPU_BUNDLE:-$here/build/gpu-bundle}
image=$bundle/cuda-vector-add.sqfs
log=${OUT:-/tmp}/real_gpu_check.log
exec > >(tee "$log") 2>&1
berth() { "$bundle/lib/ld-linux-x86-64.so.2" --library-path "$bundle/lib" "$bundle/berth" "$@"; }
driver_args=()
[ -n "${BERTH_GPU_CHECK_DRIVER_ROOT:-}" ] && driver_args=(--driver-root "$BERTH_GPU_CHECK_DRIVER_ROOT")
failures=0
# The container's mount point: mounts on it live in private namespaces and vanish with them.
mnt=$(mktemp -d /tmp/berth-gpu-root.XXXXXX)
trap 'rmdir "$mnt"' EXIT
step() { echo; echo "=== $*"; }
check() { if "$@"; then echo "PASS: $*"; else echo "FAIL: $*"; failures=$((failures + 1)); fi; }
check_fails() { if "$@"; then echo "FAIL (should fail): $*"; failures=$((failures + 1)); else echo "PASS (fails as it should): $*"; fi; }

step "host"
uname -a; grep PRETTY_NAME /etc/os-release
cat /proc/driver/nvidia/version 2>/dev/null
PATH=$PATH:/usr/local/nvidia/bin nvidia-smi -L 2>&1 || echo "(no nvidia-smi on the host PATH)"
ls -l /dev/nvidia* /dev/nvidia-caps 2>&1

step "berth info --gpu"
start=$(date +%s.%N)
berth info --gpu "${driver_args[@]}" | tee /tmp/berth-gpu-plan.txt
echo "berth info --gpu took $(echo "$(date +%s.%N) - $start" | bc) s (discovery + CUDA probe + hwloc)"
check grep -q "^NVIDIA driver .*, CUDA [0-9]" /tmp/berth-gpu-plan.txt
berth info --gpu --caps all "${driver_args[@]}" | grep -E "^(Capabilities|  (library|program))" | wc -l |
  xargs echo "files and names with --caps all:"
SLURM_STEP_GPUS=0 berth info --gpu "${driver_args[@]}" >/tmp/berth-gpu-plan-0.txt
check grep -q "Would inject GPUs 0 (GPUs allocated by Slurm)" /tmp/berth-gpu-plan-0.txt

step "berth exec --gpu (the runtime's own injection)"
exec_probe=$(berth exec 2>&1)
if [[ $exec_probe != *"not implemented"* ]]; then
  check berth exec --gpu "$image" /usr/local/bin/vector_add
  check berth exec --gpu "$image" nvidia-smi
  berth exec --gpu "$image" sh -c 'ls -l /dev/nvidia*; env | grep -E "CUDA|NVIDIA|LD_LIBRARY"'
  check_fails berth exec "$image" /usr/local/bin/vector_add  # without --gpu: no GPU
else
  echo "this berth has no \`exec\` yet: only the plan applied by this script is checked"
fi

# Applies the plan in /tmp/berth-gpu-plan*.txt (berth info's "  KIND HOST [-> CONTAINER] (...)",
# "  link PATH -> TARGET" and "  env ..." lines; the tmpfs line is always /usr/local/berth-nvidia) to the image in a private mount namespace and runs COMMAND in it.
run_with_plan() {
  local plan=$1; shift
  unshare -m --propagation private bash -s "$image" "$plan" "$mnt" "$@" <<'INNER'
set -euo pipefail
image=$1 plan=$2 root=$3; shift 3
mount -t squashfs -o ro,loop,nodev,nosuid "$image" "$root"
for dir in dev tmp run usr/local/berth-nvidia; do mount -t tmpfs -o nosuid,mode=755 tmpfs "$root/$dir"; done
mkdir -p "$root/usr/local/berth-nvidia/lib" "$root/usr/local/berth-nvidia/bin"
mount -t proc proc "$root/proc"
for node in null zero urandom random; do touch "$root/dev/$node"; mount --bind "/dev/$node" "$root/dev/$node"; done
env_args=()
while read -r kind rest; do
  case $kind in
    library|program|device|socket|directory)
      host=${rest%% *}; after=${rest#"$host"}; after=${after# }
      if [[ $after == "-> "* ]]; then target=${after#-> }; target=${target%% (*}; else target=$host; fi
      mkdir -p "$root$(dirname "$target")"
      if [ "$kind" = directory ]; then mkdir -p "$root$target"; else touch "$root$target"; fi
      mount --bind "$host" "$root$target"
      case $kind in
        library|program) mount -o remount,bind,ro,nosuid,nodev "$root$target" ;;
        device) mount -o remount,bind,nosuid "$root$target" ;;
        *) mount -o remount,bind,nosuid,nodev "$root$target" ;;
      esac ;;
    link)
      link=${rest%% -> *}; mkdir -p "$root$(dirname "$link")"; ln -s "${rest#* -> }" "$root$link" ;;
    env)
      if [[ $rest == *" prepend "* ]]; then env_args+=("${rest%% prepend *}=${rest#* prepend }")
      elif [[ $rest == *" append "* ]]; then env_args+=("${rest%% append *}=/usr/local/bin:/usr/bin:/bin:${rest#* append }")
      else env_args+=("$rest"); fi ;;
  esac
done < <(sed -n 's/^  \(library\|program\|device\|socket\|directory\|link\|env\) \+/\1 /p' "$plan")
exec chroot "$root" /bin/env -i "${env_args[@]}" "$@"
INNER
}

step "the plan applied by this script: vector_add, nvidia-smi, visible devices"
check run_with_plan /tmp/berth-gpu-plan.txt /usr/local/bin/vector_add
check run_with_plan /tmp/berth-gpu-plan.txt nvidia-smi
run_with_plan /tmp/berth-gpu-plan.txt sh -c 'ls -l /dev /dev/nvidia-caps; ls /usr/local/berth-nvidia/lib /usr/local/berth-nvidia/bin; env'
step "only GPU 0 (as if Slurm allocated it)"
run_with_plan /tmp/berth-gpu-plan-0.txt sh -c 'ls /dev | grep nvidia' | tee /tmp/berth-gpu-devs.txt
check grep -qx nvidia0 /tmp/berth-gpu-devs.txt
check_fails grep -qx "nvidia[1-9][0-9]*" /tmp/berth-gpu-devs.txt

step "summary"
echo "failures: $failures"
exit $((failures > 0))
