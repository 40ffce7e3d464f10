-- A flow's first inactivity evaluation in chunks (doc/flows.md, "Triggers"). The first
-- evaluation of an inactive trigger looks at every device of the app: over a million devices it
-- entered some 650,000 users in one transaction of about 20 s, and the scheduler did nothing
-- else meanwhile. It now runs a chunk of pushplan.flow_trigger_chunk devices (by device id) per
-- scheduler turn, each chunk in its own transaction with its progress (flow_trigger_evals'
-- resume_version, resume_at, resume_after): a restart resumes after the last chunk committed,
-- and every chunk judges its devices at the same time (resume_at), so the evaluation is the one
-- the single statement made. When the last chunk is done, the flow's evaluated_at is that time:
-- the next evaluation's window starts there and takes the devices that crossed the line while
-- the chunks ran. _flow_triggers_run (89_flow_triggers.sql) calls it; the scheduler turns to
-- its other work after each chunk (src/flow_triggers.c).
-- (This file sorts before 89_flow_triggers.sql: what it calls from there is called from plpgsql only.)

-- One chunk: the app's registered devices with an id above p_after, p_size of them in id order,
-- judged at p_at (inactive when their last event, or their registration when they never did it,
-- is at least "for" before p_at); the inactive ones enter, each inactivity period once (the key
-- of _flow_eval_inactive, so a chunk run twice enters nobody twice). looked: how many devices
-- the chunk held (fewer than p_size: it was the last); last_device: the highest id looked at.
CREATE OR REPLACE FUNCTION _flow_eval_inactive_chunk(p_flow text, p_version int, p_app int, p_spec jsonb,
                                                     p_at timestamptz, p_after bigint, p_size int,
                                                     OUT entered bigint, OUT looked int,
                                                     OUT last_device bigint)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_event text := p_spec->>'event';
    v_edge timestamptz := p_at - (p_spec->>'for')::interval;
    v_ids bigint[];
    v_props jsonb[];
    v_keys text[];
BEGIN
    WITH chunk AS MATERIALIZED (
        SELECT d.device_id, d.created_at FROM pushplan.devices d
        WHERE d.app_id = p_app AND d.registered AND d.device_id > p_after
        ORDER BY d.device_id LIMIT p_size),
    judged AS (
        SELECT c.device_id, greatest(c.created_at, l.last) AS since
        FROM chunk c
        CROSS JOIN LATERAL (SELECT max(e.tracked_at) AS last FROM pushplan.tracked_events e
                            WHERE e.device_id = c.device_id AND e.event = v_event) l)
    SELECT (SELECT count(*) FROM chunk), (SELECT max(c.device_id) FROM chunk c),
           array_agg(j.device_id ORDER BY j.device_id),
           array_agg(jsonb_build_object('event', v_event, 'inactive_since', j.since) ORDER BY j.device_id),
           array_agg('inactive:' || j.device_id || ':' || extract(epoch FROM j.since) ORDER BY j.device_id)
      INTO looked, last_device, v_ids, v_props, v_keys
      FROM judged j
     WHERE j.since <= v_edge;
    entered := pushplan._flow_enter_set(p_flow, p_version, v_ids, v_props, v_keys);
END $$;

-- The chunk size (pushplan.flow_trigger_chunk).
CREATE OR REPLACE FUNCTION _flow_trigger_chunk() RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('pushplan.flow_trigger_chunk', true)::int, 50000)
$$;

-- Whether a first evaluation is under way (the scheduler then turns to its other work before
-- the next chunk).
CREATE OR REPLACE FUNCTION _flow_triggers_chunking() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM flow_trigger_evals e
                   JOIN flows f ON f.flow_id = e.flow_id AND f.version = e.resume_version
                   WHERE f.enabled)
$$;
