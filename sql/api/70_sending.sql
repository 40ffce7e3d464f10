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
    -- The task first: on the distributed layout a node expanding it holds its row there (FOR
    -- SHARE) until its batch commits, whose queue rows the DELETE below then sees.
    UPDATE tasks t SET state = 'cancelled', finished_at = now() WHERE t.task_id = p_task;
    -- Its send plans not claimed yet (doc/schedules.md, "Send plans"; one node only): their
    -- deliveries are written cancelled, counted and posted as the queued ones below are. A
    -- claimed plan is in flight, as a claimed queue row: its sender writes its devices'
    -- outcomes. A sender claiming a plan holds its row: this waits for that claim, and leaves
    -- the row, claimed, once it commits.
    IF EXISTS (SELECT 1 FROM delivery_plans p WHERE p.task_id = p_task AND p.claimed_by IS NULL) THEN
        WITH p AS (DELETE FROM delivery_plans p WHERE p.task_id = p_task AND p.claimed_by IS NULL
                   RETURNING p.*),
        c AS (INSERT INTO deliveries (task_id, app_id, device_id, vendor, platform, send_at, status,
                                      attempts, error)
              SELECT p_task, p_app, u.device_id, p.vendor, p.platform, p.send_at, 'cancelled', 1, 'cancelled'
              FROM p CROSS JOIN LATERAL unnest(p.device_ids) u(device_id)
              RETURNING delivery_id, device_id, platform, vendor),
        counted AS (INSERT INTO stats_pending (task_id, platform, vendor, cancelled)
            SELECT p_task, c.platform, c.vendor, count(*) FROM c GROUP BY 2, 3)
        INSERT INTO outcome_outbox (app_id, delivery_id, task_id, plan_id, registration_id, vendor,
                                    platform, status, error, at)
            SELECT p_app, c.delivery_id, p_task, t.plan_id, v.registration_id, c.vendor,
                   c.platform, 'cancelled', 'cancelled', now()
            FROM c JOIN outcome_webhooks w ON w.app_id = p_app
            JOIN tasks t ON t.task_id = p_task
            LEFT JOIN devices v ON v.device_id = c.device_id;
    END IF;
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
    -- (FOR NO KEY UPDATE, the lock the state's UPDATE needs: a sender writing the task's
    -- deliveries holds a key-share lock on its row, their foreign key, which FOR UPDATE would
    -- wait for; test/specs/task_key_share.spec)
    SELECT state, created_by INTO v_state, v_created_by FROM tasks t
        WHERE t.app_id = v_app AND t.task_id = push_cancel.task_id
        FOR NO KEY UPDATE;
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
        ORDER BY t.task_id FOR NO KEY UPDATE
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

-- The deliveries made (push_deliveries reads them with the send plans' below).
CREATE OR REPLACE VIEW _push_deliveries_made WITH (security_barrier) AS
    SELECT a.app, d.task_id, t.plan_id, v.registration_id, v.platform, d.vendor,
           -- a queued delivery whose queue row a sender has claimed is in flight (the device
           -- too: on the distributed layout the queue row is on its device's shard, and Citus
           -- plans the look-up only through the distribution column)
           CASE WHEN d.status = 'queued' AND EXISTS (
                    SELECT 1 FROM delivery_queue q WHERE q.task_id = d.task_id
                    AND q.delivery_id = d.delivery_id AND q.device_id = d.device_id
                    AND q.claimed_by IS NOT NULL)
                THEN 'sending' ELSE d.status END AS status,
           d.send_at, d.sent_at, d.attempts, d.error, d.http_status, d.vendor_message_id,
           -- (0.2, appended: a view's columns only grow at its end) the id the outcome webhook
           -- and fallback messages carry, as text there; the tries of attempts that were lost
           -- with their connection and used none of max_attempts (doc/reliability.md)
           d.delivery_id, d.collateral
    FROM deliveries d
    JOIN tasks t USING (task_id)
    JOIN apps a ON a.app_id = d.app_id
    JOIN devices v ON v.device_id = d.device_id
    WHERE d.app_id = ANY ((SELECT _visible_apps('operator'))::int[]);

-- Every delivery: those made, and those a send plan holds until their outcomes are written
-- (doc/schedules.md, "Send plans"), shown queued at their planned time (sending once a sender
-- has claimed their plan), with no delivery id yet. (The distributed
-- layout plans nothing: push_distribute leaves the made ones alone here.)
CREATE OR REPLACE VIEW push_deliveries WITH (security_barrier) AS
    SELECT * FROM _push_deliveries_made
    UNION ALL
    SELECT a.app, p.task_id, t.plan_id, v.registration_id, v.platform, p.vendor,
           CASE WHEN p.claimed_by IS NULL THEN 'queued' ELSE 'sending' END,
           p.send_at, NULL::timestamptz, 0, NULL::text, NULL::int, NULL::text,
           NULL::bigint, 0::smallint
    FROM delivery_plans p
    CROSS JOIN LATERAL unnest(p.device_ids) u(device_id)
    JOIN tasks t ON t.task_id = p.task_id
    JOIN apps a ON a.app_id = t.app_id
    JOIN devices v ON v.device_id = u.device_id
    WHERE t.app_id = ANY ((SELECT _visible_apps('operator'))::int[]);

-- push_task_progress: sql/api/86_task_progress.sql (it prunes partitions with _delivery_id_floor,
-- defined in 86_retention.sql).

-- Internal: the wake-up of this database's scheduler, for rows written without push_send.
CREATE OR REPLACE FUNCTION _wake_scheduler() RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_wake_scheduler' LANGUAGE C VOLATILE;
-- Internal: the wake-up of this database's senders (express: the high lane's too), for
-- deliveries queued without push_send (a flow's webhook step).
CREATE OR REPLACE FUNCTION _wake_senders(express boolean) RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_wake_senders' LANGUAGE C VOLATILE STRICT;
