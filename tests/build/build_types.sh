#!/usr/bin/env bash
# Every build type a user or packager may pick builds with warnings as errors and passes the unit
# tests: for each of Release (-O3), RelWithDebInfo (-O2 -g) and Debug (-g), a fresh build
# directory under /tmp, the default target (what `cmake --build` builds), then tests/unit_tests.
# Several full builds: ctest label `build`, not in scripts/test's default run (docs/testbed.md).
#
#   tests/build/build_types.sh                        all three
#   BERTH_BUILD_TYPES="Release" tests/build/build_types.sh
#   BERTH_BUILD_JOBS=N                                parallel jobs (default: nproc)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
types=${BERTH_BUILD_TYPES:-Release RelWithDebInfo Debug}
jobs=${BERTH_BUILD_JOBS:-$(nproc)}

fail() { echo "FAIL: $*" >&2; exit 1; }

dir=""
trap '[ -z "$dir" ] || rm -rf "$dir"' EXIT

# A flag each type compiles with (CMake's defaults for GCC and Clang: Release -O3 -DNDEBUG,
# RelWithDebInfo -O2 -g -DNDEBUG, Debug -g and no optimisation).
declare -A opt_flag=([Release]=-O3 [RelWithDebInfo]=-O2 [Debug]=-g)

for type in $types; do
  [ -n "${opt_flag[$type]:-}" ] || fail "unknown build type $type (Release, RelWithDebInfo, Debug)"
  dir=$(mktemp -d "/tmp/berth-build-$type.XXXXXX")
  t0=$SECONDS
  echo "== $type in $dir"
  cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DBERTH_WERROR=ON >"$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log" >&2; fail "$type: configure failed"; }
  cmake --build "$dir" -j "$jobs" >"$dir/build.log" 2>&1 ||
    { grep -E -B2 -A12 'error|Error' "$dir/build.log" | head -80 >&2; fail "$type: build failed"; }
  # The build really was this type, with -Werror: the unit tests' compile commands show both.
  flags=$(grep -m1 -o '"command": .*image_digest_test\.cpp' "$dir/compile_commands.json") ||
    fail "$type: no compile command for tests/unit/image_digest_test.cpp"
  for flag in "${opt_flag[$type]}" -Werror; do
    [[ " $flags " == *" $flag "* ]] || fail "$type: compiled without $flag: $flags"
  done
  [ "$type" != Debug ] || [[ " $flags " != *" -O"[1-3s]" "* ]] || fail "Debug: optimised: $flags"
  out=$("$dir/tests/unit_tests" 2>&1) || { echo "$out" | tail -40 >&2; fail "$type: unit tests failed"; }
  summary=$(grep -E '^\[doctest\] (test cases|Status)' <<<"$out")
  grep -q 'Status: SUCCESS!' <<<"$summary" || fail "$type: no success in the unit test summary: $out"
  grep -Eq 'test cases: *[1-9][0-9]* \| *[1-9][0-9]* passed' <<<"$summary" ||
    fail "$type: no passed test cases: $summary"
  echo "$type: built and passed in $((SECONDS - t0)) s: $(head -1 <<<"$summary")"
  rm -rf "$dir"
  dir=""
done
echo PASS
