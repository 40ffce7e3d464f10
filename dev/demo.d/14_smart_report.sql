-- What the two intelligent schedules planned: every delivery's send_at is the device's own time.
\echo 'the schedules and their occurrences (push_schedules, push_schedule_runs):'
SELECT s.name, s.trigger, r.occurrence = s.last_run_at AS fired_once, r.state, t.targeted
FROM push_schedules s JOIN push_schedule_runs r USING (schedule_id) JOIN tasks t USING (task_id)
WHERE s.app = :'app' ORDER BY s.name;

\echo 'the seed''s two devices: planned at their best time if they have visits, else now (backup_time has passed):'
SELECT d.registration_id, v.timezone,
       (SELECT count(*) FROM device_activity a JOIN devices x USING (device_id)
        WHERE x.app_id = (SELECT app_id FROM apps WHERE app = :'app')
          AND x.registration_id = d.registration_id) AS visits,
       to_char(d.send_at AT TIME ZONE v.timezone, 'HH24:MI') AS planned_local_time, d.status
FROM push_deliveries d JOIN push_devices v USING (app, registration_id)
JOIN push_schedule_runs r USING (task_id)
WHERE d.app = :'app' AND r.name = 'promo_618_reminder_01' ORDER BY 1;

\echo 'the VIP reminder, per hour (UTC) of the planned sends, from visits or from the backup time, each device''s local hour beside it:'
WITH p AS (
    SELECT date_trunc('hour', d.send_at AT TIME ZONE 'UTC') AS utc_hour,
           to_char(d.send_at AT TIME ZONE v.timezone, 'HH24') || ':00 ' || v.timezone AS local_hour,
           EXISTS (SELECT 1 FROM device_activity a JOIN devices x USING (device_id)
                   WHERE x.app_id = (SELECT app_id FROM apps WHERE app = :'app')
                     AND x.registration_id = d.registration_id) AS history
    FROM push_deliveries d JOIN push_devices v USING (app, registration_id)
    JOIN push_schedule_runs r USING (task_id)
    WHERE d.app = :'app' AND r.name = 'promo_618_reminder_vip')
SELECT to_char(utc_hour, 'MM-DD HH24:00') AS utc_hour, count(*) AS devices,
       count(*) FILTER (WHERE history) AS from_history,
       string_agg(DISTINCT local_hour, ', ') AS local_hours
-- (visits and backup time apart: a device with visits may be planned in the same UTC hour as
-- another zone's 09:00, e.g. 20:00 in Denver and 09:00 in Kolkata)
FROM p GROUP BY utc_hour, history ORDER BY utc_hour, history;
