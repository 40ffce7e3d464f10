-- A/B variants (doc/variants.md): a push's "variants", checked as whole pushes; one task per
-- variant, each device in exactly one by a hash of (push task, device); the control group
-- held out and counted; the figures per variant. No workers serve this database: the pushes
-- here are lists, expanded by push_send; test/integration/variants.sh sends through the workers.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT errors

SELECT push_app_create('ab_app');
SELECT push_vendor_set('ab_app', 'hms', '{"app_id": "10086", "client_secret": "s3cret"}');
-- Xiaomi refuses titles over 49 characters: push_send applies it to every variant
SELECT push_vendor_set('ab_app', 'xiaomi', '{"app_secret": "s", "package_name": "com.example.app"}');
SELECT push_device_register_batch('ab_app', (
    SELECT jsonb_agg(jsonb_build_object('registration_id', 'ab_' || g, 'platform', 'android',
                                        'vendor', 'hms', 'token', 'tok_' || g))
    FROM generate_series(1, 1000) g));
SELECT push_device_register('ab_app', 'ab_ios', 'ios', 'apns', 'ios_tok') IS NOT NULL AS registered;

-- A push and its variants: A changes the alert, B the Android title and extras, and the control
-- group gets nothing. push_validate shows the push as stored.
SELECT push_validate('{"to": {"registration_id": ["ab_1"]},
  "body": {"platform": "android", "notification": {"alert": "Base text", "android": {"title": "Base title"}}},
  "variants": [{"name": "A", "weight": 45, "notification": {"alert": "Text A"}},
               {"name": "B", "weight": 45, "notification": {"android": {"title": "Title B", "extras": {"v": "b"}}}},
               {"name": "control", "weight": 10, "control": true}]}') -> 'variants' AS stored_variants;

-- errors: every one with its message; nothing is written
SELECT count(*) AS tasks_before FROM tasks \gset
\set base '"to": {"registration_id": ["ab_1"]}, "body": {"platform": "android", "notification": {"alert": "Base"}}'
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": {"name": "A"}}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 100}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, "B"]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"weight": 50}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "a b", "weight": 50}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "' || repeat('x', 33) || '", "weight": 50}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "A", "weight": 50}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 0}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 49.5}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B"}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 40}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 60}, {"name": "B", "weight": 60}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "to": "all"}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "options": {"time_to_live": 60}}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "options": "x"}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "notification": "x"}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "message": []}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "control": "yes"}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "C", "weight": 50, "control": true, "notification": {"alert": "x"}}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "C1", "weight": 50, "control": true}, {"name": "C2", "weight": 50, "control": true}]}')::jsonb);
-- a variant's push is checked as a whole push: its fields, the vendors' limits, its templates
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "notification": {"alert": ""}}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "notification": {"android": {"style": 9}}}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "notification": {"alert": "Hi {{attrs.first_name | nope}}"}}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "notification": {"android": {"title": "' || repeat('標', 50) || '"}}}]}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "options": {"multi_language": {"en": {"content": "x"}}}}]}')::jsonb);
-- a variants test: percent, metric and after, with variants
\set two '"variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]'
SELECT push_send('ab_app', ('{' || :'base' || ', "variants_test": {"percent": 10, "metric": "ctr", "after": "1 hour"}}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', ' || :'two' || ', "variants_test": "10 %"}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', ' || :'two' || ', "variants_test": {"percent": 10, "metric": "ctr", "after": "1 hour", "pick": "auto"}}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', ' || :'two' || ', "variants_test": {"percent": 100, "metric": "ctr", "after": "1 hour"}}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', ' || :'two' || ', "variants_test": {"metric": "ctr", "after": "1 hour"}}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', ' || :'two' || ', "variants_test": {"percent": 10, "metric": "opens", "after": "1 hour"}}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', ' || :'two' || ', "variants_test": {"percent": 10, "after": "1 hour"}}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', ' || :'two' || ', "variants_test": {"percent": 10, "metric": "ctr", "after": "90 seconds"}}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', ' || :'two' || ', "variants_test": {"percent": 10, "metric": "ctr", "after": "31 days"}}')::jsonb);
SELECT push_send('ab_app', ('{' || :'base' || ', ' || :'two' || ', "variants_test": {"percent": 10, "metric": "ctr", "after": 60}}')::jsonb);
-- the Tencent dialects have no variants
SELECT push_send('ab_app', '{"audience_type": "token", "token_list": ["tok_1"], "message_type": "notify",
  "message": {"title": "t", "content": "c"}, "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]}');
SELECT push_send('ab_app', '{"From_Account": "admin", "MsgRandom": 1, "Condition": {"TagsAnd": ["x"]},
  "OfflinePushInfo": {"PushFlag": 0, "Title": "t", "Desc": "d"}, "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]}');
SELECT push_send('ab_app', ('{' || :'base' || ', "dialect": "tencent_push", "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]}')::jsonb);
SELECT count(*) - :tasks_before AS tasks_written FROM tasks;

SELECT push_validate(('{' || :'base' || ', "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "notification": {"alert": "{{attrs.x | nope}}"}}]}')::jsonb);
SELECT count(*) - :tasks_before AS tasks_written FROM tasks;

-- A push to the 1000 Android devices (a list: expanded by push_send in this transaction)
SET pushplan.small_audience_limit = 1000;
SELECT push_send('ab_app', jsonb_build_object(
  'to', jsonb_build_object('registration_id', (SELECT jsonb_agg('ab_' || g) FROM generate_series(1, 1000) g)),
  'body', '{"platform": "android", "notification": {"alert": "Base text", "android": {"title": "Base title"}},
            "options": {"plan_id": "default", "time_to_live": 3600}}'::jsonb,
  'request_id', 'ab_push_1',
  'variants', '[{"name": "A", "weight": 45, "notification": {"alert": "Text A"}},
                {"name": "B", "weight": 45, "notification": {"android": {"title": "Title B", "extras": {"v": "b"}}},
                 "options": {"multi_language": {"zh-Hans": {"alert": "文本 B"}}}},
                {"name": "control", "weight": 10, "control": true}]'::jsonb)) AS ab \gset
-- the push's own task is never expanded; one task per variant, with its own push
SELECT state, variant, parent_task_id, targeted, push ? 'variants' AS has_variants FROM tasks WHERE task_id = :'ab';
SELECT variant, variant_buckets, variant_control, state, request_id, broadcast, priority,
       push->'body'->'notification' AS notification, push->'body'->'options' AS options
FROM tasks WHERE parent_task_id = :'ab' ORDER BY lower(variant_buckets);
-- the same key again is the same push
SELECT push_send('ab_app', '{"to": {"registration_id": ["ab_1"]}, "request_id": "ab_push_1",
  "body": {"platform": "android", "notification": {"alert": "x"}}}') = :'ab' AS same_push;

-- every device in exactly one variant, the one its bucket says; control devices held out
SELECT t.variant, d.status,
       bool_and(_variant_bucket(:'ab', d.device_id) <@ t.variant_buckets) AS buckets_match
FROM deliveries d JOIN tasks t USING (task_id)
WHERE t.parent_task_id = :'ab' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(DISTINCT d.device_id) = 1000 AND count(*) = 1000 AS each_device_once
FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = :'ab';
-- shares of 1000 devices: near the weights (the exact split over 10,000 is below)
SELECT t.variant, abs(count(*) / 10.0 - (upper(t.variant_buckets) - lower(t.variant_buckets)) / 100.0) < 7 AS near_weight
FROM deliveries d JOIN tasks t USING (task_id) WHERE t.parent_task_id = :'ab' GROUP BY t.variant, t.variant_buckets ORDER BY 1;
-- only A's and B's deliveries are queued; the control group's are never sent
SELECT t.variant, count(q.*) = count(*) FILTER (WHERE d.status = 'queued') AND count(q.*) = t.targeted AS all_queued,
       count(q.*) > 0 AS has_queue_rows
FROM tasks t LEFT JOIN deliveries d USING (task_id) LEFT JOIN delivery_queue q USING (delivery_id)
WHERE t.parent_task_id = :'ab' GROUP BY t.variant, t.targeted ORDER BY 1;

-- The assignment is a function of (push task, device) alone: the same bucket every time, and
-- 10,000 devices split within 2 % of any weights (here 50 / 30 / 20 and 10 x 10).
SELECT _variant_bucket('tsk_fixed', 42) AS bucket, _variant_bucket('tsk_fixed', 42) = _variant_bucket('tsk_fixed', 42) AS stable,
       ('x' || left(md5('tsk_fixed:42'), 8))::bit(32)::bigint % 10000 AS by_hand;
SELECT w.name, x.weight, abs(count(*) / 100.0 - x.weight) <= 2 AS within_2_percent
FROM generate_series(1, 10000) g
JOIN (VALUES ('A', 0, 50), ('B', 50, 80), ('C', 80, 100)) w(name, lo, hi)
  ON _variant_bucket('tsk_split', g) / 100 >= w.lo AND _variant_bucket('tsk_split', g) / 100 < w.hi
CROSS JOIN LATERAL (SELECT w.hi - w.lo AS weight) x
GROUP BY w.name, x.weight ORDER BY 1;
SELECT count(*) AS buckets, bool_and(abs(n - 1000) <= 200) AS each_within_2_percent
FROM (SELECT _variant_bucket('tsk_split_10', g) / 1000 AS b, count(*) AS n FROM generate_series(1, 10000) g GROUP BY 1) s;

-- Statistics per variant: a variant's figures are its task's; the control group counts in
-- control, never in targeted or failed. Events of a control device count for the control group
-- (its conversions are what lift is measured against).
SELECT task_id AS control_task FROM tasks WHERE parent_task_id = :'ab' AND variant_control \gset
-- (a device of the control group's deliveries: by registration id, whatever the device ids)
SELECT v.registration_id AS control_device FROM deliveries d JOIN devices v USING (device_id)
WHERE d.task_id = :'control_task' AND _variant_bucket(:'ab', v.device_id) >= 9000
ORDER BY v.registration_id LIMIT 1 \gset
SELECT push_event('ab_app', :'control_device', :'control_task', 'convert', now(), 12.5);
SELECT variant, weight, control_group, targeted > 0 AS targeted, control > 0 AS held_out, sent, failed,
       pending = targeted AS all_pending, converted, converted_value, conversion_rate > 0 AS converts,
       assigned = n.deliveries AS assigned_all
FROM push_variant_stats s
JOIN (SELECT task_id, count(*) AS deliveries FROM deliveries GROUP BY task_id) n ON n.task_id = s.variant_task_id
WHERE s.task_id = :'ab' ORDER BY variant;
SELECT sum(assigned) AS assigned FROM push_variant_stats WHERE task_id = :'ab';
SELECT variant, targeted > 0 AS targeted, control > 0 AS held_out, failed, suppressed FROM push_task_stats WHERE parent_task_id = :'ab' ORDER BY variant;
SELECT variant, state, targeted = queued AS all_queued FROM push_task_progress WHERE parent_task_id = :'ab' ORDER BY variant;
-- the aggregates equal a count from the raw rows, before and after the fold
SELECT count(*) AS differences FROM (
    (SELECT * FROM _stats_recount() EXCEPT SELECT * FROM _task_stats_live)
    UNION ALL (SELECT * FROM _task_stats_live EXCEPT SELECT * FROM _stats_recount())) x
WHERE x.task_id IN (SELECT task_id FROM tasks WHERE app_id = (SELECT app_id FROM apps WHERE app = 'ab_app'));
SELECT _stats_rollup() > 0 AS folded;
SELECT count(*) AS differences FROM (
    (SELECT * FROM _stats_recount() EXCEPT SELECT * FROM task_stats)
    UNION ALL (SELECT * FROM task_stats EXCEPT SELECT * FROM _stats_recount())) x
WHERE x.task_id IN (SELECT task_id FROM tasks WHERE app_id = (SELECT app_id FROM apps WHERE app = 'ab_app'));
SELECT sum(targeted) + sum(control) AS assigned,
       sum(control) = (SELECT count(*) FROM deliveries d JOIN apps a USING (app_id) WHERE a.app = 'ab_app' AND d.status = 'control') AS control_counted
FROM push_plan_stats_daily WHERE app = 'ab_app';

-- push_cancel of the push cancels its variants' tasks
SELECT set_config('ab.push', :'ab', false) IS NOT NULL AS noted;
SELECT push_cancel('ab_app', :'ab');
SELECT coalesce(variant, '(push)') AS task, state FROM tasks WHERE task_id = :'ab' OR parent_task_id = :'ab' ORDER BY variant NULLS FIRST;
SELECT t.variant, d.status FROM deliveries d JOIN tasks t USING (task_id)
WHERE t.parent_task_id = :'ab' GROUP BY 1, 2 ORDER BY 1, 2;
DO $$ BEGIN PERFORM push_cancel('ab_app', current_setting('ab.push'));
EXCEPTION WHEN OTHERS THEN RAISE NOTICE '%', replace(SQLERRM, current_setting('ab.push'), '<push>'); END $$;

-- A broadcast with variants waits for the scheduler like any broadcast: its variants' tasks
-- are queued, the push's own is not
SELECT push_send('ab_app', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "Hi"}},
  "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "notification": {"alert": "Hello"}}]}') AS bc \gset
SELECT coalesce(variant, '(push)') AS task, state, broadcast, expanded FROM tasks WHERE task_id = :'bc' OR parent_task_id = :'bc' ORDER BY variant NULLS FIRST;
-- the push counts once in the daily quota of broadcasts
SELECT count(*) AS broadcasts FROM tasks WHERE (task_id = :'bc' OR parent_task_id = :'bc') AND broadcast;

-- A schedule with variants: checked at creation as push_send checks it
SELECT push_schedule_create('ab_app', '{"name": "ab weekly", "trigger": {"single": {"time": "2090-01-01 10:00:00"}},
  "push": {"to": "all", "body": {"platform": "android", "notification": {"alert": "Hi"}},
           "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "notification": {"alert": ""}}]}}');
SELECT push_schedule_create('ab_app', jsonb_build_object('name', 'ab soon',
  'trigger', jsonb_build_object('single', jsonb_build_object('time', to_char(now() + interval '1 day', 'YYYY-MM-DD HH24:MI:SS'))),
  'push', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "Hi"}},
           "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "notification": {"alert": "Hello"}}]}'::jsonb)) IS NOT NULL AS scheduled;
SELECT jsonb_array_length(push->'variants') AS variants FROM schedules WHERE name = 'ab soon';

-- A variants test: A and B to 20 % of the audience (10 % each), the winner by click rate after
-- an hour to the other 80 %. The test clock (pushplan_test) stands in for the hour.
SELECT push_send('ab_app', jsonb_build_object(
  'to', jsonb_build_object('registration_id', (SELECT jsonb_agg('ab_' || g) FROM generate_series(1, 1000) g)),
  'body', '{"platform": "android", "notification": {"alert": "Base text"}}'::jsonb,
  'variants', '[{"name": "A", "weight": 50, "notification": {"alert": "Text A"}},
                {"name": "B", "weight": 50, "notification": {"alert": "Text B"}}]'::jsonb,
  'variants_test', '{"percent": 20, "metric": "ctr", "after": "1 hour"}'::jsonb)) AS vt \gset
SELECT state FROM tasks WHERE task_id = :'vt';
SELECT variant, variant_buckets, variant_winner FROM tasks WHERE parent_task_id = :'vt' ORDER BY lower(variant_buckets);
SELECT count(*) FILTER (WHERE _variant_bucket(:'vt', device_id) < 2000) = count(*) AS only_the_test_share,
       abs(count(*) - 200) < 60 AS about_20_percent
FROM deliveries WHERE task_id IN (SELECT task_id FROM tasks WHERE parent_task_id = :'vt');
-- nothing is due before the hour; B's deliveries are marked sent and one is clicked
SELECT _variants_pick_winners() AS winners_before;
UPDATE deliveries d SET status = 'sent', sent_at = now() FROM tasks t
WHERE t.task_id = d.task_id AND t.parent_task_id = :'vt';
INSERT INTO stats_pending (task_id, platform, vendor, sent)
SELECT d.task_id, d.platform, d.vendor, count(*) FROM deliveries d JOIN tasks t USING (task_id)
WHERE t.parent_task_id = :'vt' GROUP BY 1, 2, 3;
SELECT registration_id AS b_device FROM devices v JOIN deliveries d USING (device_id) JOIN tasks t USING (task_id)
WHERE t.parent_task_id = :'vt' AND t.variant = 'B' ORDER BY v.device_id LIMIT 1 \gset
SELECT task_id AS b_task FROM tasks WHERE parent_task_id = :'vt' AND variant = 'B' \gset
SELECT push_event('ab_app', :'b_device', :'b_task', 'click');
SELECT _clock_set(now() + interval '61 minutes') IS NOT NULL AS clock_moved;
SELECT _variants_pick_winners() AS winners;
SELECT _variants_pick_winners() AS winners_again;
SELECT _clock_set(NULL) IS NOT NULL AS clock_back;
SELECT state FROM tasks WHERE task_id = :'vt';
SELECT variant, variant_buckets, variant_winner, state, push->'body'->'notification'->>'alert' AS alert
FROM tasks WHERE parent_task_id = :'vt' ORDER BY lower(variant_buckets);
SELECT variant, winner, weight, clicked FROM push_variant_stats WHERE task_id = :'vt' ORDER BY winner, variant;

-- a push with variants counts once among a plan's pushes
SELECT p.task_count,
       (SELECT count(*) FROM tasks t JOIN apps a USING (app_id) WHERE a.app = 'ab_app') AS task_rows
FROM push_plans p WHERE p.app = 'ab_app' AND p.plan_id = 'default';
SELECT tasks FROM push_plan_overview WHERE app = 'ab_app' AND plan_id = 'default';
