#!/usr/bin/env bash
# Flows end to end (doc/flows.md): the seed's cart abandoned scenario with the workers, the mock
# vendor and the test clock. The application's own tables (cart_items, orders) call push_track
# from triggers, as doc/flows.md shows, so a flow starts and exits only with what commits:
#   add to cart -> wait_until purchase, timeout 1 hour -> no purchase -> the push is sent, with
#   the user's attribute in it, attributed to the flow, its step and the plan;
#   a purchase during the wait -> the instance exits in the order's transaction (seen by the
#   SELECT right after its commit), and nothing is ever sent;
#   a rolled-back cart or order changes nothing;
#   the scheduler killed (SIGKILL) while instances wait: their timers are rows, and the step
#   fires once after the restart.
set -uo pipefail
. "$(dirname "$0")/lib/vendor_env.sh"
vendor_env_start 55940 55941 "pushplan.databases = 'postgres'" "pushplan.senders = 1" \
  "pushplan.poll_interval = 1000" "pushplan.http_timeout = 2000"
psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" || exit 1
sql "SELECT push_app_create('shop')" >/dev/null
configure_vendors shop
sql "SELECT push_plan_create('shop', 'recovery', 'cart recovery')" >/dev/null
sql "SELECT push_device_register_batch('shop', '[
  {\"registration_id\": \"ann\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-ann\", \"attrs\": {\"first_name\": \"Ann\"}},
  {\"registration_id\": \"bob\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-bob\", \"attrs\": {\"first_name\": \"Bob\"}},
  {\"registration_id\": \"cat\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-cat\"},
  {\"registration_id\": \"dan\", \"platform\": \"android\", \"vendor\": \"fcm\", \"token\": \"fcm-ok-dan\"}]')" >/dev/null
wait_for 20 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "scheduler and sender run" || fail "workers not running"

# the application's tables, and the triggers that report what happens in them (doc/flows.md)
psql <<'EOF' || exit 1
CREATE TABLE cart_items (id bigserial PRIMARY KEY, registration_id text NOT NULL, sku text NOT NULL);
CREATE TABLE orders (id bigserial PRIMARY KEY, registration_id text NOT NULL, total numeric NOT NULL);
CREATE FUNCTION cart_items_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pushplan.push_track('shop', NEW.registration_id, 'cart_add', jsonb_build_object('sku', NEW.sku));
    RETURN NEW;
END $$;
CREATE TRIGGER cart_items_track AFTER INSERT ON cart_items FOR EACH ROW EXECUTE FUNCTION cart_items_track();
CREATE FUNCTION orders_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pushplan.push_track('shop', NEW.registration_id, 'purchase',
                                jsonb_build_object('order_id', NEW.id, 'total', NEW.total));
    RETURN NEW;
END $$;
CREATE TRIGGER orders_track AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION orders_track();
EOF

clock() { sql "SELECT _clock_set('$1'::timestamptz)" >/dev/null; }
requests() { mock_get /_mock/stats | jq ".tokens[\"fcm-ok-$1\"].requests // 0"; }
run() { sql "SELECT state || ':' || coalesce(step, '-') || ':' || coalesce(exit_reason, '-') FROM push_flow_runs WHERE registration_id = '$1' ORDER BY instance_id"; }

clock '2090-01-01 00:00:00+00'
mock_reset
flow=$(sql "SELECT push_flow_create('shop', '{\"name\": \"cart_abandoned\", \"enabled\": true, \"plan_id\": \"recovery\",
  \"trigger\": {\"event\": \"cart_add\"},
  \"steps\": [{\"wait_until\": {\"event\": \"purchase\", \"timeout\": \"1 hour\"},
              \"on_event\": [{\"exit\": true}],
              \"on_timeout\": [{\"id\": \"reminder\", \"send\": {\"body\": {\"platform\": \"all\",
                 \"notification\": {\"alert\": \"{{attrs.first_name | default: \\\"Hi\\\"}}, your cart is waiting\"}}}}]}],
  \"exit\": {\"event\": \"purchase\"}, \"reentry\": \"1 day\"}')")
check "the flow is created" "$flow" "flw_"

# ---- a cart, and no purchase: the reminder an hour later ----------------------------------
psql -c "INSERT INTO cart_items (registration_id, sku) VALUES ('ann', 'X1'), ('bob', 'Y1')"
wait_for 10 "SELECT count(*) = 2 FROM pushplan.flow_instances WHERE step_started_at IS NOT NULL" \
  && ok "cart: two users wait for a purchase" || fail "cart: not waiting: $(sql "SELECT * FROM push_flow_runs")"
check_eq "cart: the wait ends an hour after it started" \
  "$(sql "SELECT string_agg(to_char(next_at, 'HH24:MI'), ',' ORDER BY registration_id) FROM push_flow_runs")" "01:00,01:00"

# ---- a rolled-back cart and a rolled-back order change nothing ----------------------------
psql -c "BEGIN" -c "INSERT INTO cart_items (registration_id, sku) VALUES ('cat', 'Z1')" -c "ROLLBACK"
check_eq "rollback: a rolled-back cart starts nothing" "$(run cat)" ""
psql -c "BEGIN" -c "INSERT INTO orders (registration_id, total) VALUES ('bob', 10)" -c "ROLLBACK"
check_eq "rollback: a rolled-back order ends nothing" "$(run bob)" "waiting:1:-"

# ---- a purchase during the wait: the exit commits with the order --------------------------
out=$(psql -c "BEGIN" -c "INSERT INTO orders (registration_id, total) VALUES ('bob', 42)" -c "COMMIT" \
  -c "SELECT state || ':' || exit_reason FROM pushplan.push_flow_runs WHERE registration_id = 'bob'")
check_eq "purchase: bob's instance ended in the order's transaction" "$out" 'exited:exit event "purchase"'

# ---- the timeout -----------------------------------------------------------------------------
clock '2090-01-01 00:59:00+00'
sleep 2
check_eq "timeout: nothing before the hour" "$(requests ann)" "0"
clock '2090-01-01 01:00:01+00'
wait_for 15 "SELECT count(*) = 1 FROM push_deliveries WHERE status = 'sent' AND registration_id = 'ann'" \
  && ok "timeout: ann's reminder delivered" \
  || fail "timeout: not delivered: $(run ann) $(sql "SELECT status, error FROM push_deliveries")"
check_eq "timeout: one request to ann" "$(requests ann)" "1"
last=$(mock_get "/_mock/last?token=fcm-ok-ann")
check "timeout: the template read ann's attribute" "$last" 'Ann, your cart is waiting'
check_eq "timeout: ann's instance completed" "$(run ann)" "done:-:completed"
check_eq "timeout: the task names the flow, its step and the plan" \
  "$(sql "SELECT flow_id = '$flow' AND flow_step = 'reminder' AND plan_id = 'recovery' FROM tasks WHERE flow_instance IS NOT NULL")" "t"
check_eq "timeout: each step once" \
  "$(sql "SELECT string_agg(step_id, ',' ORDER BY step_id) FROM flow_step_runs r JOIN push_flow_runs f USING (instance_id) WHERE f.registration_id = 'ann'")" \
  "1,reminder"
sleep 2
check_eq "purchase: nothing was ever sent to bob" "$(requests bob)" "0"
check_eq "purchase: no task for bob" "$(sql "SELECT count(*) FROM tasks WHERE push->'to' @> '{\"registration_id\": [\"bob\"]}'")" "0"

# ---- timers survive the scheduler's crash ---------------------------------------------------
psql -c "INSERT INTO cart_items (registration_id, sku) VALUES ('dan', 'W1')"
wait_for 10 "SELECT count(*) = 1 FROM pushplan.push_flow_runs WHERE registration_id = 'dan' AND next_at > pushplan.clock_now()" \
  && ok "crash: dan waits" || fail "crash: dan does not wait: $(run dan)"
pid=$(psql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pushplan scheduler'")
kill -9 "$pid"
sleep 1
# the server restarts every backend: shared memory, and the test clock with it, start over
wait_for 30 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type IN ('pushplan scheduler', 'pushplan sender')" \
  && ok "crash: workers back" || fail "crash: workers not back"
check_eq "crash: dan still waits (a row, not a timer in memory)" "$(run dan)" "waiting:1:-"
clock '2090-01-01 02:00:01+00'
wait_for 30 "SELECT count(*) = 1 FROM push_deliveries WHERE status = 'sent' AND registration_id = 'dan'" \
  && ok "crash: dan's reminder sent after the restart" || fail "crash: not sent: $(run dan)"
check_eq "crash: sent once" "$(requests dan)" "1"
check_eq "crash: one task for dan" "$(sql "SELECT count(*) FROM tasks WHERE push->'to' @> '{\"registration_id\": [\"dan\"]}'")" "1"

finish
