#!/usr/bin/env bash
# A bind destination or working directory missing from a read-only image is made in the
# container's own layer (Apptainer#728, Shifter#265), as root, as another user and without
# privileges; never in the image file, never on a host directory, never through a symlink that
# leaves the image.
source "$(dirname "$0")/lib/common.sh"
cd /tmp

fuse_mode=$(stat -c %a /dev/fuse)
work=$(mktemp -d /tmp/berth-mountpoints.XXXXXX)
cleanup() { chmod "$fuse_mode" /dev/fuse; rm -rf "$work"; }
trap cleanup EXIT
chmod 755 "$work"
mkdir "$work/data"
echo host-data >"$work/data/in"
chmod -R a+rX "$work"
image_sum() { sha256sum "$IMG" | cut -d' ' -f1; }
tree_sum() { (cd "$SANDBOX" && find . -printf '%p %m %s\n' | sort | sha256sum); }
image_before=$(image_sum)
sandbox_before=$(tree_sum)

# Binds: a directory and a file, to destinations the read-only image lacks.
expect_eq "$($BERTH exec -B "$work/data:/does/not/exist" "$IMG" ls /does/not/exist)" in \
  "bind to a missing directory"
expect_eq "$($BERTH exec -B "$work/data/in:/opt/conf/in.txt:ro" "$IMG" cat /opt/conf/in.txt)" \
  host-data "bind to a missing file"
# The root stays read-only; the bind stays writable.
err=$($BERTH exec -B "$work/data:/does/not/exist" "$IMG" sh -c \
  'mkdir /does/other 2>&1; echo w >/does/not/exist/written' || true)
expect_contains "$err" "Read-only file system" "the root stays read-only"
expect_eq "$(cat "$work/data/written")" w "the bind writes through"
expect_eq "$($BERTH exec --sandbox -B "$work/data:/does/not/exist" "$SANDBOX" ls /does/not/exist)" \
  "in
written" "sandbox image"
expect_eq "$($BERTH exec --as-user berthtest -B "$work/data:/mnt/new/data" "$IMG" cat /mnt/new/data/in)" \
  host-data "as another user"
pass "missing bind destinations"

# The working directory (--pwd), missing from the image: made too.
expect_eq "$($BERTH exec --pwd /new/work/dir "$IMG" pwd)" /new/work/dir "--pwd missing"
expect_eq "$($BERTH exec --as-user berthtest --pwd /scratch/job "$IMG" sh -c 'pwd; id -un')" \
  "/scratch/job
berthtest" "--pwd missing, as another user"
expect_eq "$($BERTH exec -B "$work/data:/mnt/d" --pwd /mnt/d "$IMG" ls)" "in
written" "--pwd on a bind"
pass "missing working directory"

# Never on a host directory (the host's /tmp is bound at /tmp), never through a symlink that
# climbs out of the image (/escape -> ../../../../../root).
err=$($BERTH exec -B "$work/data:/tmp/berth-nope-$$/x" "$IMG" true 2>&1) && fail "made under a host bind"
expect_contains "$err" "\`/tmp\` is not part of the image" "destination under a host bind"
[[ ! -e /tmp/berth-nope-$$ ]] || fail "a directory was made on the host's /tmp"
err=$($BERTH exec --pwd "/tmp/berth-nope-$$" "$IMG" true 2>&1) && fail "workdir made under a host bind"
expect_contains "$err" "is not part of the image" "workdir under a host bind"
[[ ! -e /tmp/berth-nope-$$ ]] || fail "a working directory was made on the host's /tmp"
err=$($BERTH exec -B "$work/data:/escape/x" "$IMG" true 2>&1) && fail "bind through /escape"
expect_contains "$err" "leading out of the image" "destination through a symlink out"
[[ ! -e /root/x ]] || fail "made through the image's symlink"
pass "refused where it must be"

# Without privileges: a user namespace cannot write the image's root-owned directories; the
# mount points are made in the overlay's upper layer before it is mounted.
chmod 0666 /dev/fuse
cp "$IMG" "$work/img.sqsh" && chmod 644 "$work/img.sqsh"
cp "$BERTH" "$work/berth" && chmod 755 "$work/berth"
unpriv_before=$(sha256sum "$work/img.sqsh" | cut -d' ' -f1)
expect_eq "$(runuser -u berthtest -- "$work/berth" exec -B "$work/data:/does/not/exist" --pwd /new/dir \
  "$work/img.sqsh" sh -c 'pwd; ls /does/not/exist')" "/new/dir
in
written" "unprivileged: bind destination and workdir made"
expect_eq "$(sha256sum "$work/img.sqsh" | cut -d' ' -f1)" "$unpriv_before" "unprivileged image unchanged"
pass "unprivileged"

# The image file and the sandbox directory never change.
expect_eq "$(image_sum)" "$image_before" "the image file changed"
expect_eq "$(tree_sum)" "$sandbox_before" "the sandbox directory changed"
[[ ! -e $SANDBOX/does && ! -e $SANDBOX/new ]] || fail "made in the sandbox image"
pass "the image is never changed"
check_no_leaks
