#!/usr/bin/env bash
# A flow's first inactivity evaluation over many devices does not hold the scheduler
# (doc/flows.md, "Inactive"): with the workers, the mock vendor and the test clock, an inactive
# flow's first evaluation over DEVICES devices (200,000 by default, in chunks of 4,000) runs
# across the scheduler's turns, and while it runs
#   another flow's due step sends its push, and a transactional push_send is sent, each within
#   a bounded wait (the evaluation is checked to be still under way when both have gone);
#   the server is crashed (SIGKILL of the scheduler: every backend restarts) and the evaluation
#   resumes after its last committed chunk;
# and at the end every device inactive at the evaluation's time has entered exactly once, and
# nobody else.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
devices=${FLOW_CHUNK_DEVICES:-200000}
vendor_env_start 56702 56703 "pushplan.databases = 'postgres'" "pushplan.senders = 1" \
  "pushplan.poll_interval = 1000" "pushplan.http_timeout = 2000" "pushplan.flow_trigger_chunk = 4000"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and sender run" || fail "workers not running"
# the test clock a little ahead of the real time only: push_send's pushes expire by the real
# time (its time_to_live), the flows' steps fall due by the clock
clock() { sql "SELECT _clock_set($1)" >/dev/null; }
clock "now() + interval '1 minute'"
# two users who will be sent to, and the bulk: devices registered 20 days ago, one app_open each
# spread over those 20 days (about 65 % inactive for 7 days), inserted directly
sql "SELECT push_device_register_batch('shop', '[
  {\"registration_id\": \"probe\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-probe\"},
  {\"registration_id\": \"buyer\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-buyer\"}]')" >/dev/null
sql "UPDATE devices SET created_at = clock_now()" >/dev/null
sql "INSERT INTO devices (app_id, registration_id, platform, vendor, token, created_at)
     SELECT (SELECT app_id FROM apps WHERE app = 'shop'), 'd' || i, 'android', 'fcm', 'bulk-' || i,
            clock_now() - interval '20 days' FROM generate_series(1, $devices) i" || exit 1
sql "INSERT INTO tracked_events (app_id, device_id, event, props, at, tracked_at)
     SELECT d.app_id, d.device_id, 'app_open', '{}', t, t
     FROM devices d, LATERAL (SELECT clock_now() - interval '20 days'
                                     + ((d.device_id * 7919) % (20 * 24 * 60)) * interval '1 minute' AS t) x
     WHERE d.registration_id LIKE 'd%' ORDER BY t" || exit 1
psql -c "ANALYZE pushplan.devices" -c "ANALYZE pushplan.tracked_events"

# another flow whose step falls due while the evaluation runs
ping=$(sql "SELECT push_flow_create('shop', '{\"name\": \"ping\", \"trigger\": {\"event\": \"ping\"},
  \"steps\": [{\"wait\": \"1 minute\"}, {\"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"pong\"}}}}]}')")
sql "SELECT push_track('shop', 'probe', 'ping')" >/dev/null
wait_for 15 "SELECT count(*) = 1 FROM push_flow_runs WHERE flow = 'ping' AND next_at > clock_now()" \
  && ok "ping waits" || fail "ping does not wait: $(sql "SELECT * FROM push_flow_runs WHERE flow = 'ping'")"

# the inactive flow: its first evaluation starts at once (its step waits long: it sends nothing)
winback=$(sql "SELECT push_flow_create('shop', '{\"name\": \"winback\", \"reentry\": \"0\",
  \"trigger\": {\"inactive\": {\"event\": \"app_open\", \"for\": \"7 days\"}}, \"steps\": [{\"wait\": \"30 days\"}]}')")
wait_for 30 "SELECT resume_version = 1 FROM flow_trigger_evals WHERE flow_id = '$winback'" \
  && ok "the first evaluation runs in chunks" || fail "no chunk: $(sql "SELECT * FROM flow_trigger_evals")"

# while it runs: ping's step falls due, and a transactional push is sent
clock "clock_now() + interval '2 minutes'"
task=$(sql "SELECT push_send('shop', '{\"to\": {\"registration_id\": [\"buyer\"]}, \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"your order shipped\"}}}')")
wait_for 20 "SELECT count(*) = 1 FROM push_deliveries WHERE status = 'sent' AND registration_id = 'buyer'" \
  && ok "the transactional push sent within 20 s" || fail "transactional push not sent: $(sql "SELECT * FROM push_deliveries WHERE task_id = '$task'")"
wait_for 20 "SELECT count(*) = 1 FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND t.flow_id = '$ping'" \
  && ok "the other flow's due step sent within 20 s" || fail "ping's push not sent: $(sql "SELECT * FROM push_flow_runs WHERE flow = 'ping'")"
progress=$(sql "SELECT resume_after < (SELECT max(device_id) FROM devices) FROM flow_trigger_evals WHERE flow_id = '$winback'")
check_eq "both went out while the evaluation was still under way" "$progress" "t"
chunks_before=$(sql "SELECT count(DISTINCT device_id) FROM flow_instances WHERE flow_id = '$winback'")

# a crash in the middle: every backend restarts (and the test clock with them)
pid=$(psql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'")
kill -9 "$pid"
sleep 1
wait_for 30 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" 2>/dev/null \
  && ok "crash: workers back" || fail "crash: workers not back"
clock "greatest(now(), (SELECT resume_at FROM flow_trigger_evals WHERE flow_id = '$winback')) + interval '3 minutes'"
at=$(sql "SELECT resume_at FROM flow_trigger_evals WHERE flow_id = '$winback'")
check_eq "crash: the evaluation resumes where it was" \
  "$(sql "SELECT resume_version = 1 AND resume_after IS NOT NULL FROM flow_trigger_evals WHERE flow_id = '$winback'")" "t"

wait_for 400 "SELECT version = 1 AND resume_version IS NULL FROM flow_trigger_evals WHERE flow_id = '$winback'" \
  && ok "the first evaluation done" || fail "not done: $(sql "SELECT * FROM flow_trigger_evals")"
check_eq "it was recorded at the first chunk's time" \
  "$(sql "SELECT evaluated_at = '$at' FROM flow_trigger_evals WHERE flow_id = '$winback'")" "t"
# who was inactive for 7 days at that time
sql "CREATE TABLE public.expected AS SELECT d.device_id FROM devices d
     LEFT JOIN LATERAL (SELECT max(tracked_at) AS last FROM tracked_events e
                        WHERE e.device_id = d.device_id AND e.event = 'app_open') l ON true
     WHERE d.registered AND greatest(d.created_at, l.last) <= timestamptz '$at' - interval '7 days'" >/dev/null
expected=$(sql "SELECT count(*) FROM public.expected")
echo "# $devices devices, $expected inactive for 7 days at $at"
check_eq "every inactive device entered exactly once, nobody else (entered, distinct, missed)" \
  "$(sql "SELECT count(*) || ',' || count(DISTINCT device_id) || ',' || (SELECT count(*) FROM public.expected x
          WHERE NOT EXISTS (SELECT 1 FROM flow_instances i WHERE i.flow_id = '$winback' AND i.device_id = x.device_id))
          FROM flow_instances WHERE flow_id = '$winback'")" "$expected,$expected,0"
check_eq "the evaluation's users add up over the chunks" \
  "$(sql "SELECT users FROM flow_trigger_evals WHERE flow_id = '$winback'")" "$expected"
echo "# entered before the crash: $chunks_before of $expected"

finish
