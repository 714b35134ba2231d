"""Builds one test image from its recipe (tests/data/images/NAME.py) as an OCI layout.

    build.py key NAME            prints the cache key of NAME's recipe and inputs
    build.py build NAME OUTDIR   writes the OCI layout of NAME into OUTDIR (must not exist)

A recipe module defines:
    TAGS      the tags its layout holds, e.g. ["latest", "zstd"]
    DEPENDS   other files of tests/data/images/ whose text is part of the key (optional)
    inputs(ctx) -> [str]   what else the result depends on (package versions, checksums)
    build(ctx, layout_dir, work_dir)
The key is the sha256 of this file, oci.py, the recipe's text, its DEPENDS and inputs().
"""

import hashlib
import importlib.util
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
RECIPES = os.path.join(TOP, "tests", "data", "images")
sys.path.insert(0, HERE)
sys.path.insert(0, RECIPES)

import oci  # noqa: E402


class Context:
    """What recipes may use: the source tree, the cache, and other images' layouts."""

    def __init__(self):
        self.top = TOP
        self.recipes = RECIPES
        self.cache = os.environ.get("BERTH_TEST_IMAGE_CACHE", "/var/cache/berth-test-images")

    def current_layout(self, name):
        """The finished layout of another image (the driver builds dependencies first)."""
        path = os.path.join(self.cache, "current", name)
        if not os.path.isdir(path):
            raise SystemExit(f"build.py: image {name} must be built first ({path} missing)")
        return os.path.realpath(path)


def load_recipe(name):
    path = os.path.join(RECIPES, name + ".py")
    spec = importlib.util.spec_from_file_location("recipe_" + name.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.PATH = path
    return module


def recipe_key(name, ctx):
    recipe = load_recipe(name)
    h = hashlib.sha256()
    files = [__file__, oci.__file__, recipe.PATH]
    files += [os.path.join(RECIPES, d) for d in getattr(recipe, "DEPENDS", [])]
    for path in files:
        h.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read() + b"\0")
    for item in recipe.inputs(ctx):
        h.update(item.encode() + b"\0")
    return h.hexdigest()[:16]


def main(argv):
    ctx = Context()
    if len(argv) == 3 and argv[1] == "key":
        print(recipe_key(argv[2], ctx))
    elif len(argv) == 4 and argv[1] == "build":
        name, out = argv[2], argv[3]
        recipe = load_recipe(name)
        work_parent = os.environ.get("BERTH_IMAGE_WORK_DIR") or os.path.dirname(out)
        with tempfile.TemporaryDirectory(prefix=f".work-{name}-", dir=work_parent) as work:
            layout_dir = out
            os.makedirs(layout_dir)
            recipe.build(ctx, layout_dir, work)
        oci.make_readable(out)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
