#!/usr/bin/env python3
"""Differential test of berth's layer merge against umoci, on generated layer stacks.

  run.py --berth BIN --seeds FIRST:COUNT [--jobs N] [--work DIR] [--registry HOST:PORT]

For each seed: generate a layer stack (layer_stacks.py), write it as an OCI layout (layers gzip
and zstd alternately), convert it with `berth pull` (from `oci:`, and for some seeds from
`oci-archive:` or `docker-archive:`; with --registry, pushed there with skopeo and pulled from
`docker://`), read berth's squashfs back with sqfs2tar, unpack the same layout with
`umoci raw unpack`, and compare both trees entry by entry: path, type, mode, owner, size,
content hash, symlink target, hard-link group, user.* xattrs. A mismatch prints the seed, the
differences and the layer listing of a reduced stack that still shows them. Last line:
`N stacks, M mismatches` (exit 1 when M > 0).
"""

import argparse
import concurrent.futures
import gzip
import hashlib
import io
import json
import os
import shutil
import stat as s
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, "scripts", "lib", "images"))

import layer_stacks  # noqa: E402
import oci  # noqa: E402

TAG = "t"
GZIP_TAG = "gzip"


# The ONLY allowed differences between berth's tree and umoci's, each with its reason. Keep in
# sync with docs/pull.md ("How we check layer conformance").
def neutralise(path, entry):
    """What berth's tree holds for umoci's `entry` at `path`: the entry, or None (left out)."""
    if entry[0] in ("c", "b"):
        return None  # device nodes are never taken from images (docs/pull.md, hostile layers)
    if entry[0] == "d" and entry[1] == "2755" and entry[2] == 0:
        # A directory no layer lists, made as a parent by mkdir(2) inside a directory that was
        # setgid at that time, takes its group and the setgid bit: a file system rule of
        # unpacking, not layer content (no generated directory is 2755 root). berth makes such
        # directories 0755 root:root, as mkdir does elsewhere.
        return ("d", "755", 0, 0) + entry[4:]
    return entry


BERTH_ADDS = (".berth",)  # berth's metadata directory, added to every image


def tar_entry(kind, path, e):
    info = tarfile.TarInfo(path)
    info.mtime = oci.FIXED_MTIME
    info.mode = e.get("mode", 0o644)
    info.uid, info.gid = e.get("uid", 0), e.get("gid", 0)
    info.type = kind
    if e.get("xattrs"):
        info.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
    return info


def write_layer(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            p = e["path"]
            k = e["kind"]
            if k == "whiteout":
                parent, _, base = p.rpartition("/")
                tar.addfile(tar_entry(tarfile.REGTYPE, (parent + "/" if parent else "") + ".wh." + base, {}))
            elif k == "opaque":
                tar.addfile(tar_entry(tarfile.REGTYPE, p + "/.wh..wh..opq", {}))
            elif k == "file":
                info = tar_entry(tarfile.REGTYPE, p, e)
                info.size = len(e["data"])
                tar.addfile(info, io.BytesIO(e["data"]))
            elif k == "dir":
                tar.addfile(tar_entry(tarfile.DIRTYPE, p, e))
            elif k in ("symlink", "hardlink"):
                info = tar_entry(tarfile.SYMTYPE if k == "symlink" else tarfile.LNKTYPE, p, e)
                info.linkname = e["target"]
                tar.addfile(info)
            elif k == "fifo":
                tar.addfile(tar_entry(tarfile.FIFOTYPE, p, e))
            elif k == "chardev":
                info = tar_entry(tarfile.CHRTYPE, p, e)
                info.devmajor, info.devminor = 1, 3
                tar.addfile(info)


def write_layout(layers, root, seed):
    """The stack as an OCI layout: tag TAG with layers gzip and zstd alternately (for berth),
    tag GZIP_TAG with the same layers all gzip (the umoci of Debian 12 reads no zstd). Returns
    the layer tars (for docker-archive)."""
    layout = oci.Layout(root)
    tars, mixed, gzipped = [], [], []
    for i, entries in enumerate(layers):
        tar_path = os.path.join(root, "layer%d.tar" % i)
        write_layer(tar_path, entries)
        tars.append(tar_path)
        with open(tar_path, "rb") as f:
            data = f.read()
        diff_id = "sha256:" + oci.sha256_bytes(data)
        gz = (layout.add_bytes(gzip.compress(data, 1, mtime=0), oci.MEDIA_TYPES["gzip"]), diff_id)
        gzipped.append(gz)
        if (i + seed) % 2 == 1:
            zst = subprocess.run(["zstd", "-q", "-1", "-c"], input=data, stdout=subprocess.PIPE,
                                 check=True).stdout
            mixed.append((layout.add_bytes(zst, oci.MEDIA_TYPES["zstd"]), diff_id))
        else:
            mixed.append(gz)
    config = oci.image_config(["/bin/sh"])
    layout.tag(layout.add_image(mixed, config), TAG)
    layout.tag(layout.add_image(gzipped, config), GZIP_TAG)
    layout.save()
    return tars


def write_docker_archive(path, layout_root, tars):
    with tarfile.open(path, "w") as out:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
        diff_ids = ["sha256:" + oci.sha256_file(t) for t in tars]
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        add("config.json", config)
        names = []
        for t in tars:
            names.append(oci.sha256_file(t) + "/layer.tar")
            with open(t, "rb") as f:
                add(names[-1], f.read())
        add("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["diff:t"],
                                          "Layers": names}]).encode())


def squashfs_listing(image):
    """{path: (type, mode, uid, gid, size, sha256, target, xattrs)} and hard-link groups."""
    proc = subprocess.run(["sqfs2tar", "--no-skip", image], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=True)
    entries, links = {}, {}
    with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:") as tar:
        for m in tar:
            path = m.name.rstrip("/")
            if path.split("/")[0] in BERTH_ADDS:
                continue
            xattrs = tuple(sorted((k[len("SCHILY.xattr."):], v) for k, v in m.pax_headers.items()
                                  if k.startswith("SCHILY.xattr.user.")))
            if m.islnk():
                links.setdefault(m.linkname.rstrip("/"), []).append(path)
                entries[path] = ("link", m.linkname)
                continue
            kind = {tarfile.REGTYPE: "f", tarfile.AREGTYPE: "f", tarfile.DIRTYPE: "d",
                    tarfile.SYMTYPE: "l", tarfile.FIFOTYPE: "p", tarfile.CHRTYPE: "c",
                    tarfile.BLKTYPE: "b"}[m.type]
            size = digest = "-"
            if kind == "f":
                data = tar.extractfile(m).read()
                size, digest = len(data), hashlib.sha256(data).hexdigest()[:16]
            entries[path] = (kind, "%o" % m.mode, m.uid, m.gid, size, digest,
                             m.linkname if kind == "l" else "-", xattrs)
    for first, others in links.items():
        for p in others:
            entries[p] = entries[first]
    groups = {}
    for first, others in links.items():
        for p in [first] + others:
            groups[p] = tuple(sorted([first] + others))
    return entries, groups


def tree_listing(root):
    entries, by_inode = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            path = os.path.relpath(full, root)
            st = os.lstat(full)
            kind = ("f" if s.S_ISREG(st.st_mode) else "d" if s.S_ISDIR(st.st_mode) else
                    "l" if s.S_ISLNK(st.st_mode) else "p" if s.S_ISFIFO(st.st_mode) else
                    "c" if s.S_ISCHR(st.st_mode) else "b" if s.S_ISBLK(st.st_mode) else "?")
            size = digest = "-"
            if kind == "f":
                with open(full, "rb") as f:
                    data = f.read()
                size, digest = len(data), hashlib.sha256(data).hexdigest()[:16]
                if st.st_nlink > 1:
                    by_inode.setdefault(st.st_ino, []).append(path)
            xattrs = ()
            if kind != "l":
                xattrs = tuple(sorted((k, os.getxattr(full, k, follow_symlinks=False).decode())
                                      for k in os.listxattr(full, follow_symlinks=False)
                                      if k.startswith("user.")))
            entries[path] = (kind, "%o" % s.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size,
                             digest, os.readlink(full) if kind == "l" else "-", xattrs)
    groups = {}
    for names in by_inode.values():
        for p in names:
            groups[p] = tuple(sorted(names))
    return entries, groups


def compare(berth, umoci):
    """Differences, one line each (- umoci's, + berth's)."""
    b_entries, b_groups = berth
    u_entries, u_groups = umoci
    expected = {}
    for path, entry in u_entries.items():
        kept = neutralise(path, entry)
        if kept is not None:
            expected[path] = kept
    out = []
    for path in sorted(set(expected) | set(b_entries)):
        e, b = expected.get(path), b_entries.get(path)
        if e != b:
            out.append("%s: - %s\n%s  + %s" % (path, e, " " * len(path), b))
        eg = tuple(p for p in u_groups.get(path, (path,)) if p in expected)
        bg = b_groups.get(path, (path,))
        if e is not None and b is not None and e[0] == "f" and eg != bg:
            out.append("%s: hard-link group - %s + %s" % (path, eg, bg))
    return out


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


class Runner:
    def __init__(self, args):
        self.args = args

    def source_kind(self, seed):
        if self.args.registry:
            return "docker"
        return {3: "oci-archive", 5: "docker-archive"}.get(seed % 7, "oci")

    def check(self, layers, seed, work):
        """Differences for one stack, or None when umoci refuses the stack (not valid)."""
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        layout = os.path.join(work, "layout")
        tars = write_layout(layers, layout, seed)
        kind = self.source_kind(seed)
        if kind == "oci":
            source = "oci:%s:%s" % (layout, TAG)
        elif kind == "oci-archive":
            archive = os.path.join(work, "oci.tar")
            run(["tar", "-C", layout, "-cf", archive, "index.json", "oci-layout", "blobs"], check=True)
            source = "oci-archive:%s:%s" % (archive, TAG)
        elif kind == "docker-archive":
            archive = os.path.join(work, "docker.tar")
            write_docker_archive(archive, layout, tars)
            source = "docker-archive:" + archive
        else:
            name = "diff%d" % seed
            push = run(self.args.netns_cmd + ["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                                              "oci:%s:%s" % (layout, TAG),
                                              "docker://%s/%s:%s" % (self.args.registry, name, TAG)])
            if push.returncode != 0:
                return ["push failed: " + push.stderr.decode()[-500:]]
            source = "docker://%s/%s:%s" % (self.args.registry, name, TAG)
        rootfs = os.path.join(work, "rootfs")
        unpack = run(["umoci", "raw", "unpack", "--image", "%s:%s" % (layout, GZIP_TAG), rootfs])
        if unpack.returncode != 0:
            return None
        image = os.path.join(work, "image.sqsh")
        pull = run(self.args.netns_cmd + [self.args.berth, "-q", "pull", "--insecure", "--cache",
                                          os.path.join(work, "cache"), "-o", image, source])
        if pull.returncode != 0:
            return ["berth pull %s failed: %s" % (kind, pull.stderr.decode()[-800:])]
        diffs = compare(squashfs_listing(image), tree_listing(rootfs))
        return diffs

    def reduce(self, layers, seed, work):
        """Drops entries (then layers) while the stack still mismatches: a minimal listing."""
        current = layers
        changed = True
        budget = 300
        while changed and budget > 0:
            changed = False
            for li in range(len(current)):
                for ei in range(len(current[li]) - 1, -1, -1):
                    if budget <= 0:
                        break
                    trial = [list(l) for l in current]
                    del trial[li][ei]
                    budget -= 1
                    diffs = self.check(trial, seed, work)
                    if diffs:
                        current, changed = trial, True
            trial = [l for l in current if l]
            if len(trial) != len(current) and trial:
                current = trial
        return current

    def one(self, seed):
        work = os.path.join(self.args.work, str(seed))
        layers = layer_stacks.generate(seed)
        try:
            diffs = self.check(layers, seed, work)
            if diffs is None:
                return seed, "invalid", ""
            if not diffs:
                return seed, "ok", ""
            report = ["MISMATCH seed %d (source %s):" % (seed, self.source_kind(seed))]
            report += diffs[:30]
            if not self.args.no_reduce:
                small = self.reduce(layers, seed, work)
                report.append("reduced stack (still mismatching):")
                report.append(layer_stacks.describe(small))
                report += self.check(small, seed, work)[:10] or []
            else:
                report.append(layer_stacks.describe(layers))
            return seed, "mismatch", "\n".join(report)
        finally:
            if not self.args.keep:
                shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--berth", required=True)
    p.add_argument("--seeds", default="0:200", help="FIRST:COUNT")
    # The tools mostly wait (process start, fsync): several stacks per CPU keep the CPUs busy.
    p.add_argument("--jobs", type=int, default=3 * (os.cpu_count() or 1))
    p.add_argument("--work")
    p.add_argument("--registry", help="push each stack there and pull it with berth")
    p.add_argument("--netns", help="run skopeo and berth in this network namespace (path)")
    p.add_argument("--keep", action="store_true", help="keep the work files of every stack")
    p.add_argument("--no-reduce", action="store_true")
    p.add_argument("--min-compared", type=int, default=0,
                   help="fail unless this many stacks were compared (umoci refuses invalid ones)")
    args = p.parse_args()
    args.netns_cmd = ["nsenter", "--net=" + args.netns, "--"] if args.netns else []
    first, count = (int(x) for x in args.seeds.split(":"))
    own_work = args.work is None
    if own_work:
        # tmpfs when there is one: no fsync waits (it keeps user.* xattrs since Linux 6.6).
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        args.work = tempfile.mkdtemp(prefix="berth-differential.", dir=shm)
    os.umask(0o022)  # unpacking makes missing parents 0777 & ~umask: berth's 0755
    runner = Runner(args)
    counts = {"ok": 0, "invalid": 0, "mismatch": 0}
    start = time.time()
    try:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for seed, status, report in pool.map(runner.one, range(first, first + count)):
                counts[status] += 1
                if report:
                    print(report, flush=True)
                done = seed - first + 1
                if done % 100 == 0 and done < count:
                    # A running tally, for a campaign stopped before its end.
                    print("progress: %d generated, %d refused by umoci, %d compared, "
                          "%d mismatches, %.0f s" % (done, counts["invalid"],
                                                     counts["ok"] + counts["mismatch"],
                                                     counts["mismatch"], time.time() - start),
                          flush=True)
    finally:
        if own_work and not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    valid = counts["ok"] + counts["mismatch"]
    print("%d stacks, %d mismatches (%d generated, %d refused by umoci, %.0f s)"
          % (valid, counts["mismatch"], count, counts["invalid"], time.time() - start))
    if valid < args.min_compared:
        print("FAIL: only %d stacks compared, want %d" % (valid, args.min_compared))
        sys.exit(1)
    sys.exit(1 if counts["mismatch"] else 0)


if __name__ == "__main__":
    main()
