-- Devices, consent, activity, tags, attributes and account binding.

-- Validation of registrations, tags and attributes (src/device_check.c): each returns what
-- is wrong, as "code: message", or NULL.
CREATE FUNCTION _devices_problem(devices jsonb, OUT ord int, OUT problem text)
AS 'MODULE_PATHNAME', 'pushplan_devices_problem' LANGUAGE C STABLE STRICT;
CREATE FUNCTION _tags_problem(tags text[]) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_tags_problem' LANGUAGE C IMMUTABLE;
CREATE FUNCTION _attrs_problem(attrs jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_attrs_problem' LANGUAGE C IMMUTABLE;

CREATE FUNCTION _device_id(p_app_id int, p_registration_id text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT device_id INTO v_id FROM pushplan.devices
        WHERE app_id = p_app_id AND registration_id = p_registration_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION '92039: device "%" is not registered', p_registration_id
            USING ERRCODE = '42704';
    END IF;
    RETURN v_id;
END $$;

-- Merges attribute updates: a null value removes the key. At most 50 attributes a device.
CREATE FUNCTION _attrs_merge(current jsonb, updates jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(current || updates)
$$;

-- The core of registration, for one device or a batch: validates everything first, then
-- writes with set-based statements over arrays (no per-row statements, no temp tables).
-- Returns the ids of the devices written.
CREATE FUNCTION _devices_upsert(p_app_id int, p_devices jsonb, p_batch boolean) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_err text;
    v_ord bigint;
    v_rid text[];
    v_platform text[];
    v_vendor text[];
    v_token text[];
    v_tz text[];
    v_language text[];
    v_attrs jsonb[];
    v_tags jsonb[];
    v_ids bigint[];
    v_new_rid text[];
BEGIN
    IF jsonb_typeof(p_devices) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION '92036: devices must be a JSON array of device objects'
            USING ERRCODE = '22023';
    END IF;
    IF jsonb_array_length(p_devices) > 10000 THEN
        RAISE EXCEPTION '92037: at most 10000 devices in one batch, got %',
            jsonb_array_length(p_devices) USING ERRCODE = '54000';
    END IF;

    SELECT ord, problem INTO v_ord, v_err FROM _devices_problem(p_devices);
    IF v_err IS NOT NULL THEN
        IF p_batch THEN
            v_err := v_err || format(' (device %s of the batch)', v_ord);
        END IF;
        RAISE EXCEPTION USING MESSAGE = v_err, ERRCODE = '22023';
    END IF;

    -- The last entry for a registration_id wins.
    SELECT array_agg(rid ORDER BY rid), array_agg(platform ORDER BY rid),
           array_agg(vendor ORDER BY rid), array_agg(token ORDER BY rid),
           array_agg(tz ORDER BY rid), array_agg(language ORDER BY rid),
           array_agg(attrs ORDER BY rid), array_agg(tags ORDER BY rid)
      INTO v_rid, v_platform, v_vendor, v_token, v_tz, v_language, v_attrs, v_tags
      FROM (SELECT DISTINCT ON (d->>'registration_id')
                   d->>'registration_id' AS rid, d->>'platform' AS platform,
                   d->>'vendor' AS vendor, d->>'token' AS token,
                   pushplan.canonical_timezone(coalesce(d->>'timezone', 'UTC')) AS tz,
                   d->>'language' AS language, coalesce(d->'attrs', '{}') AS attrs,
                   d->'tags' AS tags
            FROM jsonb_array_elements(p_devices) WITH ORDINALITY e(d, ord)
            ORDER BY d->>'registration_id', ord DESC) s;
    IF v_rid IS NULL THEN
        RETURN '{}';
    END IF;

    SELECT token INTO v_err FROM unnest(v_vendor, v_token) u(vendor, token)
        GROUP BY vendor, token HAVING count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '92029: token "%" is given to more than one device of the batch', v_err
            USING ERRCODE = '22023';
    END IF;

    -- A token that moved to another registration (app reinstalled) leaves the old one.
    -- (LATERAL keeps this an index probe per device whatever the statistics say.)
    UPDATE pushplan.devices d SET token = NULL, updated_at = now()
        WHERE d.device_id IN (
            SELECT o.device_id FROM unnest(v_rid, v_vendor, v_token) r(rid, vendor, token),
                LATERAL (SELECT x.device_id FROM pushplan.devices x
                         WHERE x.app_id = p_app_id AND x.vendor = r.vendor AND x.token = r.token
                           AND x.registration_id <> r.rid) o);

    -- attrs go in as given; a null value removes a key from what the device had.
    WITH up AS (
        INSERT INTO pushplan.devices AS d
               (app_id, registration_id, platform, vendor, token, timezone, language, attrs)
        SELECT p_app_id, r.* FROM unnest(v_rid, v_platform, v_vendor, v_token, v_tz, v_language,
                                         v_attrs) r
        ON CONFLICT (app_id, registration_id) DO UPDATE SET
            platform = excluded.platform, vendor = excluded.vendor, token = excluded.token,
            timezone = excluded.timezone, language = excluded.language, registered = true,
            attrs = jsonb_strip_nulls(d.attrs || excluded.attrs),
            token_invalidated_at = CASE WHEN d.token IS NOT DISTINCT FROM excluded.token
                                        THEN d.token_invalidated_at END,
            updated_at = now()
        RETURNING d.registration_id, d.device_id, d.attrs
    )
    SELECT array_agg(device_id ORDER BY registration_id),
           array_agg(registration_id) FILTER (WHERE attrs <> '{}' AND (attrs <> jsonb_strip_nulls(attrs)
                                              OR (SELECT count(*) FROM jsonb_object_keys(attrs)) > 50))
      INTO v_ids, v_new_rid FROM up;
    IF v_new_rid IS NOT NULL THEN
        -- new devices keep no null-valued keys; no device holds more than 50 attributes
        UPDATE pushplan.devices SET attrs = jsonb_strip_nulls(attrs)
            WHERE app_id = p_app_id AND registration_id = ANY (v_new_rid);
        IF EXISTS (SELECT 1 FROM pushplan.devices WHERE app_id = p_app_id
                   AND registration_id = ANY (v_new_rid)
                   AND (SELECT count(*) FROM jsonb_object_keys(attrs)) > 50) THEN
            RAISE EXCEPTION '90033: a device has at most 50 attributes' USING ERRCODE = '54000';
        END IF;
    END IF;

    IF EXISTS (SELECT 1 FROM unnest(v_tags) t WHERE jsonb_array_length(coalesce(t, '[]')) > 0) THEN
        INSERT INTO pushplan.tags (app_id, tag)
            SELECT DISTINCT p_app_id, u.t
            FROM unnest(v_tags) r(tags), jsonb_array_elements_text(coalesce(r.tags, '[]')) u(t)
            ON CONFLICT (app_id, tag) DO NOTHING;
        INSERT INTO pushplan.device_tags (tag_id, device_id)
            SELECT DISTINCT g.tag_id, r.device_id
            FROM unnest(v_ids, v_tags) r(device_id, tags),
                 jsonb_array_elements_text(coalesce(r.tags, '[]')) u(t)
                 JOIN pushplan.tags g ON g.app_id = p_app_id AND g.tag = u.t
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN v_ids;
END $$;

CREATE FUNCTION push_device_register(app text, registration_id text, platform text, vendor text,
                                     token text, timezone text DEFAULT 'UTC',
                                     language text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app);
BEGIN
    RETURN (_devices_upsert(v_app, jsonb_build_array(jsonb_build_object(
        'registration_id', registration_id, 'platform', platform, 'vendor', vendor,
        'token', token, 'timezone', coalesce(timezone, 'UTC'), 'language', language)), false))[1];
END $$;

CREATE FUNCTION push_device_register_batch(app text, devices jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
BEGIN
    RETURN cardinality(_devices_upsert(_app_id(app), devices, true));
END $$;
COMMENT ON FUNCTION push_device_register_batch(text, jsonb) IS
    'registers up to 10000 devices at once: [{"registration_id", "platform", "vendor", "token", "timezone", "language", "tags": [...], "attrs": {...}}]';

CREATE FUNCTION push_device_unregister(app text, registration_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id(_app_id(app), registration_id);
BEGIN
    UPDATE devices d SET registered = false, updated_at = now() WHERE d.device_id = v_id;
END $$;

CREATE FUNCTION push_device_opt(app text, registration_id text, opted_in boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id(_app_id(app), registration_id);
BEGIN
    IF opted_in IS NULL THEN
        RAISE EXCEPTION '92042: opted_in must be true or false' USING ERRCODE = '22023';
    END IF;
    UPDATE devices d SET opted_in = push_device_opt.opted_in, updated_at = now()
        WHERE d.device_id = v_id;
END $$;

CREATE FUNCTION push_device_activity(app text, registration_id text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id(_app_id(app), registration_id);
BEGIN
    IF at IS NULL OR at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION '92043: activity time must be given and not in the future'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO device_activity (device_id, at) VALUES (v_id, at);
    UPDATE devices d SET last_active_at = greatest(d.last_active_at, push_device_activity.at)
        WHERE d.device_id = v_id;
END $$;

CREATE FUNCTION push_tag_add(app text, registration_id text, VARIADIC tags text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app);
    v_id bigint := _device_id(v_app, registration_id);
    v_err text := _tags_problem(tags);
BEGIN
    IF v_err IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = v_err, ERRCODE = '22023';
    END IF;
    INSERT INTO pushplan.tags (app_id, tag) SELECT DISTINCT v_app, t FROM unnest(tags) t
        ON CONFLICT (app_id, tag) DO NOTHING;
    INSERT INTO device_tags (tag_id, device_id)
        SELECT g.tag_id, v_id FROM pushplan.tags g WHERE g.app_id = v_app AND g.tag = ANY (tags)
        ON CONFLICT DO NOTHING;
END $$;

CREATE FUNCTION push_tag_remove(app text, registration_id text, VARIADIC tags text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app);
    v_id bigint := _device_id(v_app, registration_id);
    v_err text := _tags_problem(tags);
BEGIN
    IF v_err IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = v_err, ERRCODE = '22023';
    END IF;
    DELETE FROM device_tags dt USING pushplan.tags g
        WHERE dt.device_id = v_id AND dt.tag_id = g.tag_id
          AND g.app_id = v_app AND g.tag = ANY (tags);
END $$;

CREATE FUNCTION push_attr_set(app text, registration_id text, attrs jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id(_app_id(app), registration_id);
    v_err text := _attrs_problem(attrs);
    v_merged jsonb;
BEGIN
    IF v_err IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = v_err, ERRCODE = '22023';
    END IF;
    SELECT _attrs_merge(d.attrs, push_attr_set.attrs) INTO v_merged FROM devices d
        WHERE d.device_id = v_id;
    IF (SELECT count(*) FROM jsonb_object_keys(v_merged)) > 50 THEN
        RAISE EXCEPTION '90033: a device has at most 50 attributes' USING ERRCODE = '54000';
    END IF;
    UPDATE devices d SET attrs = v_merged, updated_at = now() WHERE d.device_id = v_id;
END $$;

CREATE FUNCTION _account_problem(account text, account_type int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN account IS NULL OR char_length(account) NOT BETWEEN 2 AND 100 THEN
            '92044: an account must be 2 to 100 characters'
        WHEN account_type IS NULL OR account_type < 0 THEN
            '92045: account_type must be a non-negative integer'
    END
$$;

CREATE FUNCTION push_account_bind(app text, registration_id text, account text,
                                  account_type int DEFAULT 0) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app);
    v_id bigint := _device_id(v_app, registration_id);
    v_err text := _account_problem(account, account_type);
BEGIN
    IF v_err IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = v_err, ERRCODE = '22023';
    END IF;
    -- Binding again makes this the account's most recent device.
    INSERT INTO device_accounts AS a (app_id, account_type, account, device_id)
        VALUES (v_app, push_account_bind.account_type, push_account_bind.account, v_id)
        ON CONFLICT (app_id, account_type, account, device_id)
        DO UPDATE SET bound_at = clock_timestamp();
END $$;

CREATE FUNCTION push_account_unbind(app text, registration_id text, account text,
                                    account_type int DEFAULT 0) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app);
    v_id bigint := _device_id(v_app, registration_id);
BEGIN
    DELETE FROM device_accounts a
        WHERE a.app_id = v_app AND a.device_id = v_id AND a.account = push_account_unbind.account
          AND a.account_type = push_account_unbind.account_type;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92046: account "%" (type %) is not bound to device "%"',
            account, account_type, registration_id USING ERRCODE = '42704';
    END IF;
END $$;

CREATE VIEW push_devices AS
    SELECT a.app, d.registration_id, d.platform, d.vendor, d.token, d.timezone, d.language,
           d.opted_in, d.registered, d.reachable, d.attrs,
           ARRAY(SELECT g.tag FROM device_tags dt JOIN tags g USING (tag_id)
                 WHERE dt.device_id = d.device_id ORDER BY g.tag) AS tags,
           ARRAY(SELECT da.account_type || ':' || da.account FROM device_accounts da
                 WHERE da.device_id = d.device_id ORDER BY da.bound_at DESC) AS accounts,
           d.last_active_at, d.token_invalidated_at, d.created_at, d.updated_at
    FROM devices d JOIN apps a USING (app_id);
