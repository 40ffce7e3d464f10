#!/usr/bin/env bash
# Schedules on the distributed layout (doc/scale-out.md, "Schedules") on a coordinator and two
# workers, with the mock vendor: the coordinator's scheduler fires a one-time schedule and two
# occurrences of a daily one; each occurrence's task is expanded into the shards and sent by the
# worker nodes' senders, each device exactly once (the mock's per-token counts); an occurrence
# fires once, whatever the nodes; push_event and push_event_batch count the task's opens, clicks
# and conversions; a schedule at each device's local time (zone_type 2) fires once and each
# device is sent at its own wall time, on its node; an intelligent schedule's devices are each
# sent at their best time, from send profiles each node keeps for its own shards.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
send_env 56670 56660

csql "SELECT push_app_create('shop')" >/dev/null || exit 1
mock_vendor_setup shop coord >/dev/null || exit 1
coord -c "CREATE EXTENSION pushplan_test" >/dev/null || exit 1
check_eq "push_distribute on a fresh install" "$(csql "SELECT push_distribute()")" \
  "distributed: 0 devices renumbered, 8 shards per distributed table"
for node in coord worker1 worker2; do
  $node -c "ALTER SYSTEM SET pushplan.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
done
wait_for 30 "SELECT (SELECT count(*) FROM run_command_on_workers(\$q\$SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan sender'\$q\$) WHERE result = '2') = 2" \
  && ok "two senders run on each worker node" || fail "senders not running on the worker nodes"
check_eq "the worker nodes' schedulers do not serve the cluster (the coordinator's does)" \
  "$(coord -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'")" "1"

csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'r' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'cs-' || g)) FROM generate_series(1, 1000) g))" >/dev/null
mock_curl /_mock/reset -X POST >/dev/null

# ---- a one-time schedule, 3 seconds ahead (the app's zone is UTC) --------------------------------
at=$(csql "SELECT to_char(now() AT TIME ZONE 'UTC' + interval '3 seconds', 'YYYY-MM-DD HH24:MI:SS')")
s1=$(csql "SELECT push_schedule_create('shop', '{\"name\": \"once\", \"enabled\": true,
        \"trigger\": {\"single\": {\"time\": \"$at\"}},
        \"push\": {\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"once\"}}}}')" 2>&1)
check "a one-time schedule is stored on the distributed layout" "$s1" "sch_"
wait_for 30 "SELECT state = 'fired' FROM schedule_runs WHERE schedule_id = '$s1'" \
  && ok "... it fires" || fail "one-time: $(csql "SELECT * FROM push_schedule_runs") $(csql "SELECT next_run_at, enabled FROM schedules WHERE schedule_id = '$s1'")"
t1=$(csql "SELECT task_id FROM schedule_runs WHERE schedule_id = '$s1'")
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$t1'" \
  && ok "... its task is sent by the worker nodes" \
  || fail "task $t1: $(csql "SELECT state, targeted FROM tasks WHERE task_id = '$t1'") $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = '$t1' GROUP BY 1")"
check_eq "... every delivery sent" "$(csql "SELECT count(*) FILTER (WHERE status = 'sent') || '/' || count(*) FROM deliveries WHERE task_id = '$t1'")" "1000/1000"
check_eq "... each of the 1000 tokens exactly once (tokens, requests, max, min)" "$(token_counts cs-)" "1000 1000 1 1"
per_node=$(sent_per_node "$t1")
echo "     sent per node (port:deliveries): $per_node"
check_eq "... both worker nodes sent their own shards' deliveries" "$(echo "$per_node" | tr ' ' '\n' | awk -F: '$2 > 0' | wc -l)" "2"
check_eq "... it fired once, and is spent" \
  "$(csql "SELECT (SELECT count(*) FROM schedule_runs WHERE schedule_id = '$s1') || ' ' || runs || ' ' || (next_run_at IS NULL) FROM schedules WHERE schedule_id = '$s1'")" "1 1 true"

# ---- a daily schedule: two occurrences, the second a day on (every node's clock moved) ------------
mock_curl /_mock/reset -X POST >/dev/null
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'd' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'cd-' || g)) FROM generate_series(1, 3) g))" >/dev/null
at=$(csql "SELECT to_char(now() AT TIME ZONE 'UTC' + interval '3 seconds', 'HH24:MI:SS')")
day=$(csql "SELECT to_char(now() AT TIME ZONE 'UTC' + interval '3 seconds', 'YYYY-MM-DD')")
last=$(csql "SELECT to_char(now() AT TIME ZONE 'UTC' + interval '10 days', 'YYYY-MM-DD')")
s2=$(csql "SELECT push_schedule_create('shop', '{\"name\": \"daily\", \"enabled\": true,
        \"trigger\": {\"periodical\": {\"start\": \"$day 00:00:00\", \"end\": \"$last 23:59:59\", \"time\": \"$at\", \"time_unit\": \"day\"}},
        \"push\": {\"to\": {\"registration_id\": [\"d1\", \"d2\", \"d3\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"daily\"}}}}')" 2>&1)
check "a daily schedule is stored" "$s2" "sch_"
wait_for 30 "SELECT count(*) = 1 FROM schedule_runs WHERE schedule_id = '$s2' AND state = 'fired'" \
  && ok "... its first occurrence fires" || fail "daily: $(csql "SELECT * FROM push_schedule_runs WHERE schedule_id = '$s2'")"
next=$(csql "SELECT next_run_at FROM schedules WHERE schedule_id = '$s2'")
# every node's clock a day on, two seconds before the next occurrence: the coordinator's
# scheduler fires by its clock, the worker nodes' senders claim by theirs
for node in coord worker1 worker2; do
  $node -c "SELECT pushplan._clock_set('$next'::timestamptz - interval '2 seconds')" >/dev/null 2>&1 \
    || $node -c "CREATE EXTENSION IF NOT EXISTS pushplan_test" -c "SELECT pushplan._clock_set('$next'::timestamptz - interval '2 seconds')" >/dev/null
done
wait_for 30 "SELECT count(*) = 2 FROM schedule_runs WHERE schedule_id = '$s2' AND state = 'fired'" \
  && ok "... its second occurrence, a day later, fires" || fail "daily, second: $(csql "SELECT * FROM push_schedule_runs WHERE schedule_id = '$s2'")"
wait_for 60 "SELECT bool_and(t.state = 'done') FROM schedule_runs r JOIN tasks t USING (task_id) WHERE r.schedule_id = '$s2'" \
  && ok "... both occurrences' tasks are done" || fail "daily tasks: $(csql "SELECT t.task_id, t.state FROM schedule_runs r JOIN tasks t USING (task_id) WHERE r.schedule_id = '$s2'")"
check_eq "... each of the 3 devices got each occurrence once (tokens, requests, max, min)" "$(token_counts cd-)" "3 6 2 2"
check_eq "... and no other device anything" "$(token_counts cs-)" "0 0 0 0"
check_eq "... two occurrences recorded, none twice" \
  "$(csql "SELECT count(*) || ' ' || count(DISTINCT occurrence) || ' ' || count(DISTINCT task_id) FROM schedule_runs WHERE schedule_id = '$s2'")" "2 2 2"
for node in coord worker1 worker2; do $node -c "SELECT pushplan._clock_set(NULL)" >/dev/null 2>&1; done
check_eq "a device's export shows its two deliveries, read on its shard" \
  "$(csql "SELECT jsonb_array_length(push_device_export('shop', 'd1')->'device'->'deliveries') || ' ' ||
                  (SELECT string_agg(x->>'status', ',') FROM jsonb_array_elements(push_device_export('shop', 'd1')->'device'->'deliveries') x)" 2>&1)" \
  "2 sent,sent"

# ---- events on the layout: each statement on the device's shard (doc/scale-out.md, "Events") ------
ev_state() {  # opened clicked converted converted_value of t1, events logged/counted, r1's bits
  echo "$(csql "SELECT opened || ' ' || clicked || ' ' || converted || ' ' || converted_value FROM push_task_stats WHERE task_id = '$t1'")" \
       "$(csql "SELECT count(*) || '/' || count(*) FILTER (WHERE counted) FROM events WHERE task_id = '$t1'")" \
       "$(csql "SELECT events FROM deliveries WHERE task_id = '$t1' AND device_id = _device_key((SELECT app_id FROM apps WHERE app = 'shop'), 'r1')")"
}
check_eq "push_event: an open is counted, logged on the device's shard, its delivery's bit set" \
  "$(csql "SELECT push_event('shop', 'r1', '$t1', 'open')" 2>&1 >/dev/null; ev_state)" "1 0 0 0 1/1 2"
check_eq "... the same open again is logged, not counted" \
  "$(csql "SELECT push_event('shop', 'r1', '$t1', 'open')" 2>&1 >/dev/null; ev_state)" "1 0 0 0 2/1 2"
check_eq "push_event_batch: opens, a click, a conversion with its value, a repeat in the batch" \
  "$(csql "SELECT push_event_batch('shop', '[{\"registration_id\": \"r2\", \"task_id\": \"$t1\", \"kind\": \"open\"},
        {\"registration_id\": \"r3\", \"task_id\": \"$t1\", \"kind\": \"open\"},
        {\"registration_id\": \"r2\", \"task_id\": \"$t1\", \"kind\": \"open\"},
        {\"registration_id\": \"r1\", \"task_id\": \"$t1\", \"kind\": \"click\"},
        {\"registration_id\": \"r3\", \"task_id\": \"$t1\", \"kind\": \"convert\", \"value\": 12.5}]')" 2>&1 >/dev/null; ev_state)" \
  "3 1 1 12.5 7/5 6"
check_eq "... an unregistered device: the event named, nothing written" \
  "$(err coord "SELECT pushplan.push_event_batch('shop', '[{\"registration_id\": \"r4\", \"task_id\": \"$t1\", \"kind\": \"open\"},
        {\"registration_id\": \"nobody\", \"task_id\": \"$t1\", \"kind\": \"open\"}]')") $(ev_state)" \
  'events[1]: 92039: device "nobody" is not registered 3 1 1 12.5 7/5 6'
check_eq "... a device the task did not target (d1 came later): 92752, nothing written" \
  "$(err coord "SELECT pushplan.push_event_batch('shop', '[{\"registration_id\": \"r4\", \"task_id\": \"$t1\", \"kind\": \"open\"},
        {\"registration_id\": \"d1\", \"task_id\": \"$t1\", \"kind\": \"open\"}]')") $(ev_state)" \
  '92752: device "d1" was not targeted by task "'"$t1"'" 3 1 1 12.5 7/5 6'
check_eq "... and push_event alike" \
  "$(err coord "SELECT pushplan.push_event('shop', 'd1', '$t1', 'open')")" \
  '92752: device "d1" was not targeted by task "'"$t1"'"'
check_eq "the counts survive the coordinator's fold of the statistics (opened, clicked, converted)" \
  "$(csql "SELECT _stats_rollup() >= 0" >/dev/null; csql "SELECT opened || ' ' || clicked || ' ' || converted FROM push_task_stats WHERE task_id = '$t1'")" "3 1 1"

# ---- a schedule at each device's local time (zone_type 2, doc/schedules.md) ----------------------
# the wall time that comes at UTC+14 in 3 seconds: Kiritimati's devices are due then, UTC's 14
# hours later (every node's clock moved there)
mock_curl /_mock/reset -X POST >/dev/null
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'z' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'cz-' || g,
        'timezone', CASE WHEN g <= 2 THEN 'Pacific/Kiritimati' ELSE 'UTC' END)) FROM generate_series(1, 4) g))" >/dev/null
wall=$(csql "SELECT to_char(now() AT TIME ZONE 'Pacific/Kiritimati' + interval '3 seconds', 'YYYY-MM-DD HH24:MI:SS')")
s3=$(csql "SELECT push_schedule_create('shop', '{\"name\": \"local\", \"enabled\": true,
        \"trigger\": {\"single\": {\"time\": \"$wall\", \"zone_type\": 2}},
        \"push\": {\"to\": {\"registration_id\": [\"z1\", \"z2\", \"z3\", \"z4\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"at 9\"}}}}')" 2>&1)
check "a schedule at each device's local time is stored on the distributed layout" "$s3" "sch_"
wait_for 30 "SELECT state = 'fired' FROM schedule_runs WHERE schedule_id = '$s3'" \
  && ok "... it fires when its wall time comes at UTC+14" || fail "local: $(csql "SELECT * FROM push_schedule_runs WHERE schedule_id = '$s3'")"
t3=$(csql "SELECT task_id FROM schedule_runs WHERE schedule_id = '$s3'")
# (an occurrence is recorded fired before its task is expanded, in a transaction of its own)
wait_for 30 "SELECT count(*) = 4 FROM deliveries WHERE task_id = '$t3'" \
  || fail "local: the task's deliveries: $(csql "SELECT state, targeted FROM tasks WHERE task_id = '$t3'")"
check_eq "... each device planned at that wall time in its own zone" \
  "$(csql "SELECT string_agg(v.registration_id || ' ' || to_char(d.send_at AT TIME ZONE v.timezone, 'YYYY-MM-DD HH24:MI:SS'), ', ' ORDER BY v.registration_id)
           FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '$t3'")" \
  "z1 $wall, z2 $wall, z3 $wall, z4 $wall"
wait_for 30 "SELECT count(*) = 2 FROM deliveries WHERE task_id = '$t3' AND status = 'sent'" \
  && ok "... Kiritimati's two are sent by their nodes" || fail "local, Kiritimati: $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = '$t3' GROUP BY 1")"
check_eq "... UTC's two wait for their time, 14 hours on" \
  "$(csql "SELECT string_agg(status, ' ') FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '$t3' AND v.timezone = 'UTC'")" "queued queued"
for node in coord worker1 worker2; do
  $node -c "SELECT pushplan._clock_set('$wall'::timestamp AT TIME ZONE 'UTC' - interval '2 seconds')" >/dev/null
done
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$t3'" \
  && ok "... and are sent when it comes (every node's clock moved)" || fail "local, UTC: $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = '$t3' GROUP BY 1")"
check_eq "... each of the 4 tokens exactly once (tokens, requests, max, min)" "$(token_counts cz-)" "4 4 1 1"
for node in coord worker1 worker2; do $node -c "SELECT pushplan._clock_set(NULL)" >/dev/null 2>&1; done

# ---- intelligent send times (doc/smart_send.md): visits recorded through the coordinator on the
# devices' shards, the send profiles kept by each node's scheduler for its own shards, and an
# intelligent schedule's task planned at each device's best time in its own zone
csql "SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'm' || g,
        'platform', 'android', 'vendor', 'fcm', 'token', 'cm-' || g,
        'timezone', CASE WHEN g <= 3 THEN 'Asia/Tokyo' WHEN g <= 6 THEN 'America/New_York' ELSE 'UTC' END))
        FROM generate_series(1, 7) g))" >/dev/null
# five days of visits: Tokyo's at 12:45, New York's at 07:30 (local); m7 has none
csql "SELECT count(push_device_activity('shop', 'm' || g,
        ((now() AT TIME ZONE z)::date - d + l) AT TIME ZONE z))
      FROM (SELECT g, CASE WHEN g <= 3 THEN 'Asia/Tokyo' ELSE 'America/New_York' END AS z,
                   CASE WHEN g <= 3 THEN time '12:45' ELSE time '07:30' END AS l FROM generate_series(1, 6) g) v,
           generate_series(1, 5) d" >/dev/null
m_ids="SELECT device_id FROM devices WHERE registration_id LIKE 'm%'"
check_eq "the visits marked their devices' profiles stale, on their shards" \
  "$(csql "SELECT count(*) FROM smart_profile_pending WHERE device_id IN ($m_ids)")" "6"
wait_for 40 "SELECT (SELECT count(*) FROM smart_profile_pending WHERE device_id IN ($m_ids)) = 0
             AND (SELECT count(*) FROM device_send_profiles WHERE device_id IN ($m_ids) AND visits = 5) = 6" \
  && ok "... the nodes' schedulers refresh the profiles of their own shards" \
  || fail "profiles: marks $(csql "SELECT count(*) FROM smart_profile_pending WHERE device_id IN ($m_ids)"), profiles $(csql "SELECT count(*) FROM device_send_profiles WHERE device_id IN ($m_ids)")"
check_eq "... the coordinator holds no shard: the worker nodes refreshed them" \
  "$(csql "SELECT count(*) FROM pg_dist_placement p JOIN pg_dist_shard s USING (shardid)
           WHERE s.logicalrelid = 'pushplan.device_send_profiles'::regclass AND p.groupid = 0")" "0"
mock_curl /_mock/reset -X POST >/dev/null
s4=$(csql "SELECT push_schedule_create('shop', '{\"name\": \"smart\", \"enabled\": true,
        \"trigger\": {\"intelligent\": {\"backup_time\": \"now\"}},
        \"push\": {\"to\": {\"registration_id\": [\"m1\", \"m2\", \"m3\", \"m4\", \"m5\", \"m6\", \"m7\"]},
                   \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"at your time\"}}}}')" 2>&1)
check "an intelligent schedule is stored on the distributed layout" "$s4" "sch_"
wait_for 30 "SELECT state = 'fired' FROM schedule_runs WHERE schedule_id = '$s4'" \
  && ok "... it fires" || fail "intelligent: $(csql "SELECT * FROM push_schedule_runs WHERE schedule_id = '$s4'" 2>&1)"
t4=$(csql "SELECT task_id FROM schedule_runs WHERE schedule_id = '$s4'")
wait_for 30 "SELECT count(*) = 7 FROM deliveries WHERE task_id = '$t4'" \
  && ok "... its task is expanded" || fail "intelligent task: $(csql "SELECT state, targeted FROM tasks WHERE task_id = '$t4'" 2>&1)"
check_eq "... each device with history planned at its best time in its own zone, within the day" \
  "$(csql "SELECT string_agg(v.registration_id || ' ' || to_char(d.send_at AT TIME ZONE v.timezone, 'HH24:MI'), ', ' ORDER BY v.registration_id)
           FROM deliveries d JOIN devices v USING (device_id), tasks t
           WHERE d.task_id = '$t4' AND t.task_id = '$t4' AND v.registration_id <> 'm7'
             AND d.send_at >= t.created_at - interval '1 minute' AND d.send_at < t.created_at + interval '1 day'" 2>&1)" \
  "m1 12:45, m2 12:45, m3 12:45, m4 07:30, m5 07:30, m6 07:30"
wait_for 30 "SELECT d.status = 'sent' FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '$t4' AND v.registration_id = 'm7'" \
  && ok "... the one without history sent now (backup_time \"now\")" \
  || fail "m7: $(csql "SELECT d.status, d.send_at FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '$t4' AND v.registration_id = 'm7'")"
for node in coord worker1 worker2; do
  $node -c "SELECT pushplan._clock_set(now() + interval '1 day')" >/dev/null
done
wait_for 60 "SELECT state = 'done' FROM tasks WHERE task_id = '$t4'" \
  && ok "... the others sent when their time comes (every node's clock a day on)" \
  || fail "intelligent, later: $(csql "SELECT status, count(*) FROM deliveries WHERE task_id = '$t4' GROUP BY 1")"
check_eq "... each of the 7 tokens exactly once (tokens, requests, max, min)" "$(token_counts cm-)" "7 7 1 1"
for node in coord worker1 worker2; do $node -c "SELECT pushplan._clock_set(NULL)" >/dev/null 2>&1; done
tomorrow=$(csql "SELECT to_char(now() AT TIME ZONE 'UTC' + interval '1 day', 'YYYY-MM-DD HH24:MI:SS')")
check "a schedule whose push has variants is stored (its firings are pushes with variants)" \
  "$(csql "SELECT push_schedule_create('shop', '{\"name\": \"ab\", \"trigger\": {\"single\": {\"time\": \"$tomorrow\"}},
      \"push\": {\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"x\"}},
                 \"variants\": [{\"name\": \"A\", \"weight\": 50, \"notification\": {\"alert\": \"a\"}}, {\"name\": \"B\", \"weight\": 50, \"notification\": {\"alert\": \"b\"}}]}}')" 2>&1)" "sch_"
finish
