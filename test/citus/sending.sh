#!/usr/bin/env bash
# Sending on the distributed layout (doc/scale-out.md, stage 2) on a coordinator and two
# workers, with the mock vendor: the coordinator's scheduler expands a broadcast into the
# shards, the senders of each worker node claim and send the deliveries of their own shards,
# and each device is sent exactly once (the mock's per-token counts); a transactional push from
# the coordinator leaves only on commit; the readers (push_deliveries, push_task_progress, the
# statistics views, push_trace) read the shards; kill -9 of a worker node's sender mid-broadcast
# loses nothing and sends again at most what was in flight (the counts are printed); push_cancel
# stops a broadcast the worker nodes are sending; an app's outcome webhook gets every outcome
# once, the worker nodes' included; frequency caps and quiet hours are applied by each worker
# node's senders to their own shards; a push with A/B variants (and a variants test's winner)
# reaches each device once; a push's fallback messages are made on the shards and sent once.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
send_env 56610 56600

csql "SELECT push_app_create('shop')" >/dev/null || exit 1
mock_vendor_setup shop coord >/dev/null || exit 1
check_eq "push_distribute on a fresh install" "$(csql "SELECT push_distribute()")" \
  "distributed: 0 devices renumbered, 8 shards per distributed table"
# the test clock (pushplan_test's _clock_set, on every node: Citus creates the extension there)
coord -c "CREATE EXTENSION pushplan_test" >/dev/null || exit 1
# the workers start once the layout is in place (push_distribute refuses a served database)
for node in coord worker1 worker2; do
  $node -c "ALTER SYSTEM SET pushplan.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
done
check_eq "deliveries, the queue and the events are distributed with the devices" \
  "$(coord -c "SELECT string_agg(table_name::text || '=' || citus_table_type || '/' || colocation_id, ' ' ORDER BY table_name::text)
               FROM citus_tables WHERE table_name::text IN ('pushplan.deliveries', 'pushplan.delivery_queue', 'pushplan.events', 'pushplan.tasks')")" \
  "$(coord -c "SELECT 'pushplan.deliveries=distributed/' || c || ' pushplan.delivery_queue=distributed/' || c || ' pushplan.events=distributed/' || c || ' pushplan.tasks=reference/' || r
               FROM (SELECT (SELECT colocation_id FROM citus_tables WHERE table_name = 'pushplan.devices'::regclass) c,
                            (SELECT colocation_id FROM citus_tables WHERE table_name = 'pushplan.apps'::regclass) r) x")"
check_eq "their unique keys hold the device" \
  "$(coord -c "SELECT string_agg(conrelid::regclass || ' ' || pg_get_constraintdef(oid), '; ' ORDER BY conrelid::regclass::text)
               FROM pg_constraint WHERE contype = 'p' AND conrelid IN ('pushplan.deliveries'::regclass, 'pushplan.delivery_queue'::regclass)")" \
  "pushplan.deliveries PRIMARY KEY (delivery_id, device_id); pushplan.delivery_queue PRIMARY KEY (task_id, delivery_id, device_id)"

# the workers' schedulers wait; every node runs its senders
wait_for 30 "SELECT (SELECT count(*) FROM run_command_on_workers(\$q\$SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan sender'\$q\$) WHERE result = '2') = 2" \
  && ok "two senders run on each worker node" || fail "senders: $(coord -c "SELECT string_agg(result, ',') FROM run_command_on_workers(\$q\$SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan sender'\$q\$)")"

# ---- a broadcast: each device exactly once ----------------------------------------------------
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'r' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'cb-' || g)) FROM generate_series(1, 3000) g))" >/dev/null
mock_curl /_mock/reset -X POST >/dev/null
task=$(csql "SELECT push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"sale\"}}}')")
wait_for 120 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" \
  && ok "a 3000-device broadcast on coordinator + 2 workers finished" \
  || fail "broadcast: $(csql "SELECT state, targeted FROM tasks WHERE task_id = '$task'") $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
check_eq "every delivery sent" "$(csql "SELECT count(*) FILTER (WHERE status = 'sent') || '/' || count(*) FROM deliveries WHERE task_id = '$task'")" "3000/3000"
check_eq "the mock got each of the 3000 tokens exactly once (tokens, requests, max, min)" "$(token_counts cb-)" "3000 3000 1 1"
per_node=$(sent_per_node "$task")
echo "     sent per node (port:deliveries): $per_node; push_send to done: $(csql "SELECT round(extract(epoch FROM finished_at - created_at)::numeric, 2) FROM tasks WHERE task_id = '$task'") s"
check_eq "both worker nodes sent their own shards' deliveries" "$(echo "$per_node" | wc -w)" "2"
check_eq "nothing is left in the queue" "$(csql "SELECT count(*) FROM delivery_queue WHERE task_id = '$task'")" "0"
# (doc/scale-out.md, "Expansion on every node") each delivery's id carries the Citus group of
# the node that wrote it: every one was written by the node holding its shard
check_eq "every delivery written by the node holding its shard, none by the coordinator (wrong node, by the coordinator)" \
  "$(csql "SELECT sum(result::int) FROM run_command_on_placements('pushplan.deliveries',
             \$q\$SELECT count(*) FROM %s WHERE task_id = '$task'
                  AND (delivery_id >> 32) & 255 <> (SELECT groupid FROM pg_dist_local_group)\$q\$)") $(csql "SELECT count(*) FROM deliveries WHERE task_id = '$task' AND (delivery_id >> 32) & 255 = 0")" "0 0"
check_eq "... handed to the nodes, expanded, their expansions' rows gone" \
  "$(csql "SELECT shard_expansion || ' ' || expanded || ' ' || (SELECT count(*) FROM task_shard_expansions) FROM tasks WHERE task_id = '$task'")" "true true 0"
wait_for 20 "SELECT coalesce(sum(sent), 0) = 3000 FROM task_stats WHERE task_id = '$task'" \
  && ok "the worker nodes' statistics reach the coordinator's aggregates (3000 sent)" \
  || fail "statistics: $(csql "SELECT sum(targeted), sum(sent) FROM task_stats WHERE task_id = '$task'")"
check_eq "... and push_task_stats" "$(csql "SELECT sum(targeted) || '/' || sum(sent) FROM push_task_stats WHERE task_id = '$task'" 2>&1)" "3000/3000"

# ---- the readers of a distributed install: deliveries, progress, statistics, trace -------------
check_eq "push_deliveries: the broadcast's deliveries, read from the shards" \
  "$(csql "SELECT count(*) || ' ' || count(*) FILTER (WHERE status = 'sent') FROM push_deliveries WHERE task_id = '$task'" 2>&1)" "3000 3000"
check_eq "push_task_progress (the layout's form): done, nothing queued or in flight" \
  "$(csql "SELECT state || ' ' || targeted || ' ' || queued || ' ' || sending || ' ' || sent || ' ' || eta FROM push_task_progress WHERE task_id = '$task'" 2>&1)" \
  "done 3000 0 0 3000 00:00:00"
check_eq "push_plan_stats, push_plan_stats_daily, push_vendor_stats_daily, push_plan_overview (the default plan: 1 push)" \
  "$(csql "SELECT (SELECT sum(sent) FROM push_plan_stats('shop', NULL, now() - interval '1 day', now() + interval '1 day')) || ' ' ||
                  (SELECT sum(sent) FROM push_plan_stats_daily WHERE app = 'shop') || ' ' ||
                  (SELECT sum(sent) FROM push_vendor_stats_daily WHERE app = 'shop') || ' ' ||
                  (SELECT tasks || '/' || sent FROM push_plan_overview WHERE app = 'shop' AND plan_id = 'default')" 2>&1)" \
  "3000 3000 3000 1/3000"
check_eq "push_trace: a device's steps, its delivery read on its shard" \
  "$(csql "SELECT string_agg(step, ',') FROM push_trace('shop', 'r5', '$task')" 2>&1)" "task,planned,audience,outcome"
check "... the outcome: sent" \
  "$(csql "SELECT detail FROM push_trace('shop', 'r5', '$task') WHERE step = 'outcome'" 2>&1)" "sent"

# ---- a list of 150 registration ids (more than pushplan.small_audience_limit: the scheduler's, not
# push_send's) is expanded by the coordinator's scheduler through Citus, as before
mock_curl /_mock/reset -X POST >/dev/null
lt=$(csql "SELECT push_send('shop', jsonb_build_object('to', jsonb_build_object('registration_id',
        (SELECT jsonb_agg('r' || g) FROM generate_series(1, 150) g)),
        'body', '{\"platform\": \"all\", \"notification\": {\"alert\": \"list\"}}'::jsonb))")
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$lt'" \
  && ok "a list of 150 ids, expanded by the coordinator's scheduler, is sent" \
  || fail "list: $(csql "SELECT state, targeted, error FROM tasks WHERE task_id = '$lt'")"
check_eq "... each once, its deliveries written through the coordinator (sent, tokens, requests, not handed over, ids of the coordinator)" \
  "$(csql "SELECT count(*) FILTER (WHERE status = 'sent') FROM deliveries WHERE task_id = '$lt'") $(token_counts cb- | awk '{print $1, $2}') $(csql "SELECT NOT shard_expansion FROM tasks WHERE task_id = '$lt'") $(csql "SELECT bool_and((delivery_id >> 32) & 255 = 0) FROM deliveries WHERE task_id = '$lt'")" \
  "150 150 150 t t"

# ---- a transactional push from the coordinator leaves only on commit ---------------------------
push='{"to": {"registration_id": ["r7"]}, "body": {"platform": "all", "notification": {"alert": "code 1234"}}}'
mock_curl /_mock/reset -X POST >/dev/null
coord -c "SET search_path = pushplan" -c "BEGIN" -c "SELECT push_send('shop', '$push')" -c "SELECT pg_sleep(2)" -c "ROLLBACK" >/dev/null &
txpid=$!
sleep 1.5
check_eq "a transactional push is not sent before its transaction ends" "$(token_counts cb-7)" "0 0 0 0"
wait $txpid
sleep 1
check_eq "... nor after a rollback" "$(token_counts cb-7)" "0 0 0 0"
tx=$(coord -c "SET search_path = pushplan" -c "BEGIN" -c "SELECT push_send('shop', '$push')" -c "COMMIT")
wait_for 20 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$tx'" \
  && ok "... and is sent once committed" || fail "committed push: $(csql "SELECT status, error FROM deliveries WHERE task_id = '$tx'")"
check_eq "... once" "$(token_counts cb-7)" "1 1 1 1"

# ---- kill -9 of a worker node's sender mid-broadcast ------------------------------------------
# 2000 devices whose sends take 300 ms each: 4 senders of 50 in flight, about 15 s in all
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'k' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'ck-slow300-' || g, 'tags', jsonb_build_array('kill'))) FROM generate_series(1, 2000) g))" >/dev/null
mock_curl /_mock/reset -X POST >/dev/null
kt=$(csql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"kill\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"kill\"}}}')")
wait_for 60 "SELECT count(*) >= 300 FROM deliveries WHERE task_id = '$kt' AND status = 'sent'" || true
victim=$(worker1 -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender' ORDER BY pid LIMIT 1")
before=$(csql "SELECT count(*) FROM deliveries WHERE task_id = '$kt' AND status = 'sent'")
if [ -n "$victim" ] && kill -9 "$victim"; then
  ok "killed worker 1's sender $victim with $before of 2000 sent"
else
  fail "no sender to kill on worker 1"
fi
# the postmaster restarts worker 1 (crash recovery): wait until it answers again
for ((i = 0; i < 150; i++)); do worker1 -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
wait_for 120 "SELECT state = 'done' FROM tasks WHERE task_id = '$kt'" \
  && ok "the broadcast finished after the kill" \
  || fail "after the kill: $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = '$kt' GROUP BY 1")"
# what a node's senders have in flight at most: 2 senders x (max_inflight + a batch)
exactly_once "$kt" ck- 2000 200 "kill -9"

# ---- push_cancel of a broadcast being sent -----------------------------------------------------
# 1000 devices whose sends take 300 ms: cancelled after the first 100 sends; what was not
# claimed is cancelled on its shard, what was in flight ends as it ends, nothing is sent after
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'x' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'cx-slow300-' || g, 'tags', jsonb_build_array('cancel'))) FROM generate_series(1, 1000) g))" >/dev/null
mock_curl /_mock/reset -X POST >/dev/null
ct=$(csql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"cancel\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"cancel\"}}}')")
# (its 32 shards are expanded by their nodes one batch each, the first sent meanwhile)
wait_for 60 "SELECT expanded FROM tasks WHERE task_id = '$ct'" || true
wait_for 60 "SELECT count(*) >= 100 FROM deliveries WHERE task_id = '$ct' AND status = 'sent'" || true
read -r p_state p_targeted p_queued p_sending p_sent <<< "$(coord -F ' ' -c "SET search_path = pushplan" -c "SELECT state, targeted, queued, sending, sent FROM push_task_progress WHERE task_id = '$ct'")"
echo "     push_task_progress mid-broadcast: $p_state, $p_targeted targeted, $p_queued queued, $p_sending in flight, $p_sent sent"
check_eq "push_task_progress while the worker nodes send it: sending, the counts add up, some in flight" \
  "$p_state $p_targeted $(( p_queued + p_sending + p_sent == 1000 && p_sent >= 100 )) $(( p_sending > 0 ))" "sending 1000 1 1"
check_eq "push_cancel of a broadcast being sent on the worker nodes" "$(csql "SELECT push_cancel('shop', '$ct')" 2>&1)" ""
wait_for 30 "SELECT count(*) = 0 FROM delivery_queue WHERE task_id = '$ct'" \
  && ok "... its queue rows are gone from every shard" \
  || fail "cancel: queue left $(csql "SELECT count(*) FROM delivery_queue WHERE task_id = '$ct'")"
read -r c_sent c_cancelled c_other <<< "$(coord -F ' ' -c "SET search_path = pushplan" -c "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'cancelled'),
                                              count(*) FILTER (WHERE status NOT IN ('sent', 'cancelled')) FROM deliveries WHERE task_id = '$ct'")"
echo "     cancelled mid-broadcast: $c_sent sent, $c_cancelled cancelled"
check_eq "... every delivery sent or cancelled, the rest cancelled" \
  "$(( c_sent + c_cancelled )) $c_other $(( c_cancelled > 0 ))" "1000 0 1"
sleep 1
check_eq "... nothing sent after (the mock's requests equal the deliveries sent)" \
  "$(token_counts cx- | awk '{print $2}')" "$c_sent"
check_eq "... the task is cancelled" "$(csql "SELECT state FROM tasks WHERE task_id = '$ct'")" "cancelled"

# ---- push_cancel as the nodes expand a broadcast ------------------------------------------------
# (doc/scale-out.md, "Expansion on every node") Worker 1's workers stopped: its shards of a
# 20,000-device broadcast wait to be expanded while worker 2 expands and sends its own; the
# push is cancelled; worker 1's workers started again find the task cancelled and write nothing.
# Nothing is left queued, nothing sent that is not recorded.
for b in 0 1; do
  csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'e' || g,
          'platform', 'android', 'vendor', 'fcm', 'token', 'ce-slow300-' || g, 'tags', jsonb_build_array('expand')))
          FROM generate_series($b * 10000 + 1, ($b + 1) * 10000) g))" >/dev/null
done
worker1 -c "ALTER SYSTEM SET pushplan.databases = ''" -c "SELECT pg_reload_conf()" >/dev/null
for ((i = 0; i < 100; i++)); do
  [ "$(worker1 -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pushplan%' AND backend_type <> 'pushplan launcher'")" = 0 ] && break
  sleep 0.2
done
mock_curl /_mock/reset -X POST >/dev/null
et=$(csql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"expand\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"expand\"}}}')")
w1shards=$(coord -c "SELECT count(*) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
                     WHERE s.logicalrelid = 'pushplan.task_shard_expansions'::regclass AND n.nodeport = $((citus_base + 1))")
wait_for 60 "SELECT count(*) FILTER (WHERE NOT done) = $w1shards AND count(*) FILTER (WHERE done) > 0 FROM task_shard_expansions WHERE task_id = '$et'" \
  && ok "a broadcast handed to the nodes: worker 2 expanded its shards, worker 1's $w1shards wait" \
  || fail "expansion with worker 1 stopped: $(csql "SELECT done, count(*) FROM task_shard_expansions WHERE task_id = '$et' GROUP BY 1")"
check_eq "push_cancel of a broadcast the nodes are expanding" "$(csql "SELECT push_cancel('shop', '$et')" 2>&1)" ""
worker1 -c "ALTER SYSTEM SET pushplan.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 60 "SELECT count(*) = 0 FROM task_shard_expansions WHERE task_id = '$et'" \
  && ok "... worker 1's shards done once its workers run again, the task expanded" \
  || fail "cancel while expanding: $(csql "SELECT count(*) FROM task_shard_expansions WHERE task_id = '$et'") shards open"
check_eq "... worker 1 wrote nothing for it (deliveries on worker 1's shards)" \
  "$(coord -c "SELECT sum(result::int) FROM run_command_on_placements('pushplan.deliveries',
       \$q\$SELECT count(*) FROM %s WHERE task_id = '$et'\$q\$) WHERE nodeport = $((citus_base + 1))")" "0"
wait_for 30 "SELECT count(*) = 0 FROM delivery_queue WHERE task_id = '$et'" \
  && ok "... no queue row left on any shard once what was in flight is recorded" \
  || fail "cancel while expanding: $(csql "SELECT count(*) FROM delivery_queue WHERE task_id = '$et'") queued"
read -r e_made e_sent e_cancelled e_other <<< "$(coord -F ' ' -c "SET search_path = pushplan" -c "SELECT count(*), count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'cancelled'),
                                              count(*) FILTER (WHERE status NOT IN ('sent', 'cancelled')) FROM deliveries WHERE task_id = '$et'")"
echo "     cancelled while expanding: $e_made of 20000 deliveries made (worker 2's), $e_sent sent, $e_cancelled cancelled"
check_eq "... every delivery made is sent or cancelled, the task cancelled and expanded" \
  "$e_other $(csql "SELECT state || ' ' || expanded FROM tasks WHERE task_id = '$et'")" "0 cancelled true"
sleep 1
check_eq "... nothing sent after (the mock's requests equal the deliveries sent)" \
  "$(token_counts ce- | awk '{print $2}')" "$e_sent"

# ---- big_push_duration on the nodes: each shard spreads its own devices over the minutes ---------
# (doc/scale-out.md, "Expansion on every node") 2000 devices over 10 minutes: every minute gets
# its tenth, within the rounding of 32 shards of about 60 devices each; then cancelled
sp=$(csql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"kill\"]}, \"body\": {\"platform\": \"all\",
        \"notification\": {\"alert\": \"spread\"}, \"options\": {\"big_push_duration\": 10}}}')")
wait_for 60 "SELECT expanded FROM tasks WHERE task_id = '$sp'" \
  && ok "a broadcast spread over 10 minutes is expanded by the nodes" \
  || fail "spread: $(csql "SELECT state, targeted, expanded FROM tasks WHERE task_id = '$sp'")"
check_eq "... its 2000 sends spread evenly over the 10 minutes (minutes, fewest and most in one, last send before the end)" \
  "$(csql "SELECT count(*) || ' ' || (min(n) >= 180) || ' ' || (max(n) <= 220) || ' ' || bool_and(last < 600)
           FROM (SELECT floor(extract(epoch FROM d.send_at - t.created_at) / 60) AS m, count(*) AS n,
                        max(extract(epoch FROM d.send_at - t.created_at)) AS last
                 FROM deliveries d JOIN tasks t USING (task_id) WHERE d.task_id = '$sp' GROUP BY 1) x")" "10 true true true"
csql "SELECT push_cancel('shop', '$sp')" >/dev/null

# ---- outcome webhooks: the worker nodes' outcomes reach the coordinator's poster ---------------
# (doc/scale-out.md, "Outcome webhooks") 300 devices sent by the worker nodes' senders, 3 whose
# vendor has no credentials (failed as their nodes expand the push): each outcome posted
# once, signed, with the delivery's own fields, nothing left in any outbox
csql "SELECT push_app_create('hook')" >/dev/null
mock_vendor_setup hook coord >/dev/null
csql "SELECT push_outcome_webhook_set('hook', jsonb_build_object('url', '$mock_base/outcomes/hook', 'secret', 'outcomes-secret-0123456789'))" >/dev/null
csql "SELECT push_device_register_batch('hook', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'h' || g,
        'platform', 'android', 'vendor', CASE WHEN g <= 3 THEN 'xiaomi' ELSE 'fcm' END, 'token', 'chk-' || g)) FROM generate_series(1, 303) g))" >/dev/null
mock_curl /_mock/reset -X POST >/dev/null
ht=$(csql "SELECT push_send('hook', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"hooked\"}}}')" 2>&1)
check "a push of an app with an outcome webhook is taken on the layout" "$ht" "tsk_"
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$ht'" \
  && ok "... and sent by the worker nodes" || fail "hooked push: $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = '$ht' GROUP BY 1" 2>&1)"
wait_for 60 "SELECT NOT EXISTS (SELECT FROM outcome_outbox) AND NOT EXISTS (SELECT FROM outcome_batches)
              AND (SELECT bool_and(success AND result = '0') FROM run_command_on_workers('SELECT count(*) FROM pushplan.outcome_outbox'))" \
  && ok "... every outcome moved from the worker nodes and posted" \
  || fail "outboxes: coordinator $(csql "SELECT count(*) FROM outcome_outbox"), batches $(csql "SELECT count(*) FROM outcome_batches"), workers $(csql "SELECT string_agg(result, ',') FROM run_command_on_workers('SELECT count(*) FROM pushplan.outcome_outbox')")"
got=$(mock_curl "/_mock/outcomes?name=hook")
check_eq "... the receiver got each delivery's outcome once, signed (outcomes, distinct deliveries, sent, failed, bad signatures)" \
  "$(echo "$got" | jq -r '[.requests[] | select(.status == 200)] as $ok
      | [$ok[] | .outcomes[]] as $o
      | "\($o | length) \([$o[] | .delivery_id] | unique | length) \([$o[] | select(.status == "sent")] | length) \([$o[] | select(.status == "failed")] | length) \([.requests[] | select(.signature_ok | not)] | length)"')" \
  "303 303 300 3 0"
check_eq "... with the deliveries' own ids and registration ids" \
  "$(csql "SELECT count(*) FROM deliveries d JOIN devices v USING (device_id)
           JOIN jsonb_array_elements('$(echo "$got" | jq -c '[.requests[] | select(.status == 200) | .outcomes[]]')'::jsonb) o
             ON (o->>'delivery_id')::bigint = d.delivery_id AND o->>'registration_id' = v.registration_id
                AND o->>'status' = d.status AND o->>'task_id' = d.task_id
           WHERE d.task_id = '$ht'" 2>&1)" "303"

# ---- a fallback (doc/fallback.md): the coordinator's scheduler looks at the push's deliveries on
# the shards and makes the messages there, the worker nodes' senders send them to the webhook.
# 40 devices, every fourth without an e-mail (counted, nothing sent), every fifth opens the
# push (no fallback): 32 fallbacks, 24 messages
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'f' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'ftok-' || g,
        'attrs', CASE WHEN g % 4 = 0 THEN '{}'::jsonb ELSE jsonb_build_object('email', 'fmail-' || g || '@example.com') END))
        FROM generate_series(1, 40) g))" >/dev/null
mock_curl /_mock/reset -X POST >/dev/null
fb=$(csql "SELECT push_send('shop', jsonb_build_object('to', jsonb_build_object('registration_id',
        (SELECT jsonb_agg('f' || g) FROM generate_series(1, 40) g)),
        'body', '{\"platform\": \"all\", \"notification\": {\"alert\": \"sale\"}}'::jsonb,
        'fallback', '{\"after\": \"1 minute\", \"via\": \"webhook\", \"to\": {\"attr\": \"email\"}, \"alert\": \"the sale, by mail\"}'::jsonb))" 2>&1)
check "a push with a fallback is taken on the layout" "$fb" "tsk_"
wait_for 60 "SELECT count(*) = 40 AND bool_and(status = 'sent') FROM deliveries WHERE task_id = '$fb'" \
  && ok "... the push sent by the worker nodes" || fail "fallback's push: $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = '$fb' GROUP BY 1" 2>&1)"
csql "SELECT push_event_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'f' || g, 'task_id', '$fb', 'kind', 'open'))
        FROM generate_series(5, 40, 5) g))" >/dev/null
check_eq "... no message before its minute" "$(csql "SELECT count(*) FROM fallbacks WHERE task_id = '$fb'")" "0"
for node in coord worker1 worker2; do
  $node -c "SELECT pushplan._clock_set(now() + interval '61 seconds')" >/dev/null
done
wait_for 60 "SELECT count(*) = 24 AND bool_and(status = 'sent') FROM deliveries WHERE task_id = _fallback_task_id('$fb')" \
  && ok "... after it, the messages made on the shards and sent by the worker nodes' senders" \
  || fail "fallback: $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = _fallback_task_id('$fb') GROUP BY 1" 2>&1)"
check_eq "... a fallback for each device that did not open it, the ones without an e-mail counted (queued, no_address)" \
  "$(csql "SELECT count(*) FILTER (WHERE outcome = 'queued') || ' ' || count(*) FILTER (WHERE outcome = 'no_address') FROM fallbacks WHERE task_id = '$fb'")" "24 8"
check_eq "... the webhook took each address once, the push's tokens each once (addresses, requests, max, min; tokens ...)" \
  "$(token_counts fmail-); $(token_counts ftok-)" "24 24 1 1; 40 40 1 1"
check_eq "... each message on its device's shard, addressed with its e-mail" \
  "$(csql "SELECT count(*) FROM deliveries d JOIN devices v USING (device_id)
           WHERE d.task_id = _fallback_task_id('$fb') AND d.fallback #>> '{to,value}' = v.attrs->>'email'")" "24"
wait_for 30 "SELECT coalesce(sum(fallback_sent), 0) = 24 AND coalesce(sum(fallback_no_address), 0) = 8 FROM task_stats WHERE task_id = '$fb'" \
  && ok "... counted in the push's figures (24 sent, 8 without an address)" \
  || fail "fallback figures: $(csql "SELECT sum(fallback_sent), sum(fallback_no_address) FROM task_stats WHERE task_id = '$fb'" 2>&1)"
for node in coord worker1 worker2; do $node -c "SELECT pushplan._clock_set(NULL)" >/dev/null 2>&1; done

# ---- frequency caps and quiet hours (doc/engagement.md): each worker node's senders gate their --
# own shards' deliveries, counting each device on its shard
csql "SELECT push_app_create('capped')" >/dev/null
mock_vendor_setup capped coord >/dev/null
csql "SELECT push_device_register_batch('capped', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'k' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'ck-' || g)) FROM generate_series(1, 60) g))" >/dev/null
csql "SELECT push_app_set('capped', '{\"frequency_cap\": {\"per_day\": 1}}')" >/dev/null
mock_curl /_mock/reset -X POST >/dev/null
# (an app's broadcasts are at least a second apart, 90024: the one before may be done sooner)
capped_push() { sleep 1.1; csql "SELECT push_send('capped', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"$1\"}}}')" 2>&1; }
k1=$(capped_push "first today")
check "a push of an app with a frequency cap is taken on the layout" "$k1" "tsk_"
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$k1'" \
  && ok "... and sent by the worker nodes" || fail "capped, first: $(csql "SELECT status, error, count(*) FROM deliveries WHERE task_id = '$k1' GROUP BY 1, 2" 2>&1)"
k2=$(capped_push "second today")
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$k2'" \
  && ok "... a second push the same day is done" || fail "capped, second: $(csql "SELECT status, error, count(*) FROM deliveries WHERE task_id = '$k2' GROUP BY 1, 2" 2>&1)"
check_eq "... per day 1: the first push sent to each of the 60 devices, the second to none (capped)" \
  "$(csql "SELECT string_agg(task_id || ' ' || status || ' ' || coalesce(error, '-') || ' ' || n, ', ' ORDER BY task_id = '$k2', status)
           FROM (SELECT task_id, status, error, count(*) AS n FROM deliveries WHERE task_id IN ('$k1', '$k2')
                 GROUP BY 1, 2, 3) x" | sed "s/$k1/first/; s/$k2/second/")" \
  "first sent - 60, second suppressed capped 60"
check_eq "... each token once at the vendor (tokens, requests, max, min)" "$(token_counts ck-)" "60 60 1 1"
check_eq "... both worker nodes gated and sent their own shards' deliveries" \
  "$(sent_per_node "$k1" | tr ' ' '\n' | awk -F: '$2 > 0' | wc -l)" "2"
check_eq "... each device counted once, on its shard (the app's scope)" \
  "$(csql "SELECT count(*) || ' ' || min(cardinality(sent)) || ' ' || max(cardinality(sent)) FROM engagement_counts e
           JOIN devices v USING (device_id) WHERE v.app_id = (SELECT app_id FROM apps WHERE app = 'capped') AND e.scope = ''")" \
  "60 1 1"
# the gate's copies follow the extension's definition: replaced on the worker nodes (as an ALTER
# EXTENSION UPDATE replaces it), the next gated claim of a shard group uses a copy of the new one,
# named with its version (src/worker_sender.c, shard_gate)
gate_def=$(csql "SELECT pg_get_functiondef('_engagement_gate(bigint[], timestamptz)'::regprocedure)")
for node in worker1 worker2; do
  $node -c "SET citus.enable_ddl_propagation = off" -c "$gate_def" >/dev/null
done
k4=$(capped_push "third today")
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$k4'" \
  && ok "the gate replaced on the worker nodes: a third push the same day is done" \
  || fail "capped, third: $(csql "SELECT status, error, count(*) FROM deliveries WHERE task_id = '$k4' GROUP BY 1, 2" 2>&1)"
check_eq "... capped as before, by copies of the new definition on both worker nodes (deliveries, copies of the new version)" \
  "$(csql "SELECT status || ' ' || error || ' ' || count(*) FROM deliveries WHERE task_id = '$k4' GROUP BY status, error") $(
    for node in worker1 worker2; do $node -c "SELECT count(*) > 0 FROM pg_proc WHERE proname LIKE 'pushplan\_gate\_%\_' ||
      (SELECT xmin FROM pg_proc WHERE oid = 'pushplan._engagement_gate(bigint[], timestamptz)'::regprocedure)::text"; done | tr '\n' ' ')" \
  "suppressed capped 60 t t "
# quiet hours around now, in the app's zone (UTC): held until the window's end
quiet=$(csql "SELECT format('{\"frequency_cap\": null, \"quiet_hours\": {\"from\": \"%s\", \"to\": \"%s\", \"on_quiet\": \"hold\"}}',
                            to_char(now() AT TIME ZONE 'UTC' - interval '1 hour', 'HH24:MI'),
                            to_char(now() AT TIME ZONE 'UTC' + interval '1 hour', 'HH24:MI'))")
csql "SELECT push_app_set('capped', '$quiet')" >/dev/null
k3=$(capped_push "in the quiet hours")
wait_for 60 "SELECT count(*) = 60 FROM deliveries WHERE task_id = '$k3' AND error = 'held by quiet hours'" \
  && ok "quiet hours: a push's 60 deliveries are held by the worker nodes' gates" \
  || fail "quiet: $(csql "SELECT status, error, count(*) FROM deliveries WHERE task_id = '$k3' GROUP BY 1, 2" 2>&1)"
held=$(csql "SELECT count(*) FROM deliveries WHERE task_id = '$k3' AND status = 'queued' AND send_at > now() + interval '30 minutes'")
given_back=$(csql "SELECT count(*) FROM delivery_queue WHERE task_id = '$k3' AND claimed_by IS NULL")
check_eq "... queued again for the window's end, given back to the queue, none sent" \
  "$held $given_back $(token_counts ck-)" "60 60 60 60 1 1"
csql "SELECT push_cancel('capped', '$k3')" >/dev/null
csql "SELECT push_app_set('capped', '{\"quiet_hours\": null}')" >/dev/null


# ---- A/B variants (doc/variants.md): each variant's task expanded into the shards by bucket ------
mock_curl /_mock/reset -X POST >/dev/null
sleep 1.1    # (an app's pushes to all are at least a second apart: 90024)
v=$(csql "SELECT push_send('capped', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"sale\"}},
        \"variants\": [{\"name\": \"A\", \"weight\": 45}, {\"name\": \"B\", \"weight\": 45, \"notification\": {\"alert\": \"30 % off\"}},
                       {\"name\": \"control\", \"weight\": 10, \"control\": true}]}')" 2>&1)
check "a push with variants is taken on the layout" "$v" "tsk_"
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$v'" \
  && ok "... every variant's task sent by the worker nodes, the push done" \
  || fail "variants: $(csql "SELECT variant, state FROM tasks WHERE parent_task_id = '$v'" 2>&1)"
check_eq "... each of the 60 devices in exactly one variant (devices, deliveries)" \
  "$(csql "SELECT count(DISTINCT d.device_id) || ' ' || count(*) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$v'")" "60 60"
check_eq "... the control group's written as control, the others sent" \
  "$(csql "SELECT string_agg(DISTINCT t.variant || ':' || d.status, ' ' ORDER BY t.variant || ':' || d.status) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$v'")" \
  "A:sent B:sent control:control"
check_eq "... each device in the bucket of its variant (the hash of the push and the device)" \
  "$(csql "SELECT count(*) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$v'
           AND _variant_bucket('$v', d.device_id) <@ t.variant_buckets")" "60"
sent=$(csql "SELECT count(*) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$v' AND d.status = 'sent'")
check_eq "... each token of the variants sent once, none of the control group's (tokens, requests, max, min)" \
  "$(token_counts ck-)" "$sent $sent 1 1"
check_eq "... push_variant_stats: one row a variant, assigned adding up to 60" \
  "$(csql "SELECT count(*) || ' ' || sum(assigned) FROM push_variant_stats WHERE task_id = '$v'")" "3 60"
# a test on half the audience, the winner to the rest once "after" has passed (every node's clock)
mock_curl /_mock/reset -X POST >/dev/null
sleep 1.1
w=$(csql "SELECT push_send('capped', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"sale\"}},
        \"variants\": [{\"name\": \"A\", \"weight\": 50}, {\"name\": \"B\", \"weight\": 50, \"notification\": {\"alert\": \"30 % off\"}}],
        \"variants_test\": {\"percent\": 50, \"metric\": \"ctr\", \"after\": \"1 minute\"}}')" 2>&1)
check "a push with a variants test is taken" "$w" "tsk_"
wait_for 60 "SELECT bool_and(state = 'done') FROM tasks WHERE parent_task_id = '$w'" \
  && ok "... its test variants sent" || fail "test variants: $(csql "SELECT variant, state FROM tasks WHERE parent_task_id = '$w'" 2>&1)"
check_eq "... the push testing until its winner is picked" "$(csql "SELECT state FROM tasks WHERE task_id = '$w'")" "testing"
for node in coord worker1 worker2; do
  $node -c "SELECT pushplan._clock_set(now() + interval '61 seconds')" >/dev/null
done
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$w'" \
  && ok "... its winner picked by the coordinator's upkeep and sent to the rest" \
  || fail "winner: $(csql "SELECT variant, variant_winner, state FROM tasks WHERE parent_task_id = '$w'" 2>&1)"
check_eq "... each of the 60 devices reached once, by a test variant or the winner (devices, deliveries, tokens)" \
  "$(csql "SELECT count(DISTINCT d.device_id) || ' ' || count(*) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$w'") $(token_counts ck- | cut -d' ' -f1)" \
  "60 60 60"
for node in coord worker1 worker2; do $node -c "SELECT pushplan._clock_set(NULL)" >/dev/null 2>&1; done

finish
