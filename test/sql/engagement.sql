-- Engagement controls (doc/engagement.md): frequency caps and quiet hours, per app and per
-- plan. Their settings and every refusal (nothing written); then the senders' gate
-- (_engagement_gate, which src/worker_sender.c calls in each claim) at fixed instants: quiet
-- hours across midnight, in three zones (a device without one in the app's), across both
-- daylight-saving changes, held or dropped, spread by big_push_duration; rolling and calendar
-- caps, dropped or deferred, the app's and a plan's counted apart; transactional pushes exempt
-- unless their options say otherwise. No workers run here: the gate is called as a claim calls
-- it. test/specs/engagement_race.spec races two claims; test/integration/engagement.sh sends.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT push_app_create('eng');
SELECT push_vendor_set('eng', 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "eng-secret-0123456789"}');
SELECT push_plan_create('eng', 'promo');
SELECT count(*) AS devices FROM (
    SELECT push_device_register('eng', r, 'android', 'webhook', 'tok-' || r, z)
    FROM (VALUES ('ny', 'America/New_York'), ('berlin', 'Europe/Berlin'), ('nozone', 'UTC'),
                 ('c1', 'Europe/Berlin'), ('c2', 'Europe/Berlin')) d(r, z)) x;

-- ---- settings ----------------------------------------------------------------------------
-- every bad value is refused, and nothing is written
SELECT push_app_set('eng', '{"frequency_cap": {"per_hour": 1}}');
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 0}}');
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 1.5}}');
SELECT push_app_set('eng', '{"frequency_cap": {"per_week": 1001}}');
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": "2"}}');
SELECT push_app_set('eng', '{"frequency_cap": {"window": "rolling"}}');
SELECT push_app_set('eng', '{"frequency_cap": {}}');
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 3, "per_week": 2}}');
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 1, "window": "hourly"}}');
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 1, "window": 1}}');
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 1, "on_cap": "queue"}}');
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 1, "on_cap": null}}');
SELECT push_app_set('eng', '{"frequency_cap": [1, 2]}');
SELECT push_app_set('eng', '{"quiet_hours": {"from": "22:00", "to": "08:00", "zone": "UTC"}}');
SELECT push_app_set('eng', '{"quiet_hours": {"from": "22:00"}}');
SELECT push_app_set('eng', '{"quiet_hours": {"from": "24:00", "to": "08:00"}}');
SELECT push_app_set('eng', '{"quiet_hours": {"from": "22:00", "to": "8:00"}}');
SELECT push_app_set('eng', '{"quiet_hours": {"from": "22:00", "to": "08:00:00"}}');
SELECT push_app_set('eng', '{"quiet_hours": {"from": "22:00", "to": 8}}');
SELECT push_app_set('eng', '{"quiet_hours": {"from": "22:00", "to": "22:00"}}');
SELECT push_app_set('eng', '{"quiet_hours": {"from": "22:00", "to": "08:00", "on_quiet": "defer"}}');
SELECT push_app_set('eng', '{"quiet_hours": "22:00-08:00"}');
SELECT push_app_set('eng', '{"timezone": "Asia/Shanghai", "quiet_hours": {"from": "22:00", "to": "8"}}');
SELECT settings FROM apps WHERE app = 'eng';
SELECT push_plan_set('eng', 'nope', '{}');
SELECT push_plan_set('eng', 'promo', '[]');
SELECT push_plan_set('eng', 'promo', '{"timezone": "UTC"}');
SELECT push_plan_set('eng', 'promo', '{"quiet_hours": "22:00-08:00"}');
SELECT push_plan_set('eng', 'promo', '{"frequency_cap": {"per_day": 1}, "quiet_hours": {"from": "x", "to": "08:00"}}');
SELECT settings FROM push_plans WHERE app = 'eng' AND plan_id = 'promo';
-- a push's own say
SELECT push_send('eng', '{"to": {"registration_id": ["ny"]}, "body": {"platform": "all",
    "notification": {"alert": "x"}, "options": {"frequency_cap": "yes"}}}');
SELECT push_send('eng', '{"to": {"registration_id": ["ny"]}, "body": {"platform": "all",
    "notification": {"alert": "x"}, "options": {"quiet_hours": 1}}}');

-- good values are stored; null removes one
SELECT push_app_set('eng', '{"timezone": "Asia/Shanghai", "quiet_hours": {"from": "22:00", "to": "08:00"},
                             "frequency_cap": {"per_day": 5, "per_week": 20, "window": "calendar", "on_cap": "defer"}}');
SELECT push_app_set('eng', '{"frequency_cap": null}');
SELECT settings FROM apps WHERE app = 'eng';

-- ---- the gate ----------------------------------------------------------------------------
CREATE TEMP TABLE names (task_id text PRIMARY KEY, name text UNIQUE);
-- a push to some devices (expanded by push_send itself, as a list), in the normal lane unless
-- options say otherwise
CREATE FUNCTION pg_temp.push(p_name text, p_regs text[], p_options jsonb DEFAULT '{}', p_plan text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO names SELECT pushplan.push_send('eng', jsonb_build_object(
        'to', jsonb_build_object('registration_id', to_jsonb(p_regs)),
        'body', jsonb_build_object('platform', 'all', 'notification', jsonb_build_object('alert', p_name),
            'options', jsonb_build_object('priority', 'normal') || CASE WHEN p_plan IS NULL THEN '{}' ELSE jsonb_build_object('plan_id', p_plan) END || p_options))),
        p_name
$$;
-- what the gate says of a push's deliveries at an instant: goes, or its verdict and until
-- (UTC, and the device's local time)
CREATE FUNCTION pg_temp.gate(p_name text, p_at timestamptz)
RETURNS TABLE(device text, verdict text, until timestamptz, local_until timestamp)
LANGUAGE sql AS $$
    WITH d AS (SELECT d.* FROM pushplan.deliveries d JOIN names n USING (task_id) WHERE n.name = p_name),
    g AS (SELECT * FROM pushplan._engagement_gate((SELECT array_agg(delivery_id) FROM d), p_at))
    SELECT v.registration_id, coalesce(g.verdict, 'goes'), g.until,
           g.until AT TIME ZONE pushplan._engagement_zone(v.timezone, 'Asia/Shanghai')
    FROM d JOIN pushplan.devices v USING (device_id) LEFT JOIN g USING (delivery_id)
    ORDER BY 1
$$;
-- a push's deliveries and queue rows as they stand
CREATE FUNCTION pg_temp.rows(p_name text)
RETURNS TABLE(device text, status text, error text, send_at text, queued_at text, claimed_by int)
LANGUAGE sql AS $$
    SELECT v.registration_id, d.status, d.error,
           CASE WHEN d.send_at = t.send_at THEN 'as planned' ELSE d.send_at::text END,
           CASE WHEN q.send_at = t.send_at THEN 'as planned' ELSE q.send_at::text END, q.claimed_by
    FROM pushplan.deliveries d JOIN names n USING (task_id) JOIN pushplan.devices v USING (device_id)
    JOIN pushplan.tasks t ON t.task_id = d.task_id
    LEFT JOIN pushplan.delivery_queue q ON q.task_id = d.task_id AND q.delivery_id = d.delivery_id
    WHERE n.name = p_name ORDER BY 1
$$;

-- Quiet hours 22:00-08:00 (across midnight), the app's. 2026-03-08 04:30 UTC is 23:30 on
-- March 7 in New York, where clocks go forward at 02:00 that night: the window ends at 08:00
-- EDT, 12:00 UTC (not 13:00). 05:30 in Berlin: held to 08:00 CET. The device without a zone
-- (UTC, the registration's default) is read in the app's, Asia/Shanghai: 12:30, it goes.
SELECT pg_temp.push('night', ARRAY['ny', 'berlin', 'nozone']);
-- as a claim leaves them: claimed by sender 7
UPDATE delivery_queue q SET claimed_by = 7, claimed_at = now() FROM names n WHERE n.task_id = q.task_id AND n.name = 'night';
SELECT * FROM pg_temp.gate('night', '2026-03-08 04:30:00+00');
-- held: later, and given back to the queue; the one that goes stays claimed
SELECT * FROM pg_temp.rows('night');
-- push_trace says why, and until when, in the device's time
SELECT step, detail FROM push_trace('eng', 'ny', (SELECT task_id FROM names WHERE name = 'night'))
WHERE step IN ('planned', 'outcome');
-- at the window's end it goes (08:00 is no longer quiet)
SELECT * FROM pg_temp.gate('night', '2026-03-08 12:00:00+00');
-- one minute before, it would be held again, to the same end
SELECT * FROM pg_temp.gate('night', '2026-03-08 11:59:00+00');

-- Clocks go back at 02:00 on November 1 in New York: from 23:00 EDT on October 31 (03:00 UTC)
-- the window's end, 08:00 EST, is 13:00 UTC (ten hours later).
SELECT pg_temp.push('fallback', ARRAY['ny']);
SELECT * FROM pg_temp.gate('fallback', '2026-11-01 03:00:00+00');
-- and after midnight, inside the same window (01:30 EDT, before the change)
SELECT * FROM pg_temp.gate('fallback', '2026-11-01 05:30:00+00');
-- just before the window: 21:59 EST
SELECT * FROM pg_temp.gate('fallback', '2026-11-02 02:59:00+00');
SELECT * FROM pg_temp.gate('fallback', '2026-11-02 03:00:00+00');

-- A plan's quiet hours replace the app's: 12:00-14:00, dropped. At 04:30 UTC it is 12:30 in
-- Shanghai (dropped) and 23:30 in New York, outside the plan's window (it goes).
SELECT push_plan_set('eng', 'promo', '{"quiet_hours": {"from": "12:00", "to": "14:00", "on_quiet": "drop"}}');
SELECT pg_temp.push('lunch', ARRAY['ny', 'nozone'], '{}', 'promo');
SELECT * FROM pg_temp.gate('lunch', '2026-03-08 04:30:00+00');
-- a dropped delivery is not touched here: the sender records it suppressed
SELECT * FROM pg_temp.rows('lunch');
SELECT push_plan_set('eng', 'promo', '{"quiet_hours": null}');

-- Transactional pushes (the high lane) pass, unless their options say "quiet_hours": true;
-- "quiet_hours": false exempts a normal push.
SELECT pg_temp.push('otp', ARRAY['ny'], '{"priority": "high"}');
SELECT pg_temp.push('otp_quiet', ARRAY['ny'], '{"priority": "high", "quiet_hours": true}');
SELECT pg_temp.push('news_loud', ARRAY['ny'], '{"quiet_hours": false}');
SELECT * FROM pg_temp.gate('otp', '2026-03-08 04:30:00+00');
SELECT * FROM pg_temp.gate('otp_quiet', '2026-03-08 04:30:00+00');
SELECT * FROM pg_temp.gate('news_loud', '2026-03-08 04:30:00+00');

-- big_push_duration spreads the release: each delivery keeps its offset in the task's spread
-- (here 0 and 5 of 10 minutes), after the window's end
SELECT pg_temp.push('spread', ARRAY['ny', 'c1'], '{"big_push_duration": 10}');
SELECT v.registration_id, d.send_at - t.send_at AS offset_in_spread
FROM deliveries d JOIN names n USING (task_id) JOIN tasks t USING (task_id) JOIN devices v USING (device_id)
WHERE n.name = 'spread' ORDER BY 1;
SELECT * FROM pg_temp.gate('spread', '2026-03-08 04:30:00+00');
SELECT push_app_set('eng', '{"quiet_hours": null}');

-- ---- frequency caps ------------------------------------------------------------------------
-- One a day and two a week, rolling, dropped (the defaults: "window": "rolling", "on_cap":
-- "drop"), counted per device. T0 = 2026-04-01 10:00 UTC.
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 1, "per_week": 2}}');
SELECT pg_temp.push('a', ARRAY['c1', 'c2']);
SELECT pg_temp.push('b', ARRAY['c1']);
SELECT pg_temp.push('c', ARRAY['c1']);
SELECT pg_temp.push('d', ARRAY['c1']);
SELECT * FROM pg_temp.gate('a', '2026-04-01 10:00:00+00');
SELECT v.registration_id, e.scope, e.sent FROM engagement_counts e JOIN devices v USING (device_id) ORDER BY 1, 2;
SELECT * FROM pg_temp.gate('b', '2026-04-01 11:00:00+00');   -- within the day: dropped
SELECT * FROM pg_temp.gate('c', '2026-04-02 10:00:01+00');   -- a day and a second later: goes
SELECT * FROM pg_temp.gate('d', '2026-04-03 12:00:00+00');   -- a day after c, but 2 this week
SELECT v.registration_id, e.scope, e.sent FROM engagement_counts e JOIN devices v USING (device_id) ORDER BY 1, 2;

-- deferred instead: to when the window lets one more go. c2 has had 1 (a, T0): the second of
-- e goes; f is deferred to a day after e
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 1, "on_cap": "defer"}}');
SELECT pg_temp.push('e', ARRAY['c2']);
SELECT pg_temp.push('f', ARRAY['c2']);
SELECT * FROM pg_temp.gate('e', '2026-04-02 09:00:00+00');   -- T0 + 23 h: deferred to T0 + 24 h
SELECT * FROM pg_temp.gate('e', '2026-04-02 10:00:00+00');   -- then it goes
SELECT * FROM pg_temp.gate('f', '2026-04-02 10:30:00+00');
SELECT * FROM pg_temp.rows('f');
-- push_trace says why
SELECT step, detail FROM push_trace('eng', 'c2', (SELECT task_id FROM names WHERE name = 'f')) WHERE step = 'outcome';

-- calendar days in the device's zone (Berlin, CEST): e went at 12:00 local on April 2; g, at
-- 23:30 local, waits for midnight, 22:00 UTC
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 1, "window": "calendar", "on_cap": "defer"}}');
SELECT pg_temp.push('g', ARRAY['c2']);
SELECT * FROM pg_temp.gate('g', '2026-04-02 21:30:00+00');
SELECT * FROM pg_temp.gate('g', '2026-04-02 22:00:00+00');
-- calendar weeks from Monday, 3 a week: since Monday March 30, c2 had a (Wednesday), e
-- (Thursday) and g (Friday, 00:00 local): h waits for Monday April 6, 00:00 CEST
SELECT push_app_set('eng', '{"frequency_cap": {"per_week": 3, "window": "calendar", "on_cap": "defer"}}');
SELECT pg_temp.push('h', ARRAY['c2']);
SELECT * FROM pg_temp.gate('h', '2026-04-03 08:00:00+00');

-- A plan's cap counts its own pushes; the app's counts them all. App: 2 a day; promo: 1.
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 2}}');
SELECT push_plan_set('eng', 'promo', '{"frequency_cap": {"per_day": 1}}');
SELECT settings FROM push_plans WHERE app = 'eng' AND plan_id = 'promo';
SELECT pg_temp.push('p1', ARRAY['c1'], '{}', 'promo');
SELECT pg_temp.push('p2', ARRAY['c1'], '{}', 'promo');
SELECT pg_temp.push('p3', ARRAY['c1']);
SELECT pg_temp.push('p4', ARRAY['c1']);
SELECT * FROM pg_temp.gate('p1', '2026-04-10 10:00:00+00');   -- goes: counted in both
SELECT * FROM pg_temp.gate('p2', '2026-04-10 10:01:00+00');   -- promo's cap: dropped, counted nowhere
SELECT * FROM pg_temp.gate('p3', '2026-04-10 10:02:00+00');   -- the app's second: goes
SELECT * FROM pg_temp.gate('p4', '2026-04-10 10:03:00+00');   -- the app's third: dropped
SELECT e.scope, cardinality(e.sent) AS counted, e.sent[1] AS newest
FROM engagement_counts e JOIN devices v USING (device_id) WHERE v.registration_id = 'c1' ORDER BY 1;

-- a retry was counted at its first attempt; transactional pushes pass uncounted unless their
-- options say "frequency_cap": true
SELECT pg_temp.push('retry', ARRAY['c1']);
UPDATE deliveries SET attempts = 1 FROM names n WHERE n.task_id = deliveries.task_id AND n.name = 'retry';
SELECT * FROM pg_temp.gate('retry', '2026-04-10 10:04:00+00');
SELECT pg_temp.push('otp2', ARRAY['c1'], '{"priority": "high"}');
SELECT pg_temp.push('otp2_capped', ARRAY['c1'], '{"priority": "high", "frequency_cap": true}');
SELECT * FROM pg_temp.gate('otp2', '2026-04-10 10:05:00+00');
SELECT * FROM pg_temp.gate('otp2_capped', '2026-04-10 10:05:00+00');
-- two deliveries of one device in one claim: the first counts before the second is judged
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 1}}');
SELECT pg_temp.push('twin1', ARRAY['c2']);
SELECT pg_temp.push('twin2', ARRAY['c2']);
SELECT d.task_id = (SELECT task_id FROM names WHERE name = 'twin1') AS first, coalesce(g.verdict, 'goes') AS verdict
FROM _engagement_gate((SELECT array_agg(d.delivery_id) FROM deliveries d JOIN names n USING (task_id)
                       WHERE n.name IN ('twin1', 'twin2')), '2026-04-20 10:00:00+00') g
RIGHT JOIN deliveries d USING (delivery_id) JOIN names n USING (task_id)
WHERE n.name IN ('twin1', 'twin2') ORDER BY 1 DESC;

-- ---- caps per category ---------------------------------------------------------------------
-- category_caps: a frequency cap per category of the app (doc/privacy.md), counted over the
-- app's pushes of that category. Bad ones are refused, and nothing is written.
SELECT push_app_set('eng', '{"frequency_cap": null}');
SELECT push_app_set('eng', '{"category_caps": {"news": {"per_day": 1}}}');
SELECT push_app_set('eng', '{"category_caps": {"marketing": 1}}');
SELECT push_app_set('eng', '{"category_caps": {"marketing": {"per_day": 0}}}');
SELECT push_app_set('eng', '{"category_caps": {"marketing": {"per_days": 1}}}');
SELECT push_app_set('eng', '{"category_caps": ["marketing"]}');
SELECT settings ? 'category_caps' AS stored FROM apps WHERE app = 'eng';
-- an app's own category may come with its cap in one call; it cannot leave while a cap names it
SELECT push_app_set('eng', '{"consent": {"news": "opt_out"},
                             "category_caps": {"news": {"per_day": 1}, "marketing": {"per_day": 2}}}');
SELECT push_app_set('eng', '{"consent": null}');
SELECT settings->'consent' AS consent, settings->'category_caps' AS category_caps FROM apps WHERE app = 'eng';
-- news: one a day, marketing: two; a push without a category is under neither
SELECT pg_temp.push('n1', ARRAY['berlin'], '{"category": "news"}');
SELECT pg_temp.push('n2', ARRAY['berlin'], '{"category": "news"}');
SELECT pg_temp.push('m1', ARRAY['berlin'], '{"category": "marketing"}');
SELECT pg_temp.push('m2', ARRAY['berlin'], '{"category": "marketing"}');
SELECT pg_temp.push('m3', ARRAY['berlin'], '{"category": "marketing"}');
SELECT pg_temp.push('x1', ARRAY['berlin']);
SELECT * FROM pg_temp.gate('n1', '2026-05-01 10:00:00+00');   -- goes
SELECT * FROM pg_temp.gate('n2', '2026-05-01 10:01:00+00');   -- news' second: capped
SELECT * FROM pg_temp.gate('m1', '2026-05-01 10:02:00+00');   -- goes
SELECT * FROM pg_temp.gate('m2', '2026-05-01 10:03:00+00');   -- goes
SELECT * FROM pg_temp.gate('m3', '2026-05-01 10:04:00+00');   -- marketing's third: capped
SELECT * FROM pg_temp.gate('x1', '2026-05-01 10:05:00+00');   -- no category: goes
SELECT e.scope, cardinality(e.sent) AS counted
FROM engagement_counts e JOIN devices v USING (device_id) WHERE v.registration_id = 'berlin' ORDER BY 1;
-- with the app's cap (three a day) too, both apply, each counting its own pushes
SELECT push_app_set('eng', '{"frequency_cap": {"per_day": 3}}');
SELECT pg_temp.push('n3', ARRAY['berlin'], '{"category": "news"}');
SELECT pg_temp.push('n4', ARRAY['berlin'], '{"category": "news"}');
SELECT pg_temp.push('x2', ARRAY['berlin']);
SELECT pg_temp.push('m4', ARRAY['berlin'], '{"category": "marketing"}');
SELECT pg_temp.push('m5', ARRAY['berlin'], '{"category": "marketing"}');
SELECT * FROM pg_temp.gate('n3', '2026-05-02 11:00:00+00');   -- goes: the app's first
SELECT * FROM pg_temp.gate('n4', '2026-05-02 11:01:00+00');   -- news' cap: capped, counted nowhere
SELECT * FROM pg_temp.gate('x2', '2026-05-02 11:02:00+00');   -- the app's second
SELECT * FROM pg_temp.gate('m4', '2026-05-02 11:03:00+00');   -- the app's third, marketing's first
SELECT * FROM pg_temp.gate('m5', '2026-05-02 11:04:00+00');   -- the app's cap: capped
SELECT e.scope, cardinality(e.sent) AS counted
FROM engagement_counts e JOIN devices v USING (device_id) WHERE v.registration_id = 'berlin' ORDER BY 1;
SELECT push_app_set('eng', '{"frequency_cap": null, "category_caps": null}');

-- ---- what a dropped delivery becomes: suppressed, counted, explained -----------------------
-- as the sender records p2 and lunch (the outcome statement of src/worker_sender.c counts
-- them the same way; test/integration/engagement.sh compares its figures with this recount)
UPDATE deliveries d SET status = 'suppressed', error = CASE n.name WHEN 'p2' THEN 'capped' ELSE 'quiet hours' END,
    attempts = 1
FROM names n, devices v WHERE n.task_id = d.task_id AND v.device_id = d.device_id
  AND (n.name = 'p2' OR n.name = 'lunch' AND v.registration_id = 'nozone');
SELECT n.name, r.suppressed, r.capped, r.quiet_hours FROM _stats_recount() r JOIN names n USING (task_id)
WHERE n.name IN ('p2', 'lunch') ORDER BY 1;
SELECT step, detail FROM push_trace('eng', 'c1', (SELECT task_id FROM names WHERE name = 'p2')) WHERE step = 'suppressed';
SELECT step, detail FROM push_trace('eng', 'nozone', (SELECT task_id FROM names WHERE name = 'lunch')) WHERE step = 'suppressed';
