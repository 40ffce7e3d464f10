-- Intelligent (smart) send times (doc/smart_send.md, src/smart_send.c): what an intelligent
-- schedule's expansion asks for each batch of devices, and the upkeep of the profiles it reads.
-- Internal: granted to no user role, only to the workers (push_worker_grants).

-- The histograms of the given devices with history, computed from their visits.
CREATE OR REPLACE FUNCTION _smart_histograms(device_ids bigint[])
RETURNS TABLE (device_id bigint, timezone text, slots smallint[], weights real[], visits int,
               last_visit_at timestamptz)
AS 'MODULE_PATHNAME', 'pushplan_smart_histograms'
LANGUAGE C STABLE STRICT;

-- One row per element of device_ids (in device id order): the device's send time in the window
-- [window_start, window_start + 24 h), never before not_before, and why (basis):
--   best         the start of its best five-minute slot (local time, its zone)
--   next_best    the best slot left at or after not_before (the best one is before it, or not in
--                the window)
--   late         not_before: the window has no slot start left at or after it
--   backup       no history: backup_local as wall time in its zone
--   backup_late  no history, backup_local before not_before: not_before
--   now          no history, backup_local NULL ("now"): not_before
--   unknown      no such device: send_at NULL
CREATE OR REPLACE FUNCTION _smart_send_times(device_ids bigint[], window_start timestamptz,
                                             not_before timestamptz, backup_local timestamp)
RETURNS TABLE (device_id bigint, send_at timestamptz, basis text)
AS 'MODULE_PATHNAME', 'pushplan_smart_send_times'
LANGUAGE C STABLE;

-- Recomputes the profiles of up to max_devices marked devices of one pair of tables (the marks,
-- the profiles: the install's own, or on the distributed layout a shard of each, colocated)
-- and returns how many it took. push_device_activity marks a device with each visit; marks held
-- by a transaction still recording a visit are skipped (taken by a later call), so this never
-- waits for one. On the layout each node's scheduler calls it for the shards placed there
-- (src/worker_scheduler.c): the statements stay on the node.
CREATE OR REPLACE FUNCTION _smart_profiles_refresh_tables(p_pending regclass, p_profiles regclass,
                                                          max_devices int) RETURNS bigint
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_ids bigint[];
BEGIN
    EXECUTE format('WITH taken AS (
                        DELETE FROM %1$s q
                        WHERE q.device_id IN (SELECT m.device_id FROM %1$s m
                                              LIMIT $1 FOR UPDATE SKIP LOCKED)
                        RETURNING q.device_id)
                    SELECT array_agg(taken.device_id) FROM taken', p_pending)
        INTO v_ids USING max_devices;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    -- A new snapshot: it sees the visits of every mark taken (a visit's transaction holds its
    -- mark until it commits).
    EXECUTE format('WITH computed AS (SELECT * FROM _smart_histograms($1)),
                    emptied AS (
                        DELETE FROM %1$s p
                        WHERE p.device_id = ANY ($1)
                          AND NOT EXISTS (SELECT 1 FROM computed c WHERE c.device_id = p.device_id))
                    INSERT INTO %1$s AS p (device_id, timezone, slots, weights, visits,
                                           last_visit_at, computed_at)
                    SELECT c.device_id, c.timezone, c.slots, c.weights, c.visits, c.last_visit_at, now()
                    FROM computed c
                    ON CONFLICT (device_id) DO UPDATE SET timezone = excluded.timezone,
                        slots = excluded.slots, weights = excluded.weights,
                        visits = excluded.visits, last_visit_at = excluded.last_visit_at,
                        computed_at = excluded.computed_at', p_profiles)
        USING v_ids;
    RETURN cardinality(v_ids);
END $$;

-- Recomputes the profiles of up to max_devices marked devices (the scheduler's upkeep on one
-- node). On the distributed layout: up to max_devices of each shard, every shard refreshed on
-- its node in a transaction of its own (the nodes' schedulers do so for their own shards).
CREATE OR REPLACE FUNCTION _smart_profiles_refresh(max_devices int) RETURNS bigint
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
BEGIN
    IF NOT _registry_distributed() THEN
        RETURN _smart_profiles_refresh_tables('pushplan.smart_profile_pending',
                                              'pushplan.device_send_profiles', max_devices);
    END IF;
    RETURN (SELECT coalesce(sum(r.result::bigint), 0)
            FROM run_command_on_colocated_placements('pushplan.smart_profile_pending',
                     'pushplan.device_send_profiles',
                     format('SELECT pushplan._smart_profiles_refresh_tables(''%%s'', ''%%s'', %s)',
                            max_devices)) r
            WHERE r.success);
END $$;
