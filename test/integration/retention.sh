#!/usr/bin/env bash
# Retention (doc/statistics.md, "Retention"): deliveries, events and the flows' tracked events
# (push_track) are partitioned by UTC day;
# the partitions are made ahead and those older than pushplan.retention_days are dropped whole,
# here while a broadcast is being sent (its senders keep going), the aggregates kept. The
# scheduler's own upkeep makes a missing partition again.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55730 55731 "pushplan.databases = 'postgres'" "pushplan.senders = 2" \
  "pushplan.retention_days = 3" "pushplan.http_timeout = 3000"
psql -c "CREATE EXTENSION pushplan" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
day() { date -u -d "$1 days" +%Y%m%d; }

check_eq "today's and the next two days' partitions" \
  "$(sql "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'deliveries'::regclass")" \
  "deliveries_$(day 0) deliveries_$(day 1) deliveries_$(day 2) deliveries_default"
check_eq "... of events too" \
  "$(sql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")" "4"
check_eq "... and of the flows' tracked events" \
  "$(sql "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'tracked_events'::regclass")" \
  "tracked_events_$(day 0) tracked_events_$(day 1) tracked_events_$(day 2) tracked_events_default"

# ---- a task of ten days ago, with its deliveries, events and figures ---------------------------
sql "SELECT push_device_register('shop', 'old-1', 'ios', 'apns', 'test-old-1')" >/dev/null
sql "SELECT _raw_partition_create('deliveries', (now() AT TIME ZONE 'UTC')::date - 10), _raw_partition_create('events', (now() AT TIME ZONE 'UTC')::date - 10)" >/dev/null
sql "INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at, created_at, started_at, finished_at, expanded)
     SELECT 'tsk_old', app_id, 'default', '{\"to\": \"all\", \"body\": {\"notification\": {\"alert\": \"old\"}}}', 'done',
            now() - interval '10 days', now() - interval '10 days', now() - interval '10 days', now() - interval '10 days', true
     FROM apps WHERE app = 'shop'" >/dev/null
sql "INSERT INTO deliveries (delivery_id, task_id, app_id, device_id, vendor, platform, status, send_at, attempts, sent_at, events)
     SELECT _delivery_id_floor(now() - interval '10 days') + 1, 'tsk_old', app_id, device_id, vendor, platform, 'sent',
            now() - interval '10 days', 1, now() - interval '10 days', 2
     FROM devices WHERE registration_id = 'old-1';
     INSERT INTO events (app_id, task_id, device_id, kind, at, value, recorded_at, counted)
     SELECT app_id, 'tsk_old', device_id, 'open', now() - interval '10 days', NULL, now() - interval '10 days', true
     FROM devices WHERE registration_id = 'old-1';
     INSERT INTO stats_pending (task_id, platform, vendor, targeted, sent, opened) VALUES ('tsk_old', 'ios', 'apns', 1, 1, 1)" >/dev/null
check_eq "... in the partitions of their day" \
  "$(sql "SELECT (SELECT tableoid::regclass FROM deliveries WHERE task_id = 'tsk_old') || ' ' || (SELECT tableoid::regclass FROM events WHERE task_id = 'tsk_old')")" \
  "deliveries_$(day -10) events_$(day -10)"
# an event of 20 days ago, in no day's partition: the default one, trimmed by the same rule
sql "INSERT INTO events (app_id, task_id, device_id, kind, at, recorded_at, counted)
     SELECT app_id, 'tsk_old', device_id, 'click', now() - interval '20 days', now() - interval '20 days', false
     FROM devices WHERE registration_id = 'old-1'" >/dev/null
check_eq "an event of a day without partition is kept by the default one" "$(sql "SELECT count(*) FROM events_default")" "1"
# tracked events (push_track): one of ten days ago, one of twenty (the default partition), one now
sql "SELECT _raw_partition_create('tracked_events', (now() AT TIME ZONE 'UTC')::date - 10)" >/dev/null
sql "SELECT push_track('shop', 'old-1', 'cart_add', '{\"sku\": \"now\"}')" >/dev/null
sql "INSERT INTO tracked_events (app_id, device_id, event, props, at, tracked_at, recorded_at)
     SELECT app_id, device_id, 'cart_add', jsonb_build_object('sku', d || ' days ago'), now() - d * interval '1 day',
            now() - d * interval '1 day', now() - d * interval '1 day'
     FROM devices, (VALUES (10), (20)) x(d) WHERE registration_id = 'old-1'" >/dev/null
check_eq "tracked events go to the partition of the day they were recorded" \
  "$(sql "SELECT string_agg(props->>'sku' || ':' || tableoid::regclass, ' ' ORDER BY recorded_at) FROM tracked_events")" \
  "20 days ago:tracked_events_default 10 days ago:tracked_events_$(day -10) now:tracked_events_$(day 0)"

# ---- a broadcast, and the old partitions dropped while it is sent ------------------------------
sql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'd' || g,
       'platform', 'web', 'vendor', 'webhook', 'token', 'web-ok-' || g)) FROM generate_series(1, 10000) g))" >/dev/null
mock_reset
task=$(sql "SELECT push_send('shop', '{\"to\": \"all\", \"body\": {\"platform\": \"web\", \"notification\": {\"alert\": \"sale\"}}}')")
wait_for 20 "SELECT count(*) > 300 FROM deliveries WHERE task_id = '$task' AND status = 'sent'" \
  && ok "the broadcast is being sent" || fail "broadcast: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
done_=""
for i in $(seq 20); do   # a drop that cannot have its lock in 50 ms is tried again (bounded)
  # what it did, and how many deliveries of the broadcast were left to send when it began (in
  # the queue, or in its send plans: doc/schedules.md, "Send plans")
  done_="$done_ $(sql "SELECT array_to_string(_raw_partitions_maintain(), ', ') || ' (left: ' ||
                         ((SELECT count(*) FROM delivery_queue WHERE task_id = '$task')
                          + (SELECT coalesce(sum(cardinality(device_ids)), 0) FROM delivery_plans WHERE task_id = '$task')) || ')'")"
  [ -z "$(sql "SELECT 1 FROM pg_class WHERE relname IN ('deliveries_$(day -10)', 'events_$(day -10)', 'tracked_events_$(day -10)')")" ] && break
  sleep 0.2
done
echo "     upkeep: $done_"
check "the partitions older than 3 days are dropped" "$done_" "dropped deliveries_$(day -10)"
check "... of events too" "$done_" "dropped events_$(day -10)"
[[ "$done_" =~ dropped\ deliveries_[0-9]+.*\(left:\ ([0-9]+)\) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] \
  && ok "... while the broadcast was being sent (${BASH_REMATCH[1]} deliveries left)" || fail "not during the broadcast: $done_"
check "... and of tracked events" "$done_" "dropped tracked_events_$(day -10)"
check_eq "the default partition's old rows are deleted" "$(sql "SELECT count(*) FROM events_default")" "0"
check_eq "... of tracked events too: today's is kept" "$(sql "SELECT string_agg(props->>'sku', ' ') FROM tracked_events")" "now"
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" && ok "the broadcast finished" \
  || fail "broadcast not done: $(sql "SELECT status, count(*) FROM deliveries WHERE task_id = '$task' GROUP BY 1")"
check_eq "... every delivery sent, once" "$(sql "SELECT count(*) FILTER (WHERE status = 'sent') || ' ' || count(*) FROM deliveries WHERE task_id = '$task'") $(mock_get /_mock/stats | jq '[.tokens[].requests] | add')" \
  "10000 10000 10000"
gap=$(sql "SELECT max(extract(epoch FROM sent_at - prev) * 1000)::int FROM (SELECT sent_at, lag(sent_at) OVER (ORDER BY sent_at) prev FROM deliveries WHERE task_id = '$task') s")
echo "     longest pause between two recorded outcomes of the broadcast: $gap ms"
[ "$gap" -lt 2000 ] && ok "the senders never stopped for long (longest pause under 2 s)" || fail "a pause of $gap ms"

# ---- what remains of the old task: its figures, not its rows ------------------------------------
check_eq "its raw rows are gone" "$(sql "SELECT (SELECT count(*) FROM deliveries WHERE task_id = 'tsk_old') + (SELECT count(*) FROM events WHERE task_id = 'tsk_old')")" "0"
check_eq "its figures are kept" "$(sql "SELECT targeted || ' ' || sent || ' ' || opened FROM push_task_stats WHERE task_id = 'tsk_old'")" "1 1 1"
err=$(sql "SELECT push_event('shop', 'old-1', 'tsk_old', 'click')" 2>&1)
check "an event for it says why it cannot count" "$err" '92765: the deliveries of task "tsk_old" are no longer kept (pushplan.retention_days is 3)'

# ---- the scheduler's upkeep (once a minute) makes a missing partition again ---------------------
sql "DROP TABLE deliveries_$(day 2)" >/dev/null
wait_for 75 "SELECT to_regclass('pushplan.deliveries_$(day 2)') IS NOT NULL" \
  && ok "the scheduler made the dropped day-after-tomorrow partition again" || fail "deliveries_$(day 2) not made again"
check "... and logged it" "$(cat "$cluster/server.log")" "pushplan: created deliveries_$(day 2)"

finish
