# The Citus harness: a coordinator and two workers, three throwaway clusters on loopback ports,
# each preloading Citus and pushplan; the nodes added on the coordinator, both extensions
# created. Source it, then call
#   citus_start BASE_PORT [extra postgresql.conf lines...]
# (the coordinator on BASE_PORT, the workers on BASE_PORT+1 and +2; citus_node_start 3 starts a
# fourth on BASE_PORT+3, to be added with citus_add_node) and use coord / worker1 / worker2 /
# worker3 (psql on that node, SQL as arguments: coord -c "SELECT ..."), csql SQL (the
# coordinator, search_path pushplan), the check helpers and finish. Everything is stopped and
# removed on exit, whatever happened; every wait is bounded.
# Requires PUSHPLAN_TOP and PUSHPLAN_WORK; Citus installed (dev/deps --citus).
top=${PUSHPLAN_TOP:?}
work=${PUSHPLAN_WORK:?}
mkdir -p "$work"
chmod 755 "$work"
citus_nodes=()

citus_cleanup() {
  local dir
  for dir in "${citus_nodes[@]}"; do
    cp "$dir/server.log" "$work/$(basename "$dir").log" 2>/dev/null
    "$top/dev/cluster" destroy "$dir" >/dev/null 2>&1
  done
}

# node_psql PORT DIR psql-arguments...
node_psql() {
  local port=$1 dir=$2
  shift 2
  command psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres -At "$@"
}

# citus_node_start I [extra postgresql.conf lines...]: node I on port BASE+I, Citus created
citus_node_start() {
  local i=$1 dir=$work/node$1 port=$((citus_base + $1))
  shift
  # Citus' hooks must come first; two-phase commit (multi-node writes) needs prepared
  # transactions on every node. Few shards keep the tests' DDL quick on two cores.
  local conf=("shared_preload_libraries = 'citus,pushplan'" "max_prepared_transactions = 100"
              "citus.shard_count = 8" "wal_level = logical" "log_min_messages = warning"
              "pushplan.databases = ''")
  citus_nodes+=("$dir")
  "$top/dev/cluster" start "$dir" "$port" "${conf[@]}" "${citus_conf[@]}" "$@" \
    || { echo "node $i did not start"; cat "$dir/server.log"; exit 1; }
  node_psql "$port" "$dir" -c "CREATE EXTENSION citus" || exit 1
}

citus_start() {
  local base=$1 i
  shift
  trap citus_cleanup EXIT
  citus_base=$base
  citus_conf=("$@")    # every node's extra settings, nodes added later included
  for i in 0 1 2; do
    citus_node_start $i
  done
  coord_port=$base; coord_dir=$work/node0
  node_psql "$coord_port" "$coord_dir" \
    -c "SELECT citus_set_coordinator_host('127.0.0.1', $base)" \
    -c "SELECT citus_add_node('127.0.0.1', $((base + 1)))" \
    -c "SELECT citus_add_node('127.0.0.1', $((base + 2)))" >/dev/null || exit 1
  # Citus propagates CREATE EXTENSION to the workers: pushplan's functions exist on every node.
  node_psql "$coord_port" "$coord_dir" -c "CREATE EXTENSION pushplan" || exit 1
}

coord() { node_psql "$coord_port" "$coord_dir" "$@"; }
worker1() { node_psql $((coord_port + 1)) "$work/node1" "$@"; }
worker2() { node_psql $((coord_port + 2)) "$work/node2" "$@"; }
worker3() { node_psql $((coord_port + 3)) "$work/node3" "$@"; }   # a node added by a test
csql() { coord -c "SET search_path = pushplan, public" -c "$1"; }

# err NODE SQL: the error message alone (the first line psql prints)
err() { local node=$1; shift; "$node" -v VERBOSITY=terse -c "SET client_min_messages = warning" -c "$1" 2>&1 | grep -m1 ERROR | sed 's/^.*ERROR:  //'; }
# wait_for SECONDS SQL: polls the coordinator (every 0.2 s, bounded) until SQL returns t
wait_for() {
  local limit=$(( $1 * 5 )) i
  for ((i = 0; i < limit; i++)); do
    [ "$(csql "$2")" = "t" ] && return 0
    sleep 0.2
  done
  return 1
}

# send_env MOCK_PORT BASE_PORT: the mock vendor and a cluster whose senders send to it (two
# senders a node, small batches, so that a broadcast of a few thousand devices is in flight
# on both worker nodes at once); stopped at exit
send_env() {
  . "$top/test/mock_vendor/env.sh"
  mock_start "$work" "$1" || { echo "mock did not start"; exit 1; }
  citus_start "$2" "pushplan.ca_file = '$work/cert.pem'" \
    "pushplan.senders = 2" "pushplan.express_senders = 0" "pushplan.poll_interval = 200" \
    "pushplan.max_inflight = 50" "pushplan.batch_size = 50"
  trap 'citus_cleanup; mock_stop' EXIT
}
# the mock's requests per token of a prefix: "tokens requests max min"
token_counts() {
  mock_curl /_mock/stats | jq -r --arg p "$1" \
    '[.tokens | to_entries[] | select(.key | startswith($p)) | .value.requests] | "\(length) \(add // 0) \(max // 0) \(min // 0)"'
}
# After a failure during a broadcast of N devices (task TASK, tokens PREFIX...): every delivery
# sent, every token reached, and sent again at most WINDOW (what the failed part can have had in
# flight; WHAT names the failure in the counts printed).
#   exactly_once TASK PREFIX N WINDOW WHAT
exactly_once() {
  local task=$1 prefix=$2 n=$3 window=$4 what=$5 ntok nreq nmax nmin dup
  check_eq "$what: no delivery lost" \
    "$(csql "SELECT count(*) FILTER (WHERE status = 'sent') || '/' || count(*) FROM deliveries WHERE task_id = '$task'")" "$n/$n"
  read -r ntok nreq nmax nmin <<< "$(token_counts "$prefix")"
  dup=$((nreq - n))
  echo "     $what: $ntok tokens, $nreq requests, sent again: $dup (most for one token: $nmax)"
  check_eq "$what: the mock got every token" "$ntok $nmin" "$n 1"
  if [ "$dup" -le "$window" ]; then ok "$what: sent again at most the in-flight window ($dup <= $window)"
  else fail "$what: sent again $dup, more than the in-flight window ($window)"; fi
}
# deliveries of a task with status sent, per node (port:n; run on each shard placement, summed)
sent_per_node() {
  coord -c "SELECT string_agg(nodeport || ':' || n, ' ' ORDER BY nodeport) FROM (
      SELECT nodeport, sum(result::bigint) AS n
      FROM run_command_on_placements('pushplan.deliveries',
             \$q\$SELECT count(*) FROM %s WHERE task_id = '$1' AND status = 'sent'\$q\$)
      GROUP BY 1) x"
}

# For the benchmarks (test/bench/citus_*.sh; test/mock_vendor/env.sh sourced first):
# bench_start PORT starts the mock vendor on PORT+5 and the harness on PORT (2 senders a node,
# 32 shards), makes a database "single" without Citus on the coordinator's server (the one node
# to compare with: single SQL... runs psql there), distributes "postgres", and has every node's
# workers serve both.
single() { command psql -X -q -h "$coord_dir" -p "$coord_port" -U postgres -d single -At "$@"; }
bench_start() {
  local port=$1 node
  mock_start "$work" $((port + 5)) || { echo "mock did not start"; exit 1; }
  citus_start "$port" "pushplan.ca_file = '$work/cert.pem'" "pushplan.senders = 2" \
    "pushplan.express_senders = 0" "pushplan.poll_interval = 200" "citus.shard_count = 32"
  trap 'citus_cleanup; mock_stop' EXIT
  coord -c "CREATE DATABASE single" >/dev/null 2>&1
  single -c "CREATE EXTENSION pushplan" || exit 1
  csql "SELECT push_distribute()" >/dev/null 2>&1 || { echo "push_distribute failed"; exit 1; }
  serve_databases
}

# serve_databases: the workers of every node serve "postgres", the coordinator's also "single"
serve_databases() {
  local node
  for node in worker1 worker2; do
    $node -c "ALTER SYSTEM SET pushplan.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
  done
  coord -c "ALTER SYSTEM SET pushplan.databases = 'postgres,single'" -c "SELECT pg_reload_conf()" >/dev/null
}

# bench_broadcast NODE N: on NODE (single or coord), an app "bench" of N FCM devices (dev1...,
# tokens bench-1...) with the mock's vendors, one push to all of them sent and done; prints the
# task's id.
bench_broadcast() {
  local node=$1 n=$2 task i
  $node -c "SET search_path = pushplan, public; SELECT push_app_create('bench');
DO \$\$ BEGIN
  FOR b IN 0 .. ($n - 1) / 10000 LOOP
    PERFORM push_device_register_batch('bench', (SELECT jsonb_agg(jsonb_build_object(
      'registration_id', 'dev' || i, 'platform', 'android', 'vendor', 'fcm', 'token', 'bench-' || i))
      FROM generate_series(b * 10000 + 1, least((b + 1) * 10000, $n)) i));
  END LOOP;
END \$\$;" >/dev/null
  mock_vendor_setup bench $node >/dev/null
  $node -c "VACUUM ANALYZE" >/dev/null 2>&1
  mock_curl /_mock/reset -X POST >/dev/null
  task=$($node -c "SELECT pushplan.push_send('bench', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"bench\"}}}')")
  for ((i = 0; i < 3000; i++)); do
    [ "$($node -c "SELECT state = 'done' FROM pushplan.tasks WHERE task_id = '$task'")" = t ] && break
    sleep 0.2
  done
  echo "$task"
}

failures=0
checks=0
ok() { checks=$((checks + 1)); echo "ok   $1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $1"; }
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: wanted '$3', got '$2'"; fi; }
check() { if [[ "$2" == *"$3"* ]]; then ok "$1"; else fail "$1: wanted '$3' in: $2"; fi; }

finish() {
  echo "$checks checks, $failures failed"
  [ "$failures" -eq 0 ]
  exit $?
}
