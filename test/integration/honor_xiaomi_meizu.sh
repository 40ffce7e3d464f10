#!/usr/bin/env bash
# Integration test of Honor, Xiaomi and Meizu (src/vendor_{honor,xiaomi,meizu}.c) against the mock
# vendor: for each, what the request carries (checked through /_mock/last), a batch with some
# invalid tokens split in requests of the vendor's size (1000, 1000, 100), a throttle and a 5xx
# (retry, no Retry-After: the caller's back-off), the auth of each (Honor: an OAuth token fetched
# once, shared through shared memory, and one that expired mid-run renewed once; Xiaomi: the
# key= header; Meizu: the md5 signature), and then real deliveries through push_send and the
# senders.
#
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir).
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55560 55561 "pushplan.http_timeout = 2000" "pushplan.databases = 'postgres'" \
  "pushplan.senders = 1" "pushplan.express_senders = 0" "pushplan.poll_interval = 200"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
mock() { mock_get "$1"; }

sql "SELECT push_app_create('hxm')" >/dev/null
mock_hxm_setup hxm psql >/dev/null || { echo "vendor setup failed"; exit 1; }

PUSH='{"to": "all", "body": {"platform": "android", "notification": {"alert": "Hello", "android": {"title": "Hi", "extras": {"promo": "618"}, "intent": {"url": "https://shop.example/618"}}}, "options": {"time_to_live": 600, "apns_collapse_id": "c1"}}}'
DATA='{"body": {"platform": "android", "message": {"msg_content": "sync", "extras": {"k": "v"}}}}'
vt() { sql "SELECT push_vendor_test('hxm', '$1', '$2', '$3'::jsonb)"; }
# outcome:error of each token, in order, through one engine
many() { sql "SELECT string_agg(r->>'outcome' || ':' || coalesce(r->>'error', ''), ',' ORDER BY (r->>'i')::int) FROM _engine_send_many('hxm', '$1', $2, '$PUSH'::jsonb) r"; }
# counts of outcome:error over a batch of N tokens, every 10th unregistered and every 25th bad
batch() {
  sql "SELECT string_agg(o || '=' || n, ',' ORDER BY o) FROM (SELECT r->>'outcome' || ':' || coalesce(r->>'error', '') o, count(*) n FROM _engine_send_many('hxm', '$1', (SELECT array_agg('$1-' || CASE WHEN i % 10 = 0 THEN 'unregistered-' WHEN i % 25 = 0 THEN 'baddevice-' ELSE 'b-' END || i) FROM generate_series(1, $2) i), '$PUSH'::jsonb) r GROUP BY 1) x"
}

# ================= Honor =======================================================================
mock_reset
out=$(vt honor honor-ok-1 "$PUSH")
check "honor: sent" "$out" '"outcome": "sent"'
check "honor: requestId kept" "$out" '"vendor_message_id": "'
last=$(mock "/_mock/last?endpoint=honor")
check "honor: path" "$last" '"path":"/api/v1/104400500/sendMessage"'
check "honor: bearer token" "$last" '"authorization":"Bearer honor.'
check "honor: timestamp header in ms" "$last" "\"timestamp\":\"$(date +%s | cut -c1-8)"
check "honor: json" "$last" '"content-type":"application/json; charset=UTF-8"'
check "honor: token list" "$last" '\"token\":[\"honor-ok-1\"]'
check "honor: clickAction to the URL" "$last" '\"clickAction\":{\"type\":2,\"url\":\"https://shop.example/618\"}'
check "honor: ttl" "$last" '\"ttl\":\"600s\"'
check "honor: collapse id as tag" "$last" '\"tag\":\"c1\"'
check "honor: extras in data" "$last" '\"data\":\"{\\\"promo\\\":\\\"618\\\"}\"'
tok=$(grep -o '"authorization":"Bearer [^"]*"' <<<"$last")
out=$(vt honor honor-ok-2 "$DATA")
check "honor: data message sent" "$out" '"outcome": "sent"'
last=$(mock "/_mock/last?endpoint=honor")
check "honor: data message has no notification" "$last" '{\"token\":[\"honor-ok-2\"],\"android\":{\"ttl\":\"86400s\"},\"data\":'
check_eq "honor: one token for both sessions (shared memory)" "$(grep -o '"authorization":"Bearer [^"]*"' <<<"$last")" "$tok"
check "honor: token fetched once" "$(mock /_mock/stats)" '"honor_token":1'
peek=$(sql "SELECT _auth_token_peek('honor', config) FROM vendor_configs WHERE vendor = 'honor'")
check "honor: cache is in shared memory" "$peek" '"shared": true'
mock_reset
res=$(batch honor 1500)
check_eq "honor: 1500 tokens: 1320 sent, 30 failTokens, 150 expireTokens" "$res" \
  "invalid_token:expireTokens=150,invalid_token:failTokens=30,sent:=1320"
check "honor: 1500 tokens in 2 requests (1000 + 500)" "$(mock /_mock/stats)" '"honor":2'
res=$(many honor "ARRAY['honor-unregistered-a', 'honor-baddevice-b']")
check_eq "honor: every token refused -> 80300007 invalid_token" "$res" "invalid_token:80300007,invalid_token:80300007"
out=$(vt honor honor-throttle1-1 "$PUSH")
check "honor: flow control -> retry" "$out" '"outcome": "retry"'
check "honor: flow control 503" "$out" '"http_status": 503'
check "honor: no Retry-After: the senders' back-off" "$out" '"retry_after_ms": 0'
out=$(vt honor honor-throttle1-1 "$PUSH")
check "honor: throttle over -> sent" "$out" '"outcome": "sent"'
out=$(vt honor honor-fail5xx1-1 "$PUSH")
check "honor: 5xx -> retry" "$out" '"outcome": "retry"'
out=$(vt honor honor-error500-1 "$PUSH")
check "honor: 500 -> retry" "$out" '"http_status": 500'
out=$(vt honor honor-drop1-1 "$PUSH")
check "honor: drop -> retry" "$out" '"outcome": "retry"'
# a token that expired mid-run: refused with 401 80200003, renewed once, the request sent again
expired=$(mock "/_mock/token?vendor=honor&ttl=-10" | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4)
sql "SELECT _auth_token_put('honor', config, '$expired', 3600) FROM vendor_configs WHERE vendor = 'honor'" >/dev/null
mock_reset
res=$(many honor "ARRAY['honor-renew-1', 'honor-renew-2', 'honor-unregistered-r']")
check_eq "honor: expired token renewed and the batch sent" "$res" "sent:,sent:,invalid_token:expireTokens"
stats=$(mock /_mock/stats)
check "honor: renewed once" "$stats" '"honor_token":1'
check "honor: refused once (401), then sent" "$stats" '"honor":2,'
check "honor: one 401 and two 200 (the token, the send)" "$stats" '"status":{"200":2,"401":1}'
# bad credentials: the token endpoint refuses them, every delivery fails
sql "SELECT push_app_create('hxm_bad')" >/dev/null
sql "SELECT push_vendor_set('hxm_bad', 'honor', jsonb_build_object('app_id', '104400500', 'client_id', 'honor-client', 'client_secret', 'wrong', 'endpoint', '$base', 'token_endpoint', '$base/auth/realms/developer/protocol/openid-connect/token'))" >/dev/null
out=$(sql "SELECT push_vendor_test('hxm_bad', 'honor', 'honor-ok-x', '$PUSH'::jsonb)")
check "honor: wrong client secret -> failed" "$out" '"error": "token endpoint answered HTTP 401: invalid_client'

# ================= Xiaomi ======================================================================
mock_reset
out=$(vt xiaomi xiaomi-ok-1 "$PUSH")
check "xiaomi: sent" "$out" '"outcome": "sent"'
check "xiaomi: message id kept" "$out" '"vendor_message_id": "scm'
last=$(mock "/_mock/last?endpoint=xiaomi")
check "xiaomi: path" "$last" '"path":"/v3/message/regid"'
check "xiaomi: key= header, unescaped" "$last" '"authorization":"key=xiaomi-secret/+="'
check "xiaomi: form" "$last" '"content-type":"application/x-www-form-urlencoded;charset=UTF-8"'
check "xiaomi: ttl in ms" "$last" 'time_to_live=600000'
check "xiaomi: web page click" "$last" 'extra.notify_effect=3&extra.web_uri=https%3A%2F%2Fshop.example%2F618'
check "xiaomi: regid" "$last" 'registration_id=xiaomi-ok-1"'
out=$(vt xiaomi xiaomi-ok-2 "$DATA")
check "xiaomi: data message sent" "$out" '"outcome": "sent"'
check "xiaomi: data message passes through" "$(mock "/_mock/last?endpoint=xiaomi")" 'pass_through=1'
out=$(vt xiaomi xiaomi-ok-3 '{"body": {"notification": {"alert": "no title"}}}')
check "xiaomi: no title: the config's default_title" "$out" '"outcome": "sent"'
check "xiaomi: default_title sent" "$(mock "/_mock/last?endpoint=xiaomi")" 'title=Example'
mock_reset
res=$(batch xiaomi 2500)
check_eq "xiaomi: 2500 regids: bad_regids invalid_token, the others sent" "$res" \
  "invalid_token:bad_regids=300,sent:=2200"
check "xiaomi: 2500 regids in 3 requests" "$(mock /_mock/stats)" '"xiaomi":3'
res=$(many xiaomi "ARRAY['xiaomi-unregistered-a', 'xiaomi-baddevice-b']")
check_eq "xiaomi: every regid refused -> 20301 invalid_token" "$res" "invalid_token:20301,invalid_token:20301"
out=$(vt xiaomi xiaomi-throttle1-1 "$PUSH")
check "xiaomi: rate limited (10027) -> retry" "$out" '"error": "10027: too many requests"'
check "xiaomi: retry at the senders' back-off" "$out" '"retry_after_ms": 0'
out=$(vt xiaomi xiaomi-quota-1 "$PUSH")
check "xiaomi: daily quota (200001) -> retry" "$out" '"error": "200001: daily quota exceeded"'
check "xiaomi: daily quota retried in an hour" "$out" '"retry_after_ms": 3600000'
out=$(vt xiaomi xiaomi-fail5xx1-1 "$PUSH")
check "xiaomi: 503 -> retry" "$out" '"outcome": "retry"'
out=$(vt xiaomi xiaomi-error500-1 "$PUSH")
check "xiaomi: 500 -> retry" "$out" '"http_status": 500'
out=$(vt xiaomi xiaomi-slow3000-1 "$PUSH")
check "xiaomi: timeout -> retry" "$out" '"error": "timeout"'
sql "SELECT push_vendor_set('hxm_bad', 'xiaomi', jsonb_build_object('app_secret', 'wrong', 'package_name', 'com.example.app', 'endpoint', '$base'))" >/dev/null
out=$(sql "SELECT push_vendor_test('hxm_bad', 'xiaomi', 'xiaomi-ok-x', '$PUSH'::jsonb)")
check "xiaomi: wrong secret -> failed" "$out" '"error": "22006: invalid Authorization'
sql "SELECT push_app_create('hxm_nt')" >/dev/null
sql "SELECT push_vendor_set('hxm_nt', 'xiaomi', jsonb_build_object('app_secret', 'xiaomi-secret/+=', 'package_name', 'com.example.app', 'endpoint', '$base'))" >/dev/null
out=$(sql "SELECT push_vendor_test('hxm_nt', 'xiaomi', 'xiaomi-ok-x', '{\"body\": {\"notification\": {\"alert\": \"t\"}}}'::jsonb)")
check "xiaomi: no title and no default_title: refused by Xiaomi" "$out" 'a notification needs a title and a description'

# ================= Meizu =======================================================================
mock_reset
out=$(vt meizu meizu-ok-1 "$PUSH")
check "meizu: sent" "$out" '"outcome": "sent"'
check "meizu: msgId kept" "$out" '"vendor_message_id": "NS'
last=$(mock "/_mock/last?endpoint=meizu")
check "meizu: path" "$last" '"path":"/garcia/api/server/push/varnished/pushByPushId"'
check "meizu: signed" "$last" '&sign='
check "meizu: validTime in hours" "$last" 'validTime%22%3A1'
check "meizu: collapse id as notifyKey" "$last" 'notifyKey%22%3A%22c1%22'
out=$(vt meizu meizu-ok-2 "$DATA")
check "meizu: data message sent" "$out" '"outcome": "sent"'
check "meizu: data message passes through" "$(mock "/_mock/last?endpoint=meizu")" '"path":"/garcia/api/server/push/unvarnished/pushByPushId"'
mock_reset
res=$(batch meizu 250)
check_eq "meizu: 250 pushIds: 110002 and 110003 invalid_token, the others sent" "$res" \
  "invalid_token:110002=25,invalid_token:110003=5,sent:=220"
check "meizu: 250 pushIds in 3 requests (100 a request)" "$(mock /_mock/stats)" '"meizu":3'
out=$(vt meizu meizu-throttle1-1 "$PUSH")
check "meizu: too fast (110010) -> retry" "$out" '"error": "110010: '
check "meizu: retry at the senders' back-off" "$out" '"retry_after_ms": 0'
res=$(sql "SELECT string_agg(r->>'outcome' || ':' || coalesce(r->>'error', '') || ':' || (r->>'retry_after_ms'), ',' ORDER BY (r->>'i')::int) FROM _engine_send_many('hxm', 'meizu', ARRAY['meizu-ok-q', 'meizu-quota-q'], '$PUSH'::jsonb) r")
check_eq "meizu: a device's daily limit (110011) -> that device retried in an hour" "$res" "sent::0,retry:110011:3600000"
out=$(vt meizu meizu-fail5xx1-1 "$PUSH")
check "meizu: busy (1003) -> retry" "$out" '"outcome": "retry"'
out=$(vt meizu meizu-error500-1 "$PUSH")
check "meizu: 500 -> retry" "$out" '"http_status": 500'
sql "SELECT push_vendor_set('hxm_bad', 'meizu', jsonb_build_object('app_id', '110000', 'app_secret', 'wrong', 'default_title', 'T', 'endpoint', '$base'))" >/dev/null
out=$(sql "SELECT push_vendor_test('hxm_bad', 'meizu', 'meizu-ok-x', '$PUSH'::jsonb)")
check "meizu: signed with the wrong secret -> failed" "$out" '"error": "1006: '

# ================= through push_send and the senders ==========================================
# outcomes_per_write 2: an answer's four outcomes are still written in one transaction
psql -c "ALTER SYSTEM SET pushplan.outcomes_per_write = 2" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
mock_reset
sql "SELECT push_device_register('hxm', v || i, 'android', v, v || CASE WHEN i = 3 THEN '-unregistered-' ELSE '-dev-' END || i)
     FROM generate_series(1, 4) i, unnest(ARRAY['honor', 'xiaomi', 'meizu']) v" >/dev/null
task=$(sql "SELECT push_send('hxm', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"618 sale\", \"android\": {\"title\": \"618\"}}}}'::jsonb)")
if wait_for 30 "SELECT count(*) = 12 FROM deliveries WHERE status IN ('sent', 'invalid_token')"; then
  ok "push_send: every delivery has an outcome"
else
  fail "push_send: outcomes: $(sql "SELECT string_agg(vendor || ':' || status, ',') FROM deliveries")"
fi
res=$(sql "SELECT string_agg(d.vendor || ':' || d.status || '=' || d.n, ',' ORDER BY d.vendor, d.status) FROM (SELECT vendor, status, count(*) n FROM deliveries GROUP BY 1, 2) d")
check_eq "push_send: per vendor, 3 sent and 1 invalid_token" "$res" \
  "honor:invalid_token=1,honor:sent=3,meizu:invalid_token=1,meizu:sent=3,xiaomi:invalid_token=1,xiaomi:sent=3"
stats=$(mock /_mock/stats)
check "push_send: one honor request for the 4 devices" "$stats" '"honor":1,'
check "push_send: one xiaomi request" "$stats" '"xiaomi":1,'
check "push_send: one meizu request" "$stats" '"meizu":1,'
check_eq "push_send: each answer's outcomes written together, in one transaction (outcomes_per_write 2)" \
  "$(sql "SELECT string_agg(vendor || '=' || n, ',' ORDER BY vendor) FROM (SELECT vendor, count(DISTINCT xmin::text) n FROM deliveries GROUP BY 1) x")" \
  "honor=1,meizu=1,xiaomi=1"
finish
