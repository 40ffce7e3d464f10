#!/usr/bin/env bash
# Connection-level faults charged only to the request that failed (doc/reliability.md,
# "Connection-level faults"): healthy and faulty devices of one app on ONE vendor port, so that
# their requests share HTTP/2 connections. The faulty tokens make the mock close the connection
# without an answer (every stream on it dies): 10 FCM and 10 APNs devices for their first 3
# requests (drop3), 2 of each always (drop1000, a vendor that always drops for them). With
# pushplan.max_attempts = 5, a drop that cost an attempt to every request on the connection
# fails healthy devices after 5 of them; a try lost with its connection must not use one of the
# delivery's attempts, and must still end, after 5 x max_attempts such tries.
#   healthy (300 FCM, 300 APNs): all sent, no attempt used but the one that sent
#   drop3: sent, after tries lost with their connection
#   drop1000: failed, "gave up after 25 tries lost with their connection: ...", 25 tries each
# About 40 s.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 56780 56781 "pushplan.databases = 'postgres'" "pushplan.senders = 1" \
  "pushplan.express_senders = 0" "pushplan.poll_interval = 500" "pushplan.http_timeout = 4000" \
  "pushplan.max_attempts = 5" "pushplan.retry_max_backoff = 1"
psql -c "CREATE EXTENSION pushplan" || exit 1
sql "SELECT push_app_create('co')" >/dev/null
configure_vendors co
sql "SELECT push_app_set('co', '{\"broadcast_min_interval\": \"0 seconds\"}')" >/dev/null
# 300 healthy devices of FCM and of APNs (registration ids ok-<vendor>-<i>), and among them, in
# the order of registration (the order of the deliveries, so that they share connections), 10
# of each whose first 3 requests are dropped (drop3-<vendor>-<i>) and 10 of each whose every
# request is (drop1000-...): the tokens carry the mock's fault keyword. The healthy ones are
# answered after 20 ms (slow20), so that some are in flight on a connection when it is dropped
# (answered at once, they had often all been answered by then on a fast machine: the test
# then showed nothing)
check_eq "624 devices: 600 healthy, 20 drop3, 4 drop1000" \
  "$(sql "SELECT push_device_register_batch('co', (SELECT jsonb_agg(jsonb_build_object('registration_id', k || '-' || v || '-' || g,
         'platform', CASE v WHEN 'apns' THEN 'ios' ELSE 'android' END, 'vendor', v,
         'token', 'test-co-' || v || '-' || CASE k WHEN 'ok' THEN 'ok-slow20' ELSE k END || '-' || g) ORDER BY o, v)
         FROM (SELECT 'ok' k, g, g * 10 o FROM generate_series(1, 300) g
               UNION ALL SELECT 'drop3', g, g * 300 - 145 FROM generate_series(1, 10) g
               UNION ALL SELECT 'drop1000', g, g * 150 - 5 FROM generate_series(1, 2) g) x,
              unnest(ARRAY['fcm', 'apns']) v))")" "624"
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  || { fail "workers not running: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"; finish; }
mock_reset

t0=$(date +%s%N)
task=$(sql "SELECT push_send('co', '{\"to\": \"all\", \"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"collateral\", \"android\": {\"title\": \"co\"}}}}')")
# bounded: 25 lost tries of the always-dropping ones, at 1 s to 1.25 s apart
wait_for 90 "SELECT count(*) = 624 FROM deliveries WHERE task_id = '$task' AND status <> 'queued'" \
  && ok "every delivery ended ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" \
  || fail "not finished in 90 s: $(sql "SELECT string_agg(status || ':' || n, ',') FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1) s")"

# kind KIND: "status/attempts used" of the KIND devices, counted ("sent/1=600")
kind() {
  sql "SELECT string_agg(s || '=' || n, ' ' ORDER BY s) FROM (SELECT d.status || '/' || (d.attempts - d.collateral) s, count(*) n
       FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '$task' AND v.registration_id LIKE '$1-%' GROUP BY 1) x"
}
check_eq "the 600 healthy devices are sent, each on its first attempt" "$(kind ok)" "sent/1=600"
lost=$(sql "SELECT count(*) FILTER (WHERE collateral > 0) || ' of them lost ' || sum(collateral) || ' tries with their connection (' || max(collateral) || ' at most)'
       FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '$task' AND v.registration_id LIKE 'ok-%'")
# the test's premise: without it, nothing above was put to the test
[[ $lost != 0\ * ]] && ok "... though $lost" || fail "no healthy device lost a try with its connection: the test shows nothing"
check_eq "the 20 drop3 devices are sent, on their first attempt" "$(kind drop3)" "sent/1=20"
# (at least 1: libcurl itself sends a request again once on a fresh connection when its reused
# one was closed before it was read, so the mock may count 2 requests for one try)
check_eq "... after tries lost with their connection" \
  "$(sql "SELECT min(collateral) >= 1 FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '$task' AND v.registration_id LIKE 'drop3-%'")" "t"
check_eq "the 4 always-dropped devices fail, no attempt used" "$(kind drop1000)" "failed/0=4"
check_eq "... after 25 tries (5 x max_attempts), with the reason" \
  "$(sql "SELECT string_agg(DISTINCT d.attempts || '/' || d.collateral || ' ' || regexp_replace(d.error, ':.*', ''), ',')
       FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = '$task' AND v.registration_id LIKE 'drop1000-%'")" \
  "25/25 gave up after 25 tries lost with their connection"
check_eq "... as push_deliveries shows them (attempts/collateral)" \
  "$(sql "SELECT string_agg(DISTINCT attempts || '/' || collateral, ',') FROM push_deliveries
       WHERE task_id = '$task' AND registration_id LIKE 'drop1000-%'")" "25/25"
# the mock saw at most those 25 requests of each (a request on a connection closed for another
# one's may die before the mock reads it)
most=0
for v in fcm apns; do
  for i in 1 2; do
    n=$(mock_get "/_mock/stats?token=test-co-$v-drop1000-$i" | jq '[.tokens[]?.requests] | add // 0')
    [ "$n" -gt "$most" ] && most=$n
  done
done
# pushplan tries 25 times; libcurl itself sends a request again on a fresh connection when the
# reused one it went out on died before any answer (Curl_retry_request, up to 5 times), so the
# mock may see more than that (17 once for 15 tries), never more than 25 x 6: the vendor's load
# stays bounded. (max_attempts 5, not 3: a healthy device claimed again and again in the same
# bursts as the always-dropping ones was seen lost 14 times on a loaded machine, and 15 at 3)
[ "$most" -ge 1 ] && [ "$most" -le 150 ] && ok "the mock saw at most 25 x 6 requests of an always-dropped device ($most)" \
  || fail "the mock saw $most requests of an always-dropped device"
echo "     errors: $(sql "SELECT string_agg(DISTINCT error, ' | ') FROM deliveries WHERE task_id = '$task' AND status = 'failed'")"
check_eq "the statistics count them as given up" \
  "$(sql "SELECT sum(gave_up) FROM _task_stats_live WHERE task_id = '$task'")" "4"
finish
