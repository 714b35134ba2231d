#!/usr/bin/env python3
"""Writes a synthetic, layered OCI image layout for berth's conversion tests and benchmarks.

  make_oci_layout.py DIR [--tag TAG] [--data-mb N] [--layers N]

Layers (bottom-up) exercise what conversion must get right: whiteouts, opaque directories,
hard links within and across layers, symlinks (relative and absolute), pax long names, xattrs,
owners, modes (setuid included) and files replaced by upper layers. --data-mb adds N MiB of
compressible file data spread over --layers extra layers (for benchmarks).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import tarfile

MTIME = 1700000000


def info(name, kind=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, size=0, linkname="", pax=None):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.size = size
    ti.mtime = MTIME
    ti.linkname = linkname
    if pax:
        ti.pax_headers = pax
    return ti


class Layer:
    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self.tar.addfile(info(name, tarfile.DIRTYPE, mode, uid, gid))
        return self

    def file(self, name, data, mode=0o644, uid=0, gid=0, pax=None):
        if isinstance(data, str):
            data = data.encode()
        self.tar.addfile(info(name, mode=mode, uid=uid, gid=gid, size=len(data), pax=pax),
                         io.BytesIO(data))
        return self

    def symlink(self, name, target):
        self.tar.addfile(info(name, tarfile.SYMTYPE, 0o777, linkname=target))
        return self

    def hardlink(self, name, target):
        self.tar.addfile(info(name, tarfile.LNKTYPE, linkname=target))
        return self

    def finish(self):
        self.tar.close()
        return self.buf.getvalue()


def feature_layers():
    long_dir = "opt/" + "d" * 120
    l0 = (Layer().dir("bin").dir("etc").dir("usr").dir("usr/bin").dir("var").dir("var/lib")
          .dir("opt").dir(long_dir)
          .file("bin/busybox", b"\x7fELF" + bytes(range(256)) * 40, 0o755)
          .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
          .file("etc/gone", "deleted by layer 1\n")
          .file("etc/replaced", "old version\n")
          .file("usr/bin/su", "setuid\n", 0o4755)
          .file("usr/bin/shared", "hard-linked across layers\n", 0o755)
          .dir("var/lib/opaque").file("var/lib/opaque/old1", "x").file("var/lib/opaque/old2", "y")
          .dir("var/lib/tree").file("var/lib/tree/leaf", "leaf")
          .file(long_dir + "/" + "f" * 150, "long names need pax\n")
          .file("home-owned", "owned\n", 0o600, uid=1000, gid=1000)
          .symlink("bin/sh", "busybox")
          .symlink("etc/abs", "/etc/passwd")
          .hardlink("bin/busybox-link", "bin/busybox"))
    l1 = (Layer().dir("etc").file("etc/.wh.gone", "")
          .file("etc/replaced", "new version\n")
          .dir("var/lib/opaque").file("var/lib/opaque/.wh..wh..opq", "")
          .file("var/lib/opaque/new", "fresh\n")
          .file("var/lib/.wh.tree", "")
          .hardlink("usr/bin/shared-link", "usr/bin/shared")
          .file("etc/xattr", "has an xattr\n", pax={"SCHILY.xattr.user.berth": "yes"})
          .dir("work", 0o1777))
    l2 = (Layer().dir("var/lib/tree").file("var/lib/tree/again", "recreated\n")
          .file("etc/passwd", "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home:/bin/sh\n")
          .dir("data", 0o750, uid=1000, gid=100))
    return [l0.finish(), l1.finish(), l2.finish()]


def data_layers(total_mb, count):
    rng = random.Random(42)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
             for _ in range(2000)]
    per_layer = total_mb * 1024 * 1024 // count
    out = []
    for n in range(count):
        layer = Layer().dir(f"data{n}")
        written = 0
        i = 0
        while written < per_layer:
            size = min(per_layer - written, rng.choice([4096, 40000, 300000, 2000000]))
            chunk = b" ".join(rng.choice(words) for _ in range(size // 5 + 1))[:size]
            # Mix in incompressible bytes, as binaries have.
            chunk = chunk[: size // 2] + rng.randbytes(size - size // 2)
            layer.file(f"data{n}/file{i}", chunk, 0o644)
            written += size
            i += 1
        out.append(layer.finish())
    return out


def write_blob(root, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--tag", default="latest")
    p.add_argument("--data-mb", type=int, default=0)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--no-features", action="store_true")
    p.add_argument("--docker-archive", help="also write the image as a `docker save` tarball")
    args = p.parse_args()
    os.makedirs(os.path.join(args.dir, "blobs", "sha256"), exist_ok=True)
    tars = [] if args.no_features else feature_layers()
    if args.data_mb:
        tars += data_layers(args.data_mb, args.layers)
    layers, diff_ids = [], []
    for i, tar in enumerate(tars):
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        if i % 2 == 0:
            blob, media = gzip.compress(tar, 6, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
        else:
            blob, media = tar, "application/vnd.oci.image.layer.v1.tar"
        digest, size = write_blob(args.dir, blob)
        layers.append({"mediaType": media, "digest": digest, "size": size})
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdigest, csize = write_blob(args.dir, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cdigest, "size": csize},
                "layers": layers}
    mdigest, msize = write_blob(args.dir, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest,
        "size": msize, "annotations": {"org.opencontainers.image.ref.name": args.tag}}]}
    with open(os.path.join(args.dir, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(args.dir, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    if args.docker_archive:
        write_docker_archive(args.docker_archive, json.dumps(config).encode(), tars, args.tag)
    print(mdigest)


def write_docker_archive(path, config, tars, tag):
    """`docker save` layout: CONFIG.json, LAYERID/layer.tar, manifest.json (plain tars)."""
    with tarfile.open(path, "w") as out:
        def add(name, data):
            out.addfile(info(name, size=len(data)), io.BytesIO(data))
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        add(config_name, config)
        names = []
        for tar in tars:
            layer_id = hashlib.sha256(tar).hexdigest()
            names.append(f"{layer_id}/layer.tar")
            add(names[-1], tar)
        add("manifest.json", json.dumps([{"Config": config_name, "RepoTags": [f"synthetic:{tag}"],
                                          "Layers": names}]).encode())


if __name__ == "__main__":
    main()
