"""multiarch: an image index (tag `latest`) with two manifests:
- linux/amd64: the tiny root file system plus a layer with /arch = "amd64";
- linux/arm64: a few text files only (/arch = "arm64", /etc/os-release): no arm64 binaries.
A puller on amd64 must pick the amd64 manifest; tests read /arch to see which it took."""

import os

import busybox_rootfs
import oci

TAGS = ["latest"]
DEPENDS = ["busybox_rootfs.py"]


def inputs(ctx):
    return busybox_rootfs.inputs()


def config(arch):
    return oci.image_config(cmd=["/bin/sh"], labels={"org.berth.test-image": "multiarch-" + arch},
                            history=["root file system", "/arch"])


def build(ctx, layout_dir, work):
    layout = oci.Layout(layout_dir)

    rootfs = os.path.join(work, "rootfs.tar")
    tar = oci.LayerTar(rootfs)
    busybox_rootfs.write(tar)
    tar.close()
    amd64_arch = os.path.join(work, "arch-amd64.tar")
    tar = oci.LayerTar(amd64_arch)
    tar.file("arch", b"amd64\n")
    tar.close()
    amd64 = layout.add_image([layout.add_layer(rootfs, "gzip"), layout.add_layer(amd64_arch, "gzip")],
                             config("amd64"), platform=("linux", "amd64"))

    arm64_rootfs = os.path.join(work, "rootfs-arm64.tar")
    tar = oci.LayerTar(arm64_rootfs)
    tar.dir("etc")
    tar.file("etc/os-release", b'PRETTY_NAME="berth multiarch (arm64, no binaries)"\n')
    tar.file("arch", b"arm64\n")
    tar.close()
    arm64 = layout.add_image([layout.add_layer(arm64_rootfs, "gzip")], config("arm64"),
                             platform=("linux", "arm64"))
    arm64["platform"]["variant"] = "v8"

    layout.tag(layout.add_index([amd64, arm64]), "latest")
    layout.save()
