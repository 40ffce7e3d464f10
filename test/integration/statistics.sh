#!/usr/bin/env bash
# Statistics end to end (doc/statistics.md): two plans sent through the real workers to the mock
# vendor, with faults (invalid tokens, a 4xx, 429 and 5xx retried, a 500 given up, a slow answer),
# suppressions (opted out, unregistered, token invalidated, expired), a cancellation and events
# reported twice. Every figure of push_plan_stats is checked against what the mock received and
# what the test reported, and every aggregate against a full recount from the raw rows.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55720 55721 "pushplan.databases = 'postgres'" "pushplan.senders = 2" "pushplan.poll_interval = 500" \
  "pushplan.http_timeout = 3000" "pushplan.max_attempts = 3" "pushplan.retry_max_backoff = 1"
psql -c "CREATE EXTENSION pushplan" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
sql "SELECT push_plan_create('shop', 'p618', '618'), push_plan_create('shop', 'p11', '11.11')" >/dev/null

reg() { sql "SELECT push_device_register('shop', '$1', '$2', '$3', '$4')" >/dev/null; }
reg ios-1 ios apns test-ios-1
reg ios-2 ios apns test-ios-2
reg ios-gone ios apns test-unregistered-1      # 410: invalid token
reg ios-busy ios apns test-throttle1-a         # 429 once, then sent
reg ios-slow ios apns test-slow400-b           # answered after 400 ms
reg and-1 android fcm fcm-ok-1
reg and-flaky android fcm fcm-fail5xx1-a       # 503 once, then sent
reg and-dead android fcm fcm-error500-a        # 500 every time: given up after 3 attempts
reg web-1 web webhook web-ok-1
reg web-bad web webhook web-baddevice-1        # 400: rejected

wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and 2 senders run" || fail "workers not running"
mock_reset

# ---- plan p618: a broadcast with faults, then a list whose devices change before the claim -----
a=$(sql "SELECT push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"618\"}, \"options\": {\"plan_id\": \"p618\"}}}')")
wait_for 40 "SELECT state = 'done' FROM tasks WHERE task_id = '$a'" && ok "the broadcast is done" \
  || fail "broadcast: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$a' GROUP BY 1")"

reg web-2 web webhook web-ok-2
reg web-3 web webhook web-ok-3
reg web-4 web webhook web-ok-4
# made for all four, then (in the same transaction, before any sender sees them) one device opts
# out, one unregisters and one loses its token: suppressed when claimed
b=$(psql -c "SET search_path = pushplan, public" -c "BEGIN" \
  -c "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"web-1\", \"web-2\", \"web-3\", \"web-4\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"618 list\"}, \"options\": {\"plan_id\": \"p618\"}}}')" \
  -c "SELECT push_device_opt('shop', 'web-2', false)" -c "SELECT push_device_unregister('shop', 'web-3')" \
  -c "UPDATE devices SET token = NULL WHERE registration_id = 'web-4'" -c "COMMIT")
b=${b%%$'\n'*}   # the task id: the first line (not through head, which would end psql before COMMIT)
wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$b'" && ok "the list push is done" \
  || fail "list push: $(sql "SELECT status, error, count(*) FROM deliveries WHERE task_id = '$b' GROUP BY 1, 2")"

# ---- plan p11: a push cancelled before it leaves, and one that expires ----------------------------
# cancelled in the transaction that made it: no sender ever sees its deliveries
c=$(psql -c "SET search_path = pushplan, public" -c "BEGIN" \
  -c "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-1\", \"and-1\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"11.11\"}, \"options\": {\"plan_id\": \"p11\"}}}')" \
  -c "SELECT push_cancel('shop', (SELECT task_id FROM tasks WHERE plan_id = 'p11'))" -c "COMMIT")
c=${c%%$'\n'*}
reg ios-ttl ios apns test-throttle5-ttl
d=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-ttl\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"short\"}, \"options\": {\"plan_id\": \"p11\", \"time_to_live\": 1}}}')")
wait_for 20 "SELECT bool_and(state IN ('done', 'cancelled')) FROM tasks WHERE task_id IN ('$c', '$d')" \
  && ok "p11's pushes are cancelled and done" || fail "p11: $(sql "SELECT task_id, state FROM tasks WHERE plan_id = 'p11'")"
check_eq "the cancelled push's deliveries" "$(sql "SELECT string_agg(status, ',') FROM deliveries WHERE task_id = '$c'")" "cancelled,cancelled"
check_eq "the short-lived push expired" "$(sql "SELECT status FROM deliveries WHERE task_id = '$d'")" "expired"

# ---- events, as application code and an SDK collector report them (with repeats) ---------------
sql "SELECT push_event('shop', 'ios-1', '$a', 'received'), push_event('shop', 'ios-1', '$a', 'delivered'),
            push_event('shop', 'ios-1', '$a', 'open'), push_event('shop', 'ios-1', '$a', 'click'),
            push_event('shop', 'ios-1', '$a', 'convert', now(), 30), push_event('shop', 'ios-1', '$a', 'convert', now(), 50)" >/dev/null
sql "SELECT push_event_batch('shop', '[
  {\"registration_id\": \"ios-2\", \"task_id\": \"$a\", \"kind\": \"received\"},
  {\"registration_id\": \"ios-2\", \"task_id\": \"$a\", \"kind\": \"open\"},
  {\"registration_id\": \"and-1\", \"task_id\": \"$a\", \"kind\": \"received\"},
  {\"registration_id\": \"and-1\", \"task_id\": \"$a\", \"kind\": \"click\"},
  {\"registration_id\": \"and-1\", \"task_id\": \"$a\", \"kind\": \"click\"},
  {\"registration_id\": \"web-1\", \"task_id\": \"$a\", \"kind\": \"received\"},
  {\"registration_id\": \"web-1\", \"task_id\": \"$a\", \"kind\": \"dismiss\"},
  {\"registration_id\": \"web-1\", \"task_id\": \"$b\", \"kind\": \"received\"},
  {\"registration_id\": \"web-1\", \"task_id\": \"$b\", \"kind\": \"open\"},
  {\"registration_id\": \"web-1\", \"task_id\": \"$b\", \"kind\": \"convert\", \"value\": 10}]')" >/dev/null
# the same batch again, as a collector retrying after a timeout: logged, not counted
sql "SELECT push_event_batch('shop', '[{\"registration_id\": \"web-1\", \"task_id\": \"$b\", \"kind\": \"open\"},
  {\"registration_id\": \"web-1\", \"task_id\": \"$b\", \"kind\": \"convert\", \"value\": 10}]')" >/dev/null
check_eq "the raw log keeps every event" "$(sql "SELECT count(*) FROM events")" "18"

# ---- the figures --------------------------------------------------------------------------------
# one row per plan, vendor: targeted sent failed suppressed received opened clicked converted value
figures() {
  sql "SELECT string_agg(format('%s/%s:%s,%s,%s,%s,%s,%s,%s,%s,%s', plan_id, vendor, targeted, sent, failed,
         suppressed, received, opened, clicked, converted, converted_value), ' ' ORDER BY plan_id, vendor)
       FROM (SELECT plan_id, vendor, sum(targeted) targeted, sum(sent) sent, sum(failed) failed,
                    sum(suppressed) suppressed, sum(received) received, sum(opened) opened,
                    sum(clicked) clicked, sum(converted) converted, sum(converted_value) converted_value
             FROM push_plan_stats('shop', ARRAY['p618', 'p11'], now() - interval '1 day', now() + interval '1 day', 'hour', 'utc')
             GROUP BY 1, 2) s"
}
# what the test did and reported:
#   p618/apns: ios-1, ios-2, ios-busy, ios-slow sent, ios-gone failed; received ios-1, ios-2;
#     opened ios-1, ios-2; clicked ios-1; converted ios-1 (30: the first report)
#   p618/fcm: and-1, and-flaky sent, and-dead failed; received and clicked and-1
#   p618/webhook: web-1 sent twice (both pushes), web-bad failed, web-2..4 suppressed; received
#     web-1 twice, opened once (push b), converted once (10)
#   p11/apns: ios-1 cancelled, ios-ttl expired (suppressed); p11/fcm: and-1 cancelled
want="p11/apns:2,0,0,1,0,0,0,0,0 p11/fcm:1,0,0,0,0,0,0,0,0 p618/apns:5,4,1,0,2,2,1,1,30 p618/fcm:3,2,1,0,1,0,1,0,0 p618/webhook:6,2,1,3,2,1,0,1,10"
check_eq "push_plan_stats: targeted, sent, failed, suppressed, received, opened, clicked, converted, value" "$(figures)" "$want"

# sent and failed as the mock saw them: a 2xx per delivery sent, and every other answer is a
# retry, a final failure or the expiry
stats=$(mock_get /_mock/stats)
mock_sent=$(echo "$stats" | jq '[.tokens[] | .status | to_entries[] | select(.key | test("^2")) | .value] | add')
mock_requests=$(echo "$stats" | jq '[.tokens[].requests] | add')
check_eq "sent = the mock's 2xx answers" "$(sql "SELECT sum(sent) FROM push_plan_stats('shop', NULL, now() - interval '1 day', now() + interval '1 day')")" "$mock_sent"
check_eq "sent + failed + retries + expired = the mock's requests" \
  "$(sql "SELECT sum(sent + failed + retries + expired) FROM _task_stats_live")" "$mock_requests"
check_eq "retries: ios-busy and and-flaky once, and-dead twice before giving up" "$(sql "SELECT sum(retries) FROM _task_stats_live")" "4"
check_eq "why they failed" "$(sql "SELECT failed_by FROM push_plan_stats('shop', ARRAY['p618'], now() - interval '1 day', now() + interval '1 day', 'day', 'utc') WHERE vendor = 'fcm'") $(sql "SELECT failed_by FROM push_plan_stats('shop', ARRAY['p618'], now() - interval '1 day', now() + interval '1 day', 'day', 'utc') WHERE vendor = 'webhook'")" \
  '{"other": 0, "gave_up": 1, "rejected": 0, "invalid_token": 0} {"other": 0, "gave_up": 0, "rejected": 1, "invalid_token": 0}'
check_eq "why they were suppressed" "$(sql "SELECT suppressed_by FROM push_plan_stats('shop', ARRAY['p618'], now() - interval '1 day', now() + interval '1 day') WHERE vendor = 'webhook'") $(sql "SELECT suppressed_by FROM push_plan_stats('shop', ARRAY['p11'], now() - interval '1 day', now() + interval '1 day') WHERE vendor = 'apns'")" \
  '{"capped": 0, "consent": 0, "expired": 0, "no_token": 1, "opted_out": 1, "quiet_hours": 0, "unregistered": 1, "missing_attribute": 0} {"capped": 0, "consent": 0, "expired": 1, "no_token": 0, "opted_out": 0, "quiet_hours": 0, "unregistered": 0, "missing_attribute": 0}'
check_eq "invalid tokens: ios-gone" "$(sql "SELECT sum(invalid_token) FROM _task_stats_live")" "1"
check_eq "cancelled: the two of p11" "$(sql "SELECT sum(cancelled) FROM push_task_stats WHERE plan_id = 'p11'")" "2"
check_eq "rates beside counts (p618 apns: 1 click / 4 sent, / 2 received)" \
  "$(sql "SELECT click_rate || ' ' || click_rate_received FROM push_plan_stats('shop', ARRAY['p618'], now() - interval '1 day', now() + interval '1 day') WHERE vendor = 'apns'")" "0.2500 0.5000"

# answer times: one per answer the mock gave, the slow one among them
check_eq "every vendor answer is timed" \
  "$(sql "SELECT sum(answers) FROM push_vendor_stats_daily WHERE app = 'shop'")" "$mock_requests"
check_eq "apns p95 is the slow answer's (>= 400 ms), p50 a fast one's" \
  "$(sql "SELECT latency_p95_ms >= 400 AND latency_p50_ms < 400 FROM push_vendor_stats_daily WHERE app = 'shop' AND vendor = 'apns'")" "t"

# ---- exact: every aggregate equals a full recount, before and after the upkeep folds -------------
recount_diff() {
  sql "SELECT count(*) FROM ((SELECT * FROM _stats_recount() EXCEPT SELECT * FROM _task_stats_live)
                             UNION ALL (SELECT * FROM _task_stats_live EXCEPT SELECT * FROM _stats_recount())) d"
}
check_eq "the aggregates equal a recount from the raw rows" "$(recount_diff)" "0"
wait_for 10 "SELECT NOT EXISTS (SELECT 1 FROM stats_pending) AND NOT EXISTS (SELECT 1 FROM latency_pending)" \
  && ok "the scheduler's upkeep folded everything" || fail "pending: $(sql "SELECT count(*) FROM stats_pending")"
check_eq "... and they still equal it" "$(recount_diff)" "0"
check_eq "... push_plan_stats reads the same" "$(figures)" "$want"
check_eq "plan_stats adds up to task_stats" \
  "$(sql "SELECT (SELECT sum(targeted + sent + failed + suppressed + cancelled + retries + received + opened + clicked + dismissed + converted) FROM plan_stats) = (SELECT sum(targeted + sent + failed + suppressed + cancelled + retries + received + opened + clicked + dismissed + converted) FROM task_stats)")" "t"

# ---- the same through the BI views --------------------------------------------------------------
check_eq "push_plan_overview" "$(sql "SELECT string_agg(format('%s:%s,%s,%s,%s,%s', plan_id, tasks, targeted, sent, clicked, converted_value), ' ' ORDER BY plan_id) FROM push_plan_overview WHERE app = 'shop'")" \
  "default:0,0,0,0,0 p11:2,3,0,0,0 p618:2,14,8,2,40"
check_eq "push_vendor_stats_daily" "$(sql "SELECT string_agg(format('%s:%s,%s,%s', vendor, sent, failed, retries), ' ' ORDER BY vendor) FROM push_vendor_stats_daily WHERE app = 'shop'")" \
  "apns:4,1,1 fcm:2,1,3 webhook:2,1,0"

finish
