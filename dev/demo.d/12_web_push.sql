-- The same campaign to the shop's web visitors who allowed notifications (a browser's push
-- subscription is its token; vendor webpush): an EngageLab push to the overseas tags on platform
-- web. Each browser's copy is encrypted to its own subscription (aes128gcm) and signed for its
-- push service with the app's VAPID key; the mock push service decrypts every one.
-- (The app keeps Tencent IM's rule that broadcasts are more than a second apart: 90024.)
SELECT pg_sleep(1.1) \g /dev/null
\set ECHO queries
BEGIN;
SELECT push_send(:'app', '{
  "to": {"tag": ["US", "IN", "PH"]},
  "body": {
    "platform": "web",
    "notification": {"alert": "618 flash sale: up to 70% off, today only!",
                     "web": {"title": "Hot deals", "url": "https://shop.example.com/618"}},
    "options": {"plan_id": "promo_618_2025", "time_to_live": 3600}
  },
  "request_id": "req_618_web"
}') AS web_task;
COMMIT;
\set ECHO none
