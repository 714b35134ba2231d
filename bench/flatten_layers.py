#!/usr/bin/env python3
"""flatten_layers.py OUT.tar LAYER... (bottom-up): the merged tree of OCI layers as one tar
(whiteouts and opaque directories applied, the last entry of a path wins), for tar2sqfs."""
import os, sys, tarfile
tree = {}  # path -> (TarInfo, bytes or None), insertion order = first appearance
for blob in sys.argv[2:]:
    with tarfile.open(blob, "r:*") as t:
        for m in t:
            path = os.path.normpath(m.name).lstrip("/")
            base = os.path.basename(path)
            parent = os.path.dirname(path)
            if base == ".wh..wh..opq":
                for p in [p for p in tree if p.startswith(parent + "/")]:
                    del tree[p]
                continue
            if base.startswith(".wh."):
                gone = os.path.join(parent, base[4:])
                for p in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                    del tree[p]
                continue
            if path == ".":
                continue
            m.name = path
            if m.islnk():
                m.linkname = os.path.normpath(m.linkname).lstrip("/")
            data = t.extractfile(m).read() if m.isfile() else None
            if path in tree and tree[path][0].isdir() and m.isdir():
                tree[path] = (m, None)
                continue
            tree.pop(path, None)
            tree[path] = (m, data)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as out:
    import io
    for path in sorted(tree, key=lambda p: (p.count("/"), p)):
        m, data = tree[path]
        out.addfile(m, io.BytesIO(data) if data is not None else None)
