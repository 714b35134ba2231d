#!/usr/bin/env bash
# Prepares, on the build machine, what bench/gpu/real_gpu_check.sh needs on a GPU machine:
#   build/gpu-bundle/berth             the berth binary, run through lib/ld-linux-x86-64.so.2
#   build/gpu-bundle/lib/              its shared libraries (the GPU machine runs another distro)
#   build/gpu-bundle/cuda-vector-add.sqfs  an image: busybox, the C runtime, /usr/local/bin/vector_add
#                                      (tests/data/cuda/vector_add.cu, nvcc, static cudart, sm_90)
#                                      and /.berth/config.json asking for CUDA >= 13.0
# Then, with the device tool: run `bench/gpu/real_gpu_check.sh` with carry=["build/gpu-bundle"].
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BERTH_BUILD_DIR:-$src/build}
out=$build/gpu-bundle
berth=$build/image_tool/berth
[ -x "$berth" ] || { echo "build berth first: cmake --build build --target berth" >&2; exit 1; }
command -v nvcc >/dev/null || PATH=$PATH:/usr/local/cuda/bin
rm -rf "$out" && mkdir -p "$out/lib"

# berth and every library it loads, with the loader they were linked against.
strip -o "$out/berth" "$berth"
ldd "$berth" | awk '/=> \//{print $3} $1 ~ /^\/lib64\//{print $1}' | while read -r lib; do
  cp -L "$lib" "$out/lib/"
done

# The image's root file system.
root=$out/rootfs
mkdir -p "$root"/{bin,usr/local/bin,lib/x86_64-linux-gnu,lib64,etc,dev,proc,sys,tmp,run,.berth} \
  "$root/usr/local/berth-nvidia/lib" "$root/usr/local/berth-nvidia/bin"
nvcc -O2 -cudart static -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
  -o "$root/usr/local/bin/vector_add" "$src/tests/data/cuda/vector_add.cu"
cp /bin/busybox "$root/bin/busybox"
for tool in sh ls cat env ldd; do ln -s busybox "$root/bin/$tool"; done
ldd "$root/usr/local/bin/vector_add" | awk '/=> \//{print $3}' | while read -r lib; do
  cp -L "$lib" "$root/lib/x86_64-linux-gnu/"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
cat >"$root/.berth/config.json" <<'JSON'
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/bin:/bin",
"CUDA_VERSION=13.0.88","NVIDIA_REQUIRE_CUDA=cuda>=13.0"],"Cmd":["/usr/local/bin/vector_add"]},
"rootfs":{"type":"layers","diff_ids":[]}}
JSON
mksquashfs "$root" "$out/cuda-vector-add.sqfs" -all-root -noappend -comp gzip -quiet
rm -rf "$root"
du -sh "$out" "$out"/*
