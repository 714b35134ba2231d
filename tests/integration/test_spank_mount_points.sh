#!/usr/bin/env bash
# srun: a --container-mounts destination or --container-workdir missing from the read-only
# image is made in the container's own layer (Apptainer#728, Shifter#265); the image file never
# changes, nothing is made on the host.
source "$(dirname "$0")/spank_lib.sh"

IMG=$SPANK_WORK/mount-points.sqsh
make_image "$IMG"
before=$(sha256sum "$IMG" | cut -d' ' -f1)
mkdir -p "$SPANK_WORK/data" && echo payload >"$SPANK_WORK/data/file" && chown -R "$BERTH_TEST_USER:" "$SPANK_WORK/data"

# The registry's tiny image and a local one: a bind to a path the image lacks.
as_user_ok srun -N1 -n1 --container-image="$TINY" --container-mounts=/tmp:/does/not/exist ls -d /does/not/exist
expect_out '^/does/not/exist$' "the missing destination was not made"
as_user_ok srun -N1 -n2 --container-image="$IMG" --container-mounts="$SPANK_WORK/data:/does/not/exist:ro" \
  sh -c 'cat /does/not/exist/file; touch /does/x 2>/dev/null && echo root-writable || echo root-readonly'
[ "$(grep -c '^payload$' "$OUT")" = 2 ] || { show; fail "both tasks should read the bind"; }
expect_out '^root-readonly$'
expect_out_not '^root-writable$' "the root became writable"
pass "--container-mounts to a missing destination"

# The working directory, missing from the image: made, and the tasks start there.
as_user_ok srun -N1 -n1 --container-image="$IMG" --container-workdir=/new/work/dir pwd
expect_out '^/new/work/dir$'
as_user_ok BERTH_CONTAINER_WORKDIR=/does/not/exist srun -N1 -n1 --container-image="$IMG" \
  --container-mounts="$SPANK_WORK/data:/does/not/exist" ls
expect_out '^file$' "--container-workdir on a missing bind destination"
pass "--container-workdir missing from the image"

# Never on the host: a destination below the bound home that does not exist there.
expect_user_error "\`$SPANK_WORK\` is not part of the image" \
  srun -N1 -n1 --container-image="$IMG" --container-mounts="$SPANK_WORK/data:$SPANK_WORK/absent/x" true
[ ! -e "$SPANK_WORK/absent" ] || fail "a mount point was made in the user's home on the host"
expect_user_error "is not part of the image" \
  srun -N1 -n1 --container-image="$IMG" --container-workdir="$SPANK_WORK/absent" true
[ ! -e "$SPANK_WORK/absent" ] || fail "a working directory was made in the user's home on the host"

[ "$(sha256sum "$IMG" | cut -d' ' -f1)" = "$before" ] || fail "the image file changed"
pass "the image file is unchanged"
nodes_in_service
no_leftovers
