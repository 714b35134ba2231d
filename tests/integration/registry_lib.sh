# shellcheck shell=bash
# Helpers of the registry tests that need only `scripts/registry start` (no cluster):
# test_registry_tls.sh, test_registry_token.sh, test_registry_redirect.sh. Source it:
#
#   source "$(dirname "$0")/registry_lib.sh"
#
# It loads the test bed's env file (BERTH_TEST_*_REGISTRY, BERTH_TEST_CA_FILE, ...; see
# docs/testbed.md) and defines, all running inside the test bed's netns:
#   probe ARGS...            registry_probe with --retries 2; stdout -> $work/out, stderr -> $work/err
#   expect_ok ARGS...        probe succeeds (else a failure with its error)
#   expect_error PAT ARGS... probe fails with exactly one line on stderr matching PAT (grep -E;
#                            the line without its "registry_probe: " prefix)
#   pull ARGS...             `berth pull --cache $work/cache ARGS` (stdout $work/out, stderr $work/err)
#   check_fetched DIR        every "fetched" line of the probe's output names a file of DIR that
#                            hashes to its digest; config and at least one layer; no .partial left
#   log_since FILE MARK      the lines of FILE after line MARK (MARK=$(wc -l <FILE) before)
#   fail MSG                 counts a failure (the test goes on; `finish` reports and exits)
#   finish                   "N check(s) failed" and exit 1, or a PASS line
# Set before calling: `env_extra` (an array of VAR=VALUE for probe and pull; reset per check).
# $work is a scratch directory removed at exit; HOME and XDG_CONFIG_HOME point into it, so
# `berth login` writes there.
set -euo pipefail
top=${BERTH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=../../scripts/lib/testbed.sh
. "$top/scripts/lib/testbed.sh"
if [ -f "$BERTH_TESTBED_ENV" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$BERTH_TESTBED_ENV"
  set +a
fi
if [ -z "${BERTH_TEST_TLS_REGISTRY:-}" ] || [ ! -e "/run/netns/$BERTH_NETNS" ]; then
  echo "FAIL: the test bed's registries are not up, or lack the TLS/token/redirect ones (scripts/registry start)"
  exit 1
fi
probe_bin=${BERTH_REGISTRY_PROBE:-${BERTH_BUILD_DIR:-$top/build}/tests/integration/registry_probe}
berth=${BERTH_BIN:-${BERTH_BUILD_DIR:-$top/build}/image_tool/berth}
[ -x "$probe_bin" ] || { echo "FAIL: $probe_bin is not built"; exit 1; }
[ -x "$berth" ] || { echo "FAIL: $berth is not built"; exit 1; }
work=$(mktemp -d /tmp/berth-registry-test.XXXXXX)
cleanup_hooks=()
cleanup() {
  local hook
  for hook in "${cleanup_hooks[@]}"; do eval "$hook" || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export XDG_CONFIG_HOME=$work/xdg HOME=$work/home
mkdir -p "$HOME"
unset BERTH_REGISTRY_USER BERTH_REGISTRY_PASSWORD BERTH_REGISTRY_CA_FILE DOCKER_CONFIG BERTH_CONFIG \
  BERTH_INSECURE_REGISTRIES BERTH_REGISTRY_AUTH_HOSTS
failures=0
env_extra=()
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
innetns() { nsenter --net="/run/netns/$BERTH_NETNS" -- "$@"; }
probe() {
  innetns env "${env_extra[@]}" "$probe_bin" --retries 2 "$@" >"$work/out" 2>"$work/err"
}
expect_ok() { probe "$@" || { fail "registry_probe $* failed: $(cat "$work/err")"; return 1; }; }
expect_error() {  # PATTERN ARGS...
  local pattern=$1; shift
  if probe "$@"; then fail "registry_probe $* succeeded, expected: $pattern"; return 1; fi
  sed 's/^registry_probe: //' "$work/err" | grep -qE -- "$pattern" || { fail "registry_probe $*: expected '$pattern' in: $(cat "$work/err")"; return 1; }
  [ "$(wc -l <"$work/err")" -eq 1 ] || { fail "registry_probe $*: error is not one line: $(cat "$work/err")"; return 1; }
}
pull() {
  innetns env "${env_extra[@]}" "$berth" pull --cache "$work/cache" "$@" >"$work/out" 2>"$work/err"
}
check_fetched() {  # DIR
  local n=0 digest actual
  while read -r _ digest actual; do
    [ "$digest" = "$actual" ] || fail "fetched $digest but the file hashes to $actual"
    [ -f "$1/sha256-${digest#sha256:}" ] || fail "no file for $digest in $1"
    n=$((n + 1))
  done < <(grep '^fetched ' "$work/out")
  [ "$n" -ge 2 ] || fail "expected a config and at least one layer, got $n files"
  ! ls "$1"/*.partial >/dev/null 2>&1 || fail "partial files left in $1"
}
log_since() { tail -n +"$(($2 + 1))" "$1"; }
finish() {
  if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed"; exit 1
  fi
  echo "PASS: $(basename "$0" .sh)"
}
