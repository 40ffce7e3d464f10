-- Flows (automated notifications; doc/flows.md): push_track and its account and batch forms,
-- push_flow_create / _update / _enable / _delete, the scheduler's _flow_advance, and the views
-- push_flows and push_flow_runs (tables: sql/install/schema.sql, "Flows"). C: src/flow_send.c
-- (a send step through push_send's checks), src/flow_advance.c (the scheduler's call).

-- ---- small checks -------------------------------------------------------------------------

-- Why an event name cannot be used, or NULL.
CREATE OR REPLACE FUNCTION _flow_event_problem(event text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN event IS NULL OR event !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
        format('93006: an event name is 1 to 64 characters of A-Z a-z 0-9 _ . : -, got %s',
               coalesce('"' || pushplan._shown(event) || '"', 'none'))
    END
$$;

-- A duration given as text ("1 hour", "30 minutes", "P1D"), or NULL when it is not one of 0
-- (allow_zero) or more seconds up to 366 days.
CREATE OR REPLACE FUNCTION _flow_interval(v jsonb, allow_zero boolean) RETURNS interval
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_i interval;
BEGIN
    IF jsonb_typeof(v) IS DISTINCT FROM 'string' THEN
        RETURN NULL;
    END IF;
    BEGIN
        v_i := (v #>> '{}')::interval;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
    -- a month is no fixed length: durations are days, hours, minutes and seconds
    IF extract(month FROM v_i) <> 0 OR extract(year FROM v_i) <> 0
       OR v_i < interval '0' OR (v_i = interval '0' AND NOT allow_zero)
       OR v_i > interval '366 days' THEN
        RETURN NULL;
    END IF;
    RETURN v_i;
END $$;

-- Why conditions on an event's props (or a user's attributes) cannot be used, or NULL.
-- {"prop": value, "a.b": {"gte": 100}, ...}: every pair holds (doc/flows.md, "Conditions").
CREATE OR REPLACE FUNCTION _flow_where_problem(cond jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_key text;
    v_val jsonb;
    v_op text;
    v_arg jsonb;
BEGIN
    IF jsonb_typeof(cond) IS DISTINCT FROM 'object' THEN
        RETURN 'conditions are a JSON object of {"prop": value or {"operator": value}}';
    END IF;
    IF (SELECT count(*) FROM jsonb_object_keys(cond)) > 20 THEN
        RETURN 'at most 20 conditions';
    END IF;
    FOR v_key, v_val IN SELECT * FROM jsonb_each(cond) LOOP
        IF v_key !~ '^[^.]{1,64}(\.[^.]{1,64}){0,4}$' THEN
            RETURN format('"%s" is not a prop name (1 to 64 characters, "a.b" for a nested one)',
                          pushplan._shown(v_key));
        END IF;
        IF jsonb_typeof(v_val) = 'object' THEN
            IF v_val = '{}' THEN
                RETURN format('"%s": an empty object (an operator is missing)', pushplan._shown(v_key));
            END IF;
            FOR v_op, v_arg IN SELECT * FROM jsonb_each(v_val) LOOP
                IF v_op IN ('gt', 'gte', 'lt', 'lte') THEN
                    IF jsonb_typeof(v_arg) NOT IN ('number', 'string') THEN
                        RETURN format('"%s": %s compares with a number or a string', pushplan._shown(v_key), v_op);
                    END IF;
                ELSIF v_op = 'in' THEN
                    IF jsonb_typeof(v_arg) <> 'array' THEN
                        RETURN format('"%s": in takes a list of values', pushplan._shown(v_key));
                    END IF;
                ELSIF v_op = 'exists' THEN
                    IF jsonb_typeof(v_arg) <> 'boolean' THEN
                        RETURN format('"%s": exists takes true or false', pushplan._shown(v_key));
                    END IF;
                ELSIF v_op NOT IN ('eq', 'ne') THEN
                    RETURN format('"%s": unknown operator "%s" (eq, ne, gt, gte, lt, lte, in, exists)',
                                  pushplan._shown(v_key), pushplan._shown(v_op));
                END IF;
            END LOOP;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- Whether props satisfy conditions checked by _flow_where_problem (NULL: no conditions).
-- Comparisons: numbers with numbers, strings with strings (bytewise); any other pair is false.
-- In C (src/flow_match.c): push_track runs it for every event of a batch and every flow.
CREATE OR REPLACE FUNCTION _flow_props_match(cond jsonb, props jsonb) RETURNS boolean
AS 'MODULE_PATHNAME', 'pushplan_flow_props_match' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Why a branch condition cannot be used, or NULL: {"attr": conditions}, {"tag": "t"},
-- {"event": "name", "where": conditions} (since the instance entered), {"trigger": conditions}
-- (the props of the event that started it), {"audience": any audience push_send takes} and
-- {"view": "schema.view"} (its shape only: the audience compiler checks the rest, with the app;
-- sql/api/89_flow_branch.sql), {"and": [...]}, {"or": [...]}, {"not": c}.
CREATE OR REPLACE FUNCTION _flow_cond_problem(cond jsonb, depth int DEFAULT 0) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_kind text;
    v_problem text;
    v_item jsonb;
BEGIN
    IF depth > 10 THEN
        RETURN 'conditions nest at most 10 deep';
    END IF;
    IF jsonb_typeof(cond) IS DISTINCT FROM 'object' THEN
        RETURN 'a condition is an object: attr, tag, event, trigger, audience, view, and, or, not';
    END IF;
    SELECT min(k) INTO v_kind FROM jsonb_object_keys(cond) k
        WHERE k IN ('attr', 'tag', 'event', 'trigger', 'audience', 'view', 'and', 'or', 'not');
    IF v_kind IS NULL THEN
        RETURN format('unknown condition "%s" (attr, tag, event, trigger, audience, view, and, or, not)',
                      pushplan._shown((SELECT min(k) FROM jsonb_object_keys(cond) k)));
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_object_keys(cond) k
               WHERE k <> v_kind AND NOT (v_kind = 'event' AND k = 'where')) THEN
        RETURN format('a "%s" condition has unknown keys', v_kind);
    END IF;
    CASE v_kind
    WHEN 'attr', 'trigger' THEN
        v_problem := pushplan._flow_where_problem(cond->v_kind);
        RETURN CASE WHEN v_problem IS NOT NULL THEN v_kind || ': ' || v_problem END;
    WHEN 'tag' THEN
        RETURN CASE WHEN jsonb_typeof(cond->'tag') <> 'string' THEN 'tag takes one tag name' END;
    WHEN 'audience' THEN
        RETURN CASE WHEN jsonb_typeof(cond->'audience') <> 'object'
                    THEN 'audience takes an audience as push_send''s "to" does (an object)' END;
    WHEN 'view' THEN
        RETURN CASE WHEN jsonb_typeof(cond->'view') <> 'string'
                    THEN 'view takes a view''s name, "schema.view"' END;
    WHEN 'event' THEN
        IF jsonb_typeof(cond->'event') <> 'string' THEN
            RETURN 'event takes an event name';
        END IF;
        v_problem := pushplan._flow_event_problem(cond->>'event');
        IF v_problem IS NULL AND cond ? 'where' THEN
            v_problem := pushplan._flow_where_problem(cond->'where');
        END IF;
        RETURN v_problem;
    WHEN 'not' THEN
        RETURN pushplan._flow_cond_problem(cond->'not', depth + 1);
    ELSE
        IF jsonb_typeof(cond->v_kind) <> 'array' OR jsonb_array_length(cond->v_kind) = 0 THEN
            RETURN format('%s takes a non-empty list of conditions', v_kind);
        END IF;
        FOR v_item IN SELECT * FROM jsonb_array_elements(cond->v_kind) LOOP
            v_problem := pushplan._flow_cond_problem(v_item, depth + 1);
            IF v_problem IS NOT NULL THEN
                RETURN v_problem;
            END IF;
        END LOOP;
        RETURN NULL;
    END CASE;
END $$;

-- The devices of an instance's user: the device, or every device bound to the account.
-- (PL/pgSQL: Citus plans no SQL function with parameters over the distributed tables)
CREATE OR REPLACE FUNCTION _flow_user_devices(p_app int, p_device bigint, p_account text,
                                              p_account_type int) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_device IS NOT NULL THEN
        RETURN NEXT p_device;
    END IF;
    IF p_account IS NOT NULL THEN
        RETURN QUERY SELECT a.device_id FROM pushplan.device_accounts a
            WHERE a.app_id = p_app AND a.account_type = p_account_type AND a.account = p_account;
    END IF;
END $$;

-- The devices of the users of a batch of instances, a row per (instance, device): the
-- instance's device, and its account's bound devices. Two statements, the accounts' devices
-- matched from arrays: on the distributed layout that is one query over the shards of
-- device_accounts, the instances being the coordinator's (doc/scale-out.md, "Flows").
CREATE OR REPLACE FUNCTION _flow_users_devices(p_ids bigint[], p_apps int[], p_devices bigint[],
                                               p_accounts text[], p_types int[])
RETURNS TABLE (instance_id bigint, device_id bigint)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT x.id, x.device FROM unnest(p_ids, p_devices) x(id, device)
        WHERE x.device IS NOT NULL;
    RETURN QUERY SELECT x.id, a.device_id
        FROM unnest(p_ids, p_apps, p_accounts, p_types) x(id, app_id, account, account_type)
        JOIN pushplan.device_accounts a ON a.app_id = x.app_id AND a.account_type = x.account_type
                                       AND a.account = x.account
        WHERE x.account IS NOT NULL;
END $$;

-- Whether a branch condition holds for an instance (its user, its events since it entered).
-- p_hits: the keys of the audiences the user is in, as the advance evaluated them for its batch
-- (_flow_branch_hits, sql/api/89_flow_branch.sql); NULL: each audience is evaluated here, for
-- this user alone.
CREATE OR REPLACE FUNCTION _flow_cond_holds(cond jsonb, p_app int, p_device bigint, p_account text,
                                            p_account_type int, p_entered timestamptz,
                                            p_trigger_props jsonb, p_hits text[]) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_item jsonb;
    v_devices bigint[];
BEGIN
    IF pushplan._flow_cond_audience(cond) IS NOT NULL THEN
        IF p_hits IS NOT NULL THEN
            RETURN pushplan._flow_audience_key(pushplan._flow_cond_audience(cond)) = ANY (p_hits);
        END IF;
        RETURN pushplan._flow_cond_audience_holds(pushplan._flow_cond_audience(cond), p_app, p_device,
                                                  p_account, p_account_type);
    -- (the user's devices read first: Citus pushes no subquery of a function down to the shards)
    ELSIF cond ? 'attr' THEN
        v_devices := ARRAY(SELECT pushplan._flow_user_devices(p_app, p_device, p_account, p_account_type));
        RETURN EXISTS (SELECT 1 FROM pushplan.devices d
                       WHERE d.device_id = ANY (v_devices)
                         AND pushplan._flow_props_match(cond->'attr', d.attrs));
    ELSIF cond ? 'tag' THEN
        v_devices := ARRAY(SELECT pushplan._flow_user_devices(p_app, p_device, p_account, p_account_type));
        RETURN EXISTS (SELECT 1 FROM pushplan.device_tags dt JOIN pushplan.tags g USING (tag_id)
                       WHERE g.app_id = p_app AND g.tag = cond->>'tag'
                         AND dt.device_id = ANY (v_devices));
    ELSIF cond ? 'event' THEN
        RETURN EXISTS (SELECT 1 FROM pushplan.tracked_events e
                       WHERE e.app_id = p_app AND e.event = cond->>'event' AND e.tracked_at >= p_entered
                         AND ((p_device IS NOT NULL AND e.device_id = p_device)
                              OR (p_account IS NOT NULL AND e.account = p_account AND e.account_type = p_account_type))
                         AND pushplan._flow_props_match(cond->'where', e.props));
    ELSIF cond ? 'trigger' THEN
        RETURN pushplan._flow_props_match(cond->'trigger', p_trigger_props);
    ELSIF cond ? 'not' THEN
        RETURN NOT pushplan._flow_cond_holds(cond->'not', p_app, p_device, p_account, p_account_type,
                                             p_entered, p_trigger_props, p_hits);
    ELSIF cond ? 'and' THEN
        FOR v_item IN SELECT * FROM jsonb_array_elements(cond->'and') LOOP
            IF NOT pushplan._flow_cond_holds(v_item, p_app, p_device, p_account, p_account_type,
                                             p_entered, p_trigger_props, p_hits) THEN
                RETURN false;
            END IF;
        END LOOP;
        RETURN true;
    ELSE
        FOR v_item IN SELECT * FROM jsonb_array_elements(cond->'or') LOOP
            IF pushplan._flow_cond_holds(v_item, p_app, p_device, p_account, p_account_type,
                                         p_entered, p_trigger_props, p_hits) THEN
                RETURN true;
            END IF;
        END LOOP;
        RETURN false;
    END IF;
END $$;
-- the same, without a batch's audience results
CREATE OR REPLACE FUNCTION _flow_cond_holds(cond jsonb, p_app int, p_device bigint, p_account text,
                                            p_account_type int, p_entered timestamptz,
                                            p_trigger_props jsonb) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN pushplan._flow_cond_holds(cond, p_app, p_device, p_account, p_account_type, p_entered,
                                     p_trigger_props, NULL::text[]);
END $$;

-- A send step's push checked as push_send checks it (src/flow_send.c): the normalized push, or
-- push_send's own error; and, when the step fires, the task made (its id).
CREATE OR REPLACE FUNCTION _flow_push_check(app_id int, push jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_flow_push_check' LANGUAGE C VOLATILE STRICT;
CREATE OR REPLACE FUNCTION _flow_send(app_id int, push jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_flow_send' LANGUAGE C VOLATILE STRICT;
-- A send step's push with the instance's trigger props in its {{event.props...}} variables
-- (src/flow_send.c; doc/templates.md): what is sent, and what instances may share a task by.
CREATE OR REPLACE FUNCTION _flow_bind_event(push jsonb, props jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_flow_bind_event' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- ---- definitions ------------------------------------------------------------------------------

-- The id a path's first step gets: its own, or the path's place; an empty path continues with
-- cont (the step after the one that holds the path).
CREATE OR REPLACE FUNCTION _flow_path_first(path jsonb, prefix text, cont text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_array_length(path) = 0 THEN cont
                WHEN jsonb_typeof(path->0) = 'object' AND path->0 ? 'id' THEN path->0->>'id'
                ELSE prefix || '1' END
$$;

-- A step's paths checked (93017, one place for its messages): p_key names what p_val is, a
-- wait_until's "on_event" / "on_timeout" or a branch's "else", which must be a list of steps
-- (NULL: not given, which is allowed where it is; its caller says where it is not); p_key
-- 'branch': the branch's own non-empty list of {"if": condition, "then": [steps]}, every path's
-- shape checked before any of its conditions.
CREATE OR REPLACE FUNCTION _flow_path_check(p_step text, p_key text, p_val jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_key = 'branch' THEN
        IF jsonb_typeof(p_val) IS DISTINCT FROM 'array' OR jsonb_array_length(p_val) = 0
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_val) p
                      WHERE jsonb_typeof(p) <> 'object' OR NOT p ? 'if' OR NOT p ? 'then'
                         OR jsonb_typeof(p->'then') <> 'array'
                         OR (SELECT count(*) FROM jsonb_object_keys(p)) <> 2) THEN
            RAISE EXCEPTION '93017: step "%": branch is a list of {"if": condition, "then": [steps]}',
                p_step USING ERRCODE = '22023';
        END IF;
    ELSIF p_val IS NOT NULL AND jsonb_typeof(p_val) <> 'array' THEN
        RAISE EXCEPTION '93017: step "%": "%" is a list of steps ([] continues after the step)',
            p_step, p_key USING ERRCODE = '22023';
    END IF;
END $$;

-- Compiles a list of steps (a flow's, or one path's) into flow_steps rows, appended to rows:
-- each step names the step after it (the next in the list, or cont after the last one), and
-- paths end by continuing after the step that holds them. Raises the step's error.
CREATE OR REPLACE FUNCTION _flow_compile_steps(p_app int, p_plan text, p_steps jsonb,
                                               p_prefix text, p_cont text, p_depth int,
                                               INOUT rows jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    c_kinds constant text[] := ARRAY['wait', 'wait_until', 'branch', 'send', 'webhook', 'set', 'exit'];
    v_n int := jsonb_array_length(p_steps);
    v_step jsonb;
    v_id text;
    v_next text;
    v_kinds text[];
    v_kind text;
    v_key text;
    v_val jsonb;
    v_spec jsonb;
    v_event_step text;
    v_events jsonb;
    v_ev jsonb;
    v_problem text;
    v_paths jsonb;
    v_path jsonb;
    v_push jsonb;
    v_i int;
BEGIN
    IF p_depth > 10 THEN
        RAISE EXCEPTION '93027: steps nest at most 10 deep' USING ERRCODE = '54000';
    END IF;
    FOR v_i IN 0 .. v_n - 1 LOOP
        v_step := p_steps->v_i;
        v_id := CASE WHEN jsonb_typeof(v_step) = 'object' AND v_step ? 'id' THEN v_step->>'id'
                     ELSE p_prefix || (v_i + 1) END;
        IF jsonb_typeof(v_step) = 'object' AND v_step ? 'id'
           AND (jsonb_typeof(v_step->'id') <> 'string' OR v_id !~ '^[A-Za-z0-9_-]{1,64}$') THEN
            RAISE EXCEPTION '93026: a step id is 1 to 64 characters of A-Z a-z 0-9 _ -, got %',
                v_step->'id' USING ERRCODE = '22023';
        END IF;
        -- the next step's id, as its own iteration names it, or the continuation
        v_next := CASE WHEN v_i + 1 = v_n THEN p_cont
                       WHEN jsonb_typeof(p_steps->(v_i + 1)) = 'object' AND p_steps->(v_i + 1) ? 'id'
                       THEN p_steps->(v_i + 1)->>'id' ELSE p_prefix || (v_i + 2) END;
        IF jsonb_typeof(v_step) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION '93009: step "%": a step is an object with one of wait, wait_until, branch, send, webhook, set, exit',
                v_id USING ERRCODE = '22023';
        END IF;
        SELECT array_agg(k ORDER BY k) INTO v_kinds FROM jsonb_object_keys(v_step) k WHERE k = ANY (c_kinds);
        IF v_kinds IS NULL THEN
            SELECT min(k) INTO v_key FROM jsonb_object_keys(v_step) k
                WHERE k NOT IN ('id', 'on_event', 'on_timeout', 'else');
            RAISE EXCEPTION '93009: step "%": unknown step kind "%" (wait, wait_until, branch, send, webhook, set, exit)',
                v_id, _shown(coalesce(v_key, '')) USING ERRCODE = '22023';
        END IF;
        IF cardinality(v_kinds) > 1 THEN
            RAISE EXCEPTION '93010: step "%": one kind per step, got "%" and "%"', v_id, v_kinds[1], v_kinds[2]
                USING ERRCODE = '22023';
        END IF;
        v_kind := v_kinds[1];
        SELECT min(k) INTO v_key FROM jsonb_object_keys(v_step) k
            WHERE k NOT IN ('id', v_kind)
              AND NOT (v_kind = 'wait_until' AND k IN ('on_event', 'on_timeout'))
              AND NOT (v_kind = 'branch' AND k = 'else');
        IF v_key IS NOT NULL THEN
            RAISE EXCEPTION '93010: step "%": unknown key "%" in a % step', v_id, _shown(v_key), v_kind
                USING ERRCODE = '22023';
        END IF;
        v_val := v_step->v_kind;
        v_event_step := NULL;

        CASE v_kind
        WHEN 'wait' THEN
            IF jsonb_typeof(v_val) = 'object' AND v_val ? 'until' AND NOT v_val ? 'duration'
               AND (SELECT count(*) FROM jsonb_object_keys(v_val)) = 1 THEN
                IF jsonb_typeof(v_val->'until') <> 'string'
                   OR v_val->>'until' !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN
                    RAISE EXCEPTION '93013: step "%": a time of day is HH:MM (00:00 to 23:59), got %',
                        v_id, v_val->'until' USING ERRCODE = '22023';
                END IF;
                v_spec := jsonb_build_object('until', v_val->'until');
            ELSE
                IF jsonb_typeof(v_val) = 'object' AND v_val ? 'duration'
                   AND (SELECT count(*) FROM jsonb_object_keys(v_val)) = 1 THEN
                    v_val := v_val->'duration';
                ELSIF jsonb_typeof(v_val) IS DISTINCT FROM 'string' THEN
                    RAISE EXCEPTION '93011: step "%": wait needs a duration ("1 hour", {"duration": "1 day"}) or a time of day ({"until": "09:00"})',
                        v_id USING ERRCODE = '22023';
                END IF;
                IF _flow_interval(v_val, false) IS NULL THEN
                    RAISE EXCEPTION '93012: step "%": % is not a duration of more than 0 and up to 366 days ("30 minutes", "1 hour", "7 days")',
                        v_id, left(v_val::text, 100) USING ERRCODE = '22023';
                END IF;
                v_spec := jsonb_build_object('duration', v_val);
            END IF;

        WHEN 'wait_until' THEN
            -- one shape, one message: {"event", "where"?, "timeout"} or {"events": [1 to 10 of
            -- {"event", "where"?}], "timeout"} (each test guards the ones after it)
            v_events := CASE WHEN jsonb_typeof(v_val) IS DISTINCT FROM 'object' THEN NULL
                             WHEN v_val ? 'events' THEN v_val->'events'
                             ELSE jsonb_build_array(v_val - 'timeout') END;
            IF v_events IS NULL
               OR EXISTS (SELECT 1 FROM jsonb_object_keys(v_val) k WHERE k NOT IN ('event', 'where', 'events', 'timeout'))
               OR (v_val ? 'events' AND (v_val ? 'event' OR v_val ? 'where'))
               OR jsonb_typeof(v_events) <> 'array' OR jsonb_array_length(v_events) NOT BETWEEN 1 AND 10
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(v_events) e
                          WHERE jsonb_typeof(e) <> 'object' OR jsonb_typeof(e->'event') IS DISTINCT FROM 'string'
                             OR EXISTS (SELECT 1 FROM jsonb_object_keys(e) k WHERE k NOT IN ('event', 'where'))) THEN
                RAISE EXCEPTION '93015: step "%": wait_until takes {"event": name, "where": conditions, "timeout": duration} or {"events": [...], "timeout": duration}',
                    v_id USING ERRCODE = '22023';
            END IF;
            IF NOT v_val ? 'timeout' THEN
                RAISE EXCEPTION '93014: step "%": wait_until needs a "timeout" (a user who never does it must not wait for ever)',
                    v_id USING ERRCODE = '22023';
            END IF;
            IF _flow_interval(v_val->'timeout', false) IS NULL THEN
                RAISE EXCEPTION '93012: step "%": % is not a duration of more than 0 and up to 366 days ("30 minutes", "1 hour", "7 days")',
                    v_id, left((v_val->'timeout')::text, 100) USING ERRCODE = '22023';
            END IF;
            FOR v_ev IN SELECT * FROM jsonb_array_elements(v_events) LOOP
                PERFORM _raise_problem(_flow_event_problem(v_ev->>'event'));
                IF v_ev ? 'where' THEN
                    v_problem := _flow_where_problem(v_ev->'where');
                    IF v_problem IS NOT NULL THEN
                        RAISE EXCEPTION '93007: step "%": where: %', v_id, v_problem USING ERRCODE = '22023';
                    END IF;
                END IF;
            END LOOP;
            PERFORM _flow_path_check(v_id, 'on_event', v_step->'on_event');
            PERFORM _flow_path_check(v_id, 'on_timeout', v_step->'on_timeout');
            v_spec := jsonb_build_object('events', v_events, 'timeout', v_val->'timeout');
            -- each outcome's path, then what follows the wait_until
            v_event_step := _flow_path_first(coalesce(v_step->'on_event', '[]'), v_id || '.on_event.', v_next);
            rows := _flow_compile_steps(p_app, p_plan, coalesce(v_step->'on_event', '[]'),
                                        v_id || '.on_event.', v_next, p_depth + 1, rows);
            rows := _flow_compile_steps(p_app, p_plan, coalesce(v_step->'on_timeout', '[]'),
                                        v_id || '.on_timeout.', v_next, p_depth + 1, rows);
            v_next := _flow_path_first(coalesce(v_step->'on_timeout', '[]'), v_id || '.on_timeout.', v_next);

        WHEN 'branch' THEN
            PERFORM _flow_path_check(v_id, 'branch', v_val);
            IF NOT v_step ? 'else' THEN
                RAISE EXCEPTION '93016: step "%": branch needs an "else" path ([] continues after the branch)',
                    v_id USING ERRCODE = '22023';
            END IF;
            PERFORM _flow_path_check(v_id, 'else', v_step->'else');
            v_paths := '[]';
            FOR v_i2 IN 0 .. jsonb_array_length(v_val) - 1 LOOP
                v_path := v_val->v_i2;
                v_problem := _flow_cond_problem(v_path->'if');
                IF v_problem IS NOT NULL THEN
                    RAISE EXCEPTION '93018: step "%": condition %: %', v_id, v_i2 + 1, v_problem
                        USING ERRCODE = '22023';
                END IF;
                v_paths := v_paths || jsonb_build_object('if', v_path->'if',
                    'step', _flow_path_first(v_path->'then', v_id || '.if' || (v_i2 + 1) || '.', v_next));
                rows := _flow_compile_steps(p_app, p_plan, v_path->'then', v_id || '.if' || (v_i2 + 1) || '.',
                                            v_next, p_depth + 1, rows);
            END LOOP;
            v_spec := jsonb_build_object('paths', v_paths,
                'else', _flow_path_first(v_step->'else', v_id || '.else.', v_next));
            -- audience conditions: push_send's checks, and the list the advance evaluates
            -- for a batch (sql/api/89_flow_branch.sql)
            v_val := _flow_branch_audiences(p_app, v_paths);
            IF v_val <> '[]' THEN
                v_spec := v_spec || jsonb_build_object('audiences', v_val);
            END IF;
            rows := _flow_compile_steps(p_app, p_plan, v_step->'else', v_id || '.else.', v_next,
                                        p_depth + 1, rows);

        WHEN 'send' THEN
            IF jsonb_typeof(v_val) IS DISTINCT FROM 'object' THEN
                RAISE EXCEPTION '93019: step "%": send takes a push as push_send does, without "to"',
                    v_id USING ERRCODE = '22023';
            END IF;
            IF v_val ? 'to' THEN
                RAISE EXCEPTION '93019: step "%": a send has no "to": its audience is the flow''s user',
                    v_id USING ERRCODE = '22023';
            END IF;
            -- the flow's plan unless the push names one; push_send's checks with a user of one
            -- device as the audience (push_send's own error for anything it would refuse)
            v_push := v_val;
            IF p_plan IS NOT NULL AND jsonb_typeof(v_push->'body') = 'object'
               AND (v_push #> '{body,options,plan_id}') IS NULL THEN
                v_push := jsonb_set(v_push, '{body,options}',
                    coalesce(v_push #> '{body,options}', '{}') || jsonb_build_object('plan_id', p_plan));
            END IF;
            v_push := _flow_push_check(p_app, v_push || '{"to": {"registration_id": ["flow-user"]}}');
            v_spec := jsonb_build_object('push', v_push - 'to');

        WHEN 'webhook' THEN
            -- a message through the app's webhook channel (sql/api/89_flow_webhook.sql)
            v_spec := _flow_webhook_compile(p_app, p_plan, v_id, v_val);

        WHEN 'set' THEN
            IF jsonb_typeof(v_val) IS DISTINCT FROM 'object' OR v_val = '{}'
               OR EXISTS (SELECT 1 FROM jsonb_object_keys(v_val) k WHERE k NOT IN ('attrs', 'tags_add', 'tags_remove'))
               OR (v_val ? 'attrs' AND jsonb_typeof(v_val->'attrs') <> 'object')
               OR (v_val ? 'tags_add' AND jsonb_typeof(v_val->'tags_add') <> 'array')
               OR (v_val ? 'tags_remove' AND jsonb_typeof(v_val->'tags_remove') <> 'array')
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(v_val->'tags_add', '[]') || coalesce(v_val->'tags_remove', '[]')) t
                          WHERE jsonb_typeof(t) <> 'string') THEN
                RAISE EXCEPTION '93021: step "%": set takes {"attrs": {...}, "tags_add": [...], "tags_remove": [...]}',
                    v_id USING ERRCODE = '22023';
            END IF;
            IF v_val ? 'attrs' THEN
                PERFORM _raise_problem(_attrs_problem(v_val->'attrs'));
            END IF;
            PERFORM _raise_problem(_tags_problem(ARRAY(
                SELECT jsonb_array_elements_text(coalesce(v_val->'tags_add', '[]') || coalesce(v_val->'tags_remove', '[]')))));
            v_spec := v_val;

        WHEN 'exit' THEN
            IF v_val IS DISTINCT FROM 'true' THEN
                RAISE EXCEPTION '93038: step "%": exit takes true', v_id USING ERRCODE = '22023';
            END IF;
            v_spec := '{}';
            v_next := NULL;
        END CASE;

        rows := rows || jsonb_build_object('step_id', v_id, 'kind', v_kind, 'spec', v_spec,
                                           'next_step', v_next, 'event_step', v_event_step);
        IF jsonb_array_length(rows) > 100 THEN
            RAISE EXCEPTION '93027: a flow has at most 100 steps' USING ERRCODE = '54000';
        END IF;
    END LOOP;
END $$;

-- A flow definition checked and compiled: the flow_versions columns and the steps
-- ({"version": {...}, "steps": [...]}). Raises the first problem; writes nothing.
CREATE OR REPLACE FUNCTION _flow_compile(p_app int, flow jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_key text;
    v_trigger jsonb;
    v_kind text;
    v_problem text;
    v_exit jsonb;
    v_reentry interval;
    v_max int := 1;
    v_plan text;
    v_rows jsonb;
    v_other jsonb;      -- a trigger of another kind than event: {"kind", "spec"}
BEGIN
    IF jsonb_typeof(flow) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION '93000: a flow must be a JSON object' USING ERRCODE = '22023';
    END IF;
    SELECT min(k) INTO v_key FROM jsonb_object_keys(flow) k
        WHERE k NOT IN ('name', 'description', 'enabled', 'trigger', 'steps', 'exit', 'reentry',
                        'max_concurrent', 'plan_id', 'frequency_cap', 'quiet_hours');
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '93002: unknown flow key "%" (name, description, enabled, trigger, steps, exit, reentry, max_concurrent, plan_id, frequency_cap, quiet_hours)',
            _shown(v_key) USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(flow->'name') IS DISTINCT FROM 'string'
       OR char_length(flow->>'name') NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION '93001: a flow needs a "name" of 1 to 200 characters' USING ERRCODE = '22023';
    END IF;
    IF flow ? 'enabled' AND jsonb_typeof(flow->'enabled') <> 'boolean' THEN
        RAISE EXCEPTION '93030: enabled must be true or false' USING ERRCODE = '22023';
    END IF;

    -- the trigger: an event, or one of the kinds of sql/api/89_flow_triggers.sql; the others
    -- are named, and refused until they work
    v_trigger := flow->'trigger';
    IF jsonb_typeof(v_trigger) IS DISTINCT FROM 'object' OR v_trigger = '{}' THEN
        RAISE EXCEPTION '93003: a flow needs a "trigger" object, such as {"event": "cart_add"}'
            USING ERRCODE = '22023';
    END IF;
    SELECT min(k) INTO v_kind FROM jsonb_object_keys(v_trigger) k
        WHERE k NOT IN ('where', 'idempotency_key', 'include_current');
    IF v_kind = 'geofence' THEN
        -- stored as an event push_track never reports, with the circle (sql/api/89_flow_geo.sql)
        v_trigger := _flow_geofence_trigger(v_trigger);
    ELSIF v_kind IN ('inactive', 'audience_enter', 'attr_change', 'date_attr') THEN
        v_other := _flow_trigger_compile(p_app, v_kind, v_trigger);
    END IF;
    IF v_other IS NULL AND v_kind IS DISTINCT FROM 'geofence' THEN
        -- an event (a geofence's was made above, checked by its own rules)
        IF v_kind IS DISTINCT FROM 'event' OR EXISTS (SELECT 1 FROM jsonb_object_keys(v_trigger) k
                WHERE k NOT IN ('event', 'where', 'idempotency_key')) THEN
            RAISE EXCEPTION '93004: unknown trigger "%" (event, inactive, audience_enter, attr_change, date_attr, geofence)',
                _shown(coalesce((SELECT min(k) FROM jsonb_object_keys(v_trigger) k
                                 WHERE k NOT IN ('event', 'where', 'idempotency_key')), v_kind, ''))
                USING ERRCODE = '22023';
        END IF;
        IF jsonb_typeof(v_trigger->'event') <> 'string' THEN
            PERFORM _raise_problem(_flow_event_problem(NULL));
        END IF;
        PERFORM _raise_problem(_flow_event_problem(v_trigger->>'event'));
        IF v_trigger ? 'where' THEN
            v_problem := _flow_where_problem(v_trigger->'where');
            IF v_problem IS NOT NULL THEN
                RAISE EXCEPTION '93007: trigger: where: %', v_problem USING ERRCODE = '22023';
            END IF;
        END IF;
        IF v_trigger ? 'idempotency_key' AND (jsonb_typeof(v_trigger->'idempotency_key') <> 'string'
                OR v_trigger->>'idempotency_key' !~ '^[^.]{1,64}(\.[^.]{1,64}){0,4}$') THEN
            RAISE EXCEPTION '93036: trigger: idempotency_key names the prop whose value enters a user once, such as "order_id"'
                USING ERRCODE = '22023';
        END IF;
    END IF;

    -- the flow's own engagement controls, as an app's or a plan's (doc/engagement.md)
    FOREACH v_key IN ARRAY ARRAY['frequency_cap', 'quiet_hours'] LOOP
        IF flow ? v_key AND jsonb_typeof(flow->v_key) <> 'object' THEN
            RAISE EXCEPTION '93039: flow setting "%" must be a JSON object', v_key USING ERRCODE = '22023';
        END IF;
        IF flow ? v_key THEN
            PERFORM _engagement_check(v_key, flow->v_key);
        END IF;
    END LOOP;

    -- exit and entry rules
    v_exit := flow->'exit';
    IF v_exit IS NOT NULL AND (jsonb_typeof(v_exit) <> 'object'
            OR jsonb_typeof(v_exit->'event') IS DISTINCT FROM 'string'
            OR EXISTS (SELECT 1 FROM jsonb_object_keys(v_exit) k WHERE k NOT IN ('event', 'where'))) THEN
        RAISE EXCEPTION '93024: exit takes {"event": name, "where": conditions}' USING ERRCODE = '22023';
    END IF;
    IF v_exit IS NOT NULL THEN
        PERFORM _raise_problem(_flow_event_problem(v_exit->>'event'));
        IF v_exit ? 'where' THEN
            v_problem := _flow_where_problem(v_exit->'where');
            IF v_problem IS NOT NULL THEN
                RAISE EXCEPTION '93007: exit: where: %', v_problem USING ERRCODE = '22023';
            END IF;
        END IF;
    END IF;
    IF flow ? 'reentry' AND flow->'reentry' <> '"never"' THEN
        v_reentry := _flow_interval(flow->'reentry', true);
        IF v_reentry IS NULL THEN
            RAISE EXCEPTION '93022: reentry is "never" or a duration from "0" up to 366 days, got %',
                left((flow->'reentry')::text, 100) USING ERRCODE = '22023';
        END IF;
    END IF;
    IF flow ? 'max_concurrent' THEN
        IF jsonb_typeof(flow->'max_concurrent') <> 'number' OR (flow->>'max_concurrent') !~ '^\d{1,3}$'
           OR (flow->>'max_concurrent')::int NOT BETWEEN 1 AND 100 THEN
            RAISE EXCEPTION '93023: max_concurrent is an integer from 1 to 100, got %',
                left((flow->'max_concurrent')::text, 100) USING ERRCODE = '22023';
        END IF;
        v_max := (flow->>'max_concurrent')::int;
    END IF;
    IF flow ? 'plan_id' THEN
        IF jsonb_typeof(flow->'plan_id') <> 'string' THEN
            RAISE EXCEPTION '93037: plan_id must be a string' USING ERRCODE = '22023';
        END IF;
        v_plan := flow->>'plan_id';
        IF NOT EXISTS (SELECT 1 FROM plans p WHERE p.app_id = p_app AND p.plan_id = v_plan) THEN
            RAISE EXCEPTION '92054: plan "%" does not exist', _shown(v_plan) USING ERRCODE = '42704';
        END IF;
    END IF;

    IF jsonb_typeof(flow->'steps') IS DISTINCT FROM 'array' OR jsonb_array_length(flow->'steps') = 0 THEN
        RAISE EXCEPTION '93008: a flow needs "steps", a non-empty list of steps' USING ERRCODE = '22023';
    END IF;
    v_rows := _flow_compile_steps(p_app, v_plan, flow->'steps', '', NULL, 0, '[]');
    SELECT min(r->>'step_id') INTO v_key FROM jsonb_array_elements(v_rows) r
        GROUP BY r->>'step_id' HAVING count(*) > 1 LIMIT 1;
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '93025: step id "%" is used twice', v_key USING ERRCODE = '22023';
    END IF;

    RETURN jsonb_build_object(
        'version', jsonb_build_object(
            'trigger_event', v_trigger->>'event', 'trigger_where', v_trigger->'where',
            'idempotency_key', v_trigger->>'idempotency_key',
            'exit_event', v_exit->>'event', 'exit_where', v_exit->'where',
            'reentry', v_reentry, 'max_concurrent', v_max,
            'first_step', _flow_path_first(flow->'steps', '', NULL),
            'trigger_kind', coalesce(v_other->>'kind', 'event'), 'trigger_spec', v_other->'spec'),
        'steps', v_rows);
END $$;

-- Stores a compiled version of a flow.
CREATE OR REPLACE FUNCTION _flow_store_version(p_flow text, p_version int, p_app int, p_def jsonb,
                                               p_compiled jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO pushplan.flow_versions (flow_id, version, app_id, definition, trigger_event,
        trigger_where, idempotency_key, exit_event, exit_where, reentry, max_concurrent, first_step,
        trigger_kind, trigger_spec)
    SELECT p_flow, p_version, p_app, p_def, v->>'trigger_event', nullif(v->'trigger_where', 'null'),
           v->>'idempotency_key', v->>'exit_event', nullif(v->'exit_where', 'null'),
           (v->>'reentry')::interval, (v->>'max_concurrent')::int, v->>'first_step',
           v->>'trigger_kind', nullif(v->'trigger_spec', 'null')
    FROM (SELECT p_compiled->'version' AS v) c;
    INSERT INTO pushplan.flow_steps (flow_id, version, step_id, kind, spec, next_step, event_step)
    SELECT p_flow, p_version, s->>'step_id', s->>'kind', s->'spec', s->>'next_step', s->>'event_step'
    FROM jsonb_array_elements(p_compiled->'steps') s;
$$;

-- A flow's controls as its current version says, and the plans its sends of any version count
-- in (flow_controls, which the senders' gate reads: sql/api/72_engagement.sql), written in the
-- transaction that stores the version, so that a change applies to the next send.
CREATE OR REPLACE FUNCTION _flow_controls_sync(p_flow text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    -- (read first, then written: on the distributed layout flow_controls is a reference table,
    -- written through Citus, the flows' tables the coordinator's)
    SELECT f.flow_id, f.app_id,
           ARRAY(SELECT DISTINCT coalesce(s.spec #>> '{push,body,options,plan_id}', 'default')
                 FROM pushplan.flow_steps s WHERE s.flow_id = f.flow_id AND s.kind = 'send'
                 ORDER BY 1) AS plans,
           fv.definition->'frequency_cap' AS frequency_cap, fv.definition->'quiet_hours' AS quiet_hours
      INTO r
      FROM pushplan.flows f
      JOIN pushplan.flow_versions fv ON fv.flow_id = f.flow_id AND fv.version = f.version
     WHERE f.flow_id = p_flow;
    INSERT INTO pushplan.flow_controls AS c (flow_id, app_id, plans, frequency_cap, quiet_hours)
        VALUES (r.flow_id, r.app_id, r.plans, r.frequency_cap, r.quiet_hours)
        ON CONFLICT (flow_id) DO UPDATE SET plans = excluded.plans,
            frequency_cap = excluded.frequency_cap, quiet_hours = excluded.quiet_hours;
END $$;

CREATE OR REPLACE FUNCTION push_flow_create(app text, flow jsonb) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'operator');
    v_compiled jsonb := _flow_compile(v_app, flow);
    v_id text := 'flw_' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO flows (flow_id, app_id, name, enabled, version, created_by)
        VALUES (v_id, v_app, flow->>'name', coalesce((flow->>'enabled')::boolean, true), 1,
                (SELECT oid FROM pg_roles WHERE rolname = session_user))
        ON CONFLICT (app_id, name) DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION '93029: flow "%" already exists', _shown(flow->>'name') USING ERRCODE = '23505';
    END IF;
    PERFORM _flow_store_version(v_id, 1, v_app, flow, v_compiled);
    PERFORM _flow_controls_sync(v_id);
    RETURN v_id;
END $$;
COMMENT ON FUNCTION push_flow_create(text, jsonb) IS
    'creates an automated flow (trigger, steps, exit and entry rules; doc/flows.md) and returns its id';

-- The flow of an app, locked (42704 when it is not one of the app's).
CREATE OR REPLACE FUNCTION _flow_locked(p_app int, p_flow text) RETURNS flows
LANGUAGE plpgsql AS $$
DECLARE
    v flows;
BEGIN
    SELECT * INTO v FROM pushplan.flows f WHERE f.app_id = p_app AND f.flow_id = p_flow FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION '93028: flow "%" does not exist', pushplan._shown(p_flow) USING ERRCODE = '42704';
    END IF;
    RETURN v;
END $$;

-- A new version: new instances enter it; running ones finish on theirs.
CREATE OR REPLACE FUNCTION push_flow_update(app text, flow_id text, flow jsonb) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app, 'operator');
    v_flow flows := _flow_locked(v_app, flow_id);
    v_compiled jsonb := _flow_compile(v_app, flow);
BEGIN
    IF EXISTS (SELECT 1 FROM flows f WHERE f.app_id = v_app AND f.name = flow->>'name'
               AND f.flow_id <> v_flow.flow_id) THEN
        RAISE EXCEPTION '93029: flow "%" already exists', _shown(flow->>'name') USING ERRCODE = '23505';
    END IF;
    PERFORM _flow_store_version(v_flow.flow_id, v_flow.version + 1, v_app, flow, v_compiled);
    UPDATE flows f SET version = v_flow.version + 1, name = flow->>'name',
        enabled = coalesce((flow->>'enabled')::boolean, f.enabled), updated_at = now()
        WHERE f.flow_id = v_flow.flow_id;
    PERFORM _flow_controls_sync(v_flow.flow_id);
    RETURN v_flow.version + 1;
END $$;
COMMENT ON FUNCTION push_flow_update(text, text, jsonb) IS
    'a new version of a flow, which new instances enter (running ones finish on theirs); returns the version';

-- Disabled: nobody enters; running instances go on (push_flow_delete ends them).
CREATE OR REPLACE FUNCTION push_flow_enable(app text, flow_id text, enabled boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_flow flows := _flow_locked(_app_id(app, 'operator'), flow_id);
BEGIN
    IF enabled IS NULL THEN
        RAISE EXCEPTION '93030: enabled must be true or false' USING ERRCODE = '22023';
    END IF;
    UPDATE flows f SET enabled = push_flow_enable.enabled, updated_at = now()
        WHERE f.flow_id = v_flow.flow_id;
END $$;
COMMENT ON FUNCTION push_flow_enable(text, text, boolean) IS
    'enables or disables a flow: a disabled flow starts no instance; running ones go on';

-- Ends instances (in any flow): later steps never run, and the tasks their sends made that have
-- not left are cancelled as push_cancel cancels them. Returns how many ended.
CREATE OR REPLACE FUNCTION _flow_instances_end(p_ids bigint[], p_reason text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_n int;
BEGIN
    UPDATE pushplan.flow_instances i SET state = 'exited', exited_at = pushplan.clock_now(),
        exit_reason = p_reason, next_at = NULL
        WHERE i.instance_id = ANY (p_ids) AND i.state = 'waiting';
    GET DIAGNOSTICS v_n = ROW_COUNT;
    PERFORM pushplan._flow_instances_cancel_sends(p_ids);
    RETURN v_n;
END $$;

-- Ends every running instance and deletes the flow with its versions and runs. Its tasks keep
-- their flow id (statistics by flow).
CREATE OR REPLACE FUNCTION push_flow_delete(app text, flow_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_flow flows := _flow_locked(_app_id(app, 'operator'), flow_id);
BEGIN
    PERFORM _flow_instances_end(ARRAY(SELECT i.instance_id FROM flow_instances i
                                      WHERE i.flow_id = v_flow.flow_id AND i.state = 'waiting'
                                      ORDER BY i.instance_id FOR UPDATE),
                                'flow deleted');
    DELETE FROM flows f WHERE f.flow_id = v_flow.flow_id;
END $$;
COMMENT ON FUNCTION push_flow_delete(text, text) IS
    'deletes a flow: its running instances end and their unsent pushes are cancelled';

-- ---- events ---------------------------------------------------------------------------------
-- push_track, push_track_account and push_track_batch: sql/api/89_flows_track.sql.

-- ---- the scheduler ------------------------------------------------------------------------

-- The zone a user's times of day are read in: the device's (an account's: its most recently
-- bound device's), else the app's.
-- (PL/pgSQL: Citus plans no SQL function with parameters over the distributed tables)
CREATE OR REPLACE FUNCTION _flow_user_zone(p_app int, p_device bigint, p_account text,
                                           p_account_type int) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_zone text;
BEGIN
    IF p_device IS NOT NULL THEN
        SELECT d.timezone INTO v_zone FROM pushplan.devices d WHERE d.device_id = p_device;
    END IF;
    IF v_zone IS NULL AND p_account IS NOT NULL THEN
        SELECT d.timezone INTO v_zone
        FROM pushplan.device_accounts a JOIN pushplan.devices d USING (device_id)
        WHERE a.app_id = p_app AND a.account_type = p_account_type AND a.account = p_account
        ORDER BY a.bound_at DESC, a.device_id DESC LIMIT 1;
    END IF;
    -- a device registered without a zone stores UTC: read as the app's zone, as quiet hours
    -- and date triggers read it (_engagement_zone)
    RETURN pushplan._engagement_zone(v_zone,
        (SELECT settings->>'timezone' FROM pushplan.apps WHERE app_id = p_app));
END $$;

-- When a wait step that starts at p_now ends: after its duration, or at the next HH:MM of the
-- zone (a wall time a DST gap skips is read as PostgreSQL reads it, an hour later).
CREATE OR REPLACE FUNCTION _flow_wait_end(spec jsonb, zone text, p_now timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_at timestamptz;
BEGIN
    IF spec ? 'duration' THEN
        RETURN p_now + (spec->>'duration')::interval;
    END IF;
    v_at := ((p_now AT TIME ZONE zone)::date + (spec->>'until')::time) AT TIME ZONE zone;
    IF v_at <= p_now THEN
        v_at := ((p_now AT TIME ZONE zone)::date + 1 + (spec->>'until')::time) AT TIME ZONE zone;
    END IF;
    RETURN v_at;
END $$;

-- Advances up to p_limit instances whose time has come, as set operations, until each waits or
-- has ended (the scheduler: src/flow_advance.c). Each instance's path through the steps that
-- take no time (send, webhook, set, branch, exit) is followed in memory, a round per step: in
-- each round every instance's step is claimed in flow_step_runs (its primary key is what makes
-- a send or a set fire once per instance), the claimed steps act (sends grouped in shared
-- tasks, webhooks, sets), then one statement moves every instance to its next step (a branch
-- to the first path whose condition holds, else its else path; a wait_until whose event came
-- since the instance reached it to its event path), to a wait, or to its end. The instances'
-- rows are written once, at the end of the call (each write of a row makes new index entries:
-- a state and next_at are in the due index). Returns how many instances were taken.
-- (jit off: over a million instances the planner's estimates pass jit_above_cost, and
-- compiling each statement's plan took 70 % of the time; doc/benchmarks.md, "Flows")
CREATE OR REPLACE FUNCTION _flow_advance(p_limit int) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp SET jit = off AS $$
DECLARE
    v_now timestamptz := clock_now();
    v_taken bigint;
    -- the instances taken, in memory: their step (NULL: the path ended), where they are
    -- (run: at a step to take now; wait: a wait started, until w_next; done; exited), and
    -- when they reached their step (what a wait_until's events are counted from)
    w_id bigint[];
    w_step text[];
    w_state text[];
    w_reached timestamptz[];
    w_next timestamptz[];
    w_reason text[];
    -- who each instance is and what it follows (fixed while it advances), read once: the
    -- statements below join the steps on (flow, version, step) from these, never probing the
    -- instances again (a join on the step id alone matched every flow's step of that id)
    w_flow text[];
    w_version int[];
    w_app int[];
    w_device bigint[];
    w_account text[];
    w_type int[];
    f_id bigint[];
    f_step text[];
    f_flow text[];
    f_version int[];
    f_app int[];
    f_device bigint[];
    f_account text[];
    f_type int[];
    v_round int;
    v_kinds text[];
    v_attrs boolean;
    v_tags_add boolean;
    v_tags_remove boolean;
    b_id bigint[];
    b_step text[];
    -- a set step's changes: the devices of its instances' users (read once a round), and what
    -- each gets
    u_inst bigint[];
    u_dev bigint[];
    u_device bigint[];
    u_patch jsonb[];
    u_tag int[];
BEGIN
    -- the instances due: a wait that ended takes the step after it (a wait_until's: its timeout
    -- path); one whose step is to be taken takes it
    SELECT array_agg(x.instance_id ORDER BY x.instance_id),
           array_agg(CASE WHEN x.step_started_at IS NOT NULL THEN s.next_step ELSE x.step_id END ORDER BY x.instance_id),
           array_agg('run'::text ORDER BY x.instance_id),
           array_agg(CASE WHEN x.step_started_at IS NOT NULL THEN v_now ELSE x.next_at END ORDER BY x.instance_id),
           array_agg(NULL::timestamptz ORDER BY x.instance_id), array_agg(NULL::text ORDER BY x.instance_id),
           array_agg(x.flow_id ORDER BY x.instance_id), array_agg(x.version ORDER BY x.instance_id),
           array_agg(x.app_id ORDER BY x.instance_id), array_agg(x.device_id ORDER BY x.instance_id),
           array_agg(x.account ORDER BY x.instance_id), array_agg(x.account_type ORDER BY x.instance_id)
        INTO w_id, w_step, w_state, w_reached, w_next, w_reason,
             w_flow, w_version, w_app, w_device, w_account, w_type
    FROM (SELECT i.instance_id, i.flow_id, i.version, i.step_id, i.step_started_at, i.next_at,
                 i.app_id, i.device_id, i.account, i.account_type
          FROM flow_instances i
          WHERE i.state = 'waiting' AND i.next_at <= v_now
          ORDER BY i.next_at LIMIT p_limit FOR UPDATE SKIP LOCKED) x
    LEFT JOIN flow_steps s ON s.flow_id = x.flow_id AND s.version = x.version AND s.step_id = x.step_id;
    IF w_id IS NULL THEN
        RETURN 0;
    END IF;
    v_taken := cardinality(w_id);

    FOR v_round IN 1 .. 201 LOOP
        EXIT WHEN NOT 'run' = ANY (w_state);
        IF v_round > 200 THEN
            RAISE EXCEPTION 'pushplan: flow instances % did not come to a wait',
                ARRAY(SELECT w.id FROM unnest(w_id, w_state) w(id, state) WHERE w.state = 'run');
        END IF;
        -- each step once per instance: the steps claimed now act
        WITH claimed AS (
            INSERT INTO flow_step_runs (instance_id, step_id, at)
            SELECT w.id, w.step, v_now FROM unnest(w_id, w_step, w_state) w(id, step, state)
            WHERE w.state = 'run' AND w.step IS NOT NULL
            ON CONFLICT DO NOTHING RETURNING instance_id, step_id)
        SELECT coalesce(array_agg(c.instance_id ORDER BY c.instance_id), '{}'),
               coalesce(array_agg(c.step_id ORDER BY c.instance_id), '{}'),
               coalesce(array_agg(w.flow ORDER BY c.instance_id), '{}'),
               coalesce(array_agg(w.version ORDER BY c.instance_id), '{}'),
               coalesce(array_agg(w.app ORDER BY c.instance_id), '{}'),
               coalesce(array_agg(w.device ORDER BY c.instance_id), '{}'),
               coalesce(array_agg(w.account ORDER BY c.instance_id), '{}'),
               coalesce(array_agg(w.account_type ORDER BY c.instance_id), '{}')
            INTO f_id, f_step, f_flow, f_version, f_app, f_device, f_account, f_type
        FROM claimed c
        JOIN unnest(w_id, w_flow, w_version, w_app, w_device, w_account, w_type)
            w(id, flow, version, app, device, account, account_type) ON w.id = c.instance_id;

        -- what the claimed steps are: a statement runs only for a kind some of them are
        SELECT coalesce(array_agg(DISTINCT s.kind), '{}'),
               coalesce(bool_or(s.kind = 'set' AND s.spec ? 'attrs'), false),
               coalesce(bool_or(s.kind = 'set' AND s.spec ? 'tags_add'), false),
               coalesce(bool_or(s.kind = 'set' AND s.spec ? 'tags_remove'), false)
            INTO v_kinds, v_attrs, v_tags_add, v_tags_remove
        FROM unnest(f_flow, f_version, f_step) f(flow_id, version, step_id)
        JOIN flow_steps s ON s.flow_id = f.flow_id AND s.version = f.version AND s.step_id = f.step_id;
        IF 'send' = ANY (v_kinds) THEN
            -- sends: in tasks shared by the instances of one step and push (sql/api/89_flows_send.sql)
            PERFORM _flow_sends(f_id, f_step);
        END IF;
        IF 'webhook' = ANY (v_kinds) THEN
            -- webhook steps: a message each through the app's webhook (sql/api/89_flow_webhook.sql)
            PERFORM _flow_webhook_fire(f_id, f_step, v_now);
        END IF;
        -- sets: attributes (at most 50 a device: a set that would pass it leaves them) and tags,
        -- each step's changes read first for the devices of its instances' users, then written
        -- by device (on the distributed layout a statement on the devices' shards: the steps
        -- and instances are the coordinator's)
        IF v_attrs OR v_tags_add OR v_tags_remove THEN
            SELECT coalesce(array_agg(u.instance_id), '{}'), coalesce(array_agg(u.device_id), '{}')
              INTO u_inst, u_dev
              FROM _flow_users_devices(f_id, f_app, f_device, f_account, f_type) u;
        END IF;
        IF v_attrs THEN
            SELECT array_agg(u.device_id), array_agg(s.spec->'attrs') INTO u_device, u_patch
            FROM unnest(u_inst, u_dev) u(instance_id, device_id)
            JOIN unnest(f_id, f_flow, f_version, f_step) f(id, flow_id, version, step_id) ON f.id = u.instance_id
            JOIN flow_steps s ON s.flow_id = f.flow_id AND s.version = f.version AND s.step_id = f.step_id
            WHERE s.kind = 'set' AND s.spec ? 'attrs';
            UPDATE devices d SET attrs = _attrs_merge(d.attrs, p.patch), updated_at = now()
            FROM unnest(u_device, u_patch) p(device_id, patch)
            WHERE d.device_id = p.device_id AND _attrs_count(_attrs_merge(d.attrs, p.patch)) <= 50;
        END IF;
        IF v_tags_add THEN
            INSERT INTO tags (app_id, tag)
                SELECT DISTINCT f.app_id, t FROM unnest(f_flow, f_version, f_step, f_app) f(flow_id, version, step_id, app_id)
                JOIN flow_steps s ON s.flow_id = f.flow_id AND s.version = f.version AND s.step_id = f.step_id
                CROSS JOIN jsonb_array_elements_text(s.spec->'tags_add') t
                WHERE s.kind = 'set'
                ON CONFLICT (app_id, tag) DO NOTHING;
            -- (each step's tags are looked up once, not once per instance)
            SELECT array_agg(u.device_id), array_agg(st.tag_id) INTO u_device, u_tag
            FROM unnest(u_inst, u_dev) u(instance_id, device_id)
            JOIN unnest(f_id, f_flow, f_version, f_step) f(id, flow_id, version, step_id) ON f.id = u.instance_id
            JOIN (SELECT s.flow_id, s.version, s.step_id, g.tag_id
                  FROM flow_steps s
                  JOIN flows fl ON fl.flow_id = s.flow_id
                  CROSS JOIN jsonb_array_elements_text(s.spec->'tags_add') t
                  JOIN tags g ON g.app_id = fl.app_id AND g.tag = t
                  WHERE s.kind = 'set' AND (s.flow_id, s.version, s.step_id) IN
                        (SELECT * FROM unnest(f_flow, f_version, f_step))) st
              ON st.flow_id = f.flow_id AND st.version = f.version AND st.step_id = f.step_id;
            INSERT INTO device_tags (tag_id, device_id)
                SELECT x.tag_id, x.device_id FROM unnest(u_tag, u_device) x(tag_id, device_id)
                ON CONFLICT DO NOTHING;
        END IF;
        IF v_tags_remove THEN
            SELECT array_agg(u.device_id), array_agg(g.tag_id) INTO u_device, u_tag
            FROM unnest(u_inst, u_dev) u(instance_id, device_id)
            JOIN unnest(f_id, f_flow, f_version, f_step, f_app) f(id, flow_id, version, step_id, app_id)
              ON f.id = u.instance_id
            JOIN flow_steps s ON s.flow_id = f.flow_id AND s.version = f.version AND s.step_id = f.step_id
            CROSS JOIN jsonb_array_elements_text(s.spec->'tags_remove') t
            JOIN tags g ON g.app_id = f.app_id AND g.tag = t
            WHERE s.kind = 'set';
            DELETE FROM device_tags dt USING unnest(u_tag, u_device) x(tag_id, device_id)
                WHERE dt.device_id = x.device_id AND dt.tag_id = x.tag_id;
        END IF;

        -- the audiences of the branches the instances are at: one query each for the round
        -- (sql/api/89_flow_branch.sql)
        SELECT coalesce(array_agg(w.id), '{}'), coalesce(array_agg(w.step), '{}') INTO b_id, b_step
        FROM unnest(w_id, w_step, w_state) w(id, step, state) WHERE w.state = 'run' AND w.step IS NOT NULL;

        -- every instance at a step moves on: past a step that took no time to the next one (a
        -- branch: the first path whose condition holds, else its else path), into a wait, to
        -- an exit; a path that ends is done
        SELECT array_agg(n.step ORDER BY w.n), array_agg(n.state ORDER BY w.n),
               array_agg(n.reached ORDER BY w.n), array_agg(n.next_at ORDER BY w.n),
               array_agg(n.reason ORDER BY w.n)
            INTO w_step, w_state, w_reached, w_next, w_reason
        FROM unnest(w_id, w_step, w_state, w_reached, w_next, w_reason)
            WITH ORDINALITY w(id, step, state, reached, next_at, reason, n)
        JOIN flow_instances i ON i.instance_id = w.id
        LEFT JOIN flow_steps s ON w.state = 'run' AND s.flow_id = i.flow_id AND s.version = i.version
                              AND s.step_id = w.step
        LEFT JOIN _flow_branch_hits(b_id, b_step) h ON h.instance_id = w.id
        -- what the step does with the instance: go on to a step (run), wait, exit, or end
        CROSS JOIN LATERAL (
            SELECT CASE
                WHEN w.state <> 'run' THEN w.state
                WHEN w.step IS NULL THEN 'done'
                WHEN s.kind = 'wait_until' THEN
                    CASE WHEN EXISTS (SELECT 1 FROM tracked_events e, jsonb_array_elements(s.spec->'events') x
                                      WHERE e.app_id = i.app_id AND e.event = x->>'event'
                                        AND e.tracked_at >= w.reached
                                        AND ((i.device_id IS NOT NULL AND e.device_id = i.device_id)
                                             OR (i.account IS NOT NULL AND e.account = i.account
                                                 AND e.account_type = i.account_type))
                                        AND _flow_props_match(x->'where', e.props))
                         THEN 'event' ELSE 'wait' END
                WHEN s.kind = 'wait' THEN 'wait'
                WHEN s.kind = 'exit' THEN 'exited'
                ELSE 'on' END AS what) k
        CROSS JOIN LATERAL (
            SELECT CASE k.what
                WHEN 'event' THEN s.event_step
                WHEN 'on' THEN CASE WHEN s.kind = 'branch' THEN coalesce(
                        (SELECT p->>'step' FROM jsonb_array_elements(s.spec->'paths') WITH ORDINALITY x(p, o)
                         WHERE _flow_cond_holds(p->'if', i.app_id, i.device_id, i.account, i.account_type,
                                                i.entered_at, i.trigger_props, coalesce(h.hits, '{}'))
                         ORDER BY o LIMIT 1),
                        s.spec->>'else')
                    ELSE s.next_step END
                WHEN 'done' THEN NULL
                ELSE w.step END AS step) m
        CROSS JOIN LATERAL (
            SELECT m.step,
                   CASE WHEN k.what IN ('event', 'on') THEN CASE WHEN m.step IS NULL THEN 'done' ELSE 'run' END
                        ELSE k.what END AS state,
                   CASE WHEN k.what IN ('event', 'on') THEN v_now ELSE w.reached END AS reached,
                   CASE WHEN w.state <> 'run' THEN w.next_at
                        WHEN k.what = 'wait' AND s.kind = 'wait_until' THEN v_now + (s.spec->>'timeout')::interval
                        WHEN k.what = 'wait' THEN _flow_wait_end(s.spec,
                            _flow_user_zone(i.app_id, i.device_id, i.account, i.account_type), v_now) END AS next_at,
                   CASE WHEN w.state <> 'run' THEN w.reason
                        WHEN k.what = 'exited' THEN format('exit step "%s"', w.step)
                        WHEN k.what IN ('done', 'event', 'on') AND m.step IS NULL THEN 'completed' END AS reason) n;
    END LOOP;

    -- each instance written once
    UPDATE flow_instances i SET
        step_id = w.step,
        state = CASE w.state WHEN 'wait' THEN 'waiting' ELSE w.state END,
        step_started_at = CASE WHEN w.state = 'wait' THEN v_now END,
        next_at = CASE WHEN w.state = 'wait' THEN w.next_at END,
        exited_at = CASE WHEN w.state IN ('done', 'exited') THEN v_now END,
        exit_reason = w.reason
    FROM unnest(w_id, w_step, w_state, w_next, w_reason) w(id, step, state, next_at, reason)
    WHERE i.instance_id = w.id;
    RETURN v_taken;
END $$;

-- When the next waiting instance is due (the scheduler sleeps until then at most).
CREATE OR REPLACE FUNCTION _flow_next_due() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
    SELECT min(next_at) FROM flow_instances WHERE state = 'waiting'
$$;

-- ---- views ------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW push_flows WITH (security_barrier) AS
    SELECT a.app, f.flow_id, f.name, f.enabled, f.version, v.trigger_event, v.exit_event,
           v.definition,
           (SELECT count(*) FROM flow_instances i WHERE i.flow_id = f.flow_id AND i.state = 'waiting') AS running,
           (SELECT count(*) FROM flow_instances i WHERE i.flow_id = f.flow_id) AS entered,
           f.created_at, f.updated_at,
           -- a geofence is stored as an event push_track never reports (89_flow_geo.sql)
           CASE WHEN v.trigger_kind = 'event' AND v.definition->'trigger' ? 'geofence' THEN 'geofence'
                ELSE v.trigger_kind END AS trigger_kind,
           v.definition->'trigger' AS trigger
    FROM flows f
    JOIN flow_versions v ON v.flow_id = f.flow_id AND v.version = f.version
    JOIN apps a ON a.app_id = f.app_id
    WHERE f.app_id = ANY ((SELECT _visible_apps('reader'))::int[]);

-- One row per user instance. step: the step it is at (waiting) or where it ended.
CREATE OR REPLACE VIEW push_flow_runs WITH (security_barrier) AS
    SELECT a.app, i.flow_id, f.name AS flow, i.version, i.instance_id, d.registration_id,
           i.account, i.account_type, i.step_id AS step, s.kind AS step_kind, i.state, i.next_at,
           i.entered_at, i.exited_at, i.exit_reason
    FROM flow_instances i
    JOIN flows f ON f.flow_id = i.flow_id
    JOIN apps a ON a.app_id = i.app_id
    LEFT JOIN devices d ON d.device_id = i.device_id
    LEFT JOIN flow_steps s ON s.flow_id = i.flow_id AND s.version = i.version AND s.step_id = i.step_id
    WHERE i.app_id = ANY ((SELECT _visible_apps('operator'))::int[]);
