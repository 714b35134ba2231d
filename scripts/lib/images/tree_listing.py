"""Lists a root file system as the merged tree that pull tests compare against.

    tree_listing.py ROOTFS > expected-tree.txt

One line per entry below ROOTFS, sorted by path, tab-separated:
    path  type  mode  uid  gid  size  target  sha256  xattrs  hardlink
type: f file, d directory, l symlink, p fifo, c/b device; mode: octal permission bits with
setuid/setgid/sticky (e.g. 4755); size and sha256: regular files only ("-" otherwise);
target: a symlink's target; xattrs: user.* attributes as name=value joined by ",";
hardlink: for a file with several names, the first (sorted) path of its group, else "-".
Directory sizes and time stamps depend on the file system and are not listed.
"""

import hashlib
import os
import stat
import sys

TYPES = [(stat.S_ISREG, "f"), (stat.S_ISDIR, "d"), (stat.S_ISLNK, "l"), (stat.S_ISFIFO, "p"),
         (stat.S_ISCHR, "c"), (stat.S_ISBLK, "b")]


def listing(root):
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            entries.append(("/" + os.path.relpath(path, root), os.lstat(path), path))
    entries.sort()
    first_of_inode = {}
    for rel, st, _ in entries:
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            first_of_inode.setdefault(st.st_ino, rel)
    lines = []
    for rel, st, path in entries:
        kind = next(t for test, t in TYPES if test(st.st_mode))
        size = digest = target = "-"
        if kind == "f":
            size = str(st.st_size)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        if kind == "l":
            target = os.readlink(path)
        xattrs = []
        if kind != "l":
            for name in sorted(os.listxattr(path)):
                if name.startswith("user."):
                    xattrs.append(name + "=" + os.getxattr(path, name).decode())
        hardlink = first_of_inode.get(st.st_ino, "-") if kind == "f" and st.st_nlink > 1 else "-"
        lines.append("\t".join([rel, kind, "%o" % stat.S_IMODE(st.st_mode), str(st.st_uid),
                                str(st.st_gid), size, target, digest, ",".join(xattrs) or "-",
                                hardlink]))
    return lines


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print("#path\ttype\tmode\tuid\tgid\tsize\ttarget\tsha256\txattrs\thardlink")
    print("\n".join(listing(sys.argv[1])))
