# shellcheck shell=bash
# The test cluster's layout and daemons, for scripts/cluster. Source after testbed.sh.
#
# Layout under $BERTH_CLUSTER_DIR ($BERTH_TESTBED_DIR/cluster):
#   slurm.conf plugstack.conf   the configuration (SLURM_CONF in the env file)
#   nodes                       the node names of the running cluster, one a line
#   state/                      slurmctld's StateSaveLocation (emptied on start)
#   spool/<node>/ tmp/<node>/   each node's SlurmdSpoolDir and TmpFS
#   run/                        pid files (slurmctld.pid, slurmd-<node>.pid)
#   log/                        slurmctld.log, slurmd-<node>.log
#   gres.conf                   fake GPUs (below), unless BERTH_CLUSTER_GPUS=0
# Fake GPUs: every node declares Gres=gpu:2, backed by the fake driver tree in
# $BERTH_CLUSTER_GPU_DIR (tests/data/gpu/make_fake_driver.sh with real device nodes 195:0 and
# 195:1, built once); Slurm sets CUDA_VISIBLE_DEVICES/SLURM_STEP_GPUS for --gres=gpu:N, and
# berth.conf's gpu_driver_root points the plugin at the tree.
# Host names: the controller is $BERTH_CLUSTER_CONTROLLER, nodes are node1..nodeN; each
# daemon runs in its own UTS namespace with that host name (job steps inherit it).
# Configless mode (BERTH_CLUSTER_CONFIGLESS=1, `scripts/cluster start --configless`): slurm.conf
# has SlurmctldParameters=enable_configless and no PlugStackConfig (plugstack.conf and gres.conf
# travel with it from the controller's directory); every slurmd is started with
# `--conf-server 127.0.0.1:PORT`, no -f and no SLURM_CONF, so a node has no configuration file
# but the copy slurmd fetches into <SlurmdSpoolDir>/conf-cache/ (spool/<node>/conf-cache/).
# slurmd also points /run/slurm/conf at its cache (Slurm's clients look there when they find
# no slurm.conf): `stop` removes that link when it points into the test bed.

BERTH_CLUSTER_DIR=$BERTH_TESTBED_DIR/cluster
BERTH_CLUSTER_NAME=${BERTH_CLUSTER_NAME:-berthtest}
BERTH_CLUSTER_CONTROLLER=berthctl
BERTH_CLUSTER_CONF=$BERTH_CLUSTER_DIR/slurm.conf
# CPUs each node claims (config_overrides: more than the machine has is fine).
BERTH_CLUSTER_CPUS=${BERTH_CLUSTER_CPUS:-4}
# munged started by the test bed (not one that ran already): stopped again by `cluster stop`.
BERTH_MUNGE_MARKER=$BERTH_TESTBED_DIR/munged.started-by-testbed
BERTH_CLUSTER_GPU_DIR=$BERTH_TESTBED_DIR/gpu
# Fake GPUs per node: 2 (the fake tree's) or 0 (no gres).
BERTH_CLUSTER_GPUS=${BERTH_CLUSTER_GPUS:-2}
# 1: the nodes fetch their configuration from slurmctld (configless), see above.
BERTH_CLUSTER_CONFIGLESS=${BERTH_CLUSTER_CONFIGLESS:-0}
# The PMIx library directory Debian's mpi/pmix plugin loads (libpmix-dev).
BERTH_CLUSTER_PMIX_DIR=/usr/lib/x86_64-linux-gnu/pmix2
# Where slurmd links its conf-cache in configless mode (Slurm's own path, on the host).
BERTH_SLURM_RUN_CONF=/run/slurm/conf

cluster_node_names() { # N -> node1 ... nodeN
  local i
  for ((i = 1; i <= $1; i++)); do echo "node$i"; done
}

# Runs a Slurm client command in the namespace with this cluster's config.
cluster_client() {
  nsenter --net="/run/netns/$BERTH_NETNS" -- env SLURM_CONF="$BERTH_CLUSTER_CONF" "$@"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

munge_start() {
  munge_works && return 0
  mkdir -p /run/munge
  chown munge:munge /run/munge
  chmod 0755 /run/munge
  (testbed_exec_clean runuser -u munge -- /usr/sbin/munged) </dev/null >/dev/null 2>&1 ||
    testbed_die "munged did not start (see /var/log/munge/munged.log)"
  testbed_wait_for 10 munge_works || testbed_die "munged started but munge -n | unmunge fails"
  touch "$BERTH_MUNGE_MARKER"
  testbed_log "started munged (pid $(cat /run/munge/munged.pid 2>/dev/null))"
}

# Stops munged only if the test bed started it.
munge_stop_if_ours() {
  [ -e "$BERTH_MUNGE_MARKER" ] || return 0
  testbed_stop_pidfile /run/munge/munged.pid munged 10
  rm -f "$BERTH_MUNGE_MARKER"
}

# The fake driver tree, rebuilt only when its script changed (a few stub libraries and mknod).
cluster_build_fake_gpus() {
  local script=$BERTH_TOP/tests/data/gpu/make_fake_driver.sh dir=$BERTH_CLUSTER_GPU_DIR
  if [ -c "$dir/dev/nvidia1" ] && [ "$dir/.built" -nt "$script" ]; then return 0; fi
  rm -rf "$dir.tmp" "$dir"
  FAKE_MKNOD=1 "$script" "$dir.tmp" >/dev/null || testbed_die "$script failed"
  touch "$dir.tmp/.built"
  chmod -R a+rX "$dir.tmp"
  mv "$dir.tmp" "$dir"
}

# gres.conf next to slurm.conf: each node's GPUs are the fake tree's device nodes, in order
# (index N = /dev/nvidiaN, as berth assumes; see slurm_conf_examples/gres.conf).
cluster_write_gres() { # node count
  {
    echo "# Written by scripts/cluster: fake GPUs (tests/data/gpu/make_fake_driver.sh)."
    echo "AutoDetect=off"
    echo "NodeName=node[1-$1] Name=gpu File=$BERTH_CLUSTER_GPU_DIR/dev/nvidia[0-$((BERTH_CLUSTER_GPUS - 1))]"
  } >"$BERTH_CLUSTER_DIR/gres.conf"
}

cluster_write_config() { # plugin, node names...
  local plugin=$1; shift
  local ctld_port node port used=" " gres=""
  rm -f "$BERTH_CLUSTER_DIR/gres.conf"
  [[ "$BERTH_CLUSTER_GPUS" =~ ^[0-2]$ ]] || testbed_die "BERTH_CLUSTER_GPUS must be 0..2 (the fake tree has 2 GPUs)"
  if [ "$BERTH_CLUSTER_GPUS" != 0 ]; then
    cluster_build_fake_gpus
    cluster_write_gres $#
    gres=" Gres=gpu:$BERTH_CLUSTER_GPUS"
  fi
  ctld_port=$(testbed_free_port)
  used+="$ctld_port "
  # Configless: plugstack.conf is found next to slurm.conf (Slurm's default), on the nodes in
  # the conf-cache slurmd fetched.
  local plugstack_line="PlugStackConfig=$BERTH_CLUSTER_DIR/plugstack.conf"
  [ "$BERTH_CLUSTER_CONFIGLESS" = 1 ] && plugstack_line="SlurmctldParameters=enable_configless"
  {
    cat <<CONF
# Written by scripts/cluster: the berth test cluster (see docs/testbed.md).
ClusterName=$BERTH_CLUSTER_NAME
SlurmctldHost=$BERTH_CLUSTER_CONTROLLER(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$BERTH_CLUSTER_DIR/state
SlurmdSpoolDir=$BERTH_CLUSTER_DIR/spool/%n
TmpFS=$BERTH_CLUSTER_DIR/tmp/%n
SlurmctldPidFile=$BERTH_CLUSTER_DIR/run/slurmctld.pid
SlurmdPidFile=$BERTH_CLUSTER_DIR/run/slurmd-%n.pid
SlurmctldLogFile=$BERTH_CLUSTER_DIR/log/slurmctld.log
SlurmdLogFile=$BERTH_CLUSTER_DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
$plugstack_line
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=60
GresTypes=gpu
CONF
    for node in "$@"; do
      port=$(testbed_free_port)
      while [[ "$used" == *" $port "* ]]; do port=$(testbed_free_port); done
      used+="$port "
      echo "NodeName=$node NodeHostname=$node NodeAddr=127.0.0.1 Port=$port CPUs=$BERTH_CLUSTER_CPUS$gres State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
    if [ -n "${BERTH_SLURM_CONF_EXTRA:-}" ]; then
      echo "# from BERTH_SLURM_CONF_EXTRA"
      printf '%s\n' "$BERTH_SLURM_CONF_EXTRA"
    fi
  } >"$BERTH_CLUSTER_CONF"
  local args=${BERTH_PLUGSTACK_ARGS:-}
  # The plugin discovers the fake driver (and its GPUs) instead of the host's.
  [ "$BERTH_CLUSTER_GPUS" = 0 ] || args="${args:+$args }gpu_driver_root=$BERTH_CLUSTER_GPU_DIR"
  # srun --mpi=pmix in a containerized batch script runs the node's srun, whose mpi/pmix plugin
  # loads Debian's PMIx library by absolute path (berth.conf host_slurm_paths, docs/slurm.md).
  [ -d "$BERTH_CLUSTER_PMIX_DIR" ] && args="${args:+$args }host_slurm_paths=$BERTH_CLUSTER_PMIX_DIR"
  echo "required $plugin $args" >"$BERTH_CLUSTER_DIR/plugstack.conf"
  printf '%s\n' "$@" >"$BERTH_CLUSTER_DIR/nodes"
}

# Starts a daemon in the namespace, in a new UTS namespace named HOST. The daemon forks into
# the background itself and writes its pid file.
cluster_start_daemon() { # host, command...
  local host=$1; shift
  (testbed_exec_clean nsenter --net="/run/netns/$BERTH_NETNS" -- unshare --uts -- \
    env SLURM_CONF="$BERTH_CLUSTER_CONF" sh -c 'hostname "$0" && exec "$@"' "$host" "$@") \
    </dev/null >>"$BERTH_CLUSTER_DIR/log/daemon-start.log" 2>&1
}

# The controller's port (SlurmctldPort of the running cluster's slurm.conf).
cluster_ctld_port() {
  sed -n 's/^SlurmctldPort=//p' "$BERTH_CLUSTER_CONF"
}

cluster_ctld_up() { cluster_client scontrol ping 2>/dev/null | grep -q ' is UP'; }

# Starts slurmd for NODE: with the config file, or configless (--conf-server, no file, no
# SLURM_CONF) once slurmctld answers.
cluster_start_slurmd() { # node
  local node=$1
  if [ "$BERTH_CLUSTER_CONFIGLESS" != 1 ]; then
    cluster_start_daemon "$node" slurmd -f "$BERTH_CLUSTER_CONF" -N "$node"
    return
  fi
  testbed_wait_for 30 cluster_ctld_up || return 1
  (testbed_exec_clean nsenter --net="/run/netns/$BERTH_NETNS" -- unshare --uts -- \
    env -u SLURM_CONF sh -c 'hostname "$0" && exec "$@"' "$node" \
    slurmd --conf-server "127.0.0.1:$(cluster_ctld_port)" -N "$node") \
    </dev/null >>"$BERTH_CLUSTER_DIR/log/daemon-start.log" 2>&1
}

# Removes slurmd's /run/slurm/conf link when it points into this test bed (configless mode).
cluster_remove_run_conf() {
  local target
  target=$(readlink "$BERTH_SLURM_RUN_CONF" 2>/dev/null) || return 0
  [[ "$target" == "$BERTH_CLUSTER_DIR"/* ]] || return 0
  rm -f "$BERTH_SLURM_RUN_CONF"
  rmdir /run/slurm 2>/dev/null || true
}

# Prints "NODE STATE" per node (sinfo), empty when slurmctld does not answer.
cluster_node_states() {
  cluster_client sinfo -h -N -o '%N %t' 2>/dev/null | sort -u
}

cluster_all_idle() { # expected node count
  local states
  states=$(cluster_node_states)
  [ "$(echo "$states" | grep -c ' idle$')" -eq "$1" ]
}

# Our processes: pids in the namespace that live in a UTS namespace other than ours (only
# the cluster's daemons and their job steps do; the registries share the host's UTS).
cluster_leftover_pids() {
  local self pid
  self=$(readlink /proc/self/ns/uts)
  for pid in $(testbed_netns_pids); do
    [ "$(readlink "/proc/$pid/ns/uts" 2>/dev/null)" != "$self" ] && [ -e "/proc/$pid" ] && echo "$pid"
  done
  true
}

cluster_dump_logs() {
  local f
  for f in "$BERTH_CLUSTER_DIR"/log/*.log; do
    [ -s "$f" ] || continue
    echo "--- $f (last 15 lines)" >&2
    tail -n 15 "$f" >&2
  done
}
