#!/bin/bash
# `berth pull` from every local source kind gives the same tree; `berth cache` lists, removes
# and collects. No root needed: images are read back with sqfs2tar.
set -euo pipefail
BERTH_BIN=${BERTH_BIN:-$BERTH_BUILD_DIR/image_tool/berth}
SRC=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v sqfs2tar >/dev/null || { echo "sqfs2tar missing"; exit 77; }
work=$(mktemp -d /tmp/berth-sources.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# name type mode uid:gid size link, without /.berth/source.json (it names the source).
listing() {
  sqfs2tar --no-skip "$1" 2>/dev/null | python3 -c '
import sys, tarfile
t = tarfile.open(fileobj=sys.stdin.buffer, mode="r|")
for m in t:
    if m.name.startswith(".berth/source"): continue
    print(m.name, m.type.decode(), oct(m.mode), f"{m.uid}:{m.gid}", m.size, m.linkname)'
}

manifest_digest=$(python3 "$SRC/tests/data/make_oci_layout.py" "$work/layout" --tag v1 \
  --docker-archive "$work/docker.tar")
tar -C "$work/layout" -cf "$work/oci.tar" .
cache="$work/cache"

pull() { "$BERTH_BIN" -q pull --cache "$cache" "$@" 2>"$work/stderr"; }
out=$(pull "oci:$work/layout:v1")
[[ $(sed -n 1p <<<"$out") == "$manifest_digest" ]] || fail "oci: digest $(sed -n 1p <<<"$out")"
oci_image=$(sed -n 2p <<<"$out")
! grep -q 'setuid' "$work/stderr" || fail "setuid message without --strip-setuid: $(cat "$work/stderr")"

out=$(pull "oci-archive:$work/oci.tar:v1")
[[ $(sed -n 1p <<<"$out") == "$manifest_digest" ]] || fail "oci-archive: another digest"
[[ $(sed -n 2p <<<"$out") == "$oci_image" ]] || fail "oci-archive: not reused"

out=$(pull "docker-archive:$work/docker.tar")
docker_image=$(sed -n 2p <<<"$out")
[[ $docker_image != "$oci_image" ]] || fail "docker-archive: same image file as oci"
diff <(listing "$oci_image") <(listing "$docker_image") || fail "docker-archive tree differs"
listing "$oci_image" >"$work/oci.txt"
grep -q '^usr/bin/shared-link 1 0o755 0:0 0 usr/bin/shared$' "$work/oci.txt" ||
  fail "hard link missing: $(grep shared "$work/oci.txt")"

out=$("$BERTH_BIN" -q pull --cache "$cache" -o "$work/out.sqsh" "oci:$work/layout:v1")
[[ $(sed -n 2p <<<"$out") == "$work/out.sqsh" ]] || fail "-o: path $(sed -n 2p <<<"$out")"
diff <(listing "$oci_image") <(listing "$work/out.sqsh") || fail "-o tree differs"

# setuid/setgid bits: kept by default, removed on request (one line with the count).
grep -q '^usr/bin/su 0 0o4755 ' "$work/oci.txt" || fail "setuid bit lost: $(grep su "$work/oci.txt")"
"$BERTH_BIN" -q pull --cache "$cache" --strip-setuid -o "$work/strip.sqsh" "oci:$work/layout:v1" \
  >/dev/null 2>"$work/stderr"
grep -q 'setuid/setgid bits removed from 1 files' "$work/stderr" || fail "--strip-setuid: $(cat "$work/stderr")"
listing "$work/strip.sqsh" >"$work/strip.txt"
grep -q '^usr/bin/su 0 0o755 ' "$work/strip.txt" || fail "--strip-setuid kept the bit"

mkdir -p "$work/sandbox/sub"
echo hello >"$work/sandbox/sub/file"
out=$(pull "$work/sandbox")
listing "$(sed -n 2p <<<"$out")" >"$work/sandbox.txt"
grep -q '^sub/file 0 0o644 .* 6 $' "$work/sandbox.txt" || fail "sandbox file: $(cat "$work/sandbox.txt")"

out=$(pull "$work/out.sqsh")
cmp -s "$(sed -n 2p <<<"$out")" "$work/out.sqsh" || fail "squashfs import is not a copy"
head -c 4096 /dev/urandom >"$work/bogus.sqsh"
if pull "$work/bogus.sqsh"; then fail "bogus squashfs accepted"; fi
grep -q "no \`hsqs\` magic" "$work/stderr" || fail "bogus squashfs: $(cat "$work/stderr")"
if pull "oci:$work/layout:nope"; then fail "missing tag accepted"; fi
grep -q 'no image tagged `nope` (tags: v1)' "$work/stderr" || fail "tag error: $(cat "$work/stderr")"

list=$("$BERTH_BIN" cache --cache "$cache" list)
[[ $(wc -l <<<"$list") -eq 5 ]] || fail "cache list: $list"
grep -q "oci:$work/layout:v1" <<<"$list" || fail "cache list lacks the oci reference"
"$BERTH_BIN" cache --cache "$cache" rm "$manifest_digest" >/dev/null
[[ ! -e $oci_image ]] || fail "rm left the image"
"$BERTH_BIN" cache --cache "$cache" gc --max-size 0 >/dev/null
[[ $("$BERTH_BIN" cache --cache "$cache" list | wc -l) -eq 1 ]] || fail "gc left images"
[[ -z $(ls -A "$cache/images") ]] || fail "gc left files: $(ls -A "$cache/images")"
echo OK
