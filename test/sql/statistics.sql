-- Statistics (doc/statistics.md): events, the aggregates kept as they are written, their upkeep,
-- push_plan_stats and the views, and every error. No workers run here: deliveries are made by
-- push_send (a list of registration ids is expanded at once) and stay queued; the outcomes the
-- senders write are counted in test/integration/statistics.sh.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
-- an error's message with task ids (random) masked
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN regexp_replace(SQLERRM, 'tsk_[0-9a-f]+', 'tsk_...', 'g');
END $$;

SELECT push_app_create('stats_app');
SELECT push_app_set('stats_app', '{"timezone": "Asia/Shanghai"}');
SELECT push_vendor_set('stats_app', 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "stats-secret-0123456789"}');
SELECT count(*) AS devices FROM (
    SELECT push_device_register('stats_app', 'a' || i, 'android', 'webhook', 'tok-a' || i) FROM generate_series(1, 4) i
    UNION ALL
    SELECT push_device_register('stats_app', 'i' || i, 'ios', 'webhook', 'tok-i' || i) FROM generate_series(1, 2) i
    UNION ALL
    -- a vendor the app has no credentials for: its deliveries fail when they are made
    SELECT push_device_register('stats_app', 'x1', 'android', 'fcm', 'tok-x1')) d;
SELECT push_plan_create('stats_app', 'p618', 'the 618 sale');
SELECT push_plan_create('stats_app', 'p11', 'singles day');

-- Two pushes of p618 (one notification, one message) and one of p11.
SELECT push_send('stats_app', '{"to": {"registration_id": ["a1", "a2", "a3", "i1", "x1"]},
    "body": {"platform": "all", "notification": {"alert": "618"}, "options": {"plan_id": "p618"}}}') AS t1 \gset
SELECT push_send('stats_app', '{"to": {"registration_id": ["a4", "i2"]},
    "body": {"platform": "all", "message": {"msg_content": "618 data"}, "options": {"plan_id": "p618"}}}') AS t2 \gset
SELECT push_send('stats_app', '{"to": {"registration_id": ["a1", "a2"]},
    "body": {"platform": "all", "notification": {"alert": "11.11"}, "options": {"plan_id": "p11"}}}') AS t3 \gset

-- Made: counted as they are made (x1's delivery failed at once: no fcm credentials).
SELECT platform, vendor, sum(targeted) AS targeted, sum(failed) AS failed
FROM stats_pending WHERE task_id = :'t1' GROUP BY 1, 2 ORDER BY 1, 2;

-- Events: each kind counts once per delivery, "delivered" is received, a conversion counts
-- with the value of its first report; the raw log keeps every event.
SELECT push_event('stats_app', 'a1', :'t1', 'received');
SELECT push_event('stats_app', 'a1', :'t1', 'delivered');
SELECT push_event('stats_app', 'a1', :'t1', 'open');
SELECT push_event('stats_app', 'a1', :'t1', 'click');
SELECT push_event('stats_app', 'a1', :'t1', 'click');
SELECT push_event('stats_app', 'a1', :'t1', 'convert', now(), 12.50);
SELECT push_event('stats_app', 'a1', :'t1', 'convert', now(), 99);
SELECT push_event_batch('stats_app', jsonb_build_array(
    jsonb_build_object('registration_id', 'a2', 'task_id', :'t1', 'kind', 'received', 'at', '2026-01-01T08:00:00+08:00'),
    jsonb_build_object('registration_id', 'a2', 'task_id', :'t1', 'kind', 'open'),
    jsonb_build_object('registration_id', 'a2', 'task_id', :'t1', 'kind', 'open'),
    jsonb_build_object('registration_id', 'a2', 'task_id', :'t1', 'kind', 'convert', 'value', 5),
    jsonb_build_object('registration_id', 'a2', 'task_id', :'t1', 'kind', 'convert', 'value', 7),
    jsonb_build_object('registration_id', 'i1', 'task_id', :'t1', 'kind', 'received'),
    jsonb_build_object('registration_id', 'i1', 'task_id', :'t1', 'kind', 'dismiss'),
    jsonb_build_object('registration_id', 'a4', 'task_id', :'t2', 'kind', 'received', 'value', null),
    jsonb_build_object('registration_id', 'a1', 'task_id', :'t3', 'kind', 'click'))) AS recorded;
SELECT v.registration_id, e.kind, e.value, e.counted
FROM events e JOIN devices v USING (device_id)
WHERE e.task_id = :'t1' ORDER BY 1, 2, e.counted DESC, 3;
SELECT e.at AS reported_at FROM events e JOIN devices v USING (device_id)
WHERE e.task_id = :'t1' AND v.registration_id = 'a2' AND e.kind = 'received';
-- an empty batch records nothing
SELECT push_event_batch('stats_app', '[]') AS recorded;

-- The figures read the same before and after the upkeep folds what was appended.
SELECT plan_id, platform, vendor, message_type, targeted, suppressed, sent, failed, received,
       opened, clicked, converted, converted_value, click_rate, click_rate_received, failed_by
FROM push_plan_stats('stats_app', ARRAY['p618', 'p11'], now() - interval '1 day', now() + interval '1 day')
ORDER BY 1, 2, 3, 4;
CREATE TEMP TABLE before_rollup AS
    SELECT * FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now() + interval '1 day');
SELECT _stats_rollup() > 0 AS folded;
SELECT count(*) AS pending_rows FROM stats_pending;
SELECT count(*) AS differences FROM (
    (SELECT * FROM before_rollup EXCEPT ALL
     SELECT * FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now() + interval '1 day'))
    UNION ALL
    (SELECT * FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now() + interval '1 day')
     EXCEPT ALL SELECT * FROM before_rollup)) d;

-- Periods: a push counts in the quarter hour it was due, cut into days or hours in the app's
-- zone (Asia/Shanghai), UTC or any zone; since and until select the quarter hours. (Compared
-- with the tasks' own due times, not now(): a run may cross an hour or a day meanwhile.)
CREATE TEMP VIEW due AS SELECT t.send_at FROM tasks t JOIN apps a USING (app_id) WHERE a.app = 'stats_app';
SELECT count(DISTINCT period) = (SELECT count(DISTINCT date_trunc('day', send_at, 'Asia/Shanghai')) FROM due) AS one_day,
       bool_and(period IN (SELECT date_trunc('day', send_at, 'Asia/Shanghai') FROM due)) AS app_day
FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now() + interval '1 day');
SELECT bool_and(period IN (SELECT date_trunc('hour', send_at) FROM due)) AS utc_hour
FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now() + interval '1 day', 'hour', 'utc');
SELECT bool_and(period IN (SELECT date_trunc('hour', send_at, 'Asia/Kolkata') FROM due)) AS kolkata_hour
FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now() + interval '1 day', 'hour', 'Asia/Kolkata');
SELECT count(*) AS rows_after FROM push_plan_stats('stats_app', NULL, now() + interval '15 minutes', now() + interval '1 day');
SELECT count(*) AS rows_before FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now() - interval '15 minutes');

-- Cancelled deliveries count as such, once.
SELECT push_cancel('stats_app', :'t3');
SELECT task_id = :'t3' AS t3, state, targeted, cancelled, pending, clicked
FROM push_task_stats WHERE app = 'stats_app' AND task_id = :'t3';

-- The views for BI tools.
SELECT task_id = :'t1' AS t1, plan_id, message_type, targeted, suppressed, sent, failed, cancelled,
       pending, received, opened, clicked, dismissed, converted, converted_value, click_rate,
       click_rate_received
FROM push_task_stats WHERE app = 'stats_app' ORDER BY plan_id, message_type;
SELECT plan_id, day = (now() AT TIME ZONE 'Asia/Shanghai')::date AS today, platform, vendor,
       message_type, targeted, failed, cancelled, received, opened, clicked, dismissed, converted,
       converted_value, click_rate_received
FROM push_plan_stats_daily WHERE app = 'stats_app' ORDER BY 1, 3, 4, 5;
SELECT plan_id, description, tasks, targeted, sent, failed, received, opened, clicked, converted,
       converted_value, sent_rate, received_rate, open_rate, click_rate, click_rate_received
FROM push_plan_overview WHERE app = 'stats_app' ORDER BY 1;
SELECT vendor, targeted, sent, failed, failed_other, retries, answers, latency_p50_ms
FROM push_vendor_stats_daily WHERE app = 'stats_app' ORDER BY 1;

-- Every aggregate equals a full recount from the raw rows.
SELECT count(*) AS differences FROM (
    (SELECT r.* FROM _stats_recount() r JOIN tasks t USING (task_id)
     JOIN apps a USING (app_id) WHERE a.app = 'stats_app'
     EXCEPT
     SELECT s.* FROM _task_stats_live s JOIN tasks t USING (task_id)
     JOIN apps a USING (app_id) WHERE a.app = 'stats_app')
    UNION ALL
    (SELECT s.* FROM _task_stats_live s JOIN tasks t USING (task_id)
     JOIN apps a USING (app_id) WHERE a.app = 'stats_app'
     EXCEPT
     SELECT r.* FROM _stats_recount() r JOIN tasks t USING (task_id)
     JOIN apps a USING (app_id) WHERE a.app = 'stats_app')) d;

-- The latency histogram's quantiles: the upper bound of the bucket (2^(b/4) ms).
SELECT _latency_quantile('{0, 4, 8, 40}', '{1, 5, 3, 1}', 0.5) AS p50,
       _latency_quantile('{0, 4, 8, 40}', '{1, 5, 3, 1}', 0.95) AS p95,
       _latency_quantile('{}', '{}', 0.5) AS none;

-- Bad input: clear errors, nothing written.
SELECT count(*) AS events_before FROM events WHERE task_id = :'t1' \gset
SELECT push_event('stats_app', 'a1', :'t1', 'bogus');
SELECT push_event('stats_app', 'a1', :'t1', NULL);
SELECT push_event('stats_app', 'a1', 'tsk_nope', 'open');
SELECT push_event('stats_app', 'nobody', :'t1', 'open');
SELECT pg_temp.error_of(format('SELECT push_event(%L, %L, %L, %L)', 'stats_app', 'a4', :'t1', 'open'));
SELECT push_event('stats_app', 'a1', :'t1', 'open', now() + interval '1 hour');
SELECT push_event('stats_app', 'a1', :'t1', 'open', now() - interval '2 years');
SELECT push_event('stats_app', 'a1', :'t1', 'open', NULL);
SELECT push_event('stats_app', 'a1', :'t1', 'open', now(), 3);
SELECT push_event('stats_app', 'a1', :'t1', 'convert', now(), 'NaN');
SELECT push_event('stats_app', 'a1', :'t1', 'convert', now(), 'Infinity');
SELECT push_event('no_such_app', 'a1', :'t1', 'open');
SELECT push_event_batch('stats_app', '{"registration_id": "a1"}');
SELECT push_event_batch('stats_app', NULL);
SELECT push_event_batch('stats_app', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'a1', 'task_id', 't', 'kind', 'open'))
                                      FROM generate_series(1, 10001)));
SELECT push_event_batch('stats_app', '[{"registration_id": "a1", "task_id": "t", "kind": "open"}, 7]');
SELECT push_event_batch('stats_app', '[{"registration_id": "a1", "task_id": "t", "kind": "open", "extra": 1}]');
SELECT push_event_batch('stats_app', '[{"registration_id": "a1", "kind": "open"}]');
SELECT push_event_batch('stats_app', '[{"registration_id": 1, "task_id": "t", "kind": "open"}]');
SELECT push_event_batch('stats_app', '[{"registration_id": "a1", "task_id": "t", "kind": "convert", "value": "5"}]');
SELECT push_event_batch('stats_app', '[{"registration_id": "a1", "task_id": "t", "kind": "open", "at": "2026-01-01 08:00:00"}]');
SELECT push_event_batch('stats_app', '[{"registration_id": "a1", "task_id": "t", "kind": "open", "at": "soon"}]');
SELECT push_event_batch('stats_app', jsonb_build_array(
    jsonb_build_object('registration_id', 'a1', 'task_id', :'t1', 'kind', 'open'),
    jsonb_build_object('registration_id', 'a1', 'task_id', :'t1', 'kind', 'opened')));
SELECT push_event_batch('stats_app', jsonb_build_array(
    jsonb_build_object('registration_id', 'a1', 'task_id', :'t1', 'kind', 'open'),
    jsonb_build_object('registration_id', 'ghost', 'task_id', :'t1', 'kind', 'open')));
SELECT push_event_batch('stats_app', jsonb_build_array(
    jsonb_build_object('registration_id', 'a1', 'task_id', :'t1', 'kind', 'open'),
    jsonb_build_object('registration_id', 'a1', 'task_id', 'tsk_nope', 'kind', 'open')));
SELECT pg_temp.error_of(format('SELECT push_event_batch(%L, %L)', 'stats_app', jsonb_build_array(
    jsonb_build_object('registration_id', 'a1', 'task_id', :'t1', 'kind', 'open'),
    jsonb_build_object('registration_id', 'a4', 'task_id', :'t1', 'kind', 'open'))));
SELECT push_event_batch('stats_app', jsonb_build_array(
    jsonb_build_object('registration_id', 'a1', 'task_id', :'t1', 'kind', 'click', 'value', 2)));
SELECT count(*) - :events_before AS events_written FROM events WHERE task_id = :'t1';

SELECT * FROM push_plan_stats('stats_app', ARRAY['p618', 'nope'], now() - interval '1 day', now());
SELECT * FROM push_plan_stats('stats_app', ARRAY[NULL], now() - interval '1 day', now());
SELECT * FROM push_plan_stats('stats_app', NULL, NULL, now());
SELECT * FROM push_plan_stats('stats_app', NULL, now(), NULL);
SELECT * FROM push_plan_stats('stats_app', NULL, now(), now());
SELECT * FROM push_plan_stats('stats_app', NULL, now(), now() - interval '1 day');
SELECT * FROM push_plan_stats('stats_app', NULL, now() - interval '10 years 1 day', now());
SELECT * FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now(), 'week');
SELECT * FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now(), NULL);
SELECT * FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now(), 'day', 'Mars/Olympus');
SELECT * FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now(), 'day', 'UTC+3');
SELECT * FROM push_plan_stats('no_such_app', NULL, now() - interval '1 day', now());
-- ten years exactly is a range
SELECT count(*) > 0 AS ten_years FROM push_plan_stats('stats_app', NULL, now() - interval '10 years', now());

-- Roles: application code reports events, readers read the figures, neither does the other.
SET client_min_messages = warning;
DROP ROLE IF EXISTS stats_code;
DROP ROLE IF EXISTS stats_bi;
RESET client_min_messages;
CREATE ROLE stats_code;
CREATE ROLE stats_bi;
SELECT push_app_grant('stats_app', 'stats_code', 'app');
SELECT push_app_grant('stats_app', 'stats_bi', 'reader');
SET ROLE stats_code;
SELECT push_event('stats_app', 'a3', :'t1', 'open');
SELECT push_event_batch('stats_app', jsonb_build_array(jsonb_build_object('registration_id', 'a3', 'task_id', :'t1', 'kind', 'click'))) AS recorded;
SELECT count(*) FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now() + interval '1 day');
SELECT count(*) FROM push_task_stats;
RESET ROLE;
SET ROLE stats_bi;
SELECT plan_id, sum(opened) AS opened, sum(clicked) AS clicked
FROM push_plan_stats('stats_app', NULL, now() - interval '1 day', now() + interval '1 day')
GROUP BY 1 ORDER BY 1;
SELECT count(*) AS tasks FROM push_task_stats;
SELECT count(*) > 0 AS daily FROM push_plan_stats_daily;
SELECT count(*) AS plans FROM push_plan_overview;
SELECT count(*) > 0 AS vendors FROM push_vendor_stats_daily;
SELECT push_event('stats_app', 'a3', :'t1', 'open');
SELECT count(*) FROM events;
RESET ROLE;
-- the suites share a database: later ones list every binding
SELECT push_app_revoke('stats_app', 'stats_code', 'app'), push_app_revoke('stats_app', 'stats_bi', 'reader');
DROP ROLE stats_code;
DROP ROLE stats_bi;

-- Arguments of another collation (application code whose columns are COLLATE "C", calling
-- push_event from a trigger) still find the task by its key: compared in the argument's
-- collation, the task's look-up would scan the tasks (this backend's counts not yet reported,
-- before and after the call; 200 tasks, so that a scan is not the cheapest plan anyway).
SELECT push_app_create('coll_app');
SELECT push_vendor_set('coll_app', 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "coll-secret-0123456789"}');
SELECT push_device_register('coll_app', 'c1', 'android', 'webhook', 'tok-c1') > 0 AS registered;
SELECT count(push_send('coll_app', '{"to": {"registration_id": ["c1"]}, "body": {"platform": "all", "notification": {"alert": "x"}}}'))
FROM generate_series(1, 200);
SELECT max(task_id) AS coll_task FROM tasks WHERE app_id = (SELECT app_id FROM apps WHERE app = 'coll_app') \gset
ANALYZE tasks;
CREATE TEMP TABLE scans AS SELECT relname, seq_scan FROM pg_stat_xact_user_tables WHERE schemaname = 'pushplan';
SELECT push_event('coll_app' COLLATE "C", 'c1' COLLATE "C", :'coll_task' COLLATE "C", 'open' COLLATE "C");
SELECT x.relname, x.seq_scan - coalesce(s.seq_scan, 0) AS seq_scans
FROM pg_stat_xact_user_tables x LEFT JOIN scans s USING (relname)
WHERE x.schemaname = 'pushplan' AND x.relname IN ('tasks', 'devices') ORDER BY 1;
DELETE FROM apps WHERE app = 'coll_app';
