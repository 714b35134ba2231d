"""Random OCI layer stacks, seeded, for differential tests of berth's layer merge.

A stack is 1..8 layers; a layer is a list of tar entries (dicts). The generator keeps a model
of the tree the layers build (applied bottom-up, as unpackers do) only to stay inside what the
OCI layer rules allow: hard links name a regular file that exists at that point, parents of new
entries are directories (possibly reached through symlinks), whiteouts name lower entries.
What the merged tree must look like is NOT computed here: a reference unpacker (umoci) says so.

Entry kinds: file, dir, symlink (relative, absolute, dangling), hardlink, fifo, chardev,
whiteout, opaque; modes with setuid/setgid/sticky, owners, user.* xattrs, empty files, long
names, deep paths, type changes in every direction, writes below an earlier symlinked dir.
"""

import os
import posixpath
import random

# Names long enough to need pax headers, up to the 255-byte limit of one name.
LONG_NAMES = [n * "x" for n in (100, 180, 255)]
MODES_FILE = [0o644, 0o600, 0o755, 0o4755, 0o2755, 0o6755, 0o444, 0o700]
MODES_DIR = [0o755, 0o700, 0o1777, 0o2775, 0o750]
OWNERS = [(0, 0), (0, 0), (1000, 1000), (65534, 65534), (123, 456)]
ALPHABET = "abcdefgh"


class Model:
    """The tree as applied so far, bottom-up: {path: kind} plus symlink targets."""

    def __init__(self):
        self.kind = {"": "d"}
        self.target = {}

    def children(self, path):
        prefix = path + "/" if path else ""
        return [p for p in self.kind if p != path and p.startswith(prefix)]

    def remove(self, path):
        for p in [path] + self.children(path):
            self.kind.pop(p, None)
            self.target.pop(p, None)

    def resolve(self, path, follow_last=True, hops=0):
        """The real path `path` names (symlinks followed inside the root), or None when a
        non-directory is in the way."""
        parts = [p for p in path.split("/") if p]
        out = []
        todo = list(parts)
        while todo:
            part = todo.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if out:
                    out.pop()
                continue
            cand = "/".join(out + [part])
            kind = self.kind.get(cand)
            if kind == "l" and (todo or follow_last):
                hops += 1
                if hops > 40:
                    return None
                tgt = self.target[cand]
                if tgt.startswith("/"):
                    out = []
                todo = [p for p in tgt.split("/") if p] + todo
                continue
            if kind is not None and kind != "d" and todo:
                return None
            out.append(part)
        return "/".join(out)

    def apply(self, e):
        """Applies entry `e` as umoci does (parents resolved in the root)."""
        parent, _, name = e["path"].rpartition("/")
        rparent = self.resolve(parent)
        if rparent is None:
            return False
        # Missing parents are made (MkdirAll).
        walk = ""
        for part in [p for p in rparent.split("/") if p]:
            walk = walk + "/" + part if walk else part
            if walk not in self.kind:
                self.kind[walk] = "d"
            elif self.kind[walk] != "d":
                return False
        path = rparent + "/" + name if rparent else name
        k = e["kind"]
        if k == "whiteout":
            self.remove(path)
            return True
        if k == "opaque":
            for c in self.children(path):
                self.kind.pop(c, None)
                self.target.pop(c, None)
            return True
        old = self.kind.get(path)
        if k == "hardlink":
            tgt = self.resolve(e["target"], follow_last=False)
            if self.kind.get(tgt) != "f" or tgt == path:
                return False
            self.remove(path)
            self.kind[path] = "f"
            return True
        if old is not None and not (old == "d" and k == "dir"):
            self.remove(path)
        self.kind[path] = {"file": "f", "dir": "d", "symlink": "l", "fifo": "p",
                           "chardev": "c"}[k]
        if k == "symlink":
            self.target[path] = e["target"]
        return True


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.seed = seed
        self.model = Model()
        self.counter = 0
        self.written_through = set()  # symlinks an entry's path went through, their targets
        self.layer_links = set()  # symlinks of the layer being made
        self.landed = set()  # where entries written through a symlink landed

    def name(self):
        r = self.rng.random()
        self.counter += 1
        if r < 0.04:
            return self.rng.choice(LONG_NAMES)[: 250] + str(self.counter % 10)
        if r < 0.5:
            return self.rng.choice(ALPHABET)  # small name space: collisions across layers
        return self.rng.choice(ALPHABET) + str(self.rng.randrange(4))

    def protected(self, path):
        """A symlink an entry was written through, its target, or a directory above one:
        deleting or replacing those afterwards is outside what berth's top-down merge
        resolves (docs/pull.md, "How we check layer conformance")."""
        return path in self.landed or any(w == path or w.startswith(path + "/")
                                          for w in self.written_through)

    def pick(self, kinds):
        paths = [p for p, k in self.model.kind.items()
                 if k in kinds and p and not self.protected(p)]
        return self.rng.choice(sorted(paths)) if paths else None

    def dirs(self):
        return [p for p, k in self.model.kind.items() if k == "d"]

    def new_path(self, layer_paths):
        """A path below an existing directory, a symlink to one, or a new deep directory."""
        r = self.rng.random()
        if r < 0.12:
            # Below a symlink of an earlier layer that points straight at a directory: the
            # path lands there. Neither the link nor that directory is deleted or replaced
            # later (see pick()).
            link = self.pick({"l"})
            if link and link not in self.layer_links:
                real = self.model.resolve(link)
                target = self.model.target[link]
                base = "/" if target.startswith("/") else "/" + os.path.dirname(link)
                direct = posixpath.normpath(posixpath.join(base, target)).lstrip("/")
                if real is not None and real == direct and self.model.kind.get(real) == "d":
                    self.written_through.update({link, real})
                    name = self.name()
                    landed = real + "/" + name if real else name
                    if landed in self.model.kind:
                        return None  # only new names through a link (see protected())
                    self.landed.add(landed)
                    return link + "/" + name
        if r < 0.2:
            depth = self.rng.randint(3, 12)
            path = "/".join(self.name()[:3] for _ in range(depth))
        else:
            parent = self.rng.choice(sorted(self.dirs()))
            path = (parent + "/" if parent else "") + self.name()
        if path in layer_paths or self.protected(path):
            return None
        # Parents that exist are directories: no write through a link that is not recorded.
        parts = path.split("/")
        for i in range(1, len(parts)):
            if self.model.kind.get("/".join(parts[:i]), "d") != "d":
                return None
        return path

    def meta(self, modes, xattrs=True):
        uid, gid = self.rng.choice(OWNERS)
        e = {"mode": self.rng.choice(modes), "uid": uid, "gid": gid}
        if xattrs and self.rng.random() < 0.1:  # user.* xattrs: files and directories only
            e["xattrs"] = {"user.k" + str(self.rng.randrange(3)): "v" + str(self.rng.randrange(9))}
        return e

    def content(self):
        r = self.rng.random()
        if r < 0.2:
            return b""
        if r < 0.25:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(70000, 200000) // 64)) * 64
        return ("%d-%d\n" % (self.seed, self.rng.randrange(10 ** 6))).encode() * self.rng.randint(1, 40)

    def entry(self, layer_paths):
        """One operation: returns a list of entries (a dir and what goes in it, ...)."""
        r = self.rng.random()
        rng = self.rng
        if r < 0.25:  # a new or replacing file (replacing: type changes, hard-link groups)
            path = self.pick({"f", "d", "l", "p"}) if rng.random() < 0.35 else self.new_path(layer_paths)
            if path is None:
                return []
            return [dict(kind="file", path=path, data=self.content(), **self.meta(MODES_FILE))]
        if r < 0.40:
            path = self.pick({"f", "l", "d"}) if rng.random() < 0.2 else self.new_path(layer_paths)
            if path is None:
                return []
            out = [dict(kind="dir", path=path, **self.meta(MODES_DIR))]
            for _ in range(rng.randint(0, 3)):
                out.append(dict(kind="file", path=path + "/" + self.name(), data=self.content(),
                                **self.meta(MODES_FILE)))
            return out
        if r < 0.52:  # symlinks: to dirs (relative or absolute), files, nothing
            path = self.pick({"f", "d", "l"}) if rng.random() < 0.25 else self.new_path(layer_paths)
            if path is None:
                return []
            dest = self.pick({"d", "f"}) or "nowhere"
            if rng.random() < 0.15:
                dest = "missing/" + self.name()
            depth = path.count("/")
            target = rng.choice(["/" + dest, "../" * depth + dest])
            return [dict(kind="symlink", path=path, target=target, mode=0o777, uid=0, gid=0)]
        if r < 0.68:  # hard links to a file, new names or replacing ones
            tgt = self.pick({"f"})
            if tgt is None or self.model.resolve(tgt, follow_last=False) != tgt:
                return []
            path = self.pick({"f"}) if rng.random() < 0.2 else self.new_path(layer_paths)
            if path is None or path == tgt or self.model.resolve(path.rpartition("/")[0]) != path.rpartition("/")[0]:
                return []
            return [dict(kind="hardlink", path=path, target=tgt, mode=0o644, uid=0, gid=0)]
        if r < 0.80:
            path = self.pick({"f", "d", "l", "p", "c"})
            if path is None or any(p.startswith(path + "/") for p in layer_paths):
                # Not after entries of its own layer below it: unpackers differ there (umoci
                # keeps those directories' lower metadata, containerd deletes the entries).
                return []
            return [dict(kind="whiteout", path=path)]
        if r < 0.87:
            path = self.pick({"d"})
            if path is None:
                return []
            out = [dict(kind="dir", path=path, **self.meta(MODES_DIR)), dict(kind="opaque", path=path)]
            for _ in range(rng.randint(0, 2)):
                out.append(dict(kind="file", path=path + "/" + self.name(), data=self.content(),
                                **self.meta(MODES_FILE)))
            return out
        if r < 0.93:
            path = self.pick({"d"})
            if path is None:
                return []
            return [dict(kind="dir", path=path, **self.meta(MODES_DIR))]  # metadata only
        path = self.new_path(layer_paths)
        if path is None:
            return []
        kind = "fifo" if rng.random() < 0.6 else "chardev"
        return [dict(kind=kind, path=path, **self.meta([0o644, 0o600], xattrs=False))]

    def through_layer_link(self, path):
        """Whether `path` goes through a symlink of the layer being made (the known limit)."""
        parts = path.split("/")[:-1]
        return any("/".join(parts[:i]) in self.layer_links
                   and self.model.kind.get("/".join(parts[:i])) == "l"
                   for i in range(1, len(parts) + 1))

    def layer(self):
        entries = []
        seen = set()
        self.layer_links = set()
        for _ in range(self.rng.randint(1, 14)):
            for i, e in enumerate(self.entry(seen)):
                if (e["path"] in seen or not e["path"] or self.through_layer_link(e["path"])
                        or not self.model.apply(e)):
                    if i == 0:
                        # The directory of a group (dir, opaque, files in it): without it, its
                        # files would go through whatever its path is now, e.g. a symlink this
                        # layer made: the known limit that protected() keeps out.
                        break
                    continue
                seen.add(e["path"])
                if e["kind"] == "symlink":
                    self.layer_links.add(e["path"])
                entries.append(e)
        return entries

    def stack(self):
        return [self.layer() for _ in range(self.rng.randint(1, 8))]


def generate(seed):
    """The layers of stack `seed`, bottom-up."""
    return Generator(seed).stack()


def describe(layers):
    """The layer listing printed with a mismatch: enough to rebuild the stack by hand."""
    lines = []
    for i, layer in enumerate(layers):
        lines.append("layer %d (bottom-up):" % i)
        for e in layer:
            extra = ""
            if e["kind"] in ("symlink", "hardlink"):
                extra = " -> " + e["target"]
            if e["kind"] == "file":
                extra = " %d bytes" % len(e["data"])
            if "mode" in e:
                extra += " %o %d:%d" % (e["mode"], e["uid"], e["gid"])
            if e.get("xattrs"):
                extra += " " + ",".join("%s=%s" % kv for kv in sorted(e["xattrs"].items()))
            lines.append("  %-8s %s%s" % (e["kind"], e["path"], extra))
    return "\n".join(lines)
