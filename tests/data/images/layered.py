"""layered: five layers exercising the OCI layer semantics; tags `gzip` and `zstd` hold the
same layer tars with gzip and zstd compression. Next to the layout, expected-tree.txt is the
merged tree as umoci (not berth) unpacks it; build() also checks that tree against the
intent stated below, so a mistake here or in umoci fails the build.

Layer 1: the busybox root file system (shared blob with tiny:latest).
Layer 2: /layered/ with everything the upper layers change.
Layer 3: deletions (.wh.), an opaque directory, a replaced file, a mode change.
Layer 4: a whiteout and a new entry of the same name, a file replaced by a directory.
Layer 5: a file added in layer 3 deleted again, a file added under the opaque directory.
"""

import os
import subprocess
import sys

import busybox_rootfs
import oci

TAGS = ["gzip", "zstd"]
DEPENDS = ["busybox_rootfs.py"]

LONG_DIR = "layered/" + "d" * 60
LONG_NAME = LONG_DIR + "/" + "long-file-name-" + "x" * 120 + ".txt"  # path > 200 chars

CONFIG = oci.image_config(cmd=["/bin/sh"], labels={"org.berth.test-image": "layered"},
                          history=["busybox", "base", "deletions", "recreate", "more"])


def inputs(ctx):
    out = subprocess.run(["umoci", "--version"], capture_output=True, text=True).stdout
    return busybox_rootfs.inputs() + ["expected tree by " + out.strip()]


def layer2(tar):
    tar.dir("layered")
    tar.file("layered/deleted.txt", b"deleted in layer 3\n")
    tar.dir("layered/deleted-dir")
    tar.file("layered/deleted-dir/inner.txt", b"gone with its directory\n")
    tar.dir("layered/opaque")
    tar.file("layered/opaque/old1.txt", b"hidden by the opaque whiteout\n")
    tar.dir("layered/opaque/oldsub")
    tar.file("layered/opaque/oldsub/old2.txt", b"hidden too\n")
    tar.file("layered/replaced.txt", b"old contents\n")
    tar.dir("layered/modedir", mode=0o700)
    tar.file("layered/modedir/inside.txt", b"inside a directory whose mode changes\n")
    tar.file("layered/hardlink-target.txt", b"one inode, two names\n")
    tar.hardlink("layered/hardlink", "layered/hardlink-target.txt")
    tar.symlink("layered/symlink-rel", "replaced.txt")
    tar.symlink("layered/symlink-abs", "/layered/replaced.txt")
    tar.symlink("layered/symlink-dir", "nested/a")
    tar.symlink("layered/symlink-dangling", "does-not-exist")
    tar.file("layered/setuid", b"#!/bin/sh\necho setuid\n", mode=0o4755)
    tar.dir("layered/setgid-dir", mode=0o2775, gid=100)
    tar.file("layered/private.txt", b"mode 600\n", mode=0o600)
    tar.file("layered/owned-by-1000.txt", b"uid 1000 gid 1000\n", uid=1000, gid=1000)
    tar.dir(LONG_DIR)
    tar.file(LONG_NAME, b"a path longer than 100 characters (pax header)\n")
    tar.file("layered/xattr.txt", b"has user.berth\n", xattrs={"user.berth": "test"})
    tar.file("layered/empty", b"")
    for d in ["layered/nested", "layered/nested/a", "layered/nested/a/b", "layered/nested/a/b/c"]:
        tar.dir(d)
    tar.file("layered/nested/a/b/c/deep.txt", b"deep\n")
    tar.file("layered/recreated", b"old recreated\n")
    tar.file("layered/type-change", b"a file in layer 2, a directory in layer 4\n")
    tar.file("layered/exec.sh", b"#!/bin/sh\necho exec\n", mode=0o755)


def layer3(tar):
    tar.dir("layered")
    tar.whiteout("layered/deleted.txt")
    tar.whiteout("layered/deleted-dir")
    tar.dir("layered/opaque")
    tar.opaque("layered/opaque")
    tar.file("layered/opaque/new1.txt", b"new in the opaque directory\n")
    tar.file("layered/replaced.txt", b"new contents, longer than the old ones\n")
    tar.dir("layered/modedir", mode=0o755)
    tar.dir("layered/nested/a/b")
    tar.file("layered/nested/a/b/new.txt", b"added in layer 3\n")
    tar.file("layered/added-then-deleted", b"deleted again in layer 5\n")


def layer4(tar):
    tar.dir("layered")
    tar.whiteout("layered/recreated")  # applies to lower layers only, not to the next entry
    tar.file("layered/recreated", b"new recreated\n")
    tar.dir("layered/type-change", mode=0o750)
    tar.file("layered/type-change/now-a-dir.txt", b"inside\n")


def layer5(tar):
    tar.dir("layered")
    tar.whiteout("layered/added-then-deleted")
    tar.dir("layered/opaque")
    tar.file("layered/opaque/new2.txt", b"added above the opaque layer\n")


# What the merged tree must show: path -> (type, mode, content or target); None = absent.
INTENT = {
    "/layered/deleted.txt": None,
    "/layered/deleted-dir": None,
    "/layered/opaque/old1.txt": None,
    "/layered/opaque/oldsub": None,
    "/layered/added-then-deleted": None,
    "/layered/opaque/new1.txt": ("f", "644", b"new in the opaque directory\n"),
    "/layered/opaque/new2.txt": ("f", "644", b"added above the opaque layer\n"),
    "/layered/replaced.txt": ("f", "644", b"new contents, longer than the old ones\n"),
    "/layered/modedir": ("d", "755", None),
    "/layered/setuid": ("f", "4755", None),
    "/layered/setgid-dir": ("d", "2775", None),
    "/layered/symlink-rel": ("l", None, "replaced.txt"),
    "/layered/symlink-abs": ("l", None, "/layered/replaced.txt"),
    "/layered/recreated": ("f", "644", b"new recreated\n"),
    "/layered/type-change": ("d", "750", None),
    "/layered/empty": ("f", "644", b""),
    "/" + LONG_NAME: ("f", "644", None),
}


def check_intent(rootfs, tree_lines):
    rows = {line.split("\t")[0]: line.split("\t") for line in tree_lines}
    for path, want in INTENT.items():
        got = rows.get(path)
        if want is None:
            assert got is None, f"{path} should be absent"
            continue
        assert got is not None, f"{path} missing"
        kind, mode, content = want
        assert got[1] == kind, f"{path}: type {got[1]} != {kind}"
        assert mode is None or got[2] == mode, f"{path}: mode {got[2]} != {mode}"
        if kind == "l":
            assert got[6] == content, f"{path}: target {got[6]}"
        elif content is not None:
            assert got[7] == oci.sha256_bytes(content), f"{path}: wrong content"
    assert rows["/layered/xattr.txt"][8] == "user.berth=test", "xattr lost"
    assert rows["/layered/hardlink"][9] == "/layered/hardlink", "hard link lost"
    assert rows["/layered/owned-by-1000.txt"][3:5] == ["1000", "1000"], "owner lost"


def build(ctx, layout_dir, work):
    tars = []
    for i, writer in enumerate([busybox_rootfs.write, layer2, layer3, layer4, layer5], 1):
        path = os.path.join(work, f"layer{i}.tar")
        tar = oci.LayerTar(path)
        writer(tar)
        tar.close()
        tars.append(path)
    layout = oci.Layout(layout_dir)
    for tag in TAGS:
        layers = [layout.add_layer(t, tag) for t in tars]
        layout.tag(layout.add_image(layers, CONFIG), tag)
    layout.save()

    # The expected tree, from umoci's unpacking (run as root: owners, setuid, xattrs kept).
    bundle = os.path.join(work, "bundle")
    subprocess.run(["umoci", "--log", "error", "unpack", "--image", layout_dir + ":gzip", bundle],
                   check=True)
    listing = os.path.join(os.path.dirname(os.path.abspath(oci.__file__)), "tree_listing.py")
    out = subprocess.run([sys.executable, listing, os.path.join(bundle, "rootfs")], check=True,
                         capture_output=True, text=True).stdout
    check_intent(os.path.join(bundle, "rootfs"), out.splitlines()[1:])
    with open(os.path.join(layout_dir, "expected-tree.txt"), "w") as f:
        f.write(out)
