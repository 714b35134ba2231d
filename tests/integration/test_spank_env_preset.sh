#!/usr/bin/env bash
# --container-env-preset=pytorch on two nodes: every task of a containerized step gets
# MASTER_ADDR (the step's first node, as Slurm reaches it: its NodeAddr), MASTER_PORT
# (20000 + job id % 10000), WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE and NODE_RANK that
# match its Slurm variables, and MASTER_ADDR:MASTER_PORT is a real rendezvous (rank 0 listens,
# every other rank connects, as torch.distributed's TCP store does). The preset wins over the
# image's Env; values the user set win over the preset; the environment form; nothing without
# it; a bad name is one error line; #SBATCH passes it to the job's steps.
source "$(dirname "$0")/spank_lib.sh"

# A busybox image with dist_check, and an image Env that sets MASTER_PORT (the preset wins).
IMG=$SPANK_WORK/dist.sqsh
make_image "$IMG" '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin:/usr/local/bin","MASTER_PORT=29500"]}}'
extra=$(mktemp -d)
mkdir -p "$extra/usr/local/bin"
for applet in nc timeout; do ln -s /bin/busybox "$extra/usr/local/bin/$applet"; done
# Rank 0's side of one connection: answer the line it got.
printf '#!/bin/sh\nread -r line\necho "ack $line"\n' >"$extra/usr/local/bin/dist_ack"
cat >"$extra/usr/local/bin/dist_check" <<'EOF'
#!/bin/sh
# One line per task: the preset's variables beside Slurm's; then the rendezvous: rank 0 serves
# one connection per other rank on MASTER_ADDR:MASTER_PORT, every other rank connects until
# rank 0 answers it (a connection queued while rank 0 was between two listens is reset: retry).
echo "task procid=$SLURM_PROCID rank=$RANK localid=$SLURM_LOCALID local_rank=$LOCAL_RANK" \
  "nodeid=$SLURM_NODEID node_rank=$NODE_RANK ntasks=$SLURM_STEP_NUM_TASKS world=$WORLD_SIZE" \
  "lws=$LOCAL_WORLD_SIZE host=$(hostname) addr=$MASTER_ADDR port=$MASTER_PORT" \
  "job=$SLURM_JOB_ID nodes=$SLURM_STEP_NODELIST"
if [ "$RANK" = 0 ]; then
  served=0
  while [ "$served" -lt $((WORLD_SIZE - 1)) ]; do
    timeout 60 nc -l -p "$MASTER_PORT" -e /usr/local/bin/dist_ack || break
    served=$((served + 1))
  done
  echo "rendezvous heard=$served of=$((WORLD_SIZE - 1)) at=$MASTER_ADDR:$MASTER_PORT"
else
  tries=0
  until [ "$(echo "hello $RANK" | nc -w 2 "$MASTER_ADDR" "$MASTER_PORT" 2>/dev/null)" = "ack hello $RANK" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 300 ] || { echo "rendezvous rank $RANK cannot reach $MASTER_ADDR:$MASTER_PORT"; exit 1; }
    sleep 0.1
  done
fi
EOF
chmod 0755 "$extra/usr/local/bin/dist_check" "$extra/usr/local/bin/dist_ack"
# Appended to the image's root (mksquashfs without -noappend adds the directory's contents).
mksquashfs "$extra" "$IMG" -quiet -no-progress -all-root >/dev/null
rm -rf "$extra"

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }  # field LINE KEY

# check_step TASKS: the task lines in $OUT against their Slurm variables and each other;
# prints the common MASTER_ADDR and MASTER_PORT.
check_step() {
  local tasks=$1 line n=0 addr="" port="" key
  [ "$(grep -c '^task ' "$OUT")" = "$tasks" ] || { show; fail "expected $tasks task lines"; }
  while read -r line; do
    n=$((n + 1))
    [ "$(field "$line" rank)" = "$(field "$line" procid)" ] || { show; fail "RANK != SLURM_PROCID: $line"; }
    [ "$(field "$line" local_rank)" = "$(field "$line" localid)" ] || { show; fail "LOCAL_RANK: $line"; }
    [ "$(field "$line" node_rank)" = "$(field "$line" nodeid)" ] || { show; fail "NODE_RANK: $line"; }
    [ "$(field "$line" world)" = "$tasks" ] && [ "$(field "$line" ntasks)" = "$tasks" ] ||
      { show; fail "WORLD_SIZE: $line"; }
    # LOCAL_WORLD_SIZE: the number of task lines of this node.
    key=$(field "$line" nodeid)
    [ "$(field "$line" lws)" = "$(grep -c " nodeid=$key " "$OUT")" ] || { show; fail "LOCAL_WORLD_SIZE: $line"; }
    [ -z "$addr" ] || [ "$(field "$line" addr)/$(field "$line" port)" = "$addr/$port" ] ||
      { show; fail "tasks disagree on MASTER_ADDR/MASTER_PORT"; }
    addr=$(field "$line" addr) port=$(field "$line" port)
  done < <(grep '^task ' "$OUT")
  [ -n "$addr" ] && [ -n "$port" ] || { show; fail "MASTER_ADDR or MASTER_PORT empty"; }
  expect_out "^rendezvous heard=$((tasks - 1)) of=$((tasks - 1)) at=" "rank 0 heard every other rank"
  echo "$addr $port"
}

# The address Slurm reaches the step's first node at: its NodeAddr.
first_node_addr() {
  local nodes first
  nodes=$(field "$(grep -m1 '^task ' "$OUT")" nodes)
  first=$(testbed_in_netns scontrol show hostnames "$nodes" | head -n 1)
  testbed_in_netns scontrol show node "$first" | grep -o 'NodeAddr=[^ ]*' | cut -d= -f2
}

# 1. Four tasks on two nodes: the values, the first node's NodeAddr, the job's port; the
# image's MASTER_PORT=29500 loses.
as_user_ok srun -N2 -n4 --container-env-preset=pytorch --container-image="$IMG" dist_check
read -r addr port <<<"$(check_step 4)"
job=$(field "$(grep -m1 '^task ' "$OUT")" job)
assert_addr=$(first_node_addr)
[ "$addr" = "$assert_addr" ] || { show; fail "MASTER_ADDR=$addr, the first node's NodeAddr is $assert_addr"; }
[ "$port" = $((20000 + job % 10000)) ] || { show; fail "MASTER_PORT=$port for job $job"; }
[ "$(grep '^task ' "$OUT" | sed 's/.* host=\([^ ]*\) .*/\1/' | sort -u | wc -l)" = 2 ] ||
  { show; fail "the tasks did not run on two nodes"; }
pass "pytorch preset, 4 tasks on 2 nodes: MASTER_ADDR=$addr (NodeAddr), MASTER_PORT=$port (job $job), rendezvous"

# 2. An uneven layout: LOCAL_WORLD_SIZE differs per node (2 and 1).
as_user_ok srun -N2 -n3 --container-env-preset=pytorch --container-image="$IMG" dist_check
check_step 3 >/dev/null
[ "$(grep '^task ' "$OUT" | sed 's/.* lws=\([0-9]*\) .*/\1/' | sort | tr '\n' ' ')" = "1 2 2 " ] ||
  { show; fail "LOCAL_WORLD_SIZE per task of -N2 -n3"; }
pass "uneven layout: LOCAL_WORLD_SIZE 2 and 1"

# 3. Values the user set win (127.0.0.2 is the namespace's second loopback address).
as_user_ok env MASTER_ADDR=127.0.0.2 MASTER_PORT=23456 \
  srun -N2 -n2 --container-env-preset=pytorch --container-image="$IMG" dist_check
read -r addr port <<<"$(check_step 2)"
[ "$addr $port" = "127.0.0.2 23456" ] || { show; fail "the user's MASTER_ADDR/MASTER_PORT lost: $addr $port"; }
pass "the user's MASTER_ADDR and MASTER_PORT win"

# 4. The environment form.
as_user_ok env BERTH_CONTAINER_ENV_PRESET=pytorch srun -N1 -n2 --container-image="$IMG" dist_check
check_step 2 >/dev/null
pass "BERTH_CONTAINER_ENV_PRESET=pytorch"

# 5. Without a preset: none of the variables (the image's MASTER_PORT only).
as_user_ok srun -N1 -n1 --container-image="$IMG" env
expect_out '^MASTER_PORT=29500$' "the image's MASTER_PORT without a preset"
if grep -Eq '^(MASTER_ADDR|WORLD_SIZE|RANK|LOCAL_RANK|LOCAL_WORLD_SIZE|NODE_RANK)=' "$OUT"; then
  show; fail "preset variables without --container-env-preset"
fi
pass "no preset: nothing added"

# 6. A bad name: one error line, before anything runs.
expect_user_error "container-env-preset.*not a preset" \
  srun -N1 -n1 --container-env-preset=tensorflow --container-image="$IMG" true

# 7. #SBATCH --container-env-preset reaches the job's containerized steps; the batch script
# (here not containerized) gets nothing.
cat >"$SPANK_WORK/job.sh" <<EOF
#!/bin/sh
#SBATCH -N2 -n2 --container-env-preset=pytorch
echo "batch RANK=\${RANK:-unset}"
srun --container-image=$IMG dist_check
EOF
chown "$BERTH_TEST_USER:" "$SPANK_WORK/job.sh"
as_user_ok sbatch --wait -o "$SPANK_WORK/job.out" "$SPANK_WORK/job.sh"
cp "$SPANK_WORK/job.out" "$OUT"
expect_out '^batch RANK=unset$' "the batch script has no RANK"
check_step 2 >/dev/null
pass "#SBATCH --container-env-preset: the job's steps get the preset"

nodes_in_service
no_leftovers
