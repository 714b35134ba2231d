#!/usr/bin/env bash
# Every bad input: srun exits non-zero, stderr has one clear `berth:` line, no node is drained,
# nothing is left mounted, attached or running.
source "$(dirname "$0")/spank_lib.sh"

IMG=$SPANK_WORK/test.sqsh
make_image "$IMG"

# Found by srun itself, before the job starts.
expect_user_error 'contradict' srun -N1 -n1 --container-image="$IMG" --container-writable --container-readonly true
expect_user_error 'mount `data:/x`: the source must be an absolute path' \
  srun -N1 -n1 --container-image="$IMG" --container-mounts=data:/x true
expect_user_error 'not an absolute path' srun -N1 -n1 --container-image="$IMG" --container-workdir=rel true
expect_user_error 'no-such-image' srun -N1 -n1 --container-image="$BERTH_TEST_REGISTRY/no-such-image:1" true
expect_user_error '127.0.0.1:1' srun -N1 -n1 --container-image=127.0.0.1:1/unreachable:1 true
expect_user_error 'invalid image reference' srun -N1 -n1 --container-image='UPPER/Case::bad' true
expect_user_error 'No such file' srun -N1 -n1 --container-image=/nonexistent/image.sqsh true
expect_user_error 'not a variable name' srun -N1 -n1 --container-image="$IMG" --container-env=1BAD true

# Found on the nodes, reported when the tasks start (2 nodes: one line per task is allowed
# for these, so they run on one task).
mkdir -p "$SPANK_WORK/private" && chmod 0700 "$SPANK_WORK/private"  # root's, not the user's
expect_user_error 'private' srun -N1 -n1 --container-image="$IMG" --container-mounts="$SPANK_WORK/private:/p" true
expect_user_error '/root' srun -N1 -n1 --container-image="$IMG" --container-mounts=/root:/r true
expect_user_error 'no-such-command' srun -N1 -n1 --container-image="$IMG" no-such-command
# A missing working directory is made in the container's own layer, but never below a host
# directory bound into it.
mkdir -p "$SPANK_WORK/wd" && chmod 0777 "$SPANK_WORK/wd"
expect_user_error 'not part of the image' srun -N1 -n1 --container-image="$IMG" \
  --container-mounts="$SPANK_WORK/wd:/wd" --container-workdir=/wd/missing true
[ ! -e "$SPANK_WORK/wd/missing" ] || fail "the working directory was made on the host"

# An image for another architecture: the arm64 manifest of the multiarch index, by digest.
index=$(testbed_in_netns skopeo inspect --tls-verify=false --raw "docker://$BERTH_TEST_REGISTRY/multiarch:latest")
arm64=$(/usr/bin/python3 -c '
import json, sys
print(next(m["digest"] for m in json.loads(sys.argv[1])["manifests"]
           if m["platform"]["architecture"] == "arm64"))' "$index")
expect_user_error 'arm64' srun -N1 -n1 --container-image="$BERTH_TEST_REGISTRY/multiarch@$arm64" true

# Two nodes: the step fails, the nodes stay in service.
if as_user srun -N2 -n2 --container-image="$IMG" --container-mounts=/root:/r true; then
  show; fail "a 2-node step with a bad bind succeeded"
fi
grep -q 'berth:' "$ERR" || { show; fail "no berth: line for the 2-node step"; }
nodes_in_service
no_leftovers
pass "2-node step with a node-side error"

# scancel during the run leaves nothing behind.
as_user sh -c "srun -N2 -n2 --container-image=$IMG sleep 60 & sleep 3; scancel -u $BERTH_TEST_USER; wait" || true
sleep 2
nodes_in_service
no_leftovers
pass "scancel during the run"
