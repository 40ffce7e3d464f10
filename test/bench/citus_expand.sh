#!/usr/bin/env bash
# Audiences and expansion on the distributed layout against one node (doc/scale-out.md,
# "Expansion on every node"; doc/benchmarks.md "Citus: expansion on every node"): the Citus
# harness (a coordinator and two workers, 32 shards) with N devices per worker node (2N in all),
# and, on the coordinator's server, a database without Citus as the single node with N devices.
# Devices are inserted directly (half of them tagged "even"), then VACUUM ANALYZE. Times
# push_audience_count of all and of the tag (best of 3), then a broadcast to all whose expansion
# alone is timed: no sender runs (pushplan.senders = 0), from push_send's commit to
# tasks.expanded (polled every 50 ms), rounds alternating single / distributed. On one machine
# the three nodes share its cores: the work per node is the figure to compare.
# Env: PUSHPLAN_TOP, PUSHPLAN_WORK, BENCH_DEVICES (per worker node, default 1000000), BENCH_PORT
# (default 56630: the nodes on it and the next two, the mock on +5), BENCH_ROUNDS (default 2).
set -uo pipefail
. "$PUSHPLAN_TOP/test/citus/lib.sh"
. "$top/test/mock_vendor/env.sh"
n=${BENCH_DEVICES:-1000000}
port=${BENCH_PORT:-56630}
rounds=${BENCH_ROUNDS:-2}

mock_start "$work" $((port + 5)) || { echo "mock did not start"; exit 1; }
citus_start "$port" "pushplan.ca_file = '$work/cert.pem'" "pushplan.senders = 0" \
  "pushplan.express_senders = 0" "pushplan.poll_interval = 100" "citus.shard_count = 32"
trap 'citus_cleanup; mock_stop' EXIT
coord -c "CREATE DATABASE single" >/dev/null 2>&1
single() { command psql -X -q -h "$coord_dir" -p "$coord_port" -U postgres -d single -At "$@"; }
single -c "CREATE EXTENSION pushplan" || exit 1
csql "SELECT push_distribute()" >/dev/null 2>&1 || { echo "push_distribute failed"; exit 1; }
serve_databases

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null || echo "FAILED: $*" >&2; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
# devices NODE COUNT KEYED: COUNT devices of app "bench" inserted directly (ids from the
# layout's device key when KEYED), every even one tagged "even"
devices() {
  local node=$1 count=$2 column="" id=""
  [ "$3" = keyed ] && column="device_id, " && id="pushplan._device_key(a.app_id, 'dev' || g), "
  $node -c "SET search_path = pushplan, public; SELECT push_app_create('bench')" >/dev/null
  mock_vendor_setup bench $node >/dev/null
  # (each statement its own transaction: Citus reads no placement a transaction wrote over
  # several connections)
  $node -c "SET search_path = pushplan, public" \
    -c "INSERT INTO tags (app_id, tag) SELECT app_id, 'even' FROM apps WHERE app = 'bench'" \
    -c "INSERT INTO devices (${column}app_id, registration_id, platform, vendor, token)
          SELECT ${id}a.app_id, 'dev' || g, 'android', 'fcm', 'fcm-' || g
          FROM apps a, generate_series(1, $count) g WHERE a.app = 'bench'" \
    -c "INSERT INTO device_tags (device_id, tag_id)
          SELECT d.device_id, t.tag_id FROM devices d JOIN tags t ON t.app_id = d.app_id AND t.tag = 'even'
          WHERE substr(d.registration_id, 4)::bigint % 2 = 0" >/dev/null || echo "FAILED: devices on $node" >&2
  $node -c "VACUUM ANALYZE" >/dev/null 2>&1
}
echo "devices: $n on the single node, $((2 * n)) on the layout ($n per worker node); $(nproc) cores shared by every node; $(uptime | sed 's/.*load/load/')"
echo "single: $n devices inserted in $(ms devices single "$n" default) ms"
echo "dist: $((2 * n)) devices inserted in $(ms devices coord $((2 * n)) keyed) ms"

for side in single dist; do
  if [ $side = single ]; then run() { single -c "$1"; }; else run() { coord -c "$1"; }; fi
  for aud in '"all"' '{"tag": ["even"]}'; do
    count=$(run "SELECT pushplan.push_audience_count('bench', '$aud')")
    best=999999
    for i in 1 2 3; do
      t=$(ms run "SELECT pushplan.push_audience_count('bench', '$aud')")
      [ "$t" -lt "$best" ] && best=$t
    done
    echo "$side: push_audience_count $aud: $count devices in $best ms (best of 3)"
  done
done

# expand SIDE: one broadcast to all, timed from push_send's commit to tasks.expanded
expand() {
  local side=$1 node task t0 t1 i made
  if [ "$side" = single ]; then node=single; else node=coord; fi
  t0=$(date +%s%N)
  task=$($node -c "SELECT pushplan.push_send('bench', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"bench\"}}}')")
  for ((i = 0; i < 12000; i++)); do
    [ "$($node -c "SELECT expanded FROM pushplan.tasks WHERE task_id = '$task'")" = t ] && break
    sleep 0.05
  done
  t1=$(date +%s%N)
  made=$($node -c "SELECT targeted FROM pushplan.tasks WHERE task_id = '$task'")
  echo "$side: $made deliveries (and queue rows) made in $(( (t1 - t0) / 1000000 )) ms: $(( made * 1000000000 / (t1 - t0) )) a second$( [ "$side" = dist ] && echo ", per node: $(coord -c "SELECT string_agg(nodeport || ': ' || n, ', ') FROM (SELECT nodeport, sum(result::bigint) AS n
      FROM run_command_on_placements('pushplan.deliveries', \$q\$SELECT count(*) FROM %s WHERE task_id = '$task'\$q\$)
      GROUP BY nodeport ORDER BY nodeport) p")")"
}
for ((r = 1; r <= rounds; r++)); do
  echo "round $r ($(uptime | sed 's/.*load/load/'))"
  expand single
  expand dist
done
