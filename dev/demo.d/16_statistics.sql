-- The campaign's statistics as a BI tool or an operator reads them (doc/statistics.md; the
-- Grafana dashboard doc/grafana/pushplan.json draws the same views).
\echo 'the 618 plan''s funnel over its life (push_plan_overview):'
SELECT plan_id, tasks, targeted, suppressed, sent, failed, received, opened, clicked, converted,
       converted_value
FROM push_plan_overview WHERE app = :'app' AND plan_id = 'promo_618_2025';
\echo '... and its rates (over sent; click_rate_received over received):'
SELECT plan_id, sent_rate, received_rate, open_rate, click_rate, click_rate_received, conversion_rate
FROM push_plan_overview WHERE app = :'app' AND plan_id = 'promo_618_2025';

\echo 'the same plan per day (the app''s time zone), platform and vendor (push_plan_stats):'
\set ECHO queries
SELECT to_char(period AT TIME ZONE (SELECT settings->>'timezone' FROM apps WHERE app = :'app'), 'YYYY-MM-DD') AS day, platform, vendor,
       targeted, sent, failed, received, opened, clicked, converted, converted_value, click_rate
FROM push_plan_stats(:'app', ARRAY['promo_618_2025'], now() - interval '1 day', now() + interval '1 day')
ORDER BY period, platform, vendor, message_type;
\set ECHO none

\echo 'every push of the app per day and vendor (push_vendor_stats_daily): why sends failed, and how fast each vendor answered'
\echo '(retries and answer times depend on the run: the busy tokens, and how the senders'' claims split each task):'
SELECT day, vendor, targeted, sent, failed, failed_invalid_token AS invalid_token,
       failed_rejected AS rejected, failed_gave_up AS gave_up, failed_other AS other, retries,
       answers, latency_p50_ms AS p50_ms, latency_p95_ms AS p95_ms
FROM push_vendor_stats_daily WHERE app = :'app' ORDER BY day, vendor;
