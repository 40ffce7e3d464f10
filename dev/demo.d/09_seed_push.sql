-- EngageLab's push plan guide, scenario 1: the push of promo_618_reminder_01, as the guide writes it (its "push"
-- member; the guide schedules it with an intelligent trigger, here it goes now). The push leaves
-- when the transaction that created it commits: pushplan is the application's outbox.
\set ECHO queries
CREATE TEMP TABLE seed_push (push jsonb);
INSERT INTO seed_push VALUES ('{
  "from": "push",
  "to": {"registration_id": ["regId_userA", "regId_userB"]},
  "body": {
    "platform": "android",
    "notification": {
      "alert": "限时秒杀,马上抢购!",
      "android": {"title": "爆款来袭", "extras": {"promo": "618"}}
    },
    "options": {"plan_id": "promo_618_2025", "time_to_live": 86400}
  },
  "request_id": "req_618_01",
  "custom_args": {"task": "reminder_01"}
}');
BEGIN;
SELECT push_send(:'app', push) AS seed_task FROM seed_push \gset
COMMIT;
\set ECHO none
\echo 'task' :seed_task 'committed; the workers were woken by the commit.'
\echo 'a client that retries (timeout, crash) sends the same request_id: it gets the same task back, and nothing is sent twice:'
\set ECHO queries
SELECT push_send(:'app', push) = :'seed_task' AS same_task FROM seed_push;
\set ECHO none
