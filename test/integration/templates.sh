#!/usr/bin/env bash
# Templates end to end (doc/templates.md): pushes whose title, alert, extras and a
# multi_language text read device attributes and the account, sent by the workers to the mock
# FCM; what the mock received for each device, under each options.missing_attribute policy; a
# device whose values take the payload over FCM's limit; a broadcast; the statistics
# (missing_attribute, recounted from the deliveries) and push_trace of a skipped device.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55840 55841 "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.poll_interval = 200"
psql -c "CREATE EXTENSION pushplan" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
sql "SELECT push_plan_create('shop', 'tpl', 'templates')" >/dev/null
sql "SELECT push_device_register_batch('shop', '[
  {\"registration_id\": \"ann\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"tpl-ann\", \"language\": \"en\",
   \"tags\": [\"t\"], \"attrs\": {\"first_name\": \"Ann\", \"city\": \"Shenzhen\", \"coupon\": \"C-42\", \"points\": 120}},
  {\"registration_id\": \"bob\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"tpl-bob\", \"language\": \"zh-Hans\",
   \"tags\": [\"t\"], \"attrs\": {\"city\": \"Beijing\"}},
  {\"registration_id\": \"big\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"tpl-big\", \"language\": \"en\",
   \"attrs\": {\"blob\": \"$(printf 'b%.0s' $(seq 1 250))\"}}]')" >/dev/null
sql "SELECT push_account_bind('shop', 'ann', 'user-ann', 0)" >/dev/null
wait_for 20 "SELECT count(*) = 4 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender', 'pushplan express sender')" \
  && ok "scheduler, senders and the express sender run" || fail "workers: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"

# push TO POLICY: a push to the registration ids TO (JSON array) with templates in the title,
# the alert, extras and the "en" text; POLICY: options.missing_attribute (empty: not given)
push() {
  local opt=""
  [ -n "$2" ] && opt=", \"missing_attribute\": \"$2\""
  sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": $1}, \"body\": {\"platform\": \"android\",
    \"notification\": {\"alert\": \"Hello {{attrs.first_name | default: \\\"there\\\"}}\",
      \"android\": {\"title\": \"{{attrs.city | upcase}} deals\",
        \"extras\": {\"coupon\": \"{{attrs.coupon}}\", \"who\": \"{{account}}\", \"points\": \"{{attrs.points | default: \\\"0\\\"}}\"}}},
    \"options\": {\"plan_id\": \"tpl\", \"multi_language\": {\"en\": {\"alert\": \"Hi {{attrs.first_name | truncate: 10}}, use {{attrs.coupon | default: \\\"WELCOME\\\"}}\"}}$opt}}}')"
}
# what the mock received for a token: the FCM message (the request body's "message")
received() { mock_get "/_mock/last?token=$1" | jq -c '.body | fromjson | .message | {title: .notification.title, body: .notification.body, data: .data}'; }
outcome() { sql "SELECT status || coalesce(': ' || error, '') FROM deliveries WHERE task_id = '$1' AND device_id = (SELECT device_id FROM devices WHERE registration_id = '$2')"; }
done_task() { wait_for 20 "SELECT count(*) FILTER (WHERE status IN ('queued')) = 0 FROM deliveries WHERE task_id = '$1'"; }

# ---- default: a missing attribute renders as the expression's default, else empty -----------
mock_reset
t1=$(push '["ann", "bob"]' "")
done_task "$t1" || fail "default: not done: $(sql "SELECT string_agg(status, ',') FROM deliveries WHERE task_id = '$t1'")"
check_eq "default: both devices sent" "$(outcome "$t1" ann),$(outcome "$t1" bob)" "sent,sent"
check_eq "default: ann's title, her language's text, extras and account" "$(received tpl-ann)" \
  '{"title":"SHENZHEN deals","body":"Hi Ann, use C-42","data":{"who":"user-ann","coupon":"C-42","points":"120"}}'
check_eq "default: bob (no first_name, coupon, account; zh falls back to the alert) gets defaults and empty values" "$(received tpl-bob)" \
  '{"title":"BEIJING deals","body":"Hello there","data":{"who":"","coupon":"","points":"0"}}'

# ---- skip: a device missing a value without a default is suppressed, counted, explained ----
mock_reset
t2=$(push '["ann", "bob"]' skip)
done_task "$t2" || fail "skip: not done"
check_eq "skip: ann is sent" "$(outcome "$t2" ann)" "sent"
# (bob's language, zh, has no multi_language text: the "en" text's first_name does not count;
# of his two missing values, account and coupon, the error names the first in the stored push)
check_eq "skip: bob is suppressed, the error naming a missing value he would get" "$(outcome "$t2" bob)" 'suppressed: missing attribute "account"'
check_eq "skip: nothing reached the mock for bob" "$(mock_get "/_mock/stats?token=tpl-bob" | jq -c '.tokens["tpl-bob"].requests // 0')" "0"
check_eq "skip: ann's payload is rendered" "$(received tpl-ann | jq -c .data)" '{"who":"user-ann","coupon":"C-42","points":"120"}'
check "skip: push_trace explains bob's delivery" \
  "$(sql "SELECT detail FROM push_trace('shop', 'bob', '$t2') WHERE step = 'suppressed'")" \
  "suppressed: the push's template reads \"account\", which the device did not have, and options.missing_attribute is skip"

# ---- fail: the delivery fails, the error naming the attribute --------------------------------
mock_reset
t3=$(push '["ann", "bob"]' fail)
done_task "$t3" || fail "fail: not done"
check_eq "fail: ann is sent" "$(outcome "$t3" ann)" "sent"
check_eq "fail: bob failed, naming the attribute" "$(outcome "$t3" bob)" 'failed: missing attribute "account" (options.missing_attribute is fail)'
check_eq "fail: nothing reached the mock for bob" "$(mock_get "/_mock/stats?token=tpl-bob" | jq -c '.tokens["tpl-bob"].requests // 0')" "0"

# ---- the account missing under skip --------------------------------------------------------
t4=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ann\", \"bob\"]}, \"body\": {\"platform\": \"android\",
  \"message\": {\"msg_content\": \"for {{account}}\", \"title\": \"{{attrs.city}}\"}, \"options\": {\"plan_id\": \"tpl\", \"missing_attribute\": \"skip\"}}}')")
done_task "$t4" || fail "account: not done"
check_eq "a data message: ann sent, bob (no account) suppressed" "$(outcome "$t4" ann) / $(outcome "$t4" bob)" 'sent / suppressed: missing attribute "account"'
check_eq "... ann's data message rendered" "$(mock_get "/_mock/last?token=tpl-ann" | jq -c '.body | fromjson | .message.data | {msg_content, title}')" \
  '{"msg_content":"for user-ann","title":"Shenzhen"}'

# ---- a device whose values take the payload over FCM's 4096 bytes fails, unsent ---------------
# literal text 1,800 bytes (accepted at push_send); each {{attrs.blob}} is 250 bytes for "big"
mock_reset
filler=$(printf 'f%.0s' $(seq 1 1800))
t5=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"ann\", \"big\"]}, \"body\": {\"platform\": \"android\",
  \"notification\": {\"alert\": \"a\", \"android\": {\"extras\": {\"filler\": \"$filler\",
    \"blob\": \"$(printf '{{attrs.blob}}%.0s' $(seq 1 10))\"}}}, \"options\": {\"plan_id\": \"tpl\"}}}')")
done_task "$t5" || fail "over the limit: not done"
check_eq "over the limit: ann (no blob) is sent" "$(outcome "$t5" ann)" "sent"
check "over the limit: big fails with the vendor's limit" "$(outcome "$t5" big)" "failed: 92510: fcm payload is "
check_eq "over the limit: nothing reached the mock for big" "$(mock_get "/_mock/stats?token=tpl-big" | jq -c '.tokens["tpl-big"].requests // 0')" "0"

# ---- a broadcast (tag audience, expanded by the scheduler) -----------------------------------
mock_reset
t6=$(sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"t\"]}, \"body\": {\"platform\": \"android\",
  \"notification\": {\"alert\": \"{{attrs.city}}: {{attrs.first_name | default: \\\"friend\\\" | downcase}}\"}, \"options\": {\"plan_id\": \"tpl\"}}}')")
wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$t6'" || fail "broadcast: not done"
check_eq "broadcast: each device its own text" \
  "$(mock_get "/_mock/last?token=tpl-ann" | jq -r '.body | fromjson | .message.notification.body') / $(mock_get "/_mock/last?token=tpl-bob" | jq -r '.body | fromjson | .message.notification.body')" \
  "Shenzhen: ann / Beijing: friend"

# ---- statistics: counted, and the same when counted again from the deliveries ---------------
check_eq "task_stats: the skipped task counts one missing_attribute among its suppressed" \
  "$(sql "SELECT sum(suppressed) || ' ' || sum(missing_attribute) FROM _task_stats_live WHERE task_id = '$t2'")" "1 1"
check_eq "task_stats: the failed one counts it as failed, not missing_attribute" \
  "$(sql "SELECT sum(failed) || ' ' || sum(missing_attribute) FROM _task_stats_live WHERE task_id = '$t3'")" "1 0"
sql "SELECT _stats_rollup()" >/dev/null
check_eq "push_plan_stats: suppressed_by missing_attribute" \
  "$(sql "SELECT sum((suppressed_by->>'missing_attribute')::int) FROM push_plan_stats('shop', ARRAY['tpl'], now() - interval '1 day', now() + interval '1 day')")" "2"
check_eq "push_plan_stats_daily: suppressed_missing_attribute" \
  "$(sql "SELECT sum(suppressed_missing_attribute) FROM push_plan_stats_daily WHERE plan_id = 'tpl'")" "2"
check_eq "push_task_stats: suppressed_missing_attribute" \
  "$(sql "SELECT suppressed_missing_attribute FROM push_task_stats WHERE task_id = '$t4'")" "1"
check_eq "_stats_recount agrees with the aggregates for every task" \
  "$(sql "SELECT count(*) FROM ((SELECT * FROM _stats_recount() EXCEPT SELECT * FROM _task_stats_live)
          UNION ALL (SELECT * FROM _task_stats_live EXCEPT SELECT * FROM _stats_recount())) x")" "0"

finish
