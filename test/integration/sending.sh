#!/usr/bin/env bash
# End to end: push_send -> commit -> scheduler -> senders -> mock vendor, through the real
# background workers, libcurl HTTP/2 over TLS and the vendors' auth. Covers the outbox (rollback
# sends nothing, commit sends once), every vendor, token invalidation, retries, TTL expiry,
# idempotency, cancel, quotas, senders sharing a task, and two databases served at once.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55320 55321 "pushplan.databases = 'postgres, second'" "pushplan.senders = 2" \
  "pushplan.poll_interval = 500" "pushplan.http_timeout = 2000" "pushplan.max_attempts = 3" \
  "pushplan.retry_max_backoff = 1"
psql -c "CREATE EXTENSION pushplan" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
sql "SELECT push_plan_create('shop', 'promo_618_2025', '618')" >/dev/null

# devices: fault keywords in the tokens choose the mock's behaviour
sql "SELECT push_device_register_batch('shop', jsonb_build_array(
  jsonb_build_object('registration_id', 'ios-1', 'platform', 'ios', 'vendor', 'apns', 'token', 'test-ios-1', 'tags', jsonb_build_array('vip')),
  jsonb_build_object('registration_id', 'ios-2', 'platform', 'ios', 'vendor', 'apns', 'token', 'test-ios-2'),
  jsonb_build_object('registration_id', 'ios-gone', 'platform', 'ios', 'vendor', 'apns', 'token', 'test-unregistered-1'),
  jsonb_build_object('registration_id', 'ios-busy', 'platform', 'ios', 'vendor', 'apns', 'token', 'test-throttle1-a'),
  jsonb_build_object('registration_id', 'and-1', 'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-ok-1', 'tags', jsonb_build_array('vip')),
  jsonb_build_object('registration_id', 'and-gone', 'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-unregistered-1'),
  jsonb_build_object('registration_id', 'and-flaky', 'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-fail5xx1-a'),
  jsonb_build_object('registration_id', 'hw-1', 'platform', 'android', 'vendor', 'hms', 'token', 'hms-ok-1'),
  jsonb_build_object('registration_id', 'hw-2', 'platform', 'harmony', 'vendor', 'hms', 'token', 'hms-ok-2'),
  jsonb_build_object('registration_id', 'hw-gone', 'platform', 'android', 'vendor', 'hms', 'token', 'hms-unregistered-1'),
  jsonb_build_object('registration_id', 'sms-1', 'platform', 'web', 'vendor', 'webhook', 'token', 'sms-ok-1')))" >/dev/null

wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender') AND datname = 'postgres'" \
  && ok "scheduler and 2 senders run for the database" || fail "workers not running: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"

# ---- the outbox --------------------------------------------------------------------------------
mock_reset
sql "BEGIN; SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-1\"]}, \"body\": {\"platform\": \"ios\", \"notification\": {\"alert\": \"rolled back\"}}}'); ROLLBACK;" >/dev/null
sleep 1.5
check_eq "a rolled-back push never arrives" "$(mock_get /_mock/stats | jq .requests)" "0"
check_eq "... and leaves no task" "$(sql "SELECT count(*) FROM tasks")" "0"

t0=$(date +%s%N)
task=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-1\"]}, \"body\": {\"platform\": \"ios\", \"notification\": {\"alert\": \"hello\"}}}')")
wait_for 10 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$task'" && ok "a committed push is sent" || fail "committed push not sent: $(sql "SELECT status, error FROM deliveries WHERE task_id = '$task'")"
echo "     commit to recorded: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check_eq "... exactly once" "$(mock_get /_mock/stats | jq '.tokens["test-ios-1"].requests')" "1"
check "... with the alert" "$(mock_get '/_mock/last?token=test-ios-1' | jq -r .body)" '"hello"'
wait_for 5 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "the task is done" || fail "task state: $(sql "SELECT state FROM tasks WHERE task_id = '$task'")"

# ---- a broadcast to every vendor, with faults ---------------------------------------------------
mock_reset
task=$(sql "SELECT push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"618 sale\"}, \"options\": {\"plan_id\": \"promo_618_2025\"}}}')")
wait_for 30 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "broadcast finished" || fail "broadcast not done: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
statuses=$(sql "SELECT string_agg(v.registration_id || '=' || d.status, ' ' ORDER BY v.registration_id) FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$task'")
check_eq "every device's outcome" "$statuses" "and-1=sent and-flaky=sent and-gone=invalid_token hw-1=sent hw-2=sent hw-gone=invalid_token ios-1=sent ios-2=sent ios-busy=sent ios-gone=invalid_token sms-1=sent"
check_eq "throttled and 5xx devices were retried once" "$(sql "SELECT string_agg(attempts::text, ',' ORDER BY delivery_id) FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$task' AND v.registration_id IN ('ios-busy', 'and-flaky')")" "2,2"
check_eq "invalid tokens are cleared from their devices" "$(sql "SELECT string_agg(registration_id, ',' ORDER BY registration_id) FROM devices WHERE token IS NULL")" "and-gone,hw-gone,ios-gone"
check_eq "the vendor message ids are kept (webhooks have none)" "$(sql "SELECT count(*) FROM deliveries WHERE task_id = '$task' AND status = 'sent' AND vendor_message_id IS NOT NULL")" "7"
check_eq "the task belongs to its plan" "$(sql "SELECT task_count FROM push_plans WHERE plan_id = 'promo_618_2025'")" "1"
check_eq "push_deliveries shows them" "$(sql "SELECT count(*) FROM push_deliveries WHERE task_id = '$task' AND plan_id = 'promo_618_2025'")" "11"

# an invalidated device is never sent to again
mock_reset
sql "SELECT push_app_set('shop', '{\"broadcast_min_interval\": \"0 seconds\"}')" >/dev/null
task=$(sql "SELECT push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"again\"}}}')")
wait_for 30 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" || true
check_eq "invalid tokens are not targeted again" "$(mock_get /_mock/stats | jq '.tokens["test-unregistered-1"].requests // 0')" "0"
check_eq "... the task targets the 8 others" "$(sql "SELECT targeted FROM tasks WHERE task_id = '$task'")" "8"

# ---- idempotency --------------------------------------------------------------------------------
a=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-2\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"x\"}}, \"request_id\": \"req_618_01\"}')")
b=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-2\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"x\"}}, \"request_id\": \"req_618_01\"}')")
check_eq "the same request_id returns the same task" "$b" "$a"
ab=$(sql "SELECT push_send('shop', '{\"MsgRandom\": 3674128, \"OfflinePushInfo\": {\"PushFlag\": 0, \"Title\": \"t\", \"Desc\": \"d\"}}') = push_send('shop', '{\"MsgRandom\": 3674128, \"OfflinePushInfo\": {\"PushFlag\": 0, \"Title\": \"t\", \"Desc\": \"d\"}}')")
check_eq "the same MsgRandom within one second returns the same task" "$ab" "t"

# ---- TTL: a delivery that cannot be retried before it expires ---------------------------------
sql "SELECT push_device_register('shop', 'ios-slowpoke', 'ios', 'apns', 'test-throttle5-ttl')" >/dev/null
task=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-slowpoke\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"short-lived\"}, \"options\": {\"time_to_live\": 1}}}')")
wait_for 15 "SELECT status IN ('expired') FROM deliveries WHERE task_id = '$task'" && ok "a delivery past its time_to_live expires" || fail "ttl: $(sql "SELECT status, attempts, error FROM deliveries WHERE task_id = '$task'")"

# ---- cancel -----------------------------------------------------------------------------------
task=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-1\", \"ios-2\", \"and-1\", \"hw-1\", \"sms-1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"spread\"}, \"options\": {\"big_push_duration\": 60}}}')")
wait_for 10 "SELECT count(*) = 5 FROM deliveries WHERE task_id = '$task'" || true
sql "SELECT push_cancel('shop', '$task')" >/dev/null
check_eq "cancel stops what has not left (big_push_duration spread the rest over an hour)" \
  "$(sql "SELECT count(*) FILTER (WHERE status = 'cancelled') >= 4 AND count(*) FILTER (WHERE status IN ('queued', 'sending')) = 0 FROM deliveries WHERE task_id = '$task'")" "t"
check "cancelling again is refused" "$(sql "SELECT push_cancel('shop', '$task')" 2>&1)" "92302"

# ---- broadcast quota (Tencent IM: 90047 daily limit, 90024 interval) ---------------------
sql "SELECT push_app_set('shop', '{\"broadcast_min_interval\": \"1 hour\"}')" >/dev/null
check "broadcasts too close together are refused" "$(sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"vip\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"x\"}}}')" 2>&1)" "90024"
sql "SELECT push_app_set('shop', '{\"broadcast_min_interval\": \"0 seconds\", \"broadcast_daily_limit\": 2}')" >/dev/null
check "the daily broadcast limit is enforced" "$(sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"vip\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"x\"}}}')" 2>&1)" "90047"
check_eq "pushes to lists are not broadcasts" "$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"x\"}}}') LIKE 'tsk_%'")" "t"

# ---- senders share a task, no device twice -----------------------------------------------------
sql "SELECT push_app_create('bulk')" >/dev/null
configure_vendors bulk
sql "SELECT push_device_register_batch('bulk', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'd' || g,
       'platform', 'android', 'vendor', 'fcm', 'token', 'bulk-' || g)) FROM generate_series(1, 3000) g))" >/dev/null
mock_reset
# The cached access token has expired and the token endpoint takes 1.5 s: both senders need a
# new token at once, and one fetch serves them both (single flight).
psql -c "CREATE EXTENSION IF NOT EXISTS pushplan_test" >/dev/null
expired=$(mock_get "/_mock/token?vendor=fcm&ttl=-10" | jq -r .access_token)
sql "SELECT _auth_token_put('fcm', config, '$expired', -10) FROM vendor_configs WHERE vendor = 'fcm' LIMIT 1" >/dev/null
mock_curl "/_mock/token_delay?ms=1500" -X POST >/dev/null
task=$(sql "SELECT push_send('bulk', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"bulk\"}}}')")
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "3000-device broadcast finished" || fail "bulk: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
mock_curl "/_mock/token_delay?ms=0" -X POST >/dev/null
check_eq "two senders needing a new access token at once fetched one" "$(mock_get /_mock/stats | jq .endpoints.fcm_token)" "1"
check_eq "every device sent once" "$(sql "SELECT count(*) FILTER (WHERE status = 'sent') || '/' || count(*) FROM deliveries WHERE task_id = '$task'")" "3000/3000"
check_eq "the vendor got exactly 3000 sends" "$(mock_get /_mock/stats | jq .endpoints.fcm)" "3000"
check_eq "both senders took part" "$(sql "SELECT count(DISTINCT claimed_by) FROM deliveries WHERE task_id = '$task'")" "2"

# ---- a queue row whose delivery is gone is dropped when claimed, and nothing is sent -------------
mock_reset
sql "INSERT INTO delivery_queue (task_id, delivery_id, send_at, device_id) VALUES ('tsk_orphan', 999999999, now(), 1)" >/dev/null
wait_for 10 "SELECT count(*) = 0 FROM delivery_queue WHERE task_id = 'tsk_orphan'" \
  && ok "an orphaned queue row is dropped by the claim" || fail "orphaned queue row still there: $(sql "SELECT claimed_by FROM delivery_queue WHERE task_id = 'tsk_orphan'")"
check_eq "... and nothing was sent for it" "$(mock_get /_mock/stats | jq .requests)" "0"

# ---- an iOS device through FCM: its time_to_live reaches APNs as apns-expiration ----------------
sql "SELECT push_device_register('bulk', 'ios-fcm', 'ios', 'fcm', 'fcm-ios-ttl-1')" >/dev/null
before=$(date +%s)
task=$(sql "SELECT push_send('bulk', '{\"to\": {\"registration_id\": [\"ios-fcm\"]}, \"body\": {\"platform\": \"ios\", \"notification\": {\"alert\": \"ttl\"}, \"options\": {\"time_to_live\": 600}}}')")
wait_for 10 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$task'" || true
exp=$(mock_get '/_mock/last?token=fcm-ios-ttl-1' | jq -r '.body | fromjson | .message.apns.headers["apns-expiration"] // "none"')
if [ "$exp" != none ] && [ "$exp" -ge $((before + 590)) ] && [ "$exp" -le $((before + 620)) ]; then
  ok "fcm: an iOS push carries apns-expiration = send time + time_to_live"
else
  fail "fcm apns-expiration: $exp (sent at $before with time_to_live 600)"
fi

# ---- an outcome that cannot be written costs only its delivery: the sender goes on ---------------
sql "SELECT push_app_create('poison')" >/dev/null
configure_vendors poison
sql "SELECT push_device_register_batch('poison', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'p' || g,
       'platform', 'web', 'vendor', 'webhook', 'token', 'poison-ok-' || g)) FROM generate_series(1, 20) g))" >/dev/null
bad=$(sql "SELECT device_id FROM devices WHERE registration_id = 'p7' AND app_id = _app_id('poison', 'reader')")
psql -c "CREATE FUNCTION public.poison_outcome() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN IF NEW.device_id = $bad THEN RAISE EXCEPTION 'poisoned outcome'; END IF; RETURN NEW; END \$\$" \
  -c "CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON pushplan.deliveries FOR EACH ROW EXECUTE FUNCTION public.poison_outcome()" >/dev/null
senders_before=$(sql "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres'")
loglines=$(wc -l < "$cluster/server.log")
task=$(sql "SELECT push_send('poison', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"poison\"}}}')")
wait_for 20 "SELECT count(*) = 19 FROM deliveries WHERE task_id = '$task' AND status = 'sent'" \
  && ok "a delivery whose outcome cannot be written does not stop the other 19" \
  || fail "poison: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
check_eq "... it stays claimed" "$(sql "SELECT status FROM push_deliveries WHERE task_id = '$task' AND registration_id = 'p7'")" "sending"
check_eq "... and the senders are the same processes" \
  "$(sql "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'pushplan sender' AND datname = 'postgres'")" "$senders_before"
# (a broadcast's delivery is written with its outcome, so its id is in the log alone: drawn at
# the claim, src/worker_sender.c claim_planned; the trigger refuses its row)
logged=$(tail -n +"$((loglines + 1))" "$cluster/server.log" | grep -A1 'could not record 1 outcomes: poisoned outcome')
if grep -Eq 'Deliveries [0-9]+\.' <<< "$logged"; then ok "... the failure is logged with the delivery id"
else fail "... the failure is logged with the delivery id: $logged"; fi
psql -c "DROP TRIGGER poison ON pushplan.deliveries" -c "DROP FUNCTION public.poison_outcome()" >/dev/null

# ---- plans made while the tables look small ------------------------------------------------------
# A sender keeps its outcome statements' plans (src/worker_sender.c, run_batch_statement and
# write_planned_outcome_rows), made with the statistics of the moment: after an ANALYZE of
# nearly empty tables, a broadcast of 10,000 must still reach each send plan, delivery and queue
# row by its key, not scan the tables once per batch. Counted as the index entries the tables'
# keys gave out (a broadcast's 100 send plans: their claim, lock and removal, about three each;
# a scan of the plans per outcome write: thousands; 2.7 million were read so once), and the
# rows sequential scans read of the send plans (none: the claim's probe reads the due index).
wait_for 20 "SELECT count(*) = 0 FROM tasks WHERE state IN ('queued', 'sending') AND app_id = _app_id('shop', 'reader')" >/dev/null
sql "SELECT push_app_create('keyed')" >/dev/null
configure_vendors keyed
sql "SELECT push_device_register_batch('keyed', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'k' || g,
       'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-ok-k' || g)) FROM generate_series(1, 10000) g))" >/dev/null
psql -c "ANALYZE pushplan.deliveries, pushplan.delivery_queue, pushplan.delivery_plans" >/dev/null
key_reads() {   # key_reads [detail]: the index entries the keys gave out so far (detail: per index)
  sql "SELECT CASE WHEN '${1:-}' = '' THEN coalesce(sum(idx_tup_read), 0)::text
              ELSE string_agg(indexrelname || ' ' || idx_tup_read, ', ') END
       FROM pg_stat_user_indexes
       WHERE schemaname = 'pushplan' AND (indexrelname LIKE 'deliveries%pkey'
         OR indexrelname IN ('delivery_queue_pkey', 'delivery_plans_pkey'))"
}
plan_scans() { sql "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relid = 'pushplan.delivery_plans'::regclass"; }
# the index scans started on the devices' and the tasks' keys: one per probe (a probe that also
# walks an array of the batch's keys starts one per element: 500 times as many)
probes() { sql "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes WHERE schemaname = 'pushplan'
                AND indexrelname IN ('devices_pkey', 'tasks_pkey')"; }
check_probes() {   # since probes0, for 10,000 deliveries
  local n=$(( $(probes) - probes0 ))
  [ "$n" -ge 10000 ] && [ "$n" -lt 150000 ] && ok "... each device and task a probe of its key, not more ($n index scans for 10,000)" \
    || fail "$n index scans of the devices' and tasks' keys for 10,000 deliveries"
}
reads0=$(key_reads)
probes0=$(probes)
scans0=$(plan_scans)
detail0=$(key_reads detail)
task=$(sql "SELECT push_send('keyed', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"keyed\"}}}')")
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "a 10,000-device broadcast after an ANALYZE of nearly empty tables" \
  || fail "keyed: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
sleep 1.5   # the senders' last statistics (pgstat_report_stat, at most once a second)
reads=$(( $(key_reads) - reads0 ))
# (at least one per send plan: fewer means the counters or the index names are not what is read)
[ "$reads" -ge 100 ] && [ "$reads" -lt 150000 ] && ok "... its send plans, deliveries and queue rows read by their keys ($reads index entries for 10,000)" \
  || fail "the senders' statements scanned the tables: $reads index entries read for 10,000 deliveries (before: $detail0; after: $(key_reads detail))"
check_eq "... and no sequential scan read the send plans" "$(( $(plan_scans) - scans0 ))" "0"
check_probes

# The queue's claim is kept with a generic plan too (claim_and_submit_group): the senders,
# restarted after an ANALYZE of nearly empty tables, make it while the queue is empty; 10,000
# queued deliveries (an app with a frequency cap: its broadcast's plans are made into
# deliveries and queue rows for the engagement gate) must still be claimed by the due index
# and written by their row ids, each device read by its key: not a scan of the queue's or the
# devices' keys per claim (twenty claims of 500: some 100,000 and 400,000 index entries).
sql "SELECT push_app_create('capped')" >/dev/null
configure_vendors capped
sql "SELECT push_app_set('capped', '{\"frequency_cap\": {\"per_day\": 5}}')" >/dev/null
sql "SELECT push_device_register_batch('capped', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'c' || g,
       'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-ok-c' || g)) FROM generate_series(1, 10000) g))" >/dev/null
# (the keyed broadcast's rows gone: the tables look nearly empty again to the ANALYZE)
sql "DELETE FROM deliveries WHERE app_id = _app_id('keyed', 'reader')" >/dev/null
psql -c "ANALYZE pushplan.deliveries, pushplan.delivery_queue, pushplan.delivery_plans, pushplan.tasks" >/dev/null
psql -c "ALTER SYSTEM SET pushplan.senders = 0" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pushplan sender'" || fail "the senders did not stop"
psql -c "ALTER SYSTEM RESET pushplan.senders" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pushplan sender'" || fail "the senders did not come back"
sleep 1.5   # their first claims (of an empty queue) made the plan
entries() { sql "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE schemaname = 'pushplan' AND indexrelname = '$1'"; }
d0=$(entries devices_pkey)
k0=$(entries delivery_queue_pkey)
probes0=$(probes)
task=$(sql "SELECT push_send('capped', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"capped\"}}}')")
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" \
  && ok "a 10,000-device broadcast through the queue, claimed by a plan made while the queue was empty" \
  || fail "capped: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
check_eq "... each device sent once" "$(sql "SELECT count(*) || ' ' || count(DISTINCT device_id) FROM deliveries WHERE task_id = '$task' AND status = 'sent'")" "10000 10000"
sleep 1.5
# (each delivery's own probes: about four of its device's key, three of the queue's)
dreads=$(( $(entries devices_pkey) - d0 ))
kreads=$(( $(entries delivery_queue_pkey) - k0 ))
[ "$dreads" -ge 10000 ] && [ "$dreads" -lt 60000 ] && [ "$kreads" -ge 10000 ] && [ "$kreads" -lt 50000 ] \
  && ok "... its queue rows and devices read by their keys ($kreads and $dreads index entries for 10,000)" \
  || fail "the claim scanned the tables: $kreads queue and $dreads device index entries read for 10,000 deliveries"
check_probes

# ---- the upkeep reads the tasks being sent, not all the tasks kept -------------------------------
# Tasks are kept (each transactional push is one: millions a day). The scheduler's upkeep looks
# for the finished ones among those being sent (tasks_sending_idx), at each turn: it read every
# task kept, with a scan of the send plans per task, taking 17 % of a core idle at a million.
# 100,000 finished tasks kept, and one being sent with nothing left, which the turn marks done.
# (Analyzed as they appear: the workers' plans made while there were a few dozen tasks read
# the table whole, and are made again at the ANALYZE, as autovacuum's analyzes do each time a
# tenth of the table is new.)
psql -c "BEGIN" -c "INSERT INTO pushplan.tasks (task_id, app_id, plan_id, push, state, expanded, finished_at)
     SELECT 'kept-' || g, app_id, plan_id, push, 'done', true, now()
     FROM pushplan.tasks, generate_series(1, 100000) g WHERE task_id = '$task'" \
  -c "ANALYZE pushplan.tasks" -c "COMMIT" >/dev/null
task_scans() { sql "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relid = 'pushplan.tasks'::regclass"; }
scans0=$(task_scans)
sql "INSERT INTO tasks (task_id, app_id, plan_id, push, state, expanded)
     SELECT 'left-open', app_id, plan_id, push, 'sending', true FROM tasks WHERE task_id = '$task'" >/dev/null
# (a turn every 10 s when idle: MAINTENANCE_INTERVAL_MS, src/worker_scheduler.c)
wait_for 25 "SELECT state = 'done' FROM tasks WHERE task_id = 'left-open'" \
  && ok "the upkeep marks a finished task done among 100,000 kept" || fail "the upkeep did not mark 'left-open' done"
sleep 1.5   # (the scheduler's statistics)
# (a scan begun just before the COMMIT sees the few dozen tasks of before, and may be counted
# late: any scan after it reads the 100,000)
n=$(( $(task_scans) - scans0 ))
[ "$n" -lt 1000 ] && ok "... without reading the tasks kept ($n rows read by sequential scans)" \
  || fail "the upkeep read the tasks kept: $n rows read by sequential scans"

# ---- a second database served by the same server ----------------------------------------------
psql -c "CREATE DATABASE second" >/dev/null
PGDATABASE_TEST=second psql -c "CREATE EXTENSION pushplan" >/dev/null
PGDATABASE_TEST=second sql "SELECT push_app_create('other')" >/dev/null
PGDATABASE_TEST=second configure_vendors other
PGDATABASE_TEST=second sql "SELECT push_device_register('other', 'w1', 'web', 'webhook', 'second-db-1')" >/dev/null
task=$(PGDATABASE_TEST=second sql "SELECT push_send('other', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"from db 2\"}}}')")
PGDATABASE_TEST=second wait_for 30 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "the second database's push was sent" || fail "second db: $(PGDATABASE_TEST=second sql "SELECT status, error FROM deliveries")"
check_eq "... once" "$(mock_get /_mock/stats | jq '.tokens["second-db-1"].requests')" "1"

# ---- a due task is expanded while a sender's transaction references it ----------------------------
# A sender writing a task's deliveries holds a key-share lock on the task's row (the deliveries'
# foreign key) until its outcomes commit. The scheduler takes a due task FOR NO KEY UPDATE SKIP
# LOCKED, which that lock does not block; with FOR UPDATE it skipped the task for as long as any
# sender was writing its deliveries, and each sender's foreign-key check waited for the
# expansion's batch (up to 0.1 s each in the lanes benchmark). A task due in 2 s, its row held
# that way by another session: expanded when due all the same.
PGDATABASE_TEST=second sql "INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at)
  SELECT 'due-while-referenced', app_id, plan_id, push, 'queued', pushplan.clock_now() + interval '2 seconds'
  FROM tasks WHERE task_id = '$task'" >/dev/null
PGDATABASE_TEST=second hold_task_key_share due-while-referenced \
  "SELECT expanded FROM pushplan.tasks WHERE task_id = 'due-while-referenced'"
PGDATABASE_TEST=second wait_for 6 "SELECT expanded FROM tasks WHERE task_id = 'due-while-referenced'" \
  && ok "a due task is expanded while another transaction holds a key-share lock on it" \
  || fail "the scheduler skipped a due task that another transaction references: $(PGDATABASE_TEST=second sql "SELECT state, expanded FROM tasks WHERE task_id = 'due-while-referenced'")"
wait "$holder"

finish
