-- push_send and push_cancel. No workers serve this database (pushplan.databases = ''), so tasks
-- stay as push_send left them; test/integration/sending.sh covers their delivery.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

SELECT push_app_create('send_app');
SELECT push_plan_create('send_app', 'promo_618_2025', '618 大促推送计划');
SELECT push_device_register_batch('send_app', '[
  {"registration_id": "regId_userA", "platform": "android", "vendor": "fcm", "token": "a", "tags": ["US", "vip"]},
  {"registration_id": "regId_userB", "platform": "android", "vendor": "hms", "token": "b", "tags": ["IN"]},
  {"registration_id": "ios_1", "platform": "ios", "vendor": "apns", "token": "c", "tags": ["US"], "attrs": {"city": "深圳"}}
]');

-- the push plan guide's push: belongs to its plan; request_id is an idempotency key
SELECT push_send('send_app', '{
  "from": "push", "to": {"registration_id": ["regId_userA", "regId_userB"]},
  "body": {"platform": "android",
           "notification": {"alert": "限时秒杀,马上抢购!", "android": {"title": "爆款来袭", "extras": {"promo": "618"}}},
           "options": {"plan_id": "promo_618_2025", "time_to_live": 86400}},
  "request_id": "req_618_01", "custom_args": {"task": "reminder_01"}}') AS t1 \gset
SELECT :'t1' LIKE 'tsk_%' AS task_id_ok;
SELECT push_send('send_app', '{"to": {"registration_id": ["ios_1"]}, "body": {"platform": "ios",
  "notification": {"alert": "another body, same key"}}, "request_id": "req_618_01"}') = :'t1' AS same_task;
SELECT plan_id, dialect, request_id, state, broadcast, expires_at - created_at AS ttl,
       push->'to' AS audience, push->'custom_args' AS custom_args
FROM tasks WHERE task_id = :'t1';
SELECT plan_id, task_count FROM push_plans WHERE app = 'send_app' ORDER BY 1;

-- no plan_id: the default plan; "all" and tags are broadcasts, lists are not
SELECT push_send('send_app', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "hi"}}}') AS t2 \gset
SELECT plan_id, broadcast, dialect FROM tasks WHERE task_id = :'t2';
-- not started: nothing to measure yet
SELECT app, plan_id, state, targeted, queued, sent, rate_per_s, eta FROM push_task_progress WHERE task_id = :'t2';

-- the outbox: a rolled-back push_send leaves nothing
BEGIN;
SELECT push_send('send_app', '{"to": {"registration_id": ["ios_1"]}, "body": {"platform": "ios", "notification": {"alert": "never"}}}') IS NOT NULL AS created;
SELECT count(*) AS tasks_inside FROM tasks WHERE push->'body'->'notification'->>'alert' = 'never';
ROLLBACK;
SELECT count(*) AS tasks_after FROM tasks WHERE push->'body'->'notification'->>'alert' = 'never';

-- the other dialects, verbatim from the vendors' documentation
SELECT push_send('send_app', '{"audience_type": "token", "token_list": ["c"], "message_type": "notify",
  "message": {"title": "Push title", "content": "Push content"}, "plan_id": "promo_618_2025"}') AS t3 \gset
SELECT plan_id, dialect, broadcast FROM tasks WHERE task_id = :'t3';
SELECT push_app_set('send_app', '{"broadcast_min_interval": "0 seconds"}');
BEGIN;
SELECT push_send('send_app', '{"From_Account": "administrator", "MsgRandom": 124032,
  "Condition": {"TagsAnd": ["US", "vip"]},
  "OfflinePushInfo": {"PushFlag": 0, "Title": "离线推送标题", "Desc": "离线推送内容"}}') AS t4 \gset
SELECT dialect, broadcast, msg_random, push->'to' AS audience FROM tasks WHERE task_id = :'t4';
-- MsgRandom again within the same second (one transaction: one now()) is the same task
SELECT push_send('send_app', '{"From_Account": "administrator", "MsgRandom": 124032,
  "Condition": {"TagsAnd": ["US", "vip"]},
  "OfflinePushInfo": {"PushFlag": 0, "Title": "离线推送标题", "Desc": "离线推送内容"}}') = :'t4' AS same_task;
COMMIT;

-- errors; nothing is written
SELECT count(*) AS tasks_before FROM tasks \gset
SELECT push_send('nope', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}');
SELECT push_send('send_app', NULL);
SELECT push_send('send_app', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}, "options": {"plan_id": "no_such_plan"}}}');
SELECT push_send('send_app', '{"to": {"tag": ["US"], "tag_and": ["US"]}, "body": {"platform": "all", "notification": {"alert": "x"}}}');
SELECT push_send('send_app', '{"to": {"upload_id": 999999}, "body": {"platform": "all", "notification": {"alert": "x"}}}');
SELECT push_send('send_app', '{"MsgRandom": 1, "Condition": {"TagsAnd": ["US"], "AttrsAnd": {"city": "深圳"}}, "OfflinePushInfo": {"PushFlag": 0, "Title": "t", "Desc": "d"}}');
SELECT push_send('send_app', ('{"MsgRandom": 2, "Condition": {"TagsOr": ["' || repeat('x', 51) || '"]}, "OfflinePushInfo": {"PushFlag": 0, "Title": "t", "Desc": "d"}}')::jsonb);
SELECT push_send('send_app', '{"MsgRandom": "x", "OfflinePushInfo": {"PushFlag": 0, "Title": "t", "Desc": "d"}}');
SELECT push_send('send_app', jsonb_build_object('to', jsonb_build_object('registration_id', jsonb_build_array('ios_1')),
  'body', jsonb_build_object('platform', 'ios', 'notification', jsonb_build_object('alert', 'x',
  'ios', jsonb_build_object('extras', (SELECT jsonb_object_agg('k' || g, repeat('v', 90)) FROM generate_series(1, 40) g))))));
SELECT push_send('send_app', '{"to": "all", "body": {"platform": "all"}}');
SELECT count(*) - :tasks_before AS tasks_written FROM tasks;

-- broadcast quota of Tencent IM (90047 a day, 90024 apart); lists do not count
SELECT push_app_set('send_app', '{"broadcast_min_interval": "1 hour"}');
SELECT push_send('send_app', '{"to": {"tag": ["US"]}, "body": {"platform": "all", "notification": {"alert": "x"}}}');
SELECT push_app_set('send_app', '{"broadcast_min_interval": "0 seconds", "broadcast_daily_limit": 2}');
SELECT push_send('send_app', '{"to": {"attr_and": {"city": "深圳"}}, "body": {"platform": "all", "notification": {"alert": "x"}}}');
SELECT push_send('send_app', '{"to": {"registration_id": ["ios_1"]}, "body": {"platform": "ios", "notification": {"alert": "a list is fine"}}}') LIKE 'tsk_%' AS list_ok;
SELECT count(*) AS broadcasts_today FROM tasks t JOIN apps a USING (app_id) WHERE a.app = 'send_app' AND t.broadcast;

-- cancel (t1 is done already: push_send expanded its list, and no vendor of its devices is
-- configured, so each delivery failed at once)
SELECT push_cancel('send_app', :'t2');
SELECT state FROM tasks WHERE task_id = :'t2';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || regexp_replace(SQLERRM, 'tsk_[0-9a-f]{32}', 'tsk_<id>');
END $$;
SELECT pg_temp.err(format('SELECT push_cancel(%L, %L)', 'send_app', :'t2'));
SELECT pg_temp.err(format('SELECT push_cancel(%L, %L)', 'send_app', :'t1'));
SELECT push_cancel('send_app', 'tsk_missing');
SELECT push_cancel('nope', :'t1');

-- Lanes (doc/push.md, "Priority"). A list of at most pushplan.small_audience_limit entries is
-- expanded by push_send itself, in the caller's transaction, into the high lane; its
-- deliveries exist before the commit and vanish with a rollback.
SELECT push_vendor_set('send_app', 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "s"}');
SELECT push_device_register('send_app', 'web_1', 'web', 'webhook', 'w1') > 0 AS registered;
BEGIN;
SELECT push_send('send_app', '{"to": {"registration_id": ["web_1", "ios_1"]}, "body": {"platform": "all",
  "notification": {"alert": "your code is 1234"}}}') AS tx \gset
SELECT t.state, t.targeted, t.expanded, p.priority FROM tasks t JOIN push_task_progress p USING (task_id)
WHERE task_id = :'tx';
SELECT v.registration_id, d.status, d.error, q.priority AS lane
FROM deliveries d JOIN devices v USING (device_id) LEFT JOIN delivery_queue q USING (task_id, delivery_id, device_id)
WHERE d.task_id = :'tx' ORDER BY 1;
ROLLBACK;
SELECT count(*) AS deliveries_after_rollback FROM deliveries WHERE task_id = :'tx';
-- options.priority chooses the lane; a broadcast waits for the scheduler whatever its lane
SELECT push_app_set('send_app', '{"broadcast_min_interval": "0 seconds", "broadcast_daily_limit": 100}');
SELECT push_send('send_app', '{"to": {"registration_id": ["web_1"]}, "body": {"platform": "all",
  "notification": {"alert": "digest"}, "options": {"priority": "low"}}}') AS low \gset
SELECT t.state, p.priority, q.priority AS lane
FROM tasks t JOIN push_task_progress p USING (task_id) LEFT JOIN delivery_queue q USING (task_id)
WHERE task_id = :'low';
SELECT push_send('send_app', '{"to": "all", "body": {"platform": "all",
  "notification": {"alert": "urgent news"}, "options": {"priority": "high"}}}') AS urgent \gset
SELECT t.state, p.priority, (SELECT count(*) FROM deliveries d WHERE d.task_id = :'urgent') AS deliveries
FROM tasks t JOIN push_task_progress p USING (task_id) WHERE task_id = :'urgent';
-- a list longer than pushplan.small_audience_limit is not transactional: normal, scheduled
SET pushplan.small_audience_limit = 1;
SELECT push_send('send_app', '{"to": {"registration_id": ["web_1", "ios_1"]}, "body": {"platform": "all",
  "notification": {"alert": "two"}}}') AS two \gset
SELECT t.state, p.priority, (SELECT count(*) FROM deliveries d WHERE d.task_id = :'two') AS deliveries
FROM tasks t JOIN push_task_progress p USING (task_id) WHERE task_id = :'two';
RESET pushplan.small_audience_limit;
SELECT pg_temp.err($q$SELECT push_send('send_app', '{"to": {"registration_id": ["web_1"]}, "body": {"platform": "all",
  "notification": {"alert": "x"}, "options": {"priority": "urgent"}}}')$q$);

-- In flight: a sender's claim writes only the delivery's queue row (claimed_by); the delivery
-- says queued until its outcome. push_deliveries and push_task_progress count it as sending, and
-- push_cancel lets it finish while it cancels the rest.
SELECT push_device_register('send_app', 'web_2', 'web', 'webhook', 'w2') > 0 AS registered;
SELECT push_send('send_app', '{"to": {"registration_id": ["web_1", "web_2"]}, "body": {"platform": "all",
  "notification": {"alert": "in flight"}}}') AS inflight \gset
UPDATE delivery_queue q SET claimed_by = 0, claimed_at = now()
FROM devices v
WHERE q.task_id = :'inflight' AND v.device_id = q.device_id AND v.registration_id = 'web_1';
SELECT registration_id, status FROM push_deliveries WHERE task_id = :'inflight' ORDER BY 1;
SELECT targeted, queued, sending FROM push_task_progress WHERE task_id = :'inflight';
SELECT push_cancel('send_app', :'inflight');
SELECT registration_id, status FROM push_deliveries WHERE task_id = :'inflight' ORDER BY 1;
SELECT count(*) AS queue_rows_left, bool_and(claimed_by = 0) AS claimed
FROM delivery_queue WHERE task_id = :'inflight';
-- each row names its delivery (the outcome webhook's delivery_id) and its tries lost with their
-- connection
SELECT p.registration_id, p.delivery_id = d.delivery_id AS its_delivery, p.collateral
FROM push_deliveries p JOIN devices v USING (registration_id)
JOIN deliveries d ON d.task_id = p.task_id AND d.device_id = v.device_id
WHERE p.task_id = :'inflight' ORDER BY 1;

-- Tencent Push's send_time: the task is due then (read in the app's time zone), not expanded
-- now even for a short list; a time already passed is sent as any push is (a short list expanded
-- at once); more than a year ahead is refused.
SELECT push_app_create('send_tz');
SELECT push_app_set('send_tz', '{"timezone": "Asia/Shanghai"}');
SELECT push_device_register('send_tz', 'tz_1', 'android', 'fcm', 'tok_tz_1') > 0 AS registered;
SELECT push_send('send_tz', format('{"audience_type": "token_list", "token_list": ["tok_tz_1"], "message_type": "notify",
  "message": {"content": "at nine"}, "send_time": "%s"}',
  to_char(now() AT TIME ZONE 'Asia/Shanghai' + interval '1 day', 'YYYY-MM-DD 09:00:00'))::jsonb) AS later \gset
SELECT state, targeted, expanded, send_at = (to_char(now() AT TIME ZONE 'Asia/Shanghai' + interval '1 day',
       'YYYY-MM-DD 09:00:00')::timestamp AT TIME ZONE 'Asia/Shanghai') AS due_at_nine_shanghai,
       expires_at - send_at AS ttl, push->>'send_time' IS NOT NULL AS kept
FROM tasks WHERE task_id = :'later';
SELECT count(*) AS deliveries_yet FROM deliveries WHERE task_id = :'later';
SELECT push_send('send_tz', '{"audience_type": "token_list", "token_list": ["tok_tz_1"], "message_type": "notify",
  "message": {"content": "passed"}, "send_time": "2020-01-01 00:00:00"}') AS passed \gset
SELECT state, targeted, send_at = created_at AS now FROM tasks WHERE task_id = :'passed';
SELECT push_send('send_tz', '{"audience_type": "all", "message_type": "notify", "message": {"content": "far"},
  "send_time": "2099-01-01 09:00:00"}');
SELECT push_send('send_tz', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "send_time": "2025-13-01 00:00:00"}');
-- a schedule's trigger says when: its push has no send_time
SELECT push_schedule_create('send_tz', '{"name": "x", "trigger": {"single": {"time": "2090-01-01 00:00:00"}},
  "push": {"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "send_time": "2090-01-01 00:00:00"}}');
