-- Statistics (doc/statistics.md): events, the aggregates and their upkeep, push_plan_stats and
-- the views for BI tools (tables: sql/install/schema.sql, "Statistics").

-- An event kind's bit in deliveries.events, or NULL for an unknown kind. "delivered" is
-- Tencent Push's and JPush's word for received.
CREATE OR REPLACE FUNCTION _event_bit(kind text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE kind WHEN 'received' THEN 1 WHEN 'delivered' THEN 1 WHEN 'open' THEN 2
                     WHEN 'click' THEN 4 WHEN 'dismiss' THEN 8 WHEN 'convert' THEN 16 END::smallint
$$;

-- A task's message type: notification (shown by the system) or message (handed to the app).
-- A push with both counts as a notification.
CREATE OR REPLACE FUNCTION _message_type(push jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN push->'body' ? 'notification' THEN 'notification' ELSE 'message' END
$$;

-- The quarter hour a task's figures count in (plan_stats.period).
CREATE OR REPLACE FUNCTION _stats_period(send_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_bin(interval '15 minutes', send_at, timestamptz '2000-01-01 00:00:00+00')
$$;

-- Raises the error of the first event (in the arrays' order) whose task has no delivery to its
-- device: never made (92752), or made on a day no longer kept (92765; a task has at most one
-- delivery per device). Shared by push_event and push_event_batch; the error undoes what the
-- caller's statement wrote.
CREATE OR REPLACE FUNCTION _events_missing(p_task text[], p_device bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_missing record;
BEGIN
    SELECT e.task_id, v.registration_id,
           t.started_at < pushplan._retention_first_day()::timestamp AT TIME ZONE 'UTC' AS dropped
        INTO v_missing
        FROM unnest(p_task, p_device) WITH ORDINALITY e(task_id, device_id, n)
        JOIN pushplan.devices v ON v.device_id = e.device_id
        JOIN pushplan.tasks t ON t.task_id = e.task_id
        WHERE NOT EXISTS (SELECT 1 FROM pushplan.deliveries d
                          WHERE d.task_id = e.task_id AND d.device_id = e.device_id
                            AND d.delivery_id >= pushplan._delivery_id_floor(t.started_at))
        ORDER BY e.n LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_missing.dropped THEN
        RAISE EXCEPTION '92765: the deliveries of task "%" are no longer kept (pushplan.retention_days is %)',
            v_missing.task_id, current_setting('pushplan.retention_days', true) USING ERRCODE = '42704';
    END IF;
    RAISE EXCEPTION '92752: device "%" was not targeted by task "%"',
        pushplan._shown(v_missing.registration_id), v_missing.task_id USING ERRCODE = '42704';
END $$;

-- The core of push_event_batch, given events already checked, with their devices and tasks
-- resolved: every event goes to the raw log; each kind counts once per delivery (the bits of
-- deliveries.events, set by an update that holds the delivery's row lock, so that two sessions
-- reporting the same event count it once), a conversion with the value of its first report;
-- the event that counted is marked (events.counted). A batch locks its deliveries in (task,
-- device) order: two batches never deadlock. (push_event takes the same steps for one event.)
-- One generic plan serves every call: each event meets its delivery through an index (its task
-- and device), and the rest reads what that update returned, so no plan depends on how many
-- events come. Left to choose, the plan cache planned the statement again at every call (a
-- custom plan, sized for the events given, always looked cheaper): half of push_event's time
-- (doc/benchmarks.md, "Statistics: push_plan_stats and event ingestion").
CREATE OR REPLACE FUNCTION _events_record(p_app_id int, p_task text[], p_device bigint[],
                                          p_kind text[], p_at timestamptz[], p_value numeric[])
RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_floor bigint;
    -- deliveries made by now: no later partition (days ahead, made in advance) is opened
    v_ceiling bigint := pushplan._delivery_id_floor(now() + interval '1 day');
    v_missing_n bigint;
BEGIN
    -- A task's deliveries have ids from the first of the day it started expanding (deliveries
    -- are partitioned by day: sql/api/86_retention.sql). The oldest task's, given to the
    -- statements as a value, prunes the older partitions when their plan starts: they are not
    -- even opened. (A floor per event, joined from tasks, prunes only as the statement runs:
    -- every partition's scan was set up at each call, and pruned again for each event; with 30
    -- days kept, that was most of push_event's time and a quarter of a batch's.)
    SELECT min(pushplan._delivery_id_floor(t.started_at)) INTO v_floor
        FROM pushplan.tasks t WHERE t.task_id = ANY (p_task);

    WITH e AS (
        SELECT e.task_id, e.device_id, CASE e.kind WHEN 'delivered' THEN 'received' ELSE e.kind END AS kind,
               pushplan._event_bit(e.kind) AS bit, e.at, e.value,
               -- the first report of its kind for its delivery in this call
               row_number() OVER (PARTITION BY e.task_id, e.device_id, pushplan._event_bit(e.kind)
                                  ORDER BY e.n) = 1 AS first
        FROM unnest(p_task, p_device, p_kind, p_at, p_value) WITH ORDINALITY
             e(task_id, device_id, kind, at, value, n)
    ), u AS (
        -- Each delivery once, with the bits its events bring, in (task, device) order (the
        -- generic plan probes them in the order given). The update takes the row's lock and
        -- reads the row again once it has it, so a session that set a bit first makes this
        -- one wait and then find it set; what this one added is written beside the bits for
        -- RETURNING to read (it shows only the new row). One pass over the deliveries: a
        -- SELECT ... FOR UPDATE first, then the update by id, cost a fifth more.
        UPDATE pushplan.deliveries d SET events = d.events | n.bits, events_added = n.bits & ~d.events
        FROM (SELECT e.task_id, e.device_id, bit_or(e.bit) AS bits FROM e
              GROUP BY e.task_id, e.device_id ORDER BY e.task_id, e.device_id) n
        WHERE d.task_id = n.task_id AND d.device_id = n.device_id
          AND d.delivery_id >= v_floor AND d.delivery_id < v_ceiling
          AND d.events & n.bits <> n.bits
        RETURNING d.task_id, d.device_id, d.events_added, coalesce(d.platform, 'unknown') AS platform, d.vendor
    ), c AS (
        -- an event counts when it is the first of its kind in this call and its delivery
        -- gained that bit
        SELECT e.*, u.platform, u.vendor, u.task_id IS NOT NULL AS updated,
               coalesce(e.first AND u.events_added & e.bit <> 0, false) AS counts
        FROM e LEFT JOIN u ON u.task_id = e.task_id AND u.device_id = e.device_id
    ), logged AS (
        INSERT INTO pushplan.events (app_id, task_id, device_id, kind, at, value, counted)
        SELECT p_app_id, c.task_id, c.device_id, c.kind, c.at, c.value, c.counts FROM c
    ), appended AS (
        INSERT INTO pushplan.stats_pending (task_id, platform, vendor, received, opened, clicked,
                                            dismissed, converted, converted_value)
        SELECT c.task_id, c.platform, c.vendor,
               count(*) FILTER (WHERE c.bit = 1), count(*) FILTER (WHERE c.bit = 2),
               count(*) FILTER (WHERE c.bit = 4), count(*) FILTER (WHERE c.bit = 8),
               count(*) FILTER (WHERE c.bit = 16), coalesce(sum(c.value) FILTER (WHERE c.bit = 16), 0)
        FROM c WHERE c.counts GROUP BY c.task_id, c.platform, c.vendor
    ), reacted AS (
        -- the first open and click of a delivery join its device's history for intelligent
        -- send times (doc/smart_send.md), and mark its profile stale as a visit does: DO
        -- UPDATE ... WHERE false locks the mark until this transaction ends, so that a refresh
        -- never takes it while these rows are invisible to it
        INSERT INTO pushplan.device_reactions (device_id, at, kind)
        SELECT c.device_id, c.at, c.bit FROM c WHERE c.counts AND c.bit IN (2, 4)
    ), marked AS (
        INSERT INTO pushplan.smart_profile_pending AS m (device_id)
        SELECT DISTINCT c.device_id FROM c WHERE c.counts AND c.bit IN (2, 4) ORDER BY 1
        ON CONFLICT (device_id) DO UPDATE SET marked_at = m.marked_at WHERE false
    )
    -- the events whose delivery gained nothing: does it exist?
    SELECT count(*) INTO v_missing_n FROM c
        WHERE NOT c.updated
          AND NOT EXISTS (SELECT 1 FROM pushplan.deliveries d
                          WHERE d.task_id = c.task_id AND d.device_id = c.device_id
                            AND d.delivery_id >= v_floor AND d.delivery_id < v_ceiling);
    IF v_missing_n > 0 THEN
        PERFORM pushplan._events_missing(p_task, p_device);
    END IF;
END $$;

-- _events_record on the distributed layout (doc/scale-out.md, "Events"): its steps event by
-- event, each statement on the event's device's shard (Citus plans no statement joining a
-- batch with the distributed deliveries, nor one modifying several tables as _events_record's
-- does), the deliveries locked in (task, device) order as there. Each kind counts once per
-- delivery: the update that sets a delivery's bit holds its row lock, so a later report of the
-- same kind, in this call or another session, finds it set. stats_pending is the
-- coordinator's own table. An event whose task has no delivery to its device fails the call
-- with the error of the first such event in the arrays' order, as on one node.
CREATE OR REPLACE FUNCTION _events_record_shards(p_app_id int, p_rid text[], p_task text[],
                                                 p_device bigint[], p_kind text[],
                                                 p_at timestamptz[], p_value numeric[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    -- deliveries made by now (as in _events_record)
    v_ceiling bigint := pushplan._delivery_id_floor(now() + interval '1 day');
    v_task text;
    v_floor bigint;
    v_started timestamptz;
    v_platform text;
    v_vendor text;
    v_counted boolean;
    v_delivery bigint;
    v_missing_n bigint;             -- the first event (in the arrays' order) without a delivery
    v_missing_rid text;
    v_missing_task text;
    v_missing_dropped boolean;
    e record;
BEGIN
    FOR e IN SELECT x.rid, x.task_id, x.device_id, x.at, x.value, x.n,
                    CASE x.kind WHEN 'delivered' THEN 'received' ELSE x.kind END AS kind,
                    pushplan._event_bit(x.kind) AS bit
               FROM unnest(p_rid, p_task, p_device, p_kind, p_at, p_value) WITH ORDINALITY
                    x(rid, task_id, device_id, kind, at, value, n)
              ORDER BY x.task_id, x.device_id, x.n
    LOOP
        IF v_task IS DISTINCT FROM e.task_id THEN
            -- the first delivery id of the day the task started (tasks: a reference table)
            SELECT pushplan._delivery_id_floor(t.started_at), t.started_at INTO v_floor, v_started
              FROM pushplan.tasks t WHERE t.task_id = e.task_id;
            v_task := e.task_id;
        END IF;
        UPDATE pushplan.deliveries d SET events = d.events | e.bit
         WHERE d.device_id = e.device_id AND d.task_id = e.task_id
           AND d.delivery_id >= v_floor AND d.delivery_id < v_ceiling AND d.events & e.bit = 0
        RETURNING coalesce(d.platform, 'unknown'), d.vendor INTO v_platform, v_vendor;
        v_counted := FOUND;
        INSERT INTO pushplan.events (app_id, task_id, device_id, kind, at, value, counted)
        VALUES (p_app_id, e.task_id, e.device_id, e.kind, e.at, e.value, v_counted);
        IF v_counted THEN
            INSERT INTO pushplan.stats_pending (task_id, platform, vendor, received, opened,
                                                clicked, dismissed, converted, converted_value)
            VALUES (e.task_id, v_platform, v_vendor, (e.bit = 1)::int, (e.bit = 2)::int,
                    (e.bit = 4)::int, (e.bit = 8)::int, (e.bit = 16)::int,
                    CASE WHEN e.bit = 16 THEN coalesce(e.value, 0) ELSE 0 END);
            IF e.bit IN (2, 4) THEN
                -- the first open or click of a delivery: as in _events_record
                INSERT INTO pushplan.device_reactions (device_id, at, kind)
                VALUES (e.device_id, e.at, e.bit);
                INSERT INTO pushplan.smart_profile_pending AS m (device_id) VALUES (e.device_id)
                    ON CONFLICT (device_id) DO UPDATE SET marked_at = m.marked_at WHERE false;
            END IF;
        ELSIF v_missing_n IS NULL OR e.n < v_missing_n THEN
            -- a repeat, or no delivery? (a plain statement on the shard: Citus plans no
            -- subquery of an expression with the loop's values as parameters)
            SELECT d.delivery_id INTO v_delivery FROM pushplan.deliveries d
             WHERE d.device_id = e.device_id AND d.task_id = e.task_id
               AND d.delivery_id >= v_floor AND d.delivery_id < v_ceiling;
            IF NOT FOUND THEN
                v_missing_n := e.n;
                v_missing_rid := e.rid;
                v_missing_task := e.task_id;
                v_missing_dropped :=
                    v_started < pushplan._retention_first_day()::timestamp AT TIME ZONE 'UTC';
            END IF;
        END IF;
    END LOOP;
    IF v_missing_n IS NULL THEN
        RETURN;
    END IF;
    IF v_missing_dropped THEN
        RAISE EXCEPTION '92765: the deliveries of task "%" are no longer kept (pushplan.retention_days is %)',
            v_missing_task, current_setting('pushplan.retention_days', true) USING ERRCODE = '42704';
    END IF;
    RAISE EXCEPTION '92752: device "%" was not targeted by task "%"',
        pushplan._shown(v_missing_rid), v_missing_task USING ERRCODE = '42704';
END $$;

-- What is wrong with one event's kind, time or value, or NULL (shared by both entry points).
CREATE OR REPLACE FUNCTION _event_problem(kind text, at timestamptz, value numeric) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN pushplan._event_bit(kind) IS NULL THEN
            format('92750: unknown event kind "%s" (received, open, click, dismiss, convert)',
                   pushplan._shown(coalesce(kind, 'null')))
        -- a few minutes ahead is a device's clock
        WHEN at IS NULL OR at NOT BETWEEN now() - interval '1 year' AND now() + interval '5 minutes' THEN
            '92753: event time must be given, within the last year and not in the future'
        WHEN value IS NOT NULL AND kind <> 'convert' THEN
            format('92754: only convert events take a value, not %s events', kind)
        WHEN value IN ('NaN', 'Infinity', '-Infinity') THEN
            '92755: an event value must be a finite number'
    END
$$;

-- What is wrong with the shape of one event of a batch, or NULL: an object of known keys, with
-- values of the right types, the required ones given.
CREATE OR REPLACE FUNCTION _event_shape_problem(ev jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(ev) <> 'object' THEN '92756: an event must be a JSON object' ELSE
        coalesce(
            (SELECT x.problem FROM jsonb_each(ev) WITH ORDINALITY k(key, value, n),
                LATERAL (SELECT CASE
                    WHEN k.key NOT IN ('registration_id', 'task_id', 'kind', 'at', 'value') THEN
                        format('92758: unknown event key "%s"', pushplan._shown(k.key))
                    WHEN k.key = 'value' THEN
                        CASE WHEN jsonb_typeof(k.value) NOT IN ('number', 'null') THEN
                            '92758: event key "value" must be a number' END
                    WHEN jsonb_typeof(k.value) <> 'string' THEN
                        format('92758: event key "%s" must be a string', k.key)
                    -- ISO 8601 with its offset: a time without one would be read in some zone
                    WHEN k.key = 'at' AND k.value #>> '{}' !~
                         '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d(:?\d\d)?)$' THEN
                        format('92759: event time "%s" is not an ISO 8601 time with an offset, such as 2025-06-18T09:00:00Z',
                               pushplan._shown(k.value #>> '{}'))
                    END AS problem) x
             WHERE x.problem IS NOT NULL ORDER BY k.n LIMIT 1),
            (SELECT format('92758: event key "%s" is required', r)
             FROM unnest(ARRAY['registration_id', 'task_id', 'kind']) WITH ORDINALITY r(r, n)
             WHERE NOT ev ? r ORDER BY r.n LIMIT 1))
    END
$$;

-- Whether an event of a batch certainly has no shape problem (_event_shape_problem is NULL):
-- one inlined expression, about ten times cheaper than looking for the problem key by key,
-- which then runs only in a batch this does not pass.
CREATE OR REPLACE FUNCTION _event_shape_ok(ev jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(ev) = 'object' THEN
        ev ?& ARRAY['registration_id', 'task_id', 'kind']
        AND ev - ARRAY['registration_id', 'task_id', 'kind', 'at', 'value'] = '{}'::jsonb
        AND jsonb_typeof(ev->'registration_id') = 'string' AND jsonb_typeof(ev->'task_id') = 'string'
        AND jsonb_typeof(ev->'kind') = 'string'
        AND (NOT ev ? 'value' OR jsonb_typeof(ev->'value') IN ('number', 'null'))
        AND (NOT ev ? 'at' OR (jsonb_typeof(ev->'at') = 'string' AND ev->>'at' ~
             '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d(:?\d\d)?)$'))
        ELSE false END
$$;

CREATE OR REPLACE FUNCTION push_event(app text, registration_id text, task_id text, kind text,
                                      at timestamptz DEFAULT now(), value numeric DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_device bigint;
    v_problem text;
    v_bit smallint;
    v_floor bigint;
    v_ceiling bigint := _delivery_id_floor(now() + interval '1 day');
    -- in the columns' collation: an argument of another (a caller's column declared COLLATE
    -- "C") would compare in its own, and no index on task_id could be used
    v_task text COLLATE "default" := task_id;
BEGIN
    v_device := _device_id(v_app, registration_id);
    v_problem := _event_problem(kind, at, value);
    v_bit := _event_bit(kind);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION '%', v_problem USING ERRCODE = '22023';
    END IF;
    -- the task, and the first delivery id of the day it started (as _events_record reads them)
    SELECT _delivery_id_floor(t.started_at) INTO v_floor
        FROM tasks t WHERE t.task_id = v_task AND t.app_id = v_app;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92751: task "%" does not exist', _shown(task_id) USING ERRCODE = '42704';
    END IF;
    IF _registry_distributed() THEN
        PERFORM _events_record_shards(v_app, ARRAY[registration_id], ARRAY[task_id],
                                      ARRAY[v_device], ARRAY[kind], ARRAY[at], ARRAY[value]);
        RETURN;
    END IF;
    -- The steps of _events_record for one event, here rather than through it (a fifth of the
    -- server's time per event: doc/benchmarks.md): its bit is new exactly when the update finds
    -- it unset. A session that set it first makes this update wait and then find it set, as it
    -- makes a batch's update wait.
    WITH u AS (
        UPDATE deliveries d SET events = d.events | v_bit
        WHERE d.task_id = v_task AND d.device_id = v_device
          AND d.delivery_id >= v_floor AND d.delivery_id < v_ceiling AND d.events & v_bit = 0
        RETURNING coalesce(d.platform, 'unknown') AS platform, d.vendor
    ), logged AS (
        INSERT INTO events (app_id, task_id, device_id, kind, at, value, counted)
        SELECT v_app, push_event.task_id, v_device,
               CASE push_event.kind WHEN 'delivered' THEN 'received' ELSE push_event.kind END,
               push_event.at, push_event.value, EXISTS (SELECT 1 FROM u)
    )
    INSERT INTO stats_pending (task_id, platform, vendor, received, opened, clicked,
                               dismissed, converted, converted_value)
    SELECT push_event.task_id, u.platform, u.vendor, (v_bit = 1)::int, (v_bit = 2)::int,
           (v_bit = 4)::int, (v_bit = 8)::int, (v_bit = 16)::int,
           CASE WHEN v_bit = 16 THEN coalesce(push_event.value, 0) ELSE 0 END
    FROM u;
    IF FOUND THEN
        -- the first open or click of a delivery: as in _events_record
        IF v_bit IN (2, 4) THEN
            INSERT INTO device_reactions (device_id, at, kind) VALUES (v_device, push_event.at, v_bit);
            INSERT INTO smart_profile_pending AS m (device_id) VALUES (v_device)
                ON CONFLICT (device_id) DO UPDATE SET marked_at = m.marked_at WHERE false;
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM deliveries d
                      WHERE d.task_id = v_task AND d.device_id = v_device
                        AND d.delivery_id >= v_floor AND d.delivery_id < v_ceiling) THEN
        PERFORM _events_missing(ARRAY[task_id], ARRAY[v_device]);
    END IF;
END $$;
COMMENT ON FUNCTION push_event(text, text, text, text, timestamptz, numeric) IS
    'records an event of a device about a push task: received (or delivered), open, click, dismiss, convert (with an optional value); doc/statistics.md';

-- A batch of events from an SDK collector: [{registration_id, task_id, kind, at, value}], at
-- most 10,000. Everything is checked first; one bad event writes nothing, and its error says
-- which one (events[i], counting from 0).
CREATE OR REPLACE FUNCTION push_event_batch(app text, events jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp
-- a plan made for a few events: index probes, never a hash of every device of the app
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_problem text;
    v_shaped boolean;
    v_rid text[];
    v_task text[];
    v_device bigint[];
    v_kind text[];
    v_at timestamptz[];
    v_value numeric[];
    v_unknown_tasks text[];
    v_distributed boolean := _registry_distributed();
    v_found bigint[];
    v_found_rid text[];
BEGIN
    IF jsonb_typeof(events) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION '92756: events must be a JSON array of event objects' USING ERRCODE = '22023';
    END IF;
    IF jsonb_array_length(events) > 10000 THEN
        RAISE EXCEPTION '92757: at most 10000 events in one batch, got %', jsonb_array_length(events)
            USING ERRCODE = '54000';
    END IF;

    -- One pass over the events: their members in their order (the aggregates read the ordered
    -- subquery as it comes), cast only where the shape is certainly fine, so that a value of a
    -- wrong type is never cast. A problem of shape is then looked for, key by key, only in a
    -- batch that has one.
    SELECT bool_and(e.ok), array_agg(e.ev->>'registration_id'), array_agg(e.ev->>'task_id'),
           array_agg(e.ev->>'kind'),
           array_agg(CASE WHEN e.ok THEN coalesce((e.ev->>'at')::timestamptz, now()) END),
           array_agg(CASE WHEN e.ok THEN (e.ev->>'value')::numeric END)
        INTO v_shaped, v_rid, v_task, v_kind, v_at, v_value
        FROM (SELECT e.ev, _event_shape_ok(e.ev) AS ok
              FROM jsonb_array_elements(events) WITH ORDINALITY e(ev, n)
              ORDER BY e.n OFFSET 0) e;
    IF v_rid IS NULL THEN
        RETURN 0;
    END IF;
    IF NOT v_shaped THEN
        SELECT format('events[%s]: %s', e.n - 1, _event_shape_problem(e.ev)) INTO v_problem
            FROM jsonb_array_elements(events) WITH ORDINALITY e(ev, n)
            WHERE _event_shape_problem(e.ev) IS NOT NULL
            ORDER BY e.n LIMIT 1;
        RAISE EXCEPTION '%', v_problem USING ERRCODE = '22023';
    END IF;

    -- the tasks named that are not this app's: each task looked up once, through its key (a
    -- join per event read every task: a hash of the whole table, or a pass over the batch's
    -- tasks for each event)
    SELECT array_agg(n.task_id) INTO v_unknown_tasks
        FROM (SELECT DISTINCT unnest(v_task) AS task_id) n
        WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = n.task_id AND t.app_id = v_app);
    -- each event's device (NULL: not registered). On one node an index probe each (the plan is
    -- the generic one, made for a few events, never a hash of every device of the app). On the
    -- distributed layout the devices are read by their keys, each shard asked once for its own
    -- (Citus plans no outer join of the batch with the distributed devices), and matched here.
    IF v_distributed THEN
        -- (planned with the keys known: Citus routes no generic plan by "= ANY" of a parameter)
        v_device := ARRAY(SELECT _device_key(v_app, r) FROM unnest(v_rid) r);
        EXECUTE 'SELECT array_agg(d.device_id), array_agg(d.registration_id)
                   FROM pushplan.devices d WHERE d.device_id = ANY ($1) AND d.app_id = $2'
           INTO v_found, v_found_rid USING v_device, v_app;
        -- (EXECUTE: this function's generic plan would join the two unnests in a nested loop,
        -- each event against each device: quadratic in the batch)
        EXECUTE 'SELECT ARRAY(SELECT f.device_id FROM unnest($1) WITH ORDINALITY e(rid, n)
                              LEFT JOIN unnest($2, $3) f(device_id, rid) ON f.rid = e.rid ORDER BY e.n)'
           INTO v_device USING v_rid, v_found, v_found_rid;
    ELSE
        v_device := ARRAY(SELECT v.device_id
                          FROM unnest(v_rid) WITH ORDINALITY e(rid, n)
                          LEFT JOIN devices v ON v.app_id = v_app AND v.registration_id = e.rid
                          ORDER BY e.n);
    END IF;
    -- each event's kind, time and value; then its device and task
    SELECT (array_agg(format('events[%s]: %s', e.n - 1, e.problem) ORDER BY e.n)
                FILTER (WHERE e.problem IS NOT NULL))[1]
        INTO v_problem
        FROM (SELECT e.n,
                     coalesce(_event_problem(e.kind, e.at, e.value),
                              CASE WHEN e.device_id IS NULL THEN
                                       format('92039: device "%s" is not registered', _shown(e.rid))
                                   WHEN e.task_id = ANY (v_unknown_tasks) THEN
                                       format('92751: task "%s" does not exist', _shown(e.task_id)) END) AS problem
              FROM unnest(v_rid, v_task, v_kind, v_at, v_value, v_device) WITH ORDINALITY
                   e(rid, task_id, kind, at, value, device_id, n)) e;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION '%', v_problem
            USING ERRCODE = CASE WHEN v_problem ~ ': 9275[12]:|: 92039:' THEN '42704' ELSE '22023' END;
    END IF;
    IF v_distributed THEN
        PERFORM _events_record_shards(v_app, v_rid, v_task, v_device, v_kind, v_at, v_value);
    ELSE
        PERFORM _events_record(v_app, v_task, v_device, v_kind, v_at, v_value);
    END IF;
    RETURN cardinality(v_task);
END $$;
COMMENT ON FUNCTION push_event_batch(text, jsonb) IS
    'records up to 10000 events ([{registration_id, task_id, kind, at, value}]) at once; returns how many; doc/statistics.md';

-- The scheduler's upkeep: folds what writers appended (stats_pending, latency_pending) into
-- the aggregates, in one statement each, so that readers, who add the rows not folded yet,
-- see every figure exactly once at any moment. Rows of tasks deleted since (their app
-- deleted) are dropped. Returns the number of rows folded.
CREATE OR REPLACE FUNCTION _stats_rollup() RETURNS bigint
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_rows bigint;
    v_latency bigint;
    v_ids text[];
    v_tasks jsonb;
BEGIN
    -- On the distributed layout tasks is a reference table, which Citus does not join with
    -- the coordinator's own tables in a statement that writes them: the tasks of the rows to
    -- fold are read first, and joined as a value (doc/scale-out.md).
    IF _registry_distributed() THEN
        v_ids := ARRAY(SELECT DISTINCT task_id FROM stats_pending);
        SELECT coalesce(jsonb_agg(jsonb_build_object('task_id', t.task_id, 'app_id', t.app_id,
                   'plan_id', t.plan_id, 'send_at', t.send_at, 'push', t.push)), '[]')
          INTO v_tasks FROM tasks t WHERE t.task_id = ANY (v_ids);
    END IF;
    EXECUTE format($rollup$
    WITH p AS (
        DELETE FROM stats_pending RETURNING *
    ), s AS (
        SELECT t.task_id, p.platform, p.vendor, t.app_id, t.plan_id,
               _stats_period(t.send_at) AS period, _message_type(t.push) AS message_type,
               sum(p.targeted) AS targeted, sum(p.sent) AS sent, sum(p.failed) AS failed,
               sum(p.invalid_token) AS invalid_token, sum(p.rejected) AS rejected,
               sum(p.gave_up) AS gave_up, sum(p.suppressed) AS suppressed,
               sum(p.opted_out) AS opted_out, sum(p.unregistered) AS unregistered,
               sum(p.no_token) AS no_token, sum(p.expired) AS expired,
               sum(p.cancelled) AS cancelled, sum(p.retries) AS retries,
               sum(p.received) AS received, sum(p.opened) AS opened, sum(p.clicked) AS clicked,
               sum(p.dismissed) AS dismissed, sum(p.converted) AS converted,
               sum(p.converted_value) AS converted_value,
               sum(p.missing_attribute) AS missing_attribute, sum(p.capped) AS capped,
               sum(p.quiet_hours) AS quiet_hours, sum(p.consent) AS consent,
               sum(p.control) AS control,
               sum(p.fallback_sent) AS fallback_sent, sum(p.fallback_failed) AS fallback_failed,
               sum(p.fallback_no_address) AS fallback_no_address, count(*) AS n
        FROM p JOIN %s ON t.task_id = p.task_id
        GROUP BY t.task_id, p.platform, p.vendor%s
    ), by_task AS (
        INSERT INTO task_stats AS a
        SELECT task_id, platform, vendor, targeted, sent, failed, invalid_token, rejected, gave_up,
               suppressed, opted_out, unregistered, no_token, expired, cancelled, retries,
               received, opened, clicked, dismissed, converted, converted_value, missing_attribute,
               capped, quiet_hours, consent, control, fallback_sent, fallback_failed, fallback_no_address
        FROM s
        ON CONFLICT (task_id, platform, vendor) DO UPDATE SET
            targeted = a.targeted + excluded.targeted, sent = a.sent + excluded.sent,
            failed = a.failed + excluded.failed, invalid_token = a.invalid_token + excluded.invalid_token,
            rejected = a.rejected + excluded.rejected, gave_up = a.gave_up + excluded.gave_up,
            suppressed = a.suppressed + excluded.suppressed, opted_out = a.opted_out + excluded.opted_out,
            unregistered = a.unregistered + excluded.unregistered, no_token = a.no_token + excluded.no_token,
            expired = a.expired + excluded.expired, cancelled = a.cancelled + excluded.cancelled,
            retries = a.retries + excluded.retries, received = a.received + excluded.received,
            opened = a.opened + excluded.opened, clicked = a.clicked + excluded.clicked,
            dismissed = a.dismissed + excluded.dismissed, converted = a.converted + excluded.converted,
            converted_value = a.converted_value + excluded.converted_value,
            missing_attribute = a.missing_attribute + excluded.missing_attribute,
            capped = a.capped + excluded.capped, quiet_hours = a.quiet_hours + excluded.quiet_hours,
            consent = a.consent + excluded.consent, control = a.control + excluded.control,
            fallback_sent = a.fallback_sent + excluded.fallback_sent,
            fallback_failed = a.fallback_failed + excluded.fallback_failed,
            fallback_no_address = a.fallback_no_address + excluded.fallback_no_address
    ), by_plan AS (
        INSERT INTO plan_stats AS a
        SELECT app_id, plan_id, period, platform, vendor, message_type,
               sum(targeted), sum(sent), sum(failed), sum(invalid_token), sum(rejected), sum(gave_up),
               sum(suppressed), sum(opted_out), sum(unregistered), sum(no_token), sum(expired),
               sum(cancelled), sum(retries), sum(received), sum(opened), sum(clicked),
               sum(dismissed), sum(converted), sum(converted_value), sum(missing_attribute),
               sum(capped), sum(quiet_hours), sum(consent), sum(control), sum(fallback_sent),
               sum(fallback_failed), sum(fallback_no_address)
        FROM s GROUP BY app_id, plan_id, period, platform, vendor, message_type
        ON CONFLICT (app_id, plan_id, period, platform, vendor, message_type) DO UPDATE SET
            targeted = a.targeted + excluded.targeted, sent = a.sent + excluded.sent,
            failed = a.failed + excluded.failed, invalid_token = a.invalid_token + excluded.invalid_token,
            rejected = a.rejected + excluded.rejected, gave_up = a.gave_up + excluded.gave_up,
            suppressed = a.suppressed + excluded.suppressed, opted_out = a.opted_out + excluded.opted_out,
            unregistered = a.unregistered + excluded.unregistered, no_token = a.no_token + excluded.no_token,
            expired = a.expired + excluded.expired, cancelled = a.cancelled + excluded.cancelled,
            retries = a.retries + excluded.retries, received = a.received + excluded.received,
            opened = a.opened + excluded.opened, clicked = a.clicked + excluded.clicked,
            dismissed = a.dismissed + excluded.dismissed, converted = a.converted + excluded.converted,
            converted_value = a.converted_value + excluded.converted_value,
            missing_attribute = a.missing_attribute + excluded.missing_attribute,
            capped = a.capped + excluded.capped, quiet_hours = a.quiet_hours + excluded.quiet_hours,
            consent = a.consent + excluded.consent, control = a.control + excluded.control,
            fallback_sent = a.fallback_sent + excluded.fallback_sent,
            fallback_failed = a.fallback_failed + excluded.fallback_failed,
            fallback_no_address = a.fallback_no_address + excluded.fallback_no_address
    )
    SELECT coalesce(sum(n), 0) FROM s
    $rollup$, CASE WHEN v_tasks IS NULL THEN 'tasks t'
              ELSE 'jsonb_to_recordset($1) t(task_id text, app_id int, plan_id text, send_at timestamptz, push jsonb)' END,
    -- (a task's columns depend on its key in tasks, not in a record set: grouped by them too)
    CASE WHEN v_tasks IS NULL THEN '' ELSE ', t.app_id, t.plan_id, t.send_at, t.push' END)
    INTO v_rows USING v_tasks;

    WITH p AS (
        DELETE FROM latency_pending RETURNING *
    )
    INSERT INTO vendor_latency AS a (app_id, vendor, hour, bucket, answers)
        SELECT app_id, vendor, hour, bucket, sum(answers) FROM p
        GROUP BY app_id, vendor, hour, bucket
        ON CONFLICT (app_id, vendor, hour, bucket) DO UPDATE SET answers = a.answers + excluded.answers;
    GET DIAGNOSTICS v_latency = ROW_COUNT;
    RETURN v_rows + v_latency;
END $$;

-- Every task's figures counted again from the raw rows (deliveries and events), for the
-- tests, which compare them with the aggregates, and for the aggregates of deliveries made
-- before 0.2 (_stats_backfill). retries: a delivery's outcomes but its last (attempts counts
-- every outcome; a queued one is waiting for its retry); converted_value: the value of each
-- delivery's conversion that counted.
CREATE OR REPLACE FUNCTION _stats_recount()
RETURNS TABLE(task_id text, platform text, vendor text, targeted bigint, sent bigint, failed bigint,
              invalid_token bigint, rejected bigint, gave_up bigint, suppressed bigint,
              opted_out bigint, unregistered bigint, no_token bigint, expired bigint,
              cancelled bigint, retries bigint, received bigint, opened bigint, clicked bigint,
              dismissed bigint, converted bigint, converted_value numeric, missing_attribute bigint,
              capped bigint, quiet_hours bigint, consent bigint, control bigint, fallback_sent bigint,
              fallback_failed bigint, fallback_no_address bigint)
LANGUAGE sql STABLE SET search_path = pushplan, pg_temp AS $$
    -- a push's deliveries; the messages of its fallback (doc/fallback.md), which count in the
    -- push's own figures and nowhere else, and its devices without an address
    WITH r AS (
        SELECT d.task_id, coalesce(d.platform, 'unknown') AS platform, d.vendor,
               count(*) FILTER (WHERE d.status <> 'control') AS targeted,
               count(*) FILTER (WHERE d.status = 'sent') AS sent,
               count(*) FILTER (WHERE d.status IN ('failed', 'invalid_token')) AS failed,
               count(*) FILTER (WHERE d.status = 'invalid_token') AS invalid_token,
               count(*) FILTER (WHERE d.status = 'failed' AND d.http_status BETWEEN 400 AND 499) AS rejected,
               count(*) FILTER (WHERE d.status = 'failed' AND d.error LIKE 'gave up after %') AS gave_up,
               count(*) FILTER (WHERE d.status IN ('suppressed', 'expired')) AS suppressed,
               count(*) FILTER (WHERE d.status = 'suppressed' AND d.error = 'opted out') AS opted_out,
               count(*) FILTER (WHERE d.status = 'suppressed' AND d.error IN ('unregistered', 'device deleted')) AS unregistered,
               count(*) FILTER (WHERE d.status = 'suppressed' AND d.error = 'token invalidated') AS no_token,
               count(*) FILTER (WHERE d.status = 'expired') AS expired,
               count(*) FILTER (WHERE d.status = 'cancelled') AS cancelled,
               coalesce(sum(d.attempts - CASE WHEN d.status = 'queued' OR d.attempts = 0 THEN 0 ELSE 1 END), 0) AS retries,
               count(*) FILTER (WHERE e.kinds & 1 <> 0) AS received, count(*) FILTER (WHERE e.kinds & 2 <> 0) AS opened,
               count(*) FILTER (WHERE e.kinds & 4 <> 0) AS clicked, count(*) FILTER (WHERE e.kinds & 8 <> 0) AS dismissed,
               count(*) FILTER (WHERE e.kinds & 16 <> 0) AS converted, coalesce(sum(e.first_value), 0) AS converted_value,
               count(*) FILTER (WHERE d.status = 'suppressed' AND d.error LIKE 'missing attribute %') AS missing_attribute,
               count(*) FILTER (WHERE d.status = 'suppressed' AND d.error = 'capped') AS capped,
               count(*) FILTER (WHERE d.status = 'suppressed' AND d.error = 'quiet hours') AS quiet_hours,
               count(*) FILTER (WHERE d.status = 'suppressed' AND d.error LIKE 'no consent: %') AS consent,
               count(*) FILTER (WHERE d.status = 'control') AS control,
               0::bigint AS fallback_sent, 0::bigint AS fallback_failed, 0::bigint AS fallback_no_address
        FROM deliveries d
        LEFT JOIN LATERAL (
            SELECT bit_or(_event_bit(ev.kind)) AS kinds,
                   sum(ev.value) FILTER (WHERE ev.counted AND ev.kind = 'convert') AS first_value
            FROM events ev WHERE ev.task_id = d.task_id AND ev.device_id = d.device_id) e ON true
        WHERE d.fallback IS NULL
        GROUP BY d.task_id, coalesce(d.platform, 'unknown'), d.vendor
        UNION ALL
        SELECT d.fallback->>'task_id', coalesce(d.platform, 'unknown'), d.vendor, 0, 0, 0, 0, 0, 0, 0,
               0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
               count(*) FILTER (WHERE d.status = 'sent'),
               count(*) FILTER (WHERE d.status NOT IN ('sent', 'queued')), 0
        FROM deliveries d
        WHERE d.fallback IS NOT NULL
        GROUP BY 1, 2, 3
        UNION ALL
        -- events reported about a fallback's messages: the fallback task's own figures
        SELECT d.task_id, coalesce(d.platform, 'unknown'), d.vendor, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
               0, 0, count(*) FILTER (WHERE e.kinds & 1 <> 0), count(*) FILTER (WHERE e.kinds & 2 <> 0),
               count(*) FILTER (WHERE e.kinds & 4 <> 0), count(*) FILTER (WHERE e.kinds & 8 <> 0),
               count(*) FILTER (WHERE e.kinds & 16 <> 0), coalesce(sum(e.first_value), 0),
               0, 0, 0, 0, 0, 0, 0, 0
        FROM deliveries d
        JOIN LATERAL (
            SELECT bit_or(_event_bit(ev.kind)) AS kinds,
                   sum(ev.value) FILTER (WHERE ev.counted AND ev.kind = 'convert') AS first_value
            FROM events ev WHERE ev.task_id = d.task_id AND ev.device_id = d.device_id) e ON e.kinds IS NOT NULL
        WHERE d.fallback IS NOT NULL
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT f.task_id, f.platform, 'webhook', 0, 0, 0, 0, 0, 0, 0,
               0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count(*)
        FROM fallbacks f
        WHERE f.outcome = 'no_address'
        GROUP BY 1, 2
    )
    SELECT r.task_id, r.platform, r.vendor, sum(r.targeted)::bigint, sum(r.sent)::bigint,
           sum(r.failed)::bigint, sum(r.invalid_token)::bigint, sum(r.rejected)::bigint,
           sum(r.gave_up)::bigint, sum(r.suppressed)::bigint, sum(r.opted_out)::bigint,
           sum(r.unregistered)::bigint, sum(r.no_token)::bigint, sum(r.expired)::bigint,
           sum(r.cancelled)::bigint, sum(r.retries)::bigint, sum(r.received)::bigint,
           sum(r.opened)::bigint, sum(r.clicked)::bigint, sum(r.dismissed)::bigint,
           sum(r.converted)::bigint, sum(r.converted_value), sum(r.missing_attribute)::bigint,
           sum(r.capped)::bigint, sum(r.quiet_hours)::bigint, sum(r.consent)::bigint,
           sum(r.control)::bigint, sum(r.fallback_sent)::bigint, sum(r.fallback_failed)::bigint,
           sum(r.fallback_no_address)::bigint
    FROM r
    GROUP BY r.task_id, r.platform, r.vendor
$$;

-- The aggregates of deliveries made before statistics were kept (an upgrade from 0.1): run by
-- this script when there are deliveries and no figures at all.
CREATE OR REPLACE FUNCTION _stats_backfill() RETURNS void
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM deliveries) AND NOT EXISTS (SELECT 1 FROM task_stats)
       AND NOT EXISTS (SELECT 1 FROM stats_pending) THEN
        INSERT INTO stats_pending SELECT * FROM _stats_recount();
        PERFORM _stats_rollup();
    END IF;
END $$;
SELECT _stats_backfill();

-- The figures as they stand: the aggregates plus the rows not folded yet (the readers' view of
-- stats_pending; see _stats_rollup). Filters on the key columns reach both sides.
CREATE OR REPLACE VIEW _task_stats_live AS
    SELECT task_id, platform, vendor, sum(targeted) AS targeted, sum(sent) AS sent,
           sum(failed) AS failed, sum(invalid_token) AS invalid_token, sum(rejected) AS rejected,
           sum(gave_up) AS gave_up, sum(suppressed) AS suppressed, sum(opted_out) AS opted_out,
           sum(unregistered) AS unregistered, sum(no_token) AS no_token, sum(expired) AS expired,
           sum(cancelled) AS cancelled, sum(retries) AS retries, sum(received) AS received,
           sum(opened) AS opened, sum(clicked) AS clicked, sum(dismissed) AS dismissed,
           sum(converted) AS converted, sum(converted_value) AS converted_value,
           sum(missing_attribute) AS missing_attribute, sum(capped) AS capped,
           sum(quiet_hours) AS quiet_hours, sum(consent) AS consent, sum(control) AS control,
           sum(fallback_sent) AS fallback_sent, sum(fallback_failed) AS fallback_failed,
           sum(fallback_no_address) AS fallback_no_address
    FROM (SELECT * FROM task_stats UNION ALL SELECT * FROM stats_pending) s
    GROUP BY task_id, platform, vendor;

-- Not grouped: a key has a row in plan_stats and any number of rows not folded yet, and every
-- reader sums them in its own grouping. Grouping here too made push_plan_stats aggregate each
-- row twice, the second time over numeric sums: a third to half of its time (doc/benchmarks.md,
-- "Statistics: push_plan_stats and event ingestion").
CREATE OR REPLACE VIEW _plan_stats_live AS
    SELECT * FROM plan_stats
    UNION ALL
    SELECT t.app_id, t.plan_id, _stats_period(t.send_at), p.platform, p.vendor,
           _message_type(t.push), p.targeted, p.sent, p.failed, p.invalid_token, p.rejected,
           p.gave_up, p.suppressed, p.opted_out, p.unregistered, p.no_token, p.expired,
           p.cancelled, p.retries, p.received, p.opened, p.clicked, p.dismissed,
           p.converted, p.converted_value, p.missing_attribute, p.capped, p.quiet_hours, p.consent,
           p.control, p.fallback_sent, p.fallback_failed, p.fallback_no_address
    FROM stats_pending p JOIN tasks t ON t.task_id = p.task_id;

-- A rate, or NULL when nothing was there to divide by.
CREATE OR REPLACE FUNCTION _rate(part numeric, whole numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(part / nullif(whole, 0), 4)
$$;

CREATE OR REPLACE FUNCTION push_plan_stats(app text, plan_ids text[], since timestamptz,
                                           until timestamptz, granularity text DEFAULT 'day',
                                           zone text DEFAULT 'app')
RETURNS TABLE(plan_id text, period timestamptz, platform text, vendor text, message_type text,
              targeted bigint, suppressed bigint, sent bigint, failed bigint, received bigint,
              opened bigint, clicked bigint, converted bigint, converted_value numeric,
              click_rate numeric, click_rate_received numeric, suppressed_by jsonb, failed_by jsonb,
              fallback jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_app int := _app_id(app, 'reader');
    v_zone text;
    v_missing text;
BEGIN
    IF since IS NULL OR until IS NULL THEN
        RAISE EXCEPTION '92760: since and until must be given' USING ERRCODE = '22023';
    END IF;
    IF until <= since THEN
        RAISE EXCEPTION '92761: until must be after since' USING ERRCODE = '22023';
    END IF;
    IF until > since + interval '10 years' THEN
        RAISE EXCEPTION '92762: a range covers at most 10 years' USING ERRCODE = '54000';
    END IF;
    IF granularity IS NULL OR granularity NOT IN ('day', 'hour') THEN
        RAISE EXCEPTION '92763: granularity must be day or hour, not "%"', _shown(coalesce(granularity, 'null'))
            USING ERRCODE = '22023';
    END IF;
    v_zone := CASE lower(zone)
                  WHEN 'app' THEN (SELECT coalesce(a.settings->>'timezone', 'UTC') FROM apps a WHERE a.app_id = v_app)
                  WHEN 'utc' THEN 'UTC'
                  ELSE canonical_timezone(zone) END;
    IF v_zone IS NULL THEN
        RAISE EXCEPTION '92764: zone must be app, utc or a time zone name such as Asia/Shanghai, not "%"',
            _shown(coalesce(zone, 'null')) USING ERRCODE = '22023';
    END IF;
    SELECT p INTO v_missing FROM unnest(plan_ids) p
        WHERE p IS NULL OR NOT EXISTS (SELECT 1 FROM plans x WHERE x.app_id = v_app AND x.plan_id = p)
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '92054: plan "%" does not exist', _shown(coalesce(v_missing, 'null'))
            USING ERRCODE = '42704';
    END IF;

    RETURN QUERY
    SELECT s.plan_id, date_trunc(granularity, s.period, v_zone) AS period, s.platform, s.vendor,
           s.message_type, sum(s.targeted)::bigint, sum(s.suppressed)::bigint, sum(s.sent)::bigint,
           sum(s.failed)::bigint, sum(s.received)::bigint, sum(s.opened)::bigint,
           sum(s.clicked)::bigint, sum(s.converted)::bigint, sum(s.converted_value),
           _rate(sum(s.clicked), sum(s.sent)), _rate(sum(s.clicked), sum(s.received)),
           jsonb_build_object('opted_out', sum(s.opted_out), 'unregistered', sum(s.unregistered),
                              'no_token', sum(s.no_token), 'expired', sum(s.expired),
                              'missing_attribute', sum(s.missing_attribute),
                              'capped', sum(s.capped), 'quiet_hours', sum(s.quiet_hours),
                              'consent', sum(s.consent)),
           jsonb_build_object('invalid_token', sum(s.invalid_token), 'rejected', sum(s.rejected),
                              'gave_up', sum(s.gave_up),
                              'other', sum(s.failed) - sum(s.invalid_token) - sum(s.rejected) - sum(s.gave_up)),
           -- the push's fallback messages (doc/fallback.md), under vendor webhook
           jsonb_build_object('sent', sum(s.fallback_sent), 'failed', sum(s.fallback_failed),
                              'no_address', sum(s.fallback_no_address))
    FROM _plan_stats_live s
    WHERE s.app_id = v_app
      AND (plan_ids IS NULL OR s.plan_id = ANY (plan_ids))
      AND s.period >= since AND s.period < until
    GROUP BY s.plan_id, 2, s.platform, s.vendor, s.message_type
    ORDER BY s.plan_id, 2, s.platform, s.vendor, s.message_type;
END $$;
COMMENT ON FUNCTION push_plan_stats(text, text[], timestamptz, timestamptz, text, text) IS
    'the funnel of plans (NULL: every plan of the app) per day or hour, by platform, vendor and message type; doc/statistics.md';

-- Views for BI tools (doc/statistics.md describes them column by column). Each shows a caller
-- only the apps it may read. Days are in the app's time zone.

CREATE OR REPLACE VIEW push_task_stats WITH (security_barrier) AS
    SELECT a.app, t.task_id, t.plan_id, t.state, _message_type(t.push) AS message_type,
           t.send_at, t.created_at, t.finished_at,
           coalesce(s.targeted, 0) AS targeted, coalesce(s.suppressed, 0) AS suppressed,
           coalesce(s.sent, 0) AS sent, coalesce(s.failed, 0) AS failed,
           coalesce(s.cancelled, 0) AS cancelled,
           coalesce(s.targeted - s.suppressed - s.sent - s.failed - s.cancelled, 0) AS pending,
           coalesce(s.retries, 0) AS retries, coalesce(s.invalid_token, 0) AS invalid_token,
           coalesce(s.received, 0) AS received, coalesce(s.opened, 0) AS opened,
           coalesce(s.clicked, 0) AS clicked, coalesce(s.dismissed, 0) AS dismissed,
           coalesce(s.converted, 0) AS converted, coalesce(s.converted_value, 0) AS converted_value,
           _rate(s.clicked, s.sent) AS click_rate, _rate(s.clicked, s.received) AS click_rate_received,
           coalesce(s.missing_attribute, 0) AS suppressed_missing_attribute,
           -- A/B variants (doc/variants.md): a variant's task names its push's task
           t.parent_task_id, t.variant, coalesce(s.control, 0) AS control,
           coalesce(s.fallback_sent, 0) AS fallback_sent, coalesce(s.fallback_failed, 0) AS fallback_failed,
           coalesce(s.fallback_no_address, 0) AS fallback_no_address
    FROM tasks t
    JOIN apps a USING (app_id)
    LEFT JOIN LATERAL (
        SELECT sum(x.targeted) AS targeted, sum(x.suppressed) AS suppressed, sum(x.sent) AS sent,
               sum(x.failed) AS failed, sum(x.cancelled) AS cancelled, sum(x.retries) AS retries,
               sum(x.invalid_token) AS invalid_token, sum(x.received) AS received,
               sum(x.opened) AS opened, sum(x.clicked) AS clicked, sum(x.dismissed) AS dismissed,
               sum(x.converted) AS converted, sum(x.converted_value) AS converted_value,
               sum(x.missing_attribute) AS missing_attribute, sum(x.control) AS control,
               sum(x.fallback_sent) AS fallback_sent,
               sum(x.fallback_failed) AS fallback_failed, sum(x.fallback_no_address) AS fallback_no_address
        FROM _task_stats_live x WHERE x.task_id = t.task_id) s ON true
    WHERE t.app_id = ANY ((SELECT _visible_apps('reader'))::int[]);

CREATE OR REPLACE VIEW push_plan_stats_daily WITH (security_barrier) AS
    SELECT a.app, s.plan_id,
           (s.period AT TIME ZONE coalesce(a.settings->>'timezone', 'UTC'))::date AS day,
           s.platform, s.vendor, s.message_type,
           sum(s.targeted) AS targeted, sum(s.suppressed) AS suppressed, sum(s.sent) AS sent,
           sum(s.failed) AS failed, sum(s.cancelled) AS cancelled, sum(s.received) AS received,
           sum(s.opened) AS opened, sum(s.clicked) AS clicked, sum(s.dismissed) AS dismissed,
           sum(s.converted) AS converted, sum(s.converted_value) AS converted_value,
           sum(s.opted_out) AS suppressed_opted_out, sum(s.unregistered) AS suppressed_unregistered,
           sum(s.no_token) AS suppressed_no_token, sum(s.expired) AS suppressed_expired,
           sum(s.invalid_token) AS failed_invalid_token, sum(s.rejected) AS failed_rejected,
           sum(s.gave_up) AS failed_gave_up, sum(s.retries) AS retries,
           _rate(sum(s.clicked), sum(s.sent)) AS click_rate,
           _rate(sum(s.clicked), sum(s.received)) AS click_rate_received,
           sum(s.missing_attribute) AS suppressed_missing_attribute,
           sum(s.capped) AS suppressed_capped, sum(s.quiet_hours) AS suppressed_quiet_hours,
           sum(s.consent) AS suppressed_consent, sum(s.control) AS control,
           sum(s.fallback_sent) AS fallback_sent, sum(s.fallback_failed) AS fallback_failed,
           sum(s.fallback_no_address) AS fallback_no_address
    FROM _plan_stats_live s
    JOIN apps a USING (app_id)
    WHERE s.app_id = ANY ((SELECT _visible_apps('reader'))::int[])
    GROUP BY a.app, s.plan_id, 3, s.platform, s.vendor, s.message_type;

CREATE OR REPLACE VIEW push_plan_overview WITH (security_barrier) AS
    SELECT a.app, p.plan_id, p.description, coalesce(t.tasks, 0) AS tasks,
           t.first_send_at, t.last_send_at,
           coalesce(s.targeted, 0) AS targeted, coalesce(s.suppressed, 0) AS suppressed,
           coalesce(s.sent, 0) AS sent, coalesce(s.failed, 0) AS failed,
           coalesce(s.received, 0) AS received, coalesce(s.opened, 0) AS opened,
           coalesce(s.clicked, 0) AS clicked, coalesce(s.converted, 0) AS converted,
           coalesce(s.converted_value, 0) AS converted_value,
           _rate(s.sent, s.targeted) AS sent_rate, _rate(s.received, s.sent) AS received_rate,
           _rate(s.opened, s.sent) AS open_rate, _rate(s.clicked, s.sent) AS click_rate,
           _rate(s.clicked, s.received) AS click_rate_received,
           _rate(s.converted, s.sent) AS conversion_rate
    FROM plans p
    JOIN apps a USING (app_id)
    LEFT JOIN LATERAL (
        SELECT count(*) AS tasks, min(x.send_at) AS first_send_at, max(x.send_at) AS last_send_at
        FROM tasks x WHERE x.app_id = p.app_id AND x.plan_id = p.plan_id
          AND x.parent_task_id IS NULL) t ON true  -- a push with variants is one push
    LEFT JOIN LATERAL (
        SELECT sum(x.targeted) AS targeted, sum(x.suppressed) AS suppressed, sum(x.sent) AS sent,
               sum(x.failed) AS failed, sum(x.received) AS received, sum(x.opened) AS opened,
               sum(x.clicked) AS clicked, sum(x.converted) AS converted,
               sum(x.converted_value) AS converted_value
        FROM _plan_stats_live x WHERE x.app_id = p.app_id AND x.plan_id = p.plan_id) s ON true
    WHERE p.app_id = ANY ((SELECT _visible_apps('reader'))::int[]);

-- The q-quantile (0..1) of a latency histogram (vendor_latency's buckets), in ms: the upper
-- bound of the bucket it falls in, so at most 19 % above the true value.
CREATE OR REPLACE FUNCTION _latency_quantile(buckets smallint[], answers numeric[], q numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(power(2, b.bucket / 4.0)::numeric, 1)
    FROM (SELECT h.bucket, sum(h.answers) OVER (ORDER BY h.bucket) AS below,
                 sum(h.answers) OVER () AS total
          FROM unnest(buckets, answers) h(bucket, answers)) b
    WHERE b.below >= q * b.total
    ORDER BY b.bucket LIMIT 1
$$;

CREATE OR REPLACE VIEW push_vendor_stats_daily WITH (security_barrier) AS
    WITH counts AS (
        SELECT s.app_id, (s.period AT TIME ZONE coalesce(a.settings->>'timezone', 'UTC'))::date AS day,
               s.vendor, sum(s.targeted) AS targeted, sum(s.sent) AS sent, sum(s.failed) AS failed,
               sum(s.invalid_token) AS invalid_token, sum(s.rejected) AS rejected,
               sum(s.gave_up) AS gave_up, sum(s.retries) AS retries
        FROM _plan_stats_live s JOIN apps a USING (app_id)
        WHERE s.app_id = ANY ((SELECT _visible_apps('reader'))::int[])
        GROUP BY 1, 2, 3
    ), latency AS (
        SELECT l.app_id, l.day, l.vendor, array_agg(l.bucket ORDER BY l.bucket) AS buckets,
               array_agg(l.answers ORDER BY l.bucket) AS answers, sum(l.answers) AS answered
        FROM (SELECT h.app_id, (h.hour AT TIME ZONE coalesce(a.settings->>'timezone', 'UTC'))::date AS day,
                     h.vendor, h.bucket, sum(h.answers) AS answers
              FROM (SELECT * FROM vendor_latency UNION ALL SELECT * FROM latency_pending) h
              JOIN apps a USING (app_id)
              WHERE h.app_id = ANY ((SELECT _visible_apps('reader'))::int[])
              GROUP BY 1, 2, 3, 4) l
        GROUP BY l.app_id, l.day, l.vendor
    )
    SELECT a.app, coalesce(c.day, l.day) AS day, coalesce(c.vendor, l.vendor) AS vendor,
           coalesce(c.targeted, 0) AS targeted, coalesce(c.sent, 0) AS sent,
           coalesce(c.failed, 0) AS failed, coalesce(c.invalid_token, 0) AS failed_invalid_token,
           coalesce(c.rejected, 0) AS failed_rejected, coalesce(c.gave_up, 0) AS failed_gave_up,
           coalesce(c.failed - c.invalid_token - c.rejected - c.gave_up, 0) AS failed_other,
           coalesce(c.retries, 0) AS retries, coalesce(l.answered, 0) AS answers,
           _latency_quantile(l.buckets, l.answers, 0.5) AS latency_p50_ms,
           _latency_quantile(l.buckets, l.answers, 0.95) AS latency_p95_ms
    FROM counts c
    FULL JOIN latency l ON l.app_id = c.app_id AND l.day = c.day AND l.vendor = c.vendor
    JOIN apps a ON a.app_id = coalesce(c.app_id, l.app_id);
