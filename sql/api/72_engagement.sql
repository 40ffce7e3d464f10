-- Engagement controls (doc/engagement.md): frequency caps and quiet hours, set per app
-- (push_app_set), per plan (push_plan_set) or per flow (its definition: doc/flows.md), caps
-- also per category (category_caps), applied by the senders' claim
-- (src/worker_sender.c), which asks _engagement_gate about each delivery of an app or plan
-- that has any.

-- Raises the error of a frequency_cap or quiet_hours value that cannot be applied; returns
-- nothing when it can. The checks of push_app_set and push_plan_set.
CREATE OR REPLACE FUNCTION _engagement_check(p_key text, p_value jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_key text;
    v_value jsonb;
BEGIN
    IF p_key = 'frequency_cap' THEN
        SELECT k INTO v_key FROM jsonb_object_keys(p_value) k
            WHERE k NOT IN ('per_day', 'per_week', 'window', 'on_cap') ORDER BY 1 LIMIT 1;
        IF v_key IS NOT NULL THEN
            RAISE EXCEPTION '92800: unknown key "%" in frequency_cap', _shown(v_key)
                USING ERRCODE = '22023', HINT = 'The keys are per_day, per_week, window and on_cap.';
        END IF;
        FOR v_key, v_value IN SELECT e.key, e.value FROM jsonb_each(p_value) e
                              WHERE e.key IN ('per_day', 'per_week') ORDER BY 1 LOOP
            IF jsonb_typeof(v_value) <> 'number' OR (v_value)::numeric <> trunc((v_value)::numeric)
               OR (v_value)::numeric NOT BETWEEN 1 AND 1000 THEN
                RAISE EXCEPTION '92801: frequency_cap "%" must be an integer from 1 to 1000', v_key
                    USING ERRCODE = '22023';
            END IF;
        END LOOP;
        IF NOT (p_value ?| ARRAY['per_day', 'per_week']) THEN
            RAISE EXCEPTION '92802: frequency_cap needs "per_day" or "per_week"' USING ERRCODE = '22023';
        END IF;
        IF (p_value->>'per_day')::int > (p_value->>'per_week')::int THEN
            RAISE EXCEPTION '92803: frequency_cap "per_day" (%) is more than "per_week" (%)',
                p_value->>'per_day', p_value->>'per_week' USING ERRCODE = '22023';
        END IF;
        IF p_value ? 'window' AND coalesce(p_value->>'window', '') NOT IN ('rolling', 'calendar')
           OR jsonb_typeof(p_value->'window') <> 'string' THEN
            RAISE EXCEPTION '92804: frequency_cap "window" must be "rolling" or "calendar"'
                USING ERRCODE = '22023';
        END IF;
        IF p_value ? 'on_cap' AND coalesce(p_value->>'on_cap', '') NOT IN ('drop', 'defer')
           OR jsonb_typeof(p_value->'on_cap') <> 'string' THEN
            RAISE EXCEPTION '92805: frequency_cap "on_cap" must be "drop" or "defer"'
                USING ERRCODE = '22023';
        END IF;
    ELSIF p_key = 'quiet_hours' THEN
        SELECT k INTO v_key FROM jsonb_object_keys(p_value) k
            WHERE k NOT IN ('from', 'to', 'on_quiet') ORDER BY 1 LIMIT 1;
        IF v_key IS NOT NULL THEN
            RAISE EXCEPTION '92810: unknown key "%" in quiet_hours', _shown(v_key)
                USING ERRCODE = '22023', HINT = 'The keys are from, to and on_quiet.';
        END IF;
        IF NOT (p_value ? 'from' AND p_value ? 'to') THEN
            RAISE EXCEPTION '92812: quiet_hours needs "from" and "to"' USING ERRCODE = '22023';
        END IF;
        FOREACH v_key IN ARRAY ARRAY['from', 'to'] LOOP
            IF jsonb_typeof(p_value->v_key) <> 'string'
               OR p_value->>v_key !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN
                RAISE EXCEPTION '92811: quiet_hours "%" must be a time of day "HH:MM" from 00:00 to 23:59', v_key
                    USING ERRCODE = '22023';
            END IF;
        END LOOP;
        IF p_value->>'from' = p_value->>'to' THEN
            RAISE EXCEPTION '92813: quiet_hours "from" and "to" are the same time: the window would be empty'
                USING ERRCODE = '22023';
        END IF;
        IF p_value ? 'on_quiet' AND coalesce(p_value->>'on_quiet', '') NOT IN ('hold', 'drop')
           OR jsonb_typeof(p_value->'on_quiet') <> 'string' THEN
            RAISE EXCEPTION '92814: quiet_hours "on_quiet" must be "hold" or "drop"'
                USING ERRCODE = '22023';
        END IF;
    END IF;
END $$;

-- A plan's own engagement controls: they apply to the plan's pushes on top of the app's (a
-- frequency cap: both counted; quiet hours: the plan's replace the app's). null removes one.
CREATE OR REPLACE FUNCTION push_plan_set(app text, plan_id text, settings jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'operator');
    r record;
BEGIN
    PERFORM _plan_check_exists(v_app, plan_id);
    IF settings IS NULL OR jsonb_typeof(settings) <> 'object' THEN
        RAISE EXCEPTION '92820: plan settings must be a JSON object' USING ERRCODE = '22023';
    END IF;
    FOR r IN SELECT e.key, e.value FROM jsonb_each(settings) e ORDER BY e.key LOOP
        IF r.key NOT IN ('frequency_cap', 'quiet_hours') THEN
            RAISE EXCEPTION '92821: unknown plan setting "%"', _shown(r.key)
                USING ERRCODE = '22023', HINT = 'The plan settings are frequency_cap and quiet_hours.';
        ELSIF jsonb_typeof(r.value) = 'null' THEN
            CONTINUE;
        ELSIF jsonb_typeof(r.value) <> 'object' THEN
            RAISE EXCEPTION '92822: plan setting "%" must be a JSON object', r.key USING ERRCODE = '22023';
        END IF;
        PERFORM _engagement_check(r.key, r.value);
    END LOOP;
    UPDATE plans p SET settings = jsonb_strip_nulls(p.settings || push_plan_set.settings), updated_at = now()
        WHERE p.app_id = v_app AND p.plan_id = push_plan_set.plan_id;
END $$;
COMMENT ON FUNCTION push_plan_set(text, text, jsonb) IS
    'sets a plan''s own frequency_cap and quiet_hours (null removes one); doc/engagement.md';

-- The app setting category_caps names categories the app has (doc/privacy.md: marketing,
-- transactional and those of its consent setting): push_app_set checks it against the merged
-- settings, so that a category cannot be removed while a cap still names it.
CREATE OR REPLACE FUNCTION _category_caps_check(p_app_id int, p_caps jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_category text;
BEGIN
    SELECT k INTO v_category FROM jsonb_object_keys(coalesce(p_caps, '{}')) k
        WHERE k NOT IN (SELECT c.category FROM _consent_categories(p_app_id) c) ORDER BY 1 LIMIT 1;
    IF v_category IS NOT NULL THEN
        RAISE EXCEPTION '92824: category_caps names category "%", which the app does not have', _shown(v_category)
            USING ERRCODE = '42704',
            HINT = 'This app''s categories: ' || (SELECT string_agg(c.category, ', ' ORDER BY c.category)
                                                  FROM _consent_categories(p_app_id) c)
                   || ' (an app''s own come from its "consent" setting).';
    END IF;
END $$;

-- Whether the deliveries of an app's plan may be held back at all: what the senders cache per
-- app and plan (for 10 s), so that an app without controls costs them one hash look-up per
-- delivery.
-- A flow's controls count for the plans its send steps name (of any version: running
-- instances finish on theirs).
CREATE OR REPLACE FUNCTION _engagement_any(p_app int, p_plan text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pushplan, pg_temp AS $$
    SELECT coalesce((SELECT a.settings ?| ARRAY['frequency_cap', 'quiet_hours', 'category_caps']
                     FROM apps a WHERE a.app_id = p_app), false)
        OR coalesce((SELECT p.settings ?| ARRAY['frequency_cap', 'quiet_hours']
                     FROM plans p WHERE p.app_id = p_app AND p.plan_id = p_plan), false)
        OR EXISTS (SELECT 1 FROM flow_controls c
                   WHERE c.app_id = p_app AND p_plan = ANY (c.plans)
                     AND (c.frequency_cap IS NOT NULL OR c.quiet_hours IS NOT NULL))
$$;

-- The zone a device's quiet hours and calendar days are read in: its own, but for the UTC that
-- registration stores when a device gives none, which reads as the app's zone when the app
-- has one (a device in UTC gives a real zone, such as Europe/London or Etc/UTC).
CREATE OR REPLACE FUNCTION _engagement_zone(device_zone text, app_zone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN device_zone IS NULL OR device_zone = 'UTC' THEN coalesce(app_zone, 'UTC')
                ELSE device_zone END
$$;

-- The end of the quiet window that local time p_local is in, as a local time; NULL when it is
-- in none. A window whose "from" is after its "to" runs across midnight.
CREATE OR REPLACE FUNCTION _quiet_end(p_quiet jsonb, p_local timestamp) RETURNS timestamp
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN f < e AND t >= f AND t < e THEN p_local::date + e
        WHEN f > e AND t < e THEN p_local::date + e
        WHEN f > e AND t >= f THEN p_local::date + 1 + e
        END
    FROM (SELECT (p_quiet->>'from')::time AS f, (p_quiet->>'to')::time AS e,
                 p_local::time AS t) x
$$;

-- When a frequency cap lets one more push go to a device whose counted pushes are p_sent
-- (newest first), at p_now in zone p_zone; NULL when it lets it go now.
CREATE OR REPLACE FUNCTION _cap_release(p_cap jsonb, p_sent timestamptz[], p_now timestamptz,
                                        p_zone text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_day int := (p_cap->>'per_day')::int;
    v_week int := (p_cap->>'per_week')::int;
    v_local timestamp := p_now AT TIME ZONE p_zone;
    v_release timestamptz;
    v_at timestamptz;
BEGIN
    IF coalesce(p_cap->>'window', 'rolling') = 'rolling' THEN
        -- the n-th newest push within the window leaves it a day (a week) after it was sent
        IF v_day IS NOT NULL THEN
            v_at := p_sent[v_day];
            IF v_at > p_now - interval '1 day' THEN
                v_release := v_at + interval '1 day';
            END IF;
        END IF;
        IF v_week IS NOT NULL THEN
            v_at := p_sent[v_week];
            IF v_at > p_now - interval '7 days' THEN
                v_release := greatest(v_release, v_at + interval '7 days');
            END IF;
        END IF;
    ELSE
        -- calendar days and weeks (from Monday) in the device's zone
        IF v_day IS NOT NULL AND p_sent[v_day] >= date_trunc('day', v_local) AT TIME ZONE p_zone THEN
            v_release := (date_trunc('day', v_local) + interval '1 day') AT TIME ZONE p_zone;
        END IF;
        IF v_week IS NOT NULL AND p_sent[v_week] >= date_trunc('week', v_local) AT TIME ZONE p_zone THEN
            v_release := greatest(v_release,
                                  (date_trunc('week', v_local) + interval '7 days') AT TIME ZONE p_zone);
        END IF;
    END IF;
    RETURN v_release;
END $$;

-- The senders' gate (src/worker_sender.c): for deliveries just claimed, of apps or plans with
-- engagement controls, at p_now (pushplan.clock_now()), what keeps each from going now:
--   'quiet hours' / 'capped': dropped (the sender records them suppressed with that error);
--   'held' / 'deferred': moved to `until` (the delivery and its queue row, given back), with
--     the delivery's error saying why until it is sent;
-- and no row for those that go. A delivery is counted against its caps when it passes them.
-- Caps count only a delivery's first attempt (a retry was counted); quiet hours hold every
-- attempt. Transactional pushes (the high lane) pass both unless their options say
-- "frequency_cap": true / "quiet_hours": true; "false" exempts any push.
-- Devices' count rows are locked in (device, scope) order, the same in every sender: no two
-- claims wait for each other in a circle.
-- enable_sort on: the senders plan without sorts (src/worker_sender.c, plan_by_keys), and the
-- only way left to give a claim's few hundred rows in device order was to read every delivery
-- in the deliveries' device index (5.5 s a claim during a 200,000-device broadcast).
-- Its tables are named pushplan.<table>: on the distributed layout a worker node's sender runs
-- a copy of this function made for each of its shard groups, the names replaced by the
-- group's shards (src/worker_sender.c, shard_gate), as its claim is.
CREATE OR REPLACE FUNCTION _engagement_gate(p_ids bigint[], p_now timestamptz)
RETURNS TABLE(delivery_id bigint, verdict text, until timestamptz)
LANGUAGE plpgsql SET search_path = pushplan, pg_temp SET enable_sort = on AS $$
#variable_conflict use_column
DECLARE
    r record;
    c record;
    v_local timestamp;
    v_end timestamp;
    v_release timestamptz;
    v_until timestamptz;
    v_drop boolean;
    v_sent timestamptz[];
    v_scopes text[];
    v_held_ids bigint[] := '{}';
    v_held_tasks text[] := '{}';
    v_held_at timestamptz[] := '{}';
    v_held_why text[] := '{}';
BEGIN
    FOR r IN
        SELECT d.delivery_id AS id, d.task_id, d.device_id, d.attempts, d.send_at,
               t.send_at AS task_send_at, t.send_rule, t.plan_id,
               _engagement_zone(v.timezone, a.settings->>'timezone') AS zone,
               coalesce(fc.quiet_hours, p.settings->'quiet_hours',
                        a.settings->'quiet_hours') AS quiet,
               a.settings->'frequency_cap' AS app_cap, p.settings->'frequency_cap' AS plan_cap,
               '#' || t.category AS cat_scope, a.settings->'category_caps'->t.category AS cat_cap,
               '~' || t.flow_id AS flow_scope, fc.frequency_cap AS flow_cap,
               -- a flow's sends are one user's each, but automated: not exempt as transactional
               coalesce((t.push #>> '{body,options,quiet_hours}')::boolean,
                        t.priority > 0 OR t.flow_id IS NOT NULL) AS quiet_applies,
               coalesce((t.push #>> '{body,options,frequency_cap}')::boolean,
                        t.priority > 0 OR t.flow_id IS NOT NULL) AS cap_applies,
               coalesce((t.push #>> '{body,options,big_push_duration}')::int, 0) AS spread
        FROM unnest(p_ids) i(id)
        JOIN pushplan.deliveries d ON d.delivery_id = i.id
        JOIN pushplan.tasks t ON t.task_id = d.task_id
        JOIN pushplan.apps a ON a.app_id = t.app_id
        JOIN pushplan.plans p ON p.app_id = t.app_id AND p.plan_id = t.plan_id
        -- a flow's controls: its current version's (a change applies at once, to every run;
        -- flow_controls, kept with the flow: a reference table on the distributed layout)
        LEFT JOIN pushplan.flow_controls fc ON fc.flow_id = t.flow_id
        LEFT JOIN pushplan.devices v ON v.device_id = d.device_id
        ORDER BY d.device_id, d.delivery_id
    LOOP
        -- quiet hours, in the device's local time
        IF r.quiet_applies AND r.quiet IS NOT NULL THEN
            v_local := p_now AT TIME ZONE r.zone;
            v_end := _quiet_end(r.quiet, v_local);
            IF v_end IS NOT NULL THEN
                IF coalesce(r.quiet->>'on_quiet', 'hold') = 'drop' THEN
                    delivery_id := r.id; verdict := 'quiet hours'; until := NULL;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                -- the window's end, plus the delivery's share of big_push_duration: its
                -- offset in the task's spread, or (planned per device, or retried) a share
                -- fixed by its device
                v_until := (v_end AT TIME ZONE r.zone) + CASE
                    WHEN r.spread = 0 THEN interval '0'
                    WHEN r.send_rule IS NULL AND r.send_at >= r.task_send_at
                         AND r.send_at < r.task_send_at + r.spread * interval '1 minute'
                        THEN r.send_at - r.task_send_at
                    ELSE (abs(hashint8(r.device_id)) % (r.spread * 60000)) * interval '1 millisecond' END;
                delivery_id := r.id; verdict := 'held'; until := v_until;
                RETURN NEXT;
                v_held_ids := v_held_ids || r.id; v_held_tasks := v_held_tasks || r.task_id;
                v_held_at := v_held_at || v_until; v_held_why := v_held_why || 'held by quiet hours'::text;
                CONTINUE;
            END IF;
        END IF;

        -- frequency caps: the app's, counted over all its pushes (scope ''), the category's
        -- (scope '#' || category, over the app's pushes of that category), the plan's, and
        -- the flow's (scope '~' || flow id, over the flow's sends)
        IF NOT r.cap_applies OR r.attempts > 0
           OR (r.app_cap IS NULL AND r.plan_cap IS NULL AND r.cat_cap IS NULL AND r.flow_cap IS NULL) THEN
            CONTINUE;
        END IF;
        v_release := NULL;
        v_drop := false;
        v_scopes := '{}';
        -- scopes sort '' (the app's) < '#category' < plan ids ([A-Za-z0-9_.:-], never '#'
        -- or '~') < '~flow'
        FOR c IN SELECT s.scope, s.cap
                 FROM (VALUES ('', r.app_cap), (r.cat_scope, r.cat_cap), (r.plan_id, r.plan_cap),
                              (r.flow_scope, r.flow_cap)) s(scope, cap)
                 WHERE s.cap IS NOT NULL ORDER BY s.scope COLLATE "C" LOOP
            v_scopes := v_scopes || c.scope;
            INSERT INTO pushplan.engagement_counts (device_id, scope) VALUES (r.device_id, c.scope)
                ON CONFLICT DO NOTHING;
            -- a new statement: it sees, once its lock is granted, what another claim counted
            SELECT e.sent INTO v_sent FROM pushplan.engagement_counts e
                WHERE e.device_id = r.device_id AND e.scope = c.scope FOR UPDATE;
            v_until := _cap_release(c.cap, v_sent, p_now, r.zone);
            IF v_until IS NOT NULL THEN
                v_release := greatest(v_release, v_until);
                v_drop := v_drop OR coalesce(c.cap->>'on_cap', 'drop') = 'drop';
            END IF;
        END LOOP;
        IF v_release IS NULL THEN
            -- it goes: counted in every scope, each trimmed to what a week's window can need
            UPDATE pushplan.engagement_counts e
                SET sent = ARRAY[p_now] || ARRAY(SELECT x FROM unnest(e.sent) x
                                                 WHERE x > p_now - interval '8 days' ORDER BY x DESC)
                WHERE e.device_id = r.device_id AND e.scope = ANY (v_scopes);
        ELSIF v_drop THEN
            delivery_id := r.id; verdict := 'capped'; until := NULL;
            RETURN NEXT;
        ELSE
            delivery_id := r.id; verdict := 'deferred'; until := v_release;
            RETURN NEXT;
            v_held_ids := v_held_ids || r.id; v_held_tasks := v_held_tasks || r.task_id;
            v_held_at := v_held_at || v_release; v_held_why := v_held_why || 'deferred by frequency cap'::text;
        END IF;
    END LOOP;

    -- held and deferred: later, and given back to the queue (the claim had taken them)
    IF cardinality(v_held_ids) > 0 THEN
        UPDATE pushplan.deliveries d SET send_at = h.at, error = h.why
            FROM unnest(v_held_ids, v_held_at, v_held_why) h(id, at, why)
            WHERE d.delivery_id = h.id;
        UPDATE pushplan.delivery_queue q SET send_at = h.at, claimed_by = NULL, claimed_at = NULL
            FROM unnest(v_held_tasks, v_held_ids, v_held_at) h(task_id, id, at)
            WHERE q.task_id = h.task_id AND q.delivery_id = h.id;
    END IF;
END $$;
