-- Schedules: push_schedule_create / _update / _enable / _delete, their checks, and the
-- occurrences _schedule_next computes. No workers serve this database: the firing itself is
-- test/integration/schedules.sh. The pushplan clock is moved to 2090 (it only moves forward),
-- so that the times below stay ahead whenever this runs.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT _clock_set('2090-01-01 00:00:00+00') IS NOT NULL AS clock_moved;
SELECT clock_now() >= '2090-01-01 00:00:00+00' AS clock_ahead;

SELECT push_app_create('sch_app');
SELECT push_app_set('sch_app', '{"timezone": "Asia/Shanghai"}');
SELECT push_plan_create('sch_app', 'promo_618_2025', '618');
SELECT push_device_register_batch('sch_app', '[
  {"registration_id": "regId_userA", "platform": "android", "vendor": "fcm", "token": "a"},
  {"registration_id": "regId_userB", "platform": "android", "vendor": "fcm", "token": "b"}]');

-- the seed's schedule, with a single trigger; times without offset are the app's (UTC+8)
SELECT push_schedule_create('sch_app', '{
  "name": "promo_618_reminder_01", "enabled": true,
  "trigger": {"single": {"time": "2090-06-18 09:00:00"}},
  "push": {"from": "push", "to": {"registration_id": ["regId_userA", "regId_userB"]},
           "body": {"platform": "android",
                    "notification": {"alert": "限时秒杀,马上抢购!", "android": {"title": "爆款来袭", "extras": {"promo": "618"}}},
                    "options": {"plan_id": "promo_618_2025", "time_to_live": 86400}},
           "request_id": "req_618_01", "custom_args": {"task": "reminder_01"}}}') AS s1 \gset
SELECT :'s1' LIKE 'sch_%' AS schedule_id_ok;
-- the push's request_id makes the creation idempotent
SELECT push_schedule_create('sch_app', '{"name": "again", "trigger": {"single": {"time": "2090-07-01 09:00:00"}},
  "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}, "request_id": "req_618_01"}}') = :'s1' AS same_schedule;
SELECT app, name, enabled, trigger, next_run_at, last_run_at, plan_id, runs,
       push->'to' AS audience, push->'custom_args' AS custom_args
FROM push_schedules WHERE schedule_id = :'s1';

-- periodical: every trigger member normalized (time_unit lowercase, points sorted, defaults)
SELECT push_schedule_create('sch_app', '{"name": "weekly", "trigger": {"periodical": {
  "start": "2090-01-01 00:00:00", "end": "2090-12-31 23:59:59", "time": "20:30:00",
  "time_unit": "WEEK", "point": ["fri", "MON", "FRI"], "frequency": 2}},
  "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "weekly"}}}}') AS s2 \gset
SELECT name, trigger, next_run_at FROM push_schedules WHERE schedule_id = :'s2';

-- zone_type 2: the wall time comes first at UTC+14, where the occurrence is placed
SELECT push_schedule_create('sch_app', '{"name": "local 9", "trigger": {"single": {"time": "2090-03-01 09:00:00", "zone_type": 2}},
  "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "good morning"}}}}') AS s3 \gset
SELECT trigger, next_run_at FROM push_schedules WHERE schedule_id = :'s3';

-- intelligent: the seed's schedule verbatim (EngageLab's push plan guide, scenario 1). It fires
-- at once (no "start"): each device is then sent at its own best time in the next 24 hours, the
-- devices without history at backup_time in their own zone, or now when it has passed
SELECT push_schedule_create('sch_app', $json$
{
"name": "promo_618_reminder_01",
"enabled": true,
"trigger": {
"intelligent": {
"backup_time": "2025-06-18 09:00:00"
}
},
"push": {
"from": "push",
"to": {
"registration_id": [
"regId_userA", "regId_userB"
]
},
"body": {
"platform": "android",
"notification": {
"alert": "限时秒杀,马上抢购!",
"android": {
"title": "爆款来袭",
"extras": {
"promo": "618"
}
}
},
"options": {
"plan_id": "promo_618_2025",
"time_to_live": 86400
}
},
"request_id": "req_618_smart",
"custom_args": {
"task": "reminder_01"
}
}
}
$json$) AS s4 \gset
SELECT trigger, next_run_at - clock_now() < interval '1 minute' AS fires_now, plan_id
FROM push_schedules WHERE schedule_id = :'s4';
-- with a start: the window opens then (app's zone)
SELECT push_schedule_create('sch_app', '{"name": "smart later", "trigger": {"intelligent": {"backup_time": "now", "start": "2090-03-01 20:00:00"}},
  "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "smart"}}}}') AS s5 \gset
SELECT trigger, next_run_at FROM push_schedules WHERE schedule_id = :'s5';

-- occurrences: the next ones of a trigger, each after the one before
CREATE FUNCTION pg_temp.occurrences(trig jsonb, tz text, n int) RETURNS SETOF text
LANGUAGE sql AS $$
    WITH RECURSIVE o(i, at) AS (
        SELECT 1, pushplan._schedule_next(trig, tz, '2090-01-01 00:00:00+00', '2090-01-01 00:00:00+00')
        UNION ALL
        SELECT i + 1, pushplan._schedule_next(trig, tz, at, '2090-01-01 00:00:00+00')
        FROM o WHERE at IS NOT NULL AND i < n)
    SELECT to_char(at AT TIME ZONE tz, 'YYYY-MM-DD Dy HH24:MI') || ' ' || tz
           || to_char(at AT TIME ZONE 'UTC', ' (HH24:MI UTC)') FROM o WHERE at IS NOT NULL
$$;
-- daily, every third day, from start to end (inclusive)
SELECT pg_temp.occurrences('{"periodical": {"start": "2090-01-01 10:00:00", "end": "2090-01-10 09:00:00", "time": "09:00:00", "time_unit": "day", "point": [], "frequency": 3, "zone_type": 1}}', 'UTC', 10);
-- Monday and Friday of every second week, counted from the start's week
SELECT pg_temp.occurrences('{"periodical": {"start": "2090-01-04 00:00:00", "end": "2090-02-28 00:00:00", "time": "08:00:00", "time_unit": "week", "point": ["MON", "FRI"], "frequency": 2, "zone_type": 1}}', 'Europe/Berlin', 10);
-- the 31st is each month's last day in the months that lack it; 15th and 31st of every month
SELECT pg_temp.occurrences('{"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-06-30 00:00:00", "time": "12:00:00", "time_unit": "month", "point": ["15", "31"], "frequency": 1, "zone_type": 1}}', 'Asia/Shanghai', 20);
-- the 30th every second month: February has none, so its last day
SELECT pg_temp.occurrences('{"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-12-31 00:00:00", "time": "07:00:00", "time_unit": "month", "point": ["30"], "frequency": 2, "zone_type": 1}}', 'UTC', 10);
-- daylight saving (New York, 2090-03-12): 09:00 stays 09:00 in the zone, 14:00 UTC before, 13:00 after
SELECT pg_temp.occurrences('{"periodical": {"start": "2090-03-10 00:00:00", "end": "2090-03-14 00:00:00", "time": "09:00:00", "time_unit": "day", "point": [], "frequency": 1, "zone_type": 1}}', 'America/New_York', 10);
-- a wall time the change skips (02:30 on 2090-03-12) is read with the offset before it: 03:30
SELECT pg_temp.occurrences('{"periodical": {"start": "2090-03-11 00:00:00", "end": "2090-03-13 00:00:00", "time": "02:30:00", "time_unit": "day", "point": [], "frequency": 1, "zone_type": 1}}', 'America/New_York', 10);
-- a single trigger has one occurrence
SELECT pg_temp.occurrences('{"single": {"time": "2090-05-05 05:05:05", "zone_type": 1}}', 'Asia/Kolkata', 5);

-- update: the members given replace the schedule's; a new trigger counts from now
SELECT push_schedule_update('sch_app', :'s2', '{"name": "weekly, renamed"}');
SELECT name, enabled, next_run_at FROM push_schedules WHERE schedule_id = :'s2';
SELECT push_schedule_update('sch_app', :'s2', '{"trigger": {"single": {"time": "2090-02-02 02:02:02"}}, "enabled": false}');
SELECT name, enabled, trigger, next_run_at FROM push_schedules WHERE schedule_id = :'s2';
SELECT push_schedule_enable('sch_app', :'s2', true);
SELECT enabled, next_run_at FROM push_schedules WHERE schedule_id = :'s2';
SELECT push_schedule_update('sch_app', :'s2', '{"push": {"to": {"registration_id": ["regId_userA"]}, "body": {"platform": "android", "notification": {"alert": "changed"}, "options": {"plan_id": "promo_618_2025"}}}}');
SELECT plan_id, push->'to' AS audience FROM push_schedules WHERE schedule_id = :'s2';
SELECT push_schedule_delete('sch_app', :'s2');
SELECT count(*) FROM push_schedules WHERE schedule_id = :'s2';

-- ---- every error, each writing nothing -------------------------------------------------------
SELECT count(*) AS schedules_before FROM schedules \gset
SELECT push_schedule_create(NULL, '{}');
SELECT push_schedule_create('sch_app', '[1]');
SELECT push_schedule_create('sch_app', '{"name": "x", "cron": "* * * * *"}');
SELECT push_schedule_create('sch_app', '{"trigger": {"single": {"time": "2090-06-18 09:00:00"}}}');
SELECT push_schedule_create('sch_app', '{"name": "", "trigger": {"single": {"time": "2090-06-18 09:00:00"}}}');
SELECT push_schedule_create('sch_app', format('{"name": "%s"}', repeat('n', 256))::jsonb);
SELECT push_schedule_create('sch_app', '{"name": "x", "enabled": "yes"}');
SELECT push_schedule_create('sch_app', '{"name": "x"}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": "tomorrow"}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-06-18 09:00:00"}, "periodical": {}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"cron": "* * * * *"}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": "2090-06-18 09:00:00"}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-06-18 09:00:00", "zone": "UTC"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-02-30 09:00:00"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-06-18T09:00:00Z"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-06-18 24:00:00"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": 1}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-06-18 09:00:00", "zone_type": 3}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "9:00", "time_unit": "day"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "year"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "day", "point": ["MON"]}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "week"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "week", "point": ["MONDAY"]}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "month", "point": ["32"]}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "month", "point": [1]}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "month", "point": []}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "month", "point": "01"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-02-01 00:00:00", "end": "2090-01-01 00:00:00", "time": "09:00:00", "time_unit": "day"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2091-01-01 00:00:01", "time": "09:00:00", "time_unit": "day"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "day", "frequency": 0}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "day", "frequency": 101}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-02-01 00:00:00", "time": "09:00:00", "time_unit": "day", "frequency": 1.5}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"intelligent": {}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"intelligent": {"backup_time": "later"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"intelligent": {"backup_time": "now", "zone_type": 2}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"intelligent": {"backup_time": "now", "start": "2089-12-31 00:00:00"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}');
-- checked against the (moved) clock in the app's zone
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-01-01 07:59:59"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}');
-- a year and 2 seconds ahead of the clock, read in the same transaction as the check (the clock
-- runs on from 2090-01-01 00:00 UTC with the real time: a literal would pass once the suite is slow)
SELECT push_schedule_create('sch_app', jsonb_build_object('name', 'x',
  'trigger', jsonb_build_object('single', jsonb_build_object('time',
    to_char((clock_now() + interval '1 year 2 seconds') AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'))),
  'push', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}'::jsonb));
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2089-06-01 00:00:00", "end": "2089-12-31 00:00:00", "time": "09:00:00", "time_unit": "day"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2089-12-01 00:00:00", "end": "2090-01-01 07:00:00", "time": "09:00:00", "time_unit": "day"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2091-01-02 00:00:00", "end": "2091-02-01 00:00:00", "time": "09:00:00", "time_unit": "day"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}');
-- the push: push_send's own errors
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-06-18 09:00:00"}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-06-18 09:00:00"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}, "options": {"plan_id": "nope"}}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-06-18 09:00:00"}}, "push": {"to": "all", "body": {"platform": "symbian", "notification": {"alert": "x"}}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"single": {"time": "2090-06-18 09:00:00"}}, "push": {"to": {"upload_id": 999999}, "body": {"platform": "all", "notification": {"alert": "x"}}}}');
SELECT push_schedule_create('no_such_app', '{"name": "x", "trigger": {"single": {"time": "2090-06-18 09:00:00"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}');
-- update, enable, delete
SELECT push_schedule_update('sch_app', NULL, '{}');
SELECT push_schedule_update('sch_app', 'sch_nope', '{"name": "y"}');
SELECT push_schedule_update('sch_app', :'s1', '{"trigger": {"single": {"time": "2090-02-30 00:00:00"}}}');
SELECT push_schedule_update('sch_app', :'s1', '{"push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}, "options": {"plan_id": "nope"}}}}');
SELECT push_schedule_enable('sch_app', :'s1', NULL);
SELECT push_schedule_enable('sch_app', 'sch_nope', false);
SELECT push_schedule_delete('sch_app', NULL);
SELECT push_schedule_delete('sch_app', 'sch_nope');
SELECT count(*) = :schedules_before AS nothing_written FROM schedules;
SELECT name, trigger->'single'->>'time' AS time FROM push_schedules WHERE schedule_id = :'s1';

-- several times of day (pushplan's own form of "time", which Tencent Push's loops need):
-- normalized sorted without duplicates, one left a string; each occurrence fires
SELECT push_schedule_create('sch_app', '{"name": "twice a day", "trigger": {"periodical": {
  "start": "2090-01-01 00:00:00", "end": "2090-01-02 23:59:59", "time": ["19:00:00", "08:30:00", "19:00:00"],
  "time_unit": "day"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "twice"}}}}') AS s_twice \gset
SELECT trigger->'periodical'->'time' AS time, next_run_at FROM push_schedules WHERE schedule_id = :'s_twice';
SELECT pg_temp.occurrences(trigger, 'Asia/Shanghai', 10) FROM push_schedules WHERE schedule_id = :'s_twice';
SELECT push_schedule_create('sch_app', '{"name": "one of them", "trigger": {"periodical": {
  "start": "2090-01-01 00:00:00", "end": "2090-01-02 23:59:59", "time": ["19:00:00", "19:00:00"],
  "time_unit": "day"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "one"}}}}') AS s_one \gset
SELECT trigger->'periodical'->'time' AS time FROM push_schedules WHERE schedule_id = :'s_one';
SELECT count(*) AS schedules_before FROM schedules \gset
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-01-02 00:00:00", "time": [], "time_unit": "day"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-01-02 00:00:00", "time": ["08:00:00", "25:00:00"], "time_unit": "day"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}');
SELECT push_schedule_create('sch_app', '{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-01-02 00:00:00", "time": {"at": "08:00:00"}, "time_unit": "day"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}');
SELECT push_schedule_create('sch_app', format('{"name": "x", "trigger": {"periodical": {"start": "2090-01-01 00:00:00", "end": "2090-01-02 00:00:00", "time": %s, "time_unit": "day"}}, "push": {"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}}',
    (SELECT jsonb_agg(to_char(time '00:00' + g * interval '1 minute', 'HH24:MI:SS')) FROM generate_series(0, 24) g))::jsonb);

-- Tencent Push's loops (doc/push.md, "Tencent Push"): push_send with loop_param makes a
-- schedule with the periodical trigger it comes to, and returns the schedule's id
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify",
  "message": {"title": "Sale", "content": "Every Monday and Wednesday"}, "plan_id": "promo_618_2025",
  "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-31", "loopType": 2,
                 "loopDayIndexs": [2, 0], "dayTimes": ["19:00:00", "09:00:00"]}}') AS loop_weekly \gset
SELECT :'loop_weekly' LIKE 'sch\_%' AS is_a_schedule, (SELECT count(*) FROM tasks WHERE task_id = :'loop_weekly') AS tasks;
SELECT name, trigger, next_run_at, plan_id, push->>'dialect' AS dialect, push ? 'loop' AS loop_kept,
       push->'body'->'notification'->>'alert' AS alert
FROM push_schedules WHERE schedule_id = :'loop_weekly';
SELECT pg_temp.occurrences(trigger, 'Asia/Shanghai', 5) FROM push_schedules WHERE schedule_id = :'loop_weekly';
-- daily (loopDayIndexs, which SDKs send anyway, is not read), DayTimes as some SDKs spell it;
-- monthly on the 31st: the months without one fire on their last day
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify",
  "message": {"content": "Daily"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-01", "loopType": 1,
  "loopDayIndexs": [1, 2, 3, 4], "DayTimes": ["11:10:00"]}}') AS loop_daily \gset
SELECT trigger FROM push_schedules WHERE schedule_id = :'loop_daily';
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify",
  "message": {"content": "Monthly"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2090-04-30", "loopType": 3,
  "loopDayIndexs": [31], "dayTimes": ["10:00:00"]}}') AS loop_monthly \gset
SELECT trigger FROM push_schedules WHERE schedule_id = :'loop_monthly';
SELECT pg_temp.occurrences(trigger, 'Asia/Shanghai', 5) FROM push_schedules WHERE schedule_id = :'loop_monthly';
-- the push of a loop is sent as any: push_send's own checks, and the schedule's
SELECT count(*) AS schedules_before FROM schedules \gset
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": []}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-02", "loopType": 1, "dayTimes": ["09:00:00"], "every": 2}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"endDate": "2090-01-02", "loopType": 1, "dayTimes": ["09:00:00"]}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-02-30", "endDate": "2090-03-02", "loopType": 1, "dayTimes": ["09:00:00"]}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-01-03", "endDate": "2090-01-02", "loopType": 1, "dayTimes": ["09:00:00"]}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-02", "loopType": 4, "dayTimes": ["09:00:00"]}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-02", "loopType": 1}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-02", "loopType": 1, "dayTimes": ["9:00"]}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-02", "loopType": 1, "dayTimes": ["09:00:00"], "DayTimes": ["10:00:00"]}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-02", "loopType": 2, "dayTimes": ["09:00:00"]}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-02", "loopType": 2, "loopDayIndexs": [7], "dayTimes": ["09:00:00"]}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-02", "loopType": 3, "loopDayIndexs": [0], "dayTimes": ["09:00:00"]}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "send_time": "2090-01-01 09:00:00", "loop_param": {"startDate": "2090-01-01", "endDate": "2090-01-02", "loopType": 1, "dayTimes": ["09:00:00"]}}');
-- the normalized form's "loop" (the trigger), only in a normalized Tencent Push body
SELECT push_send('sch_app', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}, "loop": {"periodical": {}}}');
SELECT push_send('sch_app', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}, "dialect": "tencent_push", "loop": []}');
-- the schedule's own checks: a loop over more than a year, one that has ended
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2090-01-01", "endDate": "2091-01-02", "loopType": 1, "dayTimes": ["09:00:00"]}}');
SELECT push_send('sch_app', '{"audience_type": "all", "message_type": "notify", "message": {"content": "x"}, "loop_param": {"startDate": "2089-12-01", "endDate": "2089-12-31", "loopType": 1, "dayTimes": ["09:00:00"]}}');
SELECT count(*) = :schedules_before AS nothing_written FROM schedules;

-- another app's schedule does not exist for this one
SELECT push_app_create('sch_other');
DO $$ BEGIN
    PERFORM pushplan.push_schedule_delete('sch_other', (SELECT schedule_id FROM pushplan.schedules
                                                        WHERE request_id = 'req_618_01'));
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE '%', regexp_replace(SQLERRM, 'sch_[0-9a-f]{32}', 'sch_<id>');
END $$;

-- a push sent now is sent at pushplan's clock, and its time_to_live runs from there (the
-- senders expire it by that clock: on the real time's now() it had expired before it was sent)
BEGIN;
SELECT push_send('sch_app', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "ttl"},
  "options": {"time_to_live": 600}}, "request_id": "req_ttl_clock"}') AS ttl_task \gset
SELECT send_at = clock_now() AS sent_on_the_clock, expires_at = clock_now() + interval '600 seconds' AS ttl_from_the_clock
FROM tasks WHERE task_id = :'ttl_task';
COMMIT;

-- the clock only moves forward; NULL puts it back to the real time
SELECT _clock_set('2089-01-01 00:00:00+00');
SELECT _clock_set(NULL) < '2090-01-01' AS clock_back;
