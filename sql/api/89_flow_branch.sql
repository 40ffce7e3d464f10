-- A branch step's audience conditions (doc/flows.md, "Branch conditions"): {"audience": any
-- audience push_send takes} and its short form for a view, {"view": "schema.view"}. Checked
-- when the flow is defined by the audience compiler's own checks (_flow_audience_check,
-- src/flow_triggers.c: push_send's errors, the view's allowance for the app), and evaluated by
-- the scheduler once per advance for the whole batch: one compiled query per audience, over the
-- devices of the batch's users only (src/flow_branch.c). The advance (89_flows.sql) joins the
-- batch's results (_flow_branch_hits) and hands each instance's to _flow_cond_holds.
-- (This file sorts before 89_flows.sql: what it calls from there is called from plpgsql only.)

-- The audience a condition leaf names (NULL for any other kind of condition): {"audience": a}
-- gives a, {"view": v} gives {"view": v}.
CREATE OR REPLACE FUNCTION _flow_cond_audience(cond jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cond ? 'audience' THEN cond->'audience'
                WHEN cond ? 'view' THEN jsonb_build_object('view', cond->'view') END
$$;

-- What a branch's audience result is known by in an advance (_flow_branch_hits).
CREATE OR REPLACE FUNCTION _flow_audience_key(audience jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT md5(audience::text)
$$;

-- The audiences a condition (checked by _flow_cond_problem) names, at any depth.
CREATE OR REPLACE FUNCTION _flow_cond_audiences(cond jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_item jsonb;
BEGIN
    IF pushplan._flow_cond_audience(cond) IS NOT NULL THEN
        RETURN NEXT pushplan._flow_cond_audience(cond);
    ELSIF cond ? 'not' THEN
        RETURN QUERY SELECT pushplan._flow_cond_audiences(cond->'not');
    ELSIF cond ? 'and' OR cond ? 'or' THEN
        FOR v_item IN SELECT * FROM jsonb_array_elements(coalesce(cond->'and', cond->'or')) LOOP
            RETURN QUERY SELECT pushplan._flow_cond_audiences(v_item);
        END LOOP;
    END IF;
END $$;

-- A branch's paths checked for their audiences as push_send checks its "to" (its own error for
-- anything it would refuse, such as a view not allowed for the app: 93081), and the distinct
-- audiences they name (what the advance evaluates for a batch), in a list.
CREATE OR REPLACE FUNCTION _flow_branch_audiences(p_app int, p_paths jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_all jsonb;
    v_audience jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(DISTINCT a), '[]') INTO v_all
        FROM jsonb_array_elements(p_paths) p, pushplan._flow_cond_audiences(p->'if') a;
    FOR v_audience IN SELECT * FROM jsonb_array_elements(v_all) LOOP
        PERFORM pushplan._flow_audience_check(p_app, v_audience);
    END LOOP;
    RETURN v_all;
END $$;

-- Those of the devices that are in an audience now (src/flow_branch.c).
CREATE OR REPLACE FUNCTION _flow_audience_members(app_id int, audience jsonb, devices bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'pushplan_flow_audience_members' LANGUAGE C STABLE STRICT;

-- The audience conditions that hold for a batch of instances (those of p_instances whose step
-- in p_steps, where the advance holds them in memory, is a branch naming audiences): for each instance, the keys (_flow_audience_key) of the
-- audiences its user is in (any of its devices: the instance's, or its account's). Each
-- distinct audience of the batch is compiled and run once, over the devices of the instances
-- whose step names it. An audience that cannot be evaluated now (its view revoked or dropped
-- since the flow was defined) holds for nobody, and the step runs of its instances say why.
CREATE OR REPLACE FUNCTION _flow_branch_hits(p_instances bigint[], p_steps text[])
RETURNS TABLE (instance_id bigint, hits text[])
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_members bigint[];
    v_inst bigint[] := '{}';
    v_keys text[] := '{}';
    v_ids bigint[];
    v_apps int[];
    v_devices bigint[];
    v_accounts text[];
    v_types int[];
    v_user_inst bigint[];
    v_user_dev bigint[];
BEGIN
    FOR r IN
        SELECT i.app_id, a.audience, array_agg(DISTINCT i.instance_id) AS instances,
               array_agg(DISTINCT s.step_id) AS steps
        FROM unnest(p_instances, p_steps) w(instance_id, step_id)
        JOIN pushplan.flow_instances i ON i.instance_id = w.instance_id
        JOIN pushplan.flow_steps s ON s.flow_id = i.flow_id AND s.version = i.version
                                  AND s.step_id = w.step_id
        CROSS JOIN LATERAL jsonb_array_elements(s.spec->'audiences') a(audience)
        WHERE s.kind = 'branch' AND s.spec ? 'audiences'
        GROUP BY i.app_id, a.audience
        ORDER BY i.app_id, a.audience::text
    LOOP
        BEGIN
            -- the devices of the instances' users (_flow_users_devices)
            SELECT array_agg(i.instance_id), array_agg(i.app_id), array_agg(i.device_id),
                   array_agg(i.account), array_agg(i.account_type)
              INTO v_ids, v_apps, v_devices, v_accounts, v_types
              FROM pushplan.flow_instances i WHERE i.instance_id = ANY (r.instances);
            SELECT coalesce(array_agg(u.instance_id), '{}'), coalesce(array_agg(u.device_id), '{}')
              INTO v_user_inst, v_user_dev
              FROM pushplan._flow_users_devices(v_ids, v_apps, v_devices, v_accounts, v_types) u;
            v_members := pushplan._flow_audience_members(r.app_id, r.audience, ARRAY(
                SELECT DISTINCT d FROM unnest(v_user_dev) d));
        EXCEPTION WHEN others THEN
            UPDATE pushplan.flow_step_runs sr
               SET detail = format('93044: the audience %s could not be evaluated: %s',
                                   left(r.audience::text, 200), SQLERRM)
             WHERE sr.instance_id = ANY (r.instances) AND sr.step_id = ANY (r.steps);
            CONTINUE;
        END;
        SELECT v_inst || coalesce(array_agg(x.instance_id), '{}'),
               v_keys || coalesce(array_agg(pushplan._flow_audience_key(r.audience)), '{}')
          INTO v_inst, v_keys
          FROM (SELECT DISTINCT u.instance_id FROM unnest(v_user_inst, v_user_dev) u(instance_id, device_id)
                JOIN unnest(v_members) m(device_id) ON m.device_id = u.device_id) x;
    END LOOP;
    RETURN QUERY SELECT h.instance_id, array_agg(h.key)
                 FROM unnest(v_inst, v_keys) h(instance_id, key) GROUP BY h.instance_id;
END $$;

-- Whether an audience condition holds for one instance's user, outside a batch (what
-- _flow_cond_holds does when it is given no batch's results): the same query over the user's
-- devices; an audience that cannot be evaluated holds for nobody.
CREATE OR REPLACE FUNCTION _flow_cond_audience_holds(p_audience jsonb, p_app int, p_device bigint,
                                                     p_account text, p_account_type int) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RETURN cardinality(pushplan._flow_audience_members(p_app, p_audience, ARRAY(
        SELECT pushplan._flow_user_devices(p_app, p_device, p_account, p_account_type)))) > 0;
EXCEPTION WHEN others THEN
    RAISE LOG 'pushplan: a flow branch''s audience could not be evaluated: %', SQLERRM;
    RETURN false;
END $$;
