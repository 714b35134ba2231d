#!/usr/bin/env bash
# A built image's metadata at run time (issue 13 §4): berth run runs /.berth/runscript with the
# arguments (--entrypoint still overrides it), /.berth/environment is sourced before every
# command after the image's Env (the user's --env and the identity win over it), berth inspect
# --runscript/--helpfile/--deffile/--labels/--environment print the files, berth run-help the
# help, berth test runs /.berth/test and exits with its status. As root and as a user (FUSE).
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/variants.sh"
cd /tmp

work=$(mktemp -d /tmp/berth-metadata.XXXXXX)
chmod 755 "$work"
trap 'restore_fuse; rm -rf "$work"' EXIT
open_fuse

built() {  # what berth build writes into /.berth/ (BUILD.md "Definition files")
  local root=$1
  mkdir -p "$root/opt/tool/bin"
  printf '#!/bin/sh\necho "tool: $*"\n' >"$root/opt/tool/bin/tool"
  chmod 755 "$root/opt/tool/bin/tool"
  cat >"$root/.berth/runscript" <<'SH'
#!/bin/sh
echo "runscript: $# args: $*"
echo "from-env-file: $FROM_ENVFILE"
SH
  cat >"$root/.berth/environment" <<'SH'
export FROM_ENVFILE=yes
export PATH=/opt/tool/bin:$PATH
export DERIVED="$IMAGE_VAR+more"
export OVER=from-file
export HOME=/nonexistent-from-file
SH
  cat >"$root/.berth/test" <<'SH'
#!/bin/sh
echo "test ran: FROM_ENVFILE=$FROM_ENVFILE"
exit "${TEST_EXIT:-0}"
SH
  printf 'Runs the tool.\nUsage: berth run IMG ARGS\n' >"$root/.berth/help"
  printf 'Bootstrap: docker\nFrom: busybox\n\n%%runscript\n  echo hi\n' >"$root/.berth/definition"
  sed -i 's/"Labels":{"org.example.test":"yes"}/"Labels":{"org.example.test":"yes","maintainer":"berth"}/' \
    "$root/.berth/config.json"
}
B=$(make_variant built built)
nohelp() { rm -f "$1/.berth/help"; }
N=$(make_variant nohelp nohelp)

check_run() {  # check_run LABEL BERTH-COMMAND...: the runscript and environment rules
  local label=$1
  shift
  expect_eq "$("$@" run "$B" a "b c")" "runscript: 2 args: a b c
from-env-file: yes" "$label: run runs the runscript with the arguments"
  expect_eq "$("$@" run "$B" | head -1)" "runscript: 0 args: " "$label: run without arguments"
  expect_eq "$("$@" run --entrypoint /bin/echo "$B" x)" "x" "$label: --entrypoint overrides"
  expect_eq "$("$@" exec "$B" tool 1 2)" "tool: 1 2" "$label: %environment's PATH finds the command"
  out=$(OVER=host "$@" exec --env OVER2=cli --env OVER "$B" env)
  expect_contains "$out" "FROM_ENVFILE=yes" "$label: %environment sourced"
  expect_contains "$out" "DERIVED=from-image+more" "$label: sourced after the image's Env"
  expect_contains "$out" "OVER=host" "$label: --env NAME wins over %environment"
  expect_contains "$out" "OVER2=cli" "$label: --env NAME=VALUE"
  expect_contains "$out" "HOME=$("$@" exec "$IMG" sh -c 'echo $HOME')" "$label: HOME stays the user's"
  expect_eq "$(echo 'echo "$FROM_ENVFILE $0"' | "$@" shell "$B")" "yes /bin/sh" \
    "$label: shell sources it too (no bash: /bin/sh)"
  expect_eq "$("$@" run "$IMG" a)" "entry a" "$label: an image without a runscript: ENTRYPOINT"
  pass "$label: runscript and %environment"

  expect_eq "$("$@" test "$B")" "test ran: FROM_ENVFILE=yes" "$label: test"
  set +e
  TEST_EXIT=3 "$@" test "$B" >/dev/null
  status=$?
  err=$("$@" test "$IMG" 2>&1 >/dev/null)
  none=$?
  set -e
  expect_eq "$status" 3 "$label: a failing test's status is berth's"
  expect_eq "$none" 0 "$label: no test: status 0"
  expect_eq "$err" "berth: the image has no test (/.berth/test)" "$label: no test: one line"
  pass "$label: berth test"
}
check_run root "$BERTH"
check_run user as_user "$UB"

# inspect's parts, read without mounting (as the user too).
expect_eq "$($BERTH inspect --runscript "$B")" "$(cat <<'SH'
#!/bin/sh
echo "runscript: $# args: $*"
echo "from-env-file: $FROM_ENVFILE"
SH
)" "inspect --runscript"
expect_eq "$(as_user "$UB" inspect --helpfile "$B")" "Runs the tool.
Usage: berth run IMG ARGS" "inspect --helpfile"
expect_eq "$($BERTH inspect --deffile "$B" | head -2)" "Bootstrap: docker
From: busybox" "inspect --deffile"
expect_eq "$($BERTH inspect --labels "$B")" "maintainer=berth
org.example.test=yes" "inspect --labels"
expect_eq "$($BERTH inspect --environment "$B" | head -1)" "export FROM_ENVFILE=yes" "inspect --environment"
expect_eq "$($BERTH inspect --environment "$IMG")" "export PATH='/bin:/usr/bin'
export IMAGE_VAR='from-image'
export HOME='/root'" "inspect --environment without %environment: the Env"
expect_eq "$($BERTH inspect --labels --helpfile "$B")" "Runs the tool.
Usage: berth run IMG ARGS
maintainer=berth
org.example.test=yes" "inspect: several parts, in the table's order"
err=$($BERTH inspect --runscript "$IMG" 2>&1 >/dev/null)
expect_eq "$err" "berth: the image has no runscript (/.berth/runscript)" "inspect --runscript without one"
expect_eq "$($BERTH inspect --runscript "$IMG" 2>/dev/null)" "" "nothing on stdout then"
json=$($BERTH inspect --json "$B")
expect_eq "$(printf '%s' "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["test"].splitlines()[1], d["environment"].splitlines()[0])')" \
  'echo "test ran: FROM_ENVFILE=$FROM_ENVFILE" export FROM_ENVFILE=yes' "inspect --json: test, environment"
pass "inspect parts"

expect_eq "$($BERTH run-help "$B")" "Runs the tool.
Usage: berth run IMG ARGS" "run-help"
expect_eq "$(as_user "$UB" run-help "$N")" "No help for this image (it has no /.berth/help)." "run-help without help"
pass "run-help"

check_no_leaks
pass "no mounts or loop devices left"
