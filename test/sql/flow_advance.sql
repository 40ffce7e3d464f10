-- The scheduler's advance (_flow_advance, sql/api/89_flows.sql): each instance's path through
-- the steps that take no time is followed in one call, every step claimed once in
-- flow_step_runs, sends grouped into one task per step, and each instance's row written once
-- per call (pg_stat_xact_user_tables counts the updates of the transaction). A wait_until whose
-- event came before the instance reached it takes its event path, and that path's steps are
-- claimed like any.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT _clock_set('2093-01-01 00:00:00+00') IS NOT NULL AS clock_moved;
SELECT push_app_create('advance_app') IS NOT NULL AS app;
SELECT push_device_register_batch('advance_app', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'v' || i,
         'platform', 'android', 'vendor', 'fcm', 'token', 'advance-t' || i, 'attrs', jsonb_build_object('n', i)))
       FROM generate_series(1, 4) i));
-- wait, then send, set, branch (on the attribute the set wrote), a send on each path, done
SELECT push_flow_create('advance_app', '{"name": "path", "reentry": "0",
  "trigger": {"event": "go"},
  "steps": [{"wait": "1 hour"},
            {"id": "hello", "send": {"body": {"platform": "all", "notification": {"alert": "hello"}}}},
            {"id": "mark", "set": {"attrs": {"seen": "yes"}, "tags_add": ["marked"]}},
            {"id": "fork", "branch": [{"if": {"attr": {"seen": "yes"}},
                                       "then": [{"id": "yes", "send": {"body": {"platform": "all", "notification": {"alert": "yes"}}}}]}],
             "else": [{"id": "no", "send": {"body": {"platform": "all", "notification": {"alert": "no"}}}}]}]}') AS path \gset
SELECT push_track('advance_app', 'v' || i, 'go') FROM generate_series(1, 3) i;
-- the waits start: one write each
BEGIN;
SELECT _flow_advance(1000) AS taken;
SELECT n_tup_upd AS instance_writes FROM pg_stat_xact_user_tables WHERE relid = 'pushplan.flow_instances'::regclass;
COMMIT;
SELECT _clock_set('2093-01-01 02:00:00+00') IS NOT NULL AS past_the_wait;
-- past the wait: send, set, branch, send, done, in one call and one write each
BEGIN;
SELECT _flow_advance(1000) AS taken;
SELECT n_tup_upd AS instance_writes FROM pg_stat_xact_user_tables WHERE relid = 'pushplan.flow_instances'::regclass;
COMMIT;
SELECT d.registration_id, i.state, i.step_id, i.exit_reason, i.next_at
FROM flow_instances i JOIN devices d USING (device_id) WHERE i.flow_id = :'path' ORDER BY 1;
SELECT r.step_id, count(*) AS runs, count(DISTINCT r.task_id) AS tasks, count(r.detail) AS failed
FROM flow_step_runs r JOIN flow_instances i USING (instance_id) WHERE i.flow_id = :'path'
GROUP BY 1 ORDER BY 1;
SELECT t.flow_step, jsonb_array_length(t.push->'to'->'registration_id') AS users
FROM tasks t WHERE t.flow_id = :'path' ORDER BY 1;
SELECT count(*) AS tagged FROM device_tags dt JOIN tags g USING (tag_id) WHERE g.tag = 'marked';
-- nothing is due any more
SELECT _flow_advance(1000) AS taken;

-- a wait_until whose event came before the instance reached it: its event path at once, the
-- event path's send claimed (and sent) once
SELECT push_flow_create('advance_app', '{"name": "early", "reentry": "0",
  "trigger": {"event": "start"},
  "steps": [{"id": "w", "wait_until": {"event": "paid", "timeout": "1 day"},
             "on_event": [{"id": "thanks", "send": {"body": {"platform": "all", "notification": {"alert": "thanks"}}}}],
             "on_timeout": [{"id": "late", "exit": true}]}]}') AS early \gset
-- (the instance enters at the wait_until; the event comes before the scheduler takes it)
SELECT push_track('advance_app', 'v4', 'start');
SELECT push_track('advance_app', 'v4', 'paid');
SELECT _flow_advance(1000) AS taken;
SELECT i.state, i.step_id, i.exit_reason FROM flow_instances i WHERE i.flow_id = :'early';
SELECT r.step_id, r.task_id IS NOT NULL AS sent FROM flow_step_runs r JOIN flow_instances i USING (instance_id)
WHERE i.flow_id = :'early' ORDER BY r.step_id;

DELETE FROM tasks WHERE app_id = (SELECT app_id FROM apps WHERE app = 'advance_app');
DELETE FROM apps WHERE app = 'advance_app';
SELECT _clock_set(NULL) IS NOT NULL AS clock_back;
