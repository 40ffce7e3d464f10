-- HarmonyOS NEXT Push Kit v3: its configuration (push_vendor_set), the requests built from a
-- push (_vendor_payload) and what push_send refuses for it (_message_check).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

-- a service account's RSA key (test only: openssl genpkey -algorithm RSA, 2048 bits)
\set rsa '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDHhshwhAIKCDF2\nt6hBo8SAAIJsOiVGR9Gl9NjADGxZ8B8b2bJgo0cD4fJs3yDtZ4ObJAHurLJ71ayw\n3+0mAILZlMO3tL/sgbqTqwRAIKoKA1kbmH+tkGgd4OXus9bz4yG1TimOB+TiNppc\nAKx/NY583i9ybGD7RG9rWaxrNJbRbbeyJaxnc3NIDswr7jX7tys/nxCaL9lnzzqp\nghS3upcB22rB3hqKqqQYb2HF9l35S0UxeuSYHnmSOxaYSB2b+aP8CcAS5pK/ANoK\ns0hpIYFgcIE3lGD/U8BIryd+4X91xILEB1Gzdg2ZIaL4OXNUsaI/fay+zotmpymf\nVLMsPCw1AgMBAAECggEASChJUs+awTAHW2y978cfKD+G60b39fvBKOhsfr+/a6M4\nTOUk6mgCJbhP6OmkydaWtMOH414XSkuTIYBKDmU+7Rss0MIQaqLb6818QwjNFcPy\nNNWozwcbcDrGTNZDFX590UjMJG5caybeGgmwWGzw892SgSoKxLQSK1uJzFd/d4s3\n2gYh2f2Wxf5CsZCYYhYi7WFVzP0a+hj8YuEz4xUkCfz7r/gKM1EjAGn8jCOWhi7z\nHWdakNoPSh1qXsglMCfsSJFhn7nWVDCL3NLUDVOtQoDgbxltKyTeMeeYLAe5NEA0\nMAJwtHLLDOWOZW+/ob+ZxQMLzwAuvcfAhgOnpaxMfQKBgQDkeqgCObqQW5Dgnv5J\nw9EE4jNrdOeJ/9t0K7DzD+tFBmrZFiWTV14JTjccg7PDCLudjMF5+Fadx7qyUalW\nJVHe+v7RaorGDaIhtAHRFU4cobsZV9+OPO8FChAHavVFxcSp6CNbNczstEsErbTd\nXpn18pjiEFhbUNA31nXmv6VjUwKBgQDfj1kobtEE2BwNtLcLQ7iDtuJeyzC+BPAQ\nuA/FNGX8PZjW6wIX7tvmse2PD/JSxLE2CENslnaZb+ovPVumWr5neI0YiGoUBh4p\nGXmljhcs/K9Csj7WqcmymyhziwHpZDPngMwCQS3eyGyv/o/k2R79ncD0hmOiVJFe\n1h8aF6CJVwKBgDhxTJvwIvSSikHTRUJ3y2UHdGhxYtmmiVIzkO0a26Ybpb2nSPUT\nOjnWRqsWpgviVmbfZNR60vr7YlW28rxDT+xj2Rtm1I2ExK7Kx0AdoURVd+EU4jdD\nOlDmYXtTou/voVvP6xwXOF6pU3b+apXdTu+BVN9T5l/4oNeKdWnhojvdAoGBAJUr\nIBGDh8JUtLtMdsp0YFy6neckaxyPTOPK/PLX2KjrLN1Sp+3yOhZ/aISJ3mXtylTE\nRMDi0LXm3/qvVUT1zZBa9sKE20sLHfrMfcfCvKIO5J57MsSnO+cJ8n7OJPNnId75\nqKZkeUfqseLo13iaizwsk8BVH4wEI4+FDfGqDDs3AoGAG3/6bjgyfxSXWyUr3zd7\nS76PU+6VIr9Ui5aBnVxBdjb6qrkD5Xk33YBRwuPjoC5O4A+aLYRs7zMLNwpNsmJn\nwLMU7q3hXFkOkMIztolWLD/JHpN2p4x8Ov3f6955eiEivXWWf6DKwKCZl/AOzPWE\n4mTpPHYKStKvR8CR+458cE8=\n-----END PRIVATE KEY-----\n'
-- an EC P-256 key: not one PS256 signs with
\set ec '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgckFYQNHckDEjRjho\n6Nfvnx9MDwl+uSKrB1lvH5oAVTOhRANCAAS7uLfonUq4Q7gXTjlwt/y7cTfCnNXz\nKDZfeYxSmH+LBu3Sd1I0dsrmsmSqpFR0tfdgUSQsZP0GXanrUrIFgvwi\n-----END PRIVATE KEY-----\n'

SELECT replace(:'rsa', '\n', E'\n') AS rsa, replace(:'ec', '\n', E'\n') AS ec \gset

-- ---- configuration -------------------------------------------------------------------------
SELECT push_app_create('hm_cfg');
SELECT vendor, key, required FROM _vendor_keys() WHERE vendor = 'harmony' ORDER BY 1, 2;
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('project_id', '101700800',
    'key_id', 'k1', 'private_key', :'rsa', 'sub_account', '1017008001'));
SELECT vendor, endpoint FROM push_vendors WHERE app = 'hm_cfg';
-- missing keys
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('project_id', '1', 'key_id', 'k', 'private_key', :'rsa'));
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('key_id', 'k', 'private_key', :'rsa', 'sub_account', 's'));
-- unknown keys (the legacy HMS credentials are not this API's; neither is token_uri: no token endpoint)
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('project_id', '1', 'key_id', 'k', 'private_key', :'rsa', 'sub_account', 's', 'client_secret', 'x'));
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('project_id', '1', 'key_id', 'k', 'private_key', :'rsa', 'sub_account', 's', 'token_uri', 'https://x'));
-- bad URLs
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('project_id', '1', 'key_id', 'k', 'private_key', :'rsa', 'sub_account', 's', 'endpoint', 'ftp://push-api'));
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('project_id', '1', 'key_id', 'k', 'private_key', :'rsa', 'sub_account', 's', 'endpoint', 'push-api.cloud.huawei.com'));
-- keys: not a PEM, an EC key
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('project_id', '1', 'key_id', 'k', 'private_key', 'not a key', 'sub_account', 's'));
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('project_id', '1', 'key_id', 'k', 'private_key', :'ec', 'sub_account', 's'));
-- not strings
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('project_id', 101700800, 'key_id', 'k', 'private_key', :'rsa', 'sub_account', 's'));
SELECT push_vendor_set('hm_cfg', 'harmony', jsonb_build_object('project_id', '1', 'key_id', 'k', 'private_key', :'rsa', 'sub_account', 's', 'default_title', ''));
-- the failed calls changed nothing
SELECT vendor, config - 'private_key' AS config, config->>'private_key' = :'rsa' AS same_key
FROM vendor_configs JOIN apps USING (app_id) WHERE app = 'hm_cfg';
-- a config the engine cannot send with
SELECT _vendor_payload('harmony', '{}', NULL, NULL, '{"project_id": "1"}');

-- ---- devices -------------------------------------------------------------------------------
-- HarmonyOS NEXT devices are platform harmony; hms keeps serving android and harmony (legacy)
SELECT push_device_register('hm_cfg', 'next-1', 'harmony', 'harmony', 'IQAAAACy0kAAAACP') > 0 AS registered;
SELECT push_device_register('hm_cfg', 'legacy-1', 'harmony', 'hms', 'legacy-hms-token') > 0 AS registered;
SELECT push_device_register('hm_cfg', 'phone-1', 'android', 'harmony', 'IQAAAACy0kAAAACQ');
SELECT registration_id, platform, vendor FROM push_devices WHERE app = 'hm_cfg' ORDER BY 1;

-- ---- payloads ------------------------------------------------------------------------------
\set push '{"to": "all", "body": {"platform": ["android", "harmony"], "notification": {"alert": "Default text", "harmony": {"title": "Harmony title", "extras": {"promo": "618", "n": 3, "obj": {"a": 1}}, "category": "IM"}, "android": {"title": "Android title"}}, "options": {"time_to_live": 600, "apns_collapse_id": "c1", "priority": "high", "multi_language": {"en": {"alert": "Flash sale!", "title": "Hot deals"}, "zh": {"alert": "限时秒杀"}}}}}'
\set data '{"body": {"platform": "harmony", "message": {"msg_content": "sync", "title": "t", "extras": {"k": "v"}}, "options": {"time_to_live": 0}}}'

-- a notification: push-type 0, the payload and pushOptions (the engine adds the target's tokens)
SELECT jsonb_pretty(_vendor_payload('harmony', :'push', 'harmony', 'zh'));
SELECT _vendor_payload('harmony', :'push', 'harmony', 'en')->'body'->'payload'->'notification'->>'title' AS en_title;
-- no category: MARKETING (needs no approval); no extras: clickAction without data; no collapse id: no notifyId
SELECT _vendor_payload('harmony', '{"body": {"notification": {"alert": "a", "harmony": {"title": "t"}}}}')->'body';
-- no title: the config's default_title; none: sent without (Huawei refuses it, 80100003)
SELECT _vendor_payload('harmony', '{"body": {"notification": {"alert": "a"}}}', NULL, NULL,
    jsonb_build_object('project_id', '1', 'key_id', 'k', 'private_key', 'x', 'sub_account', 's', 'default_title', 'Shop'))->'body'->'payload'->'notification'->>'title' AS default_title,
       _vendor_payload('harmony', '{"body": {"notification": {"alert": "a"}}}')->'body'->'payload'->'notification' ? 'title' AS has_title;
-- a data message: push-type 6, background, the fields as a JSON string
SELECT p->'headers' AS headers, p->'body' AS body FROM (SELECT _vendor_payload('harmony', :'data') p) x;
-- TTL: at most Huawei's 15 days
SELECT _vendor_payload('harmony', '{"body": {"notification": {"alert": "a"}, "options": {"time_to_live": 8640000}}}')->'body'->'pushOptions';
-- the real config: the URL has the project id
SELECT _vendor_payload('harmony', :'push', NULL, NULL, jsonb_build_object('project_id', '101700800', 'key_id', 'k',
    'private_key', 'x', 'sub_account', 's', 'endpoint', 'https://127.0.0.1:8443'))->>'url';
-- the bytes the 4096 limit counts: the body without its token list
SELECT (p->>'bytes')::int AS bytes, p->>'limit' AS lim
FROM (SELECT _vendor_payload('harmony', :'push', 'harmony') p) x;

-- ---- what push_send refuses for it ---------------------------------------------------------
-- a message over 4096 bytes for harmony devices: every vendor of the platform is checked (hms,
-- which serves them too, comes first in the registry) ...
SELECT jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'harmony',
    'notification', jsonb_build_object('alert', repeat('x', 3990),
        'harmony', jsonb_build_object('extras', jsonb_build_object('k', repeat('y', 200))))))::text AS big \gset
SELECT _message_check(:'big');
-- ... and push_send names the app's own vendor first: hm_cfg has harmony alone
SELECT push_send('hm_cfg', :'big');
-- fits
SELECT _message_check(jsonb_build_object('body', jsonb_build_object('platform', 'harmony',
    'notification', jsonb_build_object('alert', repeat('x', 3500)))));
