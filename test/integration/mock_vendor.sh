#!/usr/bin/env bash
# Integration test of the mock vendor server (test/mock_vendor): every endpoint's success
# path, every validation the real vendor does, every injected fault, and the introspection
# endpoints, driven with the curl CLI over TLS (HTTP/2 and HTTP/1.1) and plain HTTP/1.1.
#
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir), optional MOCK_WRAPPER (e.g.
# "valgrind --leak-check=full --error-exitcode=99") to run the mock under a checker.
set -uo pipefail
top=${PUSHPLAN_TOP:?}
work=${PUSHPLAN_WORK:?}
port=55302
plain=55303
base=https://127.0.0.1:$port
pbase=http://127.0.0.1:$plain
mkdir -p "$work"

# ---- keys, certificate, configuration, the mock (test/mock_vendor/env.sh) -----------------
. "$top/test/mock_vendor/env.sh"
trap mock_stop EXIT
mock_start "$work" $port $plain || exit 1
# keys the mock does not know, for the signature checks
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
  openssl pkcs8 -topk8 -nocrypt -out "$work/other.p8"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/other.key" 2>/dev/null

# ---- helpers ---------------------------------------------------------------------------
failures=0
checks=0
ok() { checks=$((checks + 1)); echo "ok   $1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $1"; }

# req ARGS...: runs curl, sets STATUS, BODY, HDRS (response headers), TIME, RC
req() {
  local out
  out=$(curl -sS --max-time 10 --cacert "$work/cert.pem" -o "$work/body" -D "$work/hdrs" \
         -w '%{http_code} %{time_total}' "$@" 2>"$work/curl.err")
  RC=$?
  STATUS=${out%% *}
  TIME=${out##* }
  BODY=$(cat "$work/body" 2>/dev/null || true)
  HDRS=$(tr -d '\r' < "$work/hdrs" 2>/dev/null || true)
  rm -f "$work/body" "$work/hdrs"
}

# expect NAME STATUS [BODY_SUBSTRING]
expect() {
  if [ "$STATUS" = "$2" ] && { [ -z "${3:-}" ] || [[ "$BODY" == *"$3"* ]]; }; then
    ok "$1"
  else
    fail "$1: wanted $2 ${3:-}, got $STATUS $BODY (curl rc $RC)"
  fi
}

# header NAME HEADER VALUE_SUBSTRING
header() {
  # a here-string, not a pipe: under pipefail, grep -q exiting early makes echo die of SIGPIPE
  if grep -qi "^$2: .*$3" <<< "$HDRS"; then ok "$1"; else fail "$1: no '$2: $3' in: $HDRS"; fi
}

now=$(date +%s)
es256() { "$mock_src/jwt_sign" es256 "$1" "{\"alg\":\"ES256\",\"kid\":\"$2\"}" "$3"; }
rs256() { "$mock_src/jwt_sign" rs256 "$1" '{"alg":"RS256","typ":"JWT"}' "$2"; }
JWT=$(es256 "$work/apns.p8" KEY1234567 "{\"iss\":\"TEAM123456\",\"iat\":$now}")
HEX=$(printf '%064x' 12345)

# apns TOKEN [curl args...]: a valid alert push; AUTH, TOPIC, PTYPE, PAYLOAD override its parts
apns() {
  local tok=$1; shift
  req --http2 -X POST "$base/3/device/$tok" -H "authorization: ${AUTH:-bearer $JWT}" \
    -H "apns-topic: ${TOPIC-com.example.app}" -H "apns-push-type: ${PTYPE:-alert}" \
    --data-binary "${PAYLOAD-{\"aps\":{\"alert\":\"hello\"\}\}}" "$@"
}
# apns_raw TOKEN [curl args...]: nothing preset but the method
apns_raw() { local tok=$1; shift; req --http2 -X POST "$base/3/device/$tok" "$@"; }

# token_count TOKEN STATUS: how many answers of STATUS the mock recorded for TOKEN
token_count() {
  curl -s --max-time 10 --cacert "$work/cert.pem" "$base/_mock/stats?token=$1" |
    grep -o "\"$2\":[0-9]*" | tail -n 1 | cut -d: -f2
}

# ================= APNs =================================================================
apns "$HEX"
expect "apns: valid push" 200
header "apns: apns-id returned" apns-id '[0-9A-F-]\{36\}'
apns "$HEX" -H 'apns-id: 123e4567-e89b-12d3-a456-426614174000'
header "apns: apns-id echoed" apns-id 123e4567-e89b-12d3-a456-426614174000
apns "test-device-1"
expect "apns: test token accepted" 200
apns_raw "$HEX" -H 'apns-topic: com.example.app' -H 'apns-push-type: alert' --data-binary '{"aps":{}}'
expect "apns: missing provider token" 403 '"reason":"MissingProviderToken"'
BAD=$(es256 "$work/other.p8" KEY1234567 "{\"iss\":\"TEAM123456\",\"iat\":$now}")
AUTH="bearer $BAD" apns "$HEX"
expect "apns: bad JWT signature" 403 '"reason":"InvalidProviderToken"'
BAD=$(es256 "$work/apns.p8" OTHERKEY00 "{\"iss\":\"TEAM123456\",\"iat\":$now}")
AUTH="bearer $BAD" apns "$HEX"
expect "apns: unknown key id" 403 '"reason":"InvalidProviderToken"'
BAD=$(es256 "$work/apns.p8" KEY1234567 "{\"iss\":\"OTHERTEAM1\",\"iat\":$now}")
AUTH="bearer $BAD" apns "$HEX"
expect "apns: wrong team" 403 '"reason":"InvalidProviderToken"'
# several teams: each key belongs to one team, and a connection to the first team and key on it
T2=$(es256 "$work/apns_t2.p8" KEY7654321 "{\"iss\":\"TEAM765432\",\"iat\":$now}")
K2=$(es256 "$work/apns_k2.p8" KEY2222222 "{\"iss\":\"TEAM123456\",\"iat\":$now}")
AUTH="bearer $T2" apns "$HEX"
expect "apns: a second team's key" 200
BAD=$(es256 "$work/apns_t2.p8" KEY7654321 "{\"iss\":\"TEAM123456\",\"iat\":$now}")
AUTH="bearer $BAD" apns "$HEX"
expect "apns: a key's tokens carry its own team" 403 '"reason":"InvalidProviderToken"'
# one_connection JWT...: a push per JWT, in order, on one connection (curl --next reuses it);
# prints "<status> <connections opened> <reason>" per push
one_connection() {
  local args=() j
  for j in "$@"; do
    [ ${#args[@]} -gt 0 ] && args+=(--next)
    args+=(--http2 -sS --max-time 10 --cacert "$work/cert.pem" -X POST "$base/3/device/$HEX"
      -H "authorization: bearer $j" -H 'apns-topic: com.example.app' -H 'apns-push-type: alert'
      --data-binary '{"aps":{"alert":"x"}}' -w ' %{http_code} %{num_connects}\n')
  done
  curl "${args[@]}" | sed 's/^{"reason":"\([A-Za-z]*\)"}\(.*\)$/\2 \1/; s/^ //'
}
conn_stat() { curl -s --max-time 10 --cacert "$work/cert.pem" "$base/_mock/stats" | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }
got=$(one_connection "$JWT" "$JWT" "$T2" "$JWT" | tr '\n' ',')
if [ "$got" = "200 1,200 0,403 0 InvalidProviderToken,200 0," ]; then ok "apns: a connection is its first team's: another team's token on it gets 403 InvalidProviderToken"
else fail "apns: two teams on one connection: $got"; fi
got=$(one_connection "$T2" "$JWT" | tr '\n' ',')
if [ "$got" = "200 1,403 0 InvalidProviderToken," ]; then ok "apns: ... whichever team comes first"
else fail "apns: two teams on one connection, second team first: $got"; fi
got=$(one_connection "$JWT" "$K2" "$JWT" | tr '\n' ',')
if [ "$got" = "200 1,429 0 TooManyProviderTokenUpdates,200 0," ]; then ok "apns: another key of the same team on it gets 429 TooManyProviderTokenUpdates"
else fail "apns: two keys on one connection: $got"; fi
if [ "$(conn_stat apns_two_teams) $(conn_stat apns_two_keys)" = "2 1" ]; then ok "apns: /_mock/stats counts the connections that carried two teams, two keys"
else fail "apns: stats: $(curl -s --max-time 10 --cacert "$work/cert.pem" "$base/_mock/stats" | grep -o '"connections":{[^}]*}')"; fi
BAD=$(es256 "$work/apns.p8" KEY1234567 "{\"iss\":\"TEAM123456\",\"iat\":$((now - 3700))}")
AUTH="bearer $BAD" apns "$HEX"
expect "apns: provider token older than an hour" 403 '"reason":"ExpiredProviderToken"'
AUTH="bearer not.a.jwt" apns "$HEX"
expect "apns: malformed provider token" 403 '"reason":"InvalidProviderToken"'
TOPIC=com.other.app apns "$HEX"
expect "apns: topic not ours" 400 '"reason":"TopicDisallowed"'
PTYPE=voip apns "$HEX"
expect "apns: voip needs the .voip topic" 400 '"reason":"BadTopic"'
PTYPE=voip TOPIC=com.example.app.voip apns "$HEX"
expect "apns: voip on .voip topic" 200
TOPIC= apns "$HEX"
expect "apns: missing topic" 400 '"reason":"MissingTopic"'
PTYPE=shout apns "$HEX"
expect "apns: unknown push type" 400 '"reason":"InvalidPushType"'
apns "$HEX" -H 'apns-priority: 7'
expect "apns: bad priority" 400 '"reason":"BadPriority"'
PTYPE=background PAYLOAD='{"aps":{"content-available":1}}' apns "$HEX"
expect "apns: background at priority 10" 400 '"reason":"BadPriority"'
PTYPE=background PAYLOAD='{"aps":{"alert":"x"}}' apns "$HEX" -H 'apns-priority: 5'
expect "apns: background without content-available" 400 '"reason":"BadPayload"'
PTYPE=background PAYLOAD='{"aps":{"content-available":1}}' apns "$HEX" -H 'apns-priority: 5'
expect "apns: background push" 200
apns "$HEX" -H "apns-collapse-id: $(printf 'c%.0s' $(seq 65))"
expect "apns: collapse id over 64 bytes" 400 '"reason":"BadCollapseId"'
apns "$HEX" -H "apns-collapse-id: $(printf 'c%.0s' $(seq 64))"
expect "apns: collapse id of 64 bytes" 200
apns "$HEX" -H 'apns-id: not-a-uuid'
expect "apns: bad apns-id" 400 '"reason":"BadMessageId"'
apns "$HEX" -H 'apns-expiration: tomorrow'
expect "apns: bad expiration" 400 '"reason":"BadExpirationDate"'
apns "$HEX" -H 'apns-priority: 5' -H 'apns-priority: 10'
expect "apns: duplicate header" 400 '"reason":"DuplicateHeaders"'
big=$(head -c 4100 /dev/zero | tr '\0' 'x')
PAYLOAD="{\"aps\":{\"alert\":\"$big\"}}" apns "$HEX"
expect "apns: payload over 4096 bytes" 413 '"reason":"PayloadTooLarge"'
ok4096=$(head -c $((4096 - 20)) /dev/zero | tr '\0' 'x')
PAYLOAD="{\"aps\":{\"alert\":\"$ok4096\"}}" apns "$HEX"
expect "apns: payload of exactly 4096 bytes" 200
PAYLOAD= apns "$HEX"
expect "apns: empty payload" 400 '"reason":"PayloadEmpty"'
PAYLOAD='{"alert":"no aps"}' apns "$HEX"
expect "apns: payload without aps" 400 '"reason":"BadPayload"'
PAYLOAD='{"aps":' apns "$HEX"
expect "apns: payload not JSON" 400 '"reason":"BadPayload"'
apns "not-a-token"
expect "apns: malformed device token" 400 '"reason":"BadDeviceToken"'
apns ""
expect "apns: missing device token" 400 '"reason":"MissingDeviceToken"'
apns "$HEX" -X GET
expect "apns: GET" 405 '"reason":"MethodNotAllowed"'
req --http1.1 -X POST "$base/3/device/$HEX" -H "authorization: bearer $JWT" \
  -H 'apns-topic: com.example.app' -H 'apns-push-type: alert' --data-binary '{"aps":{}}'
expect "apns: HTTP/1.1 refused" 505

# ---- APNs faults ----
apns "test-unregistered-1"
expect "apns fault: unregistered" 410 '"reason":"Unregistered","timestamp":'
apns "test-baddevice-1"
expect "apns fault: baddevice" 400 '"reason":"BadDeviceToken"'
for i in 1 2; do
  apns "test-throttle2-a"
  expect "apns fault: throttle2 request $i" 429 '"reason":"TooManyRequests"'
  header "apns fault: throttle2 request $i retry-after" retry-after 1
done
apns "test-throttle2-a"
expect "apns fault: throttle2 request 3 succeeds" 200
apns "test-fail5xx1-a"
expect "apns fault: fail5xx1 request 1" 503 '"reason":"ServiceUnavailable"'
apns "test-fail5xx1-a"
expect "apns fault: fail5xx1 request 2 succeeds" 200
for i in 1 2; do
  apns "test-error500-a"
  expect "apns fault: error500 request $i" 500 '"reason":"InternalServerError"'
done
apns "test-slow400-a"
expect "apns fault: slow400 answers" 200
if awk "BEGIN{exit !($TIME >= 0.4)}"; then ok "apns fault: slow400 took $TIME s"; else fail "apns fault: slow400 took only $TIME s"; fi
apns "test-drop1-a"
if [ "$RC" -ne 0 ] && [ "$STATUS" = "000" ]; then ok "apns fault: drop1 closes the connection (curl rc $RC)"
else fail "apns fault: drop1 answered $STATUS (rc $RC)"; fi
apns "test-drop1-a"
expect "apns fault: drop1 then succeeds" 200
# goaway: the answer comes, then the connection ends, so a second push opens a new one
conns=$(curl -s --max-time 10 --cacert "$work/cert.pem" --http2 -w '%{num_connects}\n' -o /dev/null -o /dev/null \
  -H "authorization: bearer $JWT" -H 'apns-topic: com.example.app' -H 'apns-push-type: alert' \
  --data-binary '{"aps":{}}' "$base/3/device/test-goaway-a" "$base/3/device/$HEX" | tr '\n' ' ')
[ "$conns" = "1 1 " ] && ok "apns fault: goaway ends the connection" || fail "apns fault: goaway: connects per request '$conns'"
conns=$(curl -s --max-time 10 --cacert "$work/cert.pem" --http2 -w '%{num_connects}\n' -o /dev/null -o /dev/null \
  -H "authorization: bearer $JWT" -H 'apns-topic: com.example.app' -H 'apns-push-type: alert' \
  --data-binary '{"aps":{}}' "$base/3/device/$HEX" "$base/3/device/$HEX" | tr '\n' ' ')
[ "$conns" = "1 0 " ] && ok "apns: connection reused without goaway" || fail "apns: connects per request '$conns'"

[ "$(token_count test-throttle2-a 429)" = 2 ] && [ "$(token_count test-throttle2-a 200)" = 1 ] &&
  ok "stats: throttle2 counted 2 x 429, 1 x 200" || fail "stats: throttle2 counts"
[ "$(token_count test-drop1-a drop)" = 1 ] && [ "$(token_count test-drop1-a requests)" = 2 ] &&
  ok "stats: drop counted" || fail "stats: drop counts"
# stall: that connection is neither read nor answered any more, others go on; it ends when the
# client leaves
curl -s -o /dev/null --max-time 3 --cacert "$work/cert.pem" --http2 -H "authorization: bearer $JWT" \
  -H 'apns-topic: com.example.app' -H 'apns-push-type: alert' --data-binary '{"aps":{}}' \
  "$base/3/device/test-stall1-a" 2>/dev/null &
stall_pid=$!
sleep 0.5
apns "$HEX"
expect "apns fault: stall1 leaves the other connections answering" 200
wait $stall_pid
rc=$?
[ $rc -eq 28 ] && ok "apns fault: stall1 is never answered (curl timed out)" || fail "apns fault: stall1: curl rc $rc"
open_conns() { curl -s --max-time 10 --cacert "$work/cert.pem" "$base/_mock/stats" | grep -o '"open":[0-9]*' | cut -d: -f2; }
for ((i = 0; i < 20; i++)); do [ "$(open_conns)" = 1 ] && break; sleep 0.1; done
[ "$(open_conns)" = 1 ] && ok "apns fault: the stalled connection is closed once the client leaves" \
  || fail "apns fault: stall1: $(open_conns) connections open"
apns "test-stall1-a"
expect "apns fault: stall1 then succeeds" 200
[ "$(token_count test-stall1-a stall)" = 1 ] && [ "$(token_count test-stall1-a requests)" = 2 ] &&
  ok "stats: stall counted" || fail "stats: stall counts"
req "$base/_mock/last?token=test-slow400-a"
expect "last: APNs request recorded" 200 '"path":"/3/device/test-slow400-a"'
[[ "$BODY" == *'"apns-topic":"com.example.app"'* && "$BODY" == *'"body":"{\"aps\":{\"alert\":\"hello\"}}"'* ]] &&
  ok "last: headers and body" || fail "last: $BODY"
recv=$(sed -n 's/.*"received_at_us":\([0-9]*\).*/\1/p' <<< "$BODY")
now_us=$(date +%s%6N)
[ -n "$recv" ] && [ "$recv" -le "$now_us" ] && [ "$recv" -gt $((now_us - 120000000)) ] &&
  ok "last: received_at_us is the arrival time (µs since the epoch)" || fail "last: received_at_us '$recv', now $now_us"

# ================= FCM ==================================================================
fcm_claims() {
  echo "{\"iss\":\"sa@mock-project.iam.gserviceaccount.com\",\"scope\":\"${1:-https://www.googleapis.com/auth/firebase.messaging}\",\"aud\":\"${2:-$base/token}\",\"iat\":${3:-$now},\"exp\":${4:-$((now + 3600))}}"
}
fcm_token() {
  req --http2 "$base/token" --data-urlencode 'grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer' \
    --data-urlencode "assertion=$1"
}
fcm_token "$(rs256 "$work/fcm.key" "$(fcm_claims)")"
expect "fcm oauth: service account JWT exchanged" 200 '"expires_in":3599,"token_type":"Bearer"'
FCM_AT=$(echo "$BODY" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
fcm_token "$(rs256 "$work/other.key" "$(fcm_claims)")"
expect "fcm oauth: bad signature" 400 '"error":"invalid_grant"'
fcm_token "$(rs256 "$work/fcm.key" "$(fcm_claims '' https://example.com/token)")"
expect "fcm oauth: wrong audience" 400 '"error":"invalid_grant"'
fcm_token "$(rs256 "$work/fcm.key" "$(fcm_claims https://www.googleapis.com/auth/cloud-platform.read-only)")"
expect "fcm oauth: missing messaging scope" 400 '"error":"invalid_scope"'
fcm_token "$(rs256 "$work/fcm.key" "$(fcm_claims "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/firebase.messaging")")"
expect "fcm oauth: scope among others" 200 access_token
fcm_token "$(rs256 "$work/fcm.key" "$(fcm_claims '' '' "$now" $((now + 7200)))")"
expect "fcm oauth: lifetime over an hour" 400 'short-lived'
fcm_token "$(rs256 "$work/fcm.key" "$(fcm_claims '' '' $((now - 7200)) $((now - 3600)))")"
expect "fcm oauth: expired assertion" 400 '"error":"invalid_grant"'
req --http2 "$base/token" -d 'grant_type=client_credentials&assertion=x'
expect "fcm oauth: wrong grant type" 400 '"error":"unsupported_grant_type"'

fcm() {
  local body=$1; shift
  req --http2 "$base/v1/projects/mock-project/messages:send" -H "authorization: Bearer ${AT:-$FCM_AT}" \
    -H 'content-type: application/json' --data-binary "$body" "$@"
}
fcm '{"message":{"token":"fcm-device-1","notification":{"title":"t","body":"b"},"data":{"k":"v"},"android":{"priority":"high"}}}'
expect "fcm: send" 200 '"name":"projects/mock-project/messages/'
fcm '{"validate_only":true,"message":{"topic":"news"}}'
expect "fcm: validate_only to a topic" 200 'fake_message_id'
AT=nope fcm '{"message":{"token":"x"}}'
expect "fcm: unknown access token" 401 '"status":"UNAUTHENTICATED"'
req --http2 "$base/v1/projects/mock-project/messages:send" --data-binary '{"message":{"token":"x"}}'
expect "fcm: no access token" 401 '"status":"UNAUTHENTICATED"'
req "$base/_mock/token?vendor=fcm&ttl=-10"
OLD=$(echo "$BODY" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
AT=$OLD fcm '{"message":{"token":"x"}}'
expect "fcm: expired access token" 401 '"status":"UNAUTHENTICATED"'
req --http2 "$base/v1/projects/other-project/messages:send" -H "authorization: Bearer $FCM_AT" \
  --data-binary '{"message":{"token":"x"}}'
expect "fcm: another project" 403 '"status":"PERMISSION_DENIED"'
fcm '{"message":{"token":"a","topic":"b"}}'
expect "fcm: two targets" 400 "oneof field 'target'"
fcm '{"message":{"notification":{"title":"t"}}}'
expect "fcm: no target" 400 'Recipient of the message is not set'
fcm '{"message":{"token":"a","data":{"n":1}}}'
expect "fcm: non-string data value" 400 "message.data[0].value"
fcm '{"message":{"token":"a","colour":"red"}}'
expect "fcm: unknown field" 400 'Unknown name \"colour\"'
fcm '{"message":{"token":"a"'
expect "fcm: bad JSON" 400 '"status":"INVALID_ARGUMENT"'
fcm "{\"message\":{\"token\":\"a\",\"data\":{\"k\":\"$big\"}}}"
expect "fcm: message over 4096 bytes" 400 '"errorCode":"INVALID_ARGUMENT"'
fcm '{"message":{"token":"fcm-unregistered-1"}}'
expect "fcm fault: unregistered" 404 '"status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]'
fcm '{"message":{"token":"fcm-baddevice-1"}}'
expect "fcm fault: baddevice" 400 '"errorCode":"INVALID_ARGUMENT"'
fcm '{"message":{"token":"fcm-throttle1-a"}}'
expect "fcm fault: throttle1" 429 '"errorCode":"QUOTA_EXCEEDED"'
header "fcm fault: throttle1 retry-after" retry-after 1
fcm '{"message":{"token":"fcm-throttle1-a"}}'
expect "fcm fault: throttle1 then succeeds" 200
fcm '{"message":{"token":"fcm-fail5xx1-a"}}'
expect "fcm fault: fail5xx1" 503 '"errorCode":"UNAVAILABLE"'
fcm '{"message":{"token":"fcm-fail5xx1-a"}}'
expect "fcm fault: fail5xx1 then succeeds" 200
fcm '{"message":{"token":"fcm-error500"}}'
expect "fcm fault: error500" 500 '"status":"INTERNAL"'
fcm '{"message":{"token":"fcm-drop1-a"}}'
[ "$STATUS" = "000" ] && ok "fcm fault: drop1" || fail "fcm fault: drop1 answered $STATUS"
fcm '{"message":{"token":"fcm-drop1-a"}}'
expect "fcm fault: drop1 then succeeds" 200
fcm '{"message":{"token":"fcm-slow300"}}'
awk "BEGIN{exit !($TIME >= 0.3)}" && ok "fcm fault: slow300 took $TIME s" || fail "fcm fault: slow300 took $TIME s"
req "$base/_mock/last?token=fcm-device-1"
expect "last: FCM body recorded" 200 '\"data\":{\"k\":\"v\"}'

# ================= HMS ==================================================================
req "$base/oauth2/v3/token" -d 'grant_type=client_credentials&client_id=100200300&client_secret=hms-secret'
expect "hms oauth: client credentials" 200 '"expires_in":3600,"token_type":"Bearer"'
HMS_AT=$(echo "$BODY" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
req "$base/oauth2/v3/token" -d 'grant_type=client_credentials&client_id=100200300&client_secret=wrong'
expect "hms oauth: wrong secret" 400 'invalid client_secret'
req "$base/oauth2/v3/token" -d 'grant_type=client_credentials&client_id=999&client_secret=hms-secret'
expect "hms oauth: unknown client" 400 'invalid client'
hms() {
  local body=$1; shift
  req --http2 "$base/v1/100200300/messages:send" -H "authorization: Bearer ${AT:-$HMS_AT}" \
    -H 'content-type: application/json' --data-binary "$body" "$@"
}
hms '{"validate_only":false,"message":{"token":["hms-1","hms-2"],"android":{"notification":{"title":"t","body":"b","click_action":{"type":3}}}}}'
expect "hms: all sent" 200 '"code":"80000000","msg":"Success"'
hms '{"message":{"token":["hms-1","hms-unregistered-1","hms-baddevice-2"],"data":"{\"k\":\"v\"}"}}'
expect "hms: some tokens illegal" 200 '"code":"80100000","msg":"{\"success\":1,\"failure\":2,\"illegal_tokens\":[\"hms-unregistered-1\",\"hms-baddevice-2\"]}"'
hms '{"message":{"token":["hms-unregistered-9"]}}'
expect "hms: all tokens invalid" 400 '"code":"80300007"'
toks=$(seq 1001 | sed 's/.*/"t&"/' | paste -sd, -)
hms "{\"message\":{\"token\":[$toks]}}"
expect "hms: 1001 tokens" 400 '"code":"80300010"'
toks=$(seq 1000 | sed 's/.*/"t&"/' | paste -sd, -)
hms "{\"message\":{\"token\":[$toks]}}"
expect "hms: 1000 tokens" 200 '"code":"80000000"'
hms '{"message":{"token":[]}}'
expect "hms: no tokens" 400 '"code":"80300010"'
hms "{\"message\":{\"token\":[\"a\"],\"data\":\"$big\"}}"
expect "hms: message over 4096 bytes" 413 '"code":"80300008"'
hms '{"message":{"token":["a"],"data":{"k":"v"}}}'
expect "hms: data must be a string" 400 '"code":"80100003"'
hms '{"messages":{"token":["a"]}}'
expect "hms: no message" 400 '"code":"80100003"'
AT=forged hms '{"message":{"token":["a"]}}'
expect "hms: bad access token" 401 '"code":"80200001"'
req "$base/_mock/token?vendor=hms&ttl=-5"
OLD=$(echo "$BODY" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
AT=$OLD hms '{"message":{"token":["a"]}}'
expect "hms: expired access token" 401 '"code":"80200003"'
req --http2 "$base/v1/555/messages:send" -H "authorization: Bearer $HMS_AT" --data-binary '{"message":{"token":["a"]}}'
expect "hms: token of another app" 401 '"code":"80200001"'
hms '{"message":{"token":["hms-ok","hms-throttle1-x"]}}'
expect "hms fault: throttle1 (flow control)" 503
header "hms fault: retry-after" retry-after 1
hms '{"message":{"token":["hms-ok","hms-throttle1-x"]}}'
expect "hms fault: throttle1 then succeeds" 200 '"code":"80000000"'
hms '{"message":{"token":["hms-error500"]}}'
expect "hms fault: error500" 500 '"code":"81000001"'
req "$pbase/v1/100200300/messages:send" -H "authorization: Bearer $HMS_AT" --data-binary '{"message":{"token":["hms-plain"]}}'
expect "hms: over plain HTTP/1.1" 200 '"code":"80000000"'
[ "$(token_count hms-ok 503)" = 1 ] && [ "$(token_count hms-ok 200)" = 1 ] &&
  ok "stats: every token of an HMS request counted" || fail "stats: hms-ok counts"

# ================= webhook ==============================================================
hook() {
  local body=$1 key=${2:-wh-secret} sig; shift 2 2>/dev/null || shift
  sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$key" | sed 's/.*= //')
  req "$@" "$base/webhook/shop" -H "x-pushplan-signature: sha256=$sig" \
    -H 'content-type: application/json' --data-binary "$body"
}
hook '{"token":"wh-1","title":"hi"}' wh-secret --http2
expect "webhook: signed" 200 '{"ok":true}'
hook '{"token":"wh-1","title":"hi"}' wrong-secret --http2
expect "webhook: wrong HMAC" 401 'bad signature'
req --http2 "$base/webhook/shop" --data-binary '{"a":1}'
expect "webhook: unsigned" 401 'bad signature'
hook '{"title":"no token"}' wh-secret --http1.1
expect "webhook: over TLS HTTP/1.1 without token" 200
hook '{"token":"wh-throttle1-a"}' wh-secret --http2
expect "webhook fault: throttle1" 429
header "webhook fault: retry-after" retry-after 1
hook '{"token":"wh-throttle1-a"}' wh-secret --http2
expect "webhook fault: throttle1 then succeeds" 200
hook '{"token":"wh-unregistered"}' wh-secret --http2
expect "webhook fault: unregistered" 410
sig=$(printf '%s' '{"token":"wh-plain"}' | openssl dgst -sha256 -hmac wh-secret | sed 's/.*= //')
req "$pbase/webhook/x" -H "x-pushplan-signature: sha256=$sig" --data-binary '{"token":"wh-plain"}'
expect "webhook: plain HTTP/1.1" 200
req "$base/_mock/last?endpoint=webhook"
expect "last: by endpoint" 200 '"path":"/webhook/x"'

# ================= transport and introspection ==========================================
conns=$(curl -s --max-time 10 --http1.1 -w '%{num_connects}\n' -o /dev/null -o /dev/null \
  "$pbase/_mock/stats" "$pbase/_mock/stats" | tr '\n' ' ')
[ "$conns" = "1 0 " ] && ok "http/1.1: keep-alive" || fail "http/1.1: connects per request '$conns'"
req --http2 "$base/nowhere"
expect "unknown path" 404
# many concurrent streams on one connection (h2load from nghttp2-client)
printf '{"aps":{"alert":"load"}}' > "$work/payload.json"
h2load -n 2000 -c 1 -m 200 -d "$work/payload.json" -H "authorization: bearer $JWT" \
  -H 'apns-topic: com.example.app' -H 'apns-push-type: alert' \
  "$base/3/device/test-load" > "$work/h2load.out" 2>&1
grep -q 'status codes: 2000 2xx' "$work/h2load.out" && ok "h2: 2000 pushes, 200 concurrent streams" ||
  { fail "h2: h2load"; tail -n 12 "$work/h2load.out"; }
[ "$(token_count test-load 200)" = 2000 ] && ok "stats: 2000 counted" || fail "stats: load count"
req -X POST "$base/_mock/reset"
expect "reset" 200
req "$base/_mock/stats"
expect "reset: counters cleared" 200 '{"requests":0,"status":{}'
[[ "$BODY" == *'"tokens":{}'* ]] && ok "reset: tokens cleared" || fail "reset: $BODY"
apns "test-throttle2-a"
expect "reset: faults start again" 429

# ---- clean exit on SIGTERM -------------------------------------------------------------
kill -TERM $mock_pid
rc=0
for _ in $(seq 300); do kill -0 $mock_pid 2>/dev/null || break; sleep 0.1; done
wait $mock_pid || rc=$?
trap - EXIT
[ "$rc" = 0 ] && ok "SIGTERM: clean exit" || { fail "SIGTERM: exit code $rc"; cat "$work/mock.err"; }
[ ! -e "$work/mock.pid" ] && ok "SIGTERM: pid file removed" || fail "pid file left"

echo "$checks checks, $failures failed"
[ "$failures" -eq 0 ]
