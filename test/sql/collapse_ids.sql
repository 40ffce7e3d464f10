-- Collapse ids (doc/vendors.md, "Collapse ids"): a delivery sent again after a crash replaces its
-- first copy. Without a collapse id of the push's own, each vendor that has one gets one derived
-- from the task ("pp" and 30 hex digits of its SHA-256; previews use the task id "preview");
-- the push's own is never overridden.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;

\set plain '{"body": {"platform": "all", "notification": {"alert": "hi"}}}'
\set own '{"body": {"platform": "all", "notification": {"alert": "hi"}, "options": {"apns_collapse_id": "sale-618"}}}'
\set long_own '{"body": {"platform": "all", "notification": {"alert": "hi"}, "options": {"apns_collapse_id": "sale 618, second wave"}}}'
SELECT 'pp' || left(encode(sha256('preview'), 'hex'), 30) AS derived \gset

-- APNs: the derived id, or the push's own
SELECT _vendor_payload('apns', :'plain', 'ios')->'headers'->>'apns-collapse-id' = :'derived' AS apns_derived,
       _vendor_payload('apns', :'own', 'ios')->'headers'->>'apns-collapse-id' AS apns_own;
-- FCM: iOS header, Android notification tag, web Topic (a push's own id that cannot be a topic
-- goes as 32 characters of its digest)
SELECT _vendor_payload('fcm', :'plain', 'ios')->'body'->'message'->'apns'->'headers'->>'apns-collapse-id' = :'derived' AS fcm_ios,
       _vendor_payload('fcm', :'plain', 'android')->'body'->'message'->'android'->'notification'->>'tag' = :'derived' AS fcm_android,
       _vendor_payload('fcm', :'plain', 'web')->'body'->'message'->'webpush'->'headers'->>'Topic' = :'derived' AS fcm_web;
SELECT _vendor_payload('fcm', :'own', 'android')->'body'->'message'->'android'->'notification'->>'tag' AS fcm_android_own,
       _vendor_payload('fcm', :'own', 'web')->'body'->'message'->'webpush'->'headers'->>'Topic' AS fcm_web_own,
       _vendor_payload('fcm', :'long_own', 'web')->'body'->'message'->'webpush'->'headers'->>'Topic' AS fcm_web_long_own;
-- a data message has no notification, so no tag
SELECT _vendor_payload('fcm', '{"body": {"platform": "android", "message": {"msg_content": "sync"}}}', 'android')->'body'->'message'->'android' AS fcm_data_message;
-- HMS and Honor: the Android notification's tag; HarmonyOS: notifyId, a number of it
SELECT _vendor_payload('hms', :'plain', 'android')->'body'->'message'->'android'->'notification'->>'tag' = :'derived' AS hms,
       _vendor_payload('hms', :'own', 'android')->'body'->'message'->'android'->'notification'->>'tag' AS hms_own,
       _vendor_payload('honor', :'plain', 'android')->'body'->'android'->'notification'->>'tag' = :'derived' AS honor,
       _vendor_payload('honor', :'own', 'android')->'body'->'android'->'notification'->>'tag' AS honor_own;
SELECT (_vendor_payload('harmony', :'plain', 'harmony')->'body'->'payload'->'notification'->>'notifyId')::int > 0 AS harmony_number,
       _vendor_payload('harmony', :'plain', 'harmony')->'body'->'payload'->'notification'->'notifyId' =
       _vendor_payload('harmony', :'plain', 'harmony')->'body'->'payload'->'notification'->'notifyId' AS harmony_stable;
-- Web Push: the topic header
\set sub '{"endpoint": "https://push.example.net/wp/a1", "expirationTime": null, "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}'
\set cfg '{"vapid_public_key": "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8", "vapid_private_key": "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw", "subject": "mailto:ops@example.com"}'
SELECT _vendor_payload('webpush', :'plain', 'web', NULL, :'cfg', :'sub')->'headers'->>'topic' = :'derived' AS webpush,
       _vendor_payload('webpush', :'own', 'web', NULL, :'cfg', :'sub')->'headers'->>'topic' AS webpush_own;
-- Xiaomi, OPPO and Meizu take only the push's own (doc/vendors.md says why)
SELECT _vendor_payload('xiaomi', :'plain', 'android', NULL, '{"app_secret": "s", "package_name": "p"}')->'body' ? 'notify_id' AS xiaomi_derived,
       _vendor_payload('xiaomi', :'own', 'android', NULL, '{"app_secret": "s", "package_name": "p"}')->'body' ? 'notify_id' AS xiaomi_own;
