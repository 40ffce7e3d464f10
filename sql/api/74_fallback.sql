-- Cross-channel fallback (doc/fallback.md; tables: sql/install/schema.sql): a push's
-- "fallback" sends the devices that did not receive, open or click it one message through the
-- app's webhook channel, addressed to their account or one of their attributes. push_send checks
-- the fallback (src/push_fallback.c, src/push_send.c); the scheduler looks at the push's
-- deliveries once they may be due (_fallback_step) and makes the messages, which the senders
-- send as deliveries of the push's fallback task.

-- The push a fallback sends: the push's own, without its fallback and idempotency keys; when
-- the fallback gives a title or an alert, they replace the push's texts for every platform and
-- language. Exempt from frequency caps (the push counted already); quiet hours apply as they
-- did to the push.
CREATE OR REPLACE FUNCTION _fallback_push(push jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_fallback jsonb := push->'fallback';
    v_body jsonb := push->'body';
    v_options jsonb := coalesce(push #> '{body,options}', '{}');
    v_alert jsonb;
    v_title jsonb;
BEGIN
    IF v_fallback ? 'title' OR v_fallback ? 'alert' THEN
        v_alert := coalesce(v_fallback->'alert', push #> '{body,notification,alert}',
                            push #> '{body,message,msg_content}');
        v_title := coalesce(v_fallback->'title', push #> '{body,message,title}');
        -- the alert for every platform; a title where each platform's block holds it (iOS: in
        -- its alert object)
        v_body := v_body - 'notification' - 'message' || jsonb_build_object('notification',
            jsonb_strip_nulls(jsonb_build_object('alert', v_alert))
            || coalesce((SELECT jsonb_object_agg(p.name, CASE p.name
                                 WHEN 'ios' THEN jsonb_build_object('alert', jsonb_strip_nulls(
                                     jsonb_build_object('title', v_title, 'body', v_alert)))
                                 ELSE jsonb_build_object('title', v_title) END)
                         FROM jsonb_array_elements_text(v_body->'platform') p(name)
                         WHERE v_title IS NOT NULL), '{}'));
        v_options := v_options - 'multi_language';
    END IF;
    RETURN (push - 'fallback' - 'request_id' - 'MsgRandom' - 'loop' - 'send_time')
        || jsonb_build_object('body', v_body || jsonb_build_object('options',
               v_options || '{"frequency_cap": false}'::jsonb));
END $$;

-- The fallback task of a push: its id (the push's, suffixed), made on the first message.
CREATE OR REPLACE FUNCTION _fallback_task_id(task_id text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT task_id || '_fallback'
$$;

-- One step of the scheduler's look at the push whose fallback is due soonest (tasks.fallback_at,
-- its due index), at p_now (pushplan.clock_now()): up to p_batch of its deliveries, by device,
-- from where the look stopped (tasks.fallback_upto). Each delivery is
--   due      when the push did not reach it or no `unless` event came, `after` its send: sent
--            (sent_at), failed, invalid_token, expired, or suppressed because its token was
--            invalidated (from the claim that ended it). It gets its fallback: a row in
--            fallbacks (the primary key makes it once per delivery) and, if the device has an
--            address, a message (a delivery of the fallback task, vendor webhook); without an
--            address it is counted (fallback_no_address), nothing is sent;
--   later    the same, not `after` yet: the next look is when the soonest is due;
--   open     not sent yet (queued): the next look is `after` its send_at at the soonest;
--   none     the `unless` event came (received counts any of received, open, click; opened
--            open or click; clicked click), or it was suppressed (opted out, unregistered,
--            consent, frequency cap, quiet hours, missing attribute) or cancelled: no fallback.
-- A look that ends with nothing later or open, on an expanded push, ends the fallback
-- (fallback_at NULL). A cancelled or failed push has no fallback left.
-- Returns the messages made, or -1 when no fallback was due.
CREATE OR REPLACE FUNCTION _fallback_step(p_batch int, p_now timestamptz) RETURNS int
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    t record;
    v_after interval;
    v_bits smallint;
    v_attr text;
    v_rows int;
    v_last bigint;
    v_next timestamptz;
    v_ids bigint[];
    v_devices bigint[];
    v_platforms text[];
    v_child text;
    v_made int := 0;
BEGIN
    SELECT x.task_id, x.app_id, x.plan_id, x.dialect, x.push, x.state, x.expanded, x.priority,
           x.time_to_live, x.template_reads, x.category, x.consent, x.created_by,
           x.fallback_upto, x.fallback_next_at
        INTO t
        FROM tasks x WHERE x.fallback_at <= p_now
        -- (NO KEY: the senders writing the push's deliveries hold a key-share lock on its row,
        -- their foreign key, which FOR UPDATE would skip it for)
        ORDER BY x.fallback_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    IF t.state IN ('cancelled', 'failed') OR NOT t.push ? 'fallback' THEN
        UPDATE tasks x SET fallback_at = NULL, fallback_upto = NULL, fallback_next_at = NULL
            WHERE x.task_id = t.task_id;
        RETURN 0;
    END IF;
    v_after := (t.push #>> '{fallback,after}')::int * interval '1 second';
    v_bits := CASE t.push #>> '{fallback,unless}' WHEN 'received' THEN 7 WHEN 'opened' THEN 6 ELSE 4 END;
    v_attr := t.push #>> '{fallback,to,attr}';

    SELECT count(*), max(b.device_id),
           min(b.due_at) FILTER (WHERE b.verdict IN ('later', 'open')),
           array_agg(b.delivery_id) FILTER (WHERE b.verdict = 'due'),
           array_agg(b.device_id) FILTER (WHERE b.verdict = 'due'),
           array_agg(b.platform) FILTER (WHERE b.verdict = 'due')
        INTO v_rows, v_last, v_next, v_ids, v_devices, v_platforms
        FROM (SELECT d.delivery_id, d.device_id, coalesce(d.platform, 'unknown') AS platform,
                     CASE WHEN d.status = 'queued' THEN greatest(d.send_at, p_now)
                          ELSE coalesce(d.sent_at, d.claimed_at, d.send_at) END + v_after AS due_at,
                     CASE WHEN d.status = 'queued' THEN 'open'
                          WHEN d.status = 'sent' AND d.events & v_bits <> 0 THEN 'none'
                          WHEN d.status IN ('sent', 'failed', 'invalid_token', 'expired')
                            OR (d.status = 'suppressed' AND d.error = 'token invalidated') THEN
                              CASE WHEN coalesce(d.sent_at, d.claimed_at, d.send_at) + v_after <= p_now
                                   THEN 'due' ELSE 'later' END
                          ELSE 'none' END AS verdict
              FROM deliveries d
              WHERE d.task_id = t.task_id AND d.device_id > coalesce(t.fallback_upto, -1)
              ORDER BY d.device_id LIMIT p_batch) b;

    IF v_ids IS NOT NULL THEN
        v_child := _fallback_task_id(t.task_id);
        -- the fallback task: made once, and sending again when a later look adds messages
        INSERT INTO tasks AS x (task_id, app_id, plan_id, dialect, push, state, send_at, expanded,
                                targeted, started_at, created_by, priority, time_to_live,
                                template_reads, category, consent)
            VALUES (v_child, t.app_id, t.plan_id, t.dialect, _fallback_push(t.push), 'sending',
                    p_now, true, 0, now(), t.created_by, t.priority, t.time_to_live,
                    t.template_reads, t.category, t.consent)
            ON CONFLICT (task_id) DO UPDATE SET state = 'sending', finished_at = NULL
                WHERE x.state = 'done';
        -- each device's address: the latest account bound, or the attribute, read by device id
        -- (as joins, not subqueries per delivery: on the distributed layout each is one query
        -- pushed down to the shards of the batch's devices, doc/scale-out.md)
        WITH bound AS MATERIALIZED (
            SELECT DISTINCT ON (a.device_id) a.device_id,
                   jsonb_build_object('account', a.account, 'account_type', a.account_type) AS address
            FROM device_accounts a
            WHERE v_attr IS NULL AND a.device_id = ANY (v_devices)
            ORDER BY a.device_id, a.bound_at DESC
        ), attr AS MATERIALIZED (
            SELECT v.device_id, jsonb_build_object('attr', v_attr, 'value', v.attrs->>v_attr) AS address
            FROM devices v
            WHERE v_attr IS NOT NULL AND v.device_id = ANY (v_devices)
              AND jsonb_typeof(v.attrs->v_attr) IN ('string', 'number') AND v.attrs->>v_attr <> ''
        ), x AS (
            SELECT i.delivery_id, i.device_id, i.platform, coalesce(b.address, r.address) AS address
            FROM unnest(v_ids, v_devices, v_platforms) i(delivery_id, device_id, platform)
            LEFT JOIN bound b ON b.device_id = i.device_id
            LEFT JOIN attr r ON r.device_id = i.device_id
        ), kept AS (
            INSERT INTO fallbacks (delivery_id, task_id, platform, outcome)
            SELECT x.delivery_id, t.task_id, x.platform,
                   CASE WHEN x.address IS NULL THEN 'no_address' ELSE 'queued' END
            FROM x
            ON CONFLICT (delivery_id) DO NOTHING
            RETURNING delivery_id
        ), made AS (
            INSERT INTO deliveries (task_id, app_id, device_id, vendor, platform, send_at, status, fallback)
            SELECT v_child, t.app_id, x.device_id, 'webhook', x.platform, p_now, 'queued',
                   jsonb_build_object('task_id', t.task_id, 'delivery_id', x.delivery_id::text,
                                      'unless', t.push #>> '{fallback,unless}', 'to', x.address)
            FROM x JOIN kept USING (delivery_id)
            WHERE x.address IS NOT NULL
            RETURNING delivery_id, send_at, device_id
        ), queued AS (
            INSERT INTO delivery_queue (delivery_id, task_id, send_at, priority, device_id)
            SELECT made.delivery_id, v_child, made.send_at, t.priority, made.device_id FROM made
        ), counted AS (
            INSERT INTO stats_pending (task_id, platform, vendor, fallback_no_address)
            SELECT t.task_id, x.platform, 'webhook', count(*)
            FROM x JOIN kept USING (delivery_id)
            WHERE x.address IS NULL
            GROUP BY x.platform
        )
        SELECT count(*) INTO v_made FROM made;
        IF v_made > 0 THEN
            UPDATE tasks x SET targeted = coalesce(x.targeted, 0) + v_made WHERE x.task_id = v_child;
        END IF;
    END IF;

    v_next := least(t.fallback_next_at, v_next);
    IF v_rows = p_batch THEN
        -- the look goes on from here at the scheduler's next step
        UPDATE tasks x SET fallback_upto = v_last, fallback_next_at = v_next WHERE x.task_id = t.task_id;
    ELSE
        -- the look is over: deliveries still to be made are sent `after` now at the soonest
        IF t.state = 'queued' OR NOT t.expanded THEN
            v_next := least(v_next, p_now + v_after);
        END IF;
        UPDATE tasks x SET fallback_at = v_next, fallback_upto = NULL, fallback_next_at = NULL
            WHERE x.task_id = t.task_id;
    END IF;
    RETURN v_made;
END $$;
