#!/usr/bin/env bash
# Configless Slurm: the test cluster restarted with SlurmctldParameters=enable_configless and
# every slurmd started with --conf-server only (no -f, no SLURM_CONF, no slurm.conf of its
# own): the nodes run with the copy slurmd fetched into <SlurmdSpoolDir>/conf-cache/, and berth
# reads that one. The PMIx MPI test (PMIx directories from SlurmdSpoolDir/TmpFS: with Slurm's
# defaults instead every rank prints PMIX ERROR) and the fake-GPU test (GresTypes=gpu: with
# "GPUs not managed" instead a step without --gres gets every GPU) run unchanged, and so does
# the host Slurm client test (srun inside a containerized batch script). The cluster
# is given back in its normal mode at exit, with the plugin and arguments it had, also when a
# check fails.
source "$(dirname "$0")/lib.sh"

cluster_dir=$BERTH_TESTBED_DIR/cluster
[ -s "$cluster_dir/nodes" ] || fail "$cluster_dir/nodes missing: is the cluster up?"
nodes=$(grep -c . "$cluster_dir/nodes")
# The plugin and the arguments the cluster runs with now (scripts/cluster adds
# gpu_driver_root and host_slurm_paths itself).
read -r _ plugin args <"$cluster_dir/plugstack.conf"
args=$(tr ' ' '\n' <<<"$args" | grep -Ev '^(gpu_driver_root|host_slurm_paths)=' | tr '\n' ' ' | sed 's/ *$//')
log=$(mktemp)

start_cluster() { # extra scripts/cluster start arguments...
  BERTH_PLUGIN=$plugin BERTH_PLUGSTACK_ARGS=$args \
    "$BERTH_TOP/scripts/cluster" start --nodes "$nodes" "$@" >"$log" 2>&1
}
restore() {
  local rc=$?
  if ! start_cluster; then
    cat "$log" >&2
    echo "FAIL: could not restart the cluster in its normal mode" >&2
    rc=1
  elif grep -q enable_configless "$SLURM_CONF"; then
    echo "FAIL: the restored cluster is still configless" >&2
    rc=1
  fi
  rm -f "$log"
  _berth_cleanup
  exit $rc
}
trap restore EXIT

t0=$SECONDS
start_cluster --configless || { cat "$log" >&2; fail "the cluster did not start configless"; }
echo "cluster restarted configless in $((SECONDS - t0)) s"
conf=$(cat "$SLURM_CONF")
assert_contains "$conf" "SlurmctldParameters=enable_configless" "the controller's slurm.conf"
assert_not_contains "$conf" "PlugStackConfig=" "the controller's slurm.conf"

# Each node: slurmd has no configuration file of its own, only what it fetched.
while read -r node; do
  pid=$(cat "$cluster_dir/run/slurmd-$node.pid")
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
  assert_contains "$cmdline" "--conf-server 127.0.0.1:" "slurmd of $node"
  assert_not_contains "$cmdline" " -f " "slurmd of $node"
  assert_not_contains "$(tr '\0' '\n' <"/proc/$pid/environ")" "SLURM_CONF=" "slurmd's environment at start on $node"
  for file in slurm.conf plugstack.conf gres.conf; do
    [ -s "$cluster_dir/spool/$node/conf-cache/$file" ] || fail "$node: conf-cache/$file was not fetched"
  done
done <"$cluster_dir/nodes"

# slurmstepd (where berth runs) inherits SLURM_CONF=<its node's conf-cache>/slurm.conf from
# slurmd: look at the slurmstepds of a running step.
step_conf() { # prints "NODE SLURM_CONF" for every slurmstepd of the test bed
  local pid
  for pid in $(testbed_netns_pids); do
    [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == "slurmstepd: ["*"]"* ]] || continue
    echo "$(nsenter -t "$pid" -u hostname) $(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^SLURM_CONF=//p')"
  done | sort -u
}
as_user srun -N"$nodes" -n"$nodes" sleep 3 >/dev/null 2>&1 &
step=$!
seen=""
for _ in $(seq 50); do
  seen=$(step_conf)
  [ "$(grep -c . <<<"$seen")" -ge "$nodes" ] && break
  sleep 0.1
done
wait "$step" || fail "srun sleep failed"
while read -r node; do
  assert_contains "$seen" "$node $cluster_dir/spool/$node/conf-cache/slurm.conf" "SLURM_CONF of the slurmstepds"
done <"$cluster_dir/nodes"
[ ! -e /etc/slurm/slurm.conf ] || echo "note: this machine has /etc/slurm/slurm.conf; slurmd ignored it (--conf-server)"

# The MPI and GPU tests, unchanged; and the host's Slurm client in a batch script, which binds
# the node's configuration: here the conf-cache.
for test in test_spank_mpi.sh test_spank_gpu.sh test_spank_host_slurm.sh; do
  echo "--- $test (configless)"
  "$BERTH_TOP/tests/integration/$test" || fail "$test failed on the configless cluster"
done

# berth found the configuration on every node (never Slurm's defaults).
if grep -h "berth: .*(using Slurm's default" "$cluster_dir"/log/slurmd-*.log; then
  fail "the plugin fell back to Slurm's defaults on a configless node"
fi
assert_nodes_idle
echo "PASS: configless nodes run the PMIx MPI, gres GPU and host Slurm client tests unchanged"
