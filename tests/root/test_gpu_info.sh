#!/usr/bin/env bash
# `berth info --gpu` over a fake driver tree with real device nodes (mknod: root): only the
# allocated GPU's node, device numbers verified, capabilities, clean errors without a driver.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "needs root (mknod)"; exit 77; }
berth=${BERTH_BIN:?}
make_fake=${BERTH_SOURCE_DIR:?}/tests/data/gpu/make_fake_driver.sh
work=$(mktemp -d /tmp/berth-test-gpu.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; echo "--- output:"; cat "$work/out"; exit 1; }
expect() { grep -qF -- "$1" "$work/out" || fail "expected: $1"; }
reject() { ! grep -qF -- "$1" "$work/out" || fail "unexpected: $1"; }

root=$work/root
FAKE_MKNOD=1 FAKE_CUDA=12080 "$make_fake" "$root"
info() { env -u SLURM_STEP_GPUS -u SLURM_JOB_GPUS -u NVIDIA_DRIVER_CAPABILITIES "$@"; }

# The whole node, default capabilities.
info "$berth" info --gpu --driver-root "$root" >"$work/out"
expect "NVIDIA driver 580.159.04, CUDA 12.8"
expect "GPU 1: NVIDIA H200, PCI 0000:5e:00.0, GPU-00000001-1111-2222-3333-444444444444"
expect "node: $root/dev/nvidia0 (195:0, verified)"
expect "Would inject GPUs 0,1 (all GPUs of the node (no Slurm GPU allocation))"
expect "$root/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04 -> /usr/local/berth-nvidia/lib/libcuda.so.580.159.04 (read-only)"
expect "link      /usr/local/berth-nvidia/lib/libcuda.so.1 -> libcuda.so.580.159.04"
expect "tmpfs     /usr/local/berth-nvidia"
expect "-> /usr/local/berth-nvidia/bin/nvidia-smi (read-only)"
expect "device    $root/dev/nvidia-uvm -> /dev/nvidia-uvm (511:0)"
expect "device    $root/dev/nvidia-caps/nvidia-cap1 -> /dev/nvidia-caps/nvidia-cap1 (510:1)"
expect "Ignored (another driver version): $root/opt/old-driver/libcuda.so.535.54.03"
reject "libnvcuvid"
reject "535.54.03 ->"

# Slurm allocated GPU 1 only: /dev/nvidia1 and not /dev/nvidia0.
info SLURM_STEP_GPUS=1 "$berth" info --gpu --driver-root "$root" >"$work/out"
expect "Would inject GPUs 1 (GPUs allocated by Slurm)"
expect "device    $root/dev/nvidia1 -> /dev/nvidia1 (195:1)"
reject "-> /dev/nvidia0 "
expect "env       CUDA_VISIBLE_DEVICES=GPU-00000001-1111-2222-3333-444444444444"
# ... SLURM_JOB_GPUS in a batch step, the same.
info SLURM_JOB_GPUS=0 "$berth" info --gpu --driver-root "$root" >"$work/out"
expect "device    $root/dev/nvidia0 -> /dev/nvidia0 (195:0)"
reject "-> /dev/nvidia1 "

# Capabilities from NVIDIA_DRIVER_CAPABILITIES or --caps.
info NVIDIA_DRIVER_CAPABILITIES=video "$berth" info --gpu --driver-root "$root" >"$work/out"
expect "/usr/local/berth-nvidia/lib/libnvcuvid.so.1"
reject "libcuda.so.1"
"$berth" info --gpu --driver-root "$root" --caps graphics >"$work/out"
expect "/usr/local/berth-nvidia/lib/libGLX_nvidia.so.0"
expect "/usr/local/berth-nvidia/lib/libnvidia-glcore.so.580.159.04"

# The CUDA check against an image (driver supports CUDA 12.8) in its three outcomes.
image=$work/image
mkdir -p "$image/.berth"
config() { printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"%s]}}' "$1" >"$image/.berth/config.json"; }
config ',"NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=470,driver<471"'
info "$berth" info --gpu --driver-root "$root" --image "$image" >"$work/out"
expect "CUDA check: image needs CUDA 12.4 (NVIDIA_REQUIRE_CUDA); driver 580.159.04 supports CUDA 12.8"
config ',"NVIDIA_REQUIRE_CUDA=cuda>=13.0"'
if info "$berth" info --gpu --driver-root "$root" --image "$image" >"$work/out" 2>&1; then fail "CUDA 13.0 image accepted on a 12.8 driver"; fi
expect "berth: GPU: image needs CUDA 13.0 (NVIDIA_REQUIRE_CUDA) but the host's NVIDIA driver 580.159.04 supports only CUDA 12.8: CUDA 13.0 needs driver >= 580.65.06 (or the image's forward-compatibility libraries in /usr/local/cuda/compat)"
mkdir -p "$image/usr/local/cuda/compat" && touch "$image/usr/local/cuda/compat/libcuda.so.580.65.06"
info "$berth" info --gpu --driver-root "$root" --image "$image" >"$work/out"
expect "using the image's forward-compatibility libraries in /usr/local/cuda/compat"
expect "env       LD_LIBRARY_PATH prepend /usr/local/cuda/compat:/usr/local/berth-nvidia/lib"
rm -r "$image/usr/local/cuda/compat"
config ',"NVIDIA_REQUIRE_CUDA=cuda>=13.0","NVIDIA_DISABLE_REQUIRE=1"'
info "$berth" info --gpu --driver-root "$root" --image "$image" >"$work/out"
expect "CUDA check: CUDA check skipped (NVIDIA_DISABLE_REQUIRE)"
# No variables: the image's libcudart says what it needs.
config ''
mkdir -p "$image/usr/local/cuda/lib64" && touch "$image/usr/local/cuda/lib64/libcudart.so.13.0.88"
if info "$berth" info --gpu --driver-root "$root" --image "$image" >"$work/out" 2>&1; then fail "libcudart 13.0 accepted on a 12.8 driver"; fi
expect "image needs CUDA 13.0 (the image's libcudart)"
# auto on a step without GPUs: no check, nothing injected, no error.
info SLURM_STEP_GPUS= "$berth" info --gpu --driver-root "$root" --image "$image" >"$work/out"
expect "Would inject: nothing (Slurm allocated no GPU to this step)"

# A GPU node with the wrong numbers is refused when that GPU is selected, usable otherwise.
rm "$root/dev/nvidia0" && mknod "$root/dev/nvidia0" c 195 7
if info SLURM_STEP_GPUS=0 "$berth" info --gpu --driver-root "$root" >"$work/out" 2>&1; then
  fail "a wrong /dev/nvidia0 was accepted"
fi
expect "berth: GPU: GPU 0: \`$root/dev/nvidia0\` is device 195:7, expected 195:0: refusing to bind it"
info SLURM_STEP_GPUS=1 "$berth" info --gpu --driver-root "$root" >"$work/out"
expect "Would inject GPUs 1"

# A control node with the wrong major (uvm's is dynamic, from /proc/devices) stops everything.
rm "$root/dev/nvidia-uvm" && mknod "$root/dev/nvidia-uvm" c 1 3
if "$berth" info --gpu --driver-root "$root" >"$work/out" 2>&1; then fail "a wrong nvidia-uvm was accepted"; fi
expect "\`$root/dev/nvidia-uvm\` is device 1:3, expected 511:0: refusing to bind it"
rm "$root/dev/nvidia-uvm" && mknod "$root/dev/nvidia-uvm" c 511 0

# No libcuda of the running version: a clean error naming the other version found.
rm "$root"/usr/lib/x86_64-linux-gnu/libcuda.so*
if info SLURM_STEP_GPUS=1 "$berth" info --gpu --driver-root "$root" >"$work/out" 2>&1; then fail "no libcuda accepted"; fi
expect "libcuda.so.580.159.04 (compute capability) not found in ld.so.cache or the driver directories (other versions found: $root/opt/old-driver/libcuda.so.535.54.03"

# No driver at all: a message and exit 0.
mkdir "$work/empty"
"$berth" info --gpu --driver-root "$work/empty" >"$work/out"
expect "no NVIDIA GPU found"
echo "ok"
