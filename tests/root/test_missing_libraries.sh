#!/usr/bin/env bash
# Libraries berth opens on first use: without them `berth exec` still runs, and a pull that
# needs one fails with one clear line naming it. Each library is hidden by bind-mounting an
# empty file over it in a private mount namespace.
source "$(dirname "$0")/lib/common.sh"

work=$(mktemp -d /tmp/berth-missing-libs.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tree/etc" && echo hello >"$work/tree/etc/hello"
: >"$work/empty"

# The file the dynamic loader picks for a soname.
library_path() { ldconfig -p | awk -v so="$1" '$1 == so && /x86-64/ {print $NF; exit}'; }

# Runs "$@" with the libraries named in $HIDE (sonames) made unloadable.
hidden() {
  local mounts="" so path
  for so in $HIDE; do
    path=$(library_path "$so")
    [[ -n $path ]] || fail "$so is not installed (ldconfig -p)"
    mounts+="mount --bind '$work/empty' '$path' && "
  done
  unshare -m sh -c "${mounts}exec \"\$@\"" sh "$@"
}

# The container start-up path needs none of them.
out=$(HIDE="libarchive.so.13 libcrypto.so.3 libhwloc.so.15 libcurl.so.4" hidden \
  "$BERTH" exec "$IMG" cat /etc/image-marker 2>&1) || fail "exec without the lazy libraries: $out"
expect_eq "$out" "image-only file" "exec without the lazy libraries"
pass "berth exec runs without libarchive, libcrypto, hwloc and libcurl"

for so in libarchive.so.13 libcrypto.so.3; do
  if err=$(HIDE=$so hidden "$BERTH" -q pull -o "$work/out.sqsh" "$work/tree" 2>&1); then
    fail "pull without $so succeeded"
  fi
  expect_contains "$err" "cannot load $so: " "pull without $so"
  [[ $(wc -l <<<"$err") -eq 1 ]] || fail "pull without $so: more than one line: $err"
  pass "pull without $so: $err"
done
# With them, the same pull works (the failures above were the hidden library's).
"$BERTH" -q pull -o "$work/out.sqsh" "$work/tree" >/dev/null || fail "pull with all libraries"
pass "pull with all libraries"
check_no_leaks
