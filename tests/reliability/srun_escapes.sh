#!/usr/bin/env bash
# Campaign 4 (issue 17) through Slurm: what bind_escapes.sh tries with `berth exec`, the test user
# tries with srun and the SPANK plugin (slurmstepd, root, acting for the user): binds of files it
# cannot read (directly, through /proc magic links, through its own symlinks), working
# directories into the host, a named container of another user, --container-save where it cannot
# write. Each is refused with one `berth:` line, or contained; nodes stay in service and nothing
# is left behind. Runs in the test bed (label integration).
source "$(dirname "$0")/../integration/spank_lib.sh"

IMG=$SPANK_WORK/test.sqsh
make_image "$IMG"
secret=/root/berth-srun-secret.$$
echo "TOPSECRET-$$" >"$secret"
chmod 600 "$secret"
other_home=$(getent passwd "$BERTH_OTHER_USER" | cut -d: -f6)
other_dir=$(mktemp -d "$other_home/berth-private.XXXXXX")
echo "TOPSECRET-$$" >"$other_dir/file"
chown -R "$BERTH_OTHER_USER:" "$other_dir"
chmod 700 "$other_dir"
trap 'rm -rf "$SPANK_WORK" "$secret" "$other_dir"' EXIT
cases=0

no_secret() {
  ! grep -q TOPSECRET "$OUT" "$ERR" || { show; fail "the secret showed: $*"; }
}
refused() {  # REGEX MOUNT-SOURCE
  expect_user_error "$1" srun -N1 -n1 --container-image="$IMG" --container-mounts="$2:/mnt/x" \
    sh -c 'cat /mnt/x 2>/dev/null; ls /mnt/x 2>/dev/null'
  no_secret "$2"
  cases=$((cases + 1))
}

refused "Permission denied" "$secret"
refused "Permission denied" "$other_dir"
refused "Permission denied" "/proc/self/root$secret"
refused "Permission denied|not permitted" "/proc/1/root/root"
refused "Permission denied|not permitted" "/proc/1/cwd/root"
ln -s "$secret" "$SPANK_WORK/link" && chown -h "$BERTH_TEST_USER:" "$SPANK_WORK/link"
refused "Permission denied" "$SPANK_WORK/link"

# Working directories into the host's root: never the secret.
for wd in "/proc/1/root/root" "/proc/self/root/root" "/../../root"; do
  as_user srun -N1 -n1 --container-image="$IMG" --container-workdir="$wd" \
    sh -c "cat $(basename "$secret") 2>&1; cat /proc/1/root$secret 2>&1; pwd" || true
  no_secret "--container-workdir=$wd"
  nodes_in_service
  pass "--container-workdir=$wd: $(head -c 150 "$ERR" "$OUT" | tr '\n' ' ')"
  cases=$((cases + 1))
done

# A named container of the test user is nobody else's: berthother's job of the same name sees a
# fresh container, never the file the test user left in its own.
shared_dir=$(mktemp -d /tmp/berth-srun-shared.XXXXXX)
chmod 755 "$shared_dir"
cp "$IMG" "$shared_dir/test.sqsh" && chmod 644 "$shared_dir/test.sqsh"
trap 'rm -rf "$SPANK_WORK" "$secret" "$other_dir" "$shared_dir"' EXIT
as_user_ok salloc -N1 -n1 sh -c "srun --container-image=$shared_dir/test.sqsh --container-name=shared --container-writable \
  sh -c 'echo TOPSECRET-$$ >/scratch/left-by-test-user'; \
  sleep 1"
out=$(testbed_in_netns runuser -u "$BERTH_OTHER_USER" -- env -C /tmp SLURM_CONF="$SLURM_CONF" \
  salloc -N1 -n1 srun --container-image="$shared_dir/test.sqsh" --container-name=shared --container-writable \
  sh -c 'cat /scratch/left-by-test-user 2>&1; id -un' 2>&1) || true
[[ $out != *TOPSECRET* ]] || fail "berthother read the test user's named container: $out"
[[ $out == *"$BERTH_OTHER_USER"* ]] || fail "berthother's step did not run: $out"
pass "named container of another user: $(tr '\n' ' ' <<<"$out" | head -c 150)"
cases=$((cases + 1))

# --container-save where the user cannot write: refused before the tasks run.
expect_user_error "cannot create files in /root: Permission denied" \
  srun -N1 -n1 --container-image="$IMG" --container-save=/root/berth-save.sqsh true
[ ! -e /root/berth-save.sqsh ] || fail "/root/berth-save.sqsh was written"
cases=$((cases + 1))

nodes_in_service
no_leftovers
echo "$cases srun escape attempts held"
