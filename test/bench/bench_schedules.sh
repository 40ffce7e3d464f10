#!/usr/bin/env bash
# Schedules benchmark (doc/benchmarks.md, "Schedules"):
#  1. firing lag: SCHEDULES single schedules (one device each, FCM to the mock vendor), all
#     enabled, due over a window of SPREAD seconds starting 30 s from now; each one's lag is
#     its occurrence -> its delivery recorded sent (after the vendor's answer: an upper bound of
#     occurrence -> first vendor request). p50, p99, max.
#  2. expansion: DEVICES devices over 24 time zones (direct INSERT), a zone_type 2 schedule and,
#     for comparison, a zone_type 1 schedule of the same audience, each fired by moving the test
#     clock to its occurrence: fired -> every delivery planned (tasks.expanded), devices/s;
#  3. the same devices with 30 days of visits: an intelligent schedule to all, end to end
#     (each device at its own best time), against zone_type 1 once more.
# Usage: test/bench/bench_schedules.sh [DEVICES=1000000] [SCHEDULES=1000] [SPREAD=20]
# Needs the extension and the test extension installed (`make bench` does both). Ports 56100-56101.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
devices=${1:-1000000}
schedules=${2:-1000}
spread=${3:-20}
mock_port=56100
pg_port=56101
work=$(mktemp -d /tmp/pushplan-bench-schedules.XXXXXX)
chmod 755 "$work"
cluster=$work/cluster
. "$top/test/mock_vendor/env.sh"
cleanup() {
  set +e
  "$top/dev/cluster" destroy "$cluster" >/dev/null 2>&1
  mock_stop
  rm -rf "$work"
}
trap cleanup EXIT
mock_start "$work" "$mock_port" >/dev/null || { echo "mock did not start"; exit 1; }
"$top/dev/cluster" start "$cluster" "$pg_port" "pushplan.ca_file = '$work/cert.pem'" \
  "pushplan.databases = 'postgres'" "shared_buffers = 1GB" "max_wal_size = 8GB" \
  "checkpoint_timeout = 30min" "work_mem = 64MB"
psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p $pg_port -U postgres -At "$@"; }
sql() { psql -c "SET search_path = pushplan, public" -c "$1"; }
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test"
sql "SELECT push_app_create('bench')" >/dev/null
mock_vendor_setup bench psql >/dev/null

# ---- 1. firing lag ---------------------------------------------------------------------------
echo "== firing lag: $schedules single schedules, one device each, due over ${spread} s"
sql "INSERT INTO devices (app_id, registration_id, platform, vendor, token)
     SELECT app_id, 'lag-' || g, 'android', 'fcm', 'fcm-ok-lag-' || g
     FROM apps, generate_series(1, $schedules) g WHERE app = 'bench'" >/dev/null
# times are whole seconds in the app's zone (UTC); 30 s ahead leaves the creation time
start=$(sql "SELECT to_char(date_trunc('second', now()) + interval '30 seconds', 'YYYY-MM-DD HH24:MI:SS')")
t0=$(date +%s.%N)
sql "SELECT count(push_schedule_create('bench', jsonb_build_object(
       'name', 'lag ' || g,
       'trigger', jsonb_build_object('single', jsonb_build_object('time',
           to_char('$start'::timestamp + (g % $spread) * interval '1 second', 'YYYY-MM-DD HH24:MI:SS'))),
       'push', jsonb_build_object('to', jsonb_build_object('registration_id', jsonb_build_array('lag-' || g)),
           'body', jsonb_build_object('platform', 'android', 'notification', jsonb_build_object('alert', 'lag'))))))
     FROM generate_series(1, $schedules) g" >/dev/null
echo "created in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s; first due at $start UTC"
for _ in $(seq 1 $(( (30 + spread + 60) * 2 ))); do
  [ "$(sql "SELECT count(*) FROM deliveries WHERE status = 'sent'")" -ge "$schedules" ] && break
  sleep 0.5
done
sql "WITH l AS (SELECT extract(epoch FROM d.sent_at - r.occurrence) AS lag
                FROM schedule_runs r JOIN deliveries d USING (task_id) WHERE d.status = 'sent')
     SELECT format('fired %s of $schedules; lag occurrence -> delivery sent: p50 %s ms, p99 %s ms, max %s ms',
       count(*), round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY lag))::int,
       round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY lag))::int, round(1000 * max(lag))::int)
     FROM l"
sql "SELECT format('   of which occurrence -> fired: p50 %s ms, p99 %s ms',
       round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - occurrence)))::int,
       round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - occurrence)))::int)
     FROM schedule_runs"

# ---- 2. expansion over 24 time zones -----------------------------------------------------------
echo "== expansion: $devices devices over 24 time zones"
t0=$(date +%s.%N)
sql "INSERT INTO devices (app_id, registration_id, platform, vendor, token, timezone)
     SELECT a.app_id, 'dev-' || g, 'android', 'fcm', 'fcm-ok-' || g,
            (ARRAY['Pacific/Kiritimati', 'Pacific/Auckland', 'Australia/Sydney', 'Asia/Tokyo',
                   'Asia/Shanghai', 'Asia/Bangkok', 'Asia/Dhaka', 'Asia/Kolkata', 'Asia/Karachi',
                   'Asia/Dubai', 'Europe/Moscow', 'Europe/Athens', 'Europe/Berlin', 'Europe/London',
                   'Atlantic/Azores', 'America/Noronha', 'America/Sao_Paulo', 'America/Halifax',
                   'America/New_York', 'America/Chicago', 'America/Denver', 'America/Los_Angeles',
                   'America/Anchorage', 'Pacific/Honolulu'])[1 + g % 24]
     FROM apps a, generate_series(1, $devices) g WHERE a.app = 'bench'" >/dev/null
sql "VACUUM ANALYZE devices" >/dev/null
echo "devices inserted in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
# Only the expansion is measured here: no senders (the deliveries the clock makes due stay queued).
psql -c "ALTER SYSTEM SET pushplan.senders = 0" -c "ALTER SYSTEM SET pushplan.express_senders = 0" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do
  [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan sender'")" = 0 ] && break
  sleep 0.1
done
expand() {   # NAME TRIGGER CLOCK: the clock is moved to a minute before the occurrence, the
             # schedule created, then the clock moved to it
  local t0 t1 n
  sql "SELECT _clock_set('$3'::timestamptz - interval '1 minute')" >/dev/null
  sql "SELECT push_schedule_create('bench', '{\"name\": \"$1\", \"trigger\": $2, \"push\": {\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"$1\"}}}}')" >/dev/null
  sql "CHECKPOINT" >/dev/null
  t0=$(date +%s.%N)
  sql "SELECT _clock_set('$3')" >/dev/null
  for _ in $(seq 1 1200); do
    [ "$(sql "SELECT coalesce(bool_and(t.expanded), false) FROM schedules s JOIN schedule_runs r USING (schedule_id) JOIN tasks t USING (task_id) WHERE s.name = '$1'")" = t ] && break
    sleep 0.1
  done
  t1=$(date +%s.%N)
  n=$(sql "SELECT t.targeted FROM schedules s JOIN schedule_runs r USING (schedule_id) JOIN tasks t USING (task_id) WHERE s.name = '$1'")
  awk -v n="$n" -v a="$t0" -v b="$t1" -v name="$1" \
    'BEGIN { printf "%s: %d deliveries planned in %.2f s (clock moved -> expanded): %.0f devices/s\n", name, n, b - a, n / (b - a) }'
  # (push_deliveries: the deliveries made and those a send plan holds, doc/schedules.md)
  sql "SELECT '   planned send_at: ' || count(DISTINCT d.send_at) || ' distinct instants, from ' || min(d.send_at) || ' to ' || max(d.send_at)
              || '; ' || (SELECT count(*) FROM deliveries x WHERE x.task_id = r.task_id) || ' delivery rows, '
              || (SELECT count(*) FROM delivery_plans p WHERE p.task_id = r.task_id) || ' send plan rows'
       FROM schedules s JOIN schedule_runs r USING (schedule_id) JOIN push_deliveries d USING (task_id) WHERE s.name = '$1'
       GROUP BY r.task_id"
}
# alternated, twice; each occurrence after the last (the clock only moves forward)
expand "zone_type 1, run 1" '{"single": {"time": "2090-06-01 09:00:00"}}' '2090-06-01 09:00:00+00'
expand "zone_type 2, run 1" '{"single": {"time": "2090-06-03 09:00:00", "zone_type": 2}}' '2090-06-02 19:00:00+00'
expand "zone_type 1, run 2" '{"single": {"time": "2090-06-05 09:00:00"}}' '2090-06-05 09:00:00+00'
expand "zone_type 2, run 2" '{"single": {"time": "2090-06-07 09:00:00", "zone_type": 2}}' '2090-06-06 19:00:00+00'

# ---- 3. an intelligent schedule: each device's own best time, end to end ---------------------------
# The same devices get 5..15 visits each in the last 30 days around a habit hour (as in
# bench_smart.sh), their profiles are refreshed (as the scheduler's upkeep does), then an
# intelligent schedule to all is fired: clock moved -> every delivery planned.
echo "== intelligent: $devices devices with visits"
t0=$(date +%s.%N)
sql "INSERT INTO device_activity (device_id, at)
     SELECT d.device_id,
            least(now(), ((now() AT TIME ZONE d.timezone)::date - (random() * 30)::int
              + CASE WHEN random() < 0.67
                     THEN make_interval(hours => 7 + (d.device_id % 16)::int) + random() * interval '1 hour'
                     ELSE random() * interval '24 hours' END) AT TIME ZONE d.timezone)
     FROM devices d, generate_series(1, 15) v
     WHERE d.registration_id LIKE 'dev-%' AND v <= 5 + (hashint8(d.device_id) & 2147483647) % 11" >/dev/null
sql "INSERT INTO smart_profile_pending (device_id) SELECT DISTINCT device_id FROM device_activity" >/dev/null
sql "VACUUM ANALYZE" >/dev/null
echo "visits written in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $(sql "SELECT count(*) FROM device_activity")"
t0=$(date +%s.%N)
while [ "$(sql "SELECT _smart_profiles_refresh(50000)")" != 0 ]; do :; done
echo "profiles refreshed in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
expand "intelligent, run 1" '{"intelligent": {"backup_time": "now", "start": "2090-06-09 09:00:00"}}' '2090-06-09 09:00:00+00'
expand "intelligent, run 2" '{"intelligent": {"backup_time": "now", "start": "2090-06-11 09:00:00"}}' '2090-06-11 09:00:00+00'
expand "zone_type 1, run 3" '{"single": {"time": "2090-06-13 09:00:00"}}' '2090-06-13 09:00:00+00'
