-- 10,000 devices of a shop selling in the US, India, the Philippines and China, the way the
-- apps' SDKs would report them. The population is made up but deterministic (md5 of the
-- device number, not random()), so every run prints the same counts.

-- h(i, salt): a stable pseudo-random number 0..99 for device i.
CREATE FUNCTION pg_temp.h(i int, salt text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT ('x' || substr(md5(salt || i), 1, 7))::bit(28)::int % 100 $$;

-- Region 40% US, 25% IN, 15% PH, 20% CN; platform and vendor by region (Android phones in China
-- by maker: 15% Huawei, 15% OPPO, 10% vivo, 20% Honor, 25% Xiaomi, 15% Meizu; FCM elsewhere;
-- HarmonyOS phones run HarmonyOS NEXT: Push Kit v3, vendor harmony); local time zones and
-- languages; tags skewed as real ones are.
CREATE TEMP VIEW demo_devices AS
WITH base AS (
    SELECT i, pg_temp.h(i, 'platform') AS p, pg_temp.h(i, 'place') AS w,
           CASE WHEN pg_temp.h(i, 'region') < 40 THEN 'US'
                WHEN pg_temp.h(i, 'region') < 65 THEN 'IN'
                WHEN pg_temp.h(i, 'region') < 80 THEN 'PH' ELSE 'CN' END AS region
    FROM generate_series(1, 10000) i
), dev AS (
    SELECT *,
           CASE region
               WHEN 'US' THEN CASE WHEN p < 55 THEN 'ios' WHEN p < 85 THEN 'android' ELSE 'web' END
               WHEN 'IN' THEN CASE WHEN p < 80 THEN 'android' WHEN p < 92 THEN 'ios' ELSE 'web' END
               WHEN 'PH' THEN CASE WHEN p < 70 THEN 'android' WHEN p < 90 THEN 'ios' ELSE 'web' END
               ELSE CASE WHEN p < 55 THEN 'android' WHEN p < 90 THEN 'ios' ELSE 'harmony' END
           END AS platform,
           CASE region
               WHEN 'US' THEN (ARRAY['America/New_York', 'America/Chicago', 'America/Denver',
                                     'America/Los_Angeles'])[1 + w % 4]
               WHEN 'IN' THEN 'Asia/Kolkata'
               WHEN 'PH' THEN 'Asia/Manila'
               ELSE CASE WHEN w < 90 THEN 'Asia/Shanghai' ELSE 'Asia/Hong_Kong' END
           END AS timezone,
           CASE region
               WHEN 'US' THEN (ARRAY['New York', 'Chicago', 'Denver', 'Los Angeles'])[1 + w % 4]
               WHEN 'IN' THEN (ARRAY['Mumbai', 'Delhi', 'Bengaluru'])[1 + w % 3]
               WHEN 'PH' THEN (ARRAY['Manila', 'Cebu'])[1 + w % 2]
               ELSE CASE WHEN w < 90 THEN (ARRAY['深圳', '北京', '上海'])[1 + w % 3] ELSE '香港' END
           END AS city,
           CASE region
               WHEN 'US' THEN 'en'
               WHEN 'IN' THEN CASE WHEN pg_temp.h(i, 'lang') < 55 THEN 'hi' ELSE 'en' END
               WHEN 'PH' THEN CASE WHEN pg_temp.h(i, 'lang') < 60 THEN 'fil' ELSE 'en' END
               ELSE 'zh-Hans'
           END AS language,
           pg_temp.h(i, 'vip') < 8 AS vip,
           pg_temp.h(i, 'churned') < 15 AS churned
    FROM base
), dev_vendor AS (
    SELECT *,
           CASE platform WHEN 'ios' THEN 'apns' WHEN 'web' THEN 'webpush' WHEN 'harmony' THEN 'harmony'
               ELSE CASE WHEN region <> 'CN' THEN 'fcm'
                         WHEN pg_temp.h(i, 'maker') < 15 THEN 'hms'
                         WHEN pg_temp.h(i, 'maker') < 30 THEN 'oppo'
                         WHEN pg_temp.h(i, 'maker') < 40 THEN 'vivo'
                         WHEN pg_temp.h(i, 'maker') < 60 THEN 'honor'
                         WHEN pg_temp.h(i, 'maker') < 85 THEN 'xiaomi'
                         ELSE 'meizu' END
           END AS vendor
    FROM dev
)
SELECT i, jsonb_build_object(
    'registration_id', 'reg' || lpad(i::text, 5, '0'),
    'platform', platform,
    'vendor', vendor,
    'token', CASE vendor
                 WHEN 'apns' THEN encode(sha256(convert_to('apns' || i, 'UTF8')), 'hex')
                 -- a browser's push subscription at the mock's push service: every demo
                 -- browser shares one key pair (the mock's for "demo", which the demo asked it
                 -- for), with an endpoint of its own
                 WHEN 'webpush' THEN jsonb_build_object(
                     'endpoint', :'wp_base' || '/wp/demo.' || md5('web' || i),
                     'keys', jsonb_build_object('p256dh', :'wp_p256dh', 'auth', :'wp_auth'))::text
                 WHEN 'hms' THEN 'IQAAAACy0' || md5('hms' || i)
                 WHEN 'honor' THEN 'HN' || md5('honor' || i)
                 WHEN 'xiaomi' THEN 'mi' || md5('xiaomi' || i)
                 WHEN 'meizu' THEN 'MZ' || left(md5('meizu' || i), 24)
                 WHEN 'vivo' THEN left(md5('vivo' || i), 23)
                 WHEN 'harmony' THEN 'MAMzLg' || md5('harmony' || i)
                 WHEN 'oppo' THEN 'OPPO_CN_' || md5('oppo' || i)
                 ELSE md5('fcm' || i) || ':APA91b' || md5('fcm2' || i)
             END,
    'timezone', timezone,
    'language', language,
    'tags', to_jsonb(array_remove(ARRAY[
                region,
                CASE WHEN vip THEN 'vip' END,
                CASE WHEN churned THEN 'churned' END,
                CASE WHEN NOT churned AND pg_temp.h(i, 'new') < 20 THEN 'new_user' END,
                CASE WHEN pg_temp.h(i, 'fashion') < 30 THEN 'fashion' END,
                CASE WHEN pg_temp.h(i, 'electronics') < 25 THEN 'electronics' END], NULL)),
    'attrs', jsonb_build_object(
                'city', city,
                'level', CASE WHEN vip THEN '超白金会员'
                              WHEN pg_temp.h(i, 'level') < 20 THEN '黄金会员' ELSE '普通' END,
                'age', 18 + pg_temp.h(i, 'age') % 47)) AS device
FROM dev_vendor;

\echo 'batch 1: devices 1..5000, batch 2: 5001..10000 (at most 10,000 a call)'
\set ECHO queries
SELECT n AS batch,
       push_device_register_batch(:'app', (SELECT jsonb_agg(device ORDER BY i) FROM demo_devices
                                           WHERE (i - 1) / 5000 + 1 = n)) AS devices_registered
FROM generate_series(1, 2) n;
\set ECHO none

\echo 'what one registration looks like:'
SELECT jsonb_pretty(device) AS "push_device_register_batch(app, '[ {...}, ... ]')"
FROM demo_devices WHERE i = 7;

\echo 'about 2% opt out of notifications (push_device_opt), about 1% uninstall (push_device_unregister):'
\set ECHO queries
SELECT count(*) AS opted_out
FROM generate_series(1, 10000) i,
     LATERAL push_device_opt(:'app', 'reg' || lpad(i::text, 5, '0'), false)
WHERE pg_temp.h(i, 'optout') < 2;
SELECT count(*) AS unregistered
FROM generate_series(1, 10000) i,
     LATERAL push_device_unregister(:'app', 'reg' || lpad(i::text, 5, '0'))
WHERE pg_temp.h(i, 'unregister') < 1;
\set ECHO none

\echo 'devices by platform and vendor (reachable = opted in, registered, with a token):'
SELECT coalesce(platform, 'all') AS platform, coalesce(vendor, '') AS vendor,
       count(*) AS devices, count(*) FILTER (WHERE reachable) AS reachable
FROM push_devices WHERE app = :'app'
GROUP BY ROLLUP ((platform, vendor))
ORDER BY grouping(platform, vendor), 1, 2;

\echo 'time zones and languages:'
SELECT timezone, string_agg(language || ' ' || n, ', ' ORDER BY n DESC) AS languages,
       sum(n) AS devices
FROM (SELECT timezone, language, count(*) AS n FROM push_devices WHERE app = :'app'
      GROUP BY 1, 2) s
GROUP BY timezone ORDER BY devices DESC, timezone;

\echo 'tags:'
SELECT t.tag, count(*) AS devices
FROM tags t JOIN device_tags dt USING (tag_id)
WHERE t.app_id = _app_id(:'app', 'reader') GROUP BY t.tag ORDER BY devices DESC, t.tag;
