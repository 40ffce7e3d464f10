-- A batch of three devices whose third has a tag of 17 Chinese characters: 51 bytes in UTF-8,
-- one more than the limit (Tencent IM code 90020). The whole batch is refused.
\set SHOW_CONTEXT never
\echo 'devices before:'
SELECT count(*) AS devices FROM push_devices WHERE app = :'app';
\set ECHO queries
SELECT push_device_register_batch(:'app', '[
    {"registration_id": "bad00001", "platform": "android", "vendor": "fcm", "token": "bad-tok-1"},
    {"registration_id": "bad00002", "platform": "ios", "vendor": "apns", "token": "bad-tok-2"},
    {"registration_id": "bad00003", "platform": "android", "vendor": "fcm", "token": "bad-tok-3",
     "tags": ["VIP", "六一八年中大促限时秒杀爆款专享会场"]}]');
