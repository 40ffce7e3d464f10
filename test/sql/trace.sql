-- push_trace (doc/statistics.md, "push_trace"): why a device did or did not get a push.
-- push_trace explains each of a set of constructed devices (one per reason a broadcast missed
-- it), and the steps of the deliveries of others: planned (the task's time, a local-time
-- schedule, an intelligent one, a big_push_duration spread), sent, retried, refused,
-- suppressed, expired, cancelled, and the events they reported.
-- No workers run here. List pushes are expanded by push_send itself (the expansion the
-- scheduler runs); the broadcast's deliveries are made from the audience code's own expansion
-- (_audience_expand) and the task recorded as the scheduler records it; outcomes are written
-- as the senders write them. Every time is then set to a fixed instant, so that the output is
-- exact; task ids (random) are shown by their names here.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN regexp_replace(SQLERRM, 'tsk_[0-9a-f]+', 'tsk_...', 'g');
END $$;
CREATE TEMP TABLE names (task_id text PRIMARY KEY, name text UNIQUE);
-- the trace of one device, for one task (by its name here) or, name NULL, its last tasks
CREATE FUNCTION pg_temp.trace(rid text, task_name text) RETURNS TABLE(at timestamptz, task text, step text, detail text)
LANGUAGE sql AS $$
    SELECT s.at, coalesce(n.name, s.task_id), s.step, s.detail
    FROM pushplan.push_trace('trace_app', rid, (SELECT x.task_id FROM names x WHERE x.name = task_name))
         WITH ORDINALITY s(at, task_id, step, detail, i)
    LEFT JOIN names n ON n.task_id = s.task_id
    ORDER BY s.i
$$;

SELECT push_app_create('trace_app');
SELECT push_vendor_set('trace_app', 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "trace-secret-0123456789"}');
SELECT count(*) AS devices FROM (
    SELECT push_device_register('trace_app', r, p, 'webhook', 'tok-' || r, 'Asia/Shanghai')
    FROM (VALUES ('vip_sz', 'android'), ('no_vip', 'android'), ('vip_bj', 'android'),
                 ('churned', 'android'), ('web', 'web'), ('opted_out', 'ios'), ('gone', 'android'),
                 ('invalid', 'android'), ('moved', 'android'),
                 ('retried', 'android'), ('refused', 'android'), ('supp', 'android'),
                 ('exp', 'android')) d(r, p)
    UNION ALL
    -- a vendor the app has no credentials for: its delivery fails as it is made
    SELECT push_device_register('trace_app', 'no_creds', 'android', 'fcm', 'tok-no_creds', 'Asia/Shanghai')) x;
SELECT count(*) AS tagged FROM (
    SELECT push_tag_add('trace_app', r, 'vip'), push_attr_set('trace_app', r, '{"city": "深圳"}')
    FROM unnest(ARRAY['vip_sz', 'vip_bj', 'churned', 'web', 'opted_out', 'gone', 'invalid', 'moved']) r) x;
SELECT push_tag_add('trace_app', 'no_vip', 'sz'), push_attr_set('trace_app', 'no_vip', '{"city": "深圳"}');
SELECT push_attr_set('trace_app', 'vip_bj', '{"city": "北京"}');
SELECT push_tag_add('trace_app', 'churned', 'churned');
-- the states: opted out, unregistered, a token a vendor refused (the senders clear it), a
-- token that moved to another registration (the app reinstalled)
SELECT push_device_opt('trace_app', 'opted_out', false);
SELECT push_device_unregister('trace_app', 'gone');
UPDATE devices SET token = NULL, token_invalidated_at = '2026-06-17 12:00:00+00' WHERE registration_id = 'invalid';
SELECT push_device_register('trace_app', 'moved_again', 'android', 'webhook', 'tok-moved', 'Asia/Shanghai') > 0 AS moved;
UPDATE devices SET created_at = '2026-06-01 00:00:00+00' WHERE app_id = (SELECT app_id FROM apps WHERE app = 'trace_app');

-- The broadcast: vip, not churned, in 深圳, on android and ios. Its deliveries are the devices
-- the audience code expands (only vip_sz) whose platform the push targets.
SELECT push_send('trace_app', '{"to": {"tag": ["vip"], "tag_not": ["churned"], "attr_and": {"city": "深圳"}},
    "body": {"platform": ["android", "ios"], "notification": {"alert": "618"}}}') AS b \gset
INSERT INTO names VALUES (:'b', 'broadcast');
CREATE TEMP TABLE expanded (device_id bigint);
SELECT _audience_expand('trace_app', (SELECT push->'to' FROM tasks WHERE task_id = :'b'), 'expanded') AS expanded;
SELECT v.registration_id AS expanded FROM expanded e JOIN devices v USING (device_id) ORDER BY 1;
INSERT INTO deliveries (task_id, app_id, device_id, vendor, platform, send_at)
    SELECT :'b', v.app_id, v.device_id, v.vendor, v.platform, '2026-06-18 08:00:00+00'
    FROM expanded e JOIN devices v USING (device_id) WHERE v.platform IN ('android', 'ios');
SELECT v.registration_id AS in_the_broadcast FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = :'b';
UPDATE tasks SET state = 'done', expanded = true, targeted = 1, created_at = '2026-06-18 07:55:00+00',
    send_at = '2026-06-18 08:00:00+00', started_at = '2026-06-18 08:00:05+00', finished_at = '2026-06-18 08:10:00+00'
WHERE task_id = :'b';
-- registered after the expansion, and in the audience by its tags and attributes
SELECT push_device_register('trace_app', 'late', 'android', 'webhook', 'tok-late', 'Asia/Shanghai') > 0 AS late;
SELECT push_tag_add('trace_app', 'late', 'vip'), push_attr_set('trace_app', 'late', '{"city": "深圳"}');
UPDATE devices SET created_at = '2026-06-18 09:00:00+00' WHERE registration_id = 'late';
-- vip_sz: sent, then its events (a second open and a second conversion do not count)
UPDATE deliveries SET status = 'sent', attempts = 1, claimed_by = 1, claimed_at = '2026-06-18 08:00:06+00',
    sent_at = '2026-06-18 08:00:07+00', http_status = 200, vendor_message_id = 'wh-1'
WHERE task_id = :'b';
SELECT push_event('trace_app', 'vip_sz', :'b', 'delivered');
SELECT push_event('trace_app', 'vip_sz', :'b', 'open');
SELECT push_event('trace_app', 'vip_sz', :'b', 'open');
SELECT push_event('trace_app', 'vip_sz', :'b', 'convert', now(), 12.50);
SELECT push_event('trace_app', 'vip_sz', :'b', 'convert', now(), 99);
-- (each event by its recording time, one statement each: no ctid, which Citus plans in no
-- modification when the suites run on the distributed layout, test/citus/regress.sh)
UPDATE events e SET at = x.at FROM (
    SELECT recorded_at, ('2026-06-18 08:00:09+00'::timestamptz + (row_number() OVER (ORDER BY recorded_at) - 1) * interval '5 minutes') AS at
    FROM events WHERE task_id = :'b') x
WHERE e.task_id = :'b' AND e.recorded_at = x.recorded_at;
-- its reaction (the first open: history for intelligent send times) at the open's time too
UPDATE device_reactions r SET at = e.at FROM events e
WHERE e.task_id = :'b' AND e.kind = 'open' AND e.counted AND r.device_id = e.device_id AND r.kind = 2;

-- In the broadcast, and each reason it missed a device.
SELECT * FROM pg_temp.trace('vip_sz', 'broadcast');
SELECT * FROM pg_temp.trace('no_vip', 'broadcast');
SELECT * FROM pg_temp.trace('vip_bj', 'broadcast');
SELECT * FROM pg_temp.trace('churned', 'broadcast');
SELECT * FROM pg_temp.trace('web', 'broadcast');
SELECT * FROM pg_temp.trace('opted_out', 'broadcast');
SELECT * FROM pg_temp.trace('gone', 'broadcast');
SELECT * FROM pg_temp.trace('invalid', 'broadcast');
SELECT * FROM pg_temp.trace('moved', 'broadcast');
SELECT * FROM pg_temp.trace('late', 'broadcast');

-- A condition: the alternatives vip_bj meets none of (an unknown tag, an attribute). Not
-- expanded yet (no scheduler here): the answer is for the device as it stands now.
SELECT push_send('trace_app', '{"to": {"condition": {"and": [{"tag": "vip"},
    {"or": [{"tag": "gold"}, {"attr": {"level": "超白金会员"}}]}]}},
    "body": {"platform": "all", "notification": {"alert": "gold"}}}') AS c \gset
INSERT INTO names VALUES (:'c', 'condition');
UPDATE tasks SET created_at = '2026-06-18 11:00:00+00', send_at = '2026-06-18 12:00:00+00' WHERE task_id = :'c';
SELECT * FROM pg_temp.trace('vip_bj', 'condition');
SELECT push_attr_set('trace_app', 'vip_sz', '{"level": "超白金会员"}');
SELECT * FROM pg_temp.trace('vip_sz', 'condition');

-- A combination the push excludes: every member of it, together.
SELECT push_send('trace_app', '{"to": {"condition": {"not": {"and": [{"tag": "vip"}, {"attr": {"city": "深圳"}}]}}},
    "body": {"platform": "all", "notification": {"alert": "not for vips of 深圳"}}}') AS x \gset
INSERT INTO names VALUES (:'x', 'exclusion');
UPDATE tasks SET created_at = '2026-06-18 11:10:00+00', send_at = '2026-06-18 12:00:00+00' WHERE task_id = :'x';
SELECT step, detail FROM pg_temp.trace('vip_sz', 'exclusion') WHERE step = 'audience';

-- Accounts (account_push_type 0: each account's latest device), expanded by push_send: u1 went
-- to no_vip, bound after vip_sz; vip_bj is bound to no account of the push.
SELECT push_account_bind('trace_app', 'vip_sz', 'u1', 0);
SELECT push_account_bind('trace_app', 'no_vip', 'u1', 0);
SELECT push_send('trace_app', '{"to": {"account": ["u1", "u2"]},
    "body": {"platform": "all", "notification": {"alert": "accounts"}}}') AS a \gset
INSERT INTO names VALUES (:'a', 'accounts');
SELECT v.registration_id AS reached FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = :'a';
SELECT step, detail FROM pg_temp.trace('vip_sz', 'accounts') WHERE step = 'audience';
SELECT step, detail FROM pg_temp.trace('vip_bj', 'accounts') WHERE step = 'audience';

-- A list, expanded by push_send; outcomes as the senders write them: sent at the third
-- attempt (only the last is kept), refused, suppressed (the device opted out since), expired,
-- and failed as it was made (no credentials for its vendor).
SELECT push_send('trace_app', '{"to": {"registration_id": ["retried", "refused", "supp", "exp", "no_creds"]},
    "body": {"platform": "all", "message": {"msg_content": "list"}}}') AS l \gset
INSERT INTO names VALUES (:'l', 'list');
UPDATE tasks SET created_at = '2026-06-18 10:00:00+00', send_at = '2026-06-18 10:00:00+00',
    started_at = '2026-06-18 10:00:00+00', state = 'done', finished_at = '2026-06-18 10:02:00+00'
WHERE task_id = :'l';
UPDATE deliveries d SET send_at = '2026-06-18 10:00:00+00' WHERE d.task_id = :'l';
UPDATE deliveries d SET claimed_by = 1, claimed_at = '2026-06-18 10:00:01+00'
WHERE d.task_id = :'l' AND d.status = 'queued';
UPDATE deliveries d SET status = 'sent', attempts = 3, send_at = '2026-06-18 10:01:30+00',
    claimed_at = '2026-06-18 10:01:30+00', sent_at = '2026-06-18 10:01:31+00', http_status = 200, vendor_message_id = 'wh-2'
FROM devices v WHERE v.device_id = d.device_id AND d.task_id = :'l' AND v.registration_id = 'retried';
UPDATE deliveries d SET status = 'failed', attempts = 1, http_status = 400, error = 'InvalidParameters'
FROM devices v WHERE v.device_id = d.device_id AND d.task_id = :'l' AND v.registration_id = 'refused';
SELECT push_device_opt('trace_app', 'supp', false);
UPDATE deliveries d SET status = 'suppressed', attempts = 1, error = 'opted out'
FROM devices v WHERE v.device_id = d.device_id AND d.task_id = :'l' AND v.registration_id = 'supp';
UPDATE deliveries d SET status = 'expired', attempts = 1, error = 'expired'
FROM devices v WHERE v.device_id = d.device_id AND d.task_id = :'l' AND v.registration_id = 'exp';
DELETE FROM delivery_queue WHERE task_id = :'l';
SELECT * FROM pg_temp.trace('retried', 'list');
SELECT * FROM pg_temp.trace('refused', 'list');
SELECT * FROM pg_temp.trace('supp', 'list');
SELECT * FROM pg_temp.trace('exp', 'list');
SELECT * FROM pg_temp.trace('no_creds', 'list');
-- not in a list
SELECT * FROM pg_temp.trace('no_vip', 'list');

-- Cancelled before it was sent (push_cancel), and queued, not attempted yet.
SELECT push_send('trace_app', '{"to": {"registration_id": ["vip_sz", "no_vip"]},
    "body": {"platform": "all", "notification": {"alert": "cancel me"}}}') AS k \gset
INSERT INTO names VALUES (:'k', 'cancelled');
DELETE FROM delivery_queue q USING deliveries d, devices v
WHERE q.delivery_id = d.delivery_id AND q.device_id = d.device_id AND v.device_id = d.device_id AND v.registration_id = 'no_vip' AND d.task_id = :'k';
SELECT push_cancel('trace_app', :'k');
UPDATE tasks SET created_at = '2026-06-18 13:00:00+00', send_at = '2026-06-18 13:00:00+00',
    started_at = '2026-06-18 13:00:00+00', finished_at = '2026-06-18 13:00:30+00' WHERE task_id = :'k';
UPDATE deliveries SET send_at = '2026-06-18 13:00:00+00' WHERE task_id = :'k';
SELECT * FROM pg_temp.trace('vip_sz', 'cancelled');
SELECT * FROM pg_temp.trace('no_vip', 'cancelled');

-- In flight (its queue row claimed by a sender), and to be retried (a 503: the sender wrote the
-- answer and the retry's time, and put the queue row back).
SELECT push_send('trace_app', '{"to": {"registration_id": ["vip_sz", "no_vip"]},
    "body": {"platform": "all", "notification": {"alert": "in flight"}}}') AS f \gset
INSERT INTO names VALUES (:'f', 'in flight');
UPDATE tasks SET created_at = '2026-06-18 13:30:00+00', send_at = '2026-06-18 13:30:00+00',
    started_at = '2026-06-18 13:30:00+00' WHERE task_id = :'f';
UPDATE deliveries SET send_at = '2026-06-18 13:30:00+00' WHERE task_id = :'f';
UPDATE delivery_queue q SET claimed_by = 2, claimed_at = '2026-06-18 13:30:01+00'
FROM deliveries d JOIN devices v USING (device_id)
WHERE q.delivery_id = d.delivery_id AND q.device_id = d.device_id AND d.task_id = :'f' AND v.registration_id = 'vip_sz';
WITH r AS (
    UPDATE deliveries d SET attempts = 1, claimed_by = 2, claimed_at = '2026-06-18 13:30:01+00',
        send_at = '2026-06-18 13:30:31+00', http_status = 503, error = 'Service Unavailable'
    FROM devices v WHERE v.device_id = d.device_id AND d.task_id = :'f' AND v.registration_id = 'no_vip'
    RETURNING d.delivery_id, d.device_id, d.send_at)
UPDATE delivery_queue q SET send_at = r.send_at FROM r WHERE q.delivery_id = r.delivery_id AND q.device_id = r.device_id;
SELECT * FROM pg_temp.trace('vip_sz', 'in flight');
SELECT * FROM pg_temp.trace('no_vip', 'in flight');

-- Planned times: each device's 09:00 (a zone_type 2 schedule's task), and an intelligent
-- schedule's (from visits, or the backup time), as the expansion plans them (its send_rule, and
-- _smart_send_times).
SELECT push_send('trace_app', '{"to": {"registration_id": ["vip_sz"]},
    "body": {"platform": "all", "notification": {"alert": "local"}}}') AS lt \gset
INSERT INTO names VALUES (:'lt', 'local 09:00');
UPDATE tasks SET send_rule = '{"local": "2026-06-19 09:00:00"}', created_at = '2026-06-18 14:00:00+00',
    send_at = '2026-06-18 19:00:00+00', started_at = '2026-06-18 19:00:00+00' WHERE task_id = :'lt';
UPDATE deliveries SET send_at = '2026-06-19 09:00:00'::timestamp AT TIME ZONE 'Asia/Shanghai' WHERE task_id = :'lt';
SELECT * FROM pg_temp.trace('vip_sz', 'local 09:00');

-- Without a task: the device's tasks (those it has deliveries for), newest first (here, before
-- the intelligent one below, whose trace the distributed layout cannot plan: intelligent send
-- times are refused there, and the suites run there too, test/citus/regress.sh).
SELECT task, step, at FROM pg_temp.trace('vip_sz', NULL);

SELECT count(*) AS visits FROM (
    SELECT push_device_activity('trace_app', r, now() - interval '1 day')
    FROM unnest(ARRAY['vip_sz', 'vip_bj']) r, generate_series(1, 3)) x;
-- their visits at 20:30 and 07:00 local, on three days
-- (the rows written again: they are alike, and only a ctid tells them apart)
CREATE TEMP TABLE visits AS
    SELECT a.device_id, ('2026-06-1' || (row_number() OVER (PARTITION BY a.device_id ORDER BY a.at) + 4)
                   || CASE v.registration_id WHEN 'vip_sz' THEN ' 20:30:00' ELSE ' 07:00:00' END)::timestamp
                   AT TIME ZONE 'Asia/Shanghai' AS at
    FROM device_activity a JOIN devices v USING (device_id)
    WHERE v.app_id = (SELECT app_id FROM apps WHERE app = 'trace_app');
DELETE FROM device_activity WHERE device_id IN (SELECT device_id FROM visits);
INSERT INTO device_activity (device_id, at) SELECT device_id, at FROM visits;
DROP TABLE visits;
SELECT push_send('trace_app', '{"to": {"registration_id": ["vip_sz", "no_vip", "vip_bj"]},
    "body": {"platform": "all", "notification": {"alert": "smart"}}}') AS it \gset
INSERT INTO names VALUES (:'it', 'intelligent');
UPDATE tasks SET send_rule = '{"intelligent": {"window_start": "2026-06-19T00:00:00+00:00", "backup_local": "2026-06-19 18:00:00"}}',
    created_at = '2026-06-18 15:00:00+00', send_at = '2026-06-19 00:00:00+00', started_at = '2026-06-19 13:00:00+00'
WHERE task_id = :'it';
-- the schedule fired 13 hours late, at 21:00 in Shanghai: vip_sz's best time and no_vip's backup
-- 18:00 had passed, vip_bj's 07:00 (the next morning) had not. vip_sz's best time is 16:05: its
-- open of the broadcast (at 16:05, the latest of its history) weighs three visits, more than
-- its three visits at 20:30 on the days before (doc/smart_send.md)
-- (the times computed first: on the distributed layout Citus would call the function on the
-- shards the update runs on, from where it cannot read the others)
SELECT array_agg(device_id ORDER BY device_id) AS it_devices FROM deliveries WHERE task_id = :'it' \gset
WITH m AS MATERIALIZED (
    SELECT * FROM _smart_send_times(:'it_devices'::bigint[],
                                    '2026-06-19 00:00:00+00', '2026-06-19 13:00:00+00', '2026-06-19 18:00:00'))
UPDATE deliveries d SET send_at = m.send_at FROM m
WHERE d.task_id = :'it' AND d.device_id = m.device_id;
SELECT v.registration_id, d.send_at FROM deliveries d JOIN devices v USING (device_id) WHERE d.task_id = :'it' ORDER BY 1;
SELECT * FROM pg_temp.trace('vip_sz', 'intelligent');
SELECT * FROM pg_temp.trace('no_vip', 'intelligent');
SELECT * FROM pg_temp.trace('vip_bj', 'intelligent');

-- big_push_duration: spread by each device's place in the audience (push_send's expansion)
SELECT push_send('trace_app', '{"to": {"registration_id": ["vip_sz", "no_vip", "vip_bj"]},
    "body": {"platform": "all", "notification": {"alert": "spread"}, "options": {"big_push_duration": 30}}}') AS sp \gset
INSERT INTO names VALUES (:'sp', 'spread');
-- (the times computed first: Citus takes no STABLE function of a column in an UPDATE)
CREATE TEMP TABLE spread AS
    SELECT d.delivery_id, d.device_id, '2026-06-18 16:00:00+00'::timestamptz + (d.send_at - t.send_at) AS send_at
    FROM deliveries d JOIN tasks t USING (task_id) WHERE d.task_id = :'sp';
UPDATE deliveries d SET send_at = x.send_at FROM spread x
WHERE d.task_id = :'sp' AND d.delivery_id = x.delivery_id AND d.device_id = x.device_id;
DROP TABLE spread;
UPDATE tasks SET created_at = '2026-06-18 16:00:00+00', send_at = '2026-06-18 16:00:00+00',
    started_at = '2026-06-18 16:00:00+00' WHERE task_id = :'sp';
SELECT * FROM pg_temp.trace('vip_bj', 'spread');

-- A task whose deliveries are no longer kept (its day's partition dropped, as the retention
-- does): whether it reached the device is not known.
SELECT push_send('trace_app', '{"to": {"registration_id": ["vip_bj"]},
    "body": {"platform": "all", "notification": {"alert": "long ago"}}}') AS old \gset
INSERT INTO names VALUES (:'old', 'dropped');
UPDATE tasks SET created_at = '2026-05-01 10:00:00+00', send_at = '2026-05-01 10:00:00+00',
    started_at = '2026-05-01 10:00:00+00', state = 'done' WHERE task_id = :'old';
DELETE FROM delivery_queue WHERE task_id = :'old';
DELETE FROM deliveries WHERE task_id = :'old';
SELECT * FROM pg_temp.trace('vip_bj', 'dropped');


-- Errors: an unknown app, device or task, and a task of another app; readers and app roles
-- may not trace (one device's data: operators, as push_deliveries).
SELECT pg_temp.error_of($$SELECT * FROM push_trace('nope', 'vip_sz')$$);
SELECT pg_temp.error_of($$SELECT * FROM push_trace('trace_app', 'nobody')$$);
SELECT pg_temp.error_of($$SELECT * FROM push_trace('trace_app', 'vip_sz', 'tsk_0000')$$);
SELECT push_app_create('trace_other');
SELECT push_device_register('trace_other', 'o1', 'android', 'webhook', 'tok-o1') > 0 AS registered;
SELECT pg_temp.error_of(format($$SELECT * FROM push_trace('trace_other', 'o1', %L)$$, :'b'));
SELECT r AS role, has_function_privilege(r, 'push_trace(text, text, text)', 'EXECUTE') AS may_trace
FROM unnest(ARRAY['pushplan_reader', 'pushplan_app', 'pushplan_operator']) r;
