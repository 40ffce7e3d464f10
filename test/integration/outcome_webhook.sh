#!/usr/bin/env bash
# The delivery-outcome webhook end to end (doc/statistics.md, "Outcome webhook"): pushes sent
# through the real scheduler, two senders and the mock vendor, with every kind of final outcome
# (sent, invalid token, rejected, given up, suppressed, expired, cancelled, failed at once) and
# retries on the way; their outcomes posted by the scheduler to the mock's receiver
# (test/mock_vendor/outcomes.c), which checks the signature and records every batch. Checks:
# every final outcome arrives exactly once among the batches accepted, with the delivery's own
# fields; a batch seen twice is the same batch (same id, same outcomes) tried again after a 500;
# nothing of an app without the webhook; a receiver that answers after 8 s slows no send; a
# batch the receiver refuses (401) is given up at once, and logged.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55740 55741 "pushplan.databases = 'postgres'" "pushplan.senders = 2" "pushplan.poll_interval = 200" \
  "pushplan.http_timeout = 12000" "pushplan.max_attempts = 3" "pushplan.retry_max_backoff = 1" \
  "pushplan.outcome_batch_size = 40" "pushplan.outcome_batch_wait = 300"
psql -c "CREATE EXTENSION pushplan" || exit 1
sql "SELECT push_app_create('shop'), push_app_create('other')" >/dev/null
configure_vendors shop
configure_vendors other
# broadcasts one after the other, as the test sends them
sql "SELECT push_app_set(a, '{\"broadcast_min_interval\": \"0 seconds\"}') FROM unnest(ARRAY['shop', 'other']) a" >/dev/null
secret=outcomes-secret-0123456789
hook() { sql "SELECT push_outcome_webhook_set('shop', jsonb_build_object('url', '$base/outcomes/$1', 'secret', '${2:-$secret}'))" >/dev/null; }
# the first two requests answered 500: the batches they carried must come again, unchanged
hook 'shop?fail500=2'

reg() { sql "SELECT push_device_register('$1', '$2', '$3', '$4', '$5')" >/dev/null; }
for app in shop other; do
  sql "SELECT count(push_device_register('$app', 'web-' || i, 'web', 'webhook', 'web-ok-' || i)) FROM generate_series(1, 60) i" >/dev/null
  reg $app ios-1 ios apns test-ios-1
  reg $app ios-gone ios apns test-unregistered-1      # 410: invalid_token
  reg $app ios-busy ios apns test-throttle1-a         # 429 once (a retry, not an outcome), then sent
  reg $app and-dead android fcm fcm-error500-a        # 500 every time: failed, given up after 3
  reg $app web-bad web webhook web-baddevice-1        # 400: failed, rejected
  reg $app web-out web webhook web-ok-out             # opted out in the push's transaction: suppressed
  reg $app mi-1 android xiaomi mi-1                   # no xiaomi credentials: failed as it is made
done
wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and 2 senders run" || fail "workers not running"
mock_reset

# ---- pushes of both apps: a list that loses a device, one cancelled, a broadcast, one expired ----
for app in shop other; do
  # expanded by push_send at once, then web-out opts out in the same transaction: suppressed
  psql -c "SET search_path = pushplan, public" -c "BEGIN" \
    -c "SELECT push_send('$app', '{\"to\": {\"registration_id\": [\"web-1\", \"web-out\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"list\"}}}')" \
    -c "SELECT push_device_opt('$app', 'web-out', false)" -c "COMMIT" >/dev/null
  psql -c "SET search_path = pushplan, public" -c "BEGIN" \
    -c "SELECT push_send('$app', '{\"to\": {\"registration_id\": [\"web-2\", \"web-3\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"never\"}}}')" \
    -c "SELECT push_cancel('$app', (SELECT task_id FROM tasks t JOIN apps a USING (app_id) WHERE a.app = '$app' AND t.push::text LIKE '%never%'))" \
    -c "COMMIT" >/dev/null
  sql "SELECT push_send('$app', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"all\"}}}')" >/dev/null
done
wait_for 60 "SELECT bool_and(state IN ('done', 'cancelled')) FROM tasks" && ok "the broadcasts are done" \
  || fail "pushes: $(sql "SELECT state, count(*) FROM tasks GROUP BY 1")"
for app in shop other; do
  # registered after the broadcasts, so that only this push reaches it: 429 until it expires
  reg $app ios-ttl ios apns test-throttle5-ttl
  sql "SELECT push_send('$app', '{\"to\": {\"registration_id\": [\"ios-ttl\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"short\"}, \"options\": {\"time_to_live\": 1}}}')" >/dev/null
done
wait_for 60 "SELECT bool_and(state IN ('done', 'cancelled')) FROM tasks" && ok "every push is done" \
  || fail "pushes: $(sql "SELECT state, count(*) FROM tasks GROUP BY 1")"
wait_for 40 "SELECT NOT EXISTS (SELECT FROM outcome_outbox) AND NOT EXISTS (SELECT FROM outcome_batches)" \
  && ok "every outcome was posted" || fail "waiting: $(sql "SELECT * FROM push_outcome_webhooks")"

# What the receiver got, as a table: one row per request and outcome.
received() {
  psql -v j="$(mock_get "/_mock/outcomes?name=$1")" <<'SQL'
SET search_path = pushplan, public;
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.got;
CREATE TABLE public.got AS
  SELECT (r.n)::int AS request, r.v->>'batch_id' AS batch_id, r.v->>'key' AS key, (r.v->>'attempt')::int AS attempt,
         (r.v->>'signature_ok')::boolean AS signature_ok, (r.v->>'status')::int AS status,
         (r.v->>'count')::int AS count, r.v->'outcomes' AS outcomes,
         (r.v->>'received_at_us')::bigint AS received_at_us, (r.v->>'answered_at_us')::bigint AS answered_at_us
  FROM jsonb_array_elements((:'j')::jsonb->'requests') WITH ORDINALITY r(v, n);
CREATE TABLE IF NOT EXISTS public.got_outcomes AS SELECT NULL::int AS request, NULL::jsonb AS o WHERE false;
TRUNCATE got_outcomes;
INSERT INTO got_outcomes SELECT g.request, o FROM got g, jsonb_array_elements(g.outcomes) o;
SQL
}
received shop
shop_final="SELECT d.* FROM deliveries d JOIN apps a USING (app_id) WHERE a.app = 'shop' AND d.status <> 'queued'"
check_eq "every request is signed with the app's secret" "$(sql "SELECT count(*) > 0 AND bool_and(signature_ok) FROM got")" "t"
check_eq "the first two were answered 500, the others 200" \
  "$(sql "SELECT string_agg(status::text, ',' ORDER BY request) FILTER (WHERE request <= 2) || ' ' || bool_and(status = 200) FILTER (WHERE request > 2) FROM got")" "500,500 true"
check_eq "the batches refused came again: the same id, the same outcomes, the next attempt" \
  "$(sql "SELECT count(*) FROM got a JOIN got b ON b.batch_id = a.batch_id AND b.request > a.request
          WHERE a.status = 500 AND b.status = 200 AND b.outcomes = a.outcomes AND b.attempt > a.attempt")" "2"
check_eq "a batch id comes twice only as a retry of a refused batch" \
  "$(sql "SELECT count(*) FROM (SELECT batch_id FROM got WHERE status = 200 GROUP BY 1 HAVING count(*) > 1) x")" "0"
check_eq "the idempotency key is the batch id" "$(sql "SELECT count(*) FROM got WHERE key IS DISTINCT FROM batch_id")" "0"
check_eq "batches of at most pushplan.outcome_batch_size (40), and more than one" \
  "$(sql "SELECT max(count) <= 40 AND count(DISTINCT batch_id) > 1 FROM got")" "t"
check_eq "every final outcome of shop arrived" \
  "$(sql "SELECT count(*) FROM ($shop_final) d WHERE NOT EXISTS (SELECT FROM got_outcomes o JOIN got g USING (request)
          WHERE g.status = 200 AND (o.o->>'delivery_id')::bigint = d.delivery_id)")" "0"
check_eq "... exactly once among the batches accepted" \
  "$(sql "SELECT count(*) FROM (SELECT o->>'delivery_id' FROM got_outcomes JOIN got USING (request) WHERE status = 200 GROUP BY 1 HAVING count(*) > 1) x")" "0"
check_eq "... and nothing else (no retry, no other app's)" \
  "$(sql "SELECT count(*) FROM got_outcomes o JOIN got g USING (request) WHERE g.status = 200
          AND NOT EXISTS (SELECT FROM ($shop_final) d WHERE d.delivery_id = (o.o->>'delivery_id')::bigint)")" "0"
check_eq "each with its delivery's fields" \
  "$(sql "SELECT count(*) FROM got_outcomes o JOIN got g USING (request)
          JOIN deliveries d ON d.delivery_id = (o.o->>'delivery_id')::bigint
          JOIN tasks t ON t.task_id = d.task_id JOIN devices v ON v.device_id = d.device_id
          WHERE g.status = 200 AND (o.o->>'task_id', o.o->>'plan_id', o.o->>'registration_id', o.o->>'vendor',
                o.o->>'platform', o.o->>'status', o.o->>'error', (o.o->>'http_status')::int, o.o->>'vendor_message_id')
            IS DISTINCT FROM (d.task_id, t.plan_id, v.registration_id, d.vendor, d.platform, d.status, d.error,
                d.http_status, d.vendor_message_id)")" "0"
check_eq "the kinds of outcome posted" \
  "$(sql "SELECT string_agg(s || ':' || n, ',' ORDER BY s) FROM (SELECT o->>'status' s, count(*) n FROM got_outcomes JOIN got USING (request) WHERE status = 200 GROUP BY 1) x")" \
  "cancelled:2,expired:1,failed:3,invalid_token:1,sent:63,suppressed:1"
check_eq "apns' ids come with what was sent" \
  "$(sql "SELECT count(*) FROM got_outcomes JOIN got USING (request) WHERE status = 200 AND o->>'vendor' = 'apns' AND o->>'status' = 'sent' AND o->>'vendor_message_id' IS NOT NULL")" "2"
check_eq "nothing for the app without a webhook" "$(mock_get "/_mock/outcomes?name=other" | jq '.requests | length')" "0"
check_eq "... nor in the outbox" "$(sql "SELECT count(*) FROM outcome_outbox")" "0"
check_eq "every request of the mock's receiver was shop's" "$(mock_get /_mock/outcomes | jq '[.requests[] | select(.name != "shop")] | length')" "0"

# ---- a receiver that answers after 8 s: the senders never wait for it ---------------------------
mock_reset
hook 'slow?slow=8000'
a=$(sql "SELECT push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"web\", \"notification\": {\"alert\": \"slow 1\"}}}')")
wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$a'" && ok "a push is done" || fail "push $a not done"
for ((i = 0; i < 100; i++)); do
  [ "$(mock_get "/_mock/outcomes?name=slow" | jq '.requests | length')" -ge 1 ] && break
  sleep 0.1
done
# the receiver holds its batch for 8 s from here; a second push meanwhile (sent within 0.05-0.15 s
# on a quiet machine; the margin is for a loaded one)
b=$(sql "SELECT push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"web\", \"notification\": {\"alert\": \"slow 2\"}}}')")
wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$b'" && ok "a second push is done" || fail "push $b not done"
received slow
check_eq "... every delivery of it sent before the receiver answered the batch in flight" \
  "$(sql "SELECT (SELECT count(*) FROM deliveries WHERE task_id = '$b' AND status = 'sent') || ' ' ||
          CASE WHEN last_sent < answered THEN 'true'
               ELSE 'false: the last sent ' || round((last_sent - answered) / 1e6, 3) || ' s after the answer' END
          FROM (SELECT (SELECT extract(epoch FROM max(sent_at)) * 1e6 FROM deliveries WHERE task_id = '$b') AS last_sent,
                       (SELECT min(answered_at_us) FROM got) AS answered) x")" "60 true"
wait_for 60 "SELECT NOT EXISTS (SELECT FROM outcome_outbox) AND NOT EXISTS (SELECT FROM outcome_batches)" \
  && ok "the slow receiver got everything in the end" || fail "waiting: $(sql "SELECT * FROM push_outcome_webhooks")"
received slow
check_eq "... each outcome once, not timed out nor tried again (pushplan.http_timeout 12 s)" \
  "$(sql "SELECT count(*) || ' ' || count(DISTINCT o->>'delivery_id') || ' ' || (SELECT count(*) = count(DISTINCT batch_id) FROM got) FROM got_outcomes")" "122 122 true"

# ---- a receiver that refuses (another secret: 401): given up at once, logged --------------------
mock_reset
hook 'refusing' 'another-secret-0123456789'
sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"web-5\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"refused\"}}}')" >/dev/null
wait_for 20 "SELECT NOT EXISTS (SELECT FROM outcome_outbox) AND NOT EXISTS (SELECT FROM outcome_batches)
             AND EXISTS (SELECT FROM tasks WHERE state = 'done' AND push::text LIKE '%refused%')" \
  && ok "the refused batch is gone" || fail "waiting: $(sql "SELECT * FROM push_outcome_webhooks")"
check_eq "... after one request, answered 401" "$(mock_get "/_mock/outcomes?name=refusing" | jq -r '[.requests[] | .status] | map(tostring) | join(",")')" "401"
check "... and logged" "$(grep 'outcome webhook of app "shop"' "$cluster/server.log")" "given up after 1 attempt: HTTP 401"

finish
