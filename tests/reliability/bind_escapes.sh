#!/usr/bin/env bash
# Campaign 4 and 5 (issue 17): bind and path escapes, site files and caches. Root acts for the
# test user berthtest (`berth exec --as-user`, what slurmstepd does for a job), and the test user
# tries to reach what it cannot read on the host: a root-only secret, another user's 0700
# directory, devices, /proc magic links, symlinks swapped while the container is set up,
# destinations through hostile links in the image, binds over /proc and /dev, working
# directories outside the image. Then the files root believes: a berth.conf and a site cache a
# user could change. Each case is refused with one line, or contained (the secret never shows).
#
#   bind_escapes.sh            the fast run (a root test: label root)
#   bind_escapes.sh --full     the symlink swap race 2,000 times instead of 200
# Needs BERTH_BIN and BERTH_BUILD_DIR (ctest sets them), root, and the berthtest user.
source "$(dirname "$0")/../root/lib/common.sh"
full=0
[[ ${1:-} == --full ]] && full=1
cd /tmp
work=$(mktemp -d /tmp/berth-escapes.XXXXXX)
chmod 755 "$work"
secret=/root/berth-reliability-secret.$$
echo "TOPSECRET-$$" >"$secret"
chmod 600 "$secret"
racer=
cleanup() {
  [[ -z $racer ]] || kill "$racer" 2>/dev/null || true
  rm -rf "$work" "$secret"
}
trap cleanup EXIT
passed=0
failed=0
results=()
u() { timeout -k 5 60 "$BERTH" exec --as-user berthtest "$@"; }

# refused NAME REGEX ARGS...: berth exec ARGS fails with one line matching REGEX, the secret
# never shows.
refused() {
  local name=$1 regex=$2 out err rc=0
  shift 2
  out=$(u "$@" 2>"$work/err") || rc=$?
  err=$(cat "$work/err")
  if [[ $rc -eq 0 ]]; then
    note_fail "$name" "succeeded (expected a refusal /$regex/): $out"
  elif [[ $out$err == *TOPSECRET* ]]; then
    note_fail "$name" "the secret showed: $out $err"
  elif [[ $(grep -c . <<<"$err") -ne 1 ]] || ! grep -Eq -- "$regex" <<<"$err"; then
    note_fail "$name" "expected one line /$regex/, got: $err"
  else
    note_ok "$name" "refused: ${err##*: }"
  fi
}
# contained NAME EXPECTED ARGS...: berth exec ARGS succeeds and prints EXPECTED (the secret
# never shows).
contained() {
  local name=$1 expected=$2 out rc=0
  shift 2
  out=$(u "$@" 2>"$work/err") || rc=$?
  if [[ $out == *TOPSECRET* ]]; then
    note_fail "$name" "the secret showed: $out"
  elif [[ $rc -ne 0 || $out != "$expected" ]]; then
    note_fail "$name" "exit $rc, expected [$expected], got [$out] $(cat "$work/err")"
  else
    note_ok "$name" "contained: $out"
  fi
}
# no_secret NAME ARGS...: whatever berth exec ARGS does, the secret never shows.
no_secret() {
  local name=$1 out
  shift
  out=$(u "$@" 2>&1) || true
  if [[ $out == *TOPSECRET* ]]; then note_fail "$name" "the secret showed: $out"; else
    note_ok "$name" "no secret: $(tr '\n' ' ' <<<"$out" | head -c 140)"; fi
}
note_ok() { echo "ok $1: $2"; passed=$((passed + 1)); results+=("| $1 | ok | $2 |"); }
note_fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); results+=("| $1 | FAIL | $2 |"); }

# --- bind sources ------------------------------------------------------------------------------
mkdir -p "$work/user" "$work/other"
chown berthtest "$work/user"
chown berthother "$work/other"
chmod 0700 "$work/other"
echo "TOPSECRET-$$" >"$work/other/file"
chown berthother "$work/other/file"
echo user-data >"$work/user/in"
echo "TOPSECRET-$$" >"$work/other-file"   # in a readable directory, but the file is 0600
chown berthother "$work/other-file"
chmod 600 "$work/other-file"

refused root-file "Permission denied" -B "$secret:/mnt/s" "$IMG" cat /mnt/s
refused other-user-dir "Permission denied" -B "$work/other:/mnt/o" "$IMG" ls /mnt/o
refused other-user-file "Permission denied" -B "$work/other-file:/mnt/o" "$IMG" cat /mnt/o
refused proc-self-root "Permission denied" -B "/proc/self/root$secret:/mnt/s" "$IMG" cat /mnt/s
refused proc-1-cwd "Permission denied|not permitted" -B "/proc/1/cwd/root:/mnt/s" "$IMG" ls /mnt/s
refused proc-1-root "Permission denied|not permitted" -B "/proc/1/root/root:/mnt/s" "$IMG" ls /mnt/s
ln -sfn "$secret" "$work/user/link-to-secret"
refused user-symlink-to-root-file "Permission denied" -B "$work/user/link-to-secret:/mnt/s" "$IMG" cat /mnt/s
ln -sfn "/proc/1/root/root" "$work/user/link-to-proc"
refused user-symlink-via-proc "Permission denied|not permitted" -B "$work/user/link-to-proc:/mnt/s" "$IMG" ls /mnt/s
mknod "$work/mem" c 1 1 && chmod 600 "$work/mem"   # /dev/mem, root's only
refused device-mem "Permission denied" -B "$work/mem:/mnt/mem" "$IMG" true
# A device the user may open on the host is bound nodev: unusable inside.
contained device-null-nodev "denied" -w -B "/dev/null:/mnt/null" "$IMG" sh -c \
  'echo x >/mnt/null 2>/dev/null && echo written || echo denied'
mkdir -p "$work/rootonly" && chmod 700 "$work/rootonly"
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$work/rootonly/sock"
refused root-socket "Permission denied" -B "$work/rootonly/sock:/mnt/sock" "$IMG" true
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$work/user/sock"
chown berthtest "$work/user/sock"
contained own-socket "socket" -w -B "$work/user/sock:/mnt/sock" "$IMG" sh -c \
  'test -S /mnt/sock && echo socket'
# A FIFO as a source: opening it must not block the set-up (slurmstepd would hang).
mkfifo "$work/user/fifo" && chown berthtest "$work/user/fifo"
start=$SECONDS
out=$(u -w -B "$work/user/fifo:/mnt/fifo" "$IMG" sh -c 'test -p /mnt/fifo && echo fifo' 2>&1) || true
if [[ $((SECONDS - start)) -ge 50 ]]; then
  note_fail fifo-source "the set-up blocked on the FIFO ($((SECONDS - start)) s): $out"
else
  note_ok fifo-source "no hang ($((SECONDS - start)) s): $(head -c 120 <<<"$out")"
fi

# --- symlink swapped during set-up (time of check vs. time of use) ------------------------------
# berthtest's link flips between its own directory and /root as fast as it can while containers
# bind it: whatever the interleaving, the container sees the user's data or nothing.
mkdir -p "$work/race"
chown berthtest "$work/race"
runuser -u berthtest -- ln -sfn "$work/user" "$work/race/src"
setsid runuser -u berthtest -- bash -c "while :; do ln -sfn '$work/user' '$work/race/t1' && mv -T '$work/race/t1' '$work/race/src'; ln -sfn /root '$work/race/t2' && mv -T '$work/race/t2' '$work/race/src'; done" 2>/dev/null &
racer=$!
rounds=$((full ? 2000 : 200))
seen_user=0 seen_secret=0 refusals=0
for ((i = 0; i < rounds; i++)); do
  out=$(u -B "$work/race/src:/mnt/r" "$IMG" sh -c "cat /mnt/r/in 2>/dev/null; cat /mnt/r/$(basename "$secret") 2>/dev/null; true" 2>/dev/null) || {
    refusals=$((refusals + 1))
    continue
  }
  [[ $out == *user-data* ]] && seen_user=$((seen_user + 1))
  [[ $out == *TOPSECRET* ]] && seen_secret=$((seen_secret + 1))
done
kill "$racer" 2>/dev/null || true
wait "$racer" 2>/dev/null || true
racer=
if [[ $seen_secret -gt 0 ]]; then
  note_fail symlink-swap-race "the secret showed $seen_secret times in $rounds rounds"
else
  note_ok symlink-swap-race "$rounds rounds: user's data $seen_user, refused $refusals, secret 0"
fi

# --- destinations and working directories ------------------------------------------------------
refused dest-escaping-link "symlink leading out of the image" -w -B "$work/user:/escape/x" "$IMG" true
[[ ! -e /root/x ]] || note_fail dest-escaping-link-host "host /root/x was created"
refused dest-dotdot "\.\.|not allowed|absolute|outside|invalid|leaves" -w -B "$work/user:../../../../tmp/berth-dd-$$" "$IMG" true
[[ ! -e /tmp/berth-dd-$$ ]] || note_fail dest-dotdot-host "host /tmp/berth-dd-$$ was created"
for dest in /proc /proc/sys /dev /sys; do
  no_secret "dest-over${dest//\//-}" -w -B "$work/user:$dest" "$IMG" sh -c "cat /proc/1/root$secret; ls $dest | head -3"
done
contained workdir-escape-link "/root" --pwd /escape "$IMG" sh -c 'pwd -P'
no_secret workdir-proc1-root --pwd /proc/1/root/root "$IMG" cat "$(basename "$secret")"
contained workdir-dotdot "/" --pwd /../../../.. "$IMG" sh -c 'pwd -P'
no_secret proc1-root-read "$IMG" cat "/proc/1/root$secret"
refused bind-flag-suid "flag|option|unknown|invalid|suid" -B "$work/user:/mnt/x:suid" "$IMG" true
refused bind-flag-dev "unknown option" -B "$work/user:/mnt/x:dev" "$IMG" true

# --- site files and caches (campaign 5) ---------------------------------------------------------
conf=$work/user/berth.conf
echo "allow_user_images = true" >"$conf"
chown berthtest "$conf"
out=$(BERTH_CONFIG=$conf "$BERTH" exec "$IMG" true 2>&1) && rc=0 || rc=$?
if [[ $rc -ne 0 && $out == *"$conf"* && $(grep -c . <<<"$out") -eq 1 ]]; then
  note_ok user-owned-berth-conf "refused: ${out##*: }"
else
  note_fail user-owned-berth-conf "exit $rc: $out"
fi
mkdir -p "$work/conf-dir" && cp "$conf" "$work/conf-dir/berth.conf" && chown root "$work/conf-dir/berth.conf"
chmod 777 "$work/conf-dir"
out=$(BERTH_CONFIG=$work/conf-dir/berth.conf "$BERTH" exec "$IMG" true 2>&1) && rc=0 || rc=$?
[[ $rc -ne 0 && $(grep -c . <<<"$out") -eq 1 ]] && note_ok conf-in-writable-dir "refused: ${out##*: }" ||
  note_fail conf-in-writable-dir "exit $rc: $out"
cache=$work/user/cache
mkdir -p "$cache"
chown berthtest "$cache"
out=$("$BERTH" pull --cache "$cache" "$SANDBOX" 2>&1) && rc=0 || rc=$?
[[ $rc -ne 0 && $(grep -c . <<<"$out") -eq 1 ]] && note_ok user-owned-cache-as-root "refused: ${out##*: }" ||
  note_fail user-owned-cache-as-root "exit $rc: $out"
mkdir -p "$work/cache2/images" && chmod 777 "$work/cache2/images"
out=$("$BERTH" pull --cache "$work/cache2" "$SANDBOX" 2>&1) && rc=0 || rc=$?
[[ $rc -ne 0 && $(grep -c . <<<"$out") -eq 1 ]] && note_ok world-writable-cache-images "refused: ${out##*: }" ||
  note_fail world-writable-cache-images "exit $rc: $out"

check_no_leaks
echo "$((passed + failed)) escape attempts, $passed held, $failed failed"
if [[ ${BERTH_RELIABILITY_TABLE:-} ]]; then printf '%s\n' "${results[@]}"; fi
[[ $failed -eq 0 ]]
