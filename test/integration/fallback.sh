#!/usr/bin/env bash
# Cross-channel fallback end to end (doc/fallback.md): a push to six devices through FCM (the
# mock) with a fallback of 2 hours unless opened, to each device's e-mail attribute, through the
# app's webhook (the mock's receiver).
#   - r1 reports an open and r3 a click: no fallback; r2 only "received": it gets one; r4 gets
#     one; r5 has no e-mail: counted, nothing sent; r6's token is refused by FCM (the push never
#     reached it): it gets one;
#   - nothing before the 2 hours (the test clock moves past them: no sleeping for hours);
#   - each message once, with its address, the push's text rendered for the device and the
#     push's task and delivery ids; not again after more looks of the scheduler, nor after the
#     scheduler is killed in the middle of a look (the server restarts every backend);
#   - the statistics: fallback_sent / fallback_no_address in push_plan_stats and the task's
#     figures, equal to a recount of the raw rows.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55920 55921 "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.express_senders = 0" "pushplan.poll_interval = 200" "pushplan.http_timeout = 4000"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and 2 senders run" || fail "workers: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"

clock() { sql "SELECT _clock_set('$1'::timestamptz)" >/dev/null; }
# requests the mock's webhook receiver took for an address
hook_requests() { mock_get /_mock/stats | jq ".tokens[\"$1\"].requests // 0"; }
fb_status() { sql "SELECT string_agg(v.registration_id || '=' || d.status, ' ' ORDER BY v.registration_id) FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '${1}_fallback'"; }

sql "SELECT push_app_create('fb')" >/dev/null
configure_vendors fb
sql "SELECT push_device_register_batch('fb', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'r' || g,
       'platform', 'android', 'vendor', 'fcm',
       'token', CASE WHEN g = 6 THEN 'fcm-unregistered-r6' ELSE 'fcm-ok-r' || g END,
       'attrs', CASE WHEN g = 5 THEN jsonb_build_object('name', 'N5')
                     ELSE jsonb_build_object('name', 'N' || g, 'email', 'r' || g || '@example.com') END))
       FROM generate_series(1, 6) g))" >/dev/null
mock_reset

t=$(sql "SELECT push_send('fb', '{\"to\": {\"registration_id\": [\"r1\", \"r2\", \"r3\", \"r4\", \"r5\", \"r6\"]},
  \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"Sale for {{attrs.name}}\"}, \"options\": {\"priority\": \"normal\", \"time_to_live\": 0}},
  \"fallback\": {\"after\": \"2 hours\", \"unless\": \"opened\", \"via\": \"webhook\", \"to\": {\"attr\": \"email\"}, \"title\": \"Missed this?\", \"alert\": \"Hi {{attrs.name}}, the sale is on\"}}')")
wait_for 20 "SELECT bool_and(status <> 'queued') FROM deliveries WHERE task_id = '$t'" \
  && ok "the push has its outcomes" || fail "push: $(sql "SELECT string_agg(status, ',') FROM deliveries WHERE task_id = '$t'")"
check_eq "r1..r5 sent, r6's token refused" \
  "$(sql "SELECT string_agg(v.registration_id || '=' || d.status, ' ' ORDER BY v.registration_id) FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '$t'")" \
  "r1=sent r2=sent r3=sent r4=sent r5=sent r6=invalid_token"
sql "SELECT push_event('fb', 'r1', '$t', 'open'), push_event('fb', 'r2', '$t', 'received'), push_event('fb', 'r3', '$t', 'click')" >/dev/null

# ---- before the 2 hours: nothing ------------------------------------------------------------------
clock "$(sql "SELECT now() + interval '1 hour 55 minutes'")"
sleep 1.5
check_eq "before the 2 hours: no fallback made" "$(sql "SELECT count(*) FROM fallbacks")/$(fb_status $t)" "0/"
check_eq "... and the webhook took nothing" "$(mock_get /_mock/stats | jq '[.tokens | to_entries[] | select(.key | endswith("@example.com"))] | length')" "0"

# ---- the scheduler killed in the middle of a look ---------------------------------------------------
# A session locks the fallbacks table: the scheduler's look waits on it, after it has made the
# fallback task in its transaction; it is killed there (the server restarts every backend, and
# the test clock starts over), and the look runs again from nothing.
( psql -c "BEGIN" -c "LOCK TABLE pushplan.fallbacks IN EXCLUSIVE MODE" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 & )
wait_for 10 "SELECT count(*) = 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'fallbacks' AND l.mode = 'ExclusiveLock' AND l.granted" \
  || fail "crash: lock not taken"
clock "$(sql "SELECT now() + interval '2 hours 1 minute'")"
wait_for 10 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler' AND wait_event_type = 'Lock'" \
  && ok "crash: the scheduler's look waits in the middle" || fail "crash: scheduler not held: $(sql "SELECT string_agg(backend_type || ':' || coalesce(wait_event_type, '-'), ' ') FROM pg_stat_activity")"
spid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'")
kill -9 "$spid"
sleep 1
wait_for 30 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "crash: workers back" || fail "crash: workers not back"
check_eq "crash: the look left nothing (no fallback row, no task)" \
  "$(sql "SELECT count(*) FROM fallbacks")/$(sql "SELECT count(*) FROM tasks WHERE task_id = '${t}_fallback'")" "0/0"

# ---- past the 2 hours: the messages -----------------------------------------------------------------
clock "$(sql "SELECT now() + interval '2 hours 1 minute'")"
wait_for 20 "SELECT count(*) = 3 AND bool_and(status = 'sent') FROM deliveries WHERE task_id = '${t}_fallback'" \
  && ok "the fallback's messages are sent" || fail "fallback: $(fb_status $t)"
check_eq "r2 (received only), r4 and r6 (never reached) get one; r1 (opened) and r3 (clicked) none" \
  "$(fb_status $t)" "r2=sent r4=sent r6=sent"
check_eq "r5 without an e-mail is counted, nothing sent" \
  "$(sql "SELECT string_agg(v.registration_id || '=' || f.outcome, ' ' ORDER BY v.registration_id) FROM fallbacks f JOIN deliveries d USING (delivery_id) JOIN devices v USING (device_id)")" \
  "r2=queued r4=queued r5=no_address r6=queued"
check_eq "the webhook took one request per address" \
  "$(echo $(hook_requests r2@example.com) $(hook_requests r4@example.com) $(hook_requests r6@example.com) $(hook_requests r1@example.com) $(hook_requests r3@example.com))" "1 1 1 0 0"
last=$(mock_get "/_mock/last?token=r4@example.com")
check "the message is signed" "$last" '"x-pushplan-signature":"sha256='
body=$(echo "$last" | jq -c '.body | fromjson')
r4_delivery=$(sql "SELECT d.delivery_id FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '$t' AND v.registration_id = 'r4'")
check_eq "... carries the address, the push's task and delivery" \
  "$(echo "$body" | jq -c '[.fallback.to, .fallback.task_id == "'$t'", .fallback.delivery_id == "'$r4_delivery'", .fallback.unless, .token]')" \
  '[{"attr":"email","value":"r4@example.com"},true,true,"opened","r4@example.com"]'
check_eq "... and the fallback's text, rendered for the device" \
  "$(echo "$body" | jq -c '[.title, .alert, .task_id == "'$t'_fallback"]')" '["Missed this?","Hi N4, the sale is on",true]'
check_eq "the push's fallback is over" "$(sql "SELECT fallback_at IS NULL FROM tasks WHERE task_id = '$t'")" "t"
check_eq "the device's push token is untouched by the webhook" "$(sql "SELECT token FROM devices WHERE registration_id = 'r4'")" "fcm-ok-r4"

# ---- more looks: nothing more ------------------------------------------------------------------------
sql "UPDATE tasks SET fallback_at = pushplan.clock_now() - interval '1 second' WHERE task_id = '$t'" >/dev/null
wait_for 10 "SELECT fallback_at IS NULL FROM tasks WHERE task_id = '$t'" && ok "a second look ran" || fail "second look did not run"
# (a sender writing the push's deliveries holds a key-share lock on its row until it commits:
# the look, due in 2 s, takes the task all the same; the holder lets go once it sees the look,
# or after 30 s)
sql "UPDATE tasks SET fallback_at = pushplan.clock_now() + interval '2 seconds' WHERE task_id = '$t'" >/dev/null
hold_task_key_share "$t" "SELECT fallback_at IS NULL FROM pushplan.tasks WHERE task_id = '$t'"
wait_for 6 "SELECT fallback_at IS NULL FROM tasks WHERE task_id = '$t'" \
  && ok "a look runs while another transaction holds a key-share lock on the push's task" \
  || fail "the look skipped a push whose task another transaction references"
wait "$holder"
clock "$(sql "SELECT now() + interval '3 hours'")"
sql "UPDATE tasks SET fallback_at = pushplan.clock_now() - interval '1 second' WHERE task_id = '$t'" >/dev/null
wait_for 10 "SELECT fallback_at IS NULL FROM tasks WHERE task_id = '$t'" && ok "a third look ran" || fail "third look did not run"
sleep 1
check_eq "still one message per device, one request per address" \
  "$(sql "SELECT count(*) || '/' || count(DISTINCT device_id) FROM deliveries WHERE task_id = '${t}_fallback'") $(hook_requests r2@example.com) $(hook_requests r4@example.com) $(hook_requests r6@example.com)" \
  "3/3 1 1 1"

# ---- statistics ---------------------------------------------------------------------------------------
check_eq "push_plan_stats: the fallback's figures" \
  "$(sql "SELECT jsonb_build_object('sent', sum((fallback->>'sent')::int), 'failed', sum((fallback->>'failed')::int), 'no_address', sum((fallback->>'no_address')::int))::text FROM push_plan_stats('fb', NULL, now() - interval '1 day', now() + interval '1 day')")" \
  '{"sent": 3, "failed": 0, "no_address": 1}'
check_eq "... the push's funnel is its own (6 targeted, 5 sent)" \
  "$(sql "SELECT sum(targeted) || ' ' || sum(sent) FROM push_plan_stats('fb', NULL, now() - interval '1 day', now() + interval '1 day')")" "6 5"
check_eq "push_task_stats: on the push's row" \
  "$(sql "SELECT fallback_sent || ' ' || fallback_failed || ' ' || fallback_no_address FROM push_task_stats WHERE task_id = '$t'")" "3 0 1"
# the gateway reports that r4 opened the e-mail: the fallback task's own figures
sql "SELECT push_event('fb', 'r4', '${t}_fallback', 'open')" >/dev/null
check_eq "an event about a fallback message counts in the fallback task's figures" \
  "$(sql "SELECT sent || ' ' || opened FROM push_task_stats WHERE task_id = '${t}_fallback'") $(sql "SELECT opened FROM push_task_stats WHERE task_id = '$t'")" "0 1 1"
recount_diff() {
  sql "SELECT count(*) FROM ((SELECT * FROM _stats_recount() EXCEPT SELECT * FROM _task_stats_live)
                             UNION ALL (SELECT * FROM _task_stats_live EXCEPT SELECT * FROM _stats_recount())) d"
}
check_eq "the aggregates equal a recount from the raw rows" "$(recount_diff)" "0"
wait_for 15 "SELECT NOT EXISTS (SELECT 1 FROM stats_pending)" && ok "the upkeep folded everything" || fail "pending left"
check_eq "... and they still equal it" "$(recount_diff)" "0"
check_eq "no ERROR in the server log" "$(grep -c 'ERROR' "$cluster/server.log")" "0"
finish
