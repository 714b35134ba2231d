"""tiny: the busybox-static root file system in one layer; tag `latest` with a gzip layer,
tag `zstd` with the same layer tar compressed with zstd (same config, same diff_id)."""

import os

import busybox_rootfs
import oci

TAGS = ["latest", "zstd"]
DEPENDS = ["busybox_rootfs.py"]

CONFIG = oci.image_config(
    cmd=["/bin/sh"],
    env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "BERTH_IMAGE=tiny"],
    labels={"org.berth.test-image": "tiny"},
    history=["busybox-static root file system"],
)


def inputs(ctx):
    return busybox_rootfs.inputs()


def build(ctx, layout_dir, work):
    layer = os.path.join(work, "rootfs.tar")
    tar = oci.LayerTar(layer)
    busybox_rootfs.write(tar)
    tar.close()
    layout = oci.Layout(layout_dir)
    for tag, compression in [("latest", "gzip"), ("zstd", "zstd")]:
        layout.tag(layout.add_image([layout.add_layer(layer, compression)], CONFIG), tag)
    layout.save()
