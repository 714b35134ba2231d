"""big: a ~1 GB (unpacked) image for benchmarks only (`scripts/test-images --big`), gzip,
eight layers with a realistic mix:
1-3. debian-mpi's three layers (the same blobs: a registry or cache shares them);
4-6. /opt/big/copyN/usr: debian-mpi's /usr re-rooted, three times (~10,000 small files
     each, shared libraries, scripts: compressible);
7.   /opt/big/random: 160 MB of incompressible pseudo-random data in files of 1-64 MB;
8.   /opt/big/text: 160 MB of compressible text (log-like lines) in files of 1-64 MB.
Built from the debian-mpi layout in the cache, so debian-mpi is built first."""

import gzip
import json
import os
import random
import shutil
import tarfile

import oci

TAGS = ["latest"]
COPIES = 3
FILE_SIZES_MB = [64, 32, 32, 16, 8, 4, 2, 1, 1]  # 160 MB per data layer


def inputs(ctx):
    return ["debian-mpi " + ctx.current_layout("debian-mpi")]


def debian_layers(ctx):
    layout = ctx.current_layout("debian-mpi")
    blobs = os.path.join(layout, "blobs", "sha256")
    index = json.load(open(os.path.join(layout, "index.json")))
    manifest = json.load(open(os.path.join(blobs, index["manifests"][0]["digest"][7:])))
    config = json.load(open(os.path.join(blobs, manifest["config"]["digest"][7:])))
    return blobs, list(zip(manifest["layers"], config["rootfs"]["diff_ids"]))


def copy_usr(tar, blobs, layers, prefix):
    """Re-roots every usr/ entry of the layers below `prefix` (whiteouts dropped: these
    layers only add files under usr/)."""
    for desc, _ in layers:
        with gzip.open(os.path.join(blobs, desc["digest"][7:]), "rb") as blob:
            with tarfile.open(fileobj=blob, mode="r|") as src:
                for member in src:
                    if not member.name.startswith("usr") or "/.wh." in "/" + member.name:
                        continue
                    data = src.extractfile(member) if member.isreg() else None
                    member.name = prefix + member.name
                    if member.islnk():
                        member.linkname = prefix + member.linkname
                    tar.raw(member, data)


def data_layer(tar, directory, compressible, seed):
    rng = random.Random(seed)
    words = [w.encode() for w in "node rank job step mpi allreduce barrier slurm berth image "
             "layer pull squashfs cache error warning info debug timeout retry".split()]
    tar.dir("opt/big/" + directory)
    for i, mb in enumerate(FILE_SIZES_MB):
        size = mb << 20
        if compressible:
            lines = []
            total = 0
            while total < size:
                line = b"%08d %s %s rank=%d value=%d\n" % (
                    total, rng.choice(words), rng.choice(words), rng.randrange(1024),
                    rng.randrange(1 << 30))
                lines.append(line)
                total += len(line)
            data = b"".join(lines)[:size]
        else:
            data = rng.randbytes(size)
        tar.file(f"opt/big/{directory}/file{i}-{mb}M.dat", data)


def build(ctx, layout_dir, work):
    blobs, base_layers = debian_layers(ctx)
    layout = oci.Layout(layout_dir)
    layers = []
    for desc, diff_id in base_layers:
        shutil.copyfile(os.path.join(blobs, desc["digest"][7:]),
                        os.path.join(layout.blobs, desc["digest"][7:]))
        layers.append((desc, diff_id))
    for n in range(1, COPIES + 1):
        path = os.path.join(work, f"copy{n}.tar")
        tar = oci.LayerTar(path)
        for d in ["opt", "opt/big", f"opt/big/copy{n}"]:
            tar.dir(d)
        copy_usr(tar, blobs, base_layers, f"opt/big/copy{n}/")
        tar.close()
        layers.append(layout.add_layer(path, "gzip"))
        os.remove(path)
    for name, compressible in [("random", False), ("text", True)]:
        path = os.path.join(work, name + ".tar")
        tar = oci.LayerTar(path)
        tar.dir("opt")
        tar.dir("opt/big")
        data_layer(tar, name, compressible, seed=name)
        tar.close()
        layers.append(layout.add_layer(path, "gzip"))
        os.remove(path)
    config = oci.image_config(cmd=["/bin/bash"], labels={"org.berth.test-image": "big"},
                              history=["debian", "openmpi", "mpi_hello"]
                              + [f"usr copy {n}" for n in range(1, COPIES + 1)]
                              + ["random data", "text data"])
    layout.tag(layout.add_image(layers, config), "latest")
    layout.save()
