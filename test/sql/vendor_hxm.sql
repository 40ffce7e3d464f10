-- Honor, Xiaomi and Meizu: their configuration (push_vendor_set), the requests built from a push
-- (_vendor_payload; a form body is shown as an object of its fields) and what push_send refuses
-- for them (_message_check).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

-- ---- configuration -------------------------------------------------------------------------
SELECT push_app_create('hxm_cfg');
SELECT vendor, key, required FROM _vendor_keys() WHERE vendor IN ('honor', 'xiaomi', 'meizu') ORDER BY 1, 2;
SELECT push_vendor_set('hxm_cfg', 'honor', '{"app_id": "104400500", "client_id": "c", "client_secret": "s"}');
SELECT push_vendor_set('hxm_cfg', 'xiaomi', '{"app_secret": "s", "package_name": "com.example.app", "default_title": "Shop"}');
SELECT push_vendor_set('hxm_cfg', 'meizu', '{"app_id": "110000", "app_secret": "s", "endpoint": "https://127.0.0.1:8443"}');
SELECT vendor, endpoint FROM push_vendors WHERE app = 'hxm_cfg' ORDER BY vendor;
-- missing keys
SELECT push_vendor_set('hxm_cfg', 'honor', '{"app_id": "1", "client_secret": "s"}');
SELECT push_vendor_set('hxm_cfg', 'xiaomi', '{"app_secret": "s"}');
SELECT push_vendor_set('hxm_cfg', 'meizu', '{"app_secret": "s"}');
-- unknown keys (Xiaomi's app id is not needed: the secret is the credential)
SELECT push_vendor_set('hxm_cfg', 'honor', '{"app_id": "1", "client_id": "c", "client_secret": "s", "project_id": "p"}');
SELECT push_vendor_set('hxm_cfg', 'xiaomi', '{"app_secret": "s", "package_name": "p", "app_id": "1"}');
SELECT push_vendor_set('hxm_cfg', 'meizu', '{"app_id": "1", "app_secret": "s", "token_endpoint": "https://x"}');
-- bad URLs
SELECT push_vendor_set('hxm_cfg', 'honor', '{"app_id": "1", "client_id": "c", "client_secret": "s", "token_endpoint": "ftp://iam"}');
SELECT push_vendor_set('hxm_cfg', 'xiaomi', '{"app_secret": "s", "package_name": "p", "endpoint": "api.xmpush.xiaomi.com"}');
SELECT push_vendor_set('hxm_cfg', 'meizu', '{"app_id": "1", "app_secret": "s", "endpoint": "http://"}');
-- not strings
SELECT push_vendor_set('hxm_cfg', 'meizu', '{"app_id": 110000, "app_secret": "s"}');
SELECT push_vendor_set('hxm_cfg', 'xiaomi', '{"app_secret": "s", "package_name": "p", "default_title": ""}');
-- the failed calls changed nothing
SELECT vendor, config FROM vendor_configs JOIN apps USING (app_id) WHERE app = 'hxm_cfg' ORDER BY vendor;
-- a config the engine cannot send with
SELECT _vendor_payload('honor', '{}', NULL, NULL, '{"app_id": "1"}');
SELECT _vendor_payload('xiaomi', '{}', NULL, NULL, '{"package_name": "p"}');
SELECT _vendor_payload('meizu', '{}', NULL, NULL, '{"app_id": "1"}');

-- ---- payloads ------------------------------------------------------------------------------
\set push '{"to": "all", "body": {"platform": ["android", "ios"], "notification": {"alert": "Default text", "android": {"title": "Android title", "extras": {"promo": "618", "n": 3, "obj": {"a": 1}}, "image": "https://img/a.png", "intent": {"url": "https://shop/618"}, "channel_id": "promo", "sound": "android.resource://com.example.app/raw/ding", "badge_add_num": 1, "big_text": "The whole story"}}, "options": {"time_to_live": 600, "apns_collapse_id": "c1", "priority": "high", "multi_language": {"en": {"alert": "Flash sale!", "title": "Hot deals"}, "zh": {"alert": "限时秒杀"}}}}}'
\set data '{"body": {"platform": "android", "message": {"msg_content": "sync", "title": "t", "extras": {"k": "v"}}, "options": {"time_to_live": 0}}}'

-- Honor: JSON, camelCase, the token list added by the engine (up to 1000), timestamp header
SELECT jsonb_pretty(_vendor_payload('honor', :'push', 'android', 'zh') #- '{headers,timestamp}');
SELECT (_vendor_payload('honor', :'push')->'headers'->>'timestamp')::bigint
       BETWEEN extract(epoch FROM now())::bigint * 1000 - 60000 AND extract(epoch FROM now())::bigint * 1000 + 60000 AS timestamp_in_ms;
-- click actions: an intent (1), none: open the app (3)
SELECT _vendor_payload('honor', '{"body": {"notification": {"android": {"alert": "a", "intent": {"url": "intent://x#Intent;end"}}}}}')->'body'->'android'->'notification'->'clickAction',
       _vendor_payload('honor', '{"body": {"notification": {"alert": "a"}}}')->'body'->'android'->'notification'->'clickAction';
-- a data message; a TTL over Honor's 15 days is sent as 15 days
SELECT _vendor_payload('honor', :'data')->'body';
SELECT _vendor_payload('honor', '{"body": {"notification": {"alert": "a"}, "options": {"time_to_live": 8640000}}}')->'body'->'android'->'ttl';
-- the real config: URL with the app id
SELECT _vendor_payload('honor', :'push', NULL, NULL, '{"app_id": "104400500", "client_id": "c", "client_secret": "s"}')->>'url';

-- Xiaomi: a form; TTL in milliseconds; regids added by the engine; no auth header shown
SELECT jsonb_pretty(_vendor_payload('xiaomi', :'push', 'android', 'en'));
SELECT _vendor_payload('xiaomi', :'push', 'android', 'zh')->'body'->>'title' AS title_of_the_block,
       _vendor_payload('xiaomi', '{"body": {"notification": {"alert": "no title"}}}', NULL, NULL,
                       '{"app_secret": "s", "package_name": "p", "default_title": "Shop"}')->'body'->>'title' AS default_title;
SELECT (_vendor_payload('xiaomi', '{"body": {"notification": {"android": {"alert": "a", "intent": {"url": "intent://x#Intent;end"}}}}}')->'body') - 'time_to_live';
SELECT _vendor_payload('xiaomi', :'data')->'body';
SELECT _vendor_payload('xiaomi', '{"body": {"notification": {"alert": "a"}, "options": {"time_to_live": 8640000}}}')->'body'->'time_to_live';
SELECT _vendor_payload('xiaomi', :'push', NULL, NULL, '{"app_secret": "s", "package_name": "p", "endpoint": "https://api.global.xmpush.xiaomi.com"}')->>'url';

-- Meizu: the form is appId, messageJson, pushIds and the md5 signature over them and the secret
SELECT p->'body'->>'appId' AS app_id, p->'body'->>'pushIds' AS push_ids, p->'body'->>'sign' AS sign,
       p->'body'->>'sign' = md5('appId=<app_id>messageJson=' || (p->'body'->>'messageJson') || 'pushIds=TOKEN<app_secret>') AS sign_checks,
       p->>'url' AS url
FROM (SELECT _vendor_payload('meizu', :'push', 'android', 'en') p) x;
SELECT jsonb_pretty((_vendor_payload('meizu', :'push', 'android', 'en')->'body'->>'messageJson')::jsonb);
-- a collapse id longer than Meizu's 8 characters is folded into 8 of its alphabet, the same each time
SELECT m->'advanceInfo'->>'notifyKey' AS key, m->'advanceInfo'->>'notifyKey' ~ '^[0-9A-Za-z_-]{8}$' AS fits
FROM (SELECT (_vendor_payload('meizu', '{"body": {"notification": {"alert": "a"}, "options": {"apns_collapse_id": "order-12345-shipped"}}}')->'body'->>'messageJson')::jsonb m) x;
-- TTL in whole hours, 1 to 72; no TTL: not kept offline
SELECT t AS ttl, (_vendor_payload('meizu', jsonb_build_object('body', jsonb_build_object('notification', '{"alert": "a"}'::jsonb,
       'options', jsonb_build_object('time_to_live', t))))->'body'->>'messageJson')::jsonb->'pushTimeInfo' AS time_info
FROM unnest(ARRAY[0, 60, 3600, 3601, 864000]) t;
-- a data message goes through the pass-through path
SELECT p->>'url', p->'body'->>'messageJson' FROM (SELECT _vendor_payload('meizu', :'data') p) x;

-- bytes counted by each vendor's limit
SELECT v, (p->>'bytes')::int > 0 AS counted, p->>'limit' AS lim
FROM unnest(ARRAY['honor', 'xiaomi', 'meizu']) v, LATERAL (SELECT _vendor_payload(v, :'push')) x(p);

-- ---- what push_send refuses for them -------------------------------------------------------
-- fits: Xiaomi takes a title under 50 characters and a description under 128
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', repeat('x', 100), 'android', jsonb_build_object('title', repeat('t', 32))))));
-- Meizu: a title of 33 characters (CJK count as one)
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', 'a', 'android', jsonb_build_object('title', repeat('标', 33))))));
-- Meizu: content of 101 characters
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', repeat('x', 101)))));
-- Xiaomi: a title of 50 characters, in one language only (Xiaomi is checked before Meizu)
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', 'a'),
    'options', jsonb_build_object('multi_language', jsonb_build_object('de', jsonb_build_object('title', repeat('ü', 50), 'alert', 'x'))))));
-- iOS-only pushes are not theirs
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'ios',
    'notification', jsonb_build_object('alert', repeat('x', 200)))));
-- push_send applies the title and alert limits of the vendors the app has configured alone
\set long_title '{"to": "all", "body": {"platform": "android", "notification": {"alert": "a", "android": {"title": "A title of forty characters, give or take"}}}}'
SELECT push_send('hxm_cfg', :'long_title');
SELECT push_app_create('hxm_no_meizu');
SELECT push_vendor_set('hxm_no_meizu', 'xiaomi', '{"app_secret": "s", "package_name": "p"}');
SELECT push_send('hxm_no_meizu', :'long_title') IS NOT NULL AS accepted;
SELECT push_send('hxm_no_meizu', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "a", "android": {"title": "A title that is fifty characters long, for Xiaomi."}}}}');
