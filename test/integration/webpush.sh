#!/usr/bin/env bash
# Web Push end to end (src/vendor_webpush.c): push_send -> commit -> senders -> the mock's push
# service over TLS HTTP/2.  The mock checks the VAPID token (ES256 signature against k, aud =
# the endpoint's origin, exp within 24 h, sub), the TTL, Urgency, Topic and Content-Encoding
# headers, and decrypts every body with the subscription's private key: what it decrypted is
# compared with the payload the service worker should read.  Subscriptions gone (410, 404), a
# throttle (429 + Retry-After) and a 5xx end as they should; the VAPID token is one per origin,
# shared by both senders; a second origin gets its own.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55370 55371 "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.poll_interval = 500" "pushplan.http_timeout = 2000" "pushplan.max_attempts = 3" \
  "pushplan.retry_max_backoff = 1"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
sql "SELECT push_app_create('web')" >/dev/null

# ---- the app's VAPID keys: a PEM and its public key in base64url ----------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/vapid.pem" 2>/dev/null
vapid_pub=$(openssl pkey -in "$work/vapid.pem" -pubout -outform DER | tail -c 65 | base64 -w0 | tr '+/' '-_' | tr -d '=')
psql -v pem="$(cat "$work/vapid.pem")" -v pub="$vapid_pub" <<'SQL' || { echo "webpush config refused"; exit 1; }
SELECT pushplan.push_vendor_set('web', 'webpush', jsonb_build_object(
    'vapid_public_key', :'pub', 'vapid_private_key', :'pem', 'subject', 'mailto:ops@example.com'));
SQL
ok "push_vendor_set takes a PEM VAPID key"

# ---- subscriptions: the mock derives each one's keys from its seed -------------------------------
sub() { curl -s --max-time 10 --cacert "$work/cert.pem" "${2:-$base}/_mock/webpush_subscription?seed=$1"; }
devices="[]"
add() { devices=$(jq -c --arg r "$1" --arg t "$2" '. + [{registration_id: $r, platform: "web", vendor: "webpush", token: $t}]' <<<"$devices"); }
for s in web-ok-1 web-ok-2 web-ok-3 web-unregistered-1 web-baddevice-1 web-throttle1-a web-fail5xx1-a \
         web-toolarge-1; do
  add "$s" "$(sub "$s")"
done
# a second origin: the same mock as https://localhost:55370 (the refused VAPID token is renewed
# there, so the first origin's token stays one)
add other-origin "$(sub origin2-ok "https://localhost:55370")"
add web-vapidrefused-1 "$(sub web-vapidrefused-1 "https://localhost:55370")"
check "a subscription of the second origin" "$(jq -r '.[-2].token' <<<"$devices")" '"endpoint":"https://localhost:55370/wp/origin2-ok"'
check_eq "10 browsers registered" "$(sql "SELECT push_device_register_batch('web', '$devices')")" "10"

wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender') AND datname = 'postgres'" \
  && ok "scheduler and 2 senders run" || fail "workers not running"

# ---- the mock refuses what a push service refuses (checked with curl, so these checks can fail) ----
ep="$base/wp/web-ok-1"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$work/cert.pem" "$@"; }
check_eq "mock: no VAPID authorization -> 401" "$(code -X POST -H 'ttl: 60' -H 'content-encoding: aes128gcm' --data-binary x "$ep")" "401"
check_eq "mock: a forged VAPID token -> 403" "$(code -X POST -H 'ttl: 60' -H 'content-encoding: aes128gcm' -H "authorization: vapid t=a.b.c, k=$vapid_pub" --data-binary x "$ep")" "403"

# ---- a broadcast to every browser ---------------------------------------------------------------
mock_reset
PUSH='{"to": "all", "body": {"platform": "web", "notification": {"alert": "618 sale", "web": {"title": "Hot deals", "url": "https://shop.example/618", "icon": "https://shop.example/i.png", "extras": {"promo": "618"}}}, "options": {"time_to_live": 600, "priority": "high", "apns_collapse_id": "promo-618"}}}'
task=$(sql "SELECT push_send('web', '$PUSH')")
wait_for 30 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "broadcast finished" \
  || fail "broadcast not done: $(sql "SELECT status, error, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1, 2")"
check_eq "every browser's outcome" \
  "$(sql "SELECT string_agg(v.registration_id || '=' || d.status, ' ' ORDER BY v.registration_id) FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$task'")" \
  "other-origin=sent web-baddevice-1=invalid_token web-fail5xx1-a=sent web-ok-1=sent web-ok-2=sent web-ok-3=sent web-throttle1-a=sent web-toolarge-1=failed web-unregistered-1=invalid_token web-vapidrefused-1=failed"
check_eq "the throttled (429) and the failing (503) browsers were sent on their second attempt" \
  "$(sql "SELECT string_agg(v.registration_id || ':' || attempts, ',' ORDER BY v.registration_id) FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$task' AND attempts > 1")" \
  "web-fail5xx1-a:2,web-throttle1-a:2"
check_eq "the subscriptions gone (410, 404) are cleared from their devices" \
  "$(sql "SELECT string_agg(registration_id, ',' ORDER BY registration_id) FROM devices WHERE token IS NULL")" "web-baddevice-1,web-unregistered-1"
check "the 410's reason is kept" "$(sql "SELECT error FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$task' AND registration_id = 'web-unregistered-1'")" "HTTP 410"
check "a 413 fails the delivery, with the push service's reason" "$(sql "SELECT error FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$task' AND registration_id = 'web-toolarge-1'")" "HTTP 413: "
check "a refused VAPID token (403) fails after one retry with a new token" "$(sql "SELECT attempts || ' ' || error FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$task' AND registration_id = 'web-vapidrefused-1'")" "1 HTTP 403: vapidrefused"
check_eq "... the mock saw it twice" "$(mock_get '/_mock/stats?token=web-vapidrefused-1' | jq '.tokens["web-vapidrefused-1"].requests')" "2"
check_eq "devices of failed deliveries keep their tokens" "$(sql "SELECT count(*) FROM devices WHERE registration_id IN ('web-toolarge-1', 'web-vapidrefused-1') AND token IS NOT NULL")" "2"
stats=$(mock_get /_mock/stats)
check_eq "the mock counted 13 Web Push requests (10 browsers, 2 retries, 1 with a new VAPID token)" "$(jq .endpoints.webpush <<<"$stats")" "13"
check_eq "... 6 of them 201" "$(jq '.status["201"]' <<<"$stats")" "6"

# ---- what arrived: headers, VAPID, and the decrypted payload --------------------------------------
last=$(mock_get '/_mock/last?token=web-ok-1')
check_eq "POST to the subscription's path" "$(jq -r .path <<<"$last")" "/wp/web-ok-1"
check_eq "over HTTP/2" "$(jq -r .http2 <<<"$last")" "true"
ttl=$(jq -r .headers.ttl <<<"$last")
# (what is left of time_to_live when it is sent)
if [ "$ttl" -gt 590 ] && [ "$ttl" -le 600 ]; then ok "TTL from time_to_live ($ttl)"; else fail "TTL: $ttl"; fi
check_eq "Urgency from options.priority" "$(jq -r .headers.urgency <<<"$last")" "high"
check_eq "Topic from the collapse id" "$(jq -r .headers.topic <<<"$last")" "promo-618"
check_eq "Content-Encoding aes128gcm" "$(jq -r '.headers["content-encoding"]' <<<"$last")" "aes128gcm"
auth1=$(jq -r .headers.authorization <<<"$last")
check "VAPID authorization with the app's public key" "$auth1" ", k=$vapid_pub"
# the claims of "vapid t=<JWT>, k=<key>"
claims_of() {
  local s
  s=$(cut -d' ' -f2 <<<"$1" | sed 's/^t=//; s/,$//' | cut -d. -f2 | tr '_-' '/+')
  while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done
  base64 -d <<<"$s" 2>/dev/null
}
claims=$(claims_of "$auth1")
check_eq "the JWT's aud is the endpoint's origin" "$(jq -r .aud <<<"$claims" 2>/dev/null)" "$base"
check_eq "... its sub the app's subject" "$(jq -r .sub <<<"$claims" 2>/dev/null)" "mailto:ops@example.com"
exp_in=$(( $(jq -r .exp <<<"$claims" 2>/dev/null || echo 0) - $(date +%s) ))
if [ "$exp_in" -gt 39600 ] && [ "$exp_in" -le 43200 ]; then ok "... it expires in 12 hours ($exp_in s)"; else fail "exp in $exp_in s"; fi
want=$(sql "SELECT (_vendor_payload('webpush', '$PUSH', 'web')->'body') || jsonb_build_object('task_id', '$task')")
same=$(psql -v got="$(jq -r .body <<<"$last")" -v want="$want" <<<"SELECT :'got'::jsonb = :'want'::jsonb")
check_eq "the mock decrypted exactly the payload the service worker reads" "$same" "t"
check "... with the title, text and extras" "$(jq -r .body <<<"$last")" '"title":"Hot deals"'
auths=$(for s in web-ok-1 web-ok-2 web-ok-3 web-throttle1-a web-fail5xx1-a; do mock_get "/_mock/last?token=$s" | jq -r .headers.authorization; done | sort -u | wc -l)
check_eq "one VAPID token for the origin, shared by both senders" "$auths" "1"
auth2=$(mock_get '/_mock/last?token=origin2-ok' | jq -r .headers.authorization)
aud2=$(claims_of "$auth2")
check_eq "the second origin has its own token, with its own aud" "$(jq -r .aud <<<"$aud2" 2>/dev/null)" "https://localhost:55370"

# ---- a transactional push to one browser, a data message, a low urgency -------------------------------
mock_reset
task=$(sql "SELECT push_send('web', '{\"to\": {\"registration_id\": [\"web-ok-2\"]}, \"body\": {\"platform\": \"web\", \"message\": {\"msg_content\": \"sync\", \"extras\": {\"k\": \"v\"}}, \"options\": {\"priority\": \"low\"}}}')")
wait_for 10 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$task'" && ok "a transactional push is sent" \
  || fail "not sent: $(sql "SELECT status, error FROM deliveries WHERE task_id = '$task'")"
last=$(mock_get '/_mock/last?token=web-ok-2')
check_eq "... Urgency low" "$(jq -r .headers.urgency <<<"$last")" "low"
# without a collapse id of its own, the Topic is derived from the task (a re-send after a crash
# replaces the first copy at the push service: doc/vendors.md, "Collapse ids")
check_eq "... without a collapse id, a Topic derived from the task" "$(jq -r '.headers.topic // "none"' <<<"$last")" \
  "$(sql "SELECT 'pp' || left(encode(sha256(convert_to('$task', 'UTF8')), 'hex'), 30)")"
check_eq "... the data message decrypted" "$(jq -c '.body | fromjson | .message' <<<"$last")" '{"msg_content":"sync","extras":{"k":"v"}}'

finish
