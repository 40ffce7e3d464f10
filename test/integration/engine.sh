#!/usr/bin/env bash
# Integration test of the delivery engine (src/engine.c, http.c, auth.c, vendor/*.c) against
# the mock vendor over TLS HTTP/2: every vendor's success path (checked with the mock's
# /_mock/last and /_mock/stats), every fault of the mock's grammar, auth token caching and
# renewal, HMS grouping of 1000 tokens with partial results.
#
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir); optional PG_WRAPPER_CONF: extra
# postgresql.conf lines (e.g. to run the backends under valgrind).
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55500 55501 "pushplan.http_timeout = 2000" ${PG_WRAPPER_CONF:-}
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
mock() { mock_get "$1"; }
reset() { mock_reset; }
# jq-less JSON field: value of "key" in a flat-ish JSON text (first match)
field() { grep -o "\"$2\": *\"[^\"]*\"" <<<"$1" | head -n 1 | sed 's/.*: *"\(.*\)"/\1/'; }

# ---- app and vendors ------------------------------------------------------------------------
sql "SELECT push_app_create('eng')" >/dev/null
configure_vendors eng || { echo "vendor setup failed"; exit 1; }

PUSH='{"to": "all", "body": {"platform": ["android", "ios"], "notification": {"alert": "Hello", "android": {"title": "Hi", "extras": {"promo": "618", "n": 3}}, "ios": {"sound": "default", "badge": "+1", "extras": {"promo": "618"}}}, "options": {"time_to_live": 600, "apns_collapse_id": "c1"}}}'
DATA='{"body": {"platform": ["ios"], "message": {"msg_content": "sync", "extras": {"k": "v"}}}}'
vt() { sql "SELECT push_vendor_test('eng', '$1', '$2', '$3'::jsonb ${4:+, $4})"; }

# ================= APNs ========================================================================
reset
out=$(vt apns test-ok-1 "$PUSH")
check "apns: sent" "$out" '"outcome": "sent"'
check "apns: http 200" "$out" '"http_status": 200'
check "apns: vendor message id is the apns-id" "$out" '"vendor_message_id": "'
last=$(mock "/_mock/last?endpoint=apns")
check "apns: path" "$last" '"path":"/3/device/test-ok-1"'
check "apns: topic" "$last" '"apns-topic":"com.example.app"'
check "apns: push type alert" "$last" '"apns-push-type":"alert"'
check "apns: priority 10" "$last" '"apns-priority":"10"'
check "apns: collapse id" "$last" '"apns-collapse-id":"c1"'
check "apns: expiration 0 without expires_at" "$last" '"apns-expiration":"0"'
check "apns: http2" "$last" '"http2":true'
check "apns: payload alert" "$last" '\"alert\":\"Hello\"'
check "apns: badge +1 sent as 1" "$last" '\"badge\":1'
check "apns: custom key" "$last" '\"promo\":\"618\"'
jwt1=$(grep -o '"authorization":"bearer [^"]*"' <<<"$last")
out=$(vt apns test-ok-2 "$DATA")
check "apns: data message sent" "$out" '"outcome": "sent"'
last=$(mock "/_mock/last?endpoint=apns")
check "apns: background push type" "$last" '"apns-push-type":"background"'
check "apns: background priority 5" "$last" '"apns-priority":"5"'
check "apns: content-available" "$last" '\"content-available\":1'
jwt2=$(grep -o '"authorization":"bearer [^"]*"' <<<"$last")
check_eq "apns: one JWT shared by sessions (shared memory cache)" "$jwt2" "$jwt1"
peek=$(sql "SELECT _auth_token_peek('apns', config) FROM vendor_configs WHERE vendor = 'apns'")
check "apns: cache is in shared memory" "$peek" '"shared": true'
out=$(vt apns test-unregistered-1 "$PUSH")
check "apns: unregistered -> invalid_token" "$out" '"outcome": "invalid_token"'
check "apns: 410 reason" "$out" '"error": "Unregistered"'
out=$(vt apns test-baddevice-1 "$PUSH")
check "apns: baddevice -> invalid_token" "$out" '"error": "BadDeviceToken"'
out=$(vt apns test-throttle1-a "$PUSH")
check "apns: throttle -> retry" "$out" '"outcome": "retry"'
check "apns: throttle Retry-After 1 s" "$out" '"retry_after_ms": 1000'
check "apns: throttle 429" "$out" '"http_status": 429'
out=$(vt apns test-throttle1-a "$PUSH")
check "apns: throttle over -> sent" "$out" '"outcome": "sent"'
out=$(vt apns test-fail5xx1-a "$PUSH")
check "apns: 503 -> retry" "$out" '"error": "ServiceUnavailable"'
out=$(vt apns test-error500-a "$PUSH")
check "apns: 500 -> retry" "$out" '"outcome": "retry"'
out=$(vt apns test-slow3000-a "$PUSH")
check "apns: slower than http_timeout -> retry" "$out" '"error": "timeout"'
check "apns: timeout has no status" "$out" '"http_status": 0'
out=$(vt apns test-drop1-a "$PUSH")
check "apns: dropped connection -> retry" "$out" '"outcome": "retry"'
out=$(vt apns test-drop1-a "$PUSH")
check "apns: after the drop -> sent" "$out" '"outcome": "sent"'
out=$(vt apns test-goaway-a "$PUSH")
check "apns: answer before GOAWAY -> sent" "$out" '"outcome": "sent"'
# an expired provider token (iat over an hour ago) in the cache: refused, renewed, retried once
sql "SELECT _auth_token_put('apns', config, _jwt_es256(config->>'private_key', 'KEY1234567', 'TEAM123456', extract(epoch FROM now())::bigint - 3700), 3600) FROM vendor_configs WHERE vendor = 'apns'" >/dev/null
out=$(vt apns test-ok-3 "$PUSH")
check "apns: refused provider token renewed and retried" "$out" '"outcome": "sent"'
jwt3=$(grep -o '"authorization":"bearer [^"]*"' <<<"$(mock "/_mock/last?endpoint=apns")")
if [ "$jwt3" != "$jwt1" ] && [ -n "$jwt3" ]; then ok "apns: a new JWT after renewal"; else fail "apns: JWT not renewed"; fi

# multiplexing: 300 pushes through one engine, over few connections
reset
conns0=$(grep -o '"accepted":[0-9]*' <<<"$(mock /_mock/stats)" | cut -d: -f2)
res=$(sql "SELECT count(*) FILTER (WHERE r->>'outcome' = 'sent') FROM _engine_send_many('eng', 'apns', (SELECT array_agg('test-many-' || i) FROM generate_series(1, 300) i), '$PUSH'::jsonb) r")
check_eq "apns: 300 pushes through one engine all sent" "$res" 300
stats=$(mock /_mock/stats)
conns=$(grep -o '"accepted":[0-9]*' <<<"$stats" | cut -d: -f2)
# (the second /_mock/stats request is a connection of its own)
engine_conns=$((conns - conns0 - 1))
if [ $engine_conns -le 4 ]; then ok "apns: 300 pushes on at most 4 connections ($engine_conns)"; else fail "apns: $engine_conns connections for 300 pushes"; fi
res=$(sql "SELECT string_agg(r->>'outcome', ',' ORDER BY (r->>'i')::int) FROM _engine_send_many('eng', 'apns', ARRAY['test-ok-x', 'test-unregistered-x', 'test-throttle1-x', 'test-slow500-x'], '$PUSH'::jsonb) r")
check_eq "apns: mixed outcomes in one engine, in order" "$res" "sent,invalid_token,retry,sent"

# ================= FCM =========================================================================
reset
out=$(vt fcm fcm-ok-1 "$PUSH")
check "fcm: sent" "$out" '"outcome": "sent"'
check "fcm: message name kept" "$out" '"vendor_message_id": "projects/mock-project/messages/'
last=$(mock "/_mock/last?endpoint=fcm")
check "fcm: path" "$last" '"path":"/v1/projects/mock-project/messages:send"'
check "fcm: bearer token" "$last" '"authorization":"Bearer '
check "fcm: android ttl" "$last" '\"ttl\":\"600s\"'
check "fcm: data values are strings" "$last" '\"n\":\"3\"'
check "fcm: title from the android block" "$last" '\"title\":\"Hi\"'
out=$(vt fcm fcm-ok-2 "$PUSH" "'ios'")
check "fcm: ios device sent" "$out" '"outcome": "sent"'
check "fcm: ios device gets an apns block" "$(mock "/_mock/last?endpoint=fcm")" '\"apns\":{\"headers\"'
for i in 1 2 3 4 5; do vt fcm "fcm-ok-c$i" "$PUSH" >/dev/null; done
stats=$(mock /_mock/stats)
check "fcm: token endpoint hit once for 7 sends" "$stats" '"fcm_token":1'
out=$(vt fcm fcm-unregistered-1 "$PUSH")
check "fcm: UNREGISTERED -> invalid_token" "$out" '"error": "UNREGISTERED"'
check "fcm: 404" "$out" '"http_status": 404'
out=$(vt fcm fcm-baddevice-1 "$PUSH")
check "fcm: bad registration token -> invalid_token" "$out" '"outcome": "invalid_token"'
out=$(vt fcm fcm-throttle1-1 "$PUSH")
check "fcm: QUOTA_EXCEEDED -> retry" "$out" '"error": "QUOTA_EXCEEDED"'
check "fcm: Retry-After" "$out" '"retry_after_ms": 1000'
out=$(vt fcm fcm-fail5xx1-1 "$PUSH")
check "fcm: UNAVAILABLE -> retry" "$out" '"error": "UNAVAILABLE"'
out=$(vt fcm fcm-error500-1 "$PUSH")
check "fcm: INTERNAL -> retry" "$out" '"outcome": "retry"'
out=$(vt fcm fcm-slow3000-1 "$PUSH")
check "fcm: timeout -> retry" "$out" '"error": "timeout"'
out=$(vt fcm fcm-drop1-1 "$PUSH")
check "fcm: drop -> retry" "$out" '"outcome": "retry"'
out=$(vt fcm fcm-goaway-1 "$PUSH")
check "fcm: goaway -> sent" "$out" '"outcome": "sent"'
out=$(vt fcm fcm-after-goaway "$PUSH")
check "fcm: next send after GOAWAY -> sent" "$out" '"outcome": "sent"'
# an expired access token in the cache: 401 UNAUTHENTICATED, renewed, retried once
expired=$(mock "/_mock/token?vendor=fcm&ttl=-10" | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4)
sql "SELECT _auth_token_put('fcm', config, '$expired', 3600) FROM vendor_configs WHERE vendor = 'fcm'" >/dev/null
reset
out=$(vt fcm fcm-ok-renew "$PUSH")
check "fcm: expired token renewed after 401 and retried" "$out" '"outcome": "sent"'
stats=$(mock /_mock/stats)
check "fcm: one 401 then a token fetch" "$stats" '"401":1'
check "fcm: token fetched once on renewal" "$stats" '"fcm_token":1'
# a token about to expire (inside the 60 s margin) is renewed before use
good=$(mock "/_mock/token?vendor=fcm&ttl=3600" | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4)
sql "SELECT _auth_token_put('fcm', config, '$good', 30) FROM vendor_configs WHERE vendor = 'fcm'" >/dev/null
reset
out=$(vt fcm fcm-ok-margin "$PUSH")
check "fcm: token in its last minute renewed before use" "$(mock /_mock/stats)" '"fcm_token":1'
# bad credentials: the token endpoint refuses -> failed with the reason
psql -v base="$base" <<'SQL' >/dev/null
SET search_path = pushplan, public;
SELECT push_app_create('eng_bad');
SELECT push_vendor_set('eng_bad', 'fcm', jsonb_set(c.config, '{service_account,client_email}', '"other@x.iam.gserviceaccount.com"'))
  FROM vendor_configs c WHERE c.vendor = 'fcm' AND c.app_id = _app_id('eng', 'reader');
SQL
out=$(sql "SELECT push_vendor_test('eng_bad', 'fcm', 'fcm-ok-9', '$PUSH'::jsonb)")
check "fcm: refused credentials -> failed" "$out" '"outcome": "failed"'
check "fcm: refused credentials reason" "$out" 'invalid_grant'

# ================= HMS =========================================================================
reset
out=$(vt hms hms-ok-1 "$PUSH")
check "hms: sent" "$out" '"outcome": "sent"'
check "hms: requestId kept" "$out" '"vendor_message_id": "'
last=$(mock "/_mock/last?endpoint=hms")
check "hms: path" "$last" '"path":"/v1/100200300/messages:send"'
check "hms: click_action" "$last" '\"click_action\":{\"type\":3}'
check "hms: token list" "$last" '\"token\":[\"hms-ok-1\"]'
res=$(sql "SELECT string_agg(r->>'outcome' || ':' || coalesce(r->>'error', ''), ',' ORDER BY (r->>'i')::int) FROM _engine_send_many('eng', 'hms', (SELECT array_agg(CASE WHEN i % 100 = 0 THEN 'hms-unregistered-' ELSE 'hms-g-' END || i) FROM generate_series(1, 1500) i), '$PUSH'::jsonb) r")
sent=$(tr ',' '\n' <<<"$res" | grep -c '^sent:$')
invalid=$(tr ',' '\n' <<<"$res" | grep -c '^invalid_token:80100000$')
check_eq "hms: 1500 tokens: 1485 sent" "$sent" 1485
check_eq "hms: 1500 tokens: 15 illegal -> invalid_token" "$invalid" 15
stats=$(mock /_mock/stats)
check "hms: 1500 tokens in 2 requests (1000 + 500) after the first" "$stats" '"hms":3'
check "hms: token fetched once" "$stats" '"hms_token":1'
res=$(sql "SELECT string_agg(r->>'outcome' || ':' || coalesce(r->>'error', ''), ',') FROM _engine_send_many('eng', 'hms', ARRAY['hms-unregistered-a', 'hms-baddevice-b'], '$PUSH'::jsonb) r")
check_eq "hms: all illegal -> 80300007 invalid_token" "$res" "invalid_token:80300007,invalid_token:80300007"
out=$(vt hms hms-throttle1-1 "$PUSH")
check "hms: flow control -> retry" "$out" '"error": "81000001"'
check "hms: Retry-After" "$out" '"retry_after_ms": 1000'
out=$(vt hms hms-error500-1 "$PUSH")
check "hms: 500 -> retry" "$out" '"outcome": "retry"'
out=$(vt hms hms-slow3000-1 "$PUSH")
check "hms: timeout -> retry" "$out" '"error": "timeout"'
out=$(vt hms hms-drop1-1 "$PUSH")
check "hms: drop -> retry" "$out" '"outcome": "retry"'
out=$(vt hms hms-goaway-1 "$PUSH")
check "hms: goaway -> sent" "$out" '"outcome": "sent"'
expired=$(mock "/_mock/token?vendor=hms&ttl=-10" | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4)
sql "SELECT _auth_token_put('hms', config, '$expired', 3600) FROM vendor_configs WHERE vendor = 'hms'" >/dev/null
out=$(vt hms hms-ok-renew "$PUSH")
check "hms: expired token (80200003) renewed and retried" "$out" '"outcome": "sent"'
res=$(sql "SELECT string_agg(DISTINCT r->>'outcome', ',') FROM _engine_send_many('eng', 'hms', ARRAY['hms-a', 'hms-b', 'hms-c'], '{\"body\": {\"notification\": {\"alert\": \"x\"}, \"options\": {\"multi_language\": {\"en\": {\"alert\": \"hello\"}}}}}'::jsonb, 'android', 'en') r")
check_eq "hms: multi_language group sent" "$res" "sent"
check "hms: multi_language text in the request" "$(mock "/_mock/last?endpoint=hms")" '\"body\":\"hello\"'

# ================= webhook =====================================================================
reset
out=$(vt webhook wh-ok-1 "$PUSH")
check "webhook: sent (signature accepted)" "$out" '"outcome": "sent"'
last=$(mock "/_mock/last?endpoint=webhook")
check "webhook: signature header" "$last" '"x-pushplan-signature":"sha256='
check "webhook: body token" "$last" '\"token\":\"wh-ok-1\"'
check "webhook: body alert" "$last" '\"alert\":\"Hello\"'
out=$(vt webhook wh-unregistered-1 "$PUSH")
check "webhook: 410 -> invalid_token" "$out" '"outcome": "invalid_token"'
out=$(vt webhook wh-baddevice-1 "$PUSH")
check "webhook: 400 -> failed" "$out" '"outcome": "failed"'
out=$(vt webhook wh-throttle1-1 "$PUSH")
check "webhook: 429 -> retry" "$out" '"retry_after_ms": 1000'
out=$(vt webhook wh-fail5xx1-1 "$PUSH")
check "webhook: 503 -> retry" "$out" '"outcome": "retry"'
re='"retry_after_ms": [12]000'   # the date has whole seconds: 1 or 2 s from now
if [[ "$out" =~ $re ]]; then ok "webhook: Retry-After as an HTTP-date (2 s ahead)"
else fail "webhook: Retry-After as an HTTP-date (2 s ahead): wanted $re in: $out"; fi
psql -v base="$base" <<'SQL' >/dev/null
SET search_path = pushplan, public;
SELECT push_vendor_set('eng_bad', 'webhook', jsonb_build_object('url', :'base' || '/webhook/x', 'secret', 'wrong'));
SQL
out=$(sql "SELECT push_vendor_test('eng_bad', 'webhook', 'wh-ok-2', '$PUSH'::jsonb)")
check "webhook: wrong secret -> failed (401)" "$out" '"http_status": 401'

# ================= errors of the SQL face ======================================================
out=$(sql "SELECT push_vendor_test('nope', 'apns', 't', '{}'::jsonb)" 2>&1)
check "vendor_test: unknown app" "$out" '92001: app "nope" does not exist'
out=$(sql "SELECT push_vendor_test('eng_bad', 'apns', 't', '{}'::jsonb)" 2>&1)
check "vendor_test: vendor not configured" "$out" '92501: app "eng_bad" has no apns vendor config'
# every declared vendor is sent to now (OPPO and vivo were the last two): a name that is no vendor
out=$(sql "SELECT push_vendor_test('eng', 'nope', 't', '{}'::jsonb)" 2>&1)
check "vendor_test: vendor the engine does not send to" "$out" '92500: vendor "nope" is not one the delivery engine sends to'

# ================= memory: many sends in one backend stay flat ================================
# libcurl's allocations are not in memory contexts: a leak would show in the backend's RSS.
# (RSS settles after the first rounds: malloc keeps the peak of 1000 concurrent transfers;
# valgrind finds no leak, see doc/vendors.md. 8 MB over 10400 sends is under 800 bytes a send: a
# leaked curl handle or response is kilobytes, while allocator noise under load reached 4 MB.)
round="PERFORM count(*) FROM pushplan._engine_send_many('eng', 'apns', (SELECT array_agg('test-mem-' || g) FROM generate_series(1, 300) g), '$PUSH'::jsonb); PERFORM count(*) FROM pushplan._engine_send_many('eng', 'hms', (SELECT array_agg('hms-mem-' || g) FROM generate_series(1, 1000) g), '$PUSH'::jsonb)"
rss=$(psql -c "DO \$\$ BEGIN FOR k IN 1..3 LOOP $round; END LOOP; END \$\$" \
  -c "SELECT substring(pg_read_file('/proc/self/status') FROM 'VmRSS:\s*(\d+)')" \
  -c "DO \$\$ BEGIN FOR k IN 1..8 LOOP $round; END LOOP; END \$\$" \
  -c "SELECT substring(pg_read_file('/proc/self/status') FROM 'VmRSS:\s*(\d+)')")
rss1=$(sed -n 1p <<<"$rss")
rss2=$(sed -n 2p <<<"$rss")
if [ -n "$rss1" ] && [ -n "$rss2" ] && [ $((rss2 - rss1)) -lt 8192 ]; then
  ok "memory: 10400 more sends grow the backend by $((rss2 - rss1)) kB (< 8 MB)"
else
  fail "memory: backend grew from ${rss1:-?} kB to ${rss2:-?} kB over 10400 sends"
fi

finish
