-- Worker nodes of the distributed layout (doc/scale-out.md, "Adding a node"): the extension's
-- own copies of its tables on a worker (the shells Citus keeps there) in the shape the
-- coordinator's tables have after push_distribute(). push_distribute() runs it on the workers
-- it finds; a node added later runs it itself, after CREATE EXTENSION pushplan and before
-- citus_add_node: Citus then adds the distributed tables' partitions there, and a partition of
-- deliveries made with the single node's primary key (delivery_id) cannot take the layout's
-- (delivery_id, device_id) ("multiple primary keys for table deliveries_... are not allowed",
-- tried: citus_add_node failed).

-- The changes on this node; idempotent. Returns what it did.
CREATE OR REPLACE FUNCTION _distributed_node_prepare() RETURNS text
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_sql text;
    v_fks int := 0;
    v_parts int := 0;
    v_part regclass;
BEGIN
    -- Citus takes no foreign key between its tables and plain ones; the coordinator keeps
    -- those it supports, the shells hold no rows and need none
    FOR v_sql IN
        SELECT format('ALTER TABLE pushplan.%I DROP CONSTRAINT IF EXISTS %I',
                      c.conrelid::regclass::text, c.conname)
          FROM pg_constraint c
         WHERE c.contype = 'f' AND c.connamespace = 'pushplan'::regnamespace AND c.conparentid = 0
    LOOP
        EXECUTE v_sql;
        v_fks := v_fks + 1;
    END LOOP;
    ALTER TABLE pushplan.devices DROP CONSTRAINT IF EXISTS devices_app_id_registration_id_key;
    DROP TRIGGER IF EXISTS apps_deleted_events ON pushplan.apps;
    -- unique keys hold the distribution column (doc/scale-out.md, "Unique keys")
    IF (SELECT pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'pushplan.deliveries'::regclass AND contype = 'p') = 'PRIMARY KEY (delivery_id)' THEN
        ALTER TABLE pushplan.deliveries DROP CONSTRAINT deliveries_pkey;
        ALTER TABLE pushplan.deliveries ADD PRIMARY KEY (delivery_id, device_id);
    END IF;
    IF (SELECT pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'pushplan.delivery_queue'::regclass AND contype = 'p') = 'PRIMARY KEY (task_id, delivery_id)' THEN
        ALTER TABLE pushplan.delivery_queue DROP CONSTRAINT delivery_queue_pkey;
        ALTER TABLE pushplan.delivery_queue ADD PRIMARY KEY (task_id, delivery_id, device_id);
    END IF;
    -- The day partitions this node's own upkeep made (not the extension's default ones) would
    -- collide with the coordinator's when Citus creates them here. (On a node that is already
    -- part of the layout the partitions are Citus': this runs before, or from push_distribute.)
    IF NOT EXISTS (SELECT 1 FROM pushplan.cluster_layout) THEN
        FOR v_part IN
            SELECT i.inhrelid::regclass FROM pg_inherits i
             WHERE i.inhparent IN ('pushplan.deliveries'::regclass, 'pushplan.events'::regclass)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                 AND d.objid = i.inhrelid AND d.deptype = 'e')
        LOOP
            EXECUTE format('DROP TABLE %s', v_part);
            v_parts := v_parts + 1;
        END LOOP;
    END IF;
    RETURN format('prepared: %s foreign keys dropped, %s day partitions dropped', v_fks, v_parts);
END $$;

-- A node to be added to a distributed install, run on that node (superuser) after CREATE
-- EXTENSION citus and CREATE EXTENSION pushplan, before citus_add_node on the coordinator
-- (doc/scale-out.md, "Adding a node"). Refused on a node that is already in a cluster or that
-- has devices: its tables would not be the shells of the layout.
CREATE OR REPLACE FUNCTION push_node_prepare() RETURNS text
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION '93100: push_node_prepare needs the citus extension in this database'
            USING ERRCODE = '55000',
            HINT = 'CREATE EXTENSION citus on every node first (doc/scale-out.md).';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_dist_node) OR EXISTS (SELECT 1 FROM pushplan.cluster_layout) THEN
        RAISE EXCEPTION '93122: this node is part of a cluster already: push_node_prepare runs on a node before it is added'
            USING ERRCODE = '55000';
    END IF;
    IF EXISTS (SELECT 1 FROM pushplan.devices) OR EXISTS (SELECT 1 FROM pushplan.tasks) THEN
        RAISE EXCEPTION '93123: this database has devices or tasks of its own: a node added to the layout holds only its shards'
            USING ERRCODE = '55000',
            HINT = 'Prepare a database with a new install of pushplan.';
    END IF;
    RETURN _distributed_node_prepare();
END $$;
COMMENT ON FUNCTION push_node_prepare() IS
    'run on a node before citus_add_node adds it to a distributed install (doc/scale-out.md); superuser only';
