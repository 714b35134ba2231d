#!/usr/bin/env python3
"""The test bed's token service: Docker's token authentication, as Docker Hub and ghcr.io do it.

A `docker-registry` configured with `auth: token` answers 401 with
`WWW-Authenticate: Bearer realm="https://HOST:PORT/token",service="...",scope="repository:NAME:pull"`;
the client asks this server for a token:

    GET /token?service=SERVICE&scope=repository:NAME:ACTIONS[&scope=...]   (HTTPS)
    Authorization: Basic base64(user:password)                            (absent: anonymous)

and gets `{"token": JWT, "access_token": JWT, "expires_in": N, "issued_at": ...}`. The JWT is
signed (ES256) with a key whose certificate (issued by the test bed's CA) travels in the `x5c`
header; the registry trusts tokens whose chain ends at that CA (`rootcertbundle`).

Like Docker Hub, a scope the user may not have is not an error here: the token simply grants
less (possibly nothing) and the registry refuses the request with 401 `insufficient_scope`.
Wrong credentials are 401 {"details": "incorrect username or password"}.

The policy is a JSON file (written by scripts/registry):

    {"service": "...", "issuer": "...",
     "users": {"": {"grants": {"multiarch": "pull"}},             # anonymous
               "berth": {"password": "...", "grants": {"*": "pull,push,delete"}},
               "limited": {"password": "...", "grants": {"tiny": "pull", "limited/*": "pull,push"}},
               "shortlived": {"password": "...", "grants": {"*": "pull,push"}, "lifetime": 3},
               "stale": {"password": "...", "grants": {"*": "pull,push"}, "lifetime": 3,
                         "advertised": 300}}}

A grant's key is a repository name or a prefix ending in `*`. `lifetime` (seconds, default 300)
is how long the registry accepts the token; `advertised` (default: lifetime) is the
`expires_in` the client is told: "stale" tokens die long before the client expects, as a
revoked token or a registry whose clock runs ahead would have it. distribution accepts a token
for 60 s past its `exp` (clock-skew leeway): `exp` is set 60 s early so that a token really
lasts `lifetime` seconds.

One line per request goes to stderr:
    GET /token user=limited scope=repository:tiny:pull,push granted=repository:tiny:pull 200
"""
import argparse
import base64
import datetime
import hmac
import http.server
import json
import os
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

DISTRIBUTION_LEEWAY = 60
args = None
policy = None
x5c = None
counter = 0
counter_lock = threading.Lock()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_integer(data, pos):
    assert data[pos] == 0x02
    length = data[pos + 1]
    return int.from_bytes(data[pos + 2:pos + 2 + length], "big"), pos + 2 + length


def sign(payload):
    """ES256: openssl's DER ECDSA signature as JWS wants it, r || s (32 bytes each)."""
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.key], input=payload,
                         stdout=subprocess.PIPE, check=True).stdout
    assert der[0] == 0x30 and der[1] < 0x80
    r, pos = der_integer(der, 2)
    s, _ = der_integer(der, pos)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def make_token(subject, access, lifetime):
    global counter
    with counter_lock:
        counter += 1
        jti = f"{os.getpid()}-{counter}-{time.time_ns()}"
    now = int(time.time())
    header = {"typ": "JWT", "alg": "ES256", "x5c": x5c}
    claims = {"iss": policy["issuer"], "sub": subject, "aud": policy["service"],
              "exp": now + lifetime - DISTRIBUTION_LEEWAY, "nbf": now - 1, "iat": now,
              "jti": jti, "access": access}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    return signing_input + "." + b64url(sign(signing_input.encode()))


def allowed_actions(user, name):
    out = set()
    for pattern, actions in user.get("grants", {}).items():
        if pattern == name or (pattern.endswith("*") and name.startswith(pattern[:-1])):
            out.update(a for a in actions.split(",") if a)
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def reply(self, status, body, note):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        print(f"{self.command} {self.path.split('?')[0]} {note} {status}", file=sys.stderr, flush=True)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            return self.reply(404, {"details": "not found"}, "-")
        query = urllib.parse.parse_qs(url.query)
        who = ""
        auth = self.headers.get("Authorization")
        if auth is not None:
            scheme, _, value = auth.partition(" ")
            try:
                who, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return self.reply(400, {"details": "malformed Authorization header"}, "user=?")
            user = policy["users"].get(who)
            if (scheme.lower() != "basic" or not who or user is None or
                    not hmac.compare_digest(user.get("password", ""), password)):
                return self.reply(401, {"details": "incorrect username or password"}, f"user={who or '?'}")
        user = policy["users"].get(who, {"grants": {}})
        note = f"user={who or '(anonymous)'}"
        if query.get("service", [""])[0] != policy["service"]:
            return self.reply(400, {"details": "invalid service"}, note)
        access, asked, granted = [], [], []
        for scope in query.get("scope", []):
            asked.append(scope)
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            ok = sorted(set(a for a in actions.split(",") if a) & allowed_actions(user, name))
            access.append({"type": "repository", "name": name, "actions": ok})
            if ok:
                granted.append(f"repository:{name}:{','.join(ok)}")
        lifetime = int(user.get("lifetime", args.lifetime))
        advertised = int(user.get("advertised", lifetime))
        token = make_token(who, access, lifetime)
        note += f" scope={' '.join(asked) or '-'} granted={' '.join(granted) or '-'}"
        issued = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.reply(200, {"token": token, "access_token": token, "expires_in": advertised,
                         "issued_at": issued}, note)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global args, policy, x5c
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="host:port")
    p.add_argument("--policy", required=True, help="users and grants (JSON)")
    p.add_argument("--key", required=True, help="token signing key (PEM)")
    p.add_argument("--cert", required=True, help="its certificate, issued by the registry's rootcertbundle")
    p.add_argument("--tls-cert", required=True)
    p.add_argument("--tls-key", required=True)
    p.add_argument("--lifetime", type=int, default=300, help="default token lifetime (s)")
    args = p.parse_args()
    with open(args.policy) as f:
        policy = json.load(f)
    der = subprocess.run(["openssl", "x509", "-in", args.cert, "-outform", "DER"],
                         stdout=subprocess.PIPE, check=True).stdout
    x5c = [base64.b64encode(der).decode()]
    host, port = args.listen.rsplit(":", 1)
    server = Server((host, int(port)), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
