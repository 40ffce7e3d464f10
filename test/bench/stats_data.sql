-- Benchmark state for push_plan_stats (test/bench/bench_stats.sh, doc/benchmarks.md,
-- "Statistics"): 30 days of pushes of app 'bench' summing to :deliveries deliveries, whose
-- figures are written the way the writers write them and folded the way the upkeep folds them.
--
-- Tasks: 10 campaign plans (camp01..camp10) x 30 days x 4 pushes a day (09:00, 12:00, 18:00 and
-- 21:00 Asia/Shanghai plus a few minutes; 1,000 to 13,000 devices each, 8.4 M in all; one in five a message,
-- the rest notifications), and small transactional pushes (1 to 4 devices, one in ten a message)
-- in the default plan, at random times over the same 30 days, as many as it takes to reach
-- :deliveries. Every task is a row in tasks (state done), with a normalized push.
--
-- Figures: each task's devices fall on 10 (platform, vendor) pairs in market-like shares
-- (transactional pushes: one pair). Per task and pair: targeted n; suppressed ~4 % (opted out,
-- unregistered, no token, expired), failed ~2 % (invalid token, rejected, gave up, other), the
-- rest sent; retries ~1 %; received 85 %, opened 10 %, clicked 5 %, dismissed 3 %, converted
-- 0.5 % of sent (59.90 each). They are appended to stats_pending as the writers append them:
-- the expansion one row per 10,000 devices of a batch (targeted), the senders one row per
-- outcome statement of up to 500 deliveries (sent, failed, suppressed and why, retries),
-- push_event_batch one row per 1,000 received (the events). The upkeep's _stats_rollup()
-- folds them once per simulated day (the scheduler folds every few seconds; folding is a sum,
-- so the aggregates are the same). No deliveries or events rows are written: push_plan_stats
-- reads only the aggregates and stats_pending (their daily partitions are made, empty).
SET search_path = pushplan, public;
SELECT setseed(0.11);
-- 30 days of operation: the daily partitions of deliveries and events of those days exist
-- (empty here; what the plans of push_event and push_event_batch open and lock)
SELECT count(_raw_partition_create(p, (now() AT TIME ZONE 'UTC')::date - d))
FROM unnest(ARRAY['deliveries', 'events']) p, generate_series(1, 30) d;
SELECT push_app_create('bench');
SELECT push_app_set('bench', '{"timezone": "Asia/Shanghai"}');
SELECT push_plan_create('bench', format('camp%s', to_char(g, 'FM00')), format('campaign %s', g))
FROM generate_series(1, 10) g;

CREATE TEMP TABLE pairs (pair int, platform text, vendor text, share float8);
INSERT INTO pairs VALUES
    (1, 'android', 'fcm', 0.22), (2, 'android', 'hms', 0.15), (3, 'android', 'honor', 0.05),
    (4, 'android', 'oppo', 0.09), (5, 'android', 'vivo', 0.09), (6, 'android', 'xiaomi', 0.09),
    (7, 'android', 'meizu', 0.01), (8, 'ios', 'apns', 0.25), (9, 'harmony', 'harmony', 0.03),
    (10, 'web', 'webpush', 0.02);

-- The tasks: campaigns first, then transactional pushes up to the total.
CREATE TEMP TABLE bench_tasks (task_id text PRIMARY KEY, plan_id text, send_at timestamptz,
                               n bigint, message boolean, day int);
INSERT INTO bench_tasks
SELECT 'tsk_' || md5('camp' || p || '-' || d || '-' || k), format('camp%s', to_char(p, 'FM00')),
       (date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') - d * interval '1 day'
        + (ARRAY[9, 12, 18, 21])[k] * interval '1 hour' + floor(random() * 10) * interval '1 minute')
           AT TIME ZONE 'Asia/Shanghai',
       -- (scaled for other totals than 10,000,000)
       greatest(1, round((1000 + floor(random() * 12001)) * :deliveries / 1e7))::bigint, random() < 0.2, d
FROM generate_series(1, 10) p, generate_series(0, 29) d, generate_series(1, 4) k;
-- today's pushes not due yet are moved a day back (the range ends now)
UPDATE bench_tasks SET send_at = send_at - interval '30 days', day = 30 WHERE send_at > now();

INSERT INTO bench_tasks
SELECT 'tsk_' || md5('tx-' || g), 'default', now() - random() * interval '30 days',
       1 + floor(random() * 4)::bigint, random() < 0.1, NULL
FROM generate_series(1, ceil((:deliveries - (SELECT sum(n) FROM bench_tasks)) / 2.5)::int) g;
UPDATE bench_tasks SET day = floor(extract(epoch FROM now() - send_at) / 86400)::int WHERE day IS NULL;
-- the last small pushes trimmed so that the total is exact
DELETE FROM bench_tasks WHERE task_id IN (
    SELECT task_id FROM (SELECT task_id, sum(n) OVER (ORDER BY task_id DESC) AS tail
                         FROM bench_tasks WHERE plan_id = 'default') t
    WHERE t.tail <= (SELECT sum(n) FROM bench_tasks) - :deliveries);
UPDATE bench_tasks SET n = n - ((SELECT sum(n) FROM bench_tasks) - :deliveries)
WHERE task_id = (SELECT min(task_id) FROM bench_tasks WHERE plan_id LIKE 'camp%');

INSERT INTO tasks (task_id, app_id, plan_id, push, state, send_at, expires_at, targeted, expanded,
                   created_at, started_at, finished_at, priority)
SELECT b.task_id, a.app_id, b.plan_id,
       jsonb_build_object('to', CASE WHEN b.plan_id = 'default'
                                     THEN jsonb_build_object('registration_id', jsonb_build_array('r' || b.n))
                                     ELSE '"all"'::jsonb END,
           'dialect', 'engagelab',
           'body', jsonb_build_object('platform', jsonb_build_array('android', 'ios', 'web', 'harmony'),
               'options', jsonb_build_object('time_to_live', 86400)
                          || CASE WHEN b.plan_id = 'default' THEN '{}' ELSE jsonb_build_object('plan_id', b.plan_id) END)
           || CASE WHEN b.message THEN jsonb_build_object('message', jsonb_build_object('msg_content', 'data'))
                   ELSE jsonb_build_object('notification', jsonb_build_object('alert', 'news')) END),
       'done', b.send_at, b.send_at + interval '1 day', b.n, true,
       b.send_at, b.send_at, b.send_at + interval '10 minutes',
       CASE WHEN b.plan_id = 'default' THEN 0 ELSE 1 END
FROM bench_tasks b, apps a WHERE a.app = 'bench';

-- Each task's final figures per (platform, vendor).
CREATE TEMP TABLE bench_figures AS
SELECT f.*, f.n - f.suppressed - f.failed AS sent
FROM (SELECT x.task_id, x.day, x.platform, x.vendor, x.n,
             floor(x.n * 0.04 + random())::bigint AS suppressed,
             floor(x.n * 0.02 + random())::bigint AS failed,
             floor(x.n * 0.01 + random())::bigint AS retries
      FROM (SELECT b.task_id, b.day, p.platform, p.vendor,
                   -- a campaign's devices by share (the first pair takes the rounding); a
                   -- transactional push's on one pair
                   CASE WHEN b.plan_id = 'default' THEN b.n
                        WHEN p.pair = 1 THEN b.n - (SELECT sum(floor(b.n * q.share))::bigint FROM pairs q WHERE q.pair > 1)
                        ELSE floor(b.n * p.share)::bigint END AS n
            FROM bench_tasks b JOIN pairs p
              ON b.plan_id <> 'default' OR p.pair = 1 + (hashtext(b.task_id) & 1023) % 10) x
      WHERE x.n > 0) f;
ALTER TABLE bench_figures ADD COLUMN opted_out bigint, ADD COLUMN unregistered bigint,
    ADD COLUMN no_token bigint, ADD COLUMN expired bigint, ADD COLUMN invalid_token bigint,
    ADD COLUMN rejected bigint, ADD COLUMN gave_up bigint, ADD COLUMN received bigint,
    ADD COLUMN opened bigint, ADD COLUMN clicked bigint, ADD COLUMN dismissed bigint,
    ADD COLUMN converted bigint;
UPDATE bench_figures SET
    opted_out = suppressed / 2, unregistered = suppressed * 3 / 10, no_token = suppressed / 10,
    expired = suppressed - suppressed / 2 - suppressed * 3 / 10 - suppressed / 10,
    invalid_token = failed * 6 / 10, rejected = failed * 2 / 10, gave_up = failed / 10,
    received = floor(sent * 0.85 + random()), opened = floor(sent * 0.10 + random()),
    clicked = floor(sent * 0.05 + random()), dismissed = floor(sent * 0.03 + random()),
    converted = floor(sent * 0.005 + random());
ANALYZE bench_figures;

-- The k-th of m even parts of a count.
CREATE FUNCTION pg_temp.part(total bigint, k int, m int) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT total / m + CASE WHEN k <= total % m THEN 1 ELSE 0 END $$;

-- The appends of one simulated day, as the writers append them, then the upkeep's fold.
CREATE FUNCTION pg_temp.append_day(p_day int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- the expansion: targeted, one row per batch of 10,000 devices
    INSERT INTO pushplan.stats_pending (task_id, platform, vendor, targeted)
    SELECT f.task_id, f.platform, f.vendor, pg_temp.part(f.n, k, m)
    FROM bench_figures f, LATERAL (SELECT ceil(f.n / 10000.0)::int AS m) m, generate_series(1, m) k
    WHERE f.day = p_day;
    -- the senders: one row per outcome statement of up to 500 deliveries
    INSERT INTO pushplan.stats_pending (task_id, platform, vendor, sent, failed, invalid_token,
        rejected, gave_up, suppressed, opted_out, unregistered, no_token, expired, retries)
    SELECT f.task_id, f.platform, f.vendor, pg_temp.part(f.sent, k, m), pg_temp.part(f.failed, k, m),
           pg_temp.part(f.invalid_token, k, m), pg_temp.part(f.rejected, k, m),
           pg_temp.part(f.gave_up, k, m), pg_temp.part(f.suppressed, k, m),
           pg_temp.part(f.opted_out, k, m), pg_temp.part(f.unregistered, k, m),
           pg_temp.part(f.no_token, k, m), pg_temp.part(f.expired, k, m), pg_temp.part(f.retries, k, m)
    FROM bench_figures f, LATERAL (SELECT ceil(f.n / 500.0)::int AS m) m, generate_series(1, m) k
    WHERE f.day = p_day;
    -- the events: one row per 1,000 devices that reported
    INSERT INTO pushplan.stats_pending (task_id, platform, vendor, received, opened, clicked,
        dismissed, converted, converted_value)
    SELECT f.task_id, f.platform, f.vendor, pg_temp.part(f.received, k, m), pg_temp.part(f.opened, k, m),
           pg_temp.part(f.clicked, k, m), pg_temp.part(f.dismissed, k, m),
           pg_temp.part(f.converted, k, m), pg_temp.part(f.converted, k, m) * 59.90
    FROM bench_figures f, LATERAL (SELECT greatest(ceil(f.received / 1000.0)::int, 1) AS m) m,
         generate_series(1, m) k
    WHERE f.day = p_day AND f.received > 0;
    PERFORM pushplan._stats_rollup();
END $$;

-- Oldest day first, one transaction each.
SELECT format('SELECT pg_temp.append_day(%s)', d) FROM generate_series(30, 0, -1) d \gexec
VACUUM ANALYZE;
