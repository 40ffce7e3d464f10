-- Privacy (doc/privacy.md): consent per category, export and erasure, and every error. No
-- workers run here: list pushes are expanded by push_send (the consent filter of the
-- expansion); the senders' claim (consent withdrawn after the expansion) is
-- test/integration/privacy.sh.
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
    RETURN SQLSTATE || ' ' || regexp_replace(SQLERRM, 'tsk_[0-9a-f]+', 'tsk_...', 'g');
END $$;
-- Every row of every table of the schema (found from the catalog, partitions through their
-- parents) whose text holds one of the needles, or whose device_id column is one of the ids.
CREATE FUNCTION pg_temp.rows_about(needles text[], ids bigint[])
RETURNS TABLE(tbl text, n bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS t,
                    EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                            AND a.attname = 'device_id' AND NOT a.attisdropped) AS has_device
             FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = 'pushplan' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             ORDER BY 1 LOOP
        tbl := r.t::text;
        EXECUTE format('SELECT count(*) FROM %s x WHERE x::text LIKE ANY ($1)%s', r.t,
                       CASE WHEN r.has_device THEN ' OR x.device_id = ANY ($2)' ELSE '' END)
            INTO n USING (SELECT array_agg('%' || s || '%') FROM unnest(needles) s), ids;
        IF n > 0 THEN
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;

SELECT push_app_create('privacy_app');
SELECT push_vendor_set('privacy_app', 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "privacy-secret-0123456789"}');
SELECT count(*) AS devices FROM (
    SELECT push_device_register('privacy_app', 'pv-dev-' || i, 'android', 'webhook', 'pv-token-' || i)
    FROM generate_series(1, 5) i) d;
SELECT push_tag_add('privacy_app', 'pv-dev-1', 'vip'), push_tag_add('privacy_app', 'pv-dev-2', 'vip');
SELECT push_attr_set('privacy_app', 'pv-dev-1', '{"city": "pv-city-paris", "level": "gold"}');
SELECT push_account_bind('privacy_app', 'pv-dev-1', 'pv-alice', 1),
       push_account_bind('privacy_app', 'pv-dev-2', 'pv-alice', 1),
       push_account_bind('privacy_app', 'pv-dev-3', 'pv-bob', 1);
SELECT push_device_activity('privacy_app', 'pv-dev-1', now() - interval '1 hour');

-- Categories: transactional (no consent), marketing (opt_out unless the app says opt_in), and
-- the app's own.
SELECT * FROM _consent_categories((SELECT app_id FROM apps WHERE app = 'privacy_app')) ORDER BY 1;
SELECT push_app_set('privacy_app', '{"consent": {"marketing": "opt_in", "news": "opt_out"}}');
SELECT * FROM _consent_categories((SELECT app_id FROM apps WHERE app = 'privacy_app')) ORDER BY 1;
-- bad settings: nothing written
SELECT pg_temp.error_of($$SELECT push_app_set('privacy_app', '{"consent": {"Marketing": "opt_in"}}')$$);
SELECT pg_temp.error_of($$SELECT push_app_set('privacy_app', '{"consent": {"transactional": "opt_in"}}')$$);
SELECT pg_temp.error_of($$SELECT push_app_set('privacy_app', '{"consent": {"news": "yes"}}')$$);
SELECT pg_temp.error_of($$SELECT push_app_set('privacy_app', '{"consent": {"news": true}}')$$);
SELECT pg_temp.error_of($$SELECT push_app_set('privacy_app', '{"consent": ["marketing"]}')$$);
SELECT settings->'consent' AS consent FROM apps WHERE app = 'privacy_app';

-- Consent per device: granted (true) or withdrawn (false), again and again.
SELECT push_device_consent('privacy_app', 'pv-dev-1', 'marketing', true);
SELECT push_device_consent('privacy_app', 'pv-dev-2', 'marketing', false);
SELECT push_device_consent('privacy_app', 'pv-dev-2', 'marketing', true);
SELECT push_device_consent('privacy_app', 'pv-dev-3', 'news', false);
SELECT registration_id, category, granted FROM push_device_consents WHERE app = 'privacy_app' ORDER BY 1, 2;
-- bad input: nothing written
SELECT pg_temp.error_of($$SELECT push_device_consent('privacy_app', 'pv-nobody', 'marketing', true)$$);
SELECT pg_temp.error_of($$SELECT push_device_consent('privacy_app', 'pv-dev-4', 'promotions', true)$$);
SELECT pg_temp.error_of($$SELECT push_device_consent('privacy_app', 'pv-dev-4', 'Bad Name', true)$$);
SELECT pg_temp.error_of($$SELECT push_device_consent('privacy_app', 'pv-dev-4', NULL, true)$$);
SELECT pg_temp.error_of($$SELECT push_device_consent('privacy_app', 'pv-dev-4', 'transactional', false)$$);
SELECT pg_temp.error_of($$SELECT push_device_consent('privacy_app', 'pv-dev-4', 'marketing', NULL)$$);
SELECT pg_temp.error_of($$SELECT push_device_consent('no_such_app', 'pv-dev-4', 'marketing', true)$$);
-- (the hint names the app's categories)
SELECT push_device_consent('privacy_app', 'pv-dev-4', 'promotions', true);
SELECT count(*) AS consents_of_dev_4 FROM device_consents c JOIN devices v USING (device_id)
WHERE v.registration_id = 'pv-dev-4';

-- The account form: every device bound to the account now.
SELECT push_account_consent('privacy_app', 'pv-alice', 1, 'news', true) AS devices;
SELECT pg_temp.error_of($$SELECT push_account_consent('privacy_app', 'pv-nobody', 1, 'news', true)$$);
SELECT pg_temp.error_of($$SELECT push_account_consent('privacy_app', 'pv-alice', 2, 'news', true)$$);
SELECT pg_temp.error_of($$SELECT push_account_consent('privacy_app', 'pv-alice', -1, 'news', true)$$);
SELECT pg_temp.error_of($$SELECT push_account_consent('privacy_app', 'x', 1, 'news', true)$$);
SELECT pg_temp.error_of($$SELECT push_account_consent('privacy_app', 'pv-alice', 1, 'promotions', true)$$);
SELECT pg_temp.error_of($$SELECT push_account_consent('privacy_app', 'pv-alice', 1, 'news', NULL)$$);
SELECT registration_id, category, granted FROM push_device_consents WHERE app = 'privacy_app' ORDER BY 1, 2;

-- A push names its category in options.category: the body's rule, then the app's categories.
SELECT push_validate('{"to": "all", "body": {"platform": "android", "notification": {"alert": "x"},
    "options": {"category": "marketing"}}}') #> '{body,options,category}' AS category;
SELECT pg_temp.error_of($$SELECT push_validate('{"to": "all", "body": {"platform": "android",
    "notification": {"alert": "x"}, "options": {"category": "Sale!"}}}')$$);
SELECT pg_temp.error_of($$SELECT push_validate('{"to": "all", "body": {"platform": "android",
    "notification": {"alert": "x"}, "options": {"category": 1}}}')$$);
-- the Tencent bodies name it at their top level (pushplan's own key, as missing_attribute)
SELECT push_validate('{"audience_type": "all", "message_type": "notify", "message": {"title": "t", "content": "c"},
    "category": "marketing"}') #> '{body,options,category}' AS tencent_push_category,
       push_validate('{"MsgRandom": 1, "OfflinePushInfo": {"Title": "t", "Desc": "d"}, "category": "news"}')
    #> '{body,options,category}' AS tencent_im_category;
SELECT pg_temp.error_of($$SELECT push_validate('{"audience_type": "all", "message_type": "notify",
    "message": {"title": "t", "content": "c"}, "category": "Sale!"}')$$);
SELECT pg_temp.error_of($$SELECT push_send('privacy_app', '{"to": {"registration_id": ["pv-dev-1"]},
    "body": {"platform": "android", "notification": {"alert": "x"}, "options": {"category": "promotions"}}}')$$);
SELECT count(*) AS tasks FROM tasks WHERE app_id = (SELECT app_id FROM apps WHERE app = 'privacy_app');

-- marketing needs a grant here: dev-1 and dev-2 (granted), not dev-3, dev-4, dev-5
SELECT push_send('privacy_app', '{"to": {"registration_id": ["pv-dev-1", "pv-dev-2", "pv-dev-3", "pv-dev-4", "pv-dev-5"]},
    "body": {"platform": "android", "notification": {"alert": "sale"}, "options": {"category": "marketing"}}}') AS t_marketing \gset
-- news is opt_out: all but dev-3, which withdrew it
SELECT push_send('privacy_app', '{"to": {"registration_id": ["pv-dev-1", "pv-dev-2", "pv-dev-3", "pv-dev-4", "pv-dev-5"]},
    "body": {"platform": "android", "notification": {"alert": "news"}, "options": {"category": "news"}}}') AS t_news \gset
-- transactional: everyone, whatever their consents; so a push without a category
SELECT push_send('privacy_app', '{"to": {"registration_id": ["pv-dev-1", "pv-dev-2", "pv-dev-3", "pv-dev-4", "pv-dev-5"]},
    "body": {"platform": "android", "notification": {"alert": "receipt"}, "options": {"category": "transactional"}}}') AS t_receipt \gset
SELECT push_send('privacy_app', '{"to": {"registration_id": ["pv-dev-1", "pv-dev-2", "pv-dev-3", "pv-dev-4", "pv-dev-5"]},
    "body": {"platform": "android", "notification": {"alert": "plain"}}}') AS t_plain \gset
SELECT CASE t.task_id WHEN :'t_marketing' THEN 'marketing' WHEN :'t_news' THEN 'news'
                      WHEN :'t_receipt' THEN 'receipt' ELSE 'plain' END AS push,
       t.category, t.consent, t.targeted,
       array_agg(v.registration_id ORDER BY v.registration_id) AS reached
FROM tasks t JOIN deliveries d USING (task_id) JOIN devices v ON v.device_id = d.device_id
WHERE t.app_id = (SELECT app_id FROM apps WHERE app = 'privacy_app')
GROUP BY t.task_id ORDER BY 1;

-- push_trace says why a device was not reached
SELECT step, regexp_replace(detail, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', 'YYYY-MM-DD hh:mm:ss') AS detail
FROM push_trace('privacy_app', 'pv-dev-4', :'t_marketing') WHERE step = 'audience';
SELECT step, regexp_replace(detail, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', 'YYYY-MM-DD hh:mm:ss') AS detail
FROM push_trace('privacy_app', 'pv-dev-3', :'t_news') WHERE step = 'audience';
SELECT push_device_consent('privacy_app', 'pv-dev-5', 'marketing', false);
SELECT step, regexp_replace(detail, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', 'YYYY-MM-DD hh:mm:ss') AS detail
FROM push_trace('privacy_app', 'pv-dev-5', :'t_marketing') WHERE step = 'audience';

-- the statistics' consent column, in every face (0 here: no claim ran)
SELECT suppressed_by FROM push_plan_stats('privacy_app', NULL, now() - interval '1 day', now() + interval '1 day')
ORDER BY message_type LIMIT 1;
SELECT sum(suppressed_consent) AS suppressed_consent FROM push_plan_stats_daily WHERE app = 'privacy_app';
SELECT sum(s.consent) AS consent FROM _task_stats_live s JOIN tasks t USING (task_id)
WHERE t.app_id = (SELECT app_id FROM apps WHERE app = 'privacy_app');
SELECT count(*) AS recount_differs FROM (
    SELECT r.* FROM _stats_recount() r JOIN tasks t USING (task_id)
    WHERE t.app_id = (SELECT app_id FROM apps WHERE app = 'privacy_app')
    EXCEPT SELECT * FROM _task_stats_live) x;

-- Events, for the export and the erasure
SELECT push_event('privacy_app', 'pv-dev-1', :'t_marketing', 'open');
SELECT push_event('privacy_app', 'pv-dev-2', :'t_receipt', 'received');

-- Export: everything held about a device, or an account.
SELECT jsonb_pretty(push_device_export('privacy_app', 'pv-dev-1')
    #- '{exported_at}' #- '{device,created_at}' #- '{device,updated_at}' #- '{device,last_active_at}'
    #- '{device,visits}' #- '{device,accounts,0,bound_at}' #- '{device,consents,0,updated_at}'
    #- '{device,consents,1,updated_at}' #- '{device,deliveries}' #- '{device,reactions,0,at}') AS export;
SELECT jsonb_array_length(x->'deliveries') AS deliveries, jsonb_array_length(x->'visits') AS visits,
       x #> '{deliveries,0,events,0,kind}' AS first_event,
       (x #>> '{reactions,0,at}')::timestamptz > now() - interval '1 minute' AS reaction_at_now
FROM (SELECT push_device_export('privacy_app', 'pv-dev-1')->'device' AS x) e;
SELECT x->>'account' AS account, x->'account_type' AS account_type,
       (SELECT array_agg(d->>'registration_id' ORDER BY d->>'registration_id')
        FROM jsonb_array_elements(x->'devices') d) AS devices, x->'account_packages' AS packages
FROM (SELECT push_account_export('privacy_app', 'pv-alice', 1) AS x) e;
SELECT pg_temp.error_of($$SELECT push_device_export('privacy_app', 'pv-nobody')$$);
SELECT pg_temp.error_of($$SELECT push_account_export('privacy_app', 'pv-nobody', 1)$$);
SELECT pg_temp.error_of($$SELECT push_account_export('privacy_app', 'pv-alice', -3)$$);
SELECT pg_temp.error_of($$SELECT push_account_export('privacy_app', 'pv-alice', NULL)$$);

-- Erasure of a device: every row about it goes; the figures stay (its queued deliveries are
-- counted as suppressed first: every delivery made keeps one outcome).
SELECT device_id AS dev5 FROM devices WHERE registration_id = 'pv-dev-5' \gset
SELECT * FROM pg_temp.rows_about(ARRAY['pv-dev-5', 'pv-token-5'], ARRAY[:dev5]::bigint[]);
CREATE TEMP TABLE before AS SELECT * FROM _task_stats_live;
SELECT r - 'erasure_id' - 'erased_at' - 'subject_hash' AS erased FROM push_device_erase('privacy_app', 'pv-dev-5') r;
SELECT * FROM pg_temp.rows_about(ARRAY['pv-dev-5', 'pv-token-5'], ARRAY[:dev5]::bigint[]);
SELECT b.task_id = :'t_plain' AS plain, s.targeted - b.targeted AS targeted, s.suppressed - b.suppressed AS suppressed,
       s.unregistered - b.unregistered AS unregistered, s.sent - b.sent AS sent
FROM before b JOIN _task_stats_live s USING (task_id, platform, vendor)
WHERE (s.*) IS DISTINCT FROM (b.*) ORDER BY 1;
-- the audit row names nobody: the identifier's hash, who and how much
SELECT subject, subject_hash = encode(sha256(convert_to(app_id || ':device:pv-dev-5', 'UTF8')), 'hex') AS hash_matches,
       erased_by = current_user AS by_caller, counts->'devices' AS devices
FROM erasures WHERE app_id = (SELECT app_id FROM apps WHERE app = 'privacy_app');
-- an audience that named it no longer does
SELECT push->'to' AS audience FROM tasks WHERE task_id = :'t_plain';
SELECT pg_temp.error_of($$SELECT push_device_erase('privacy_app', 'pv-dev-5')$$);
SELECT pg_temp.error_of($$SELECT push_device_erase('privacy_app', NULL)$$);

-- Erasure of an account: its devices (dev-1 and dev-2), bindings and package entries.
SELECT push_account_package_upload('privacy_app', 'accounts.txt',
    convert_to(E'pv-alice\npv-carol\n', 'UTF8'), 1) AS upload \gset
SELECT array_agg(device_id) AS alice_devices FROM devices WHERE registration_id IN ('pv-dev-1', 'pv-dev-2') \gset
SELECT r - 'erasure_id' - 'erased_at' - 'subject_hash' AS erased FROM push_account_erase('privacy_app', 'pv-alice', 1) r;
SELECT * FROM pg_temp.rows_about(ARRAY['pv-alice', 'pv-dev-1', 'pv-dev-2', 'pv-token-1', 'pv-token-2', 'pv-city-paris'],
                                 :'alice_devices'::bigint[]);
SELECT filename, account_count FROM push_account_packages WHERE app = 'privacy_app';
SELECT registration_id FROM push_devices WHERE app = 'privacy_app' ORDER BY 1;
-- a package-only account can be erased too; errors: nothing written
SELECT (push_account_erase('privacy_app', 'pv-carol', 1))->'counts'->'account_package_accounts' AS package_entries;
SELECT count(*) AS erasures FROM push_erasures WHERE app = 'privacy_app';
SELECT pg_temp.error_of($$SELECT push_account_erase('privacy_app', 'pv-alice', 1)$$);
SELECT pg_temp.error_of($$SELECT push_account_erase('privacy_app', 'pv-bob', 7)$$);
SELECT pg_temp.error_of($$SELECT push_account_erase('privacy_app', 'pv-bob', -1)$$);
SELECT pg_temp.error_of($$SELECT push_account_erase('privacy_app', 'b', 1)$$);
SELECT pg_temp.error_of($$SELECT push_account_erase('no_such_app', 'pv-bob', 1)$$);
SELECT count(*) AS erasures FROM push_erasures WHERE app = 'privacy_app';
SELECT app, subject, counts->'devices' AS devices FROM push_erasures WHERE app = 'privacy_app' ORDER BY erasure_id;
