-- Devices, consent, activity, tags, attributes and account binding.

-- Validation of registrations, tags and attributes (src/device_check.c): each returns what
-- is wrong, as "code: message", or NULL.
CREATE OR REPLACE FUNCTION _devices_problem(devices jsonb, OUT ord int, OUT problem text)
AS 'MODULE_PATHNAME', 'pushplan_devices_problem' LANGUAGE C STABLE STRICT;
CREATE OR REPLACE FUNCTION _device_timezone(registration_id text, platform text, vendor text, token text,
                                            timezone text, language text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_device_timezone' LANGUAGE C STABLE;
-- The token as stored: the vendor's canonical form (a Web Push subscription's JSON).
CREATE OR REPLACE FUNCTION _device_token(vendor text, token text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_device_token' LANGUAGE C IMMUTABLE STRICT;
CREATE OR REPLACE FUNCTION _tags_problem(tags text[]) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_tags_problem' LANGUAGE C IMMUTABLE;
CREATE OR REPLACE FUNCTION _attrs_problem(attrs jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_attrs_problem' LANGUAGE C IMMUTABLE;

-- Raises a "code: message" problem (from the checks above) as an invalid-parameter error.
CREATE OR REPLACE FUNCTION _raise_problem(problem text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = problem, ERRCODE = '22023';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION _device_lookup(app int, registration_id text) RETURNS bigint
AS 'MODULE_PATHNAME', 'pushplan_device_lookup' LANGUAGE C STABLE STRICT;

-- A device's id, given the registration's key (the first argument of the functions delegated
-- by it, below), or 92039.
CREATE OR REPLACE FUNCTION _device_id_at(p_key bigint, p_app_id int, p_registration_id text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id bigint;
BEGIN
    IF pushplan._registry_distributed() THEN
        -- one shard: the id is the key of the registration (doc/scale-out.md), given to the
        -- statement as a value (a generic plan of a caller's is routed by it; not by the call
        -- that computes it: "could not create distributed plan")
        SELECT device_id INTO v_id FROM pushplan.devices
            WHERE device_id = p_key
              AND app_id = p_app_id AND registration_id = p_registration_id COLLATE "C";
    ELSE
        -- one descent of the unique index, in C (src/device_probe.c): in SQL, compared in
        -- another collation than the column's ("C") the index found only the app's devices, each
        -- then read; and a plan made for an app the statistics had not seen yet (a new app,
        -- "no device") took the token index, which reads every device of the app
        v_id := pushplan._device_lookup(p_app_id, p_registration_id);
    END IF;
    IF v_id IS NULL THEN
        RAISE EXCEPTION '92039: device "%" is not registered', pushplan._shown(p_registration_id)
            USING ERRCODE = '42704';
    END IF;
    RETURN v_id;
END $$;

-- The same, by its registration id.
CREATE OR REPLACE FUNCTION _device_id(p_app_id int, p_registration_id text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT pushplan._device_id_at(pushplan._device_key(p_app_id, p_registration_id), p_app_id,
                                  p_registration_id)
$$;

-- Merges attribute updates: a null value removes the key. At most 50 attributes a device.
CREATE OR REPLACE FUNCTION _attrs_merge(current jsonb, updates jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(current || updates)
$$;

-- A registration batch checked and taken apart in one pass (src/device_check.c): raises the
-- first problem; returns arrays ordered by registration_id, one entry per registration_id (the
-- last of the batch wins), tags as (index into those arrays, tag) pairs.
CREATE OR REPLACE FUNCTION _devices_decompose(devices jsonb, batch boolean,
    OUT rid text[], OUT platform text[], OUT vendor text[], OUT token text[],
    OUT timezone text[], OUT language text[], OUT attrs jsonb[], OUT new_attrs jsonb[],
    OUT tag_dev int[], OUT tag text[])
AS 'MODULE_PATHNAME', 'pushplan_devices_decompose' LANGUAGE C STABLE STRICT;
CREATE OR REPLACE FUNCTION _attrs_count(attrs jsonb) RETURNS int
AS 'MODULE_PATHNAME', 'pushplan_attrs_count' LANGUAGE C IMMUTABLE STRICT;
-- One node only (src/device_probe.c): for each registration id its device's id or NULL, and
-- the app's other registrations holding one of the tokens with the same vendor.
CREATE OR REPLACE FUNCTION _devices_probe(app int, rids text[], vendors text[], tokens text[],
    OUT ids bigint[], OUT moved bigint[])
AS 'MODULE_PATHNAME', 'pushplan_devices_probe' LANGUAGE C STABLE STRICT;

-- The core of registration, for one device or a batch: validates everything first, then
-- writes with set-based statements over arrays (no per-row statements, no temp tables).
-- Existing devices are updated and new ones inserted by one statement, without speculative
-- insertion: a device registered concurrently by another session makes the insert fail with a
-- unique violation, and the statement is run again (it then updates that device).
-- Returns the ids of the devices written, in the order of registration_id (bytewise).
-- The upsert is an EXECUTE, planned with each batch's arrays: PL/pgSQL's generic plan (from a
-- session's sixth batch on, if it looks cheaper than the custom ones were) guesses ten rows for
-- an unnest, and its nested loop compared each of a batch's 10,000 existing devices with each
-- of its 10,000 registrations: 24 s a batch instead of 0.25 s (doc/benchmarks.md, "A batch
-- registered again"). (Not plan_cache_mode = force_custom_plan for the whole function: it made
-- every batch of new devices 20 % slower.)
CREATE OR REPLACE FUNCTION _devices_upsert(p_app_id int, p_devices jsonb, p_batch boolean) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_rid text[];
    v_platform text[];
    v_vendor text[];
    v_token text[];
    v_tz text[];
    v_language text[];
    v_attrs jsonb[];
    v_new_attrs jsonb[];
    v_tag_dev int[];
    v_tag text[];
    v_ids bigint[];
    v_new boolean[];
    v_any_old boolean;
    v_too_many boolean;
    v_all_rid text[];
    v_pass_rid text[];
    v_pass_ids bigint[];
    v_pass_new boolean[];
    v_done_rid text[] := '{}';
    v_done_ids bigint[] := '{}';
    v_done_new boolean[] := '{}';
    v_distributed boolean := _registry_distributed();
    v_collided text;
    v_watched boolean;
    v_old_ids bigint[];
    v_old_attrs jsonb[];
    v_keys bigint[];
    v_shard_keys bigint[];
    v_moved bigint[];
    v_cur_rid text[];                   -- distributed: the batch's stored devices, and those
    v_cur_vendor text[];                -- of them whose token moves to them
    v_cur_token text[];
    v_move_rid text[];
    v_move_vendor text[];
    v_move_token text[];
BEGIN
    IF jsonb_typeof(p_devices) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION '92036: devices must be a JSON array of device objects'
            USING ERRCODE = '22023';
    END IF;
    IF jsonb_array_length(p_devices) > 10000 THEN
        RAISE EXCEPTION '92037: at most 10000 devices in one batch, got %',
            jsonb_array_length(p_devices) USING ERRCODE = '54000';
    END IF;

    SELECT * INTO v_rid, v_platform, v_vendor, v_token, v_tz, v_language, v_attrs, v_new_attrs,
                  v_tag_dev, v_tag
        FROM _devices_decompose(p_devices, p_batch);
    IF cardinality(v_rid) = 0 THEN
        RETURN '{}';
    END IF;
    v_all_rid := v_rid;
    -- The ids of the devices the batch may update. On one node, those of the registrations
    -- that exist, and the other registrations that hold a token of the batch, found by an
    -- index descent each (src/device_probe.c; in SQL the planner read all of the app's devices
    -- per batch). On the distributed layout a registration's id is its key (doc/scale-out.md),
    -- which also names each device's shard.
    IF v_distributed THEN
        v_keys := ARRAY(SELECT _device_key(p_app_id, r) FROM unnest(v_rid) r);
    ELSE
        SELECT ARRAY(SELECT i FROM unnest(p.ids) i WHERE i IS NOT NULL), p.moved
          INTO v_keys, v_moved
          FROM _devices_probe(p_app_id, v_rid, v_vendor, v_token) p;
    END IF;
    -- an attr_change flow compares the attributes with what they were (89_flow_triggers.sql):
    -- read, and locked, only when the app has one
    v_watched := _flow_attr_watched(p_app_id);
    IF v_watched AND NOT v_distributed THEN
        SELECT array_agg(d.device_id), array_agg(d.attrs) INTO v_old_ids, v_old_attrs
          FROM (SELECT d.device_id, d.attrs FROM pushplan.devices d
                WHERE d.device_id = ANY (v_keys) AND d.app_id = p_app_id
                  AND d.registration_id = ANY (v_rid)
                ORDER BY d.device_id FOR NO KEY UPDATE) d;
    ELSIF v_watched THEN
        -- On the distributed layout one statement a shard, shard by shard in their order (so
        -- two batches lock in the same order): Citus takes a row lock in a statement on one
        -- shard only.
        v_old_ids := '{}';
        v_old_attrs := '{}';
        FOR v_shard_keys IN
            SELECT array_agg(x.k ORDER BY x.k)
              FROM (SELECT k, get_shard_id_for_distribution_column('pushplan.devices', k) AS shard
                    FROM unnest(v_keys) k) x
             GROUP BY x.shard ORDER BY x.shard
        LOOP
            SELECT v_old_ids || coalesce(array_agg(d.device_id), '{}'),
                   v_old_attrs || coalesce(array_agg(d.attrs), '{}')
              INTO v_old_ids, v_old_attrs
              FROM (SELECT d.device_id, d.attrs FROM pushplan.devices d
                    WHERE d.device_id = ANY (v_shard_keys) AND d.app_id = p_app_id
                      AND d.registration_id = ANY (v_rid)
                    ORDER BY d.device_id FOR NO KEY UPDATE) d;
        END LOOP;
    END IF;

    -- A token that moved to another registration (app reinstalled) leaves the old one.
    IF v_distributed THEN
        -- Looked for only for the registrations that are new or whose token changed: one that
        -- holds its token already is its only holder (as in _device_register_at). The batch's
        -- devices are read by their keys (each shard asked for its own; planned with the keys
        -- known: Citus routes no generic plan by "= ANY" of a parameter).
        EXECUTE 'SELECT array_agg(d.registration_id), array_agg(d.vendor), array_agg(d.token)
                   FROM pushplan.devices d WHERE d.device_id = ANY ($1) AND d.app_id = $2'
           INTO v_cur_rid, v_cur_vendor, v_cur_token USING v_keys, p_app_id;
        -- (EXECUTE: a generic plan would join the two unnests in a nested loop, above)
        EXECUTE 'SELECT array_agg(r.rid), array_agg(r.vendor), array_agg(r.token)
                   FROM unnest($1, $2, $3) r(rid, vendor, token)
                   LEFT JOIN unnest($4, $5, $6) c(rid, vendor, token) ON c.rid = r.rid COLLATE "C"
                  WHERE c.rid IS NULL OR c.token IS DISTINCT FROM r.token
                     OR c.vendor IS DISTINCT FROM r.vendor'
           INTO v_move_rid, v_move_vendor, v_move_token
           USING v_rid, v_vendor, v_token, v_cur_rid, v_cur_vendor, v_cur_token;
        -- (Citus does not push a self-join down; each shard probes its token index instead)
        IF v_move_rid IS NOT NULL THEN
            UPDATE pushplan.devices d SET token = NULL, updated_at = now()
              FROM unnest(v_move_rid, v_move_vendor, v_move_token) r(rid, vendor, token)
             WHERE d.app_id = p_app_id AND d.token = r.token AND d.vendor = r.vendor
               AND d.registration_id <> r.rid;
        END IF;
    ELSIF cardinality(v_moved) > 0 THEN
        UPDATE pushplan.devices d SET token = NULL, updated_at = now()
         WHERE d.device_id = ANY (v_moved);
    END IF;

    -- Existing devices are updated and new ones inserted in one statement. A device that another
    -- session inserts meanwhile is skipped by ON CONFLICT DO NOTHING (after waiting for that
    -- session) and updated by the next pass, which sees it: no subtransaction, so a long
    -- transaction of registrations costs the same per device as a short one.
    v_any_old := false; v_too_many := false;
    FOR attempt IN 1 .. 3 LOOP
        -- (EXECUTE: planned with this batch's arrays each time, above)
        EXECUTE '
        WITH r AS (
            SELECT * FROM unnest($1, $2, $3, $4, $5, $6,
                                 $7, $8)
                r(rid, platform, vendor, token, tz, language, attrs, new_attrs)
        ), up AS (
            -- Existing devices: attrs merge into what the device had, a null value removing a
            -- key. New devices: attrs as given, less null values.
            UPDATE pushplan.devices d SET
                platform = r.platform, vendor = r.vendor, token = r.token,
                timezone = r.tz, language = r.language, registered = true,
                attrs = CASE WHEN r.attrs = ''{}'' THEN d.attrs
                             ELSE jsonb_strip_nulls(d.attrs || r.attrs) END,
                token_invalidated_at = CASE WHEN d.token IS NOT DISTINCT FROM r.token
                                            THEN d.token_invalidated_at END,
                updated_at = now()
            FROM r
            WHERE d.device_id = ANY ($9) AND d.app_id = $10
              AND d.registration_id = r.rid
            RETURNING d.registration_id, d.device_id, _attrs_count(d.attrs) > 50 AS too_many
        ), ins AS (
            -- (the distributed registry''s ids are keys of the registration, and its only unique
            -- key is the id: doc/scale-out.md)
            INSERT INTO pushplan.devices
                   (device_id, app_id, registration_id, platform, vendor, token, timezone, language, attrs)
            SELECT CASE WHEN $11 THEN _device_key($10, r.rid)
                        ELSE nextval(''pushplan.devices_device_id_seq'') END,
                   $10, r.rid, r.platform, r.vendor, r.token, r.tz, r.language, r.new_attrs
            FROM r WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.registration_id = r.rid)
            ON CONFLICT DO NOTHING
            RETURNING registration_id, device_id
        ), done AS (
            SELECT registration_id, device_id, false AS is_new, too_many FROM up
            UNION ALL
            SELECT registration_id, device_id, true, false FROM ins
        )
        SELECT array_agg(registration_id ORDER BY registration_id COLLATE "C"),
               array_agg(device_id ORDER BY registration_id COLLATE "C"),
               array_agg(is_new ORDER BY registration_id COLLATE "C"),
               $12 OR coalesce(bool_or(NOT is_new), false),
               $13 OR coalesce(bool_or(too_many), false)
          FROM done'
          INTO v_pass_rid, v_pass_ids, v_pass_new, v_any_old, v_too_many
          USING v_rid, v_platform, v_vendor, v_token, v_tz, v_language, v_attrs, v_new_attrs,
                v_keys, p_app_id, v_distributed, v_any_old, v_too_many;
        IF attempt = 1 AND cardinality(v_pass_rid) = cardinality(v_rid) THEN
            v_ids := v_pass_ids;             -- the usual case: all in one pass, in order
            v_new := v_pass_new;
            EXIT;
        END IF;
        v_done_rid := v_done_rid || coalesce(v_pass_rid, '{}');
        v_done_ids := v_done_ids || coalesce(v_pass_ids, '{}');
        v_done_new := v_done_new || coalesce(v_pass_new, '{}');
        IF cardinality(v_done_rid) = cardinality(v_all_rid) THEN
            -- in the order of the devices (by registration id), which tag_dev indexes
            SELECT array_agg(id ORDER BY rid COLLATE "C"), array_agg(is_new ORDER BY rid COLLATE "C")
              INTO v_ids, v_new
              FROM unnest(v_done_rid, v_done_ids, v_done_new) d(rid, id, is_new);
            EXIT;
        END IF;
        -- What is left: devices another session inserted meanwhile; the next pass sees them.
        -- In the distributed registry, a key another registration holds is refused at once.
        IF v_distributed AND attempt = 1 THEN
            SELECT r.rid INTO v_collided
              FROM unnest(v_rid) r(rid) JOIN pushplan.devices d
                   ON d.device_id = _device_key(p_app_id, r.rid)
                  AND (d.app_id <> p_app_id OR d.registration_id <> r.rid)
             WHERE r.rid NOT IN (SELECT unnest(v_done_rid))
             LIMIT 1;
            IF FOUND THEN
                PERFORM _device_key_taken(p_app_id, v_collided);
            END IF;
        END IF;
        IF attempt = 3 THEN
            RAISE EXCEPTION '92047: % devices could not be registered: other sessions kept inserting and deleting them',
                cardinality(v_all_rid) - cardinality(v_done_rid) USING ERRCODE = '40001';
        END IF;
        SELECT array_agg(r.rid), array_agg(r.platform), array_agg(r.vendor), array_agg(r.token),
               array_agg(r.tz), array_agg(r.language), array_agg(r.attrs), array_agg(r.new_attrs)
          INTO v_rid, v_platform, v_vendor, v_token, v_tz, v_language, v_attrs, v_new_attrs
          FROM unnest(v_rid, v_platform, v_vendor, v_token, v_tz, v_language, v_attrs, v_new_attrs)
               r(rid, platform, vendor, token, tz, language, attrs, new_attrs)
         WHERE r.rid NOT IN (SELECT unnest(v_done_rid));
        IF NOT v_distributed THEN
            v_keys := ARRAY(SELECT i FROM unnest((_devices_probe(p_app_id, v_rid, v_vendor,
                                                                 v_token)).ids) i
                            WHERE i IS NOT NULL);
        END IF;
    END LOOP;
    IF v_too_many THEN
        RAISE EXCEPTION '90033: a device has at most 50 attributes' USING ERRCODE = '54000';
    END IF;
    IF v_watched THEN
        -- (EXECUTE: a generic plan would join the two unnests in a nested loop, above)
        EXECUTE 'SELECT ARRAY(SELECT o.attrs FROM unnest($1) WITH ORDINALITY i(id, n)
                              LEFT JOIN unnest($2, $3) o(id, attrs) ON o.id = i.id ORDER BY i.n)'
           INTO v_old_attrs USING v_ids, v_old_ids, v_old_attrs;
        PERFORM _flow_attrs_changed(p_app_id, v_ids, v_old_attrs);
    END IF;

    IF cardinality(v_tag) > 0 THEN
        INSERT INTO pushplan.tags (app_id, tag)
            SELECT DISTINCT p_app_id, t FROM unnest(v_tag) t
            ON CONFLICT (app_id, tag) DO NOTHING;
        -- New devices have no tags yet, and each device's tags are distinct: no conflict.
        INSERT INTO pushplan.device_tags (tag_id, device_id)
            SELECT g.tag_id, v_ids[u.dev]
            FROM unnest(v_tag_dev, v_tag) u(dev, t)
                 JOIN pushplan.tags g ON g.app_id = p_app_id AND g.tag = u.t
            WHERE v_new[u.dev];
        IF v_any_old THEN
            INSERT INTO pushplan.device_tags (tag_id, device_id)
                SELECT g.tag_id, v_ids[u.dev]
                FROM unnest(v_tag_dev, v_tag) u(dev, t)
                     JOIN pushplan.tags g ON g.app_id = p_app_id AND g.tag = u.t
                WHERE NOT v_new[u.dev]
                ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN v_ids;
END $$;

-- One device, the path application code calls at every app start: one statement, no JSON
-- built, no subtransaction.
CREATE OR REPLACE FUNCTION push_device_register(app text, registration_id text, platform text, vendor text,
                                     token text, timezone text DEFAULT 'UTC',
                                     language text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app, 'app');
    v_tz text := _device_timezone(registration_id, platform, vendor, token, timezone, language);
    v_token text := _device_token(vendor, token);
    v_id bigint;
    v_moved boolean;
BEGIN
    IF _registry_distributed() THEN
        -- The registration's own shard, by a function Citus runs whole on the node holding
        -- it (doc/scale-out.md, "Registration and function delegation"): one round trip,
        -- however many statements. (In a FROM clause: Citus delegates no PL/pgSQL simple
        -- expression. Tenancy and validation stay here, where the bindings' roles are.)
        SELECT r.id, r.moved INTO v_id, v_moved
          FROM _device_register_at(_device_key(v_app, push_device_register.registration_id), v_app,
                                   push_device_register.registration_id, push_device_register.platform,
                                   push_device_register.vendor, v_token, v_tz,
                                   push_device_register.language) r;
        IF v_id IS NULL THEN
            PERFORM _device_key_taken(v_app, push_device_register.registration_id);
        END IF;
        -- The token's old registration may be on any shard: looked for only when this
        -- registration's token changed (a new device, a new token), as a registration that
        -- holds its token already is its only holder.
        IF v_moved THEN
            UPDATE devices o SET token = NULL, updated_at = now()
             WHERE o.app_id = v_app AND o.token = v_token
               AND o.vendor = push_device_register.vendor
               AND o.registration_id <> push_device_register.registration_id;
        END IF;
        RETURN v_id;
    END IF;
    -- The token that moved to this registration (app reinstalled) leaves its old one, in the
    -- same statement as the upsert.
    WITH moved AS (
        UPDATE devices o SET token = NULL, updated_at = now()
         WHERE o.app_id = v_app AND o.token = v_token
           AND o.vendor = push_device_register.vendor
           AND o.registration_id <> push_device_register.registration_id
    ), up AS (
        INSERT INTO devices AS d (app_id, registration_id, platform, vendor, token, timezone,
                                  language)
        VALUES (v_app, push_device_register.registration_id, push_device_register.platform,
                push_device_register.vendor, v_token, v_tz,
                push_device_register.language)
        ON CONFLICT (app_id, registration_id) DO UPDATE SET
            platform = excluded.platform, vendor = excluded.vendor, token = excluded.token,
            timezone = excluded.timezone, language = excluded.language, registered = true,
            token_invalidated_at = CASE WHEN d.token IS NOT DISTINCT FROM excluded.token
                                        THEN d.token_invalidated_at END,
            updated_at = now()
        RETURNING d.device_id
    )
    SELECT device_id INTO v_id FROM up;
    RETURN v_id;
END $$;

-- The distributed layout's registration on the registration's own shard (push_distribute
-- delegates it by its key, forced: Citus runs it on the node of the key's shard, also inside
-- a transaction block, and lets it touch no other shard). Values checked by the caller, and
-- only the extension's owner may call it. id is NULL when another registration holds the
-- key; moved says whether the registration's token changed (or it is new), so that the
-- caller looks for the token's old holder.
CREATE OR REPLACE FUNCTION _device_register_at(p_key bigint, p_app_id int, p_registration_id text,
                                               p_platform text, p_vendor text, p_token text,
                                               p_timezone text, p_language text,
                                               OUT id bigint, OUT moved boolean)
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_now timestamptz := now();     -- Citus: no STABLE function in ON CONFLICT's SET
    v_old record;
BEGIN
    SELECT d.token, d.vendor INTO v_old FROM devices d
     WHERE d.device_id = p_key AND d.app_id = p_app_id AND d.registration_id = p_registration_id COLLATE "C";
    moved := NOT FOUND OR v_old.token IS DISTINCT FROM p_token OR v_old.vendor IS DISTINCT FROM p_vendor;
    INSERT INTO devices AS d (device_id, app_id, registration_id, platform, vendor, token,
                              timezone, language)
    VALUES (p_key, p_app_id, p_registration_id, p_platform, p_vendor, p_token, p_timezone, p_language)
    ON CONFLICT (device_id) DO UPDATE SET
        platform = excluded.platform, vendor = excluded.vendor, token = excluded.token,
        timezone = excluded.timezone, language = excluded.language, registered = true,
        token_invalidated_at = CASE WHEN d.token IS NOT DISTINCT FROM excluded.token
                                    THEN d.token_invalidated_at END,
        updated_at = v_now
      WHERE d.app_id = excluded.app_id AND d.registration_id = excluded.registration_id
    RETURNING d.device_id INTO id;
END $$;

CREATE OR REPLACE FUNCTION push_device_register_batch(app text, devices jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
BEGIN
    RETURN cardinality(_devices_upsert(_app_id(app, 'app'), devices, true));
END $$;
COMMENT ON FUNCTION push_device_register_batch(text, jsonb) IS
    'registers up to 10000 devices at once: [{"registration_id", "platform", "vendor", "token", "timezone", "language", "tags": [...], "attrs": {...}}]';

-- The functions below that change one device do it through a function of the device's own
-- shard, called with the registration's key: on the distributed layout push_distribute
-- delegates those (_delegated_functions), and Citus runs each whole on the node holding the
-- key's shard (doc/scale-out.md, "Registration and function delegation"); on one node it is a
-- plain call. Bindings and checks stay in the API function, on the coordinator; what a
-- delegated function may not do there (write a reference table, read the coordinator's
-- tables) too. (Called in a FROM clause: Citus delegates no PL/pgSQL simple expression.)

CREATE OR REPLACE FUNCTION push_device_unregister(app text, registration_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
BEGIN
    PERFORM 1 FROM _device_flags_at(_device_key(v_app, registration_id), v_app, registration_id, false, NULL);
END $$;

CREATE OR REPLACE FUNCTION push_device_opt(app text, registration_id text, opted_in boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
BEGIN
    IF opted_in IS NULL THEN
        RAISE EXCEPTION '92042: opted_in must be true or false' USING ERRCODE = '22023';
    END IF;
    PERFORM 1 FROM _device_flags_at(_device_key(v_app, registration_id), v_app, registration_id, NULL, opted_in);
END $$;

-- A device's registered and opted_in flags (NULL: unchanged), on its shard.
CREATE OR REPLACE FUNCTION _device_flags_at(p_key bigint, p_app_id int, p_registration_id text,
                                            p_registered boolean, p_opted_in boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id_at(p_key, p_app_id, p_registration_id);
BEGIN
    UPDATE devices d SET registered = coalesce(p_registered, d.registered),
                         opted_in = coalesce(p_opted_in, d.opted_in), updated_at = now()
        WHERE d.device_id = v_id;
END $$;

CREATE OR REPLACE FUNCTION push_device_activity(app text, registration_id text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
BEGIN
    -- a few minutes ahead is a device's clock; a year back is no longer activity
    IF at IS NULL OR at NOT BETWEEN now() - interval '1 year' AND now() + interval '5 minutes' THEN
        RAISE EXCEPTION '92043: activity time must be given, within the last year and not in the future'
            USING ERRCODE = '22023';
    END IF;
    PERFORM 1 FROM _device_activity_at(_device_key(v_app, registration_id), v_app, registration_id, at);
END $$;

CREATE OR REPLACE FUNCTION _device_activity_at(p_key bigint, p_app_id int, p_registration_id text,
                                               p_at timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id_at(p_key, p_app_id, p_registration_id);
BEGIN
    INSERT INTO device_activity (device_id, at) VALUES (v_id, p_at);
    UPDATE devices d SET last_active_at = greatest(d.last_active_at, p_at)
        WHERE d.device_id = v_id;
    -- the device's send profile lacks this visit (doc/smart_send.md). DO UPDATE, not DO
    -- NOTHING: it locks the mark until this transaction ends (WHERE false: without writing it
    -- again), so a refresh never takes the mark while this visit is invisible to it
    -- (test/specs/smart_profiles.spec)
    INSERT INTO smart_profile_pending AS m (device_id) VALUES (v_id)
        ON CONFLICT (device_id) DO UPDATE SET marked_at = m.marked_at WHERE false;
END $$;

CREATE OR REPLACE FUNCTION push_tag_add(app text, registration_id text, VARIADIC tags text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_key bigint := _device_key(v_app, registration_id);
BEGIN
    PERFORM _raise_problem(_tags_problem(tags));
    -- new tags only: on the distributed layout tags is a reference table, which every write
    -- changes on every node in two phases
    IF EXISTS (SELECT 1 FROM unnest(tags) t
               WHERE NOT EXISTS (SELECT 1 FROM pushplan.tags g WHERE g.app_id = v_app AND g.tag = t)) THEN
        INSERT INTO pushplan.tags (app_id, tag) SELECT DISTINCT v_app, t FROM unnest(tags) t
            ON CONFLICT (app_id, tag) DO NOTHING;
    END IF;
    PERFORM 1 FROM _device_tags_at(v_key, v_app, registration_id, tags, true);
END $$;

CREATE OR REPLACE FUNCTION push_tag_remove(app text, registration_id text, VARIADIC tags text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_key bigint := _device_key(v_app, registration_id);
BEGIN
    PERFORM _raise_problem(_tags_problem(tags));
    PERFORM 1 FROM _device_tags_at(v_key, v_app, registration_id, tags, false);
END $$;

-- Tags (existing ones of the app) added to or removed from a device, on its shard.
CREATE OR REPLACE FUNCTION _device_tags_at(p_key bigint, p_app_id int, p_registration_id text,
                                           p_tags text[], p_add boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id_at(p_key, p_app_id, p_registration_id);
    v_tag_ids int[];
BEGIN
    IF p_add THEN
        INSERT INTO device_tags (tag_id, device_id)
            SELECT g.tag_id, v_id FROM pushplan.tags g WHERE g.app_id = p_app_id AND g.tag = ANY (p_tags)
            ON CONFLICT DO NOTHING;
    ELSE
        -- (the tags' ids first: a delete joined with the reference table, or with a subquery
        -- of it, is refused in a delegated function: Citus plans it in parts)
        v_tag_ids := ARRAY(SELECT g.tag_id FROM pushplan.tags g
                           WHERE g.app_id = p_app_id AND g.tag = ANY (p_tags));
        DELETE FROM device_tags dt WHERE dt.device_id = v_id AND dt.tag_id = ANY (v_tag_ids);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION push_attr_set(app text, registration_id text, attrs jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_key bigint := _device_key(v_app, registration_id);
    v_set record;
BEGIN
    PERFORM _raise_problem(_attrs_problem(attrs));
    SELECT s.id, s.old, s.merged INTO v_set FROM _device_attrs_at(v_key, v_app, registration_id, attrs) s;
    IF v_set.merged IS DISTINCT FROM v_set.old THEN
        PERFORM _flow_attrs_changed(v_app, ARRAY[v_set.id], ARRAY[v_set.old]);    -- 89_flow_triggers.sql
    END IF;
END $$;

-- Attribute updates merged into a device's, on its shard; the attributes before and after.
CREATE OR REPLACE FUNCTION _device_attrs_at(p_key bigint, p_app_id int, p_registration_id text,
                                            p_attrs jsonb, OUT id bigint, OUT old jsonb, OUT merged jsonb)
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
BEGIN
    id := _device_id_at(p_key, p_app_id, p_registration_id);
    -- (locked: the attr_change flows compare with what the update replaces)
    SELECT d.attrs, _attrs_merge(d.attrs, p_attrs) INTO old, merged FROM devices d
        WHERE d.device_id = id FOR NO KEY UPDATE;
    IF (SELECT count(*) FROM jsonb_object_keys(merged)) > 50 THEN
        RAISE EXCEPTION '90033: a device has at most 50 attributes' USING ERRCODE = '54000';
    END IF;
    UPDATE devices d SET attrs = merged, updated_at = now() WHERE d.device_id = id;
END $$;

CREATE OR REPLACE FUNCTION _account_problem(account text, account_type int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN account IS NULL OR char_length(account) NOT BETWEEN 2 AND 100 THEN
            '92044: an account must be 2 to 100 characters'
        WHEN account_type IS NULL OR account_type < 0 THEN
            '92045: account_type must be a non-negative integer'
        ELSE pushplan._name_problem('account', account)
    END
$$;

CREATE OR REPLACE FUNCTION push_account_bind(app text, registration_id text, account text,
                                  account_type int DEFAULT 0) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_key bigint := _device_key(v_app, registration_id);
BEGIN
    PERFORM _raise_problem(_account_problem(account, account_type));
    PERFORM 1 FROM _device_account_at(v_key, v_app, registration_id, account, account_type, true);
END $$;

CREATE OR REPLACE FUNCTION push_account_unbind(app text, registration_id text, account text,
                                    account_type int DEFAULT 0) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
BEGIN
    PERFORM 1 FROM _device_account_at(_device_key(v_app, registration_id), v_app, registration_id,
                                      account, account_type, false);
END $$;

-- An account bound to a device, or unbound (92046 if it was not), on the device's shard.
-- Binding again makes this the account's most recent device. (The time is taken here: Citus
-- takes no volatile function in ON CONFLICT's SET.)
CREATE OR REPLACE FUNCTION _device_account_at(p_key bigint, p_app_id int, p_registration_id text,
                                              p_account text, p_account_type int, p_bind boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id_at(p_key, p_app_id, p_registration_id);
BEGIN
    IF p_bind THEN
        INSERT INTO device_accounts AS a (app_id, account_type, account, device_id, bound_at)
            VALUES (p_app_id, p_account_type, p_account, v_id, clock_timestamp())
            ON CONFLICT (app_id, account_type, account, device_id)
            DO UPDATE SET bound_at = excluded.bound_at;
        RETURN;
    END IF;
    DELETE FROM device_accounts a
        WHERE a.app_id = p_app_id AND a.device_id = v_id AND a.account = p_account
          AND a.account_type = p_account_type;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92046: account "%" (type %) is not bound to device "%"',
            _shown(p_account), p_account_type, _shown(p_registration_id) USING ERRCODE = '42704';
    END IF;
END $$;

CREATE OR REPLACE VIEW push_devices WITH (security_barrier) AS
    SELECT a.app, d.registration_id, d.platform, d.vendor, d.token, d.timezone, d.language,
           d.opted_in, d.registered, d.reachable, d.attrs,
           ARRAY(SELECT g.tag FROM device_tags dt JOIN tags g USING (tag_id)
                 WHERE dt.device_id = d.device_id ORDER BY g.tag) AS tags,
           ARRAY(SELECT da.account_type || ':' || da.account FROM device_accounts da
                 WHERE da.device_id = d.device_id ORDER BY da.bound_at DESC) AS accounts,
           d.last_active_at, d.token_invalidated_at, d.created_at, d.updated_at
    FROM devices d JOIN apps a USING (app_id)
    WHERE a.app_id = ANY ((SELECT _visible_apps('operator'))::int[]);
