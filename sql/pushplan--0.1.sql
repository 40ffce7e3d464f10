-- pushplan: the data model. Every object belongs to one app (the tenant).
-- Internal tables use integer keys (app_id, device_id, tag_id); the SQL API speaks the
-- users' text names and translates once per call.

\echo Use "CREATE EXTENSION pushplan" to load this file. \quit

CREATE TABLE apps (
    app_id      serial PRIMARY KEY,
    app         text NOT NULL UNIQUE,
    name        text,
    settings    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE apps IS 'tenants: one mobile or web application each (the seeds'' appKey / SdkAppID)';

-- Vendor credentials. Never granted to the reader or app roles.
CREATE TABLE vendor_configs (
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    vendor      text NOT NULL,
    config      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, vendor)
);

CREATE TABLE devices (
    device_id       bigserial PRIMARY KEY,
    app_id          int NOT NULL REFERENCES apps ON DELETE CASCADE,
    -- Registration ids and tokens are opaque identifiers: bytewise comparison ("C") makes every
    -- index probe and insertion a memcmp instead of a locale-aware strcoll.
    registration_id text COLLATE "C" NOT NULL,
    platform        text NOT NULL,
    vendor          text NOT NULL,
    token           text COLLATE "C",           -- NULL once the vendor said it is invalid
    timezone        text NOT NULL DEFAULT 'UTC',-- canonical IANA name
    language        text,
    attrs           jsonb NOT NULL DEFAULT '{}',
    opted_in        boolean NOT NULL DEFAULT true,
    registered      boolean NOT NULL DEFAULT true, -- false after push_device_unregister
    -- the one predicate every audience applies; stored so a partial index can hold its complement
    reachable       boolean GENERATED ALWAYS AS
                        (opted_in AND registered AND token IS NOT NULL) STORED,
    token_invalidated_at timestamptz,
    last_active_at  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, registration_id)
);
-- Tokens are looked up per app (audiences by token; a token moving to another registration,
-- which then checks the vendor).
CREATE INDEX devices_token_idx ON devices (app_id, token);
CREATE INDEX devices_attrs_idx ON devices USING gin (attrs jsonb_path_ops);
-- Few devices are unreachable; audiences subtract this small set instead of joining every match
-- back to devices.
CREATE INDEX devices_unreachable_idx ON devices (app_id, device_id) WHERE NOT reachable;

-- Visits, the history behind intelligent (smart) send times.
CREATE TABLE device_activity (
    device_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    at          timestamptz NOT NULL
);
CREATE INDEX device_activity_device_idx ON device_activity (device_id, at);

-- Tags: a per-app dictionary and a (tag_id, device_id) membership table, so tag audiences are
-- index-only scans and merge joins on integers.
CREATE TABLE tags (
    tag_id      serial PRIMARY KEY,
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    tag         text NOT NULL,
    UNIQUE (app_id, tag)
);
-- No foreign keys here: bulk registration writes tens of thousands of memberships a call and
-- the per-row RI triggers would triple its cost. Only the API functions write this table, with
-- ids they just read, and devices are never deleted (unregistering keeps them).
CREATE TABLE device_tags (
    tag_id      int NOT NULL,
    device_id   bigint NOT NULL,
    PRIMARY KEY (tag_id, device_id)
);
CREATE INDEX device_tags_device_idx ON device_tags (device_id);

-- Account binding (the seeds' account / account_type); bound_at orders an account's devices,
-- most recent first, for account_push_type 0.
CREATE TABLE device_accounts (
    app_id       int NOT NULL REFERENCES apps ON DELETE CASCADE,
    account_type int NOT NULL,
    account      text NOT NULL,
    device_id    bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    bound_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (app_id, account_type, account, device_id)
);
CREATE INDEX device_accounts_device_idx ON device_accounts (device_id);

-- Push plans (campaigns). Each app has a default plan that can be neither edited nor deleted.
CREATE TABLE plans (
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    plan_id     text NOT NULL,
    description text,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, plan_id)
);

-- Push tasks: one per push_send or schedule run. The scheduler expands a task's audience into
-- deliveries; senders deliver them. state: queued (waiting for send_at, then expansion) ->
-- sending -> done, or cancelled.
CREATE TABLE tasks (
    task_id     text PRIMARY KEY,
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    plan_id     text NOT NULL,
    dialect     text NOT NULL DEFAULT 'engagelab',
    request_id  text,                   -- idempotency key (EngageLab request_id)
    msg_random  bigint,                 -- idempotency key within one second (Tencent IM MsgRandom)
    msg_second  bigint,                 -- ... that second, as Unix time
    push        jsonb NOT NULL,         -- the normalized push (doc/push.md)
    broadcast   boolean NOT NULL DEFAULT false, -- all / tag / attribute audience: counts for the quota
    state       text NOT NULL DEFAULT 'queued',
    send_at     timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,            -- send_at + time_to_live: later deliveries expire
    targeted    bigint,                 -- deliveries made so far; all of them once expanded
    expanded    boolean NOT NULL DEFAULT false, -- every delivery of the audience exists
    expanded_upto bigint,               -- expansion runs in batches by device_id: the last one done
    spread_total bigint,                -- audience size, counted first when big_push_duration spreads it
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    FOREIGN KEY (app_id, plan_id) REFERENCES plans,
    UNIQUE (app_id, request_id)
);
CREATE UNIQUE INDEX tasks_msg_random_idx ON tasks (app_id, msg_random, msg_second)
    WHERE msg_random IS NOT NULL;
CREATE INDEX tasks_due_idx ON tasks (send_at) WHERE state = 'queued';
CREATE INDEX tasks_broadcast_idx ON tasks (app_id, created_at) WHERE broadcast;
CREATE INDEX tasks_plan_idx ON tasks (app_id, plan_id);

-- Uploaded account packages (seed: push to accounts). Accounts are de-duplicated on upload.
CREATE TABLE account_packages (
    upload_id     bigserial PRIMARY KEY,
    app_id        int NOT NULL REFERENCES apps ON DELETE CASCADE,
    filename      text NOT NULL,
    account_type  int NOT NULL,
    account_count bigint NOT NULL,
    byte_size     bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE account_package_accounts (
    upload_id   bigint NOT NULL REFERENCES account_packages ON DELETE CASCADE,
    account     text NOT NULL,
    PRIMARY KEY (upload_id, account)
);
-- Apps (tenants) and vendor credentials.

-- Internal: the app's id, or error 92001. Every API function starts here.
CREATE FUNCTION _app_id(p_app text) RETURNS int
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id int;
BEGIN
    SELECT app_id INTO v_id FROM pushplan.apps WHERE app = p_app;
    IF v_id IS NULL THEN
        RAISE EXCEPTION '92001: app "%" does not exist', p_app USING ERRCODE = '42704';
    END IF;
    RETURN v_id;
END $$;

CREATE FUNCTION canonical_timezone(text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_canonical_timezone' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION canonical_timezone(text) IS
    'the canonical IANA spelling of a time zone name, or NULL when it names no zone';

CREATE FUNCTION push_app_create(app text, name text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id int;
BEGIN
    IF app IS NULL OR app !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
        RAISE EXCEPTION '92002: app name must be 1 to 64 characters of A-Z a-z 0-9 _ . -'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO apps (app, name) VALUES (app, name)
        ON CONFLICT DO NOTHING RETURNING app_id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION '92003: app "%" already exists', app USING ERRCODE = '23505';
    END IF;
    INSERT INTO plans (app_id, plan_id, description, is_default)
        VALUES (v_id, 'default', 'default plan', true);
END $$;

-- Settings known to the platform, and the jsonb type each must have.
CREATE FUNCTION _app_setting_types() RETURNS TABLE(key text, type text)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('timezone', 'string'), ('broadcast_daily_limit', 'number'),
           ('broadcast_min_interval', 'string'), ('frequency_cap', 'object'),
           ('quiet_hours', 'object')
$$;

CREATE FUNCTION push_app_set(app text, settings jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id int := _app_id(app);
    r record;
    v_merged jsonb;
BEGIN
    IF settings IS NULL OR jsonb_typeof(settings) <> 'object' THEN
        RAISE EXCEPTION '92004: settings must be a JSON object' USING ERRCODE = '22023';
    END IF;
    FOR r IN SELECT e.key, e.value, t.type FROM jsonb_each(settings) e
             LEFT JOIN _app_setting_types() t USING (key) ORDER BY e.key LOOP
        IF r.type IS NULL THEN
            RAISE EXCEPTION '92005: unknown app setting "%"', r.key USING ERRCODE = '22023';
        ELSIF jsonb_typeof(r.value) = 'null' THEN
            CONTINUE;                                   -- null resets to the default
        ELSIF jsonb_typeof(r.value) <> r.type THEN
            RAISE EXCEPTION '92006: app setting "%" must be a JSON %', r.key, r.type
                USING ERRCODE = '22023';
        END IF;
        CASE r.key
        WHEN 'timezone' THEN
            IF canonical_timezone(r.value #>> '{}') IS NULL THEN
                RAISE EXCEPTION '92015: unknown time zone "%"', r.value #>> '{}'
                    USING ERRCODE = '22023';
            END IF;
        WHEN 'broadcast_daily_limit' THEN
            IF (r.value)::numeric <> trunc((r.value)::numeric) OR (r.value)::numeric < 0
               OR (r.value)::numeric > 1000000 THEN
                RAISE EXCEPTION '92007: broadcast_daily_limit must be an integer from 0 to 1000000'
                    USING ERRCODE = '22023';
            END IF;
        WHEN 'broadcast_min_interval' THEN
            BEGIN
                IF (r.value #>> '{}')::interval < interval '0' THEN
                    RAISE invalid_datetime_format;
                END IF;
            EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow
                           OR interval_field_overflow THEN
                RAISE EXCEPTION '92008: broadcast_min_interval must be a non-negative interval such as "1 second"'
                    USING ERRCODE = '22023';
            END;
        WHEN 'frequency_cap' THEN
            IF EXISTS (SELECT 1 FROM jsonb_each(r.value) f
                       WHERE f.key NOT IN ('per_day', 'per_week')
                          OR jsonb_typeof(f.value) <> 'number'
                          OR (f.value)::numeric < 0
                          OR (f.value)::numeric <> trunc((f.value)::numeric)) THEN
                RAISE EXCEPTION '92009: frequency_cap takes non-negative integers "per_day" and "per_week"'
                    USING ERRCODE = '22023';
            END IF;
        WHEN 'quiet_hours' THEN
            IF (SELECT count(*) FROM jsonb_object_keys(r.value)) <> 2
               OR NOT (r.value ? 'from' AND r.value ? 'to')
               OR coalesce(r.value->>'from', '') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
               OR coalesce(r.value->>'to', '') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN
                RAISE EXCEPTION '92010: quiet_hours must be {"from": "HH:MM", "to": "HH:MM"}'
                    USING ERRCODE = '22023';
            END IF;
        END CASE;
    END LOOP;
    UPDATE apps a SET settings = jsonb_strip_nulls(a.settings || push_app_set.settings)
        WHERE a.app_id = v_id;
END $$;

-- Vendors, and the configuration keys each takes: required (true) or optional (false).
CREATE FUNCTION _vendor_keys() RETURNS TABLE(vendor text, key text, required boolean)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('apns', 'team_id', true), ('apns', 'key_id', true), ('apns', 'private_key', true),
           ('apns', 'bundle_id', true), ('apns', 'endpoint', false),
           ('fcm', 'service_account', true), ('fcm', 'endpoint', false),
           ('hms', 'app_id', true), ('hms', 'client_secret', true),
           ('hms', 'token_endpoint', false), ('hms', 'endpoint', false),
           ('honor', 'app_id', true), ('honor', 'client_id', true), ('honor', 'client_secret', true),
           ('honor', 'endpoint', false), ('honor', 'token_endpoint', false),
           ('oppo', 'app_key', true), ('oppo', 'master_secret', true), ('oppo', 'endpoint', false),
           ('vivo', 'app_id', true), ('vivo', 'app_key', true), ('vivo', 'app_secret', true),
           ('vivo', 'endpoint', false),
           ('xiaomi', 'app_secret', true), ('xiaomi', 'package_name', true), ('xiaomi', 'endpoint', false),
           ('meizu', 'app_id', true), ('meizu', 'app_secret', true), ('meizu', 'endpoint', false),
           ('webpush', 'vapid_public_key', true), ('webpush', 'vapid_private_key', true),
           ('webpush', 'subject', true),
           ('webhook', 'url', true), ('webhook', 'secret', true)
$$;

CREATE FUNCTION push_vendor_set(app text, vendor text, config jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_id int := _app_id(app);
    v_key text;
    v_sa jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM _vendor_keys() k WHERE k.vendor = push_vendor_set.vendor) THEN
        RAISE EXCEPTION '92020: unknown vendor "%"', vendor USING ERRCODE = '22023'
            , HINT = 'vendors: apns, fcm, hms, honor, oppo, vivo, xiaomi, meizu, webpush, webhook';
    END IF;
    IF config IS NULL OR jsonb_typeof(config) <> 'object' THEN
        RAISE EXCEPTION '92021: vendor config must be a JSON object' USING ERRCODE = '22023';
    END IF;
    SELECT e.key INTO v_key FROM jsonb_object_keys(config) e(key)
        WHERE NOT EXISTS (SELECT 1 FROM _vendor_keys() k
                          WHERE k.vendor = push_vendor_set.vendor AND k.key = e.key)
        ORDER BY 1 LIMIT 1;
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '92022: unknown key "%" in % config', v_key, vendor USING ERRCODE = '22023';
    END IF;
    SELECT k.key INTO v_key FROM _vendor_keys() k
        WHERE k.vendor = push_vendor_set.vendor AND k.required AND NOT config ? k.key
        ORDER BY 1 LIMIT 1;
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '92023: missing key "%" in % config', v_key, vendor USING ERRCODE = '22023';
    END IF;
    -- Every value is a non-empty string, but for FCM's service account (the downloaded JSON).
    SELECT e.key INTO v_key FROM jsonb_each(config) e
        WHERE NOT (vendor = 'fcm' AND e.key = 'service_account')
          AND (jsonb_typeof(e.value) <> 'string' OR e.value #>> '{}' = '')
        ORDER BY 1 LIMIT 1;
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '92024: "%" in % config must be a non-empty string', v_key, vendor
            USING ERRCODE = '22023';
    END IF;
    SELECT e.key INTO v_key FROM jsonb_each_text(config) e
        WHERE e.key IN ('endpoint', 'token_endpoint', 'url') AND e.value !~ '^https?://[^/\s]+'
        ORDER BY 1 LIMIT 1;
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '92025: "%" in % config must be an http:// or https:// URL', v_key, vendor
            USING ERRCODE = '22023';
    END IF;
    -- Keys are checked now, not at the first send (src/jwt.c: 924xx codes).
    IF vendor = 'apns' THEN
        v_key := _pem_key_check(config->>'private_key', 'ec_p256');
        IF v_key IS NOT NULL THEN
            RAISE EXCEPTION USING MESSAGE = v_key, ERRCODE = '22023',
                DETAIL = 'in the apns config, key "private_key" (the .p8 file''s text)';
        END IF;
    END IF;
    IF vendor = 'fcm' THEN
        v_sa := config->'service_account';
        IF jsonb_typeof(v_sa) = 'string' THEN       -- the file's text, pasted as a string
            BEGIN
                v_sa := (v_sa #>> '{}')::jsonb;
            EXCEPTION WHEN invalid_text_representation THEN
                v_sa := NULL;
            END;
        END IF;
        IF jsonb_typeof(v_sa) IS DISTINCT FROM 'object'
           OR NOT v_sa ?& ARRAY['project_id', 'client_email', 'private_key', 'token_uri'] THEN
            RAISE EXCEPTION '92027: fcm service_account must be the service-account JSON with project_id, client_email, private_key and token_uri'
                USING ERRCODE = '22023';
        END IF;
        v_key := _pem_key_check(v_sa->>'private_key', 'rsa');
        IF v_key IS NOT NULL THEN
            RAISE EXCEPTION USING MESSAGE = v_key, ERRCODE = '22023',
                DETAIL = 'in the fcm config, key "service_account" -> "private_key"';
        END IF;
        config := jsonb_set(config, '{service_account}', v_sa);
    END IF;
    INSERT INTO vendor_configs AS c (app_id, vendor, config) VALUES (v_id, push_vendor_set.vendor, push_vendor_set.config)
        ON CONFLICT (app_id, vendor) DO UPDATE SET config = excluded.config, updated_at = now();
END $$;

-- What operators may see of vendor configuration: which vendors are set, never the secrets.
CREATE VIEW push_vendors AS
    SELECT a.app, c.vendor, c.config->>'endpoint' AS endpoint, c.updated_at
    FROM vendor_configs c JOIN apps a USING (app_id);
-- Devices, consent, activity, tags, attributes and account binding.

-- Validation of registrations, tags and attributes (src/device_check.c): each returns what
-- is wrong, as "code: message", or NULL.
CREATE FUNCTION _devices_problem(devices jsonb, OUT ord int, OUT problem text)
AS 'MODULE_PATHNAME', 'pushplan_devices_problem' LANGUAGE C STABLE STRICT;
CREATE FUNCTION _tags_problem(tags text[]) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_tags_problem' LANGUAGE C IMMUTABLE;
CREATE FUNCTION _attrs_problem(attrs jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_attrs_problem' LANGUAGE C IMMUTABLE;

-- Raises a "code: message" problem (from the checks above) as an invalid-parameter error.
CREATE FUNCTION _raise_problem(problem text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = problem, ERRCODE = '22023';
    END IF;
END $$;

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

-- A registration batch checked and taken apart in one pass (src/device_check.c): raises the
-- first problem; returns arrays ordered by registration_id, one entry per registration_id (the
-- last of the batch wins), tags as (index into those arrays, tag) pairs.
CREATE FUNCTION _devices_decompose(devices jsonb, batch boolean,
    OUT rid text[], OUT platform text[], OUT vendor text[], OUT token text[],
    OUT timezone text[], OUT language text[], OUT attrs jsonb[], OUT new_attrs jsonb[],
    OUT tag_dev int[], OUT tag text[])
AS 'MODULE_PATHNAME', 'pushplan_devices_decompose' LANGUAGE C STABLE STRICT;
CREATE FUNCTION _attrs_count(attrs jsonb) RETURNS int
AS 'MODULE_PATHNAME', 'pushplan_attrs_count' LANGUAGE C IMMUTABLE STRICT;

-- The core of registration, for one device or a batch: validates everything first, then
-- writes with set-based statements over arrays (no per-row statements, no temp tables).
-- Existing devices are updated and new ones inserted by one statement, without speculative
-- insertion: a device registered concurrently by another session makes the insert fail with a
-- unique violation, and the statement is run again (it then updates that device).
-- Returns the ids of the devices written, in the order of registration_id (bytewise).
CREATE FUNCTION _devices_upsert(p_app_id int, p_devices jsonb, p_batch boolean) RETURNS bigint[]
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

    -- A token that moved to another registration (app reinstalled) leaves the old one.
    -- (OFFSET 0 keeps the LATERAL subquery from being flattened into a join, which is planned
    -- as a hash join over every device of the table: this stays an index probe per token.)
    UPDATE pushplan.devices d SET token = NULL, updated_at = now()
        FROM unnest(v_rid, v_vendor, v_token) r(rid, vendor, token),
             LATERAL (SELECT x.device_id FROM pushplan.devices x
                      WHERE x.app_id = p_app_id AND x.token = r.token AND x.vendor = r.vendor
                        AND x.registration_id <> r.rid OFFSET 0) o
        WHERE d.device_id = o.device_id;

    FOR attempt IN 1 .. 3 LOOP
        BEGIN
            -- Existing devices: attrs merge into what the device had, a null value removing a
            -- key. New devices: attrs as given, less null values.
            WITH r AS (
                SELECT * FROM unnest(v_rid, v_platform, v_vendor, v_token, v_tz, v_language,
                                     v_attrs, v_new_attrs)
                    r(rid, platform, vendor, token, tz, language, attrs, new_attrs)
            ), up AS (
                UPDATE pushplan.devices d SET
                    platform = r.platform, vendor = r.vendor, token = r.token,
                    timezone = r.tz, language = r.language, registered = true,
                    attrs = CASE WHEN r.attrs = '{}' THEN d.attrs
                                 ELSE jsonb_strip_nulls(d.attrs || r.attrs) END,
                    token_invalidated_at = CASE WHEN d.token IS NOT DISTINCT FROM r.token
                                                THEN d.token_invalidated_at END,
                    updated_at = now()
                FROM r
                WHERE d.app_id = p_app_id AND d.registration_id = ANY (v_rid)
                  AND d.registration_id = r.rid
                RETURNING d.registration_id, d.device_id, _attrs_count(d.attrs) > 50 AS too_many
            ), ins AS (
                INSERT INTO pushplan.devices
                       (app_id, registration_id, platform, vendor, token, timezone, language, attrs)
                SELECT p_app_id, r.rid, r.platform, r.vendor, r.token, r.tz, r.language,
                       r.new_attrs
                FROM r WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.registration_id = r.rid)
                RETURNING registration_id, device_id
            )
            SELECT array_agg(device_id ORDER BY registration_id COLLATE "C"),
                   array_agg(is_new ORDER BY registration_id COLLATE "C"),
                   bool_or(NOT is_new), bool_or(too_many)
              INTO v_ids, v_new, v_any_old, v_too_many
              FROM (SELECT registration_id, device_id, false AS is_new, too_many FROM up
                    UNION ALL
                    SELECT registration_id, device_id, true, false FROM ins) w;
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            IF attempt = 3 THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    IF v_too_many THEN
        RAISE EXCEPTION '90033: a device has at most 50 attributes' USING ERRCODE = '54000';
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
BEGIN
    PERFORM _raise_problem(_tags_problem(tags));
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
BEGIN
    PERFORM _raise_problem(_tags_problem(tags));
    DELETE FROM device_tags dt USING pushplan.tags g
        WHERE dt.device_id = v_id AND dt.tag_id = g.tag_id
          AND g.app_id = v_app AND g.tag = ANY (tags);
END $$;

CREATE FUNCTION push_attr_set(app text, registration_id text, attrs jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id(_app_id(app), registration_id);
    v_merged jsonb;
BEGIN
    PERFORM _raise_problem(_attrs_problem(attrs));
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
BEGIN
    PERFORM _raise_problem(_account_problem(account, account_type));
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
-- Push plans (campaigns): a name that push tasks are attributed to, so their effect can be
-- read per plan. Every app has the plan 'default', which can be neither edited nor deleted.

CREATE FUNCTION _plan_check_exists(p_app_id int, p_plan_id text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_default boolean;
BEGIN
    SELECT is_default INTO v_default FROM pushplan.plans
        WHERE app_id = p_app_id AND plan_id = p_plan_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92054: plan "%" does not exist', p_plan_id USING ERRCODE = '42704';
    END IF;
    RETURN v_default;
END $$;

CREATE FUNCTION _plan_description_check(p_description text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF char_length(p_description) > 500 THEN
        RAISE EXCEPTION '92052: plan description is longer than 500 characters'
            USING ERRCODE = '22023';
    END IF;
END $$;

CREATE FUNCTION push_plan_create(app text, plan_id text, description text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app);
BEGIN
    IF plan_id IS NULL OR plan_id !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
        RAISE EXCEPTION '92050: plan_id must be 1 to 64 characters of A-Z a-z 0-9 _ . : -'
            USING ERRCODE = '22023';
    END IF;
    PERFORM _plan_description_check(description);
    INSERT INTO plans (app_id, plan_id, description) VALUES (v_app, plan_id, description)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92051: plan "%" already exists', plan_id USING ERRCODE = '23505';
    END IF;
    RETURN plan_id;
END $$;

CREATE FUNCTION push_plan_update(app text, plan_id text, description text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app);
BEGIN
    IF _plan_check_exists(v_app, plan_id) THEN
        RAISE EXCEPTION '92053: the default plan can be neither edited nor deleted'
            USING ERRCODE = '22023';
    END IF;
    PERFORM _plan_description_check(description);
    UPDATE plans p SET description = push_plan_update.description, updated_at = now()
        WHERE p.app_id = v_app AND p.plan_id = push_plan_update.plan_id;
END $$;

CREATE FUNCTION push_plan_delete(app text, plan_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app);
    v_tasks bigint;
BEGIN
    IF _plan_check_exists(v_app, plan_id) THEN
        RAISE EXCEPTION '92053: the default plan can be neither edited nor deleted'
            USING ERRCODE = '22023';
    END IF;
    -- A plan's statistics are its tasks': deleting it would orphan them.
    SELECT count(*) INTO v_tasks FROM tasks t
        WHERE t.app_id = v_app AND t.plan_id = push_plan_delete.plan_id;
    IF v_tasks > 0 THEN
        RAISE EXCEPTION '92055: plan "%" has % push tasks and cannot be deleted', plan_id, v_tasks
            USING ERRCODE = '2BP01';
    END IF;
    DELETE FROM plans p WHERE p.app_id = v_app AND p.plan_id = push_plan_delete.plan_id;
END $$;

CREATE VIEW push_plans AS
    SELECT a.app, p.plan_id, p.description, p.is_default,
           (SELECT count(*) FROM tasks t WHERE t.app_id = p.app_id AND t.plan_id = p.plan_id)
               AS task_count,
           p.created_at, p.updated_at
    FROM plans p JOIN apps a USING (app_id);
-- Audiences: counted and previewed through the C compiler of src/audience.c, which turns the
-- audience JSON (doc/audiences.md) into one parameterised query over device ids.

CREATE FUNCTION push_audience_count(app text, audience jsonb) RETURNS bigint
AS 'MODULE_PATHNAME', 'pushplan_audience_count'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION push_audience_count(text, jsonb) IS
    'the number of reachable devices of the app in the audience';

CREATE FUNCTION push_audience_preview(app text, audience jsonb, max_rows int DEFAULT 100)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'pushplan_audience_preview'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp ROWS 100;
COMMENT ON FUNCTION push_audience_preview(text, jsonb, int) IS
    'registration ids of up to max_rows (1..10000) devices of the audience, in registration order';

-- Internal: insert the audience's device ids into table target (column device_id), the way the
-- sending code expands a task's audience. For tests and benchmarks; runs with the caller's rights.
CREATE FUNCTION _audience_expand(app text, audience jsonb, target regclass) RETURNS bigint
AS 'MODULE_PATHNAME', 'pushplan_audience_expand'
LANGUAGE C VOLATILE STRICT;
-- Account packages (seed 002): uploaded lists of accounts that a push can target by upload_id.
-- Parsing, de-duplication and loading are in C (src/package.c); doc/account_packages.md has the rules.

CREATE FUNCTION push_account_package_upload(app text, filename text, content bytea,
                                            account_type int DEFAULT 0) RETURNS bigint
AS 'MODULE_PATHNAME', 'pushplan_account_package_upload'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION push_account_package_upload(text, text, bytea, int) IS
    'stores a .txt, .csv or .zip account package (at most 100 MB) and returns its upload_id';

-- Internal, for tests: the accounts an upload would store (sorted, de-duplicated), with the
-- size limits lowered so that the zip-bomb guards can be exercised with small fixtures.
CREATE FUNCTION _account_package_parse(filename text, content bytea,
                                       max_bytes bigint DEFAULT 104857600,
                                       ratio_floor bigint DEFAULT 1048576) RETURNS text[]
AS 'MODULE_PATHNAME', 'pushplan_account_package_parse'
LANGUAGE C IMMUTABLE STRICT;
REVOKE EXECUTE ON FUNCTION _account_package_parse(text, bytea, bigint, bigint) FROM PUBLIC;

CREATE VIEW push_account_packages AS
    SELECT a.app, p.upload_id, p.filename, p.account_type, p.account_count, p.byte_size,
           p.created_at
    FROM account_packages p JOIN apps a USING (app_id);

CREATE FUNCTION push_account_package_delete(app text, upload_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app_id int := _app_id(app);
BEGIN
    DELETE FROM account_packages p
        WHERE p.app_id = v_app_id AND p.upload_id = push_account_package_delete.upload_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92230: account package % does not exist in app "%"', upload_id, app
            USING ERRCODE = '42704';
    END IF;
END $$;
-- Vendor credential crypto (src/jwt.c): JWT signing, HMAC, base64url, private-key checks.
-- Internal: the senders call the C functions directly; these SQL faces are for tests and for
-- operators checking a credential, so nobody but superusers may run them by default.

CREATE FUNCTION _jwt_es256(private_key text, kid text, iss text, iat bigint) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_jwt_es256' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _jwt_es256(text, text, text, bigint) IS
    'APNs provider token: ES256 JWT {"alg":"ES256","kid":kid}.{"iss":iss,"iat":iat} signed with the .p8 key';

-- Not strict: kid may be NULL (no "kid" in the header); any other NULL gives NULL.
CREATE FUNCTION _jwt_rs256(private_key text, kid text, iss text, scope text, aud text,
                           iat bigint, exp bigint) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_jwt_rs256' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION _jwt_rs256(text, text, text, text, text, bigint, bigint) IS
    'Google OAuth 2.0 service-account assertion: RS256 JWT signed with the service account''s RSA key';

CREATE FUNCTION _hmac_sha256_hex(key text, data text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_hmac_sha256_hex' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _hmac_sha256_hex(key bytea, data bytea) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_hmac_sha256_hex' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _hmac_sha256_hex(text, text) IS
    'HMAC-SHA256 in lowercase hex, as in the webhook header X-Pushplan-Signature: sha256=<hex>';

-- Not strict: NULL means "no problem", so a NULL key must not return it.
CREATE FUNCTION _pem_key_check(pem text, kind text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_pem_key_check' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION _pem_key_check(text, text) IS
    'NULL when pem is an unencrypted private key of kind ec_p256 (APNs) or rsa (FCM), else the coded reason';

CREATE FUNCTION _base64url_encode(data bytea) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_base64url_encode' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _base64url_decode(data text) RETURNS bytea
AS 'MODULE_PATHNAME', 'pushplan_base64url_decode' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

REVOKE EXECUTE ON FUNCTION _jwt_es256(text, text, text, bigint),
    _jwt_rs256(text, text, text, text, text, bigint, bigint),
    _hmac_sha256_hex(text, text), _hmac_sha256_hex(bytea, bytea),
    _pem_key_check(text, text), _base64url_encode(bytea), _base64url_decode(text)
    FROM PUBLIC;
-- The delivery engine's SQL faces (src/engine_sql.c, src/auth.c): a real test send for
-- operators, and internal functions for the regression and integration tests.

CREATE FUNCTION push_vendor_test(app text, vendor text, token text, push jsonb,
                                 platform text DEFAULT NULL, language text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_vendor_test'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION push_vendor_test(text, text, text, jsonb, text, text) IS
    'sends one push to one device token with the app''s vendor config now, and returns the outcome: {"outcome": "sent"|"retry"|"invalid_token"|"failed", "http_status", "retry_after_ms", "error", "vendor_message_id"}';

CREATE FUNCTION _engine_send_many(app text, vendor text, tokens text[], push jsonb,
                                  platform text DEFAULT NULL, language text DEFAULT NULL)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'pushplan_engine_send_many'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION _engine_send_many(text, text, text[], jsonb, text, text) IS
    'sends one push to many tokens through one engine (multiplexing, HMS grouping); one outcome per token, in order';

CREATE FUNCTION _vendor_payload(vendor text, push jsonb, platform text DEFAULT NULL,
                                language text DEFAULT NULL, config jsonb DEFAULT NULL,
                                token text DEFAULT 'TOKEN')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_vendor_payload'
LANGUAGE C STABLE;
COMMENT ON FUNCTION _vendor_payload(text, jsonb, text, text, jsonb, text) IS
    'the request a vendor would get for a push and device: url, headers (never the auth header), body, bytes counted by the vendor''s size limit';

CREATE FUNCTION _message_check(push jsonb) RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_message_check'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION _message_check(jsonb) IS
    'raises 92510 when a vendor payload of the push is over the vendor''s size limit (what push_send checks)';

CREATE FUNCTION _auth_token_put(vendor text, config jsonb, token text, ttl_seconds int)
RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_auth_token_put' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION _auth_token_peek(vendor text, config jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_auth_token_peek' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION _auth_token_put(text, jsonb, text, int) IS
    'test hook: caches an auth token for a vendor config, valid for ttl_seconds';

REVOKE EXECUTE ON FUNCTION push_vendor_test(text, text, text, jsonb, text, text),
    _engine_send_many(text, text, text[], jsonb, text, text),
    _auth_token_put(text, jsonb, text, int), _auth_token_peek(text, jsonb)
    FROM PUBLIC;
-- Push bodies (src/push_parse.c, doc/push.md): the three dialects accepted by push_send, checked
-- and normalized.  push_validate lets anyone check a body without sending it; it reads no table
-- (plan existence and the audience's contents are checked by push_send against the app).

CREATE FUNCTION push_validate(push jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_push_validate' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION push_validate(jsonb) IS
    'The normalized push (EngageLab form, defaults filled in, "dialect" recorded) of an EngageLab, Tencent Push or Tencent IM push body, or the coded error push_send would raise';
-- Sending: deliveries (one per task and device), push_send, push_cancel, progress views.

-- One row per device a task reaches. Senders claim queued rows whose send_at has come
-- (through delivery_queue, below), deliver them outside any transaction and write the outcome back.
-- status: queued | suppressed | sending | sent | failed | invalid_token | expired | cancelled
-- No index covers a column that a claim or an outcome changes (status is in none, not even in a
-- predicate), and pages are half empty: both updates of a delivery are HOT, so a broadcast's
-- hot path writes no index entries here at all.
CREATE TABLE deliveries (
    delivery_id       bigserial PRIMARY KEY,
    task_id           text NOT NULL REFERENCES tasks ON DELETE CASCADE,
    app_id            int NOT NULL,
    device_id         bigint NOT NULL,
    vendor            text NOT NULL,
    status            text NOT NULL DEFAULT 'queued',
    send_at           timestamptz NOT NULL,     -- planned (per device for local-time schedules)
    attempts          int NOT NULL DEFAULT 0,
    claimed_by        int,                      -- sender slot of the last claim
    claimed_at        timestamptz,
    sent_at           timestamptz,
    http_status       int,
    vendor_message_id text,
    error             text,
    UNIQUE (task_id, device_id)
) WITH (fillfactor = 50);
CREATE INDEX deliveries_device_idx ON deliveries (device_id);

-- The open deliveries (queued or sending), small whatever the history: what senders claim
-- (FOR UPDATE SKIP LOCKED on the due index), and what tells that a task is finished (no row of
-- it left). A row is written with its delivery, claimed (claimed_by) with it, and deleted in the
-- transaction that records its outcome; a retry puts it back with the new send_at. The
-- delivery's status stays the truth: a queue row whose delivery is no longer queued is dropped
-- when claimed.
CREATE TABLE delivery_queue (
    task_id     text NOT NULL,
    delivery_id bigint NOT NULL,
    send_at     timestamptz NOT NULL,
    claimed_by  int,
    claimed_at  timestamptz,
    -- Also what "is anything of this task left" probes: ORDER BY both columns DESC LIMIT 1, so
    -- that only this index answers it (a sequential scan, or the index of a lone delivery_id,
    -- would wade through the deleted rows of what was sent), from the end where the rows not
    -- sent yet are.
    PRIMARY KEY (task_id, delivery_id)
) WITH (fillfactor = 50);
-- Not partial on claimed_by: a claim then changes no indexed column and is a HOT update too
-- (the claim query skips the rows in flight, at most max_inflight per sender, by a filter).
CREATE INDEX delivery_queue_due_idx ON delivery_queue (send_at);

CREATE FUNCTION push_send(app text, push jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_push_send' LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION push_send(text, jsonb) IS
    'creates a push task; it is sent when the calling transaction commits (doc/push.md)';

CREATE FUNCTION push_cancel(app text, task_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app);
    v_state text;
BEGIN
    SELECT state INTO v_state FROM tasks t WHERE t.app_id = v_app AND t.task_id = push_cancel.task_id
        FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92301: task "%" does not exist', task_id USING ERRCODE = '42704';
    END IF;
    IF v_state IN ('done', 'cancelled') THEN
        RAISE EXCEPTION '92302: task "%" is already %', task_id, v_state USING ERRCODE = '55000';
    END IF;
    -- What is in flight finishes; what has not left yet never will.
    DELETE FROM delivery_queue q WHERE q.task_id = push_cancel.task_id AND q.claimed_by IS NULL;
    UPDATE deliveries d SET status = 'cancelled'
        WHERE d.task_id = push_cancel.task_id AND d.status = 'queued';
    UPDATE tasks t SET state = 'cancelled', finished_at = now()
        WHERE t.task_id = push_cancel.task_id;
END $$;

CREATE VIEW push_deliveries AS
    SELECT a.app, d.task_id, t.plan_id, v.registration_id, v.platform, d.vendor, d.status,
           d.send_at, d.sent_at, d.attempts, d.error, d.http_status, d.vendor_message_id
    FROM deliveries d
    JOIN tasks t USING (task_id)
    JOIN apps a ON a.app_id = d.app_id
    JOIN devices v ON v.device_id = d.device_id;

-- In the spirit of pg_stat_progress_*: one row per task not finished (and those finished in the
-- last hour). rate_per_s is over the last 10 seconds (or since the task started, if that is
-- shorter); eta assumes that rate holds, and is NULL until the task has started sending.
CREATE VIEW push_task_progress AS
    SELECT a.app, t.task_id, t.plan_id, t.state, coalesce(t.targeted, 0) AS targeted,
           s.queued, s.sending, s.sent, s.failed, s.suppressed,
           round(s.recent / w.seconds, 1) AS rate_per_s,
           CASE WHEN t.started_at IS NULL THEN NULL
                WHEN s.queued + s.sending = 0 THEN interval '0'
                WHEN s.recent > 0 THEN (s.queued + s.sending) / (s.recent / w.seconds) * interval '1 second'
           END AS eta,
           t.created_at, t.started_at, t.finished_at
    FROM tasks t
    JOIN apps a USING (app_id)
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE d.status = 'queued') AS queued,
               count(*) FILTER (WHERE d.status = 'sending') AS sending,
               count(*) FILTER (WHERE d.status = 'sent') AS sent,
               count(*) FILTER (WHERE d.status IN ('failed', 'invalid_token', 'expired')) AS failed,
               count(*) FILTER (WHERE d.status = 'suppressed') AS suppressed,
               count(*) FILTER (WHERE d.sent_at > now() - interval '10 seconds') AS recent
        FROM deliveries d WHERE d.task_id = t.task_id) s
    CROSS JOIN LATERAL (
        SELECT greatest(least(10.0, extract(epoch FROM now() - t.started_at)), 0.1) AS seconds) w
    WHERE t.state IN ('queued', 'sending') OR t.finished_at > now() - interval '1 hour';

-- Internal: the wake-up of this database's scheduler, for rows written without push_send.
CREATE FUNCTION _wake_scheduler() RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_wake_scheduler' LANGUAGE C VOLATILE;
-- Roles. Every API function is SECURITY DEFINER and no role gets rights on the tables, so each
-- role can do exactly what its functions and views allow:
--   pushplan_reader    statistics views only
--   pushplan_app       device registration, consent, tags, attributes, accounts, events,
--                      transactional sends (application code)
--   pushplan_operator  plans, audiences, account packages, sends, schedules; what readers see
--   pushplan_admin     apps and vendor credentials; everything operators and apps do
-- Vendor credentials (vendor_configs) are readable by no role but the extension's owner.
-- Roles are cluster-wide: they are created once and survive DROP EXTENSION.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pushplan_reader') THEN
        CREATE ROLE pushplan_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pushplan_app') THEN
        CREATE ROLE pushplan_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pushplan_operator') THEN
        CREATE ROLE pushplan_operator NOLOGIN IN ROLE pushplan_reader;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pushplan_admin') THEN
        CREATE ROLE pushplan_admin NOLOGIN IN ROLE pushplan_operator, pushplan_app;
    END IF;
END $$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pushplan FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pushplan FROM PUBLIC;
GRANT USAGE ON SCHEMA pushplan
    TO pushplan_reader, pushplan_app, pushplan_operator, pushplan_admin;

-- readers
GRANT SELECT ON push_plans TO pushplan_reader;

-- application code
GRANT EXECUTE ON FUNCTION
    push_device_register(text, text, text, text, text, text, text),
    push_device_register_batch(text, jsonb),
    push_device_unregister(text, text),
    push_device_opt(text, text, boolean),
    push_device_activity(text, text, timestamptz),
    push_tag_add(text, text, text[]),
    push_tag_remove(text, text, text[]),
    push_attr_set(text, text, jsonb),
    push_account_bind(text, text, text, int),
    push_account_unbind(text, text, text, int)
    TO pushplan_app;

-- operators
GRANT EXECUTE ON FUNCTION
    push_plan_create(text, text, text),
    push_plan_update(text, text, text),
    push_plan_delete(text, text),
    push_audience_count(text, jsonb),
    push_audience_preview(text, jsonb, int),
    push_account_package_upload(text, text, bytea, int),
    push_account_package_delete(text, bigint),
    canonical_timezone(text)
    TO pushplan_operator;
GRANT SELECT ON push_devices, push_vendors, push_account_packages TO pushplan_operator;

-- administrators
GRANT EXECUTE ON FUNCTION
    push_app_create(text, text),
    push_app_set(text, jsonb),
    push_vendor_set(text, text, jsonb)
    TO pushplan_admin;

-- sending (sql/70_sending.sql, sql/60_push_parse.sql)
GRANT EXECUTE ON FUNCTION push_send(text, jsonb) TO pushplan_app, pushplan_operator;
GRANT EXECUTE ON FUNCTION push_cancel(text, text), push_validate(jsonb) TO pushplan_operator;
GRANT EXECUTE ON FUNCTION push_validate(jsonb) TO pushplan_app;
GRANT SELECT ON push_task_progress TO pushplan_reader;
GRANT SELECT ON push_deliveries TO pushplan_operator;
GRANT EXECUTE ON FUNCTION push_vendor_test TO pushplan_admin;
