#!/usr/bin/env bash
# A flow's own engagement controls and its event templates, through the workers, the mock
# vendor and the test clock (doc/flows.md, doc/engagement.md, doc/templates.md):
#   {{event.props.item}} in a send step: the value of the event that started the instance, with
#   quotes, backslashes and "{{" of its own sent as written; a prop the event lacked under
#   options.missing_attribute skip: not sent, suppressed and named;
#   a flow's frequency_cap of 1 a day with two senders: 40 users who each enter twice at the
#   same moment get one push each, the other capped;
#   a flow's quiet hours in the user's zone hold its send to the window's end, then it goes;
#   a flow without its own quiet hours follows the app's: a flow's send is one user's (the
#   high lane) but automated, so not exempt as a transactional push is.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 56460 56461 "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.poll_interval = 500" "pushplan.http_timeout = 2000"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
sql "SELECT push_app_set('shop', '{\"quiet_hours\": {\"from\": \"13:00\", \"to\": \"15:00\"}}')" >/dev/null
sql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object(
  'registration_id', r, 'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-ok-' || r, 'timezone', z))
  FROM (VALUES ('ann', 'Etc/UTC'), ('bob', 'Etc/UTC'), ('cat', 'Asia/Tokyo'), ('dan', 'Etc/UTC')) v(r, z)))" >/dev/null
sql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object(
  'registration_id', 'u' || i, 'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-ok-u' || i, 'timezone', 'Etc/UTC'))
  FROM generate_series(1, 40) i))" >/dev/null
wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and two senders run" || fail "workers not running"

clock() { sql "SELECT _clock_set('$1'::timestamptz)" >/dev/null; }
requests() { mock_get /_mock/stats | jq ".tokens[\"fcm-ok-$1\"].requests // 0"; }
status() { sql "SELECT string_agg(status || ':' || coalesce(error, '-'), ',' ORDER BY task_id) FROM push_deliveries WHERE registration_id = '$1'"; }

clock '2090-01-01 12:00:00+00'
mock_reset
# the flow's controls: one push a day per user, quiet 22:00-08:00 in the user's zone
sql "SELECT push_flow_create('shop', '{\"name\": \"browse\", \"trigger\": {\"event\": \"view_item\"},
  \"reentry\": \"0\", \"max_concurrent\": 5,
  \"frequency_cap\": {\"per_day\": 1}, \"quiet_hours\": {\"from\": \"22:00\", \"to\": \"08:00\"},
  \"steps\": [{\"send\": {\"body\": {\"platform\": \"all\",
     \"notification\": {\"alert\": \"Still thinking about {{event.props.item | default: \\\"it\\\"}}? {{event.props.price}} EUR\"},
     \"options\": {\"missing_attribute\": \"skip\"}}}}]}')" >/dev/null
# no controls of its own: the app's quiet hours (13:00-15:00 UTC)
sql "SELECT push_flow_create('shop', '{\"name\": \"receipt\", \"trigger\": {\"event\": \"order\"},
  \"steps\": [{\"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"Order {{event.props.id}} confirmed\"}}}}]}')" >/dev/null

# ---- event props in the text -------------------------------------------------------------
sql "SELECT push_track('shop', 'ann', 'view_item', '{\"item\": \"Blue \\\"shoes\\\" \\\\\\\\ {{attrs.x}}\", \"price\": 49.5}')" >/dev/null
wait_for 15 "SELECT count(*) = 1 FROM push_deliveries WHERE registration_id = 'ann' AND status = 'sent'" \
  && ok "props: ann's push sent" || fail "props: not sent: $(status ann)"
alert=$(mock_get "/_mock/last?token=fcm-ok-ann" | jq -r '.body | fromjson | .message.notification.body')
check_eq "props: the event's values in the text, written as they were" "$alert" 'Still thinking about Blue "shoes" \\ {{attrs.x}}? 49.5 EUR'

# ---- a prop the event lacked, under skip -----------------------------------------------------
sql "SELECT push_track('shop', 'bob', 'view_item', '{\"item\": \"hat\"}')" >/dev/null
wait_for 15 "SELECT count(*) = 1 FROM push_deliveries WHERE registration_id = 'bob' AND status <> 'queued'" \
  && ok "missing: bob's delivery decided" || fail "missing: not decided: $(status bob)"
check_eq "missing: suppressed, naming the prop" "$(status bob)" 'suppressed:missing attribute "event.props.price"'
check_eq "missing: nothing sent to bob" "$(requests bob)" "0"

# ---- a cap of 1 a day, two senders, two entries per user at once -----------------------------
sql "SELECT push_track_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'u' || i,
  'event', 'view_item', 'props', jsonb_build_object('item', 'lamp', 'price', k))) FROM generate_series(1, 40) i, generate_series(1, 2) k))" >/dev/null
wait_for 30 "SELECT count(*) = 80 FROM push_deliveries WHERE registration_id LIKE 'u%' AND status <> 'queued'" \
  && ok "cap: 80 deliveries decided" || fail "cap: undecided: $(sql "SELECT status, count(*) FROM push_deliveries WHERE registration_id LIKE 'u%' GROUP BY 1")"
check_eq "cap: each user sent one, the other capped" \
  "$(sql "SELECT string_agg(DISTINCT s, ',') FROM (SELECT string_agg(status || ':' || coalesce(error, '-'), ',' ORDER BY status) s FROM push_deliveries WHERE registration_id LIKE 'u%' GROUP BY registration_id) x")" \
  "sent:-,suppressed:capped"
check_eq "cap: the mock got 40 requests, one per user" \
  "$(mock_get /_mock/stats | jq '[.tokens | to_entries[] | select(.key | startswith("fcm-ok-u")) | .value.requests] | add')" "40"
check_eq "cap: counted in the flow's scope" \
  "$(sql "SELECT count(*) FROM engagement_counts e JOIN flows f ON e.scope = '~' || f.flow_id JOIN devices v USING (device_id) WHERE f.name = 'browse' AND v.registration_id LIKE 'u%' AND cardinality(e.sent) = 1")" "40"

# ---- the flow's quiet hours, in Tokyo --------------------------------------------------------
clock '2090-01-01 14:00:00+00'     # 23:00 in Tokyo: quiet for the flow (the app's 13-15 UTC do not count)
sql "SELECT push_track('shop', 'cat', 'view_item', '{\"item\": \"tea\", \"price\": 3}')" >/dev/null
wait_for 15 "SELECT count(*) = 1 FROM deliveries d JOIN devices v USING (device_id) WHERE v.registration_id = 'cat' AND d.error = 'held by quiet hours'" \
  && ok "quiet: cat's push held" || fail "quiet: not held: $(status cat)"
check_eq "quiet: held to 08:00 in Tokyo" \
  "$(sql "SELECT to_char(send_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI') FROM deliveries d JOIN devices v USING (device_id) WHERE v.registration_id = 'cat'")" \
  "2090-01-02 08:00"
clock '2090-01-01 22:59:00+00'
sleep 2
check_eq "quiet: nothing before the window's end" "$(requests cat)" "0"
clock '2090-01-01 23:00:01+00'
wait_for 15 "SELECT count(*) = 1 FROM push_deliveries WHERE registration_id = 'cat' AND status = 'sent'" \
  && ok "quiet: sent at the window's end" || fail "quiet: not released: $(status cat)"

# ---- a flow without controls: the app's quiet hours hold it too ------------------------------
clock '2090-01-02 14:00:00+00'
sql "SELECT push_track('shop', 'dan', 'order', '{\"id\": 1001}')" >/dev/null
wait_for 15 "SELECT count(*) = 1 FROM deliveries d JOIN devices v USING (device_id) WHERE v.registration_id = 'dan' AND d.error = 'held by quiet hours'" \
  && ok "app quiet: dan's flow push held" || fail "app quiet: not held: $(status dan)"
clock '2090-01-02 15:00:01+00'
wait_for 15 "SELECT count(*) = 1 FROM push_deliveries WHERE registration_id = 'dan' AND status = 'sent'" \
  && ok "app quiet: sent at 15:00" || fail "app quiet: not released: $(status dan)"
check "app quiet: the order's id in the text" "$(mock_get "/_mock/last?token=fcm-ok-dan" | jq -r .body)" "Order 1001 confirmed"

finish
