-- Flow definitions under random mutation (doc/reliability.md, "Fuzzing and sanitizers"): flows
-- are checked and compiled in SQL (sql/api/89_flows.sql), out of the C fuzz targets' reach, so
-- this drives push_flow_create with 3000 definitions made from valid ones by one to three
-- random mutations each (a member replaced by a hostile value or by another part of the same
-- definition, removed, renamed to a SQL-looking key, wrapped in an array, an array repeated),
-- with a fixed seed. Each call is rolled back. What must hold: no internal error, every refusal
-- has a pushplan code or is PostgreSQL's own refusal of a value (the hostile sweep's list,
-- test/sql/hostile.sql), nothing planted runs.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

CREATE TABLE public.fz_canary (x int);
SELECT push_app_create('fz_app');
SELECT push_plan_create('fz_app', 'recovery', 'cart recovery');

CREATE TEMP TABLE fz_base (def jsonb);
INSERT INTO fz_base VALUES
 ('{"name": "cart_abandoned", "enabled": true, "plan_id": "recovery", "trigger": {"event": "cart_add"},
    "steps": [{"wait_until": {"event": "purchase", "timeout": "1 hour"}, "on_event": [{"exit": true}],
               "on_timeout": [{"id": "reminder", "send": {"body": {"platform": "all",
                   "notification": {"alert": "{{attrs.first_name | default: \"Hi\"}}, your cart is waiting"}}}}]}],
    "exit": {"event": "purchase"}, "reentry": "1 day"}'),
 ('{"name": "welcome", "trigger": {"event": "signup", "where": {"source": {"in": ["ads", "organic"]}}, "idempotency_key": "signup_id"},
    "reentry": "0", "max_concurrent": 2,
    "steps": [{"id": "hello", "send": {"body": {"platform": "all", "notification": {"alert": "Welcome"}}}},
              {"wait": "1 day"},
              {"branch": [{"if": {"and": [{"attr": {"level": "gold"}}, {"not": {"event": "purchase"}}]}, "then": [{"set": {"tags_add": ["gold_nudge"]}}]},
                          {"if": {"or": [{"tag": "vip"}, {"trigger": {"source": "ads"}}]}, "then": [{"set": {"attrs": {"welcomed": true}, "tags_remove": ["vip"]}}, {"exit": true}]}],
               "else": []},
              {"wait": {"until": "09:00"}},
              {"id": "tips", "send": {"body": {"platform": "all", "notification": {"alert": "Tips"}, "options": {"plan_id": "recovery"}}}}]}'),
 ('{"name": "f2", "trigger": {"event": "signup", "where": {"source": {"in": ["ads"]}}},
    "steps": [{"wait_until": {"event": "purchase", "timeout": "1 hour"}, "on_event": [{"exit": true}],
               "on_timeout": [{"send": {"body": {"platform": "all", "notification": {"alert": "hi"}}}}]}],
    "exit": {"event": "purchase"}, "reentry": "1 day"}');

CREATE TEMP TABLE fz_values (val jsonb);
INSERT INTO fz_values VALUES
 ('null'), ('true'), ('0'), ('-1'), ('2147483648'), ('9223372036854775808'), ('1e308'), ('-1.5'),
 ('""'), ('" "'), ('"é中"'), ($q$"'; DROP TABLE public.fz_canary; --"$q$), ('{}'), ('[]'),
 ((repeat('[', 50) || repeat(']', 50))::jsonb), ('"1 hour"'), ('"-1 day"'), ('"9999999 years"'),
 ('"P1D"'), ('"25:61"'), ('"09:00"'), ('"Mars/Olympus"'), ('{"event": "x"}'), ('[{"exit": true}]'),
 ('[{"wait": "1 hour"}]'), ('"{{attrs.x"'), ('{"attr": {"level": "gold"}}'),
 (to_jsonb(repeat('x', 10000))),
 ((SELECT jsonb_agg('{"wait": "1 minute"}'::jsonb) FROM generate_series(1, 300)));

CREATE FUNCTION pg_temp.fz_paths(j jsonb, p text[] DEFAULT '{}') RETURNS SETOF text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT p || k FROM jsonb_each(CASE jsonb_typeof(j) WHEN 'object' THEN j END) e(k, v)
    UNION ALL SELECT pg_temp.fz_paths(v, p || k) FROM jsonb_each(CASE jsonb_typeof(j) WHEN 'object' THEN j END) e(k, v)
    UNION ALL SELECT p || (i - 1)::text FROM jsonb_array_elements(CASE jsonb_typeof(j) WHEN 'array' THEN j END) WITH ORDINALITY a(v, i)
    UNION ALL SELECT pg_temp.fz_paths(v, p || (i - 1)::text) FROM jsonb_array_elements(CASE jsonb_typeof(j) WHEN 'array' THEN j END) WITH ORDINALITY a(v, i)
$$;

CREATE FUNCTION pg_temp.fz_mutate(j jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    paths text[][];
    path text[];
    parent jsonb;
    v jsonb;
    n int;
BEGIN
    FOR k IN 1 .. 1 + floor(random() * 3)::int LOOP
        SELECT array_agg(p ORDER BY p::text) INTO paths FROM (SELECT array_to_string(x, chr(1)) AS p FROM pg_temp.fz_paths(j) x) s;
        IF paths IS NULL THEN RETURN j; END IF;
        path := string_to_array(paths[1 + floor(random() * array_length(paths, 1))::int], chr(1));
        v := j #> path;
        CASE floor(random() * 6)::int
            WHEN 0 THEN
                SELECT val INTO v FROM fz_values ORDER BY random() LIMIT 1;
                j := jsonb_set(j, path, v);
            WHEN 1 THEN
                j := j #- path;
            WHEN 2 THEN
                parent := j #> path[1:array_length(path, 1) - 1];
                IF jsonb_typeof(parent) = 'object' THEN
                    j := jsonb_set(j #- path, path[1:array_length(path, 1) - 1],
                                   (parent - path[array_length(path, 1)])
                                   || jsonb_build_object($q$'; DROP TABLE public.fz_canary; --$q$, v));
                END IF;
            WHEN 3 THEN
                j := jsonb_set(j, path, jsonb_build_array(v));
            WHEN 4 THEN
                IF jsonb_typeof(v) = 'array' THEN
                    n := 2 + floor(random() * 20)::int;
                    j := jsonb_set(j, path, (SELECT jsonb_agg(e) FROM generate_series(1, n), jsonb_array_elements(v) e));
                ELSE
                    j := jsonb_set(j, path, jsonb_build_array(v, v));
                END IF;
            ELSE
                j := jsonb_set(j, path, j #> string_to_array(paths[1 + floor(random() * array_length(paths, 1))::int], chr(1)));
        END CASE;
    END LOOP;
    RETURN j;
END $$;

CREATE TEMP TABLE fz_results (id int, outcome text, sqlstate text, message text, def jsonb);
CREATE FUNCTION pg_temp.fz_run(id int, def jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_msg text;
BEGIN
    BEGIN
        PERFORM pushplan.push_flow_create('fz_app', def);
        RAISE EXCEPTION 'undo' USING ERRCODE = 'ZZ999';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        INSERT INTO fz_results VALUES (id, CASE WHEN v_state = 'ZZ999' THEN 'ok' ELSE 'error' END,
                                       nullif(v_state, 'ZZ999'), left(nullif(v_msg, 'undo'), 300), def);
    END;
END $$;

-- the base definitions are valid, or the mutations test nothing
SELECT setseed(0.15);
SELECT count(pg_temp.fz_run(0, def)) AS base_definitions FROM fz_base;
SELECT outcome, sqlstate, message FROM fz_results WHERE outcome <> 'ok';
TRUNCATE fz_results;

SELECT count(pg_temp.fz_run(i, pg_temp.fz_mutate(b.def))) AS mutated_definitions
FROM generate_series(1, 3000) i, LATERAL (SELECT def FROM fz_base ORDER BY random() + i * 0 LIMIT 1) b;

-- both outcomes occur (the mutations are neither all fatal nor all harmless)
SELECT count(*) FILTER (WHERE outcome = 'ok') > 50 AS some_accepted,
       count(*) FILTER (WHERE outcome = 'error') > 1000 AS most_refused,
       count(DISTINCT message) FILTER (WHERE outcome = 'error') > 20 AS many_distinct_refusals
FROM fz_results;
-- no internal error, no refusal without a code besides PostgreSQL's own refusals of a value
SELECT id, sqlstate, message, def FROM fz_results
WHERE outcome = 'error'
  AND (sqlstate LIKE 'XX%'
       OR (message !~ '^9[0-9]{4}: '
           AND sqlstate NOT IN ('22P02', '22003', '22008', '54000', '54001')))
ORDER BY id;
-- nothing planted ran, nothing stayed
SELECT to_regclass('public.fz_canary') IS NOT NULL AS canary_alive;
SELECT count(*) AS flows_left FROM push_flows WHERE app = 'fz_app';
DROP TABLE public.fz_canary;
