#!/usr/bin/env bash
# Flow triggers end to end (doc/flows.md, "Triggers"), with the workers, the mock vendor and the
# test clock: the seed's scenarios
#   signup welcome series: an event trigger (push_track 'signup'), a push at once, another a day
#     later;
#   inactive for 7 days: the scheduler's evaluations enter the users with no app_open for 7 days
#     (counted from their registration when they never opened the app), each once per period,
#     and the send step reaches them;
#   birthday at 09:00 local: a date attribute's anniversary, in each device's zone (Shanghai's
#     09:00 is 01:00 UTC, Berlin's 08:00 UTC), once;
# and the two others: an attribute changing (plan free -> pro, in push_attr_set's transaction)
# and a device entering an audience (a tag added), within the evaluation period.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 56520 56521 "pushplan.databases = 'postgres'" "pushplan.senders = 1" \
  "pushplan.poll_interval = 1000" "pushplan.http_timeout = 2000"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
sql "SELECT push_app_set('shop', '{\"timezone\": \"Asia/Shanghai\"}')" >/dev/null
configure_vendors shop
sql "SELECT push_device_register_batch('shop', '[
  {\"registration_id\": \"ann\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-ann\", \"timezone\": \"Asia/Shanghai\", \"attrs\": {\"birthday\": \"1990-01-10\", \"plan\": \"free\"}},
  {\"registration_id\": \"bob\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-bob\", \"timezone\": \"Europe/Berlin\", \"attrs\": {\"birthday\": \"1985-01-10\"}},
  {\"registration_id\": \"cat\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-cat\", \"timezone\": \"Asia/Shanghai\", \"attrs\": {\"birthday\": \"1999-05-05\"}},
  {\"registration_id\": \"dan\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-dan\", \"timezone\": \"Asia/Shanghai\"}]')" >/dev/null
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and sender run" || fail "workers not running"

clock() { sql "SELECT _clock_set('$1'::timestamptz)" >/dev/null; }
requests() { mock_get /_mock/stats | jq ".tokens[\"fcm-ok-$1\"].requests // 0"; }
sent() { sql "SELECT count(*) FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND d.registration_id = '$1' AND t.flow_id = '$2'"; }
alerts() { sql "SELECT string_agg(t.push #>> '{body,notification,alert}', ' | ' ORDER BY t.created_at) FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND d.registration_id = '$1' AND t.flow_id = '$2'"; }
send() { echo "{\"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"$1\"}}}}"; }

clock '2090-01-01 00:00:00+00'
mock_reset
# registered at the test's start (registration is stamped with the real time; the clock is ahead)
sql "UPDATE devices SET created_at = '2090-01-01 00:00:00+00'" >/dev/null

# ---- the flows ---------------------------------------------------------------------------------
welcome=$(sql "SELECT push_flow_create('shop', '{\"name\": \"welcome\", \"trigger\": {\"event\": \"signup\"},
  \"steps\": [$(send "Welcome"), {\"wait\": \"1 day\"}, $(send "Day 2: tips")]}')")
winback=$(sql "SELECT push_flow_create('shop', '{\"name\": \"winback\", \"reentry\": \"0\",
  \"trigger\": {\"inactive\": {\"event\": \"app_open\", \"for\": \"7 days\"}}, \"steps\": [$(send "We miss you")]}')")
birthday=$(sql "SELECT push_flow_create('shop', '{\"name\": \"birthday\", \"reentry\": \"0\",
  \"trigger\": {\"date_attr\": {\"attr\": \"birthday\", \"at\": \"09:00\", \"anniversary\": true}}, \"steps\": [$(send "Happy birthday")]}')")
upgraded=$(sql "SELECT push_flow_create('shop', '{\"name\": \"upgraded\",
  \"trigger\": {\"attr_change\": {\"attr\": \"plan\", \"from\": \"free\", \"to\": \"pro\"}}, \"steps\": [$(send "Welcome to Pro")]}')")
vip=$(sql "SELECT push_flow_create('shop', '{\"name\": \"vip\",
  \"trigger\": {\"audience_enter\": {\"tag\": [\"vip\"]}}, \"steps\": [$(send "You are a VIP")]}')")
check "flows created" "$welcome $winback $birthday $upgraded $vip" "flw_"
# each evaluated flow has had its first evaluation (it takes the audience as it is, and nobody
# is inactive yet)
wait_for 10 "SELECT count(*) = 3 FROM flow_trigger_evals" \
  && ok "first evaluations" || fail "first evaluations: $(sql "SELECT * FROM flow_trigger_evals")"

# ---- signup welcome series ----------------------------------------------------------------
sql "SELECT push_track('shop', 'dan', 'signup')" >/dev/null
wait_for 15 "SELECT count(*) = 1 FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND t.flow_id = '$welcome'" \
  && ok "welcome: the first push at once" || fail "welcome: not sent: $(sql "SELECT * FROM push_flow_runs")"
clock '2090-01-02 00:00:30+00'
wait_for 15 "SELECT count(*) = 2 FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND t.flow_id = '$welcome'" \
  && ok "welcome: the second a day later" || fail "welcome: second not sent: $(sql "SELECT * FROM push_flow_runs WHERE flow = 'welcome'")"
check_eq "welcome: dan got both, in order" "$(alerts dan "$welcome")" "Welcome | Day 2: tips"

# ---- inactive for 7 days ------------------------------------------------------------------------
# ann opens the app on day 2, bob on day 7; cat and dan never do (dan only signed up)
sql "SELECT push_track('shop', 'ann', 'app_open')" >/dev/null
clock '2090-01-07 00:00:00+00'
sql "SELECT push_track('shop', 'bob', 'app_open')" >/dev/null
clock '2090-01-07 23:50:00+00'
sleep 2
check_eq "inactive: nobody before 7 days" "$(sql "SELECT count(*) FROM flow_instances WHERE flow_id = '$winback'")" "0"
# 7 days and 6 minutes after registration: cat and dan (the previous evaluation was at 23:50:
# the next is due 15 minutes later)
clock '2090-01-08 00:06:00+00'
wait_for 15 "SELECT count(*) = 2 FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND t.flow_id = '$winback'" \
  && ok "inactive: cat and dan reached" || fail "inactive: $(sql "SELECT * FROM push_flow_runs WHERE flow = 'winback'")"
check_eq "inactive: who" "$(sql "SELECT string_agg(registration_id, ',' ORDER BY registration_id) FROM push_flow_runs WHERE flow = 'winback'")" "cat,dan"
# 7 days after ann's app_open (day 2, 00:00:30): she crosses; the next evaluation (15 minutes
# later at most) enters her; bob (day 7) is not inactive yet
clock '2090-01-09 00:25:00+00'
wait_for 15 "SELECT count(*) = 1 FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND t.flow_id = '$winback' AND d.registration_id = 'ann'" \
  && ok "inactive: ann reached a week after her last visit" || fail "inactive: ann: $(sql "SELECT * FROM push_flow_runs WHERE flow = 'winback'")"
clock '2090-01-09 00:45:00+00'
sleep 2
check_eq "inactive: each once, bob not yet" \
  "$(sql "SELECT string_agg(registration_id, ',' ORDER BY registration_id) FROM push_flow_runs WHERE flow = 'winback'")" "ann,cat,dan"
check_eq "inactive: one request to cat" "$(requests cat)" "1"
last=$(mock_get "/_mock/last?token=fcm-ok-cat")
check "inactive: the flow's push reached the vendor" "$last" "We miss you"

# ---- birthday at 09:00 local ----------------------------------------------------------------------
# ann in Shanghai: 09:00 is 01:00 UTC; bob in Berlin: 08:00 UTC; cat's birthday is in May
clock '2090-01-10 00:50:00+00'
sleep 2
check_eq "birthday: nobody before 09:00 in Shanghai" "$(sql "SELECT count(*) FROM flow_instances WHERE flow_id = '$birthday'")" "0"
clock '2090-01-10 01:06:00+00'
wait_for 15 "SELECT count(*) = 1 FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND t.flow_id = '$birthday'" \
  && ok "birthday: ann's at 09:00 Shanghai" || fail "birthday: $(sql "SELECT * FROM push_flow_runs WHERE flow = 'birthday'")"
check_eq "birthday: ann, not bob yet" "$(sql "SELECT string_agg(registration_id, ',') FROM push_flow_runs WHERE flow = 'birthday'")" "ann"
clock '2090-01-10 08:06:00+00'
wait_for 15 "SELECT count(*) = 2 FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND t.flow_id = '$birthday'" \
  && ok "birthday: bob's at 09:00 Berlin" || fail "birthday: bob: $(sql "SELECT * FROM push_flow_runs WHERE flow = 'birthday'")"
clock '2090-01-10 12:00:00+00'
sleep 2
check_eq "birthday: once each" "$(sent ann "$birthday"),$(sent bob "$birthday"),$(sent cat "$birthday")" "1,1,0"
check_eq "birthday: the task names the flow and its step" \
  "$(sql "SELECT count(*) FROM tasks WHERE flow_id = '$birthday' AND flow_step = '1' AND flow_instance IS NOT NULL")" "2"

# ---- an attribute changing, in the writer's transaction -------------------------------------------
# read inside the writer's transaction: no worker can see the run before the commit, so it is
# still waiting there (after the commit the first step may already have sent it: done)
out=$(psql -c "BEGIN" -c "SELECT pushplan.push_attr_set('shop', 'ann', '{\"plan\": \"pro\"}')" \
  -c "SELECT state FROM pushplan.push_flow_runs WHERE flow = 'upgraded' AND registration_id = 'ann'" -c "COMMIT")
check_eq "attr_change: ann entered in the transaction that writes her plan" "$(echo "$out" | grep -v '^COMMIT$' | tail -1)" "waiting"
check_eq "attr_change: the run committed with it" \
  "$(sql "SELECT count(*) FROM push_flow_runs WHERE flow = 'upgraded' AND registration_id = 'ann'")" "1"
wait_for 15 "SELECT count(*) = 1 FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND t.flow_id = '$upgraded'" \
  && ok "attr_change: the push sent" || fail "attr_change: $(sql "SELECT * FROM push_flow_runs WHERE flow = 'upgraded'")"

# ---- entering an audience ---------------------------------------------------------------------------
sql "SELECT push_tag_add('shop', 'bob', 'vip')" >/dev/null
clock '2090-01-10 12:01:30+00'
wait_for 15 "SELECT count(*) = 1 FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND t.flow_id = '$vip'" \
  && ok "audience_enter: bob reached after his tag" || fail "audience_enter: $(sql "SELECT * FROM push_flow_runs WHERE flow = 'vip'")"
check_eq "audience_enter: bob alone" "$(sql "SELECT string_agg(registration_id, ',') FROM push_flow_runs WHERE flow = 'vip'")" "bob"
check_eq "no evaluation failed" "$(sql "SELECT count(*) FROM flow_trigger_evals WHERE error IS NOT NULL")" "0"

finish
