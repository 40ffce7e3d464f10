-- What the devices said about the 618 pushes, as the app's SDK collector reports it: batches of
-- events (push_event_batch), each device's report of arrival, opening, clicking, dismissing,
-- and the orders that followed (convert, with the order's amount). Here they are made up from
-- the sent deliveries, a fixed share of each kind (by the deliveries' order, so every run gives
-- the same figures); a real collector forwards what its SDK received from the phones.
\set ECHO none
CREATE TEMP TABLE collected (n bigint, event jsonb);
INSERT INTO collected
SELECT row_number() OVER (ORDER BY d.rn, k.ord),
       jsonb_build_object('registration_id', d.registration_id, 'task_id', d.task_id, 'kind', k.kind,
                          'at', least(d.sent_at + k.after, now()))
       || CASE WHEN k.kind = 'convert' THEN jsonb_build_object('value', 99 + (d.rn / 200 % 5) * 100)
               ELSE '{}' END
FROM (SELECT registration_id, task_id, sent_at,
             row_number() OVER (ORDER BY registration_id, task_id) AS rn
      FROM push_deliveries p JOIN tasks t USING (task_id)
      WHERE p.app = :'app' AND t.plan_id = 'promo_618_2025' AND p.status = 'sent') d
JOIN (VALUES (1, 'received', interval '2 seconds'), (2, 'open', interval '40 seconds'),
             (3, 'dismiss', interval '50 seconds'), (4, 'click', interval '1 minute'),
             (5, 'convert', interval '3 minutes')) k(ord, kind, after)
  ON CASE k.kind WHEN 'received' THEN d.rn % 5 <> 0        -- 4 in 5 confirm arrival
                 WHEN 'open' THEN d.rn % 10 = 1            -- 1 in 10 open it
                 WHEN 'dismiss' THEN d.rn % 10 = 2         -- 1 in 10 swipe it away
                 WHEN 'click' THEN d.rn % 40 = 1           -- 1 in 40 click through
                 WHEN 'convert' THEN d.rn % 200 = 1 END;   -- 1 in 200 order
\echo 'the collector''s events, by kind, then two of them as it sends them:'
SELECT event->>'kind' AS kind, count(*) AS events FROM collected GROUP BY 1
ORDER BY min(n);
SELECT jsonb_pretty(event) AS event FROM collected WHERE event ? 'value' ORDER BY n LIMIT 1;
SELECT jsonb_pretty(event) AS event FROM collected WHERE event->>'kind' = 'open' ORDER BY n LIMIT 1;

\echo 'sent in batches of up to 2,000, as the collector flushes them (push_event_batch: at most 10,000; each batch all or nothing):'
\set ECHO queries
SELECT (n - 1) / 2000 + 1 AS batch, push_event_batch(:'app', jsonb_agg(event ORDER BY n)) AS recorded
FROM collected GROUP BY 1 ORDER BY 1;
\set ECHO none

\echo 'the collector timed out on its last batch and sends it again: logged again, counted once:'
SELECT sum(clicked) AS clicks_before FROM push_plan_overview WHERE app = :'app' \gset
\set ECHO queries
SELECT push_event_batch(:'app', jsonb_agg(event ORDER BY n)) AS recorded
FROM collected WHERE (n - 1) / 2000 = (SELECT max((n - 1) / 2000) FROM collected);
\set ECHO none
SELECT count(*) AS events_logged, count(*) FILTER (WHERE counted) AS events_counted,
       (SELECT sum(clicked) FROM push_plan_overview WHERE app = :'app') = :clicks_before AS clicks_unchanged
FROM events;
