-- OPPO: its configuration (push_vendor_set), the requests built from a push (_vendor_payload; the
-- form is shown as an object of its fields, the message a JSON string in it) and what push_send
-- refuses for it (_message_check).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

-- ---- configuration -------------------------------------------------------------------------
SELECT push_app_create('oppo_cfg');
SELECT vendor, key, required FROM _vendor_keys() WHERE vendor = 'oppo' ORDER BY 1, 2;
SELECT push_vendor_set('oppo_cfg', 'oppo', '{"app_key": "k", "master_secret": "m", "default_title": "Shop"}');
SELECT vendor, endpoint FROM push_vendors WHERE app = 'oppo_cfg' ORDER BY vendor;
SELECT push_vendor_set('oppo_cfg', 'oppo', '{"app_key": "k", "master_secret": "m", "endpoint": "https://api-intl.push.oppomobile.com"}');
SELECT vendor, endpoint FROM push_vendors WHERE app = 'oppo_cfg' ORDER BY vendor;
-- missing keys
SELECT push_vendor_set('oppo_cfg', 'oppo', '{"app_key": "k"}');
SELECT push_vendor_set('oppo_cfg', 'oppo', '{"master_secret": "m"}');
-- unknown keys (OPPO's app secret and app id are not what the server API signs with)
SELECT push_vendor_set('oppo_cfg', 'oppo', '{"app_key": "k", "master_secret": "m", "app_secret": "s"}');
SELECT push_vendor_set('oppo_cfg', 'oppo', '{"app_key": "k", "master_secret": "m", "token_endpoint": "https://x"}');
-- bad URLs
SELECT push_vendor_set('oppo_cfg', 'oppo', '{"app_key": "k", "master_secret": "m", "endpoint": "api.push.oppomobile.com"}');
SELECT push_vendor_set('oppo_cfg', 'oppo', '{"app_key": "k", "master_secret": "m", "endpoint": "ftp://api.push.oppomobile.com"}');
-- not strings, empty
SELECT push_vendor_set('oppo_cfg', 'oppo', '{"app_key": 30000, "master_secret": "m"}');
SELECT push_vendor_set('oppo_cfg', 'oppo', '{"app_key": "k", "master_secret": "m", "default_title": ""}');
-- the failed calls changed nothing
SELECT vendor, config FROM vendor_configs JOIN apps USING (app_id) WHERE app = 'oppo_cfg' ORDER BY vendor;
-- a config the engine cannot send with
SELECT _vendor_payload('oppo', '{}', NULL, NULL, '{"app_key": "k"}');

-- ---- payloads ------------------------------------------------------------------------------
\set push '{"to": "all", "body": {"platform": ["android", "ios"], "notification": {"alert": "Default text", "android": {"title": "Android title", "extras": {"promo": "618", "n": 3, "obj": {"a": 1}}, "image": "https://img/a.png", "intent": {"url": "https://shop/618"}, "channel_id": "promo", "sound": "ding", "badge_add_num": 1, "big_text": "The whole story"}}, "options": {"time_to_live": 600, "apns_collapse_id": "c1", "priority": "high", "multi_language": {"en": {"alert": "Flash sale!", "title": "Hot deals"}, "zh": {"alert": "限时秒杀"}}}}}'

-- one device: unicast, the message a JSON string in the form (auth_token is added by the engine)
SELECT jsonb_pretty(_vendor_payload('oppo', :'push', 'android', 'en'));
SELECT jsonb_pretty((_vendor_payload('oppo', :'push', 'android', 'zh')->'body'->>'message')::jsonb);
-- the real config: its endpoint; the title of the config when the push has none
SELECT p->>'url' AS url, (p->'body'->>'message')::jsonb->'notification'->>'title' AS title
FROM (SELECT _vendor_payload('oppo', '{"body": {"notification": {"alert": "no title"}}}', NULL, NULL,
      '{"app_key": "k", "master_secret": "m", "default_title": "Shop", "endpoint": "https://api-intl.push.oppomobile.com"}') p) x;
-- click actions: a deep link is an intent scheme (5); none opens the app (0)
SELECT (_vendor_payload('oppo', '{"body": {"notification": {"android": {"alert": "a", "title": "t", "intent": {"url": "intent://x#Intent;end"}}}}}')->'body'->>'message')::jsonb->'notification' AS deep_link,
       (_vendor_payload('oppo', '{"body": {"notification": {"alert": "a"}}}')->'body'->>'message')::jsonb->'notification' AS plain;
-- TTL: at most 10 days; 0 is not kept offline
SELECT t AS ttl, ((_vendor_payload('oppo', jsonb_build_object('body', jsonb_build_object('notification', '{"alert": "a"}'::jsonb,
       'options', jsonb_build_object('time_to_live', t))))->'body'->>'message')::jsonb->'notification') - 'content'::text - 'click_action_type'::text AS offline
FROM unnest(ARRAY[0, 60, 864000, 8640000]) t;
-- a collapse id is notify_id, a stable number
SELECT (_vendor_payload('oppo', '{"body": {"notification": {"alert": "a"}, "options": {"apns_collapse_id": "order-1"}}}')->'body'->>'message')::jsonb->'notification'->'notify_id'
     = (_vendor_payload('oppo', '{"body": {"notification": {"alert": "b"}, "options": {"apns_collapse_id": "order-1"}}}')->'body'->>'message')::jsonb->'notification'->'notify_id' AS same_id;
-- a data message: OPPO shows notifications only; the engine fails it unsent
SELECT _vendor_payload('oppo', '{"body": {"platform": "android", "message": {"msg_content": "sync"}}}')->>'refused';
-- bytes counted by the limit: the notification object
SELECT (p->>'bytes')::int > 0 AS counted, p->>'limit' AS lim
FROM (SELECT _vendor_payload('oppo', :'push') p) x;
-- too large: extras of 4100 bytes (the engine fails such a delivery unsent; push_send refuses it
-- with the first vendor's limit, FCM's)
SELECT (p->>'bytes')::int > (p->>'limit')::int AS over
FROM (SELECT _vendor_payload('oppo', jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', 'a', 'android', jsonb_build_object('extras', jsonb_build_object('k', repeat('x', 4100))))))) p) x;

-- ---- what push_send refuses for it ---------------------------------------------------------
-- OPPO: a title of 51 characters (CJK count as one)
SELECT push_send('oppo_cfg', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', 'a', 'android', jsonb_build_object('title', repeat('标', 51))))));
-- OPPO: content of 201 characters, in one language only
SELECT push_send('oppo_cfg', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', 'a'),
    'options', jsonb_build_object('multi_language', jsonb_build_object('de', jsonb_build_object('alert', repeat('ü', 201)))))));
-- fits: 50 and 200
SELECT push_send('oppo_cfg', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', repeat('x', 200), 'android', jsonb_build_object('title', repeat('t', 50)))))) IS NOT NULL AS accepted;
