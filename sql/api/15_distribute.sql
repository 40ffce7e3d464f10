-- The distributed layout on Citus, stages 1 and 2: the device registry and sending
-- (doc/scale-out.md). push_distribute() turns a single-node install on a Citus coordinator into
-- it: the devices, their per-device tables, the deliveries, the queue and the events
-- hash-distributed by device_id and colocated, the tasks and the small per-app tables reference
-- tables, everything else (schedules, statistics) left on the coordinator, where what does not
-- work yet is refused.

-- Whether this install has the distributed registry (push_distribute() wrote its row).
CREATE OR REPLACE FUNCTION _registry_distributed() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pushplan.cluster_layout)
$$;

-- A device's id in the distributed registry: a key of its app and registration id, so that
-- registration finds the one shard that may hold the device without a look-up table (Citus
-- cannot enforce UNIQUE (app_id, registration_id) across shards: the primary key on this id
-- enforces it instead). hashtextextended is PostgreSQL's stable 64-bit hash (the one hash
-- partitioning stores); the sign bit is cleared so that ids stay positive.
CREATE OR REPLACE FUNCTION _device_key(app_id int, registration_id text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT hashtextextended(registration_id, app_id) & 9223372036854775807
$$;

-- A key another registration holds already (one chance in 2^63 per pair of devices) is refused:
-- there is no second place to look for a device.
CREATE OR REPLACE FUNCTION _device_key_taken(p_app_id int, p_registration_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '93120: registration id "%" has the same device key as another device of the distributed registry',
        pushplan._shown(p_registration_id) USING ERRCODE = '23505',
        HINT = 'Register it under another registration id (doc/scale-out.md, "Device ids").';
END $$;

-- The functions the layout delegates to the node of their first argument, a device's key
-- (doc/scale-out.md, "Registration and function delegation").
CREATE OR REPLACE FUNCTION _delegated_functions() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['pushplan._device_register_at(bigint,int,text,text,text,text,text,text)',
                 'pushplan._device_flags_at(bigint,int,text,boolean,boolean)',
                 'pushplan._device_activity_at(bigint,int,text,timestamptz)',
                 'pushplan._device_tags_at(bigint,int,text,text[],boolean)',
                 'pushplan._device_attrs_at(bigint,int,text,jsonb)',
                 'pushplan._device_account_at(bigint,int,text,text,int,boolean)',
                 'pushplan._device_consent_at(bigint,int,text,text,boolean)']
$$;

-- The tables of the layout, by kind (doc/scale-out.md, "The layout").
CREATE OR REPLACE FUNCTION _distributed_tables(OUT tbl text, OUT kind text)
RETURNS SETOF record LANGUAGE sql IMMUTABLE AS $$
    VALUES ('apps', 'reference'), ('app_grants', 'reference'), ('vendor_configs', 'reference'),
           ('tags', 'reference'), ('plans', 'reference'), ('cluster_layout', 'reference'),
           ('tasks', 'reference'), ('outcome_webhooks', 'reference'), ('vendor_tokens', 'reference'),
           ('flow_controls', 'reference'),
           ('devices', 'distributed'), ('device_tags', 'distributed'),
           ('device_accounts', 'distributed'), ('device_consents', 'distributed'),
           ('device_activity', 'distributed'), ('device_reactions', 'distributed'),
           ('device_send_profiles', 'distributed'), ('smart_profile_pending', 'distributed'),
           ('engagement_counts', 'distributed'), ('deliveries', 'distributed'),
           ('delivery_queue', 'distributed'), ('events', 'distributed'),
           ('task_shard_expansions', 'distributed')
$$;

-- A public view's rows as the extension's owner. On the distributed layout push_distribute
-- points each view here, since Citus reads the shards under a view as the role reading it,
-- which holds no right on them (citus#1683): the view's one-node definition (layout_views)
-- runs here instead. On one node (no definition kept) it reads the view. The definition's own
-- filter still sees the caller (_visible_apps reads the role outside this function), and the
-- caller must hold the view itself: this function is no way around a view's grant.
CREATE OR REPLACE FUNCTION _layout_view_rows(view name) RETURNS SETOF record
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_definition text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class c
                    WHERE c.relnamespace = 'pushplan'::regnamespace AND c.relname = $1
                      AND c.relkind = 'v') THEN
        RAISE EXCEPTION 'permission denied for view %', _shown($1) USING ERRCODE = '42501';
    END IF;
    IF NOT has_table_privilege(_caller(), format('pushplan.%I', $1), 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for view %', _shown($1) USING ERRCODE = '42501';
    END IF;
    SELECT l.definition INTO v_definition FROM layout_views l WHERE l.view = $1;
    RETURN QUERY EXECUTE coalesce(rtrim(v_definition, ';'), format('SELECT * FROM pushplan.%I', $1));
END $$;

CREATE OR REPLACE FUNCTION push_distribute() RETURNS text
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_version text;
    v_bad text;
    v_fks text[];
    v_fk record;
    v_t record;
    v_dbs text := coalesce(current_setting('pushplan.databases', true), '');
    v_shards int;
    v_moved bigint;
BEGIN
    -- The tables change under the scheduler and the senders (whose statements then wait for
    -- this transaction's locks, and it for theirs): they are stopped while it runs, and
    -- started again once the layout is in place (doc/scale-out.md, "Setting it up").
    IF current_database() = ANY (string_to_array(replace(v_dbs, ' ', ''), ',')) THEN
        RAISE EXCEPTION '93103: database "%" is in pushplan.databases: its scheduler and senders must be stopped while it is distributed',
            current_database() USING ERRCODE = '55000',
            HINT = 'Remove it from pushplan.databases and reload, distribute, then add it back and reload.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION '93100: push_distribute needs the citus extension in this database'
            USING ERRCODE = '55000',
            HINT = 'CREATE EXTENSION citus on every node first (doc/scale-out.md).';
    END IF;
    IF NOT (SELECT citus_is_coordinator()) THEN
        RAISE EXCEPTION '93101: push_distribute runs on the coordinator' USING ERRCODE = '55000';
    END IF;
    IF _registry_distributed() THEN
        RAISE EXCEPTION '93102: the registry is distributed already' USING ERRCODE = '55000';
    END IF;
    -- Citus propagates CREATE EXTENSION to the workers; the distributed statements call
    -- pushplan's functions there, so every node needs this version.
    SELECT extversion INTO v_version FROM pg_extension WHERE extname = 'pushplan';
    SELECT string_agg(nodename || ':' || nodeport || ' (' || coalesce(nullif(result, ''), 'none') || ')', ', ')
      INTO v_bad
      FROM run_command_on_workers(
             $q$SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'pushplan'), '')$q$)
     WHERE NOT success OR result IS DISTINCT FROM v_version;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION '93104: pushplan % is not installed on worker %', v_version, v_bad
            USING ERRCODE = '55000',
            HINT = 'Install the same build on every node; Citus creates the extension on nodes added later.';
    END IF;
    IF EXISTS (SELECT 1 FROM tasks WHERE state IN ('queued', 'sending'))
       OR EXISTS (SELECT 1 FROM schedules WHERE enabled AND next_run_at IS NOT NULL) THEN
        RAISE EXCEPTION '93105: tasks or schedules are still to be sent: the distributed registry does not take them over'
            USING ERRCODE = '55000',
            HINT = 'Let them finish, or cancel and disable them, first.';
    END IF;

    -- Foreign keys to reference tables are added in the same transaction as the shards are
    -- filled: Citus then needs one connection per node throughout.
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);

    -- Device ids become keys of (app_id, registration_id): existing devices are renumbered,
    -- with every row that names them.
    CREATE TEMP TABLE _device_renumber ON COMMIT DROP AS
        SELECT device_id AS old_id, _device_key(app_id, registration_id) AS new_id,
               app_id, registration_id
          FROM devices;
    SELECT string_agg(format('%s/%s', r.app_id, _shown(r.registration_id)), ', ') INTO v_bad
      FROM _device_renumber r
      JOIN (SELECT new_id FROM _device_renumber GROUP BY new_id HAVING count(*) > 1) d USING (new_id);
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION '93106: devices % have the same device key', v_bad
            USING ERRCODE = '23505', HINT = 'Erase one of them (push_device_erase) first.';
    END IF;

    -- Citus refuses foreign keys between a table it manages and one it does not, and turns
    -- local tables in a foreign key graph into Citus local tables (which extension-owned views
    -- prevent). So every foreign key goes first; those Citus supports come back below. (The
    -- workers' copies of the extension's tables lose them too: _distributed_node_prepare below.)
    SELECT array_agg(format('ALTER TABLE pushplan.%I DROP CONSTRAINT IF EXISTS %I',
                            c.conrelid::regclass::text, c.conname))
      INTO v_fks
      FROM pg_constraint c
     WHERE c.contype = 'f' AND c.connamespace = 'pushplan'::regnamespace AND c.conparentid = 0;
    v_fks := array_append(coalesce(v_fks, '{}'),
             'ALTER TABLE pushplan.devices DROP CONSTRAINT IF EXISTS devices_app_id_registration_id_key');
    FOREACH v_bad IN ARRAY v_fks LOOP
        EXECUTE v_bad;
    END LOOP;
    -- and the trigger that deletes an app's events (Citus takes none on a reference table)
    DROP TRIGGER IF EXISTS apps_deleted_events ON apps;

    UPDATE devices d SET device_id = r.new_id FROM _device_renumber r WHERE d.device_id = r.old_id;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    -- (and the coordinator's tables that name devices: the flows' instances, audience members
    -- and tracked events, and the locations geofences compare)
    FOR v_t IN SELECT unnest(ARRAY['device_tags', 'device_accounts', 'device_consents',
                                   'device_activity', 'device_reactions', 'device_send_profiles',
                                   'smart_profile_pending', 'engagement_counts', 'deliveries',
                                   'events', 'delivery_queue', 'device_locations',
                                   'flow_instances', 'flow_audience_members',
                                   'tracked_events']) AS tbl LOOP
        EXECUTE format('UPDATE pushplan.%I x SET device_id = r.new_id FROM _device_renumber r
                         WHERE x.device_id = r.old_id', v_t.tbl);
    END LOOP;
    -- Registration looks devices up by registration id: no longer unique by index, still
    -- searched by it (each shard has its part).
    CREATE INDEX devices_registration_idx ON devices (app_id, registration_id);

    -- Citus takes a unique key only with the distribution column in it: a delivery is
    -- (delivery_id, device_id), a queue row (task_id, delivery_id, device_id) (doc/scale-out.md,
    -- "Unique keys"). The ids stay unique by themselves (the coordinator's sequence, and the
    -- nodes' expansions' ids with their group in them: "Delivery ids made on a node").
    v_fks := ARRAY[
        'ALTER TABLE pushplan.deliveries DROP CONSTRAINT deliveries_pkey',
        'ALTER TABLE pushplan.deliveries ADD PRIMARY KEY (delivery_id, device_id)',
        'ALTER TABLE pushplan.delivery_queue DROP CONSTRAINT delivery_queue_pkey',
        'ALTER TABLE pushplan.delivery_queue ADD PRIMARY KEY (task_id, delivery_id, device_id)'];
    FOREACH v_bad IN ARRAY v_fks LOOP
        EXECUTE v_bad;
    END LOOP;
    -- The workers' copies of the extension's tables (Citus' shells there) change the same way,
    -- and lose the day partitions their own upkeep made (sql/api/17_distribute_nodes.sql).
    SELECT string_agg(nodename || ':' || nodeport || ': ' || result, '; ') INTO v_bad
      FROM run_command_on_workers('SELECT pushplan._distributed_node_prepare()')
     WHERE NOT success;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'could not prepare the workers: %', v_bad;
    END IF;

    INSERT INTO cluster_layout (registry, shard_count)
        VALUES ('distributed', current_setting('citus.shard_count')::int);
    FOR v_t IN SELECT tbl, kind FROM _distributed_tables() LOOP
        IF v_t.kind = 'reference' THEN
            PERFORM create_reference_table(format('pushplan.%I', v_t.tbl)::regclass);
        ELSIF v_t.tbl = 'devices' THEN
            PERFORM create_distributed_table('pushplan.devices', 'device_id');
        ELSE
            PERFORM create_distributed_table(format('pushplan.%I', v_t.tbl)::regclass, 'device_id',
                                             colocate_with => 'pushplan.devices');
        END IF;
        -- the rows now live in the shards; the coordinator's copy is dropped
        PERFORM truncate_local_data_after_distributing_table(format('pushplan.%I', v_t.tbl)::regclass);
    END LOOP;

    -- Shards move by logical replication (citus_rebalance_start's default) only when every
    -- table of the colocation group has a replica identity: the three without a key get FULL
    -- (their rows are inserted, rarely updated or deleted: the full old row in the WAL costs
    -- little). events' day partitions made later get it when made (_raw_partition_create).
    ALTER TABLE device_activity REPLICA IDENTITY FULL;
    ALTER TABLE device_reactions REPLICA IDENTITY FULL;
    FOR v_t IN SELECT i.inhrelid::regclass::text AS tbl FROM pg_inherits i
                WHERE i.inhparent = 'pushplan.events'::regclass LOOP
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', v_t.tbl);
    END LOOP;

    -- The foreign keys Citus supports: reference to reference, distributed to reference, and
    -- between colocated tables on the distribution column; and those between two tables that
    -- stay on the coordinator. (Account packages stay there: their accounts are written the
    -- way COPY writes, below the executor, which Citus would not see.)
    ALTER TABLE app_grants ADD CONSTRAINT app_grants_app_id_fkey FOREIGN KEY (app_id) REFERENCES apps ON DELETE CASCADE;
    ALTER TABLE vendor_configs ADD CONSTRAINT vendor_configs_app_id_fkey FOREIGN KEY (app_id) REFERENCES apps ON DELETE CASCADE;
    ALTER TABLE tags ADD CONSTRAINT tags_app_id_fkey FOREIGN KEY (app_id) REFERENCES apps ON DELETE CASCADE;
    ALTER TABLE plans ADD CONSTRAINT plans_app_id_fkey FOREIGN KEY (app_id) REFERENCES apps ON DELETE CASCADE;
    -- (Not tasks to apps and plans: Citus then locks the referenced reference tables' shards
    -- for a row lock on tasks (FOR UPDATE, FOR NO KEY UPDATE), which needs a write right on
    -- them that the scheduler's role does not have. They only mattered for deleting an app,
    -- which the API has no function for.)
    ALTER TABLE tasks ADD CONSTRAINT tasks_parent_task_id_fkey FOREIGN KEY (parent_task_id) REFERENCES tasks ON DELETE CASCADE;
    -- (Nor deliveries to tasks: Citus then refuses a write to tasks after the parallel insert
    -- of an expansion's deliveries in the same transaction. No function deletes a task.)
    ALTER TABLE devices ADD CONSTRAINT devices_app_id_fkey FOREIGN KEY (app_id) REFERENCES apps ON DELETE CASCADE;
    ALTER TABLE device_accounts ADD CONSTRAINT device_accounts_app_id_fkey FOREIGN KEY (app_id) REFERENCES apps ON DELETE CASCADE;
    ALTER TABLE account_package_accounts ADD CONSTRAINT account_package_accounts_upload_id_fkey FOREIGN KEY (upload_id) REFERENCES account_packages ON DELETE CASCADE;
    -- (and the coordinator's own tables': a schedule's runs, a flow's versions, steps,
    -- evaluations and audience members go with it, as on one node)
    ALTER TABLE schedule_runs ADD CONSTRAINT schedule_runs_schedule_id_fkey FOREIGN KEY (schedule_id) REFERENCES schedules ON DELETE CASCADE;
    ALTER TABLE flow_versions ADD CONSTRAINT flow_versions_flow_id_fkey FOREIGN KEY (flow_id) REFERENCES flows ON DELETE CASCADE;
    ALTER TABLE flow_steps ADD CONSTRAINT flow_steps_flow_id_version_fkey FOREIGN KEY (flow_id, version) REFERENCES flow_versions ON DELETE CASCADE;
    ALTER TABLE flow_trigger_evals ADD CONSTRAINT flow_trigger_evals_flow_id_fkey FOREIGN KEY (flow_id) REFERENCES flows ON DELETE CASCADE;
    ALTER TABLE flow_audience_members ADD CONSTRAINT flow_audience_members_flow_id_fkey FOREIGN KEY (flow_id) REFERENCES flows ON DELETE CASCADE;
    FOR v_t IN SELECT unnest(ARRAY['device_activity', 'device_send_profiles', 'device_accounts',
                                   'device_consents', 'engagement_counts']) AS tbl LOOP
        EXECUTE format('ALTER TABLE pushplan.%I ADD CONSTRAINT %I FOREIGN KEY (device_id) REFERENCES pushplan.devices ON DELETE CASCADE',
                       v_t.tbl, v_t.tbl || '_device_id_fkey');
    END LOOP;

    -- push_task_progress: its one-node form is not planned by Citus (doc/scale-out.md,
    -- "The readers"); the same columns from the layout's form
    CREATE OR REPLACE VIEW push_task_progress WITH (security_barrier) AS
        SELECT * FROM _task_progress_distributed();
    -- push_deliveries: the deliveries made only (the layout plans no send, and Citus plans no
    -- join of the coordinator's delivery_plans with the devices' shards)
    CREATE OR REPLACE VIEW push_deliveries WITH (security_barrier) AS
        SELECT * FROM _push_deliveries_made;
    -- Every other view is read through _layout_view_rows, as the extension's owner: Citus
    -- checks the shards under a view against the role reading it (a reader granted the view
    -- alone was refused). The same columns; each view's definition is kept in layout_views.
    FOR v_t IN SELECT c.relname AS tbl FROM pg_class c
                WHERE c.relnamespace = 'pushplan'::regnamespace AND c.relkind = 'v'
                  AND c.relname LIKE 'push\_%' AND c.relname <> 'push_task_progress'
                ORDER BY 1 LOOP
        INSERT INTO layout_views (view, definition)
            VALUES (v_t.tbl, pg_get_viewdef(format('pushplan.%I', v_t.tbl)::regclass));
        SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
                          || CASE WHEN a.attcollation <> t.typcollation
                                  THEN format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END,
                          ', ' ORDER BY a.attnum)
          INTO v_bad
          FROM pg_attribute a
          JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_collation co ON co.oid = a.attcollation
          LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
         WHERE a.attrelid = format('pushplan.%I', v_t.tbl)::regclass AND a.attnum > 0
           AND NOT a.attisdropped;
        EXECUTE format('CREATE OR REPLACE VIEW pushplan.%I WITH (security_barrier) AS
                            SELECT * FROM pushplan._layout_view_rows(%L) AS r(%s)',
                       v_t.tbl, v_t.tbl, v_bad);
    END LOOP;

    -- The functions that touch one device's shard, by its key: Citus sends a call to the
    -- node of the key's shard, where it runs whole (doc/scale-out.md, "Registration and
    -- function delegation"). Forced: they are called from the API's PL/pgSQL functions, which
    -- Citus counts as transaction blocks; a forced function touches no other shard.
    FOR v_t IN SELECT unnest(_delegated_functions()) AS tbl LOOP
        PERFORM create_distributed_function(v_t.tbl::regprocedure, '$1', colocate_with := 'pushplan.devices',
                                            force_delegation := true);
    END LOOP;

    -- The background workers run their statements as pushplan_worker, and Citus reaches the
    -- other nodes as the current role: it must be able to log in there (pg_hba.conf on the
    -- nodes, doc/scale-out.md). Citus propagates the change to every node.
    ALTER ROLE pushplan_worker LOGIN;

    SELECT shard_count INTO v_shards FROM cluster_layout;
    RETURN format('distributed: %s devices renumbered, %s shards per distributed table',
                  v_moved, v_shards);
END $$;
COMMENT ON FUNCTION push_distribute() IS
    'turns this install on a Citus coordinator into the distributed registry (doc/scale-out.md); superuser only';
