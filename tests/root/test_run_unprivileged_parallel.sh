#!/usr/bin/env bash
# berth's FUSE server (unprivileged mode) serves parallel readers: 4 readers checksum the same
# tree at once, each starting at a different place in it, through the server's threads and its
# shared block cache; every reader's checksums must equal the kernel's (root mode: loop device
# and kernel squashfs) of the same image, and the source tree's. The tree has what the
# server's read and directory paths must get right: empty files, files of a block's size give
# or take one byte (fragment tails, blocks only), a sparse file (holes), hard links, symbolic
# links, a directory of 2,000 entries (listed over several READDIRPLUS requests), deep paths,
# many small files sharing fragment blocks, and files of several blocks.
source "$(dirname "$0")/lib/common.sh"
command -v mksquashfs >/dev/null || { echo "mksquashfs missing" >&2; exit 77; }
cd /tmp

fuse_mode=$(stat -c %a /dev/fuse)
restore() { chmod "$fuse_mode" /dev/fuse; rm -rf "${work:-}"; }
trap restore EXIT
chmod 0666 /dev/fuse

work=$(mktemp -d /var/tmp/berth-parallel.XXXXXX)
chmod 755 "$work"
cp "$BERTH" "$work/berth"
chmod 755 "$work/berth"

cp -a "$SANDBOX" "$work/root"
tree=$work/root/tree
python3 - "$tree" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(4)
def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
block = 131072
for size in (0, 1, 4095, 4096, block - 1, block, block + 1, 3 * block, 3 * block + 777):
    write(f"{root}/sizes/s{size}", rng.randbytes(size))
for i in range(1500):  # small files: fragments shared by many files
    write(f"{root}/small/a{i % 10}/b{i % 7}/f{i}.txt", rng.randbytes(rng.randint(1, 9000)))
for i in range(2000):  # one big directory
    write(f"{root}/wide/entry-{i:05d}", b"%d\n" % i)
for i in range(6):  # files of several blocks, half compressible
    write(f"{root}/big/b{i}", (rng.randbytes(300000) + bytes(300000)) * 3)
deep = root + "/deep" + "".join(f"/level{i}" for i in range(30))
write(deep + "/bottom", b"deep\n")
# A sparse file: data, a hole of several blocks, data.
with open(f"{root}/sparse", "wb") as f:
    f.write(rng.randbytes(5000))
    f.seek(10 * block + 123)
    f.write(rng.randbytes(7000))
os.link(f"{root}/sizes/s4096", f"{root}/hardlink")
os.symlink("sizes/s1", f"{root}/symlink")
os.symlink("/tree/deep/level0", f"{root}/abs-symlink")
PY
mksquashfs "$work/root" "$work/tree.sqsh" -quiet -no-progress -all-root \
  -comp zstd -Xcompression-level 3 -b 131072 >/dev/null
chmod 644 "$work/tree.sqsh"

# Checksums of every file and the targets of the links; compared sorted (LC_ALL=C, on the host).
# (in the tree's directory: /tree inside, the source on the host)
files='find . -type f | xargs sha256sum'
links='find . -type l | while read -r l; do echo "$l -> $(readlink "$l")"; done'
sorted() { LC_ALL=C sort; }
expected=$(cd "$tree" && { bash -c "$files"; bash -c "$links"; } | sorted)
[[ $(wc -l <<<"$expected") -gt 3500 ]] || fail "the test tree is not what this test needs"

kernel=$("$work/berth" exec "$work/tree.sqsh" sh -c "cd /tree && $files && $links" | sorted)
expect_eq "$kernel" "$expected" "kernel squashfs (root mode) reads the source tree"
pass "kernel squashfs checksums"

# 4 readers at once through the FUSE server, reader i starting i quarters into the list.
parallel='cd /tree && find . -type f >/tmp/list && n=$(wc -l </tmp/list) &&
  for i in 0 1 2 3; do
    (awk -v i=$i -v n=$n "{ l[NR] = \$0 } END { for (k = 0; k < n; k++) print l[(k + int(n * i / 4)) % n + 1] }" /tmp/list |
      xargs sha256sum >/tmp/sum$i) &
  done; wait
  for i in 0 1 2 3; do echo "== reader $i"; cat /tmp/sum$i; done
  echo "== links"; '"$links"
fuse=$(runuser -u berthtest -- "$work/berth" exec "$work/tree.sqsh" sh -c "$parallel")
section() { awk -v r="== $1" '$0 == r { on = 1; next } /^== / { on = 0 } on' <<<"$fuse"; }
for i in 0 1 2 3; do
  got=$({ section "reader $i"; section links; } | sorted)
  [[ "$got" == "$kernel" ]] || {
    diff <(echo "$kernel") <(echo "$got") | head -20 >&2
    fail "reader $i of 4 through the FUSE server differs from the kernel's checksums"
  }
done
served=$(runuser -u berthtest -- "$work/berth" exec "$work/tree.sqsh" sh -c \
  'cat /proc/[0-9]*/comm 2>/dev/null | grep -x berth-squashfs')
expect_eq "$served" berth-squashfs "image served by berth's own FUSE server"
pass "4 parallel readers through the FUSE server match the kernel squashfs"

# Listing and attributes: the same names, types, sizes and link counts as the kernel's.
listing='cd /tree && find . -exec stat -c "%n %F %s %h %a" {} + | sort'
expect_eq "$(runuser -u berthtest -- "$work/berth" exec "$work/tree.sqsh" sh -c "$listing")" \
  "$("$work/berth" exec "$work/tree.sqsh" sh -c "$listing")" "listing through the FUSE server"
pass "listings and attributes match"

sleep 0.3
if pgrep -u berthtest -x berth-squashfs >/dev/null; then fail "berth-squashfs left running"; fi
check_no_leaks
pass "nothing left behind"
