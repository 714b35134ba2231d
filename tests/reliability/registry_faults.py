#!/usr/bin/env python3
"""Campaign 6 (issue 17): registry faults. A busybox image (gzip and zstd layers) goes into a
private docker-registry; each case puts tests/integration/registry_proxy.py in front of it with
one fault mode and runs `berth pull` through the proxy into a fresh cache. A case passes when

  survived: the pull succeeds, prints the image's manifest digest, the image holds
  /bin/busybox, and the proxy's log shows the fault happened; or
  refused: the pull fails with exactly one error line matching the case's pattern, in
  bounded time, and the cache holds no image, no temporary file and no partial download.

    registry_faults.py --berth BIN [--full] [--only NAME,...] [--table]

--full adds the stalled connection (berth's low-speed timeout is 60 s). Exit status 1 when a
case failed.
"""
import concurrent.futures
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from campaign import cache_state, error_lines, parse_args, short, tree_of  # noqa: E402
from registry import (OCI_LAYER_ZSTD, Layer, Registry, config_for, free_port, gzip_bytes,  # noqa: E402
                      manifest_for, sha256, zstd_bytes, OCI_CONFIG, OCI_MANIFEST)

PROXY = os.path.join(HERE, "..", "integration", "registry_proxy.py")

# name, what, proxy arguments, image tag, expectation ("ok" or the error's regex), the proxy log
# line (regex) that shows the fault happened, full run only
CASES = [
    ("429-retry-after", "429 Too Many Requests with Retry-After: 1 on every first request",
     ["--fault", "429-once"], "gzip", "ok", r" 429$", False),
    ("503-burst", "three 503s in a row for each blob", ["--fault", "503-burst"], "gzip", "ok",
     r"blobs/.* 503$", False),
    ("502-manifest", "502 Bad Gateway on the manifest's first request",
     ["--fault", "manifest-502-once"], "gzip", "ok", r"manifests/.* 502$", False),
    ("500-once", "500 on each blob's first request", ["--fault", "500-once"], "gzip", "ok",
     r"blobs/.* 500$", False),
    ("500-always", "500 on every blob request", ["--fault", "500-always"], "gzip",
     r"HTTP 500", r"blobs/.* 500$", False),
    ("reset-mid-blob", "TCP reset halfway through each blob (first try)", ["--fault", "reset"],
     "gzip", "ok", r" reset$", False),
    ("close-before-answer", "connection closed before any byte (first try)",
     ["--fault", "close-early"], "gzip", "ok", r" closed$", False),
    ("truncated-resume", "blob cut halfway, connection closed (first try): resumed with Range",
     ["--fault", "truncate"], "gzip", "ok", r" 206$", False),
    ("range-ignored", "blob cut halfway and Range ignored on the retry",
     ["--fault", "truncate", "--fault", "norange"], "gzip", "ok", r" truncated$", False),
    ("truncated-always", "every blob answer cut halfway", ["--fault", "truncate-always"], "gzip",
     r"truncated blob", r" truncated$", False),
    ("content-length-long", "Content-Length 100 bytes longer than the body, then close",
     ["--fault", "length-long"], "gzip", "ok", r"length-long$", False),
    ("content-length-short", "Content-Length 100 bytes shorter than the blob (and the body too)",
     ["--fault", "length-short"], "gzip", r"shorter than|truncated blob", r"length-short$", False),
    ("corrupt-gzip", "one byte of the gzip layer flipped in transit",
     ["--fault", "corrupt", "--fault-min-bytes", "4096"],
     "gzip", r"digest mismatch", r"blobs/", False),
    ("corrupt-zstd", "one byte of the zstd layer flipped in transit",
     ["--fault", "corrupt", "--fault-min-bytes", "4096"],
     "zstd", r"digest mismatch", r"blobs/", False),
    ("bearer", "token auth (anonymous Bearer tokens): the baseline", ["--bearer", ":"], "gzip",
     "ok", r"GET /token", False),
    ("401-loop", "401 to every request, even with a valid token", ["--bearer", ":", "--fault",
     "401-loop"], "gzip", r"401|unauthori[sz]ed|authenticat|denied", r" 401$", False),
    ("token-endpoint-down", "the token endpoint answers 503", ["--bearer", ":", "--fault",
     "token-down"], "gzip", r"token|503", r"/token.* 503$", False),
    ("redirect", "blobs redirected (307) to another path of the host", ["--fault", "redirect"],
     "gzip", "ok", r"blobs/.* 307$", False),
    ("redirect-loop", "blobs redirected to themselves forever", ["--fault", "redirect-loop"],
     "gzip", r"redirects", r" 307$", False),
    ("slow", "blobs trickle at 256 KiB/s", ["--fault", "slow"], "gzip", "ok", r"slow end$", False),
    ("registry-down", "nothing listens at the registry's address", None, "gzip",
     r"onnect|refused", None, False),
    ("stalled", "blob stops halfway and the connection stays open, silent",
     ["--fault", "stall"], "gzip", "ok", r" stalled$", True),
]


def push_image(reg):
    """busybox in one layer, as tag gzip and tag zstd; returns {tag: manifest digest}."""
    tar = Layer().dir("bin").file("bin/busybox", open("/bin/busybox", "rb").read(), mode=0o755) \
        .symlink("bin/sh", "busybox").tar_bytes()
    digests = {}
    for tag, compress, media in (("gzip", gzip_bytes, None), ("zstd", zstd_bytes, OCI_LAYER_ZSTD)):
        layer = reg.push_blob("tiny", compress(tar), *(media and [media] or []))
        config = reg.push_blob("tiny", config_for([sha256(tar)]), OCI_CONFIG)
        body = manifest_for(config, [layer])
        status, answer = reg.push_manifest("tiny", tag, body, OCI_MANIFEST)
        if status != 201:
            raise RuntimeError(f"push tiny:{tag}: {status} {answer[:200]!r}")
        digests[tag] = sha256(body)
    return digests


def start_proxy(args, upstream, log):
    port = free_port()
    proc = subprocess.Popen([sys.executable, PROXY, "--listen", f"127.0.0.1:{port}",
                             "--upstream", upstream] + args, stderr=log)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("registry_proxy.py did not start")


def run_case(a, case, reg, digests, work):
    name, what, proxy_args, tag, expect, proxy_line, _ = case
    start = time.time()
    cache = os.path.join(work, "cache-" + name)
    os.makedirs(cache)
    log_path = os.path.join(work, name + ".proxy.log")
    proc = None
    with open(log_path, "w") as log:
        if proxy_args is None:
            host = f"127.0.0.1:{free_port()}"  # nothing listens there
        else:
            proc, host = start_proxy(proxy_args, reg.host, log)
        try:
            pulled = subprocess.run([a.berth, "pull", "--insecure", "--cache", cache,
                                     f"{host}/tiny:{tag}"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, errors="replace",
                                    timeout=600, env=dict(os.environ, BERTH_CONFIG=a.conf))
        finally:
            if proc:
                proc.terminate()
                proc.wait()
    secs = time.time() - start
    proxy_log = open(log_path).read()
    if proxy_line and not re.search(proxy_line, proxy_log, re.M):
        return report(name, what, False, f"the fault did not happen (no /{proxy_line}/ in the "
                      f"proxy's log): {proxy_log[-300:]}", secs)
    if expect == "ok":
        if pulled.returncode != 0:
            return report(name, what, False, f"pull failed: {pulled.stderr[-500:]}", secs)
        lines = pulled.stdout.splitlines()
        if lines[0] != digests[tag]:
            return report(name, what, False, f"digest {lines[0]}, expected {digests[tag]}", secs)
        if "bin/busybox" not in tree_of(lines[1]):
            return report(name, what, False, "the image lacks /bin/busybox", secs)
        return report(name, what, True, "survived", secs)
    errors = error_lines(pulled.stderr)
    if pulled.returncode == 0:
        return report(name, what, False, "pulled, expected an error", secs)
    if len(errors) != 1 or not re.search(expect, errors[0]):
        return report(name, what, False, f"expected one line /{expect}/: {pulled.stderr[-600:]}",
                      secs)
    left = cache_state(cache)
    if left:
        return report(name, what, False, f"the cache changed: {sorted(left)[:4]}", secs)
    return report(name, what, True, "one line: " + short(errors[0]), secs)


def report(name, what, ok, outcome, secs):
    print(f"{'ok' if ok else 'FAIL'} {name}: {outcome} ({secs:.1f} s)", flush=True)
    return (name, ok, what, outcome, secs)


def main():
    a = parse_args()
    work = tempfile.mkdtemp(prefix="berth-faults.")
    a.conf = os.path.join(work, "berth.conf")  # the defaults, whatever the host's says
    open(a.conf, "w").close()
    results = []
    try:
        with Registry(work) as reg:
            digests = push_image(reg)
            only = set(a.only.split(",")) if a.only else None
            chosen = [case for case in CASES if (only is None or case[0] in only)
                      and (a.full or only or not case[6])]
            # Cases are independent (a proxy and a cache each): four at a time.
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                results = list(pool.map(lambda case: run_case(a, case, reg, digests, work), chosen))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in results if not r[1]]
    print(f"{len(results)} registry faults, {len(results) - len(failed)} handled, {len(failed)} failed")
    if a.table:
        for name, ok, what, outcome, secs in results:
            print(f"| {name} | {what} | {outcome} | {secs:.1f} s |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
