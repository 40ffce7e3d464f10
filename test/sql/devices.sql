-- Devices, consent, activity, tags, attributes, accounts.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

SELECT push_app_create('dev_app');
SELECT push_app_create('dev_other');

-- register, and register again: an upsert with the same device id
SELECT push_device_register('dev_app', 'ra', 'ios', 'apns', 'tok-a', 'asia/shanghai', 'zh-Hans') AS a \gset
SELECT push_device_register('dev_app', 'ra', 'ios', 'apns', 'tok-a2', 'Europe/Paris', 'fr') = :a AS same_device;
SELECT push_device_register('dev_app', 'rb', 'android', 'fcm', 'tok-b') > 0 AS registered;
-- the same registration id in another app is another device
SELECT push_device_register('dev_other', 'ra', 'android', 'hms', 'tok-a') <> :a AS other_device;
SELECT registration_id, platform, vendor, token, timezone, language, reachable
FROM push_devices WHERE app = 'dev_app' ORDER BY 1;

-- a token that moves to a new registration (app reinstalled) leaves the old one
SELECT push_device_register('dev_app', 'rb2', 'android', 'fcm', 'tok-b') > 0 AS registered;
SELECT registration_id, token, reachable FROM push_devices WHERE app = 'dev_app' ORDER BY 1;
-- ... but only within one app and one vendor
SELECT token FROM push_devices WHERE app = 'dev_other';

-- every rule of a registration; nothing is written on error
SELECT push_device_register('nope', 'r', 'ios', 'apns', 't');
SELECT push_device_register('dev_app', '', 'ios', 'apns', 't');
SELECT push_device_register('dev_app', 'has space', 'ios', 'apns', 't');
SELECT push_device_register('dev_app', repeat('x', 129), 'ios', 'apns', 't');
SELECT push_device_register('dev_app', 'rc', 'symbian', 'apns', 't');
SELECT push_device_register('dev_app', 'rc', 'ios', 'nokia', 't');
SELECT push_device_register('dev_app', 'rc', 'android', 'apns', 't');
SELECT push_device_register('dev_app', 'rc', 'ios', 'hms', 't');
SELECT push_device_register('dev_app', 'rc', 'web', 'xiaomi', 't');
SELECT push_device_register('dev_app', 'rc', 'ios', 'apns', '');
SELECT push_device_register('dev_app', 'rc', 'ios', 'apns', NULL);
SELECT push_device_register('dev_app', 'rc', 'ios', 'apns', repeat('t', 4097));
SELECT push_device_register('dev_app', 'rc', 'ios', 'apns', 't', 'Mars/Olympus');
SELECT push_device_register('dev_app', 'rc', 'ios', 'apns', 't', 'UTC+3');
SELECT push_device_register('dev_app', 'rc', 'ios', 'apns', 't', 'UTC', 'english');
SELECT push_device_register('dev_app', 'rc', 'ios', 'apns', 't', 'UTC', 'e');
SELECT count(*) AS devices FROM push_devices WHERE app = 'dev_app';
-- each vendor serves its platforms (a Web Push token is a subscription: test/sql/webpush.sql)
\set sub '{"endpoint": "https://push.example.net/wp/1", "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}'
SELECT v, p, (SELECT problem FROM _devices_problem(jsonb_build_array(jsonb_build_object(
           'registration_id', 'x', 'platform', p, 'vendor', v,
           'token', CASE v WHEN 'webpush' THEN :'sub' ELSE 't' END)))) IS NULL AS ok
FROM unnest(ARRAY['apns', 'fcm', 'hms', 'harmony', 'honor', 'oppo', 'vivo', 'xiaomi', 'meizu', 'webpush', 'webhook']) v,
     unnest(ARRAY['android', 'ios', 'web', 'harmony']) p
ORDER BY v, p;

-- batches: tags and attributes come along; the last entry of a registration id wins
SELECT push_device_register_batch('dev_app', '[
  {"registration_id": "b1", "platform": "android", "vendor": "hms", "token": "h1",
   "timezone": "Asia/Tokyo", "language": "ja", "tags": ["vip", "JP"], "attrs": {"city": "Tokyo", "level": 3}},
  {"registration_id": "b2", "platform": "web", "vendor": "webpush", "token": "{\"endpoint\": \"https://push.example.net/wp/w2\", \"keys\": {\"auth\": \"BTBZMqHH6r4Tts7J_aSIgg\", \"p256dh\": \"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4\"}}", "tags": []},
  {"registration_id": "b1", "platform": "android", "vendor": "hms", "token": "h1b", "tags": ["vip", "gold"],
   "attrs": {"city": "Osaka", "gone": null}}
]');
SELECT registration_id, token, timezone, language, attrs, tags FROM push_devices
WHERE app = 'dev_app' AND registration_id LIKE 'b%' ORDER BY 1;
SELECT push_device_register_batch('dev_app', '[]');
-- registering an existing device again: attrs merge (null removes a key), tags are added
SELECT push_device_register_batch('dev_app', '[
  {"registration_id": "b1", "platform": "android", "vendor": "hms", "token": "h1b",
   "tags": ["new", "new"], "attrs": {"level": null, "vip": true}}]');
SELECT registration_id, token, timezone, attrs, tags FROM push_devices
WHERE app = 'dev_app' AND registration_id = 'b1';
-- the 50-attribute limit counts what the device already has
SELECT push_device_register_batch('dev_app', jsonb_build_array(jsonb_build_object(
    'registration_id', 'b1', 'platform', 'android', 'vendor', 'hms', 'token', 'h1b',
    'attrs', (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 48) g))));
SELECT push_device_register_batch('dev_app', jsonb_build_array(jsonb_build_object(
    'registration_id', 'b9', 'platform', 'android', 'vendor', 'hms', 'token', 'h9',
    'attrs', (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 51) g))));
SELECT push_device_register_batch('dev_app', '[{"registration_id": "b1", "platform": "android",
    "vendor": "hms", "token": "h1b", "attrs": {"k49": 49}}]');
SELECT (SELECT count(*) FROM jsonb_object_keys(attrs)) AS attrs FROM push_devices
WHERE app = 'dev_app' AND registration_id = 'b1';
SELECT count(*) AS b9 FROM push_devices WHERE app = 'dev_app' AND registration_id = 'b9';
-- a batch with one bad device writes nothing, and says which device
SELECT push_device_register_batch('dev_app', '[{"registration_id": "b3", "platform": "android", "vendor": "fcm", "token": "f3"},
  {"registration_id": "b4", "platform": "android", "vendor": "fcm", "token": "f4", "timezone": "Atlantis/Lost"}]');
SELECT push_device_register_batch('dev_app', '{"registration_id": "b3"}');
SELECT push_device_register_batch('dev_app', '[1]');
SELECT push_device_register_batch('dev_app', '[{"registration_id": "b3", "platform": "android", "vendor": "fcm", "token": "f3", "colour": "red"}]');
SELECT push_device_register_batch('dev_app', '[{"registration_id": 3, "platform": "android", "vendor": "fcm", "token": "f3"}]');
SELECT push_device_register_batch('dev_app', '[{"registration_id": "b3", "platform": "android", "vendor": "fcm", "token": "f3", "tags": "vip"}]');
SELECT push_device_register_batch('dev_app', '[{"registration_id": "b3", "platform": "android", "vendor": "fcm", "token": "f3", "tags": [1]}]');
SELECT push_device_register_batch('dev_app', '[{"registration_id": "b3", "platform": "android", "vendor": "fcm", "token": "f3", "tags": [""]}]');
SELECT push_device_register_batch('dev_app', '[{"registration_id": "b3", "platform": "android", "vendor": "fcm", "token": "f3", "attrs": {"a": [1]}}]');
SELECT push_device_register_batch('dev_app', '[{"registration_id": "b3", "platform": "android", "vendor": "fcm", "token": "same"},
  {"registration_id": "b4", "platform": "android", "vendor": "fcm", "token": "same"}]');
SELECT push_device_register_batch('dev_app', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'n' || g,
    'platform', 'android', 'vendor', 'fcm', 'token', 'n' || g)) FROM generate_series(1, 10001) g));
SELECT count(*) AS devices FROM push_devices WHERE app = 'dev_app';

-- consent and unregistering take a device out of every audience, and back
SELECT push_device_opt('dev_app', 'rb2', false);
SELECT push_device_unregister('dev_app', 'b2');
SELECT registration_id, opted_in, registered, reachable FROM push_devices
WHERE app = 'dev_app' AND registration_id IN ('rb2', 'b2') ORDER BY 1;
SELECT push_device_opt('dev_app', 'rb2', true);
SELECT push_device_register('dev_app', 'b2', 'web', 'webpush', '{"keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "auth": "BTBZMqHH6r4Tts7J_aSIgg"}, "endpoint": "https://push.example.net/wp/w2"}') > 0 AS registered;
SELECT registration_id, opted_in, registered, reachable FROM push_devices
WHERE app = 'dev_app' AND registration_id IN ('rb2', 'b2') ORDER BY 1;
SELECT push_device_opt('dev_app', 'zz', true);
SELECT push_device_opt('dev_app', 'rb2', NULL);
SELECT push_device_unregister('dev_app', 'zz');
SELECT push_device_unregister('dev_other', 'ra');
-- only that device of that app
SELECT app, registration_id, registered FROM push_devices WHERE app LIKE 'dev%' ORDER BY 1, 2;
SELECT push_device_register('dev_other', 'ra', 'android', 'hms', 'tok-a') > 0 AS registered;

-- activity history
SELECT push_device_activity('dev_app', 'ra', '2026-01-01 08:00+00');
SELECT push_device_activity('dev_app', 'ra', '2026-01-02 09:30+00');
SELECT push_device_activity('dev_app', 'ra', '2025-12-31 23:00+00');
SELECT last_active_at FROM push_devices WHERE app = 'dev_app' AND registration_id = 'ra';
SELECT count(*) FROM device_activity WHERE device_id = :a;
SELECT push_device_activity('dev_app', 'ra', now() + interval '1 day');
SELECT push_device_activity('dev_app', 'ra', NULL);
SELECT count(*) FROM device_activity WHERE device_id = :a;

-- tags
SELECT push_tag_add('dev_app', 'ra', 'vip', '深圳', 'vip');
SELECT push_tag_add('dev_app', 'rb2', 'vip');
SELECT push_tag_remove('dev_app', 'ra', 'vip', 'never-had');
SELECT registration_id, tags FROM push_devices WHERE app = 'dev_app' AND registration_id IN ('ra', 'rb2') ORDER BY 1;
SELECT push_tag_add('dev_app', 'ra', '');
SELECT push_tag_add('dev_app', 'ra', repeat('标', 17));   -- 51 bytes
SELECT push_tag_add('dev_app', 'ra', repeat('标', 16));   -- 48 bytes: fine
SELECT push_tag_add('dev_app', 'ra', VARIADIC ARRAY['a','b','c','d','e','f','g','h','i','j','k']);
SELECT push_tag_add('dev_app', 'ra', VARIADIC ARRAY[]::text[]);
SELECT push_tag_add('dev_app', 'ra', VARIADIC ARRAY['ok', NULL]);
SELECT push_tag_add('dev_app', 'zz', 'vip');
SELECT push_tag_remove('dev_app', 'ra', '');
SELECT registration_id, tags FROM push_devices WHERE app = 'dev_app' AND registration_id = 'ra';

-- attributes: merged, null removes
SELECT push_attr_set('dev_app', 'ra', '{"city": "深圳", "level": "超白金会员", "age": 30}');
SELECT push_attr_set('dev_app', 'ra', '{"age": null, "vip": true}');
SELECT attrs FROM push_devices WHERE app = 'dev_app' AND registration_id = 'ra';
SELECT push_attr_set('dev_app', 'ra', '["city"]');
SELECT push_attr_set('dev_app', 'ra', '{"city": {"name": "x"}}');
SELECT push_attr_set('dev_app', 'ra', '{"tags": ["x"]}');
SELECT push_attr_set('dev_app', 'ra', '{"": 1}');
SELECT push_attr_set('dev_app', 'ra', jsonb_build_object(repeat('k', 65), 1));
SELECT push_attr_set('dev_app', 'ra', jsonb_build_object('long', repeat('v', 257)));
SELECT push_attr_set('dev_app', 'ra', (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 48) g));
SELECT push_attr_set('dev_app', 'ra', NULL);
SELECT attrs FROM push_devices WHERE app = 'dev_app' AND registration_id = 'ra';

-- accounts: binding again makes a device the account's most recent
SELECT push_account_bind('dev_app', 'ra', 'user01', 1);
SELECT push_account_bind('dev_app', 'rb2', 'user01', 1);
SELECT push_account_bind('dev_app', 'rb2', 'user01');
SELECT d.registration_id FROM device_accounts a JOIN devices d USING (device_id)
WHERE a.account = 'user01' AND a.account_type = 1 ORDER BY a.bound_at DESC;
SELECT push_account_bind('dev_app', 'ra', 'user01', 1);
SELECT d.registration_id FROM device_accounts a JOIN devices d USING (device_id)
WHERE a.account = 'user01' AND a.account_type = 1 ORDER BY a.bound_at DESC;
SELECT registration_id, accounts FROM push_devices WHERE app = 'dev_app' AND registration_id IN ('ra', 'rb2') ORDER BY 1;
SELECT push_account_bind('dev_app', 'ra', 'u');
SELECT push_account_bind('dev_app', 'ra', repeat('u', 101));
SELECT push_account_bind('dev_app', 'ra', 'user02', -1);
SELECT push_account_bind('dev_app', 'zz', 'user02');
SELECT push_account_unbind('dev_app', 'rb2', 'user01');
SELECT push_account_unbind('dev_app', 'rb2', 'user01');
SELECT count(*) AS bindings FROM device_accounts a JOIN apps USING (app_id) WHERE app = 'dev_app';

-- SQLSTATEs by category
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT pg_temp.err(q) FROM unnest(ARRAY[
    $$SELECT push_device_register('nope', 'r', 'ios', 'apns', 't')$$,
    $$SELECT push_device_register('dev_app', 'r', 'ios', 'apns', 't', 'Mars/X')$$,
    $$SELECT push_device_register_batch('dev_app', (SELECT jsonb_agg(g) FROM generate_series(1, 10001) g))$$,
    $$SELECT push_attr_set('dev_app', 'ra', (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 48) g))$$,
    $$SELECT push_device_opt('dev_app', 'zz', true)$$,
    $$SELECT push_app_create('dev_app')$$
]) q;

-- Registration opens no subtransaction per call (a subtransaction that writes takes a
-- transaction id of its own, and past 64 of them every snapshot in the cluster gets slower):
-- 600 registrations, new and again, single and batch, in one transaction use one id.
BEGIN;
SELECT pg_current_xact_id()::text::bigint AS xid_before \gset
SELECT count(push_device_register('dev_app', 'sx' || g, 'android', 'fcm', 'sxt' || g)) FROM generate_series(1, 200) g;
SELECT count(push_device_register('dev_app', 'sx' || g, 'android', 'fcm', 'sxu' || g)) FROM generate_series(1, 200) g;
SELECT sum(push_device_register_batch('dev_app', jsonb_build_array(jsonb_build_object(
    'registration_id', 'sy' || g, 'platform', 'android', 'vendor', 'fcm', 'token', 'syt' || g,
    'tags', jsonb_build_array('t'), 'attrs', jsonb_build_object('a', g))))) FROM generate_series(1, 200) g;
COMMIT;
SELECT pg_current_xact_id()::text::bigint - :xid_before < 10 AS one_transaction_id;
SELECT count(*) FILTER (WHERE token LIKE 'sxu%') AS moved, count(*) AS devices
FROM devices WHERE registration_id LIKE 'sx%' OR registration_id LIKE 'sy%';

-- The batch path's look-ups (_devices_probe, src/device_probe.c): each registration's device,
-- and the app's other registrations holding a token of the batch with the same vendor.
SELECT push_app_create('probe_app');
SELECT push_device_register_batch('probe_app', '[
  {"registration_id": "p1", "platform": "android", "vendor": "fcm", "token": "pt1"},
  {"registration_id": "p2", "platform": "android", "vendor": "fcm", "token": "pt2"},
  {"registration_id": "p3", "platform": "android", "vendor": "hms", "token": "pt3"}]');
SELECT push_device_register_batch('dev_other', '[
  {"registration_id": "p4", "platform": "android", "vendor": "fcm", "token": "pt4"}]');
SELECT cardinality(p.ids) AS n, p.ids[1] IS NULL AS p9_new,
       p.ids[2] = (SELECT device_id FROM devices WHERE registration_id = 'p1' AND app_id =
                   (SELECT app_id FROM apps WHERE app = 'probe_app')) AS p1_found,
       ARRAY(SELECT registration_id FROM devices WHERE device_id = ANY (p.moved) ORDER BY 1) AS moved
FROM apps a, _devices_probe(a.app_id, ARRAY['p9', 'p1', 'p5', 'p6', 'p7'],
                            ARRAY['fcm', 'fcm', 'fcm', 'fcm', 'fcm'],
                            ARRAY['pt1', 'pt1', 'pt2', 'pt3', 'pt4']) p
WHERE a.app = 'probe_app';
-- through the batch: p2's token moves to p5 (same vendor); p3's stays (hms, not fcm); p1
-- re-registered with its own token keeps it; the other app's p4 keeps pt4
SELECT push_device_register_batch('probe_app', '[
  {"registration_id": "p1", "platform": "android", "vendor": "fcm", "token": "pt1"},
  {"registration_id": "p5", "platform": "android", "vendor": "fcm", "token": "pt2"},
  {"registration_id": "p6", "platform": "android", "vendor": "fcm", "token": "pt3"},
  {"registration_id": "p7", "platform": "android", "vendor": "fcm", "token": "pt4"}]');
SELECT app, registration_id, vendor, token FROM push_devices
WHERE app IN ('probe_app', 'dev_other') AND registration_id LIKE 'p_' ORDER BY 1, 2;
-- a new app's batches after the table's statistics were taken, when the app had no device:
-- each look-up is an index descent (the planner's choice, before, read every device of the
-- app per look-up); the second batch updates the first's 2,000 devices and adds 2,000
ANALYZE devices;
SELECT push_app_create('probe_new');
SELECT push_device_register_batch('probe_new', (SELECT jsonb_agg(jsonb_build_object(
    'registration_id', 'n' || g, 'platform', 'android', 'vendor', 'fcm', 'token', 'nt' || g))
    FROM generate_series(1, 2000) g));
SELECT push_device_register_batch('probe_new', (SELECT jsonb_agg(jsonb_build_object(
    'registration_id', 'n' || g, 'platform', 'android', 'vendor', 'fcm', 'token', 'nu' || g,
    'attrs', jsonb_build_object('g', g)))
    FROM generate_series(1001, 3000) g));
SELECT count(*) AS devices, count(*) FILTER (WHERE token LIKE 'nu%') AS updated,
       count(*) FILTER (WHERE attrs ? 'g') AS with_attrs, count(DISTINCT device_id) AS ids
FROM devices d JOIN apps a USING (app_id) WHERE a.app = 'probe_new';
-- One device's look-up (_device_id, behind every one-device function) reads that device
-- alone, compared in the column's collation: compared in the default one, the index found the
-- app's 3,000 devices and each was read
BEGIN;
CREATE TEMP TABLE reads AS SELECT idx_tup_fetch, seq_scan FROM pg_stat_xact_user_tables
WHERE relid = 'pushplan.devices'::regclass;
SELECT _device_id(app_id, 'n2999') > 0 AS found,
       _device_id(app_id, 'n2998' COLLATE "C") > 0 AS found_c
FROM apps WHERE app = 'probe_new';
SELECT x.idx_tup_fetch - r.idx_tup_fetch AS devices_read, x.seq_scan - r.seq_scan AS scans
FROM pg_stat_xact_user_tables x, reads r WHERE x.relid = 'pushplan.devices'::regclass;
ROLLBACK;
-- the same for a registration of one device with a token, in an app the statistics have not
-- seen: the token's old registration is found by the token index
ANALYZE devices;
SELECT push_app_create('probe_new2');
SELECT push_device_register_batch('probe_new2', (SELECT jsonb_agg(jsonb_build_object(
    'registration_id', 'm' || g, 'platform', 'android', 'vendor', 'fcm', 'token', 'mt' || g))
    FROM generate_series(1, 3000) g));
BEGIN;
CREATE TEMP TABLE reads AS SELECT idx_tup_fetch, seq_scan FROM pg_stat_xact_user_tables
WHERE relid = 'pushplan.devices'::regclass;
SELECT push_device_register('probe_new2', 'm9', 'android', 'fcm', 'mt7') > 0 AS registered;
SELECT push_tag_add('probe_new2', 'm9', 'moved');
SELECT x.idx_tup_fetch - r.idx_tup_fetch AS devices_read, x.seq_scan - r.seq_scan AS scans
FROM pg_stat_xact_user_tables x, reads r WHERE x.relid = 'pushplan.devices'::regclass;
SELECT registration_id, token FROM push_devices WHERE app = 'probe_new2' AND registration_id IN ('m7', 'm9') ORDER BY 1;
ROLLBACK;
-- no registration ids: two empty arrays
SELECT p.ids = '{}' AND p.moved = '{}' AS empty, array_ndims(p.ids) IS NULL AS no_dimension
FROM _devices_probe(1, '{}', '{}', '{}') p;
