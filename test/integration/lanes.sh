#!/usr/bin/env bash
# Lanes (doc/push.md, "Priority"): a transactional push never waits behind a broadcast. Each
# sender may have 10 requests in flight, and the broadcast's requests take 5 s each at the
# vendor, so while its first wave is in flight neither sender has room for anything: a push to
# one device committed then must still leave at once (push_send queued its delivery itself, in
# the high lane, where the express sender claims it; with pushplan.express_senders = 0, a full
# sender claims that lane alone, past max_inflight). A push that asks for the low lane waits
# for every broadcast delivery to be claimed first. Both ways, one after the other. Then a claim
# of a sender that no longer runs, put back in the queue by the scheduler's upkeep, a send plan
# so claimed, and a device erased while its plan is in flight.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55340 55341 "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.max_inflight = 10" "pushplan.batch_size = 10" "pushplan.poll_interval = 500" \
  "pushplan.http_timeout = 8000"
psql -c "CREATE EXTENSION pushplan" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
sql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'b' || g,
       'platform', 'web', 'vendor', 'webhook', 'token', 'lane-slow5000-' || g, 'tags', jsonb_build_array('bulk')))
       FROM generate_series(1, 40) g))" >/dev/null
sql "SELECT push_device_register('shop', 'tx-1', 'web', 'webhook', 'lane-tx-1')" >/dev/null
sql "SELECT push_device_register('shop', 'tx-2', 'web', 'webhook', 'lane-tx-2')" >/dev/null
wait_for 20 "SELECT count(*) = 4 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender', 'pushplan express sender')" \
  && ok "scheduler, 2 senders and the express sender run" || fail "workers: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"
# scenario WHO: the whole story once, the transactional push claimed by WHO
scenario() {
mock_reset

# the broadcast: 40 deliveries, 20 in flight (5 s each), 20 waiting for room
bulk=$(sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"bulk\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"sale\"}}}')")
wait_for 10 "SELECT count(*) FILTER (WHERE status = 'sending') = 20 AND count(*) FILTER (WHERE status = 'queued') = 20 FROM push_deliveries WHERE task_id = '$bulk'" \
  && ok "the broadcast fills both senders (20 in flight, 20 waiting)" \
  || fail "broadcast: $(sql "SELECT status, count(*) FROM push_deliveries WHERE task_id = '$bulk' GROUP BY 1")"
check_eq "... as push_task_progress counts them" \
  "$(sql "SELECT queued || ' queued, ' || sending || ' sending' FROM push_task_progress WHERE task_id = '$bulk'")" "20 queued, 20 sending"
check_eq "a broadcast is in the normal lane" "$(sql "SELECT priority FROM push_task_progress WHERE task_id = '$bulk'")" "normal"

# a transactional push and a low one, committed while the senders are full
low=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"tx-2\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"later\"}, \"options\": {\"priority\": \"low\"}}}')")
tx=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"tx-1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"your code is 1234\"}}}')")
wait_for 15 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$tx'" || true
# measured by the server's clock: push_send's transaction start -> the outcome recorded
ms=$(sql "SELECT round(extract(epoch FROM d.sent_at - t.created_at) * 1000) FROM deliveries d JOIN tasks t USING (task_id) WHERE task_id = '$tx' AND status = 'sent'")
if [ -n "$ms" ] && [ "$ms" -lt 2000 ]; then
  ok "$1: a transactional push leaves while the broadcast holds every slot ($ms ms from push_send to recorded; a slot frees after 5 s)"
else
  fail "$1: transactional push waited: ${ms:-not sent} ms ($(sql "SELECT status FROM deliveries WHERE task_id = '$tx'"))"
fi
check_eq "... it is in the high lane" "$(sql "SELECT priority FROM push_task_progress WHERE task_id = '$tx'")" "high"
# (a delivery's claimed_at is written with its outcome; the queue row has it while in flight,
# and the send plan for a broadcast's devices, src/worker_sender.c claim_planned)
check_eq "... claimed before any of the 20 broadcast deliveries that were waiting" \
  "$(sql "WITH tx AS (SELECT claimed_at FROM deliveries WHERE task_id = '$tx')
          SELECT (SELECT count(*) FROM deliveries d LEFT JOIN delivery_queue q USING (task_id, delivery_id)
                  WHERE d.task_id = '$bulk' AND coalesce(d.claimed_at, q.claimed_at) <= (SELECT claimed_at FROM tx))
               + (SELECT coalesce(sum(cardinality(p.device_ids)), 0) FROM delivery_plans p
                  WHERE p.task_id = '$bulk' AND p.claimed_at <= (SELECT claimed_at FROM tx))")" "20"
check_eq "... while the low push still waits" "$(sql "SELECT status FROM deliveries WHERE task_id = '$low'")" "queued"

wait_for 30 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$low'" \
  && ok "the low push is sent in the end" || fail "low push: $(sql "SELECT status, error FROM deliveries WHERE task_id = '$low'")"
check_eq "... after every broadcast delivery was claimed" \
  "$(sql "SELECT (SELECT claimed_at FROM deliveries WHERE task_id = '$low') >= (SELECT max(claimed_at) FROM deliveries WHERE task_id = '$bulk')")" "t"
wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$bulk'" \
  && ok "the broadcast completes" || fail "broadcast: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$bulk' GROUP BY 1")"
check_eq "every request reached the vendor once" "$(mock_get /_mock/stats | jq .requests)" "42"
}

scenario "the express sender"
check_eq "... which the express sender (number 32) claimed" "$(sql "SELECT claimed_by FROM deliveries WHERE task_id = '$tx'")" "32"

# A transactional push whose request loses its connection (the mock closes it without an
# answer) is sent again at once by the engine, on another connection: one attempt, no try
# lost with its connection (the sender's retry of a collateral loss would come 0.25-2 s later
# and count one: src/engine.c, pp_engine_complete).
mock_reset
sql "SELECT push_device_register('shop', 'tx-drop', 'web', 'webhook', 'lane-drop1-tx')" >/dev/null
drop=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"tx-drop\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"your code is 5678\"}}}')")
wait_for 15 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$drop'" \
  && ok "a transactional push whose connection drops under it is sent" \
  || fail "dropped: $(sql "SELECT status, attempts, collateral, error FROM deliveries WHERE task_id = '$drop'")"
check_eq "... again at once by the engine: one attempt, none lost, two requests at the vendor" \
  "$(sql "SELECT attempts || ' ' || collateral FROM deliveries WHERE task_id = '$drop'") $(mock_get /_mock/stats | jq '.tokens["lane-drop1-tx"].requests')" "1 0 2"

# A claim sees a push committed after its unit of work began, and so must the look-up of that
# push's task (it once used the snapshot taken when the unit of work began: "vendor is not
# configured", about 2 % of the transactional pushes under a broadcast). Made certain here: the
# senders' claims wait for a lock on tasks held by the session that commits the push.
mock_reset
race=$(psql -c "BEGIN" -c "LOCK TABLE pushplan.tasks IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(2)" \
  -c "SELECT pushplan.push_send('shop', '{\"to\": {\"registration_id\": [\"tx-1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"raced\"}}}')" \
  -c "COMMIT" | tail -1)
wait_for 10 "SELECT status NOT IN ('queued', 'sending') FROM deliveries WHERE task_id = '$race'" || true
check_eq "a push committed while the senders' claims waited is sent" \
  "$(sql "SELECT status || coalesce(' ' || error, '') FROM deliveries WHERE task_id = '$race'")" "sent"

# An express sender claims when a commit raises the express flag, not at each of its looks
# (every 5 ms) while a request of its own is in flight: each claim is a statement planned anew,
# and claiming at every look cost some 3 ms of CPU per transactional push, taken from a broadcast
# running beside (doc/benchmarks.md, "What a transactional push costs"). Here its one request
# takes 3 s at the vendor, while a broadcast fills both senders (so that the express sender is
# the one to claim it); the claims at every look would be ~600 of them in those 3 s.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
mock_reset
sql "SELECT push_device_register('shop', 'tx-slow', 'web', 'webhook', 'lane-slow3000-tx')" >/dev/null
bulk=$(sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"bulk\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"sale again\"}}}')")
wait_for 10 "SELECT count(*) FILTER (WHERE status = 'sending') = 20 FROM push_deliveries WHERE task_id = '$bulk'" \
  || fail "broadcast again: $(sql "SELECT status, count(*) FROM push_deliveries WHERE task_id = '$bulk' GROUP BY 1")"
xpid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan express sender'")
ticks0=$(cpu_ticks "$xpid")
slow=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"tx-slow\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"slow\"}}}')")
sleep 2.5
ticks1=$(cpu_ticks "$xpid")
check_eq "a slow transactional push is in flight, claimed by the express sender" \
  "$(sql "SELECT q.claimed_by FROM delivery_queue q WHERE q.task_id = '$slow'")" "32"
# (both read, or the check fails: an unreadable process is no evidence)
if [ -n "$ticks0" ] && [ -n "$ticks1" ] && [ $(( ticks1 - ticks0 )) -lt 10 ]; then
  ok "... and the express sender stays idle while it waits for the answer ($(( ticks1 - ticks0 )) clock ticks of CPU in 2.5 s)"
else
  fail "the express sender used ${ticks0:-?} -> ${ticks1:-?} clock ticks of CPU in 2.5 s while one request was in flight (want < 10)"
fi
wait_for 10 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$slow'" \
  && ok "... and is sent" || fail "slow push: $(sql "SELECT status, error FROM deliveries WHERE task_id = '$slow'")"
wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$bulk'" || fail "the second broadcast did not complete"

psql -c "ALTER SYSTEM SET pushplan.express_senders = 0" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pushplan express sender'" \
  && ok "express_senders = 0: the express sender stops" || fail "the express sender still runs"
scenario "a full sender"
check_eq "... which one of the two senders claimed" "$(sql "SELECT claimed_by IN (0, 1) FROM deliveries WHERE task_id = '$tx'")" "t"

# A claim left by a sender that no longer runs (sender 7 of a server that had more senders
# before a crash; its own slot's restart would have put it back) goes back to the queue at the
# scheduler's upkeep once it is 5 minutes old, and is sent once. Made here with the senders
# stopped: the push is queued, its queue row marked as claimed by sender 7 ten minutes ago.
mock_reset
psql -c "ALTER SYSTEM SET pushplan.senders = 0" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type LIKE 'pushplan%sender'" \
  || fail "the senders did not stop"
stale=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"tx-1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"stale\"}}}')")
sql "UPDATE delivery_queue SET claimed_by = 7, claimed_at = now() - interval '10 minutes' WHERE task_id = '$stale'" >/dev/null
psql -c "ALTER SYSTEM SET pushplan.senders = 2" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender'" || fail "the senders did not come back"
sleep 2
check_eq "a delivery claimed by a sender that no longer runs is not taken by the others" \
  "$(sql "SELECT d.status || ' ' || q.claimed_by FROM deliveries d JOIN delivery_queue q USING (task_id, delivery_id) WHERE d.task_id = '$stale'") $(mock_get /_mock/stats | jq .requests)" "queued 7 0"
# the upkeep looks for stale claims once a minute, and at once when the scheduler starts
spid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'")
sql "SELECT pg_terminate_backend($spid)" >/dev/null
wait_for 30 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler' AND pid <> $spid" \
  || fail "the scheduler did not come back"
wait_for 20 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$stale'" \
  && ok "... until the upkeep puts it back in the queue (10 minutes old): then it is sent" \
  || fail "stale claim: $(sql "SELECT d.status, q.claimed_by, q.claimed_at FROM deliveries d LEFT JOIN delivery_queue q USING (task_id, delivery_id) WHERE d.task_id = '$stale'")"
check_eq "... once, and its queue row is gone" \
  "$(mock_get /_mock/stats | jq .requests) $(sql "SELECT count(*) FROM delivery_queue WHERE task_id = '$stale'")" "1 0"

# The same for a broadcast's send plan (doc/schedules.md, "Send plans"): claimed by sender 7,
# which wrote the outcome of one of its three devices (its delivery written, the device taken
# out of the plan, as write_planned_outcome_rows does) and stopped. The upkeep gives the plan
# back with the two devices left, which are sent once each; the third is not sent again.
# three devices tagged TAG, registration ids TAG-1..3, tokens TOKEN-1..3
register_three() {
  sql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', '$1-' || g,
         'platform', 'web', 'vendor', 'webhook', 'token', '$2-' || g, 'tags', jsonb_build_array('$1')))
         FROM generate_series(1, 3) g))" >/dev/null
}
push_to_tag() { sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"$1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"$1\"}}}')"; }
mock_reset
register_three trio lane-trio
psql -c "ALTER SYSTEM SET pushplan.senders = 0" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pushplan sender'" \
  || fail "the senders did not stop"
trio=$(push_to_tag trio)
wait_for 20 "SELECT sum(cardinality(device_ids)) = 3 FROM delivery_plans WHERE task_id = '$trio'" \
  && ok "a broadcast is expanded into a send plan, no delivery written yet" \
  || fail "trio plan: $(sql "SELECT count(*) FROM delivery_plans WHERE task_id = '$trio'") plans, $(sql "SELECT count(*) FROM deliveries WHERE task_id = '$trio'") deliveries"
first=$(sql "SELECT device_id FROM devices WHERE registration_id = 'trio-1' AND app_id = _app_id('shop', 'reader')")
sql "WITH p AS (UPDATE delivery_plans SET claimed_by = 7, claimed_at = now() - interval '10 minutes',
                  device_ids = array_remove(device_ids, $first) WHERE task_id = '$trio' RETURNING *)
     INSERT INTO deliveries (task_id, app_id, device_id, vendor, platform, send_at, status, attempts, claimed_by, sent_at)
     SELECT p.task_id, _app_id('shop', 'reader'), $first, p.vendor, p.platform, p.send_at, 'sent', 1, 7, now() FROM p" >/dev/null
psql -c "ALTER SYSTEM SET pushplan.senders = 2" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender'" || fail "the senders did not come back"
sleep 2
check_eq "a send plan claimed by a sender that no longer runs is not taken by the others" \
  "$(sql "SELECT string_agg(status, ',' ORDER BY status DESC) FROM push_deliveries WHERE task_id = '$trio'") $(mock_get /_mock/stats | jq .requests)" "sent,sending,sending 0"
check_eq "... push_trace shows its devices in flight since the claim" \
  "$(sql "SELECT detail || ' ' || (at < now() - interval '9 minutes') FROM push_trace('shop', 'trio-2', '$trio') WHERE step = 'outcome'")" \
  "sending: attempt 1 in flight (attempts 0) true"
spid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'")
sql "SELECT pg_terminate_backend($spid)" >/dev/null
wait_for 30 "SELECT state = 'done' FROM tasks WHERE task_id = '$trio'" \
  && ok "... until the upkeep gives it back: its devices left are sent and the task is done" \
  || fail "stale plan: $(sql "SELECT claimed_by, device_ids FROM delivery_plans WHERE task_id = '$trio'")"
check_eq "... each once, the one written before not again; the plan is gone" \
  "$(mock_get /_mock/stats | jq -c '[.tokens["lane-trio-1"].requests // 0, .tokens["lane-trio-2"].requests, .tokens["lane-trio-3"].requests]') $(sql "SELECT count(*) || ' ' || count(DISTINCT device_id) FROM deliveries WHERE task_id = '$trio' AND status = 'sent'") $(sql "SELECT count(*) FROM delivery_plans WHERE task_id = '$trio'")" \
  "[0,1,1] 3 3 0"

# A device erased while its send plan is in flight: its outcome, written after, writes no
# delivery for it (the erasure took it out of the plan first); the others' are written.
mock_reset
register_three gone lane-slow3000-gone
gone=$(push_to_tag gone)
wait_for 10 "SELECT count(*) FILTER (WHERE status = 'sending') = 3 FROM push_deliveries WHERE task_id = '$gone'" \
  || fail "gone: $(sql "SELECT status, count(*) FROM push_deliveries WHERE task_id = '$gone' GROUP BY 1")"
erased=$(sql "SELECT device_id FROM devices WHERE registration_id = 'gone-2' AND app_id = _app_id('shop', 'reader')")
sql "SELECT push_device_erase('shop', 'gone-2')" >/dev/null
wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$gone'" \
  && ok "a device erased while its plan is in flight: the broadcast completes" \
  || fail "gone: $(sql "SELECT claimed_by, device_ids FROM delivery_plans WHERE task_id = '$gone'")"
check_eq "... the others' deliveries written sent, none for the erased device" \
  "$(sql "SELECT count(*) FILTER (WHERE status = 'sent') || ' ' || count(*) FILTER (WHERE device_id = $erased) FROM deliveries WHERE task_id = '$gone'") $(mock_get /_mock/stats | jq .requests)" \
  "2 0 3"
finish
