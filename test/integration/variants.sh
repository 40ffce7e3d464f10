#!/usr/bin/env bash
# A/B variants (doc/variants.md) through the workers and the mock FCM: a broadcast to 10,000
# devices with variants A (50 %), B (30 %) and a control group (20 %), expanded by the scheduler
# in its batches; each variant's share within 2 % of its weight, each device given its variant's
# text (a sample of each), the control devices sent nothing, the figures per variant equal to
# a recount of the deliveries. Then a list push with variants, split in push_send's transaction
# the same way, a scheduled push with variants, fired by the scheduler, and a variants test
# whose winner the scheduler sends to the rest of the audience (the test clock stands in for
# the hour it waits).
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55900 55901 "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.poll_interval = 200"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
sql "SELECT push_app_set('shop', '{\"broadcast_min_interval\": \"0 seconds\"}')" >/dev/null
sql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'd' || g,
       'platform', 'android', 'vendor', 'fcm', 'token', 'ab-' || g, 'tags', jsonb_build_array('ab')))
       FROM generate_series(1, 10000) g))" >/dev/null
wait_for 20 "SELECT count(*) = 4 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender', 'pushplan express sender')" \
  && ok "scheduler, senders and the express sender run" || fail "workers: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"

# what the mock FCM received for a token: the notification's body, or "none"
received() { mock_get "/_mock/last?token=$1" | jq -r '(.body // "{}") | fromjson | .message.notification.body // "none"'; }
requests_of() { mock_get "/_mock/stats?token=$1" | jq -c ".tokens[\"$1\"].requests // 0"; }
recount_diff() {
  sql "SELECT count(*) FROM ((SELECT * FROM _stats_recount() EXCEPT SELECT * FROM _task_stats_live)
       UNION ALL (SELECT * FROM _task_stats_live EXCEPT SELECT * FROM _stats_recount())) x"
}
# check_variant_texts PUSH: 25 devices of each variant (A, B) got its text, 25 control devices nothing
check_variant_texts() {
  local bad=0 n=0 v tok want got
  while IFS='|' read -r v tok; do
    n=$((n + 1))
    case $v in A) want="Text A" ;; B) want="Text B" ;; *) want="none" ;; esac
    if [ "$v" = control ]; then got=$([ "$(requests_of "$tok")" = 0 ] && echo none || echo sent); else got=$(received "$tok"); fi
    [ "$got" = "$want" ] || { bad=$((bad + 1)); echo "  $tok ($v): got '$got', wanted '$want'"; }
  done < <(sql "SELECT variant, token FROM (SELECT t.variant, v.token,
                  row_number() OVER (PARTITION BY t.task_id ORDER BY d.device_id) AS n
                FROM tasks t JOIN deliveries d USING (task_id) JOIN devices v ON v.device_id = d.device_id
                WHERE t.parent_task_id = '$1') s WHERE n <= 25 ORDER BY 1, 2")
  check_eq "$2: each sampled device got its variant's text, control devices nothing ($n sampled)" "$bad" "0"
}

mock_reset
ab=$(sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"ab\"]}, \"body\": {\"platform\": \"android\",
  \"notification\": {\"alert\": \"Base text\", \"android\": {\"title\": \"Sale\"}}},
  \"variants\": [{\"name\": \"A\", \"weight\": 50, \"notification\": {\"alert\": \"Text A\"}},
                 {\"name\": \"B\", \"weight\": 30, \"notification\": {\"alert\": \"Text B\"}},
                 {\"name\": \"control\", \"weight\": 20, \"control\": true}]}')")
wait_for 240 "SELECT count(*) = 3 FROM tasks WHERE parent_task_id = '$ab' AND state = 'done'" \
  && ok "the broadcast's three variant tasks are done" \
  || fail "variants: $(sql "SELECT string_agg(variant || ' ' || state, ', ') FROM tasks WHERE parent_task_id = '$ab'")"
wait_for 30 "SELECT state = 'done' FROM tasks WHERE task_id = '$ab'" \
  && ok "the push is done when its variants are" || fail "the push: $(sql "SELECT state FROM tasks WHERE task_id = '$ab'")"
check_eq "the push's own task was never expanded" "$(sql "SELECT expanded FROM tasks WHERE task_id = '$ab'")" "f"
check_eq "each device in exactly one variant" \
  "$(sql "SELECT count(*) || ' ' || count(DISTINCT device_id) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$ab'")" "10000 10000"
check_eq "each variant's share of 10,000 devices within 2 % of its weight" \
  "$(sql "SELECT string_agg(variant || ' ' || (abs(n / 100.0 - w) <= 2), ', ' ORDER BY variant) FROM (
          SELECT t.variant, (upper(t.variant_buckets) - lower(t.variant_buckets)) / 100.0 AS w, count(*) AS n
          FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$ab' GROUP BY 1, 2) s")" \
  "A true, B true, control true"
echo "  shares: $(sql "SELECT string_agg(variant || ' ' || n, ', ' ORDER BY variant) FROM (SELECT t.variant, count(*) AS n
                      FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$ab' GROUP BY 1) s")"
check_eq "... and each device where its bucket says" \
  "$(sql "SELECT bool_and(_variant_bucket('$ab', d.device_id) <@ t.variant_buckets) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$ab'")" "t"
check_eq "A and B sent to all their devices, the control group's held out" \
  "$(sql "SELECT string_agg(variant || ' ' || status, ', ' ORDER BY variant) FROM (SELECT DISTINCT t.variant, d.status
          FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$ab') s")" \
  "A sent, B sent, control control"
# the tokens the mock FCM received, and how many requests
mock_get /_mock/stats | jq -r '.tokens | to_entries[] | select(.key | startswith("ab-")) | "\(.key) \(.value.requests)"' > "$work/received.txt"
check_eq "the mock received one request per A and B device" \
  "$(wc -l < "$work/received.txt") $(awk '{ s += $2 } END { print s }' "$work/received.txt")" \
  "$(sql "SELECT count(*) || ' ' || count(*) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$ab' AND d.status = 'sent'")"
check_eq "... and none for a device of the control group" \
  "$(sql "SELECT count(*) FROM deliveries d JOIN tasks t USING (task_id) JOIN devices v ON v.device_id = d.device_id
          WHERE t.parent_task_id = '$ab' AND t.variant_control
            AND v.token = ANY (string_to_array('$(cut -d' ' -f1 "$work/received.txt" | tr '\n' ',')', ','))")" "0"
check_variant_texts "$ab" "broadcast"
check_eq "push_variant_stats: sent = targeted for A and B, the control group held out, not failed" \
  "$(sql "SELECT string_agg(variant || ' ' || (sent = targeted AND targeted > 0) || ' ' || (control = 0) || ' ' || failed, ', ' ORDER BY variant)
          FROM push_variant_stats WHERE task_id = '$ab' AND NOT control_group") / $(sql "SELECT targeted || ' ' || (control > 0) || ' ' || failed || ' ' || (assigned = control) FROM push_variant_stats WHERE task_id = '$ab' AND control_group")" \
  "A true true 0, B true true 0 / 0 true 0 true"
check_eq "the figures equal a recount of the deliveries" "$(recount_diff)" "0"
sql "SELECT _stats_rollup()" >/dev/null
check_eq "... after the fold too" "$(recount_diff)" "0"

# a list push: split in push_send's transaction, by the same hash
mock_reset
list=$(sql "SELECT push_send('shop', jsonb_build_object('to', jsonb_build_object('registration_id',
  (SELECT jsonb_agg('d' || g) FROM generate_series(1, 100) g)),
  'body', '{\"platform\": \"android\", \"notification\": {\"alert\": \"Base text\"}}'::jsonb,
  'variants', '[{\"name\": \"A\", \"weight\": 40, \"notification\": {\"alert\": \"Text A\"}},
                {\"name\": \"B\", \"weight\": 40, \"notification\": {\"alert\": \"Text B\"}},
                {\"name\": \"control\", \"weight\": 20, \"control\": true}]'::jsonb))")
check_eq "a list push with variants is expanded by push_send, each device by its bucket" \
  "$(sql "SELECT count(*) || ' ' || bool_and(_variant_bucket('$list', d.device_id) <@ t.variant_buckets) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$list'")" "100 true"
wait_for 30 "SELECT count(*) = 3 FROM tasks WHERE parent_task_id = '$list' AND state = 'done'" \
  && ok "... and sent" || fail "list variants: $(sql "SELECT string_agg(variant || ' ' || state, ', ') FROM tasks WHERE parent_task_id = '$list'")"
check_variant_texts "$list" "list"

# a scheduled push with variants: the scheduler fires it into a push and its variants' tasks
mock_reset
sch=$(sql "SELECT push_schedule_create('shop', jsonb_build_object('name', 'ab scheduled',
  'trigger', jsonb_build_object('single', jsonb_build_object('time', to_char(now() AT TIME ZONE 'UTC' + interval '3 seconds', 'YYYY-MM-DD HH24:MI:SS'))),
  'push', '{\"to\": {\"tag\": [\"ab\"]}, \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"Base text\"}},
            \"variants\": [{\"name\": \"A\", \"weight\": 50, \"notification\": {\"alert\": \"Text A\"}},
                           {\"name\": \"B\", \"weight\": 50, \"notification\": {\"alert\": \"Text B\"}}]}'::jsonb))")
wait_for 60 "SELECT count(*) = 1 FROM push_schedule_runs WHERE schedule_id = '$sch' AND task_id IS NOT NULL" \
  && ok "the schedule fires" || fail "schedule: $(sql "SELECT state, detail FROM push_schedule_runs WHERE schedule_id = '$sch'")"
fired=$(sql "SELECT task_id FROM push_schedule_runs WHERE schedule_id = '$sch'")
wait_for 240 "SELECT count(*) = 2 FROM tasks WHERE parent_task_id = '$fired' AND state = 'done'" \
  && ok "... its two variant tasks are done" || fail "scheduled variants: $(sql "SELECT string_agg(variant || ' ' || state, ', ') FROM tasks WHERE parent_task_id = '$fired'")"
check_eq "... 10,000 devices, each in one variant, within 2 % of 50 / 50" \
  "$(sql "SELECT sum(n) || ' ' || bool_and(abs(n / 100.0 - 50) <= 2) FROM (SELECT t.variant, count(*) AS n FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$fired' GROUP BY 1) s")" "10000 true"
check_variant_texts "$fired" "scheduled"
check_eq "the figures equal a recount of the deliveries" "$(recount_diff)" "0"

# a variants test: A and B to 20 % of the audience, the winner by click rate after an hour
mock_reset
vt=$(sql "SELECT push_send('shop', '{\"to\": {\"tag\": [\"ab\"]}, \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"Base text\"}},
  \"variants\": [{\"name\": \"A\", \"weight\": 50, \"notification\": {\"alert\": \"Text A\"}},
                 {\"name\": \"B\", \"weight\": 50, \"notification\": {\"alert\": \"Text B\"}}],
  \"variants_test\": {\"percent\": 20, \"metric\": \"ctr\", \"after\": \"1 hour\"}}')")
wait_for 120 "SELECT count(*) = 2 FROM tasks WHERE parent_task_id = '$vt' AND state = 'done'" \
  && ok "variants test: A and B sent to their share" || fail "test variants: $(sql "SELECT string_agg(variant || ' ' || state, ', ') FROM tasks WHERE parent_task_id = '$vt'")"
check_eq "... 20 % of the audience (within 2 %), no winner yet" \
  "$(sql "SELECT (abs(count(*) / 100.0 - 20) <= 2) || ' ' || (SELECT state FROM tasks WHERE task_id = '$vt') FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$vt'")" "true testing"
# B's devices click more
sql "SELECT count(push_event('shop', v.registration_id, d.task_id, 'click')) FROM deliveries d JOIN tasks t USING (task_id)
     JOIN devices v ON v.device_id = d.device_id WHERE t.parent_task_id = '$vt' AND t.variant = 'B' AND d.device_id % 10 = 0" >/dev/null
sql "SELECT count(push_event('shop', v.registration_id, d.task_id, 'click')) FROM deliveries d JOIN tasks t USING (task_id)
     JOIN devices v ON v.device_id = d.device_id WHERE t.parent_task_id = '$vt' AND t.variant = 'A' AND d.device_id % 50 = 0" >/dev/null
sleep 2
check_eq "before the hour, no winner" "$(sql "SELECT count(*) FROM tasks WHERE parent_task_id = '$vt' AND variant_winner")" "0"
sql "SELECT _clock_set(now() + interval '61 minutes')" >/dev/null
wait_for 60 "SELECT count(*) = 1 FROM tasks WHERE parent_task_id = '$vt' AND variant_winner AND state = 'done'" \
  && ok "after the hour the scheduler sends the winner" || fail "winner: $(sql "SELECT string_agg(variant || ' ' || state || ' ' || variant_winner, ', ') FROM tasks WHERE parent_task_id = '$vt'")"
sql "SELECT _clock_set(NULL)" >/dev/null
check_eq "... B, by click rate, to the other 80 %" \
  "$(sql "SELECT variant || ' ' || variant_buckets FROM tasks WHERE parent_task_id = '$vt' AND variant_winner")" "B [2000,10000)"
check_eq "every device once: the test's share and the winner's" \
  "$(sql "SELECT count(*) || ' ' || count(DISTINCT device_id) || ' ' || bool_and(_variant_bucket('$vt', d.device_id) <@ t.variant_buckets) FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = '$vt'")" "10000 10000 true"
check_eq "each token reached the mock once" \
  "$(mock_get /_mock/stats | jq '[.tokens | to_entries[] | select(.key | startswith("ab-")) | .value.requests] | (length|tostring) + " " + (max|tostring)' -r)" "10000 1"
check_variant_texts "$vt" "variants test"
check_eq "push_variant_stats: the winner's row" \
  "$(sql "SELECT string_agg(variant || ' ' || winner || ' ' || (sent = targeted), ', ' ORDER BY winner, variant) FROM push_variant_stats WHERE task_id = '$vt'")" \
  "A false true, B false true, B true true"
wait_for 30 "SELECT state = 'done' FROM tasks WHERE task_id = '$vt'" \
  && ok "the tested push is done once its winner is" || fail "the tested push: $(sql "SELECT state FROM tasks WHERE task_id = '$vt'")"
check_eq "the figures equal a recount of the deliveries" "$(recount_diff)" "0"
finish
