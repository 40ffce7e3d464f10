#!/usr/bin/env bash
# Event ingestion on the distributed layout against one node (doc/scale-out.md, "Events";
# doc/benchmarks.md "Citus: events"): the Citus harness (a coordinator and two workers) and, on
# the coordinator's server, a database without Citus as the single node. Each sends a push to N
# FCM devices (the mock vendor), then takes an open for every device through push_event_batch
# in batches of BATCH, and SINGLE opens one push_event each (on devices whose open the batches
# counted already: a repeat, logged and not counted), all from one psql client, timed by the
# server's clock. On one machine the three nodes share its cores.
# Env: PUSHPLAN_TOP, PUSHPLAN_WORK, BENCH_DEVICES (default 10000), BENCH_BATCH (1000),
# BENCH_SINGLE (500), BENCH_PORT (default 56620: the nodes on it and the next two, the mock on +5).
set -uo pipefail
. "$PUSHPLAN_TOP/test/citus/lib.sh"
. "$top/test/mock_vendor/env.sh"
n=${BENCH_DEVICES:-10000}
batch=${BENCH_BATCH:-1000}
single_n=${BENCH_SINGLE:-500}
port=${BENCH_PORT:-56620}
bench_start "$port"

echo "$n devices, opens in batches of $batch, then $single_n single push_event calls; $(nproc) cores shared by every node"
for side in single dist; do
  if [ $side = single ]; then node=single; else node=coord; fi
  run() { $node -c "$1"; }
  task=$(bench_broadcast $node "$n")
  # the batches as JSON text made beforehand, then sent one statement each, timed in the server
  f=$work/$side-events.sql
  {
    echo "SET search_path = pushplan, public;"
    echo "SELECT clock_timestamp() AS t0 \\gset"
    for ((b = 0; b * batch < n; b++)); do
      echo "SELECT push_event_batch('bench', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'dev' || i, 'task_id', '$task', 'kind', 'open'))
            FROM generate_series($((b * batch + 1)), $(( (b + 1) * batch < n ? (b + 1) * batch : n ))) i)) \\g /dev/null"
    done
    echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2) AS batches \\gset"
    echo "SELECT clock_timestamp() AS t0 \\gset"
    for ((i = 1; i <= single_n; i++)); do
      echo "SELECT push_event('bench', 'dev$i', '$task', 'open') \\g /dev/null"
    done
    echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2) AS singles \\gset"
    echo "SELECT :'batches' || ' ' || :'singles';"
  } > "$f"
  read -r secs_b secs_s <<< "$($node -f "$f" | tail -1)"
  counted=$(run "SELECT count(*) FILTER (WHERE counted) || '/' || count(*) FROM pushplan.events WHERE task_id = '$task'")
  echo "$side: $n opens in batches of $batch in $secs_b s: $(echo "scale=0; $n / $secs_b" | bc) events/s;" \
       "$single_n push_event in $secs_s s: $(echo "scale=0; $single_n / $secs_s" | bc) events/s (events counted/logged: $counted)"
done
