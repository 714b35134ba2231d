#!/usr/bin/env bash
# berth exec --gpu over a fake NVIDIA driver tree (stub libraries, real device nodes made with
# mknod): the driver's files in the container's library directory, nvidia-smi on PATH, only the
# chosen /dev/nvidiaN, consistent variables, the CUDA check in its three outcomes before the
# command runs, clean errors, nothing left mounted.
source "$(dirname "$0")/lib/common.sh"
cd /tmp
work=$(mktemp -d /tmp/berth-gpu-exec.XXXXXX)
trap 'rm -rf "$work"' EXIT
driver=$work/driver
FAKE_MKNOD=1 FAKE_CUDA=12080 "$BERTH_SOURCE_DIR/tests/data/gpu/make_fake_driver.sh" "$driver"
# No Slurm allocation or host GPU settings may leak in from the caller's environment.
gpu() {
  env -u SLURM_STEP_GPUS -u SLURM_JOB_GPUS -u NVIDIA_DRIVER_CAPABILITIES -u CUDA_VISIBLE_DEVICES \
    "$BERTH" exec --gpu-driver-root "$driver" "$@"
}
libdir=/usr/local/berth-nvidia/lib

# Driver files: libraries of the running version with their sonames, compute+utility only.
out=$(gpu --gpu "$IMG" ls $libdir)
for name in libcuda.so.580.159.04 libcuda.so.1 libcuda.so libnvidia-ml.so.1 \
  libnvidia-ptxjitcompiler.so.1 libnvidia-cfg.so.1; do
  expect_contains "$out" "$name" "library dir"
done
[[ $out != *libnvcuvid* && $out != *535.54.03* && $out != *libunrelated* ]] ||
  fail "unexpected files in $libdir: $out"
expect_eq "$(gpu --nv "$IMG" readlink $libdir/libcuda.so.1)" libcuda.so.580.159.04 "soname link"
expect_eq "$(gpu --gpu "$IMG" nvidia-smi)" "fake nvidia-smi of driver 580.159.04" "nvidia-smi on PATH"
# The stub libcuda is the host's file, read-only, nosuid, nodev.
expect_eq "$(gpu --gpu "$IMG" sh -c "cmp $libdir/libcuda.so.1 $libdir/libcuda.so.580.159.04 && echo same")" \
  same "libcuda content"
cmp -s "$driver/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04" \
  <(gpu --gpu "$IMG" cat $libdir/libcuda.so.1) || fail "libcuda differs from the host's"
mounts=$(gpu --gpu "$IMG" cat /proc/self/mountinfo)
expect_contains "$mounts" " $libdir/libcuda.so.580.159.04 ro,nosuid,nodev" "library mount flags"
expect_contains "$mounts" " / ro,nosuid,nodev" "root still nodev"
flags=$(printf '%s\n' "$mounts" | awk '$5 == "/dev/nvidia1" {print $6}')
[[ ,$flags, == *,rw,* && ,$flags, == *,nosuid,* && ,$flags, != *,nodev,* ]] ||
  fail "device mount flags of /dev/nvidia1: [$flags]"
expect_eq "$(gpu --gpu "$IMG" sh -c '{ echo x >$LD_LIBRARY_PATH/libcuda.so.1; } 2>/dev/null && echo written || echo refused')" \
  refused "library read-only"
pass "driver files"

# Devices: all GPUs by default; with --gpus 1 only nvidia1; control devices always.
nodes() { gpu "$@" "$IMG" sh -c 'ls /dev | grep nvidia | tr "\n" " "; ls /dev/nvidia-caps'; }
expect_eq "$(nodes --gpu)" "nvidia-caps nvidia-modeset nvidia-uvm nvidia-uvm-tools nvidia0 nvidia1 nvidiactl nvidia-cap1" \
  "all GPUs"
expect_eq "$(nodes --gpus 1)" "nvidia-caps nvidia-modeset nvidia-uvm nvidia-uvm-tools nvidia1 nvidiactl nvidia-cap1" \
  "--gpus 1"
expect_eq "$(nodes --gpu --contain)" "nvidia-caps nvidia-modeset nvidia-uvm nvidia-uvm-tools nvidia0 nvidia1 nvidiactl nvidia-cap1" \
  "--contain"
expect_eq "$(gpu --gpus 1 "$IMG" stat -c '%F %t:%T' /dev/nvidia1 /dev/nvidiactl | tr '\n' ' ')" \
  "character special file c3:1 character special file c3:ff " "device numbers"
# A Slurm step's allocation limits plain --gpu.
expect_eq "$(SLURM_STEP_GPUS=0 "$BERTH" exec --gpu --gpu-driver-root "$driver" "$IMG" sh -c 'ls /dev | grep "nvidia[0-9]"')" \
  nvidia0 "SLURM_STEP_GPUS"
# The rest of the host's /dev is still there and usable.
expect_eq "$(gpu --gpu "$IMG" sh -c 'echo x >/dev/null && test -d /dev/pts && test -d /dev/shm && ls /dev/fd/ >/dev/null && readlink /dev/fd')" \
  /proc/self/fd "host /dev entries"
pass "devices"

# An ordinary user (user namespace, image directories owned by an unmapped root): the GPU
# directory is made in the overlay's upper layer; the same files, devices and variables.
chmod 755 "$work"
chmod -R a+rX "$driver"
out=$(runuser -u berthtest -- env -u SLURM_STEP_GPUS -u SLURM_JOB_GPUS "$BERTH" exec --gpus 0 \
  --gpu-driver-root "$driver" --sandbox "$SANDBOX" sh -c \
  'id -un; ls /dev | grep "nvidia[0-9]"; readlink /usr/local/berth-nvidia/lib/libcuda.so.1; nvidia-smi; echo $CUDA_VISIBLE_DEVICES' 2>&1) ||
  fail "unprivileged --gpu: $out"
expect_eq "$out" "berthtest
nvidia0
libcuda.so.580.159.04
fake nvidia-smi of driver 580.159.04
GPU-00000000-1111-2222-3333-444444444444" "unprivileged --gpus 0"
pass "unprivileged"

# Variables: consistent with the devices; the injection's LD_LIBRARY_PATH, never the host's.
uuid1=GPU-00000001-1111-2222-3333-444444444444
out=$(LD_LIBRARY_PATH=/host/lib gpu --gpus 1 "$IMG" env)
expect_contains "$out" "CUDA_VISIBLE_DEVICES=$uuid1" "CUDA_VISIBLE_DEVICES"
expect_contains "$out" "NVIDIA_VISIBLE_DEVICES=$uuid1" "NVIDIA_VISIBLE_DEVICES"
expect_contains "$out" "NVIDIA_DRIVER_CAPABILITIES=compute,utility" "capabilities"
printf '%s\n' "$out" | grep -qx "LD_LIBRARY_PATH=$libdir" || fail "LD_LIBRARY_PATH: $out"
expect_contains "$out" "PATH=/bin:/usr/bin:/usr/local/berth-nvidia/bin" "PATH"
[[ $out != */host/lib* ]] || fail "host LD_LIBRARY_PATH leaked: $out"
expect_contains "$(gpu --gpu "$IMG" env)" "CUDA_VISIBLE_DEVICES=GPU-00000000-1111-2222-3333-444444444444,$uuid1" \
  "all GPUs visible"
out=$(gpu --gpu-caps video "$IMG" ls $libdir)
expect_contains "$out" libnvcuvid.so.1 "--gpu-caps video"
[[ $out != *libcuda* ]] || fail "--gpu-caps video injected libcuda: $out"
pass "environment"

# The CUDA check (the stub driver supports CUDA 12.8), with the image mounted, before the command.
image=$work/image
cp -a "$SANDBOX" "$image"
config() {
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin:/usr/bin"%s]}}' "$1" \
    >"$image/.berth/config.json"
}
bad() {  # bad EXPECTED-LINE berth-exec-args...
  local line=$1; shift
  local err rc=0
  err=$(gpu "$@" sh -c 'echo command-ran' 2>&1) || rc=$?
  [[ $rc -ne 0 ]] || fail "berth exec $* succeeded: $err"
  expect_eq "$err" "$line" "berth exec $*"
}
config ',"NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=470,driver<471"'
expect_eq "$(gpu --gpu --sandbox "$image" sh -c 'echo ok')" ok "CUDA 12.4 image on a 12.8 driver"
config ',"NVIDIA_REQUIRE_CUDA=cuda>=13.0"'
bad "berth: GPU: image needs CUDA 13.0 (NVIDIA_REQUIRE_CUDA) but the host's NVIDIA driver 580.159.04 supports only CUDA 12.8: CUDA 13.0 needs driver >= 580.65.06 (or the image's forward-compatibility libraries in /usr/local/cuda/compat)" \
  --gpu --sandbox "$image"
# ... the same image as squashfs.
mksquashfs "$image" "$work/cuda13.sqsh" -comp zstd -noappend -quiet >/dev/null
bad "berth: GPU: image needs CUDA 13.0 (NVIDIA_REQUIRE_CUDA) but the host's NVIDIA driver 580.159.04 supports only CUDA 12.8: CUDA 13.0 needs driver >= 580.65.06 (or the image's forward-compatibility libraries in /usr/local/cuda/compat)" \
  --gpu "$work/cuda13.sqsh"
# NVIDIA_DISABLE_REQUIRE=1 (given by the user) skips it.
expect_eq "$(gpu --gpu --env NVIDIA_DISABLE_REQUIRE=1 --sandbox "$image" sh -c 'echo ok')" ok \
  "NVIDIA_DISABLE_REQUIRE"
# The image's forward-compatibility libraries: they go first on the library path.
mkdir -p "$image/usr/local/cuda/compat"
touch "$image/usr/local/cuda/compat/libcuda.so.580.65.06"
expect_eq "$(gpu --gpu --sandbox "$image" sh -c 'echo $LD_LIBRARY_PATH')" \
  "/usr/local/cuda/compat:$libdir" "compat libraries"
rm -r "$image/usr/local/cuda"
# No variables: the image's libcudart says what it needs.
config ''
mkdir -p "$image/usr/local/cuda/lib64"
touch "$image/usr/local/cuda/lib64/libcudart.so.13.0.88"
bad "berth: GPU: image needs CUDA 13.0 (the image's libcudart) but the host's NVIDIA driver 580.159.04 supports only CUDA 12.8: CUDA 13.0 needs driver >= 580.65.06 (or the image's forward-compatibility libraries in /usr/local/cuda/compat)" \
  --gpu --sandbox "$image"
pass "CUDA check"

# Clean errors: no driver; a GPU that does not exist; a swapped device node.
mkdir "$work/empty"
err=$(env -u SLURM_STEP_GPUS -u SLURM_JOB_GPUS "$BERTH" exec --gpu --gpu-driver-root "$work/empty" "$IMG" true 2>&1) &&
  fail "--gpu without a driver succeeded"
[[ $(printf '%s\n' "$err" | wc -l) -eq 1 && $err == "berth: GPU: "*NVIDIA* ]] || fail "no driver: $err"
echo "no driver: $err"
err=$(gpu --gpus 5 "$IMG" true 2>&1) && fail "--gpus 5 succeeded"
[[ $(printf '%s\n' "$err" | wc -l) -eq 1 && $err == *5* ]] || fail "--gpus 5: $err"
echo "no GPU 5: $err"
rm "$driver/dev/nvidia1" && mknod "$driver/dev/nvidia1" c 195 7
err=$(gpu --gpus 1 "$IMG" true 2>&1) && fail "a wrong /dev/nvidia1 was bound"
expect_contains "$err" "is device 195:7, expected 195:1: refusing to bind it" "wrong device node"
pass "errors"

check_no_leaks
grep -q berth-nvidia /proc/self/mountinfo && fail "GPU mounts left behind"
pass "nothing left mounted"
