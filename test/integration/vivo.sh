#!/usr/bin/env bash
# Integration test of vivo (src/vendor_vivo.c) against the mock vendor: what the requests carry
# (through /_mock/last), the authToken fetched once with the md5 sign and shared through shared
# memory, one device by /message/send and many by the two steps saveListPayload + pushToList
# (1000 a request), invalidUser(s) as invalid_token for those devices alone, a throttle, a 5xx
# and the daily quota (10070, 10252) in either step, a token that expired mid-run renewed once
# in either step, the first step failing, and then deliveries through push_send and the
# senders: invalid tokens, the daily quota leaving the deliveries queued for an hour (seen in
# push_task_progress), and a delivery sent again after a timeout with the same requestId.
#
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir).
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55640 55641 "pushplan.http_timeout = 2000" "pushplan.databases = 'postgres'" \
  "pushplan.senders = 1" "pushplan.express_senders = 0" "pushplan.poll_interval = 200"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
mock() { mock_get "$1"; }

sql "SELECT push_app_create('vivo')" >/dev/null
mock_vivo_setup vivo psql >/dev/null || { echo "vendor setup failed"; exit 1; }

PUSH='{"to": "all", "body": {"platform": "android", "notification": {"alert": "Hello", "android": {"title": "Hi", "extras": {"promo": "618", "n": 3}, "intent": {"url": "https://shop.example/618"}}}, "options": {"time_to_live": 600}}}'
# a push whose title carries a fault keyword for the mock's saveListPayload
titled() { echo "{\"body\": {\"notification\": {\"alert\": \"Hello\", \"android\": {\"title\": \"$1\"}}}}"; }
vt() { sql "SELECT push_vendor_test('vivo', 'vivo', '$1', '${2:-$PUSH}'::jsonb)"; }
# outcome:error of each token, in order, through one engine
many() { sql "SELECT string_agg(r->>'outcome' || ':' || coalesce(r->>'error', ''), ',' ORDER BY (r->>'i')::int) FROM _engine_send_many('vivo', 'vivo', $1, '${2:-$PUSH}'::jsonb) r"; }
# ... with retry_after_ms
many_r() { sql "SELECT string_agg(r->>'outcome' || ':' || coalesce(r->>'error', '') || ':' || (r->>'retry_after_ms'), ',' ORDER BY (r->>'i')::int) FROM _engine_send_many('vivo', 'vivo', $1, '${2:-$PUSH}'::jsonb) r"; }
# push_to APP TOKEN...: a new app pointed at the mock, a device for each token, a push to them all;
# prints the task id
push_to() {
  local app=$1 i=0 t
  shift
  sql "SELECT push_app_create('$app')" >/dev/null
  mock_vivo_setup "$app" psql >/dev/null
  for t in "$@"; do
    i=$((i + 1))
    sql "SELECT push_device_register('$app', '$app-$i', 'android', 'vivo', '$t')" >/dev/null
  done
  sql "SELECT push_send('$app', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"a\", \"android\": {\"title\": \"t\"}}}}'::jsonb)"
}
outcomes() { sql "SELECT string_agg(status || ':' || attempts || ':' || coalesce(error, ''), ',') FROM deliveries WHERE task_id = '$1'"; }
# awaited NAME SECONDS TASK CONDITION: ok when the task's deliveries meet CONDITION in time
awaited() {
  if wait_for "$2" "SELECT $4 FROM deliveries WHERE task_id = '$3'"; then ok "$1"; else fail "$1: $(outcomes "$3")"; fi
}
expired_token() {
  local t
  t=$(mock "/_mock/token?vendor=vivo&ttl=-10" | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4)
  sql "SELECT _auth_token_put('vivo', config, '$t', 86400) FROM vendor_configs WHERE vendor = 'vivo'" >/dev/null
}

# ================= one device: /message/send ===================================================
mock_reset
out=$(vt vivo-ok-1)
check "send: sent" "$out" '"outcome": "sent"'
check "send: taskId kept" "$out" '"vendor_message_id": "6'
last=$(mock "/_mock/last?endpoint=vivo")
check "send: path" "$last" '"path":"/message/send"'
check "send: authToken header" "$last" '"authtoken":"vivo.'
check "send: json" "$last" '"content-type":"application/json"'
check "send: regId" "$last" '{\"regId\":\"vivo-ok-1\",\"requestId\":\"'
check "send: appId as a number" "$last" '\"appId\":10004,'
check "send: title and content" "$last" '\"title\":\"Hi\",\"content\":\"Hello\",\"notifyType\":4'
check "send: web page click" "$last" '\"skipType\":2,\"skipContent\":\"https://shop.example/618\"'
check "send: extras as clientCustomMap strings" "$last" '\"clientCustomMap\":{\"n\":\"3\",\"promo\":\"618\"}'
check "send: ttl" "$last" '\"timeToLive\":600'
rid=$(grep -o 'requestId\\":\\"[0-9a-f]*' <<<"$last" | grep -o '[0-9a-f]*$')
check_eq "send: requestId is 32 hex digits" "${#rid}" "32"
auth=$(mock "/_mock/last?endpoint=vivo_token")
check "auth: path" "$auth" '"path":"/message/auth"'
check "auth: signed" "$auth" '\"sign\":\"'
tok=$(grep -o '"authtoken":"[^"]*"' <<<"$last")
out=$(vt vivo-ok-2)
check "send: second device sent" "$out" '"outcome": "sent"'
check_eq "auth: one token for both sessions (shared memory)" "$(grep -o '"authtoken":"[^"]*"' <<<"$(mock "/_mock/last?endpoint=vivo")")" "$tok"
check "auth: token fetched once" "$(mock /_mock/stats)" '"vivo_token":1'
peek=$(sql "SELECT _auth_token_peek('vivo', config) FROM vendor_configs WHERE vendor = 'vivo'")
check "auth: cache is in shared memory" "$peek" '"shared": true'
check "auth: renewed in an hour, as vivo asks" "$peek" '"renew_in_s": 3'
out=$(vt vivo-unregistered-1)
check "send: invalidUser -> invalid_token" "$out" '"outcome": "invalid_token"'
check "send: invalidUser's status" "$out" '"error": "status 1"'
out=$(vt vivo-throttle1-1)
check "send: too fast (10072) -> retry" "$out" '"error": "10072: '
check "send: retry at the senders' back-off" "$out" '"retry_after_ms": 0'
out=$(vt vivo-throttle1-1)
check "send: throttle over -> sent" "$out" '"outcome": "sent"'
out=$(vt vivo-quota-1)
check "send: daily quota (10070) -> retry" "$out" '"error": "10070: '
check "send: daily quota retried in an hour" "$out" '"retry_after_ms": 3600000'
out=$(vt vivo-fail5xx1-1)
check "send: 503 -> retry" "$out" '"outcome": "retry"'
out=$(vt vivo-error500-1)
check "send: 500 -> retry" "$out" '"http_status": 500'
out=$(vt vivo-drop1-1)
check "send: drop -> retry" "$out" '"outcome": "retry"'
out=$(vt vivo-ok-3 '{"body": {"platform": "android", "message": {"msg_content": "sync"}}}')
check "send: a data message: vivo has none and refuses it" "$out" '"error": "10050: title'
# a token that expired mid-run: refused (10000), renewed once, the request sent again
expired_token
mock_reset
out=$(vt vivo-renew-1)
check "send: expired token renewed, sent" "$out" '"outcome": "sent"'
stats=$(mock /_mock/stats)
check "send: renewed once" "$stats" '"vivo_token":1'
check "send: refused once, then sent" "$stats" '"vivo":2,'

# ================= many devices: saveListPayload + pushToList ==================================
mock_reset
res=$(sql "SELECT string_agg(o || '=' || n, ',' ORDER BY o) FROM (SELECT r->>'outcome' || ':' || coalesce(r->>'error', '') o, count(*) n FROM _engine_send_many('vivo', 'vivo', (SELECT array_agg('vivo-' || CASE WHEN i % 10 = 0 THEN 'unregistered-' WHEN i % 25 = 0 THEN 'baddevice-' ELSE 'b-' END || i) FROM generate_series(1, 1500) i), '$PUSH'::jsonb) r GROUP BY 1) x")
check_eq "list: 1500 regIds: invalidUsers invalid_token, the others sent" "$res" \
  "invalid_token:status 1=150,invalid_token:status 2=30,sent:=1320"
stats=$(mock /_mock/stats)
check "list: two payloads saved (1000 + 500)" "$stats" '"vivo_save":2'
check "list: two pushToList" "$stats" '"vivo_list":2'
check "list: no single sends" "$stats" '"vivo":0,'
save=$(mock "/_mock/last?endpoint=vivo_save")
check "save: path" "$save" '"path":"/message/saveListPayload"'
check "save: authToken header" "$save" '"authtoken":"vivo.'
check "save: the message without targets" "$save" '"body":"{\"appId\":10004,\"title\":\"Hi\",\"content\":\"Hello\"'
check "save: a list payload lives 15 minutes at least" "$save" '\"timeToLive\":900,\"requestId\":\"'
list=$(mock "/_mock/last?endpoint=vivo_list")
check "list: path" "$list" '"path":"/message/pushToList"'
check "list: regIds after the appId" "$list" '"body":"{\"appId\":10004,\"regIds\":[\"vivo-'
check "list: taskId" "$list" '\"taskId\":\"L'
res=$(many "ARRAY['vivo-unregistered-a', 'vivo-baddevice-b']")
check_eq "list: every regId refused: each its status" "$res" "invalid_token:status 1,invalid_token:status 2"
mock_reset
res=$(many_r "ARRAY['vivo-ok-t1', 'vivo-throttle1-t2']")
check_eq "list: too fast -> retry at the back-off" "$res" "retry:10072: 发送频率过快:0,retry:10072: 发送频率过快:0"
res=$(many_r "ARRAY['vivo-ok-q1', 'vivo-quota-q2']")
check_eq "list: daily quota (10070) -> retry in an hour" "$res" "retry:10070: 发送总量超出限制:3600000,retry:10070: 发送总量超出限制:3600000"
res=$(many "ARRAY['vivo-ok-f1', 'vivo-fail5xx1-f2']")
check_eq "list: 503 -> retry" "$res" "retry:10001: service busy,retry:10001: service busy"
# the first step failing: throttled, a daily quota, a 5xx, refused
mock_reset
res=$(many_r "ARRAY['vivo-ok-s1', 'vivo-ok-s2']" "$(titled save-throttle1)")
check_eq "save: too fast -> every device retried at the back-off" "$res" "retry:10072: 发送频率过快:0,retry:10072: 发送频率过快:0"
stats=$(mock /_mock/stats)
check "save: refused, so no pushToList" "$stats" '"vivo_list":0'
res=$(many "ARRAY['vivo-ok-s1', 'vivo-ok-s2']" "$(titled save-throttle1)")
check_eq "save: throttle over -> sent" "$res" "sent:,sent:"
res=$(many_r "ARRAY['vivo-ok-s1', 'vivo-ok-s2']" "$(titled save-quota)")
check_eq "save: the day's saved payloads spent (10252) -> retry in an hour" "$res" "retry:10252: 批量发送消息体超出限制:3600000,retry:10252: 批量发送消息体超出限制:3600000"
res=$(many "ARRAY['vivo-ok-s1', 'vivo-ok-s2']" "$(titled save-fail5xx1)")
check_eq "save: 503 -> retry" "$res" "retry:10001: service busy,retry:10001: service busy"
res=$(many "ARRAY['vivo-ok-s1', 'vivo-ok-s2']" "$(titled 'A title of more than forty Latin characters, for vivo')")
check_eq "save: refused (title too long) -> failed" "$res" "failed:10050: title 最多20个汉字(40个英文字符),failed:10050: title 最多20个汉字(40个英文字符)"
# a token that expired mid-run, refused by the first step: renewed once, both steps sent
expired_token
mock_reset
res=$(many "ARRAY['vivo-renew-1', 'vivo-renew-2', 'vivo-unregistered-r']")
check_eq "save: expired token renewed and the batch sent" "$res" "sent:,sent:,invalid_token:status 1"
stats=$(mock /_mock/stats)
check "save: renewed once" "$stats" '"vivo_token":1'
check "save: refused once, then saved" "$stats" '"vivo_save":2'
check "save: one pushToList" "$stats" '"vivo_list":1'
# bad credentials: the auth endpoint refuses them, every delivery fails
sql "SELECT push_app_create('vivo_bad')" >/dev/null
sql "SELECT push_vendor_set('vivo_bad', 'vivo', jsonb_build_object('app_id', '10004', 'app_key', 'vivo-key', 'app_secret', 'wrong', 'endpoint', '$base'))" >/dev/null
out=$(sql "SELECT push_vendor_test('vivo_bad', 'vivo', 'vivo-ok-x', '$PUSH'::jsonb)")
check "auth: wrong secret -> failed" "$out" '"error": "vivo auth answered HTTP 200, result 10200: sign 不合法"'
sql "SELECT push_vendor_set('vivo_bad', 'vivo', jsonb_build_object('app_id', '10005', 'app_key', 'vivo-key', 'app_secret', 'vivo-secret', 'endpoint', '$base'))" >/dev/null
out=$(sql "SELECT push_vendor_test('vivo_bad', 'vivo', 'vivo-ok-x', '$PUSH'::jsonb)")
check "auth: another app id -> failed" "$out" '"error": "vivo auth answered HTTP 200, result 10200: appId or appKey'

# ================= through push_send and the senders ==========================================
mock_reset
sql "SELECT push_device_register('vivo', 'vivo' || i, 'android', 'vivo', CASE WHEN i = 3 THEN 'vivo-unregistered-' ELSE 'vivo-dev-' END || i)
     FROM generate_series(1, 4) i" >/dev/null
task=$(sql "SELECT push_send('vivo', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"618 sale\", \"android\": {\"title\": \"618\"}}}}'::jsonb)")
awaited "push_send: every delivery has an outcome" 30 "$task" "count(*) FILTER (WHERE status IN ('sent', 'invalid_token')) = 4"
res=$(sql "SELECT string_agg(status || '=' || n, ',' ORDER BY status) FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1) d")
check_eq "push_send: 3 sent and 1 invalid_token" "$res" "invalid_token=1,sent=3"
stats=$(mock /_mock/stats)
check "push_send: one saved payload for the 4 devices" "$stats" '"vivo_save":1'
check "push_send: one pushToList" "$stats" '"vivo_list":1'

# the daily quota: the deliveries stay queued for an hour, not retried at the back-off's pace
mock_reset
task=$(push_to vivo_q vivo-quota-1 vivo-quota-2)
awaited "quota: the deliveries are queued again" 30 "$task" "count(*) FILTER (WHERE attempts = 1 AND status = 'queued') = 2"
res=$(sql "SELECT string_agg(DISTINCT error, ',') || ' / ' || bool_and(send_at > now() + interval '55 minutes') FROM deliveries WHERE task_id = '$task'")
check_eq "quota: the error kept, the next attempt in an hour" "$res" "10070: 发送总量超出限制 / true"
res=$(sql "SELECT queued || ',' || sent || ',' || failed FROM push_task_progress WHERE task_id = '$task'")
check_eq "quota: push_task_progress shows them queued" "$res" "2,0,0"
sleep 2
check "quota: no retry storm (one pushToList)" "$(mock /_mock/stats)" '"vivo_list":1'

# a delivery that timed out (slow answer) is sent again with the same requestId: vivo's
# deduplication answers it as the first time
task=$(push_to vivo_s vivo-slow3000-s1)
awaited "requestId: the slow delivery sent" 60 "$task" "count(*) FILTER (WHERE status = 'sent') = 1"
check_eq "requestId: sent on the second attempt" "$(sql "SELECT attempts FROM deliveries WHERE task_id = '$task'")" "2"
check "requestId: the second attempt was a duplicate of the first" "$(mock /_mock/stats)" '"vivo_duplicates":1'
finish
