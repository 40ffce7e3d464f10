-- Retention of the raw rows (doc/statistics.md, "Retention"): deliveries, events and the
-- flows' tracked_events are partitioned by UTC day (sql/install/schema.sql); the scheduler's upkeep makes each day's
-- partitions a few days ahead and drops those older than pushplan.retention_days, whole. The
-- aggregates (task_stats, plan_stats, vendor_latency) are kept for ever.

-- The first delivery id of the UTC day of ts: deliveries made that day have ids from here to
-- the next day's (sql/install/schema.sql, deliveries).
-- Written with immutable operators only (extract from a timestamptz is stable, from an
-- interval immutable), so that the planner inlines it: otherwise every call runs the SQL
-- function's own executor, and each push_event parses and plans its body again.
CREATE OR REPLACE FUNCTION _delivery_id_floor(ts timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT floor(extract(epoch FROM ts - timestamptz '1970-01-01 00:00:00+00') / 86400)::bigint << 40
$$;

-- The oldest UTC day whose raw rows are kept.
CREATE OR REPLACE FUNCTION _retention_first_day() RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (now() AT TIME ZONE 'UTC')::date
           - coalesce(current_setting('pushplan.retention_days', true)::int, 30) + 1
$$;

-- Makes the partition of deliveries or events for one UTC day; returns its name, or NULL if it
-- exists. Under a short lock_timeout: it locks the parent, and a sender must not wait longer
-- for it (a lock not had in time is an error the caller catches, and tries again later).
-- A partition is no member of the extension, even when the extension's script makes it: a
-- member could not be dropped when its day has passed.
CREATE OR REPLACE FUNCTION _raw_partition_create(parent text, day date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp SET lock_timeout = '50ms' AS $$
DECLARE
    v_name text := parent || '_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(v_name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF parent = 'deliveries' THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF deliveries FOR VALUES FROM (%s) TO (%s) WITH (fillfactor = 50)',
                       v_name, _delivery_id_floor(day::timestamp AT TIME ZONE 'UTC'),
                       _delivery_id_floor((day + 1)::timestamp AT TIME ZONE 'UTC'));
    ELSIF parent IN ('events', 'tracked_events') THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       v_name, parent, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    ELSE
        RAISE EXCEPTION 'pushplan: % is not partitioned by day', parent;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_depend WHERE classid = 'pg_class'::regclass
               AND objid = v_name::regclass AND deptype = 'e') THEN
        EXECUTE format('ALTER EXTENSION pushplan DROP TABLE %I', v_name);
    END IF;
    -- on the distributed layout a shard of events moves by logical replication only with a
    -- replica identity (events has no key: doc/scale-out.md, "Adding a node")
    IF parent = 'events' AND _registry_distributed() THEN
        EXECUTE format('ALTER TABLE %I REPLICA IDENTITY FULL', v_name);
    END IF;
    RETURN v_name;
END $$;

-- The upkeep of the partitions, once a minute (src/worker_scheduler.c): today's and the next
-- two days' exist; those wholly before the first day kept are dropped (a partition
-- deliveries_before_YYYYMMDD, made by an upgrade from 0.1, holds everything before that day);
-- rows of the default partitions older than that are deleted. Each step that cannot have its
-- lock within lock_timeout is left for the next time. Returns what it did, for the log.
CREATE OR REPLACE FUNCTION _raw_partitions_maintain() RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp SET lock_timeout = '50ms' AS $$
DECLARE
    v_today date := (now() AT TIME ZONE 'UTC')::date;
    v_first date := _retention_first_day();
    v_done text[] := '{}';
    v_name text;
    r record;
BEGIN
    FOR r IN SELECT p.parent, v_today + d AS day
             FROM unnest(ARRAY['deliveries', 'events', 'tracked_events']) p(parent), generate_series(0, 2) d LOOP
        BEGIN
            v_name := _raw_partition_create(r.parent, r.day);
            IF v_name IS NOT NULL THEN
                v_done := v_done || ('created ' || v_name);
            END IF;
        EXCEPTION WHEN lock_not_available THEN
            v_done := v_done || ('not yet created (locked) ' || r.parent || ' ' || r.day);
        END;
    END LOOP;

    -- the partitions named as _raw_partition_create and the upgrade name them: a prefix, then
    -- the day's 8 digits (no regular expression: the planner's estimate of one trips valgrind
    -- inside PostgreSQL's own regex cache, test/valgrind/workers.sh)
    FOR r IN SELECT c.relname
             FROM pg_inherits i
             JOIN pg_class c ON c.oid = i.inhrelid
             CROSS JOIN LATERAL (SELECT CASE
                 WHEN c.relname LIKE 'deliveries\_before\_%' THEN 'deliveries_before_'
                 WHEN c.relname LIKE 'deliveries\_%' THEN 'deliveries_'
                 WHEN c.relname LIKE 'events\_%' THEN 'events_'
                 WHEN c.relname LIKE 'tracked\_events\_%' THEN 'tracked_events_' END AS prefix) p
             CROSS JOIN LATERAL (SELECT substr(c.relname, length(p.prefix) + 1) AS digits) d
             WHERE i.inhparent IN ('deliveries'::regclass, 'events'::regclass, 'tracked_events'::regclass)
               -- (a CASE: to_date only ever sees 8 digits)
               AND CASE WHEN length(d.digits) <> 8 OR translate(d.digits, '0123456789', '') <> '' THEN false
                        WHEN p.prefix = 'deliveries_before_' THEN to_date(d.digits, 'YYYYMMDD') <= v_first
                        ELSE to_date(d.digits, 'YYYYMMDD') < v_first END
             ORDER BY c.relname LOOP
        BEGIN
            EXECUTE format('DROP TABLE %I', r.relname);
            v_done := v_done || ('dropped ' || r.relname);
        EXCEPTION WHEN lock_not_available THEN
            v_done := v_done || ('not yet dropped (locked) ' || r.relname);
        END;
    END LOOP;

    BEGIN
        DELETE FROM deliveries_default WHERE delivery_id < _delivery_id_floor(v_first::timestamp AT TIME ZONE 'UTC');
        DELETE FROM events_default WHERE recorded_at < v_first::timestamp AT TIME ZONE 'UTC';
        DELETE FROM tracked_events_default WHERE recorded_at < v_first::timestamp AT TIME ZONE 'UTC';
        -- the fallbacks of the deliveries gone with their partitions (doc/fallback.md)
        DELETE FROM fallbacks WHERE delivery_id < _delivery_id_floor(v_first::timestamp AT TIME ZONE 'UTC');
    EXCEPTION WHEN lock_not_available THEN
        v_done := v_done || 'default partitions not yet trimmed (locked)'::text;
    END;
    RETURN v_done;
END $$;

-- the partitions of today and the next two days, from the start
SELECT _raw_partitions_maintain();
