-- The distributed layout's single-node side (doc/scale-out.md): push_distribute without Citus,
-- and the device keys the distributed registry uses (test/citus/ runs the rest on Citus).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

-- a single node: no layout row, ids from the sequence
SELECT _registry_distributed() AS distributed, count(*) AS layout_rows FROM cluster_layout;
SELECT push_distribute();
SELECT _registry_distributed() AS still_single;
-- only a superuser may distribute: no role of pushplan's has the right
SELECT r AS role, has_function_privilege(r, 'pushplan.push_distribute()', 'EXECUTE') AS may
  FROM unnest(ARRAY['pushplan_admin', 'pushplan_app_admin', 'pushplan_worker']) r ORDER BY r;
-- a node to be added to a distributed install is prepared on it, with Citus there (superuser)
SELECT push_node_prepare();
SELECT r AS role, has_function_privilege(r, 'pushplan.push_node_prepare()', 'EXECUTE') AS may
  FROM unnest(ARRAY['pushplan_admin', 'pushplan_app_admin', 'pushplan_worker']) r ORDER BY r;

-- The keys are PostgreSQL's stable 64-bit hash of the registration id, seeded with the app id,
-- without the sign bit: a change of these values would renumber every distributed registry.
SELECT _device_key(1, 'a1') AS a1, _device_key(2, 'a1') AS a1_other_app,
       _device_key(1, 'regId_userA') AS user_a, _device_key(1, '') AS empty;
SELECT bool_and(_device_key(app, 'r' || i) >= 0) AS never_negative,
       count(DISTINCT _device_key(app, 'r' || i)) AS distinct_keys
  FROM generate_series(1, 3) app, generate_series(1, 10000) i;
SELECT _device_key(NULL, 'a1') IS NULL AS strict_app, _device_key(1, NULL) IS NULL AS strict_id;

-- registration on a single node is unchanged: ids from the sequence, re-registration keeps it
SELECT push_app_create('dist_app');
SELECT push_device_register('dist_app', 'd1', 'android', 'fcm', 'fcm-d1') =
       push_device_register('dist_app', 'd1', 'android', 'fcm', 'fcm-d1b') AS same_id;
SELECT (SELECT device_id FROM devices WHERE registration_id = 'd1') <> _device_key(
         (SELECT app_id FROM apps WHERE app = 'dist_app'), 'd1') AS sequence_id;
SELECT push_device_register_batch('dist_app', '[{"registration_id": "d2", "platform": "ios", "vendor": "apns", "token": "aaaa0002"}]');
SELECT registration_id, token FROM push_devices WHERE app = 'dist_app' ORDER BY registration_id;
