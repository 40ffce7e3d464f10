-- Flow sends in batches (doc/flows.md, "send"): the instances that reach a send step in one of
-- the scheduler's rounds share tasks, one per (flow, version, step, push) and up to
-- pushplan.small_audience_limit users, each task's audience the list of its users; an exit
-- takes its user out of the task again (or cancels that user's deliveries, once made).
-- The scheduler's rounds are _flow_advance (sql/api/89_flows.sql); push_send's checks and the
-- task's row are src/flow_send.c.

-- The push a send step sends to one instance: the step's push, as the event that started the
-- instance makes it. Instances whose pushes come out equal share a task, so this must stay a
-- pure function of (push, trigger_props); it is the one place that makes a send's push.
CREATE OR REPLACE FUNCTION _flow_send_push(push jsonb, trigger_props jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT pushplan._flow_bind_event(push, trigger_props)   -- its {{event.props...}}: doc/templates.md
$$;

-- The sends of instances that have just reached (and claimed, in flow_step_runs) a step
-- (p_steps[n] is p_instances[n]'s: _flow_advance writes the instances at the end of its call):
-- grouped by app, flow, version, step and push, devices and accounts (per account type) apart;
-- a user with two instances in one group (max_concurrent) goes into a second task, as each
-- instance sends its own push. Each group of up to pushplan.small_audience_limit users is one
-- task made through push_send's checks, in the lane a list that small takes (high, unless the
-- push says otherwise), attributed to the flow and step (and to the instance, when it is the
-- only one); every instance's step run names it. A push refused now (its plan deleted since)
-- fails the group's step runs with push_send's error, and the instances go on.
CREATE OR REPLACE FUNCTION _flow_sends(p_instances bigint[], p_steps text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_per_task int := least(greatest(coalesce(current_setting('pushplan.small_audience_limit', true)::int, 100), 1), 1000);
    g record;
    v_task text;
    v_ran bigint[] := '{}';
    v_ran_steps text[] := '{}';
    v_ran_tasks text[] := '{}';
BEGIN
    FOR g IN
        -- the instances first (MATERIALIZED: joined to the steps on the step id alone, the
        -- planner would match every flow's step of that id, then probe an instance for each)
        WITH x AS MATERIALIZED (
            SELECT i.instance_id, i.app_id, i.flow_id, i.version, x.step_id, i.trigger_props,
                   i.device_id, i.account, i.account_type
            FROM unnest(p_instances, p_steps) x(instance_id, step_id)
            JOIN pushplan.flow_instances i ON i.instance_id = x.instance_id),
        -- push: the step's push bound to the instance's event, NULL where that changed nothing
        -- (a push without {{event...}}): the groups below then compare no push
        b AS (
            SELECT i.instance_id, i.app_id, i.flow_id, i.version, st.step_id,
                   pushplan._flow_send_push(st.spec->'push', i.trigger_props) AS bound, st.spec->'push' AS step_push,
                   i.account_type, coalesce(d.registration_id, i.account) AS user_id
            FROM x i
            JOIN pushplan.flow_steps st ON st.flow_id = i.flow_id AND st.version = i.version
                                       AND st.step_id = i.step_id
            LEFT JOIN pushplan.devices d ON d.device_id = i.device_id
            WHERE st.kind = 'send'),
        s AS (
            SELECT b.instance_id, b.app_id, b.flow_id, b.version, b.step_id, b.account_type, b.user_id,
                   b.step_push, CASE WHEN b.bound <> b.step_push THEN b.bound END AS push
            FROM b),
        twice AS (
            SELECT s.*, row_number() OVER (PARTITION BY s.app_id, s.flow_id, s.version, s.step_id, s.push,
                                                        s.account_type, s.user_id
                                           ORDER BY s.instance_id) AS nth
            FROM s),
        chunked AS (
            SELECT t.*, (row_number() OVER (PARTITION BY t.app_id, t.flow_id, t.version, t.step_id, t.push,
                                                         t.account_type, t.nth
                                            ORDER BY t.instance_id) - 1) / v_per_task AS chunk
            FROM twice t)
        SELECT c.app_id, c.flow_id, c.step_id, coalesce(c.push, min(c.step_push::text)::jsonb) AS push, c.account_type,
               array_agg(c.instance_id ORDER BY c.instance_id) AS instances,
               array_agg(c.user_id ORDER BY c.instance_id) AS users
        FROM chunked c
        GROUP BY c.app_id, c.flow_id, c.version, c.step_id, c.push, c.account_type, c.nth, c.chunk
        ORDER BY min(c.instance_id)
    LOOP
        BEGIN
            v_task := pushplan._flow_send(g.app_id, g.push || jsonb_build_object('to', CASE
                WHEN g.account_type IS NULL THEN jsonb_build_object('registration_id', to_jsonb(g.users))
                ELSE jsonb_build_object('account', to_jsonb(g.users), 'account_type', g.account_type) END));
            UPDATE pushplan.tasks t SET flow_id = g.flow_id, flow_step = g.step_id,
                flow_instance = CASE WHEN cardinality(g.instances) = 1 THEN g.instances[1] END
                WHERE t.task_id = v_task;
            -- (the runs are told their task after the loop, in one statement)
            v_ran := v_ran || g.instances;
            v_ran_steps := v_ran_steps || array_fill(g.step_id, ARRAY[cardinality(g.instances)]);
            v_ran_tasks := v_ran_tasks || array_fill(v_task, ARRAY[cardinality(g.instances)]);
        EXCEPTION WHEN others THEN
            UPDATE pushplan.flow_step_runs r SET detail = SQLERRM
                WHERE r.instance_id = ANY (g.instances) AND r.step_id = g.step_id;
        END;
    END LOOP;
    UPDATE pushplan.flow_step_runs r SET task_id = x.task_id
        FROM unnest(v_ran, v_ran_steps, v_ran_tasks) x(instance_id, step_id, task_id)
        WHERE r.instance_id = x.instance_id AND r.step_id = x.step_id;
END $$;

-- Cancels what has not left of one task for some of its devices: their queued deliveries that
-- no sender has claimed, recorded as _task_cancel records a cancelled delivery (the outcome,
-- the statistics, the outcome webhook's outbox). What is in flight finishes.
-- (PL/pgSQL, and the queue joined to the deliveries by device too: Citus plans no SQL function
-- with parameters over the distributed tables, nor a join of two of them off their device)
CREATE OR REPLACE FUNCTION _task_cancel_devices(p_app int, p_task text, p_devices bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH q AS (DELETE FROM pushplan.delivery_queue q
               USING pushplan.deliveries d
               WHERE q.task_id = p_task AND q.claimed_by IS NULL AND d.delivery_id = q.delivery_id
                 AND d.device_id = q.device_id AND d.task_id = p_task AND d.device_id = ANY (p_devices)
               RETURNING q.delivery_id, q.device_id),
    c AS (UPDATE pushplan.deliveries d SET status = 'cancelled', attempts = d.attempts + 1, error = 'cancelled'
          FROM q WHERE d.delivery_id = q.delivery_id AND d.device_id = q.device_id AND d.status = 'queued'
          RETURNING d.delivery_id, d.device_id, d.platform, d.vendor),
    counted AS (INSERT INTO pushplan.stats_pending (task_id, platform, vendor, cancelled)
        SELECT p_task, coalesce(c.platform, 'unknown'), c.vendor, count(*) FROM c
        GROUP BY 2, 3)
    INSERT INTO pushplan.outcome_outbox (app_id, delivery_id, task_id, plan_id, registration_id, vendor,
                                         platform, status, error, at)
        SELECT p_app, c.delivery_id, p_task, t.plan_id, v.registration_id, c.vendor,
               c.platform, 'cancelled', 'cancelled', now()
        FROM c JOIN pushplan.outcome_webhooks w ON w.app_id = p_app
        JOIN pushplan.tasks t ON t.task_id = p_task
        LEFT JOIN pushplan.devices v ON v.device_id = c.device_id;
END $$;

-- The unsent pushes of ended instances (an exit event, push_flow_delete), user by user: each
-- task their sends made that has not finished is locked, their users are taken out of its
-- audience (so that its expansion, if not done, makes nothing for them), and their devices'
-- deliveries made already are cancelled. A task left with no user is cancelled whole, as push_cancel cancels it.
CREATE OR REPLACE FUNCTION _flow_instances_cancel_sends(p_ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v record;
    v_task pushplan.tasks;
    v_key text;
    v_left jsonb;
BEGIN
    FOR v IN
        SELECT t.task_id,
               array_agg(d.registration_id) FILTER (WHERE i.device_id IS NOT NULL) AS registrations,
               array_agg(i.account) FILTER (WHERE i.account IS NOT NULL) AS accounts,
               array_agg(i.device_id) FILTER (WHERE i.device_id IS NOT NULL) AS devices,
               array_agg(i.instance_id) AS instances
        FROM pushplan.flow_step_runs r
        JOIN pushplan.flow_instances i ON i.instance_id = r.instance_id
        LEFT JOIN pushplan.devices d ON d.device_id = i.device_id
        JOIN pushplan.tasks t ON t.task_id = r.task_id
        WHERE r.instance_id = ANY (p_ids) AND t.state IN ('queued', 'sending')
        GROUP BY t.task_id
        ORDER BY t.task_id
    LOOP
        -- (not FOR UPDATE: that would wait for the senders' key-share locks on the task, the
        -- foreign key of the deliveries they write, and the exit event is the application's)
        SELECT * INTO v_task FROM pushplan.tasks t WHERE t.task_id = v.task_id FOR NO KEY UPDATE;
        IF v_task.state NOT IN ('queued', 'sending') THEN
            CONTINUE;
        END IF;
        v_key := CASE WHEN v_task.push->'to' ? 'registration_id' THEN 'registration_id' ELSE 'account' END;
        v_left := coalesce((SELECT jsonb_agg(u ORDER BY n)
                            FROM jsonb_array_elements_text(v_task.push->'to'->v_key) WITH ORDINALITY x(u, n)
                            WHERE u <> ALL (coalesce(CASE v_key WHEN 'registration_id' THEN v.registrations
                                                                ELSE v.accounts END, '{}'))), '[]');
        IF v_left = '[]' THEN
            PERFORM pushplan._task_cancel(v_task.app_id, v_task.task_id);
            CONTINUE;
        END IF;
        -- (an expanded task's list too: it says who is still sent to, and when no one is left)
        UPDATE pushplan.tasks t SET push = jsonb_set(t.push, ARRAY['to', v_key], v_left)
            WHERE t.task_id = v_task.task_id;
        -- the deliveries made already: the devices', or those of the accounts' devices
        PERFORM pushplan._task_cancel_devices(v_task.app_id, v_task.task_id, ARRAY(
            SELECT unnest(v.devices)
            UNION
            SELECT a.device_id FROM pushplan.device_accounts a
            WHERE a.app_id = v_task.app_id AND a.account_type = (v_task.push->'to'->>'account_type')::int
              AND a.account = ANY (v.accounts)));
    END LOOP;
END $$;
