#!/usr/bin/env bash
# push_trace end to end (doc/statistics.md, "push_trace"): a broadcast to a tag, expanded by the
# real scheduler and sent by the real senders to the mock vendor, with a retry (503 once), an
# invalid token (410) and a refusal (400); then, for each device, what push_trace says: in the
# audience and what the vendor answered, or why not (tag missing, platform not targeted, opted
# out, registered after the expansion), and the events the device reported. The pg_regress suite
# (test/sql/trace.sql) covers every reason and planned time on constructed rows; this checks the
# trace against rows the workers wrote.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55740 55741 "pushplan.databases = 'postgres'" "pushplan.senders = 2" "pushplan.poll_interval = 500" \
  "pushplan.http_timeout = 3000" "pushplan.max_attempts = 3" "pushplan.retry_max_backoff = 1"
psql -c "CREATE EXTENSION pushplan" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop

reg() { sql "SELECT push_device_register('shop', '$1', '$2', '$3', '$4')" >/dev/null; }
reg ios-1 ios apns test-ios-1
reg and-flaky android fcm fcm-fail5xx1-a       # 503 once, then sent
reg ios-gone ios apns test-unregistered-1      # 410: invalid token
reg and-bad android webhook web-baddevice-1   # 400: refused
reg and-plain android fcm fcm-ok-2             # not tagged
reg web-1 web webhook web-ok-1                 # a platform the push does not target
reg ios-opted ios apns test-ios-3              # opted out
sql "SELECT push_tag_add('shop', r, 'vip') FROM unnest(ARRAY['ios-1', 'and-flaky', 'ios-gone', 'and-bad', 'web-1', 'ios-opted']) r" >/dev/null
sql "SELECT push_device_opt('shop', 'ios-opted', false)" >/dev/null

wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and 2 senders run" || fail "workers not running"
mock_reset

b=$(sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"vip\"]}, \"body\": {\"platform\": [\"android\", \"ios\"], \"notification\": {\"alert\": \"618\"}}}')")
wait_for 40 "SELECT state = 'done' FROM tasks WHERE task_id = '$b'" && ok "the broadcast is done" \
  || fail "broadcast: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$b' GROUP BY 1")"
reg ios-late ios apns test-ios-4
sql "SELECT push_tag_add('shop', 'ios-late', 'vip')" >/dev/null
sql "SELECT push_event('shop', 'ios-1', '$b', 'open'), push_event('shop', 'ios-1', '$b', 'open')" >/dev/null

# the steps and details of one device's trace of the broadcast, times left out
steps() {
  sql "SELECT string_agg(step || ': ' || detail, E'\n' ORDER BY n) FROM push_trace('shop', '$1', '$b') WITH ORDINALITY s(at, task_id, step, detail, n) WHERE step <> 'task'"
}
check_eq "a device sent at once" "$(steps ios-1)" "planned: the task's send time
audience: in the audience: delivery made for its ios device, vendor apns
outcome: sent: the vendor accepted it (attempts 1, HTTP 200, vendor_message_id $(sql "SELECT vendor_message_id FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$b' AND registration_id = 'ios-1'"))
event: open
event: open: a repeat, not counted"
check "a device sent at the second attempt: only the last is kept" "$(steps and-flaky)" \
  "outcome: sent: the vendor accepted it (attempts 2, HTTP 200"
check "... and its plan is the task's time, its send_at the retry's" "$(steps and-flaky)" \
  "planned: the task's send time; deliveries.send_at holds the retry's time since"
check "an invalid token" "$(steps ios-gone)" "outcome: invalid_token: the vendor refused the device's token, which was cleared (attempts 1, HTTP 410"
check "a refusal" "$(steps and-bad)" "outcome: failed: the vendor refused it (attempts 1, HTTP 4"
check_eq "not tagged" "$(steps and-plain)" 'audience: not in the audience: tag "vip" missing'
check_eq "a platform the push does not target" "$(steps web-1)" "audience: not in the audience: platform web not targeted by the push (android, ios)"
check_eq "opted out" "$(steps ios-opted)" "audience: not in the audience: opted out"
check "registered after the expansion" "$(steps ios-late)" "audience: not in the audience: registered at "
# the steps are in time order, the outcome at the time it was sent
check_eq "steps in time order" "$(sql "SELECT bool_and(at >= coalesce(prev, at)) FROM (SELECT at, lag(at) OVER (ORDER BY n) AS prev FROM push_trace('shop', 'and-flaky', '$b') WITH ORDINALITY s(at, t, step, detail, n)) x")" "t"
check_eq "the outcome's time is sent_at" "$(sql "SELECT s.at = d.sent_at FROM push_trace('shop', 'ios-1', '$b') s, deliveries d JOIN devices v USING (device_id) WHERE s.step = 'outcome' AND d.task_id = '$b' AND v.registration_id = 'ios-1'")" "t"
# without a task: the device's tasks, newest first
l=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ios-1\"]}, \"body\": {\"platform\": \"all\", \"message\": {\"msg_content\": \"later\"}}}')")
wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$l'" || fail "list push not done"
check_eq "the device's tasks, newest first" "$(sql "SELECT string_agg(DISTINCT CASE task_id WHEN '$l' THEN 'list' WHEN '$b' THEN 'broadcast' END, ',') FROM push_trace('shop', 'ios-1')"),$(sql "SELECT task_id = '$l' FROM push_trace('shop', 'ios-1') LIMIT 1")" "broadcast,list,t"

finish
