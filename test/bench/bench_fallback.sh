#!/usr/bin/env bash
# Cross-channel fallback benchmark (doc/benchmarks.md, "Cross-channel fallback"): the scheduler's
# look (_fallback_step, sql/api/74_fallback.sql) over a push to N devices (default 1,000,000),
# its deliveries written directly as sent, 30 % of them opened, 90 % of the devices (none of those that opened it) with an
# e-mail attribute. The look runs step after step (10,000 deliveries each, as the scheduler
# calls it) until nothing is due; then a second look over the same deliveries (everything
# decided already: what a look costs when it makes nothing). Reports the steps, the time, and
# the messages made; never asserts a timing.
# Usage: test/bench/bench_fallback.sh [devices]   (needs the extension installed; port 55930)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-1000000}
port=55930
dir=$(mktemp -d /tmp/pushplan-bench-fallback.XXXXXX)
chmod 755 "$dir"
trap '"$top/dev/cluster" destroy "$dir/data"; rm -rf "$dir"' EXIT
"$top/dev/cluster" start "$dir/data" "$port" "shared_buffers = 1GB" "work_mem = 64MB" \
    "max_wal_size = 4GB"
psql=(psql -h "$dir/data" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE EXTENSION pushplan"
start=$(date +%s)
"${psql[@]}" -v n="$n" <<'SQL'
SET search_path = pushplan, public;
SELECT push_app_create('bench');
SELECT push_vendor_set('bench', 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "bench-secret-0123456789"}');
INSERT INTO devices (app_id, registration_id, platform, vendor, token, attrs)
SELECT a.app_id, 'r' || g, 'android', 'webhook', 'tok-' || g,
       CASE WHEN g % 10 <> 5 THEN jsonb_build_object('email', 'u' || g || '@example.com') ELSE '{}' END
FROM apps a, generate_series(1, :n) g WHERE a.app = 'bench';
-- a broadcast with its fallback, not expanded by anyone: its deliveries are written here
CREATE TABLE bench_task AS
SELECT push_send('bench', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "sale"}},
    "fallback": {"after": "1 minute", "via": "webhook", "to": {"attr": "email"}}}') AS task_id;
UPDATE tasks SET state = 'sending', expanded = true WHERE task_id = (SELECT task_id FROM bench_task);
INSERT INTO deliveries (task_id, app_id, device_id, vendor, status, send_at, sent_at, platform, events, attempts)
SELECT b.task_id, v.app_id, v.device_id, 'webhook', 'sent', now() - interval '1 hour', now() - interval '1 hour',
       'android', CASE WHEN v.device_id % 10 < 3 THEN 3 ELSE 0 END, 1
FROM devices v, bench_task b;
VACUUM ANALYZE;
SQL
echo "data loaded in $(( $(date +%s) - start )) s: $n devices and deliveries"

"${psql[@]}" -At <<'SQL'
SET search_path = pushplan, public;
CREATE TEMP TABLE steps (look int, step int, made int, ms numeric);
CREATE PROCEDURE pg_temp.look(p_look int) LANGUAGE plpgsql AS $$
DECLARE
    v_made int;
    v_t0 timestamptz;
    v_step int := 0;
BEGIN
    LOOP
        v_t0 := clock_timestamp();
        v_made := pushplan._fallback_step(10000, now() + interval '1 day');
        EXIT WHEN v_made < 0;
        v_step := v_step + 1;
        INSERT INTO steps VALUES (p_look, v_step, v_made,
                                  extract(epoch FROM clock_timestamp() - v_t0) * 1000);
        COMMIT;      -- one transaction per step, as the scheduler runs it
    END LOOP;
END $$;
CALL pg_temp.look(1);
UPDATE tasks SET fallback_at = now() WHERE task_id = (SELECT task_id FROM bench_task);
CALL pg_temp.look(2);
SELECT format('look %s: %s steps, %s messages made, %s s in all, step median %s ms, max %s ms',
              look, count(*), sum(made), round(sum(ms) / 1000, 2),
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(max(ms), 1))
FROM steps GROUP BY look ORDER BY look;
SELECT format('fallbacks: %s queued, %s without an address; fallback deliveries: %s',
              count(*) FILTER (WHERE outcome = 'queued'), count(*) FILTER (WHERE outcome = 'no_address'),
              (SELECT count(*) FROM deliveries WHERE task_id = (SELECT task_id || '_fallback' FROM bench_task)))
FROM fallbacks;
SQL
