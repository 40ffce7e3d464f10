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

-- Expansion on every node (doc/scale-out.md): a task handed to the nodes by the coordinator's
-- scheduler, which holds its row. One task_shard_expansions row per shard of the devices,
-- placed on it by a value of its hash range (the smallest non-negative one: Citus hashes a
-- bigint distribution column with hashint8); that shard's node expands its devices. Returns
-- the shards.
CREATE OR REPLACE FUNCTION _task_shards_start(p_task text, p_at timestamptz) RETURNS int
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_min int[];
    v_max int[];
    v_keys bigint[];
    v_left int;
    v_hash int;
    v_lo int;
    v_hi int;
    v_mid int;
    v_k bigint := 0;
BEGIN
    SELECT array_agg(s.shardminvalue::int ORDER BY s.shardminvalue::int),
           array_agg(s.shardmaxvalue::int ORDER BY s.shardminvalue::int)
      INTO v_min, v_max
      FROM pg_dist_shard s WHERE s.logicalrelid = 'pushplan.devices'::regclass;
    v_left := cardinality(v_min);
    v_keys := array_fill(NULL::bigint, ARRAY[v_left]);
    -- 0, 1, 2, ... each into its shard (a binary search of the ranges) until every shard has
    -- one: about n ln n values for n shards, the hash being uniform
    WHILE v_left > 0 LOOP
        v_hash := hashint8(v_k);
        v_lo := 1;
        v_hi := cardinality(v_min);
        WHILE v_lo < v_hi LOOP
            v_mid := (v_lo + v_hi + 1) / 2;
            IF v_min[v_mid] <= v_hash THEN v_lo := v_mid; ELSE v_hi := v_mid - 1; END IF;
        END LOOP;
        IF v_keys[v_lo] IS NULL AND v_hash <= v_max[v_lo] THEN
            v_keys[v_lo] := v_k;
            v_left := v_left - 1;
        END IF;
        v_k := v_k + 1;
        IF v_k > 100000000 THEN
            RAISE EXCEPTION 'the shards of pushplan.devices do not cover the hash space';
        END IF;
    END LOOP;
    UPDATE tasks SET state = 'sending', shard_expansion = true, targeted = 0,
                     started_at = coalesce(started_at, p_at)
     WHERE task_id = p_task;
    INSERT INTO task_shard_expansions (device_id, task_id) SELECT k, p_task FROM unnest(v_keys) k;
    RETURN cardinality(v_keys);
END $$;

-- The tasks the nodes expand (above) whose every shard is done: expanded, their deliveries
-- counted, failed with a shard's error as one node's failing batch fails its task, done at
-- once when they made none; their rows go. With p_progress, the deliveries made so far of
-- the others are counted in targeted (push_task_progress), a write to every node: the
-- coordinator's scheduler asks for it every 10 s. Returns the tasks finished.
CREATE OR REPLACE FUNCTION _task_shards_finish(p_at timestamptz, p_progress boolean) RETURNS int
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_tasks text[];
    v_r record;
    v_finished int := 0;
BEGIN
    SELECT array_agg(t.task_id) INTO v_tasks FROM tasks t WHERE t.shard_expansion AND NOT t.expanded;
    IF v_tasks IS NULL THEN
        RETURN 0;
    END IF;
    FOR v_r IN SELECT e.task_id, count(*) FILTER (WHERE NOT e.done) AS open,
                      sum(e.targeted) AS targeted, min(e.error) AS error
                 FROM task_shard_expansions e WHERE e.task_id = ANY (v_tasks)
                GROUP BY e.task_id LOOP
        IF v_r.open > 0 THEN
            IF p_progress THEN
                UPDATE tasks t SET targeted = v_r.targeted
                 WHERE t.task_id = v_r.task_id AND t.targeted IS DISTINCT FROM v_r.targeted;
            END IF;
            CONTINUE;
        END IF;
        UPDATE tasks t SET targeted = v_r.targeted, expanded = true,
               error = coalesce(t.error, v_r.error),
               state = CASE WHEN t.state <> 'sending' THEN t.state
                            WHEN v_r.error IS NOT NULL THEN 'failed'
                            WHEN v_r.targeted = 0 THEN 'done' ELSE 'sending' END,
               finished_at = CASE WHEN t.state = 'sending'
                                   AND (v_r.error IS NOT NULL OR v_r.targeted = 0)
                                  THEN p_at ELSE t.finished_at END
         WHERE t.task_id = v_r.task_id;
        DELETE FROM task_shard_expansions e WHERE e.task_id = v_r.task_id;
        v_finished := v_finished + 1;
    END LOOP;
    RETURN v_finished;
END $$;
