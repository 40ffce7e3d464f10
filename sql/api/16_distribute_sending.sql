-- Sending on the distributed layout, stage 2 (doc/scale-out.md): what a push may ask for there,
-- and the coordinator's upkeep of tasks whose queue rows are spread over the shards.

-- A push stored on the distributed layout (src/push_send.c, before its task is written): what the
-- senders on the worker nodes cannot do yet is refused with what it is, instead of being stored
-- and then sent without it.
CREATE OR REPLACE FUNCTION _distributed_push_check(p_app int, p_plan text, p_push jsonb,
                                                   p_send_rule boolean) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_what text;
BEGIN
    v_what := CASE
        -- the variants' buckets and the winner's pick read every shard's deliveries per task
        WHEN p_push ? 'variants' THEN 'a push with variants'
        -- the fallback's look joins the push's deliveries with the coordinator's fallbacks
        WHEN p_push ? 'fallback' THEN 'a push with a fallback'
        -- per-device send times read send profiles the workers' schedulers do not refresh
        WHEN p_send_rule THEN 'a push with per-device send times'
        -- the caps' gate locks engagement_counts over several shards (Citus: single shard only)
        WHEN _engagement_any(p_app, p_plan)
            THEN 'a push of an app or plan with frequency caps or quiet hours'
        -- the outbox is the coordinator's; the workers' senders would append to their own
        WHEN EXISTS (SELECT 1 FROM outcome_webhooks w WHERE w.app_id = p_app)
            THEN 'a push of an app with an outcome webhook'
    END;
    IF v_what IS NOT NULL THEN
        RAISE EXCEPTION '93121: % is not supported on the distributed registry yet', v_what
            USING ERRCODE = '0A000',
            HINT = 'doc/scale-out.md lists what stage 2 sends.';
    END IF;
END $$;

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
