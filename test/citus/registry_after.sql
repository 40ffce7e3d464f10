-- The registry after push_distribute() (on the coordinator; nothing on the single node): the
-- same calls on both, compared line by line by test/citus/registry.sh.
SET search_path = pushplan, public;
\set VERBOSITY terse
SET client_min_messages = warning;
-- new devices, one at a time and in batches of several shards
SELECT push_device_register('shop', 'a2', 'android', 'fcm', 'fcm-a2', 'Europe/Berlin') IS NOT NULL;
SELECT push_device_register_batch('shop', (SELECT jsonb_agg(jsonb_build_object(
    'registration_id', 'm' || i, 'platform', CASE WHEN i % 3 = 0 THEN 'ios' ELSE 'android' END,
    'vendor', CASE WHEN i % 3 = 0 THEN 'apns' ELSE 'fcm' END,
    'token', CASE WHEN i % 3 = 0 THEN 'aaab' || lpad(i::text, 4, '0') ELSE 'fcm-m' || i END,
    'tags', CASE WHEN i % 2 = 0 THEN '["even"]'::jsonb ELSE '["odd", "news"]' END,
    'attrs', jsonb_build_object('n', i, 'city', CASE WHEN i % 4 = 0 THEN 'sz' ELSE 'gz' END)))
  FROM generate_series(1, 200) i));
-- registered again: a device existing before the layout (renumbered) and one made after it
SELECT push_device_register('shop', 'a1', 'android', 'fcm', 'fcm-a1-new') IS NOT NULL;
SELECT push_device_register('shop', 'm5', 'android', 'fcm', 'fcm-m5-new', 'Asia/Tokyo') IS NOT NULL;
-- a token that moves to another registration (the app reinstalled) leaves its old one
SELECT push_device_register('shop', 'a3', 'android', 'fcm', 'fcm-a2') IS NOT NULL;
SELECT push_device_register_batch('shop', '[
  {"registration_id": "b4", "platform": "android", "vendor": "hms", "token": "hms-b2", "tags": ["beta"]},
  {"registration_id": "b1", "platform": "android", "vendor": "fcm", "token": "fcm-b1", "tags": ["gold"], "attrs": {"level": null, "tier": "x"}},
  {"registration_id": "m7", "platform": "android", "vendor": "fcm", "token": "fcm-m7", "attrs": {"n": 700}}]');
-- tags, attributes, accounts, consent, opt-out, unregistration
SELECT push_tag_add('shop', 'm10', 'vip');
SELECT push_tag_add('shop', 'b3', 'beta', 'gold');
SELECT push_tag_remove('shop', 'b1', 'news');
SELECT push_attr_set('shop', 'm11', '{"city": "sz", "vip": true}');
SELECT push_attr_set('shop', 'i1', '{"level": null}');
SELECT push_account_bind('shop', 'm12', 'alice');
SELECT push_account_bind('shop', 'm13', 'carol');
SELECT push_account_unbind('shop', 'b1', 'bob', 1);
SELECT push_device_consent('shop', 'm14', 'marketing', true);
SELECT push_device_opt('shop', 'm15', false);
SELECT push_device_unregister('shop', 'm16');
SELECT push_device_activity('shop', 'm17', now() - interval '1 hour');
-- what is refused stays refused
SELECT push_device_register('shop', 'x', 'android', 'nosuchvendor', 'tok');
SELECT push_tag_add('shop', 'nobody', 'vip');
SELECT push_attr_set('shop', 'nobody', '{"a": 1}');
-- the registry, as the API shows it
SELECT app, registration_id, platform, vendor, token, timezone, language, opted_in, registered,
       reachable, attrs, tags, accounts
  FROM push_devices ORDER BY app, registration_id COLLATE "C";
SELECT device_id IS NOT NULL, category, granted FROM device_consents ORDER BY category, granted;
-- audiences: every kind of target the compiler has
SELECT push_audience_count('shop', '"all"') AS all_shop, push_audience_count('other', '"all"') AS all_other;
SELECT push_audience_count('shop', '{"tag": ["vip"]}') AS vip,
       push_audience_count('shop', '{"tag": ["vip", "beta", "gold"]}') AS any3,
       push_audience_count('shop', '{"tag_and": ["odd", "news"]}') AS odd_news,
       push_audience_count('shop', '{"tag": ["news"], "tag_not": ["odd"]}') AS news_not_odd,
       push_audience_count('shop', '{"tag_not": ["even"]}') AS not_even,
       push_audience_count('shop', '{"tag": ["nosuchtag"]}') AS unknown_tag;
SELECT push_audience_count('shop', '{"attr_and": {"city": "sz"}}') AS sz,
       push_audience_count('shop', '{"attr_or": {"city": "sz", "tier": "x"}}') AS sz_or_x,
       push_audience_count('shop', '{"tag": ["even"], "attr_and": {"city": "sz"}}') AS even_sz,
       push_audience_count('shop', '{"condition": {"and": [{"tag": "news"}, {"or": [{"attr": {"city": "gz"}}, {"not": {"tag": "odd"}}]}]}}') AS tree;
SELECT push_audience_count('shop', '{"registration_id": ["a1", "a2", "a3", "m15", "m16", "zz"]}') AS by_id,
       push_audience_count('shop', '{"token": ["fcm-a2", "hms-b2", "aaab0003"]}') AS by_token,
       push_audience_count('shop', '{"account": ["alice", "carol"]}') AS alice_latest,
       push_audience_count('shop', '{"account": ["alice"], "account_push_type": 1}') AS alice_all;
SELECT push_audience_count('shop', '{"audience_type": "tag", "tag_list": {"tags": ["odd", "gold"], "op": "OR"}}') AS tencent_tag,
       push_audience_count('shop', '{"audience_type": "account_list", "account_list": ["alice", "carol"], "account_push_type": 1}') AS tencent_accounts;
-- an account package (stored on the coordinator) joined with the distributed accounts
SELECT push_account_package_upload('shop', 'users.txt', convert_to(E'alice\ncarol\ndave\n', 'UTF8')) AS upload \gset
SELECT push_audience_count('shop', format('{"upload_id": %s, "account_push_type": 1}', :upload)::jsonb) AS package;
SELECT string_agg(r, ',' ORDER BY r COLLATE "C") FROM push_audience_preview('shop', '{"tag": ["vip", "beta"]}', 1000) r;
SELECT count(*) FROM push_audience_preview('shop', '"all"', 10) r;
-- privacy: the export of a device with tags, attributes and an account, and of an account
-- (_devices_export: a statement per part, each on one shard), without their times (each cluster
-- registered at its own); then the erasure of a device that has them
SET client_min_messages = error;     -- (Citus warns that it does not propagate a pg_temp function)
CREATE FUNCTION pg_temp.timeless(j jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE jsonb_typeof(j)
        WHEN 'object' THEN (SELECT coalesce(jsonb_object_agg(k, pg_temp.timeless(v)), '{}')
                            FROM jsonb_each(j) x(k, v) WHERE k NOT LIKE '%\_at' AND k NOT IN ('at', 'visits'))
        WHEN 'array' THEN (SELECT coalesce(jsonb_agg(pg_temp.timeless(v) ORDER BY n), '[]')
                           FROM jsonb_array_elements(j) WITH ORDINALITY x(v, n))
        ELSE j END
$$;
SET client_min_messages = warning;
SELECT pg_temp.timeless(push_device_export('shop', 'm12')) AS device_export;
SELECT pg_temp.timeless(push_account_export('shop', 'alice', 0)) AS account_export;
SELECT push_account_bind('shop', 'm20', 'erin');
SELECT push_device_erase('shop', 'm20')->'counts' AS erased;
SELECT push_device_opt('shop', 'm20', true);
SELECT push_audience_count('shop', '"all"') AS all_after_erasure,
       push_audience_count('shop', '{"account": ["erin"]}') AS erin;
