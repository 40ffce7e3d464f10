#!/usr/bin/env bash
# Geofence flows and webhook steps end to end (doc/flows.md, "geofence", "webhook"), with the
# workers and the mock vendor: the seed's location scenario.
#   - earthdistance installed as an application would (CREATE EXTENSION earthdistance CASCADE,
#     in public);
#   - the application's own table of positions calls push_location from a trigger, so a flow
#     starts only with a position that commits (a rolled-back one starts nothing);
#   - a device that moves into the store's circle enters the flow: a push (FCM, the mock) with
#     its attribute rendered, then a message through the app's webhook to its e-mail, each
#     attributed to the flow and its step; a device outside gets nothing; staying inside does
#     not enter again;
#   - the webhook message carries the address and the flow's ids, signed, and leaves the
#     device's push token alone.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 56540 56541 "pushplan.databases = 'postgres'" "pushplan.senders = 1" \
  "pushplan.poll_interval = 60000" "pushplan.http_timeout = 4000"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" \
  -c "CREATE EXTENSION earthdistance CASCADE" || exit 1
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and sender run" || fail "workers not running"

sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
sql "SELECT push_plan_create('shop', 'nearby', 'store visits')" >/dev/null
sql "SELECT push_device_register_batch('shop', '[
  {\"registration_id\": \"ann\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-ann\", \"attrs\": {\"name\": \"Ann\", \"email\": \"ann@example.com\"}},
  {\"registration_id\": \"bob\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-bob\", \"attrs\": {\"name\": \"Bob\", \"email\": \"bob@example.com\"}}]')" >/dev/null

# the application's table of positions, and the trigger that reports them (doc/flows.md)
psql <<'EOF' || exit 1
CREATE TABLE positions (id bigserial PRIMARY KEY, registration_id text NOT NULL, lat float8 NOT NULL,
                        lon float8 NOT NULL, seen_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION positions_report() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pushplan.push_location('shop', NEW.registration_id, NEW.lat, NEW.lon, NEW.seen_at);
    RETURN NEW;
END $$;
CREATE TRIGGER positions_report AFTER INSERT ON positions FOR EACH ROW EXECUTE FUNCTION positions_report();
EOF

requests() { mock_get /_mock/stats | jq ".tokens[\"$1\"].requests // 0"; }
run() { sql "SELECT state || ':' || coalesce(step, '-') FROM push_flow_runs WHERE registration_id = '$1' ORDER BY instance_id"; }

mock_reset
flow=$(sql "SELECT push_flow_create('shop', '{\"name\": \"near_store\", \"plan_id\": \"nearby\", \"reentry\": \"1 day\",
  \"trigger\": {\"geofence\": {\"enter\": {\"lat\": 48.8584, \"lon\": 2.2945, \"radius_m\": 200}}},
  \"steps\": [{\"id\": \"push\", \"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"{{attrs.name}}, you are near our store\"}}}},
             {\"id\": \"mail\", \"webhook\": {\"to\": {\"attr\": \"email\"}, \"title\": \"Around the corner\", \"alert\": \"Hi {{attrs.name}}, drop in\"}}]}')")
check "the flow is created" "$flow" "flw_"

# ---- outside, and a rolled-back position inside: nothing ---------------------------------------
psql -c "INSERT INTO positions (registration_id, lat, lon) VALUES ('ann', 48.8700, 2.2945), ('bob', 48.8700, 2.2945)"
check_eq "outside: nobody enters" "$(run ann)$(run bob)" ""
psql -c "BEGIN" -c "INSERT INTO positions (registration_id, lat, lon) VALUES ('bob', 48.8584, 2.2945)" -c "ROLLBACK"
check_eq "rollback: a rolled-back position enters nothing" "$(run bob)" ""
check_eq "rollback: ... and is not stored" \
  "$(sql "SELECT count(*) FROM device_locations l JOIN devices d USING (device_id) WHERE d.registration_id = 'bob'")" "1"

# ---- ann walks into the circle: a push, then the webhook message --------------------------------
out=$(psql -c "BEGIN" -c "INSERT INTO positions (registration_id, lat, lon) VALUES ('ann', 48.8600, 2.2945)" -c "COMMIT" \
  -c "SELECT count(*) FROM pushplan.push_flow_runs WHERE registration_id = 'ann'")
check_eq "enter: ann's instance is there right after the commit" "$out" "1"
wait_for 20 "SELECT count(*) = 2 AND bool_and(d.status = 'sent') FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$flow'" \
  && ok "enter: the push and the webhook message are sent" \
  || fail "enter: $(sql "SELECT string_agg(d.vendor || '=' || d.status || ':' || coalesce(d.error, ''), ' ') FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$flow'") $(run ann)"
check_eq "enter: one push to ann's FCM token" "$(requests fcm-ok-ann)" "1"
check "enter: the push read ann's attribute" "$(mock_get "/_mock/last?token=fcm-ok-ann")" "Ann, you are near our store"
check_eq "webhook: one request for ann's e-mail" "$(requests ann@example.com)" "1"
last=$(mock_get "/_mock/last?token=ann@example.com")
check "webhook: the message is signed" "$last" '"x-pushplan-signature":"sha256='
body=$(echo "$last" | jq -c '.body | fromjson')
check_eq "webhook: it carries the address and the flow's ids" \
  "$(echo "$body" | jq -c '[.flow.to, .flow.flow_id == "'$flow'", .flow.step, .token, .registration_id]')" \
  '[{"attr":"email","value":"ann@example.com"},true,"mail","ann@example.com","ann"]'
check_eq "webhook: ... and its texts, rendered for the device" \
  "$(echo "$body" | jq -c '[.title, .alert]')" '["Around the corner","Hi Ann, drop in"]'
check_eq "attribution: each task names the flow, its step and the plan" \
  "$(sql "SELECT string_agg(flow_step || ':' || plan_id, ',' ORDER BY flow_step) FROM tasks WHERE flow_id = '$flow'")" "mail:nearby,push:nearby"
check_eq "attribution: statistics by step" \
  "$(sql "SELECT string_agg(t.flow_step || '=' || s.sent, ',' ORDER BY t.flow_step) FROM tasks t JOIN push_task_stats s USING (task_id) WHERE t.flow_id = '$flow'")" \
  "mail=1,push=1"
check_eq "enter: ann's instance completed" "$(run ann)" "done:-"
check_eq "webhook: ann's push token untouched" "$(sql "SELECT token FROM devices WHERE registration_id = 'ann'")" "fcm-ok-ann"

# ---- staying inside enters nothing more; bob outside got nothing --------------------------------
psql -c "INSERT INTO positions (registration_id, lat, lon) VALUES ('ann', 48.8590, 2.2945)"
sleep 2
check_eq "inside: no second instance" "$(sql "SELECT count(*) FROM push_flow_runs WHERE registration_id = 'ann'")" "1"
check_eq "inside: still one push" "$(requests fcm-ok-ann)" "1"
check_eq "outside: nothing to bob" "$(requests fcm-ok-bob)/$(requests bob@example.com)" "0/0"

# ---- a flow whose only step is a webhook: its message leaves on its commit's wake-up of the
# senders, not on their next poll (poll_interval is 60 s in this test, and the senders were
# woken by ann's push a few seconds ago: their next poll is far)
flow2=$(sql "SELECT push_flow_create('shop', '{\"name\": \"signup_mail\", \"plan_id\": \"nearby\",
  \"trigger\": {\"event\": \"signup\"},
  \"steps\": [{\"id\": \"mail\", \"webhook\": {\"to\": {\"attr\": \"email\"}, \"title\": \"Welcome\", \"alert\": \"Hi {{attrs.name}}\"}}]}')")
check "webhook only: the flow is created" "$flow2" "flw_"
sql "SELECT push_track('shop', 'bob', 'signup')" >/dev/null
wait_for 10 "SELECT count(*) = 1 AND bool_and(d.status = 'sent') FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$flow2'" \
  && ok "webhook only: the message is sent at once (the senders are woken)" \
  || fail "webhook only: $(sql "SELECT string_agg(d.vendor || '=' || d.status, ' ') FROM deliveries d JOIN tasks t USING (task_id) WHERE t.flow_id = '$flow2'") $(run bob)"
check_eq "webhook only: one request for bob's e-mail" "$(requests bob@example.com)" "1"

finish
