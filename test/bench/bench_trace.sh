#!/usr/bin/env bash
# push_trace benchmark (doc/benchmarks.md, "push_trace"): the audiences benchmark's data
# (test/bench/audience_data.sql: 1,000,000 devices, ~1,000 skewed tags, 5 attributes), a few
# broadcasts not expanded (the trace then asks the audience code about the device: the part
# whose cost grows with the audience), and one device with deliveries of 60 tasks (the trace
# without a task reads its last 50). Each call runs reps times; medians and minimums.
# Usage: test/bench/bench_trace.sh [reps]   (needs the extension installed; port 55740)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
reps=${1:-21}
port=55740
dir=$(mktemp -d /tmp/pushplan-bench-trace.XXXXXX)
chmod 755 "$dir"
trap '"$top/dev/cluster" destroy "$dir/data"; rm -rf "$dir"' EXIT
"$top/dev/cluster" start "$dir/data" "$port" "shared_buffers = 1GB" "work_mem = 64MB" \
    "max_wal_size = 4GB"
psql=(psql -h "$dir/data" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE EXTENSION pushplan"
start=$(date +%s)
"${psql[@]}" -f "$top/test/bench/audience_data.sql" > /dev/null
echo "data loaded in $(( $(date +%s) - start )) s: $("${psql[@]}" -Atc "SELECT count(*) || ' devices, ' ||
    (SELECT count(*) FROM pushplan.device_tags) || ' device tags' FROM pushplan.devices")"

"${psql[@]}" <<'SQL'
SET search_path = pushplan, public;
SELECT push_app_set('bench', '{"broadcast_min_interval": "0 seconds"}');
SELECT push_vendor_set('bench', 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "bench-secret-0123456789"}');
CREATE TABLE bench_tasks (name text PRIMARY KEY, task_id text);
INSERT INTO bench_tasks VALUES
    ('tag_or_3', push_send('bench', '{"to": {"tag": ["t0", "t1", "t500"]}, "body": {"platform": "all", "notification": {"alert": "a"}}}')),
    ('attr_and_2', push_send('bench', '{"to": {"attr_and": {"city": "c1", "level": "l2"}}, "body": {"platform": "all", "notification": {"alert": "b"}}}')),
    ('condition_5', push_send('bench', '{"to": {"condition": {"and": [{"tag": "t2"}, {"not": {"tag": "t0"}}, {"attr": {"city": "c0"}}]}}, "body": {"platform": "all", "notification": {"alert": "c"}}}')),
    ('condition_9', push_send('bench', '{"to": {"condition": {"and": [{"tag": "t2"}, {"or": [{"tag": "t700"}, {"attr": {"level": "l9"}}, {"not": {"tag": "t0"}}]}, {"not": {"and": [{"tag": "t1"}, {"attr": {"city": "c3"}}]}}]}}, "body": {"platform": "all", "notification": {"alert": "d"}}}'));
-- device r10's history: 60 list pushes, each with a sent delivery and two events
DO $$
DECLARE
    t text;
BEGIN
    FOR i IN 1 .. 60 LOOP
        t := push_send('bench', '{"to": {"registration_id": ["r10", "r11"]}, "body": {"platform": "all", "notification": {"alert": "h"}}}');
        UPDATE deliveries SET status = 'sent', attempts = 1, sent_at = now(), http_status = 200 WHERE task_id = t;
        PERFORM push_event('bench', 'r10', t, 'received'), push_event('bench', 'r10', t, 'open');
    END LOOP;
END $$;
DELETE FROM delivery_queue;
ANALYZE;
SQL

{
  cat "$top/test/bench/audience_timing.sql"
  echo "SET search_path = pushplan;"
  for name in tag_or_3 attr_and_2 condition_5 condition_9; do
    # r5 is a device of the app: the trace says whether, and why not, it is in each audience
    echo "SELECT test, median_ms, min_ms, answer AS rows FROM pg_temp.bench('push_trace $name', ARRAY[
      format('SELECT count(*) FROM push_trace(%L, %L, %L)', 'bench', 'r5', (SELECT task_id FROM bench_tasks WHERE name = '$name'))], $reps);"
  done
  echo "SELECT test, median_ms, min_ms, answer AS rows FROM pg_temp.bench('push_trace 50 tasks', ARRAY[
    'SELECT count(*) FROM push_trace(''bench'', ''r10'')'], $reps);"
  echo "SELECT test, median_ms, min_ms, answer AS rows FROM pg_temp.bench('push_audience_count condition_9 (for scale)', ARRAY[
    'SELECT push_audience_count(''bench'', (SELECT push->''to'' FROM tasks t JOIN bench_tasks b USING (task_id) WHERE b.name = ''condition_9''))'], 3);"
  echo "SELECT b.name, s.detail FROM bench_tasks b, push_trace('bench', 'r5', b.task_id) s WHERE s.step = 'audience' ORDER BY 1, 2;"
} | "${psql[@]}" -P pager=off
