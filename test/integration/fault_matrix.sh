#!/usr/bin/env bash
# The vendor fault matrix (doc/reliability.md, "Vendor faults"): every vendor pushplan sends to,
# under every fault a vendor or the network between can show, through the real senders.
#
# Each round injects one fault into two devices of every vendor and pushes to them (a broadcast,
# normal lane); a second later, while the fault goes on, a push to healthy devices of every
# vendor at other hosts (another app) and a transactional push (high lane, the express sender) to
# a healthy APNs and FCM device. It checks that the faulty deliveries end in the documented state
# (doc/vendors.md: sent after a retry, invalid_token, failed after max_attempts with the reason),
# and that every healthy delivery and the transactional push are sent in less than http_timeout. Device faults ride on the
# mock's token keywords (test/mock_vendor/README.md); whole-endpoint faults (a TLS certificate
# the server does not trust, a host name that does not resolve, a server that accepts and never
# reads) are apps whose every vendor points at the broken endpoint; a revocation of every token
# mid-run shows the token vendors renewing once and going on.
#
# Prints the matrix (fault x vendor: final status / attempts used (requests the vendor saw for the two
# devices / answered 2xx)) and writes it to $PUSHPLAN_WORK/matrix.md. About 90 s.
set -uo pipefail
shopt -s extglob
vendors=(apns fcm hms honor xiaomi meizu oppo vivo harmony webpush webhook)
# every vendor on a port of its own (56404 + its index), as each is a host of its own: a fault
# that takes a connection down takes down that vendor's requests, not the others'
# (the healthy app fmok: 56415 + its index, other hosts again)
declare -A port okport
for i in "${!vendors[@]}"; do port[${vendors[$i]}]=$((56404 + i)); okport[${vendors[$i]}]=$((56415 + i)); done
export MOCK_UNTRUSTED_PORT=56402 MOCK_SILENT_PORT=56403 MOCK_EXTRA_PORTS="${port[*]} ${okport[*]}"
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 56400 56401 "pushplan.databases = 'postgres'" "pushplan.senders = 2" "pushplan.express_senders = 1" \
  "pushplan.poll_interval = 500" "pushplan.http_timeout = 2000" "pushplan.max_attempts = 3" "pushplan.retry_max_backoff = 1"
psql -c "CREATE EXTENSION pushplan" || exit 1
main_base=$base
platform_of() { case $1 in apns) echo ios ;; harmony) echo harmony ;; webpush | webhook) echo web ;; *) echo android ;; esac; }

# configure APP BASE: every vendor of APP pointed at BASE, with the credentials the mock checks
configure() {
  local saved=$mock_base
  mock_base=$2
  sql "SELECT push_app_create('$1')" >/dev/null
  mock_vendor_setup "$1" psql >/dev/null && mock_hxm_setup "$1" psql >/dev/null && mock_vivo_setup "$1" psql >/dev/null &&
    mock_harmony_setup "$1" psql >/dev/null && mock_oppo_setup "$1" psql >/dev/null && mock_webpush_setup "$1" psql >/dev/null ||
    { fail "configure $1 at $2"; finish; }
  sql "SELECT push_app_set('$1', '{\"broadcast_min_interval\": \"0 seconds\"}')" >/dev/null
  mock_base=$saved
}
# a Web Push subscription of seed SEED whose endpoint is at BASE (the keys come from the seed)
subscription() { mock_curl "/_mock/webpush_subscription?seed=$1" | jq -c --arg b "$2" '.endpoint |= sub("^https://[^/]*"; $b)'; }

# register APP TAG CELL: two devices of every vendor, tagged TAG, tokens carrying CELL (the
# mock's fault keywords), registration ids <APP>-<CELL>-<vendor>-<i>
register() {
  local app=$1 tag=$2 cell=$3 ep=$4 devices="[]" v i tok
  for v in "${vendors[@]}"; do
    for i in 1 2; do
      if [ "$v" = webpush ]; then tok=$(subscription "fm-$cell-$i" "$ep"); else tok="test-fm-$v-$cell-$i"; fi
      devices=$(jq -c --arg r "$app-$cell-$v-$i" --arg p "$(platform_of $v)" --arg v "$v" --arg t "$tok" --arg g "$tag" \
        '. + [{registration_id: $r, platform: $p, vendor: $v, token: $t, tags: [$g]}]' <<<"$devices")
    done
  done
  check_eq "$app: 22 devices for $cell" "$(sql "SELECT push_device_register_batch('$app', '$devices')")" "22"
}
body() { echo "{\"to\": $1, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"fault matrix\", \"android\": {\"title\": \"fm\"}, \"harmony\": {\"title\": \"fm\"}}}}"; }
push_tag() { sql "SELECT push_send('$1', '$(body "{\"tag\": [\"$2\"]}")')"; }

# repoint APP PORTS: each vendor's endpoint on its own port (PORTS: the name of an associative
# array); token endpoints stay where the mock expects them
repoint() {
  local -n ports=$2
  local v key
  for v in "${vendors[@]}"; do
    [ "$v" = webpush ] && continue
    key=endpoint; [ "$v" = webhook ] && key=url
    sql "SELECT push_vendor_set('$1', '$v', config || jsonb_build_object('$key', regexp_replace(config->>'$key', '^https://[^/]*', 'https://127.0.0.1:${ports[$v]}')))
         FROM vendor_configs WHERE vendor = '$v' AND app_id = (SELECT app_id FROM apps WHERE app = '$1')" >/dev/null || fail "endpoint of $1 $v"
  done
}
configure fm "$main_base"
repoint fm port
configure fmok "$main_base"
repoint fmok okport
configure fmtls "https://127.0.0.1:$MOCK_UNTRUSTED_PORT"
configure fmsilent "https://127.0.0.1:$MOCK_SILENT_PORT"
# a label over 63 bytes: the resolver refuses the name itself, so no query leaves the machine
# (curl: "Could not resolve host", as for a name that does not exist)
dns_host=$(printf 'x%.0s' $(seq 64)).invalid
configure fmdns "https://$dns_host:56401"

device_faults=(unregistered throttle1 throttle1-noretryafter fail5xx1 error500 slow2500 drop1 goaway stall1)
for f in "${device_faults[@]}"; do register fm "f-$f" "$f" "https://127.0.0.1:${port[webpush]}"; done
register fm healthy ok "https://127.0.0.1:${port[webpush]}"
register fmok healthy good "https://127.0.0.1:${okport[webpush]}"
register fmtls f-tls tls "https://127.0.0.1:$MOCK_UNTRUSTED_PORT"
register fmsilent f-silent silent "https://127.0.0.1:$MOCK_SILENT_PORT"
register fmdns f-dns dns "https://$dns_host:56401"
sql "SELECT push_device_register('fm', 'tx-apns', 'ios', 'apns', 'test-fm-tx-apns')" >/dev/null
sql "SELECT push_device_register('fm', 'tx-fcm', 'android', 'fcm', 'test-fm-tx-fcm')" >/dev/null
wait_for 20 "SELECT count(*) = 4 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender', 'pushplan express sender')" \
  || { fail "workers not running: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"; finish; }

# cells VENDOR TASK: the task's deliveries to VENDOR as "status/attempts", both devices' attempts
# when they differ ("sent/2,3"); the attempts used, that is: the tries lost with their connection
# (reset or dropped under them, as the other slow device's when one times out) are not counted
# against max_attempts (doc/reliability.md, "Connection-level faults")
cells() {
  sql "SELECT string_agg(s, ' ' ORDER BY s) FROM (SELECT status || '/' || string_agg(DISTINCT (attempts - collateral)::text, ',') s
       FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$2' AND v.vendor = '$1' GROUP BY status) x"
}
# seen CELL VENDOR: "requests/2xx": the requests the mock saw for the two devices' tokens (Web
# Push: their seeds), and how many it answered with a 2xx (a success, except for the vendors that
# answer errors as 200 with a code: Xiaomi, Meizu, OPPO, vivo)
seen() {
  local n=0 k2=0 i k s
  for i in 1 2; do
    if [ "$2" = webpush ]; then k="fm-$1-$i"; else k="test-fm-$2-$1-$i"; fi
    s=$(mock_get "/_mock/stats?token=$k")
    n=$((n + $(jq "[.tokens[]?.requests] | add // 0" <<<"$s")))
    k2=$((k2 + $(jq '[.tokens[]?.status | to_entries[] | select(.key | test("^2")) | .value] | add // 0' <<<"$s")))
  done
  echo "$n/$k2"
}

matrix="| fault | $(IFS='|'; echo "${vendors[*]}" | sed 's/|/ | /g') | healthy (22) | transactional |"$'\n'"|---$(printf '|---%.0s' "${vendors[@]}")|---|---|"
declare -A want

# round NAME APP TAG EXPECTED: the whole story for one fault. EXPECTED: the default
# "status/attempts" of a faulty delivery; want[NAME.vendor] overrides it for one vendor.
round() {
  local name=$1 app=$2 tag=$3 expected=$4 t0 faulty healthy tx v got row exp errs
  mock_reset
  t0=$(date +%s%N)
  faulty=$(push_tag "$app" "$tag")
  # while the fault goes on (its requests in flight, a timeout 1 s away, or a retry waiting):
  # every vendor again at other hosts, and the transactional push
  sleep 1
  healthy=$(push_tag fmok healthy)
  tx=$(sql "SELECT push_send('fm', '$(body '{"registration_id": ["tx-apns", "tx-fcm"]}')')")
  wait_for 60 "SELECT NOT EXISTS (SELECT 1 FROM delivery_queue WHERE task_id IN ('$faulty', '$healthy', '$tx'))
                AND NOT EXISTS (SELECT 1 FROM delivery_plans WHERE task_id IN ('$faulty', '$healthy', '$tx'))" \
    || fail "$name: not finished in 60 s: $(sql "SELECT string_agg(status || ':' || n, ',') FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$faulty' GROUP BY 1) s")"
  local secs=$(( ($(date +%s%N) - t0) / 1000000 ))
  row="| $name"
  for v in "${vendors[@]}"; do
    got=$(cells "$v" "$faulty")
    exp=${want[$name.$v]:-$expected}
    # shellcheck disable=SC2053
    if [[ $got == $exp ]]; then ok "$name: $v ends $got"; else fail "$name: $v: wanted $exp, got '$got'"; fi
    row+=" | $got ($(seen "${tag#f-}" "$v"))"
  done
  check_eq "$name: the 22 healthy devices are sent" "$(sql "SELECT string_agg(status || '=' || n, ',') FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$healthy' GROUP BY 1) s")" "sent=22"
  local hmax hms
  hmax=$(sql "SELECT max(attempts) FROM deliveries WHERE task_id = '$healthy'")
  hms=$(sql "SELECT round(extract(epoch FROM max(d.sent_at) - min(t.created_at)) * 1000) FROM deliveries d JOIN tasks t USING (task_id) WHERE task_id = '$healthy'")
  local txms
  txms=$(sql "SELECT max(round(extract(epoch FROM d.sent_at - t.created_at) * 1000)) FROM deliveries d JOIN tasks t USING (task_id) WHERE task_id = '$tx' AND status = 'sent' HAVING count(*) = 2")
  # bounds: less than pushplan.http_timeout (2 s), so nothing waited for a fault's timeout
  if [ -n "$hms" ] && [ "$hms" -lt 2000 ]; then ok "$name: the healthy devices of every vendor are sent in $hms ms"
  else fail "$name: the healthy devices waited: ${hms:-not sent} ms"; fi
  if [ -n "$txms" ] && [ "$txms" -lt 2000 ]; then ok "$name: the transactional push arrives in $txms ms"
  else fail "$name: the transactional push: ${txms:-not sent} ($(sql "SELECT string_agg(status || ' ' || coalesce(error, ''), ',') FROM deliveries WHERE task_id = '$tx'"))"; fi
  errs=$(sql "SELECT string_agg(DISTINCT v.vendor || ': ' || d.error, E'\n' ORDER BY v.vendor || ': ' || d.error) FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$faulty' AND d.error IS NOT NULL")
  [ -n "$errs" ] && printf '     %s errors:\n%s\n' "$name" "$(sed 's/^/       /' <<<"$errs")"
  row+=" | sent in $hms ms, max $hmax attempts | ${txms:-?} ms |"
  matrix+=$'\n'"$row"
  echo "     $name: $secs ms"
}

# vivo: a retry of the same group has the same requestId, which vivo answers as the first time
want["slow 2.5 s (timeout 2 s).vivo"]="@(failed/3|sent/+([0-9,])|failed/3 sent/+([0-9,]))"
round unregistered fm f-unregistered "invalid_token/1"
round "429 + Retry-After" fm f-throttle1 "sent/2"
round "429, no Retry-After" fm f-throttle1-noretryafter "sent/2"
round "503 once" fm f-fail5xx1 "sent/2"
round "500 always" fm f-error500 "failed/3"
round "slow 2.5 s (timeout 2 s)" fm f-slow2500 "failed/3"
round "dropped connection" fm f-drop1 "sent/+([0-9,])"
round "GOAWAY" fm f-goaway "sent/+([0-9,])"
round "stops reading (stall)" fm f-stall1 "sent/+([0-9,])"
round "untrusted TLS certificate" fmtls f-tls "failed/3"
round "DNS failure" fmdns f-dns "failed/3"
round "accepts, never reads" fmsilent f-silent "failed/3"

# ---- a token endpoint that accepts and never reads, for 6 FCM devices: one blocking fetch (it
# holds its sender up to http_timeout), not one per device and attempt; the others end at once
# with its reason until the credential's hold (10 s) is over (src/auth.c) --------------------------
configure fmtok "$main_base"
sql "SELECT push_vendor_set('fmtok', 'fcm', jsonb_set(config, '{service_account,token_uri}', '\"https://127.0.0.1:$MOCK_SILENT_PORT/token\"'))
     FROM vendor_configs WHERE vendor = 'fcm' AND app_id = (SELECT app_id FROM apps WHERE app = 'fmtok')" >/dev/null
sql "SELECT push_device_register_batch('fmtok', (SELECT jsonb_agg(jsonb_build_object('registration_id', 't' || g,
       'platform', 'android', 'vendor', 'fcm', 'token', 'test-fm-tok-' || g)) FROM generate_series(1, 6) g))" >/dev/null
silent0=$(mock_get /_mock/stats | jq .connections.silent)
t0=$(date +%s%N)
task=$(sql "SELECT push_send('fmtok', '$(body '"all"')')")
wait_for 30 "SELECT NOT EXISTS (SELECT 1 FROM delivery_queue WHERE task_id = '$task')
                AND NOT EXISTS (SELECT 1 FROM delivery_plans WHERE task_id = '$task')" || fail "fmtok: not finished in 30 s"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_eq "token endpoint never reads: the 6 FCM deliveries fail after 3 attempts with its reason" \
  "$(sql "SELECT string_agg(DISTINCT status || '/' || attempts || ': ' || error, ',') FROM deliveries WHERE task_id = '$task'")" \
  "failed/3: gave up after 3 attempts: token endpoint https://127.0.0.1:$MOCK_SILENT_PORT/token: timeout"
check_eq "... after one fetch (one connection to the token endpoint), not one per device and attempt" \
  "$(( $(mock_get /_mock/stats | jq .connections.silent) - silent0 ))" "1"
echo "     token endpoint never reads: 6 deliveries ended in $ms ms"
matrix+=$'\n'"| token endpoint never reads (FCM, 6 devices) | | failed/3 (0/0), 1 fetch in $ms ms | | | | | | | | | | | |"

# ---- every access token revoked mid-run: the token vendors fetch one new token each, APNs and
# HarmonyOS sign a new JWT, and the sends go on -------------------------------------------------
sleep 1.1	# the JWTs in use were signed before the revocation's second
mock_reset
mock_curl /_mock/revoke_tokens -X POST >/dev/null
t0=$(date +%s%N)
revoked=$(push_tag fm healthy)
tx=$(sql "SELECT push_send('fm', '$(body '{"registration_id": ["tx-apns", "tx-fcm"]}')')")
wait_for 30 "SELECT NOT EXISTS (SELECT 1 FROM delivery_queue WHERE task_id IN ('$revoked', '$tx'))
                AND NOT EXISTS (SELECT 1 FROM delivery_plans WHERE task_id IN ('$revoked', '$tx'))" || fail "revoked: not finished in 30 s"
stats=$(mock_get /_mock/stats)
row="| every token revoked"
for v in "${vendors[@]}"; do
  got=$(cells "$v" "$revoked")
  if [ "$got" = "sent/1" ]; then ok "revoked: $v ends sent/1"; else fail "revoked: $v: wanted sent/1, got '$got'"; fi
  case $v in
    fcm | hms | honor | oppo | vivo)
      n=$(jq ".endpoints.${v}_token" <<<"$stats")
      check_eq "revoked: $v fetched one new token" "$n" "1"
      got+=", $n token fetch" ;;
  esac
  row+=" | $got ($(seen ok "$v"))"
done
check_eq "revoked: the transactional push is sent" "$(sql "SELECT string_agg(DISTINCT status, ',') FROM deliveries WHERE task_id = '$tx'")" "sent"
refused=$(jq -c '{apns: (.status["403"] // 0), "harmony and the OAuth vendors": (.status["401"] // 0)}' <<<"$stats")
check "revoked: APNs refused the old JWT (403 ExpiredProviderToken)" "$refused" '"apns":'
[ "$(jq '.status["403"] // 0' <<<"$stats")" -ge 1 ] && ok "... at least once" || fail "APNs never refused the old JWT: $stats"
[ "$(jq '.status["401"] // 0' <<<"$stats")" -ge 4 ] && ok "the OAuth vendors and HarmonyOS refused the old tokens (401: $(jq '.status["401"]' <<<"$stats"))" \
  || fail "too few 401 refusals: $(jq -c .status <<<"$stats")"
row+=" | $(( ($(date +%s%N) - t0) / 1000000 )) ms for the 22 | $(sql "SELECT round(extract(epoch FROM max(d.sent_at) - min(t.created_at)) * 1000) FROM deliveries d JOIN tasks t USING (task_id) WHERE task_id = '$tx'") ms |"
matrix+=$'\n'"$row"
echo "     revoked: refusals $refused"

echo "$matrix" | tee "$work/matrix.md"
finish
