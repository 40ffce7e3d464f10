-- Flows' webhook steps (doc/flows.md, "webhook"): one message through the app's webhook
-- channel (an e-mail or SMS gateway behind it), addressed as a push's fallback addresses one
-- (doc/fallback.md): to the user's account or to one of its attributes. Compiled by
-- _flow_compile_steps (sql/api/89_flows.sql), fired by _flow_advance.
--
-- A step's message is a task of its own (attributed to the flow, the step and the instance, as
-- a send step's) with one delivery, vendor webhook, whose `fallback` column holds the address
-- and the flow's ids: the senders send it to the address (not to a push token, whatever the
-- device's opt-in), and the webhook body carries it as "flow" (src/vendor_webhook.c).

-- Whether a webhook step's "to" is neither "account" nor {"attr": name}.
CREATE OR REPLACE FUNCTION _flow_webhook_to_invalid(v_to jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT NOT coalesce(v_to = '"account"'
        OR (jsonb_typeof(v_to) = 'object' AND (SELECT count(*) FROM jsonb_object_keys(v_to)) = 1
            AND jsonb_typeof(v_to->'attr') = 'string'), false)
$$;

-- A webhook step checked, and its spec: {"to", "push"}, the push as push_send's checks
-- normalized it (the flow's plan, templates checked, {{event.props}} allowed as in a send
-- step), with the title on each platform.
CREATE OR REPLACE FUNCTION _flow_webhook_compile(p_app int, p_plan text, p_id text, p_val jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_push jsonb;
    v_body jsonb;
    v_title jsonb;
BEGIN
    IF jsonb_typeof(p_val) IS DISTINCT FROM 'object'
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(p_val) k WHERE k NOT IN ('to', 'title', 'alert', 'extras'))
       OR NOT p_val ? 'to' OR _flow_webhook_to_invalid(p_val->'to')
       OR jsonb_typeof(p_val->'alert') IS DISTINCT FROM 'string'
       OR (p_val ? 'title' AND jsonb_typeof(p_val->'title') <> 'string')
       OR (p_val ? 'extras' AND jsonb_typeof(p_val->'extras') <> 'object') THEN
        RAISE EXCEPTION '93088: step "%": webhook takes {"to": "account" or {"attr": name}, "alert": text, "title": text, "extras": {...}}',
            p_id USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pushplan.vendor_configs c WHERE c.app_id = p_app AND c.vendor = 'webhook') THEN
        RAISE EXCEPTION '93089: step "%": the app has no webhook channel', p_id
            USING ERRCODE = '55000',
                  HINT = 'push_vendor_set(app, ''webhook'', {"url": ..., "secret": ...}) configures it (doc/vendors.md).';
    END IF;
    v_push := jsonb_build_object('body', jsonb_build_object('platform', 'all',
        'notification', jsonb_build_object('alert', p_val->'alert'),
        -- not a push: the push frequency caps do not count it (quiet hours apply)
        'options', jsonb_strip_nulls(jsonb_build_object('plan_id', p_plan, 'frequency_cap', false))));
    -- push_send's checks (texts' lengths, templates, the plan) with the flow's user as audience
    v_push := pushplan._flow_push_check(p_app, v_push || '{"to": {"registration_id": ["flow-user"]}}') - 'to';
    -- the title and extras on every platform's block, where each holds them (iOS: its alert)
    v_title := p_val->'title';
    v_body := v_push->'body';
    v_body := jsonb_set(v_body, '{notification}', (v_body->'notification') || coalesce((
        SELECT jsonb_object_agg(p.name, jsonb_strip_nulls(CASE p.name
                   WHEN 'ios' THEN jsonb_build_object('alert', jsonb_strip_nulls(
                       jsonb_build_object('title', v_title, 'body', p_val->'alert')), 'extras', p_val->'extras')
                   ELSE jsonb_build_object('title', v_title, 'extras', p_val->'extras') END))
        FROM jsonb_array_elements_text(v_body->'platform') p(name)
        WHERE v_title IS NOT NULL OR p_val ? 'extras'), '{}'));
    RETURN jsonb_build_object('to', p_val->'to', 'push', jsonb_set(v_push, '{body}', v_body));
END $$;

-- The webhook steps the instances p_ids have just reached, p_steps[n] being p_ids[n]'s (each
-- once: the caller claimed them in flow_step_runs): a task each, through push_send's checks again (a plan deleted
-- since fails the step with push_send's error), with one webhook delivery to the address. The
-- user's device (the instance's, or its account's latest) is the one the message is made for:
-- its platform and language choose the texts, and its erasure takes the message with it. No
-- device, or no address: the step is recorded with why, and the instance goes on.
CREATE OR REPLACE FUNCTION _flow_webhook_fire(p_ids bigint[], p_steps text[], p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_device bigint;
    v_regid text;
    v_platform text;
    v_to jsonb;
    v_attr text;
    v_task text;
    v_delivery bigint;
    v_priority smallint;
BEGIN
    FOR r IN
        SELECT i.instance_id, i.app_id, i.flow_id, s.step_id, s.spec, i.device_id, i.account, i.account_type,
               i.trigger_props
        FROM unnest(p_ids, p_steps) x(instance_id, step_id)
        JOIN pushplan.flow_instances i ON i.instance_id = x.instance_id
        JOIN pushplan.flow_steps s ON s.flow_id = i.flow_id AND s.version = i.version AND s.step_id = x.step_id
        WHERE s.kind = 'webhook'
        ORDER BY i.instance_id
    LOOP
        v_device := coalesce(r.device_id,
            (SELECT a.device_id FROM pushplan.device_accounts a
             WHERE a.app_id = r.app_id AND a.account_type = r.account_type AND a.account = r.account
             ORDER BY a.bound_at DESC, a.device_id DESC LIMIT 1));
        SELECT d.registration_id, coalesce(d.platform, 'unknown') INTO v_regid, v_platform
            FROM pushplan.devices d WHERE d.device_id = v_device;
        v_attr := r.spec #>> '{to,attr}';
        v_to := CASE
            WHEN v_attr IS NOT NULL THEN
                (SELECT jsonb_build_object('attr', v_attr, 'value', d.attrs->>v_attr)
                 FROM pushplan.devices d WHERE d.device_id = v_device
                   AND jsonb_typeof(d.attrs->v_attr) IN ('string', 'number') AND d.attrs->>v_attr <> '')
            WHEN r.account IS NOT NULL THEN
                jsonb_build_object('account', r.account, 'account_type', r.account_type)
            ELSE
                (SELECT jsonb_build_object('account', a.account, 'account_type', a.account_type)
                 FROM pushplan.device_accounts a WHERE a.device_id = v_device
                 ORDER BY a.bound_at DESC LIMIT 1) END;
        IF v_regid IS NULL OR v_to IS NULL THEN
            UPDATE pushplan.flow_step_runs x SET detail = CASE WHEN v_regid IS NULL
                    THEN 'no address: the user has no device'
                    ELSE format('no address: %s', CASE WHEN v_attr IS NULL THEN 'no account bound'
                                                       ELSE format('attribute "%s" missing or empty', v_attr) END) END
                WHERE x.instance_id = r.instance_id AND x.step_id = r.step_id;
            CONTINUE;
        END IF;
        BEGIN
            -- {{event.props...}} bound to the props of the event that started the instance
            v_task := pushplan._flow_send(r.app_id, pushplan._flow_bind_event(r.spec->'push', r.trigger_props)
                || jsonb_build_object('to', jsonb_build_object('registration_id', jsonb_build_array(v_regid))));
            -- expanded here: its one delivery is the webhook message, not a push to the device
            UPDATE pushplan.tasks t SET flow_id = r.flow_id, flow_step = r.step_id,
                    flow_instance = r.instance_id, state = 'sending', expanded = true, targeted = 1,
                    started_at = now()
                WHERE t.task_id = v_task
                RETURNING t.priority INTO v_priority;
            INSERT INTO pushplan.deliveries (task_id, app_id, device_id, vendor, platform, send_at, status, fallback)
                VALUES (v_task, r.app_id, v_device, 'webhook', v_platform, p_now, 'queued',
                        jsonb_build_object('to', v_to, 'flow_id', r.flow_id, 'step', r.step_id,
                                           'instance_id', r.instance_id))
                RETURNING delivery_id INTO v_delivery;
            INSERT INTO pushplan.delivery_queue (delivery_id, task_id, send_at, priority, device_id)
                VALUES (v_delivery, v_task, p_now, v_priority, v_device);
            INSERT INTO pushplan.stats_pending (task_id, platform, vendor, targeted)
                VALUES (v_task, v_platform, 'webhook', 1);
            UPDATE pushplan.flow_step_runs x SET task_id = v_task
                WHERE x.instance_id = r.instance_id AND x.step_id = r.step_id;
            -- the senders wait for a commit's wake-up, not only for their next poll
            PERFORM pushplan._wake_senders(v_priority = 0);
        EXCEPTION WHEN others THEN
            UPDATE pushplan.flow_step_runs x SET detail = SQLERRM
                WHERE x.instance_id = r.instance_id AND x.step_id = r.step_id;
        END;
    END LOOP;
END $$;
