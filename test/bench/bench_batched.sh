#!/usr/bin/env bash
# Batched sending (doc/benchmarks.md, "Batched vendors"): one broadcast to DEVICES devices of a
# vendor that takes many tokens a request (harmony, hms, honor, xiaomi: 1000; meizu: 100), through
# the senders and the mock vendor on loopback: time from COMMIT to every delivery recorded,
# devices/s, the mock's request count. The mock checks each request as the vendor would
# (HarmonyOS: it verifies the PS256 JWT of every request).
# Usage: [VENDOR=harmony] test/bench/bench_batched.sh [DEVICES=200000] [CONFIGS]
#   CONFIGS: space-separated senders:batch_size:max_inflight (default "2:2000:4000").
# Needs the extension installed (`make bench` installs it and holds /tmp/pushplan-install.lock
# around it). Ports 56030 (mock), 56031 (cluster).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
devices=${1:-200000}
configs=${2:-"2:2000:4000"}
vendor=${VENDOR:-harmony}
export PUSHPLAN_TOP=$top PUSHPLAN_WORK=${BENCH_WORK:-/tmp/pushplan-bench-batched}
rm -rf "$PUSHPLAN_WORK"
. "$top/test/integration/lib/vendor_env.sh"
vendor_env_start 56030 56031 "pushplan.databases = 'postgres'" "pushplan.poll_interval = 200" \
  "pushplan.http_timeout = 30000" "max_wal_size = '4GB'" "shared_buffers = '512MB'"
psql -c "CREATE EXTENSION pushplan" >/dev/null || exit 1
sql "SELECT push_app_create('bench')" >/dev/null
sql "SELECT push_app_set('bench', '{\"broadcast_min_interval\": \"0 seconds\"}')" >/dev/null
case $vendor in
  harmony) mock_harmony_setup bench psql >/dev/null; platform=harmony ;;
  hms) configure_vendors bench; platform=android ;;
  *) mock_hxm_setup bench psql >/dev/null; platform=android ;;
esac
sql "INSERT INTO devices (app_id, registration_id, platform, vendor, token)
     SELECT _app_id('bench', 'reader'), 'd' || g, '$platform', '$vendor', '$vendor-bench-' || g
     FROM generate_series(1, $devices) g" >/dev/null
psql -c "VACUUM ANALYZE" >/dev/null
push="{\"to\": \"all\", \"body\": {\"platform\": \"$platform\", \"notification\": {\"alert\": \"Flash sale: everything 50% off until midnight\", \"$platform\": {\"title\": \"618\"}}}}"

for c in $configs; do
  IFS=: read -r senders batch inflight <<<"$c"
  psql -c "ALTER SYSTEM SET pushplan.senders = $senders" -c "ALTER SYSTEM SET pushplan.batch_size = $batch" \
    -c "ALTER SYSTEM SET pushplan.max_inflight = $inflight" -c "SELECT pg_reload_conf()" >/dev/null
  wait_for 60 "SELECT count(*) = $senders FROM pg_stat_activity WHERE backend_type = 'pushplan sender'" ||
    { echo "senders did not come up"; exit 1; }
  mock_reset
  t0=$(date +%s.%N)
  task=$(sql "SELECT push_send('bench', '$push'::jsonb)")
  wait_for 1200 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" || { echo "not done"; exit 1; }
  t1=$(date +%s.%N)
  out=$(sql "SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1 ORDER BY 1) s")
  reqs=$(mock_get /_mock/stats | jq ".endpoints.$vendor")
  awk -v a="$t0" -v b="$t1" -v n="$devices" -v c="$c" -v o="$out" -v r="$reqs" -v v="$vendor" \
    'BEGIN { printf "%s %s: %d devices, COMMIT -> all recorded %.1f s, %.0f devices/s, %d requests (%s)\n", v, c, n, b - a, n / (b - a), r, o }'
done

# The floor under these rates (test/bench/lib/delivery_floor.sh): the delivery rows written
# bare, from one client and from two (the senders are two) as installed, then from two without
# the foreign key to tasks, and without it and the (task_id, device_id) index (dropped here: the
# cluster is thrown away next). FLOOR=0 skips it.
if [ "${FLOOR:-1}" = 1 ]; then
  . "$top/test/bench/lib/delivery_floor.sh"
  task=$(sql "SELECT task_id FROM tasks ORDER BY created_at DESC LIMIT 1")
  floor() {  # floor CLIENTS LABEL
    awk -v r="$(delivery_floor "$cluster" "$pgport" "$task" "$devices" "$1" "$PUSHPLAN_WORK")" -v c="$1" -v l="$2" \
      'BEGIN { printf "floor: a bare INSERT of delivery rows, 1000 a statement, %d client(s), %s: %.0f rows/s (%.1f us a row per client)\n", c, l, r, c * 1000000 / r }'
  }
  floor 1 "as installed"
  floor 2 "as installed"
  psql -c "ALTER TABLE pushplan.deliveries DROP CONSTRAINT deliveries_task_id_fkey" >/dev/null
  floor 2 "without the foreign key to tasks"
  psql -c "DROP INDEX pushplan.deliveries_task_device_idx" >/dev/null
  floor 2 "without it and the (task_id, device_id) index"
fi
