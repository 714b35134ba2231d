#!/usr/bin/env bash
# Start-up cost of a container: `berth exec IMG true` against `true` on the host and against
# Charliecloud's `ch-run IMG.sqsh -- true` (libsquashfuse, unprivileged) on the same squashfs
# image, measured together with hyperfine; prints overheads (ms over the host) and ratios.
#
#   bench/bench_exec.sh            (as root; BERTH_BIN / BERTH_BUILD_DIR default to ./build)
#
# Rows: berth privileged (root: loop device + kernel squashfs), berth unprivileged and ch-run
# (as the test user berthtest: user namespace + FUSE, both serving the image in-process with
# libsquashfuse), each against the matching host baseline (runuser adds its own cost to the user
# rows). The machine may be shared: ROUNDS (default 4) rounds of RUNS/ROUNDS runs of every
# command alternate, so that load changes hit all rows alike; medians over all runs.
# /dev/fuse is opened to the user for the run and restored after.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export BERTH_BIN=${BERTH_BIN:-$top/build/image_tool/berth}
export BERTH_BUILD_DIR=${BERTH_BUILD_DIR:-$top/build}
RUNS=${RUNS:-40}
source "$top/tests/root/lib/common.sh"   # the test image ($IMG) and users
command -v hyperfine >/dev/null || { echo "hyperfine missing" >&2; exit 77; }
command -v ch-run >/dev/null || { echo "ch-run missing (charliecloud)" >&2; exit 77; }

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
fuse_mode=$(stat -c %a /dev/fuse)
trap 'chmod "$fuse_mode" /dev/fuse; rm -rf "$work"' EXIT
chmod 0666 /dev/fuse
chmod 755 "$work"
cp "$IMG" "$work/img.sqsh"; chmod 644 "$work/img.sqsh"
cp "$BERTH_BIN" "$work/berth"; chmod 755 "$work/berth"
cd "$work"
user() { echo "runuser -u berthtest -- env USER=berthtest $*"; }

ROUNDS=${ROUNDS:-4}
for round in $(seq "$ROUNDS"); do
  hyperfine -N --warmup 3 --runs $(((RUNS + ROUNDS - 1) / ROUNDS)) \
    --export-json "$work/result-$round.json" \
    -n host "true" \
    -n berth "$work/berth exec $work/img.sqsh true" \
    -n host-user "$(user true)" \
    -n berth-user "$(user "$work/berth" exec "$work/img.sqsh" true)" \
    -n ch-run-user "$(user ch-run "$work/img.sqsh" -- true)" >&2
done

python3 - "$work"/result-*.json <<'PY'
import json, statistics, sys
times = {}
for path in sys.argv[1:]:
    for x in json.load(open(path))["results"]:
        times.setdefault(x["command"], []).extend(t * 1000 for t in x["times"])
# Medians: the machine is shared, and means follow its load more than berth's cost.
med = lambda name: statistics.median(times[name])
low = lambda name: min(times[name])
print(f"{'command':<14}{'median ms':>10}{'min ms':>9}{'mean ms':>9}{'overhead ms':>13}")
for name, base in [("host", None), ("berth", "host"), ("host-user", None),
                   ("berth-user", "host-user"), ("ch-run-user", "host-user")]:
    over = f"{med(name) - med(base):13.2f}" if base else f"{'':13}"
    print(f"{name:<14}{med(name):10.2f}{low(name):9.2f}{statistics.mean(times[name]):9.2f}{over}")
berth = med("berth") - med("host")
berth_user = med("berth-user") - med("host-user")
ch = med("ch-run-user") - med("host-user")
print(f"berth (root) overhead: {berth:.2f} ms (target < 25 ms: {'met' if berth < 25 else 'NOT met'})")
print(f"berth unprivileged overhead: {berth_user:.2f} ms; ch-run overhead: {ch:.2f} ms")
print(f"overhead ratio berth(root)/ch-run: {berth / ch:.2f}; berth(unprivileged)/ch-run: {berth_user / ch:.2f}")
print(f"time ratio berth/host: {med('berth') / med('host'):.1f}x; ch-run/host (as user): {med('ch-run-user') / med('host-user'):.1f}x")
PY
