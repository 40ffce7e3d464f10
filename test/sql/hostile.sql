-- Hostile input, catalog-driven: every function a pushplan role may call (read from pg_proc, so
-- a new function fails this test until it has a base call below) is called with hostile values
-- in each argument, one argument at a time, the others kept valid:
--   text: empty, 1 MB, SQL-looking ('; DROP TABLE ...), format directives, control and
--         bidirectional characters, time zones that do not exist, paths;
--   jsonb: the whole value replaced (10,000 levels of arrays and of objects, 100,000 keys, every
--         JSON type, 1e300, a 1 MB string), every member of the valid value replaced the same
--         way, and an unknown (SQL-looking) key added to every object;
--   integers: negative, 0, their limits; numeric: NaN, infinities, 1e300; timestamps: infinity,
--         4713 BC, 294276 AD; arrays: empty, NULL elements, 100,000 elements, two dimensions,
--         a lower bound that is not 1; roles: the superuser, the workers' role, built-in roles;
--   bytea: empty, a NUL byte, invalid UTF-8; and NULL everywhere.
-- (Invalid UTF-8 cannot reach a text argument in a UTF-8 database: the text input and
-- convert_from both verify the encoding; only bytea arguments take raw bytes.)
-- Each call runs as a cluster-wide admin (pushplan_admin, not a superuser), in a subtransaction
-- that is rolled back. It must end in one of pushplan's documented errors ("9xxxx: ...") or in
-- one of PostgreSQL's own input errors listed in hx_allowed, or succeed; never an internal error,
-- a constraint violation, a crash. Calls that succeed are listed with the rows they wrote (in the
-- subtransaction): hostile values accepted as data, each read by a person.
-- It runs in a database of its own, so that the suites after it see none of its apps.
CREATE DATABASE regress_hostile;
\c regress_hostile
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

-- An app with one of everything, so that every base call below succeeds.
CREATE ROLE regress_hx_admin IN ROLE pushplan_admin;
-- SQL-looking values below would drop this table if any reached SQL as code.
CREATE TABLE public.hx_canary (x int);
CREATE ROLE regress_hx_bound;
CREATE ROLE regress_hx_other;
SELECT push_app_create('hx_a');
SELECT push_app_set('hx_a', '{"consent": {"marketing": "opt_in"}}');
-- (loopback endpoints: push_vendor_test sends for real, and a closed port answers at once)
SELECT push_vendor_set('hx_a', 'hms', '{"app_id": "1", "client_secret": "s",
    "endpoint": "https://127.0.0.1:1/x", "token_endpoint": "https://127.0.0.1:1/t"}');
SELECT push_device_register_batch('hx_a', '[{"registration_id": "d1", "platform": "android",
    "vendor": "hms", "token": "t1", "tags": ["vip"], "attrs": {"city": "sz"}}]');
SELECT push_account_bind('hx_a', 'd1', 'acct1');
SELECT push_plan_create('hx_a', 'p1'), push_plan_create('hx_a', 'p_empty');
SELECT push_app_grant('hx_a', 'regress_hx_bound', 'reader');
SELECT push_device_consent('hx_a', 'd1', 'marketing', true);
SELECT push_outcome_webhook_set('hx_a', '{"url": "https://127.0.0.1:1/o", "secret": "0123456789abcdef"}');
SELECT push_device_register('hx_a', 'gone', 'android', 'hms', 't-gone') > 0 AS registered,
       push_device_erase('hx_a', 'gone') -> 'counts' -> 'devices' AS erased;
CREATE TEMP TABLE hx_ids AS SELECT
    push_account_package_upload('hx_a', 'u.txt', convert_to(E'acct1\nacct2\n', 'UTF8')) AS upload_id,
    push_send('hx_a', '{"to": {"registration_id": ["d1"]}, "body": {"platform": "all",
        "notification": {"alert": "hi"}, "options": {"plan_id": "p1"}}}') AS task_id,
    push_schedule_create('hx_a', format('{"name": "s1", "trigger": {"single": {"time": "%s"}},
        "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}',
        to_char(now() + interval '30 days', 'YYYY-MM-DD HH24:MI:SS'))::jsonb) AS schedule_id,
    push_flow_create('hx_a', '{"name": "f1", "trigger": {"event": "cart_add"}, "steps": [{"wait": "1 hour"},
        {"send": {"body": {"platform": "all", "notification": {"alert": "x"}}}}], "exit": {"event": "purchase"}}') AS flow_id;
-- the application's views an admin allows for audiences: one allowed already, one not yet
CREATE SCHEMA hx_shop;
CREATE VIEW hx_shop.buyers AS SELECT 'd1'::text AS registration_id;
CREATE VIEW hx_shop.vips AS SELECT 'acct1'::text AS account, 0 AS account_type;
GRANT USAGE ON SCHEMA hx_shop TO pushplan_worker;
GRANT SELECT ON hx_shop.buyers, hx_shop.vips TO pushplan_worker;
-- (the callers too: an admin allows only a view it can read)
GRANT USAGE ON SCHEMA hx_shop TO PUBLIC;
GRANT SELECT ON hx_shop.buyers, hx_shop.vips TO PUBLIC;
SELECT push_audience_view_allow('hx_a', 'hx_shop.buyers');

-- One valid call per function: its arguments as text (@upload, @task, @schedule are the ids above).
CREATE TEMP TABLE hx_base (fn regprocedure PRIMARY KEY, args text[]);
INSERT INTO hx_base VALUES
 ('_visible_apps(text)', '{operator}'),
 ('canonical_timezone(text)', '{Asia/Shanghai}'),
 ('push_app_create(text,text)', '{hx_new,New}'),
 ('push_app_set(text,jsonb)', ARRAY['hx_a', '{"timezone": "Asia/Shanghai", "broadcast_daily_limit": 5, "broadcast_min_interval": "1 minute", "frequency_cap": {"per_day": 2, "per_week": 10}, "quiet_hours": {"from": "22:00", "to": "08:00"}, "consent": {"marketing": "opt_in"}}']),
 ('push_vendor_set(text,text,jsonb)', ARRAY['hx_a', 'hms', '{"app_id": "1", "client_secret": "s", "endpoint": "https://127.0.0.1:1/x"}']),
 ('push_app_grant(text,regrole,text)', '{hx_a,regress_hx_other,reader}'),
 ('push_app_revoke(text,regrole,text)', '{hx_a,regress_hx_bound,reader}'),
 ('push_device_register(text,text,text,text,text,text,text)', '{hx_a,d2,android,hms,t2,Asia/Shanghai,zh}'),
 ('push_device_register_batch(text,jsonb)', ARRAY['hx_a', '[{"registration_id": "d3", "platform": "ios", "vendor": "apns", "token": "t3", "timezone": "UTC", "language": "en", "tags": ["vip"], "attrs": {"city": "sz", "age": 30}}]']),
 ('push_device_unregister(text,text)', '{hx_a,d1}'),
 ('push_device_opt(text,text,boolean)', '{hx_a,d1,false}'),
 ('push_device_activity(text,text,timestamptz)', ARRAY['hx_a', 'd1', now()::text]),
 ('push_tag_add(text,text,text[])', ARRAY['hx_a', 'd1', '{new}']),
 ('push_tag_remove(text,text,text[])', ARRAY['hx_a', 'd1', '{vip}']),
 ('push_attr_set(text,text,jsonb)', ARRAY['hx_a', 'd1', '{"city": "bj", "age": 30}']),
 ('push_account_bind(text,text,text,integer)', '{hx_a,d1,acct2,0}'),
 ('push_account_unbind(text,text,text,integer)', '{hx_a,d1,acct1,0}'),
 ('push_plan_create(text,text,text)', '{hx_a,p2,description}'),
 ('push_plan_update(text,text,text)', '{hx_a,p1,edited}'),
 ('push_plan_delete(text,text)', '{hx_a,p_empty}'),
 ('push_plan_set(text,text,jsonb)', ARRAY['hx_a', 'p1', '{"frequency_cap": {"per_day": 1}, "quiet_hours": {"from": "22:00", "to": "08:00"}}']),
 ('push_audience_count(text,jsonb)', ARRAY['hx_a', '{"tag": ["vip"], "attr_and": {"city": "sz"}}']),
 ('push_audience_preview(text,jsonb,integer)', ARRAY['hx_a', '{"condition": {"and": [{"tag": "vip"}, {"not": {"account": "x"}}]}}', '10']),
 ('push_account_package_upload(text,text,bytea,integer)', ARRAY['hx_a', 'v.txt', '\x616c6963650a626f62', '0']),
 ('push_account_package_delete(text,bigint)', ARRAY['hx_a', (SELECT upload_id::text FROM hx_ids)]),
 ('push_vendor_test(text,text,text,jsonb,text,text)', ARRAY['hx_a', 'hms', 'tok', '{"body": {"platform": "all", "notification": {"alert": "x"}}}', 'android', 'en']),
 ('push_validate(jsonb)', ARRAY['{"to": "all", "body": {"platform": "all", "notification": {"alert": "hi"}}}']),
 ('push_send(text,jsonb)', ARRAY['hx_a', '{"to": {"registration_id": ["d1"]}, "body": {"platform": "all", "notification": {"alert": "hi {{attrs.city}}", "android": {"title": "t", "extras": {"k": "v"}}}, "options": {"plan_id": "p1", "time_to_live": 60}}}']),
 ('push_cancel(text,text)', ARRAY['hx_a', (SELECT task_id FROM hx_ids)]),
 ('push_schedule_create(text,jsonb)', ARRAY['hx_a', format('{"name": "s2", "enabled": true, "trigger": {"periodical": {"start": "%s", "end": "%s", "time": "09:00:00", "time_unit": "week", "frequency": 1, "point": ["MON"]}}, "push": {"to": {"tag": ["vip"]}, "body": {"platform": "all", "notification": {"alert": "x"}}}}', to_char(now() + interval '1 day', 'YYYY-MM-DD HH24:MI:SS'), to_char(now() + interval '60 days', 'YYYY-MM-DD HH24:MI:SS'))]),
 ('push_schedule_update(text,text,jsonb)', ARRAY['hx_a', (SELECT schedule_id FROM hx_ids), format('{"name": "s1b", "trigger": {"single": {"time": "%s"}}}', to_char(now() + interval '40 days', 'YYYY-MM-DD HH24:MI:SS'))]),
 ('push_schedule_enable(text,text,boolean)', ARRAY['hx_a', (SELECT schedule_id FROM hx_ids), 'false']),
 ('push_schedule_delete(text,text)', ARRAY['hx_a', (SELECT schedule_id FROM hx_ids)]),
 ('_message_type(jsonb)', ARRAY['{"body": {"notification": {"alert": "x"}}}']),
 ('_stats_period(timestamptz)', ARRAY[now()::text]),
 ('_rate(numeric,numeric)', '{1,2}'),
 ('_latency_quantile(smallint[],numeric[],numeric)', '{"{1,2}","{10,20}",0.5}'),
 ('_task_progress_distributed()', '{}'),
 ('push_event(text,text,text,text,timestamptz,numeric)', ARRAY['hx_a', 'd1', (SELECT task_id FROM hx_ids), 'convert', now()::text, '1.5']),
 ('push_event_batch(text,jsonb)', ARRAY['hx_a', (SELECT jsonb_build_array(jsonb_build_object('registration_id', 'd1', 'task_id', task_id, 'kind', 'open', 'at', now()))::text FROM hx_ids)]),
 ('push_plan_stats(text,text[],timestamptz,timestamptz,text,text)', ARRAY['hx_a', '{p1}', (now() - interval '1 day')::text, (now() + interval '1 day')::text, 'day', 'app']),
 ('push_outcome_webhook_set(text,jsonb)', ARRAY['hx_a', '{"url": "https://127.0.0.1:1/o", "secret": "0123456789abcdef"}']),
 ('push_trace(text,text,text)', ARRAY['hx_a', 'd1', (SELECT task_id FROM hx_ids)]),
 ('push_device_consent(text,text,text,boolean)', '{hx_a,d1,marketing,true}'),
 ('push_account_consent(text,text,integer,text,boolean)', '{hx_a,acct1,0,marketing,true}'),
 ('push_device_export(text,text)', '{hx_a,d1}'),
 ('push_account_export(text,text,integer)', '{hx_a,acct1,0}'),
 ('push_device_erase(text,text)', '{hx_a,d1}'),
 ('push_account_erase(text,text,integer)', '{hx_a,acct1,0}'),
 ('push_flow_create(text,jsonb)', ARRAY['hx_a', '{"name": "f2", "trigger": {"event": "signup", "where": {"source": {"in": ["ads"]}}}, "steps": [{"wait_until": {"event": "purchase", "timeout": "1 hour"}, "on_event": [{"exit": true}], "on_timeout": [{"send": {"body": {"platform": "all", "notification": {"alert": "hi"}}}}]}], "exit": {"event": "purchase"}, "reentry": "1 day"}']),
 ('push_flow_update(text,text,jsonb)', ARRAY['hx_a', (SELECT flow_id FROM hx_ids), '{"name": "f1", "trigger": {"event": "cart_add"}, "steps": [{"exit": true}]}']),
 ('push_flow_enable(text,text,boolean)', ARRAY['hx_a', (SELECT flow_id FROM hx_ids), 'false']),
 ('push_flow_delete(text,text)', ARRAY['hx_a', (SELECT flow_id FROM hx_ids)]),
 ('push_track(text,text,text,jsonb,timestamptz)', ARRAY['hx_a', 'd1', 'cart_add', '{"item": "x"}', now()::text]),
 ('push_track_account(text,text,integer,text,jsonb,timestamptz)', ARRAY['hx_a', 'acct1', '0', 'cart_add', '{"item": "x"}', now()::text]),
 ('push_track_batch(text,jsonb)', ARRAY['hx_a', '[{"registration_id": "d1", "event": "cart_add", "props": {"item": "x"}}]']),
 ('push_location(text,text,float8,float8,timestamptz)', ARRAY['hx_a', 'd1', '22.54', '114.06', now()::text]),
 ('push_audience_view_allow(text,regclass)', '{hx_a,hx_shop.vips}'),
 ('push_audience_view_revoke(text,regclass)', '{hx_a,hx_shop.buyers}');

-- Every function any pushplan role may execute has a base call, and every base call names one.
SELECT p.oid::regprocedure AS function_without_a_base_call
FROM pg_proc p
WHERE p.pronamespace = 'pushplan'::regnamespace
  AND EXISTS (SELECT 1 FROM aclexplode(p.proacl) a JOIN pg_roles r ON r.oid = a.grantee
              WHERE r.rolname IN ('pushplan_reader', 'pushplan_app', 'pushplan_operator',
                                  'pushplan_app_admin', 'pushplan_admin'))
  AND p.oid NOT IN (SELECT fn FROM hx_base)
  -- (called with a column list only, by the views on the distributed layout: tenancy.sql)
  AND p.oid <> '_layout_view_rows(name)'::regprocedure
ORDER BY 1;
SELECT fn AS base_call_of_no_callable_function FROM hx_base b
WHERE NOT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(p.proacl) a JOIN pg_roles r ON r.oid = a.grantee
                  WHERE p.oid = b.fn AND r.rolname LIKE 'pushplan\_%' AND r.rolname <> 'pushplan_worker');
SELECT count(*) AS callable_functions FROM hx_base;

-- Hostile values per type, by name; NULL is tried for every argument besides these.
CREATE TEMP TABLE hx_values (type regtype, label text, val text);
INSERT INTO hx_values VALUES
 ('text', 'empty', ''),
 ('text', '1 MB', repeat('x', 1048576)),
 ('text', 'sql quote', $q$'; DROP TABLE public.hx_canary; --$q$),
 ('text', 'sql dquote', $q$"; DROP TABLE public.hx_canary; --$q$),
 ('text', 'sql dollar', $q$$$; DROP TABLE public.hx_canary; $$ --$q$),
 ('text', 'format', '%s%n%x%1$s%I%L'),
 ('text', 'backslash', E'a\\b\\u0000\\x00'),
 ('text', 'control', E'\x1b[2J\r\n\t\x7f'),
 ('text', 'bidi', chr(8238) || 'gpj.exe' || chr(65279)),
 ('text', 'zone unknown', 'Mars/Olympus_Mons'),
 ('text', 'zone posix', 'UTC+99'),
 ('text', 'zone path', '../../../../etc/passwd'),
 ('text', 'zone abs', '/usr/share/zoneinfo/UTC'),
 ('text', 'latin1 as utf8', convert_from('\xc0afe9'::bytea, 'LATIN1')),
 ('jsonb', 'deep arrays', repeat('[', 10000) || repeat(']', 10000)),
 ('jsonb', 'deep objects', repeat('{"a": ', 10000) || '1' || repeat('}', 10000)),
 ('jsonb', '100k keys', (SELECT jsonb_object_agg('k' || g, g)::text FROM generate_series(1, 100000) g)),
 ('jsonb', '100k elements', (SELECT jsonb_agg(g)::text FROM generate_series(1, 100000) g)),
 ('jsonb', 'null', 'null'),
 ('jsonb', 'true', 'true'),
 ('jsonb', 'number', '-1'),
 ('jsonb', 'huge number', '1e300'),
 ('jsonb', 'fraction', '0.5'),
 ('jsonb', 'string', '"all"'),
 ('jsonb', 'sql string', to_jsonb($q$'; DROP TABLE public.hx_canary; --$q$::text)::text),
 ('jsonb', '1 MB string', to_jsonb(repeat('x', 1048576))::text),
 ('jsonb', 'empty array', '[]'),
 ('jsonb', 'empty object', '{}'),
 ('integer', 'negative', '-1'),
 ('integer', 'zero', '0'),
 ('integer', 'min', '-2147483648'),
 ('integer', 'max', '2147483647'),
 ('bigint', 'negative', '-1'),
 ('bigint', 'zero', '0'),
 ('bigint', 'min', '-9223372036854775808'),
 ('bigint', 'max', '9223372036854775807'),
 ('numeric', 'NaN', 'NaN'),
 ('numeric', 'infinity', 'Infinity'),
 ('numeric', '-infinity', '-Infinity'),
 ('numeric', 'negative', '-1'),
 ('numeric', 'huge', '1e300'),
 ('double precision', 'NaN', 'NaN'),
 ('double precision', 'infinity', 'Infinity'),
 ('double precision', '-infinity', '-Infinity'),
 ('double precision', 'huge', '1e308'),
 ('double precision', 'tiny', '-1e-308'),
 ('regclass', 'catalog table', 'pg_catalog.pg_authid'),
 ('regclass', 'catalog view', 'pg_catalog.pg_stat_activity'),
 ('regclass', 'pushplan view', 'pushplan.push_devices'),
 ('regclass', 'pushplan table', 'pushplan.devices'),
 ('timestamptz', 'infinity', 'infinity'),
 ('timestamptz', '-infinity', '-infinity'),
 ('timestamptz', 'earliest', '4714-11-24 00:00:00+00 BC'),
 ('timestamptz', 'latest', '294276-12-31 23:59:59+00'),
 ('text[]', 'empty', '{}'),
 ('text[]', 'null element', '{NULL}'),
 ('text[]', 'sql element', ARRAY[$q$'; DROP TABLE public.hx_canary; --$q$::text]::text),
 ('text[]', '100k elements', (SELECT array_agg('e' || g)::text FROM generate_series(1, 100000) g)),
 ('text[]', 'two dimensions', '{{a,b},{c,d}}'),
 ('text[]', 'lower bound 5', '[5:6]={vip,new}'),
 ('text[]', '1 MB element', ARRAY[repeat('x', 1048576)]::text),
 ('smallint[]', 'empty', '{}'),
 ('smallint[]', 'extremes', '{-32768,32767}'),
 ('smallint[]', 'two dimensions', '{{1,2},{3,4}}'),
 ('numeric[]', 'empty', '{}'),
 ('numeric[]', 'NaN', '{NaN,-1}'),
 ('numeric[]', 'null element', '{NULL,NULL}'),
 ('regrole', 'superuser', (SELECT rolname FROM pg_roles WHERE oid = 10)),
 ('regrole', 'workers', 'pushplan_worker'),
 ('regrole', 'group', 'pushplan_admin'),
 ('regrole', 'builtin', 'pg_read_server_files'),
 ('regrole', 'database owner', 'pg_database_owner'),
 ('bytea', 'empty', ''),
 ('bytea', 'nul', '\x00'),
 ('bytea', 'invalid utf8', '\xff41c0af0a'),
 ('bytea', 'utf16', '\xfffe61006200'),
 ('bytea', 'zip magic', '\x504b0304');

-- The cases: each argument given each hostile value of its type and NULL; each member of a
-- jsonb argument given each hostile jsonb value; an unknown key added to each of its objects.
CREATE TEMP TABLE hx_cases (id serial, fn regprocedure, argno int, path text[], label text, args text[]);
CREATE FUNCTION pg_temp.hx_paths(j jsonb, p text[] DEFAULT '{}') RETURNS SETOF text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT p || k FROM jsonb_each(CASE jsonb_typeof(j) WHEN 'object' THEN j END) e(k, v)
    UNION ALL SELECT pg_temp.hx_paths(v, p || k) FROM jsonb_each(CASE jsonb_typeof(j) WHEN 'object' THEN j END) e(k, v)
    UNION ALL SELECT p || (i - 1)::text FROM jsonb_array_elements(CASE jsonb_typeof(j) WHEN 'array' THEN j END) WITH ORDINALITY a(v, i)
    UNION ALL SELECT pg_temp.hx_paths(v, p || (i - 1)::text) FROM jsonb_array_elements(CASE jsonb_typeof(j) WHEN 'array' THEN j END) WITH ORDINALITY a(v, i)
$$;
INSERT INTO hx_cases (fn, argno, path, label, args)
SELECT b.fn, n, NULL, t::text || ' ' || coalesce(v.label, 'NULL'), b.args
FROM hx_base b, pg_proc p, unnest(p.proargtypes::regtype[]) WITH ORDINALITY a(t, n)
LEFT JOIN LATERAL (SELECT label FROM hx_values v WHERE v.type = a.t UNION ALL SELECT NULL) v ON true
WHERE p.oid = b.fn;
INSERT INTO hx_cases (fn, argno, path, label, args)
SELECT b.fn, n, path, 'member ' || v.label, b.args
FROM hx_base b, pg_proc p, unnest(p.proargtypes::regtype[]) WITH ORDINALITY a(t, n),
     pg_temp.hx_paths(b.args[n]::jsonb) path, hx_values v
WHERE p.oid = b.fn AND a.t = 'jsonb'::regtype AND v.type = 'jsonb'::regtype;
INSERT INTO hx_cases (fn, argno, path, label, args)
SELECT b.fn, n, path, 'unknown key', b.args
FROM hx_base b, pg_proc p, unnest(p.proargtypes::regtype[]) WITH ORDINALITY a(t, n),
     LATERAL (SELECT '{}'::text[] UNION ALL SELECT x FROM pg_temp.hx_paths(b.args[n]::jsonb) x) path(path)
WHERE p.oid = b.fn AND a.t = 'jsonb'::regtype
  AND jsonb_typeof(CASE WHEN path = '{}' THEN b.args[n]::jsonb ELSE b.args[n]::jsonb #> path END) = 'object';
SELECT count(*) > 2000 AS many_cases FROM hx_cases;

-- Rows of every pushplan table (partitions included), as one value to compare.
CREATE FUNCTION pg_temp.hx_rows() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t regclass;
    n bigint;
    out jsonb := '{}';
BEGIN
    FOR t IN SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'pushplan'::regnamespace
             AND c.relkind = 'r' ORDER BY c.relname LOOP
        EXECUTE format('SELECT count(*) FROM %s', t) INTO n;
        IF n > 0 THEN out := out || jsonb_build_object(t::text, n); END IF;
    END LOOP;
    RETURN out;
END $$;

-- One case: the call as regress_hx_admin, rolled back; 'ok' and what it wrote, or the error.
CREATE TEMP TABLE hx_results (id int, outcome text, sqlstate text, message text, wrote text);
CREATE FUNCTION pg_temp.hx_run(c hx_cases, before jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    args text[] := c.args;
    hostile text;
    call text;
    after jsonb;
    wrote text;
    v_state text;
    v_msg text;
BEGIN
    IF c.label = 'base' THEN
        NULL;
    ELSIF c.label NOT IN ('unknown key') AND c.label NOT LIKE 'member %' THEN
        SELECT v.val INTO hostile FROM hx_values v, pg_proc p
        WHERE p.oid = c.fn AND v.type = (p.proargtypes::regtype[])[c.argno - 1]
          AND c.label = v.type::text || ' ' || v.label;
        args[c.argno] := hostile;     -- NULL when the label is "<type> NULL"
    ELSIF c.label = 'unknown key' THEN
        args[c.argno] := CASE WHEN c.path = '{}'
            THEN args[c.argno]::jsonb || jsonb_build_object($q$'; DROP TABLE public.hx_canary; --$q$, 1)
            ELSE jsonb_set(args[c.argno]::jsonb, c.path, (args[c.argno]::jsonb #> c.path)
                           || jsonb_build_object($q$'; DROP TABLE public.hx_canary; --$q$, 1)) END;
    ELSE
        SELECT v.val INTO hostile FROM hx_values v
        WHERE v.type = 'jsonb'::regtype AND c.label = 'member ' || v.label;
        args[c.argno] := jsonb_set(args[c.argno]::jsonb, c.path, hostile::jsonb);
    END IF;
    SELECT format('SELECT %s.%I(%s)', 'pushplan', p.proname,
                  string_agg(format('%s$1[%s]::%s', CASE WHEN p.provariadic <> 0 AND n = p.pronargs
                                                         THEN 'VARIADIC ' END, n, t), ', ' ORDER BY n)
                  FILTER (WHERE n IS NOT NULL))
    -- (LEFT JOIN: a function without arguments is called too)
    INTO call FROM pg_proc p LEFT JOIN unnest(p.proargtypes::regtype[]) WITH ORDINALITY a(t, n) ON true
    WHERE p.oid = c.fn GROUP BY p.proname, p.provariadic, p.pronargs;
    BEGIN
        SET LOCAL ROLE regress_hx_admin;
        EXECUTE call USING args;
        RESET ROLE;
        after := pg_temp.hx_rows();
        SELECT string_agg(format('%s %s', coalesce(a.key, b.key),
                                 coalesce(a.value::bigint, 0) - coalesce(b.value::bigint, 0)), ', ' ORDER BY coalesce(a.key, b.key))
        INTO wrote FROM jsonb_each_text(after) a FULL JOIN jsonb_each_text(before) b USING (key)
        WHERE a.value IS DISTINCT FROM b.value;
        RAISE EXCEPTION 'undo' USING ERRCODE = 'ZZ999';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        IF v_state = 'ZZ999' THEN
            INSERT INTO hx_results VALUES (c.id, 'ok', NULL, NULL, wrote);
        ELSE
            INSERT INTO hx_results VALUES (c.id, 'error', v_state, left(v_msg, 300), NULL);
        END IF;
    END;
END $$;

-- The base calls first: each must succeed, or the hostile cases test nothing.
INSERT INTO hx_cases (fn, argno, path, label, args) SELECT fn, 0, NULL, 'base', args FROM hx_base;
SELECT count(pg_temp.hx_run(c, pg_temp.hx_rows())) AS base_calls FROM hx_cases c WHERE label = 'base';
SELECT c.fn, r.outcome, r.sqlstate, r.message FROM hx_results r JOIN hx_cases c USING (id)
WHERE c.label = 'base' AND r.outcome <> 'ok' ORDER BY 1;

-- The hostile cases.
CREATE TEMP TABLE hx_before AS SELECT pg_temp.hx_rows() AS rows;
SELECT count(pg_temp.hx_run(c, b.rows)) > 2000 AS hostile_calls
FROM hx_cases c, hx_before b WHERE c.label <> 'base';

-- PostgreSQL's own errors a hostile value may end in (input it refuses before or while pushplan
-- reads it): anything else without a pushplan code is a bug to fix, and so is any XX (internal).
CREATE TEMP TABLE hx_allowed (sqlstate text PRIMARY KEY, what text);
INSERT INTO hx_allowed VALUES
 ('22P02', 'invalid text representation (an argument''s own type input)'),
 ('22003', 'numeric value out of range'),
 ('22008', 'datetime field overflow'),
 ('42704', 'undefined object (a regrole that names no role)'),
 ('54000', 'program limit exceeded'),
 ('54001', 'statement too complex (stack depth)');
-- (pushplan's own messages start with their code; push_event_batch's with the event's place)
SELECT c.fn, c.argno, c.label, array_to_string(c.path, '.') AS member, r.sqlstate, left(r.message, 200) AS message
FROM hx_results r JOIN hx_cases c USING (id)
WHERE r.outcome = 'error'
  AND (r.sqlstate LIKE 'XX%'
       OR (r.message !~ '^(events\[[0-9]+\]: )?9[0-9]{4}: '
           AND r.sqlstate NOT IN (SELECT sqlstate FROM hx_allowed)))
ORDER BY c.id;

-- Per function: the cases, refused with pushplan's codes, refused by PostgreSQL's input, and
-- accepted (NULL arguments of a STRICT function, or values that are valid data).
SELECT c.fn, count(*) AS cases,
       count(*) FILTER (WHERE r.message ~ '^(events\[[0-9]+\]: )?9[0-9]{4}: ') AS pushplan_errors,
       count(*) FILTER (WHERE r.outcome = 'error' AND r.message !~ '^(events\[[0-9]+\]: )?9[0-9]{4}: ') AS input_errors,
       count(*) FILTER (WHERE r.outcome = 'ok') AS accepted
FROM hx_cases c JOIN hx_results r USING (id) WHERE c.label <> 'base'
GROUP BY c.fn ORDER BY c.fn::text;

-- Accepted hostile values that write, per function and argument (NULLs left out): each is data
-- the function is meant to take (an account may read "'; DROP TABLE ..."), read by a person.
SELECT c.fn, c.argno,
       string_agg(DISTINCT c.label || coalesce(' @' || nullif(array_to_string(c.path, '.'), ''), ''), '; ') AS accepted
FROM hx_cases c JOIN hx_results r USING (id)
WHERE c.label NOT IN ('base') AND c.label NOT LIKE '% NULL' AND r.outcome = 'ok' AND r.wrote IS NOT NULL
GROUP BY c.fn, c.argno ORDER BY c.fn::text, c.argno;

-- No value ran as SQL: the canary stands, and nothing was left behind by any case.
SELECT to_regclass('public.hx_canary') IS NOT NULL AS canary_stands;
SELECT pg_temp.hx_rows() = (SELECT rows FROM hx_before) AS nothing_written;

-- Tenant isolation, catalog-driven: every base call above, made by each kind of role bound to
-- another app (hx_b) against hx_a, is refused as if hx_a did not exist (92001) or by the
-- function's own grant (permission denied); functions without an app argument are listed apart.
-- Every view with an app column shows none of hx_a's rows to them.
SELECT push_app_create('hx_b');
DO $$
DECLARE
    k text;
BEGIN
    FOREACH k IN ARRAY ARRAY['admin', 'operator', 'app', 'reader'] LOOP
        EXECUTE format('CREATE ROLE %I', 'regress_hx_b_' || k);
        PERFORM push_app_grant('hx_b', ('regress_hx_b_' || k)::regrole, k);
    END LOOP;
END $$;
CREATE FUNCTION pg_temp.hx_as(who text, fn regprocedure, args text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    call text;
    v_state text;
    v_msg text;
BEGIN
    SELECT format('SELECT %s.%I(%s)', 'pushplan', p.proname,
                  string_agg(format('%s$1[%s]::%s', CASE WHEN p.provariadic <> 0 AND n = p.pronargs
                                                         THEN 'VARIADIC ' END, n, t), ', ' ORDER BY n)
                  FILTER (WHERE n IS NOT NULL))
    -- (LEFT JOIN: a function without arguments is called too)
    INTO call FROM pg_proc p LEFT JOIN unnest(p.proargtypes::regtype[]) WITH ORDINALITY a(t, n) ON true
    WHERE p.oid = fn GROUP BY p.proname, p.provariadic, p.pronargs;
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', who);
        EXECUTE call USING args;
        RAISE EXCEPTION 'undo' USING ERRCODE = 'ZZ999';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        RETURN CASE WHEN v_state = 'ZZ999' THEN 'ok'
                    WHEN v_msg LIKE 'permission denied for %' THEN 'fn'
                    ELSE coalesce(substring(v_msg FROM '^(9[0-9]{4}):'), v_state || ' ' || v_msg) END;
    END;
END $$;
CREATE TEMP TABLE hx_cross AS
SELECT b.fn, k.kind, pg_temp.hx_as('regress_hx_b_' || k.kind, b.fn, b.args) AS cell,
       (SELECT p.pronargs > 0 AND p.proargnames[1] = 'app' FROM pg_proc p WHERE p.oid = b.fn) AS takes_app
FROM hx_base b, unnest(ARRAY['admin', 'operator', 'app', 'reader']) k(kind);
-- every function that takes an app: no cell reached hx_a
SELECT fn, kind, cell FROM hx_cross WHERE takes_app AND cell NOT IN ('92001', 'fn') ORDER BY 1, 2;
SELECT count(DISTINCT fn) AS functions_taking_an_app, count(*) FILTER (WHERE cell = '92001') AS refused_as_unknown,
       count(*) FILTER (WHERE cell = 'fn') AS refused_by_grant
FROM hx_cross WHERE takes_app;
-- the others take no app (helpers of the views, time zones, validation): what each role gets
SELECT fn, string_agg(kind || ' ' || cell, ', ' ORDER BY kind) AS cells FROM hx_cross
WHERE NOT takes_app GROUP BY fn ORDER BY fn::text;
-- every view with an app column, as every role of hx_b: no row of hx_a
CREATE FUNCTION pg_temp.hx_view_rows(who text, v regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', who);
    EXECUTE format('SELECT count(*) FROM %s WHERE app = %L', v, 'hx_a') INTO n;
    RESET ROLE;
    RETURN n::text;
EXCEPTION WHEN insufficient_privilege THEN
    RETURN 'fn';
END $$;
-- (the cluster admin's count shows that hx_a has rows there to hide)
SELECT c.relname AS view, pg_temp.hx_view_rows('regress_hx_admin', c.oid) AS cluster_admin_sees,
       string_agg(k.kind || ' ' || pg_temp.hx_view_rows('regress_hx_b_' || k.kind, c.oid), ', ' ORDER BY k.kind) AS hx_b_roles_see
FROM pg_class c, unnest(ARRAY['admin', 'operator', 'app', 'reader']) k(kind)
WHERE c.relnamespace = 'pushplan'::regnamespace AND c.relkind = 'v' AND c.relacl IS NOT NULL
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'app')
GROUP BY c.relname, c.oid ORDER BY 1;
-- ... and views without an app column, which would escape the check above
SELECT c.relname AS view_without_app_column FROM pg_class c
WHERE c.relnamespace = 'pushplan'::regnamespace AND c.relkind = 'v' AND c.relacl IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'app')
  AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) x JOIN pg_roles r ON r.oid = x.grantee WHERE r.rolname LIKE 'pushplan\_%');

-- The app role sends transactional pushes only: a loop (Tencent Push's loop_param makes a
-- schedule) needs operator rights; a short list at a later send_time is still a transactional push.
SET ROLE regress_hx_b_app;
SELECT push_device_register('hx_b', 'b1', 'android', 'hms', 'tb1') > 0 AS registered;
SELECT push_send('hx_b', '{"audience_type": "token_list", "token_list": ["tb1"], "message_type": "notify",
    "message": {"title": "t", "content": "c"}, "loop_param": {"startDate": "2090-01-10",
    "endDate": "2090-01-20", "loopType": 1, "loopDayIndexs": [1], "dayTimes": ["10:00:00"]}}');
SELECT push_send('hx_b', format('{"audience_type": "token_list", "token_list": ["tb1"], "message_type": "notify",
    "message": {"title": "t", "content": "c"}, "send_time": "%s"}',
    to_char(now() + interval '1 day', 'YYYY-MM-DD HH24:MI:SS'))::jsonb) LIKE 'tsk\_%' AS scheduled_transactional;
RESET ROLE;
SELECT count(*) AS schedules_of_hx_b FROM schedules s JOIN apps a USING (app_id) WHERE a.app = 'hx_b';

-- The bugs this sweep found, each with its exact message now (doc/errors.md, 92940-92943).
-- _visible_apps with a kind it does not know was an internal error (XX000) quoting the whole value
SELECT _visible_apps(E'\x1b[2J' || repeat('k', 200));
-- binding pg_database_owner was an internal error from GRANT; other predefined roles were bound,
-- which gave every login holding pg_monitor or pg_read_server_files the app's rights
SELECT push_app_grant('hx_a', 'pg_database_owner', 'reader');
SELECT push_app_grant('hx_a', 'pg_read_server_files', 'operator');
SELECT count(*) AS predefined_bindings FROM app_grants g JOIN pg_roles r ON r.oid = g.role
WHERE r.rolname LIKE 'pg\_%';
-- an app's display name was stored at any length, terminal escapes included
SELECT push_app_create('hx_long', repeat('n', 201));
SELECT push_app_create('hx_esc', E'Shop\x1b[2J');
SELECT push_app_create('hx_c1', 'Shop' || chr(133));
SELECT push_app_create('hx_ok', repeat('名', 200)), push_app_create('hx_null');
SELECT app, char_length(name) FROM apps WHERE app LIKE 'hx\_%' ORDER BY 1;
-- a token with CR LF or an escape was stored and sent as it was
SELECT push_device_register('hx_a', 'd9', 'android', 'hms', E'tok\r\nX-Injected: 1');
SELECT push_device_register_batch('hx_a', '[{"registration_id": "d9", "platform": "ios", "vendor": "apns", "token": "t\u001b[2J"}]');
SELECT push_device_register('hx_a', 'd9', 'android', 'hms', 'tok' || chr(155));
SELECT push_device_register('hx_a', 'd9', 'web', 'webhook', E'tok\t9');
SELECT count(*) AS d9 FROM devices WHERE registration_id = 'd9';
-- ... and push_vendor_test sent such a token as it was given (the engine now fails it unsent,
-- as it does a token stored before the rule)
SELECT push_vendor_test('hx_a', 'hms', E'tok\r\nX-Injected: 1', '{"body": {"platform": "all", "notification": {"alert": "x"}}}');

\c contrib_regression
DROP DATABASE regress_hostile;
DROP ROLE regress_hx_admin, regress_hx_bound, regress_hx_other,
    regress_hx_b_admin, regress_hx_b_operator, regress_hx_b_app, regress_hx_b_reader;
