#!/usr/bin/env bash
# Builds a fake NVIDIA driver tree under ROOT, laid out like a host (use it with
# DriverSearch::under(ROOT) or `berth info --gpu --driver-root ROOT`):
#   usr/lib/x86_64-linux-gnu/  stub libraries of driver $FAKE_DRIVER (libcuda implements
#                              cuDriverGetVersion returning $FAKE_CUDA), soname links
#   opt/old-driver/            libcuda and libnvidia-opencl of driver 535.54.03: must be ignored
#   usr/local/nvidia/lib64     libnvidia-cfg (only here, not in the cache: an admin directory)
#   usr/local/nvidia/bin       nvidia-smi, nvidia-cuda-mps-control (shell scripts)
#   etc/ld.so.cache            made by `ldconfig -r ROOT` over the two library directories
#   proc/driver/nvidia/...     version file and two GPUs (minors 0 and 1); proc/devices
#   dev/                       with FAKE_MKNOD=1 (root): nvidia0, nvidia1, nvidiactl,
#                              nvidia-modeset, nvidia-uvm(-tools), nvidia-caps/nvidia-cap1
# FAKE_LIBCUDA=ok|crash|hang|nosym chooses how the stub's cuDriverGetVersion behaves.
set -euo pipefail
root=${1:?usage: make_fake_driver.sh ROOT}
driver=${FAKE_DRIVER:-580.159.04}
cuda=${FAKE_CUDA:-13000}
old=535.54.03
cc=${CC:-cc}
lib=$root/usr/lib/x86_64-linux-gnu
mkdir -p "$lib" "$root/opt/old-driver" "$root/usr/local/nvidia/lib64" "$root/usr/local/nvidia/bin" \
  "$root/etc" "$root/proc/driver/nvidia/gpus/0000:3b:00.0" "$root/proc/driver/nvidia/gpus/0000:5e:00.0" \
  "$root/dev" "$root/src"

# stub DIR FILE SONAME [C source]: a shared library named FILE with soname SONAME, plus the
# soname link when it differs.
stub() {
  local dir=$1 file=$2 soname=$3 source=${4:-"int berth_fake_stub(void) { return 0; }"}
  printf '%s\n' "$source" >"$root/src/$file.c"
  "$cc" -shared -fPIC -Wl,-soname,"$soname" -o "$dir/$file" "$root/src/$file.c"
  [ "$file" = "$soname" ] || ln -sf "$file" "$dir/$soname"
}

case ${FAKE_LIBCUDA:-ok} in
  ok) body="*v = $cuda; return 0;" ;;
  crash) body="volatile int *p = 0; *p = 1; return 0;" ;;
  hang) body="for (;;) {} return 0;" ;;
  nosym) body="" ;;
  *) echo "unknown FAKE_LIBCUDA" >&2; exit 2 ;;
esac
if [ -n "$body" ]; then
  cuda_source="int cuDriverGetVersion(int *v) { $body }"
else
  cuda_source="int cuInit(unsigned flags) { return (int)flags; }"
fi
stub "$lib" "libcuda.so.$driver" libcuda.so.1 "$cuda_source"
stub "$lib" "libnvidia-ml.so.$driver" libnvidia-ml.so.1
stub "$lib" "libnvidia-ptxjitcompiler.so.$driver" libnvidia-ptxjitcompiler.so.1
stub "$lib" "libnvcuvid.so.$driver" libnvcuvid.so.1
stub "$lib" "libnvidia-encode.so.$driver" libnvidia-encode.so.1
stub "$lib" "libGLX_nvidia.so.$driver" libGLX_nvidia.so.0
stub "$lib" "libnvidia-glcore.so.$driver" "libnvidia-glcore.so.$driver"
stub "$lib" libunrelated.so.1.2.3 libunrelated.so.1
stub "$root/opt/old-driver" "libcuda.so.$old" libcuda.so.1 "int cuDriverGetVersion(int *v) { *v = 12020; return 0; }"
stub "$root/opt/old-driver" "libnvidia-opencl.so.$old" libnvidia-opencl.so.1
stub "$root/usr/local/nvidia/lib64" "libnvidia-cfg.so.$driver" libnvidia-cfg.so.1
rm -rf "$root/src"

for tool in nvidia-smi nvidia-cuda-mps-control; do
  printf '#!/bin/sh\necho "fake %s of driver %s"\n' "$tool" "$driver" >"$root/usr/local/nvidia/bin/$tool"
  chmod 755 "$root/usr/local/nvidia/bin/$tool"
done

printf '/usr/lib/x86_64-linux-gnu\n/opt/old-driver\n' >"$root/etc/ld.so.conf"
ldconfig -r "$root" -C /etc/ld.so.cache -f /etc/ld.so.conf -X

printf 'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  %s  Release Build  (dvs-builder@U22-I3-AF03-09-1)  Mon Sep 29 2025\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n' \
  "$driver" >"$root/proc/driver/nvidia/version"
printf 'Character devices:\n  1 mem\n195 nvidia\n510 nvidia-caps\n511 nvidia-uvm\n\nBlock devices:\n  8 sd\n' \
  >"$root/proc/devices"
minor=0
for bus in 0000:3b:00.0 0000:5e:00.0; do
  printf 'Model: \t\t NVIDIA H200\nIRQ:   \t\t 0\nGPU UUID: \t GPU-0000000%d-1111-2222-3333-444444444444\nBus Type: \t PCIe\nBus Location: \t %s\nDevice Minor: \t %d\nGPU Excluded:\t No\n' \
    "$minor" "$bus" "$minor" >"$root/proc/driver/nvidia/gpus/$bus/information"
  minor=$((minor + 1))
done

if [ "${FAKE_MKNOD:-0}" = 1 ]; then
  mkdir -p "$root/dev/nvidia-caps"
  mknod "$root/dev/nvidia0" c 195 0
  mknod "$root/dev/nvidia1" c 195 1
  mknod "$root/dev/nvidiactl" c 195 255
  mknod "$root/dev/nvidia-modeset" c 195 254
  mknod "$root/dev/nvidia-uvm" c 511 0
  mknod "$root/dev/nvidia-uvm-tools" c 511 1
  mknod "$root/dev/nvidia-caps/nvidia-cap1" c 510 1
fi
