#!/bin/bash
# The build layer writer against a third-party unpacker: a real overlay mount is changed as a
# build step would change it (a deletion, a directory removed and made again, a copy-up, new
# files, a hard link, a symlink, owners and modes); the layer of its lower directory and the
# layer of its upper directory, unpacked by `umoci raw unpack`, must give the tree the mount
# showed. Also: the layer is the same bytes when written again, its digests are what sha256sum
# says, and its gzip header holds no time and no name.
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "needs root"; exit 77; }
command -v umoci >/dev/null || { echo "umoci missing"; exit 77; }
PROBE=${BERTH_BUILD_LAYER_PROBE:-$BERTH_BUILD_DIR/tests/build_layer_probe}
SRC=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

work=$(mktemp -d /tmp/berth-build-layer.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p lower upper work merged layout/blobs/sha256
mkdir -p lower/etc lower/usr/share/doc lower/var/lib lower/bin lower/opt
echo ID=test >lower/etc/os-release
echo 'root:x:0:0::/root:/bin/sh' >lower/etc/passwd
echo a >lower/usr/share/doc/a
echo b >lower/usr/share/doc/b
echo old >lower/var/lib/state
printf '#!/bin/sh\n' >lower/bin/tool
chmod 4755 lower/bin/tool
ln lower/bin/tool lower/bin/tool-link

# The step, in a mount namespace of its own (nothing stays mounted).
if ! unshare -m sh -ec '
  mount --make-rprivate /
  mount -t overlay overlay -o "lowerdir=$1/lower,upperdir=$1/upper,workdir=$1/work,redirect_dir=off,metacopy=off,index=off" "$1/merged"
  cd "$1/merged"
  rm etc/os-release
  rm -rf usr/share/doc && mkdir usr/share/doc && echo c >usr/share/doc/c
  echo new >var/lib/state && chmod 600 var/lib/state
  mkdir -p opt/app && echo app >opt/app/run && ln opt/app/run opt/app/run-again
  ln -s /opt/app/run bin/app
  chown 1000:1000 opt/app && chmod 750 etc
  python3 "$2/tests/data/tree_manifest.py" "$1/merged" --no-mtime >"$1/overlay.txt"
  cd / && umount "$1/merged"' sh "$work" "$SRC"; then
  echo "overlayfs cannot be mounted here"
  exit 77
fi

read -r ldigest ldiff lsize _ < <("$PROBE" lower lower.tgz 1700000000)
read -r udigest udiff usize uentries < <("$PROBE" upper upper.tgz 1700000000)
[[ $(sha256sum <upper.tgz | cut -d' ' -f1) == "${udigest#sha256:}" ]] || { echo "FAIL: blob digest"; exit 1; }
[[ $(zcat upper.tgz | sha256sum | cut -d' ' -f1) == "${udiff#sha256:}" ]] || { echo "FAIL: diff id"; exit 1; }
[[ $(od -An -tx1 -j4 -N4 upper.tgz | tr -d ' ') == 00000000 ]] || { echo "FAIL: gzip time set"; exit 1; }
[[ $(od -An -tx1 -j3 -N1 upper.tgz | tr -d ' ') == 00 ]] || { echo "FAIL: gzip flags (name?)"; exit 1; }
read -r again _ < <("$PROBE" upper upper-again.tgz 1700000000)
[[ $again == "$udigest" ]] || { echo "FAIL: not deterministic: $udigest, then $again"; exit 1; }
listing=$(tar -tzvf upper.tgz)
grep -q 'etc/.wh.os-release' <<<"$listing" || { echo "FAIL: no whiteout"; echo "$listing"; exit 1; }
grep -q 'usr/share/doc/.wh..wh..opq' <<<"$listing" || { echo "FAIL: no opaque marker"; exit 1; }
grep -q 'opt/app/run-again link to opt/app/run' <<<"$listing" || { echo "FAIL: no hard link"; exit 1; }
[[ $uentries -gt 5 ]] || { echo "FAIL: $uentries entries"; exit 1; }

# An OCI layout of the two layers, unpacked by umoci.
mv lower.tgz "layout/blobs/sha256/${ldigest#sha256:}"
mv upper.tgz "layout/blobs/sha256/${udigest#sha256:}"
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s","%s"]}}' \
  "$ldiff" "$udiff" >config.json
cdigest=$(sha256sum <config.json | cut -d' ' -f1)
cp config.json "layout/blobs/sha256/$cdigest"
layer='{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}'
printf "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:%s\",\"size\":%s},\"layers\":[$layer,$layer]}" \
  "$cdigest" "$(stat -c %s config.json)" "$ldigest" "$lsize" "$udigest" "$usize" >manifest.json
mdigest=$(sha256sum <manifest.json | cut -d' ' -f1)
cp manifest.json "layout/blobs/sha256/$mdigest"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"step"}}]}' \
  "$mdigest" "$(stat -c %s manifest.json)" >layout/index.json
echo '{"imageLayoutVersion":"1.0.0"}' >layout/oci-layout
umoci raw unpack --image layout:step unpacked >/dev/null 2>&1
python3 "$SRC/tests/data/tree_manifest.py" unpacked --no-mtime >umoci.txt
if ! diff -u overlay.txt umoci.txt; then
  echo "FAIL: trees differ (- overlay mount, + umoci unpack of the layers)"
  exit 1
fi
# Spot checks, so that two empty trees cannot pass.
grep -q '^usr/share/doc/c file 644 0:0 nlink=1 ' umoci.txt
grep -q '^opt/app/run file 644 0:0 nlink=2 ' umoci.txt
grep -q '^bin/tool file 4755 0:0 nlink=2 ' umoci.txt
grep -q '^opt/app dir 755 1000:1000' umoci.txt
if grep -Eq '^(usr/share/doc/a|etc/os-release) ' umoci.txt; then
  echo "FAIL: a deleted path came back"
  exit 1
fi
echo "PASS: the layers of a real overlay step unpack (umoci) to the mounted tree"
