-- Sending on the distributed layout, stage 2 (doc/scale-out.md): the coordinator's upkeep of
-- tasks whose queue rows are spread over the shards.

-- The coordinator's upkeep on the distributed layout: a task whose deliveries are all expanded
-- and that has no queue row left on any shard is done. One probe per sending task, each asked
-- of every shard in parallel (LIMIT 1 pushed down to each), instead of the single node's
-- correlated subquery, which Citus does not plan from a reference table into a distributed one.
CREATE OR REPLACE FUNCTION _distributed_tasks_done() RETURNS int
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_task text;
    v_done int := 0;
BEGIN
    FOR v_task IN SELECT task_id FROM tasks WHERE state = 'sending' AND expanded LOOP
        IF NOT EXISTS (SELECT 1 FROM delivery_queue q WHERE q.task_id = v_task) THEN
            UPDATE tasks SET state = 'done', finished_at = now()
             WHERE task_id = v_task AND state = 'sending';
            v_done := v_done + 1;
        END IF;
    END LOOP;
    RETURN v_done;
END $$;

-- The statistics the worker nodes' senders appended to their own stats_pending and
-- latency_pending (they write outcomes on their node: doc/scale-out.md), moved into the
-- coordinator's, where the upkeep folds them (_stats_rollup). run_command_on_workers commits
-- each node's DELETE on its own: a coordinator that fails between that and its own commit loses
-- those rows' counts (the deliveries keep the outcomes: _stats_recount counts them again).
-- Returns the rows moved.
CREATE OR REPLACE FUNCTION _distributed_stats_pull() RETURNS bigint
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_stats bigint;
    v_latency bigint;
BEGIN
    INSERT INTO stats_pending
    SELECT (jsonb_populate_record(NULL::stats_pending, e)).*
      FROM run_command_on_workers($q$WITH d AS (DELETE FROM pushplan.stats_pending RETURNING *)
                                   SELECT coalesce(jsonb_agg(to_jsonb(d)), '[]') FROM d$q$) r,
           jsonb_array_elements(r.result::jsonb) e
     WHERE r.success;
    GET DIAGNOSTICS v_stats = ROW_COUNT;
    INSERT INTO latency_pending
    SELECT (jsonb_populate_record(NULL::latency_pending, e)).*
      FROM run_command_on_workers($q$WITH d AS (DELETE FROM pushplan.latency_pending RETURNING *)
                                   SELECT coalesce(jsonb_agg(to_jsonb(d)), '[]') FROM d$q$) r,
           jsonb_array_elements(r.result::jsonb) e
     WHERE r.success;
    GET DIAGNOSTICS v_latency = ROW_COUNT;
    RETURN v_stats + v_latency;
END $$;

-- Outcome webhooks on the distributed layout (doc/scale-out.md, "Outcome webhooks"): the worker
-- nodes' senders append the outcomes of apps with a webhook (a reference table there) to their
-- own node's outcome_outbox; the coordinator's poster moves them into its own before it makes
-- its batches (_outcome_batches_make). Exactly once across a crash: run_command_on_workers
-- commits each node's part on its own, so a node's rows are copied, and its mark moved
-- (outcome_outbox_pulled: the last id copied, by node group), in the caller's transaction, and
-- deleted on their node by a later call, which deletes up to each committed mark in the same
-- statement that reads the rows past it (one round trip per node and call: the poster calls
-- this at each of its looks, every 200 ms while an app has a webhook). Returns the rows copied.
CREATE OR REPLACE FUNCTION _distributed_outbox_pull(max_rows int DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_marks text := coalesce((SELECT jsonb_object_agg(node_group, last_id) FROM outcome_outbox_pulled),
                             '{}')::text;
    -- each node's mark, read on the node by its group
    v_mark text := format('coalesce((%L::jsonb ->> (SELECT groupid FROM pg_dist_local_group)::text)::bigint, 0)',
                          v_marks);
    v_n bigint;
BEGIN
    -- on each node: what earlier calls copied deleted, the rows past it read (a node that
    -- does not answer keeps its rows for the next call)
    WITH got AS (
        SELECT (r.result::jsonb ->> 'group')::int AS node_group, r.result::jsonb -> 'rows' AS rows
        FROM run_command_on_workers(format(
            $q$WITH gone AS (DELETE FROM pushplan.outcome_outbox WHERE outcome_id <= %1$s)
               SELECT jsonb_build_object('group', (SELECT groupid FROM pg_dist_local_group),
                   'rows', coalesce(jsonb_agg(to_jsonb(o) ORDER BY o.outcome_id), '[]'))
               FROM (SELECT * FROM pushplan.outcome_outbox WHERE outcome_id > %1$s
                     ORDER BY outcome_id LIMIT %2$s) o$q$, v_mark, max_rows)) r
        WHERE r.success
    ), copy AS (
        SELECT g.node_group, (jsonb_populate_record(NULL::outcome_outbox, e)).*
        FROM got g, jsonb_array_elements(g.rows) e
    ), copied AS (
        INSERT INTO outcome_outbox (app_id, delivery_id, task_id, plan_id, registration_id, vendor,
                                    platform, status, error, http_status, vendor_message_id, at)
        SELECT c.app_id, c.delivery_id, c.task_id, c.plan_id, c.registration_id, c.vendor,
               c.platform, c.status, c.error, c.http_status, c.vendor_message_id, c.at
        FROM copy c ORDER BY c.node_group, c.outcome_id
        RETURNING 1
    ), marked AS (
        INSERT INTO outcome_outbox_pulled AS p (node_group, last_id)
        SELECT c.node_group, max(c.outcome_id) FROM copy c GROUP BY c.node_group
        ON CONFLICT (node_group) DO UPDATE SET last_id = excluded.last_id
    )
    SELECT count(*) INTO v_n FROM copied;
    RETURN v_n;
END $$;
