-- Grants, catalog-driven: every right a pushplan group role holds on an object of the extension
-- is exactly the list below, which is doc/sql.md's role table ("Roles and tenancy") written out;
-- a new function or view that is granted and not listed, or listed and not granted, fails here.
-- (The workers' role is pinned by roles.sql; who reaches which app by tenancy.sql and
-- hostile.sql.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;

CREATE TEMP TABLE gr_doc (role text, object text);
INSERT INTO gr_doc
SELECT 'pushplan_reader', unnest(ARRAY[
    'view push_plans', 'view push_task_progress', 'view push_schedules', 'view push_schedule_runs',
    'function push_plan_stats(text,text[],timestamp with time zone,timestamp with time zone,text,text)',
    'view push_task_stats', 'view push_plan_stats_daily', 'view push_plan_overview',
    'view push_vendor_stats_daily', 'view push_variant_stats', 'view push_flows',
    -- functions the statistics views call, which PostgreSQL checks as the caller
    'function _stats_period(timestamp with time zone)', 'function _message_type(jsonb)',
    'function _rate(numeric,numeric)', 'function _latency_quantile(smallint[],numeric[],numeric)',
    -- push_task_progress's form on the distributed layout (doc/scale-out.md, "The readers")
    'function _task_progress_distributed()'])
UNION ALL
SELECT 'pushplan_app', unnest(ARRAY[
    'function push_device_register(text,text,text,text,text,text,text)',
    'function push_device_register_batch(text,jsonb)', 'function push_device_unregister(text,text)',
    'function push_device_opt(text,text,boolean)', 'function push_device_consent(text,text,text,boolean)',
    'function push_account_consent(text,text,integer,text,boolean)',
    'function push_device_activity(text,text,timestamp with time zone)',
    'function push_tag_add(text,text,text[])', 'function push_tag_remove(text,text,text[])',
    'function push_attr_set(text,text,jsonb)', 'function push_account_bind(text,text,text,integer)',
    'function push_account_unbind(text,text,text,integer)', 'function push_device_export(text,text)',
    'function push_account_export(text,text,integer)', 'function push_device_erase(text,text)',
    'function push_account_erase(text,text,integer)',
    'function push_event(text,text,text,text,timestamp with time zone,numeric)',
    'function push_event_batch(text,jsonb)', 'function push_send(text,jsonb)',
    'function push_cancel(text,text)', 'function push_validate(jsonb)',
    'function push_track(text,text,text,jsonb,timestamp with time zone)',
    'function push_track_account(text,text,integer,text,jsonb,timestamp with time zone)',
    'function push_track_batch(text,jsonb)',
    'function push_location(text,text,double precision,double precision,timestamp with time zone)'])
UNION ALL
SELECT 'pushplan_operator', unnest(ARRAY[
    'function push_plan_create(text,text,text)', 'function push_plan_update(text,text,text)',
    'function push_plan_delete(text,text)', 'function push_plan_set(text,text,jsonb)',
    'function push_audience_count(text,jsonb)', 'function push_audience_preview(text,jsonb,integer)',
    'function push_account_package_upload(text,text,bytea,integer)',
    'function push_account_package_delete(text,bigint)', 'function push_send(text,jsonb)',
    'function push_cancel(text,text)', 'function push_validate(jsonb)',
    'function push_schedule_create(text,jsonb)', 'function push_schedule_update(text,text,jsonb)',
    'function push_schedule_enable(text,text,boolean)', 'function push_schedule_delete(text,text)',
    'view push_devices', 'view push_device_consents', 'view push_vendors',
    'view push_account_packages', 'view push_deliveries', 'function push_trace(text,text,text)',
    'function canonical_timezone(text)',
    'function push_flow_create(text,jsonb)', 'function push_flow_update(text,text,jsonb)',
    'function push_flow_enable(text,text,boolean)', 'function push_flow_delete(text,text)',
    'view push_flow_runs', 'view push_audience_views'])
UNION ALL
SELECT 'pushplan_app_admin', unnest(ARRAY[
    'function push_app_set(text,jsonb)', 'function push_vendor_set(text,text,jsonb)',
    'function push_outcome_webhook_set(text,jsonb)',
    'function push_vendor_test(text,text,text,jsonb,text,text)',
    'function push_app_grant(text,regrole,text)', 'function push_app_revoke(text,regrole,text)',
    'view push_app_grants', 'view push_outcome_webhooks', 'view push_erasures',
    'function push_audience_view_allow(text,regclass)', 'function push_audience_view_revoke(text,regclass)'])
UNION ALL
SELECT 'pushplan_admin', 'function push_app_create(text,text)'
UNION ALL
-- the tenancy check every view makes, and the views' rows on the distributed layout, for
-- every group role
SELECT r, f
FROM unnest(ARRAY['pushplan_reader', 'pushplan_app', 'pushplan_operator', 'pushplan_app_admin',
                  'pushplan_admin']) r,
     unnest(ARRAY['function _visible_apps(text)', 'function _layout_view_rows(name)']) f;

-- Every object of the extension with its rights (PUBLIC as 'public').
CREATE TEMP VIEW gr_catalog AS
WITH objs AS (
    SELECT 'function ' || regexp_replace(p.oid::regprocedure::text, '^pushplan\.', '') AS object,
           coalesce(p.proacl, acldefault('f', p.proowner)) AS acl, p.prosecdef, p.proconfig
    FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
    WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pushplan')
    UNION ALL
    SELECT CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'S' THEN 'sequence ' ELSE 'table ' END
           || c.relname, coalesce(c.relacl, acldefault('r', c.relowner)), NULL, NULL
    FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
    WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pushplan'))
SELECT o.object, CASE a.grantee WHEN 0 THEN 'public' ELSE a.grantee::regrole::text END AS role,
       a.privilege_type, o.prosecdef, o.proconfig
FROM objs o, aclexplode(o.acl) a;

-- granted and not in the table, or in the table and not granted: none
SELECT role, object, 'granted, not documented' AS problem FROM gr_catalog
WHERE role LIKE 'pushplan\_%' AND role <> 'pushplan_worker'
EXCEPT SELECT role, object, 'granted, not documented' FROM gr_doc
UNION ALL
(SELECT role, object, 'documented, not granted' FROM gr_doc
 EXCEPT SELECT role, object, 'documented, not granted' FROM gr_catalog)
ORDER BY 1, 2;
-- the rights themselves: EXECUTE on functions, SELECT on views, nothing on tables or sequences
SELECT DISTINCT split_part(object, ' ', 1) AS kind, privilege_type FROM gr_catalog
WHERE role LIKE 'pushplan\_%' AND role <> 'pushplan_worker' ORDER BY 1, 2;
-- nothing of the extension is granted to PUBLIC (a function left at its default would be)
SELECT object AS granted_to_public FROM gr_catalog WHERE role = 'public' ORDER BY 1;
-- every SECURITY DEFINER function pins its search_path to pushplan, pg_temp
SELECT DISTINCT object AS definer_without_pinned_path FROM gr_catalog
WHERE prosecdef AND NOT ('search_path=pushplan, pg_temp' = ANY (proconfig)) ORDER BY 1;
SELECT count(DISTINCT object) AS definer_functions FROM gr_catalog WHERE prosecdef;
-- the group roles: cannot log in, and hold each other as doc/security.md says
SELECT rolname, rolcanlogin, rolinherit FROM pg_roles WHERE rolname LIKE 'pushplan\_%' ORDER BY 1;
SELECT g.rolname AS role, m.rolname AS member FROM pg_auth_members a
JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
WHERE g.rolname LIKE 'pushplan\_%' AND m.rolname LIKE 'pushplan\_%' ORDER BY 1, 2;
