"""The busybox-static root file system shared by tiny and multiarch (~2 MB, one layer)."""

import oci

BUSYBOX = "/bin/busybox"  # from Debian's busybox-static (statically linked)

# Commands linked to /bin/busybox: what tests run inside a tiny container.
APPLETS = [
    "sh", "ash", "ls", "cat", "echo", "id", "env", "sleep", "true", "false", "mkdir", "rm",
    "cp", "mv", "ln", "pwd", "uname", "hostname", "grep", "sed", "awk", "head", "tail", "wc",
    "test", "[", "printf", "stat", "touch", "chmod", "find", "sort", "tr", "cut", "date",
    "whoami", "ps", "kill", "mount", "df", "du", "tee", "xargs", "which", "readlink",
    "realpath", "basename", "dirname", "seq", "expr", "nproc", "sha256sum", "md5sum", "tar",
    "timeout", "wget", "vi", "less", "hexdump", "od", "dd", "mktemp", "getopt", "groups",
]

PASSWD = b"""root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = b"""root:x:0:
nogroup:x:65534:
"""
OS_RELEASE = b"""PRETTY_NAME="berth tiny (busybox)"
NAME="berth tiny"
ID=berth-tiny
VERSION_ID=1
"""


def inputs():
    """The busybox binary's checksum: a new busybox-static package changes the image."""
    return ["busybox sha256 " + oci.sha256_file(BUSYBOX), "applets " + " ".join(APPLETS)]


def write(tar):
    """Writes the root file system's entries into the LayerTar `tar`."""
    for d, mode in [("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755),
                    ("proc", 0o555), ("root", 0o700), ("sys", 0o555), ("tmp", 0o1777),
                    ("usr", 0o755), ("usr/bin", 0o755), ("var", 0o755), ("var/tmp", 0o1777)]:
        tar.dir(d, mode)
    tar.file("bin/busybox", mode=0o755, src=BUSYBOX)
    for applet in sorted(APPLETS):
        tar.symlink("bin/" + applet, "busybox")
    tar.file("etc/passwd", PASSWD)
    tar.file("etc/group", GROUP)
    tar.file("etc/os-release", OS_RELEASE)
    tar.file("etc/hostname", b"tiny\n")
