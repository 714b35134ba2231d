#!/usr/bin/env bash
# berth build of Dockerfiles as root, on the Debian test image (an OCI layout, no registry):
# the tutorial's cowsay images ported to Debian (a script instead of the package: tests are
# offline) with ENTRYPOINT and with CMD (Docker's rules through `berth run IMG [ARGS]`), a
# multi-stage build with COPY --from and USER, ARG/ENV substitution, .dockerignore, COPY
# --chown/--chmod, the image's source.json (manifest and layers for push), the build cache (an
# unchanged rebuild runs no step; a changed file reruns from its COPY; --no-cache),
# SOURCE_DATE_EPOCH (identical digests and files), a failing RUN (named, nothing kept).
source "$(dirname "$0")/lib/common.sh"
cd /tmp

images_env=${BERTH_TEST_IMAGE_CACHE:-/var/cache/berth-test-images}/current/images.env
[[ -f $images_env ]] || { echo "no test images (scripts/test-images --build-only)" >&2; exit 77; }
source "$images_env"
layout=${BERTH_TEST_IMAGE_DEBIAN_MPI:-}
[[ -f $layout/index.json ]] || { echo "no debian-mpi test image" >&2; exit 77; }
BASE="oci:$layout:latest"

work=$(mktemp -d /tmp/berth-build.XXXXXX)
chmod 700 "$work"
trap 'rm -rf "$work"' EXIT
export BERTH_CACHE_DIR=$work/cache
export TMPDIR=$work

build() { "$BERTH" -q build --build-arg "BASE=$BASE" "$@"; }
leftover_mounts() { grep -c "berth-build\|$work" /proc/self/mountinfo || true; }

# --- cowsay with ENTRYPOINT, then with CMD -------------------------------------------------
mkdir -p "$work/cow"
cat >"$work/cow/cowsay" <<'SH'
#!/bin/sh
msg="${*:-moo}"
echo " < $msg >"
echo "        \\   ^__^"
SH
chmod 755 "$work/cow/cowsay"
cat >"$work/cow/Dockerfile" <<'DF'
ARG BASE
FROM $BASE
COPY cowsay /usr/games/
ENV PATH=/usr/games:$PATH
ENTRYPOINT ["cowsay"]
DF
out=$(build -t localhost/cowsay:entry "$work/cow")
digest=$(head -1 <<<"$out")
[[ $digest == sha256:* ]] || fail "build prints the digest first: $out"
expect_eq "$("$BERTH" -q run localhost/cowsay:entry | head -1)" " < moo >" "ENTRYPOINT alone"
expect_eq "$("$BERTH" -q run localhost/cowsay:entry hi there | head -1)" " < hi there >" "ENTRYPOINT + args"
pass "cowsay with ENTRYPOINT"

cat >"$work/cow/Dockerfile" <<'DF'
ARG BASE
FROM $BASE
COPY cowsay /usr/games/
ENV PATH=/usr/games:$PATH
CMD ["cowsay", "default"]
DF
build -t localhost/cowsay:cmd "$work/cow" >/dev/null
expect_eq "$("$BERTH" -q run localhost/cowsay:cmd | head -1)" " < default >" "CMD alone"
expect_eq "$("$BERTH" -q run localhost/cowsay:cmd echo hi)" "hi" "args replace CMD"
pass "cowsay with CMD"

# source.json records the manifest: base layers and the step's layer, all in the blob cache.
img=$("$BERTH" -q build --build-arg "BASE=$BASE" -t localhost/cowsay:cmd "$work/cow" | tail -1)
src=$("$BERTH" -q exec "$img" cat /.berth/source.json)
python3 - "$src" "$BERTH_CACHE_DIR/blobs" "$layout" <<'PY' || fail "source.json manifest"
import json, os, sys
src = json.loads(sys.argv[1]); blobs = sys.argv[2]
man = json.loads(src["manifest"])
base = json.load(open(os.path.join(sys.argv[3], "index.json")))
layers = [l["digest"] for l in man["layers"]]
assert len(layers) >= 2, layers
for d in layers:
    assert os.path.exists(os.path.join(blobs, d.replace(":", "-"))), d
import hashlib
assert "sha256:" + hashlib.sha256(src["manifest"].encode()).hexdigest() == src["digest"]
PY
pass "source.json: manifest, layers in the blob cache"

# --- multi-stage, COPY --from, USER, ARG/ENV, .dockerignore, --chown/--chmod ---------------
mkdir -p "$work/ms/src" "$work/ms/secret"
echo "kept" >"$work/ms/src/a.txt"
echo "not me" >"$work/ms/src/skip.log"
echo "key" >"$work/ms/secret/id"
printf 'secret\n*/*.log\n' >"$work/ms/.dockerignore"
cat >"$work/ms/Dockerfile" <<'DF'
ARG BASE
FROM $BASE AS builder
ARG GREETING=hello
ENV WHO=world
RUN mkdir -p /out && echo "$GREETING $WHO" > /out/greeting && useradd -u 4321 -m builduser
COPY --chown=builduser:builduser --chmod=640 src/ /out/src/
FROM $BASE
COPY --from=builder --chown=4321 /out /opt/app
COPY --from=builder /etc/passwd /etc/passwd
USER 4321
WORKDIR /opt/app
RUN id -u > ./uid
CMD ["cat", "/opt/app/greeting"]
DF
build --build-arg GREETING=hi -t localhost/ms:1 "$work/ms" >/dev/null
expect_eq "$("$BERTH" -q run localhost/ms:1)" "hi world" "ARG from --build-arg, ENV"
expect_eq "$("$BERTH" -q exec localhost/ms:1 cat /opt/app/uid)" "4321" "RUN as USER"
expect_eq "$("$BERTH" -q exec localhost/ms:1 stat -c '%u:%g %a' /opt/app/src/a.txt)" "4321:4321 640" \
  "COPY --chown --chmod, kept by COPY --from"
"$BERTH" -q exec localhost/ms:1 test ! -e /opt/app/src/skip.log || fail ".dockerignore: */*.log"
"$BERTH" -q exec localhost/ms:1 test ! -e /opt/app/secret || fail ".dockerignore: secret"
expect_eq "$("$BERTH" -q exec localhost/ms:1 sh -c 'echo $WHO')" "" "ENV of another stage"
pass "multi-stage, COPY --from, USER, ARG/ENV, .dockerignore, --chown/--chmod"

# --- the build cache -------------------------------------------------------------------------
mkdir -p "$work/c"
echo one >"$work/c/file"
cat >"$work/c/Dockerfile" <<'DF'
ARG BASE
FROM $BASE
RUN echo first > /first
COPY file /file
RUN cat /file > /copied
DF
log=$("$BERTH" build --build-arg "BASE=$BASE" -t localhost/c:1 "$work/c" 2>&1 >/dev/null)
[[ $(grep -c cached <<<"$log") == 0 ]] || fail "first build hits: $log"
log=$("$BERTH" build --build-arg "BASE=$BASE" -t localhost/c:1 "$work/c" 2>&1 >/dev/null)
expect_eq "$(grep -c cached <<<"$log")" "3" "unchanged rebuild: every step cached ($log)"
d1=$(build -t localhost/c:1 "$work/c" | head -1)
echo two >"$work/c/file"
log=$("$BERTH" build --build-arg "BASE=$BASE" -t localhost/c:2 "$work/c" 2>&1 >/dev/null)
expect_eq "$(grep -c cached <<<"$log")" "1" "a changed file reruns from its COPY ($log)"
expect_eq "$("$BERTH" -q exec localhost/c:2 cat /copied)" "two" "the rerun step saw the new file"
log=$("$BERTH" build --no-cache --build-arg "BASE=$BASE" -t localhost/c:2 "$work/c" 2>&1 >/dev/null)
expect_eq "$(grep -c cached <<<"$log")" "0" "--no-cache runs every step"
[[ $d1 == sha256:* ]] || fail "digest"
pass "build cache: hits, a changed file, --no-cache"

# --- SOURCE_DATE_EPOCH: bit-identical ----------------------------------------------------------
export SOURCE_DATE_EPOCH=1700000000
a=$(build --no-cache "$work/a.sqsh" "$work/c" | head -1)
b=$(build --no-cache "$work/b.sqsh" "$work/c" | head -1)
unset SOURCE_DATE_EPOCH
expect_eq "$a" "$b" "SOURCE_DATE_EPOCH: the same manifest digest"
cmp -s "$work/a.sqsh" "$work/b.sqsh" || fail "SOURCE_DATE_EPOCH: the squashfs files differ"
pass "SOURCE_DATE_EPOCH: identical digests and images"

# --- a failing RUN ------------------------------------------------------------------------------
mkdir -p "$work/f"
cat >"$work/f/Dockerfile" <<'DF'
ARG BASE
FROM $BASE
RUN echo ok > /ok
RUN exit 3
DF
entries=$(ls "$BERTH_CACHE_DIR/build" | wc -l)
if err=$(build -t localhost/f:1 "$work/f" 2>&1); then fail "a failing RUN builds"; fi
expect_contains "$err" "Dockerfile:4: step 2/2 \`RUN exit 3\`: exited with status 3" "failing RUN message"
expect_eq "$(ls "$BERTH_CACHE_DIR/build" | wc -l)" "$((entries + 1))" "only the step that worked is cached"
if "$BERTH" -q exec localhost/f:1 true 2>/dev/null; then fail "a failed build left its tag"; fi
expect_eq "$(ls "$work" | grep -c berth-build || true)" "0" "scratch removed"
expect_eq "$(leftover_mounts)" "0" "no mount left"
pass "a failing RUN: named, nothing kept"
