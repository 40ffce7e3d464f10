#!/usr/bin/env bash
# Engagement controls end to end (doc/engagement.md): the senders apply frequency caps and quiet
# hours to what they claim, and the mock vendor sees only what may go.
#   - two senders, a cap of one a day, 4 pushes to each of 30 devices committed at once: each
#     device gets exactly one, the other 90 are suppressed "capped";
#   - on_cap "defer": the second push waits in the queue until the device's window lets it go
#     (the test clock moves there);
#   - quiet hours 22:00-08:00 held for devices in three zones and released at the end of each
#     one's night; a device without a zone in the app's; a transactional push passes; a plan's
#     on_quiet "drop"; the night before the daylight-saving change in New York;
#   - a cap per category alone (category_caps, no app or plan cap): one marketing push a device;
#   - the statistics: capped and quiet_hours counted, and equal to a recount of the deliveries.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55820 55821 "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.express_senders = 0" "pushplan.batch_size = 5" "pushplan.max_inflight = 10" \
  "pushplan.poll_interval = 200" "pushplan.http_timeout = 4000"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
wait_for 20 "SELECT count(*) = 3 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and 2 senders run" || fail "workers: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"

clock() { sql "SELECT _clock_set('$1'::timestamptz)" >/dev/null; }
requests() { mock_get /_mock/stats | jq ".tokens[\"fcm-ok-$1\"].requests // 0"; }
# push APP IDS [OPTIONS]: a list push, in the normal lane unless OPTIONS say otherwise, no expiry
push() {
  sql "SELECT push_send('$1', jsonb_build_object('to', jsonb_build_object('registration_id', to_jsonb($2::text[])),
         'body', jsonb_build_object('platform', 'android', 'notification', jsonb_build_object('alert', 'hi'),
         'options', '{\"priority\": \"normal\", \"time_to_live\": 0}'::jsonb || '${3:-{\}}'::jsonb)))"
}
status() { sql "SELECT d.status || coalesce(':' || d.error, '') FROM deliveries d WHERE d.task_id = '$1'"; }

# ---- a cap of one, two senders ------------------------------------------------------------------
sql "SELECT push_app_create('cap')" >/dev/null
configure_vendors cap
sql "SELECT push_app_set('cap', '{\"frequency_cap\": {\"per_day\": 1}}')" >/dev/null
sql "SELECT push_device_register_batch('cap', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'r' || g,
       'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-ok-r' || g)) FROM generate_series(1, 30) g))" >/dev/null
mock_reset
ids="(SELECT array_agg('r' || g) FROM generate_series(1, 30) g)"
# one transaction: the 120 deliveries are due together, and both senders claim them in batches of 5
tasks=$(psql -c "SET search_path = pushplan" -c "BEGIN" \
  -c "SELECT push_send('cap', jsonb_build_object('to', jsonb_build_object('registration_id', to_jsonb($ids)),
        'body', jsonb_build_object('platform', 'android', 'notification', jsonb_build_object('alert', 'sale ' || n),
        'options', jsonb_build_object('priority', 'normal')))) FROM generate_series(1, 4) n" -c "COMMIT" | tr '\n' ' ')
wait_for 30 "SELECT count(*) = 120 AND bool_and(status <> 'queued') FROM deliveries WHERE app_id = (SELECT app_id FROM apps WHERE app = 'cap')" \
  && ok "the 120 deliveries have their outcome" || fail "cap: $(sql "SELECT status, count(*) FROM deliveries GROUP BY 1")"
check_eq "each device got one push, the other 90 were capped" \
  "$(sql "SELECT string_agg(status || coalesce(':' || error, '') || '=' || n, ' ' ORDER BY status, error) FROM (SELECT status, error, count(*) n FROM deliveries WHERE app_id = (SELECT app_id FROM apps WHERE app = 'cap') GROUP BY 1, 2) x")" \
  "sent=30 suppressed:capped=90"
check_eq "... exactly one per device" \
  "$(sql "SELECT count(DISTINCT device_id) || ' ' || max(n) FROM (SELECT device_id, count(*) n FROM deliveries WHERE status = 'sent' GROUP BY 1) x")" "30 1"
check_eq "... and the vendor saw one request per device" \
  "$(mock_get /_mock/stats | jq '[.tokens | to_entries[] | select(.key | startswith("fcm-ok-r")) | .value.requests] | (length|tostring) + " " + (max|tostring)')" '"30 1"'
check_eq "both senders claimed deliveries" \
  "$(sql "SELECT count(DISTINCT claimed_by) FROM deliveries WHERE app_id = (SELECT app_id FROM apps WHERE app = 'cap')")" "2"

# ---- on_cap "defer", with the test clock -----------------------------------------------------------
clock '2090-01-01 00:00:00+00'
sql "SELECT push_app_set('cap', '{\"frequency_cap\": {\"per_day\": 1, \"on_cap\": \"defer\"}}')" >/dev/null
d1=$(push cap "ARRAY['r1']")
wait_for 10 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$d1'" && ok "defer: the first push goes" || fail "d1: $(status $d1)"
d2=$(push cap "ARRAY['r1']")
wait_for 10 "SELECT error = 'deferred by frequency cap' FROM deliveries WHERE task_id = '$d2'" \
  && ok "defer: the second waits in the queue" || fail "d2: $(status $d2)"
check_eq "... until a day after the first" \
  "$(sql "SELECT d.send_at = c.sent[1] + interval '1 day' AND q.claimed_by IS NULL FROM deliveries d JOIN delivery_queue q USING (task_id, delivery_id), engagement_counts c JOIN devices v USING (device_id)
          WHERE d.task_id = '$d2' AND v.registration_id = 'r1' AND v.app_id = d.app_id")" "t"
check "push_trace says so" "$(sql "SELECT detail FROM push_trace('cap', 'r1', '$d2') WHERE step = 'outcome'")" "deferred by a frequency cap until"
clock '2090-01-01 23:59:00+00'
sleep 1
check_eq "... not sent before" "$(status $d2)" "queued:deferred by frequency cap"
clock "$(sql "SELECT send_at + interval '1 second' FROM deliveries WHERE task_id = '$d2'")"
wait_for 10 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$d2'" && ok "defer: sent once the window allows" || fail "d2: $(status $d2)"
check_eq "r1 got 3 requests in all" "$(requests r1)" "3"

# ---- quiet hours: three zones, one without, transactional, drop, daylight saving -----------------
sql "SELECT push_app_create('quiet')" >/dev/null
configure_vendors quiet
sql "SELECT push_app_set('quiet', '{\"timezone\": \"Asia/Shanghai\", \"quiet_hours\": {\"from\": \"22:00\", \"to\": \"08:00\"}}')" >/dev/null
sql "SELECT push_plan_create('quiet', 'night_drop')" >/dev/null
sql "SELECT push_plan_set('quiet', 'night_drop', '{\"quiet_hours\": {\"from\": \"22:00\", \"to\": \"08:00\", \"on_quiet\": \"drop\"}}')" >/dev/null
sql "SELECT push_device_register_batch('quiet', '[
  {\"registration_id\": \"tokyo\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-tokyo\", \"timezone\": \"Asia/Tokyo\"},
  {\"registration_id\": \"berlin\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-berlin\", \"timezone\": \"Europe/Berlin\"},
  {\"registration_id\": \"ny\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-ny\", \"timezone\": \"America/New_York\"},
  {\"registration_id\": \"nozone\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-nozone\"}]')" >/dev/null
mock_reset
# 03:00 UTC: 12:00 in Tokyo, 04:00 in Berlin, 22:00 (the day before) in New York, 11:00 in
# Shanghai (the app's zone, for the device without one)
clock '2090-01-05 03:00:00+00'
q1=$(push quiet "ARRAY['tokyo', 'berlin', 'ny', 'nozone']")
wait_for 10 "SELECT count(*) FILTER (WHERE status = 'sent') = 2 AND count(*) FILTER (WHERE error = 'held by quiet hours') = 2 FROM deliveries WHERE task_id = '$q1'" \
  && ok "quiet: Tokyo and the device without a zone get it, Berlin and New York are held" \
  || fail "q1: $(sql "SELECT string_agg(v.registration_id || '=' || d.status || coalesce(':' || d.error, ''), ' ') FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$q1'")"
check_eq "... until 08:00 in each one's zone" \
  "$(sql "SELECT string_agg(v.registration_id || ' ' || to_char(d.send_at AT TIME ZONE 'UTC', 'HH24:MI') || 'Z', ', ' ORDER BY v.registration_id) FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$q1' AND d.status = 'queued'")" \
  "berlin 07:00Z, ny 13:00Z"
# a transactional push (a list of one: the high lane) passes
tx=$(sql "SELECT push_send('quiet', '{\"to\": {\"registration_id\": [\"ny\"]}, \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"your code\"}, \"options\": {\"time_to_live\": 0}}}')")
wait_for 10 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$tx'" && ok "quiet: a transactional push passes" || fail "tx: $(status $tx)"
# ... unless its options ask for quiet hours
txq=$(sql "SELECT push_send('quiet', '{\"to\": {\"registration_id\": [\"ny\"]}, \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"digest\"}, \"options\": {\"time_to_live\": 0, \"quiet_hours\": true}}}')")
wait_for 10 "SELECT error = 'held by quiet hours' FROM deliveries WHERE task_id = '$txq'" \
  && ok "quiet: a transactional push with options.quiet_hours true is held" || fail "txq: $(status $txq)"
check_eq "... in the high lane" "$(sql "SELECT priority FROM tasks WHERE task_id = '$txq'")" "0"
check_eq "the mock saw tokyo, nozone and the transactional push only" \
  "$(echo $(requests tokyo) $(requests nozone) $(requests ny) $(requests berlin))" "1 1 1 0"
clock '2090-01-05 07:00:01+00'
wait_for 10 "SELECT bool_or(status = 'sent') FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$q1' AND v.registration_id = 'berlin'" \
  && ok "quiet: Berlin's is sent at the end of its night" || fail "berlin: $(sql "SELECT status FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$q1' AND v.registration_id = 'berlin'")"
check_eq "... while New York's still waits" \
  "$(sql "SELECT d.status FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$q1' AND v.registration_id = 'ny'")" "queued"
clock '2090-01-05 13:00:01+00'
wait_for 10 "SELECT bool_and(status = 'sent') FROM deliveries WHERE task_id IN ('$q1', '$txq')" \
  && ok "quiet: New York's is sent at the end of its night" || fail "q1: $(status $q1)"
check_eq "each device got the push once (New York also the two transactional ones)" "$(echo $(requests tokyo) $(requests nozone) $(requests ny) $(requests berlin))" "1 1 3 1"
# on_quiet "drop" (the plan's window replaces the app's): 00:30 in Berlin, 08:30 in Tokyo
clock '2090-01-05 23:30:00+00'
q2=$(push quiet "ARRAY['berlin', 'tokyo']" '{"plan_id": "night_drop"}')
wait_for 10 "SELECT bool_and(status <> 'queued') FROM deliveries WHERE task_id = '$q2'" || true
check_eq "quiet: dropped in Berlin's night, sent in Tokyo's morning" \
  "$(sql "SELECT string_agg(v.registration_id || '=' || d.status || coalesce(':' || d.error, ''), ' ' ORDER BY v.registration_id) FROM deliveries d JOIN devices v USING (device_id) WHERE task_id = '$q2'")" \
  "berlin=suppressed:quiet hours tokyo=sent"
# 23:30 in New York on the Saturday before clocks go forward (2090: March 12): the night is
# 7 h 30 long, to 08:00 EDT
sunday=$(sql "SELECT d FROM generate_series('2090-03-08'::date, '2090-03-14', '1 day') d WHERE extract(dow FROM d) = 0")
clock "$(sql "SELECT ('$sunday'::date - 1 + time '23:30') AT TIME ZONE 'America/New_York'")"
q3=$(push quiet "ARRAY['ny']")
wait_for 10 "SELECT error = 'held by quiet hours' FROM deliveries WHERE task_id = '$q3'" && ok "DST: held" || fail "q3: $(status $q3)"
check_eq "... for 7 h 30, to 08:00 EDT" \
  "$(sql "SELECT (d.send_at - pushplan.clock_now())::text || ' ' || to_char(d.send_at AT TIME ZONE 'America/New_York', 'HH24:MI') FROM deliveries d WHERE task_id = '$q3'" | sed 's/\.[0-9]*//')" \
  "$(sql "SELECT (interval '7 hours 30 minutes' - (pushplan.clock_now() - (('$sunday'::date - 1 + time '23:30') AT TIME ZONE 'America/New_York')))::text || ' 08:00'" | sed 's/\.[0-9]*//')"
clock "$(sql "SELECT send_at + interval '1 second' FROM deliveries WHERE task_id = '$q3'")"
wait_for 10 "SELECT status = 'sent' FROM deliveries WHERE task_id = '$q3'" && ok "DST: sent at 08:00 EDT" || fail "q3: $(status $q3)"

# ---- a cap per category only (no app or plan cap): the senders still ask the gate -------------------
sql "SELECT push_app_create('catcap')" >/dev/null
configure_vendors catcap
sql "SELECT push_app_set('catcap', '{\"consent\": {\"news\": \"opt_out\"}, \"category_caps\": {\"marketing\": {\"per_day\": 1}}}')" >/dev/null
sql "SELECT push_device_register_batch('catcap', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'k' || g,
       'platform', 'android', 'vendor', 'fcm', 'token', 'fcm-ok-k' || g)) FROM generate_series(1, 10) g))" >/dev/null
kids="(SELECT array_agg('k' || g) FROM generate_series(1, 10) g)"
psql -q -c "SET search_path = pushplan" -c "BEGIN" \
  -c "SELECT push_send('catcap', jsonb_build_object('to', jsonb_build_object('registration_id', to_jsonb($kids)),
        'body', jsonb_build_object('platform', 'android', 'notification', jsonb_build_object('alert', 'n ' || n),
        'options', jsonb_build_object('priority', 'normal', 'time_to_live', 0) || c))) FROM (VALUES (1, '{\"category\": \"marketing\"}'::jsonb),
        (2, '{\"category\": \"marketing\"}'), (3, '{\"category\": \"news\"}'), (4, '{}')) v(n, c)" -c "COMMIT" >/dev/null
wait_for 30 "SELECT count(*) = 40 AND bool_and(status <> 'queued') FROM deliveries WHERE app_id = (SELECT app_id FROM apps WHERE app = 'catcap')" \
  && ok "category cap: the 40 deliveries have their outcome" || fail "catcap: $(sql "SELECT status, count(*) FROM deliveries GROUP BY 1")"
check_eq "... one marketing push per device, news and the uncategorized push to all" \
  "$(sql "SELECT string_agg(x, ' ' ORDER BY x) FROM (SELECT coalesce(t.category, '-') || ':' || d.status || coalesce(':' || d.error, '') || '=' || count(*) x
          FROM deliveries d JOIN tasks t USING (task_id) WHERE d.app_id = (SELECT app_id FROM apps WHERE app = 'catcap') GROUP BY t.category, d.status, d.error) y")" \
  "-:sent=10 marketing:sent=10 marketing:suppressed:capped=10 news:sent=10"
check_eq "... counted per device in the category's scope alone" \
  "$(sql "SELECT string_agg(DISTINCT e.scope || '=' || cardinality(e.sent), ' ') FROM engagement_counts e JOIN devices v USING (device_id) WHERE v.app_id = (SELECT app_id FROM apps WHERE app = 'catcap')")" \
  "#marketing=1"

# ---- statistics -------------------------------------------------------------------------------------
check_eq "suppressed_by counts capped" \
  "$(sql "SELECT sum((suppressed_by->>'capped')::int) || ' ' || sum(suppressed) FROM push_plan_stats('cap', NULL, now() - interval '1 day', now() + interval '1 day')")" "90 90"
check_eq "suppressed_by counts quiet_hours" \
  "$(sql "SELECT sum((suppressed_by->>'quiet_hours')::int) || ' ' || sum(suppressed) FROM tasks t, push_plan_stats('quiet', ARRAY['night_drop'], t.send_at - interval '1 day', t.send_at + interval '1 day') WHERE t.task_id = '$q2'")" "1 1"
check_eq "... and the daily view" \
  "$(sql "SELECT sum(suppressed_capped) || ' ' || sum(suppressed_quiet_hours) FROM push_plan_stats_daily WHERE app IN ('cap', 'quiet')")" "90 1"
recount_diff() {
  sql "SELECT count(*) FROM ((SELECT * FROM _stats_recount() EXCEPT SELECT * FROM _task_stats_live)
                             UNION ALL (SELECT * FROM _task_stats_live EXCEPT SELECT * FROM _stats_recount())) d"
}
check_eq "the aggregates equal a recount from the raw deliveries" "$(recount_diff)" "0"
wait_for 15 "SELECT NOT EXISTS (SELECT 1 FROM stats_pending)" && ok "the upkeep folded everything" || fail "pending left"
check_eq "... and they still equal it" "$(recount_diff)" "0"
check_eq "no error in the server log" "$(grep -c 'ERROR' "$cluster/server.log")" "0"
finish
