-- Flows (doc/flows.md): definitions and every error with its exact message, push_track and its
-- account and batch forms, entering (re-entry, the cap, the idempotency key), an exit event in
-- the same transaction, a rolled-back event starting nothing, and the steps run by
-- _flow_advance (called here as the scheduler calls it: no workers serve this database; the
-- workers and the mock vendor are test/integration/flows.sh). The clock is moved to 2090.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT _clock_set('2090-01-01 00:00:00+00') IS NOT NULL AS clock_moved;
-- times are shown to the minute: the test clock goes on from where it is set
CREATE FUNCTION pg_temp.m(at timestamptz) RETURNS text LANGUAGE sql AS $$ SELECT to_char(at, 'YYYY-MM-DD HH24:MI') $$;

SELECT push_app_create('flow_app');
SELECT push_app_set('flow_app', '{"timezone": "Asia/Shanghai"}');
SELECT push_plan_create('flow_app', 'recovery', 'cart recovery');
SELECT push_device_register_batch('flow_app', '[
  {"registration_id": "userA", "platform": "android", "vendor": "fcm", "token": "a", "timezone": "Asia/Shanghai", "attrs": {"first_name": "Ann", "level": "gold"}},
  {"registration_id": "userB", "platform": "android", "vendor": "fcm", "token": "b", "timezone": "Europe/Berlin", "attrs": {"level": "silver"}, "tags": ["vip"]},
  {"registration_id": "userC", "platform": "ios", "vendor": "apns", "token": "c"}]');
SELECT push_account_bind('flow_app', 'userC', 'acct-1001', 0);

-- ---- definitions -------------------------------------------------------------------------------

-- the cart abandoned flow of doc/flows.md
SELECT push_flow_create('flow_app', '{
  "name": "cart_abandoned", "enabled": true, "plan_id": "recovery",
  "trigger": {"event": "cart_add"},
  "steps": [{"wait_until": {"event": "purchase", "timeout": "1 hour"},
             "on_event": [{"exit": true}],
             "on_timeout": [{"id": "reminder", "send": {"body": {"platform": "all",
                 "notification": {"alert": "{{attrs.first_name | default: \"Hi\"}}, your cart is waiting"}}}}]}],
  "exit": {"event": "purchase"}, "reentry": "1 day"}') AS cart \gset
SELECT :'cart' LIKE 'flw_%' AS flow_id_ok;
SELECT app, name, enabled, version, trigger_event, exit_event, running, entered FROM push_flows WHERE app = 'flow_app';
-- compiled steps: paths end where the step that holds them does
SELECT step_id, kind, next_step, event_step, spec->'push'->'body'->'options'->>'plan_id' AS plan
FROM flow_steps WHERE flow_id = :'cart' ORDER BY step_id;

-- a flow of every step kind: waits (a duration, a time of day), a branch on attributes, tags,
-- earlier events and the trigger's props, a set, a send, an exit
SELECT push_flow_create('flow_app', '{
  "name": "welcome", "trigger": {"event": "signup", "where": {"source": {"in": ["ads", "organic"]}}, "idempotency_key": "signup_id"},
  "reentry": "0", "max_concurrent": 2,
  "steps": [
    {"id": "hello", "send": {"body": {"platform": "all", "notification": {"alert": "Welcome"}}}},
    {"wait": "1 day"},
    {"branch": [{"if": {"and": [{"attr": {"level": "gold"}}, {"not": {"event": "purchase"}}]}, "then": [{"set": {"tags_add": ["gold_nudge"]}}]},
                {"if": {"or": [{"tag": "vip"}, {"trigger": {"source": "ads"}}]}, "then": [{"set": {"attrs": {"welcomed": true}, "tags_remove": ["vip"]}}, {"exit": true}]}],
     "else": []},
    {"wait": {"until": "09:00"}},
    {"id": "tips", "send": {"body": {"platform": "all", "notification": {"alert": "Tips"}, "options": {"plan_id": "recovery"}}}}]}') AS welcome \gset
SELECT step_id, kind, next_step, spec - 'push' AS spec FROM flow_steps WHERE flow_id = :'welcome' ORDER BY step_id;

-- an update is a new version; the name stays unique in the app
SELECT push_flow_update('flow_app', :'welcome', '{"name": "welcome", "enabled": false, "trigger": {"event": "signup"},
  "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "Welcome v2"}}}}]}') AS version;
SELECT name, enabled, version FROM push_flows WHERE flow_id = :'welcome';
SELECT version, trigger_where FROM flow_versions WHERE flow_id = :'welcome' ORDER BY version;
SELECT push_flow_enable('flow_app', :'welcome', true);
SELECT enabled FROM push_flows WHERE flow_id = :'welcome';

-- ---- every definition error, with its exact message ------------------------------------------
\set ON_ERROR_STOP 0
SELECT push_flow_create('flow_app', '[]');
SELECT push_flow_create('flow_app', '{"trigger": {"event": "x"}, "steps": [{"exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"exit": true}], "color": "red"}');
SELECT push_flow_create('flow_app', '{"name": "f", "steps": [{"exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"page_view": "x"}, "steps": [{"exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"geofence": {"lat": 22.54, "lon": 114.06, "radius_m": 300}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "bad event!"}, "steps": [{"exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x", "where": {"total": {"above": 3}}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": []}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"goto": "1"}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": ["wait"]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait": "1 hour", "exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait": "1 hour", "else": []}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait": {}}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait": "soon"}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait": "1 month"}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait": {"until": "9am"}}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait_until": {"event": "purchase"}, "on_event": [{"exit": true}]}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait_until": {"timeout": "1 hour"}}]}');
-- the other shapes wait_until refuses with the same message: both forms at once, more than 10
-- events, an event that is not an object, a key of neither form
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait_until": {"event": "a", "events": [{"event": "b"}], "timeout": "1 hour"}}]}');
SELECT push_flow_create('flow_app', format('{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait_until": {"events": %s, "timeout": "1 hour"}}]}',
    (SELECT jsonb_agg(jsonb_build_object('event', 'e' || g)) FROM generate_series(1, 11) g))::jsonb);
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait_until": {"events": ["purchase"], "timeout": "1 hour"}}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait_until": {"event": "a", "within": "1 hour", "timeout": "1 hour"}}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"wait_until": {"event": "purchase", "timeout": "1 hour"}, "on_event": {"exit": true}}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"branch": [{"if": {"tag": "vip"}, "then": [{"exit": true}]}]}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"branch": [{"if": {"tag": "vip"}}], "else": []}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"branch": [{"if": {"segment": "buyers"}, "then": []}], "else": []}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"send": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"webhook": {"url": "https://example.com"}}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"set": {"level": "gold"}}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"exit": false}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"exit": true}], "reentry": "sometimes"}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"exit": true}], "max_concurrent": 0}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"exit": true}], "exit": "purchase"}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"id": "a", "wait": "1 hour"}, {"id": "a", "exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"id": "a b", "exit": true}]}');
SELECT push_flow_create('flow_app', jsonb_build_object('name', 'f', 'trigger', '{"event": "x"}'::jsonb,
    'steps', (SELECT jsonb_agg('{"wait": "1 hour"}'::jsonb) FROM generate_series(1, 101))));
SELECT push_flow_create('flow_app', '{"name": "cart_abandoned", "trigger": {"event": "x"}, "steps": [{"exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "enabled": "yes", "trigger": {"event": "x"}, "steps": [{"exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x", "idempotency_key": 7}, "steps": [{"exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "plan_id": 7, "trigger": {"event": "x"}, "steps": [{"exit": true}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "plan_id": "nope", "trigger": {"event": "x"}, "steps": [{"exit": true}]}');
-- a send push_send would refuse: push_send's own code
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "x"}, "options": {"plan_id": "gone"}}}}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"send": {"body": {"platform": "all"}}}]}');
SELECT push_flow_create('flow_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "{{event.name}} is waiting"}}}}]}');
SELECT push_flow_update('flow_app', 'flw_nope', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"exit": true}]}');
SELECT push_flow_update('flow_app', :'welcome', '{"name": "cart_abandoned", "trigger": {"event": "x"}, "steps": [{"exit": true}]}');
SELECT push_flow_enable('flow_app', :'welcome', NULL);
SELECT push_flow_delete('flow_app', 'flw_nope');
\set ON_ERROR_STOP 1
-- nothing was written by the refused definitions
SELECT app_id AS flow_app FROM apps WHERE app = 'flow_app' \gset
SELECT count(*) AS flows, (SELECT count(*) FROM flow_versions v JOIN flows f USING (flow_id) WHERE f.app_id = :flow_app) AS versions
FROM flows WHERE app_id = :flow_app;

-- ---- push_track: errors ----------------------------------------------------------------------
\set ON_ERROR_STOP 0
SELECT push_track('flow_app', 'nobody', 'cart_add');
SELECT push_track('flow_app', 'userA', 'cart add');
SELECT push_track('flow_app', 'userA', 'cart_add', '[1]');
SELECT push_track('flow_app', 'userA', 'cart_add', '{}', NULL);
SELECT push_track_account('flow_app', 'a', 0, 'cart_add');
SELECT push_track_batch('flow_app', '{}');
SELECT push_track_batch('flow_app', (SELECT jsonb_agg('{"registration_id": "userA", "event": "x"}'::jsonb) FROM generate_series(1, 10001)));
SELECT push_track_batch('flow_app', '[{"registration_id": "userA", "event": "cart_add"}, 7]');
SELECT push_track_batch('flow_app', '[{"registration_id": "userA", "event": "cart_add", "colour": 1}]');
SELECT push_track_batch('flow_app', '[{"event": "cart_add"}]');
SELECT push_track_batch('flow_app', '[{"registration_id": "userA"}]');
SELECT push_track_batch('flow_app', '[{"registration_id": "userA", "event": "cart_add", "at": "2090-01-01 10:00"}]');
SELECT push_track_batch('flow_app', '[{"registration_id": "userA", "event": "cart_add"}, {"registration_id": "nobody", "event": "cart_add"}]');
SELECT push_track_batch('flow_app', '[{"account": "acct-1001", "account_type": -1, "event": "cart_add"}]');
\set ON_ERROR_STOP 1
SELECT count(*) AS events_written, (SELECT count(*) FROM flow_instances WHERE app_id = :flow_app) AS instances
FROM tracked_events WHERE app_id = :flow_app;

-- ---- entering, exiting, rolling back ----------------------------------------------------------

-- a rolled-back order starts nothing
BEGIN;
SELECT push_track('flow_app', 'userA', 'cart_add', '{"sku": "X1"}');
SELECT count(*) AS inside FROM push_flow_runs WHERE flow = 'cart_abandoned';
ROLLBACK;
SELECT count(*) AS after_rollback FROM push_flow_runs WHERE flow = 'cart_abandoned';

-- entering: in push_track's transaction, due at once (the first step is the scheduler's)
SELECT push_track('flow_app', 'userA', 'cart_add', '{"sku": "X1"}');
SELECT flow, registration_id, account, step, step_kind, state, pg_temp.m(next_at) AS next_at, pg_temp.m(entered_at) AS entered_at, exited_at, exit_reason
FROM push_flow_runs WHERE flow = 'cart_abandoned';
-- re-entry after 1 day: a second cart_add the same day enters nobody
SELECT push_track('flow_app', 'userA', 'cart_add', '{"sku": "X2"}');
SELECT count(*) AS instances FROM push_flow_runs WHERE flow = 'cart_abandoned';
-- the scheduler starts the wait: until the timeout
SELECT _flow_advance(1000) AS advanced;
SELECT step, step_kind, state, pg_temp.m(next_at) AS next_at FROM push_flow_runs WHERE flow = 'cart_abandoned';
SELECT _flow_advance(1000) AS nothing_due;

-- the exit event, inside the application's transaction: visible in one SELECT after commit
BEGIN;
SELECT push_track('flow_app', 'userA', 'purchase', '{"order_id": "o-1"}');
COMMIT;
SELECT step, state, pg_temp.m(exited_at) AS exited_at, exit_reason FROM push_flow_runs WHERE flow = 'cart_abandoned';
-- an exit rolled back ends nothing
SELECT _clock_set('2090-01-02 00:00:01+00') IS NOT NULL AS a_day_later;
SELECT push_track('flow_app', 'userA', 'cart_add');
BEGIN;
SELECT push_track('flow_app', 'userA', 'purchase');
ROLLBACK;
SELECT state, count(*) FROM push_flow_runs WHERE flow = 'cart_abandoned' GROUP BY state ORDER BY state;

-- no purchase within the hour: the reminder is sent, attributed to the flow, its step and the plan
SELECT _flow_advance(1000) AS started;
SELECT _clock_set('2090-01-02 01:00:02+00') IS NOT NULL AS an_hour_later;
SELECT _flow_advance(1000) AS advanced;
SELECT r.state, r.step, r.exit_reason, t.plan_id, t.flow_id = :'cart' AS flow_ok, t.flow_step,
       t.flow_instance = r.instance_id AS instance_ok, t.push->'to' AS audience,
       t.push->'body'->'notification'->>'alert' AS alert, t.state AS task_state
FROM push_flow_runs r JOIN tasks t ON t.flow_instance = r.instance_id
WHERE r.flow = 'cart_abandoned';
SELECT s.step_id, s.task_id IS NOT NULL AS made_task, s.detail FROM flow_step_runs s
JOIN flow_instances i USING (instance_id) WHERE i.flow_id = :'cart' AND i.state = 'done' ORDER BY step_id;
-- each step once: the same instance taken again makes nothing more
UPDATE flow_instances SET state = 'waiting', step_id = 'reminder', step_started_at = NULL, next_at = clock_now()
    WHERE flow_id = :'cart' AND state = 'done';
SELECT _flow_advance(1000) AS again;
SELECT count(*) AS reminder_tasks FROM tasks WHERE flow_id = :'cart';

-- the purchase during the wait: nothing sent; the exit ends the instance and the wait together
SELECT _clock_set('2090-01-03 02:00:00+00') IS NOT NULL AS next_day;
SELECT push_track('flow_app', 'userB', 'cart_add');
SELECT _flow_advance(1000) AS started;
SELECT push_track('flow_app', 'userB', 'purchase');
SELECT _clock_set('2090-01-03 03:00:01+00') IS NOT NULL AS after_timeout;
SELECT _flow_advance(1000) AS nothing_due;
SELECT registration_id, state, step, exit_reason FROM push_flow_runs
WHERE flow = 'cart_abandoned' AND registration_id = 'userB';
SELECT count(*) AS tasks_for_b FROM tasks WHERE flow_id = :'cart' AND push->'to' @> '{"registration_id": ["userB"]}';

-- re-entry a day later: a new instance, whose reminder is queued an hour after
SELECT push_track('flow_app', 'userB', 'cart_add');
SELECT _clock_set('2090-01-04 03:00:02+00') IS NOT NULL AS tomorrow;
SELECT push_track('flow_app', 'userB', 'cart_add');
SELECT _flow_advance(1000);
SELECT _clock_set('2090-01-04 04:00:03+00') IS NOT NULL AS hour_later;
SELECT _flow_advance(1000);
SELECT t.state AS task_before FROM tasks t JOIN flow_instances i ON i.instance_id = t.flow_instance
    WHERE i.flow_id = :'cart' AND i.state = 'done' AND t.push->'to' @> '{"registration_id": ["userB"]}';
-- an exit cancels the flow's queued pushes for that user: an instance still running after a
-- send (a send, then a wait) has its task cancelled with it; an exit rule with conditions
SELECT push_flow_create('flow_app', '{"name": "two_reminders", "trigger": {"event": "browse"},
  "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "first"}}}}, {"wait": "1 day"},
            {"send": {"body": {"platform": "all", "notification": {"alert": "second"}}}}],
  "exit": {"event": "purchase", "where": {"total": {"gte": 10}}}}') AS two \gset
SELECT push_track('flow_app', 'userB', 'browse');
SELECT _flow_advance(1000);
SELECT t.state AS task_queued FROM tasks t WHERE t.flow_id = :'two';
SELECT push_track('flow_app', 'userB', 'purchase', '{"total": 5}');
SELECT state AS small_purchase_no_exit FROM push_flow_runs WHERE flow_id = :'two';
BEGIN;
SELECT push_track('flow_app', 'userB', 'purchase', '{"total": 50}');
COMMIT;
SELECT r.state, r.exit_reason, t.state AS task_state FROM push_flow_runs r
    JOIN tasks t ON t.flow_instance = r.instance_id WHERE r.flow_id = :'two';

-- ---- the welcome flow: branch, set, time of day, idempotency key, cap, versions -----------------
-- version 2 (no conditions) is what new instances enter; make a version 3 with the full steps
SELECT push_flow_update('flow_app', :'welcome', (SELECT definition FROM flow_versions WHERE flow_id = :'welcome' AND version = 1)) AS version;
SELECT push_track('flow_app', 'userA', 'signup', '{"source": "ads", "signup_id": "s-1"}');
SELECT push_track('flow_app', 'userA', 'signup', '{"source": "ads", "signup_id": "s-1"}');   -- same key
SELECT push_track('flow_app', 'userA', 'signup', '{"source": "tv", "signup_id": "s-2"}');    -- where fails
SELECT push_track('flow_app', 'userB', 'signup', '{"source": "organic", "signup_id": "s-3"}');
SELECT push_track('flow_app', 'userB', 'signup', '{"source": "organic", "signup_id": "s-4"}');
SELECT push_track('flow_app', 'userB', 'signup', '{"source": "organic", "signup_id": "s-5"}'); -- cap 2
SELECT registration_id, version, count(*) FROM push_flow_runs WHERE flow_id = :'welcome'
GROUP BY 1, 2 ORDER BY 1;
SELECT _flow_advance(1000) AS advanced;
SELECT registration_id, step, state, pg_temp.m(next_at) AS next_at FROM push_flow_runs WHERE flow_id = :'welcome' ORDER BY instance_id;
-- a new version now does not move them: they finish on version 3
SELECT push_flow_update('flow_app', :'welcome', '{"name": "welcome", "trigger": {"event": "signup"}, "steps": [{"exit": true}]}') AS version;
SELECT _clock_set('2090-01-05 04:00:04+00') IS NOT NULL AS a_day_later;
SELECT _flow_advance(1000) AS advanced;
-- userA (gold, no purchase since entering) gets the tag and goes on to 09:00 Shanghai; userB
-- (vip) gets the attribute, loses vip and exits
SELECT registration_id, step, state, pg_temp.m(next_at) AS next_at, exit_reason FROM push_flow_runs WHERE flow_id = :'welcome' ORDER BY instance_id;
SELECT registration_id, attrs->'welcomed' AS welcomed,
       ARRAY(SELECT g.tag FROM device_tags dt JOIN tags g USING (tag_id) WHERE dt.device_id = d.device_id ORDER BY 1) AS tags
FROM devices d WHERE registration_id IN ('userA', 'userB') ORDER BY 1;
SELECT _clock_set('2090-01-06 01:00:01+00') IS NOT NULL AS nine_in_shanghai;
SELECT _flow_advance(1000) AS advanced;
SELECT registration_id, step, state, exit_reason FROM push_flow_runs WHERE flow_id = :'welcome' ORDER BY instance_id;
-- the instances that reached a send in one round share its task (userB's second instance
-- has one of its own: each instance sends its push)
SELECT flow_step, push->'body'->'options'->>'plan_id' AS plan, push->'body'->'notification'->>'alert' AS alert,
       push->'to' AS audience, flow_instance IS NOT NULL AS one_instance
FROM tasks WHERE flow_id = :'welcome' ORDER BY created_at, flow_step, push->'to'->'registration_id'->>0;

-- ---- accounts and batches -----------------------------------------------------------------------
SELECT push_flow_create('flow_app', '{"name": "account_flow", "trigger": {"event": "level_up"},
  "steps": [{"wait": "2 hours"}, {"send": {"body": {"platform": "all", "notification": {"alert": "congrats"}}}}],
  "exit": {"event": "churn"}}') AS acct \gset
-- (taken in the order of their times: the account's, at 2090-01-06 01:00 on the test clock, after
-- the two others, at the real time)
SELECT push_track_batch('flow_app', '[{"account": "acct-1001", "event": "level_up", "props": {"to": "gold"}, "at": "2090-01-06T01:00:00Z"},
  {"registration_id": "userA", "event": "level_up"}, {"account": "acct-2002", "account_type": 3, "event": "level_up"}]') AS tracked;
SELECT _flow_advance(1000) AS started;
SELECT registration_id, account, account_type, state FROM push_flow_runs WHERE flow_id = :'acct' ORDER BY instance_id;
-- an exit reported by the account's device ends the account's instance
SELECT push_track('flow_app', 'userC', 'churn');
SELECT registration_id, account, state, exit_reason FROM push_flow_runs WHERE flow_id = :'acct' ORDER BY instance_id;
SELECT _clock_set('2090-01-06 03:00:02+00') IS NOT NULL AS two_hours_later;
SELECT _flow_advance(1000) AS advanced;
SELECT registration_id, state, (SELECT t.push->'to' FROM flow_step_runs s JOIN tasks t USING (task_id)
                                WHERE s.instance_id = r.instance_id) AS audience
FROM push_flow_runs r WHERE flow_id = :'acct' ORDER BY instance_id;

-- ---- deletion, roles -----------------------------------------------------------------------------
SELECT push_track('flow_app', 'userA', 'browse');
SELECT _flow_advance(1000) AS started;
SELECT push_flow_delete('flow_app', :'two');
SELECT count(*) AS runs_left FROM flow_instances WHERE flow_id = :'two';
SELECT state, count(*) FROM tasks WHERE flow_id = :'two' GROUP BY 1 ORDER BY 1;

SELECT has_function_privilege('pushplan_app', 'push_track(text, text, text, jsonb, timestamptz)', 'EXECUTE') AS app_tracks,
       has_function_privilege('pushplan_app', 'push_flow_create(text, jsonb)', 'EXECUTE') AS app_defines,
       has_function_privilege('pushplan_operator', 'push_flow_create(text, jsonb)', 'EXECUTE') AS operator_defines,
       has_function_privilege('pushplan_worker', '_flow_advance(int)', 'EXECUTE') AS worker_advances,
       has_table_privilege('pushplan_reader', 'push_flows', 'SELECT') AS reader_sees_flows,
       has_table_privilege('pushplan_reader', 'push_flow_runs', 'SELECT') AS reader_sees_runs;

-- ---- erasure: an account's flow instances and events go with it, a device's with the device ----
SELECT count(*) FILTER (WHERE account = 'acct-1001') AS account_events,
       count(*) FILTER (WHERE device_id = (SELECT device_id FROM devices WHERE registration_id = 'userC')) AS device_events
FROM tracked_events;
SELECT device_id AS userc FROM devices WHERE registration_id = 'userC' \gset
SELECT push_account_erase('flow_app', 'acct-1001', 0) IS NOT NULL AS erased;
SELECT (SELECT count(*) FROM tracked_events WHERE account = 'acct-1001') AS account_events,
       (SELECT count(*) FROM flow_instances WHERE account = 'acct-1001') AS account_instances,
       (SELECT count(*) FROM devices WHERE registration_id = 'userC') AS device_left,
       (SELECT count(*) FROM tracked_events WHERE device_id = :userc) AS device_events;

-- the clock back to the real time: the suites after this one move it themselves, forward only
SELECT _clock_set(NULL) IS NOT NULL AS clock_back;
