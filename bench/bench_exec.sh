#!/usr/bin/env bash
# Start-up cost of a container, two rows:
#
# 1. `true`: `berth exec IMG true` against `true` on the host and against Charliecloud's
#    `ch-run IMG.sqsh -- true` (libsquashfuse, unprivileged) on the same squashfs image,
#    measured together with hyperfine; prints overheads (ms over the host) and ratios.
#    Rows: berth privileged (root: loop device + kernel squashfs), berth unprivileged and ch-run
#    (as the test user berthtest: user namespace + FUSE, both serving the image in-process with
#    libsquashfuse), each against the matching host baseline (runuser adds its own cost to the
#    user rows).
# 2. file-heavy: a start that reads a tree of HEAVY_FILES (5,000) small files (1-8 KiB of text,
#    in 8 x 8 x 4 directories, like a Python or Spack tree) and HEAVY_BIG (4) files of
#    HEAVY_BIG_MIB (32) MiB from the image (`find DIRS -type f -exec cat {} +`), with 1 reader
#    and with 2 parallel readers (each half of the tree), in three modes on the same image: root
#    (kernel squashfs), unprivileged (berth's FUSE server) and unprivileged with the site's
#    `squashfuse = squashfuse_ll` (berth.conf), the program instead of berth's server. Every run
#    is a fresh container, so a fresh mount: nothing is decompressed yet (the image file itself
#    stays in the page cache, for every mode alike). BERTH_BASELINE_BIN=PATH adds the
#    unprivileged rows of another berth binary (before/after in one run).
#
#   bench/bench_exec.sh [true|heavy]...   (as root; default both; BERTH_BIN / BERTH_BUILD_DIR
#                                          default to ./build)
#
# The machine may be shared: ROUNDS (default 4) rounds of RUNS/ROUNDS (HEAVY_RUNS/ROUNDS) runs
# of every command alternate, so that load changes hit all rows alike; medians over all runs.
# NICE=N (e.g. -10) runs every measured command at that nice value: on a machine busy with
# other work, a file-heavy start through FUSE (thousands of hand-offs between the reader and
# the server) waits for the CPU far more than the kernel's squashfs, which decompresses in the
# reader's own context; a compute node runs a step on cores of its own.
# /dev/fuse is opened to the user for the run and restored after.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export BERTH_BIN=${BERTH_BIN:-$top/build/image_tool/berth}
export BERTH_BUILD_DIR=${BERTH_BUILD_DIR:-$top/build}
RUNS=${RUNS:-40}
HEAVY_RUNS=${HEAVY_RUNS:-12}
HEAVY_FILES=${HEAVY_FILES:-5000}
HEAVY_BIG=${HEAVY_BIG:-4}
HEAVY_BIG_MIB=${HEAVY_BIG_MIB:-32}
rows=("${@:-true heavy}")
rows=" ${rows[*]} "
source "$top/tests/root/lib/common.sh"   # the test image ($IMG) and users
command -v hyperfine >/dev/null || { echo "hyperfine missing" >&2; exit 77; }
if [[ $rows == *" true "* ]]; then
  command -v ch-run >/dev/null || { echo "ch-run missing (charliecloud)" >&2; exit 77; }
fi
if [[ $rows == *" heavy "* ]]; then
  command -v squashfuse_ll >/dev/null || { echo "squashfuse_ll missing (squashfuse)" >&2; exit 77; }
fi

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
fuse_mode=$(stat -c %a /dev/fuse)
trap 'chmod "$fuse_mode" /dev/fuse; rm -rf "$work"' EXIT
chmod 0666 /dev/fuse
chmod 755 "$work"
cp "$IMG" "$work/img.sqsh"; chmod 644 "$work/img.sqsh"
cp "$BERTH_BIN" "$work/berth"; chmod 755 "$work/berth"
if [[ -n ${BERTH_BASELINE_BIN:-} ]]; then
  cp "$BERTH_BASELINE_BIN" "$work/berth-baseline"; chmod 755 "$work/berth-baseline"
fi
cd "$work"
pre=""
[[ -n ${NICE:-} ]] && pre="nice -n $NICE "
user() { echo "${pre}runuser -u berthtest -- env USER=berthtest $*"; }
ROUNDS=${ROUNDS:-4}

bench_true() {
  local baseline=()
  if [[ -n ${BERTH_BASELINE_BIN:-} ]]; then
    baseline=(-n berth-user-baseline "$(user "$work/berth-baseline" exec "$work/img.sqsh" true)")
  fi
  for round in $(seq "$ROUNDS"); do
    hyperfine -N --warmup 3 --runs $(((RUNS + ROUNDS - 1) / ROUNDS)) \
      --export-json "$work/result-$round.json" \
      -n host "${pre}true" \
      -n berth "$pre$work/berth exec $work/img.sqsh true" \
      -n host-user "$(user true)" \
      -n berth-user "$(user "$work/berth" exec "$work/img.sqsh" true)" \
      -n ch-run-user "$(user ch-run "$work/img.sqsh" -- true)" "${baseline[@]}" >&2
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
print(f"{'command':<20}{'median ms':>10}{'min ms':>9}{'mean ms':>9}{'overhead ms':>13}")
rows = [("host", None), ("berth", "host"), ("host-user", None), ("berth-user", "host-user"),
        ("ch-run-user", "host-user"), ("berth-user-baseline", "host-user")]
for name, base in rows:
    if name not in times:
        continue
    over = f"{med(name) - med(base):13.2f}" if base else f"{'':13}"
    print(f"{name:<20}{med(name):10.2f}{low(name):9.2f}{statistics.mean(times[name]):9.2f}{over}")
berth = med("berth") - med("host")
berth_user = med("berth-user") - med("host-user")
ch = med("ch-run-user") - med("host-user")
print(f"berth (root) overhead: {berth:.2f} ms (target < 25 ms: {'met' if berth < 25 else 'NOT met'})")
print(f"berth unprivileged overhead: {berth_user:.2f} ms; ch-run overhead: {ch:.2f} ms")
print(f"overhead ratio berth(root)/ch-run: {berth / ch:.2f}; berth(unprivileged)/ch-run: {berth_user / ch:.2f}")
if "berth-user-baseline" in times:
    print(f"unprivileged overhead, baseline berth: {med('berth-user-baseline') - med('host-user'):.2f} ms")
print(f"time ratio berth/host: {med('berth') / med('host'):.1f}x; ch-run/host (as user): {med('ch-run-user') / med('host-user'):.1f}x")
PY
}

# The file-heavy image: the test image's busybox tree plus /tree (see the header), squashed as
# berth's cache stores images (zstd level 3, 128 KiB blocks).
make_heavy_image() {
  cp -a "$SANDBOX" "$work/heavy-root"
  python3 - "$work/heavy-root/tree" "$HEAVY_FILES" "$HEAVY_BIG" "$HEAVY_BIG_MIB" <<'PY'
import base64, os, random, sys
root, files, big, big_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(18)
# Text like source code: words of a small vocabulary, compressible about 3x.
vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 10)))
              for _ in range(3000)]
corpus = " ".join(rng.choice(vocabulary) + ("\n" if rng.random() < 0.1 else "")
                  for _ in range(400000)).encode()
for i in range(files):
    directory = f"{root}/d{i % 8}/p{(i // 8) % 8}/q{(i // 64) % 4}"
    os.makedirs(directory, exist_ok=True)
    size = rng.randint(1024, 8192)
    start = rng.randrange(len(corpus) - size)
    with open(f"{directory}/f{i}.py", "wb") as f:
        f.write(corpus[start:start + size])
for i in range(big):
    os.makedirs(f"{root}/d{i % 8}", exist_ok=True)
    with open(f"{root}/d{i % 8}/big{i}.bin", "wb") as f:
        f.write(base64.b64encode(os.urandom(big_mib * 3 << 18)))   # a quarter compressible
PY
  mksquashfs "$work/heavy-root" "$work/heavy.sqsh" -quiet -no-progress -all-root \
    -comp zstd -Xcompression-level 3 -b 131072 >/dev/null
  rm -rf "$work/heavy-root"
  chmod 644 "$work/heavy.sqsh"
  printf 'squashfuse = %s\n' "$(command -v squashfuse_ll)" >"$work/squashfuse_ll.conf"
  chmod 644 "$work/squashfuse_ll.conf"
}

bench_heavy() {
  make_heavy_image
  local image=$work/heavy.sqsh
  local all="/tree/d0 /tree/d1 /tree/d2 /tree/d3 /tree/d4 /tree/d5 /tree/d6 /tree/d7"
  local one="find $all -type f -exec cat {} + >/dev/null"
  local two="find /tree/d0 /tree/d2 /tree/d4 /tree/d6 -type f -exec cat {} + >/dev/null &"
  two+=" find /tree/d1 /tree/d3 /tree/d5 /tree/d7 -type f -exec cat {} + >/dev/null & wait"
  local modes=(root user squashfuse_ll)
  declare -A prefix=(
    [root]="$pre$work/berth exec"
    [user]="$(user "$work/berth" exec)"
    [squashfuse_ll]="$(user BERTH_CONFIG="$work/squashfuse_ll.conf" "$work/berth" exec)")
  if [[ -n ${BERTH_BASELINE_BIN:-} ]]; then
    modes+=(baseline)
    prefix[baseline]="$(user "$work/berth-baseline" exec)"
  fi
  local commands=() mode
  for mode in "${modes[@]}"; do
    commands+=(-n "$mode-1" "${prefix[$mode]} $image sh -c '$one'")
    commands+=(-n "$mode-2" "${prefix[$mode]} $image sh -c '$two'")
  done
  for round in $(seq "$ROUNDS"); do
    hyperfine -N --warmup 1 --runs $(((HEAVY_RUNS + ROUNDS - 1) / ROUNDS)) \
      --export-json "$work/heavy-$round.json" "${commands[@]}" >&2
  done
  python3 - "$HEAVY_FILES" "$HEAVY_BIG" "$HEAVY_BIG_MIB" "$work"/heavy-*.json <<'PY'
import json, statistics, sys
files, big, big_mib = sys.argv[1:4]
times = {}
for path in sys.argv[4:]:
    for x in json.load(open(path))["results"]:
        times.setdefault(x["command"], []).extend(t * 1000 for t in x["times"])
med = lambda name: statistics.median(times[name])
print(f"file-heavy start: {files} files of 1-8 KiB + {big} x {big_mib} MiB, fresh mount each run "
      f"({len(times['root-1'])} runs each, medians)")
modes = [m for m in ("root", "user", "squashfuse_ll", "baseline") if f"{m}-1" in times]
names = {"root": "root (kernel squashfs)", "user": "unprivileged (berth FUSE server)",
         "squashfuse_ll": "unprivileged, squashfuse_ll", "baseline": "unprivileged, baseline berth"}
print(f"{'mode':<34}{'1 reader ms':>12}{'2 readers ms':>14}")
for m in modes:
    print(f"{names[m]:<34}{med(m + '-1'):12.0f}{med(m + '-2'):14.0f}")
for readers in ("1", "2"):
    user, root, sq = (med(f"{m}-{readers}") for m in ("user", "root", "squashfuse_ll"))
    line = (f"{readers} reader(s): unprivileged/root {user / root:.2f} (target <= 1.3: "
            f"{'met' if user / root <= 1.3 else 'NOT met'}); unprivileged/squashfuse_ll "
            f"{user / sq:.2f} (target <= 0.8: {'met' if user / sq <= 0.8 else 'NOT met'})")
    if "baseline-1" in times:
        line += f"; unprivileged/baseline {user / med('baseline-' + readers):.2f}"
    print(line)
PY
}

[[ $rows == *" true "* ]] && bench_true
[[ $rows == *" heavy "* ]] && bench_heavy
exit 0
