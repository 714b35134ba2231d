#!/usr/bin/env bash
# berth build of an Apptainer-docs-style "lolcow" definition file on the Debian test image,
# offline (a cowsay script in %files instead of the package): %files, %post, %environment,
# %runscript, %labels, %help, %test, {{ arguments }}; the /.berth/ files the runtime reads, the
# labels in the config, %test run after the build (and failing it fails the build; --notest).
source "$(dirname "$0")/lib/common.sh"
cd /tmp

images_env=${BERTH_TEST_IMAGE_CACHE:-/var/cache/berth-test-images}/current/images.env
[[ -f $images_env ]] || { echo "no test images (scripts/test-images --build-only)" >&2; exit 77; }
source "$images_env"
layout=${BERTH_TEST_IMAGE_DEBIAN_MPI:-}
[[ -f $layout/index.json ]] || { echo "no debian-mpi test image" >&2; exit 77; }

work=$(mktemp -d /tmp/berth-build-def.XXXXXX)
chmod 700 "$work"
trap 'rm -rf "$work"' EXIT
export BERTH_CACHE_DIR=$work/cache
export TMPDIR=$work

cat >"$work/cowsay" <<'SH'
#!/bin/sh
echo " < ${*:-moo} >"
SH
chmod 755 "$work/cowsay"
cat >"$work/lolcow.def" <<DEF
Bootstrap: oci
From: $layout:latest

%arguments
    GREETING=hello

%files
    cowsay /usr/games/cowsay

%post
    useradd -m cow
    echo "{{ GREETING }} from post" > /greeting

%environment
    export LC_ALL=C
    export PATH=/usr/games:\$PATH

%runscript
    . /.berth/environment
    cowsay "\$@"

%labels
    Author berth-tests
    Version v0.0.1

%help
    This is a demo container used to illustrate a def file.

%test
    test -x /usr/games/cowsay
    grep -q "from post" /greeting
DEF
out=$("$BERTH" build --build-arg GREETING=hi -t localhost/lolcow:1 "$work/lolcow.def" 2>&1) \
  || fail "build: $out"
expect_contains "$out" "running %test" "%test runs after the build"
I=localhost/lolcow:1
expect_eq "$("$BERTH" -q exec "$I" cat /greeting)" "hi from post" "%post with {{ GREETING }}"
expect_eq "$("$BERTH" -q exec "$I" getent passwd cow | cut -d: -f1)" "cow" "%post useradd"
expect_eq "$("$BERTH" -q exec "$I" sh /.berth/runscript moo | head -1)" " < moo >" "/.berth/runscript"
expect_eq "$("$BERTH" -q exec "$I" head -1 /.berth/runscript)" "#!/bin/sh" "runscript's shell line"
expect_contains "$("$BERTH" -q exec "$I" cat /.berth/environment)" "export LC_ALL=C" "/.berth/environment"
expect_contains "$("$BERTH" -q exec "$I" cat /.berth/help)" "demo container" "/.berth/help"
expect_contains "$("$BERTH" -q exec "$I" cat /.berth/test)" 'grep -q "from post"' "/.berth/test"
expect_contains "$("$BERTH" -q exec "$I" cat /.berth/definition)" "Bootstrap: oci" "/.berth/definition"
config=$("$BERTH" -q exec "$I" cat /.berth/config.json)
expect_contains "$config" '"Author":"berth-tests"' "%labels in the config"
expect_contains "$config" '"Version":"v0.0.1"' "%labels in the config"
pass "lolcow definition file: %files, %post, metadata, labels, %test"

# A failing %test fails the build; --notest skips it.
sed -i 's|grep -q "from post" /greeting|grep -q "not there" /greeting|' "$work/lolcow.def"
if err=$("$BERTH" build -t localhost/lolcow:2 "$work/lolcow.def" 2>&1); then fail "a failing %test builds"; fi
expect_contains "$err" "%test exited with status 1" "a failing %test"
"$BERTH" -q build --notest -t localhost/lolcow:3 "$work/lolcow.def" >/dev/null || fail "--notest"
pass "%test failure and --notest"

# Unsupported parts: one line with file:line.
printf 'Bootstrap: oci\nFrom: %s:latest\n%%setup\n    touch $BERTH_ROOTFS/x\n' "$layout" >"$work/setup.def"
if err=$("$BERTH" build -t localhost/setup:1 "$work/setup.def" 2>&1); then fail "%setup builds"; fi
expect_contains "$err" "setup.def:3: %setup is not supported by berth build yet" "%setup refused"
pass "unsupported sections: one line"
