"""Writes OCI image layouts for berth's test images: layer tars with exact entries, gzip or
zstd blobs, image configs with their diff_ids, manifests, image indexes and index.json.

Test data only: used by the recipes in tests/data/images/ through scripts/test-images.
Independent of berth's own code on purpose (pull tests compare berth against these images).
Layers are written deterministically (sorted entries, fixed owners where synthetic, no
compression timestamps), so a recipe with the same inputs yields the same digests.
"""

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile

# Media types written by these recipes (OCI image-spec v1.0/1.1).
MEDIA_TYPES = {
    "manifest": "application/vnd.oci.image.manifest.v1+json",
    "index": "application/vnd.oci.image.index.v1+json",
    "config": "application/vnd.oci.image.config.v1+json",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",  # the common case
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",  # OCI 1.1, podman/containerd
}

# Compressors: deterministic command lines reading stdin, writing stdout.
COMPRESSORS = {
    "gzip": ["gzip", "-n", "-6", "-c"],  # -n: no name or time stamp in the header
    "zstd": ["zstd", "-q", "-3", "-c", "-T1"],  # -T1: same bytes on every machine
}

# Time stamp of synthetic entries and of the image configs' "created" (2024-01-01T00:00:00Z).
FIXED_MTIME = 1704067200
FIXED_CREATED = "2024-01-01T00:00:00Z"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


class LayerTar:
    """A layer tar written entry by entry (PAX format: long names and xattrs as pax headers)."""

    def __init__(self, path):
        self.path = path
        self._tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)

    def _info(self, name, kind, mode, uid, gid, mtime, xattrs=None):
        info = tarfile.TarInfo(name.lstrip("/"))
        info.type = kind
        info.mode = mode
        info.uid, info.gid = uid, gid
        info.uname = info.gname = ""
        info.mtime = mtime
        if xattrs:
            info.pax_headers = {"SCHILY.xattr." + k: v for k, v in xattrs.items()}
        return info

    def dir(self, name, mode=0o755, uid=0, gid=0, mtime=FIXED_MTIME, xattrs=None):
        self._tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid, mtime, xattrs))

    def file(self, name, data=b"", mode=0o644, uid=0, gid=0, mtime=FIXED_MTIME, xattrs=None,
             src=None):
        """A regular file with `data`, or the content of the host file `src`."""
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid, mtime, xattrs)
        if src is not None:
            info.size = os.path.getsize(src)
            with open(src, "rb") as f:
                self._tar.addfile(info, f)
        else:
            info.size = len(data)
            self._tar.addfile(info, io.BytesIO(data))

    def symlink(self, name, target, uid=0, gid=0, mtime=FIXED_MTIME):
        info = self._info(name, tarfile.SYMTYPE, 0o777, uid, gid, mtime)
        info.linkname = target
        self._tar.addfile(info)

    def hardlink(self, name, target, mode=0o644, uid=0, gid=0, mtime=FIXED_MTIME):
        """`target` is an earlier entry's name in this layer."""
        info = self._info(name, tarfile.LNKTYPE, mode, uid, gid, mtime)
        info.linkname = target.lstrip("/")
        self._tar.addfile(info)

    def whiteout(self, name):
        """Deletes `name` of lower layers (OCI: an empty file `.wh.<basename>`)."""
        parent, base = os.path.split(name.lstrip("/"))
        self.file(os.path.join(parent, ".wh." + base), b"", mode=0o644)

    def opaque(self, dirname):
        """Hides every lower-layer entry below `dirname` (OCI: `.wh..wh..opq`)."""
        self.file(os.path.join(dirname.lstrip("/"), ".wh..wh..opq"), b"", mode=0o644)

    def raw(self, info, fileobj=None):
        """Adds an entry as is (used when copying entries from another tar)."""
        self._tar.addfile(info, fileobj)

    def from_fs(self, root, rel, st, hardlink_to=None):
        """Adds the host path `root/rel` with its metadata (owner, mode, mtime, xattrs)."""
        path = os.path.join(root, rel)
        xattrs = read_xattrs(path)
        mode = stat.S_IMODE(st.st_mode)
        mtime = int(st.st_mtime)
        if hardlink_to is not None:
            self.hardlink(rel, hardlink_to, mode, st.st_uid, st.st_gid, mtime)
        elif stat.S_ISDIR(st.st_mode):
            self.dir(rel, mode, st.st_uid, st.st_gid, mtime, xattrs)
        elif stat.S_ISREG(st.st_mode):
            self.file(rel, mode=mode, uid=st.st_uid, gid=st.st_gid, mtime=mtime, xattrs=xattrs,
                      src=path)
        elif stat.S_ISLNK(st.st_mode):
            self.symlink(rel, os.readlink(path), st.st_uid, st.st_gid, mtime)
        elif stat.S_ISFIFO(st.st_mode):
            self._tar.addfile(self._info(rel, tarfile.FIFOTYPE, mode, st.st_uid, st.st_gid, mtime))
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            kind = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            info = self._info(rel, kind, mode, st.st_uid, st.st_gid, mtime)
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self._tar.addfile(info)
        # Sockets cannot be stored in a tar: skipped.

    def close(self):
        self._tar.close()


def read_xattrs(path):
    """The xattrs a layer keeps: user.* and security.capability (file capabilities)."""
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith("user.") or name == "security.capability":
            value = os.getxattr(path, name, follow_symlinks=False)
            out[name] = value.decode("utf-8", "surrogateescape")
    return out


def scan_tree(root, skip_contents=()):
    """{relpath: lstat} of everything below `root`; dirs in `skip_contents` are kept empty."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir in skip_contents:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            entries[rel] = os.lstat(os.path.join(root, rel))
    return entries


def _same(a, b):
    keys = ("st_mode", "st_uid", "st_gid", "st_size", "st_mtime_ns", "st_rdev")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


# Pseudo file systems and caches whose contents never belong in an image.
ROOTFS_SKIP_CONTENTS = ("dev", "proc", "sys", "run", "tmp", "var/cache/apt/archives/partial")


def tar_tree(root, out, base=None, skip_contents=ROOTFS_SKIP_CONTENTS):
    """Writes the layer tar of `root`: all of it, or only what differs from `base` (a
    directory `root` was copied from with `cp -a`), with whiteouts for what was removed.
    Returns the number of entries."""
    new = scan_tree(root, skip_contents)
    old = scan_tree(base, skip_contents) if base else {}
    changed = {p for p, st in new.items()
               if p not in old or not _same(st, old[p])
               or (stat.S_ISLNK(st.st_mode)
                   and os.readlink(os.path.join(root, p)) != os.readlink(os.path.join(base, p)))}
    # A hard-link group goes into one layer whole, so links never point to a lower layer.
    groups = {}
    for p, st in new.items():
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            groups.setdefault((st.st_dev, st.st_ino), []).append(p)
    for members in groups.values():
        if changed.intersection(members):
            changed.update(members)
    # Parent directories of changed entries are written too (metadata of the new tree).
    for p in list(changed):
        parent = os.path.dirname(p)
        while parent and parent not in changed:
            changed.add(parent)
            parent = os.path.dirname(parent)
    removed = sorted(p for p in old if p not in new)
    topmost_removed = [p for p in removed if os.path.dirname(p) not in removed]
    for p in topmost_removed:
        parent = os.path.dirname(p)
        while parent and parent not in changed:
            changed.add(parent)
            parent = os.path.dirname(parent)

    tar = LayerTar(out)
    first_of_inode = {}
    whiteouts_by_dir = {}
    for p in topmost_removed:
        whiteouts_by_dir.setdefault(os.path.dirname(p), []).append(p)
    for p in whiteouts_by_dir.get("", []):
        tar.whiteout(p)
    count = len(topmost_removed)
    for p in sorted(changed):
        st = new[p]
        key = (st.st_dev, st.st_ino)
        link = None
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            link = first_of_inode.get(key)
            if link is None:
                first_of_inode[key] = p
        tar.from_fs(root, p, st, hardlink_to=link)
        count += 1
        if stat.S_ISDIR(st.st_mode):
            for w in whiteouts_by_dir.get(p, []):
                tar.whiteout(w)
    tar.close()
    return count


class Layout:
    """An OCI image layout directory being written: blobs first, index.json at save()."""

    def __init__(self, root):
        self.root = root
        self.blobs = os.path.join(root, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs = []

    def _descriptor(self, digest, size, media_type):
        return {"mediaType": media_type, "digest": "sha256:" + digest, "size": size}

    def add_bytes(self, data, media_type):
        digest = sha256_bytes(data)
        path = os.path.join(self.blobs, digest)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)
        return self._descriptor(digest, len(data), media_type)

    def add_json(self, obj, media_type):
        return self.add_bytes(json.dumps(obj, indent=None, separators=(",", ":")).encode(),
                              media_type)

    def add_layer(self, tar_path, compression):
        """Compresses a layer tar into a blob; returns (descriptor, diff_id)."""
        diff_id = "sha256:" + sha256_file(tar_path)
        tmp = os.path.join(self.blobs, "layer.tmp")
        with open(tar_path, "rb") as src, open(tmp, "wb") as dst:
            subprocess.run(COMPRESSORS[compression], stdin=src, stdout=dst, check=True)
        digest = sha256_file(tmp)
        size = os.path.getsize(tmp)
        os.rename(tmp, os.path.join(self.blobs, digest))
        return self._descriptor(digest, size, MEDIA_TYPES[compression]), diff_id

    def add_image(self, layers, config, platform=("linux", "amd64")):
        """`layers`: [(descriptor, diff_id)]; `config`: the image config without rootfs.
        Returns the manifest's descriptor with its platform."""
        config = dict(config)
        config["os"], config["architecture"] = platform[0], platform[1]
        config["rootfs"] = {"type": "layers", "diff_ids": [d for _, d in layers]}
        config_desc = self.add_json(config, MEDIA_TYPES["config"])
        manifest = {"schemaVersion": 2, "mediaType": MEDIA_TYPES["manifest"],
                    "config": config_desc, "layers": [desc for desc, _ in layers]}
        desc = self.add_json(manifest, MEDIA_TYPES["manifest"])
        desc["platform"] = {"architecture": platform[1], "os": platform[0]}
        return desc

    def add_index(self, manifests):
        index = {"schemaVersion": 2, "mediaType": MEDIA_TYPES["index"], "manifests": manifests}
        return self.add_json(index, MEDIA_TYPES["index"])

    def tag(self, descriptor, tag):
        ref = dict(descriptor)
        ref.pop("platform", None)
        ref["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.refs.append(ref)

    def save(self):
        index = {"schemaVersion": 2, "mediaType": MEDIA_TYPES["index"], "manifests": self.refs}
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump(index, f, indent=2)


def image_config(cmd, env=None, labels=None, history=None, workdir="/"):
    """The image config's common part (platform and rootfs are added by add_image)."""
    return {
        "created": FIXED_CREATED,
        "config": {
            "Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": cmd,
            "WorkingDir": workdir,
            "Labels": labels or {},
        },
        "history": [{"created": FIXED_CREATED, "created_by": h} for h in (history or [])],
    }


def make_readable(root):
    """Cache entries are read by non-root tests (local OCI sources): dirs 755, files 644."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


def remove_tree(path):
    if os.path.lexists(path):
        shutil.rmtree(path)
