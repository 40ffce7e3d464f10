-- Sending: push_send, push_cancel, the delivery and progress views (tables: sql/install/schema.sql).

CREATE OR REPLACE FUNCTION push_send(app text, push jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_push_send' LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION push_send(text, jsonb) IS
    'creates a push task; it is sent when the calling transaction commits (doc/push.md)';

-- Cancels what of a task has not left: push_cancel (for a push, and for each of its variants'
-- tasks), and the end of a flow instance whose send made it (sql/api/89_flows.sql). The caller
-- holds the task's row lock.
CREATE OR REPLACE FUNCTION _task_cancel(p_app int, p_task text) RETURNS void
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
BEGIN
    -- What is in flight finishes; what has not left yet never will. A claimed queue row is in
    -- flight (its delivery still says queued until its outcome): only the unclaimed ones go,
    -- under their row locks, so a sender's claim and this cancel never both take a row.
    -- The outcome is written as a sender writes the one of a delivery it finds cancelled (an
    -- outcome counted in attempts, the reason in error), counted in the statistics, and
    -- appended to the outcome webhook's outbox when the app has one (doc/statistics.md).
    WITH q AS (DELETE FROM delivery_queue q
               WHERE q.task_id = p_task AND q.claimed_by IS NULL
               RETURNING q.delivery_id),
    c AS (UPDATE deliveries d SET status = 'cancelled', attempts = d.attempts + 1, error = 'cancelled'
          FROM q WHERE d.delivery_id = q.delivery_id AND d.status = 'queued'
          RETURNING d.delivery_id, d.device_id, d.platform, d.vendor),
    counted AS (INSERT INTO stats_pending (task_id, platform, vendor, cancelled)
        SELECT p_task, coalesce(c.platform, 'unknown'), c.vendor, count(*) FROM c
        GROUP BY 2, 3)
    INSERT INTO outcome_outbox (app_id, delivery_id, task_id, plan_id, registration_id, vendor,
                                platform, status, error, at)
        SELECT p_app, c.delivery_id, p_task, t.plan_id, v.registration_id, c.vendor,
               c.platform, 'cancelled', 'cancelled', now()
        FROM c JOIN outcome_webhooks w ON w.app_id = p_app
        JOIN tasks t ON t.task_id = p_task
        LEFT JOIN devices v ON v.device_id = c.device_id;
    UPDATE tasks t SET state = 'cancelled', finished_at = now() WHERE t.task_id = p_task;
END $$;

CREATE OR REPLACE FUNCTION push_cancel(app text, task_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app, 'send');
    v_state text;
    v_created_by oid;
    v_variant text;
    v_open int := 0;
BEGIN
    SELECT state, created_by INTO v_state, v_created_by FROM tasks t
        WHERE t.app_id = v_app AND t.task_id = push_cancel.task_id
        FOR UPDATE;
    -- An app role (no operator rights) cancels only what it sent; other tasks do not exist for it.
    IF NOT FOUND OR (NOT _caller_acts_as(v_created_by) AND NOT _app_holds(v_app, 'operator')) THEN
        RAISE EXCEPTION '92301: task "%" does not exist', _shown(task_id) USING ERRCODE = '42704';
    END IF;
    IF v_state IN ('done', 'cancelled') THEN
        RAISE EXCEPTION '92302: task "%" is already %', task_id, v_state USING ERRCODE = '55000';
    END IF;
    IF v_state NOT IN ('variants', 'testing') THEN
        PERFORM _task_cancel(v_app, push_cancel.task_id);
        RETURN;
    END IF;
    -- A push with variants (doc/variants.md): its variants' tasks not finished yet, in one order
    FOR v_variant IN
        SELECT t.task_id FROM tasks t
        WHERE t.parent_task_id = push_cancel.task_id AND t.state IN ('queued', 'sending')
        ORDER BY t.task_id FOR UPDATE
    LOOP
        PERFORM _task_cancel(v_app, v_variant);
        v_open := v_open + 1;
    END LOOP;
    -- (a push whose test waits for its winner is not done: cancelling it sends no winner)
    IF v_open = 0 AND v_state = 'variants' THEN
        RAISE EXCEPTION '92302: task "%" is already %', task_id, 'done' USING ERRCODE = '55000';
    END IF;
    UPDATE tasks t SET state = 'cancelled', finished_at = now() WHERE t.task_id = push_cancel.task_id;
END $$;

CREATE OR REPLACE VIEW push_deliveries WITH (security_barrier) AS
    SELECT a.app, d.task_id, t.plan_id, v.registration_id, v.platform, d.vendor,
           -- a queued delivery whose queue row a sender has claimed is in flight
           CASE WHEN d.status = 'queued' AND EXISTS (
                    SELECT 1 FROM delivery_queue q WHERE q.task_id = d.task_id
                    AND q.delivery_id = d.delivery_id AND q.claimed_by IS NOT NULL)
                THEN 'sending' ELSE d.status END AS status,
           d.send_at, d.sent_at, d.attempts, d.error, d.http_status, d.vendor_message_id
    FROM deliveries d
    JOIN tasks t USING (task_id)
    JOIN apps a ON a.app_id = d.app_id
    JOIN devices v ON v.device_id = d.device_id
    WHERE d.app_id = ANY ((SELECT _visible_apps('operator'))::int[]);

-- In the spirit of pg_stat_progress_*: one row per task not finished (and those finished in the
-- last hour). rate_per_s is over the last 10 seconds (or since the task started, if that is
-- shorter); eta assumes that rate holds, and is NULL until the task has started sending.
-- priority is the task's lane (doc/push.md, "Priority").
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
        FROM deliveries d WHERE d.task_id = t.task_id) s
    CROSS JOIN LATERAL (
        SELECT greatest(least(10.0, extract(epoch FROM now() - t.started_at)), 0.1) AS seconds) w
    WHERE t.app_id = ANY ((SELECT _visible_apps('reader'))::int[])
      AND (t.state IN ('queued', 'sending') OR t.finished_at > now() - interval '1 hour');

-- Internal: the wake-up of this database's scheduler, for rows written without push_send.
CREATE OR REPLACE FUNCTION _wake_scheduler() RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_wake_scheduler' LANGUAGE C VOLATILE;
-- Internal: the wake-up of this database's senders (express: the high lane's too), for
-- deliveries queued without push_send (a flow's webhook step).
CREATE OR REPLACE FUNCTION _wake_senders(express boolean) RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_wake_senders' LANGUAGE C VOLATILE STRICT;
