-- The registry before push_distribute(): run on the coordinator (then distributed) and on a
-- single-node database; test/citus/registry.sh compares the outputs line by line.
SET search_path = pushplan, public;
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT push_app_create('shop', 'Shop');
SELECT push_app_create('other');
SELECT push_device_register('shop', 'a1', 'android', 'fcm', 'fcm-a1') IS NOT NULL AS registered;
SELECT push_device_register('shop', 'i1', 'ios', 'apns', 'aaaa0001', 'Asia/Shanghai', 'zh') IS NOT NULL;
SELECT push_device_register('other', 'a1', 'android', 'fcm', 'fcm-other-a1') IS NOT NULL;
SELECT push_device_register_batch('shop', '[
  {"registration_id": "b1", "platform": "android", "vendor": "fcm", "token": "fcm-b1", "tags": ["vip", "news"], "attrs": {"city": "sz", "level": 3}},
  {"registration_id": "b2", "platform": "android", "vendor": "hms", "token": "hms-b2", "tags": ["news"], "attrs": {"city": "bj"}},
  {"registration_id": "b3", "platform": "ios", "vendor": "apns", "token": "aaaa0003", "tags": ["vip"]}]');
SELECT push_tag_add('shop', 'a1', 'vip', 'beta');
SELECT push_attr_set('shop', 'i1', '{"city": "sz", "level": 5}');
SELECT push_account_bind('shop', 'a1', 'alice');
SELECT push_account_bind('shop', 'b1', 'bob', 1);
SELECT push_device_consent('shop', 'b2', 'marketing', false);
-- a location (geofences compare a device's last ones): renumbered with its device
SELECT push_location('shop', 'a1', 22.54, 114.05, '2026-12-01 10:00+00');
