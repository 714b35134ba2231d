#!/usr/bin/env bash
# berth exec --gpu finds the driver where berth.conf says, as srun does (both build the
# container through container::buildContainer): gpu_driver_root (here a fake driver tree) and
# gpu_library_dirs (an admin directory the default search does not know).
source "$(dirname "$0")/lib/common.sh"
make_test_image
cd /tmp
work=$(mktemp -d /tmp/berth-gpu-site.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
driver=$work/driver
FAKE_MKNOD=1 FAKE_CUDA=12080 "$BERTH_SOURCE_DIR/tests/data/gpu/make_fake_driver.sh" "$driver" >/dev/null
# libnvidia-cfg only in a directory of the site's own (not in ld.so.cache, not a default).
mkdir -p "$driver/opt/site-nvidia/lib"
mv "$driver"/usr/local/nvidia/lib64/libnvidia-cfg.so* "$driver/opt/site-nvidia/lib/"
libdir=/usr/local/berth-nvidia/lib
gpu() { # CONFIG ARGS...: berth exec --gpu with that berth.conf and no GPU settings of the caller
  local conf=$1; shift
  env -u SLURM_STEP_GPUS -u SLURM_JOB_GPUS -u NVIDIA_DRIVER_CAPABILITIES -u CUDA_VISIBLE_DEVICES \
    BERTH_CONFIG="$conf" "$BERTH" exec --gpu "$IMG" "$@"
}

printf 'gpu_driver_root = %s\n' "$driver" >"$work/root.conf"
out=$(gpu "$work/root.conf" ls $libdir 2>&1) || fail "berth exec --gpu with gpu_driver_root: $out"
expect_contains "$out" "libcuda.so.580.159.04" "the fake driver's libcuda"
[[ $out != *libnvidia-cfg* ]] || fail "libnvidia-cfg found without gpu_library_dirs: $out"
expect_eq "$(gpu "$work/root.conf" nvidia-smi 2>&1)" "fake nvidia-smi of driver 580.159.04" \
  "the fake driver's nvidia-smi"
pass "gpu_driver_root reaches berth exec --gpu"

printf 'gpu_driver_root = %s\ngpu_library_dirs = /opt/site-nvidia/lib\n' "$driver" >"$work/dirs.conf"
out=$(gpu "$work/dirs.conf" ls $libdir 2>&1) || fail "berth exec --gpu with gpu_library_dirs: $out"
expect_contains "$out" "libnvidia-cfg.so.580.159.04" "the library of gpu_library_dirs"
expect_contains "$out" "libcuda.so.580.159.04" "the ld.so.cache's libraries still"
cmp -s "$driver/opt/site-nvidia/lib/libnvidia-cfg.so.580.159.04" \
  <(gpu "$work/dirs.conf" cat $libdir/libnvidia-cfg.so.580.159.04) ||
  fail "libnvidia-cfg is not the file of gpu_library_dirs"
pass "gpu_library_dirs reach berth exec --gpu"

# berth info --gpu looks where containers look.
out=$(BERTH_CONFIG=$work/root.conf "$BERTH" info --gpu 2>&1) || fail "berth info --gpu: $out"
expect_contains "$out" "NVIDIA driver 580.159.04" "berth info --gpu with gpu_driver_root"
pass "berth info --gpu honours berth.conf"
