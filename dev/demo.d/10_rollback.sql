-- The outbox, the other way: a push_send whose transaction rolls back leaves nothing behind and
-- never reaches a vendor. An operator starts a push to a device in the Philippines (no other
-- push of the demo reaches it), sees the task inside the transaction (a push to a short list is
-- expanded at once, in the high lane: its delivery is queued too), and changes their mind.
SELECT registration_id AS rb_device FROM push_devices
WHERE app = :'app' AND reachable AND platform = 'android' AND 'PH' = ANY (tags)
ORDER BY registration_id LIMIT 1 \gset
\set ECHO queries
BEGIN;
SELECT push_send(:'app', jsonb_build_object(
    'to', jsonb_build_object('registration_id', jsonb_build_array(:'rb_device')),
    'body', '{"platform": "android", "notification": {"alert": "rolled back: never sent"},
              "options": {"plan_id": "promo_618_2025"}}'::jsonb,
    'request_id', 'req_618_rolled_back')) AS rb_task \gset
SELECT t.task_id, t.plan_id, t.state, p.priority,
       (SELECT count(*) FROM deliveries d WHERE d.task_id = t.task_id) AS deliveries
FROM tasks t JOIN push_task_progress p USING (task_id) WHERE task_id = :'rb_task';
ROLLBACK;
\set ECHO none
\echo 'after ROLLBACK, the outbox holds nothing of it:'
SELECT (SELECT count(*) FROM tasks WHERE task_id = :'rb_task' OR request_id = 'req_618_rolled_back')
           AS tasks,
       (SELECT count(*) FROM deliveries WHERE task_id = :'rb_task') AS deliveries;
-- For the report: the device, and the token the mock vendor must never see.
CREATE TABLE public.demo_rolled_back AS
SELECT :'rb_task'::text AS task_id, registration_id, token FROM devices
WHERE app_id = _app_id(:'app', 'reader') AND registration_id = :'rb_device';
