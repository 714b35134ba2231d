#!/usr/bin/env bash
# The test bed as other tests expect it: every node idle with its own host name, jobs run as
# the test user, the berth plugin is loaded (its options show in srun, sbatch and salloc
# --help), and the registries answer (the auth one only with the credentials).
source "$(dirname "$0")/lib.sh"

mapfile -t nodes < <(node_states | awk '{print $1}')
[ ${#nodes[@]} -ge 2 ] || fail "expected at least 2 nodes, got: ${nodes[*]}"
assert_nodes_idle

# Each node has its own UTS host name, which equals its node name.
n=${#nodes[@]}
out=$(as_user srun -N"$n" -n"$n" --ntasks-per-node=1 sh -c 'echo "$(hostname) $SLURMD_NODENAME $(id -un)"' 2>&1) ||
  fail "srun failed: $out"
for node in "${nodes[@]}"; do
  assert_contains "$out" "$node $node $BERTH_TEST_USER"
done

# The plugin is loaded by the clients (the help lists its options).
plugstack=$(cat "$(dirname "$SLURM_CONF")/plugstack.conf")
assert_contains "$plugstack" "spank_berth.so"
for client in srun sbatch salloc; do
  help=$(as_user "$client" --help 2>&1) || fail "$client --help failed: $help"
  assert_contains "$help" "--container-image" "$client --help"
done

# Registries: open answers 200, auth 401 without and 200 with the credentials.
code() { as_root curl -s -o /dev/null -w '%{http_code}' "$@"; }
assert_eq "$(code "http://$BERTH_TEST_REGISTRY/v2/")" 200 "open registry /v2/"
assert_eq "$(code "http://$BERTH_TEST_AUTH_REGISTRY/v2/")" 401 "auth registry /v2/ without credentials"
assert_eq "$(code -u "$BERTH_TEST_AUTH_USER:$BERTH_TEST_AUTH_PASSWORD" "http://$BERTH_TEST_AUTH_REGISTRY/v2/")" 200 \
  "auth registry /v2/ with credentials"
assert_eq "$(code -u "$BERTH_TEST_AUTH_USER:wrong" "http://$BERTH_TEST_AUTH_REGISTRY/v2/")" 401 \
  "auth registry /v2/ with a wrong password"
# Each request is in the access log as a request line (tests count blob GETs this way).
as_root curl -s -o /dev/null "http://$BERTH_TEST_REGISTRY/v2/berth-log-probe/blobs/sha256:0000" || true
log=$(cat "$BERTH_TEST_REGISTRY_LOG")
assert_contains "$log" '"GET /v2/berth-log-probe/blobs/sha256:0000 HTTP/1.1"' "registry access log"
echo "PASS"
