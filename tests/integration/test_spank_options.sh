#!/usr/bin/env bash
# The --container-* options one by one, and their BERTH_CONTAINER_* environment forms.
source "$(dirname "$0")/spank_lib.sh"

# A step without container options is untouched: the host's os-release.
as_user_ok srun -N1 -n1 cat /etc/os-release
host_pretty=$(grep '^PRETTY_NAME' /etc/os-release)
grep -qxF "$host_pretty" "$OUT" || { show; fail "a step without options is not the host"; }
pass "no options: the host"

# Images: a busybox squashfs with a known config (Env, WorkingDir), and one with an ENTRYPOINT.
IMG=$SPANK_WORK/test.sqsh
make_image "$IMG"
EP_IMG=$SPANK_WORK/entrypoint.sqsh
make_image "$EP_IMG" '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Entrypoint":["/bin/echo","entrypoint:"],"Cmd":["default"]}}'

as_user_ok srun -N1 -n1 --container-image="$IMG" cat /etc/os-release
expect_out '^PRETTY_NAME="berth test busybox"$'
pass "--container-image (squashfs path)"
as_user_ok BERTH_CONTAINER_IMAGE="$IMG" srun -N1 -n1 cat /etc/os-release
expect_out '^PRETTY_NAME="berth test busybox"$'
pass "BERTH_CONTAINER_IMAGE"
# The task's program inherits no descriptor of slurmstepd's container (a namespace fd held by a
# daemonized process would keep the mounts and the loop device alive after the step).
as_user_ok srun -N1 -n1 --container-image="$IMG" sh -c 'ls -l /proc/$$/fd'
expect_out ' 2 -> ' "the fd listing is missing"
expect_out_not 'mnt:\[' "the task inherited a mount namespace fd"
pass "no namespace fd in the task"
TINY=$IMG  # the rest of this test uses the local image (registry images: test_spank_pull_once)

# Mounts: a directory of the user's, read-only and read-write.
mkdir -p "$SPANK_WORK/data" && echo payload >"$SPANK_WORK/data/file" && chown -R "$BERTH_TEST_USER:" "$SPANK_WORK/data"
as_user_ok srun -N1 -n1 --container-image="$TINY" --no-container-mount-home \
  --container-mounts="$SPANK_WORK/data:/mnt/data:ro" sh -c 'cat /mnt/data/file; touch /mnt/data/x 2>/dev/null && echo writable || echo readonly'
expect_out '^payload$'
expect_out '^readonly$'
as_user_ok srun -N1 -n1 --container-image="$TINY" --no-container-mount-home \
  --container-mounts="$SPANK_WORK/data:/mnt/data" sh -c 'echo new >/mnt/data/written && echo done'
[ "$(cat "$SPANK_WORK/data/written")" = new ] || fail "rw bind did not write through"
as_user_ok BERTH_CONTAINER_MOUNTS="$SPANK_WORK/data:/mnt/data:ro" srun -N1 -n1 --container-image="$TINY" cat /mnt/data/file
expect_out '^payload$'
pass "--container-mounts ro/rw, BERTH_CONTAINER_MOUNTS"

# Working directory: the option, the launch directory (home is bound), the image's default.
as_user_ok srun -N1 -n1 --container-image="$TINY" --container-workdir=/etc pwd
expect_out '^/etc$'
as_user_ok srun -N1 -n1 --container-image="$TINY" pwd
expect_out "^$SPANK_WORK\$" "the launch directory (under the bound home) is not the workdir"
as_user_ok srun -N1 -n1 --container-image="$TINY" --no-container-mount-home pwd
expect_out '^/opt$' "the image's WorkingDir is not the default without home"
as_user_ok BERTH_CONTAINER_WORKDIR=/etc srun -N1 -n1 --container-image="$TINY" pwd
expect_out '^/etc$'
pass "--container-workdir, launch dir, image default"
# A workdir that exists but that the user cannot enter (below a root-only directory of the bound
# home): "Permission denied", not "no such directory".
mkdir -p "$SPANK_WORK/locked/inner" && chmod 0700 "$SPANK_WORK/locked"
expect_user_error "--container-workdir=$SPANK_WORK/locked/inner: Permission denied" \
  srun -N1 -n1 --container-image="$TINY" --container-workdir="$SPANK_WORK/locked/inner" true

# An image config far over 64 KiB (2,000 history entries, a 20 KiB Env value) runs: the helper
# passes it whole to slurmstepd (it stopped at 64 KiB with "message too large").
BIG_IMG=$SPANK_WORK/bigconfig.sqsh
make_image "$BIG_IMG" "$(python3 -c 'import json; print(json.dumps({"architecture": "amd64", "os": "linux",
  "config": {"Env": ["PATH=/bin", "BIG_VAR=" + "b" * 20000]},
  "history": [{"created_by": "RUN step %d %s" % (i, "x" * 40)} for i in range(2000)]}))')"
as_user_ok srun -N1 -n1 --container-image="$BIG_IMG" sh -c 'echo big ${#BIG_VAR}'
expect_out '^big 20000$'
pass "an image config over 64 KiB"

# Environment: test_spank_environment.sh.

# Writable vs read-only root.
as_user_ok srun -N1 -n1 --container-image="$TINY" sh -c 'touch /scratch/newfile 2>/dev/null && echo writable || echo readonly'
expect_out '^readonly$'
as_user_ok srun -N1 -n1 --container-image="$TINY" --container-writable sh -c 'touch /scratch/newfile && echo writable'
expect_out '^writable$'
as_user_ok srun -N1 -n1 --container-image="$TINY" --container-writable sh -c 'test -e /scratch/newfile && echo kept || echo gone'
expect_out '^gone$' "a writable container's changes survived the step"
as_user_ok BERTH_CONTAINER_WRITABLE=1 srun -N1 -n1 --container-image="$TINY" sh -c 'touch /scratch/x && echo writable'
expect_out '^writable$'
pass "--container-writable/readonly, BERTH_CONTAINER_WRITABLE"

# Home on and off.
echo home-marker >"$TEST_HOME/.berth-home-marker" && chown "$BERTH_TEST_USER:" "$TEST_HOME/.berth-home-marker"
as_user_ok srun -N1 -n1 --container-image="$TINY" cat "$TEST_HOME/.berth-home-marker"
expect_out '^home-marker$'
as_user_ok srun -N1 -n1 --container-image="$TINY" --no-container-mount-home sh -c "test -e $TEST_HOME/.berth-home-marker && echo seen || echo unseen"
expect_out '^unseen$'
as_user_ok BERTH_CONTAINER_NO_MOUNT_HOME=1 srun -N1 -n1 --container-image="$TINY" sh -c "test -e $TEST_HOME/.berth-home-marker && echo seen || echo unseen"
expect_out '^unseen$'
rm -f "$TEST_HOME/.berth-home-marker"
pass "home on/off"

# Entrypoint on and off: ENTRYPOINT ["/bin/echo", "entrypoint:"], the command its arguments.
as_user_ok srun -N1 -n1 --container-image="$EP_IMG" --container-entrypoint hello world
expect_out '^entrypoint: hello world$'
as_user_ok srun -N1 -n1 --container-image="$EP_IMG" --no-container-entrypoint echo plain
expect_out '^plain$'
as_user_ok srun -N1 -n1 --container-image="$EP_IMG" echo default-off
expect_out '^default-off$'
as_user_ok BERTH_CONTAINER_ENTRYPOINT=1 srun -N1 -n1 --container-image="$EP_IMG" hello
expect_out '^entrypoint: hello$'
pass "entrypoint on/off, BERTH_CONTAINER_ENTRYPOINT"

nodes_in_service
no_leftovers
