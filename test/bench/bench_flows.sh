#!/usr/bin/env bash
# Flows benchmark (doc/benchmarks.md, "Flows"), issue 13's targets:
#  1. push_track_batch: EVENTS events in batches of 10,000 over DEVICES devices, with 10 enabled
#     flows (each triggered by its own event, with a condition on the props, an exit event and
#     re-entry after 0), in one session, a transaction per batch: events/s, each starting an
#     instance (target: 50,000/s for 1,000,000);
#  2. advancing: the instances of 1 (waiting 1 hour, then a send, then a set) all due in the same
#     minute (the test clock moved past it), advanced by _flow_advance(1000) as the scheduler
#     calls it, a transaction per call, until none is due (target: 1,000,000 within 60 s); the
#     sends share tasks (one per flow, step and push, up to pushplan.small_audience_limit users).
# No workers serve the database: only the SQL is timed (the tasks are not sent).
# Usage: test/bench/bench_flows.sh [EVENTS=1000000] [DEVICES=1000000]
# Needs the extension and the test extension installed (`make bench` does both). Port 55960
# (PUSHPLAN_BENCH_PORT overrides it: two runs side by side).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
events=${1:-1000000}
devices=${2:-1000000}
pg_port=${PUSHPLAN_BENCH_PORT:-55960}
work=$(mktemp -d /tmp/pushplan-bench-flows.XXXXXX)
chmod 755 "$work"
cluster=$work/cluster
cleanup() {
  set +e
  "$top/dev/cluster" destroy "$cluster" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
"$top/dev/cluster" start "$cluster" "$pg_port" "pushplan.databases = ''" "shared_buffers = 512MB" \
  "max_wal_size = 8GB" "checkpoint_timeout = 30min" "work_mem = 64MB" >/dev/null
psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p $pg_port -U postgres -At "$@"; }
sql() { psql -c "SET search_path = pushplan, public" -c "$1"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test"
sql "SELECT push_app_create('bench')" >/dev/null
sql "SELECT _clock_set('2090-01-01 00:00:00+00')" >/dev/null
for ((from = 1; from <= devices; from += 10000)); do
  sql "SELECT push_device_register_batch('bench', (SELECT jsonb_agg(jsonb_build_object(
         'registration_id', 'd' || i, 'platform', 'android', 'vendor', 'fcm', 'token', 't' || i))
       FROM generate_series($from, least($from + 9999, $devices)) i))" >/dev/null
done
for f in $(seq 1 10); do
  sql "SELECT push_flow_create('bench', '{\"name\": \"flow$f\", \"reentry\": \"0\",
    \"trigger\": {\"event\": \"ev$f\", \"where\": {\"total\": {\"gte\": 0}}},
    \"steps\": [{\"wait\": \"1 hour\"},
                {\"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"flow $f\"}}}},
                {\"set\": {\"tags_add\": [\"reached$f\"]}}],
    \"exit\": {\"event\": \"purchase\"}}')" >/dev/null
done
echo "devices: $devices, flows: 10, events: $events (batches of 10,000)"

# the batches are made first (untimed), then reported in one session, a transaction each, as an
# application that keeps its connection would
psql -c "CREATE TABLE public.batches AS SELECT b, (SELECT jsonb_agg(jsonb_build_object(
         'registration_id', 'd' || (1 + (i::bigint * 7919) % $devices), 'event', 'ev' || (1 + i % 10),
         'props', jsonb_build_object('total', i % 100)))
       FROM generate_series(b * 10000, least(b * 10000 + 9999, $events - 1)) i) AS events
     FROM generate_series(0, ($events - 1) / 10000) b"
start=$(ms)
psql -c "DO \$\$ DECLARE r record; BEGIN
           FOR r IN SELECT events FROM public.batches ORDER BY b LOOP
             PERFORM pushplan.push_track_batch('bench', r.events); COMMIT;
           END LOOP; END \$\$"
took=$(( $(ms) - start ))
made=$(sql "SELECT count(*) FROM flow_instances")
echo "push_track_batch: $events events in $took ms: $(( events * 1000 / (took > 0 ? took : 1) )) events/s; instances started: $made"

# the scheduler's rounds, in one session: a transaction per _flow_advance(1000), as the
# scheduler's (src/flow_advance.c)
advance_all() {
  psql -c "DO \$\$ BEGIN LOOP EXIT WHEN pushplan._flow_advance(1000) = 0; COMMIT; END LOOP; END \$\$"
}
# the first step (the wait) is the scheduler's: start every wait, then move past their end
start=$(ms)
advance_all
took=$(( $(ms) - start ))
echo "_flow_advance, waits started: $made instances in $took ms: $(( made * 1000 / (took > 0 ? took : 1) )) instances/s"
# past every wait's end (the test clock runs on from where it was set)
sql "SELECT _clock_set('2090-01-01 03:00:00+00')" >/dev/null
start=$(ms)
advance_all
took=$(( $(ms) - start ))
tasks=$(sql "SELECT count(*) FROM tasks WHERE flow_id IS NOT NULL")
echo "_flow_advance, waits ended (send, set, done): $made instances in $took ms: $(( made * 1000 / (took > 0 ? took : 1) )) instances/s; tasks made: $tasks"
sql "SELECT state, count(*) FROM flow_instances GROUP BY 1 ORDER BY 1" | sed 's/^/  instances /'
sql "SELECT count(*) FILTER (WHERE task_id IS NOT NULL), count(*) FILTER (WHERE detail IS NOT NULL) FROM flow_step_runs WHERE step_id = '2'" | sed 's/^/  send step runs with a task | with an error: /'
