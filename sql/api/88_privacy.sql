-- Privacy (doc/privacy.md): consent per category, erasure and export of what is held about a
-- device or an account (tables: sql/install/schema.sql, device_consents and erasures).

-- Categories. A push names one in options.category; each needs a consent of its devices:
--   transactional  none (a receipt, a login code): only push_device_opt stops it
--   marketing      opt_out unless the app's settings say "opt_in"
--   others         the app defines them: push_app_set(app, '{"consent": {"news": "opt_in"}}')
-- opt_in: a device is reached once it granted the category (push_device_consent ... true);
-- opt_out: it is reached until it withdrew it (... false).

-- What is wrong with a category's name, or NULL.
CREATE OR REPLACE FUNCTION _category_problem(category text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN category IS NULL OR category !~ '^[a-z][a-z0-9_]{0,63}$' THEN
        format('92860: a category must be 1 to 64 characters of a-z, 0-9 and _, starting with a letter, not "%s"',
               pushplan._shown(coalesce(category, 'null')))
    END
$$;

-- What is wrong with the app setting "consent" ({"category": "opt_in" | "opt_out"}), or NULL.
CREATE OR REPLACE FUNCTION _consent_setting_problem(setting jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT x.problem
    FROM jsonb_each(setting) e,
         LATERAL (SELECT coalesce(pushplan._category_problem(e.key), CASE
             WHEN e.key = 'transactional' THEN
                 '92862: the transactional category needs no consent (push_device_opt stops every push to a device)'
             WHEN e.value NOT IN ('"opt_in"', '"opt_out"') THEN
                 format('92864: app setting "consent": category "%s" takes "opt_in" or "opt_out", not %s',
                        e.key, pushplan._shown(e.value::text))
             END) AS problem) x
    WHERE x.problem IS NOT NULL
    ORDER BY e.key LIMIT 1
$$;

-- The app's categories and the consent each needs (NULL: none).
-- (PL/pgSQL: Citus plans no parameterized SQL function over its tables, apps being a reference
-- table in the distributed layout: doc/scale-out.md)
CREATE OR REPLACE FUNCTION _consent_categories(p_app_id int) RETURNS TABLE(category text, consent text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT 'transactional', NULL::text
    UNION ALL
    SELECT 'marketing', coalesce(a.settings #>> '{consent,marketing}', 'opt_out')
    FROM pushplan.apps a WHERE a.app_id = p_app_id
    UNION ALL
    SELECT e.key, e.value FROM pushplan.apps a, jsonb_each_text(a.settings->'consent') e
    WHERE a.app_id = p_app_id AND e.key <> 'marketing';
END $$;

-- The consent a category needs in an app (NULL for transactional); 92860 for a bad name,
-- 92861 for a category the app does not have. push_send calls it (src/push_send.c), and so
-- does the scheduler when a schedule fires: SECURITY DEFINER, so that pushplan_worker needs
-- the right to execute this one function only (sql/api/90_roles.sql).
CREATE OR REPLACE FUNCTION _consent_rule(p_app_id int, p_category text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_consent text;
BEGIN
    PERFORM _raise_problem(_category_problem(p_category));
    SELECT c.consent INTO v_consent FROM _consent_categories(p_app_id) c WHERE c.category = p_category;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92861: unknown category "%"', p_category USING ERRCODE = '42704',
            HINT = 'This app''s categories: ' || (SELECT string_agg(c.category, ', ' ORDER BY c.category)
                                                  FROM _consent_categories(p_app_id) c)
                   || '; push_app_set(app, ''{"consent": {...}}'') defines more.';
    END IF;
    RETURN v_consent;
END $$;

-- A category one can consent to: known to the app, and not transactional.
CREATE OR REPLACE FUNCTION _consent_category_check(p_app_id int, p_category text, p_granted boolean)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pushplan, pg_temp AS $$
BEGIN
    IF _consent_rule(p_app_id, p_category) IS NULL THEN
        RAISE EXCEPTION '92862: the transactional category needs no consent (push_device_opt stops every push to a device)'
            USING ERRCODE = '22023';
    END IF;
    IF p_granted IS NULL THEN
        RAISE EXCEPTION '92863: granted must be true or false' USING ERRCODE = '22023';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION push_device_consent(app text, registration_id text, category text,
                                               granted boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_key bigint := _device_key(v_app, registration_id);
BEGIN
    PERFORM _consent_category_check(v_app, category, granted);
    -- on the device's shard (sql/api/20_devices.sql, "The functions below that change one device")
    PERFORM 1 FROM _device_consent_at(v_key, v_app, registration_id, category, granted);
END $$;

CREATE OR REPLACE FUNCTION _device_consent_at(p_key bigint, p_app_id int, p_registration_id text,
                                              p_category text, p_granted boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint := _device_id_at(p_key, p_app_id, p_registration_id);
BEGIN
    INSERT INTO device_consents AS c (device_id, category, granted)
        VALUES (v_id, p_category, p_granted)
        ON CONFLICT (device_id, category)
        -- (the new row's updated_at is now(): Citus takes no STABLE function in this SET)
        DO UPDATE SET granted = excluded.granted, updated_at = excluded.updated_at;
END $$;
COMMENT ON FUNCTION push_device_consent(text, text, text, boolean) IS
    'a device grants (true) or withdraws (false) its consent to a category of pushes; doc/privacy.md';

-- Device events and erasures of one app, one after the other: push_track and push_track_batch
-- take this lock shared before they look their devices up, an erasure takes it exclusive
-- before it locks any. tracked_events has no foreign key to devices (for the intake's speed),
-- so without it an event whose transaction read its device before an erasure and committed
-- after it would keep a row naming a device that no longer exists. An erasure waits for the
-- app's event transactions open when it starts; an event reported meanwhile waits for the
-- erasure, then finds its device gone (92039). (Locking each event's device row instead cost
-- the intake 14 % at 1,000,000 devices: doc/benchmarks.md, "Flows at scale, round 3".)
CREATE OR REPLACE FUNCTION _erasure_lock(p_app int, p_exclusive boolean) RETURNS void
LANGUAGE sql AS $$
    SELECT CASE WHEN p_exclusive THEN pg_advisory_xact_lock(hashtext('pushplan erasure'), p_app)
                ELSE pg_advisory_xact_lock_shared(hashtext('pushplan erasure'), p_app) END
$$;

-- Locks the devices of these ids that exist, in id order; returns their ids (ordered). Citus
-- locks rows in one shard a statement only: on the distributed layout, device by device.
CREATE OR REPLACE FUNCTION _devices_lock(p_devices bigint[]) RETURNS bigint[]
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_ids bigint[] := '{}';
    v_id bigint;
    v_found bigint;
BEGIN
    IF NOT _registry_distributed() THEN
        SELECT coalesce(array_agg(d.device_id ORDER BY d.device_id), '{}') INTO v_ids
          FROM (SELECT v.device_id FROM devices v WHERE v.device_id = ANY (p_devices)
                ORDER BY v.device_id FOR UPDATE) d;
        RETURN v_ids;
    END IF;
    FOR v_id IN SELECT DISTINCT x FROM unnest(p_devices) x WHERE x IS NOT NULL ORDER BY 1 LOOP
        -- (the key as a constant: Citus routes it to its shard)
        EXECUTE format('SELECT device_id FROM pushplan.devices WHERE device_id = %s FOR UPDATE', v_id)
            INTO v_found;
        IF v_found IS NOT NULL THEN
            v_ids := v_ids || v_found;
        END IF;
    END LOOP;
    RETURN v_ids;
END $$;

-- The devices bound to an account (92044/92045: a bad account; 92865: bound to none), locked.
CREATE OR REPLACE FUNCTION _account_devices(p_app_id int, p_account text, p_account_type int)
RETURNS bigint[]
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_ids bigint[];
BEGIN
    PERFORM _raise_problem(_account_problem(p_account, p_account_type));
    SELECT array_agg(DISTINCT a.device_id) INTO v_ids
      FROM device_accounts a
     WHERE a.app_id = p_app_id AND a.account_type = p_account_type AND a.account = p_account;
    RETURN _devices_lock(coalesce(v_ids, '{}'));
END $$;

CREATE OR REPLACE FUNCTION _account_unknown(p_account text, p_account_type int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '92865: account "%" (type %) is not known', pushplan._shown(p_account), p_account_type
        USING ERRCODE = '42704';
END $$;

-- Every device bound to the account, now: a device bound to it later has its own consent.
CREATE OR REPLACE FUNCTION push_account_consent(app text, account text, account_type int,
                                                category text, granted boolean) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app, 'app');
    v_ids bigint[] := _account_devices(v_app, account, account_type);
    v_now timestamptz := now();     -- a value: Citus takes no STABLE function in an upsert's SET
BEGIN
    IF cardinality(v_ids) = 0 THEN
        PERFORM _account_unknown(account, account_type);
    END IF;
    PERFORM _consent_category_check(v_app, category, granted);
    -- (no parameter in the SET: on the distributed layout Citus sends it to the worker nodes
    -- without the types of the statement's other parameters, which they then cannot determine)
    INSERT INTO device_consents AS c (device_id, category, granted, updated_at)
        SELECT i, push_account_consent.category, push_account_consent.granted, v_now FROM unnest(v_ids) i
        ON CONFLICT (device_id, category) DO UPDATE SET granted = excluded.granted, updated_at = excluded.updated_at;
    RETURN cardinality(v_ids);
END $$;
COMMENT ON FUNCTION push_account_consent(text, text, int, text, boolean) IS
    'push_device_consent for every device bound to the account; returns how many; doc/privacy.md';

CREATE OR REPLACE VIEW push_device_consents WITH (security_barrier) AS
    SELECT a.app, d.registration_id, c.category, c.granted, c.updated_at
    FROM device_consents c
    JOIN devices d ON d.device_id = c.device_id
    JOIN apps a ON a.app_id = d.app_id
    WHERE a.app_id = ANY ((SELECT _visible_apps('operator'))::int[]);

-- Export: everything held about devices, as JSON.

-- What a user did (push_track) and the flows it took them through (doc/flows.md): of devices,
-- or of an account's own events and runs (p_devices NULL).
CREATE OR REPLACE FUNCTION _flows_export(p_devices bigint[], p_app int, p_account text,
                                         p_account_type int) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pushplan, pg_temp AS $$
    SELECT jsonb_build_object(
        'tracked_events', (SELECT coalesce(jsonb_agg(jsonb_build_object('event', e.event,
                               'props', e.props, 'at', e.at, 'tracked_at', e.tracked_at)
                               ORDER BY e.at, e.event_id), '[]')
                           FROM tracked_events e
                           WHERE CASE WHEN p_devices IS NOT NULL THEN e.device_id = ANY (p_devices)
                                      ELSE e.app_id = p_app AND e.account_type = p_account_type
                                           AND e.account = p_account END),
        'flow_runs', (SELECT coalesce(jsonb_agg(jsonb_build_object('flow_id', i.flow_id,
                          'flow', f.name, 'version', i.version, 'state', i.state, 'step', i.step_id,
                          'entered_at', i.entered_at, 'exited_at', i.exited_at,
                          'exit_reason', i.exit_reason, 'trigger_props', i.trigger_props,
                          'steps', (SELECT coalesce(jsonb_agg(jsonb_build_object('step', r.step_id,
                                        'at', r.at, 'task_id', r.task_id, 'detail', r.detail)
                                        ORDER BY r.at, r.step_id), '[]')
                                    FROM flow_step_runs r WHERE r.instance_id = i.instance_id))
                          ORDER BY i.entered_at, i.instance_id), '[]')
                      FROM flow_instances i JOIN flows f ON f.flow_id = i.flow_id
                      WHERE CASE WHEN p_devices IS NOT NULL THEN i.device_id = ANY (p_devices)
                                 ELSE i.app_id = p_app AND i.account_type = p_account_type
                                      AND i.account = p_account END))
$$;

-- Everything held about some devices, by registration id: each part of a device a statement
-- of its own, every distributed table in it restricted to the device, so that Citus plans each
-- on one shard (it plans no correlated subquery over its tables) and one node runs the same.
CREATE OR REPLACE FUNCTION _devices_export(p_devices bigint[]) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_id bigint;
    v_dev jsonb;
    v_part jsonb;
    v_out jsonb := '[]';
BEGIN
    FOR v_id IN SELECT d.device_id FROM devices d WHERE d.device_id = ANY (p_devices)
                ORDER BY d.registration_id LOOP
        SELECT jsonb_build_object(
            'registration_id', v.registration_id, 'platform', v.platform, 'vendor', v.vendor,
            'token', v.token, 'timezone', v.timezone, 'language', v.language, 'attrs', v.attrs,
            'opted_in', v.opted_in, 'registered', v.registered,
            'token_invalidated_at', v.token_invalidated_at, 'last_active_at', v.last_active_at,
            'created_at', v.created_at, 'updated_at', v.updated_at)
            INTO v_dev FROM devices v WHERE v.device_id = v_id;
        SELECT coalesce(jsonb_agg(g.tag ORDER BY g.tag), '[]') INTO v_part
            FROM device_tags dt JOIN tags g USING (tag_id) WHERE dt.device_id = v_id;
        v_dev := v_dev || jsonb_build_object('tags', v_part);
        SELECT coalesce(jsonb_agg(jsonb_build_object('account', x.account, 'account_type', x.account_type,
                                                     'bound_at', x.bound_at)
                                  ORDER BY x.account_type, x.account), '[]') INTO v_part
            FROM device_accounts x WHERE x.device_id = v_id;
        v_dev := v_dev || jsonb_build_object('accounts', v_part);
        SELECT coalesce(jsonb_agg(jsonb_build_object('category', c.category, 'granted', c.granted,
                                                     'updated_at', c.updated_at) ORDER BY c.category), '[]')
            INTO v_part FROM device_consents c WHERE c.device_id = v_id;
        v_dev := v_dev || jsonb_build_object('consents', v_part);
        SELECT coalesce(jsonb_agg(x.at ORDER BY x.at), '[]') INTO v_part
            FROM device_activity x WHERE x.device_id = v_id;
        v_dev := v_dev || jsonb_build_object('visits', v_part);
        SELECT coalesce(jsonb_agg(jsonb_build_object('at', x.at, 'lat', x.lat, 'lon', x.lon,
                                                     'reported_at', x.reported_at) ORDER BY x.at), '[]')
            INTO v_part FROM device_locations x WHERE x.device_id = v_id;
        v_dev := v_dev || jsonb_build_object('locations', v_part);
        SELECT coalesce(jsonb_agg(jsonb_build_object('at', x.at,
                                      'kind', CASE x.kind WHEN 2 THEN 'open' WHEN 4 THEN 'click' END)
                                  ORDER BY x.at, x.kind), '[]')
            INTO v_part FROM device_reactions x WHERE x.device_id = v_id;
        v_dev := v_dev || jsonb_build_object('reactions', v_part);
        v_part := NULL;
        SELECT jsonb_build_object('timezone', p.timezone, 'slots', p.slots, 'weights', p.weights,
                                  'visits', p.visits, 'last_visit_at', p.last_visit_at,
                                  'computed_at', p.computed_at)
            INTO v_part FROM device_send_profiles p WHERE p.device_id = v_id;
        v_dev := v_dev || jsonb_build_object('send_profile', v_part);
        -- a delivery's events by task, joined to it: both on the device's shard
        SELECT coalesce(jsonb_agg(jsonb_build_object('task_id', d.task_id,
                   'plan_id', t.plan_id, 'category', t.category, 'status', d.status,
                   'vendor', d.vendor, 'send_at', d.send_at, 'sent_at', d.sent_at,
                   'attempts', d.attempts, 'http_status', d.http_status,
                   'vendor_message_id', d.vendor_message_id, 'error', d.error,
                   'events', coalesce(e.list, '[]')) ORDER BY d.delivery_id), '[]')
            INTO v_part
            FROM deliveries d JOIN tasks t ON t.task_id = d.task_id
            LEFT JOIN (SELECT e.task_id, jsonb_agg(jsonb_build_object('kind', e.kind, 'at', e.at,
                                  'value', e.value, 'recorded_at', e.recorded_at)
                                  ORDER BY e.at, e.recorded_at) AS list
                       FROM events e WHERE e.device_id = v_id GROUP BY e.task_id) e ON e.task_id = d.task_id
            WHERE d.device_id = v_id;
        v_dev := v_dev || jsonb_build_object('deliveries', v_part)
                 || _flows_export(ARRAY[v_id], NULL, NULL, NULL);
        v_out := v_out || jsonb_build_array(v_dev);
    END LOOP;
    RETURN v_out;
END $$;

CREATE OR REPLACE FUNCTION push_device_export(app text, registration_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_id bigint := _device_id(v_app, registration_id);
BEGIN
    RETURN jsonb_build_object('app', app, 'exported_at', now(),
                              'device', _devices_export(ARRAY[v_id])->0);
END $$;
COMMENT ON FUNCTION push_device_export(text, text) IS
    'everything held about a device (registration, token, tags, attributes, accounts, consents, visits, deliveries, events) as JSON; doc/privacy.md';

CREATE OR REPLACE FUNCTION push_account_export(app text, account text, account_type int) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app, 'app');
    v_ids bigint[];
    v_packages jsonb;
BEGIN
    PERFORM _raise_problem(_account_problem(account, account_type));
    SELECT coalesce(array_agg(a.device_id), '{}') INTO v_ids FROM device_accounts a
        WHERE a.app_id = v_app AND a.account_type = push_account_export.account_type
          AND a.account = push_account_export.account;
    SELECT coalesce(jsonb_agg(jsonb_build_object('upload_id', p.upload_id, 'filename', p.filename,
                                                 'created_at', p.created_at) ORDER BY p.upload_id), '[]')
        INTO v_packages
        FROM account_packages p
        WHERE p.app_id = v_app AND p.account_type = push_account_export.account_type
          AND EXISTS (SELECT 1 FROM account_package_accounts x
                      WHERE x.upload_id = p.upload_id AND x.account = push_account_export.account);
    IF cardinality(v_ids) = 0 AND v_packages = '[]' AND NOT EXISTS (
        SELECT 1 FROM tracked_events e WHERE e.app_id = v_app
          AND e.account_type = push_account_export.account_type AND e.account = push_account_export.account) THEN
        PERFORM _account_unknown(account, account_type);
    END IF;
    RETURN jsonb_build_object('app', app, 'exported_at', now(), 'account', account,
                              'account_type', account_type, 'devices', _devices_export(v_ids),
                              'account_packages', v_packages)
        || _flows_export(NULL, v_app, account, account_type);
END $$;
COMMENT ON FUNCTION push_account_export(text, text, int) IS
    'everything held about an account: its devices as push_device_export shows them, and the account packages that list it; doc/privacy.md';

-- Erasure.

-- j without the strings of `needles`: removed from arrays, replaced by "<erased>" as object
-- values (the shape of an audience stays one).
CREATE OR REPLACE FUNCTION _jsonb_scrub(j jsonb, needles text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(j)
        WHEN 'array' THEN
            (SELECT coalesce(jsonb_agg(pushplan._jsonb_scrub(x.e, needles) ORDER BY x.n), '[]')
             FROM jsonb_array_elements(j) WITH ORDINALITY x(e, n)
             WHERE NOT (jsonb_typeof(x.e) = 'string' AND x.e #>> '{}' = ANY (needles)))
        WHEN 'object' THEN
            (SELECT coalesce(jsonb_object_agg(x.k, CASE
                 WHEN jsonb_typeof(x.v) = 'string' AND x.v #>> '{}' = ANY (needles) THEN '"<erased>"'::jsonb
                 ELSE pushplan._jsonb_scrub(x.v, needles) END), '{}')
             FROM jsonb_each(j) x(k, v))
        ELSE j END
$$;

-- Whether j holds one of the strings of `needles` anywhere.
CREATE OR REPLACE FUNCTION _jsonb_holds(j jsonb, needles text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT 1 FROM jsonb_path_query(j, 'strict $.**') s
                   WHERE jsonb_typeof(s) = 'string' AND s #>> '{}' = ANY (needles))
$$;

-- The role that called a SECURITY DEFINER function: the one set by SET ROLE, else the session's.
CREATE OR REPLACE FUNCTION _caller_name() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_setting('role') = 'none' THEN session_user::text
                ELSE current_setting('role') END
$$;

-- Removes every row about the devices, and the strings `needles` (their registration ids and
-- tokens, an account) from the audiences of the app's tasks and schedules; returns the rows
-- removed per table. The aggregates stay as they are: a delivery still queued is counted as
-- suppressed first ('device deleted', as a sender counts one whose device is gone), so that
-- every delivery made keeps exactly one outcome in the figures.
-- Flow instances erased: the tasks their send steps made get back the step's push (its
-- {{event.props}} held the person's event values; the audience is scrubbed after), and the
-- instances go (their steps' rows by their foreign key). Counts of both.
CREATE OR REPLACE FUNCTION _erase_flows(p_app int, p_instances bigint[]) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_texts bigint;
    v_runs bigint;
    v_tasks text[];
    v_pushes jsonb[];
BEGIN
    -- the single-instance tasks their send steps made, and each step's push: read first, as
    -- tasks is a reference table on Citus, which updates it joined with no local table, and
    -- over its columns runs no STABLE function (jsonb_set is immutable)
    SELECT array_agg(r.task_id), array_agg(s.spec->'push') INTO v_tasks, v_pushes
        FROM flow_step_runs r
        JOIN flow_instances i ON i.instance_id = r.instance_id
        JOIN flow_steps s ON s.flow_id = i.flow_id AND s.version = i.version AND s.step_id = r.step_id
        WHERE r.instance_id = ANY (p_instances) AND r.task_id IS NOT NULL AND s.kind = 'send';
    UPDATE tasks t SET push = jsonb_set(x.push, '{to}', t.push->'to')
        FROM unnest(v_tasks, v_pushes) x(task_id, push)
        WHERE t.task_id = x.task_id AND t.app_id = p_app AND t.flow_instance = ANY (p_instances)
          AND t.push - 'to' IS DISTINCT FROM x.push;
    GET DIAGNOSTICS v_texts = ROW_COUNT;
    v_runs := _flow_instances_delete(p_instances);
    RETURN jsonb_build_object('flow_instances', v_runs, 'flow_task_texts', v_texts);
END $$;

CREATE OR REPLACE FUNCTION _erase(p_app int, p_devices bigint[], p_needles text[]) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_counts jsonb := '{}';
    v_n bigint;
    v_table text;
    v_deliveries bigint[];
BEGIN
    -- locked first: a registration or an event of these devices waits, then finds them gone
    PERFORM _devices_lock(p_devices);

    -- planned sends (delivery_plans, one node: doc/schedules.md, "Send plans"): the devices are
    -- taken out of the plans, claimed or not (a plan left empty goes), counted as the outcome
    -- of a queued delivery of a deleted device is below. A sender claiming a plan, or writing
    -- the outcomes of its devices, holds its row: this waits for it, and the statement below
    -- finds the deliveries it wrote; a device taken out first gets no delivery from it.
    -- (No index: the plans are scanned, a few rows per thousand devices planned.)
    IF EXISTS (SELECT 1 FROM delivery_plans p WHERE p.device_ids && p_devices) THEN
        WITH o AS (
            SELECT p.plan_id, cardinality(p.device_ids) AS n FROM delivery_plans p
            WHERE p.device_ids && p_devices
        ), x AS (
            UPDATE delivery_plans p
               SET device_ids = ARRAY(SELECT u FROM unnest(p.device_ids) u WHERE u <> ALL (p_devices))
              FROM o WHERE p.plan_id = o.plan_id
            RETURNING p.task_id, p.platform, p.vendor, o.n - cardinality(p.device_ids) AS removed
        )
        INSERT INTO stats_pending (task_id, platform, vendor, suppressed, unregistered)
            SELECT x.task_id, x.platform, x.vendor, sum(x.removed), sum(x.removed) FROM x GROUP BY 1, 2, 3;
        DELETE FROM delivery_plans p WHERE cardinality(p.device_ids) = 0;
    END IF;

    -- queued deliveries (claimed or not): their outcome first, written as a sender writes the
    -- one of a delivery whose device is gone, and counted; then their queue rows. The update
    -- locks them: a sender's outcome committed first leaves the delivery out (it is no longer
    -- queued), one committed after finds no delivery to write to.
    WITH q AS (
        UPDATE deliveries d SET status = 'suppressed', attempts = d.attempts + 1, error = 'device deleted'
        WHERE d.device_id = ANY (p_devices) AND d.status = 'queued'
        RETURNING d.delivery_id, d.task_id, coalesce(d.platform, 'unknown') AS platform, d.vendor
    ), gone AS (
        DELETE FROM delivery_queue x USING q WHERE x.task_id = q.task_id AND x.delivery_id = q.delivery_id
    )
    INSERT INTO stats_pending (task_id, platform, vendor, suppressed, unregistered)
        SELECT q.task_id, q.platform, q.vendor, count(*), count(*) FROM q GROUP BY 1, 2, 3;

    -- the deliveries first: an event being recorded holds its delivery's row lock, so this waits
    -- for it to commit, and the events' statement, which starts after, sees it
    WITH gone AS (
        DELETE FROM deliveries d WHERE d.device_id = ANY (p_devices) RETURNING d.delivery_id
    )
    SELECT coalesce(array_agg(gone.delivery_id), '{}') INTO v_deliveries FROM gone;
    v_counts := v_counts || jsonb_build_object('deliveries', cardinality(v_deliveries));
    -- events: of the app's tasks (an event always has its delivery's task), whose deliveries
    -- may have been dropped by retention before the events were
    DELETE FROM events e WHERE e.app_id = p_app AND e.device_id = ANY (p_devices)
        AND e.task_id IN (SELECT t.task_id FROM tasks t WHERE t.app_id = p_app);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_counts := v_counts || jsonb_build_object('events', v_n);
    DELETE FROM outcome_outbox o WHERE o.app_id = p_app
        AND (o.registration_id = ANY (p_needles) OR o.delivery_id = ANY (v_deliveries));
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF _registry_distributed() THEN
        -- and the outcomes the worker nodes' senders appended there, not moved here yet
        -- (doc/scale-out.md, "Outcome webhooks")
        SELECT v_n + coalesce(sum(r.result::bigint), 0) INTO v_n
          FROM run_command_on_workers(format(
                 'WITH d AS (DELETE FROM pushplan.outcome_outbox WHERE app_id = %s
                                 AND (registration_id = ANY (%L::text[]) OR delivery_id = ANY (%L::bigint[]))
                             RETURNING 1)
                  SELECT count(*) FROM d', p_app, p_needles, v_deliveries)) r
         WHERE r.success;
    END IF;
    v_counts := v_counts || jsonb_build_object('outcome_outbox', v_n);
    -- their flows (doc/flows.md): the texts a send step made from their events' props, the
    -- step's template again; their runs (their steps' rows go with them) and what they did
    v_counts := v_counts || _erase_flows(p_app, ARRAY(SELECT i.instance_id FROM flow_instances i
                                                     WHERE i.device_id = ANY (p_devices)));
    -- (tracked_events has no foreign key to devices: sql/install/schema.sql)
    DELETE FROM tracked_events x WHERE x.device_id = ANY (p_devices);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_counts := v_counts || jsonb_build_object('tracked_events', v_n);
    -- the devices' own rows, table by table (engagement_counts goes with the devices, by its
    -- foreign key; device_reactions has none: sql/install/schema.sql)
    FOREACH v_table IN ARRAY ARRAY['device_tags', 'device_accounts', 'device_consents',
                                   'device_activity', 'device_reactions', 'device_send_profiles',
                                   'device_locations'] LOOP
        EXECUTE format('DELETE FROM %I x WHERE x.device_id = ANY ($1)', v_table) USING p_devices;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_counts := v_counts || jsonb_build_object(v_table, v_n);
    END LOOP;
    DELETE FROM smart_profile_pending x WHERE x.device_id = ANY (p_devices);
    -- (an audience_enter flow's members go with the device by their key on one node; on the
    -- distributed layout they are the coordinator's and the key is not kept: scale-out.md)
    DELETE FROM flow_audience_members x WHERE x.device_id = ANY (p_devices);
    DELETE FROM devices v WHERE v.device_id = ANY (p_devices);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_counts := v_counts || jsonb_build_object('devices', v_n);

    -- list audiences that name them (a push to registration ids, tokens or accounts)
    UPDATE tasks t SET push = jsonb_set(t.push, '{to}', _jsonb_scrub(t.push->'to', p_needles))
        WHERE t.app_id = p_app AND jsonb_typeof(t.push->'to') = 'object'
          AND _jsonb_holds(t.push->'to', p_needles);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_counts := v_counts || jsonb_build_object('task_audiences', v_n);
    UPDATE schedules s SET push = jsonb_set(s.push, '{to}', _jsonb_scrub(s.push->'to', p_needles)),
                           updated_at = now()
        WHERE s.app_id = p_app AND jsonb_typeof(s.push->'to') = 'object'
          AND _jsonb_holds(s.push->'to', p_needles);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_counts || jsonb_build_object('schedule_audiences', v_n);
END $$;

-- The audit row: no identifier, its hash (doc/privacy.md says why).
CREATE OR REPLACE FUNCTION _erasure_record(p_app int, p_subject text, p_identifier text, p_counts jsonb)
RETURNS jsonb
LANGUAGE sql SET search_path = pushplan, pg_temp AS $$
    INSERT INTO erasures (app_id, subject, subject_hash, erased_by, counts)
        VALUES (p_app, p_subject,
                encode(sha256(convert_to(p_app || ':' || p_subject || ':' || p_identifier, 'UTF8')), 'hex'),
                _caller_name(), p_counts)
        RETURNING jsonb_build_object('erasure_id', erasure_id, 'subject_hash', subject_hash,
                                     'erased_at', erased_at, 'counts', counts)
$$;

CREATE OR REPLACE FUNCTION push_device_erase(app text, registration_id text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_id bigint := _device_id(v_app, registration_id);
    v_needles text[];
BEGIN
    PERFORM _erasure_lock(v_app, true);
    SELECT array_remove(ARRAY[v.registration_id, v.token], NULL) INTO v_needles
        FROM devices v WHERE v.device_id = v_id;
    RETURN _erasure_record(v_app, 'device', registration_id, _erase(v_app, ARRAY[v_id], v_needles));
END $$;
COMMENT ON FUNCTION push_device_erase(text, text) IS
    'erases everything held about a device (the aggregates stay); returns the audit row; doc/privacy.md';

-- The account's devices (every one, even one bound to other accounts too: it is the person's),
-- its bindings, and its entries in the app's account packages.
CREATE OR REPLACE FUNCTION push_account_erase(app text, account text, account_type int) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app, 'app');
    v_ids bigint[];
    v_needles text[];
    v_counts jsonb;
    v_n bigint;
BEGIN
    PERFORM _erasure_lock(v_app, true);     -- before any device is locked
    v_ids := _account_devices(v_app, account, account_type);
    IF cardinality(v_ids) = 0 AND NOT EXISTS (
        SELECT 1 FROM account_packages p JOIN account_package_accounts x USING (upload_id)
        WHERE p.app_id = v_app AND p.account_type = push_account_erase.account_type
          AND x.account = push_account_erase.account) AND NOT EXISTS (
        SELECT 1 FROM tracked_events e WHERE e.app_id = v_app
          AND e.account_type = push_account_erase.account_type AND e.account = push_account_erase.account) THEN
        PERFORM _account_unknown(account, account_type);
    END IF;
    SELECT ARRAY[push_account_erase.account] || coalesce(array_agg(x.n), '{}') INTO v_needles
        FROM devices v, LATERAL unnest(array_remove(ARRAY[v.registration_id, v.token], NULL)) x(n)
        WHERE v.device_id = ANY (v_ids);
    v_counts := _erase(v_app, v_ids, v_needles);
    -- the account's own flow instances and events (its devices' went in _erase), counted
    -- with the devices'
    SELECT v_counts || (SELECT jsonb_object_agg(e.key, (v_counts->>e.key)::bigint + e.value::bigint)
                        FROM jsonb_each_text(_erase_flows(v_app, ARRAY(
                            SELECT i.instance_id FROM flow_instances i WHERE i.app_id = v_app
                              AND i.account_type = push_account_erase.account_type
                              AND i.account = push_account_erase.account))) e)
        INTO v_counts;
    DELETE FROM tracked_events x WHERE x.app_id = v_app
        AND x.account_type = push_account_erase.account_type AND x.account = push_account_erase.account;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_counts := jsonb_set(v_counts, '{tracked_events}', to_jsonb((v_counts->>'tracked_events')::bigint + v_n));
    WITH gone AS (
        DELETE FROM account_package_accounts x USING account_packages p
        WHERE p.upload_id = x.upload_id AND p.app_id = v_app
          AND p.account_type = push_account_erase.account_type AND x.account = push_account_erase.account
        RETURNING x.upload_id
    ), counted AS (
        UPDATE account_packages p SET account_count = p.account_count - 1
        FROM gone WHERE p.upload_id = gone.upload_id
    )
    SELECT count(*) INTO v_n FROM gone;
    RETURN _erasure_record(v_app, 'account', account_type || ':' || account,
                           v_counts || jsonb_build_object('account_package_accounts', v_n));
END $$;
COMMENT ON FUNCTION push_account_erase(text, text, int) IS
    'erases everything held about an account: its devices, bindings and package entries (the aggregates stay); returns the audit row; doc/privacy.md';

CREATE OR REPLACE VIEW push_erasures WITH (security_barrier) AS
    SELECT a.app, e.erasure_id, e.subject, e.subject_hash, e.erased_by, e.erased_at, e.counts
    FROM erasures e JOIN apps a USING (app_id)
    WHERE e.app_id = ANY ((SELECT _visible_apps('admin'))::int[]);
