#!/usr/bin/env bash
# kill -9 of `berth exec` takes the container's command down with it, as root and as an
# ordinary user: no orphaned command keeps running (reparented to init), and nothing of the
# container stays (no loop device, no mount, no FUSE server).
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/variants.sh"
cd /tmp
work=$(mktemp -d /tmp/berth-kill.XXXXXX)
chmod 755 "$work"
sleeps=()  # the containers' commands, killed by pid at exit should a check fail
cleanup() {
  restore_fuse
  if ((${#sleeps[@]})); then kill -KILL "${sleeps[@]}" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cp "$IMG" "$work/img.sqsh"
chmod 644 "$work/img.sqsh"
image=$work/img.sqsh

# wait_for CONDITION...: up to 10 s for the command to succeed.
wait_for() {
  for _ in $(seq 100); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}
running() { pgrep -f "^sleep $1\$" >/dev/null; }
gone() { ! running "$1"; }

# kill_berth LAUNCHER_PID SECONDS: the berth process is LAUNCHER_PID itself or its child
# (runuser); kill -9 it once the container's command runs.
kill_berth() {
  local launcher=$1 seconds=$2 berth_pid
  wait_for running "$seconds" || fail "the container's sleep $seconds never started"
  sleeps+=($(pgrep -f "^sleep $seconds\$"))
  berth_pid=$launcher
  if [[ $(cat "/proc/$launcher/comm") != berth ]]; then
    berth_pid=$(pgrep -o -P "$launcher" -x berth)
  fi
  kill -9 "$berth_pid"
  wait "$launcher" 2>/dev/null || true
  wait_for gone "$seconds" || fail "sleep $seconds outlived berth: $(pgrep -af "^sleep $seconds\$")"
}

$BERTH exec "$image" sleep 3017 &
kill_berth $! 3017
wait_for bash -c "! losetup -a | grep -qF '$image'" || fail "loop device left attached: $(losetup -a)"
pass "root: the command dies with berth"

open_fuse
runuser -u berthtest -- "$UB" exec "$image" sleep 3018 &
kill_berth $! 3018
# The keeper of the user's container (a berth process) stops its FUSE server and exits.
wait_for bash -c '! pgrep -u berthtest -x berth >/dev/null && ! pgrep -u berthtest -x berth-squashfs >/dev/null' ||
  fail "berth's keeper or FUSE server outlived berth: $(pgrep -af -u berthtest .)"
pass "unprivileged: the command dies with berth"
check_no_leaks
