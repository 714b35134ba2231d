#!/usr/bin/env bash
# berth shell: stdin/stdout pass through, a terminal stays a terminal (via script(1)).
source "$(dirname "$0")/lib/common.sh"
cd /tmp

# Piped stdin, no terminal.
expect_eq "$(printf 'echo from-stdin; cat /etc/image-marker\n' | $BERTH shell "$IMG")" \
  "from-stdin
image-only file" "shell reads stdin"
expect_eq "$(echo data | $BERTH exec "$IMG" sh -c 'test -t 0 && echo tty || cat')" data "exec stdin"

# Under a pseudo-terminal the command sees one, and job control signals work.
out=$(script -qec "$BERTH shell $IMG -c 'test -t 0 && test -t 1 && tty'" /dev/null | tr -d '\r')
expect_contains "$out" "/dev/pts/" "shell sees a tty"
out=$(printf 'echo interactive-$((6*7))\nexit 3\n' |
  script -qec "$BERTH shell $IMG" /dev/null | tr -d '\r') || true
expect_contains "$out" "interactive-42" "interactive shell"
set +e
script -qec "$BERTH shell $IMG -c 'exit 5'" /dev/null >/dev/null; rc=$?
set -e
expect_eq $rc 5 "shell exit code through script"
out=$(script -qec "$BERTH shell --contain $IMG -c 'tty; ls /dev/pts'" /dev/null | tr -d '\r')
expect_contains "$out" "/dev/" "tty with --contain"
pass "shell and tty"

check_no_leaks
pass "no mounts or loop devices left"
