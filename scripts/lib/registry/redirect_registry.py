#!/usr/bin/env python3
"""The test bed's redirecting registry: blobs come from "object storage" on another host.

Registries backed by S3, GCS or Cloudflare R2 (Docker Hub, ghcr.io, ECR, quay.io) answer a blob
GET with a redirect to a pre-signed URL on the storage service. This plays both parts, over
HTTPS with the test bed's certificate:

  registry (--listen, 127.0.0.1:PORT): forwards every request to --upstream (the test bed's
      token registry, so every request carries an Authorization header) and relays the answer,
      except a blob GET the upstream would serve (200): that is answered
      `307 Location: https://BLOBSTORE/blobs/sha256/HEX?expires=T&signature=HMAC`.
  blob store (--blob-store, 127.0.0.2:PORT, another host and port): serves the blob files of
      the registry storage (--storage), honouring Range. Like S3, it refuses a request that
      carries an Authorization header (400, "Only one auth mechanism allowed") besides the
      URL's signature, and one whose signature is wrong or expired (403).

Logs (one line per request):
  --log        registry:   "GET /v2/tiny/blobs/sha256:... 307 -> https://127.0.0.2:PORT/..."
  --blob-log   blob store: "GET /blobs/sha256/HEX authorization=absent range=bytes=0- 200"
               (authorization=PRESENT marks a client that leaked its registry credentials;
               every request header name is listed after "headers=")
"""
import argparse
import hashlib
import hmac
import http.client
import http.server
import os
import re
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

args = None
secret = os.urandom(16)
log_lock = threading.Lock()
BLOB_RE = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def log(path, line):
    with log_lock, open(path, "a") as f:
        f.write(line + "\n")


def signature(path, expires):
    return hmac.new(secret, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()


class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class RegistryHandler(Base):
    def upstream(self):
        context = ssl.create_default_context(cafile=args.ca)
        return http.client.HTTPSConnection(args.upstream, timeout=60, context=context)

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path = urllib.parse.urlsplit(self.path).path
        blob = BLOB_RE.match(path)
        # A blob GET asks the upstream only whether it would serve it (auth, existence).
        method = "HEAD" if blob and self.command == "GET" else self.command
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        headers.pop("Range", None) if method == "HEAD" else None
        conn = self.upstream()
        conn.request(method, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_HEADERS]
        if blob and self.command == "GET" and resp.status == 200:
            digest = blob.group(2)
            target = f"/blobs/sha256/{digest[7:]}"
            expires = int(time.time()) + 300
            location = (f"https://{args.blob_store}{target}?expires={expires}"
                        f"&signature={signature(target, expires)}")
            self.send(307, b"", [("Location", location), ("Docker-Content-Digest", digest)])
            log(args.log, f"{self.command} {self.path} 307 -> {location.split('?')[0]}")
            return
        self.send(resp.status, data if self.command != "HEAD" else b"", out)
        log(args.log, f"{self.command} {self.path} {resp.status}")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


class BlobStoreHandler(Base):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        names = ",".join(sorted(k.lower() for k in self.headers.keys()))
        auth = "PRESENT" if "Authorization" in self.headers else "absent"
        rng = self.headers.get("Range", "-")

        def done(status, body=b"", headers=()):
            self.send(status, body, headers)
            log(args.blob_log, f"{self.command} {url.path} authorization={auth} range={rng} "
                               f"{status} headers={names}")

        if auth == "PRESENT":
            return done(400, b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism "
                             b"allowed</Message></Error>")
        expires = query.get("expires", ["0"])[0]
        if (not hmac.compare_digest(query.get("signature", [""])[0], signature(url.path, expires))
                or int(expires) < time.time()):
            return done(403, b"<Error><Code>AccessDenied</Code></Error>")
        m = re.match(r"^/blobs/sha256/([0-9a-f]{64})$", url.path)
        path = m and os.path.join(args.storage, "docker/registry/v2/blobs/sha256",
                                  m.group(1)[:2], m.group(1), "data")
        if not path or not os.path.isfile(path):
            return done(404, b"<Error><Code>NoSuchKey</Code></Error>")
        size = os.path.getsize(path)
        start = 0
        r = re.match(r"^bytes=(\d+)-$", rng)
        status, headers = 200, [("Content-Type", "application/octet-stream")]
        if r and int(r.group(1)) < size:
            start = int(r.group(1))
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{size - 1}/{size}"))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        if self.command == "GET":
            with open(path, "rb") as f:
                f.seek(start)
                while chunk := f.read(1 << 20):
                    self.wfile.write(chunk)
        log(args.blob_log, f"{self.command} {url.path} authorization={auth} range={rng} "
                           f"{status} headers={names}")

    do_HEAD = do_GET


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(address, handler):
    host, port = address.rsplit(":", 1)
    server = Server((host, int(port)), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="host:port of the registry side")
    p.add_argument("--blob-store", required=True, help="host:port of the storage side")
    p.add_argument("--upstream", required=True, help="host:port of the real registry (HTTPS)")
    p.add_argument("--storage", required=True, help="the registry's filesystem storage root")
    p.add_argument("--ca", required=True, help="CA file that verifies the upstream")
    p.add_argument("--tls-cert", required=True)
    p.add_argument("--tls-key", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--blob-log", required=True)
    args = p.parse_args()
    registry = serve(args.listen, RegistryHandler)
    store = serve(args.blob_store, BlobStoreHandler)
    threading.Thread(target=store.serve_forever, daemon=True).start()
    registry.serve_forever()


if __name__ == "__main__":
    main()
