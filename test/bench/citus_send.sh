#!/usr/bin/env bash
# Broadcast rate on the distributed layout against one node (doc/scale-out.md, stage 2;
# doc/benchmarks.md "Citus"): the Citus harness (a coordinator and two workers, each node 2
# senders) and, on the coordinator's server, a database without Citus as the single node (its
# own scheduler and 2 senders), both sending N FCM devices to the mock vendor, one after the
# other. The rate is the task's deliveries over the time from push_send to the task done, as the
# server's clock has them. On one machine the three nodes share its cores: divide by the nodes
# that send (2 workers) for the work per node.
# Env: PUSHPLAN_TOP, PUSHPLAN_WORK, BENCH_DEVICES (default 20000), BENCH_PORT (default 56620: the
# nodes on it and the next two, the mock on +5).
set -uo pipefail
. "$PUSHPLAN_TOP/test/citus/lib.sh"
. "$top/test/mock_vendor/env.sh"
n=${BENCH_DEVICES:-20000}
port=${BENCH_PORT:-56620}
bench_start "$port"

echo "broadcast of $n FCM devices to the mock; $(nproc) cores shared by every node; 2 senders per node"
for side in single dist; do
  if [ $side = single ]; then node=single; else node=coord; fi
  run() { $node -c "$1"; }
  task=$(bench_broadcast $node "$n")
  secs=$(run "SELECT round(extract(epoch FROM finished_at - created_at)::numeric, 2) FROM pushplan.tasks WHERE task_id = '$task'")
  sent=$(run "SELECT count(*) FILTER (WHERE status = 'sent') FROM pushplan.deliveries WHERE task_id = '$task'")
  requests=$(mock_curl /_mock/stats | jq .endpoints.fcm)
  echo "$side: $sent of $n sent in $secs s: $(echo "scale=0; $sent / $secs" | bc) a second (the mock counted $requests FCM requests)"
done
