#!/usr/bin/env bash
# berth exec's environment, rule by rule (shared/container/environment.hpp; the same rules as
# srun's, see tests/integration/test_spank_environment.sh). The image's Env: PATH=/bin:/usr/bin,
# IMAGE_VAR=from-image, HOME=/root.
source "$(dirname "$0")/lib/common.sh"
cd /tmp

value() {  # value NAME ENV_OUTPUT: the value of NAME, or <unset>
  local line
  line=$(grep -E "^$1=" <<<"$2" || true)
  [[ -n $line ]] && echo "${line#*=}" || echo "<unset>"
}

host_env=(OMP_NUM_THREADS=8 NCCL_DEBUG=INFO IMAGE_VAR=from-host SLURM_PROCID=5 PMIX_RANK=5
  LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 LD_LIBRARY_PATH=/host/lib PATH=/host/bin:$PATH
  TERM=xterm-test)

# 1. The caller's environment passes, host-only names never.
out=$(env "${host_env[@]}" $BERTH exec "$IMG" env)
expect_eq "$(value OMP_NUM_THREADS "$out")" 8 "rule 1: OMP_NUM_THREADS"
expect_eq "$(value NCCL_DEBUG "$out")" INFO "rule 1: NCCL_DEBUG"
expect_eq "$(value LD_PRELOAD "$out")" "<unset>" "rule 1: LD_PRELOAD is host-only"
expect_eq "$(value LD_LIBRARY_PATH "$out")" "<unset>" "rule 1: LD_LIBRARY_PATH is host-only"
expect_eq "$(value TERM "$out")" xterm-test "rule 1: TERM"
pass "rule 1: the host environment passes, PATH/LD_* do not"

# 2. The image's Env wins for its names (PATH too); per-task variables and HOME keep the host's.
expect_eq "$(value PATH "$out")" /bin:/usr/bin "rule 2: the image's PATH"
expect_eq "$(value IMAGE_VAR "$out")" from-image "rule 2: the image's value wins"
expect_eq "$(value SLURM_PROCID "$out")" 5 "rule 2: SLURM_PROCID keeps the task's"
expect_eq "$(value PMIX_RANK "$out")" 5 "rule 2: PMIX_RANK keeps the task's"
out=$($BERTH exec --as-user berthtest "$IMG" env)
expect_eq "$(value HOME "$out")" "$(getent passwd berthtest | cut -d: -f6)" "--as-user: the user's HOME"
expect_eq "$(value USER "$out")" berthtest "--as-user: USER"
expect_eq "$(value LOGNAME "$out")" berthtest "--as-user: LOGNAME"
pass "rule 2: image Env wins, except per-task variables and identity"

# 3. --env NAME (and --host-env NAME): the host's value wins.
out=$(env "${host_env[@]}" $BERTH exec --env IMAGE_VAR "$IMG" env)
expect_eq "$(value IMAGE_VAR "$out")" from-host "rule 3: --env NAME"
out=$(env "${host_env[@]}" $BERTH exec --env IMAGE_VAR,PATH --env A=1 "$IMG" env)
expect_eq "$(value IMAGE_VAR "$out")" from-host "rule 3: --env NAME,NAME"
expect_contains "$(value PATH "$out")" /host/bin "rule 3: a named host-only variable"
expect_eq "$(value A "$out")" 1 "--env NAME=VALUE still sets"
out=$(env "${host_env[@]}" $BERTH exec --host-env IMAGE_VAR "$IMG" env)
expect_eq "$(value IMAGE_VAR "$out")" from-host "rule 3: --host-env NAME"
msg=$($BERTH exec --env 2BAD "$IMG" true 2>&1 || true)
expect_contains "$msg" "\`2BAD\` is not a variable name" "--env with a bad name"
pass "rule 3: --env NAME makes the host win"

# 4. --cleanenv: the image's Env, per-task variables, HOME/USER/LOGNAME/TERM/TMPDIR.
out=$(env "${host_env[@]}" TMPDIR=/tmp $BERTH exec --cleanenv "$IMG" env)
expect_eq "$(value OMP_NUM_THREADS "$out")" "<unset>" "rule 4: OMP_NUM_THREADS dropped"
expect_eq "$(value NCCL_DEBUG "$out")" "<unset>" "rule 4: NCCL_DEBUG dropped"
expect_eq "$(value IMAGE_VAR "$out")" from-image "rule 4: the image's Env"
expect_eq "$(value SLURM_PROCID "$out")" 5 "rule 4: per-task variables kept"
expect_eq "$(value TERM "$out")" xterm-test "rule 4: TERM kept"
expect_eq "$(value TMPDIR "$out")" /tmp "rule 4: TMPDIR kept"
expect_eq "$(value HOME "$out")" /root "rule 4: HOME kept"
out=$(env "${host_env[@]}" $BERTH exec --cleanenv --env NCCL_DEBUG "$IMG" env)
expect_eq "$(value NCCL_DEBUG "$out")" INFO "rule 4 with rule 3"
pass "rule 4: --cleanenv"

# The site's host-only names (berth.conf host_only_env).
work=$(mktemp -d /tmp/berth-env.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'host_only_env = NCCL_DEBUG\n' >"$work/berth.conf"
chmod -R a+rX "$work"
out=$(env "${host_env[@]}" BERTH_CONFIG="$work/berth.conf" $BERTH exec "$IMG" env)
expect_eq "$(value NCCL_DEBUG "$out")" "<unset>" "host_only_env: NCCL_DEBUG"
expect_eq "$(value OMP_NUM_THREADS "$out")" 8 "host_only_env: others still pass"
pass "berth.conf host_only_env"

# --env-file, then --env NAME=VALUE.
printf 'FROMFILE=yes\n# comment\nA=file\n' >/tmp/berth-envfile.$$
expect_eq "$($BERTH exec --env-file /tmp/berth-envfile.$$ --env A=cli "$IMG" sh -c 'echo $FROMFILE-$A')" \
  "yes-cli" "--env-file, then --env"
rm -f /tmp/berth-envfile.$$
pass "explicit assignments"
check_no_leaks
