-- Flow triggers other than an event (doc/flows.md, "Triggers"): inactivity, an attribute
-- changing, a date attribute, entering an audience. _flow_compile (89_flows.sql) hands these
-- kinds to _flow_trigger_compile and stores what it returns in flow_versions.trigger_kind and
-- trigger_spec. attr_change is entered in the transaction that writes the attribute
-- (_flow_attrs_changed, called by sql/api/20_devices.sql); the three others are evaluated by the
-- scheduler, one flow at a time, each evaluation one set operation over the app's devices
-- (_flow_triggers_run; src/flow_triggers.c). Every kind enters users through _flow_enter_set,
-- the set form of _flow_enter (sql/api/89_flow_enter.sql), which applies the flows' entry rules
-- for events too.
-- (This file sorts before 89_flows.sql: what it calls from there is called from plpgsql only.)

-- How often the scheduler evaluates a flow of each kind (pushplan's clock): the latency of the
-- trigger (doc/flows.md).
CREATE OR REPLACE FUNCTION _flow_trigger_every(kind text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE kind WHEN 'inactive' THEN interval '15 minutes'
                     WHEN 'date_attr' THEN interval '5 minutes'
                     WHEN 'audience_enter' THEN interval '1 minute' END
$$;

-- An audience checked as push_send checks its "to" (src/flow_triggers.c): raises push_send's
-- audience error, looks nothing up beyond what compiling does.
CREATE OR REPLACE FUNCTION _flow_audience_check(app_id int, audience jsonb) RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_flow_audience_check' LANGUAGE C VOLATILE STRICT;

-- An audience_enter flow's members brought up to date (src/flow_triggers.c): the devices that
-- are in the audience now and were not are added and returned; those that left are removed.
CREATE OR REPLACE FUNCTION _flow_audience_diff(flow_id text, app_id int, audience jsonb)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'pushplan_flow_audience_diff' LANGUAGE C VOLATILE STRICT;

-- A date attribute's value as a date: "YYYY-MM-DD", or an ISO 8601 time that starts with one
-- (its date is taken as written); NULL for anything else, without raising (a device's bad value
-- never stops an evaluation).
CREATE OR REPLACE FUNCTION _flow_date_value(v jsonb) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'string'
                 AND (v #>> '{}') ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]|$)'
                 AND substr(v #>> '{}', 1, 4) <> '0000'
                 AND substr(v #>> '{}', 9, 2)::int <= extract(day FROM
                        make_date(substr(v #>> '{}', 1, 4)::int, substr(v #>> '{}', 6, 2)::int, 1)
                        + interval '1 month - 1 day')
           THEN make_date(substr(v #>> '{}', 1, 4)::int, substr(v #>> '{}', 6, 2)::int,
                          substr(v #>> '{}', 9, 2)::int) END
$$;

-- A trigger of one of this file's kinds checked and compiled: {"kind": k, "spec": {...}}.
-- Raises the first problem.
CREATE OR REPLACE FUNCTION _flow_trigger_compile(p_app int, p_kind text, p_trigger jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v jsonb := p_trigger->p_kind;
    v_key text;
    v_for interval;
BEGIN
    SELECT min(k) INTO v_key FROM jsonb_object_keys(p_trigger) k
        WHERE k <> p_kind AND NOT (p_kind = 'audience_enter' AND k = 'include_current');
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '93067: trigger "%" takes no "%"', p_kind, pushplan._shown(v_key)
            USING ERRCODE = '22023',
                  HINT = 'where and idempotency_key are for event triggers; audience_enter also takes include_current.';
    END IF;
    CASE p_kind
    WHEN 'inactive' THEN
        IF jsonb_typeof(v) IS DISTINCT FROM 'object' OR NOT v ? 'event' OR NOT v ? 'for'
           OR EXISTS (SELECT 1 FROM jsonb_object_keys(v) k WHERE k NOT IN ('event', 'for'))
           OR jsonb_typeof(v->'event') <> 'string' THEN
            RAISE EXCEPTION '93060: trigger: inactive takes {"event": name, "for": duration}'
                USING ERRCODE = '22023';
        END IF;
        PERFORM pushplan._raise_problem(pushplan._flow_event_problem(v->>'event'));
        v_for := pushplan._flow_interval(v->'for', false);
        IF v_for IS NULL OR v_for < interval '1 hour' THEN
            RAISE EXCEPTION '93061: trigger: inactive "for" is a duration from 1 hour up to 366 days ("7 days"), got %',
                left((v->'for')::text, 100) USING ERRCODE = '22023';
        END IF;
        RETURN jsonb_build_object('kind', p_kind,
                                  'spec', jsonb_build_object('event', v->'event', 'for', v->'for'));
    WHEN 'attr_change' THEN
        IF jsonb_typeof(v) IS DISTINCT FROM 'object' OR jsonb_typeof(v->'attr') IS DISTINCT FROM 'string'
           OR EXISTS (SELECT 1 FROM jsonb_object_keys(v) k WHERE k NOT IN ('attr', 'from', 'to'))
           OR EXISTS (SELECT 1 FROM jsonb_each(v) e
                      WHERE e.key IN ('from', 'to') AND jsonb_typeof(e.value) IN ('object', 'array')) THEN
            RAISE EXCEPTION '93062: trigger: attr_change takes {"attr": name, "from": value, "to": value} ("from" and "to" optional; a value is a string, number, boolean or null for none)'
                USING ERRCODE = '22023';
        END IF;
        PERFORM pushplan._raise_problem(pushplan._attrs_problem(jsonb_build_object(v->>'attr', 'x')));
        IF v ? 'from' AND v ? 'to' AND v->'from' = v->'to' THEN
            RAISE EXCEPTION '93063: trigger: attr_change "from" and "to" are the same value (%)',
                left((v->'to')::text, 100) USING ERRCODE = '22023';
        END IF;
        RETURN jsonb_build_object('kind', p_kind, 'spec', v);
    WHEN 'date_attr' THEN
        IF jsonb_typeof(v) IS DISTINCT FROM 'object' OR jsonb_typeof(v->'attr') IS DISTINCT FROM 'string'
           OR EXISTS (SELECT 1 FROM jsonb_object_keys(v) k WHERE k NOT IN ('attr', 'at', 'anniversary'))
           OR (v ? 'anniversary' AND jsonb_typeof(v->'anniversary') <> 'boolean') THEN
            RAISE EXCEPTION '93064: trigger: date_attr takes {"attr": name, "at": "HH:MM", "anniversary": true or false}'
                USING ERRCODE = '22023';
        END IF;
        PERFORM pushplan._raise_problem(pushplan._attrs_problem(jsonb_build_object(v->>'attr', 'x')));
        IF jsonb_typeof(v->'at') IS DISTINCT FROM 'string' OR v->>'at' !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN
            RAISE EXCEPTION '93065: trigger: date_attr "at" is a time of day HH:MM (00:00 to 23:59) in the user''s zone, got %',
                coalesce(left((v->'at')::text, 100), 'none') USING ERRCODE = '22023';
        END IF;
        RETURN jsonb_build_object('kind', p_kind, 'spec', jsonb_build_object(
            'attr', v->'attr', 'at', v->'at', 'anniversary', coalesce(v->'anniversary', 'false')));
    WHEN 'audience_enter' THEN
        IF p_trigger ? 'include_current' AND jsonb_typeof(p_trigger->'include_current') <> 'boolean' THEN
            RAISE EXCEPTION '93066: trigger: include_current is true (the audience''s members when the flow starts enter too) or false'
                USING ERRCODE = '22023';
        END IF;
        -- push_send's own error for an audience it would refuse
        PERFORM pushplan._flow_audience_check(p_app, v);
        RETURN jsonb_build_object('kind', p_kind, 'spec', jsonb_build_object(
            'audience', v, 'include_current', coalesce(p_trigger->'include_current', 'false')));
    END CASE;
END $$;

-- ---- entering users ---------------------------------------------------------------------------

-- Enters a set of devices into a flow's version under its entry rules (_flow_enter,
-- sql/api/89_flow_enter.sql), as an event enters its user: p_keys is the trigger's occurrence,
-- such as one inactivity period (NULL: none); a device given twice is decided once, for its
-- first place. Returns how many entered, and wakes the scheduler when any did.
CREATE OR REPLACE FUNCTION _flow_enter_set(p_flow text, p_version int, p_devices bigint[],
                                           p_props jsonb[], p_keys text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_count int := coalesce(cardinality(p_devices), 0);
    v_n bigint;
BEGIN
    IF v_count = 0 THEN
        RETURN 0;
    END IF;
    v_n := pushplan._flow_enter(pushplan.clock_now(), array_fill(p_flow, ARRAY[v_count]),
                                array_fill(p_version, ARRAY[v_count]), p_devices, NULL, NULL, p_props,
                                p_keys, ARRAY(SELECT generate_series(1, v_count)), 64, false);
    IF v_n > 0 THEN
        PERFORM pushplan._wake_scheduler();
    END IF;
    RETURN v_n;
END $$;

-- ---- attr_change: in the writer's transaction -------------------------------------------------

-- Whether an app has an enabled attr_change flow: what every attribute write asks first (one
-- probe of a partial index that holds only attr_change versions).
CREATE OR REPLACE FUNCTION _flow_attr_watched(p_app int) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pushplan.flow_versions v
                   JOIN pushplan.flows f ON f.flow_id = v.flow_id AND f.version = v.version
                   WHERE v.app_id = p_app AND v.trigger_kind = 'attr_change' AND f.enabled)
$$;

-- Attributes written (push_attr_set, push_device_register and its batch form): p_devices were
-- written, p_old holds their attributes before (NULL: a new device, which had none). The
-- devices whose attribute an enabled attr_change flow watches changed as its "from" / "to"
-- say enter it, in the writer's transaction. Returns how many entered.
CREATE OR REPLACE FUNCTION _flow_attrs_changed(p_app int, p_devices bigint[], p_old jsonb[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_flow record;
    v_ids bigint[];
    v_props jsonb[];
    v_n bigint := 0;
BEGIN
    IF NOT pushplan._flow_attr_watched(p_app) THEN
        RETURN 0;
    END IF;
    FOR v_flow IN
        SELECT f.flow_id, v.version, v.trigger_spec AS spec, v.trigger_spec->>'attr' AS attr
        FROM pushplan.flow_versions v
        JOIN pushplan.flows f ON f.flow_id = v.flow_id AND f.version = v.version
        WHERE v.app_id = p_app AND v.trigger_kind = 'attr_change' AND f.enabled
        ORDER BY f.flow_id
    LOOP
        SELECT array_agg(d.device_id ORDER BY d.device_id),
               array_agg(jsonb_build_object('attr', v_flow.attr, 'from', x.old->v_flow.attr,
                                            'to', d.attrs->v_flow.attr) ORDER BY d.device_id)
          INTO v_ids, v_props
          FROM unnest(p_devices, p_old) x(device_id, old)
          JOIN pushplan.devices d ON d.device_id = x.device_id
         WHERE d.registered
           AND (x.old->v_flow.attr) IS DISTINCT FROM (d.attrs->v_flow.attr)
           AND (NOT v_flow.spec ? 'from'
                OR (x.old->v_flow.attr) IS NOT DISTINCT FROM nullif(v_flow.spec->'from', 'null'))
           AND (NOT v_flow.spec ? 'to'
                OR (d.attrs->v_flow.attr) IS NOT DISTINCT FROM nullif(v_flow.spec->'to', 'null'));
        IF v_ids IS NOT NULL THEN
            v_n := v_n + pushplan._flow_enter_set(v_flow.flow_id, v_flow.version, v_ids, v_props,
                                                  array_fill(NULL::text, ARRAY[cardinality(v_ids)]));
        END IF;
    END LOOP;
    RETURN v_n;
END $$;

-- ---- the scheduler's evaluations ------------------------------------------------------------

-- inactive: the devices that did not do the event for "for", counting from their last such
-- event, or from their registration when they never did it. Each evaluation takes the devices
-- that crossed that line since the previous one (p_since; the first evaluation of a version:
-- every device already past it): the events and registrations of the window (p_since - for,
-- now - for] are found through tracked_events' BRIN index on tracked_at and one scan of the
-- app's devices, and only those candidates are looked at event by event. Each inactivity period
-- (the device and the time it started) enters once: a device refused by the entry rules when
-- it crosses waits for its next period.
CREATE OR REPLACE FUNCTION _flow_eval_inactive(p_flow text, p_version int, p_app int, p_spec jsonb,
                                               p_since timestamptz, p_now timestamptz) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_event text := p_spec->>'event';
    v_edge timestamptz := p_now - (p_spec->>'for')::interval;
    v_from timestamptz := p_since - (p_spec->>'for')::interval;
    v_ids bigint[];
    v_props jsonb[];
    v_keys text[];
    v_cand bigint[];
    v_dev bigint[];
    v_created timestamptz[];
BEGIN
    IF p_since IS NULL THEN
        -- the first evaluation: every device of the app
        SELECT array_agg(s.device_id), array_agg(jsonb_build_object('event', v_event, 'inactive_since', s.since)),
               array_agg('inactive:' || s.device_id || ':' || extract(epoch FROM s.since))
          INTO v_ids, v_props, v_keys
          FROM (SELECT d.device_id, greatest(d.created_at, l.last) AS since
                FROM pushplan.devices d
                CROSS JOIN LATERAL (SELECT max(e.tracked_at) AS last FROM pushplan.tracked_events e
                                    WHERE e.device_id = d.device_id AND e.event = v_event) l
                WHERE d.app_id = p_app AND d.registered) s
         WHERE s.since <= v_edge;
    ELSIF pushplan._registry_distributed() THEN
        -- On the distributed layout the same, the candidates and their last events (the
        -- coordinator's tracked_events) read apart from the devices: Citus joins no local table
        -- with the distributed devices directly ("direct joins between distributed and local
        -- tables are not supported")
        v_cand := ARRAY(SELECT DISTINCT e.device_id FROM pushplan.tracked_events e
                        WHERE e.tracked_at > v_from AND e.tracked_at <= v_edge
                          AND e.app_id = p_app AND e.event = v_event AND e.device_id IS NOT NULL)
                  || ARRAY(SELECT d.device_id FROM pushplan.devices d
                           WHERE d.app_id = p_app AND d.created_at > v_from AND d.created_at <= v_edge);
        SELECT array_agg(d.device_id), array_agg(d.created_at) INTO v_dev, v_created
          FROM pushplan.devices d WHERE d.device_id = ANY (v_cand) AND d.registered;
        SELECT array_agg(s.device_id), array_agg(jsonb_build_object('event', v_event, 'inactive_since', s.since)),
               array_agg('inactive:' || s.device_id || ':' || extract(epoch FROM s.since))
          INTO v_ids, v_props, v_keys
          FROM (SELECT x.device_id, greatest(x.created_at, l.last) AS since
                FROM unnest(v_dev, v_created) x(device_id, created_at)
                LEFT JOIN (SELECT e.device_id, max(e.tracked_at) AS last FROM pushplan.tracked_events e
                           WHERE e.device_id = ANY (v_dev) AND e.event = v_event
                           GROUP BY e.device_id) l ON l.device_id = x.device_id) s
         WHERE s.since > v_from AND s.since <= v_edge;
    ELSE
        SELECT array_agg(s.device_id), array_agg(jsonb_build_object('event', v_event, 'inactive_since', s.since)),
               array_agg('inactive:' || s.device_id || ':' || extract(epoch FROM s.since))
          INTO v_ids, v_props, v_keys
          FROM (SELECT d.device_id, greatest(d.created_at, l.last) AS since
                FROM (SELECT e.device_id FROM pushplan.tracked_events e
                      WHERE e.tracked_at > v_from AND e.tracked_at <= v_edge
                        AND e.app_id = p_app AND e.event = v_event AND e.device_id IS NOT NULL
                      UNION
                      SELECT d.device_id FROM pushplan.devices d
                      WHERE d.app_id = p_app AND d.created_at > v_from AND d.created_at <= v_edge) c
                JOIN pushplan.devices d ON d.device_id = c.device_id
                CROSS JOIN LATERAL (SELECT max(e.tracked_at) AS last FROM pushplan.tracked_events e
                                    WHERE e.device_id = d.device_id AND e.event = v_event) l
                WHERE d.registered) s
         WHERE s.since > v_from AND s.since <= v_edge;
    END IF;
    RETURN pushplan._flow_enter_set(p_flow, p_version, v_ids, v_props, v_keys);
END $$;

-- date_attr: the devices whose date attribute's occurrence (the date itself; with anniversary,
-- its month and day every year, 29 February on the 28th in other years) at "at" in the
-- device's zone (its own, else the app's: _engagement_zone, as quiet hours read it) came in
-- (p_since, now]; p_since is the previous evaluation, at most a day ago (a scheduler stopped
-- for longer does not send a day late), or the first evaluation's own time less its period.
-- Each occurrence enters once (its key). The app's devices are scanned once; the value's month
-- and day are compared as text with the few dates the zones can be on before anything else.
CREATE OR REPLACE FUNCTION _flow_eval_date(p_flow text, p_version int, p_app int, p_spec jsonb,
                                           p_since timestamptz, p_now timestamptz) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_attr text := p_spec->>'attr';
    v_at time := (p_spec->>'at')::time;
    v_yearly boolean := (p_spec->>'anniversary')::boolean;
    v_from timestamptz := greatest(coalesce(p_since, p_now - pushplan._flow_trigger_every('date_attr')),
                                   p_now - interval '1 day');
    v_app_zone text := (SELECT a.settings->>'timezone' FROM pushplan.apps a WHERE a.app_id = p_app);
    v_days date[];
    v_md text[];
    v_ymd text[];
    v_ids bigint[];
    v_props jsonb[];
    v_keys text[];
BEGIN
    -- the local dates an occurrence in the window can fall on, in any zone (UTC-12 to UTC+14)
    v_days := ARRAY(SELECT generate_series((v_from AT TIME ZONE 'UTC')::date - 1,
                                           (p_now AT TIME ZONE 'UTC')::date + 1, interval '1 day')::date);
    v_md := ARRAY(SELECT to_char(x, 'MM-DD') FROM unnest(v_days) x) || '02-29'::text;
    v_ymd := ARRAY(SELECT to_char(x, 'YYYY-MM-DD') FROM unnest(v_days) x);
    SELECT array_agg(s.device_id), array_agg(jsonb_build_object('attr', v_attr, 'value', s.value,
                                                                'occurrence', s.occurrence)),
           array_agg('date:' || s.device_id || ':' || s.occurrence)
      INTO v_ids, v_props, v_keys
      FROM (SELECT d.device_id, d.attrs->v_attr AS value, o.day AS occurrence
            FROM pushplan.devices d
            CROSS JOIN LATERAL (SELECT pushplan._flow_date_value(d.attrs->v_attr) AS value,
                                       pushplan._engagement_zone(d.timezone, v_app_zone) AS zone) x
            CROSS JOIN LATERAL unnest(v_days) o(day)
            WHERE d.app_id = p_app AND d.registered
              AND CASE WHEN v_yearly THEN substr(d.attrs->>v_attr, 6, 5) = ANY (v_md)
                       ELSE left(d.attrs->>v_attr, 10) = ANY (v_ymd) END
              AND x.value IS NOT NULL
              AND CASE WHEN v_yearly
                       THEN to_char(o.day, 'MM-DD') = to_char(x.value, 'MM-DD')
                            OR (to_char(x.value, 'MM-DD') = '02-29' AND to_char(o.day, 'MM-DD') = '02-28'
                                AND to_char(o.day + 1, 'MM-DD') = '03-01')
                       ELSE o.day = x.value END
              AND (o.day + v_at) AT TIME ZONE x.zone > v_from
              AND (o.day + v_at) AT TIME ZONE x.zone <= p_now) s;
    RETURN pushplan._flow_enter_set(p_flow, p_version, v_ids, v_props, v_keys);
END $$;

-- audience_enter: the devices that are in the audience now and were not at the previous
-- evaluation (flow_audience_members) enter; the first evaluation of the flow takes the members
-- as they are and enters them only with include_current. A device that leaves the audience is
-- forgotten, and enters again when it comes back, under the flow's re-entry rules.
CREATE OR REPLACE FUNCTION _flow_eval_audience(p_flow text, p_version int, p_app int, p_spec jsonb,
                                               p_first boolean) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_ids bigint[] := pushplan._flow_audience_diff(p_flow, p_app, p_spec->'audience');
BEGIN
    IF p_first AND NOT (p_spec->>'include_current')::boolean THEN
        RETURN 0;
    END IF;
    RETURN pushplan._flow_enter_set(p_flow, p_version, v_ids,
                                    array_fill('{}'::jsonb, ARRAY[coalesce(cardinality(v_ids), 0)]),
                                    array_fill(NULL::text, ARRAY[coalesce(cardinality(v_ids), 0)]));
END $$;

-- The scheduler (src/flow_triggers.c): evaluates the enabled flow whose evaluation is the most
-- overdue (FOR UPDATE SKIP LOCKED: two schedulers never evaluate one flow at once), in the
-- caller's transaction. Returns how many users it entered, or NULL when no flow was due. The
-- first evaluation of an inactive trigger is one chunk of devices per call, the flow due again
-- at once until the last (sql/api/89_flow_trigger_chunks.sql).
CREATE OR REPLACE FUNCTION _flow_triggers_run() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_now timestamptz := clock_now();
    v_started timestamptz := clock_timestamp();
    r record;
    v_since timestamptz;
    v_n bigint := 0;
    v_error text;
    v_chunked boolean;
    v_at timestamptz;
    v_after bigint;
    v_chunk record;
    v_resume boolean;
BEGIN
    SELECT f.flow_id, f.version, v.app_id, v.trigger_kind AS kind, v.trigger_spec AS spec,
           e.version AS eval_version, e.evaluated_at, e.resume_version, e.resume_at, e.resume_after
      INTO r
      FROM flows f
      JOIN flow_versions v ON v.flow_id = f.flow_id AND v.version = f.version
      LEFT JOIN flow_trigger_evals e ON e.flow_id = f.flow_id
     WHERE f.enabled AND v.trigger_kind IN ('inactive', 'date_attr', 'audience_enter')
       AND (e.next_at IS NULL OR e.next_at <= v_now)
     ORDER BY e.next_at NULLS FIRST, f.flow_id
     LIMIT 1
     FOR UPDATE OF f SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- a new version starts over (its rules may differ); an audience's members are the flow's
    v_since := CASE WHEN r.eval_version = r.version THEN r.evaluated_at END;
    -- a first inactivity evaluation: the next chunk, at the time the first chunk took
    v_chunked := r.kind = 'inactive' AND v_since IS NULL;
    v_resume := v_chunked AND r.resume_version IS NOT DISTINCT FROM r.version;
    v_at := CASE WHEN v_resume THEN r.resume_at ELSE v_now END;
    v_after := CASE WHEN v_resume THEN r.resume_after ELSE -1 END;
    -- an evaluation that fails is logged, and tried again a period later over the same window
    -- (evaluated_at stays; a first evaluation that failed is still the first: version -1)
    BEGIN
        IF v_chunked THEN
            SELECT * INTO v_chunk FROM _flow_eval_inactive_chunk(r.flow_id, r.version, r.app_id, r.spec,
                                                                 v_at, v_after, _flow_trigger_chunk());
            v_n := v_chunk.entered;
        END IF;
        v_n := CASE WHEN v_chunked THEN v_n
            WHEN r.kind = 'inactive' THEN _flow_eval_inactive(r.flow_id, r.version, r.app_id, r.spec, v_since, v_now)
            WHEN r.kind = 'date_attr' THEN _flow_eval_date(r.flow_id, r.version, r.app_id, r.spec, v_since, v_now)
            ELSE _flow_eval_audience(r.flow_id, r.version, r.app_id, r.spec,
                                     r.eval_version IS NULL OR r.eval_version < 0) END;
    EXCEPTION WHEN others THEN
        v_error := SQLERRM;
        RAISE LOG 'pushplan: evaluating the trigger of flow % failed: %', r.flow_id, v_error;
    END;
    IF v_chunked AND v_error IS NULL THEN
        -- a chunk done: its progress (the flow due again at once), or, after the last one, the
        -- evaluation done at the time every chunk judged by; users and took_ms add up
        INSERT INTO flow_trigger_evals AS e (flow_id, version, evaluated_at, next_at, users, took_ms,
                                             resume_version, resume_at, resume_after)
            VALUES (r.flow_id, -1, v_at, v_now, v_n, extract(epoch FROM clock_timestamp() - v_started) * 1000,
                    r.version, v_at, v_chunk.last_device)
            ON CONFLICT (flow_id) DO UPDATE SET
                users = CASE WHEN v_resume THEN e.users ELSE 0 END + excluded.users,
                took_ms = CASE WHEN v_resume THEN e.took_ms ELSE 0 END + excluded.took_ms,
                next_at = excluded.next_at, error = NULL,
                resume_version = excluded.resume_version, resume_at = excluded.resume_at,
                resume_after = excluded.resume_after;
        IF v_chunk.looked < _flow_trigger_chunk() THEN
            UPDATE flow_trigger_evals e SET version = r.version, evaluated_at = v_at,
                next_at = v_at + _flow_trigger_every(r.kind),
                resume_version = NULL, resume_at = NULL, resume_after = NULL
            WHERE e.flow_id = r.flow_id;
        END IF;
        RETURN v_n;
    END IF;
    INSERT INTO flow_trigger_evals AS e (flow_id, version, evaluated_at, next_at, users, took_ms, error)
        VALUES (r.flow_id, CASE WHEN v_error IS NULL THEN r.version ELSE -1 END, v_now,
                v_now + _flow_trigger_every(r.kind), v_n,
                extract(epoch FROM clock_timestamp() - v_started) * 1000, v_error)
        ON CONFLICT (flow_id) DO UPDATE SET
            version = CASE WHEN v_error IS NULL THEN excluded.version ELSE e.version END,
            evaluated_at = CASE WHEN v_error IS NULL THEN excluded.evaluated_at ELSE e.evaluated_at END,
            next_at = excluded.next_at, users = excluded.users, took_ms = excluded.took_ms,
            error = excluded.error;
    RETURN v_n;
END $$;

-- When the next evaluation is due (the scheduler sleeps until then at most); -infinity when a
-- flow has never been evaluated.
CREATE OR REPLACE FUNCTION _flow_triggers_next_due() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
    SELECT min(coalesce(e.next_at, '-infinity'))
    FROM flows f
    JOIN flow_versions v ON v.flow_id = f.flow_id AND v.version = f.version
    LEFT JOIN flow_trigger_evals e ON e.flow_id = f.flow_id
    WHERE f.enabled AND v.trigger_kind IN ('inactive', 'date_attr', 'audience_enter')
$$;
