"""What the reliability campaigns share: reading berth's stderr and images, the cache's state."""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys

PROGRESS = re.compile(r"^berth: (converting|resolving|[a-z0-9]+:[0-9a-f]{12} .* in [0-9.]+ s)|warning")


def error_lines(stderr):
    """stderr without progress and warning lines: a refusal leaves exactly one."""
    return [line for line in stderr.splitlines() if line.strip() and not PROGRESS.search(line)]


def short(line):
    """The end of an error line (what went wrong, after the contexts)."""
    line = re.sub(r"/tmp/berth-hostile\.[^/ ]+/", "", line)
    line = re.sub(r"sha256:([0-9a-f]{12})[0-9a-f]{52}", r"sha256:\1", line)
    return line[-170:] if len(line) > 170 else line


def tree_of(image):
    """{path: (type, mode, uid, gid, rest)} from rdsquashfs -d."""
    out = subprocess.run(["rdsquashfs", "-d", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         check=True, text=True, errors="replace").stdout
    tree = {}
    for line in out.splitlines():
        m = re.match(r'(\w+) ("(?:[^"\\]|\\.)*"|\S+) (\d+) (\d+) (\d+)\s*(.*)', line)
        if m:
            path = m.group(2).strip('"')
            tree[path] = (m.group(1), m.group(3), m.group(4), m.group(5), m.group(6))
    return tree


def cache_state(cache):
    """What a failed pull must leave as it was: every file of the cache but verified blobs and
    lock files (images, the index, temporary files, partial downloads), with its contents."""
    state = {}
    for top, _, files in os.walk(cache):
        for name in files:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, cache)
            if rel.startswith("locks" + os.sep) or (rel.startswith("blobs" + os.sep)
                                                    and not name.endswith(".partial")):
                continue
            with open(path, "rb") as f:
                state[rel] = hashlib.sha256(f.read()).hexdigest()
    return state


def parse_args(extra=()):
    """The options every campaign takes (--berth, --full, --only, --table), plus `extra`
    (name, kwargs) pairs; exits 77 (skipped) when a tool the campaigns use is missing."""
    p = argparse.ArgumentParser()
    p.add_argument("--berth", default=os.environ.get("BERTH_BIN"))
    p.add_argument("--full", action="store_true")
    p.add_argument("--only")
    p.add_argument("--table", action="store_true")
    for name, kwargs in extra:
        p.add_argument(name, **kwargs)
    a = p.parse_args()
    if not a.berth:
        sys.exit("--berth or BERTH_BIN is needed")
    for tool in ("docker-registry", "rdsquashfs", "zstd"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} is not installed")
            sys.exit(77)
    return a
