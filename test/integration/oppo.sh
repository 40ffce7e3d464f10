#!/usr/bin/env bash
# Integration test of OPPO (src/vendor_oppo.c) against the mock vendor: the auth_token (signed
# with sha256, fetched once, shared through shared memory, carried in the form; one that expired
# mid-run renewed once), what a unicast and a unicast_batch carry (through /_mock/last), a batch
# with some invalid regIds split in requests of 1000, a throttle and a 5xx (retry at the senders'
# back-off), wrong credentials, a data message (refused unsent), deliveries through push_send and
# the senders, and last the app's daily quota (33): held until the quota resets, for every
# request of the credential, visible in push_task_progress and without a retry storm.
#
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir).
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55666 55667 "pushplan.http_timeout = 2000" "pushplan.databases = 'postgres'" \
  "pushplan.senders = 1" "pushplan.express_senders = 0" "pushplan.poll_interval = 200"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
mock() { mock_get "$1"; }

sql "SELECT push_app_create('op')" >/dev/null
mock_oppo_setup op psql >/dev/null || { echo "vendor setup failed"; exit 1; }

PUSH='{"to": "all", "body": {"platform": "android", "notification": {"alert": "Hello", "android": {"title": "Hi", "extras": {"promo": "618"}, "intent": {"url": "https://shop.example/618"}, "channel_id": "promo"}}, "options": {"time_to_live": 600, "apns_collapse_id": "c1"}}}'
# check_within NAME VALUE LOW HIGH CONTEXT: LOW <= VALUE <= HIGH (integers)
check_within() {
  if [ -n "$2" ] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then ok "$1 ($2)"
  else fail "$1: ${2:-nothing}, not in $3..$4: $5"; fi
}
vt() { sql "SELECT push_vendor_test('op', 'oppo', '$1', '${2:-$PUSH}'::jsonb)"; }
# outcome:error of each token, in order, through one engine
many() { sql "SELECT string_agg(r->>'outcome' || ':' || coalesce(r->>'error', ''), ',' ORDER BY (r->>'i')::int) FROM _engine_send_many('op', 'oppo', $1, '$PUSH'::jsonb) r"; }
# counts of outcome:error over a batch of N tokens, every 10th unregistered and every 25th bad
batch() {
  sql "SELECT string_agg(o || '=' || n, ',' ORDER BY o) FROM (SELECT r->>'outcome' || ':' || coalesce(r->>'error', '') o, count(*) n FROM _engine_send_many('op', 'oppo', (SELECT array_agg('oppo-' || CASE WHEN i % 10 = 0 THEN 'unregistered-' WHEN i % 25 = 0 THEN 'baddevice-' ELSE 'b-' END || i) FROM generate_series(1, $1) i), '$PUSH'::jsonb) r GROUP BY 1) x"
}

# ================= auth and one device (unicast) ===============================================
mock_reset
out=$(vt oppo-ok-1)
check "unicast: sent" "$out" '"outcome": "sent"'
check "unicast: messageId kept" "$out" '"vendor_message_id": "30000-1-1-'
auth=$(mock "/_mock/last?endpoint=oppo_token")
check "auth: path" "$auth" '"path":"/server/v1/auth"'
check "auth: form" "$auth" '"content-type":"application/x-www-form-urlencoded;charset=UTF-8"'
check "auth: app_key, then the sha256 sign" "$auth" '"body":"app_key=oppo-key&sign='
check "auth: timestamp in ms" "$auth" "&timestamp=$(date +%s | cut -c1-8)"
last=$(mock "/_mock/last?endpoint=oppo")
check "unicast: path" "$last" '"path":"/server/v1/message/notification/unicast"'
check "unicast: form" "$last" '"content-type":"application/x-www-form-urlencoded;charset=UTF-8"'
check "unicast: the auth_token in the form, last" "$last" '&auth_token=oppo.'
check "unicast: no auth header" "$(grep -c '"authorization"' <<<"$last")" 0
check "unicast: target" "$last" 'message=%7B%22target_type%22%3A2%2C%22target_value%22%3A%22oppo-ok-1%22'
check "unicast: web page click" "$last" 'click_action_type%22%3A2%2C%22click_action_url%22%3A%22https%3A%2F%2Fshop.example%2F618'
check "unicast: offline ttl" "$last" 'off_line_ttl%22%3A600'
check "unicast: channel" "$last" 'channel_id%22%3A%22promo'
tok=$(grep -o 'auth_token=[^"&]*' <<<"$last")
out=$(vt oppo-ok-2)
check "unicast: second session sent" "$out" '"outcome": "sent"'
check_eq "auth: one token for both sessions (shared memory)" "$(grep -o 'auth_token=[^"&]*' <<<"$(mock "/_mock/last?endpoint=oppo")")" "$tok"
check "auth: fetched once" "$(mock /_mock/stats)" '"oppo_token":1'
peek=$(sql "SELECT _auth_token_peek('oppo', config) FROM vendor_configs WHERE vendor = 'oppo'")
check "auth: cache in shared memory" "$peek" '"shared": true'
check_within "auth: renewed an hour before its 24 hours (s)" \
  "$(grep -oE '"renew_in_s": [0-9]+' <<<"$peek" | grep -oE '[0-9]+$')" 82700 82800 "$peek"
out=$(vt oppo-unregistered-1)
check "unicast: bad regId (10000) -> invalid_token" "$out" '"outcome": "invalid_token"'
check "unicast: error is the code" "$out" '"error": "10000"'
out=$(vt oppo-ok-3 '{"body": {"platform": "android", "message": {"msg_content": "sync"}}}')
check "data message: failed unsent" "$out" '"error": "OPPO Push sends notifications only'
out=$(vt oppo-ok-4 '{"body": {"notification": {"alert": "no title"}}}')
check "no title: the config's default_title" "$out" '"outcome": "sent"'
check "default_title sent" "$(mock "/_mock/last?endpoint=oppo")" 'title%22%3A%22Example'

# ================= many devices (unicast_batch) ================================================
mock_reset
res=$(batch 2500)
check_eq "batch: 2500 regIds: 300 invalid_token (10000), the others sent" "$res" \
  "invalid_token:10000=300,sent:=2200"
stats=$(mock /_mock/stats)
# this push's notification is 217 bytes: about 450 devices a request under the 100 KB bound
check "batch: 2500 regIds in 6 requests (OPPO's byte bound before its 1000 messages)" "$stats" '"oppo":6,'
check "batch: no new token" "$stats" '"oppo_token":0'
last=$(mock "/_mock/last?endpoint=oppo")
check "batch: path" "$last" '"path":"/server/v1/message/notification/unicast_batch"'
check "batch: messages, a JSON array" "$last" '"body":"messages=%5B%7B%22target_type%22%3A2'
res=$(many "ARRAY['oppo-ok-a', 'oppo-baddevice-b', 'oppo-ok-c']")
check_eq "batch: a bad regId alone invalid_token" "$res" "sent:,invalid_token:10000,sent:"

# ================= throttle, 5xx, timeouts =====================================================
out=$(vt oppo-throttle1-1)
check "flow control (-2) -> retry" "$out" '"error": "-2: Service in Flow Control"'
check "flow control: retry at the senders' back-off" "$out" '"retry_after_ms": 0'
out=$(vt oppo-throttle1-1)
check "throttle over -> sent" "$out" '"outcome": "sent"'
out=$(vt oppo-fail5xx1-1)
check "503 -> retry" "$out" '"outcome": "retry"'
check "503 status kept" "$out" '"http_status": 503'
out=$(vt oppo-error500-1)
check "500 -> retry" "$out" '"http_status": 500'
out=$(vt oppo-drop1-1)
check "drop -> retry" "$out" '"outcome": "retry"'
out=$(vt oppo-slow3000-1)
check "timeout -> retry" "$out" '"error": "timeout"'

# ================= a token that expired mid-run: refused (11), renewed once ====================
expired=$(mock "/_mock/token?vendor=oppo&ttl=-10" | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4)
sql "SELECT _auth_token_put('oppo', config, '$expired', 86400) FROM vendor_configs WHERE vendor = 'oppo'" >/dev/null
mock_reset
res=$(many "ARRAY['oppo-renew-1', 'oppo-renew-2', 'oppo-unregistered-r']")
check_eq "renewal: expired token renewed and the batch sent" "$res" "sent:,sent:,invalid_token:10000"
stats=$(mock /_mock/stats)
check "renewal: renewed once" "$stats" '"oppo_token":1'
check "renewal: refused once (11), then sent" "$stats" '"oppo":2,'

# ================= wrong credentials ===========================================================
sql "SELECT push_app_create('op_bad')" >/dev/null
sql "SELECT push_vendor_set('op_bad', 'oppo', jsonb_build_object('app_key', 'oppo-key', 'master_secret', 'wrong', 'default_title', 'T', 'endpoint', '$base'))" >/dev/null
out=$(sql "SELECT push_vendor_test('op_bad', 'oppo', 'oppo-ok-x', '$PUSH'::jsonb)")
check "wrong master_secret -> failed" "$out" '"error": "OPPO auth answered code 16: Invalid Sign"'
check "wrong master_secret: not retried" "$out" '"outcome": "failed"'
sql "SELECT push_vendor_set('op_bad', 'oppo', jsonb_build_object('app_key', 'other-key', 'master_secret', 'm', 'endpoint', '$base'))" >/dev/null
out=$(sql "SELECT push_vendor_test('op_bad', 'oppo', 'oppo-ok-x', '$PUSH'::jsonb)")
check "unknown app_key -> failed" "$out" '"error": "OPPO auth answered code 14: Invalid AppKey"'

# ================= through push_send and the senders ==========================================
mock_reset
sql "SELECT push_device_register('op', 'oppo' || i, 'android', 'oppo', 'oppo' || CASE WHEN i = 3 THEN '-unregistered-' ELSE '-dev-' END || i)
     FROM generate_series(1, 4) i" >/dev/null
task=$(sql "SELECT push_send('op', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"618 sale\", \"android\": {\"title\": \"618\"}}}}'::jsonb)")
if wait_for 30 "SELECT count(*) = 4 FROM deliveries WHERE task_id = '$task' AND status IN ('sent', 'invalid_token')"; then
  ok "push_send: every delivery has an outcome"
else
  fail "push_send: outcomes: $(sql "SELECT string_agg(status || ':' || coalesce(error, ''), ',') FROM deliveries WHERE task_id = '$task'")"
fi
res=$(sql "SELECT string_agg(status || '=' || n, ',' ORDER BY status) FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1) d")
check_eq "push_send: 3 sent and 1 invalid_token" "$res" "invalid_token=1,sent=3"
check "push_send: one unicast_batch for the 4 devices" "$(mock /_mock/stats)" '"oppo":1,'

# ================= the app's daily quota (33): last, it holds the credential until 16:00 UTC ===
mock_reset
# seconds until OPPO's day ends (00:00 China time, 16:00 UTC)
reset_s=$(( ( ( $(date +%s) + 28800 ) / 86400 + 1 ) * 86400 - 28800 - $(date +%s) ))
out=$(vt oppo-quota-1)
check "quota: 33 -> retry" "$out" '"error": "33: The number of messages exceeds the daily limit"'
check_within "quota: retried after the reset, in $reset_s s (+ up to 5 min), in ms" \
  "$(grep -o '"retry_after_ms": [0-9]*' <<<"$out" | grep -o '[0-9]*$')" \
  $(( (reset_s - 5) * 1000 )) $(( (reset_s + 305) * 1000 )) "$out"
out=$(vt oppo-ok-5)
check "quota: the app's next send is held" "$out" '"error": "held until '
check "quota: held, and why" "$out" "the app's oppo daily quota is spent"
check "quota: held -> retry" "$out" '"outcome": "retry"'
check "quota: the held send never reached OPPO" "$(mock /_mock/stats)" '"oppo":1,'
peek=$(sql "SELECT _auth_token_peek('oppo', config) FROM vendor_configs WHERE vendor = 'oppo' AND app_id = (SELECT app_id FROM apps WHERE app = 'op')")
check "quota: the hold is in shared memory" "$peek" '"held_for_s": '
# through the senders: every delivery of the task (the 3 devices left: oppo3 was unregistered
# above) stays queued until the reset, tried once
sleep 1.1	# broadcasts of an app are at least a second apart
task=$(sql "SELECT push_send('op', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"more\", \"android\": {\"title\": \"618\"}}}}'::jsonb)")
if wait_for 30 "SELECT count(*) = 3 FROM deliveries WHERE task_id = '$task' AND status = 'queued' AND attempts = 1"; then
  ok "quota: the task's deliveries are kept, queued"
else
  fail "quota: deliveries: $(sql "SELECT string_agg(status || '/' || attempts || ':' || coalesce(error, ''), ',') FROM deliveries WHERE task_id = '$task'")"
fi
res=$(sql "SELECT bool_and(send_at BETWEEN now() + make_interval(secs => $reset_s - 60) AND now() + make_interval(secs => $reset_s + 360)) FROM deliveries WHERE task_id = '$task'")
check_eq "quota: each retried after the reset" "$res" "t"
res=$(sql "SELECT state || ':queued=' || queued || ':sent=' || sent || ':failed=' || failed FROM push_task_progress WHERE task_id = '$task'")
check_eq "quota: push_task_progress shows them queued" "$res" "sending:queued=3:sent=0:failed=0"
check "quota: push_deliveries shows why" "$(sql "SELECT error FROM push_deliveries WHERE task_id = '$task' LIMIT 1")" "the app's oppo daily quota is spent"
sleep 2
res=$(sql "SELECT sum(attempts) FROM deliveries WHERE task_id = '$task'")
check_eq "quota: no retry storm (one attempt each after 2 s)" "$res" "3"
check "quota: OPPO saw none of them" "$(mock /_mock/stats)" '"oppo":1,'
finish
