-- Intelligent send times (doc/smart_send.md): histories built here, send times checked exactly.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT push_app_create('smart_app');
SELECT app_id AS smart FROM apps WHERE app = 'smart_app' \gset
-- the suites share a database: the visits of earlier suites leave marks, taken here first
SELECT _smart_profiles_refresh(1000000) >= 0 AS refreshed;
SELECT count(*) AS devices FROM (SELECT push_device_register('smart_app', r, 'ios', 'apns', 'tok-' || r, z)
    FROM (VALUES ('kolkata', 'Asia/Kolkata'), ('newyork', 'America/New_York'),
                 ('tokyo', 'Asia/Tokyo'), ('two_habits', 'America/New_York'),
                 ('recent', 'Europe/Paris'), ('habit', 'Europe/Paris'), ('smooth', 'UTC'),
                 ('fresh_in', 'Asia/Kolkata'), ('fresh_ny', 'America/New_York'),
                 ('ny_dst', 'America/New_York'), ('berlin_dst', 'Europe/Berlin'),
                 ('ny_gap', 'America/New_York'), ('ny_twice', 'America/New_York'),
                 ('ny_evening', 'America/New_York')) AS v (r, z)) s;

-- A visit `days` days ago at local time `local` in the device's own zone (activity must be
-- within the last year: the histories are relative to today, the windows are fixed dates).
CREATE FUNCTION pg_temp.visit(reg text, days int, local time) RETURNS void
LANGUAGE sql AS $$
    SELECT push_device_activity('smart_app', reg,
        ((now() AT TIME ZONE d.timezone)::date - days + local) AT TIME ZONE d.timezone)
    FROM push_devices d WHERE d.app = 'smart_app' AND d.registration_id = reg $$;
-- The send times of some devices, shown in each device's zone and in UTC.
-- (PL/pgSQL, the ids read first and the times computed before the join: so on the distributed
-- layout too, where Citus plans no SQL function with parameters, and would call the function
-- on the shards of the devices it is joined with)
CREATE FUNCTION pg_temp.ids(regs text[]) RETURNS bigint[]
LANGUAGE plpgsql AS $$
BEGIN
    RETURN ARRAY(SELECT device_id FROM devices JOIN apps USING (app_id)
                 WHERE app = 'smart_app' AND (regs IS NULL OR registration_id = ANY (regs))
                 ORDER BY device_id);
END $$;
CREATE FUNCTION pg_temp.times(regs text[], ws timestamptz, nb timestamptz, backup timestamp)
RETURNS TABLE (device text, zone text, local_time timestamp, utc timestamptz, basis text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH t AS MATERIALIZED (SELECT * FROM _smart_send_times(pg_temp.ids(regs), ws, nb, backup))
    SELECT d.registration_id, d.timezone, t.send_at AT TIME ZONE d.timezone, t.send_at, t.basis
    FROM t JOIN devices d USING (device_id) ORDER BY 1;
END $$;

-- Habits in several zones: Kolkata (+05:30) at 21:10, New York at 07:30, Tokyo at 12:45.
SELECT pg_temp.visit('kolkata', g, '21:10') FROM generate_series(1, 5) g;
SELECT pg_temp.visit('newyork', g, '07:30') FROM generate_series(1, 4) g;
SELECT pg_temp.visit('tokyo', g, '12:45') FROM generate_series(2, 6) g;
SELECT pg_temp.visit('tokyo', 1, '03:00');          -- one late night does not move a habit
SELECT * FROM pg_temp.times('{kolkata,newyork,tokyo}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', '2026-06-01 09:00');

-- Recent activity beats an old habit: six visits at 09:00 two months ago, three at 19:00 this week.
SELECT pg_temp.visit('recent', g, '09:00') FROM generate_series(60, 65) g;
SELECT pg_temp.visit('recent', g, '19:00') FROM generate_series(1, 3) g;
-- ... but a recent habit is not a single visit: six at 09:00 three weeks ago, one at 19:00.
SELECT pg_temp.visit('habit', g, '09:00') FROM generate_series(20, 25) g;
SELECT pg_temp.visit('habit', 1, '19:00');
SELECT * FROM pg_temp.times('{recent,habit}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);

-- Smoothing: one visit at 08:03 and one at 08:07 (neighbouring slots) outweigh the one most
-- recent visit at 20:00, which alone weighs more than either.
SELECT pg_temp.visit('smooth', 3, '08:03'), pg_temp.visit('smooth', 2, '08:07'),
       pg_temp.visit('smooth', 1, '20:00');
SELECT * FROM pg_temp.times('{smooth}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
-- the histogram behind it: the raw best slot is 20:00 (slot 240)
SELECT h.slots, h.visits FROM _smart_histograms(pg_temp.ids('{smooth}')) h;

-- Two habits in New York: 07:30 (four visits) and 18:00 (three).
SELECT pg_temp.visit('two_habits', g, '07:30') FROM generate_series(1, 4) g;
SELECT pg_temp.visit('two_habits', g, '18:00') FROM generate_series(1, 3) g;
-- the window starts at 06:00 local: 07:30 is the best, and is sent
SELECT * FROM pg_temp.times('{two_habits}', '2026-06-01 10:00Z', '2026-06-01 10:00Z', NULL);
-- fired late, at 08:00 local: 07:30 has passed, the next best slot of the window is 18:00
SELECT * FROM pg_temp.times('{two_habits}', '2026-06-01 10:00Z', '2026-06-01 12:00Z', NULL);
-- fired at 16:00 UTC (21:30 in Kolkata): every weighted slot of the window has passed; the first
-- slot start left goes
SELECT * FROM pg_temp.times('{kolkata}', '2026-06-01 00:00Z', '2026-06-01 16:00Z', NULL);
-- no slot start left in the window: late, at not_before
SELECT * FROM pg_temp.times('{kolkata,two_habits}', '2026-06-01 00:00Z', '2026-06-01 23:58Z', NULL);
SELECT * FROM pg_temp.times('{kolkata}', '2026-06-01 00:00Z', '2026-06-03 00:00Z', NULL);

-- No history: backup_local in the device's own zone; passed: not_before; NULL ("now"): not_before.
SELECT * FROM pg_temp.times('{fresh_in,fresh_ny}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', '2026-06-01 09:00');
SELECT * FROM pg_temp.times('{fresh_in,fresh_ny}', '2026-06-01 00:00Z', '2026-06-01 05:00Z', '2026-06-01 09:00');
SELECT * FROM pg_temp.times('{fresh_in,fresh_ny}', '2026-06-01 00:00Z', '2026-06-01 05:00Z', NULL);

-- Every element gets one row: unknown ids (and NULL) say so, repeated ids come twice.
SELECT (pg_temp.ids('{fresh_ny}'))[1] AS fresh_ny \gset
SELECT t.device_id IS NULL AS null_id, t.device_id = :fresh_ny AS fresh_ny, t.send_at, t.basis
FROM _smart_send_times(ARRAY[-1, 987654321, NULL, :fresh_ny, :fresh_ny],
                       '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL) t
ORDER BY t.device_id NULLS FIRST;
SELECT count(*) FROM _smart_send_times('{}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
SELECT * FROM _smart_send_times('{1}', NULL, '2026-06-01 00:00Z', NULL);

-- Daylight saving: a device active at 08:00 is sent at 08:00 local before and after the change
-- (New York: 2026-03-08 and 2026-11-01; Berlin: 2026-03-29 and 2026-10-25), windows starting
-- before, across and after each change.
SELECT pg_temp.visit('ny_dst', g, '08:00') FROM generate_series(1, 5) g;
SELECT pg_temp.visit('berlin_dst', g, '08:00') FROM generate_series(1, 5) g;
SELECT w.ws, t.* FROM unnest(ARRAY['2026-03-07 10:00Z', '2026-03-08 05:00Z', '2026-03-08 10:00Z',
                                   '2026-10-31 10:00Z', '2026-11-01 04:00Z', '2026-11-01 10:00Z']::timestamptz[]) w (ws),
    pg_temp.times('{ny_dst}', w.ws, w.ws, NULL) t;
SELECT w.ws, t.* FROM unnest(ARRAY['2026-03-28 04:00Z', '2026-03-28 23:00Z', '2026-03-29 04:00Z',
                                   '2026-10-24 04:00Z', '2026-10-24 22:00Z', '2026-10-25 04:00Z']::timestamptz[]) w (ws),
    pg_temp.times('{berlin_dst}', w.ws, w.ws, NULL) t;
-- A habit at 02:30, which 2026-03-08 skips in New York: read as PostgreSQL reads it, 03:30 EDT.
SELECT pg_temp.visit('ny_gap', g, '02:30') FROM generate_series(1, 5) g;
SELECT * FROM pg_temp.times('{ny_gap}', '2026-03-08 05:00Z', '2026-03-08 05:00Z', NULL);
SELECT '2026-03-08 02:30'::timestamp AT TIME ZONE 'America/New_York' AS postgresql_reads;
-- A habit at 01:30, which 2026-11-01 shows twice: the first at or after not_before.
SELECT pg_temp.visit('ny_twice', g, '01:30') FROM generate_series(1, 5) g;
SELECT * FROM pg_temp.times('{ny_twice}', '2026-11-01 04:00Z', '2026-11-01 04:00Z', NULL);
SELECT * FROM pg_temp.times('{ny_twice}', '2026-11-01 04:00Z', '2026-11-01 06:00Z', NULL);
-- A habit at 23:30: the 24 hours from 00:00 EDT on 2026-11-01 end at 23:00 EST; 23:30 is
-- taken right after the window.
SELECT pg_temp.visit('ny_evening', g, '23:30') FROM generate_series(1, 5) g;
SELECT * FROM pg_temp.times('{ny_evening}', '2026-11-01 04:00Z', '2026-11-01 04:00Z', NULL);
-- backup time in a gap and in a repeated hour: as PostgreSQL reads them
SELECT * FROM pg_temp.times('{fresh_ny}', '2026-03-08 05:00Z', '2026-03-08 05:00Z', '2026-03-08 02:30');
SELECT * FROM pg_temp.times('{fresh_ny}', '2026-11-01 04:00Z', '2026-11-01 04:00Z', '2026-11-01 01:30');

-- Profiles: every visit marked its device; the answers above came from the visits. The refresh
-- takes the marks in batches and keeps the histograms; the answers do not change.
CREATE TEMP TABLE before_refresh AS
    SELECT * FROM _smart_send_times(pg_temp.ids(NULL), '2026-06-01 03:00Z', '2026-06-01 09:00Z', '2026-06-01 12:00');
SELECT count(*) AS marked FROM smart_profile_pending;
SELECT _smart_profiles_refresh(5) AS refreshed;
SELECT (SELECT count(*) FROM smart_profile_pending) AS marked,
       (SELECT count(*) FROM device_send_profiles JOIN devices USING (device_id) WHERE app_id = :smart) AS profiles;
SELECT _smart_profiles_refresh(1000) AS refreshed, _smart_profiles_refresh(1000) AS then;
SELECT p.profiles, p.visits, a.activity
FROM (SELECT count(*) AS profiles, sum(visits) AS visits
      FROM device_send_profiles JOIN devices USING (device_id) WHERE app_id = :smart) p,
     (SELECT count(*) AS activity FROM device_activity JOIN devices USING (device_id) WHERE app_id = :smart) a;
SELECT p.slots, p.visits, p.last_visit_at = d.last_active_at AS last_visit
FROM device_send_profiles p JOIN devices d USING (device_id) WHERE d.app_id = :smart AND d.registration_id = 'smooth';
SELECT count(*) AS same_answers FROM before_refresh b
    JOIN _smart_send_times(pg_temp.ids(NULL), '2026-06-01 03:00Z', '2026-06-01 09:00Z', '2026-06-01 12:00') a
    ON a.device_id = b.device_id AND a.send_at IS NOT DISTINCT FROM b.send_at AND a.basis = b.basis;
SELECT count(*) AS devices FROM devices WHERE app_id = :smart;

-- New visits mark the device again; until the refresh, its answer comes from its visits: three
-- mornings at 07:00 now outweigh the 09:00 habit of three weeks ago.
SELECT pg_temp.visit('habit', 1, '07:00'), pg_temp.visit('habit', 2, '07:00'), pg_temp.visit('habit', 3, '07:00');
SELECT count(*) AS marked FROM smart_profile_pending;
SELECT * FROM pg_temp.times('{habit}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
SELECT p.visits FROM device_send_profiles p JOIN devices d USING (device_id) WHERE d.app_id = :smart AND d.registration_id = 'habit';
SELECT _smart_profiles_refresh(1000) AS refreshed;
SELECT p.visits FROM device_send_profiles p JOIN devices d USING (device_id) WHERE d.app_id = :smart AND d.registration_id = 'habit';
SELECT * FROM pg_temp.times('{habit}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);

-- Reactions: the first open and the first click of a push weigh three visits each
-- (doc/smart_send.md, "Opens and clicks"). Visits on two mornings at 08:00; a push opened at
-- 20:00 yesterday (a transactional push, expanded by push_send): 20:00 wins. A repeated open, a
-- received or a dismiss add nothing.
SELECT push_vendor_set('smart_app', 'webhook', '{"url": "https://127.0.0.1:9/hook", "secret": "smart-secret-0123456789"}');
SELECT push_device_register('smart_app', 'reacts', 'android', 'webhook', 'tok-reacts', 'Europe/Paris') > 0 AS registered;
SELECT pg_temp.visit('reacts', 1, '08:00'), pg_temp.visit('reacts', 2, '08:00');
SELECT _smart_profiles_refresh(1000) AS refreshed;
SELECT * FROM pg_temp.times('{reacts}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
SELECT push_send('smart_app', '{"to": {"registration_id": ["reacts"]}, "body": {"platform": "all", "notification": {"alert": "evening"}}}') AS reacted_task \gset
CREATE FUNCTION pg_temp.reaction(task text, kind text, local time) RETURNS void
LANGUAGE sql AS $$
    SELECT push_event('smart_app', 'reacts', task, kind,
                      ((now() AT TIME ZONE 'Europe/Paris')::date - 1 + local) AT TIME ZONE 'Europe/Paris') $$;
SELECT pg_temp.reaction(:'reacted_task', 'received', '19:59'), pg_temp.reaction(:'reacted_task', 'dismiss', '06:00');
SELECT count(*) AS marked FROM smart_profile_pending m JOIN devices d USING (device_id) WHERE d.registration_id = 'reacts';
SELECT pg_temp.reaction(:'reacted_task', 'open', '20:00');
SELECT count(*) AS marked FROM smart_profile_pending m JOIN devices d USING (device_id) WHERE d.registration_id = 'reacts';
-- until the refresh, computed from the history; after it, from the profile: the same answer
SELECT * FROM pg_temp.times('{reacts}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
SELECT pg_temp.reaction(:'reacted_task', 'open', '06:00');          -- a repeat: not counted, not history
SELECT _smart_profiles_refresh(1000) AS refreshed;
SELECT p.visits, p.slots FROM device_send_profiles p JOIN devices d USING (device_id) WHERE d.registration_id = 'reacts';
SELECT * FROM pg_temp.times('{reacts}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
SELECT kind, (at AT TIME ZONE 'Europe/Paris')::time AS local
FROM device_reactions r JOIN devices d USING (device_id) WHERE d.registration_id = 'reacts';
-- through push_event_batch: a click at 12:00 and its repeat; two visits at 12:00 would not
-- outweigh the evening, one click and one visit there do
SELECT push_event_batch('smart_app', jsonb_build_array(
    jsonb_build_object('registration_id', 'reacts', 'task_id', :'reacted_task', 'kind', 'click',
                       'at', to_char(((now() AT TIME ZONE 'Europe/Paris')::date - 1 + time '12:00') AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
    jsonb_build_object('registration_id', 'reacts', 'task_id', :'reacted_task', 'kind', 'click',
                       'at', to_char(((now() AT TIME ZONE 'Europe/Paris')::date - 1 + time '12:01') AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))) AS recorded;
SELECT pg_temp.visit('reacts', 1, '12:00');
SELECT count(*) AS reactions FROM device_reactions r JOIN devices d USING (device_id) WHERE d.registration_id = 'reacts';
SELECT * FROM pg_temp.times('{reacts}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
SELECT _smart_profiles_refresh(1000) AS refreshed;
SELECT * FROM pg_temp.times('{reacts}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);

-- A device that moves to another zone: its kept profile is in the old one, so its answer is
-- computed from its visits in the new zone (07:00 in Paris is 06:00 in London) until a new
-- visit refreshes it.
SELECT push_device_register('smart_app', 'habit', 'ios', 'apns', 'tok-habit', 'Europe/London') > 0 AS moved;
SELECT * FROM pg_temp.times('{habit}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
SELECT p.timezone FROM device_send_profiles p JOIN devices d USING (device_id) WHERE d.app_id = :smart AND d.registration_id = 'habit';

-- Rights: the workers' role computes and refreshes; the user roles call neither.
SET ROLE pushplan_worker;
SELECT count(*) FROM _smart_send_times(pg_temp.ids(NULL), '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
RESET ROLE;
SELECT pg_temp.visit('tokyo', 0, '00:00');
SET ROLE pushplan_worker;
SELECT _smart_profiles_refresh(10) AS refreshed;
RESET ROLE;
SET ROLE pushplan_admin;
SELECT count(*) FROM _smart_send_times('{}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
SELECT _smart_profiles_refresh(10);
SELECT count(*) FROM _smart_histograms('{}');
RESET ROLE;
SET ROLE pushplan_app;
SELECT count(*) FROM _smart_send_times('{}', '2026-06-01 00:00Z', '2026-06-01 00:00Z', NULL);
RESET ROLE;
