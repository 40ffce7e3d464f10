#!/usr/bin/env bash
# make soak: everything at once, for SOAK_SECONDS (600), against the mock vendor with faults,
# then a drain; reports throughput, errors and each worker's memory (doc/reliability.md, "Soak").
#
# The load (pgbench clients at fixed rates, each its own kind, so each reports its own rate,
# latency and failures):
#   sends      transactional push_send to 1-3 random devices (SEND_RATE/s)
#   register   push_device_register of new and existing devices, a fifth with a fault in the token
#              (REGISTER_RATE/s)
#   track      push_track "visit" of random users (TRACK_RATE/s): a flow waits an hour, then sends
#   stats      push_plan_stats, push_task_progress and push_plan_overview (STATS_RATE/s)
# Every client statement has a STATEMENT_TIMEOUT (30s): one that takes longer fails its client.
# The schedules' pushes live a week (time_to_live), so that the clock's moves do not expire what
# waits; the transactional pushes have no time_to_live (0): push_send reckons a push's expiry
# from the real time, and the senders compare it with the test clock's, a day ahead per move,
# so with any time_to_live every one of them expired unsent (doc/reliability.md, "Soak").
# and beside them:
#   schedules  SCHEDULES periodical schedules (daily at 10:00, each to a tag of ~1/SCHEDULES of
#              the devices): the test clock moves a day every DAY_SECONDS (30) seconds, so every
#              schedule fires once per move, and every flow instance waiting its hour sends
#   faults     DEVICES devices over APNs, FCM, HMS and the webhook channel, one in ten with a fault
#              in its token (429 with and without Retry-After, 503, 500 always, slow past
#              http_timeout, slow within it, dropped connection, GOAWAY, 410 / unregistered); the
#              mock's fault counts are reset every minute, so that the faults come again
#   memory     each worker's VmRSS, RssAnon and memory contexts' total (test/soak/lib.sh) at the
#              start, every SAMPLE_SECONDS (60) and at the end
# Then the clients stop, the clock moves once more, and the deliveries drain (bounded: 180 s).
# Then the workers idle IDLE_SECONDS (30: the senders' handle pools are trimmed every 10 s)
# and are sampled once more ("idle").
# Fails if: a client got an error; a worker died or was restarted; a delivery is left queued
# after the drain; a worker's private memory grew, from the first sample after WARM_SECONDS
# (120; the start when the run is shorter) to the idle sample, by more than GROW_MB (8) of
# RssAnon or GROW_CTX_MB (2) of memory contexts; its RssAnon once idle is more than
# IDLE_GROW_MB (16) above its start; or any sample reached LIMIT_MB (100). Why these bounds:
# doc/reliability.md, "Soak".
# Results in $PUSHPLAN_WORK: report.md (what make soak prints), memory.tsv, pgbench-*.log,
# cluster/server.log. Ports 56575 (mock; its vendors on 56577-56580) and 56576 (cluster).
# Usage: make soak [SOAK_SECONDS=600] (on a private installation of this build: private_pg.sh), or
#   PATH=$(test/soak/private_pg.sh DIR/pg):$PATH PUSHPLAN_TOP=$PWD PUSHPLAN_WORK=DIR test/soak/soak.sh
# Settings: 2 senders and the express sender, http_timeout 2 s (slow2500 times out),
# retry_max_backoff 2 s (so that the drain stays short), the rest at their defaults.
set -uo pipefail
seconds=${SOAK_SECONDS:-600}
devices=${DEVICES:-20000}
schedules=${SCHEDULES:-20}
day_seconds=${DAY_SECONDS:-30}
sample_seconds=${SAMPLE_SECONDS:-60}
warm_seconds=${WARM_SECONDS:-120}
grow_mb=${GROW_MB:-8}
grow_ctx_mb=${GROW_CTX_MB:-2}
limit_mb=${LIMIT_MB:-100}
idle_seconds=${IDLE_SECONDS:-30}
idle_grow_mb=${IDLE_GROW_MB:-16}
. "$(dirname "$0")/../integration/lib/vendor_env.sh"
. "$(dirname "$0")/lib.sh"
report=$work/report.md
: > "$report"
say() { echo "$*" | tee -a "$report"; }
loop_pids=()
stop_loops() { for p in "${loop_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; loop_pids=(); }
trap 'stop_loops; vendor_env_cleanup' EXIT

# each vendor on a port of its own, as each is a host of its own (as test/integration/fault_matrix.sh
# does): a connection one vendor's fault drops carries no other vendor's requests
# (SOAK_PORTS=56585: the mock on 56585, the cluster on 56586, the vendors on 56587-56590)
p0=${SOAK_PORTS:-56575}
declare -A vport=([apns]=$((p0 + 2)) [fcm]=$((p0 + 3)) [hms]=$((p0 + 4)) [webhook]=$((p0 + 5)))
export MOCK_EXTRA_PORTS="${vport[*]}"
soak_start $p0 $((p0 + 1)) "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.poll_interval = 500" "pushplan.http_timeout = 2000" \
  "pushplan.retry_max_backoff = 2" "shared_buffers = '256MB'" "max_connections = 50"
sql "SELECT push_app_create('soak')" >/dev/null
configure_vendors soak
for v in "${!vport[@]}"; do
  key=endpoint; [ "$v" = webhook ] && key=url
  sql "SELECT push_vendor_set('soak', '$v', config || jsonb_build_object('$key', regexp_replace(config->>'$key', '^https://[^/]*', 'https://127.0.0.1:${vport[$v]}')))
       FROM vendor_configs WHERE vendor = '$v' AND app_id = (SELECT app_id FROM apps WHERE app = 'soak')" >/dev/null || exit 1
done
sql "SELECT push_app_set('soak', '{\"broadcast_min_interval\": \"0 seconds\", \"broadcast_daily_limit\": 100000, \"timezone\": \"UTC\"}')" >/dev/null
sql "SELECT push_plan_create('soak', 'soak', 'soak')" >/dev/null

# ---- devices: r<n>, over four vendors, one in ten with a fault, tags g<n % SCHEDULES> ---------
# tokens: APNs's must be a test token (letters, digits, - _ .); the fault keyword is anywhere.
# HMS sends up to 1,000 devices in one request, and the mock lets the first faulty token of a
# request decide its answer (a 500 or a dropped connection for all): HMS devices get only the
# faults of one token (unregistered), so that a fault stays a device's and not its batch's
faults="throttle1 throttle1-noretryafter fail5xx1 error500 slow2500 slow300 drop1 goaway unregistered"
sql "CREATE TEMP TABLE f AS SELECT * FROM unnest(string_to_array('$faults', ' ')) WITH ORDINALITY f(kw, i);
     INSERT INTO devices (app_id, registration_id, platform, vendor, token)
     SELECT _app_id('soak', 'reader'), 'r' || g, (ARRAY['ios', 'android', 'android', 'web'])[g % 4 + 1],
            (ARRAY['apns', 'fcm', 'hms', 'webhook'])[g % 4 + 1],
            'test-r' || g || CASE WHEN g % 10 <> 0 THEN ''
                                  WHEN g % 4 = 2 THEN '-unregistered'
                                  ELSE '-' || (SELECT kw FROM f WHERE i = (g / 10) % 9 + 1) END
     FROM generate_series(1, $devices) g" >/dev/null || exit 1
sql "SELECT count(push_tag_add('soak', 'r' || g, 'g' || g % $schedules)) FROM generate_series(1, $devices) g" >/dev/null || exit 1
say "devices: $devices ($(sql "SELECT string_agg(vendor || ' ' || n, ', ') FROM (SELECT vendor, count(*) n FROM devices GROUP BY 1 ORDER BY 1) s")), $((devices / 10)) with a fault: $faults"

# ---- schedules and the flow, on the test clock --------------------------------------------
clock_day=0
clock() { sql "SELECT _clock_set(timestamptz '2090-01-01 00:00:00+00' + $1 * interval '1 day' + interval '10 hours 1 second')" >/dev/null; }
sql "SELECT _clock_set('2090-01-01 00:00:00+00')" >/dev/null
sql "SELECT count(push_schedule_create('soak', jsonb_build_object('name', 'daily ' || g,
       'trigger', '{\"periodical\": {\"start\": \"2090-01-01 00:00:00\", \"end\": \"2090-12-31 00:00:00\", \"time\": \"10:00:00\", \"time_unit\": \"day\"}}'::jsonb,
       'push', jsonb_build_object('to', jsonb_build_object('tag', jsonb_build_array('g' || g)),
         'body', '{\"platform\": \"all\", \"notification\": {\"alert\": \"daily\"}, \"options\": {\"plan_id\": \"soak\", \"time_to_live\": 604800}}'::jsonb))))
     FROM generate_series(0, $schedules - 1) g" >/dev/null || exit 1
flow=$(sql "SELECT push_flow_create('soak', '{\"name\": \"visit\", \"plan_id\": \"soak\", \"reentry\": \"0\",
  \"trigger\": {\"event\": \"visit\"},
  \"steps\": [{\"wait\": \"1 hour\"}, {\"id\": \"nudge\", \"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"come back\"}}}}]}')") || exit 1
say "schedules: $schedules daily, each to ~$((devices / schedules)) devices; the clock moves a day every $day_seconds s; flow $flow (visit, an hour, a send)"
wait_for 30 "SELECT count(*) = 5 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'" \
  && ok "the launcher, the scheduler and three senders run" || { fail "workers do not run"; finish; }
workers_at_start=$(sql "SELECT string_agg(backend_type || ':' || pid, ',' ORDER BY backend_type, pid) FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'")

# ---- the clients ---------------------------------------------------------------------------
cat > "$work/send.sql" <<EOF
\set a random(1, $devices)
\set b random(1, $devices)
\set c random(1, $devices)
\set n random(1, 3)
SELECT pushplan.push_send('soak', jsonb_build_object('to', jsonb_build_object('registration_id', (jsonb_build_array('r' || :a, 'r' || :b, 'r' || :c) - (ARRAY['2', '1', '0'])[1:3 - :n])), 'body', '{"platform": "all", "notification": {"alert": "your code"}, "options": {"plan_id": "soak", "time_to_live": 0}}'::jsonb));
EOF
cat > "$work/register.sql" <<EOF
\set k random(1, 100000)
\set v random(0, 3)
\set f random(0, 49)
SELECT pushplan.push_device_register('soak', 'n' || :k, (ARRAY['ios', 'android', 'android', 'web'])[:v + 1], (ARRAY['apns', 'fcm', 'hms', 'webhook'])[:v + 1], 'test-n' || :k || '-' || CASE WHEN :v = 2 AND :f = 5 THEN 'unregistered' WHEN :v = 2 THEN 'ok' ELSE (ARRAY['ok', 'ok', 'ok', 'ok', 'ok', 'throttle1', 'fail5xx1', 'drop1', 'unregistered', 'goaway'])[LEAST(:f, 9) + 1] END, 'Asia/Shanghai', 'en');
SELECT pushplan.push_tag_add('soak', 'n' || :k, 'g' || (:k % $schedules));
EOF
cat > "$work/track.sql" <<EOF
\set u random(1, $devices)
SELECT pushplan.push_track('soak', 'r' || :u, 'visit', jsonb_build_object('page', :u % 7));
EOF
cat > "$work/stats.sql" <<EOF
SELECT count(*) FROM pushplan.push_plan_stats('soak', ARRAY['soak'], pushplan.clock_now() - interval '2 years', pushplan.clock_now() + interval '1 day');
SELECT count(*) FROM pushplan.push_task_progress WHERE app = 'soak';
SELECT count(*) FROM pushplan.push_plan_overview;
EOF
client() {
  local name=$1 rate=$2 n=$3
  PGHOST=$cluster PGPORT=$pgport PGUSER=postgres PGOPTIONS="-c statement_timeout=${STATEMENT_TIMEOUT:-30s}" pgbench -n -c "$n" -j 1 -R "$rate" -T "$seconds" \
    -f "$work/$name.sql" postgres > "$work/pgbench-$name.log" 2>&1
  echo $? > "$work/pgbench-$name.rc"
}

mock_reset
mem_t0=$(date +%s)
mem_sample start
t0=$(date +%s)
client send "${SEND_RATE:-40}" 2 & pids=($!)
client register "${REGISTER_RATE:-20}" 1 & pids+=($!)
client track "${TRACK_RATE:-20}" 1 & pids+=($!)
client stats "${STATS_RATE:-1}" 1 & pids+=($!)
# the clock: a day every day_seconds (every schedule fires, the flow's hour passes)
( d=0; while :; do sleep "$day_seconds"; d=$((d + 1)); clock $d; echo $d > "$work/clock_day"; done ) & loop_pids+=($!)
# the faults come again: the mock's per-token fault counts start over every minute
( while :; do sleep 60; mock_reset; done ) & loop_pids+=($!)
# memory every sample_seconds; the deliveries recorded per minute
( i=0; while :; do sleep "$sample_seconds"; i=$((i + 1)); mem_sample "t$((i * sample_seconds))s"; done ) & loop_pids+=($!)
wait "${pids[@]}"
stop_loops
t1=$(date +%s)
say "load: $((t1 - t0)) s"
mem_sample end-of-load

# ---- drain: the clock once more (the waiting flow instances send), then every delivery final ----
clock_day=$(( $(cat "$work/clock_day" 2>/dev/null || echo 0) + 1 ))
clock $clock_day
drained=0
for ((i = 0; i < 1800; i++)); do
  if [ "$(sql "SELECT NOT EXISTS (SELECT 1 FROM delivery_queue) AND NOT EXISTS (SELECT 1 FROM delivery_plans)
               AND NOT EXISTS (SELECT 1 FROM deliveries WHERE status = 'queued')
               AND NOT EXISTS (SELECT 1 FROM tasks WHERE state NOT IN ('done', 'failed', 'cancelled'))
               AND NOT EXISTS (SELECT 1 FROM flow_instances WHERE state = 'waiting' AND next_at <= clock_now())")" = t ]; then
    drained=1; break
  fi
  sleep 0.1
done
t2=$(date +%s)
[ "$drained" = 1 ] && ok "drained in $((t2 - t1)) s: no delivery queued, every task finished" \
  || fail "not drained after $((t2 - t1)) s: $(sql "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM deliveries WHERE status = 'queued' GROUP BY 1) s"); tasks: $(sql "SELECT string_agg(state || ' ' || n, ', ') FROM (SELECT state, count(*) n FROM tasks GROUP BY 1) s")"
mem_sample drained
sleep "$idle_seconds"
mem_sample idle
check_eq "no delivery left non-final" "$(sql "SELECT count(*) FROM deliveries WHERE status = 'queued'")" "0"

# ---- what was done ----------------------------------------------------------------------------
say ""
say "## Clients (pgbench, $seconds s each)"
say ""
say "| client | rate asked /s | transactions | failed | latency avg ms | exit |"
say "|---|---|---|---|---|---|"
for c in send:${SEND_RATE:-40} register:${REGISTER_RATE:-20} track:${TRACK_RATE:-20} stats:${STATS_RATE:-1}; do
  name=${c%%:*}; log=$work/pgbench-$name.log
  tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
  lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$log")
  rc=$(cat "$work/pgbench-$name.rc")
  aborted=$(grep -c 'aborted' "$log")
  say "| $name | ${c#*:} | ${tx:-?} | ${failed:-0}$( [ "$aborted" -gt 0 ] && echo ", $aborted aborted") | ${lat:-?} | $rc |"
  if [ "$rc" = 0 ] && [ "${failed:-0}" = 0 ] && [ "$aborted" = 0 ]; then ok "$name: no client error"; else
    fail "$name: client errors (exit $rc): $(grep -E 'ERROR|aborted' "$log" | head -n 3)"; fi
done
say ""
say "## Deliveries, by outcome"
say ""
say "| status | error | deliveries |"
say "|---|---|---|"
sql "SELECT '| ' || status || ' | ' || coalesce(left(regexp_replace(error, '[0-9a-f]{8}-[0-9a-f-]{27}|r[0-9]+|n[0-9]+', '…', 'g'), 70), '') || ' | ' || count(*) || ' |'
     FROM deliveries GROUP BY status, regexp_replace(error, '[0-9a-f]{8}-[0-9a-f-]{27}|r[0-9]+|n[0-9]+', '…', 'g') ORDER BY count(*) DESC LIMIT 25" | tee -a "$report"
say ""
say "By device: healthy tokens, and tokens with a fault keyword (the mock's grammar):"
say ""
say "| device | status | deliveries |"
say "|---|---|---|"
sql "SELECT '| ' || kind || ' | ' || status || ' | ' || n || ' |' FROM (
       SELECT CASE WHEN v.token ~ '(throttle|fail5xx|error500|slow|drop|goaway|unregistered)' THEN 'faulty' ELSE 'healthy' END kind,
              d.status, count(*) n
       FROM deliveries d JOIN devices v USING (device_id) GROUP BY 1, 2) x ORDER BY kind, n DESC" | tee -a "$report"
say ""
say "By source: $(sql "SELECT string_agg(src || ' ' || status || ' ' || n, ', ' ORDER BY src, n DESC) FROM (
       SELECT CASE WHEN t.flow_id IS NOT NULL THEN 'flow' WHEN EXISTS (SELECT 1 FROM schedule_runs r WHERE r.task_id = t.task_id)
                   THEN 'schedule' ELSE 'push_send' END src, d.status, count(*) n
       FROM deliveries d JOIN tasks t USING (task_id) GROUP BY 1, 2) x")"
say ""
total=$(sql "SELECT count(*) FROM deliveries")
say "deliveries: $total in $((t2 - t0)) s ($(sql "SELECT count(*) FROM deliveries WHERE status = 'sent'") sent; $((total / (t2 - t0))) /s); tasks: $(sql "SELECT count(*) FROM tasks"); schedule occurrences fired: $(sql "SELECT count(*) FROM schedule_runs"); flow steps run: $(sql "SELECT count(*) FROM flow_step_runs WHERE step_id = 'nudge'") sends of $(sql "SELECT count(*) FROM flow_instances") instances; devices: $(sql "SELECT count(*) FROM devices")"
say "recorded per minute: $(sql "SELECT string_agg(n::text, ' ' ORDER BY m) FROM (SELECT date_trunc('minute', sent_at) m, count(*) n FROM deliveries WHERE sent_at IS NOT NULL GROUP BY 1) s")"
say "mock: $(mock_get /_mock/stats | jq -c '{requests, status, connections: {accepted: .connections.accepted}}')"

# ---- the workers -------------------------------------------------------------------------------
workers_now=$(sql "SELECT string_agg(backend_type || ':' || pid, ',' ORDER BY backend_type, pid) FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'")
check_eq "the workers are the same processes as at the start (none died)" "$workers_now" "$workers_at_start"
check_eq "no crash or PANIC in the server log" \
  "$(grep -cE 'terminated by signal|PANIC|server process .* was terminated|out of memory' "$cluster/server.log")" "0"
say ""
say "## Worker memory"
say ""
mem_table | tee -a "$report"
say ""
# the first sample after the warm-up; a run too short to have one checks only the limit
from=$(awk -F'\t' -v w="$warm_seconds" '$2 >= w && $1 ~ /^t[0-9]+s$/ { print $1; exit }' "$(mem_file)")
if [ -z "$from" ]; then
  from=start grow_mb=100000 grow_ctx_mb=100000
  say "no sample after the ${warm_seconds} s warm-up: growth not checked, only the ${limit_mb} MB limit"
fi
say "growth from $from to idle (RssAnon, and the contexts without a transaction in progress; the highest process of each type):"
while IFS=$'\t' read -r type a b c d; do
  say "  $type: RssAnon $((a / 1024)) -> $((b / 1024)) MB ($(( (b - a) / 1024 )) MB), contexts $(awk -v x="$c" -v y="$d" 'BEGIN { printf "%.2f -> %.2f MB", x / 1048576, y / 1048576 }')"
  if [ $((b - a)) -le $((grow_mb * 1024)) ] && [ $((d - c)) -le $((grow_ctx_mb * 1048576)) ] && [ "$b" -lt $((limit_mb * 1024)) ]; then
    if [ "$grow_mb" = 100000 ]; then ok "$type: below $limit_mb MB (growth not checked)"; else
    ok "$type: memory flat (RssAnon +$(( (b - a) / 1024 )) MB <= $grow_mb, contexts +$(( (d - c) / 1024 )) kB <= $((grow_ctx_mb * 1024)), below $limit_mb MB)"; fi
  else
    fail "$type: memory grew: RssAnon $a -> $b kB, contexts $c -> $d bytes (bounds +$grow_mb MB, +$grow_ctx_mb MB, $limit_mb MB)"
  fi
done < <(mem_growth "$from" idle)
# what a worker keeps once idle, against its start: its caches, connections and TLS state, a
# few kept handles; a leak under load stays, whatever the load-bound memory at the warm sample
say "once idle against the start (RssAnon; the highest process of each type):"
while IFS=$'\t' read -r type a b c d; do
  say "  $type: $((a / 1024)) -> $((b / 1024)) MB"
  if [ $((b - a)) -le $((idle_grow_mb * 1024)) ]; then ok "$type: idle within $idle_grow_mb MB of its start (+$(( (b - a) / 1024 )) MB)"
  else fail "$type: idle RssAnon $((b - a)) kB above its start (bound $idle_grow_mb MB)"; fi
done < <(mem_growth start idle)
# every sample, under load too: below the limit
peak=$(awk -F'\t' '$6 != "-" && $6 > m { m = $6; w = $3 " " $4 " at " $1 } END { printf "%d\t%s", m, w }' "$(mem_file)")
if [ "${peak%%$'\t'*}" -lt $((limit_mb * 1024)) ]; then ok "every sample below $limit_mb MB (highest: $(( ${peak%%$'\t'*} / 1024 )) MB, ${peak#*$'\t'})"
else fail "a worker reached $(( ${peak%%$'\t'*} / 1024 )) MB RssAnon (${peak#*$'\t'}; limit $limit_mb MB)"; fi
echo "report: $report"
finish
