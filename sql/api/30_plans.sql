-- Push plans (campaigns): a name that push tasks are attributed to, so their effect can be
-- read per plan. Every app has the plan 'default', which can be neither edited nor deleted.

CREATE OR REPLACE FUNCTION _plan_check_exists(p_app_id int, p_plan_id text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_default boolean;
BEGIN
    SELECT is_default INTO v_default FROM pushplan.plans
        WHERE app_id = p_app_id AND plan_id = p_plan_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92054: plan "%" does not exist', pushplan._shown(p_plan_id) USING ERRCODE = '42704';
    END IF;
    RETURN v_default;
END $$;

CREATE OR REPLACE FUNCTION _plan_description_check(p_description text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF char_length(p_description) > 500 THEN
        RAISE EXCEPTION '92052: plan description is longer than 500 characters'
            USING ERRCODE = '22023';
    END IF;
    -- shown in views and dashboards: lines and tabs, but no terminal escapes or other controls
    IF p_description ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]' THEN
        RAISE EXCEPTION '92945: plan description holds a control character (only line breaks and tabs may be in it)'
            USING ERRCODE = '22023';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION push_plan_create(app text, plan_id text, description text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'operator');
BEGIN
    IF plan_id IS NULL OR plan_id !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
        RAISE EXCEPTION '92050: plan_id must be 1 to 64 characters of A-Z a-z 0-9 _ . : -'
            USING ERRCODE = '22023';
    END IF;
    PERFORM _plan_description_check(description);
    INSERT INTO plans (app_id, plan_id, description) VALUES (v_app, plan_id, description)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92051: plan "%" already exists', plan_id USING ERRCODE = '23505';
    END IF;
    RETURN plan_id;
END $$;

CREATE OR REPLACE FUNCTION push_plan_update(app text, plan_id text, description text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'operator');
BEGIN
    IF _plan_check_exists(v_app, plan_id) THEN
        RAISE EXCEPTION '92053: the default plan can be neither edited nor deleted'
            USING ERRCODE = '22023';
    END IF;
    PERFORM _plan_description_check(description);
    UPDATE plans p SET description = push_plan_update.description, updated_at = now()
        WHERE p.app_id = v_app AND p.plan_id = push_plan_update.plan_id;
END $$;

CREATE OR REPLACE FUNCTION push_plan_delete(app text, plan_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'operator');
    v_tasks bigint;
BEGIN
    IF _plan_check_exists(v_app, plan_id) THEN
        RAISE EXCEPTION '92053: the default plan can be neither edited nor deleted'
            USING ERRCODE = '22023';
    END IF;
    -- A plan's statistics are its tasks': deleting it would orphan them.
    SELECT count(*) INTO v_tasks FROM tasks t
        WHERE t.app_id = v_app AND t.plan_id = push_plan_delete.plan_id;
    IF v_tasks > 0 THEN
        RAISE EXCEPTION '92055: plan "%" has % push tasks and cannot be deleted', plan_id, v_tasks
            USING ERRCODE = '2BP01';
    END IF;
    DELETE FROM plans p WHERE p.app_id = v_app AND p.plan_id = push_plan_delete.plan_id;
END $$;

CREATE OR REPLACE VIEW push_plans WITH (security_barrier) AS
    SELECT a.app, p.plan_id, p.description, p.is_default,
           -- pushes: a push with variants counts once, not once per variant (doc/variants.md)
           (SELECT count(*) FROM tasks t WHERE t.app_id = p.app_id AND t.plan_id = p.plan_id
              AND t.parent_task_id IS NULL)
               AS task_count,
           p.created_at, p.updated_at,
           p.settings  -- its own engagement controls (push_plan_set)
    FROM plans p JOIN apps a USING (app_id)
    WHERE a.app_id = ANY ((SELECT _visible_apps('reader'))::int[]);
