-- push_location with 10 geofence flows (doc/benchmarks.md, "Geofences"): psql -X -f test/bench/geofence.sql
-- on an empty database of a server with pushplan and contrib earthdistance installed.
CREATE EXTENSION pushplan;
CREATE EXTENSION earthdistance CASCADE;
SET search_path = pushplan, public;
SELECT push_app_create('b');
SELECT push_device_register_batch('b', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'd' || g,
    'platform', 'android', 'vendor', 'fcm', 'token', 't' || g)) FROM generate_series(1, 10000) g));
-- 10 geofence flows, 200 m circles 1 km apart
SELECT push_flow_create('b', jsonb_build_object('name', 'g' || g, 'trigger', jsonb_build_object('geofence',
    jsonb_build_object('enter', jsonb_build_object('lat', 48.85 + g * 0.01, 'lon', 2.29, 'radius_m', 200))),
    'steps', '[{"wait": "1 hour"}]'::jsonb)) FROM generate_series(1, 10) g;
\timing on
-- 10,000 devices, each reports 2 locations (the second one inside one circle for 1 in 10)
SELECT sum(push_location('b', 'd' || g, 48.70, 2.29, '2026-01-01 00:00:00+00')) FROM generate_series(1, 10000) g;
SELECT sum(push_location('b', 'd' || g, CASE WHEN g % 10 = 0 THEN 48.86 ELSE 48.71 END, 2.29, '2026-01-01 00:01:00+00')) FROM generate_series(1, 10000) g;
-- without geofence flows (storing only)
SELECT push_flow_enable('b', flow_id, false) FROM push_flows;
SELECT sum(push_location('b', 'd' || g, 48.72, 2.29, '2026-01-01 00:02:00+00')) FROM generate_series(1, 10000) g;
