#!/usr/bin/env bash
# A third worker node added, and the shards rebalanced onto it, during a broadcast
# (doc/scale-out.md, "Rebalancing during a broadcast"), with the mock vendor: citus_add_node and
# citus_rebalance_start() while the worker nodes' senders send; the moved shard groups' queue
# rows are claimed by the new node's senders once there, never by two nodes, and every device is
# sent: nothing lost, duplicates at most the in-flight window (the mock's per-token counts,
# printed). The senders hold a shard group against a move while its deliveries are in flight
# (src/shard_local.c): the move's cut-over waits for their outcomes.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
send_env 56760 56750

csql "SELECT push_app_create('shop')" >/dev/null || exit 1
mock_vendor_setup shop coord >/dev/null || exit 1
out=$(csql "SELECT push_distribute()" 2>&1) || { echo "$out"; exit 1; }
for node in coord worker1 worker2; do
  $node -c "ALTER SYSTEM SET pushplan.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
done
# the node to be added (doc/scale-out.md, "Adding a node"): pushplan installed and prepared
# before citus_add_node, its workers started once it is in the layout
citus_node_start 3
check "push_node_prepare on the new node" \
  "$(worker3 -c "CREATE EXTENSION pushplan" -c "SELECT pushplan.push_node_prepare()")" "prepared: "
check_eq "... its deliveries' key holds the device, as the layout's" \
  "$(worker3 -c "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'pushplan.deliveries'::regclass AND contype = 'p'")" \
  "PRIMARY KEY (delivery_id, device_id)"

# 6000 devices whose sends take 2 s: 4 senders of 50 in flight on two nodes, about 60 s
# before the new node takes its share
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'm' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'rb-slow2000-' || g)) FROM generate_series(1, 6000) g))" >/dev/null
mock_curl /_mock/reset -X POST >/dev/null
task=$(csql "SELECT push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"moving\"}}}')")
wait_for 60 "SELECT count(*) >= 300 FROM deliveries WHERE task_id = '$task' AND status = 'sent'" || true
before=$(csql "SELECT count(*) FROM deliveries WHERE task_id = '$task' AND status = 'sent'")
# the senders hold the shard groups they have deliveries in flight of (Citus' shard metadata lock)
check "a worker node's senders hold their shard groups against moves" \
  "$(worker1 -c "SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'pushplan sender' AND l.locktype = 'advisory' AND l.objsubid = 8 AND l.mode = 'RowShareLock' AND l.granted")" "t"
coord -c "SELECT citus_add_node('127.0.0.1', 56753)" >/dev/null \
  && ok "a third worker node added with $before of 6000 sent" || fail "citus_add_node"
check_eq "Citus created pushplan on the new node" \
  "$(worker3 -c "SELECT extversion FROM pg_extension WHERE extname = 'pushplan'")" \
  "$(coord -c "SELECT extversion FROM pg_extension WHERE extname = 'pushplan'")"
check_eq "93122: push_node_prepare on a node in the cluster" \
  "$(err worker3 "SELECT pushplan.push_node_prepare()")" \
  "93122: this node is part of a cluster already: push_node_prepare runs on a node before it is added"
# a database of the new node's server that has devices of its own
worker3 -c "CREATE DATABASE loaded" >/dev/null
loaded() { command psql -X -q -v ON_ERROR_STOP=1 -h "$work/node3" -p 56753 -U postgres -d loaded -At "$@"; }
loaded -c "SET client_min_messages = warning" -c "CREATE EXTENSION citus" -c "CREATE EXTENSION pushplan" \
  -c "SELECT pushplan.push_app_create('x')" -c "SELECT pushplan.push_device_register('x', 'r1', 'android', 'fcm', 't1')" >/dev/null
check_eq "93123: push_node_prepare in a database with devices" \
  "$(err loaded "SELECT pushplan.push_node_prepare()")" \
  "93123: this database has devices or tasks of its own: a node added to the layout holds only its shards"
worker3 -c "ALTER SYSTEM SET pushplan.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
# the default transfer mode: logical replication (the tables without a key have a replica
# identity: push_distribute), writes blocked only for the last catch-up
check_eq "the shards of the tables without a key have a replica identity" \
  "$(coord -c "SELECT string_agg(DISTINCT result, ',') FROM run_command_on_placements('pushplan.device_activity', \$q\$SELECT relreplident FROM pg_class WHERE oid = '%s'::regclass\$q\$)")" "f"
job=$(coord -c "SET client_min_messages = warning" -c "SELECT citus_rebalance_start()" 2>&1)
echo "     citus_rebalance_start: job $job"
# bounded: the job's moves, each waiting for the in-flight sends of its shard group
state=
for ((i = 0; i < 900; i++)); do
  state=$(coord -c "SELECT state FROM pg_dist_background_job WHERE job_id = '$job'" 2>/dev/null)
  case "$state" in finished|failed|cancelled|failing) break ;; esac
  sleep 0.2
done
check_eq "the rebalance finished" "$state" "finished"
[ "$state" = finished ] || coord -c "SELECT status, message FROM pg_dist_background_task WHERE job_id = '$job'" | head -c 3000
check "shard groups are placed on the new node" \
  "$(coord -c "SELECT count(*) > 0 FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) WHERE n.nodeport = 56753")" "t"
during=$(csql "SELECT count(*) FROM deliveries WHERE task_id = '$task' AND status = 'sent'")
echo "     rebalanced with $during of 6000 sent, in $(coord -c "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 1) FROM pg_dist_background_job WHERE job_id = '$job'") s"

wait_for 180 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" \
  && ok "the broadcast finished" \
  || fail "broadcast: $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
check_eq "nothing is left in the queue" "$(csql "SELECT count(*) FROM delivery_queue WHERE task_id = '$task'")" "0"
# what the sending nodes have in flight at most: 2 nodes x 2 senders x (max_inflight + a batch)
exactly_once "$task" rb- 6000 400 rebalance
per_node=$(sent_per_node "$task")
echo "     deliveries per node now (port:sent): $per_node"
# once a move has committed only the new node writes its shards: deliveries there sent after
# the rebalance finished were sent by the new node's senders
after_move=$(coord -c "SELECT sum(result::int) FROM run_command_on_placements('pushplan.deliveries',
       \$q\$SELECT count(*) FROM %s WHERE task_id = '$task' AND sent_at > '$(coord -c "SELECT finished_at FROM pg_dist_background_job WHERE job_id = '$job'")'\$q\$)
       WHERE nodeport = 56753")
echo "     the new node sent $after_move deliveries after the rebalance finished"
if [ "${after_move:-0}" -gt 0 ]; then ok "the new node's senders sent deliveries of the shards moved to it"
else fail "the new node's senders sent nothing of the shards moved to it"; fi
check_eq "three worker nodes hold deliveries of the broadcast" "$(echo "$per_node" | wc -w)" "3"

# ---- citus_drain_node during a broadcast: the third node's shards move back to the others --------
# The same 6000 devices again, now expanded by three nodes (doc/scale-out.md, "Expansion on
# every node"); once 300 are sent the third node is drained (citus_drain_node: its shard groups
# moved, each waiting for its in-flight sends and any expansion batch under way there). Nothing
# lost, duplicates at most the in-flight window, the third node left with no shard.
mock_curl /_mock/reset -X POST >/dev/null
task2=$(csql "SELECT push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"draining\"}}}')")
wait_for 60 "SELECT count(*) >= 300 FROM deliveries WHERE task_id = '$task2' AND status = 'sent'" || true
check_eq "the broadcast was expanded by the three nodes, each on its own shards (deliveries written by another node)" \
  "$(coord -c "SELECT count(DISTINCT nodeport) || ' ' || sum(result::int) FROM run_command_on_placements('pushplan.deliveries',
       \$q\$SELECT count(*) FROM %s WHERE task_id = '$task2'
            AND (delivery_id >> 32) & 255 <> (SELECT groupid FROM pg_dist_local_group)\$q\$)")" "3 0"
before=$(csql "SELECT count(*) FROM deliveries WHERE task_id = '$task2' AND status = 'sent'")
t0=$(date +%s)
drained=$(timeout 300 psql -X -q -At -h "$coord_dir" -p "$coord_port" -U postgres -d postgres \
  -c "SET client_min_messages = warning" -c "SELECT citus_drain_node('127.0.0.1', 56753)" 2>&1)
check_eq "citus_drain_node of the third node with $before of 6000 sent" "$drained" ""
echo "     drained in $(( $(date +%s) - t0 )) s, with $(csql "SELECT count(*) FROM deliveries WHERE task_id = '$task2' AND status = 'sent'") of 6000 sent then"
check_eq "... it holds no shard of a distributed table any more (the reference tables stay on every node)" \
  "$(coord -c "SELECT count(*) FILTER (WHERE d.partmethod = 'h') || ' ' || count(*) FILTER (WHERE d.partmethod = 'n')
               FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) JOIN pg_dist_shard s USING (shardid)
               JOIN pg_dist_partition d USING (logicalrelid) WHERE n.nodeport = 56753")" \
  "0 $(coord -c "SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'n'")"
wait_for 180 "SELECT state = 'done' FROM tasks WHERE task_id = '$task2'" \
  && ok "the broadcast finished on the two nodes left" \
  || fail "broadcast while draining: $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task2' GROUP BY 1")"
exactly_once "$task2" rb- 6000 600 drain

finish
