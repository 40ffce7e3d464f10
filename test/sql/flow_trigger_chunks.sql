-- A flow's first inactivity evaluation in chunks (sql/api/89_flow_trigger_chunks.sql): one chunk
-- of pushplan.flow_trigger_chunk devices per _flow_triggers_run call (as the scheduler calls it,
-- one call a transaction), its progress in flow_trigger_evals; a chunk rolled back (a crash) is
-- done again and nobody enters twice; every chunk judges at the first chunk's time; the next
-- evaluation's window starts there. The clock is moved to 2093.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT _clock_set('2093-01-21 00:00:00+00') IS NOT NULL AS clock_moved;
SELECT push_app_create('chunk_app');
SELECT app_id AS app FROM apps WHERE app = 'chunk_app' \gset
-- 1,000 devices registered on 2093-01-01 (c1 ... c1000); an app_open each for the even ones,
-- spread over 20 days. (Registered, not inserted: on the distributed layout a device's id is its
-- key; the statements below are ones Citus plans, the same on one node.)
SELECT push_device_register_batch('chunk_app', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'c' || i,
    'platform', 'android', 'vendor', 'fcm', 'token', 't' || i)) FROM generate_series(1, 1000) i)) AS registered;
UPDATE devices SET created_at = '2093-01-01 00:00:00+00' WHERE app_id = :app;
INSERT INTO tracked_events (app_id, device_id, event, props, at, tracked_at)
    SELECT app_id, device_id, 'app_open', '{}', t, t
    FROM (SELECT app_id, device_id, timestamptz '2093-01-01 00:00:00+00'
                 + (substr(registration_id, 2)::int % 20) * interval '1 day' + interval '1 hour' AS t
          FROM devices WHERE app_id = :app AND substr(registration_id, 2)::int % 2 = 0) d;
-- who is inactive for 7 days now (the first evaluation must enter exactly these; the line read
-- here, on the test clock, not by each node's)
SELECT clock_now() - interval '7 days' AS inactive_line \gset
CREATE TEMP TABLE expected AS
    WITH l AS MATERIALIZED (SELECT device_id, max(tracked_at) AS last FROM tracked_events
                            WHERE app_id = :app AND event = 'app_open' GROUP BY device_id)
    SELECT d.device_id FROM devices d LEFT JOIN l ON l.device_id = d.device_id
    WHERE d.app_id = :app AND greatest(d.created_at, l.last) <= :'inactive_line'::timestamptz;
SELECT count(*) AS inactive_now FROM expected;

SET pushplan.flow_trigger_chunk = 150;
SELECT push_flow_create('chunk_app', '{"name": "winback", "reentry": "0",
  "trigger": {"inactive": {"event": "app_open", "for": "7 days"}}, "steps": [{"wait": "30 days"}]}') AS flow \gset

-- the first chunk: 150 devices looked at; the evaluation is under way
SELECT _flow_triggers_run() > 0 AS some_entered;
SELECT version, users = (SELECT count(*) FROM flow_instances WHERE flow_id = :'flow') AS users_counted,
       resume_version, to_char(resume_at, 'YYYY-MM-DD HH24:MI') AS resume_at,
       resume_after = (SELECT device_id FROM devices WHERE app_id = :app ORDER BY device_id OFFSET 149 LIMIT 1) AS after_150,
       next_at <= clock_now() AS due_again
FROM flow_trigger_evals WHERE flow_id = :'flow';
SELECT _flow_triggers_chunking() AS chunking;

-- a chunk rolled back (the scheduler killed in it): its progress with it
BEGIN;
SELECT _flow_triggers_run() > 0 AS entered_then_lost;
ROLLBACK;
SELECT resume_after = (SELECT device_id FROM devices WHERE app_id = :app ORDER BY device_id OFFSET 149 LIMIT 1) AS still_after_150
FROM flow_trigger_evals WHERE flow_id = :'flow';

-- the clock moves on during the chunks, a device of a later chunk opens the app, and a device
-- registers: every chunk still judges at the first chunk's time (the device that opened the app
-- is not inactive then any more: its last event is now; the new device is not inactive)
SELECT _clock_set('2093-01-21 00:05:00+00') IS NOT NULL AS five_minutes_later;
SELECT max(device_id) AS opener FROM expected \gset
SELECT registration_id AS opener_registration FROM devices WHERE device_id = :opener \gset
SELECT push_track('chunk_app', :'opener_registration', 'app_open', '{}', clock_now());
SELECT push_device_register('chunk_app', 'late', 'android', 'fcm', 'tl') IS NOT NULL AS late_registered;
UPDATE devices SET created_at = '2093-01-21 00:05:00+00' WHERE app_id = :app AND registration_id = 'late';
DELETE FROM expected WHERE device_id = :opener;

-- the other chunks, one a call, until the evaluation is done
DO $$
DECLARE
    n int := 0;
BEGIN
    WHILE pushplan._flow_triggers_chunking() LOOP
        PERFORM pushplan._flow_triggers_run();
        n := n + 1;
        EXIT WHEN n > 50;
    END LOOP;
    RAISE NOTICE 'chunks after the first: %', n;
END $$;
SELECT version, to_char(evaluated_at, 'YYYY-MM-DD HH24:MI') AS evaluated_at,
       to_char(next_at, 'YYYY-MM-DD HH24:MI') AS next_at, resume_version, resume_after, error,
       users = (SELECT count(*) FROM flow_instances WHERE flow_id = :'flow') AS users_counted
FROM flow_trigger_evals WHERE flow_id = :'flow';
SELECT _flow_triggers_chunking() AS chunking;
-- every inactive device entered, exactly once, nobody else
SELECT (SELECT count(*) FROM flow_instances WHERE flow_id = :'flow') AS entered,
       (SELECT count(DISTINCT device_id) FROM flow_instances WHERE flow_id = :'flow') AS distinct_devices,
       (SELECT count(*) FROM expected) AS expected,
       (SELECT count(*) FROM expected x WHERE NOT EXISTS (SELECT 1 FROM flow_instances i
            WHERE i.flow_id = :'flow' AND i.device_id = x.device_id)) AS missed;

-- the next evaluation (15 minutes after the first chunk's time) looks from the first chunk's
-- time on: a device active then whose last app_open is made 2093-01-14 00:10 crossed the line
-- at 00:10, and enters
SELECT _clock_set('2093-01-21 00:15:01+00') IS NOT NULL AS a_quarter_later;
SELECT array_agg(device_id) AS expected_ids FROM expected \gset
SELECT min(device_id) AS crossing FROM devices WHERE app_id = :app AND right(registration_id, 1) IN ('0', '2', '4', '6', '8')
    AND device_id <> ALL (:'expected_ids'::bigint[]) \gset
UPDATE tracked_events SET tracked_at = '2093-01-14 00:10:00+00' WHERE device_id = :crossing;
SELECT _flow_triggers_run() AS entered_since;
SELECT version, to_char(evaluated_at, 'YYYY-MM-DD HH24:MI') AS evaluated_at, resume_version FROM flow_trigger_evals WHERE flow_id = :'flow';

-- a new version starts over at its next evaluation, in chunks again
SELECT _clock_set('2093-01-21 00:31:00+00') IS NOT NULL AS at_the_next_evaluation;
SELECT push_flow_update('chunk_app', :'flow', '{"name": "winback", "reentry": "0",
  "trigger": {"inactive": {"event": "app_open", "for": "8 days"}}, "steps": [{"wait": "30 days"}]}');
SELECT _flow_triggers_run() IS NOT NULL AS evaluated;
SELECT version, resume_version FROM flow_trigger_evals WHERE flow_id = :'flow';

-- the chunk size's bounds
SET pushplan.flow_trigger_chunk = 99;
RESET pushplan.flow_trigger_chunk;
SELECT _flow_trigger_chunk() AS default_chunk;

-- nothing left for the suites after this one (flows.sql counts every flow, event and instance)
SELECT push_flow_delete('chunk_app', :'flow');
DELETE FROM tracked_events WHERE app_id = :app;
DELETE FROM devices WHERE app_id = :app;
SELECT count(*) AS evals_left FROM flow_trigger_evals;
SELECT _clock_set(NULL) IS NOT NULL AS clock_back;
