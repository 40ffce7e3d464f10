#!/usr/bin/env bash
# APNs ties a connection to one team and key (doc/vendors.md, "Connections"), and so does the mock:
# a provider token of another team on a connection gets 403 InvalidProviderToken, of another key
# of the same team 429 TooManyProviderTokenUpdates (test/mock_vendor/README.md). Three apps of one
# database, each with its own APNs credentials (team 1 key 1, team 2, team 1 key 2) and the same
# endpoint, send interleaved pushes through one sender: every delivery is sent, and no connection
# carried two teams or two keys. Then a push of one team goes on the connections it already has.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55360 55361 "pushplan.databases = 'postgres'" "pushplan.senders = 1" "pushplan.poll_interval = 500" \
  "pushplan.http_timeout = 2000" "pushplan.max_attempts = 3" "pushplan.retry_max_backoff = 1" \
  "pushplan.max_connections_per_host = 2"
psql -c "CREATE EXTENSION pushplan" || exit 1
stats() { mock_get /_mock/stats; }
# apps: alpha (TEAM123456, KEY1234567), beta (TEAM765432, KEY7654321), gamma (TEAM123456, KEY2222222)
for app in alpha beta gamma; do
  sql "SELECT push_app_create('$app')" >/dev/null
  sql "SELECT push_app_set('$app', '{\"broadcast_min_interval\": \"0 seconds\"}')" >/dev/null
  sql "SELECT push_device_register_batch('$app', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'd' || g,
         'platform', 'ios', 'vendor', 'apns', 'token', 'test-$app-' || g)) FROM generate_series(1, 200) g))" >/dev/null
done
mock_apns_setup alpha TEAM123456 KEY1234567 apns.p8 psql >/dev/null &&
  mock_apns_setup beta TEAM765432 KEY7654321 apns_t2.p8 psql >/dev/null &&
  mock_apns_setup gamma TEAM123456 KEY2222222 apns_k2.p8 psql >/dev/null || { fail "vendor setup"; finish; }
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  || { fail "workers not running: $(sql "SELECT string_agg(backend_type, ',') FROM pg_stat_activity")"; finish; }
outcomes() { sql "SELECT coalesce(string_agg(status || '=' || n, ' ' ORDER BY status), 'none') FROM (SELECT status, count(*) n FROM deliveries GROUP BY 1) s"; }

# ---- three teams' pushes at once, through one sender --------------------------------------------
mock_reset
c0=$(stats | jq .connections.accepted)
# rounds of one broadcast per app, committed together: the sender's batches mix the three apps
for round in 1 2 3; do
  sql "SELECT push_send(app, '{\"to\": \"all\", \"body\": {\"platform\": \"ios\", \"notification\": {\"alert\": \"round $round\"}}}')
       FROM unnest(ARRAY['alpha', 'beta', 'gamma']) app" >/dev/null
done
wait_for 40 "SELECT count(*) = 9 FROM tasks WHERE state = 'done'" \
  || fail "the 9 pushes did not end in 40 s: $(outcomes)"
check_eq "every delivery of the three apps sent" \
  "$(sql "SELECT string_agg(a.app || ': ' || s, ', ' ORDER BY a.app) FROM (SELECT app_id, string_agg(status || '=' || n, ' ' ORDER BY status) s
          FROM (SELECT d.app_id, d.status, count(*) n FROM deliveries d GROUP BY 1, 2) x GROUP BY 1) y JOIN apps a USING (app_id)")" \
  "alpha: sent=600, beta: sent=600, gamma: sent=600"
echo "     errors: $(sql "SELECT coalesce(string_agg(a.app || ' ' || e, ', '), 'none') FROM (SELECT app_id, error || ' x' || count(*) e FROM deliveries WHERE error IS NOT NULL GROUP BY app_id, error) x JOIN apps a USING (app_id)")"
st=$(stats)
# (a transport failure, a connection reset under load, is retried and shows no status here)
check_eq "the mock answered every push with 200: no provider token refused" "$(jq -c '.status | del(.["200"])' <<<"$st")" '{}'
if [ "$(jq '.status["200"]' <<<"$st")" -ge 1800 ]; then ok "... 1800 of them"; else fail "... only $(jq '.status["200"]' <<<"$st") answered 200"; fi
check_eq "no connection carried tokens of two teams" "$(jq .connections.apns_two_teams <<<"$st")" 0
check_eq "no connection carried tokens of two keys" "$(jq .connections.apns_two_keys <<<"$st")" 0
c1=$(jq .connections.accepted <<<"$st")
# the sender's connections: all but the second /_mock/stats request's (c0 came after the first)
opened=$((c1 - c0 - 1))
# 3 pools of at most 2 connections (and room for a reconnection after a reset)
if [ "$opened" -ge 3 ] && [ "$opened" -le 8 ]; then ok "one pool per team and key: $opened connections"
else fail "the sender opened $opened connections for 3 teams and keys (wanted 3 to 8)"; fi
sender=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender'")

# ---- one team alone: on the connections it already has -------------------------------------------
mock_reset
c0=$(stats | jq .connections.accepted)
task=$(sql "SELECT push_send('alpha', '{\"to\": \"all\", \"body\": {\"platform\": \"ios\", \"notification\": {\"alert\": \"alone\"}}}')")
wait_for 20 "SELECT state = 'done' FROM tasks WHERE task_id = '$task'" || fail "alpha's push did not end: $(outcomes)"
check_eq "alpha's push sent" "$(sql "SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) n FROM deliveries WHERE task_id = '$task' GROUP BY 1) s")" "sent=200"
st=$(stats)
check_eq "... on alpha's connections: none opened" "$(( $(jq .connections.accepted <<<"$st") - c0 - 1 ))" 0
check_eq "... by the same sender" "$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan sender'")" "$sender"
check_eq "... and no connection carried two teams" "$(jq .connections.apns_two_teams <<<"$st")" 0

finish
