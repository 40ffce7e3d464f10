-- push_task_progress (doc/sql.md): in the spirit of pg_stat_progress_*, one row per task not
-- finished and per task finished in the last hour, each with its deliveries counted by status.
--
-- A task's deliveries have ids from the first of the UTC day it started expanding (the
-- expansion's transaction writes started_at and its first deliveries with the same now(); later
-- batches, retries and a fallback's messages come later; sql/api/86_retention.sql): the count of
-- each task reads only the partitions from that day on, pruned as each task's probe starts,
-- instead of probing every day kept (pushplan.retention_days, 30, and the days made ahead). A
-- task not started yet has no floor and probes them all. Only the lower bound: with an upper
-- one too, the planner estimated the range on the partition's primary key as selective and
-- ANDed it with the task's index, reading the whole day's primary key for each task (a
-- thousand times slower). doc/benchmarks.md, "push_task_progress at scale".
--
-- rate_per_s is over the last 10 seconds (or since the task started, if that is shorter); eta
-- assumes that rate holds, and is NULL until the task has started sending. priority is the
-- task's lane (doc/push.md, "Priority").
CREATE OR REPLACE VIEW push_task_progress WITH (security_barrier) AS
    SELECT a.app, t.task_id, t.plan_id, t.state, coalesce(t.targeted, 0) AS targeted,
           s.queued, c.sending, s.sent, s.failed, s.suppressed,
           round(s.recent / w.seconds, 1) AS rate_per_s,
           CASE WHEN t.started_at IS NULL THEN NULL
                WHEN s.queued + c.sending = 0 THEN interval '0'
                WHEN s.recent > 0 THEN (s.queued + c.sending) / (s.recent / w.seconds) * interval '1 second'
           END AS eta,
           t.created_at, t.started_at, t.finished_at,
           (ARRAY['high', 'normal', 'low'])[t.priority + 1] AS priority,
           -- A/B variants (doc/variants.md): a variant's task, and its push's task
           t.parent_task_id, t.variant
    FROM tasks t
    JOIN apps a USING (app_id)
    -- the devices of its send plans (doc/schedules.md, "Send plans"): not claimed yet, and
    -- claimed (in flight; their deliveries are written with their outcomes)
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(cardinality(p.device_ids)) FILTER (WHERE p.claimed_by IS NULL), 0) AS planned,
               coalesce(sum(cardinality(p.device_ids)) FILTER (WHERE p.claimed_by IS NOT NULL), 0) AS claimed
        FROM delivery_plans p
        WHERE p.task_id = t.task_id) p
    -- in flight: the claimed queue rows (their deliveries say queued until their outcomes) and
    -- the claimed plans' devices
    CROSS JOIN LATERAL (
        SELECT count(*) AS queue_sending, count(*) + p.claimed AS sending FROM delivery_queue q
        WHERE q.task_id = t.task_id AND q.claimed_by IS NOT NULL) c
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE d.status = 'queued') - c.queue_sending + p.planned AS queued,
               count(*) FILTER (WHERE d.status = 'sent') AS sent,
               count(*) FILTER (WHERE d.status IN ('failed', 'invalid_token', 'expired')) AS failed,
               count(*) FILTER (WHERE d.status = 'suppressed') AS suppressed,
               count(*) FILTER (WHERE d.sent_at > now() - interval '10 seconds') AS recent
        FROM deliveries d WHERE d.task_id = t.task_id
          -- only the partitions of the days since the task started (see above)
          AND d.delivery_id >= coalesce(_delivery_id_floor(t.started_at), 0)) s
    CROSS JOIN LATERAL (
        SELECT greatest(least(10.0, extract(epoch FROM now() - t.started_at)), 0.1) AS seconds) w
    WHERE t.app_id = ANY ((SELECT _visible_apps('reader'))::int[])
      AND (t.state IN ('queued', 'sending') OR t.finished_at > now() - interval '1 hour');

-- push_task_progress on the distributed layout (doc/scale-out.md, "The readers"): push_distribute()
-- makes the view read this function. Citus plans no lateral subquery from tasks (a reference
-- table) into the distributed queue and deliveries, so the same counts are taken grouped by
-- task over the visible tasks' ids (each shard counts its own, Citus adds them up), from the
-- oldest of those tasks' days on, and joined to the tasks. The callers' apps are the outer
-- user's (_visible_apps), as in the view.
CREATE OR REPLACE FUNCTION _task_progress_distributed()
RETURNS TABLE(app text, task_id text, plan_id text, state text, targeted bigint, queued bigint,
              sending bigint, sent bigint, failed bigint, suppressed bigint, rate_per_s numeric,
              eta interval, created_at timestamptz, started_at timestamptz,
              finished_at timestamptz, priority text, parent_task_id text, variant text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_tasks text[];
    v_floor bigint;
    -- (apart: Citus may send the statement below to another placement of tasks, where
    -- _visible_apps' own read of apps would be a distributed query inside a shard's)
    v_apps int[] := _visible_apps('reader');
BEGIN
    SELECT array_agg(t.task_id), min(coalesce(_delivery_id_floor(t.started_at), 0))
      INTO v_tasks, v_floor
      FROM tasks t
     WHERE t.app_id = ANY (v_apps)
       AND (t.state IN ('queued', 'sending') OR t.finished_at > now() - interval '1 hour');
    IF v_tasks IS NULL THEN
        RETURN;
    END IF;
    -- (planned with the ids known: Citus routes no generic plan by "= ANY" of a parameter)
    RETURN QUERY EXECUTE $q$
        WITH c AS (
            SELECT q.task_id, count(*) AS sending FROM pushplan.delivery_queue q
            WHERE q.task_id = ANY ($1) AND q.claimed_by IS NOT NULL
            GROUP BY q.task_id
        ), s AS (
            SELECT d.task_id, count(*) FILTER (WHERE d.status = 'queued') AS queued,
                   count(*) FILTER (WHERE d.status = 'sent') AS sent,
                   count(*) FILTER (WHERE d.status IN ('failed', 'invalid_token', 'expired')) AS failed,
                   count(*) FILTER (WHERE d.status = 'suppressed') AS suppressed,
                   count(*) FILTER (WHERE d.sent_at > now() - interval '10 seconds') AS recent
            FROM pushplan.deliveries d
            WHERE d.task_id = ANY ($1) AND d.delivery_id >= $2
            GROUP BY d.task_id
        ), n AS (
            SELECT t.*, coalesce(c.sending, 0) AS sending,
                   coalesce(s.queued, 0) - coalesce(c.sending, 0) AS queued,
                   coalesce(s.sent, 0) AS sent, coalesce(s.failed, 0) AS failed,
                   coalesce(s.suppressed, 0) AS suppressed, coalesce(s.recent, 0) AS recent,
                   greatest(least(10.0, extract(epoch FROM now() - t.started_at)), 0.1) AS seconds
            FROM pushplan.tasks t
            LEFT JOIN c ON c.task_id = t.task_id
            LEFT JOIN s ON s.task_id = t.task_id
            WHERE t.task_id = ANY ($1)
        )
        SELECT a.app, n.task_id, n.plan_id, n.state, coalesce(n.targeted, 0)::bigint,
               n.queued, n.sending, n.sent, n.failed, n.suppressed,
               round(n.recent / n.seconds, 1),
               CASE WHEN n.started_at IS NULL THEN NULL
                    WHEN n.queued + n.sending = 0 THEN interval '0'
                    WHEN n.recent > 0 THEN (n.queued + n.sending) / (n.recent / n.seconds) * interval '1 second'
               END,
               n.created_at, n.started_at, n.finished_at,
               (ARRAY['high', 'normal', 'low'])[n.priority + 1], n.parent_task_id, n.variant
        FROM n JOIN pushplan.apps a ON a.app_id = n.app_id
    $q$ USING v_tasks, v_floor;
END $$;
