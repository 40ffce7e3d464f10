-- Apps (tenants) and vendor credentials.

-- Tenancy (src/tenancy.c, doc/security.md). Every API function starts with _app_id(app, kind):
-- the app's id if the caller holds that right on it (kind admin | operator | app | reader, or
-- send = app or operator), error 92001 for an app it holds nothing on, exactly as for an app
-- that does not exist, and 92061 (42501) for an app it holds other rights on.
CREATE OR REPLACE FUNCTION _app_id(app text, kind text) RETURNS int
AS 'MODULE_PATHNAME', 'pushplan_app_id' LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION _app_holds(app_id int, kind text) RETURNS boolean
AS 'MODULE_PATHNAME', 'pushplan_app_holds' LANGUAGE C STABLE STRICT;
-- The apps the views show the caller: SECURITY DEFINER, as it reads the bindings for them.
CREATE OR REPLACE FUNCTION _visible_apps(kind text) RETURNS int[]
AS 'MODULE_PATHNAME', 'pushplan_visible_apps'
LANGUAGE C STABLE STRICT SECURITY DEFINER SET search_path = pushplan, pg_temp;
CREATE OR REPLACE FUNCTION _caller_acts_as(role oid) RETURNS boolean
AS 'MODULE_PATHNAME', 'pushplan_caller_acts_as' LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION _caller() RETURNS oid
AS 'MODULE_PATHNAME', 'pushplan_caller' LANGUAGE C STABLE;

-- A user's value as messages show it: at most 100 characters, control characters escaped
-- (src/user_text.c). _name_problem: the rule for tags, attribute names and accounts.
CREATE OR REPLACE FUNCTION _shown(text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_shown' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION _name_problem(what text, name text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_name_problem' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- Why an endpoint URL cannot be used, or NULL (src/url_check.c: libcurl's URL parser).
CREATE OR REPLACE FUNCTION _url_problem(url text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_url_problem' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION canonical_timezone(text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_canonical_timezone' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION canonical_timezone(text) IS
    'the canonical IANA spelling of a time zone name, or NULL when it names no zone';

CREATE OR REPLACE FUNCTION push_app_create(app text, name text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id int;
BEGIN
    IF app IS NULL OR app !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
        RAISE EXCEPTION '92002: app name must be 1 to 64 characters of A-Z a-z 0-9 _ . -'
            USING ERRCODE = '22023';
    END IF;
    -- the display name shows in views and messages: bounded, and no terminal escapes
    IF char_length(name) > 200 OR _name_problem('app display name', name) LIKE '92070:%' THEN
        RAISE EXCEPTION '92942: app display name must be at most 200 characters with no control character'
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
CREATE OR REPLACE FUNCTION _app_setting_types() RETURNS TABLE(key text, type text)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('timezone', 'string'), ('broadcast_daily_limit', 'number'),
           ('broadcast_min_interval', 'string'), ('frequency_cap', 'object'),
           ('quiet_hours', 'object'), ('consent', 'object'), ('category_caps', 'object')
$$;

CREATE OR REPLACE FUNCTION push_app_set(app text, settings jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id int := _app_id(app, 'admin');
    r record;
    v_merged jsonb;
BEGIN
    IF settings IS NULL OR jsonb_typeof(settings) <> 'object' THEN
        RAISE EXCEPTION '92004: settings must be a JSON object' USING ERRCODE = '22023';
    END IF;
    FOR r IN SELECT e.key, e.value, t.type FROM jsonb_each(settings) e
             LEFT JOIN _app_setting_types() t USING (key) ORDER BY e.key LOOP
        IF r.type IS NULL THEN
            RAISE EXCEPTION '92005: unknown app setting "%"', _shown(r.key) USING ERRCODE = '22023';
        ELSIF jsonb_typeof(r.value) = 'null' THEN
            CONTINUE;                                   -- null resets to the default
        ELSIF jsonb_typeof(r.value) <> r.type THEN
            RAISE EXCEPTION '92006: app setting "%" must be a JSON %', r.key, r.type
                USING ERRCODE = '22023';
        END IF;
        CASE r.key
        WHEN 'timezone' THEN
            IF canonical_timezone(r.value #>> '{}') IS NULL THEN
                RAISE EXCEPTION '92015: unknown time zone "%"', _shown(r.value #>> '{}')
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
                -- beyond a day it would stop broadcasts rather than space them
                IF (r.value #>> '{}')::interval NOT BETWEEN interval '0' AND interval '24 hours' THEN
                    RAISE invalid_datetime_format;
                END IF;
            EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow
                           OR interval_field_overflow THEN
                RAISE EXCEPTION '92008: broadcast_min_interval must be an interval from 0 to 24 hours such as "1 second"'
                    USING ERRCODE = '22023';
            END;
        WHEN 'frequency_cap', 'quiet_hours' THEN
            -- applied by the senders (sql/api/72_engagement.sql, doc/engagement.md)
            PERFORM _engagement_check(r.key, r.value);
        WHEN 'consent' THEN
            -- categories and the consent each needs (sql/api/88_privacy.sql, doc/privacy.md)
            PERFORM _raise_problem(_consent_setting_problem(r.value));
        WHEN 'category_caps' THEN
            -- a frequency cap per category (sql/api/72_engagement.sql); its categories are
            -- checked below, against the consent setting this call may change too
            FOR r IN SELECT e.key, e.value FROM jsonb_each(r.value) e ORDER BY e.key LOOP
                IF jsonb_typeof(r.value) <> 'object' THEN
                    RAISE EXCEPTION '92823: category_caps "%" must be a JSON object (a frequency_cap)',
                        _shown(r.key) USING ERRCODE = '22023';
                END IF;
                PERFORM _engagement_check('frequency_cap', r.value);
            END LOOP;
        END CASE;
    END LOOP;
    UPDATE apps a SET settings = jsonb_strip_nulls(a.settings || push_app_set.settings)
        WHERE a.app_id = v_id
        RETURNING a.settings INTO v_merged;
    -- a category cap names one of the app's categories (as they are after this call)
    PERFORM _category_caps_check(v_id, v_merged->'category_caps');
END $$;

-- Vendors, and the configuration keys each takes: required (true) or optional (false).
-- Both from the vendor registry (src/vendor_registry.c): each vendor's file declares its keys.
CREATE OR REPLACE FUNCTION _vendor_keys() RETURNS TABLE(vendor text, key text, required boolean)
AS 'MODULE_PATHNAME', 'pushplan_vendor_keys' LANGUAGE C IMMUTABLE;
CREATE OR REPLACE FUNCTION _vendor_names() RETURNS text[]
AS 'MODULE_PATHNAME', 'pushplan_vendor_names' LANGUAGE C IMMUTABLE;
-- What a vendor's file refuses in a config beyond its keys ("code: message"), or NULL.
CREATE OR REPLACE FUNCTION _vendor_config_problem(vendor text, config jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_vendor_config_problem' LANGUAGE C STABLE STRICT;

-- log_min_error_statement = panic: a failing call must not write its statement, the credentials
-- in it, to the server log (doc/security.md, "Credentials").
CREATE OR REPLACE FUNCTION push_vendor_set(app text, vendor text, config jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp
SET log_min_error_statement = panic AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz;
    v_id int := _app_id(app, 'admin');
    v_key text;
    v_why text;
    v_sa jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM _vendor_keys() k WHERE k.vendor = push_vendor_set.vendor) THEN
        RAISE EXCEPTION '92020: unknown vendor "%"', _shown(vendor) USING ERRCODE = '22023'
            , HINT = 'The vendors are ' || array_to_string(_vendor_names(), ', ') || '.';
    END IF;
    IF config IS NULL OR jsonb_typeof(config) <> 'object' THEN
        RAISE EXCEPTION '92021: vendor config must be a JSON object' USING ERRCODE = '22023';
    END IF;
    -- every sender keeps each config it sends with in memory: bounded (the largest real one, an
    -- FCM service account, is about 2.5 kB)
    IF octet_length(config::text) > 65536 THEN
        RAISE EXCEPTION '92946: vendor config is % bytes as JSON; at most 65536', octet_length(config::text)
            USING ERRCODE = '22023';
    END IF;
    SELECT e.key INTO v_key FROM jsonb_object_keys(config) e(key)
        WHERE NOT EXISTS (SELECT 1 FROM _vendor_keys() k
                          WHERE k.vendor = push_vendor_set.vendor AND k.key = e.key)
        ORDER BY 1 LIMIT 1;
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '92022: unknown key "%" in % config', _shown(v_key), vendor USING ERRCODE = '22023';
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
    SELECT e.key, _url_problem(e.value) INTO v_key, v_why FROM jsonb_each_text(config) e
        WHERE e.key IN ('endpoint', 'token_endpoint', 'url') AND _url_problem(e.value) IS NOT NULL
        ORDER BY 1 LIMIT 1;
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '92025: "%" in % config must be an http:// or https:// URL', v_key, vendor
            USING ERRCODE = '22023', DETAIL = v_why;
    END IF;
    -- Keys are checked now, not at the first send (src/jwt.c, src/webpush_crypto.c: 924xx codes).
    v_why := _vendor_config_problem(vendor, config);
    IF v_why IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = v_why, ERRCODE = '22023',
            DETAIL = 'In the ' || vendor || ' config.';
    END IF;
    IF vendor = 'apns' THEN
        v_key := _pem_key_check(config->>'private_key', 'ec_p256');
        IF v_key IS NOT NULL THEN
            RAISE EXCEPTION USING MESSAGE = v_key, ERRCODE = '22023',
                DETAIL = 'In the apns config, key "private_key" (the .p8 file''s text).';
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
                DETAIL = 'In the fcm config, key "service_account" -> "private_key".';
        END IF;
        config := jsonb_set(config, '{service_account}', v_sa);
    END IF;
    -- the time as a value: on the distributed layout (a reference table) Citus takes no
    -- STABLE function in an upsert's SET (doc/scale-out.md)
    v_now := now();
    INSERT INTO vendor_configs AS c (app_id, vendor, config) VALUES (v_id, push_vendor_set.vendor, push_vendor_set.config)
        ON CONFLICT (app_id, vendor) DO UPDATE SET config = excluded.config, updated_at = v_now;
END $$;

-- What operators may see of vendor configuration: which vendors are set, never the secrets.
-- (security_barrier: a caller's own functions in a WHERE clause see only rows it may see)
CREATE OR REPLACE VIEW push_vendors WITH (security_barrier) AS
    SELECT a.app, c.vendor, c.config->>'endpoint' AS endpoint, c.updated_at
    FROM vendor_configs c JOIN apps a USING (app_id)
    WHERE a.app_id = ANY ((SELECT _visible_apps('operator'))::int[]);

-- Binds a role to an app: kind admin (settings, vendors, bindings; all below), operator
-- (plans, audiences, packages, any send, devices; reader's views), app (devices, tags,
-- attributes, accounts, transactional sends) or reader (statistics and progress views). The
-- role is also made a member of the group role whose functions that kind calls, if it is not
-- one already. Only cluster-wide admins and the app's admins bind.
CREATE OR REPLACE FUNCTION push_app_grant(app text, role regrole, kind text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_group text;
    v_app int;
BEGIN
    v_group := CASE kind WHEN 'admin' THEN 'pushplan_app_admin' WHEN 'operator' THEN 'pushplan_operator'
                         WHEN 'app' THEN 'pushplan_app' WHEN 'reader' THEN 'pushplan_reader' END;
    IF v_group IS NULL THEN
        RAISE EXCEPTION '92060: kind must be admin, operator, app or reader' USING ERRCODE = '22023';
    END IF;
    v_app := _app_id(app, 'admin');
    IF role IS NULL THEN
        RAISE EXCEPTION '92062: a role to bind is required' USING ERRCODE = '22023';
    END IF;
    IF role::text IN ('pushplan_admin', 'pushplan_app_admin', 'pushplan_operator', 'pushplan_app',
                      'pushplan_reader', 'pushplan_worker') THEN
        RAISE EXCEPTION '92063: "%" is one of pushplan''s own roles', role
            USING ERRCODE = '22023', HINT = 'Bind your login or group role.';
    END IF;
    -- PostgreSQL's predefined roles (pg_*): pg_database_owner cannot be a member of a role, and
    -- the others are held by logins for other reasons (pg_monitor, pg_read_server_files)
    IF role::text LIKE 'pg\_%' THEN
        RAISE EXCEPTION '92941: "%" is a predefined role of PostgreSQL', role
            USING ERRCODE = '22023', HINT = 'Bind your login or group role.';
    END IF;
    DELETE FROM app_grants g WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = g.role);
    INSERT INTO app_grants (app_id, role, kind) VALUES (v_app, role, kind) ON CONFLICT DO NOTHING;
    IF NOT pg_catalog.pg_has_role(role, v_group, 'MEMBER') THEN
        EXECUTE pg_catalog.format('GRANT %I TO %I', v_group, role::text);
    END IF;
END $$;

-- Removes a binding (the group role membership stays: without a binding it reaches nothing).
CREATE OR REPLACE FUNCTION push_app_revoke(app text, role regrole, kind text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app, 'admin');
BEGIN
    DELETE FROM app_grants g WHERE g.app_id = v_app AND g.role = push_app_revoke.role
        AND g.kind = push_app_revoke.kind;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92064: role "%" holds no % binding on app "%"', role, _shown(kind), app
            USING ERRCODE = '42704';
    END IF;
END $$;

CREATE OR REPLACE VIEW push_app_grants WITH (security_barrier) AS
    SELECT a.app, g.role::regrole AS role, g.kind, g.granted_at
    FROM app_grants g JOIN apps a USING (app_id)
    WHERE a.app_id = ANY ((SELECT _visible_apps('admin'))::int[]);
