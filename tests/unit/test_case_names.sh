#!/usr/bin/env bash
# ctest registers one test per doctest case from `unit_tests --list-test-cases`, and CMake splits
# that list at ';': a case whose name holds one becomes fragments that match no case and pass
# without running anything. Fail on any such name.
set -euo pipefail
unit_tests=${1:-${BERTH_BUILD_DIR:?BERTH_BUILD_DIR or an argument names the build}/tests/unit_tests}
names=$("$unit_tests" --list-test-cases --no-intro --no-version)
count=$(grep -c . <<<"$names")
[ "$count" -gt 100 ] || { echo "only $count test cases listed: $names" >&2; exit 1; }
if bad=$(grep -F ';' <<<"$names"); then
  echo "test case names with ';' (ctest would not run them; use -- instead):" >&2
  echo "$bad" >&2
  exit 1
fi
echo "$count test case names, none with ';'"
