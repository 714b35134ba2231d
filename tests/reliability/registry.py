"""A private docker-registry for the reliability campaigns, and raw HTTP pushes into it.

Hostile images go into a registry of their own (a scratch directory, a free port on 127.0.0.1),
never into the test bed's shared one: other tests list and pull that one.

    with Registry(workdir) as reg:
        layer = reg.push_blob("evil", tar_gz_bytes)          # -> descriptor dict
        reg.push_manifest("evil", "v1", manifest_bytes, OCI_MANIFEST)
        reg.serve("/v2/evil/manifests/big", body, OCI_MANIFEST)  # what the registry refuses
        pull from reg.front (a hostile front: the registry's answers, or what serve() set)
"""
import gzip
import hashlib
import http.client
import http.server
import io
import socketserver
import threading
import json
import os
import socket
import subprocess
import tarfile
import time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "registry")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc = None

    def __enter__(self):
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write(f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {self.dir}/storage
http:
  addr: {self.host}
  secret: berth-reliability
""")
        self.log = open(os.path.join(self.dir, "registry.log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self.request("GET", "/v2/")[0] == 200:
                    self.start_front()
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"docker-registry did not start on {self.host} (log: {self.log.name})")

    def start_front(self):
        """A registry that answers what serve() set, else forwards to the real one."""
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                canned = registry.canned.get(self.path)
                if canned:
                    status, headers, body = 200, {"Content-Type": canned[1],
                                                  "Docker-Content-Digest": sha256(canned[0])}, canned[0]
                else:
                    keep = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    status, headers, body = registry.request(self.command, self.path, headers=keep)
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # berth hanging up on a refused answer is what the campaign expects

        self.canned = {}
        self.front_server = Server(("127.0.0.1", 0), Handler)
        self.front = f"127.0.0.1:{self.front_server.server_address[1]}"
        threading.Thread(target=self.front_server.serve_forever, daemon=True).start()

    def serve(self, path, body, media_type):
        self.canned[path] = (body, media_type)

    def __exit__(self, *exc):
        if getattr(self, "front_server", None):
            self.front_server.shutdown()
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def push_blob(self, repo, data, media_type=OCI_LAYER_GZIP):
        """Monolithic upload (POST, then PUT with the digest); returns the descriptor."""
        digest = sha256(data)
        status, _, _ = self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        if status != 200:
            status, headers, body = self.request("POST", f"/v2/{repo}/blobs/uploads/")
            if status != 202:
                raise RuntimeError(f"POST upload {repo}: {status} {body[:200]!r}")
            location = headers["Location"]
            sep = "&" if "?" in location else "?"
            path = location.split(self.host, 1)[-1] + f"{sep}digest={digest}"
            status, _, body = self.request("PUT", path, body=data,
                                           headers={"Content-Type": "application/octet-stream",
                                                    "Content-Length": str(len(data))})
            if status != 201:
                raise RuntimeError(f"PUT blob {repo}: {status} {body[:200]!r}")
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def push_manifest(self, repo, tag, data, media_type):
        """Returns (status, body): the registry may refuse what it finds malformed."""
        status, _, body = self.request("PUT", f"/v2/{repo}/manifests/{tag}", body=data,
                                       headers={"Content-Type": media_type})
        return status, body


# --- layers -----------------------------------------------------------------------------------

class Layer:
    """A tar stream built entry by entry; .blob() gives (compressed bytes, diff_id)."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def add(self, name, type=tarfile.REGTYPE, data=b"", mode=0o644, linkname="", pax=None,
            devmajor=0, devminor=0, uid=0, gid=0):
        info = tarfile.TarInfo(name)
        info.type = type
        info.mode = mode
        info.uid, info.gid = uid, gid
        info.mtime = 1700000000
        info.linkname = linkname
        info.devmajor, info.devminor = devmajor, devminor
        if pax:
            info.pax_headers = dict(pax)
        if type == tarfile.REGTYPE:
            info.size = len(data)
            self.tar.addfile(info, io.BytesIO(data))
        else:
            self.tar.addfile(info)
        return self

    def file(self, name, data=b"x\n", **kw):
        return self.add(name, data=data, **kw)

    def dir(self, name, mode=0o755, **kw):
        return self.add(name, type=tarfile.DIRTYPE, mode=mode, **kw)

    def symlink(self, name, target):
        return self.add(name, type=tarfile.SYMTYPE, linkname=target, mode=0o777)

    def hardlink(self, name, target):
        return self.add(name, type=tarfile.LNKTYPE, linkname=target)

    def raw(self, data):
        """Bytes written into the stream as they are (hand-made headers)."""
        self.tar.fileobj.write(data)
        self.tar.offset += len(data)
        return self

    def tar_bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def gzip_bytes(data, level=6):
    return gzip.compress(data, compresslevel=level, mtime=0)


def zstd_bytes(data):
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def config_for(diff_ids, extra=None):
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": list(diff_ids)}}
    if extra:
        config.update(extra)
    return json.dumps(config).encode()


def manifest_for(config_desc, layer_descs, media_type=OCI_MANIFEST, extra=None):
    m = {"schemaVersion": 2, "mediaType": media_type, "config": config_desc, "layers": layer_descs}
    if extra:
        m.update(extra)
    return json.dumps(m).encode()
