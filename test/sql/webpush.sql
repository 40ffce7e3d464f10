-- Web Push (src/vendor_webpush.c, src/webpush_crypto.c): the encryption against RFC 8291's
-- example, VAPID configuration, subscriptions as device tokens, the request built for a push,
-- and what push_send refuses.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

-- RFC 8291 Appendix A: the user agent's key pair and auth secret, the application server's
-- key pair and the salt, and the message it encrypts to exactly this body.
\set ua_public 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4'
\set auth 'BTBZMqHH6r4Tts7J_aSIgg'
\set as_private 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw'
\set as_public 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8'
\set salt 'DGv6ra1nlYgDCS1FRnbzlw'
\set rfc_body 'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN'

-- ---- encryption ----------------------------------------------------------------------------
-- the golden vector: byte for byte
SELECT _base64url_encode(_webpush_encrypt(convert_to('When I grow up, I want to be a watermelon', 'UTF8'),
                                          :'ua_public', :'auth', :'salt', :'as_private', :'as_public'))
       = :'rfc_body' AS rfc8291_appendix_a;
-- one bit of the input changed (the auth secret's last byte): another body
SELECT _base64url_encode(_webpush_encrypt(convert_to('When I grow up, I want to be a watermelon', 'UTF8'),
                                          :'ua_public', 'BTBZMqHH6r4Tts7J_aSIgQ', :'salt', :'as_private', :'as_public'))
       = :'rfc_body' AS other_auth_same_body;
-- a send's own salt and key pair: the layout (86-byte header, rs 4096, idlen 65, a point),
-- plaintext + delimiter + tag, and a new salt and key every time
WITH m AS (SELECT _webpush_encrypt(convert_to(repeat('x', 100), 'UTF8'), :'ua_public', :'auth') AS b,
                  _webpush_encrypt(convert_to(repeat('x', 100), 'UTF8'), :'ua_public', :'auth') AS b2)
SELECT length(b) AS bytes, length(b) - 86 - 16 - 1 AS plaintext,
       substring(b FROM 17 FOR 4) = '\x00001000'::bytea AS rs_4096,
       get_byte(b, 20) AS idlen, get_byte(b, 21) AS point_tag,
       substring(b FOR 16) <> substring(b2 FOR 16) AS new_salt,
       substring(b FROM 22 FOR 65) <> substring(b2 FROM 22 FOR 65) AS new_key
FROM m;
-- one record holds 3993 bytes of plaintext, not one more
SELECT length(_webpush_encrypt(convert_to(repeat('x', 3993), 'UTF8'), :'ua_public', :'auth')) AS full_record;
SELECT _webpush_encrypt(convert_to(repeat('x', 3994), 'UTF8'), :'ua_public', :'auth');
-- a p256dh that is not on the curve (the RFC's with one bit of Y flipped)
SELECT _webpush_encrypt('\x00'::bytea,
       _base64url_encode(set_byte(_base64url_decode(:'ua_public'), 64,
                                  get_byte(_base64url_decode(:'ua_public'), 64) # 1)), :'auth');

-- ---- VAPID configuration ----------------------------------------------------------------------
SELECT push_app_create('wp_app');
-- the raw form web-push's generateVAPIDKeys gives (here RFC 8291's server key pair)
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', :'as_public', 'vapid_private_key', :'as_private', 'subject', 'mailto:ops@example.com'));
-- a PEM (EC P-256, PKCS#8) and its public key; an https: subject
\set pem '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgckFYQNHckDEjRjho\n6Nfvnx9MDwl+uSKrB1lvH5oAVTOhRANCAAS7uLfonUq4Q7gXTjlwt/y7cTfCnNXz\nKDZfeYxSmH+LBu3Sd1I0dsrmsmSqpFR0tfdgUSQsZP0GXanrUrIFgvwi\n-----END PRIVATE KEY-----\n'
\set pem_public 'BLu4t-idSrhDuBdOOXC3_LtxN8Kc1fMoNl95jFKYf4sG7dJ3UjR2yuayZKqkVHS192BRJCxk_QZdqetSsgWC_CI'
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', :'pem_public', 'vapid_private_key', replace(:'pem', '\n', E'\n'), 'subject', 'https://example.com/contact'));
-- every refusal, and nothing written: the PEM config stays
SELECT push_vendor_set('wp_app', 'webpush', '{"vapid_public_key": "x", "vapid_private_key": "y"}');
SELECT push_vendor_set('wp_app', 'webpush', '{"vapid_public_key": "x", "vapid_private_key": "y", "subject": "s", "endpoint": "https://x"}');
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', :'as_public', 'vapid_private_key', :'as_private', 'subject', 'ops@example.com'));
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', :'as_public', 'vapid_private_key', :'as_private', 'subject', 'mailto:'));
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', :'as_public', 'vapid_private_key', :'as_private', 'subject', 'http://example.com'));
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', 'not base64!', 'vapid_private_key', :'as_private', 'subject', 'mailto:a@b.c'));
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', :'auth', 'vapid_private_key', :'as_private', 'subject', 'mailto:a@b.c'));
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', :'as_public', 'vapid_private_key', :'auth', 'subject', 'mailto:a@b.c'));
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', :'ua_public', 'vapid_private_key', :'as_private', 'subject', 'mailto:a@b.c'));
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', :'as_public', 'vapid_private_key', replace(:'pem', '\n', E'\n'), 'subject', 'mailto:a@b.c'));
SELECT push_vendor_set('wp_app', 'webpush', jsonb_build_object(
    'vapid_public_key', :'as_public', 'vapid_private_key', '-----BEGIN PRIVATE KEY-----\nnope', 'subject', 'mailto:a@b.c'));
SELECT config->>'subject' AS subject FROM vendor_configs WHERE vendor = 'webpush';

-- ---- subscriptions: the token of a "web" device ------------------------------------------------
-- as the browser's PushSubscription.toJSON() gives it; stored as canonical JSON
\set sub '{"endpoint": "https://push.example.net/wp/a1", "expirationTime": null, "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}'
SELECT push_device_register('wp_app', 'browser1', 'web', 'webpush', :'sub') > 0 AS registered;
SELECT token FROM push_devices WHERE app = 'wp_app' AND registration_id = 'browser1';
-- the same subscription written otherwise is the same token: it moves to the new registration
SELECT push_device_register('wp_app', 'browser2', 'web', 'webpush',
    '{"keys":{"auth":"BTBZMqHH6r4Tts7J_aSIgg","p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"},"endpoint":"https://push.example.net/wp/a1"}') > 0 AS registered;
SELECT registration_id, token IS NOT NULL AS has_token FROM push_devices WHERE app = 'wp_app' ORDER BY 1;
-- the batch form stores the same canonical JSON
SELECT push_device_register_batch('wp_app', jsonb_build_array(jsonb_build_object(
    'registration_id', 'browser3', 'platform', 'web', 'vendor', 'webpush',
    'token', replace(:'sub', '/a1', '/a3'))));
SELECT token FROM push_devices WHERE app = 'wp_app' AND registration_id = 'browser3';
-- every rule, for one device and in a batch (naming the device); nothing written on error
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', 'https://push.example.net/wp/a1');
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', '{"endpoint": "https://push.example.net/wp/a1"}');
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', replace(:'sub', '"keys"', '"extra": 1, "keys"'));
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', replace(:'sub', '"auth"', '"other": "x", "auth"'));
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', replace(:'sub', 'null', '"soon"'));
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', replace(:'sub', 'https://', 'http://'));
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', replace(:'sub', 'https://push.example.net', 'push.example.net'));
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', replace(:'sub', :'ua_public', :'as_private'));
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', replace(:'sub', :'ua_public',
    _base64url_encode(set_byte(_base64url_decode(:'ua_public'), 64, get_byte(_base64url_decode(:'ua_public'), 64) # 1))));
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', replace(:'sub', :'ua_public', 'A' || substr(:'ua_public', 2)));
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', replace(:'sub', :'auth', 'BTBZMqHH6r4Tts7J_aSI'));
SELECT push_device_register('wp_app', 'bad', 'web', 'webpush', replace(:'sub', :'auth', 'BTBZMqHH6r4Tts7J_aSIgg+'));
SELECT push_device_register_batch('wp_app', jsonb_build_array(
    jsonb_build_object('registration_id', 'ok1', 'platform', 'web', 'vendor', 'webpush', 'token', replace(:'sub', '/a1', '/ok1')),
    jsonb_build_object('registration_id', 'bad2', 'platform', 'web', 'vendor', 'webpush', 'token', replace(:'sub', :'auth', 'short'))));
SELECT count(*) AS devices FROM push_devices WHERE app = 'wp_app';

-- ---- the request for a push ---------------------------------------------------------------------
\set cfg '{"vapid_public_key": "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8", "vapid_private_key": "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw", "subject": "mailto:ops@example.com"}'
\set push '{"to": "all", "body": {"platform": ["web", "android"], "notification": {"alert": "Default", "web": {"title": "Web title", "url": "https://shop.example/618", "icon": "https://shop.example/i.png", "image": "https://shop.example/m.png", "extras": {"promo": "618", "n": 3}}}, "options": {"time_to_live": 600, "apns_collapse_id": "promo-618", "priority": "low", "multi_language": {"en": {"alert": "Flash sale!", "title": "Hot deals"}}}}}'
-- the endpoint is the subscription's; TTL, Urgency (low is Web Push's own), Topic; the body is
-- what the service worker reads (encrypted when sent: previews show it before)
SELECT jsonb_pretty(_vendor_payload('webpush', :'push', 'web', NULL, :'cfg', :'sub'));
SELECT _vendor_payload('webpush', :'push', 'web', 'en', :'cfg', :'sub')->'body'->'notification';
-- a data message; the default urgency (no header) and no topic
SELECT _vendor_payload('webpush', '{"body": {"platform": "web", "message": {"msg_content": "sync", "title": "t", "extras": {"k": "v"}}}}',
                       'web', NULL, :'cfg', :'sub') - 'url';
SELECT _vendor_payload('webpush', '{"body": {"notification": {"alert": "x"}, "options": {"priority": "high"}}}',
                       'web', NULL, :'cfg', :'sub')->'headers';

-- ---- size: 3993 bytes of payload before encryption ----------------------------------------------
-- the limit counts the JSON the service worker reads: 3993 bytes fill the one record
SELECT p->'bytes' AS bytes, p->'limit' AS "limit"
FROM _vendor_payload('webpush', jsonb_build_object('body', jsonb_build_object('platform', 'web',
       'notification', jsonb_build_object('alert', repeat('x', 3993 - 48)))), 'web', NULL, :'cfg', :'sub') p;
-- push_send refuses a push over a vendor's limit, naming it; for the web FCM's limit is met
-- first (its web message carries the text, the token and more), so a push that reaches
-- webpush's is refused at delivery, never sent (task ids of push_vendor_test: 21 characters)
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'web',
       'notification', jsonb_build_object('alert', repeat('x', 3900)))));
SELECT r->>'outcome' AS outcome, r->>'error' AS error
FROM _engine_send_many('wp_app', 'webpush', ARRAY[:'sub'], jsonb_build_object('body', jsonb_build_object(
       'notification', jsonb_build_object('alert', repeat('x', 3993 - 62 + 1))))) r;
-- push_vendor_test checks its push as push_send does (for its one vendor): refused before sending
SELECT push_vendor_test('wp_app', 'webpush', :'sub', jsonb_build_object('body', jsonb_build_object(
       'notification', jsonb_build_object('alert', repeat('x', 3993 - 62 + 1)))));
-- its form is push_send's (92947); a "to" is replaced by the token
SELECT push_vendor_test('wp_app', 'webpush', :'sub', '{"to": {"tag": ["x"]}, "body": {"notification": {"alert": "x"}}}')->>'outcome' AS to_ignored;
SELECT push_vendor_test('wp_app', 'webpush', :'sub', '{"notification": {"alert": "x"}}');
SELECT push_vendor_test('wp_app', 'webpush', :'sub', '{"body": {"notification": {"alert": "x"}}, "audience_type": 1}');
SELECT push_vendor_test('wp_app', 'webpush', :'sub', '{"body": {"notification": {"alert": "x"}, "colour": 1}}');

-- ---- the Topic: the collapse id itself, or a digest of one that cannot be a Topic ------------
-- RFC 8030 allows at most 32 base64url characters; APNs collapse ids are longer and freer, and a
-- push to "all" carries them to the web too: the first 32 characters of the id's SHA-256 in
-- base64url keep "the same id, the same topic"
SELECT h->>'topic' = left(rtrim(translate(encode(sha256('order:12'), 'base64'), '+/', '-_'), '='), 32) AS digest,
       length(h->>'topic') AS length
FROM (SELECT _vendor_payload('webpush', '{"body": {"notification": {"alert": "x"}, "options": {"apns_collapse_id": "order:12"}}}',
                             'web', NULL, :'cfg', :'sub')->'headers' AS h) s;
SELECT _vendor_payload('webpush', jsonb_build_object('body', jsonb_build_object('notification', '{"alert": "x"}'::jsonb,
       'options', jsonb_build_object('apns_collapse_id', repeat('a', 32)))), 'web', NULL, :'cfg', :'sub')->'headers'->>'topic' AS topic;
SELECT _vendor_payload('webpush', jsonb_build_object('body', jsonb_build_object('notification', '{"alert": "x"}'::jsonb,
       'options', jsonb_build_object('apns_collapse_id', repeat('a', 33)))), 'web', NULL, :'cfg', :'sub')->'headers'->>'topic' AS topic;
-- so push_send takes any collapse id for the web
SELECT _message_check('{"body": {"platform": "all", "notification": {"alert": "x"}, "options": {"apns_collapse_id": "order:12"}}}');

-- ---- the engine: a token that is not a subscription is never sent ------------------------------
SELECT push_vendor_test('wp_app', 'webpush', 'not-a-subscription', '{"body": {"notification": {"alert": "x"}}}');
