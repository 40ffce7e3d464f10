#!/usr/bin/env bash
# Broadcast rate on the distributed layout against one node (doc/scale-out.md, stage 2;
# doc/benchmarks.md "Citus"): the Citus harness (a coordinator and two workers, each node 2
# senders) and, on the coordinator's server, a database without Citus as the single node (its
# own scheduler and 2 senders), both sending N FCM devices to the mock vendor, one after the
# other. The rate is the task's deliveries over the time from push_send to the task done, as the
# server's clock has them. On one machine the three nodes share its cores: divide by the nodes
# that send (2 workers) for the work per node.
# Env: PUSHPLAN_TOP, PUSHPLAN_WORK, BENCH_DEVICES (default 20000), BENCH_PORT (default 56620: the
# nodes on it and the next two, the mock on +5).
set -uo pipefail
. "$PUSHPLAN_TOP/test/citus/lib.sh"
. "$top/test/mock_vendor/env.sh"
n=${BENCH_DEVICES:-20000}
port=${BENCH_PORT:-56620}
mock_start "$work" $((port + 5)) || { echo "mock did not start"; exit 1; }
citus_start "$port" "pushplan.ca_file = '$work/cert.pem'" "pushplan.senders = 2" \
  "pushplan.express_senders = 0" "pushplan.poll_interval = 200" "citus.shard_count = 32"
trap 'citus_cleanup; mock_stop' EXIT
coord -c "CREATE DATABASE single" >/dev/null 2>&1
single() { command psql -X -q -h "$coord_dir" -p "$coord_port" -U postgres -d single -At "$@"; }
single -c "CREATE EXTENSION pushplan" || exit 1
csql "SELECT push_distribute()" >/dev/null 2>&1 || { echo "push_distribute failed"; exit 1; }
for node in worker1 worker2; do
  $node -c "ALTER SYSTEM SET pushplan.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
done
coord -c "ALTER SYSTEM SET pushplan.databases = 'postgres,single'" -c "SELECT pg_reload_conf()" >/dev/null

register="SET search_path = pushplan, public; SELECT push_app_create('bench');
DO \$\$ BEGIN
  FOR b IN 0 .. ($n - 1) / 10000 LOOP
    PERFORM push_device_register_batch('bench', (SELECT jsonb_agg(jsonb_build_object(
      'registration_id', 'dev' || i, 'platform', 'android', 'vendor', 'fcm', 'token', 'bench-' || i))
      FROM generate_series(b * 10000 + 1, least((b + 1) * 10000, $n)) i));
  END LOOP;
END \$\$;"
echo "broadcast of $n FCM devices to the mock; $(nproc) cores shared by every node; 2 senders per node"
for side in single dist; do
  if [ $side = single ]; then node=single; else node=coord; fi
  run() { $node -c "$1"; }
  run "$register" >/dev/null
  mock_vendor_setup bench $node >/dev/null
  run "VACUUM ANALYZE" >/dev/null 2>&1
  mock_curl /_mock/reset -X POST >/dev/null
  task=$(run "SELECT pushplan.push_send('bench', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"bench\"}}}')")
  for ((i = 0; i < 3000; i++)); do
    [ "$(run "SELECT state = 'done' FROM pushplan.tasks WHERE task_id = '$task'")" = t ] && break
    sleep 0.2
  done
  secs=$(run "SELECT round(extract(epoch FROM finished_at - created_at)::numeric, 2) FROM pushplan.tasks WHERE task_id = '$task'")
  sent=$(run "SELECT count(*) FILTER (WHERE status = 'sent') FROM pushplan.deliveries WHERE task_id = '$task'")
  requests=$(mock_curl /_mock/stats | jq .endpoints.fcm)
  echo "$side: $sent of $n sent in $secs s: $(echo "scale=0; $sent / $secs" | bc) a second (the mock counted $requests FCM requests)"
done
