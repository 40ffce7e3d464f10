#!/usr/bin/env bash
# Flow triggers benchmark (doc/benchmarks.md, "Flow triggers"): one evaluation of an inactivity
# trigger ({"inactive": {"event": "app_open", "for": "7 days"}}) over DEVICES devices, timed as
# the scheduler runs it (_flow_triggers_run(), one flow, one transaction):
#   1. the flow's first evaluation: every device looked at (its last app_open, or its
#      registration), the inactive ones entered, in chunks of CHUNK devices (pushplan.flow_trigger_chunk),
#      one call and one transaction per chunk as the scheduler runs them: the total, the number
#      of chunks and the longest one (what holds the scheduler);
#   2. a later evaluation, 15 minutes on: the devices that crossed the line since;
# and one evaluation of a date trigger ({"date_attr": {"attr": "birthday", "at": "09:00",
# "anniversary": true}}) over the same devices, each with a birthday and one of four zones.
# The devices and the events (one app_open a device, spread over 20 days in time order, as
# push_track writes them) are inserted directly: their set-up is not what is measured.
# Usage: test/bench/bench_flow_triggers.sh [DEVICES=1000000] [CHUNK=50000]
# Needs the extension and the test extension installed (`make bench` does both). Port 56538 (BENCH_PORT to change it).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
devices=${1:-1000000}
chunk=${2:-50000}
pg_port=${BENCH_PORT:-56538}
work=$(mktemp -d /tmp/pushplan-bench-flowtrig.XXXXXX)
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
sql "SELECT _clock_set('2090-01-21 00:00:00+00')" >/dev/null
sql "INSERT INTO devices (app_id, registration_id, platform, vendor, token, timezone, attrs, created_at)
     SELECT (SELECT app_id FROM apps WHERE app = 'bench'), 'd' || i, 'android', 'fcm', 't' || i,
            (ARRAY['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'UTC'])[1 + i % 4],
            jsonb_build_object('birthday', to_char(date '1980-01-01' + (i % 3650), 'YYYY-MM-DD')),
            '2090-01-01 00:00:00+00'
     FROM generate_series(1, $devices) i"
# one app_open a device, at a time spread over 2090-01-01 .. 2090-01-21, inserted in time order
sql "INSERT INTO tracked_events (app_id, device_id, event, props, at, tracked_at)
     SELECT d.app_id, d.device_id, 'app_open', '{}', t, t
     FROM devices d, LATERAL (SELECT timestamptz '2090-01-01 00:00:00+00'
                                     + ((d.device_id * 7919) % (20 * 24 * 60)) * interval '1 minute' AS t) x
     ORDER BY t"
psql -c "VACUUM ANALYZE pushplan.devices" -c "VACUUM ANALYZE pushplan.tracked_events"
echo "devices: $devices, app_open events: $(sql "SELECT count(*) FROM tracked_events")"

# the first evaluation's look at every device alone (the query of _flow_eval_inactive), without
# entering anyone
start=$(ms)
n=$(sql "SET jit = off; SELECT count(*) FROM (SELECT d.device_id, greatest(d.created_at, l.last) AS since
     FROM devices d CROSS JOIN LATERAL (SELECT max(e.tracked_at) AS last FROM tracked_events e
                                        WHERE e.device_id = d.device_id AND e.event = 'app_open') l
     WHERE d.app_id = (SELECT app_id FROM apps WHERE app = 'bench') AND d.registered) s
     WHERE s.since <= clock_now() - interval '7 days'" | tail -1)
took=$(( $(ms) - start ))
echo "inactive, every device looked at, nobody entered: $took ms; inactive: $n"
winback=$(sql "SELECT push_flow_create('bench', '{\"name\": \"winback\", \"reentry\": \"0\",
  \"trigger\": {\"inactive\": {\"event\": \"app_open\", \"for\": \"7 days\"}}, \"steps\": [{\"exit\": true}]}')")
start=$(ms)
chunks=0
longest=0
while :; do
  c0=$(ms)
  psql -c "SET pushplan.flow_trigger_chunk = $chunk" -c "SELECT pushplan._flow_triggers_run()" >/dev/null
  c=$(( $(ms) - c0 ))
  chunks=$((chunks + 1))
  [ "$c" -gt "$longest" ] && longest=$c
  [ "$(sql "SELECT _flow_triggers_chunking()")" = "t" ] || break
done
took=$(( $(ms) - start ))
echo "inactive, first evaluation (every device looked at, the inactive ones entered), chunks of $chunk: $took ms in $chunks chunks, the longest $longest ms; entered: $(sql "SELECT count(*) FROM flow_instances")"
sql "SELECT _clock_set(clock_now() + interval '15 minutes 1 second')" >/dev/null
start=$(ms)
sql "SELECT _flow_triggers_run()" >/dev/null
took=$(( $(ms) - start ))
echo "inactive, next evaluation (15 minutes later): $took ms; entered since: $(sql "SELECT users FROM flow_trigger_evals")"
sql "SELECT push_flow_enable('bench', '$winback', false)" >/dev/null

sql "SELECT push_flow_create('bench', '{\"name\": \"birthday\", \"reentry\": \"0\",
  \"trigger\": {\"date_attr\": {\"attr\": \"birthday\", \"at\": \"09:00\", \"anniversary\": true}}, \"steps\": [{\"exit\": true}]}')" >/dev/null
sql "SELECT _clock_set('2090-01-22 02:00:00+00')" >/dev/null
sql "SELECT _flow_triggers_run()" >/dev/null       # the first: from 5 minutes ago
sql "SELECT _clock_set('2090-01-22 09:00:00+00')" >/dev/null
start=$(ms)
sql "SELECT _flow_triggers_run()" >/dev/null
took=$(( $(ms) - start ))
echo "date_attr, one evaluation (every device, 7 hours of occurrences): $took ms; entered: $(sql "SELECT users FROM flow_trigger_evals f JOIN flows USING (flow_id) WHERE name = 'birthday'")"
