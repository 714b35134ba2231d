#!/usr/bin/env python3
"""Campaign 3 (issue 17): hostile images. Each case pushes a crafted image (layers, config,
manifest or index) into a private registry by raw HTTP and runs `berth pull` on it. A case
passes when berth either

  rejects it: exit status non-zero, exactly one `berth: error` line on stderr matching the
  case's pattern, and the cache's images and index exactly as before the pull; or
  neutralises it: the pull succeeds and the image's tree (rdsquashfs -d) shows the hostile
  entry dropped, moved inside the image or defused, as the case says;

and, in both, nothing appears outside the cache (every escape aims at a marker directory that
must stay absent). Limits the fast run tests are set low in a berth.conf of its own (the same
keys a site sets); --full also runs the cases at full scale (1 M entries, 10,000 distinct
layers, a 4 GiB compression bomb) against the default limits.

    hostile_images.py --berth BIN [--full] [--only NAME,...] [--table]

Prints one line per case ("ok NAME: what (seconds)" or "FAIL NAME: why") and a summary; --table
prints the Markdown rows of docs/reliability.md. Exit status 1 when a case failed.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from campaign import cache_state, error_lines, parse_args, short, tree_of  # noqa: E402
from registry import (DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP,  # noqa: E402
                      OCI_LAYER_TAR, OCI_LAYER_ZSTD, OCI_MANIFEST, Layer, Registry, config_for,
                      gzip_bytes, manifest_for, sha256, zstd_bytes)

from hostile_framework import FAST_LIMITS, CASES, Ctx, Refused, busybox_layer, case  # noqa: E402,F401


# --- paths ------------------------------------------------------------------------------------

@case("dotdot", "`../../..` file path", "ok")
def _(ctx):
    return ctx.image("dotdot", [Layer().file("ok").file(f"../../../../../../..{ctx.marker}/dotdot")])


def check_dotdot(tree, ctx):
    return "ok" in tree and not any("dotdot" in p for p in tree)


CASES[-1].check = check_dotdot


@case("absolute", "absolute path /MARKER/abs", "ok",
      check=lambda tree, ctx: ctx.marker.lstrip("/") + "/abs" in tree)
def _(ctx):
    return ctx.image("absolute", [Layer().file(f"{ctx.marker}/abs")])


@case("dotdot-middle", "`a/../../x` in the middle of a path", "ok",
      check=lambda tree, ctx: not any("mid" in p for p in tree))
def _(ctx):
    return ctx.image("dotdotmid", [Layer().dir("a").file(f"a/../../..{ctx.marker}/mid")])


@case("long-name", "a 300-byte name", "ok", check=lambda tree, ctx: "short" in tree and len(tree) < 6)
def _(ctx):
    return ctx.image("longname", [Layer().file("short").file("n" * 300)])


@case("path-4096", "a 4,096-byte path (2,048 levels deep)", "ok",
      check=lambda tree, ctx: not any(len(p) >= 4096 for p in tree))
def _(ctx):
    return ctx.image("path4096", [Layer().file("a/" * 2047 + "zz")])


@case("deep-2047", "the deepest legal path: 2,047 directories, 4,095 bytes", "ok",
      check=lambda tree, ctx: ("a/" * 2047 + "f") in tree)
def _(ctx):
    return ctx.image("deep2047", [Layer().file("a/" * 2047 + "f")])


@case("deep-dirs-many-layers", "4,096 levels of directories spread over 4 layers", "ok",
      check=lambda tree, ctx: not any(len(p) > 4095 for p in tree))
def _(ctx):
    layers = []
    for i in range(4):
        layer = Layer()
        layer.file("b/" * (1024 * (i + 1) - 1) + f"f{i}")
        layers.append(layer)
    return ctx.image("deeplayers", layers)


# --- links ------------------------------------------------------------------------------------

def inside(path):
    """A check: PATH is in the image (a write through a link landed inside the root)."""
    return lambda tree, ctx: path.format(m=ctx.marker.lstrip("/")) in tree


@case("symlink-abs-then-write", "layer 1: dir -> /MARKER; layer 2 writes dir/file", "ok",
      check=inside("{m}/through-abs"))
def _(ctx):
    return ctx.image("symabs", [Layer().symlink("evil", ctx.marker),
                                Layer().file("evil/through-abs")])


@case("symlink-rel-then-write", "layer 1: dir -> ../../../MARKER; layer 2 writes dir/file", "ok",
      check=inside("{m}/through-rel"))
def _(ctx):
    return ctx.image("symrel", [Layer().symlink("evil", "../../../../../.." + ctx.marker),
                                Layer().file("evil/through-rel")])


@case("symlink-same-layer", "dir -> /MARKER and dir/file in one layer", "ok",
      check=inside("{m}/same-layer"))
def _(ctx):
    return ctx.image("symsame", [Layer().symlink("evil", ctx.marker).file("evil/same-layer")])


@case("symlink-chain", "a -> b, b -> /MARKER, then a/file", "ok", check=inside("{m}/chain"))
def _(ctx):
    return ctx.image("symchain", [Layer().symlink("b", ctx.marker).symlink("a", "b"),
                                  Layer().file("a/chain")])


@case("symlink-proc-root", "dir -> /proc/self/root/MARKER, then dir/file", "ok",
      check=inside("proc/self/root/{m}/procroot"))
def _(ctx):
    return ctx.image("symproc", [Layer().symlink("evil", "/proc/self/root" + ctx.marker),
                                 Layer().file("evil/procroot")])


@case("symlink-loop", "a -> b, b -> a, then a/file", "ok")
def _(ctx):
    return ctx.image("symloop", [Layer().symlink("a", "b").symlink("b", "a"), Layer().file("a/x")])


@case("hardlink-dotdot", "hard link to ../../etc/shadow", "ok",
      check=lambda tree, ctx: "hl" not in tree)
def _(ctx):
    return ctx.image("hldotdot", [Layer().file("f").hardlink("hl", "../../../../etc/shadow")])


@case("hardlink-absolute-missing", "hard link to /etc/shadow (not in the image)", "ok",
      check=lambda tree, ctx: "hl" not in tree)
def _(ctx):
    return ctx.image("hlabs", [Layer().file("f").hardlink("hl", "/etc/shadow")])


@case("hardlink-through-symlink", "layer 1: d -> /etc; layer 2: hard link to d/shadow", "ok",
      check=lambda tree, ctx: "hl" not in tree)
def _(ctx):
    return ctx.image("hlsym", [Layer().symlink("d", "/etc"), Layer().hardlink("hl", "d/shadow")])


@case("whiteout-through-symlink", "layer 1: d -> /MARKER; layer 2: d/.wh.x deletes through it",
      "ok", check=lambda tree, ctx: "keep" in tree)
def _(ctx):
    return ctx.image("whsym", [Layer().file("keep").symlink("d", ctx.marker),
                               Layer().file("d/.wh.x").file("d/.wh..wh..opq")])


@case("whiteout-dotdot", "whiteout `.wh...` and `../.wh.etc`", "ok",
      check=lambda tree, ctx: "f" in tree)
def _(ctx):
    return ctx.image("whdotdot", [Layer().file("f"), Layer().file(".wh...").file("../.wh.etc")])


# --- special files and privileges ------------------------------------------------------------

@case("devices", "char device 1,1 (/dev/mem), block device 8,0, a fifo", "ok",
      check=lambda tree, ctx: tree.get("mem") is None and tree.get("sda") is None
      and tree.get("fifo", ("",))[0] == "pipe")
def _(ctx):
    return ctx.image("devices", [Layer().add("mem", tarfile.CHRTYPE, devmajor=1, devminor=1)
                                 .add("sda", tarfile.BLKTYPE, devmajor=8, devminor=0)
                                 .add("fifo", tarfile.FIFOTYPE)])


def mode_of(tree, path):
    entry = tree.get(path)
    return int(entry[1], 8) if entry else None


@case("setuid-kept-inert", "setuid root and setgid files (kept: images mount nosuid)", "ok",
      check=lambda tree, ctx: mode_of(tree, "su") == 0o4755 and mode_of(tree, "sg") == 0o2755)
def _(ctx):
    return ctx.image("setuid", [Layer().file("su", mode=0o4755).file("sg", mode=0o2755)])


@case("setuid-stripped", "the same with berth.conf strip_setuid = true", "ok",
      check=lambda tree, ctx: mode_of(tree, "su") == 0o755 and mode_of(tree, "sg") == 0o755,
      limits={"strip_setuid": "true"})
def _(ctx):
    # Not the image above (the cache would serve that one, converted without stripping).
    return ctx.image("setuidstrip", [Layer().file("su", mode=0o4755).file("sg", mode=0o2755)
                                     .file("stripped")])


# security.capability = cap_sys_admin (vfs_cap_data v2, effective): bytes all below 0x80, so
# the PAX header stays plain UTF-8.
CAP_SYS_ADMIN = "\x01\x00\x00\x02\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"


@case("capability-stripped", "security.capability xattr with strip_setuid = true", "ok",
      check=lambda tree, ctx: "security.capability" not in xattrs(ctx, "/capfile"),
      limits={"strip_setuid": "true"})
def _(ctx):
    return ctx.image("capstrip", [Layer().file("capfile", pax={
        "SCHILY.xattr.security.capability": CAP_SYS_ADMIN})])


@case("capability-kept-inert", "security.capability xattr (kept: nosuid ignores it)", "ok")
def _(ctx):
    return ctx.image("capkept", [Layer().file("capfile", pax={
        "SCHILY.xattr.security.capability": CAP_SYS_ADMIN,
        "SCHILY.xattr.trusted.overlay.opaque": "y"})])


@case("metadata-shadowed", "a layer ships /.berth/config.json of its own", "ok",
      check=lambda tree, ctx: "evil" not in ctx.cat("/.berth/config.json"))
def _(ctx):
    return ctx.image("berthdir", [Layer().dir(".berth").file(".berth/config.json", b'{"evil":1}')])


@case("root-dir-world-writable", "the root directory entry `./` mode 0777, owner 1000", "ok")
def _(ctx):
    return ctx.image("rootmode", [Layer().dir("./", mode=0o777, uid=1000).file("f")])


# --- sizes and counts -------------------------------------------------------------------------

def many_entries(n):
    layer = Layer()
    for d in range(0, n, 1000):
        layer.dir(f"d{d}")
        for i in range(d, min(n, d + 1000) - 1):
            layer.file(f"d{d}/f{i}", b"")
    return layer


@case("entries-over-limit", "25,000 entries (fast run's max_image_entries 20,000)",
      "more than 20000 entries.*max_image_entries")
def _(ctx):
    return ctx.image("entries", [many_entries(25000)])


@case("entries-1M", "1,000,000 entries against the default limit", "ok", full_only=True)
def _(ctx):
    return ctx.image("entries1m", [many_entries(1000000)])


def zeros_layer(name, size):
    """A tar with one file of `size` zero bytes, written without holding it in memory twice."""
    layer = Layer()
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 1700000000

    class Zeros:
        def __init__(self, n):
            self.left = n

        def read(self, k=-1):
            k = self.left if k < 0 else min(k, self.left)
            self.left -= k
            return bytes(k)

    layer.tar.addfile(info, Zeros(size))
    return layer


@case("gzip-bomb", "gzip bomb: 64 MiB of zeros in 280 KiB (fast run's max_image_size 32m)",
      "more than 33554432 bytes uncompressed.*max_image_size")
def _(ctx):
    return ctx.image("gzbomb", [zeros_layer("bomb", 64 << 20)], compress=lambda d: gzip_bytes(d, 1))


@case("zstd-bomb", "zstd bomb: 64 MiB of zeros in 2 KiB", "more than 33554432 bytes.*max_image_size")
def _(ctx):
    return ctx.image("zstdbomb", [zeros_layer("bomb", 64 << 20)], compress=zstd_bytes,
                     layer_type=OCI_LAYER_ZSTD)


@case("declared-1TiB", "a tar header declaring a 1 TiB file (no data follows)",
      "more than 33554432 bytes.*max_image_size")
def _(ctx):
    info = tarfile.TarInfo("huge")
    info.size = 1 << 40
    tar = info.tobuf(tarfile.PAX_FORMAT)
    return ctx.image("declared", [tar])


@case("gzip-bomb-4G", "gzip bomb: 4 GiB of zeros against the default 256 GiB limit", "ok",
      full_only=True)
def _(ctx):
    return ctx.image("gzbomb4g", [zeros_layer("bomb", 4 << 30)], compress=lambda d: gzip_bytes(d, 1))


@case("trailing-bomb", "64 MiB of zeros after the tar's end (decompressed only to hash)", "ok")
def _(ctx):
    tar = Layer().file("f").tar_bytes() + bytes(64 << 20)
    return ctx.image("trailing", [tar])


@case("layers-10000-same", "10,000 layers (one blob listed 10,000 times)",
      "10000 layers, more than 100.*max_layers")
def _(ctx):
    tar = Layer().file("f").tar_bytes()
    blob = gzip_bytes(tar)
    desc = ctx.reg.push_blob("layers10k", blob)
    cdesc = ctx.reg.push_blob("layers10k", config_for([sha256(tar)] * 10000), OCI_CONFIG)
    return ctx.put("layers10k", "v1", manifest_for(cdesc, [desc] * 10000), OCI_MANIFEST)


@case("layers-10000-distinct", "10,000 distinct layers against the default limit (1,000)",
      "10000 layers, more than 1000.*max_layers", full_only=True)
def _(ctx):
    layers = [Layer().file(f"f{i}") for i in range(10000)]
    return ctx.image("layers10kd", layers)


@case("manifest-5MiB", "a 5 MiB manifest (annotations)", "larger than 4194304 bytes")
def _(ctx):
    tar = Layer().file("f").tar_bytes()
    ctx.image("bigmanifest", [tar], tag="small")
    _, _, body = ctx.reg.request("GET", "/v2/bigmanifest/manifests/small",
                                 headers={"Accept": OCI_MANIFEST})
    m = json.loads(body)
    m["annotations"] = {"pad": "x" * (5 << 20)}
    return ctx.serve("bigmanifest", "v1", json.dumps(m).encode(), OCI_MANIFEST)


@case("config-65MiB", "a 65 MiB image config", "too large")
def _(ctx):
    tar = Layer().file("f").tar_bytes()
    cfg = json.loads(config_for([sha256(tar)]))
    cfg["pad"] = "x" * (65 << 20)
    return ctx.image("bigconfig", [tar], config=json.dumps(cfg).encode())


@case("index-5MiB", "a 5 MiB index (50,000 entries)", "larger than 4194304 bytes")
def _(ctx):
    ref = ctx.image("bigindex", [Layer().file("f")], tag="inner")
    status, headers, body = ctx.reg.request("HEAD", "/v2/bigindex/manifests/inner",
                                            headers={"Accept": OCI_MANIFEST})
    digest = headers.get("Docker-Content-Digest")
    entry = {"mediaType": OCI_MANIFEST, "digest": digest, "size": int(headers["Content-Length"]),
             "platform": {"architecture": "arm", "os": "linux", "variant": "v9"}}
    entries = [entry] * 50000
    del ref
    return ctx.serve("bigindex", "v1", json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                   "manifests": entries}).encode(), OCI_INDEX)


def manifest_digest(ctx, repo, tag, media_type):
    _, headers, _ = ctx.reg.request("HEAD", f"/v2/{repo}/manifests/{tag}",
                                    headers={"Accept": media_type})
    return {"mediaType": media_type, "digest": headers["Docker-Content-Digest"],
            "size": int(headers["Content-Length"]),
            "platform": {"architecture": "amd64", "os": "linux"}}


@case("index-in-index", "an index whose amd64 entry is another index",
      "an index inside an index|no image for platform")
def _(ctx):
    ctx.image("nested", [Layer().file("f")], tag="leaf")
    inner = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [manifest_digest(ctx, "nested", "leaf", OCI_MANIFEST)]}
    ctx.put("nested", "inner", json.dumps(inner).encode(), OCI_INDEX)
    outer = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [manifest_digest(ctx, "nested", "inner", OCI_INDEX)]}
    return ctx.put("nested", "v1", json.dumps(outer).encode(), OCI_INDEX)


@case("index-self-tag", "an index pointing at a tag-sized loop (its entry names itself by tag)",
      "digest|not valid|malformed|invalid")
def _(ctx):
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_INDEX, "digest": "v1", "size": 10,
                           "platform": {"architecture": "amd64", "os": "linux"}}]}
    return ctx.put("loop", "v1", json.dumps(body).encode(), OCI_INDEX)


# --- wrong sizes, digests, media types -------------------------------------------------------

@case("layer-size-short", "a layer descriptor one byte short of the blob",
      "expected|size|bytes")
def _(ctx):
    return ctx.image("sizeshort", [Layer().file("f")],
                     mutate=lambda m: m["layers"][0].update(size=m["layers"][0]["size"] - 1))


# Open finding (docs/reliability.md): ~40 s of retries, and a .partial stays in blobs/.
@case("layer-size-long", "a layer descriptor 1 MiB longer than the blob", "expected|size|bytes",
      full_only=True)
def _(ctx):
    return ctx.image("sizelong", [Layer().file("size-long")],
                     mutate=lambda m: m["layers"][0].update(size=m["layers"][0]["size"] + (1 << 20)))


@case("diff-id-wrong", "the config's diff_id of another tar", "diff_id.*mismatch|digest mismatch")
def _(ctx):
    tar = Layer().file("diff-id").tar_bytes()
    other = Layer().file("g").tar_bytes()
    return ctx.image("diffid", [tar], config=config_for([sha256(other)]))


@case("diff-id-count", "two layers, one diff_id", "diff_ids for 2 layers")
def _(ctx):
    a, b = Layer().file("a").tar_bytes(), Layer().file("b").tar_bytes()
    return ctx.image("diffcount", [a, b], config=config_for([sha256(a)]))


@case("layer-not-tar", "a layer of random bytes labelled tar+gzip", "layer")
def _(ctx):
    junk = os.urandom(4096)
    return ctx.image("junk", [junk], compress=lambda d: d, config=config_for([sha256(junk)]))


@case("layer-truncated-gzip", "a gzip layer cut in half (digest of the cut blob)", "layer")
def _(ctx):
    tar = Layer().file("f", os.urandom(100000)).tar_bytes()
    return ctx.image("cutgz", [tar], compress=lambda d: gzip_bytes(d)[:20000])


@case("mislabelled-compression", "a zstd layer labelled tar+gzip, a gzip layer labelled tar",
      "ok", check=lambda tree, ctx: "z" in tree and "g" in tree)
def _(ctx):
    z, g = Layer().file("z").tar_bytes(), Layer().file("g").tar_bytes()
    zd = ctx.reg.push_blob("mislabel", zstd_bytes(z), OCI_LAYER_GZIP)
    gd = ctx.reg.push_blob("mislabel", gzip_bytes(g), OCI_LAYER_TAR)
    cd = ctx.reg.push_blob("mislabel", config_for([sha256(z), sha256(g)]), OCI_CONFIG)
    return ctx.put("mislabel", "v1", manifest_for(cd, [zd, gd]), OCI_MANIFEST)


@case("config-as-layer", "the config blob listed as a layer", "layer")
def _(ctx):
    cfg = config_for([sha256(b"")])
    cd = ctx.reg.push_blob("cfglayer", cfg, OCI_CONFIG)
    ld = dict(cd, mediaType=OCI_LAYER_GZIP)
    return ctx.put("cfglayer", "v1", manifest_for(cd, [ld]), OCI_MANIFEST)


@case("layer-type-as-config", "a config descriptor of a layer media type (an artifact)",
      "media type.*config|not a container image")
def _(ctx):
    tar = Layer().file("f").tar_bytes()
    return ctx.image("layercfg", [tar], mutate=lambda m: m["config"].update(mediaType=OCI_LAYER_GZIP))


@case("helm-chart", "an OCI artifact (Helm chart config and layer types)",
      "media type|not a container image")
def _(ctx):
    tar = Layer().file("Chart.yaml").tar_bytes()
    return ctx.image("helm", [tar], mutate=lambda m: (
        m["config"].update(mediaType="application/vnd.cncf.helm.config.v1+json"),
        m["layers"][0].update(mediaType="application/vnd.cncf.helm.chart.content.v1.tar+gzip")))


@case("docker-list-as-manifest", "a Docker manifest list whose entry is a Docker v2 manifest "
      "with OCI layers", "ok")
def _(ctx):
    ctx.image("mixed", [Layer().file("f")], manifest_type=DOCKER_MANIFEST, tag="leaf")
    lst = {"schemaVersion": 2, "mediaType": DOCKER_LIST,
           "manifests": [manifest_digest(ctx, "mixed", "leaf", DOCKER_MANIFEST)]}
    return ctx.put("mixed", "v1", json.dumps(lst).encode(), DOCKER_LIST)


@case("foreign-url-plain-http", "a foreign layer whose `urls` name a plain-HTTP host", "ok")
def _(ctx):
    tar = Layer().file("f").tar_bytes()
    foreign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    ctx.image("foreign", [tar], manifest_type=DOCKER_MANIFEST, tag="plain")
    _, _, body = ctx.reg.request("GET", "/v2/foreign/manifests/plain",
                                 headers={"Accept": DOCKER_MANIFEST})
    m = json.loads(body)
    m["layers"][0].update(mediaType=foreign, urls=["http://127.0.0.1:9/metadata", "file:///etc/shadow"])
    # The registry refuses foreign URLs it does not allow: the hostile front serves it.
    return ctx.serve("foreign", "v1", json.dumps(m).encode(), DOCKER_MANIFEST)


@case("empty-manifest", "a manifest with no layers at all", "ok",
      check=lambda tree, ctx: set(tree) <= {".berth", ".berth/config.json", ".berth/source.json"})
def _(ctx):
    return ctx.image("nolayers", [])


# --- the driver -------------------------------------------------------------------------------

def xattrs(ctx, path):
    return subprocess.run(["rdsquashfs", "-x", path, ctx.image_path], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, errors="replace").stdout


def main():
    a = parse_args([("--keep", {"action": "store_true"}),
                     ("--no-limits", {"action": "store_true",
                                      "help": "write no limits into berth.conf"})])
    work = tempfile.mkdtemp(prefix="berth-hostile.")
    marker = os.path.join(tempfile.gettempdir(), f"berth-hostile-escape-{os.getpid()}")
    cache = os.path.join(work, "cache")
    results = []
    try:
        with Registry(work) as reg:
            ctx = Ctx(reg, marker)
            only = set(a.only.split(",")) if a.only else None
            for c in CASES:
                if only is not None and c.name not in only:
                    continue
                if c.full_only and not a.full and only is None:
                    continue
                results.append(run_case(a, c, ctx, cache, work, full=a.full and c.full_only))
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    escaped = os.path.lexists(marker)
    failed = [r for r in results if not r[1]]
    if escaped:
        print(f"FAIL: {marker} exists: a hostile image wrote outside the cache")
    print(f"{len(results)} hostile images, {len(results) - len(failed)} handled, {len(failed)} failed")
    if a.table:
        for name, ok, what, outcome, secs in results:
            print(f"| {name} | {what} | {outcome} | {secs:.1f} s |")
    sys.exit(1 if failed or escaped else 0)


def run_case(a, c, ctx, cache, work, full):
    start = time.time()
    try:
        ref = c.build(ctx)
    except Refused as e:
        return report(c, True, f"refused by the registry itself ({e})", start)
    conf = os.path.join(work, f"{c.name}.conf")
    limits = {} if full or a.no_limits else dict(FAST_LIMITS)
    limits.update(c.limits or {})
    with open(conf, "w") as f:
        f.writelines(f"{k} = {v}\n" for k, v in limits.items())
    before = cache_state(cache) if os.path.isdir(cache) else {}
    env = dict(os.environ, BERTH_CONFIG=conf)
    pulled = subprocess.run([a.berth, "pull", "--insecure", "--cache", cache, ref], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", timeout=1800)
    secs = time.time() - start
    errors = error_lines(pulled.stderr)
    if c.expect != "ok":
        if pulled.returncode == 0:
            return report(c, False, f"pulled, expected /{c.expect}/: {pulled.stderr[-300:]}", start)
        if len(errors) != 1 or not re.search(c.expect, errors[0]):
            return report(c, False, f"expected one error line /{c.expect}/, got: {pulled.stderr[-600:]}",
                          start)
        after = cache_state(cache) if os.path.isdir(cache) else {}
        if after != before:
            changed = sorted(set(after.items()) ^ set(before.items()))
            return report(c, False, f"cache changed by a rejected pull: {changed[:4]}", start)
        return report(c, True, "rejected: " + short(errors[0]), start)
    if pulled.returncode != 0:
        return report(c, False, f"pull failed: {pulled.stderr[-600:]}", start)
    ctx.image_path = pulled.stdout.split("\n")[1].strip()
    ctx.cat = lambda path: subprocess.run(["rdsquashfs", "-c", path, ctx.image_path],
                                          stdout=subprocess.PIPE, text=True).stdout
    tree = tree_of(ctx.image_path)
    if c.check and not c.check(tree, ctx):
        sample = sorted(tree)[:12]
        return report(c, False, f"image not neutralised: {sample} {pulled.stderr[-300:]}", start)
    warnings = [l for l in pulled.stderr.splitlines() if "warning" in l]
    note = ("; warned: " + warnings[0].split("warning: ", 1)[-1][:120]) if warnings else ""
    del secs
    return report(c, True, f"neutralised ({len(tree)} entries){note}", start)


def report(c, ok, outcome, start):
    secs = time.time() - start
    print(f"{'ok' if ok else 'FAIL'} {c.name}: {outcome} ({secs:.1f} s)", flush=True)
    return (c.name, ok, c.what, outcome, secs)


if __name__ == "__main__":
    main()
