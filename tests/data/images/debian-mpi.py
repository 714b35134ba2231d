"""debian-mpi: Debian bookworm minbase + Open MPI (openmpi-bin, libopenmpi3, no recommends)
+ /usr/local/bin/mpi_hello, in three gzip layers (~200-300 MB unpacked):
1. mmdebstrap --variant=minbase bookworm (docs, man pages and locales left out, as in
   slim images), 2. the Open MPI packages, 3. mpi_hello compiled on the host with mpicc
   (host and image are both bookworm: same glibc and Open MPI 4.1.4).
Needs root and Debian's mirror (read from /etc/apt/sources.list.d/debian.sources).
The key covers the mirror, the candidate versions of the packages that matter, and the
MPI hello source, so a Debian point release or a new hello rebuilds the image."""

import os
import re
import shutil
import subprocess

import oci

TAGS = ["latest"]
SUITE = "bookworm"
MPI_PACKAGES = ["openmpi-bin", "libopenmpi3"]
# Packages whose candidate version (from the host's apt lists) is part of the cache key.
KEY_PACKAGES = ["base-files", "libc6", "dpkg", "apt", "openmpi-bin", "libopenmpi3",
                "libpmix2", "libhwloc15"]
# Left out of every package (dpkg path-exclude), as Debian's slim images do.
DPKG_EXCLUDES = ["/usr/share/man/*", "/usr/share/doc/*", "/usr/share/info/*",
                 "/usr/share/locale/*", "/usr/share/lintian/*"]
CONFIG = oci.image_config(
    cmd=["/bin/bash"],
    env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
    labels={"org.berth.test-image": "debian-mpi"},
    history=["mmdebstrap --variant=minbase " + SUITE,
             "apt-get install --no-install-recommends " + " ".join(MPI_PACKAGES),
             "mpicc mpi_hello.c -o /usr/local/bin/mpi_hello"])


def mirror():
    """The Debian mirror of the host's sources (deb822 or one-line format)."""
    for path in ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]:
        if not os.path.exists(path):
            continue
        text = open(path).read()
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:.*\b" + SUITE + r"\b(?!-)", stanza, re.M)
            if uris and suites:
                return uris.group(1)
        m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", text, re.M)
        if m:
            return m.group(1)
    raise SystemExit("debian-mpi: no Debian mirror for " + SUITE + " in the apt sources")


def hello_source(ctx):
    """tests/data/mpi_hello.c (the test bed's) when present, else the placeholder here."""
    for path in [os.path.join(ctx.top, "tests", "data", "mpi_hello.c"),
                 os.path.join(ctx.recipes, "mpi_hello.c")]:
        if os.path.exists(path):
            return path
    raise SystemExit("debian-mpi: mpi_hello.c not found")


def inputs(ctx):
    # One apt-cache call (each costs ~1 s): stanzas come in the order asked for.
    out = subprocess.run(["apt-cache", "show", "--no-all-versions"] + KEY_PACKAGES,
                         capture_output=True, text=True).stdout
    versions = re.findall(r"^(Package: \S+)\n(?:.*\n)*?(Version: \S+)", out, re.M)
    versions = [" ".join(v) for v in versions]
    mpicc = subprocess.run(["mpicc", "--showme:version"], capture_output=True,
                           text=True).stdout.strip()
    return [mirror(), mpicc, "hello " + oci.sha256_file(hello_source(ctx))] + versions


def chroot_run(root, script):
    """Runs a shell script in `root` with /proc mounted in a private mount namespace (the
    mount goes away with it) and the host's resolv.conf to reach the mirror."""
    resolv = os.path.join(root, "etc", "resolv.conf")
    saved = os.path.lexists(resolv)
    if saved:
        os.rename(resolv, resolv + ".berth-saved")
    shutil.copy("/etc/resolv.conf", resolv)
    try:
        # apt's chatter (debconf, man page alternatives) is shown only when it fails.
        run = subprocess.run(["unshare", "--mount", "--fork", "sh", "-ec",
                              'mount --make-rprivate /; mount -t proc proc "$1/proc"; '
                              'exec chroot "$1" /bin/sh -ec "$2"', "sh", root, script],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            raise SystemExit(f"debian-mpi: in the chroot: {script}\n{run.stdout}")
    finally:
        os.remove(resolv)
        if saved:
            os.rename(resolv + ".berth-saved", resolv)


def build(ctx, layout_dir, work):
    base = os.path.join(work, "base")
    # In a private mount namespace: mounts mmdebstrap makes in the chroot (/dev, /proc, /sys)
    # go away with it even when it is killed, so the work directory is safe to delete.
    cmd = ["unshare", "--mount", "--propagation", "private", "mmdebstrap", "--quiet", "--mode=root", "--variant=minbase", "--format=directory",
           "--aptopt=APT::Install-Recommends \"false\"",
           "--aptopt=APT::Install-Suggests \"false\""]
    cmd += ["--dpkgopt=path-exclude=" + p for p in DPKG_EXCLUDES]
    cmd += ["--dpkgopt=path-include=/usr/share/doc/*/copyright", SUITE, base, mirror()]
    subprocess.run(cmd, check=True)
    # The host's name and resolver are not part of an image (runtimes provide their own).
    for name in ["hostname", "resolv.conf"]:
        if os.path.lexists(os.path.join(base, "etc", name)):
            os.remove(os.path.join(base, "etc", name))
    layout = oci.Layout(layout_dir)
    layers = []
    tar1 = os.path.join(work, "layer1.tar")
    oci.tar_tree(base, tar1)
    layers.append(layout.add_layer(tar1, "gzip"))
    os.remove(tar1)

    mpi = os.path.join(work, "mpi")
    subprocess.run(["cp", "-a", base, mpi], check=True)
    chroot_run(mpi, "export DEBIAN_FRONTEND=noninteractive; apt-get -qq update; "
                    "apt-get -qq install -y --no-install-recommends " + " ".join(MPI_PACKAGES)
               + "; apt-get clean; rm -rf /var/lib/apt/lists/* /var/log/apt/* "
                 "/var/cache/debconf/*-old /var/lib/dpkg/*-old")
    tar2 = os.path.join(work, "layer2.tar")
    oci.tar_tree(mpi, tar2, base=base)
    shutil.rmtree(base)
    layers.append(layout.add_layer(tar2, "gzip"))
    os.remove(tar2)

    hello = os.path.join(work, "mpi_hello")
    subprocess.run(["mpicc", "-O2", "-o", hello, hello_source(ctx)], check=True)
    tar3 = os.path.join(work, "layer3.tar")
    tar = oci.LayerTar(tar3)
    for d in ["usr", "usr/local", "usr/local/bin"]:
        tar.dir(d)
    tar.file("usr/local/bin/mpi_hello", mode=0o755, src=hello)
    tar.close()
    layers.append(layout.add_layer(tar3, "gzip"))

    layout.tag(layout.add_image(layers, CONFIG), "latest")
    layout.save()
