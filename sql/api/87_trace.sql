-- push_trace: for one device, every step of a push task, in time order: in its audience or
-- not and why, when it was planned and why, what the vendor answered, why it was suppressed,
-- what the device reported (doc/statistics.md, "push_trace"). Nothing here is kept for the
-- trace: it reads the task, the device, the delivery and the events as they are, and asks the
-- audience code (src/audience_explain.c) why a device is not in a task's audience.

-- Why the device does not meet the audience's conditions (reachability aside), one reason an
-- element; empty when it meets them. Internal: the caller has checked the app's rights.
CREATE OR REPLACE FUNCTION _audience_explain(app_id int, audience jsonb, device_id bigint)
RETURNS text[]
AS 'MODULE_PATHNAME', 'pushplan_audience_explain' LANGUAGE C STABLE STRICT;

-- A time as the trace's texts show it: in the given zone, to the second, with the zone's name.
CREATE OR REPLACE FUNCTION _trace_time(at timestamptz, zone text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(at AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI:SS') || ' ' || zone
$$;

-- The steps of one task for one device (seq orders the steps of one instant).
CREATE OR REPLACE FUNCTION _trace_task(p_task text, p_device bigint)
RETURNS TABLE(at timestamptz, step text, detail text, seq int)
LANGUAGE plpgsql STABLE SET search_path = pushplan, pg_temp AS $$
DECLARE
    t tasks%ROWTYPE;
    v devices%ROWTYPE;
    d deliveries%ROWTYPE;
    v_delivery boolean;
    v_planned boolean := false;
    v_plan record;
    v_claimed_at timestamptz;
    v_in_flight boolean := false;
    v_platforms text[];
    v_reasons text[] := '{}';
    v_reason text;
    v_prefix text;
    v_spread int;
    v_retried boolean;
    v_base timestamptz;
    v_why text;
    v_smart record;
    v_consent record;
    v_fields text;
    v_n int := 0;
    e record;
BEGIN
    SELECT * INTO t FROM tasks x WHERE x.task_id = p_task;
    SELECT * INTO v FROM devices x WHERE x.device_id = p_device;
    SELECT * INTO d FROM deliveries x WHERE x.task_id = p_task AND x.device_id = p_device;
    v_delivery := FOUND;
    IF NOT v_delivery THEN
        -- in a send plan (doc/schedules.md, "Send plans"): shown as the queued delivery, not
        -- attempted yet, that its claim will make; or, claimed by a sender, in flight (its
        -- delivery row is written with its outcome)
        SELECT p.send_at, p.platform, p.vendor, p.claimed_by, p.claimed_at INTO v_plan
            FROM delivery_plans p WHERE p.task_id = p_task AND p_device = ANY (p.device_ids);
        IF FOUND THEN
            d.task_id := p_task; d.device_id := p_device; d.status := 'queued'; d.attempts := 0;
            d.send_at := v_plan.send_at; d.platform := v_plan.platform; d.vendor := v_plan.vendor;
            v_delivery := true;
            v_planned := true;
            v_in_flight := v_plan.claimed_by IS NOT NULL;
            v_claimed_at := v_plan.claimed_at;
        END IF;
    END IF;
    v_platforms := CASE WHEN jsonb_typeof(t.push #> '{body,platform}') = 'array'
                        THEN ARRAY(SELECT jsonb_array_elements_text(t.push #> '{body,platform}'))
                        ELSE ARRAY['android', 'ios', 'web', 'harmony'] END;

    at := t.created_at; step := 'task'; seq := 1;
    detail := format('plan "%s", %s to %s, platforms %s; state %s%s', _shown(t.plan_id),
                     _message_type(t.push), _shown((t.push->'to')::text),
                     array_to_string(v_platforms, ', '), t.state,
                     CASE WHEN t.error IS NOT NULL THEN format(' (%s)', _shown(t.error)) END);
    RETURN NEXT;

    -- In the audience: a delivery was made. Not in it: why, the device as it stands now.
    step := 'audience'; seq := 2;
    IF v_delivery THEN
        at := coalesce(t.started_at, t.created_at);
        detail := format('in the audience: %s for its %s device, vendor %s',
                         CASE WHEN v_planned THEN 'send planned' ELSE 'delivery made' END,
                         coalesce(d.platform, v.platform), d.vendor);
        RETURN NEXT;
    ELSIF coalesce(t.targeted, 0) > 0 AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.task_id = p_task) THEN
        -- its day's partition dropped (doc/statistics.md, "Retention"): who was reached is gone
        at := coalesce(t.started_at, t.created_at);
        detail := format('the task''s deliveries are no longer kept (pushplan.retention_days is %s): '
                         'whether it reached the device is not known',
                         coalesce(current_setting('pushplan.retention_days', true), '30'));
        RETURN NEXT;
        RETURN;
    ELSE
        -- (an expansion under way may still reach it: its batches go by device id)
        IF t.expanded AND v.created_at > t.started_at THEN
            v_reasons := v_reasons || format('registered at %s, after the task was expanded at %s',
                                             _trace_time(v.created_at, 'UTC'), _trace_time(t.started_at, 'UTC'));
        END IF;
        BEGIN
            v_reasons := v_reasons || _audience_explain(t.app_id, t.push->'to', p_device);
        EXCEPTION WHEN OTHERS THEN
            -- e.g. an account package deleted since
            v_reasons := v_reasons || format('the audience cannot be evaluated any more: %s', SQLERRM);
        END;
        IF NOT v.platform = ANY (v_platforms) THEN
            v_reasons := v_reasons || format('platform %s not targeted by the push (%s)', v.platform,
                                             array_to_string(v_platforms, ', '));
        END IF;
        IF NOT v.registered THEN
            v_reasons := v_reasons || 'unregistered'::text;
        END IF;
        IF NOT v.opted_in THEN
            v_reasons := v_reasons || 'opted out'::text;
        END IF;
        -- a push whose category needs consent (doc/privacy.md)
        SELECT c.granted, c.updated_at INTO v_consent FROM device_consents c
            WHERE c.device_id = p_device AND c.category = t.category;
        IF t.consent = 'opt_in' AND v_consent.granted IS NOT TRUE THEN
            v_reasons := v_reasons || CASE WHEN v_consent.granted IS NULL
                THEN format('no consent to category "%s", which needs a grant (opt_in)', t.category)
                ELSE format('consent to category "%s" withdrawn at %s', t.category,
                            _trace_time(v_consent.updated_at, 'UTC')) END;
        ELSIF t.consent = 'opt_out' AND v_consent.granted IS FALSE THEN
            v_reasons := v_reasons || format('consent to category "%s" withdrawn at %s', t.category,
                                             _trace_time(v_consent.updated_at, 'UTC'));
        END IF;
        IF v.token IS NULL THEN
            v_reasons := v_reasons || CASE WHEN v.token_invalidated_at IS NOT NULL
                THEN format('no token: invalidated at %s (a vendor refused it)', _trace_time(v.token_invalidated_at, 'UTC'))
                ELSE 'no token (none was given, or it moved to another registration)' END;
        END IF;

        at := coalesce(t.started_at, t.send_at);
        IF t.state = 'queued' THEN
            v_prefix := format('not expanded yet (due at %s); as the device stands now, ', _trace_time(t.send_at, 'UTC'));
        ELSIF t.state = 'cancelled' AND t.started_at IS NULL THEN
            at := coalesce(t.finished_at, t.send_at);
            v_prefix := 'cancelled before its audience was expanded; as the device stands now, ';
        ELSIF t.state = 'failed' AND t.error IS NOT NULL THEN
            v_prefix := format('the expansion failed (%s); as the device stands now, ', _shown(t.error));
        ELSIF NOT t.expanded AND p_device > coalesce(t.expanded_upto, -1) THEN
            v_prefix := 'not reached yet (the expansion is under way); as the device stands now, ';
        ELSE
            v_prefix := NULL;
        END IF;
        IF cardinality(v_reasons) = 0 THEN
            detail := coalesce(v_prefix || 'it is in the audience',
                'not in the audience when the task was expanded, though it is now: its tags, attributes, '
                'accounts, platform or state changed since');
            RETURN NEXT;
        ELSE
            FOREACH v_reason IN ARRAY v_reasons LOOP
                detail := coalesce(v_prefix || 'it is not in the audience: ', 'not in the audience: ') || v_reason;
                RETURN NEXT;
            END LOOP;
        END IF;
        RETURN;
    END IF;

    -- Planned: the time the delivery was made for, and why. A retry writes its own time into
    -- deliveries.send_at, so once retried the first plan is what the rule gives.
    v_spread := coalesce((t.push #>> '{body,options,big_push_duration}')::int, 0);
    -- a delivery held by quiet hours or deferred by a frequency cap has its new time there too
    v_retried := d.attempts > 1 OR (d.status = 'queued' AND d.attempts > 0)
        OR (d.status = 'queued' AND coalesce(d.error IN ('held by quiet hours', 'deferred by frequency cap'), false));
    IF t.send_rule ? 'local' THEN
        v_base := (t.send_rule->>'local')::timestamp AT TIME ZONE v.timezone;
        v_why := format('%s local time in the device''s zone %s (a schedule at each user''s local time)',
                        t.send_rule->>'local', v.timezone);
    ELSIF t.send_rule ? 'intelligent' THEN
        -- the device's time as its visits give it now, the window's start as the firing
        SELECT m.send_at, m.basis INTO v_smart
            FROM _smart_send_times(ARRAY[p_device], (t.send_rule #>> '{intelligent,window_start}')::timestamptz,
                                   (t.send_rule #>> '{intelligent,window_start}')::timestamptz,
                                   (t.send_rule #>> '{intelligent,backup_local}')::timestamp) m;
        v_base := v_smart.send_at;
        v_why := CASE v_smart.basis
            WHEN 'best' THEN format('intelligent: its best time of day from its visits, opens and clicks, %s in its zone %s',
                                    to_char(v_smart.send_at AT TIME ZONE v.timezone, 'HH24:MI'), v.timezone)
            WHEN 'backup' THEN format('intelligent: no visits, opens or clicks to learn from, the backup time %s in its zone %s',
                                      t.send_rule #>> '{intelligent,backup_local}', v.timezone)
            ELSE 'intelligent: no visits, opens or clicks to learn from, backup time "now": when the schedule fired' END;
        IF v_smart.basis = 'now' THEN
            v_base := NULL;
        ELSIF NOT v_retried AND v_spread = 0 AND d.send_at <> v_base THEN
            v_why := v_why || format('; planned at %s instead: the schedule fired after that time, '
                                     'or its history changed since',
                                     _trace_time(d.send_at, v.timezone));
        END IF;
    ELSE
        v_base := t.send_at;
        v_why := 'the task''s send time';
    END IF;
    IF v_spread > 0 THEN
        v_why := v_why || CASE WHEN v_retried OR v_base IS NULL
            THEN format(', plus its share of the big_push_duration spread (%s minutes)', v_spread)
            ELSE format(', plus %s of the big_push_duration spread (%s minutes), by its place in the audience',
                        to_char(d.send_at - v_base, 'HH24:MI:SS'), v_spread) END;
    END IF;
    IF v_retried AND d.attempts = 0 THEN
        v_why := v_why || CASE d.error WHEN 'held by quiet hours'
            THEN '; deliveries.send_at holds the end of the quiet hours it is held to since'
            ELSE '; deliveries.send_at holds the time its frequency cap deferred it to since' END;
    ELSIF v_retried THEN
        v_why := v_why || '; deliveries.send_at holds the retry''s time since';
    END IF;
    at := CASE WHEN v_retried THEN coalesce(v_base, d.send_at) ELSE d.send_at END;
    step := 'planned'; seq := 3; detail := v_why;
    RETURN NEXT;

    -- The outcome: the delivery keeps only its last attempt.
    IF NOT v_planned THEN
        SELECT q.claimed_at, q.claimed_by IS NOT NULL INTO v_claimed_at, v_in_flight
            FROM delivery_queue q WHERE q.task_id = p_task AND q.delivery_id = d.delivery_id;
    END IF;
    v_fields := concat_ws(', ', format('attempts %s', d.attempts),
                          'HTTP ' || d.http_status,
                          'vendor_message_id ' || _shown(d.vendor_message_id),
                          'error "' || _shown(d.error) || '"');
    IF d.attempts > 1 THEN
        v_fields := v_fields || '; only the last attempt is kept';
    END IF;
    step := CASE WHEN d.status IN ('suppressed', 'expired', 'cancelled') THEN 'suppressed' ELSE 'outcome' END;
    seq := 4;
    at := coalesce(CASE d.status WHEN 'sent' THEN d.sent_at WHEN 'cancelled' THEN t.finished_at END,
                   d.claimed_at, t.started_at, t.created_at);
    detail := CASE d.status
        WHEN 'queued' THEN
            CASE WHEN v_in_flight THEN format('sending: attempt %s in flight', d.attempts + 1)
                 WHEN d.attempts = 0 AND d.error = 'held by quiet hours' THEN format(
                     'queued: held by quiet hours until %s, the end of the device''s quiet window '
                     '(doc/engagement.md)', _trace_time(d.send_at, v.timezone))
                 WHEN d.attempts = 0 AND d.error = 'deferred by frequency cap' THEN format(
                     'queued: deferred by a frequency cap until %s, when the device''s cap lets one '
                     'more push go (doc/engagement.md)', _trace_time(d.send_at, v.timezone))
                 WHEN v_planned THEN 'queued: planned, its delivery is made when it falls due'
                 WHEN d.attempts = 0 THEN 'queued: not attempted yet'
                 ELSE format('queued: to be retried at %s', _trace_time(d.send_at, 'UTC')) END
        WHEN 'sent' THEN 'sent: the vendor accepted it'
        WHEN 'invalid_token' THEN 'invalid_token: the vendor refused the device''s token, which was cleared'
        WHEN 'failed' THEN 'failed: ' || CASE
            WHEN d.error LIKE 'gave up after %' THEN 'no attempt succeeded'
            WHEN d.error LIKE 'missing attribute %' THEN
                'the push''s template reads a value the device did not have, and options.missing_attribute is fail'
            WHEN d.http_status BETWEEN 400 AND 499 THEN 'the vendor refused it'
            WHEN d.attempts = 0 THEN 'never sent'
            ELSE 'not sent' END
        WHEN 'suppressed' THEN 'suppressed: ' || CASE
            WHEN d.error = 'opted out' THEN 'the device opted out before it was sent'
            WHEN d.error = 'unregistered' THEN 'the device was unregistered before it was sent'
            WHEN d.error = 'token invalidated' THEN 'the device''s token was invalidated before it was sent'
            WHEN d.error = 'device deleted' THEN 'the device was deleted before it was sent'
            WHEN d.error LIKE 'missing attribute %' THEN
                format('the push''s template reads %s, which the device did not have, and options.missing_attribute is skip',
                       substr(d.error, 19))
            WHEN d.error = 'capped' THEN 'a frequency cap (on_cap "drop"): the device had had as many pushes '
                                         'as its app''s, category''s or plan''s cap allows (doc/engagement.md)'
            WHEN d.error = 'quiet hours' THEN 'its time fell in the device''s quiet hours (on_quiet "drop"; '
                                              'doc/engagement.md)'
            WHEN d.error LIKE 'no consent: %' THEN
                format('the device''s consent to category "%s" was withdrawn before it was sent',
                       substr(d.error, length('no consent: ') + 1))
            ELSE 'not sent' END
        WHEN 'expired' THEN 'expired: its time_to_live passed before it could be sent'
        WHEN 'cancelled' THEN 'cancelled: the task was cancelled before it was sent'
        ELSE d.status END || ' (' || v_fields || ')';
    IF d.status = 'queued' AND v_in_flight THEN
        at := v_claimed_at;
    ELSIF d.status = 'queued' AND d.attempts = 0 THEN
        at := d.send_at;
    END IF;
    RETURN NEXT;

    -- What the device reported, in order; a repeat of a kind already counted did not count.
    step := 'event';
    FOR e IN SELECT x.kind, x.at, x.value, x.counted FROM events x
             WHERE x.task_id = p_task AND x.device_id = p_device
             ORDER BY x.at, x.recorded_at LOOP
        v_n := v_n + 1;
        at := e.at; seq := 4 + v_n;
        detail := e.kind || CASE WHEN e.value IS NOT NULL THEN format(' (value %s)', e.value) ELSE '' END
                  || CASE WHEN e.counted THEN '' ELSE ': a repeat, not counted' END;
        RETURN NEXT;
    END LOOP;
END $$;

-- push_trace's body (plpgsql does not take an output column named as a parameter, task_id).
CREATE OR REPLACE FUNCTION _trace(p_app text, p_registration_id text, p_task text)
RETURNS TABLE(at timestamptz, trace_task_id text, step text, detail text)
LANGUAGE plpgsql STABLE SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(p_app, 'operator');
    v_device bigint := _device_id(v_app, p_registration_id);
    v_tasks text[];
BEGIN
    IF p_task IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = p_task AND t.app_id = v_app) THEN
        RAISE EXCEPTION '92751: task "%" does not exist', _shown(p_task) USING ERRCODE = '42704';
    END IF;
    -- one task, or the device's last 50 (the tasks it has deliveries for), newest first; chosen
    -- in a statement of its own (on the distributed layout Citus would run the steps' function
    -- on the device's shard, where it cannot read the other tables)
    IF p_task IS NOT NULL THEN
        v_tasks := ARRAY[p_task];
    ELSE
        SELECT array_agg(l.task_id ORDER BY l.created_at DESC, l.task_id DESC) INTO v_tasks
        FROM (SELECT t.task_id, t.created_at FROM deliveries d JOIN tasks t ON t.task_id = d.task_id
              WHERE d.device_id = v_device
              ORDER BY t.created_at DESC, t.task_id DESC LIMIT 50) l;
        -- and the tasks whose send plans hold it (one node only: doc/schedules.md, "Send plans")
        IF EXISTS (SELECT 1 FROM delivery_plans p WHERE v_device = ANY (p.device_ids)) THEN
            SELECT array_agg(l.task_id ORDER BY l.created_at DESC, l.task_id DESC) INTO v_tasks
            FROM (SELECT t.task_id, t.created_at FROM tasks t
                  WHERE t.task_id = ANY (v_tasks)
                     OR t.task_id IN (SELECT p.task_id FROM delivery_plans p WHERE v_device = ANY (p.device_ids))
                  ORDER BY t.created_at DESC, t.task_id DESC LIMIT 50) l;
        END IF;
    END IF;
    RETURN QUERY
    SELECT s.at, c.task_id, s.step, s.detail
    FROM unnest(v_tasks) WITH ORDINALITY c(task_id, n) CROSS JOIN LATERAL _trace_task(c.task_id, v_device) s
    ORDER BY c.n, s.at, s.seq;
END $$;

CREATE OR REPLACE FUNCTION push_trace(app text, registration_id text, task_id text DEFAULT NULL)
RETURNS TABLE(at timestamptz, task_id text, step text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
    SELECT s.at, s.trace_task_id, s.step, s.detail
    FROM _trace($1, $2, $3) WITH ORDINALITY s(at, trace_task_id, step, detail, n)
    ORDER BY s.n
$$;
COMMENT ON FUNCTION push_trace(text, text, text) IS
    'why a device did or did not get a push: every step of a task (or of its last 50) for one device, in time order; doc/statistics.md';
