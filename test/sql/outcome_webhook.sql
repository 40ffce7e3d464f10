-- The delivery-outcome webhook (doc/statistics.md, "Outcome webhook"): its configuration and
-- every error, what is captured into the outbox in the transactions that write final outcomes
-- here (the expansion's failed-at-once rows, push_cancel), the batches the scheduler posts, and
-- who may read what. No workers run here: the senders' outcomes and the posting itself are
-- checked in test/integration/outcome_webhook.sh.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
CREATE FUNCTION pg_temp.error_of(statement text, detail boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_detail text;
    v_hint text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ' ' || SQLERRM || ' / ' || coalesce(nullif(v_detail, ''), nullif(v_hint, ''), '-');
END $$;

SELECT push_app_create('hook_app'), push_app_create('hook_none');
SELECT push_vendor_set(a, 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "s"}')
FROM unnest(ARRAY['hook_app', 'hook_none']) a;
SELECT count(*) AS devices FROM (
    SELECT push_device_register(a, 'w' || i, 'android', 'webhook', 'tok-w' || i)
    FROM unnest(ARRAY['hook_app', 'hook_none']) a, generate_series(1, 3) i
    UNION ALL
    -- a vendor neither app has credentials for: its deliveries fail as they are made
    SELECT push_device_register(a, 'x1', 'ios', 'apns', 'ab' || repeat('0', 62))
    FROM unnest(ARRAY['hook_app', 'hook_none']) a) d;

-- Every bad configuration is refused, with its code.
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', '[]')$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', '"https://x"')$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', '{"url": "https://r.example/o", "secret": "0123456789abcdef", "batch": 10}')$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', '{"url": "https://r.example/o"}')$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', '{"secret": "0123456789abcdef"}')$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', '{"url": "", "secret": "0123456789abcdef"}')$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', '{"url": "https://r.example/o", "secret": 1234567890123456}')$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', '{"url": "ftp://r.example/o", "secret": "0123456789abcdef"}')$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', '{"url": "r.example/o", "secret": "0123456789abcdef"}')$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', '{"url": "https://r.example/o", "secret": "short"}')$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', NULL)$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('no_such_app', '{"url": "https://r.example/o", "secret": "0123456789abcdef"}')$$, true);
SELECT count(*) AS webhooks_after_errors FROM outcome_webhooks;

-- Set, then set again (the new config replaces the old one).
SELECT push_outcome_webhook_set('hook_app', '{"url": "https://r.example/old", "secret": "0123456789abcdef"}');
SELECT push_outcome_webhook_set('hook_app', '{"url": "https://127.0.0.1:9/outcomes", "secret": "outcome-secret-0123456789"}');
SELECT a.app, w.config->>'url' AS url FROM outcome_webhooks w JOIN apps a USING (app_id);
SELECT app, waiting, batch_id FROM push_outcome_webhooks;

-- Capture: the expansion's failed-at-once deliveries (no apns credentials) and push_cancel's
-- cancelled ones, of the app with the webhook only, in the transaction that wrote them.
SELECT push_send('hook_app', '{"to": {"registration_id": ["w1", "w2", "x1"]},
    "body": {"platform": "all", "notification": {"alert": "hi"}, "options": {"plan_id": "default"}}}') AS t_app \gset
SELECT push_send('hook_none', '{"to": {"registration_id": ["w1", "w2", "x1"]},
    "body": {"platform": "all", "notification": {"alert": "hi"}, "options": {"plan_id": "default"}}}') AS t_none \gset
BEGIN;
SELECT push_send('hook_app', '{"to": {"registration_id": ["w3"]},
    "body": {"platform": "all", "notification": {"alert": "never"}, "options": {"plan_id": "default"}}}') AS c_app \gset
SELECT push_cancel('hook_app', :'c_app');
ROLLBACK;
-- (the one row: x1's failure in the first push)
SELECT count(*) AS outbox_after_rollback FROM outcome_outbox;
SELECT push_send('hook_app', '{"to": {"registration_id": ["w3"]},
    "body": {"platform": "all", "notification": {"alert": "cancelled"}, "options": {"plan_id": "default"}}}') AS c_app \gset
SELECT push_send('hook_none', '{"to": {"registration_id": ["w3"]},
    "body": {"platform": "all", "notification": {"alert": "cancelled"}, "options": {"plan_id": "default"}}}') AS c_none \gset
SELECT push_cancel('hook_app', :'c_app'), push_cancel('hook_none', :'c_none');
SELECT a.app, o.registration_id, o.plan_id, o.vendor, o.platform, o.status, o.error, o.http_status,
       o.task_id = :'t_app' AS first_push, o.task_id = :'c_app' AS cancelled_push,
       d.task_id = o.task_id AND d.status = o.status AS its_delivery, o.at <= now() AS at_set
FROM outcome_outbox o JOIN apps a USING (app_id)
JOIN deliveries d ON d.delivery_id = o.delivery_id
ORDER BY o.outcome_id;

-- A batch: the oldest outcomes of the app, its body made once; nothing while one waits.
SELECT made AS made_too_young, waiting FROM _outcome_batches_make(500, interval '1 hour');
SELECT made AS made_full, waiting FROM _outcome_batches_make(2, interval '1 hour');
SELECT made AS made_while_one_waits, waiting FROM _outcome_batches_make(500, interval '0');
SELECT outcomes, attempts, (body::jsonb)->>'batch_id' = batch_id::text AS id_in_body,
       (body::jsonb)->>'app' AS app,
       jsonb_path_query_array(body::jsonb, '$.outcomes[*].status') AS statuses,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys((body::jsonb)->'outcomes'->0) k) AS keys,
       (body::jsonb)->'outcomes'->0->>'at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS utc_time,
       -- the ids as strings (past 2^53: a double would round them), each exactly its delivery's
       jsonb_path_query_array(body::jsonb, '$.outcomes[*].delivery_id.type()') AS id_types,
       (SELECT bool_and(o->>'delivery_id' IN (SELECT d.delivery_id::text FROM deliveries d
                                               WHERE d.delivery_id > 9007199254740992))
        FROM jsonb_array_elements((body::jsonb)->'outcomes') o) AS ids_exact
FROM outcome_batches;
SELECT count(*) AS still_in_outbox FROM outcome_outbox;
SELECT app, waiting, batch_outcomes, batch_attempts FROM push_outcome_webhooks;
DELETE FROM outcome_batches;
SELECT made AS made_rest, waiting FROM _outcome_batches_make(500, interval '0');
SELECT outcomes FROM outcome_batches;
DELETE FROM outcome_batches;

-- Outcomes older than the raw rows are kept (pushplan.retention_days, 30 here) are swept, the
-- others wait for their receiver.
INSERT INTO outcome_outbox (app_id, delivery_id, task_id, vendor, status, at)
    SELECT app_id, 1, 'tsk_x', 'webhook', 'sent', now() - d FROM apps, unnest(ARRAY[interval '40 days', interval '1 day']) d
    WHERE app = 'hook_app';
SELECT _outcome_outbox_sweep();
SELECT count(*) AS kept, bool_and(at > now() - interval '2 days') AS only_the_recent_one FROM outcome_outbox;

-- The outbox of an app whose webhook went away is emptied: by the removal, and by the upkeep's
-- sweep for what a transaction that still saw the webhook appended afterwards.
INSERT INTO outcome_outbox (app_id, delivery_id, task_id, vendor, status, at)
    SELECT app_id, 1, 'tsk_x', 'webhook', 'sent', now() FROM apps WHERE app = 'hook_app';
SELECT push_outcome_webhook_set('hook_app', NULL);
SELECT count(*) AS outbox_after_removal, (SELECT count(*) FROM outcome_webhooks) AS webhooks FROM outcome_outbox;
INSERT INTO outcome_outbox (app_id, delivery_id, task_id, vendor, status, at)
    SELECT app_id, 1, 'tsk_x', 'webhook', 'sent', now() FROM apps WHERE app = 'hook_app';
SELECT _outcome_outbox_sweep();
SELECT count(*) AS outbox_after_sweep FROM outcome_outbox;

-- The url and secret are credentials: no role but the owner and the workers reads them.
SET client_min_messages = warning;
DROP ROLE IF EXISTS hook_admin;
DROP ROLE IF EXISTS hook_operator;
RESET client_min_messages;
CREATE ROLE hook_admin;
CREATE ROLE hook_operator;
SELECT push_app_grant('hook_app', 'hook_admin', 'admin');
SELECT push_app_grant('hook_app', 'hook_operator', 'operator');
SET ROLE hook_admin;
SELECT push_outcome_webhook_set('hook_app', '{"url": "https://127.0.0.1:9/outcomes", "secret": "outcome-secret-0123456789"}');
SELECT app, waiting FROM push_outcome_webhooks;
SELECT pg_temp.error_of($$SELECT config FROM outcome_webhooks$$, true);
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_none', '{"url": "https://127.0.0.1:9/outcomes", "secret": "outcome-secret-0123456789"}')$$, true);
RESET ROLE;
SET ROLE hook_operator;
SELECT pg_temp.error_of($$SELECT push_outcome_webhook_set('hook_app', NULL)$$, true);
SELECT pg_temp.error_of($$SELECT * FROM push_outcome_webhooks$$, true);
SELECT pg_temp.error_of($$SELECT count(*) FROM outcome_outbox$$, true);
RESET ROLE;
SELECT has_table_privilege('pushplan_worker', 'outcome_webhooks', 'SELECT') AS worker_reads,
       has_table_privilege('pushplan_reader', 'outcome_webhooks', 'SELECT') AS reader_reads,
       has_table_privilege('pushplan_app', 'outcome_webhooks', 'SELECT') AS app_reads;
-- the suites share a database: later ones list every binding
SELECT push_outcome_webhook_set('hook_app', NULL);
SELECT push_app_revoke('hook_app', 'hook_admin', 'admin'), push_app_revoke('hook_app', 'hook_operator', 'operator');
DROP ROLE hook_admin;
DROP ROLE hook_operator;
