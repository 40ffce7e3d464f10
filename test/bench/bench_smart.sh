#!/usr/bin/env bash
# Intelligent send times benchmark (doc/benchmarks.md, "Intelligent send times"): 1,000,000
# devices in 24 time zones, 30 days of activity with about 10 visits each (10 M rows of
# device_activity, written as rows: push_device_activity per visit would take hours), every
# device marked as push_device_activity marks it. Measures, in order:
#   1. _smart_send_times over all devices in batches of 50,000 before any refresh: every
#      device is computed from its visits (the correctness path when the refresh has not run);
#   2. _smart_profiles_refresh(50000) until no mark is left: profiles refreshed per second;
#   3. _smart_send_times again, from the profiles (the path of a normal expansion), twice.
# Usage: test/bench/bench_smart.sh [devices]   (needs the extension installed; port 55730)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
devices=${1:-1000000}
batch=50000
port=55730
dir=$(mktemp -d /tmp/pushplan-bench-smart.XXXXXX)
chmod 755 "$dir"
trap '"$top/dev/cluster" destroy "$dir/data"; rm -rf "$dir"' EXIT
"$top/dev/cluster" start "$dir/data" "$port" "shared_buffers = 1GB" "work_mem = 64MB" \
    "max_wal_size = 4GB" "checkpoint_timeout = 30min"
psql=(psql -h "$dir/data" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE EXTENSION pushplan"

start=$(date +%s)
"${psql[@]}" <<SQL
SET search_path = pushplan;
SELECT push_app_create('bench') \gset
INSERT INTO devices (app_id, registration_id, platform, vendor, token, timezone)
SELECT a.app_id, 'r' || g, 'ios', 'apns', 'tok-' || g,
       (ARRAY['Pacific/Honolulu', 'America/Anchorage', 'America/Los_Angeles', 'America/Denver',
              'America/Chicago', 'America/New_York', 'America/Sao_Paulo', 'Atlantic/Azores',
              'Europe/London', 'Europe/Berlin', 'Europe/Athens', 'Europe/Moscow', 'Asia/Dubai',
              'Asia/Karachi', 'Asia/Kolkata', 'Asia/Kathmandu', 'Asia/Dhaka', 'Asia/Bangkok',
              'Asia/Shanghai', 'Asia/Tokyo', 'Australia/Adelaide', 'Australia/Sydney',
              'Pacific/Noumea', 'Pacific/Auckland'])[1 + g % 24]
FROM apps a, generate_series(1, $devices) g WHERE a.app = 'bench';
-- each device a habit hour (7..22 local) and 5..15 visits in the last 30 days: two in three
-- within an hour of the habit, the rest anywhere in the day
INSERT INTO device_activity (device_id, at)
SELECT d.device_id,
       least(now(), ((now() AT TIME ZONE d.timezone)::date - (random() * 30)::int
         + CASE WHEN random() < 0.67
                THEN make_interval(hours => 7 + (d.device_id % 16)::int) + random() * interval '1 hour'
                ELSE random() * interval '24 hours' END) AT TIME ZONE d.timezone)
FROM devices d, generate_series(1, 15) v
WHERE v <= 5 + (hashint8(d.device_id) & 2147483647) % 11;
UPDATE devices d SET last_active_at = m.at FROM (SELECT device_id, max(at) AS at FROM device_activity GROUP BY 1) m
WHERE m.device_id = d.device_id;
-- what push_device_activity leaves behind
INSERT INTO smart_profile_pending (device_id) SELECT DISTINCT device_id FROM device_activity;
VACUUM ANALYZE;
CREATE TABLE public.bench_batches AS
SELECT n, array_agg(device_id ORDER BY device_id) AS ids
FROM (SELECT device_id, (row_number() OVER (ORDER BY device_id) - 1) / $batch AS n FROM devices) s
GROUP BY n;
SQL
echo "data loaded in $(( $(date +%s) - start )) s: $("${psql[@]}" -Atc "SELECT count(*) || ' devices, ' ||
    (SELECT count(*) FROM pushplan.device_activity) || ' visits, ' ||
    (SELECT count(*) FROM pushplan.smart_profile_pending) || ' marked' FROM pushplan.devices")"

# all batches through _smart_send_times, one statement each, timed inside the server
send_times() {
  "${psql[@]}" -At <<'SQL'
CREATE TEMP TABLE t (n int, ms float8, rows bigint, bases text);
DO $$
DECLARE b record; t0 timestamptz; r bigint; bases text;
BEGIN
    FOR b IN SELECT n, ids FROM public.bench_batches ORDER BY n LOOP
        t0 := clock_timestamp();
        SELECT count(*), string_agg(DISTINCT basis, ',') INTO r, bases
        FROM pushplan._smart_send_times(b.ids, '2026-06-01 00:00Z', '2026-06-01 06:00Z', '2026-06-01 12:00');
        INSERT INTO t VALUES (b.n, extract(epoch FROM clock_timestamp() - t0) * 1000, r, bases);
    END LOOP;
END $$;
SELECT format('%s devices in %s batches: %s s, %s devices/s (batch median %s ms, max %s ms; bases %s)',
              sum(rows), count(*), round(sum(ms)::numeric / 1000, 2),
              round(sum(rows) / (sum(ms) / 1000)),
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
              round(max(ms)::numeric, 1),
              (SELECT string_agg(DISTINCT x, ',') FROM t, unnest(string_to_array(bases, ',')) x))
FROM t;
SQL
}

echo "== _smart_send_times, every device marked (computed from its visits)"
send_times
echo "== _smart_profiles_refresh(50000) until no mark is left"
start=$(date +%s.%N)
total=0
while :; do
  n=$("${psql[@]}" -Atc "SELECT pushplan._smart_profiles_refresh($batch)")
  [ "$n" -eq 0 ] && break
  total=$((total + n))
done
secs=$(echo "$(date +%s.%N) - $start" | bc)
echo "$total profiles in $(printf %.2f "$secs") s: $(echo "$total / $secs" | bc) devices/s; $("${psql[@]}" -Atc "SELECT count(*) || ' profiles, ' || pg_size_pretty(pg_total_relation_size('pushplan.device_send_profiles')) FROM pushplan.device_send_profiles")"
echo "== _smart_send_times, from the profiles (two runs)"
send_times
send_times
