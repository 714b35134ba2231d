#!/usr/bin/env python3
"""Prints one line per path of a directory tree, for comparing image trees:

  PATH TYPE MODE UID GID [NLINK] [MTIME] TARGET-or-SHA256

  tree_manifest.py ROOT [--exclude PATH]... [--strip-setuid] [--no-mtime]

--strip-setuid shows regular files' modes without setuid/setgid bits (berth's default policy),
so a reference unpack (umoci) that keeps them compares equal.
"""
import argparse
import hashlib
import os
import stat


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--exclude", action="append", default=[])
    p.add_argument("--strip-setuid", action="store_true")
    p.add_argument("--no-mtime", action="store_true")
    args = p.parse_args()
    lines = []
    for dirpath, dirnames, filenames in os.walk(args.root):
        rel_dir = os.path.relpath(dirpath, args.root)
        dirnames[:] = [d for d in dirnames
                       if os.path.normpath(os.path.join(rel_dir, d)) not in args.exclude]
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in args.exclude:
                continue
            st = os.lstat(full)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                kind, extra = "symlink", os.readlink(full)
            elif stat.S_ISDIR(st.st_mode):
                kind, extra = "dir", ""
            elif stat.S_ISREG(st.st_mode):
                kind = "file"
                if args.strip_setuid:
                    mode &= ~0o6000
                with open(full, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
                extra = f"nlink={st.st_nlink} {extra}"
            else:
                kind, extra = "other", ""
            mtime = "" if args.no_mtime or kind != "file" else f" mtime={int(st.st_mtime)}"
            lines.append(f"{rel} {kind} {mode:o} {st.st_uid}:{st.st_gid}{mtime} {extra}".rstrip())
    print("\n".join(sorted(lines)))


if __name__ == "__main__":
    main()
