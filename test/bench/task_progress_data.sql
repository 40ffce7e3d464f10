-- push_task_progress at scale: 36,000 transactional tasks and 400 broadcasts finished in the
-- last hour, 200,000 older tasks, 60 tasks sending, deliveries over 30 days of partitions
SET search_path = pushplan, public;
SELECT push_app_create('bench'); SELECT push_plan_create('bench', 'p', 'p');
SELECT _raw_partition_create('deliveries', (now() AT TIME ZONE 'UTC')::date + d) FROM generate_series(-29, 2) d;
-- older tasks: finished days ago, one delivery each, in the older partitions
INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at, created_at, started_at, finished_at, targeted, expanded)
SELECT 'old' || g, (SELECT app_id FROM apps WHERE app = 'bench'), 'p', '{}', 'done', t, t, t, t + interval '1 second', 1, true
FROM generate_series(1, 200000) g, LATERAL (SELECT now() - interval '2 hours' - (g % 28) * interval '1 day' - (g % 1000) * interval '1 second' AS t) x;
INSERT INTO deliveries (delivery_id, task_id, app_id, device_id, vendor, status, send_at, sent_at, attempts)
SELECT _delivery_id_floor(t.started_at) + 549755813888 + g, t.task_id, t.app_id, g, 'fcm', 'sent', t.started_at, t.started_at, 1
FROM tasks t, LATERAL (SELECT substr(t.task_id, 4)::bigint AS g) x WHERE t.task_id LIKE 'old%';
-- the last hour: 36,000 transactional tasks, 1-3 deliveries each
INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at, created_at, started_at, finished_at, targeted, expanded, priority)
SELECT 'tx' || g, (SELECT app_id FROM apps WHERE app = 'bench'), 'p', '{}', 'done', t, t, t, t + interval '2 seconds', g % 3 + 1, true, 0
FROM generate_series(1, 36000) g, LATERAL (SELECT now() - (g % 3500) * interval '1 second' AS t) x;
INSERT INTO deliveries (task_id, app_id, device_id, vendor, status, send_at, sent_at, attempts, error)
SELECT t.task_id, t.app_id, k, 'apns', (ARRAY['sent', 'sent', 'sent', 'failed', 'invalid_token', 'expired', 'suppressed', 'sent'])[(k + length(t.task_id)) % 8 + 1],
       t.started_at, t.started_at + interval '1 second', 1, NULL
FROM tasks t, generate_series(1, 3) k WHERE t.task_id LIKE 'tx%' AND k <= t.targeted;
-- 400 broadcasts of 1,000 devices
INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at, created_at, started_at, finished_at, targeted, expanded, broadcast)
SELECT 'bc' || g, (SELECT app_id FROM apps WHERE app = 'bench'), 'p', '{}', 'done', t, t, t, t + interval '20 seconds', 1000, true, true
FROM generate_series(1, 400) g, LATERAL (SELECT now() - (g * 8) * interval '1 second' AS t) x;
INSERT INTO deliveries (task_id, app_id, device_id, vendor, status, send_at, sent_at, attempts)
SELECT t.task_id, t.app_id, k, 'fcm', CASE WHEN k % 20 = 0 THEN 'failed' WHEN k % 50 = 1 THEN 'suppressed' ELSE 'sent' END,
       t.started_at, t.started_at + interval '5 seconds', 1
FROM tasks t, generate_series(1, 1000) k WHERE t.task_id LIKE 'bc%';
-- 60 tasks sending: 500 deliveries each, half sent (some in the last 10 seconds), the rest queued, 50 of them claimed
INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at, created_at, started_at, targeted, expanded, broadcast)
SELECT 'sn' || g, (SELECT app_id FROM apps WHERE app = 'bench'), 'p', '{}', 'sending', t, t, t, 500, true, true
FROM generate_series(1, 60) g, LATERAL (SELECT now() - (g * 10) * interval '1 second' AS t) x;
INSERT INTO deliveries (task_id, app_id, device_id, vendor, status, send_at, sent_at, attempts)
SELECT t.task_id, t.app_id, k, 'fcm', CASE WHEN k <= 250 THEN 'sent' ELSE 'queued' END,
       t.started_at, CASE WHEN k <= 250 THEN now() - (k % 30) * interval '1 second' END, CASE WHEN k <= 250 THEN 1 ELSE 0 END
FROM tasks t, generate_series(1, 500) k WHERE t.task_id LIKE 'sn%';
INSERT INTO delivery_queue (task_id, delivery_id, send_at, claimed_by, claimed_at, priority, device_id)
SELECT d.task_id, d.delivery_id, d.send_at, CASE WHEN d.device_id <= 300 THEN 1 END, CASE WHEN d.device_id <= 300 THEN now() END, 1, d.device_id
FROM deliveries d WHERE d.task_id LIKE 'sn%' AND d.status = 'queued';
-- 20 tasks queued, not started
INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at, created_at, targeted, expanded)
SELECT 'qd' || g, (SELECT app_id FROM apps WHERE app = 'bench'), 'p', '{}', 'queued', now() + interval '1 hour', now(), 0, false
FROM generate_series(1, 20) g;
VACUUM ANALYZE;
