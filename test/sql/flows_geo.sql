-- Flows' webhook steps and geofence triggers (doc/flows.md, "webhook", "geofence"): every
-- error with its message, a webhook step's task and delivery (to an account, to an attribute,
-- no address), push_location (stored, the last 10, late reports), entering on a crossing into
-- or out of a circle, earthdistance missing, dropped, or in a schema of its own beside planted
-- functions, and erasure and export of locations. _flow_advance is called as the scheduler
-- calls it; the workers and the mock vendor are test/integration/flows_geo.sh.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT _clock_set('2091-01-01 00:00:00+00') IS NOT NULL AS clock_moved;
SELECT push_app_create('geo_app'), push_app_create('geo_nohook');
SELECT push_plan_create('geo_app', 'nearby', 'store visits');
SELECT push_device_register_batch(a, '[
  {"registration_id": "g1", "platform": "android", "vendor": "fcm", "token": "a", "attrs": {"email": "ann@example.com"}},
  {"registration_id": "g2", "platform": "ios", "vendor": "apns", "token": "b"},
  {"registration_id": "g3", "platform": "android", "vendor": "fcm", "token": "c"}]')
FROM unnest(ARRAY['geo_app', 'geo_nohook']) a;
SELECT push_account_bind('geo_app', 'g2', 'acct-7', 0);
SELECT push_vendor_set('geo_app', 'webhook', '{"url": "https://127.0.0.1:1/hook", "secret": "s3cret"}');

-- ---- webhook steps ---------------------------------------------------------------------------

SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"webhook": "hi"}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"webhook": {"alert": "hi"}}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"webhook": {"to": "phone", "alert": "hi"}}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"webhook": {"to": {"attr": 5}, "alert": "hi"}}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"webhook": {"to": "account"}}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"webhook": {"to": "account", "alert": "hi", "url": "https://x"}}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"webhook": {"to": "account", "alert": "hi", "extras": [1]}}]}');
-- no webhook channel configured
SELECT push_flow_create('geo_nohook', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"webhook": {"to": "account", "alert": "hi"}}]}');
-- push_send's own checks: a template it refuses, a plan that does not exist
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"event": "x"}, "steps": [{"webhook": {"to": "account", "alert": "{{nope.x}}"}}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "plan_id": "nope", "trigger": {"event": "x"}, "steps": [{"webhook": {"to": "account", "alert": "hi"}}]}');

SELECT push_flow_create('geo_app', '{"name": "mail_me", "plan_id": "nearby", "trigger": {"event": "signup"},
  "steps": [{"id": "mail", "webhook": {"to": {"attr": "email"}, "title": "Welcome", "alert": "Hello {{attrs.email}}",
             "extras": {"template": "welcome"}}},
            {"id": "sms", "webhook": {"to": "account", "alert": "Your code"}}]}') AS mail \gset
SELECT step_id, kind, next_step, spec->'to' AS to, spec #> '{push,body,notification}' AS notification,
       spec #>> '{push,body,options,plan_id}' AS plan
FROM flow_steps WHERE flow_id = :'mail' ORDER BY step_id;

-- g1 has an e-mail and no account; g2 an account and no e-mail; an account user (acct-7: g2)
SELECT push_track('geo_app', 'g1', 'signup'), push_track('geo_app', 'g2', 'signup'),
       push_track_account('geo_app', 'acct-7', 0, 'signup');
SELECT _flow_advance(1000) AS advanced;
SELECT coalesce(d.registration_id, i.account) AS user, r.step_id, r.task_id IS NOT NULL AS task, r.detail
FROM flow_step_runs r JOIN flow_instances i USING (instance_id) LEFT JOIN devices d ON d.device_id = i.device_id
WHERE i.flow_id = :'mail' ORDER BY 1, 2;
-- each message: a task of the flow's step, expanded at once into one webhook delivery to the address
SELECT t.flow_step, t.state, t.expanded, t.targeted, t.plan_id, v.registration_id, d.vendor, d.platform, d.status,
       d.fallback->'to' AS address, d.fallback->>'step' AS step, (d.fallback->>'instance_id')::bigint = t.flow_instance AS same_instance,
       EXISTS (SELECT 1 FROM delivery_queue q WHERE q.delivery_id = d.delivery_id AND q.device_id = d.device_id) AS queued
FROM tasks t JOIN deliveries d USING (task_id) JOIN devices v ON v.device_id = d.device_id
WHERE t.flow_id = :'mail' ORDER BY t.flow_step, v.registration_id, 10;
SELECT count(*) AS pushes_to_devices FROM deliveries d JOIN tasks t USING (task_id)
WHERE t.flow_id = :'mail' AND d.vendor <> 'webhook';
SELECT user_id, state, step, exit_reason FROM (
    SELECT coalesce(registration_id, account) AS user_id, state, step, exit_reason FROM push_flow_runs
    WHERE flow_id = :'mail') x ORDER BY 1;
-- an exit cancels the messages not sent yet, as it cancels pushes
SELECT push_flow_create('geo_app', '{"name": "mail_later", "trigger": {"event": "signup2"}, "exit": {"event": "unsub"},
  "steps": [{"webhook": {"to": {"attr": "email"}, "alert": "later"}}, {"wait": "1 hour"}]}') AS later \gset
SELECT push_track('geo_app', 'g1', 'signup2');
SELECT _flow_advance(1000) AS advanced;
SELECT push_track('geo_app', 'g1', 'unsub');
SELECT t.state, d.status FROM tasks t JOIN deliveries d USING (task_id) WHERE t.flow_id = :'later';

-- ---- locations --------------------------------------------------------------------------------

SELECT push_location('geo_app', 'g1', 91, 0);
SELECT push_location('geo_app', 'g1', -90.5, 0);
SELECT push_location('geo_app', 'g1', 0, 180.01);
SELECT push_location('geo_app', 'g1', 'NaN', 0);
SELECT push_location('geo_app', 'g1', NULL, 0);
SELECT push_location('geo_app', 'g1', 0, 0, NULL);
SELECT push_location('geo_app', 'g1', 0, 0, 'infinity');
SELECT push_location('geo_app', 'nobody', 0, 0);
-- without geofence flows, locations are stored whether earthdistance is there or not
SELECT count(*) AS earthdistance FROM pg_extension WHERE extname = 'earthdistance';
SELECT push_location('geo_app', 'g3', 10, 20, '2091-01-01 00:00:00+00');
SELECT push_location('geo_app', 'g3', 10, 20, '2091-01-01 00:00:00+00');     -- the same time again: one row
SELECT at, lat, lon FROM device_locations WHERE device_id = (SELECT device_id FROM devices d JOIN apps a USING (app_id)
    WHERE a.app = 'geo_app' AND d.registration_id = 'g3');

-- ---- geofence triggers ------------------------------------------------------------------------

-- earthdistance missing
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"geofence": {"enter": {"lat": 48.8584, "lon": 2.2945, "radius_m": 200}}}, "steps": [{"exit": true}]}');
-- in a schema of its own (cube with it), with objects planted in public that a search path
-- starting there would find
CREATE SCHEMA geo;
CREATE EXTENSION earthdistance SCHEMA geo CASCADE;
SELECT e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname IN ('cube', 'earthdistance') ORDER BY 1;
CREATE FUNCTION public.earth() RETURNS float8 LANGUAGE sql AS 'SELECT 1::float8';
CREATE FUNCTION public.ll_to_earth(float8, float8) RETURNS float8 LANGUAGE sql AS 'SELECT 0::float8';
CREATE FUNCTION public.earth_distance(float8, float8) RETURNS float8 LANGUAGE sql AS 'SELECT 0::float8';

SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"geofence": {"lat": 22.54, "lon": 114.06, "radius_m": 300}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"geofence": {"enter": {"lat": 22.54, "lon": 114.06, "radius_m": 300}, "exit": {"lat": 22.54, "lon": 114.06, "radius_m": 300}}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"geofence": {"enter": {"lat": "22.54", "lon": 114.06, "radius_m": 300}}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"geofence": {"enter": {"lat": 22.54, "lon": 114.06}}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"geofence": {"enter": {"lat": 22.54, "lon": 114.06, "radius_m": 300, "z": 1}}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"geofence": {"enter": {"lat": 22.54, "lon": 114.06, "radius_m": 300}}, "where": {"a": 1}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"geofence": {"enter": {"lat": 95, "lon": 114.06, "radius_m": 300}}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"geofence": {"enter": {"lat": 22.54, "lon": 114.06, "radius_m": 5}}}, "steps": [{"exit": true}]}');
SELECT push_flow_create('geo_app', '{"name": "f", "trigger": {"geofence": {"enter": {"lat": 22.54, "lon": 114.06, "radius_m": 100001}}}, "steps": [{"exit": true}]}');

-- a store (the Eiffel Tower, 200 m around it): entering sends a push; leaving another flow's
-- circle starts it; re-entry after a day
SELECT push_flow_create('geo_app', '{"name": "near_store", "plan_id": "nearby", "reentry": "1 day",
  "trigger": {"geofence": {"enter": {"lat": 48.8584, "lon": 2.2945, "radius_m": 200}}},
  "steps": [{"id": "hello", "send": {"body": {"platform": "all", "notification": {"alert": "You are near our store"}}}}]}') AS near \gset
SELECT push_flow_create('geo_app', '{"name": "left_store", "trigger": {"geofence": {"exit": {"lat": 48.8584, "lon": 2.2945, "radius_m": 200}}},
  "steps": [{"wait": "1 hour"}]}') AS left \gset
SELECT name, trigger_event, definition->'trigger' AS trigger FROM push_flows WHERE app = 'geo_app' AND trigger_event = '$geofence' ORDER BY 1;
SELECT trigger_where FROM flow_versions WHERE flow_id = :'near';
-- an event cannot start a geofence flow: its trigger name is none push_track accepts
SELECT push_track('geo_app', 'g1', '$geofence');

SET search_path = public, pushplan;            -- the planted functions first in the caller's path
-- 400 m north: outside (a first location outside enters nothing)
SELECT push_location('geo_app', 'g1', 48.8620, 2.2945, '2091-01-01 10:00:00+00') AS entered;
-- 178 m north: inside, crossing in
SELECT push_location('geo_app', 'g1', 48.8600, 2.2945, '2091-01-01 10:01:00+00') AS entered;
-- still inside: no crossing
SELECT push_location('geo_app', 'g1', 48.8590, 2.2945, '2091-01-01 10:02:00+00') AS entered;
-- a late report from outside, older than the last: kept, crosses nothing
SELECT push_location('geo_app', 'g1', 48.9000, 2.2945, '2091-01-01 09:00:00+00') AS entered;
-- out (left_store starts), and in again within the day (re-entry: not yet)
SELECT push_location('geo_app', 'g1', 48.8700, 2.2945, '2091-01-01 10:03:00+00') AS entered;
SELECT push_location('geo_app', 'g1', 48.8585, 2.2946, '2091-01-01 10:04:00+00') AS entered;
SET search_path = pushplan, public;
-- a device whose first location is inside enters
SELECT push_location('geo_app', 'g3', 48.8584, 2.2945, '2091-01-01 11:00:00+00') AS entered;
-- the other app's device at the same spot: the flows are geo_app's
SELECT push_location('geo_nohook', 'g1', 48.8584, 2.2945) AS entered;

SELECT flow, registration_id, state, step, exit_reason FROM push_flow_runs
WHERE flow_id IN (:'near', :'left') ORDER BY flow, registration_id, entered_at;
SELECT i.trigger_props - 'at' AS props, i.trigger_props->>'at' AS at FROM flow_instances i
WHERE i.flow_id = :'near' ORDER BY i.instance_id;
SELECT _flow_advance(1000) AS advanced;
SELECT t.flow_step, t.plan_id, t.push->'to' AS audience FROM tasks t WHERE t.flow_id = :'near' ORDER BY 3::text;
-- in push_location's transaction: rolled back, nothing entered and nothing stored
BEGIN;
SELECT push_location('geo_app', 'g2', 48.8584, 2.2945, '2091-01-01 12:00:00+00') AS entered;
ROLLBACK;
SELECT count(*) AS g2_runs FROM push_flow_runs WHERE registration_id = 'g2' AND flow_id = :'near';
SELECT count(*) AS g2_locations FROM device_locations l JOIN devices d USING (device_id) WHERE d.registration_id = 'g2';

-- the last 10 locations of a device are kept
SELECT count(*) FROM (SELECT push_location('geo_app', 'g2', 10 + n / 100.0, 20, '2091-01-02 00:00:00+00'::timestamptz + n * interval '1 minute')
                      FROM generate_series(1, 15) n) x;
SELECT count(*) AS kept, min(at) AS oldest FROM device_locations l JOIN devices d USING (device_id)
WHERE d.registration_id = 'g2' AND d.app_id = (SELECT app_id FROM apps WHERE app = 'geo_app');

-- export shows them; erasure removes them
SELECT jsonb_array_length(push_device_export('geo_app', 'g2')->'device'->'locations') AS exported;
SELECT (SELECT jsonb_agg(l - 'reported_at') FROM jsonb_array_elements(push_device_export('geo_app', 'g3')->'device'->'locations') l) AS g3_locations;
SELECT d.device_id AS g2 FROM devices d JOIN apps a USING (app_id) WHERE a.app = 'geo_app' AND d.registration_id = 'g2' \gset
SELECT (push_device_erase('geo_app', 'g2')->'counts'->>'device_locations')::int AS erased_locations;
SELECT count(*) AS g2_locations FROM device_locations WHERE device_id = :g2;

-- earthdistance dropped under geofence flows: a clear error, nothing stored
DROP FUNCTION public.earth(), public.ll_to_earth(float8, float8), public.earth_distance(float8, float8);
DROP EXTENSION earthdistance;
SELECT push_location('geo_app', 'g1', 48.8584, 2.2945, '2091-01-01 13:00:00+00');
DROP EXTENSION cube;
DROP SCHEMA geo;
SELECT push_flow_delete('geo_app', :'near'), push_flow_delete('geo_app', :'left');
SELECT push_location('geo_app', 'g1', 48.8584, 2.2945, '2091-01-01 13:00:00+00') AS entered;

SELECT _clock_set(NULL) IS NOT NULL AS clock_back;
