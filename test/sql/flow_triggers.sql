-- Flow triggers other than events (doc/flows.md, "Triggers"): their definitions and every error
-- with its exact message; attr_change entered in the writer's transaction (push_attr_set,
-- registration and its batch form; rolled back: nothing); inactive, date_attr and
-- audience_enter evaluated by _flow_triggers_run, called here as the scheduler calls it (no
-- workers serve this database; the workers and the mock vendor are
-- test/integration/flow_triggers.sh), with the test clock; the entry rules of _flow_enter_set.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT _clock_set(greatest(clock_now(), '2090-03-01 00:00:00+00')) IS NOT NULL AS clock_moved;
-- the test's own times start from the clock's day, whatever an earlier test left it at
CREATE TEMP TABLE test_start AS SELECT date_trunc('day', clock_now()) + interval '1 day' AS t0;
SELECT t0 FROM test_start \gset
CREATE FUNCTION pg_temp.at(offs text) RETURNS timestamptz LANGUAGE sql AS
    $$ SELECT t0 + offs::interval FROM test_start $$;
CREATE FUNCTION pg_temp.m(at timestamptz) RETURNS text LANGUAGE sql AS
    $$ SELECT to_char(at - t0, 'DD"d" HH24:MI') FROM test_start $$;
-- every flow that is due evaluated, as the scheduler's loop does
CREATE FUNCTION pg_temp.evaluate() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint := 0; r bigint;
BEGIN
    LOOP
        r := pushplan._flow_triggers_run();
        EXIT WHEN r IS NULL;
        n := n + r;
    END LOOP;
    RETURN n;
END $$;
-- (PL/pgSQL: on the distributed layout Citus plans no SQL function with parameters over the
-- devices)
CREATE FUNCTION pg_temp.runs(p_flow text) RETURNS TABLE (registration_id text, state text, props jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT d.registration_id, i.state, i.trigger_props FROM pushplan.flow_instances i
    JOIN pushplan.devices d USING (device_id) WHERE i.flow_id = p_flow
    ORDER BY d.registration_id, i.instance_id;
END $$;

SELECT push_app_create('trig_app');
SELECT push_app_set('trig_app', '{"timezone": "Asia/Shanghai"}');
SELECT push_device_register_batch('trig_app', '[
  {"registration_id": "ann", "platform": "android", "vendor": "fcm", "token": "a", "timezone": "Asia/Shanghai", "attrs": {"plan": "free"}},
  {"registration_id": "bob", "platform": "android", "vendor": "fcm", "token": "b", "timezone": "Europe/Berlin", "attrs": {"plan": "free"}},
  {"registration_id": "cat", "platform": "ios", "vendor": "apns", "token": "c"}]');
-- registered at the test's start (registration is stamped with the real time; the clock is ahead)
UPDATE devices SET created_at = :'t0'
    WHERE app_id = (SELECT app_id FROM apps WHERE app = 'trig_app');

-- ---- errors ---------------------------------------------------------------------------------------

SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"inactive": "7 days"}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"inactive": {"event": "app_open"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"inactive": {"event": "app_open", "for": "7 days", "since": "x"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"inactive": {"event": "app open", "for": "7 days"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"inactive": {"event": "app_open", "for": "30 minutes"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"inactive": {"event": "app_open", "for": "1 month"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"inactive": {"event": "app_open", "for": 7}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"inactive": {"event": "app_open", "for": "7 days"}, "where": {"a": 1}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"attr_change": {"attr": "plan", "idempotency_key": "x"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"attr_change": {"from": "free"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"attr_change": {"attr": "plan", "to": ["pro"]}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"attr_change": {"attr": "plan", "to": "pro", "then": "x"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"attr_change": {"attr": "plan", "from": "pro", "to": "pro"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"attr_change": {"attr": ""}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"date_attr": "birthday"}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"date_attr": {"attr": "birthday", "at": "09:00", "anniversary": "yes"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"date_attr": {"attr": "birthday", "at": "09:00", "every": "year"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"date_attr": {"attr": "birthday"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"date_attr": {"attr": "birthday", "at": "9:00"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"date_attr": {"attr": "birthday", "at": "24:00"}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"audience_enter": {"tag": ["vip"]}, "include_current": "yes"}, "steps": [{"exit": true}]}');
-- an audience push_send would refuse: push_send's own error
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"audience_enter": {"tag": []}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"audience_enter": "everyone"}, "steps": [{"exit": true}]}');
-- include_current belongs to audience_enter alone; an event trigger with it is unknown
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"date_attr": {"attr": "birthday", "at": "09:00"}, "include_current": true}, "steps": [{"exit": true}]}');
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"event": "signup", "include_current": true}, "steps": [{"exit": true}]}');
-- a geofence says whether it is entered or left (93092)
SELECT push_flow_create('trig_app', '{"name": "e", "trigger": {"geofence": {"lat": 22.54, "lon": 114.06, "radius_m": 300}}, "steps": [{"exit": true}]}');
-- nothing was written
SELECT count(*) AS flows FROM push_flows WHERE app = 'trig_app';

-- ---- definitions --------------------------------------------------------------------------------

SELECT push_flow_create('trig_app', '{"name": "upgraded", "reentry": "0",
  "trigger": {"attr_change": {"attr": "plan", "from": "free", "to": "pro"}},
  "steps": [{"wait": "1 hour"}, {"send": {"body": {"platform": "all", "notification": {"alert": "Welcome to Pro"}}}}]}') AS upgraded \gset
SELECT push_flow_create('trig_app', '{"name": "level_any",
  "trigger": {"attr_change": {"attr": "level"}}, "steps": [{"exit": true}]}') AS level_any \gset
SELECT push_flow_create('trig_app', '{"name": "winback", "reentry": "0",
  "trigger": {"inactive": {"event": "app_open", "for": "7 days"}},
  "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "We miss you"}}}}]}') AS winback \gset
SELECT push_flow_create('trig_app', '{"name": "birthday",
  "trigger": {"date_attr": {"attr": "birthday", "at": "09:00", "anniversary": true}}, "reentry": "0",
  "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "Happy birthday"}}}}]}') AS birthday \gset
SELECT push_flow_create('trig_app', '{"name": "trial_end",
  "trigger": {"date_attr": {"attr": "trial_end", "at": "10:00"}},
  "steps": [{"exit": true}]}') AS trial_end \gset
SELECT push_flow_create('trig_app', '{"name": "vip_welcome", "reentry": "0",
  "trigger": {"audience_enter": {"tag": ["vip"]}}, "steps": [{"exit": true}]}') AS vip \gset
SELECT push_flow_create('trig_app', '{"name": "gold_now", "enabled": false,
  "trigger": {"audience_enter": {"attr_and": {"level": "gold"}}, "include_current": true}, "steps": [{"exit": true}]}') AS gold \gset
SELECT f.name, v.trigger_kind, v.trigger_event, v.trigger_spec
FROM push_flows f JOIN flow_versions v ON v.flow_id = f.flow_id AND v.version = f.version
WHERE f.app = 'trig_app' ORDER BY f.name;

-- ---- attr_change: in the writer's transaction -----------------------------------------------------

-- not from free: nothing; from free to pro: entered, with what changed in trigger_props
SELECT push_attr_set('trig_app', 'cat', '{"plan": "pro"}');
SELECT push_attr_set('trig_app', 'ann', '{"plan": "pro"}');
SELECT * FROM pg_temp.runs(:'upgraded');
-- the same value again is no change; back to free and to pro again: re-entry "0" allows it,
-- but ann's first instance still runs (max_concurrent 1)
SELECT push_attr_set('trig_app', 'ann', '{"plan": "pro"}');
SELECT push_attr_set('trig_app', 'ann', '{"plan": "free"}');
SELECT push_attr_set('trig_app', 'ann', '{"plan": "pro"}');
SELECT count(*) AS ann_instances FROM pg_temp.runs(:'upgraded') WHERE registration_id = 'ann';
-- a rolled-back change enters nobody
BEGIN;
SELECT push_attr_set('trig_app', 'bob', '{"plan": "pro"}');
SELECT count(*) AS bob_inside FROM pg_temp.runs(:'upgraded') WHERE registration_id = 'bob';
ROLLBACK;
SELECT count(*) AS bob_after_rollback FROM pg_temp.runs(:'upgraded') WHERE registration_id = 'bob';
-- registration writes attributes too (push_device_register_batch; push_device_register takes
-- none): bob changes, cat does not; a new device's attribute changes from none (level_any has
-- no "from")
SELECT push_device_register_batch('trig_app', '[
  {"registration_id": "bob", "platform": "android", "vendor": "fcm", "token": "b", "timezone": "Europe/Berlin", "attrs": {"plan": "pro", "level": "silver"}},
  {"registration_id": "cat", "platform": "ios", "vendor": "apns", "token": "c", "attrs": {"plan": "pro"}},
  {"registration_id": "dan", "platform": "android", "vendor": "fcm", "token": "d", "attrs": {"level": "gold"}},
  {"registration_id": "eve", "platform": "android", "vendor": "fcm", "token": "e", "attrs": {"level": "bronze"}}]');
SELECT * FROM pg_temp.runs(:'upgraded');
SELECT * FROM pg_temp.runs(:'level_any');
-- re-entry never: a second change of dan's level enters nobody; removing it is a change to none
SELECT push_attr_set('trig_app', 'dan', '{"level": "platinum"}');
SELECT push_attr_set('trig_app', 'eve', '{"level": null}');
SELECT registration_id, props FROM pg_temp.runs(:'level_any');
-- a disabled flow: nobody enters
SELECT push_flow_enable('trig_app', :'level_any', false);
SELECT push_attr_set('trig_app', 'bob', '{"level": "gold"}');
SELECT count(*) AS level_any_instances FROM pg_temp.runs(:'level_any');
UPDATE devices SET created_at = :'t0'
    WHERE app_id = (SELECT app_id FROM apps WHERE app = 'trig_app');

-- ---- inactive ----------------------------------------------------------------------------------

-- ann opens the app on day 2, bob on day 3 and day 5; cat, dan and eve never do
SELECT _clock_set(pg_temp.at('2 days')) IS NOT NULL AS day2;
SELECT push_track('trig_app', 'ann', 'app_open');
SELECT push_track('trig_app', 'bob', 'page_view');
SELECT _clock_set(pg_temp.at('3 days')) IS NOT NULL AS day3;
SELECT push_track('trig_app', 'bob', 'app_open');
SELECT _clock_set(pg_temp.at('5 days')) IS NOT NULL AS day5;
SELECT push_track('trig_app', 'bob', 'app_open');
-- the birthday, trial and audience flows are looked at below
SELECT push_flow_enable('trig_app', f, false) FROM unnest(ARRAY[:'birthday', :'trial_end', :'vip']) f;
-- day 7, 00:10: the first evaluation; 7 days since registration for cat, dan and eve
SELECT _clock_set(pg_temp.at('7 days 10 minutes')) IS NOT NULL AS day7;
SELECT pg_temp.evaluate() AS entered;
SELECT registration_id, state, pg_temp.m((props->>'inactive_since')::timestamptz) AS since
FROM pg_temp.runs(:'winback') ORDER BY 1;
-- not due again before 15 minutes
SELECT pg_temp.evaluate() AS entered_again;
SELECT pg_temp.m(next_at) AS next_at, users FROM flow_trigger_evals WHERE flow_id = :'winback';
-- day 9, 00:20: ann (last app_open on day 2) crossed at day 9 00:00; bob's day 5 is recent
SELECT _clock_set(pg_temp.at('9 days 20 minutes')) IS NOT NULL AS day9;
SELECT pg_temp.evaluate() AS entered;
SELECT registration_id, pg_temp.m((props->>'inactive_since')::timestamptz) AS since
FROM pg_temp.runs(:'winback') ORDER BY 1;
-- the instances run their send and end; then ann comes back on day 10 and leaves again: her
-- new period (from day 10) enters her once more on day 17
SELECT _flow_advance(1000) AS advanced;
SELECT _clock_set(pg_temp.at('10 days')) IS NOT NULL AS day10;
SELECT push_track('trig_app', 'ann', 'app_open');
SELECT _clock_set(pg_temp.at('12 days 1 hour')) IS NOT NULL AS day12;
SELECT pg_temp.evaluate() AS entered_bob;
SELECT _clock_set(pg_temp.at('17 days 1 hour')) IS NOT NULL AS day17;
SELECT pg_temp.evaluate() AS entered_ann;
SELECT registration_id, state, pg_temp.m((props->>'inactive_since')::timestamptz) AS since
FROM pg_temp.runs(:'winback') ORDER BY 1, 3;
-- each period once: evaluating a new version from the start enters nobody again
SELECT push_flow_update('trig_app', :'winback', '{"name": "winback", "reentry": "0",
  "trigger": {"inactive": {"event": "app_open", "for": "7 days"}},
  "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "We miss you"}}}}]}');
SELECT _flow_advance(1000) AS advanced;
SELECT pg_temp.evaluate() AS entered_by_new_version;
SELECT push_flow_enable('trig_app', :'winback', false);

-- ---- date_attr ---------------------------------------------------------------------------------

-- birthdays on day 20 of the test's month, at 09:00 local: ann in Shanghai (UTC+8, 01:00 UTC),
-- bob in Berlin (08:00 UTC), cat in UTC, which reads as the app's zone (Shanghai); dan's is
-- not a date; eve's is a time (its date counts); trial_end: one date, not every year
SELECT to_char(pg_temp.at('19 days'), 'MM-DD') AS md \gset
SELECT push_attr_set('trig_app', 'ann', jsonb_build_object('birthday', '1990-' || :'md'));
SELECT push_attr_set('trig_app', 'bob', jsonb_build_object('birthday', '1985-' || :'md'));
SELECT push_attr_set('trig_app', 'cat', jsonb_build_object('birthday', '2001-' || :'md'));
SELECT push_attr_set('trig_app', 'dan', '{"birthday": "1990-02-30"}');
SELECT push_attr_set('trig_app', 'eve', jsonb_build_object('birthday', '1999-' || :'md' || 'T23:59:00Z',
                                                          'trial_end', to_char(pg_temp.at('19 days'), 'YYYY-MM-DD')));
SELECT push_flow_enable('trig_app', f, true) FROM unnest(ARRAY[:'birthday', :'trial_end']) f;
-- the day before at 23:00 UTC (07:00 in Shanghai): nobody yet
SELECT _clock_set(pg_temp.at('18 days 23 hours')) IS NOT NULL AS eve_of;
SELECT pg_temp.evaluate() AS entered;
-- 01:02 UTC: 09:02 in Shanghai: ann, cat (the app's zone), eve
SELECT _clock_set(pg_temp.at('19 days 1 hour 2 minutes')) IS NOT NULL AS shanghai_morning;
SELECT pg_temp.evaluate() AS entered;
SELECT registration_id, props->>'occurrence' = to_char(pg_temp.at('19 days'), 'YYYY-MM-DD') AS today
FROM pg_temp.runs(:'birthday') ORDER BY 1;
-- 02:05 UTC: 10:05 in Shanghai, eve's trial ends (her zone is UTC: the app's, Shanghai)
SELECT _clock_set(pg_temp.at('19 days 2 hours 5 minutes')) IS NOT NULL AS ten_in_shanghai;
SELECT pg_temp.evaluate() AS entered;
SELECT registration_id FROM pg_temp.runs(:'trial_end');
-- 08:03 UTC: 09:03 in Berlin: bob; nobody twice
SELECT _clock_set(pg_temp.at('19 days 8 hours 3 minutes')) IS NOT NULL AS berlin_morning;
SELECT pg_temp.evaluate() AS entered;
SELECT _clock_set(pg_temp.at('19 days 9 hours')) IS NOT NULL AS later;
SELECT pg_temp.evaluate() AS entered;
SELECT registration_id FROM pg_temp.runs(:'birthday') ORDER BY 1;
SELECT push_flow_enable('trig_app', f, false) FROM unnest(ARRAY[:'birthday', :'trial_end']) f;
-- 29 February is on the 28th in other years
SELECT _flow_date_value('"2000-02-29"') AS leap, _flow_date_value('"1990-02-29"') AS not_leap,
       _flow_date_value('"1990-13-01"') AS month13, _flow_date_value('"0000-01-01"') AS year0,
       _flow_date_value('"1990-01-31T10:00:00+08:00"') AS with_time, _flow_date_value('19900131') AS number;

-- ---- audience_enter -------------------------------------------------------------------------------

-- the first evaluation takes the audience as it is (no tag yet: nobody) and enters nobody
SELECT push_flow_enable('trig_app', :'vip', true);
SELECT _clock_set(pg_temp.at('20 days')) IS NOT NULL AS day20;
SELECT push_tag_add('trig_app', 'ann', 'vip');
SELECT pg_temp.evaluate() AS entered_first;
SELECT push_tag_add('trig_app', 'bob', 'vip');
SELECT _clock_set(pg_temp.at('20 days 1 minute 30 seconds')) IS NOT NULL AS plus1m;
SELECT pg_temp.evaluate() AS entered;
SELECT registration_id FROM pg_temp.runs(:'vip');
-- bob leaves and comes back: he enters again (re-entry "0", his first instance ended)
SELECT _flow_advance(1000) AS advanced;
SELECT push_tag_remove('trig_app', 'bob', 'vip');
SELECT _clock_set(pg_temp.at('20 days 3 minutes')) IS NOT NULL AS plus3m;
SELECT pg_temp.evaluate() AS entered;
SELECT d.registration_id FROM flow_audience_members m JOIN devices d USING (device_id) WHERE m.flow_id = :'vip';
SELECT push_tag_add('trig_app', 'bob', 'vip');
SELECT _clock_set(pg_temp.at('20 days 4 minutes 30 seconds')) IS NOT NULL AS plus4m;
SELECT pg_temp.evaluate() AS entered;
SELECT registration_id, state FROM pg_temp.runs(:'vip');
-- include_current: the members at the first evaluation enter (bob was set to gold; dan is
-- platinum now)
SELECT push_flow_enable('trig_app', :'gold', true);
SELECT pg_temp.evaluate() AS entered;
SELECT registration_id FROM pg_temp.runs(:'gold') ORDER BY 1;
SELECT push_flow_enable('trig_app', f, false) FROM unnest(ARRAY[:'vip', :'gold']) f;

-- ---- _flow_enter_set: the entry rules, as _flow_enter applies them -----------------------------

SELECT push_flow_create('trig_app', '{"name": "rules", "reentry": "1 day", "max_concurrent": 2, "enabled": false,
  "trigger": {"attr_change": {"attr": "x"}}, "steps": [{"wait": "1 hour"}]}') AS rules \gset
SELECT device_id AS ann_id FROM devices WHERE registration_id = 'ann' \gset
-- the same device twice in one set: once; an idempotency key taken: nobody
SELECT _flow_enter_set(:'rules', 1, ARRAY[:ann_id, :ann_id]::bigint[], ARRAY['{}', '{}']::jsonb[], ARRAY['k1', 'k2']) AS first;
SELECT _flow_enter_set(:'rules', 1, ARRAY[:ann_id]::bigint[], ARRAY['{}']::jsonb[], ARRAY['k1']) AS same_key;
-- re-entry after 1 day: not before
SELECT _flow_enter_set(:'rules', 1, ARRAY[:ann_id]::bigint[], ARRAY['{}']::jsonb[], ARRAY['k3']) AS too_soon;
SELECT _clock_set(pg_temp.at('21 days 10 minutes')) IS NOT NULL AS next_day;
SELECT _flow_enter_set(:'rules', 1, ARRAY[:ann_id]::bigint[], ARRAY['{}']::jsonb[], ARRAY['k4']) AS next_day;
-- two running: max_concurrent 2 refuses a third
SELECT _clock_set(pg_temp.at('22 days 20 minutes')) IS NOT NULL AS day22;
SELECT _flow_enter_set(:'rules', 1, ARRAY[:ann_id]::bigint[], ARRAY['{}']::jsonb[], ARRAY['k5']) AS third;
SELECT count(*) AS running FROM flow_instances WHERE flow_id = :'rules' AND state = 'waiting';
-- one device many times in a set: decided once (65 entries of two devices: two enter;
-- re-entry never: nobody the second time)
SELECT push_flow_create('trig_app', '{"name": "rules2", "enabled": false,
  "trigger": {"attr_change": {"attr": "x"}}, "steps": [{"wait": "1 hour"}]}') AS rules2 \gset
SELECT device_id AS bob_id FROM devices WHERE registration_id = 'bob' \gset
SELECT _flow_enter_set(:'rules2', 1, array_fill(:ann_id, ARRAY[64])::bigint[] || :bob_id::bigint,
                       array_fill('{}'::jsonb, ARRAY[65]), array_fill(NULL::text, ARRAY[65])) AS big_set;
SELECT _flow_enter_set(:'rules2', 1, array_fill(:ann_id, ARRAY[64])::bigint[] || :bob_id::bigint,
                       array_fill('{}'::jsonb, ARRAY[65]), array_fill(NULL::text, ARRAY[65])) AS big_set_again;

-- ---- what the worker may call ---------------------------------------------------------------------
SELECT has_function_privilege('pushplan_worker', '_flow_triggers_run()', 'EXECUTE') AS run,
       has_function_privilege('pushplan_worker', '_flow_triggers_next_due()', 'EXECUTE') AS next_due;
-- erasing a device forgets its audience memberships
SELECT push_tag_add('trig_app', 'dan', 'vip');
SELECT push_flow_enable('trig_app', :'vip', true);
SELECT _clock_set(pg_temp.at('22 days 30 minutes')) IS NOT NULL AS later;
SELECT pg_temp.evaluate() AS entered;
SELECT count(*) AS members FROM flow_audience_members WHERE flow_id = :'vip';
SELECT push_device_erase('trig_app', 'dan') IS NOT NULL AS erased;
SELECT count(*) AS members_after_erasure FROM flow_audience_members WHERE flow_id = :'vip';
-- an evaluation that fails (here an audience made invalid behind the API's back) is rolled
-- back, its error kept, and tried again a period later over the same window
UPDATE flow_versions SET trigger_spec = jsonb_set(trigger_spec, '{audience}', '"everyone"') WHERE flow_id = :'vip';
SELECT push_tag_add('trig_app', 'eve', 'vip');
SELECT _clock_set(pg_temp.at('22 days 32 minutes')) IS NOT NULL AS later;
SELECT evaluated_at AS before_failure FROM flow_trigger_evals WHERE flow_id = :'vip' \gset
SELECT pg_temp.evaluate() AS entered;
SELECT error, evaluated_at = :'before_failure' AS window_kept, next_at > clock_now() AS postponed
FROM flow_trigger_evals WHERE flow_id = :'vip';
SELECT pg_temp.evaluate() AS not_due;
UPDATE flow_versions SET trigger_spec = jsonb_set(trigger_spec, '{audience}', '{"tag": ["vip"]}') WHERE flow_id = :'vip';
SELECT _clock_set(pg_temp.at('22 days 34 minutes')) IS NOT NULL AS later;
SELECT pg_temp.evaluate() AS entered_eve;
SELECT error FROM flow_trigger_evals WHERE flow_id = :'vip';
SELECT push_flow_delete('trig_app', f) FROM unnest(ARRAY[:'upgraded', :'level_any', :'winback', :'birthday', :'trial_end', :'vip', :'gold', :'rules', :'rules2']) f;
SELECT count(*) AS evals_left FROM flow_trigger_evals;
-- the app's events gone (flows.sql counts every event), and the clock back to the real time:
-- the tests after this one set it from there
DELETE FROM tracked_events WHERE app_id = (SELECT app_id FROM apps WHERE app = 'trig_app');
SELECT _clock_set(NULL) IS NOT NULL AS clock_reset;
