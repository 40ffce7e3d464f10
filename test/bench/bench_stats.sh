#!/usr/bin/env bash
# Statistics benchmark (doc/benchmarks.md, "Statistics"):
#  1. push_plan_stats for 10 plans over 30 days after DELIVERIES deliveries (test/bench/stats_data.sql
#     builds the state through the writers' append and the upkeep's fold): cold (server restarted,
#     the cluster's files dropped from the page cache, new session; 5 times) and warm (20 calls in
#     one session, p50/p99), with nothing left to fold and with 10 s of appends not folded yet;
#     every plan of the app too; EXPLAIN ANALYZE of one call (auto_explain, the statement inside).
#  2. push_event ingestion against deliveries of real tasks (push_send to lists of 1,000
#     registration ids, expanded at once; no workers): push_event_batch in batches of 1,000 and
#     10,000, from one client and from two (each client its own devices), EVENTS events each; then
#     SINGLE events one push_event per statement from one client. 20 % of the events are resends
#     of another event of the run. Each run is checked: every event in the raw log, each kind
#     counted once per delivery, the appended figures equal to what was sent.
# Clients are psql reading files of statements prepared beforehand (JSON as an SDK collector
# would send it); times are wall clock, first statement to last answer.
# Usage: test/bench/bench_stats.sh [DELIVERIES=10000000] [EVENTS=400000] [SINGLE=50000]
# Needs the extension installed (`make bench`). Port 56210; loopback only.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
deliveries=${1:-10000000}
events=${2:-400000}
single=${3:-50000}
pg_port=56210
work=$(mktemp -d /tmp/pushplan-bench-stats.XXXXXX)
chmod 755 "$work"
cluster=$work/cluster
cleanup() {
  set +e
  "$top/dev/cluster" destroy "$cluster" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
# No pushplan.databases: no scheduler or sender runs, so nothing folds or sends behind the bench.
# The lists of 1,000 ids are expanded by push_send itself (small_audience_limit).
"$top/dev/cluster" start "$cluster" "$pg_port" "shared_buffers = 1GB" "max_wal_size = 8GB" \
  "checkpoint_timeout = 30min" "work_mem = 64MB" "pushplan.small_audience_limit = 1000"
psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p $pg_port -U postgres -At "$@"; }
sql() { psql -c "SET search_path = pushplan, public" -c "SET client_min_messages = warning" -c "$1"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
psql -c "CREATE EXTENSION pushplan"

# ---- 1. push_plan_stats -------------------------------------------------------------------------
echo "== push_plan_stats: 10 plans over 30 days after $deliveries deliveries"
t0=$(date +%s.%N)
psql -v deliveries="$deliveries" -f "$top/test/bench/stats_data.sql" >/dev/null
echo "state built in $(elapsed "$t0") s:"
sql "SELECT format('   tasks: %s campaign pushes (10 plans), %s transactional (default plan); deliveries counted: %s (campaigns %s)',
       count(*) FILTER (WHERE plan_id <> 'default'), count(*) FILTER (WHERE plan_id = 'default'),
       sum(targeted), sum(targeted) FILTER (WHERE plan_id <> 'default')) FROM tasks"
sql "SELECT format('   rows: task_stats %s, plan_stats %s (%s); stats_pending left %s; sent %s, received %s, clicked %s',
       (SELECT count(*) FROM task_stats), count(*), pg_size_pretty(pg_total_relation_size('plan_stats')),
       (SELECT count(*) FROM stats_pending), sum(sent), sum(received), sum(clicked)) FROM plan_stats"
# the aggregates against the tasks they count (every delivery counted once, through append and fold)
sql "SELECT CASE WHEN (SELECT sum(targeted) FROM plan_stats) = $deliveries
                  AND (SELECT sum(targeted) FROM task_stats) = $deliveries
                  AND (SELECT count(*) FROM tasks t
                       FULL JOIN (SELECT task_id, sum(targeted) AS n FROM task_stats GROUP BY 1) s USING (task_id)
                       WHERE s.n IS DISTINCT FROM t.targeted) = 0
            THEN '   check: every task''s deliveries counted once in task_stats and plan_stats'
            ELSE 'MISMATCH: aggregates do not add up to the deliveries' END" | tee "$work/check1"
grep -q MISMATCH "$work/check1" && exit 1

plans="ARRAY['camp01','camp02','camp03','camp04','camp05','camp06','camp07','camp08','camp09','camp10']"
call10="SELECT * FROM pushplan.push_plan_stats('bench', $plans, now() - interval '30 days', now())"
callall="SELECT * FROM pushplan.push_plan_stats('bench', NULL, now() - interval '30 days', now())"
rows10=$(psql -c "SELECT count(*) FROM ($call10) s")
rowsall=$(psql -c "SELECT count(*) FROM ($callall) s")
echo "   10 plans: $rows10 rows (plan, day, platform, vendor, message type); every plan: $rowsall rows"

# warm: N calls of one statement in one session after one call not counted; "p50 p99 max" in ms
warm() {
  { echo '\timing on'; for _ in $(seq 0 "$2"); do echo "$1 \\g /dev/null"; done; } |
    psql -f - | awk '/^Time:/ { print $2 }' | tail -n +2 | sort -n |
    awk '{ v[NR] = $1 } END { printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d calls)",
           (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2, v[NR - int(NR / 100)], v[NR], NR }'
}
# cold: the server restarted with the cluster's files dropped from the page cache (posix_fadvise
# DONTNEED through dd; only our files), then the first call of a new session
cold() {
  local ms=()
  for _ in $(seq 1 "$2"); do
    "$top/dev/cluster" stop "$cluster"
    find "$cluster/base" "$cluster/global" -type f -exec dd if={} iflag=nocache count=0 status=none \; 2>/dev/null || true
    "$top/dev/cluster" start "$cluster" "$pg_port"
    ms+=("$({ echo '\timing on'; echo "$1 \\g /dev/null"; } | psql -f - | awk '/^Time:/ { print $2 }')")
  done
  printf '%s\n' "${ms[@]}" | sort -n | awk '{ v[NR] = $1 } END {
    printf "median %.1f ms, min %.1f ms, max %.1f ms (%d restarts)", v[int((NR + 1) / 2)], v[1], v[NR], NR }'
}
echo "-- nothing to fold (stats_pending empty)"
echo "   10 plans, cold: $(cold "$call10" 5)"
echo "   (the database's files in the page cache after eviction: $(find "$cluster/base" -type f -exec dd if={} iflag=nocache count=0 status=none \; 2>/dev/null; find "$cluster/base" -type f -exec fincore -nb {} + 2>/dev/null | awk '{ s += $1 } END { printf "%.1f MB", s / 1048576 }') of $(du -sm "$cluster/base" | cut -f1) MB)"
echo "   10 plans, warm: $(warm "$call10" 20)"
echo "   every plan (default's transactional pushes too), warm: $(warm "$callall" 20)"
echo "   10 plans by hour, warm: $(warm "SELECT * FROM pushplan.push_plan_stats('bench', $plans, now() - interval '30 days', now(), 'hour')" 20)"

# 10 s of appends not folded yet (the upkeep folds every 1 to 10 s): a broadcast of camp01 under
# way at 70,000 deliveries/s (its expansion, 1,000,000 devices in batches of 10,000, and 1,400
# outcome statements of 500 deliveries over 10 pairs), and 2,000 transactional pushes made and sent
sql "SELECT setseed(0.5);
     CREATE TEMP TABLE pairs (platform text, vendor text, share float8);
     INSERT INTO pairs VALUES ('android', 'fcm', 0.22), ('android', 'hms', 0.15), ('android', 'honor', 0.05),
         ('android', 'oppo', 0.09), ('android', 'vivo', 0.09), ('android', 'xiaomi', 0.09),
         ('android', 'meizu', 0.01), ('ios', 'apns', 0.25), ('harmony', 'harmony', 0.03), ('web', 'webpush', 0.02);
     INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at, targeted, expanded, started_at, priority)
     SELECT 'tsk_' || md5('live-camp01'), app_id, 'camp01', push, 'sending', now() - interval '10 seconds',
            1000000, true, now() - interval '10 seconds', 1
     FROM tasks WHERE plan_id = 'camp01' ORDER BY send_at DESC LIMIT 1;
     INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at, targeted, expanded, started_at, finished_at, priority)
     SELECT 'tsk_' || md5('live-tx-' || g), t.app_id, 'default', t.push, 'done', now() - random() * interval '10 seconds',
            1, true, now(), now(), 0
     FROM generate_series(1, 2000) g, (SELECT app_id, push FROM tasks WHERE plan_id = 'default' LIMIT 1) t;
     INSERT INTO stats_pending (task_id, platform, vendor, targeted)
     SELECT 'tsk_' || md5('live-camp01'), p.platform, p.vendor, round(10000 * p.share)
     FROM generate_series(1, 100) b, pairs p;
     INSERT INTO stats_pending (task_id, platform, vendor, sent, failed, invalid_token, suppressed, opted_out)
     SELECT 'tsk_' || md5('live-camp01'), p.platform, p.vendor, round(470 * p.share), round(10 * p.share),
            round(6 * p.share), round(20 * p.share), round(10 * p.share)
     FROM generate_series(1, 1400) b, pairs p;
     INSERT INTO stats_pending (task_id, platform, vendor, targeted)
     SELECT 'tsk_' || md5('live-tx-' || g), 'android', 'fcm', 1 FROM generate_series(1, 2000) g;
     INSERT INTO stats_pending (task_id, platform, vendor, sent)
     SELECT 'tsk_' || md5('live-tx-' || g), 'android', 'fcm', 1 FROM generate_series(1, 2000) g;
     ANALYZE stats_pending" >/dev/null
echo "-- with 10 s of appends not folded: $(sql "SELECT count(*) FROM stats_pending") rows in stats_pending"
echo "   10 plans, cold: $(cold "$call10" 5)"
echo "   10 plans, warm: $(warm "$call10" 20)"
echo "   every plan, warm: $(warm "$callall" 20)"
echo "-- EXPLAIN ANALYZE of one warm call (10 plans, the appends not folded), through auto_explain:"
{ echo "$call10 \\g /dev/null"
  echo "LOAD 'auto_explain';"
  echo "SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;"
  echo "SET auto_explain.log_buffers = on; SET auto_explain.log_nested_statements = on;"
  echo "SET auto_explain.log_level = 'notice'; SET client_min_messages = notice;"
  echo "$call10 \\g /dev/null"; } | psql -f - 2>&1 |
  awk '/NOTICE:  duration/ { if (keep) printf "%s", blk; blk = ""; keep = 0 }
       { blk = blk "   " $0 "\n" } /_plan_stats_live|Function Scan on push_plan_stats/ { keep = 1 }
       END { if (keep) printf "%s", blk }'
sql "SELECT _stats_rollup()" >/dev/null

# ---- 2. push_event ingestion ----------------------------------------------------------------------
# Devices and tasks: 200,000 devices; tasks of 1,000 ids each, as many as each run needs
# (about 1.6 unique events a delivery: received, open 35 %, dismiss 10 %, click 12 %, convert 2 %).
echo "== push_event ingestion"
sql "SELECT push_vendor_set('bench', 'webhook', '{\"url\": \"https://127.0.0.1:9/hook\", \"secret\": \"bench-secret-0123456789\"}');
     INSERT INTO devices (app_id, registration_id, platform, vendor, token)
     SELECT app_id, 'ev-' || g, CASE WHEN g % 3 = 0 THEN 'ios' ELSE 'android' END, 'webhook', 'tok-ev-' || g
     FROM apps, generate_series(1, 200000) g WHERE app = 'bench';
     CREATE TABLE public.bench_runs (run text PRIMARY KEY, task_from int, task_to int);
     CREATE TABLE public.bench_tasks (k int PRIMARY KEY, task_id text)" >/dev/null
runs=("batch 1000, 1 client:1000:1:$events" "batch 1000, 2 clients:1000:2:$events"
      "batch 10000, 1 client:10000:1:$events" "batch 10000, 2 clients:10000:2:$events"
      "push_event, 1 client:0:1:$single")
k=0
for r in "${runs[@]}"; do
  IFS=: read -r name _ _ n <<<"$r"
  ntasks=$(( (n * 8 / 10 * 100 / 159 + 999) / 1000 ))
  sql "INSERT INTO public.bench_runs VALUES ('$name', $((k + 1)), $((k + ntasks)))" >/dev/null
  k=$((k + ntasks))
done
t0=$(date +%s.%N)
sql "INSERT INTO public.bench_tasks
     SELECT k, push_send('bench', jsonb_build_object('to', jsonb_build_object('registration_id',
              (SELECT jsonb_agg('ev-' || (((k * 1000 + i) % 200000) + 1)) FROM generate_series(0, 999) i)),
            'body', jsonb_build_object('platform', 'all', 'notification', jsonb_build_object('alert', 'event bench ' || k))))
     FROM generate_series(1, $k) k" >/dev/null
sql "VACUUM ANALYZE" >/dev/null
echo "$k pushes to 1,000 registration ids each, expanded by push_send: $(sql "SELECT count(*) FROM deliveries WHERE task_id IN (SELECT task_id FROM public.bench_tasks)") deliveries in $(elapsed "$t0") s"

# The events of a run: its deliveries' unique events, plus 25 % of them again (so 20 % of all),
# shuffled, each client its own devices, cut in batches.
prepare() {   # NAME BATCH CLIENTS
  sql "SELECT setseed(0.3);
       DROP TABLE IF EXISTS public.bench_events;
       CREATE TABLE public.bench_events AS
       WITH u AS (
           SELECT d.delivery_id, v.registration_id AS rid, d.task_id, k.kind, k.bit,
                  now() - random() * interval '1 hour' AS at,
                  CASE WHEN k.kind = 'convert' THEN round((10 + random() * 190)::numeric, 2) END AS value
           FROM public.bench_runs r
           JOIN public.bench_tasks b ON b.k BETWEEN r.task_from AND r.task_to
           JOIN deliveries d ON d.task_id = b.task_id
           JOIN devices v ON v.device_id = d.device_id
           CROSS JOIN LATERAL (SELECT x.kind, x.bit FROM (VALUES ('received', 1, 1.0), ('open', 2, 0.35),
                                   ('dismiss', 8, 0.10), ('click', 4, 0.12), ('convert', 16, 0.02)) x(kind, bit, p)
                               WHERE random() < x.p + 0 * d.delivery_id) k
           WHERE r.run = '$1')
       SELECT u.*, false AS resent FROM u
       UNION ALL
       SELECT u.*, true FROM u WHERE random() < 0.25;
       ALTER TABLE public.bench_events ADD COLUMN client int, ADD COLUMN batch int;
       UPDATE public.bench_events SET client = (hashtext(rid) & 1023) % $3;
       WITH o AS (SELECT ctid, (row_number() OVER (PARTITION BY client ORDER BY random()) - 1) AS n
                  FROM public.bench_events)
       UPDATE public.bench_events e SET batch = o.n / greatest($2, 1) FROM o WHERE e.ctid = o.ctid" >/dev/null
  for c in $(seq 0 $(( $3 - 1 ))); do
    if [ "$2" -gt 0 ]; then
      sql "SELECT format('SELECT pushplan.push_event_batch(%L, %L);', 'bench', jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'registration_id', rid, 'task_id', task_id, 'kind', kind,
               'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'value', value))))
           FROM public.bench_events WHERE client = $c GROUP BY batch ORDER BY batch" > "$work/client$c.sql"
    else
      sql "SELECT format('SELECT pushplan.push_event(%L, %L, %L, %L, %L, %s);', 'bench', rid, task_id, kind,
                         to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), coalesce(value::text, 'NULL'))
           FROM public.bench_events WHERE client = $c ORDER BY batch" > "$work/client$c.sql"
    fi
  done
}
# The run's figures against what was sent: every event in the raw log, each (delivery, kind)
# counted once (events.counted, deliveries.events, the appended figures).
check() {   # NAME
  sql "WITH t AS (SELECT b.task_id FROM public.bench_runs r JOIN public.bench_tasks b ON b.k BETWEEN r.task_from AND r.task_to WHERE r.run = '$1'),
       want AS (SELECT count(*) AS events, count(DISTINCT (delivery_id, bit)) AS counted,
                       sum(value) FILTER (WHERE NOT resent) AS value FROM public.bench_events),
       got AS (SELECT count(*) AS events, count(*) FILTER (WHERE counted) AS counted FROM events WHERE task_id IN (SELECT task_id FROM t)),
       bits AS (SELECT sum((events & 1 <> 0)::int + (events & 2 <> 0)::int + (events & 4 <> 0)::int
                           + (events & 8 <> 0)::int + (events & 16 <> 0)::int) AS counted
                FROM deliveries WHERE task_id IN (SELECT task_id FROM t)),
       agg AS (SELECT sum(received + opened + clicked + dismissed + converted) AS counted, sum(converted_value) AS value
               FROM stats_pending WHERE task_id IN (SELECT task_id FROM t))
       SELECT CASE WHEN got.events = want.events AND got.counted = want.counted AND bits.counted = want.counted
                        AND agg.counted = want.counted AND agg.value = want.value
                   THEN format('   check: %s events in the raw log, %s counted once each (%s resends not counted), figures appended equal',
                               got.events, got.counted, got.events - got.counted)
                   ELSE format('MISMATCH: sent %s events, %s to count (value %s); logged %s, counted %s, bits %s, appended %s (value %s)',
                               want.events, want.counted, want.value, got.events, got.counted, bits.counted, agg.counted, agg.value) END
       FROM want, got, bits, agg" | tee "$work/check"
  ! grep -q MISMATCH "$work/check"
}
for r in "${runs[@]}"; do
  IFS=: read -r name batch clients _ <<<"$r"
  prepare "$name" "$batch" "$clients"
  n=$(sql "SELECT count(*) FROM public.bench_events")
  sql "CHECKPOINT" >/dev/null
  t0=$(date +%s.%N)
  pids=()
  for c in $(seq 0 $((clients - 1))); do
    psql -f "$work/client$c.sql" >/dev/null &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  t=$(elapsed "$t0")
  awk -v n="$n" -v t="$t" -v name="$name" 'BEGIN { printf "%s: %d events in %.2f s: %.0f events/s\n", name, n, t, n / t }'
  check "$name"
  rm -f "$work"/client*.sql
done
