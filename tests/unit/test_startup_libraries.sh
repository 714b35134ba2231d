#!/usr/bin/env bash
# berth and spank_berth.so must not link the libraries only pulls, conversions or GPU locality
# need: every process that loads them (`berth exec`, each srun and slurmstepd) would pay for
# loading them and their dependencies. They are opened on first use instead (curl_library,
# crypto_library, archive_library, hwloc_library, squashfs_server).
set -euo pipefail
: "${BERTH_BIN:?}" "${BERTH_PLUGIN:?}"
# libcurl's, libcrypto's, libarchive's (with libxml2, ICU, nettle, acl) and hwloc's (libudev).
lazy='lib(curl|ssl|crypto|archive|xml2|icu[a-z]*|nettle|acl|hwloc|udev|squashfuse[a-z_]*|fuse3)\.so'
for binary in "$BERTH_BIN" "$BERTH_PLUGIN"; do
  linked=$(ldd "$binary")
  grep -q 'libc\.so\.6' <<<"$linked" || { echo "ldd $binary gave no libraries:"; echo "$linked"; exit 1; }
  if grep -E "$lazy" <<<"$linked"; then
    echo "FAIL: $binary links the libraries above; open them at run time instead"
    exit 1
  fi
  echo "$(basename "$binary"): $(awk '$1 ~ /^lib/ {print $1}' <<<"$linked" | tr '\n' ' ')"
done
