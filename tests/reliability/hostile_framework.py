"""The hostile-image campaign's framework (hostile_images.py): cases, and the context that
pushes their images into the private registry."""
import json

from registry import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, Layer, config_for, gzip_bytes, sha256

# Limits of the fast run's berth.conf (the defaults are 1000 layers, 10 M entries, 256 GiB).
FAST_LIMITS = {"max_layers": 100, "max_image_entries": 20000, "max_image_size": "32m"}


class Case:
    def __init__(self, name, what, build, expect, check=None, full_only=False, limits=None):
        self.name, self.what, self.build, self.expect = name, what, build, expect
        self.check, self.full_only, self.limits = check, full_only, limits


CASES = []


def case(name, what, expect, check=None, full_only=False, limits=None):
    """Registers build(ctx) -> reference; expect is 'ok' or a regex of the one error line."""
    def register(build):
        CASES.append(Case(name, what, build, expect, check, full_only, limits))
        return build
    return register


class Ctx:
    """What a case builds with: the registry, the escape marker, helpers to push images."""

    def __init__(self, reg, marker):
        self.reg, self.marker = reg, marker

    def image(self, repo, layers, compress=gzip_bytes, layer_type=OCI_LAYER_GZIP, config=None,
              manifest_type=OCI_MANIFEST, tag="v1", mutate=None):
        """Pushes an image of `layers` (Layer objects or tar bytes, bottom first)."""
        descs, diff_ids = [], []
        for layer in layers:
            tar = layer.tar_bytes() if isinstance(layer, Layer) else layer
            diff_ids.append(sha256(tar))
            descs.append(self.reg.push_blob(repo, compress(tar), layer_type))
        cfg = config if config is not None else config_for(diff_ids)
        cdesc = self.reg.push_blob(repo, cfg, OCI_CONFIG if manifest_type == OCI_MANIFEST
                                   else "application/vnd.docker.container.image.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": manifest_type, "config": cdesc, "layers": descs}
        if mutate:
            mutate(manifest)
        return self.put(repo, tag, json.dumps(manifest).encode(), manifest_type)

    def put(self, repo, tag, body, media_type):
        try:
            status, answer = self.reg.push_manifest(repo, tag, body, media_type)
        except OSError as e:
            raise Refused(f"the registry hung up on the manifest: {e}")
        if status != 201:
            raise Refused(f"the registry refused the manifest: {status} {answer[:160]!r}")
        return f"{self.reg.front}/{repo}:{tag}"

    def serve(self, repo, tag, body, media_type):
        """A manifest the registry would refuse to store, served by the hostile front."""
        self.reg.serve(f"/v2/{repo}/manifests/{tag}", body, media_type)
        return f"{self.reg.front}/{repo}:{tag}"


class Refused(Exception):
    """The registry itself refused to store the hostile input (the case cannot reach berth)."""


def busybox_layer():
    return Layer().dir("bin").file("bin/busybox", open("/bin/busybox", "rb").read(), mode=0o755) \
        .symlink("bin/sh", "busybox")
