#!/usr/bin/env python3
"""A small HTTP proxy in front of a real registry, for the registry client's integration tests.

It forwards every request to UPSTREAM and can misbehave on purpose:
  --bearer USER:PASSWORD  demand a Bearer token (Docker token flow) issued by its own /token
                          endpoint; USER:PASSWORD may be ':' for anonymous tokens
  --fault truncate        blob bodies stop halfway (the connection closes) on the first try
  --fault truncate-always blob bodies always stop halfway
  --fault corrupt         one byte of every blob body is flipped
  --fault 500-once        the first request to each blob answers 500
  --fault 500-always      every blob request answers 500
  --fault norange         Range headers are ignored (the whole blob comes back with 200)
  --fault slow            blob bodies trickle at --rate bytes per second (default 256 KiB/s); the
                          log line ends in "aborted" when the client hangs up before the end
Uploads (POST, PATCH, PUT) are forwarded too, their Location made to point at the proxy:
  --fault patch-drop-once the first PATCH of each upload that does not start at byte 0 is read
                          halfway and its connection closed, and so is its first repetition
                          (libcurl silently sends a request again once when a reused
                          connection dies before any answer); the registry never sees them (the
                          client must ask where the upload is and resume from there)
  --fault patch-cut-once  the first such PATCH of all reaches the registry halfway, then both connections
                          close (distribution then drops the upload: the client starts over)
  --fault deny-push       POST, PATCH and PUT answer 403 DENIED (a repository the user may
                          only read)
More faults (tests/reliability/registry_faults.py, campaign 6 of issue 17):
  --fault 429-once        the first request to each path (manifests and blobs) answers 429 with
                          Retry-After: 1
  --fault 503-burst       the first 3 requests to each blob answer 503 (a burst a client with
                          retries outlasts)
  --fault manifest-502-once the first request to each manifest answers 502
  --fault reset           blob bodies stop halfway with a TCP reset (RST), on the first try
  --fault stall           blob bodies stop halfway and the connection then stays open, silent,
                          on the first try (the client's low-speed timeout must end it)
  --fault close-early     the first request to each blob is answered by closing the connection
                          before any byte
  --fault length-long     blob answers claim 100 bytes more than they send (Content-Length),
                          then the connection closes
  --fault length-short    blob answers claim 100 bytes fewer than the blob (and send that many)
  --fault 401-loop        with --bearer: the registry answers 401 to every request, valid token
                          or not (a token the registry never accepts)
  --fault token-down      with --bearer: the token endpoint answers 503 to every request
  --fault redirect        blob GETs answer 307 to /redirected/<path> of this proxy, which serves
                          the blob (a blob store on the same host)
  --fault redirect-loop   blob GETs answer 307 to themselves (?hop=N+1), forever
  --fault-min-bytes N     the faults that change blob bodies spare bodies shorter than N bytes
                          (so that a layer, not the small config, takes the fault)
--fault may be given more than once. It writes one line per request to stderr: "METHOD PATH STATUS".
"""
import argparse
import base64
import http.client
import http.server
import socket
import socketserver
import struct
import sys
import threading
import time

args = None
seen = set()
counts = {}
lock = threading.Lock()
TOKEN = "berth-test-token"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        print(f"{self.command} {self.path} {status}", file=sys.stderr, flush=True)

    def count(self, key):
        """How many times `key` has been seen, this time included."""
        with lock:
            counts[key] = counts.get(key, 0) + 1
            return counts[key]

    def first_time(self, key):
        with lock:
            if key in seen:
                return False
            seen.add(key)
            return True

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.upload()

    def do_PATCH(self):
        self.upload()

    def do_PUT(self):
        self.upload()

    def upload(self):
        faults = set(args.fault or [])
        length = int(self.headers.get("Content-Length") or 0)
        if "deny-push" in faults:
            self.rfile.read(length)
            return self.reply(403, b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}')
        upload_id = self.path.split("?")[0]
        first_chunk = self.headers.get("Content-Range", "0-").startswith("0-")
        if self.command == "PATCH" and not first_chunk and length > 1:
            if "patch-drop-once" in faults and self.count(("drop", upload_id)) <= 2:
                self.rfile.read(length // 2)
                self.close_connection = True
                print(f"{self.command} {self.path} dropped", file=sys.stderr, flush=True)
                return
            if "patch-cut-once" in faults and self.first_time(("cut",)):
                conn = http.client.HTTPConnection(args.upstream, timeout=30)
                conn.putrequest("PATCH", self.path, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    if k.lower() not in ("host", "authorization"):
                        conn.putheader(k, v)
                conn.endheaders()
                conn.send(self.rfile.read(length // 2))
                time.sleep(0.2)
                conn.close()
                self.close_connection = True
                print(f"{self.command} {self.path} cut", file=sys.stderr, flush=True)
                return
        body = self.rfile.read(length)
        conn = http.client.HTTPConnection(args.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        host = self.headers.get("Host")
        out = []
        for k, v in resp.getheaders():
            if k.lower() in ("content-length", "transfer-encoding", "connection"):
                continue
            if k.lower() == "location":
                v = v.replace(f"http://{args.upstream}", f"http://{host}")
            out.append((k, v))
        self.reply(resp.status, data, out)

    def do_GET(self):
        host = self.headers.get("Host")
        all_faults = set(args.fault or [])
        if self.path.startswith("/redirected/"):
            self.path = self.path[len("/redirected"):]
        elif "/blobs/" in self.path and "redirect-loop" in all_faults:
            base, _, hop = self.path.partition("?hop=")
            return self.reply(307, b"", [("Location", f"http://{host}{base}?hop={int(hop or 0) + 1}")])
        elif "/blobs/" in self.path and "redirect" in all_faults:
            return self.reply(307, b"", [("Location", f"http://{host}/redirected{self.path}")])
        if "429-once" in all_faults and self.first_time(("429", self.command, self.path)):
            return self.reply(429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
                              [("Retry-After", "1")])
        if "manifest-502-once" in all_faults and "/manifests/" in self.path and \
                self.first_time(("502", self.command, self.path)):
            return self.reply(502, b"bad gateway")
        if args.bearer is not None:
            if self.path.startswith("/token") and "token-down" in all_faults:
                return self.reply(503, b"token service unavailable")
            if self.path.startswith("/token"):
                user, _, password = args.bearer.partition(":")
                if user:
                    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        return self.reply(401, b'{"details":"bad credentials"}')
                if "scope=repository%3A" not in self.path:
                    return self.reply(400, b'{"details":"no scope"}')
                return self.reply(200, ('{"token":"%s","expires_in":300}' % TOKEN).encode())
            if self.headers.get("Authorization") != "Bearer " + TOKEN or "401-loop" in all_faults:
                challenge = f'Bearer realm="http://{host}/token",service="berth-test"'
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                                  [("WWW-Authenticate", challenge)])
        is_blob = "/blobs/" in self.path
        faults = set(args.fault or []) if is_blob else set()
        if "500-always" in faults or ("500-once" in faults and self.first_time(("500", self.path))):
            return self.reply(500, b'{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}')
        if "503-burst" in faults and self.command == "GET" and self.count(("503", self.path)) <= 3:
            return self.reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"injected burst"}]}')
        if "close-early" in faults and self.command == "GET" and self.first_time(("close", self.path)):
            self.close_connection = True
            print(f"{self.command} {self.path} closed", file=sys.stderr, flush=True)
            return
        conn = http.client.HTTPConnection(args.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
        if "norange" in faults:
            headers.pop("Range", None)
        conn.request(self.command, self.path, headers=headers)
        resp = conn.getresponse()
        # Follow the registry's own redirects here so the client sees one hop.
        body = resp.read()
        out_headers = [(k, v.replace(f"http://{args.upstream}", f"http://{host}") if k.lower() == "location" else v)
                       for k, v in resp.getheaders()
                       if k.lower() not in ("content-length", "transfer-encoding", "connection")]
        status = resp.status
        if is_blob and status in (200, 206) and self.command == "GET" and body and \
                len(body) >= args.fault_min_bytes:
            if "corrupt" in faults:
                body = body[:len(body) // 2] + bytes([body[len(body) // 2] ^ 0xFF]) + body[len(body) // 2 + 1:]
            truncate = "truncate-always" in faults or (
                "truncate" in faults and self.first_time(("trunc", self.path)))
            if truncate and len(body) > 1:
                self.send_response(status)
                for k, v in out_headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                print(f"{self.command} {self.path} {status} truncated", file=sys.stderr, flush=True)
                return
            if "slow" in faults:
                return self.trickle(status, body, out_headers)
            if ("reset" in faults and self.first_time(("reset", self.path))) or \
                    ("stall" in faults and self.first_time(("stall", self.path))):
                return self.cut(status, body, out_headers, "reset" in faults)
            if "length-long" in faults or "length-short" in faults:
                return self.lie_about_length(status, body, out_headers, "length-long" in faults)
        self.reply(status, body, out_headers)

    def cut(self, status, body, headers, reset):
        """Half the body, then a TCP reset (reset) or silence until the client gives up."""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            print(f"{self.command} {self.path} {status} reset", file=sys.stderr, flush=True)
            return
        print(f"{self.command} {self.path} {status} stalled", file=sys.stderr, flush=True)
        try:
            while not self.connection.recv(1):  # returns b"" when the client hangs up
                break
        except OSError:
            pass
        print(f"{self.command} {self.path} {status} stall ended", file=sys.stderr, flush=True)

    def lie_about_length(self, status, body, headers, longer):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) + (100 if longer else -100)))
        self.end_headers()
        self.wfile.write(body if longer else body[:max(0, len(body) - 100)])
        self.wfile.flush()
        self.close_connection = True
        print(f"{self.command} {self.path} {status} length-{'long' if longer else 'short'}",
              file=sys.stderr, flush=True)

    def trickle(self, status, body, headers):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        print(f"{self.command} {self.path} {status} slow start", file=sys.stderr, flush=True)
        piece = max(1, args.rate // 10)
        try:
            for start in range(0, len(body), piece):
                self.wfile.write(body[start:start + piece])
                self.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            print(f"{self.command} {self.path} {status} aborted", file=sys.stderr, flush=True)
            return
        print(f"{self.command} {self.path} {status} slow end", file=sys.stderr, flush=True)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="host:port")
    p.add_argument("--upstream", required=True, help="host:port of the real registry")
    p.add_argument("--bearer")
    p.add_argument("--fault", action="append", choices=["truncate", "truncate-always", "corrupt", "500-once",
                                       "500-always", "norange", "slow", "patch-drop-once",
                                       "patch-cut-once", "deny-push", "429-once", "503-burst",
                                       "manifest-502-once", "reset", "stall", "close-early",
                                       "length-long", "length-short", "401-loop", "token-down",
                                       "redirect", "redirect-loop"])
    p.add_argument("--rate", type=int, default=256 << 10, help="bytes per second of --fault slow")
    p.add_argument("--fault-min-bytes", type=int, default=0,
                   help="faults that change blob bodies spare bodies shorter than this (the config)")
    args = p.parse_args()
    host, port = args.listen.rsplit(":", 1)
    Server((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
