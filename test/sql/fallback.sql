-- Cross-channel fallback (doc/fallback.md): a push's "fallback", every refusal with its exact
-- message (nothing written), the normalized form; then the scheduler's look (_fallback_step,
-- which src/worker_scheduler.c calls) at fixed instants over deliveries given their outcomes
-- here as the senders would: which devices get a message, with which address, once; the
-- look's batches, its next time, its end; a cancelled push; the statistics of the devices
-- without an address. No workers run here: test/integration/fallback.sh sends through them.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT push_app_create('fb');
SELECT push_app_create('nohook');
SELECT push_vendor_set('fb', 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "fb-secret-0123456789"}');
-- nohook has a vendor, but not the webhook channel
SELECT push_vendor_set('nohook', 'hms', '{"app_id": "10086", "client_secret": "s3cret"}');
SELECT count(*) AS devices FROM (
    SELECT push_device_register('fb', 'd' || g, 'android', 'webhook', 'tok-d' || g)
    FROM generate_series(1, 9) g) x;
SELECT push_device_register('nohook', 'n1', 'android', 'hms', 'hms-token-n1') > 0 AS registered;
-- addresses: an e-mail attribute on all but d4 and d6 (d6's is empty), accounts on d1 and d3
SELECT push_attr_set('fb', 'd' || g, jsonb_build_object('email', 'd' || g || '@example.com', 'name', 'N' || g))
FROM generate_series(1, 9) g WHERE g NOT IN (4, 6);
SELECT push_attr_set('fb', 'd6', '{"email": ""}');
SELECT push_account_bind('fb', 'd1', 'alice', 0), push_account_bind('fb', 'd3', 'carol', 1);

-- a push to the nine devices with this fallback (or, given, another push body)
CREATE FUNCTION pg_temp.push(app text, fallback jsonb, body jsonb DEFAULT NULL) RETURNS text
LANGUAGE sql AS $$
    SELECT push_send(app, jsonb_build_object(
        'to', jsonb_build_object('registration_id', (SELECT jsonb_agg('d' || g) FROM generate_series(1, 9) g)),
        'body', coalesce(body, '{"platform": "android", "notification": {"alert": "Sale for {{attrs.name | default: \"you\"}}", "android": {"title": "Sale"}}, "options": {"priority": "normal", "time_to_live": 0}}'),
        'fallback', fallback))
$$;
CREATE FUNCTION pg_temp.tasks() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM tasks WHERE app_id IN (SELECT app_id FROM apps WHERE app IN ('fb', 'nohook'))
$$;

-- ---- refusals: every one coded, nothing written --------------------------------------------
SELECT pg_temp.push('fb', '"webhook"');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook", "to": "account", "channel": "sms"}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook", "to": {"attr": "email", "fallback": true}}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "to": "account"}');
SELECT pg_temp.push('fb', '{"via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook"}');
SELECT pg_temp.push('fb', '{"after": "soon", "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": "2 fortnights", "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": "hours", "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": true, "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": 7200.5, "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": "30 seconds", "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": "8 days", "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": 59, "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": 604801, "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": "99999999999999999999 days", "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "unless": "seen", "via": "webhook", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "sms", "to": "account"}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": ["webhook"], "to": "account"}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook", "to": "email"}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook", "to": {}}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook", "to": {"attr": 3}}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook", "to": {"attr": ""}}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook", "to": "account", "title": ""}');
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook", "to": "account", "alert": 42}');
SELECT pg_temp.push('fb', jsonb_build_object('after', '2 hours', 'via', 'webhook', 'to', 'account', 'alert', repeat('x', 4001)));
-- the fallback's texts are templates, checked as the push's are
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook", "to": "account", "alert": "Hi {{attrs.name | shout}}"}');
-- the channel must be configured
SELECT push_send('nohook', '{"to": {"registration_id": ["n1"]}, "body": {"platform": "android", "notification": {"alert": "hi"}}, "fallback": {"after": "2 hours", "via": "webhook", "to": "account"}}');
-- the Tencent forms have no fallback
SELECT push_validate('{"audience_type": "account_list", "account_list": ["a1"], "account_type": 1, "message_type": "notify", "message": {"title": "Sale", "content": "Half price"}, "fallback": {"after": "2 hours", "via": "webhook", "to": "account"}}');
SELECT push_validate('{"From_Account": "admin", "MsgRandom": 3674128, "Condition": {"TagsOr": ["vip"]}, "OfflinePushInfo": {"PushFlag": 0, "Title": "t", "Desc": "d"}, "fallback": {"after": "2 hours", "via": "webhook", "to": "account"}}');
SELECT pg_temp.tasks() AS tasks_written,
       (SELECT count(*) FROM deliveries WHERE app_id IN (SELECT app_id FROM apps WHERE app IN ('fb', 'nohook'))) AS deliveries_written;

-- ---- the normalized form: after in seconds, unless filled in ----------------------------------
SELECT push_validate('{"to": "all", "body": {"platform": "all", "notification": {"alert": "hi"}}, "fallback": {"after": "90 minutes", "via": "webhook", "to": {"attr": "email"}, "alert": "Still there?"}}')->'fallback';
SELECT push_validate('{"to": "all", "body": {"platform": "all", "notification": {"alert": "hi"}}, "fallback": {"after": "1 day", "unless": "clicked", "via": "webhook", "to": "account"}}')->'fallback';
SELECT push_validate('{"to": "all", "body": {"platform": "all", "notification": {"alert": "hi"}}, "fallback": {"after": 60, "unless": "received", "via": "webhook", "to": "account"}}')->'fallback';
-- a normalized push is accepted again, unchanged
SELECT push_validate(push_validate('{"to": "all", "body": {"platform": "all", "notification": {"alert": "hi"}}, "fallback": {"after": "7 days", "via": "webhook", "to": "account"}}'))->'fallback';
-- the message a fallback sends: its texts replace the push's for every platform and language
SELECT jsonb_pretty(_fallback_push(push_validate('{"to": "all", "request_id": "r1", "body": {"platform": ["android", "ios"], "notification": {"alert": "hi", "android": {"alert": "hi android", "extras": {"k": "v"}}}, "options": {"multi_language": {"fr": {"alert": "salut"}}}}, "fallback": {"after": "2 hours", "via": "webhook", "to": "account", "alert": "We missed you", "title": "Psst"}}')));
-- ... which is a push as push_send takes it, normalized
SELECT push_validate(m) = m AS a_valid_push FROM (SELECT _fallback_push(push_validate('{"to": "all", "body": {"platform": "all", "notification": {"alert": "hi"}}, "fallback": {"after": "2 hours", "via": "webhook", "to": "account", "title": "Psst"}}')) m) x;
-- without texts of its own, the push's (languages and platform blocks kept)
SELECT _fallback_push(push_validate('{"to": "all", "body": {"platform": "android", "notification": {"alert": "hi", "android": {"title": "T"}}, "options": {"multi_language": {"fr": {"alert": "salut"}}}}, "fallback": {"after": "2 hours", "via": "webhook", "to": "account"}}'))->'body';

-- ---- the scheduler's look -------------------------------------------------------------------
-- a push of 2 hours unless opened, to each device's e-mail attribute; its deliveries are made
-- at once (a list of nine)
SELECT pg_temp.push('fb', '{"after": "2 hours", "via": "webhook", "to": {"attr": "email"}, "alert": "Sale for {{attrs.name}}, by mail"}') AS t1 \gset
SELECT fallback_at - send_at AS first_look_after, template_reads FROM tasks WHERE task_id = :'t1';
-- the outcomes and events, as the senders and push_event would have written them (the times
-- typed in the list: Citus updates no row with a STABLE cast of its columns)
UPDATE deliveries d SET status = x.status, error = x.error, events = x.events,
       sent_at = CASE WHEN x.status = 'sent' THEN x.at END, claimed_at = x.at
FROM devices v, (VALUES
    ('d1', 'sent', NULL, 3, '2090-01-01 10:00+00'::timestamptz), -- received and opened: none
    ('d2', 'sent', NULL, 1, '2090-01-01 10:00+00'),     -- received only: due
    ('d3', 'sent', NULL, 0, '2090-01-01 10:00+00'),     -- nothing reported: due
    ('d4', 'sent', NULL, 0, '2090-01-01 10:00+00'),     -- no e-mail: counted, nothing sent
    ('d5', 'invalid_token', 'Unregistered', 0, '2090-01-01 10:00+00'), -- never reached: due
    ('d6', 'suppressed', 'opted out', 0, '2090-01-01 10:00+00'),       -- suppressed: none
    ('d7', 'suppressed', 'token invalidated', 0, '2090-01-01 10:00+00'), -- never reached: due
    ('d8', 'queued', NULL, 0, NULL),                    -- not sent yet: open
    ('d9', 'sent', NULL, 0, '2090-01-01 11:00+00')      -- sent an hour later: later
    ) x(r, status, error, events, at)
WHERE d.task_id = :'t1' AND v.device_id = d.device_id AND v.registration_id = x.r;
UPDATE deliveries d SET send_at = '2090-01-01 12:30+00' FROM devices v
WHERE d.task_id = :'t1' AND v.device_id = d.device_id AND v.registration_id = 'd8';
UPDATE tasks SET fallback_at = '2090-01-01 12:00+00' WHERE task_id = :'t1';
-- not due yet
SELECT _fallback_step(10000, '2090-01-01 11:59:59+00') AS made;
-- 12:00: two hours after the first sends
SELECT _fallback_step(10000, '2090-01-01 12:00+00') AS made;
SELECT v.registration_id, d.vendor, d.status, d.platform, d.fallback->'to' AS address,
       d.fallback->>'delivery_id' = o.delivery_id::text AS names_its_delivery,
       jsonb_typeof(d.fallback->'delivery_id') AS id_type,
       d.fallback->>'task_id' = :'t1' AS names_its_task, d.fallback->>'unless' AS unless
FROM deliveries d JOIN devices v USING (device_id)
JOIN deliveries o ON o.task_id = :'t1' AND o.device_id = d.device_id
WHERE d.task_id = _fallback_task_id(:'t1') ORDER BY 1;
SELECT v.registration_id, f.outcome FROM fallbacks f JOIN deliveries d USING (delivery_id)
JOIN devices v USING (device_id) WHERE f.task_id = :'t1' ORDER BY 1;
-- queued for the senders, in the push's lane, with the fallback's own message
SELECT count(*) AS queue_rows, min(q.priority) AS lane FROM delivery_queue q WHERE q.task_id = _fallback_task_id(:'t1');
SELECT state, expanded, targeted, plan_id, push->'body'->'notification' AS notification,
       push->'body'->'options'->'frequency_cap' AS frequency_cap, push ? 'fallback' AS has_fallback,
       template_reads
FROM tasks WHERE task_id = _fallback_task_id(:'t1');
-- the next look: when d9 is due (13:00), before d8 may be (12:30 + 2 hours)
SELECT fallback_at, fallback_upto, fallback_next_at FROM tasks WHERE task_id = :'t1';
SELECT _fallback_step(10000, '2090-01-01 12:59:59+00') AS made;
SELECT _fallback_step(10000, '2090-01-01 13:00+00') AS made;
SELECT v.registration_id FROM deliveries d JOIN devices v USING (device_id)
WHERE d.task_id = _fallback_task_id(:'t1') ORDER BY 1;
SELECT fallback_at FROM tasks WHERE task_id = :'t1';
-- d8 is sent at 12:30 and opened: no fallback; the look ends, and with it the fallback
UPDATE deliveries d SET status = 'sent', sent_at = '2090-01-01 12:30+00', events = 3 FROM devices v
WHERE d.task_id = :'t1' AND v.device_id = d.device_id AND v.registration_id = 'd8';
SELECT _fallback_step(10000, '2090-01-01 14:59:59+00') AS made;
SELECT _fallback_step(10000, '2090-01-01 15:00+00') AS made;
SELECT fallback_at, fallback_upto, fallback_next_at FROM tasks WHERE task_id = :'t1';
SELECT _fallback_step(10000, '2090-01-02 00:00+00') AS made;
-- once per delivery: a look made again over the same deliveries (a crash that lost the task's
-- progress but not the messages) makes nothing more
UPDATE tasks SET fallback_at = '2090-01-01 00:00+00' WHERE task_id = :'t1';
SELECT _fallback_step(10000, '2090-01-02 00:00+00') AS made;
SELECT count(*) AS messages, count(DISTINCT device_id) AS devices FROM deliveries WHERE task_id = _fallback_task_id(:'t1');
-- the devices without an address are counted in the push's figures, under vendor webhook
SELECT task_id = :'t1' AS push, platform, vendor, fallback_no_address, fallback_sent, fallback_failed, targeted
FROM stats_pending WHERE fallback_no_address > 0;
SELECT count(*) AS differences FROM (
    (SELECT task_id, platform, vendor, fallback_sent, fallback_failed, fallback_no_address FROM _stats_recount()
     WHERE task_id = :'t1' AND vendor = 'webhook'
     EXCEPT SELECT task_id, platform, vendor, fallback_sent, fallback_failed, fallback_no_address
     FROM _task_stats_live WHERE task_id = :'t1' AND vendor = 'webhook')
    UNION ALL
    (SELECT task_id, platform, vendor, fallback_sent, fallback_failed, fallback_no_address FROM _task_stats_live
     WHERE task_id = :'t1' AND vendor = 'webhook' AND fallback_no_address > 0
     EXCEPT SELECT task_id, platform, vendor, fallback_sent, fallback_failed, fallback_no_address
     FROM _stats_recount() WHERE task_id = :'t1' AND vendor = 'webhook')) x;

-- ---- accounts, received, batches -------------------------------------------------------------
-- unless received (an open counts as received); to the device's account (d1 alice, d3 carol)
SELECT pg_temp.push('fb', '{"after": "1 minute", "unless": "received", "via": "webhook", "to": "account"}') AS t2 \gset
UPDATE deliveries d SET status = 'sent', sent_at = '2090-02-01 10:00+00',
       events = CASE v.registration_id WHEN 'd2' THEN 2 WHEN 'd5' THEN 1 ELSE 0 END
FROM devices v WHERE d.task_id = :'t2' AND v.device_id = d.device_id;
UPDATE tasks SET fallback_at = '2090-02-01 10:01+00' WHERE task_id = :'t2';
-- batches of three deliveries: the look goes on where it stopped
SELECT _fallback_step(3, '2090-02-01 10:01+00') AS made;
SELECT fallback_upto IS NOT NULL AS goes_on, fallback_at FROM tasks WHERE task_id = :'t2';
SELECT _fallback_step(3, '2090-02-01 10:01+00') AS made;
SELECT fallback_upto IS NOT NULL AS goes_on, fallback_at FROM tasks WHERE task_id = :'t2';
SELECT _fallback_step(3, '2090-02-01 10:01+00') AS made;
SELECT fallback_upto IS NOT NULL AS goes_on, fallback_at FROM tasks WHERE task_id = :'t2';
-- nine deliveries, three full batches: the fourth step finds none left, and the look ends
SELECT _fallback_step(3, '2090-02-01 10:01+00') AS made;
SELECT fallback_upto, fallback_at FROM tasks WHERE task_id = :'t2';
SELECT v.registration_id, d.fallback->'to' AS address FROM deliveries d JOIN devices v USING (device_id)
WHERE d.task_id = _fallback_task_id(:'t2') ORDER BY 1;
SELECT count(*) FILTER (WHERE outcome = 'queued') AS queued, count(*) FILTER (WHERE outcome = 'no_address') AS no_address
FROM fallbacks WHERE task_id = :'t2';

-- ---- a cancelled push has no fallback left ---------------------------------------------------
SELECT pg_temp.push('fb', '{"after": "1 minute", "via": "webhook", "to": "account"}') AS t3 \gset
SELECT push_cancel('fb', :'t3');
UPDATE tasks SET fallback_at = '2090-03-01 00:00+00' WHERE task_id = :'t3';
SELECT _fallback_step(10000, '2090-03-02 00:00+00') AS made;
SELECT fallback_at IS NULL AS ended, (SELECT count(*) FROM fallbacks f WHERE f.task_id = :'t3') AS fallbacks
FROM tasks WHERE task_id = :'t3';
-- nothing else due
SELECT _fallback_step(10000, '2090-12-31 00:00+00') AS made;

-- ---- retention: the fallbacks of deliveries past pushplan.retention_days go with them --------
INSERT INTO fallbacks (delivery_id, task_id, platform, outcome) VALUES (1, 'gone', 'android', 'no_address');
SELECT _raw_partitions_maintain() IS NOT NULL AS maintained;
SELECT count(*) FILTER (WHERE delivery_id = 1) AS old_left, count(*) FILTER (WHERE task_id = :'t1') AS kept
FROM fallbacks;
