-- Events (doc/flows.md, "push_track"): push_track, push_track_account and push_track_batch.
-- One event and a batch go through the same steps (_track_apply), a batch with its events as
-- sets: one INSERT of every event, then, round by round, each user's next event joined at once
-- with the flows' exit rules, the waits and the triggers. Flows and their steps are in
-- sql/api/89_flows.sql; the matching of props is in C (src/flow_match.c).

-- Why an event's time cannot be used, or NULL. Kept: from one year before now to one day after
-- it (a device's clock may be a little ahead). "Now" is the real time, and also pushplan's
-- clock when a test has moved it (in production both are now()).
CREATE OR REPLACE FUNCTION _track_at_problem(at timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN at IS NULL OR at = 'infinity' OR at = '-infinity' THEN
            '93035: an event time must be given (at)'
        WHEN at < least(now(), pushplan.clock_now()) - interval '1 year'
          OR at > greatest(now(), pushplan.clock_now()) + interval '1 day' THEN
            format('93043: event time %s is more than a year before now or more than a day after it',
                   to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
    END
$$;

-- Why an event's props cannot be kept, or NULL: an object of at most 64 KB (as jsonb), 1,000
-- keys at every level and 10 levels (src/flow_match.c).
CREATE OR REPLACE FUNCTION _track_props_problem(props jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_track_props_problem' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- push_track_batch's events read and checked in one pass (src/track_read.c): arrays in the
-- order the events are taken, or NULL when any breaks a rule (push_track_batch's checks then
-- name the first problem). Devices are not looked up.
CREATE OR REPLACE FUNCTION _track_read(events jsonb, earliest timestamptz, latest timestamptz,
                                       OUT registration_ids text[], OUT accounts text[],
                                       OUT account_types int[], OUT names text[], OUT props jsonb[],
                                       OUT ats timestamptz[])
AS 'MODULE_PATHNAME', 'pushplan_track_read' LANGUAGE C STABLE STRICT;

-- The event names an app's flows act on: what starts an enabled flow's current version, what
-- ends an instance of any version, what a wait_until of any version waits for. An event of
-- another name is only logged.
CREATE OR REPLACE FUNCTION _track_names(p_app int, OUT triggers text[], OUT exits text[],
                                        OUT waits text[])
LANGUAGE sql STABLE AS $$
    SELECT
        ARRAY(SELECT DISTINCT v.trigger_event FROM pushplan.flow_versions v
              JOIN pushplan.flows f ON f.flow_id = v.flow_id AND f.version = v.version
              WHERE v.app_id = p_app AND f.enabled),
        ARRAY(SELECT DISTINCT v.exit_event FROM pushplan.flow_versions v
              WHERE v.app_id = p_app AND v.exit_event IS NOT NULL),
        ARRAY(SELECT DISTINCT w->>'event' FROM pushplan.flow_versions v
              JOIN pushplan.flow_steps s ON s.flow_id = v.flow_id AND s.version = v.version
              CROSS JOIN jsonb_array_elements(s.spec->'events') w
              WHERE v.app_id = p_app AND s.kind = 'wait_until')
$$;

-- What a set of events does to the flows, the events being independent: no two of one user, of
-- users bound to each other (a device and its account), or entering one flow with the same
-- idempotency key (push_track_batch sees to it; one event always is). Their rows are already in
-- tracked_events. For each event, in the caller's transaction:
--  - the user's running instances (the device's and its accounts', or the account's and its
--    devices') whose exit rule it meets end, and the flow's pushes to that user that have not
--    left are cancelled (also those of the user's completed instances: a send last);
--  - those of them waiting for it take their event path;
--  - the enabled flows it triggers start an instance under their entry rules (_flow_enter:
--    re-entry, at most max_concurrent running, the idempotency key, one user's entries into one
--    flow decided one at a time).
-- Returns whether anything became due (the caller wakes the scheduler).
CREATE OR REPLACE FUNCTION _track_apply(p_app int, p_now timestamptz, p_triggers text[],
                                        p_exits text[], p_waits text[], p_devices bigint[],
                                        p_accounts text[], p_types int[], p_events text[],
                                        p_props jsonb[], p_seq int[])
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_ended bigint[];
    v_wake boolean := false;
    v_n bigint;
    c_flow text[];
    c_version int[];
    c_dev bigint[];
    c_acc text[];
    c_type int[];
    c_props jsonb[];
    c_seq int[];
BEGIN
    -- exits and waits: only for events that some flow's exit rule or wait_until names
    IF p_events && (p_exits || p_waits) THEN
        -- exits: the running instances end; the pushes not sent yet of these and of the
        -- user's completed instances of the flow (a send as the last step) are cancelled
        WITH ev AS (
            SELECT * FROM unnest(p_devices, p_accounts, p_types, p_events, p_props)
                WITH ORDINALITY AS e(device_id, account, account_type, event, props, k)
            WHERE e.event = ANY (p_exits)),
        -- the users' instances (four index probes rather than one OR, which no index serves)
        mine AS (
            SELECT e.k, i.instance_id FROM ev e JOIN pushplan.flow_instances i
                ON i.device_id = e.device_id AND i.state <> 'exited'
            UNION
            SELECT e.k, i.instance_id FROM ev e JOIN pushplan.flow_instances i
                ON i.app_id = p_app AND i.account_type = e.account_type AND i.account = e.account
               AND i.state <> 'exited'
            UNION
            SELECT e.k, i.instance_id FROM ev e
            JOIN pushplan.device_accounts a ON a.device_id = e.device_id
            JOIN pushplan.flow_instances i ON i.app_id = a.app_id AND i.account_type = a.account_type
                                          AND i.account = a.account AND i.state <> 'exited'
            UNION
            SELECT e.k, i.instance_id FROM ev e
            JOIN pushplan.device_accounts a ON a.app_id = p_app AND a.account_type = e.account_type
                                           AND a.account = e.account
            JOIN pushplan.flow_instances i ON i.device_id = a.device_id AND i.state <> 'exited'),
        hit AS (
            SELECT DISTINCT ON (m.instance_id) m.instance_id, e.event
            FROM mine m
            JOIN ev e ON e.k = m.k
            JOIN pushplan.flow_instances mi ON mi.instance_id = m.instance_id
            JOIN pushplan.flow_versions v ON v.flow_id = mi.flow_id AND v.version = mi.version
            WHERE v.exit_event = e.event AND pushplan._flow_props_match(v.exit_where, e.props)
            ORDER BY m.instance_id, e.k),
        ended AS (
            UPDATE pushplan.flow_instances i SET state = 'exited', exited_at = p_now,
                exit_reason = 'exit event "' || h.event || '"', next_at = NULL
            FROM hit h
            WHERE i.instance_id = h.instance_id AND i.state = 'waiting'
            RETURNING i.instance_id)
        SELECT array_agg(h.instance_id ORDER BY h.instance_id), (SELECT count(*) FROM ended)
            INTO v_ended, v_n
        FROM hit h;
        IF v_ended IS NOT NULL THEN
            PERFORM pushplan._flow_instances_cancel_sends(v_ended);
        END IF;

        -- waits for the event end: the event path is due now (an instance just ended is not
        -- waiting any more)
        WITH ev AS (
            SELECT * FROM unnest(p_devices, p_accounts, p_types, p_events, p_props)
                WITH ORDINALITY AS e(device_id, account, account_type, event, props, k)
            WHERE e.event = ANY (p_waits)),
        mine AS (
            SELECT e.k, i.instance_id FROM ev e JOIN pushplan.flow_instances i
                ON i.device_id = e.device_id AND i.state = 'waiting'
            UNION
            SELECT e.k, i.instance_id FROM ev e JOIN pushplan.flow_instances i
                ON i.app_id = p_app AND i.account_type = e.account_type AND i.account = e.account
               AND i.state = 'waiting'
            UNION
            SELECT e.k, i.instance_id FROM ev e
            JOIN pushplan.device_accounts a ON a.device_id = e.device_id
            JOIN pushplan.flow_instances i ON i.app_id = a.app_id AND i.account_type = a.account_type
                                          AND i.account = a.account AND i.state = 'waiting'
            UNION
            SELECT e.k, i.instance_id FROM ev e
            JOIN pushplan.device_accounts a ON a.app_id = p_app AND a.account_type = e.account_type
                                           AND a.account = e.account
            JOIN pushplan.flow_instances i ON i.device_id = a.device_id AND i.state = 'waiting')
        UPDATE pushplan.flow_instances i SET step_id = s.event_step, step_started_at = NULL, next_at = p_now
        FROM mine m
        JOIN ev e ON e.k = m.k
        JOIN pushplan.flow_instances mi ON mi.instance_id = m.instance_id
        JOIN pushplan.flow_steps s ON s.flow_id = mi.flow_id AND s.version = mi.version
                                  AND s.step_id = mi.step_id
        WHERE i.instance_id = m.instance_id AND i.state = 'waiting' AND i.step_started_at IS NOT NULL
          AND s.kind = 'wait_until'
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(s.spec->'events') w
                      WHERE w->>'event' = e.event AND pushplan._flow_props_match(w->'where', e.props));
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_wake := v_n > 0;
    END IF;

    -- the flows the events start: each event's candidates, entered under the flows' entry
    -- rules (sql/api/89_flow_enter.sql)
    IF NOT p_events && p_triggers THEN
        RETURN v_wake;
    END IF;
    -- (in no particular order: _flow_enter orders the candidates by p_seq; the app's enabled
    -- versions are joined first, a few rows, rather than the flows to every event's match)
    WITH v AS MATERIALIZED (
        SELECT v.flow_id, v.version, v.trigger_event, v.trigger_where
        FROM pushplan.flow_versions v
        JOIN pushplan.flows f ON f.flow_id = v.flow_id AND f.version = v.version
        WHERE v.app_id = p_app AND f.enabled)
    SELECT array_agg(v.flow_id), array_agg(v.version), array_agg(e.device_id), array_agg(e.account),
           array_agg(e.account_type), array_agg(e.props), array_agg(e.seq)
        INTO c_flow, c_version, c_dev, c_acc, c_type, c_props, c_seq
    FROM unnest(p_devices, p_accounts, p_types, p_events, p_props, p_seq)
        AS e(device_id, account, account_type, event, props, seq)
    JOIN v ON v.trigger_event = e.event
    WHERE e.event = ANY (p_triggers)
      AND pushplan._flow_props_match(v.trigger_where, e.props);
    IF c_flow IS NULL THEN
        RETURN v_wake;
    END IF;
    v_n := pushplan._flow_enter(p_now, c_flow, c_version, c_dev, c_acc, c_type, c_props, NULL, c_seq, 1000,
                                 true);
    RETURN v_wake OR v_n > 0;
END $$;

-- One event (push_track, push_track_account): its row, then what it does.
-- (push_track and its forms run with jit off: over big tables the planner's estimates pass
-- jit_above_cost, and compiling a plan costs more than running it; doc/benchmarks.md, "Flows")
CREATE OR REPLACE FUNCTION _track(p_app int, p_device bigint, p_account text, p_account_type int,
                                  p_event text, p_props jsonb, p_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := pushplan.clock_now();
    v_names record;
BEGIN
    INSERT INTO pushplan.tracked_events (app_id, device_id, account, account_type, event, props, at, tracked_at)
        VALUES (p_app, p_device, p_account, p_account_type, p_event, p_props, p_at, v_now);
    v_names := pushplan._track_names(p_app);
    IF pushplan._track_apply(p_app, v_now, v_names.triggers, v_names.exits,
                             v_names.waits, ARRAY[p_device], ARRAY[p_account],
                             ARRAY[p_account_type], ARRAY[p_event], ARRAY[p_props], ARRAY[1]) THEN
        PERFORM pushplan._wake_scheduler();
    END IF;
END $$;

-- The checks push_track and push_track_account share (push_track_batch runs the same ones).
CREATE OR REPLACE FUNCTION _track_problem(event text, props jsonb, at timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(pushplan._flow_event_problem(event),
                    CASE WHEN jsonb_typeof(props) IS DISTINCT FROM 'object' THEN '93031: props must be a JSON object'
                         ELSE pushplan._track_props_problem(props) END,
                    pushplan._track_at_problem(at))
$$;

CREATE OR REPLACE FUNCTION push_track(app text, registration_id text, event text,
                                      props jsonb DEFAULT '{}', at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp SET jit = off AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_device bigint;
BEGIN
    -- an erasure of the app's devices, or the app's deletion, under way is waited for before
    -- the app and device are looked up again (_erasure_lock, sql/api/88_privacy.sql)
    PERFORM _erasure_lock(v_app, false);
    v_app := _app_id(app, 'app');
    v_device := _device_id(v_app, registration_id);
    PERFORM _raise_problem(_track_problem(event, props, at));
    PERFORM _track(v_app, v_device, NULL, NULL, event, props, at);
END $$;
COMMENT ON FUNCTION push_track(text, text, text, jsonb, timestamptz) IS
    'reports what a device''s user did, in the caller''s transaction: starts, moves and ends flow instances (doc/flows.md)';

CREATE OR REPLACE FUNCTION push_track_account(app text, account text, account_type int, event text,
                                              props jsonb DEFAULT '{}', at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp SET jit = off AS $$
DECLARE
    v_app int := _app_id(app, 'app');
BEGIN
    PERFORM _raise_problem(_account_problem(account, account_type));
    PERFORM _raise_problem(_track_problem(event, props, at));
    -- the app's deletion under way is waited for, then the app looked up again
    PERFORM _erasure_lock(v_app, false);
    v_app := _app_id(app, 'app');
    PERFORM _track(v_app, NULL, account, account_type, event, props, at);
END $$;
COMMENT ON FUNCTION push_track_account(text, text, int, text, jsonb, timestamptz) IS
    'reports what an account''s user did, in the caller''s transaction: starts, moves and ends flow instances (doc/flows.md)';

-- [{registration_id | account (+ account_type), event, props, at}], at most 10,000, taken in
-- the order of their times (at), then of their places. Everything is checked first; one bad
-- event writes nothing, and its error says which one (events[i], counting from 0).
--
-- Then, as sets: every event's row in one INSERT; the events some flow acts on are ranked per
-- user (the device, or the account), and each round takes every user's next one through
-- _track_apply at once, which is what one event at a time would do, since events of different
-- users touch different instances. What would not be: users bound to each other (a device and
-- an account it is bound to, or two devices of one account) who both have events in the batch,
-- and events entering one flow with the same idempotency key. Their users' events go one at a
-- time, after the rounds, in order; so do the rounds that have become small.
--
-- Custom plans only (plan_cache_mode): the statements join unnested arrays, whose length a
-- generic plan does not know (it guesses a few rows, and a nested loop over two unnests of
-- 10,000 is quadratic); planning them per batch costs little.
CREATE OR REPLACE FUNCTION push_track_batch(app text, events jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp SET jit = off
SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    c_min_round constant int := 32;     -- a smaller round costs more than its events one by one
    c_keys constant text[] := ARRAY['registration_id', 'account', 'account_type', 'event', 'props', 'at'];
    v_app int := _app_id(app, 'app');
    v_now timestamptz := clock_now();
    v_names record;
    v_problem text;
    v_n bigint;
    a_dev bigint[];
    a_acc text[];
    a_type int[];
    a_event text[];
    a_props jsonb[];
    a_at timestamptz[];
    r_k int[];
    r_rank int[];
    r_alone boolean[];
    v_round int;
    v_sel int[];
    s_dev bigint[];
    s_acc text[];
    s_type int[];
    s_event text[];
    s_props jsonb[];
    v_k int;
    v_wake boolean := false;
    v_read record;
    v_missing bigint := 0;
    v_keys bigint[];
    v_found_ids text[];
    v_found_devices bigint[];
BEGIN
    IF jsonb_typeof(events) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION '93032: events must be a JSON array of event objects' USING ERRCODE = '22023';
    END IF;
    IF jsonb_array_length(events) > 10000 THEN
        RAISE EXCEPTION '93033: at most 10000 events in one batch, got %', jsonb_array_length(events)
            USING ERRCODE = '54000';
    END IF;
    -- an erasure of the app's devices, or the app's deletion, under way is waited for before
    -- the app and devices are looked up again (_erasure_lock, sql/api/88_privacy.sql)
    PERFORM _erasure_lock(v_app, false);
    v_app := _app_id(app, 'app');

    -- the events read and checked in one pass, in C, and their devices looked up (the fast
    -- path: the statement below took 60 ms of a 10,000-event batch's 200)
    SELECT * INTO v_read FROM _track_read(events, least(now(), clock_now()) - interval '1 year',
                                          greatest(now(), clock_now()) + interval '1 day');
    IF v_read.names IS NOT NULL AND NOT _registry_distributed() THEN
        -- (an index probe per event, whatever the number of devices: the LIMIT keeps the
        -- planner from a hash of all the app's devices, or a scan of them with the ids as an
        -- = ANY filter, either of which grows with the devices: 105 ms a batch at 1,000,000)
        SELECT array_agg(f.device_id ORDER BY x.n), count(*) FILTER (WHERE x.id IS NOT NULL AND f.device_id IS NULL)
            INTO a_dev, v_missing
        FROM unnest(v_read.registration_ids) WITH ORDINALITY x(id, n)
        LEFT JOIN LATERAL (SELECT d.device_id FROM devices d
                           WHERE d.app_id = v_app AND d.registration_id = x.id LIMIT 1) f ON true;
    ELSIF v_read.names IS NOT NULL THEN
        -- the distributed registry (Citus joins no function's rows to its tables laterally):
        -- a device's id is its key (_device_key), so the devices are read by key, each on its
        -- shard, and matched to the events here
        v_keys := ARRAY(SELECT _device_key(v_app, x) FROM unnest(v_read.registration_ids) x);
        SELECT array_agg(d.registration_id), array_agg(d.device_id) INTO v_found_ids, v_found_devices
            FROM devices d WHERE d.device_id = ANY (v_keys) AND d.app_id = v_app;
        SELECT array_agg(f.device_id ORDER BY x.n), count(*) FILTER (WHERE x.id IS NOT NULL AND f.device_id IS NULL)
            INTO a_dev, v_missing
        FROM unnest(v_read.registration_ids) WITH ORDINALITY x(id, n)
        LEFT JOIN unnest(v_found_ids, v_found_devices) f(id, device_id) ON f.id = x.id;
    END IF;
    IF v_read.names IS NOT NULL THEN
        a_acc := v_read.accounts;
        a_type := v_read.account_types;
        a_event := v_read.names;
        a_props := v_read.props;
        a_at := v_read.ats;
    END IF;
    -- a batch refused there, or with a device not registered: every event checked here (the
    -- first problem, by place, is raised; an accepted batch is read into the arrays in the
    -- order its events are taken)
    IF v_read.names IS NULL OR v_missing > 0 THEN
        WITH ev AS (
            SELECT x.e, x.n - 1 AS pos FROM jsonb_array_elements(events) WITH ORDINALITY x(e, n)),
        shape AS (
            SELECT ev.*, CASE
                WHEN jsonb_typeof(ev.e) <> 'object' THEN '93032: an event must be a JSON object'
                WHEN ev.e - c_keys <> '{}' THEN format('93034: unknown event key "%s"',
                    _shown((SELECT min(k) FROM jsonb_object_keys(ev.e - c_keys) k)))
                WHEN (ev.e ? 'registration_id') = (ev.e ? 'account') THEN
                    '93034: an event names a registration_id or an account'
                WHEN ev.e ? 'registration_id' AND jsonb_typeof(ev.e->'registration_id') <> 'string' THEN
                    '93034: event key "registration_id" must be a string'
                WHEN ev.e ? 'account' AND jsonb_typeof(ev.e->'account') <> 'string' THEN
                    '93034: event key "account" must be a string'
                WHEN ev.e ? 'account_type' AND (NOT ev.e ? 'account' OR jsonb_typeof(ev.e->'account_type') <> 'number'
                                                OR (ev.e->>'account_type') !~ '^\d{1,9}$') THEN
                    '93034: event key "account_type" goes with an account and is an integer of 0 or more'
                WHEN jsonb_typeof(ev.e->'event') IS DISTINCT FROM 'string' THEN
                    '93034: event key "event" is required and must be a string'
                WHEN ev.e ? 'props' AND jsonb_typeof(ev.e->'props') <> 'object' THEN
                    '93031: props must be a JSON object'
                WHEN ev.e ? 'at' AND (jsonb_typeof(ev.e->'at') <> 'string' OR ev.e->>'at' !~
                     '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d(:?\d\d)?)$') THEN
                    format('93035: event time %s is not an ISO 8601 time with an offset, such as 2025-06-18T09:00:00Z',
                           left((ev.e->'at')::text, 60))
                END AS problem
            FROM ev),
        parsed AS (
            SELECT s.pos, s.problem, s.e->>'event' AS event, coalesce(s.e->'props', '{}') AS props,
                   s.e->>'account' AS account,
                   CASE WHEN s.e ? 'account' THEN coalesce((s.e->>'account_type')::int, 0) END AS account_type,
                   coalesce((s.e->>'at')::timestamptz, now()) AS at
            FROM shape s WHERE s.problem IS NULL),
        checked AS (
            SELECT p.*, d.device_id, coalesce(
                CASE WHEN p.event !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN _flow_event_problem(p.event) END,
                CASE WHEN p.account IS NOT NULL THEN _account_problem(p.account, p.account_type) END,
                CASE WHEN d.device_id IS NULL AND p.account IS NULL THEN
                    format('92039: device "%s" is not registered', _shown(s.e->>'registration_id')) END,
                _track_props_problem(p.props),
                _track_at_problem(p.at)) AS problem2
            FROM parsed p
            JOIN shape s ON s.pos = p.pos
            LEFT JOIN devices d ON d.app_id = v_app AND d.registration_id = s.e->>'registration_id'),
        problems AS (
            SELECT pos, problem FROM shape WHERE problem IS NOT NULL
            UNION ALL
            SELECT pos, problem2 FROM checked WHERE problem2 IS NOT NULL)
        SELECT (SELECT format('events[%s]: %s', pos, problem) FROM problems ORDER BY pos LIMIT 1),
               array_agg(c.device_id ORDER BY c.at, c.pos), array_agg(c.account ORDER BY c.at, c.pos),
               array_agg(c.account_type ORDER BY c.at, c.pos), array_agg(c.event ORDER BY c.at, c.pos),
               array_agg(c.props ORDER BY c.at, c.pos), array_agg(c.at ORDER BY c.at, c.pos)
            INTO v_problem, a_dev, a_acc, a_type, a_event, a_props, a_at
        FROM checked c;
        IF v_problem IS NOT NULL THEN
            RAISE EXCEPTION '%', v_problem USING ERRCODE = '22023';
        END IF;
    END IF;
    v_n := coalesce(cardinality(a_event), 0);
    IF v_n = 0 THEN
        RETURN 0;
    END IF;

    INSERT INTO tracked_events (app_id, device_id, account, account_type, event, props, at, tracked_at)
        SELECT v_app, e.device_id, e.account, e.account_type, e.event, e.props, e.at, v_now
        FROM unnest(a_dev, a_acc, a_type, a_event, a_props, a_at)
            AS e(device_id, account, account_type, event, props, at);

    -- the events some flow acts on, each with its user's rank, and whether it must go alone
    v_names := _track_names(v_app);
    IF NOT a_event && (v_names.triggers || v_names.exits || v_names.waits) THEN
        RETURN v_n;
    END IF;
    WITH ev AS (
        SELECT e.k::int AS k, e.device_id, e.account, e.account_type, e.event, e.props,
               coalesce('d' || e.device_id, 'a' || e.account_type || ':' || e.account) AS user_key
        FROM unnest(a_dev, a_acc, a_type, a_event, a_props)
            WITH ORDINALITY AS e(device_id, account, account_type, event, props, k)
        WHERE e.event = ANY (v_names.triggers || v_names.exits || v_names.waits)),
    -- the users each event reaches beyond its own: the accounts its device is bound to, the
    -- devices bound to its account
    bound AS (
        SELECT e.k, 'a' || a.account_type || ':' || a.account AS user_key FROM ev e
        JOIN device_accounts a ON a.device_id = e.device_id
        UNION ALL
        SELECT e.k, 'd' || a.device_id FROM ev e
        JOIN device_accounts a ON a.app_id = v_app AND a.account_type = e.account_type AND a.account = e.account),
    -- users bound to a user that has events too: all their events go one at a time
    tangled AS (
        SELECT DISTINCT e.user_key FROM ev e JOIN bound b ON b.k = e.k
        WHERE EXISTS (SELECT 1 FROM ev o WHERE o.user_key = b.user_key)
           OR EXISTS (SELECT 1 FROM bound o WHERE o.user_key = b.user_key AND o.k <> e.k)),
    -- entries into one flow with the same idempotency key: from the first such event of each
    -- of their users on, one at a time
    keyed AS (
        SELECT e.k, e.user_key, f.flow_id, e.props #>> string_to_array(v.idempotency_key, '.') AS key
        FROM ev e
        JOIN flow_versions v ON v.app_id = v_app AND v.trigger_event = e.event AND v.idempotency_key IS NOT NULL
        JOIN flows f ON f.flow_id = v.flow_id AND f.version = v.version AND f.enabled),
    clashing AS (
        SELECT k.user_key, min(k.k) AS from_k FROM keyed k
        WHERE k.key IS NOT NULL AND EXISTS (SELECT 1 FROM keyed o WHERE o.flow_id = k.flow_id
                                            AND o.key = k.key AND o.k <> k.k)
        GROUP BY k.user_key),
    ranked AS (
        SELECT e.k, row_number() OVER (PARTITION BY e.device_id, e.account_type, e.account ORDER BY e.k)::int AS rank,
               e.user_key IN (SELECT user_key FROM tangled)
               OR e.k >= coalesce((SELECT c.from_k FROM clashing c WHERE c.user_key = e.user_key), 2147483647) AS alone
        FROM ev e)
    -- (aligned, in no particular order: the rounds below select and order by k)
    SELECT array_agg(k), array_agg(rank), array_agg(alone)
        INTO r_k, r_rank, r_alone
    FROM ranked;

    -- rounds: every user's next event at once
    FOR v_round IN 1 .. coalesce((SELECT max(r) FROM unnest(r_rank) r), 0) LOOP
        v_sel := ARRAY(SELECT r.k FROM unnest(r_k, r_rank, r_alone) AS r(k, rank, alone)
                       WHERE r.rank = v_round AND NOT r.alone ORDER BY r.k);
        IF cardinality(v_sel) < c_min_round THEN
            -- this round and the later ones go one at a time
            r_alone := ARRAY(SELECT r.alone OR r.rank >= v_round
                             FROM unnest(r_k, r_rank, r_alone) WITH ORDINALITY AS r(k, rank, alone, n)
                             ORDER BY r.n);
            EXIT;
        END IF;
        IF cardinality(v_sel) = v_n THEN
            -- every event of the batch (1 .. v_n in order), as most batches are: as they are
            s_dev := a_dev;
            s_acc := a_acc;
            s_type := a_type;
            s_event := a_event;
            s_props := a_props;
        ELSE
            SELECT array_agg(e.device_id ORDER BY e.k), array_agg(e.account ORDER BY e.k),
                   array_agg(e.account_type ORDER BY e.k), array_agg(e.event ORDER BY e.k),
                   array_agg(e.props ORDER BY e.k)
                INTO s_dev, s_acc, s_type, s_event, s_props
            FROM unnest(a_dev, a_acc, a_type, a_event, a_props) WITH ORDINALITY
                AS e(device_id, account, account_type, event, props, k)
            JOIN unnest(v_sel) s(k) ON s.k = e.k;
        END IF;
        -- (never "v_wake := f(...) OR v_wake": a true v_wake, a constant to the planner, folds
        -- the call away)
        IF _track_apply(v_app, v_now, v_names.triggers, v_names.exits, v_names.waits,
            s_dev, s_acc, s_type, s_event, s_props,
            v_sel) THEN
            v_wake := true;
        END IF;
    END LOOP;

    -- the rest, one at a time, in order
    FOR v_k IN SELECT r.k FROM unnest(r_k, r_alone) AS r(k, alone) WHERE r.alone ORDER BY r.k LOOP
        IF _track_apply(v_app, v_now, v_names.triggers, v_names.exits, v_names.waits,
                        ARRAY[a_dev[v_k]], ARRAY[a_acc[v_k]], ARRAY[a_type[v_k]],
                        ARRAY[a_event[v_k]], ARRAY[a_props[v_k]], ARRAY[v_k]) THEN
            v_wake := true;
        END IF;
    END LOOP;
    IF v_wake THEN
        PERFORM _wake_scheduler();
    END IF;
    RETURN v_n;
END $$;
COMMENT ON FUNCTION push_track_batch(text, jsonb) IS
    'reports up to 10,000 events at once (registration_id or account, event, props, at); one bad event writes nothing';

-- An app's events go with it, as a foreign key's cascade would (tracked_events has none: the
-- check was a quarter of a batch of events). Before the app's row goes, and so before the
-- cascades to its devices and flows, the app's event transactions under way are waited for
-- (_erasure_lock: they lock devices and flows, which the cascades would then wait for while
-- those waited for them); their rows are then deleted here. One that looks the app up after
-- this waits, then finds it gone (92001).
-- (Not SECURITY DEFINER: only the apps table's owner deletes apps.)
CREATE OR REPLACE FUNCTION _apps_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
BEGIN
    PERFORM _erasure_lock(OLD.app_id, true);
    DELETE FROM tracked_events e WHERE e.app_id = OLD.app_id;
    RETURN OLD;
END $$;
-- Not on the distributed layout: Citus takes no trigger on a reference table (apps is one
-- there), and push_distribute drops this one (sql/api/15_distribute.sql).
DO $$
BEGIN
    IF NOT pushplan._registry_distributed() THEN
        CREATE OR REPLACE TRIGGER apps_deleted_events BEFORE DELETE ON pushplan.apps
            FOR EACH ROW EXECUTE FUNCTION pushplan._apps_deleted();
    END IF;
END $$;
