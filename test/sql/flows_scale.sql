-- Flows at scale (doc/flows.md, "push_track_batch" and "send"): the bounds of push_track's
-- input with their exact messages; a batch, taken as sets, doing what the same events one at a
-- time do (the same flows in two apps, one fed a batch, the other push_track per event in the
-- batch's order); the instances reaching a send in one round sharing a task; an exit taking its
-- user out of a shared task, or cancelling that user's deliveries once it is expanded.
-- _flow_advance is called as the scheduler calls it (no workers serve this database).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT _clock_set('2091-01-01 00:00:00+00') IS NOT NULL AS clock_moved;
SELECT push_app_create('scale_a') IS NOT NULL AS a, push_app_create('scale_b') IS NOT NULL AS b;
SELECT push_device_register_batch(app, (SELECT jsonb_agg(jsonb_build_object('registration_id', 'u' || i,
         'platform', 'android', 'vendor', 'fcm', 'token', app || '-t' || i)) FROM generate_series(1, 60) i))
FROM (VALUES ('scale_a'), ('scale_b')) x(app);
SELECT push_account_bind(app, 'u1', 'acct-x', 0) FROM (VALUES ('scale_a'), ('scale_b')) x(app);

-- ---- bounds -------------------------------------------------------------------------------------
-- props: at most 64 KB as stored, 1,000 keys at every level, 10 levels
SELECT push_track('scale_a', 'u1', 'x', jsonb_build_object('blob', repeat('a', 70000)));
SELECT push_track('scale_a', 'u1', 'x', (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 1001) i));
SELECT push_track('scale_a', 'u1', 'x', jsonb_build_object('list', (SELECT jsonb_agg(jsonb_build_object('k', i)) FROM generate_series(1, 1000) i)));
SELECT push_track('scale_a', 'u1', 'x', '{"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": [1]}}}}}}}}}}');
SELECT push_track('scale_a', 'u1', 'x', '{"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": 1}}}}}}}}}}');
SELECT push_track('scale_a', 'u1', 'x', (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 1000) i));
-- times: from a year before now to a day after it (now: the real time, or the test clock's)
SELECT push_track('scale_a', 'u1', 'x', '{}', '0001-01-01 00:00:00+00');
SELECT push_track('scale_a', 'u1', 'x', '{}', '294276-12-31 00:00:00+00');
SELECT push_track('scale_a', 'u1', 'x', '{}', '2024-01-01 00:00:00+00');
SELECT push_track('scale_a', 'u1', 'x', '{}', '2091-01-02 00:10:00+00');
SELECT push_track_account('scale_a', 'acct-x', 0, 'x', '{}', '2091-01-03 00:00:00+00');
SELECT push_track('scale_a', 'u1', 'x', '{}', now() - interval '11 months');
SELECT push_track('scale_a', 'u1', 'x', '{}', '2091-01-01 23:00:00+00');
-- the batch names the event
SELECT push_track_batch('scale_a', jsonb_build_array(jsonb_build_object('registration_id', 'u1', 'event', 'x'),
    jsonb_build_object('registration_id', 'u1', 'event', 'x', 'props', (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 1001) i))));
SELECT push_track_batch('scale_a', '[{"registration_id": "u1", "event": "x", "at": "1999-01-01T00:00:00Z"}]');
SELECT push_track_batch('scale_a', '[{"registration_id": "u1", "event": "x"}, {"registration_id": "nobody", "event": "x"}]');
SELECT count(*) AS kept FROM tracked_events e JOIN apps a USING (app_id) WHERE a.app = 'scale_a';

-- ---- a batch as sets, and one event at a time ------------------------------------------------------
SELECT count(*) AS flows FROM (VALUES ('scale_a'), ('scale_b')) x(app), LATERAL (VALUES
  (push_flow_create(app, '{"name": "once", "trigger": {"event": "go"}, "steps": [{"wait": "1 hour"}], "exit": {"event": "stop"}}')),
  (push_flow_create(app, '{"name": "again", "trigger": {"event": "go", "where": {"n": {"lt": 3}}}, "reentry": "0", "max_concurrent": 2, "steps": [{"wait": "1 hour"}], "exit": {"event": "stop", "where": {"all": true}}}')),
  (push_flow_create(app, '{"name": "keyed", "trigger": {"event": "order", "idempotency_key": "order.id"}, "reentry": "0", "max_concurrent": 100, "steps": [{"wait": "1 hour"}]}')),
  (push_flow_create(app, '{"name": "waiting", "trigger": {"event": "start"}, "reentry": "0", "steps": [{"wait_until": {"event": "done", "timeout": "1 hour"}, "on_event": [{"exit": true}]}]}'))) f(id);
-- the waits start (the scheduler's first round), before the batch
SELECT push_track(app, 'u' || i, 'start') FROM (VALUES ('scale_a'), ('scale_b')) x(app), generate_series(1, 40) i;
SELECT _flow_advance(10000) > 0 AS waits_started;

-- every user's first three events go in rounds of 40, 35 and 33 (sets); then events of users
-- bound to each other (u1 and acct-x), entries with the same idempotency key, an event whose
-- time puts it before one placed earlier, and the users' later events go one at a time
CREATE TEMP TABLE batch AS
SELECT row_number() OVER (ORDER BY part, i) - 1 AS pos, e FROM (
    SELECT 1 AS part, i, jsonb_build_object('registration_id', 'u' || i, 'event', 'go', 'props', jsonb_build_object('n', i % 4)) AS e
    FROM generate_series(1, 40) i
    UNION ALL SELECT 2, i, jsonb_build_object('registration_id', 'u' || i, 'event', CASE WHEN i % 5 = 0 THEN 'done' ELSE 'go' END, 'props', jsonb_build_object('n', 1))
    FROM generate_series(1, 35) i
    UNION ALL SELECT 3, i, jsonb_build_object('registration_id', 'u' || i, 'event', 'stop', 'props', jsonb_build_object('all', i % 2 = 0))
    FROM generate_series(1, 33) i
    UNION ALL SELECT 4, i, jsonb_build_object('registration_id', 'u' || i, 'event', 'go', 'props', '{"n": 0}'::jsonb)
    FROM generate_series(1, 3) i
    UNION ALL SELECT 5, 1, '{"account": "acct-x", "event": "go"}'
    UNION ALL SELECT 6, i, jsonb_build_object('registration_id', 'u' || (40 + i), 'event', 'order', 'props', jsonb_build_object('order', jsonb_build_object('id', i / 2)))
    FROM generate_series(1, 5) i
    UNION ALL SELECT 7, 1, jsonb_build_object('registration_id', 'u50', 'event', 'stop', 'props', '{"all": true}'::jsonb, 'at', to_char(now() + interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
    UNION ALL SELECT 7, 2, jsonb_build_object('registration_id', 'u50', 'event', 'go', 'at', to_char(now() - interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
) x;
SELECT push_track_batch('scale_a', (SELECT jsonb_agg(e ORDER BY pos) FROM batch)) AS tracked;
-- the same events one at a time, in the batch's order: their times, then their places
SELECT count(*) AS tracked FROM (
    SELECT CASE WHEN e ? 'account'
                THEN push_track_account('scale_b', e->>'account', 0, e->>'event', coalesce(e->'props', '{}'), t)::text
                ELSE push_track('scale_b', e->>'registration_id', e->>'event', coalesce(e->'props', '{}'), t)::text END
    FROM (SELECT pos, e, coalesce((e->>'at')::timestamptz, now()) AS t FROM batch) b
    ORDER BY t, pos) x;

CREATE TEMP VIEW runs AS
SELECT app, flow, coalesce(registration_id, account) AS user_id, state, step, exit_reason,
       (SELECT i.idempotency_key FROM flow_instances i WHERE i.instance_id = r.instance_id) AS key,
       row_number() OVER (PARTITION BY app, flow, coalesce(registration_id, account) ORDER BY instance_id) AS nth
FROM push_flow_runs r WHERE app IN ('scale_a', 'scale_b');
-- what differs between the two (nothing)
(SELECT flow, user_id, state, step, exit_reason, key, nth FROM runs WHERE app = 'scale_a'
 EXCEPT SELECT flow, user_id, state, step, exit_reason, key, nth FROM runs WHERE app = 'scale_b')
UNION ALL
(SELECT flow, user_id, state, step, exit_reason, key, nth FROM runs WHERE app = 'scale_b'
 EXCEPT SELECT flow, user_id, state, step, exit_reason, key, nth FROM runs WHERE app = 'scale_a');
-- what it is
SELECT flow, state, exit_reason, count(*) FROM runs WHERE app = 'scale_a' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT user_id, key, state FROM runs WHERE app = 'scale_a' AND flow = 'keyed' ORDER BY user_id;
SELECT flow, user_id, state, exit_reason FROM runs WHERE app = 'scale_a' AND user_id IN ('u1', 'u2', 'acct-x', 'u50') ORDER BY 1, 2, nth;
SELECT count(*) AS events_a FROM tracked_events e JOIN apps a USING (app_id) WHERE a.app = 'scale_a';

-- ---- sends in shared tasks -------------------------------------------------------------------------
SELECT push_flow_create('scale_a', '{"name": "thanks", "trigger": {"event": "buy"}, "reentry": "0", "max_concurrent": 2,
  "steps": [{"wait": "1 hour"}, {"id": "thank", "send": {"body": {"platform": "all", "notification": {"alert": "thanks"}}}}],
  "exit": {"event": "refund"}}') AS thanks \gset
SELECT push_track_batch('scale_a', '[{"registration_id": "u51", "event": "buy"}, {"registration_id": "u52", "event": "buy"},
  {"registration_id": "u53", "event": "buy"}, {"registration_id": "u54", "event": "buy"}, {"registration_id": "u55", "event": "buy"},
  {"registration_id": "u55", "event": "buy"}, {"account": "acct-x", "event": "buy"}]') AS tracked;
SELECT _flow_advance(10000) > 0 AS waits_started;
SELECT _clock_set('2091-01-01 01:00:10+00') IS NOT NULL AS an_hour_later;
SELECT _flow_advance(10000) > 0 AS advanced;
-- one task for the devices, one for the account, one for u55's second instance
SELECT flow_step, push->'to' AS audience, flow_instance IS NOT NULL AS one_instance, state
FROM tasks WHERE flow_id = :'thanks' ORDER BY push->'to'->'registration_id'->>0 NULLS LAST, push->'to'->>'account';
SELECT count(DISTINCT r.task_id) AS tasks, count(*) AS runs FROM flow_step_runs r
JOIN flow_instances i USING (instance_id) WHERE i.flow_id = :'thanks' AND r.step_id = 'thank';
-- an exit before the expansion takes the user out of the task's audience
SELECT push_track('scale_a', 'u52', 'refund');
SELECT push->'to' AS audience, state FROM tasks WHERE flow_id = :'thanks' AND push->'to' ? 'registration_id' AND flow_instance IS NULL;
-- once expanded (its deliveries written here as the scheduler's expansion writes them), an
-- exit cancels that user's delivery, and the others stay queued
WITH t AS (SELECT task_id, app_id FROM tasks WHERE flow_id = :'thanks' AND push->'to' ? 'registration_id' AND flow_instance IS NULL),
d AS (INSERT INTO deliveries (task_id, app_id, device_id, vendor, platform, send_at)
      SELECT t.task_id, t.app_id, v.device_id, v.vendor, v.platform, now() FROM t
      JOIN devices v ON v.app_id = t.app_id AND v.registration_id IN ('u51', 'u53', 'u54', 'u55')
      RETURNING delivery_id, task_id, send_at, device_id)
INSERT INTO delivery_queue (task_id, delivery_id, send_at, device_id) SELECT task_id, delivery_id, send_at, device_id FROM d;
UPDATE tasks SET state = 'sending', expanded = true WHERE flow_id = :'thanks' AND push->'to' ? 'registration_id' AND flow_instance IS NULL;
SELECT push_track('scale_a', 'u53', 'refund');
SELECT v.registration_id, d.status, (SELECT count(*) FROM delivery_queue q WHERE q.delivery_id = d.delivery_id AND q.device_id = d.device_id) AS queued
FROM deliveries d JOIN devices v USING (device_id) JOIN tasks t USING (task_id)
WHERE t.flow_id = :'thanks' ORDER BY 1;
SELECT s.cancelled FROM stats_pending s JOIN tasks t USING (task_id) WHERE t.flow_id = :'thanks' AND s.cancelled > 0;
-- the last users' exits cancel the task; the account's exit (reported by its device) its own
SELECT push_track_batch('scale_a', '[{"registration_id": "u51", "event": "refund"}, {"registration_id": "u54", "event": "refund"},
  {"registration_id": "u55", "event": "refund"}, {"registration_id": "u1", "event": "refund"}]') AS tracked;
SELECT push->'to' AS audience, state FROM tasks WHERE flow_id = :'thanks' ORDER BY push->'to'->'registration_id'->>0 NULLS LAST;
SELECT v.registration_id, d.status FROM deliveries d JOIN devices v USING (device_id) JOIN tasks t USING (task_id)
WHERE t.flow_id = :'thanks' ORDER BY 1;
-- the clock back to the real time, for the suites after this one
SELECT _clock_set(NULL) IS NOT NULL AS clock_back;
