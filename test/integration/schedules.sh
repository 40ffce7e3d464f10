#!/usr/bin/env bash
# Schedules end to end: push_schedule_create -> the scheduler fires each occurrence once -> the
# senders deliver to the mock vendor. Time is driven with the test clock (pushplan_test's
# _clock_set, doc/schedules.md "Testing"), moved to 2090 and forward from there, so that a
# daily schedule or a device's local 09:00 takes seconds. Covers: a single schedule fires once
# and on time (woken, not polled: the poll interval is 10 s), a periodical fires on each of its
# points, missed occurrences (superseded, later than time_to_live), a push refused when it fires
# (skipped, with push_send's error), zone_type 2 reaching devices in three time zones at their
# own 09:00 (planned, each delivery made when due; a plan cancelled, a planned device erased), an
# intelligent schedule (best times from visits, backup_time for the others), a
# Tencent Push send_time, big_push_duration spreading a fired task over three expansion batches, a
# scheduler killed with SIGKILL in the middle of a firing (fired exactly once), a Tencent Push
# loop with two dayTimes, and a schedule due while a 300,000-device broadcast is being expanded
# (fired between its batches).
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55340 55341 "pushplan.databases = 'postgres'" "pushplan.senders = 1" \
  "pushplan.poll_interval = 10000" "pushplan.http_timeout = 2000"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
sql "SELECT push_app_create('sched')" >/dev/null
sql "SELECT push_app_set('sched', '{\"timezone\": \"Asia/Shanghai\"}')" >/dev/null
configure_vendors sched
sql "SELECT push_plan_create('sched', 'promo_618_2025', '618')" >/dev/null
sql "SELECT push_plan_create('sched', 'doomed', 'deleted before its schedule fires')" >/dev/null
sql "SELECT push_device_register_batch('sched', '[
  {\"registration_id\": \"tokyo\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-tokyo\", \"timezone\": \"Asia/Tokyo\"},
  {\"registration_id\": \"berlin\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-berlin\", \"timezone\": \"Europe/Berlin\"},
  {\"registration_id\": \"newyork\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-newyork\", \"timezone\": \"America/New_York\"}]')" >/dev/null
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and sender run" || fail "workers not running"

clock() { sql "SELECT _clock_set('$1'::timestamptz)" >/dev/null; }
requests() { mock_get /_mock/stats | jq ".tokens[\"fcm-ok-$1\"].requests // 0"; }
runs() { sql "SELECT string_agg(state || coalesce(':' || left(detail, 40), ''), ',' ORDER BY occurrence) FROM push_schedule_runs WHERE schedule_id = '$1'"; }
push() { echo "{\"to\": $1, \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"$2\"}, \"options\": {\"time_to_live\": ${3:-86400}${4:+, \"plan_id\": \"$4\"}}}}"; }
ONE='{"registration_id": ["tokyo"]}'
ALL='{"registration_id": ["tokyo", "berlin", "newyork"]}'

clock '2090-01-01 00:00:00+00'
mock_reset

# ---- single: fires once, on time -----------------------------------------------------------
# 09:00:10 in the app's zone (UTC+8) is 01:00:10 UTC
s1=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"once\", \"trigger\": {\"single\": {\"time\": \"2090-01-01 09:00:10\"}}, \"push\": $(push "$ONE" once)}')")
check_eq "single: next_run_at in the app's zone" "$(sql "SELECT next_run_at FROM push_schedules WHERE schedule_id = '$s1'")" "2090-01-01 01:00:10+00"
clock '2090-01-01 01:00:07+00'
sleep 1
check_eq "single: not fired before its time" "$(sql "SELECT runs FROM push_schedules WHERE schedule_id = '$s1'")" "0"
# the scheduler sleeps until the occurrence (poll interval 10 s): it fires within a second or so
wait_for 8 "SELECT runs = 1 FROM push_schedules WHERE schedule_id = '$s1'" && ok "single: fired" || fail "single: not fired"
lag=$(sql "SELECT extract(epoch FROM fired_at - occurrence) FROM push_schedule_runs WHERE schedule_id = '$s1'")
check_eq "single: fired within 2 s of its time (lag ${lag}s)" "$(awk -v l="$lag" 'BEGIN { print (l >= 0 && l < 2) ? "yes" : "no" }')" "yes"
wait_for 10 "SELECT count(*) = 1 FROM push_deliveries WHERE status = 'sent' AND registration_id = 'tokyo'" \
  && ok "single: delivered" || fail "single: not delivered: $(sql "SELECT status, error FROM push_deliveries")"
check_eq "single: one request" "$(requests tokyo)" "1"
check_eq "single: the run names its task" "$(sql "SELECT r.task_id = t.task_id FROM push_schedule_runs r JOIN tasks t USING (task_id) WHERE r.schedule_id = '$s1'")" "t"
check_eq "single: nothing left to fire" "$(sql "SELECT coalesce(next_run_at::text, 'none') || ' ' || last_run_at FROM push_schedules WHERE schedule_id = '$s1'")" "none 2090-01-01 01:00:10+00"
clock '2090-01-01 02:00:00+00'
sleep 1
check_eq "single: fired once only" "$(sql "SELECT count(*) FROM push_schedule_runs WHERE schedule_id = '$s1'") $(requests tokyo)" "1 1"
# enabled again once fired (disabled first, as an operator would): nothing left to fire
sql "SELECT push_schedule_enable('sched', '$s1', false)" >/dev/null
check "single: enabled again after it fired: refused (92718)" \
  "$(sql "SELECT push_schedule_enable('sched', '$s1', true)" 2>&1)" \
  "92718: the trigger's time has passed (app time zone Asia/Shanghai)"
check_eq "single: still disabled, nothing fired" "$(sql "SELECT enabled || ' ' || runs FROM push_schedules WHERE schedule_id = '$s1'")" "false 1"

# ---- periodical: every day at 10:00 (02:00 UTC) from Jan 2 to Jan 4 -------------------------
mock_reset
s2=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"daily\", \"trigger\": {\"periodical\": {\"start\": \"2090-01-02 00:00:00\", \"end\": \"2090-01-04 23:00:00\", \"time\": \"10:00:00\", \"time_unit\": \"day\"}}, \"push\": $(push "$ONE" daily 86400 promo_618_2025)}')")
clock '2090-01-02 02:00:01+00'
wait_for 8 "SELECT runs = 1 FROM push_schedules WHERE schedule_id = '$s2'" && ok "periodical: first point fired" || fail "periodical: first point: $(runs "$s2")"
check_eq "periodical: next point" "$(sql "SELECT next_run_at FROM push_schedules WHERE schedule_id = '$s2'")" "2090-01-03 02:00:00+00"
clock '2090-01-03 02:00:01+00'
wait_for 8 "SELECT runs = 2 FROM push_schedules WHERE schedule_id = '$s2'" && ok "periodical: second point fired" || fail "periodical: second point: $(runs "$s2")"
clock '2090-01-04 02:00:01+00'
wait_for 8 "SELECT runs = 3 FROM push_schedules WHERE schedule_id = '$s2'" && ok "periodical: third point fired" || fail "periodical: third point: $(runs "$s2")"
check_eq "periodical: three occurrences, each fired" "$(runs "$s2")" "fired,fired,fired"
check_eq "periodical: its tasks belong to the push's plan" "$(sql "SELECT string_agg(DISTINCT t.plan_id, ',') FROM push_schedule_runs r JOIN tasks t USING (task_id) WHERE r.schedule_id = '$s2'")" "promo_618_2025"
wait_for 10 "SELECT count(*) = 3 FROM push_deliveries WHERE status = 'sent' AND plan_id = 'promo_618_2025'" \
  && ok "periodical: three pushes delivered" || fail "periodical: $(sql "SELECT status, count(*) FROM push_deliveries WHERE plan_id = 'promo_618_2025' GROUP BY 1")"
check_eq "periodical: ended after its last point" "$(sql "SELECT coalesce(next_run_at::text, 'none') FROM push_schedules WHERE schedule_id = '$s2'")" "none"

# ---- missed occurrences: the server "down" over three days of a daily schedule ----------------
# 12:00 (04:00 UTC) daily, time_to_live 10 minutes. The clock jumps from Jan 4 to Jan 7 04:05:
# Jan 5 and 6 are superseded by a later one already due; Jan 7 is 5 minutes late, within its
# time_to_live: it fires. Then a jump to Jan 8 04:30 is 30 minutes late: missed.
s3=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"late\", \"trigger\": {\"periodical\": {\"start\": \"2090-01-05 00:00:00\", \"end\": \"2090-01-08 23:00:00\", \"time\": \"12:00:00\", \"time_unit\": \"day\"}}, \"push\": $(push "$ONE" late 600)}')")
clock '2090-01-07 04:05:00+00'
wait_for 8 "SELECT next_run_at = '2090-01-08 04:00:00+00' FROM push_schedules WHERE schedule_id = '$s3'" && ok "missed: caught up" || fail "missed: $(runs "$s3")"
check_eq "missed: superseded ones recorded, the latest fired" "$(runs "$s3")" \
  "missed:a later occurrence was due too: only the,missed:a later occurrence was due too: only the,fired"
clock '2090-01-08 04:30:00+00'
wait_for 8 "SELECT next_run_at IS NULL FROM push_schedules WHERE schedule_id = '$s3'" && ok "missed: ended" || fail "missed: $(runs "$s3")"
check_eq "missed: later than time_to_live is missed" "$(sql "SELECT state || ': ' || detail FROM push_schedule_runs WHERE schedule_id = '$s3' AND occurrence = '2090-01-08 04:00:00+00'")" \
  "missed: more than the push's time_to_live (600 s) late"
check_eq "missed: one task for four occurrences" "$(sql "SELECT count(task_id) || '/' || count(*) FROM push_schedule_runs WHERE schedule_id = '$s3'")" "1/4"

# ---- a push refused when it fires is skipped, with push_send's error --------------------------
s4=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"doomed\", \"trigger\": {\"single\": {\"time\": \"2090-01-09 09:00:00\"}}, \"push\": $(push "$ONE" doomed 86400 doomed)}')")
sql "SELECT push_plan_delete('sched', 'doomed')" >/dev/null
clock '2090-01-09 01:00:01+00'
wait_for 8 "SELECT last_run_at IS NOT NULL FROM push_schedules WHERE schedule_id = '$s4'" && ok "skipped: handled" || fail "skipped: not handled"
check_eq "skipped: recorded with push_send's error" "$(sql "SELECT state || ' ' || coalesce(task_id, '-') || ' ' || detail FROM push_schedule_runs WHERE schedule_id = '$s4'")" \
  "skipped - 92303: plan \"doomed\" does not exist"

# ---- disabled: not fired; enabled again, fires from then on ----------------------------------
s5=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"paused\", \"enabled\": false, \"trigger\": {\"periodical\": {\"start\": \"2090-01-10 00:00:00\", \"end\": \"2090-01-13 00:00:00\", \"time\": \"09:00:00\", \"time_unit\": \"day\"}}, \"push\": $(push "$ONE" paused)}')")
clock '2090-01-10 01:00:01+00'
sleep 1.5
check_eq "disabled: not fired" "$(sql "SELECT count(*) FROM push_schedule_runs WHERE schedule_id = '$s5'")" "0"
sql "SELECT push_schedule_enable('sched', '$s5', true)" >/dev/null
check_eq "enabled again: from the next point on" "$(sql "SELECT next_run_at FROM push_schedules WHERE schedule_id = '$s5'")" "2090-01-11 01:00:00+00"
sql "SELECT push_schedule_delete('sched', '$s5')" >/dev/null

# ---- zone_type 2: 09:00 where each device is ------------------------------------------------
mock_reset
s6=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"local nine\", \"trigger\": {\"single\": {\"time\": \"2090-01-16 09:00:00\", \"zone_type\": 2}}, \"push\": $(push "$ALL" morning 3600)}')")
check_eq "local: the occurrence is 09:00 at UTC+14" "$(sql "SELECT next_run_at FROM push_schedules WHERE schedule_id = '$s6'")" "2090-01-15 19:00:00+00"
clock '2090-01-15 19:00:01+00'
wait_for 8 "SELECT runs = 1 FROM push_schedules WHERE schedule_id = '$s6'" && ok "local: fired" || fail "local: $(runs "$s6")"
task6=$(sql "SELECT task_id FROM push_schedule_runs WHERE schedule_id = '$s6'")
check_eq "local: each device planned at its own 09:00" \
  "$(sql "SELECT string_agg(registration_id || ' ' || to_char(send_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), ', ' ORDER BY send_at) FROM push_deliveries WHERE task_id = '$task6'")" \
  "tokyo 01-16 00:00, berlin 01-16 08:00, newyork 01-16 14:00"
# a send plan (doc/schedules.md, "Send plans"): no delivery row until each falls due
plans6() { sql "SELECT (SELECT count(*) FROM deliveries WHERE task_id = '$task6') || ' ' || (SELECT count(*) || '/' || coalesce(sum(cardinality(device_ids)), 0) FROM delivery_plans WHERE task_id = '$task6')"; }
check_eq "local: planned, no delivery written yet (deliveries, plans/devices)" "$(plans6)" "0 3/3"
check_eq "local: push_task_progress counts the planned as queued" \
  "$(sql "SELECT state || ' ' || targeted || ' ' || queued || ' ' || sending || ' ' || sent FROM push_task_progress WHERE task_id = '$task6'")" "sending 3 3 0 0"
clock '2090-01-16 00:00:01+00'
wait_for 10 "SELECT status = 'sent' FROM push_deliveries WHERE task_id = '$task6' AND registration_id = 'tokyo'" \
  && ok "local: Tokyo at its 09:00" || fail "local: Tokyo: $(sql "SELECT registration_id, status FROM push_deliveries WHERE task_id = '$task6'")"
check_eq "local: Tokyo's delivery made when due, the others still planned" "$(plans6)" "1 2/2"
check_eq "local: Berlin and New York still wait" "$(sql "SELECT string_agg(status, ',' ORDER BY send_at) FROM push_deliveries WHERE task_id = '$task6' AND registration_id <> 'tokyo'")" "queued,queued"
clock '2090-01-16 08:00:01+00'
wait_for 10 "SELECT status = 'sent' FROM push_deliveries WHERE task_id = '$task6' AND registration_id = 'berlin'" \
  && ok "local: Berlin at its 09:00" || fail "local: Berlin"
check_eq "local: New York still waits" "$(sql "SELECT status FROM push_deliveries WHERE task_id = '$task6' AND registration_id = 'newyork'")" "queued"
# New York's own time_to_live (an hour after its 09:00) has not run out although the task's
# first devices were sent 14 hours ago: each device expires from its own send time
clock '2090-01-16 14:30:00+00'
wait_for 10 "SELECT status = 'sent' FROM push_deliveries WHERE task_id = '$task6' AND registration_id = 'newyork'" \
  && ok "local: New York at its 09:00, within its own time_to_live" || fail "local: New York: $(sql "SELECT status, error FROM push_deliveries WHERE task_id = '$task6' AND registration_id = 'newyork'")"
check_eq "local: one request per device" "$(requests tokyo) $(requests berlin) $(requests newyork)" "1 1 1"

# ---- devices whose own time passed more than time_to_live ago expire, recorded ---------------
s7=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"local late\", \"trigger\": {\"single\": {\"time\": \"2090-01-18 09:00:00\", \"zone_type\": 2}}, \"push\": $(push "$ALL" late-local 600)}')")
# the server "comes back" at 12:00 UTC on the 18th: Tokyo's 09:00 (00:00 UTC) and Berlin's
# (08:00 UTC) are over 10 minutes past, New York's (14:00 UTC) is ahead
mock_reset
clock '2090-01-18 12:00:00+00'
wait_for 8 "SELECT runs = 1 FROM push_schedules WHERE schedule_id = '$s7'" && ok "local late: fired" || fail "local late: $(runs "$s7")"
task7=$(sql "SELECT task_id FROM push_schedule_runs WHERE schedule_id = '$s7'")
wait_for 10 "SELECT count(*) = 2 FROM push_deliveries WHERE task_id = '$task7' AND status = 'expired'" \
  && ok "local late: Tokyo and Berlin expired, recorded, not dropped" || fail "local late: $(sql "SELECT registration_id, status FROM push_deliveries WHERE task_id = '$task7'")"
check_eq "local late: which" "$(sql "SELECT string_agg(registration_id || ':' || status, ',' ORDER BY send_at) FROM push_deliveries WHERE task_id = '$task7'")" \
  "tokyo:expired,berlin:expired,newyork:queued"
clock '2090-01-18 14:00:01+00'
wait_for 10 "SELECT status = 'sent' FROM push_deliveries WHERE task_id = '$task7' AND registration_id = 'newyork'" \
  && ok "local late: New York at its 09:00" || fail "local late: New York"
check_eq "local late: requests" "$(requests tokyo) $(requests berlin) $(requests newyork)" "0 0 1"

# ---- a send plan cancelled, and a planned device erased --------------------------------------
# Sydney's 09:00 comes first (22:00 UTC the day before), then Tokyo's; Sydney is erased before
# its time (it leaves the plan and is counted as a deleted device's queued delivery would be),
# Tokyo is sent, the task is cancelled before Berlin's and New York's: written cancelled.
mock_reset
sql "SELECT push_device_register('sched', 'sydney', 'android', 'fcm', 'fcm-ok-sydney', 'Australia/Sydney')" >/dev/null
s10=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"local cancelled\", \"trigger\": {\"single\": {\"time\": \"2090-01-19 09:00:00\", \"zone_type\": 2}}, \"push\": $(push '{"registration_id": ["tokyo", "berlin", "newyork", "sydney"]}' cancelled 3600)}')")
clock '2090-01-18 19:00:01+00'
wait_for 8 "SELECT runs = 1 FROM push_schedules WHERE schedule_id = '$s10'" && ok "plan: fired" || fail "plan: $(runs "$s10")"
task10=$(sql "SELECT task_id FROM push_schedule_runs WHERE schedule_id = '$s10'")
check_eq "plan: four devices planned, none written" \
  "$(sql "SELECT (SELECT count(*) FROM deliveries WHERE task_id = '$task10') || ' ' || (SELECT sum(cardinality(device_ids)) FROM delivery_plans WHERE task_id = '$task10') || ' ' || (SELECT string_agg(registration_id || ':' || status || ':' || coalesce(delivery_id::text, '-'), ',' ORDER BY send_at) FROM push_deliveries WHERE task_id = '$task10')")" \
  "0 4 sydney:queued:-,tokyo:queued:-,berlin:queued:-,newyork:queued:-"
check_eq "plan: push_trace shows the planned send" \
  "$(sql "SELECT string_agg(step || ': ' || left(detail, 40), ' | ' ORDER BY at, step) FROM push_trace('sched', 'berlin', '$task10') WHERE step IN ('audience', 'outcome')")" \
  "audience: in the audience: send planned for its an | outcome: queued: planned, its delivery is made wh"
sql "SELECT push_device_erase('sched', 'sydney')" >/dev/null
check_eq "plan: the erased device left the plan, nothing of it kept" \
  "$(sql "SELECT (SELECT sum(cardinality(device_ids)) FROM delivery_plans WHERE task_id = '$task10') || ' ' || (SELECT count(*) FROM push_deliveries WHERE task_id = '$task10') || ' ' || (SELECT count(*) FROM deliveries WHERE task_id = '$task10')")" "3 3 0"
clock '2090-01-19 00:00:01+00'
wait_for 10 "SELECT status = 'sent' FROM push_deliveries WHERE task_id = '$task10' AND registration_id = 'tokyo'" \
  && ok "plan: Tokyo sent at its 09:00" || fail "plan: Tokyo: $(sql "SELECT registration_id, status FROM push_deliveries WHERE task_id = '$task10'")"
sql "SELECT push_cancel('sched', '$task10')" >/dev/null
check_eq "plan: cancelled, the planned written cancelled" \
  "$(sql "SELECT (SELECT state FROM tasks WHERE task_id = '$task10') || ' ' || (SELECT count(*) FROM delivery_plans WHERE task_id = '$task10') || ' ' || (SELECT string_agg(registration_id || ':' || status, ',' ORDER BY send_at) FROM push_deliveries WHERE task_id = '$task10')")" \
  "cancelled 0 tokyo:sent,berlin:cancelled,newyork:cancelled"
wait_for 10 "SELECT sum(targeted) = 4 AND sum(sent) = 1 AND sum(cancelled) = 2 AND sum(suppressed) = 1 AND sum(unregistered) = 1 FROM task_stats WHERE task_id = '$task10'" \
  && ok "plan: counted: 4 targeted, 1 sent, 2 cancelled, 1 suppressed (erased)" \
  || fail "plan: counted: $(sql "SELECT sum(targeted), sum(sent), sum(cancelled), sum(suppressed), sum(unregistered) FROM task_stats WHERE task_id = '$task10'")"
check_eq "plan: requests" "$(requests sydney) $(requests tokyo) $(requests berlin) $(requests newyork)" "0 1 0 0"

# ---- Tencent Push's send_time: push_send's task is due then, on the same clock ----------------
mock_reset
t10=$(sql "SELECT push_send('sched', '{\"audience_type\": \"token_list\", \"token_list\": [\"fcm-ok-tokyo\"], \"message_type\": \"notify\", \"message\": {\"content\": \"at noon\"}, \"send_time\": \"2090-01-19 12:00:00\"}')")
sleep 1
check_eq "send_time: waits, queued, nothing expanded" "$(sql "SELECT state || ' ' || send_at || ' ' || (SELECT count(*) FROM deliveries d WHERE d.task_id = t.task_id) FROM tasks t WHERE task_id = '$t10'")" \
  "queued 2090-01-19 04:00:00+00 0"
clock '2090-01-19 04:00:01+00'
wait_for 10 "SELECT count(*) = 1 FROM push_deliveries WHERE task_id = '$t10' AND status = 'sent'" \
  && ok "send_time: sent at its time" || fail "send_time: $(sql "SELECT state FROM tasks WHERE task_id = '$t10'")"
check_eq "send_time: one request" "$(requests tokyo)" "1"

# ---- big_push_duration over several expansion batches ------------------------------------------
# 120,000 devices of another app (no vendor configured: each delivery is recorded failed at once,
# with its planned send_at) are expanded in three batches of 50,000; a 10-minute spread must run
# on across the batches: every device its own 1/120,000 of the ten minutes, in device order.
sql "SELECT push_app_create('spread')" >/dev/null
sql "INSERT INTO devices (app_id, registration_id, platform, vendor, token)
     SELECT app_id, 'sp-' || g, 'android', 'fcm', 'tok-' || g FROM apps, generate_series(1, 120000) g
     WHERE app = 'spread'" >/dev/null
s9=$(sql "SELECT push_schedule_create('spread', '{\"name\": \"spread\", \"trigger\": {\"single\": {\"time\": \"2090-01-19 10:00:00\"}}, \"push\": {\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"spread\"}, \"options\": {\"big_push_duration\": 10}}}}')")
clock '2090-01-19 10:00:00+00'
wait_for 60 "SELECT t.expanded FROM push_schedule_runs r JOIN tasks t USING (task_id) WHERE r.schedule_id = '$s9'" \
  && ok "spread: expanded" || fail "spread: not expanded: $(runs "$s9")"
task9=$(sql "SELECT task_id FROM push_schedule_runs WHERE schedule_id = '$s9'")
check_eq "spread: every device (three batches of 50,000)" "$(sql "SELECT targeted FROM tasks WHERE task_id = '$task9'")" "120000"
check_eq "spread: from the occurrence, 5 ms apart, over the ten minutes" \
  "$(sql "SELECT min(send_at) || ' ' || max(send_at) || ' ' || count(DISTINCT send_at) FROM deliveries WHERE task_id = '$task9'")" \
  "2090-01-19 10:00:00+00 2090-01-19 10:09:59.995+00 120000"
check_eq "spread: in device order, across the batches" \
  "$(sql "SELECT count(*) FROM (SELECT send_at, lag(send_at) OVER (ORDER BY device_id) AS prev FROM deliveries WHERE task_id = '$task9') x WHERE send_at - prev <> interval '5 milliseconds'")" "0"
check_eq "spread: 12,000 a minute" \
  "$(sql "SELECT string_agg(DISTINCT n::text, ',') FROM (SELECT count(*) n FROM deliveries WHERE task_id = '$task9' GROUP BY date_trunc('minute', send_at)) x")" "12000"

# ---- SIGKILL in the middle of a firing: fired exactly once -----------------------------------
# The firing of a broadcast takes the app's broadcast-quota lock after it has written the
# occurrence's record; a session holding that lock holds the scheduler there, and the scheduler
# is killed in that state (the server then restarts every backend: shared memory and the test
# clock start over).
mock_reset
app_id=$(sql "SELECT app_id FROM apps WHERE app = 'sched'")
s8=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"crash\", \"trigger\": {\"single\": {\"time\": \"2090-01-20 09:00:00\"}}, \"push\": $(push '"all"' crash)}')")
( psql -c "SELECT pg_advisory_lock(1886745448, $app_id)" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 & )
wait_for 10 "SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $app_id AND granted" || fail "crash: lock not taken"
clock '2090-01-20 01:00:01+00'
wait_for 10 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler' AND wait_event_type = 'Lock'" \
  && ok "crash: scheduler held in the middle of the firing" || fail "crash: scheduler not held: $(sql "SELECT backend_type, wait_event_type, wait_event, state FROM pg_stat_activity")"
spid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'")
kill -9 "$spid"
sleep 1
wait_for 30 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "crash: workers back" || fail "crash: workers not back"
check_eq "crash: the uncommitted firing left nothing" "$(sql "SELECT count(*) FROM schedule_runs WHERE schedule_id = '$s8'")" "0"
clock '2090-01-20 01:00:05+00'
wait_for 10 "SELECT runs = 1 FROM push_schedules WHERE schedule_id = '$s8'" && ok "crash: fired after the restart" || fail "crash: $(runs "$s8")"
wait_for 10 "SELECT count(*) = 3 FROM push_deliveries d JOIN push_schedule_runs r USING (task_id) WHERE r.schedule_id = '$s8' AND d.status = 'sent'" \
  && ok "crash: delivered" || fail "crash: not delivered"
clock '2090-01-21 00:00:00+00'
sleep 1
check_eq "crash: exactly once (runs, tasks, requests)" \
  "$(sql "SELECT count(*) FROM push_schedule_runs WHERE schedule_id = '$s8'") $(sql "SELECT count(*) FROM tasks t JOIN push_schedule_runs r USING (task_id) WHERE r.schedule_id = '$s8'") $(requests tokyo)" "1 1 1"

# ---- intelligent: each device at its own best time, the others at backup_time in their zone -----
# Tokyo visits at 20:00 and Berlin at 07:30 local, on the last five days (real dates: visits
# are checked against the real time; the model reads their local time of day); New York has
# no history. The window opens 2090-01-22 08:00 in the app's zone (00:00 UTC).
mock_reset
visits() {   # REGISTRATION_ID ZONE LOCAL_TIME
  sql "SELECT count(push_device_activity('sched', '$1',
         ((date_trunc('day', now() AT TIME ZONE '$2') - n * interval '1 day' + '$3'::time) AT TIME ZONE '$2')))
       FROM generate_series(1, 5) n" >/dev/null
}
visits tokyo Asia/Tokyo 20:00
visits berlin Europe/Berlin 07:30
clock '2090-01-21 12:00:00+00'
s11=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"smart\", \"trigger\": {\"intelligent\": {\"backup_time\": \"2090-01-22 10:00:00\", \"start\": \"2090-01-22 08:00:00\"}}, \"push\": $(push "$ALL" smart 3600 promo_618_2025)}')")
check_eq "intelligent: the window opens at start (app's zone)" "$(sql "SELECT next_run_at FROM push_schedules WHERE schedule_id = '$s11'")" "2090-01-22 00:00:00+00"
clock '2090-01-22 00:00:01+00'
wait_for 8 "SELECT runs = 1 FROM push_schedules WHERE schedule_id = '$s11'" && ok "intelligent: fired" || fail "intelligent: $(runs "$s11")"
task11=$(sql "SELECT task_id FROM push_schedule_runs WHERE schedule_id = '$s11'")
check_eq "intelligent: each device planned at its best time, New York at backup_time in its zone" \
  "$(sql "SELECT string_agg(registration_id || ' ' || to_char(send_at AT TIME ZONE 'UTC', 'HH24:MI'), ', ' ORDER BY send_at) FROM push_deliveries WHERE task_id = '$task11'")" \
  "berlin 06:30, tokyo 11:00, newyork 15:00"
clock '2090-01-22 06:30:01+00'
wait_for 10 "SELECT status = 'sent' FROM push_deliveries WHERE task_id = '$task11' AND registration_id = 'berlin'" \
  && ok "intelligent: Berlin at 07:30 its time" || fail "intelligent: Berlin"
check_eq "intelligent: the others wait" "$(sql "SELECT string_agg(status, ',') FROM push_deliveries WHERE task_id = '$task11' AND registration_id <> 'berlin'")" "queued,queued"
clock '2090-01-22 11:00:01+00'
wait_for 10 "SELECT status = 'sent' FROM push_deliveries WHERE task_id = '$task11' AND registration_id = 'tokyo'" \
  && ok "intelligent: Tokyo at 20:00 its time" || fail "intelligent: Tokyo"
clock '2090-01-22 15:00:01+00'
wait_for 10 "SELECT count(*) = 3 FROM push_deliveries WHERE task_id = '$task11' AND status = 'sent'" \
  && ok "intelligent: all sent, each at its time" || fail "intelligent: $(sql "SELECT registration_id, status FROM push_deliveries WHERE task_id = '$task11'")"
check_eq "intelligent: one request each" "$(requests tokyo) $(requests berlin) $(requests newyork)" "1 1 1"
# an audience nobody is in: fired, and done with no delivery (an empty batch, not an error)
s12=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"smart nobody\", \"trigger\": {\"intelligent\": {\"backup_time\": \"now\"}}, \"push\": {\"to\": {\"tag\": [\"nobody\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"x\"}}}}')")
wait_for 10 "SELECT t.state = 'done' FROM push_schedule_runs r JOIN tasks t USING (task_id) WHERE r.schedule_id = '$s12'" \
  && ok "intelligent: an empty audience is done" || fail "intelligent, empty: $(sql "SELECT t.state || ' ' || coalesce(t.error, '') FROM push_schedule_runs r JOIN tasks t USING (task_id) WHERE r.schedule_id = '$s12'")"

# ---- a Tencent Push loop: push_send with loop_param is a schedule; two dayTimes fire -----------
# 09:00 and 10:00 on Jan 23 in the app's zone (01:00 and 02:00 UTC)
mock_reset
s13=$(sql "SELECT push_send('sched', '{\"audience_type\": \"token_list\", \"token_list\": [\"fcm-ok-tokyo\"], \"message_type\": \"notify\", \"message\": {\"title\": \"Loop\", \"content\": \"twice\"}, \"loop_param\": {\"startDate\": \"2090-01-23\", \"endDate\": \"2090-01-23\", \"loopType\": 1, \"dayTimes\": [\"10:00:00\", \"09:00:00\"]}}')")
check_eq "tencent loop: a schedule, next at 09:00 its zone" "$(sql "SELECT name || ' ' || next_run_at FROM push_schedules WHERE schedule_id = '$s13'")" "Tencent Push loop 2090-01-23 01:00:00+00"
clock '2090-01-23 01:00:01+00'
wait_for 8 "SELECT runs = 1 FROM push_schedules WHERE schedule_id = '$s13'" && ok "tencent loop: 09:00 fired" || fail "tencent loop: 09:00: $(runs "$s13")"
clock '2090-01-23 02:00:01+00'
wait_for 8 "SELECT runs = 2 FROM push_schedules WHERE schedule_id = '$s13'" && ok "tencent loop: 10:00 fired" || fail "tencent loop: 10:00: $(runs "$s13")"
wait_for 10 "SELECT count(*) = 2 FROM push_schedule_runs r JOIN push_deliveries d USING (task_id) WHERE r.schedule_id = '$s13' AND d.status = 'sent'" \
  && ok "tencent loop: both delivered" || fail "tencent loop: $(sql "SELECT d.status FROM push_schedule_runs r JOIN push_deliveries d USING (task_id) WHERE r.schedule_id = '$s13'")"
check_eq "tencent loop: two requests, then nothing left" "$(requests tokyo) $(sql "SELECT coalesce(next_run_at::text, 'none') FROM push_schedules WHERE schedule_id = '$s13'")" "2 none"

# ---- a schedule due while a broadcast is being expanded fires between its batches -------------
# (the scheduler expands for 200 ms a turn, then looks at schedules again: a broadcast of
# millions is a hundred batches of a second each). 300,000 devices of an app without a vendor
# configuration (so nothing is sent): six batches; the schedule falls due after the first.
sql "SELECT push_app_create('bulk')" >/dev/null
sql "INSERT INTO devices (app_id, registration_id, platform, vendor, token)
     SELECT _app_id('bulk', 'reader'), 'b' || g, 'android', 'fcm', 'fcm-ok-bulk-' || g FROM generate_series(1, 300000) g" >/dev/null
sql "ANALYZE devices" >/dev/null
s14=$(sql "SELECT push_schedule_create('sched', '{\"name\": \"during\", \"trigger\": {\"single\": {\"time\": \"2090-01-24 09:00:00\"}}, \"push\": $(push "$ONE" during)}')")
clock '2090-01-24 00:59:00+00'
bulk=$(sql "SELECT push_send('bulk', '{\"to\": \"all\", \"body\": {\"platform\": \"android\", \"notification\": {\"alert\": \"bulk\"}}}')")
wait_for 20 "SELECT expanded_upto IS NOT NULL FROM tasks WHERE task_id = '$bulk'" \
  || fail "the broadcast's first batch: $(sql "SELECT state, expanded_upto FROM tasks WHERE task_id = '$bulk'")"
clock '2090-01-24 01:00:01+00'
seen=
for _ in $(seq 300); do   # at most 30 s
  seen=$(sql "SELECT (SELECT runs FROM push_schedules WHERE schedule_id = '$s14') || ' ' || expanded FROM tasks WHERE task_id = '$bulk'")
  case "$seen" in "1 "*|*" true") break ;; esac
  sleep 0.1
done
check_eq "a schedule due during a broadcast's expansion fires before the expansion ends (runs, broadcast expanded)" "$seen" "1 false"
wait_for 60 "SELECT expanded FROM tasks WHERE task_id = '$bulk'" && ok "... and the broadcast is expanded in the end" \
  || fail "broadcast: $(sql "SELECT state, expanded_upto, targeted FROM tasks WHERE task_id = '$bulk'")"
check_eq "... every device of it" "$(sql "SELECT targeted FROM tasks WHERE task_id = '$bulk'")" "300000"

sql "SELECT _clock_set(NULL)" >/dev/null
finish
