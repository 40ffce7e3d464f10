#!/usr/bin/env bash
# A branch on one of the application's own views (doc/flows.md, "Branch conditions"), with the
# workers, the mock vendor and the test clock: a flow waits an hour, then branches on
# {"view": "shop.big_spenders"} (a view of the application's customers table, allowed for the
# app): the users in the view get one push, the others another. The table changes between the
# users' entry and the branch, and the branch sees the change: the view is read when the branch
# runs, in the scheduler's transaction, with the view owner's privileges.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 56700 56701 "pushplan.databases = 'postgres'" "pushplan.senders = 1" \
  "pushplan.poll_interval = 1000" "pushplan.http_timeout = 2000"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
sql "SELECT push_device_register_batch('shop', '[
  {\"registration_id\": \"ann\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-ann\"},
  {\"registration_id\": \"bob\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-bob\"},
  {\"registration_id\": \"cat\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-cat\"},
  {\"registration_id\": \"dan\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-dan\"}]')" >/dev/null
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and sender run" || fail "workers not running"

# the application's own table, a view over it, owned by the application's role; the workers may
# read it (push_audience_view_allow says what to grant otherwise)
psql <<'EOF' || exit 1
CREATE ROLE shop_owner;
CREATE SCHEMA shop AUTHORIZATION shop_owner;
SET ROLE shop_owner;
CREATE TABLE shop.customers (registration_id text PRIMARY KEY, spent numeric NOT NULL);
INSERT INTO shop.customers VALUES ('ann', 500), ('bob', 900), ('cat', 10), ('dan', 20);
CREATE VIEW shop.big_spenders AS SELECT registration_id FROM shop.customers WHERE spent >= 100;
GRANT USAGE ON SCHEMA shop TO pushplan_worker, postgres;
GRANT SELECT ON shop.big_spenders TO pushplan_worker;
RESET ROLE;
EOF
check_eq "the view allowed" "$(sql "SELECT push_audience_view_allow('shop', 'shop.big_spenders')")" "registration_id"

clock() { sql "SELECT _clock_set('$1'::timestamptz)" >/dev/null; }
alert() { sql "SELECT string_agg(t.push #>> '{body,notification,alert}', ' | ' ORDER BY t.created_at) FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND d.registration_id = '$1' AND t.flow_id = '$2'"; }
send() { echo "{\"id\": \"$1\", \"send\": {\"body\": {\"platform\": \"all\", \"notification\": {\"alert\": \"$2\"}}}}"; }

clock '2090-01-01 00:00:00+00'
mock_reset
flow=$(sql "SELECT push_flow_create('shop', '{\"name\": \"thanks\", \"trigger\": {\"event\": \"visit\"},
  \"steps\": [{\"wait\": \"1 hour\"},
              {\"branch\": [{\"if\": {\"view\": \"shop.big_spenders\"}, \"then\": [$(send vip "A gift for our best customers")]}],
               \"else\": [$(send other "10 % off your next order")]}]}')")
check "flow created" "$flow" "flw_"
for u in ann bob cat dan; do sql "SELECT push_track('shop', '$u', 'visit')" >/dev/null; done
wait_for 15 "SELECT count(*) = 4 FROM push_flow_runs WHERE flow = 'thanks' AND next_at > clock_now()" \
  && ok "four users wait" || fail "not waiting: $(sql "SELECT * FROM push_flow_runs")"

# between entry and the branch: bob's order is refunded, cat places a big one (the application's
# own writes, in its own transaction)
psql -c "BEGIN" -c "UPDATE shop.customers SET spent = 0 WHERE registration_id = 'bob'" \
  -c "UPDATE shop.customers SET spent = 700 WHERE registration_id = 'cat'" -c "COMMIT" || fail "the table's update"

clock '2090-01-01 01:00:05+00'
wait_for 20 "SELECT count(*) = 4 FROM push_deliveries d JOIN tasks t USING (task_id) WHERE d.status = 'sent' AND t.flow_id = '$flow'" \
  && ok "four pushes sent" || fail "not sent: $(sql "SELECT * FROM push_flow_runs")"
check_eq "ann (in the view throughout): the gift" "$(alert ann "$flow")" "A gift for our best customers"
check_eq "bob (refunded since he entered): the discount" "$(alert bob "$flow")" "10 % off your next order"
check_eq "cat (a big order since she entered): the gift" "$(alert cat "$flow")" "A gift for our best customers"
check_eq "dan (never in the view): the discount" "$(alert dan "$flow")" "10 % off your next order"
check_eq "the steps each task names" \
  "$(sql "SELECT string_agg(DISTINCT flow_step, ',' ORDER BY flow_step) FROM tasks WHERE flow_id = '$flow'")" "other,vip"
check_eq "every instance done" "$(sql "SELECT string_agg(DISTINCT state, ',') FROM push_flow_runs WHERE flow = 'thanks'")" "done"
last=$(mock_get "/_mock/last?token=fcm-ok-cat")
check "the vendor got cat's gift" "$last" "A gift for our best customers"

finish
