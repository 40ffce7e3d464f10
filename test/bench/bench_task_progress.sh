#!/usr/bin/env bash
# push_task_progress at scale (doc/benchmarks.md, "push_task_progress at scale"): 36,000
# transactional tasks (1-3 deliveries) and 400 broadcasts (1,000 deliveries) finished in the
# last hour, 60 tasks sending, 20 queued, 200,000 older tasks, deliveries in 32 daily partitions
# (test/bench/task_progress_data.sql; no workers). The whole view for the app, ROUNDS times,
# alternating the view as installed with the same view probing every partition (as it was
# before the start-day floor); each pair is checked to give the same rows at one instant.
# Usage: test/bench/bench_task_progress.sh [ROUNDS=3]
# Needs the extension installed (`make bench`). Port 56738; loopback only.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-3}
pg_port=56738
work=$(mktemp -d /tmp/pushplan-bench-progress.XXXXXX)
chmod 755 "$work"
cluster=$work/cluster
cleanup() { set +e; "$top/dev/cluster" destroy "$cluster" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
"$top/dev/cluster" start "$cluster" $pg_port "shared_buffers = '256MB'" >/dev/null
q() { psql -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p $pg_port -U postgres -d postgres -At "$@"; }
q -c "CREATE EXTENSION pushplan"
start=$(date +%s)
q -f "$top/test/bench/task_progress_data.sql" >/dev/null
echo "data: $(q -c "SELECT count(*) FROM pushplan.tasks") tasks, $(q -c "SELECT count(*) FROM pushplan.deliveries") deliveries, $(q -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'pushplan.deliveries'::regclass") partitions of deliveries ($(( $(date +%s) - start )) s)"
# the view without the floor: every partition probed for each task
ddl=$(q -c "SELECT 'CREATE VIEW pushplan.progress_all_partitions AS ' ||
              replace(pg_get_viewdef('pushplan.push_task_progress'::regclass),
                      ' AND (d.delivery_id >= COALESCE(pushplan._delivery_id_floor(t.started_at), (0)::bigint))', '')")
[[ "$ddl" != *_delivery_id_floor* ]] || { echo "could not remove the floor from the view"; exit 1; }
q -c "$ddl"
echo "tasks shown: $(q -c "SELECT count(*) FROM pushplan.push_task_progress WHERE app = 'bench'")"
for ((i = 1; i <= rounds; i++)); do
  for v in progress_all_partitions push_task_progress; do
    t0=$(date +%s%N)
    r=$(q -c "SELECT count(*), sum(sent), sum(failed), sum(queued), sum(sending) FROM pushplan.$v WHERE app = 'bench'")
    echo "round $i $v: $(( ($(date +%s%N) - t0) / 1000000 )) ms ($r), load $(cut -d' ' -f1 /proc/loadavg)"
  done
  echo "round $i same rows: $(q -c "SELECT count(*) = 0 FROM ((SELECT * FROM pushplan.progress_all_partitions EXCEPT ALL SELECT * FROM pushplan.push_task_progress)
                                   UNION ALL (SELECT * FROM pushplan.push_task_progress EXCEPT ALL SELECT * FROM pushplan.progress_all_partitions)) x")"
done
