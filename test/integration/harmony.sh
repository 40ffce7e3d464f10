#!/usr/bin/env bash
# Integration test of HarmonyOS NEXT Push Kit v3 (src/vendor_harmony.c) against the mock vendor:
# what the request carries (checked through /_mock/last: path, push-type, the PS256 JWT the mock
# verified), a batch with some refused tokens split in requests of 1000 (80100000 with the
# reasons: the token's own -> invalid_token, the app's -> failed), flow control (503), the app's
# QPS quota, a 5xx, a JWT signed once and shared through shared memory, an expired one renewed
# once, and real deliveries through push_send and the senders.
#
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir).
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55596 55597 "pushplan.http_timeout = 2000" "pushplan.databases = 'postgres'" \
  "pushplan.senders = 1" "pushplan.express_senders = 0" "pushplan.poll_interval = 200"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
mock() { mock_get "$1"; }

sql "SELECT push_app_create('hm')" >/dev/null
mock_harmony_setup hm psql >/dev/null || { echo "vendor setup failed"; exit 1; }

PUSH='{"to": "all", "body": {"platform": "harmony", "notification": {"alert": "Hello", "harmony": {"title": "Hi", "extras": {"promo": "618"}, "category": "MARKETING"}}, "options": {"time_to_live": 600, "apns_collapse_id": "c1"}}}'
DATA='{"body": {"platform": "harmony", "message": {"msg_content": "sync", "extras": {"k": "v"}}}}'
vt() { sql "SELECT push_vendor_test('hm', 'harmony', '$1', '$2'::jsonb)"; }
# N tokens: every 10th unregistered (noRight), every 25th bad (tokenFormatError), every 7th
# refused for the app's push-type right (noPushTypeRight)
tokens() {
  echo "(SELECT array_agg('hm-' || CASE WHEN i % 10 = 0 THEN 'unregistered-' WHEN i % 25 = 0 THEN 'baddevice-' WHEN i % 7 = 0 THEN 'nopushtyperight-' ELSE 'b-' END || i) FROM generate_series(1, $1) i)"
}

mock_reset
out=$(vt hm-ok-1 "$PUSH")
check "sent" "$out" '"outcome": "sent"'
check "requestId kept" "$out" '"vendor_message_id": "'
last=$(mock "/_mock/last?endpoint=harmony")
check "path" "$last" '"path":"/v3/101700800/messages:send"'
check "bearer JWT" "$last" '"authorization":"Bearer ey'
check "push-type 0 for a notification" "$last" '"push-type":"0"'
check "json" "$last" '"content-type":"application/json"'
check "notification" "$last" '{\"payload\":{\"notification\":{\"category\":\"MARKETING\",\"title\":\"Hi\",\"body\":\"Hello\",\"notifyId\":'
check "extras as clickAction data" "$last" '\"clickAction\":{\"actionType\":0,\"data\":{\"promo\":\"618\"}}'
check "ttl and biTag" "$last" '\"pushOptions\":{\"ttl\":600,\"biTag\":\"'
check "token list" "$last" '\"target\":{\"token\":[\"hm-ok-1\"]}}'
jwt=$(grep -o '"authorization":"Bearer [^"]*"' <<<"$last" | cut -d' ' -f2 | tr -d '"')
hdr=$(cut -d. -f1 <<<"$jwt" | tr '_-' '/+' | base64 -d 2>/dev/null)
claims=$(cut -d. -f2 <<<"$jwt" | tr '_-' '/+' | base64 -d 2>/dev/null)
check "JWT header: kid, PS256" "$hdr" '{"kid":"harmony-kid-1","typ":"JWT","alg":"PS256"'
check "JWT claims: aud, iss = sub_account" "$claims" '{"aud":"https://oauth-login.cloud.huawei.com/oauth2/v3/token","iss":"1017008001","exp":'
out=$(vt hm-ok-2 "$DATA")
check "data message sent" "$out" '"outcome": "sent"'
last=$(mock "/_mock/last?endpoint=harmony")
check "push-type 6 for a data message" "$last" '"push-type":"6"'
check "data message: extraData" "$last" '{\"payload\":{\"extraData\":\"{\\\"k\\\":\\\"v\\\",\\\"msg_content\\\":\\\"sync\\\"}\"}'
check_eq "one JWT for both sessions (shared memory)" "$(grep -o '"authorization":"Bearer [^"]*"' <<<"$last" | cut -d' ' -f2 | tr -d '"')" "$jwt"
peek=$(sql "SELECT _auth_token_peek('harmony', config) FROM vendor_configs WHERE vendor = 'harmony'")
check "cache is in shared memory" "$peek" '"shared": true'

mock_reset
res=$(engine_counts hm harmony "$(tokens 1500)" "$PUSH")
check_eq "1500 tokens: noRight and tokenFormatError invalid_token, noPushTypeRight failed, the rest sent" "$res" \
  "failed:80100000: noPushTypeRight=189,invalid_token:80100000: noRight=150,invalid_token:80100000: tokenFormatError=30,sent:=1131"
check "1500 tokens in 2 requests (1000 + 500)" "$(mock /_mock/stats)" '"harmony":2,'
res=$(engine_outcomes hm harmony "ARRAY['hm-unregistered-a', 'hm-baddevice-b']" "$PUSH")
check_eq "every token refused -> 80300007 invalid_token" "$res" "invalid_token:80300007,invalid_token:80300007"
out=$(vt hm-throttle1-1 "$PUSH")
check "flow control -> retry" "$out" '"outcome": "retry"'
check "flow control 503" "$out" '"http_status": 503'
check "no Retry-After: the senders' back-off" "$out" '"retry_after_ms": 0'
out=$(vt hm-throttle1-1 "$PUSH")
check "flow control over -> sent" "$out" '"outcome": "sent"'
out=$(vt hm-quota-1 "$PUSH")
check "the app's QPS quota -> retry" "$out" '"outcome": "retry"'
check "the app's QPS quota: 503, the senders' back-off" "$out" '"retry_after_ms": 0'
out=$(vt hm-fail5xx1-1 "$PUSH")
check "502 -> retry" "$out" '"http_status": 502'
out=$(vt hm-error500-1 "$PUSH")
check "500 -> retry" "$out" '"outcome": "retry"'
out=$(vt hm-drop1-1 "$PUSH")
check "drop -> retry" "$out" '"outcome": "retry"'
out=$(vt hm-slow3000-1 "$PUSH")
check "timeout -> retry" "$out" '"error": "timeout"'

# a JWT that expired mid-run: refused with 401 80200005, signed again once, the batch sent
now=$(date +%s)
expired=$("$top/test/mock_vendor/jwt_sign" ps256 "$work/harmony.key" '{"kid":"harmony-kid-1","typ":"JWT","alg":"PS256"}' \
  "{\"aud\":\"https://oauth-login.cloud.huawei.com/oauth2/v3/token\",\"iss\":\"1017008001\",\"exp\":$((now - 60)),\"iat\":$((now - 3660))}")
sql "SELECT _auth_token_put('harmony', config, '$expired', 3600) FROM vendor_configs WHERE vendor = 'harmony'" >/dev/null
mock_reset
res=$(engine_outcomes hm harmony "ARRAY['hm-renew-1', 'hm-renew-2', 'hm-baddevice-r']" "$PUSH")
check_eq "expired JWT renewed and the batch sent" "$res" "sent:,sent:,invalid_token:80100000: tokenFormatError"
stats=$(mock /_mock/stats)
check "refused once (401), then sent" "$stats" '"harmony":2,'
check "one 401 and one 200" "$stats" '"status":{"200":1,"401":1}'
peek=$(sql "SELECT _auth_token_peek('harmony', config) FROM vendor_configs WHERE vendor = 'harmony'")
if [[ "$peek" == *"$expired"* ]]; then fail "the expired JWT is still cached"; else ok "the expired JWT replaced in the cache"; fi
# a key of another service account: the mock refuses the signature
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/other.key" 2>/dev/null
sql "SELECT push_app_create('hm_bad')" >/dev/null
psql -v key="$(cat "$work/other.key")" -v base="$base" >/dev/null <<'SQL'
SELECT pushplan.push_vendor_set('hm_bad', 'harmony', jsonb_build_object('project_id', '101700800',
    'key_id', 'harmony-kid-1', 'private_key', :'key', 'sub_account', '1017008001', 'endpoint', :'base'));
SQL
out=$(sql "SELECT push_vendor_test('hm_bad', 'harmony', 'hm-ok-x', '$PUSH'::jsonb)")
check "another key's signature -> failed (80200001), after one renewal" "$out" '"error": "80200001: Jwt authentication error"'

# ================= through push_send and the senders ==========================================
mock_reset
sql "SELECT push_device_register('hm', 'h' || i, 'harmony', 'harmony', 'hm' || CASE WHEN i = 3 THEN '-baddevice-' ELSE '-dev-' END || i)
     FROM generate_series(1, 4) i" >/dev/null
task=$(sql "SELECT push_send('hm', '{\"to\": \"all\", \"body\": {\"platform\": \"harmony\", \"notification\": {\"alert\": \"618 sale\", \"harmony\": {\"title\": \"618\"}}}}'::jsonb)")
if wait_for 30 "SELECT count(*) = 4 FROM deliveries WHERE status IN ('sent', 'invalid_token')"; then
  ok "push_send: every delivery has an outcome"
else
  fail "push_send: outcomes: $(sql "SELECT string_agg(vendor || ':' || status, ',') FROM deliveries")"
fi
res=$(sql "SELECT string_agg(d.status || '=' || d.n, ',' ORDER BY d.status) FROM (SELECT status, count(*) n FROM deliveries GROUP BY 1) d")
check_eq "push_send: 3 sent and 1 invalid_token" "$res" "invalid_token=1,sent=3"
check "push_send: one request for the 4 devices" "$(mock /_mock/stats)" '"harmony":1,'
check "push_send: biTag is the task" "$(mock "/_mock/last?endpoint=harmony")" "\\\"biTag\\\":\\\"$task\\\""
# a push over 4096 bytes of message is refused at push_send, naming harmony (the app's vendor;
# hms, which serves harmony devices too, would refuse it as well)
big=$(head -c 3990 /dev/zero | tr '\0' 'x')
err=$(sql "SELECT push_send('hm', '{\"to\": \"all\", \"body\": {\"platform\": \"harmony\", \"notification\": {\"alert\": \"$big\", \"harmony\": {\"extras\": {\"k\": \"${big:0:200}\"}}}}}'::jsonb)" 2>&1)
check "push_send refuses a message over 4096 bytes, naming harmony" "$err" '92510: harmony payload for platform "harmony" is'
finish
