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
    -- in flight: the claimed queue rows (their deliveries say queued until their outcomes)
    CROSS JOIN LATERAL (
        SELECT count(*) AS sending FROM delivery_queue q
        WHERE q.task_id = t.task_id AND q.claimed_by IS NOT NULL) c
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE d.status = 'queued') - c.sending AS queued,
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
