#!/usr/bin/env bash
# Token authentication as Docker Hub and ghcr.io do it, against the test bed's token registry
# (distribution with `auth: token`, HTTPS) and its token service (scripts/lib/registry/
# token_server.py, HTTPS, signed JWTs): anonymous tokens for a public repository, Basic
# credentials at the token endpoint, scopes per repository (user `limited` may pull `tiny`
# only), a denied scope and a wrong password as one line each, and tokens that expire while a
# pull runs: renewed before they expire (user `shortlived`, the registry never refuses one)
# or when the registry refuses one it considers expired (user `stale`, told its tokens last
# 300 s, accepted for 3 s).
source "$(dirname "$0")/registry_lib.sh"
reg=$BERTH_TEST_TOKEN_REGISTRY
tokens=$BERTH_TEST_TOKEN_LOG
reglog=$BERTH_TEST_TOKEN_REGISTRY_LOG
password=$BERTH_TEST_TOKEN_PASSWORD
lifetime=${BERTH_TEST_TOKEN_SHORT_LIFETIME:-3}
ca=("BERTH_REGISTRY_CA_FILE=$BERTH_TEST_CA_FILE")
as() { env_extra=("${ca[@]}" "BERTH_REGISTRY_USER=$1" "BERTH_REGISTRY_PASSWORD=${2:-$password}"); }
# Token requests and registry answers since the marks taken by `mark`.
mark() { tokens_mark=$(wc -l <"$tokens"); reglog_mark=$(wc -l <"$reglog"); }
token_lines() { log_since "$tokens" "$tokens_mark"; }
# The registry writes its access log after answering.
status_count() { sleep 0.3; log_since "$reglog" "$reglog_mark" | grep -c "\" $1 " || true; }

echo "== anonymous: a public repository, not a private one"
env_extra=("${ca[@]}")
mark
expect_ok --dir "$work/anon" "$reg/multiarch:latest" && check_fetched "$work/anon"
token_lines | grep -q 'user=(anonymous) scope=repository:multiarch:pull granted=repository:multiarch:pull 200' ||
  fail "no anonymous pull token for multiarch: $(token_lines)"
expect_error "^resolve \`$reg/tiny:latest\`: registry $reg: anonymous access may not pull tiny \(HTTP 401 insufficient_scope: no such repository, or it needs \`berth login $reg\`\)$" "$reg/tiny:latest" || true

echo "== a user with pull on every repository"
as berth
mark
expect_ok --dir "$work/berth" "$reg/tiny:latest" && check_fetched "$work/berth"
[ "$(token_lines | grep -c 'user=berth scope=repository:tiny:pull granted=repository:tiny:pull 200')" -eq 1 ] ||
  fail "expected one token request for tiny: $(token_lines)"
# One 401 (the first request tells the client where the token service is), none after.
[ "$(status_count 401)" -eq 1 ] || fail "expected one 401: $(log_since "$reglog" "$reglog_mark")"
grep -q -- "$password" "$work/err" && fail "the password appears in the output"

echo "== berth login, then berth pull (the whole image)"
echo "$password" | innetns "$berth" login --username berth --password-stdin "$reg" >/dev/null 2>"$work/login.err"
env_extra=("${ca[@]}")
pull "$reg/tiny:zstd" || fail "berth pull after berth login: $(cat "$work/err")"
"$berth" logout "$reg" >/dev/null

echo "== scopes per repository: pull on tiny only"
as limited
expect_ok "$reg/tiny:latest"
expect_error "^resolve \`$reg/multiarch:latest\`: registry $reg: the credentials from environment \(user limited\) may not pull multiarch \(HTTP 401 insufficient_scope: no such repository, or no access\)$" "$reg/multiarch:latest" || true
token_lines | grep -q 'user=limited scope=repository:multiarch:pull granted=- 200' ||
  fail "the token service was not asked for multiarch: $(token_lines)"

echo "== a wrong password: one line, never shown"
as limited "wrong-$RANDOM-pw"
expect_error "^resolve \`$reg/tiny:latest\`: registry $reg refused the credentials from environment to tiny \(token service: HTTP 401\): wrong user name or password, or no access$" "$reg/tiny:latest" || true
grep -q "wrong-.*-pw" "$work/err" && fail "the wrong password appears in the error"

echo "== a token that expires during a pull is renewed first (the registry refuses nothing)"
as shortlived
mark
expect_ok --pause "$((lifetime + 1))" --dir "$work/short" "$reg/tiny:latest" && check_fetched "$work/short"
n=$(token_lines | grep -c 'user=shortlived scope=repository:tiny:pull granted=repository:tiny:pull 200' || true)
[ "$n" -eq 2 ] || fail "expected 2 tokens for a pull longer than a token's ${lifetime} s, got $n: $(token_lines)"
[ "$(status_count 401)" -eq 1 ] || fail "a request went out with an expired token: $(log_since "$reglog" "$reglog_mark" | grep '" 401 ')"

echo "== a token the registry refuses as expired is replaced (the client thought it had 300 s)"
as stale
mark
expect_ok --pause "$((lifetime + 1))" --dir "$work/stale" "$reg/tiny:latest" && check_fetched "$work/stale"
n=$(token_lines | grep -c 'user=stale scope=repository:tiny:pull granted=repository:tiny:pull 200' || true)
[ "$n" -eq 2 ] || fail "expected 2 tokens (the second after a 401), got $n: $(token_lines)"
[ "$(status_count 401)" -eq 2 ] || fail "expected 2 401s (no token, expired token): $(log_since "$reglog" "$reglog_mark" | grep '" 401 ')"

finish
