-- Entering users into flows (doc/flows.md, "Re-entry"): the one place that applies a flow's
-- entry rules. Every trigger ends here: events (_track_apply, sql/api/89_flows_track.sql), the
-- scheduler's and the writers' triggers (_flow_enter_set, sql/api/89_flow_triggers.sql) and
-- geofences (push_location, sql/api/89_flow_geo.sql). A change to the rules is made here only.

-- Enters users into flows: row n of the arrays is one candidate entry, the user of flow
-- p_flows[n]'s version p_versions[n] being the device p_devices[n] or the account
-- (p_types[n], p_accounts[n]); p_props[n] becomes the instance's trigger_props; p_keys[n] is
-- its idempotency key (NULL: the version's idempotency_key, a path into the props, when it has
-- one); p_seq[n] orders the entries (an event's time, then its place). The rules, in order:
--  - one decision at a time per user and flow: a transaction-level advisory lock on (flow, user)
--    under a shared lock on the flow, or, for a call of more than p_user_locks candidates, the
--    flows' locks alone, exclusively; flow locks first, then the users', each in one order, so
--    two calls never deadlock on them. The lock table is shared by every session and holds
--    about 64 locks per connection (max_locks_per_transaction): two sessions taking 10,000 user
--    locks each at once ran out of it ("out of shared memory"). push_track_batch passes 1,000
--    (a small batch, and push_track, still do not wait for another session's; bigger batches
--    into one flow take turns), the scheduler's evaluations, attribute writes and
--    push_location 64;
--  - a user's candidates for one flow: the first by p_seq is decided, the others are not (a
--    caller with two events of one user passes them in two calls, in order);
--  - re-entry: not if the user entered the flow (any version) less than the version's reentry
--    ago, or ever when it has none;
--  - at most max_concurrent of the user's instances of the flow waiting;
--  - an idempotency key enters once per flow (the unique index), the first by p_seq.
-- The caller has checked that the flows are enabled and their triggers met. p_devices_held: the
-- caller holds the app's erasure lock (_erasure_lock, sql/api/88_privacy.sql) and looked its
-- devices up after taking it, so that none of them can be deleted before it commits (the event
-- paths); otherwise the devices are locked here. Returns how many entered; the caller wakes the
-- scheduler.
-- (Custom plans only: the statements join unnested arrays, whose length a generic plan guesses
-- as a few rows. jit off: over big tables the estimates pass jit_above_cost.)
CREATE OR REPLACE FUNCTION _flow_enter(p_now timestamptz, p_flows text[], p_versions int[],
                                       p_devices bigint[], p_accounts text[], p_types int[],
                                       p_props jsonb[], p_keys text[], p_seq int[], p_user_locks int,
                                       p_devices_held boolean)
RETURNS bigint
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    v_n bigint;
    v_flows text[];
    v_devices bigint[];
BEGIN
    IF coalesce(cardinality(p_flows), 0) = 0 THEN
        RETURN 0;
    END IF;
    -- the flows and devices entered into, locked as foreign keys would lock them, once per call
    -- (flow_instances has none: sql/install/schema.sql): push_flow_delete and an erasure wait
    -- for this transaction, and one deleted before enters nobody. Not the devices of a caller
    -- that holds the erasure lock (a tenth of an event batch's time). (On the distributed
    -- registry the devices are Citus' and the keys were dropped with the others: checked there,
    -- not locked, as Citus takes no row lock over several shards; an erasure that commits
    -- meanwhile may leave an instance whose steps find no device, and send nothing.)
    v_flows := ARRAY(SELECT f.flow_id FROM pushplan.flows f
                     WHERE f.flow_id IN (SELECT x FROM unnest(p_flows) x)
                     ORDER BY f.flow_id FOR KEY SHARE OF f);
    IF p_devices IS NOT NULL AND NOT p_devices_held AND NOT pushplan._registry_distributed() THEN
        v_devices := ARRAY(SELECT d.device_id FROM pushplan.devices d
                           WHERE d.device_id IN (SELECT x FROM unnest(p_devices) x)
                           ORDER BY d.device_id FOR KEY SHARE OF d);
    ELSIF p_devices IS NOT NULL AND NOT p_devices_held THEN
        v_devices := ARRAY(SELECT d.device_id FROM pushplan.devices d
                           WHERE d.device_id = ANY (p_devices) ORDER BY d.device_id);
    END IF;
    -- the flows' locks, then the users' (only under a shared flow lock)
    PERFORM CASE WHEN cardinality(p_flows) > p_user_locks
                 THEN pg_advisory_xact_lock(f.flow_key)
                 ELSE pg_advisory_xact_lock_shared(f.flow_key) END
    FROM (SELECT DISTINCT hashtextextended('flow enter ' || x.flow_id, 0) AS flow_key
          FROM unnest(p_flows) x(flow_id) ORDER BY 1) f;
    IF cardinality(p_flows) <= p_user_locks THEN
        PERFORM pg_advisory_xact_lock(l.flow_key, l.user_key) FROM (
            SELECT DISTINCT hashtext(x.flow_id) AS flow_key,
                   hashtext(coalesce(x.device_id::text, x.account_type || ':' || x.account)) AS user_key
            FROM unnest(p_flows, p_devices, p_accounts, p_types) x(flow_id, device_id, account, account_type)
            ORDER BY 1, 2) l;
    END IF;

    WITH c AS MATERIALIZED (
        SELECT DISTINCT ON (x.flow_id, x.device_id, x.account_type, x.account)
               x.n, x.flow_id, x.version, v.app_id, x.device_id, x.account, x.account_type,
               coalesce(x.props, '{}') AS props, x.seq, v.first_step, v.reentry, v.max_concurrent,
               coalesce(x.key, CASE WHEN v.idempotency_key IS NOT NULL
                                    THEN x.props #>> string_to_array(v.idempotency_key, '.') END) AS key
        FROM unnest(p_flows, p_versions, p_devices, p_accounts, p_types, p_props, p_keys, p_seq)
            WITH ORDINALITY AS x(flow_id, version, device_id, account, account_type, props, key, seq, n)
        JOIN pushplan.flow_versions v ON v.flow_id = x.flow_id AND v.version = x.version
        WHERE x.flow_id IN (SELECT y FROM unnest(v_flows) y)
          AND (x.device_id IS NULL OR v_devices IS NULL OR x.device_id IN (SELECT y FROM unnest(v_devices) y))
        ORDER BY x.flow_id, x.device_id, x.account_type, x.account, x.seq),
    -- the users' instances of the flows, read once as a join (not a probe per candidate of the
    -- table being inserted into)
    mine AS (
        SELECT c.n, max(i.entered_at) AS last_entered, count(*) FILTER (WHERE i.state = 'waiting') AS running
        FROM c JOIN pushplan.flow_instances i
            ON i.device_id = c.device_id AND i.flow_id = c.flow_id
        WHERE c.device_id IS NOT NULL
        GROUP BY 1
        UNION ALL
        SELECT c.n, max(i.entered_at), count(*) FILTER (WHERE i.state = 'waiting')
        FROM c JOIN pushplan.flow_instances i
            ON i.app_id = c.app_id AND i.account_type = c.account_type AND i.account = c.account
           AND i.flow_id = c.flow_id
        WHERE c.account IS NOT NULL
        GROUP BY 1),
    entered AS (
        INSERT INTO pushplan.flow_instances (flow_id, version, app_id, device_id, account, account_type,
                                             step_id, next_at, entered_at, trigger_props, idempotency_key)
        SELECT c.flow_id, c.version, c.app_id, c.device_id, c.account, c.account_type,
               c.first_step, p_now, p_now, c.props, c.key
        FROM c
        LEFT JOIN mine m ON m.n = c.n
        WHERE m.n IS NULL
           OR (c.reentry IS NOT NULL AND m.last_entered <= p_now - c.reentry
               AND m.running < c.max_concurrent)
        -- in the candidates' order: of two entries with one idempotency key, the first enters
        ORDER BY c.seq, c.flow_id
        ON CONFLICT (flow_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO v_n FROM entered;
    RETURN v_n;
END $$;

-- Deletes instances and then their step runs (neither table has foreign keys: sql/install/
-- schema.sql). The instances first: a scheduler holding one is waited for, and the runs it
-- wrote are seen by the second statement. Returns how many instances went.
CREATE OR REPLACE FUNCTION _flow_instances_delete(p_ids bigint[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_gone bigint[];
BEGIN
    WITH gone AS (DELETE FROM pushplan.flow_instances i WHERE i.instance_id = ANY (p_ids)
                  RETURNING i.instance_id)
    SELECT coalesce(array_agg(instance_id), '{}') INTO v_gone FROM gone;
    DELETE FROM pushplan.flow_step_runs r WHERE r.instance_id = ANY (v_gone);
    RETURN cardinality(v_gone);
END $$;

-- A deleted flow's instances go with it, and their step runs, as a foreign key's cascade would:
-- push_flow_delete, and an app's deletion through its flows.
CREATE OR REPLACE FUNCTION _flows_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_flows text[] := ARRAY(SELECT g.flow_id FROM gone g);
BEGIN
    PERFORM pushplan._flow_instances_delete(ARRAY(
        SELECT i.instance_id FROM pushplan.flow_instances i WHERE i.flow_id = ANY (v_flows)));
    -- (by the ids: on the distributed layout flow_controls is a reference table, which Citus
    -- does not join with a transition table)
    DELETE FROM pushplan.flow_controls c WHERE c.flow_id = ANY (v_flows);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER flows_deleted AFTER DELETE ON flows
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION _flows_deleted();
