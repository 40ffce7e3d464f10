-- The same campaign to the Chinese HarmonyOS NEXT phones (Push Kit v3, vendor harmony), which
-- Tencent IM's dialect does not reach: an EngageLab push to tag CN on platform harmony, with the
-- harmony block's title and extras (they arrive as the notification's clickAction data).
\set ECHO queries
BEGIN;
SELECT push_send(:'app', '{
  "to": {"tag": ["CN"]},
  "body": {
    "platform": "harmony",
    "notification": {"alert": "618 限时秒杀,马上抢购!",
                     "harmony": {"title": "爆款来袭", "extras": {"promo": "618"}}},
    "options": {"plan_id": "promo_618_2025"}
  },
  "request_id": "req_618_harmony"
}') AS harmony_task;
COMMIT;
\set ECHO none
