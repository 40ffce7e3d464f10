-- Who the 618 pushes will meet. The guide's push names two devices, regId_userA and regId_userB:
-- they register now (Android, FCM). And real life: some phones have uninstalled the app since
-- they registered (their vendor will answer that the token is unregistered), and the vendors are
-- busy at times (they answer "slow down" twice before taking a push). The mock vendor plays both
-- from keywords in the device token, "unregistered" and "throttle2" (test/mock_vendor/README.md);
-- the devices re-register with such tokens, as an app does when the OS hands it a new one.
\set ECHO queries
SELECT push_device_register(:'app', 'regId_userA', 'android', 'fcm', 'fcm-token-userA',
                            'Asia/Shanghai', 'zh-Hans') > 0 AS "userA",
       push_device_register(:'app', 'regId_userB', 'android', 'fcm', 'fcm-token-userB-throttle2',
                            'Asia/Shanghai', 'zh-Hans') > 0 AS "userB";
\set ECHO none

-- In each audience of the pushes to come (the US/IN broadcast, the Chinese fashion fans of the
-- Tencent IM push) and each vendor: the 7th device of every 500 is gone, the 101st is throttled.
CREATE TEMP TABLE demo_faults AS
SELECT registration_id, platform, vendor, timezone, language, audience, fault,
       CASE WHEN vendor = 'apns' THEN 'test-' || fault || '-' || registration_id
            ELSE token || '-' || fault END AS new_token
FROM (SELECT d.*, CASE WHEN d.tags && '{US,IN}' THEN 'broadcast US/IN' ELSE 'IM: CN fashion' END
                  AS audience,
             CASE row_number() OVER (PARTITION BY d.tags && '{US,IN}', d.vendor
                                     ORDER BY d.registration_id) % 500
                 WHEN 7 THEN 'unregistered' WHEN 101 THEN 'throttle2' END AS fault
      FROM push_devices d
      WHERE d.app = :'app' AND d.reachable AND d.platform IN ('ios', 'android')
        AND (d.tags && '{US,IN}' OR d.tags @> '{CN,fashion}')) s
WHERE fault IS NOT NULL;

\set ECHO queries
SELECT push_device_register_batch(:'app', jsonb_agg(jsonb_build_object(
           'registration_id', registration_id, 'platform', platform, 'vendor', vendor,
           'token', new_token, 'timezone', timezone, 'language', language))) AS re_registered
FROM demo_faults;
\set ECHO none
SELECT audience, vendor, fault, count(*) AS devices,
       string_agg(registration_id, ' ' ORDER BY registration_id) AS registration_ids
FROM demo_faults GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- The tokens as the pushes will find them. Tokens a vendor rejects are cleared from their
-- devices, so the report keeps this copy to match what the mock vendor received, per token (a
-- browser's: its subscription's path at the push service, /wp/<this>, which the mock counts).
CREATE TABLE public.demo_tokens AS
SELECT device_id, registration_id, vendor,
       CASE vendor WHEN 'webpush' THEN substring(token::jsonb->>'endpoint' FROM '/wp/(.*)$')
                   ELSE token END AS token
FROM devices
WHERE app_id = _app_id(:'app', 'reader') AND token IS NOT NULL;
