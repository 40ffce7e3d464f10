-- push_task_progress counts each task's deliveries in the partitions from the day it started
-- (sql/api/86_task_progress.sql): the counts must be those of every partition, for tasks whose
-- deliveries span several days, for a task not started yet, and beside tasks of other days.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

SELECT push_app_create('progress_app');
SELECT push_plan_create('progress_app', 'p', 'p');
-- the days' partitions, from three days ago to tomorrow (as the upkeep makes them)
SELECT count(_raw_partition_create('deliveries', (now() AT TIME ZONE 'UTC')::date + d)) >= 0 AS made
FROM generate_series(-3, 1) d;

-- long_run: started two days ago, finished 10 minutes ago, deliveries made on each day since
-- sending: started now, 2 sent, 4 queued of which 3 claimed
-- not_started: queued, no started_at (it probes every partition), one delivery from 3 days ago
-- old_done: finished two hours ago: not shown
INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at, created_at, started_at, finished_at, targeted, expanded)
SELECT x.task_id, a.app_id, 'p', '{}', x.state, x.started, x.started, x.started_at, x.finished, x.targeted, true
FROM (SELECT app_id FROM apps WHERE app = 'progress_app') a,
     (VALUES ('long_run', 'done', now() - interval '2 days', now() - interval '2 days', now() - interval '10 minutes', 9),
             ('sending', 'sending', now(), now(), NULL, 6),
             ('not_started', 'queued', now() - interval '3 days', NULL, NULL, 0),
             ('old_done', 'done', now() - interval '3 hours', now() - interval '3 hours', now() - interval '2 hours', 1))
     x(task_id, state, started, started_at, finished, targeted);
-- ids as the day of making gives them (_delivery_id_floor), far above the sequence's
INSERT INTO deliveries (delivery_id, task_id, app_id, device_id, vendor, status, send_at, sent_at, attempts)
SELECT _delivery_id_floor(x.made) + (1::bigint << 39) + n, x.task_id, t.app_id, n, 'fcm', x.status, x.made,
       CASE WHEN x.status = 'sent' THEN x.sent END, 1
FROM (VALUES ('long_run', now() - interval '2 days', 'sent', NULL::timestamptz, 1),
             ('long_run', now() - interval '2 days', 'failed', NULL, 2),
             ('long_run', now() - interval '1 day', 'sent', NULL, 3),
             ('long_run', now() - interval '1 day', 'expired', NULL, 4),
             ('long_run', now() - interval '1 day', 'invalid_token', NULL, 5),
             ('long_run', now() - interval '10 minutes', 'sent', now() - interval '10 minutes', 6),
             ('long_run', now() - interval '10 minutes', 'suppressed', NULL, 7),
             ('long_run', now() - interval '10 minutes', 'cancelled', NULL, 8),
             ('sending', now(), 'sent', now(), 11),
             ('sending', now(), 'sent', now() - interval '1 minute', 12),
             ('sending', now(), 'queued', NULL, 13),
             ('sending', now(), 'queued', NULL, 14),
             ('sending', now(), 'queued', NULL, 15),
             ('sending', now(), 'queued', NULL, 16),
             ('not_started', now() - interval '3 days', 'queued', NULL, 21),
             ('old_done', now() - interval '3 hours', 'sent', NULL, 31))
     x(task_id, made, status, sent, n)
JOIN tasks t USING (task_id);
INSERT INTO delivery_queue (task_id, delivery_id, send_at, claimed_by, claimed_at, priority, device_id)
SELECT d.task_id, d.delivery_id, d.send_at, CASE WHEN d.device_id <= 15 THEN 1 END,
       CASE WHEN d.device_id <= 15 THEN now() END, 1, d.device_id
FROM deliveries d WHERE d.status = 'queued' AND d.task_id IN ('sending', 'not_started');

-- (the rate and eta depend on the time since the sends: only whether there are any)
SELECT task_id, state, targeted, queued, sending, sent, failed, suppressed,
       rate_per_s > 0 AS sending_now, eta IS NULL AS no_eta
FROM push_task_progress WHERE app = 'progress_app' ORDER BY task_id;

-- the same counts as every partition gives (no floor): no difference either way
WITH claimed AS (
    SELECT q.task_id, count(*) AS n FROM delivery_queue q WHERE q.claimed_by IS NOT NULL GROUP BY 1),
counts AS (
    SELECT d.task_id, count(*) FILTER (WHERE d.status = 'queued') AS queued,
           count(*) FILTER (WHERE d.status = 'sent') AS sent,
           count(*) FILTER (WHERE d.status IN ('failed', 'invalid_token', 'expired')) AS failed,
           count(*) FILTER (WHERE d.status = 'suppressed') AS suppressed
    FROM deliveries d GROUP BY 1),
direct AS (
    SELECT t.task_id, coalesce(c.queued, 0) - coalesce(cl.n, 0) AS queued, coalesce(c.sent, 0) AS sent,
           coalesce(c.failed, 0) AS failed, coalesce(c.suppressed, 0) AS suppressed
    FROM tasks t LEFT JOIN counts c USING (task_id) LEFT JOIN claimed cl USING (task_id)
    WHERE t.app_id = (SELECT app_id FROM apps WHERE app = 'progress_app')
      AND (t.state IN ('queued', 'sending') OR t.finished_at > now() - interval '1 hour')),
view AS (SELECT task_id, queued, sent, failed, suppressed FROM push_task_progress WHERE app = 'progress_app')
SELECT (SELECT count(*) FROM direct) AS tasks,
       (SELECT count(*) FROM (SELECT * FROM direct EXCEPT SELECT * FROM view) x) AS missing,
       (SELECT count(*) FROM (SELECT * FROM view EXCEPT SELECT * FROM direct) y) AS extra;

-- the count of a started task reads only the partitions from its start day on: those of the
-- days before are pruned (never executed), today's is read
CREATE FUNCTION pg_temp.plan_lines(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        RETURN NEXT l;
    END LOOP;
END $$;
SELECT day < to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD') AS before_today,
       day = to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD') AS today,
       bool_and(line ~ 'never executed') AS pruned, count(*) > 0 AS seen
FROM (SELECT line, substring(line FROM ' on deliveries_([0-9]{8}) ') AS day
      FROM pg_temp.plan_lines('SELECT * FROM pushplan.push_task_progress WHERE task_id = ''sending''') line) e
WHERE day IS NOT NULL AND day <= to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')
GROUP BY 1, 2 ORDER BY 1, 2;
