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

-- A device's id by its registration id, or 92039.
CREATE OR REPLACE FUNCTION _device_id(p_app_id int, p_registration_id text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id bigint;
    v_key bigint;
BEGIN
    IF pushplan._registry_distributed() THEN
        -- one shard: the id is the key of the registration (doc/scale-out.md), given to the
        -- statement as a value (a generic plan of a caller's is routed by it; not by the call
        -- that computes it: "could not create distributed plan")
        v_key := pushplan._device_key(p_app_id, p_registration_id);
        SELECT device_id INTO v_id FROM pushplan.devices
            WHERE device_id = v_key
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
    v_moved bigint[];
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
    IF v_watched THEN
        SELECT array_agg(d.device_id), array_agg(d.attrs) INTO v_old_ids, v_old_attrs
          FROM (SELECT d.device_id, d.attrs FROM pushplan.devices d
                WHERE d.device_id = ANY (v_keys) AND d.app_id = p_app_id
                  AND d.registration_id = ANY (v_rid)
                ORDER BY d.device_id FOR NO KEY UPDATE) d;
    END IF;

    -- A token that moved to another registration (app reinstalled) leaves the old one.
    IF v_distributed THEN
        -- (Citus does not push a self-join down; each shard probes its token index instead)
        UPDATE pushplan.devices d SET token = NULL, updated_at = now()
          FROM unnest(v_rid, v_vendor, v_token) r(rid, vendor, token)
         WHERE d.app_id = p_app_id AND d.token = r.token AND d.vendor = r.vendor
           AND d.registration_id <> r.rid;
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
        WITH r AS (
            SELECT * FROM unnest(v_rid, v_platform, v_vendor, v_token, v_tz, v_language,
                                 v_attrs, v_new_attrs)
                r(rid, platform, vendor, token, tz, language, attrs, new_attrs)
        ), up AS (
            -- Existing devices: attrs merge into what the device had, a null value removing a
            -- key. New devices: attrs as given, less null values.
            UPDATE pushplan.devices d SET
                platform = r.platform, vendor = r.vendor, token = r.token,
                timezone = r.tz, language = r.language, registered = true,
                attrs = CASE WHEN r.attrs = '{}' THEN d.attrs
                             ELSE jsonb_strip_nulls(d.attrs || r.attrs) END,
                token_invalidated_at = CASE WHEN d.token IS NOT DISTINCT FROM r.token
                                            THEN d.token_invalidated_at END,
                updated_at = now()
            FROM r
            WHERE d.device_id = ANY (v_keys) AND d.app_id = p_app_id
              AND d.registration_id = r.rid
            RETURNING d.registration_id, d.device_id, _attrs_count(d.attrs) > 50 AS too_many
        ), ins AS (
            -- (the distributed registry's ids are keys of the registration, and its only unique
            -- key is the id: doc/scale-out.md)
            INSERT INTO pushplan.devices
                   (device_id, app_id, registration_id, platform, vendor, token, timezone, language, attrs)
            SELECT CASE WHEN v_distributed THEN _device_key(p_app_id, r.rid)
                        ELSE nextval('pushplan.devices_device_id_seq') END,
                   p_app_id, r.rid, r.platform, r.vendor, r.token, r.tz, r.language, r.new_attrs
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
               v_any_old OR coalesce(bool_or(NOT is_new), false),
               v_too_many OR coalesce(bool_or(too_many), false)
          INTO v_pass_rid, v_pass_ids, v_pass_new, v_any_old, v_too_many
          FROM done;
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
        PERFORM _flow_attrs_changed(p_app_id, v_ids,
            ARRAY(SELECT o.attrs FROM unnest(v_ids) WITH ORDINALITY i(id, n)
                  LEFT JOIN unnest(v_old_ids, v_old_attrs) o(id, attrs) ON o.id = i.id
                  ORDER BY i.n));
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
    v_now timestamptz := now();     -- Citus: no STABLE function in ON CONFLICT's SET
BEGIN
    IF _registry_distributed() THEN
        -- The same, in two statements (Citus runs a modifying CTE over many shards only apart
        -- from a single-shard one): the token's old registration, wherever it is, then the one
        -- shard the registration's key names. A key another registration holds updates nothing.
        UPDATE devices o SET token = NULL, updated_at = now()
         WHERE o.app_id = v_app AND o.token = v_token
           AND o.vendor = push_device_register.vendor
           AND o.registration_id <> push_device_register.registration_id;
        INSERT INTO devices AS d (device_id, app_id, registration_id, platform, vendor, token,
                                  timezone, language)
        VALUES (_device_key(v_app, push_device_register.registration_id), v_app,
                push_device_register.registration_id, push_device_register.platform,
                push_device_register.vendor, v_token, v_tz, push_device_register.language)
        ON CONFLICT (device_id) DO UPDATE SET
            platform = excluded.platform, vendor = excluded.vendor, token = excluded.token,
            timezone = excluded.timezone, language = excluded.language, registered = true,
            token_invalidated_at = CASE WHEN d.token IS NOT DISTINCT FROM excluded.token
                                        THEN d.token_invalidated_at END,
            updated_at = v_now
          WHERE d.app_id = excluded.app_id AND d.registration_id = excluded.registration_id
        RETURNING d.device_id INTO v_id;
        IF v_id IS NULL THEN
            PERFORM _device_key_taken(v_app, push_device_register.registration_id);
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

CREATE OR REPLACE FUNCTION push_device_register_batch(app text, devices jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
BEGIN
    RETURN cardinality(_devices_upsert(_app_id(app, 'app'), devices, true));
END $$;
COMMENT ON FUNCTION push_device_register_batch(text, jsonb) IS
    'registers up to 10000 devices at once: [{"registration_id", "platform", "vendor", "token", "timezone", "language", "tags": [...], "attrs": {...}}]';

CREATE OR REPLACE FUNCTION push_device_unregister(app text, registration_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id(_app_id(app, 'app'), registration_id);
BEGIN
    UPDATE devices d SET registered = false, updated_at = now() WHERE d.device_id = v_id;
END $$;

CREATE OR REPLACE FUNCTION push_device_opt(app text, registration_id text, opted_in boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id(_app_id(app, 'app'), registration_id);
BEGIN
    IF opted_in IS NULL THEN
        RAISE EXCEPTION '92042: opted_in must be true or false' USING ERRCODE = '22023';
    END IF;
    UPDATE devices d SET opted_in = push_device_opt.opted_in, updated_at = now()
        WHERE d.device_id = v_id;
END $$;

CREATE OR REPLACE FUNCTION push_device_activity(app text, registration_id text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id(_app_id(app, 'app'), registration_id);
BEGIN
    -- a few minutes ahead is a device's clock; a year back is no longer activity
    IF at IS NULL OR at NOT BETWEEN now() - interval '1 year' AND now() + interval '5 minutes' THEN
        RAISE EXCEPTION '92043: activity time must be given, within the last year and not in the future'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO device_activity (device_id, at) VALUES (v_id, at);
    UPDATE devices d SET last_active_at = greatest(d.last_active_at, push_device_activity.at)
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
    v_id bigint := _device_id(v_app, registration_id);
BEGIN
    PERFORM _raise_problem(_tags_problem(tags));
    INSERT INTO pushplan.tags (app_id, tag) SELECT DISTINCT v_app, t FROM unnest(tags) t
        ON CONFLICT (app_id, tag) DO NOTHING;
    INSERT INTO device_tags (tag_id, device_id)
        SELECT g.tag_id, v_id FROM pushplan.tags g WHERE g.app_id = v_app AND g.tag = ANY (tags)
        ON CONFLICT DO NOTHING;
END $$;

CREATE OR REPLACE FUNCTION push_tag_remove(app text, registration_id text, VARIADIC tags text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_id bigint := _device_id(v_app, registration_id);
BEGIN
    PERFORM _raise_problem(_tags_problem(tags));
    DELETE FROM device_tags dt USING pushplan.tags g
        WHERE dt.device_id = v_id AND dt.tag_id = g.tag_id
          AND g.app_id = v_app AND g.tag = ANY (tags);
END $$;

CREATE OR REPLACE FUNCTION push_attr_set(app text, registration_id text, attrs jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_id bigint := _device_id(v_app, registration_id);
    v_merged jsonb;
    v_old jsonb;
BEGIN
    PERFORM _raise_problem(_attrs_problem(attrs));
    -- (locked: the attr_change flows compare with what the update replaces)
    SELECT d.attrs, _attrs_merge(d.attrs, push_attr_set.attrs) INTO v_old, v_merged FROM devices d
        WHERE d.device_id = v_id FOR NO KEY UPDATE;
    IF (SELECT count(*) FROM jsonb_object_keys(v_merged)) > 50 THEN
        RAISE EXCEPTION '90033: a device has at most 50 attributes' USING ERRCODE = '54000';
    END IF;
    UPDATE devices d SET attrs = v_merged, updated_at = now() WHERE d.device_id = v_id;
    IF v_merged IS DISTINCT FROM v_old THEN
        PERFORM _flow_attrs_changed(v_app, ARRAY[v_id], ARRAY[v_old]);    -- 89_flow_triggers.sql
    END IF;
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
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app, 'app');
    v_id bigint := _device_id(v_app, registration_id);
BEGIN
    PERFORM _raise_problem(_account_problem(account, account_type));
    -- Binding again makes this the account's most recent device. (The time is taken here:
    -- Citus takes no volatile function in ON CONFLICT's SET.)
    INSERT INTO device_accounts AS a (app_id, account_type, account, device_id, bound_at)
        VALUES (v_app, push_account_bind.account_type, push_account_bind.account, v_id,
                clock_timestamp())
        ON CONFLICT (app_id, account_type, account, device_id)
        DO UPDATE SET bound_at = excluded.bound_at;
END $$;

CREATE OR REPLACE FUNCTION push_account_unbind(app text, registration_id text, account text,
                                    account_type int DEFAULT 0) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_id bigint := _device_id(v_app, registration_id);
BEGIN
    DELETE FROM device_accounts a
        WHERE a.app_id = v_app AND a.device_id = v_id AND a.account = push_account_unbind.account
          AND a.account_type = push_account_unbind.account_type;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92046: account "%" (type %) is not bound to device "%"',
            _shown(account), account_type, _shown(registration_id) USING ERRCODE = '42704';
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
