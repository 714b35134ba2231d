#!/usr/bin/env bash
# A registry behind TLS with a certificate of the test bed's own CA (BERTH_TEST_TLS_REGISTRY,
# BERTH_TEST_CA_FILE): pulled with the CA from berth.conf (registry_ca_file) and from the
# environment (BERTH_REGISTRY_CA_FILE); refused without it, or with another CA, in one line that
# says how to trust it, and without retries; a broken CA file is one line before any request;
# the system store still counts (the CA file adds to it) and plain-HTTP registries still work.
source "$(dirname "$0")/registry_lib.sh"
reg=$BERTH_TEST_TLS_REGISTRY
ca=$BERTH_TEST_CA_FILE
untrusted="^resolve \`$reg/tiny:latest\`: $reg: TLS certificate not trusted \(.*\); if a private CA signed it, set registry_ca_file in berth.conf or BERTH_REGISTRY_CA_FILE to that CA's certificate$"

echo "== without the CA: one line, no retries"
expect_error "$untrusted" "$reg/tiny:latest" || true
env_extra=()
if innetns "$probe_bin" -v --retries 3 "$reg/tiny:latest" >/dev/null 2>"$work/verbose"; then
  fail "pulled from $reg without its CA"
fi
grep -q "retrying" "$work/verbose" && fail "an untrusted certificate was retried: $(cat "$work/verbose")"

echo "== BERTH_REGISTRY_CA_FILE"
env_extra=("BERTH_REGISTRY_CA_FILE=$ca")
expect_ok --dir "$work/env" "$reg/tiny:latest" && check_fetched "$work/env"
grep -q "^reference $reg/tiny:latest@sha256:" "$work/out" || fail "not resolved: $(cat "$work/out")"
# The CA is added to the system store, not put in its place: a bundle of the system's CAs and
# the test CA trusts the registry just the same.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cat /etc/ssl/certs/ca-certificates.crt "$ca" >"$work/bundle.pem"
  env_extra=("BERTH_REGISTRY_CA_FILE=$work/bundle.pem")
  expect_ok "$reg/tiny:latest"
fi

echo "== registry_ca_file in berth.conf (berth pull, whole image)"
mkdir -p "$work/etc"
chmod 0755 "$work" "$work/etc"
printf 'registry_ca_file = %s\n' "$ca" >"$work/etc/berth.conf"
env_extra=("BERTH_CONFIG=$work/etc/berth.conf")
if pull "$reg/tiny:latest"; then
  digest=$(sed -n 1p "$work/out")
  [[ $digest == sha256:* ]] || fail "berth pull printed no digest: $(cat "$work/out")"
  [ -f "$(sed -n 2p "$work/out")" ] || fail "berth pull printed no image file: $(cat "$work/out")"
else
  fail "berth pull with registry_ca_file: $(cat "$work/err")"
fi
env_extra=()
if pull "$reg/tiny:zstd"; then
  fail "berth pull without the CA succeeded"
else
  grep -qE "$reg: TLS certificate not trusted .*registry_ca_file in berth.conf" "$work/err" ||
    fail "berth pull without the CA: $(cat "$work/err")"
  [ "$(wc -l <"$work/err")" -eq 1 ] || fail "berth pull without the CA: not one line: $(cat "$work/err")"
fi

echo "== another CA: still not trusted"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$work/other.key" -out "$work/other.crt" -subj "/CN=another CA" 2>/dev/null
env_extra=("BERTH_REGISTRY_CA_FILE=$work/other.crt")
expect_error "$untrusted" "$reg/tiny:latest" || true

echo "== a certificate of the trusted CA for another host name: one line, no CA hint"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/name.key" \
  -out "$work/name.csr" -subj "/CN=other.example" 2>/dev/null
openssl x509 -req -in "$work/name.csr" -CA "$ca" -CAkey "${ca%/*}/ca.key" -CAserial "$work/ca.srl" \
  -CAcreateserial -days 1 -out "$work/name.crt" \
  -extfile <(printf 'subjectAltName=DNS:other.example\n') 2>/dev/null
port=$(testbed_free_port)
# nsenter execs python: $! is the server itself.
nsenter --net="/run/netns/$BERTH_NETNS" -- python3 -c '
import http.server, ssl, sys
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.BaseHTTPRequestHandler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()' "$port" "$work/name.crt" "$work/name.key" </dev/null >/dev/null 2>&1 &
server_pid=$!
cleanup_hooks+=("kill $server_pid; wait $server_pid 2>/dev/null")
testbed_wait_for 10 innetns bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || fail "the TLS test server did not start"
env_extra=("BERTH_REGISTRY_CA_FILE=$ca")
expect_error "^resolve \`127.0.0.1:$port/tiny:latest\`: 127.0.0.1:$port: TLS certificate is for another host name \(.*127.0.0.1.*\)$" "127.0.0.1:$port/tiny:latest" || true

echo "== a CA file that is not one: one line before any request"
env_extra=("BERTH_REGISTRY_CA_FILE=$work/other.key")
expect_error "^BERTH_REGISTRY_CA_FILE \`$work/other.key\`: no PEM certificate in it$" "$reg/tiny:latest" || true
env_extra=("BERTH_REGISTRY_CA_FILE=$work/missing.crt")
expect_error "^BERTH_REGISTRY_CA_FILE: open \`$work/missing.crt\`: No such file or directory$" "$reg/tiny:latest" || true
printf 'registry_ca_file = %s\n' "$work/missing.crt" >"$work/etc/berth.conf"
env_extra=("BERTH_CONFIG=$work/etc/berth.conf")
if pull "$reg/tiny:latest"; then fail "berth pull with a missing registry_ca_file succeeded"; fi
grep -q "registry_ca_file: open \`$work/missing.crt\`: No such file or directory" "$work/err" ||
  fail "missing registry_ca_file: $(cat "$work/err")"

echo "== plain-HTTP registries are not affected by the CA file"
env_extra=("BERTH_REGISTRY_CA_FILE=$ca" "BERTH_INSECURE_REGISTRIES=$BERTH_TEST_REGISTRY")
expect_ok "$BERTH_TEST_REGISTRY/tiny:latest"

finish
