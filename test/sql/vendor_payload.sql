SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;

-- A notification with platform blocks, extras and multi_language.
\set push '{"to": "all", "body": {"platform": ["android", "ios"], "notification": {"alert": "Default text", "android": {"title": "Android title", "extras": {"promo": "618", "n": 3, "obj": {"a": 1}, "from": "x"}, "image": "https://img/a.png", "intent": {"url": "https://shop/618"}, "channel_id": "promo", "priority": 1}, "ios": {"sound": "default", "badge": "+1", "category": "PROMO", "thread_id": "t1", "extras": {"promo": "618", "aps": "dropped"}}}, "options": {"time_to_live": 600, "apns_collapse_id": "c1", "multi_language": {"en": {"alert": "Flash sale!", "title": "Hot deals"}, "zh": {"alert": "限时秒杀"}}}}}'

-- APNs: alert push, headers, badge "+1" as 1, custom keys ("aps" in extras is dropped)
SELECT jsonb_pretty(_vendor_payload('apns', :'push', 'ios', NULL));
-- multi_language: exact, primary subtag, unknown language falls back
SELECT _vendor_payload('apns', :'push', 'ios', 'en')->'body'->'aps'->'alert';
SELECT _vendor_payload('apns', :'push', 'ios', 'zh-Hans')->'body'->'aps'->'alert';
SELECT _vendor_payload('apns', :'push', 'ios', 'fr')->'body'->'aps'->'alert';
-- the apns-id is derived from task and device: the same every time
SELECT _vendor_payload('apns', :'push', 'ios')->'headers'->>'apns-id' =
       _vendor_payload('apns', :'push', 'ios')->'headers'->>'apns-id' AS apns_id_stable;
-- iOS alert object with subtitle; absolute badge; image -> mutable-content
SELECT _vendor_payload('apns', '{"body": {"notification": {"ios": {"alert": {"title": "T", "subtitle": "S", "body": "B"}, "badge": 5, "image": "https://img/i.png"}}}}')->'body';
-- data message: background push, priority 5, content-available
SELECT jsonb_pretty(_vendor_payload('apns', '{"body": {"platform": ["ios"], "message": {"msg_content": "sync", "title": "t", "extras": {"k": "v", "n": 1}}}}'));
-- config: real URL and topic
SELECT _vendor_payload('apns', :'push', 'ios', NULL, '{"team_id": "T", "key_id": "K", "private_key": "x", "bundle_id": "com.ex.app", "endpoint": "https://api.sandbox.push.apple.com"}', 'abc/def')->>'url',
       _vendor_payload('apns', :'push', 'ios', NULL, '{"team_id": "T", "key_id": "K", "private_key": "x", "bundle_id": "com.ex.app"}')->'headers'->>'apns-topic';

-- FCM: android notification, data values as strings, reserved data keys dropped
SELECT jsonb_pretty(_vendor_payload('fcm', :'push', 'android', 'en'));
-- FCM for an iOS device: the APNs payload in "apns"
SELECT jsonb_pretty(_vendor_payload('fcm', :'push', 'ios', 'en')->'body');
-- FCM web
SELECT _vendor_payload('fcm', '{"body": {"notification": {"alert": "w", "web": {"title": "Web", "url": "https://shop", "icon": "https://i"}}, "options": {"priority": "normal"}}}', 'web')->'body';
-- FCM data message: no notification, data only
SELECT _vendor_payload('fcm', '{"body": {"message": {"msg_content": "sync", "extras": {"k": 1, "b": true}}}}', 'android')->'body';

-- HMS: one token here (the engine groups up to 1000); click_action per intent
SELECT jsonb_pretty(_vendor_payload('hms', :'push', 'android', 'zh'));
SELECT _vendor_payload('hms', '{"body": {"notification": {"android": {"alert": "a", "intent": {"url": "intent://x#Intent;end"}}}}}')->'body'->'message'->'android'->'notification'->'click_action';
SELECT _vendor_payload('hms', '{"body": {"notification": {"harmony": {"title": "H", "alert": "h"}}}}', 'harmony')->'body'->'message'->'android'->'notification';
SELECT _vendor_payload('hms', '{"body": {"message": {"msg_content": "sync"}}}')->'body';

-- webhook: the device's resolved view, signed
SELECT jsonb_pretty(_vendor_payload('webhook', :'push', 'android', 'en', '{"url": "https://hooks.example/push", "secret": "s3cret"}'));

-- bytes counted by each vendor's limit
SELECT v, (p->>'bytes')::int > 0 AS counted, p->>'limit' AS lim
FROM unnest(ARRAY['apns', 'fcm', 'hms', 'webhook']) v, LATERAL (SELECT _vendor_payload(v, :'push')) x(p);

-- size check (what push_send runs): fits
SELECT _message_check(:'push');
-- too large for APNs (4096 bytes)
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'ios',
    'notification', jsonb_build_object('alert', repeat('x', 4100)))));
-- too large in one language only
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', jsonb_build_array('android'),
    'notification', jsonb_build_object('alert', 'short'),
    'options', jsonb_build_object('multi_language', jsonb_build_object('de', jsonb_build_object('alert', repeat('ü', 2100)))))));
-- FCM counts the message with its device token (a 200-byte placeholder in the check)
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'android',
    'message', jsonb_build_object('msg_content', repeat('y', 3950)))));
-- errors (every declared vendor is sent to now: a name that is no vendor takes the same path)
SELECT _vendor_payload('nope', '{}');
SELECT _vendor_payload('apns', '[1]');
SELECT _vendor_payload('apns', '{}', 'tv');
SELECT _vendor_payload('apns', '{}', NULL, NULL, '{"team_id": "T"}');
SELECT _message_check('"x"');

-- options.priority is the push's lane and the vendors' urgency; "low" goes out as the vendors'
-- normal urgency (none of them has a lower one that delivers)
SELECT p AS priority,
       _vendor_payload('apns', b, 'ios')->'headers'->>'apns-priority' AS apns,
       _vendor_payload('fcm', b, 'android')->'body'->'message'->'android'->>'priority' AS fcm,
       _vendor_payload('hms', b, 'android')->'body'->'message'->'android'->>'urgency' AS hms
FROM unnest(ARRAY['high', 'normal', 'low']) p,
     LATERAL (SELECT jsonb_build_object('body', jsonb_build_object('notification', '{"alert": "a"}'::jsonb,
                                        'options', jsonb_build_object('priority', p))) AS b) x;
