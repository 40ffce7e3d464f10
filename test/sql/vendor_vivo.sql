-- vivo: its configuration (push_vendor_set), the /message/send body built from a push
-- (_vendor_payload: one device; the two steps of many are checked against the mock in
-- test/integration/vivo.sh) and what push_send refuses for it (_message_check).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

-- ---- configuration -------------------------------------------------------------------------
SELECT push_app_create('vivo_cfg');
SELECT push_app_set('vivo_cfg', '{"broadcast_min_interval": "0"}');
SELECT vendor, key, required FROM _vendor_keys() WHERE vendor = 'vivo' ORDER BY 1, 2;
SELECT push_vendor_set('vivo_cfg', 'vivo', '{"app_id": "10004", "app_key": "k", "app_secret": "s"}');
SELECT vendor, endpoint FROM push_vendors WHERE app = 'vivo_cfg' ORDER BY vendor;
-- missing keys
SELECT push_vendor_set('vivo_cfg', 'vivo', '{"app_id": "10004", "app_secret": "s"}');
SELECT push_vendor_set('vivo_cfg', 'vivo', '{"app_key": "k", "app_secret": "s"}');
-- unknown keys (vivo has no token endpoint of its own: /message/auth is on the endpoint)
SELECT push_vendor_set('vivo_cfg', 'vivo', '{"app_id": "1", "app_key": "k", "app_secret": "s", "token_endpoint": "https://x"}');
SELECT push_vendor_set('vivo_cfg', 'vivo', '{"app_id": "1", "app_key": "k", "app_secret": "s", "package_name": "p"}');
-- bad URLs
SELECT push_vendor_set('vivo_cfg', 'vivo', '{"app_id": "1", "app_key": "k", "app_secret": "s", "endpoint": "api-push.vivo.com.cn"}');
SELECT push_vendor_set('vivo_cfg', 'vivo', '{"app_id": "1", "app_key": "k", "app_secret": "s", "endpoint": "ftp://api-push.vivo.com.cn"}');
-- not strings
SELECT push_vendor_set('vivo_cfg', 'vivo', '{"app_id": 10004, "app_key": "k", "app_secret": "s"}');
-- the failed calls changed nothing
SELECT vendor, config FROM vendor_configs JOIN apps USING (app_id) WHERE app = 'vivo_cfg' ORDER BY vendor;
-- a config the engine cannot send with
SELECT _vendor_payload('vivo', '{}', NULL, NULL, '{"app_id": "1"}');

-- ---- payloads ------------------------------------------------------------------------------
\set push '{"to": "all", "body": {"platform": ["android", "ios"], "notification": {"alert": "Default text", "android": {"title": "Android title", "extras": {"promo": "618", "n": 3, "obj": {"a": 1}}, "image": "https://img/a.png", "intent": {"url": "https://shop/618"}, "channel_id": "promo", "sound": "android.resource://com.example.app/raw/ding", "badge_add_num": 1, "big_text": "The whole story"}}, "options": {"time_to_live": 600, "apns_collapse_id": "c1", "priority": "high", "multi_language": {"en": {"alert": "Flash sale!", "title": "Hot deals"}, "zh": {"alert": "限时秒杀"}}}}}'
-- one device: regId, a requestId (md5 of the task and the device: the same on every attempt),
-- the message; extras as clientCustomMap strings; priority high: a system message
SELECT jsonb_pretty(_vendor_payload('vivo', :'push', 'android', 'en'));
SELECT p->'body'->>'requestId' = md5(E'send\npreview\nTOKEN') AS request_id_is_the_deliverys,
       p->'body'->>'title' AS title, p->'body'->>'content' AS content
FROM (SELECT _vendor_payload('vivo', :'push', 'android', 'zh') p) x;
-- click: an intent opens an activity (4), none opens the app (1)
SELECT (_vendor_payload('vivo', '{"body": {"notification": {"android": {"alert": "a", "title": "t", "intent": {"url": "intent://x#Intent;end"}}}}}')->'body') - 'requestId',
       _vendor_payload('vivo', '{"body": {"notification": {"alert": "a", "android": {"title": "t"}}}}')->'body'->'skipType';
-- TTL: at least 60 s, at most 7 days; no TTL: a day
SELECT t AS ttl, _vendor_payload('vivo', jsonb_build_object('body', jsonb_build_object('notification', '{"alert": "a"}'::jsonb,
       'options', jsonb_build_object('time_to_live', t))))->'body'->'timeToLive' AS time_to_live
FROM unnest(ARRAY[0, 30, 600, 604800, 8640000]) t;
SELECT _vendor_payload('vivo', '{"body": {"notification": {"alert": "a"}}}')->'body'->'timeToLive';
-- a data message: vivo has none; it goes without title and content, which vivo refuses
SELECT (_vendor_payload('vivo', '{"body": {"platform": "android", "message": {"msg_content": "sync", "extras": {"k": "v"}}}}')->'body') - 'requestId';
-- an app id that is not a number goes as a string; the real config's endpoint
SELECT p->'body'->'appId' AS app_id, p->>'url' AS url
FROM (SELECT _vendor_payload('vivo', :'push', NULL, NULL, '{"app_id": "a1", "app_key": "k", "app_secret": "s", "endpoint": "https://127.0.0.1:8443"}') p) x;
-- the limit counts clientCustomMap
SELECT p->>'bytes' AS bytes, length(p->'body'->>'clientCustomMap') > 0 AS has_map, p->>'limit' AS lim
FROM (SELECT _vendor_payload('vivo', :'push') p) x;
SELECT (_vendor_payload('vivo', '{"body": {"notification": {"alert": "a"}}}'))->>'bytes' AS bytes_without_extras;

-- ---- what push_send refuses for it -----------------------------------------------------------
-- fits (vivo_cfg has vivo alone): 40 Latin characters of title, 100 of content; 20 Chinese ones
-- of title, 50 of content
SELECT push_send('vivo_cfg', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', repeat('x', 100), 'android', jsonb_build_object('title', repeat('t', 40)))))) IS NOT NULL AS accepted;
SELECT push_send('vivo_cfg', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', repeat('内', 50), 'android', jsonb_build_object('title', repeat('标', 20)))))) IS NOT NULL AS accepted;
-- a title of 41 Latin characters
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', 'a', 'android', jsonb_build_object('title', repeat('t', 41))))));
-- a title of 21 Chinese characters: 42 as vivo counts
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', 'a', 'android', jsonb_build_object('title', repeat('标', 21))))));
-- content of 51 Chinese characters, in one language only
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', 'a', 'android', jsonb_build_object('title', 't')),
    'options', jsonb_build_object('multi_language', jsonb_build_object('zh', jsonb_build_object('alert', repeat('内', 51)))))));
-- extras: vivo takes 1024 characters of clientCustomMap and refuses more when it is sent (a
-- size check here would bind every app, vivo or not); 4096 bytes is pushplan's bound
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', 'a', 'android', jsonb_build_object('title', 't',
    'extras', jsonb_build_object('k', repeat('v', 1100)))))));
SELECT (_vendor_payload('vivo', jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', 'a', 'android', jsonb_build_object('title', 't',
    'extras', jsonb_build_object('k', repeat('v', 4100))))))))->>'bytes' AS bytes;
-- push_send applies the limits of the vendors the app has configured alone
\set long_title '{"to": "all", "body": {"platform": "android", "notification": {"alert": "a", "android": {"title": "商品限时秒杀活动今天开始欢迎大家前来选购！"}}}}'
SELECT push_send('vivo_cfg', :'long_title');
SELECT push_app_create('vivo_none');
SELECT push_vendor_set('vivo_none', 'xiaomi', '{"app_secret": "s", "package_name": "p"}');
SELECT push_send('vivo_none', :'long_title') IS NOT NULL AS accepted;
