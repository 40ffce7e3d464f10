-- Smart push: EngageLab's push plan guide, scenario 1, as the guide writes it: the
-- promo_618_reminder_01 schedule with an intelligent trigger. Each device is sent at its own
-- best time in the next 24 hours, learned from its visits in its own time zone; devices without
-- history get backup_time read in their own zone (the guide's 2025-06-18 09:00 has passed: now).
-- First some history: 4,000 of the shop's devices came back to the app on the last ten days,
-- each around its own habit (morning, lunch, evening or late night, local time).
\set ECHO none
SELECT count(push_device_activity(:'app', registration_id,
         (date_trunc('day', now() AT TIME ZONE timezone) - d * interval '1 day'
          + make_interval(hours => habit, mins => (pg_temp_h.jitter + d * 7) % 40))
         AT TIME ZONE timezone)) AS visits_recorded
FROM (SELECT registration_id, timezone,
             (ARRAY[8, 12, 20, 23])[1 + ('x' || substr(md5('habit' || registration_id), 1, 7))::bit(28)::int % 4] AS habit,
             ('x' || substr(md5('jitter' || registration_id), 1, 7))::bit(28)::int % 20 AS jitter
      FROM push_devices WHERE app = :'app' AND reachable
      ORDER BY md5(registration_id) LIMIT 4000) pg_temp_h,
     generate_series(1, 10) d;
\set ECHO queries
SELECT push_schedule_create(:'app', $json$
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
"request_id": "req_618_smart_01",
"custom_args": {
"task": "reminder_01"
}
}
}
$json$) AS seed_schedule;
-- the same reminder to every VIP, whatever their platform; no history: tomorrow 09:00 where they are
SELECT push_schedule_create(:'app', format($json$
{"name": "promo_618_reminder_vip", "trigger": {"intelligent": {"backup_time": "%s"}},
 "push": {"to": {"tag": ["vip"]},
          "body": {"platform": "all", "notification": {"alert": "VIP: 限时秒杀,马上抢购!"},
                   "options": {"plan_id": "promo_618_2025", "time_to_live": 86400}}}}
$json$, to_char(now() + interval '1 day', 'YYYY-MM-DD 09:00:00'))::jsonb) AS vip_schedule;
\set ECHO none
