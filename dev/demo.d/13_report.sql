-- What was sent, what failed, what was invalidated: from pushplan's tables, then matched with
-- what the mock vendor says it received (public.demo_mock_tokens: its /_mock/stats per token).
\echo 'the tasks (push_task_progress):'
SELECT p.task_id, t.dialect, p.plan_id, p.state, p.targeted, p.sent, p.failed,
       coalesce(t.push->'custom_args'->>'task', '') AS custom_args_task
FROM push_task_progress p JOIN tasks t USING (task_id)
WHERE p.app = :'app' ORDER BY t.created_at;

\echo 'deliveries per task and vendor, by status (push_deliveries):'
SELECT task_id, vendor, count(*) AS deliveries,
       count(*) FILTER (WHERE status = 'sent') AS sent,
       count(*) FILTER (WHERE status = 'invalid_token') AS invalid_token,
       count(*) FILTER (WHERE status IN ('failed', 'expired')) AS failed,
       count(*) FILTER (WHERE status NOT IN ('sent', 'invalid_token', 'failed', 'expired'))
           AS other,
       count(*) FILTER (WHERE attempts > 1) AS retried
FROM push_deliveries d JOIN tasks t USING (task_id)
WHERE d.app = :'app' GROUP BY ROLLUP (task_id, vendor)
ORDER BY grouping(task_id), min(t.created_at), grouping(vendor), vendor;

\echo 'the devices whose tokens the vendors rejected: cleared, so no push is ever wasted on them again:'
SELECT d.registration_id, d.vendor,
       CASE WHEN length(x.token) > 40 THEN left(x.token, 8) || '…' || right(x.token, 24)
            ELSE x.token END AS rejected_token,
       d.token, d.reachable,
       d.token_invalidated_at IS NOT NULL AS invalidated, p.error
FROM push_devices d
JOIN public.demo_tokens x USING (registration_id)
JOIN push_deliveries p ON p.app = d.app AND p.registration_id = d.registration_id
WHERE d.app = :'app' AND d.token_invalidated_at IS NOT NULL
ORDER BY d.vendor, d.registration_id;

\echo 'retried deliveries (attempts > 1): throttled tokens, and on Huawei the whole batch that shared a request with one'
SELECT p.task_id, p.vendor, p.attempts, p.status, count(*) AS deliveries,
       count(*) FILTER (WHERE x.token LIKE '%throttle2%') AS with_a_throttle2_token
FROM push_deliveries p JOIN public.demo_tokens x USING (registration_id)
WHERE p.app = :'app' AND p.attempts > 1
GROUP BY 1, 2, 3, 4 ORDER BY min(p.sent_at), 2, 3, 4;

\echo 'the plan (push_plans):'
SELECT plan_id, description, task_count FROM push_plans
WHERE app = :'app' AND plan_id IN ('promo_618_2025', 'default') ORDER BY plan_id DESC;

\echo 'pushplan and the vendor agree, per token (every request naming a token is one of its delivery''s attempts;'
\echo 'attempts that never reached it were lost on the way, e.g. to a connection that failed or timed out first):'
CREATE TEMP VIEW agreement AS
SELECT p.vendor, count(*) AS deliveries,
       count(*) FILTER (WHERE p.status = 'sent') AS sent,
       coalesce(sum(m.ok) FILTER (WHERE p.status = 'sent'), 0) AS vendor_200_for_sent,
       sum(p.attempts) AS attempts,
       coalesce(sum(m.requests), 0) AS vendor_requests_for_tokens
FROM push_deliveries p
JOIN public.demo_tokens x USING (registration_id)
LEFT JOIN public.demo_mock_tokens m ON m.token = x.token
WHERE p.app = :'app'
GROUP BY ROLLUP (p.vendor);
SELECT coalesce(vendor, 'all') AS vendor, deliveries, sent, vendor_200_for_sent,
       attempts, vendor_requests_for_tokens,
       attempts - vendor_requests_for_tokens AS lost_in_transit,
       -- every sent delivery was answered 200 (an answer lost on the way, say to a timeout on a
       -- loaded machine, is sent again: the vendor may count more 200s, never fewer), and the
       -- vendor saw no request pushplan did not count
       sent <= vendor_200_for_sent AND attempts >= vendor_requests_for_tokens AS agree
FROM agreement ORDER BY vendor IS NULL, vendor;

\echo 'tokens the vendor received that no delivery names (nothing else was sent), and the rolled-back push:'
SELECT (SELECT count(*) FROM public.demo_mock_tokens m
        WHERE NOT EXISTS (SELECT 1 FROM public.demo_tokens x
                          JOIN push_deliveries p ON p.app = :'app'
                                                AND p.registration_id = x.registration_id
                          WHERE x.token = m.token)) AS unexpected_tokens,
       r.registration_id AS rolled_back_device,
       coalesce((SELECT requests FROM public.demo_mock_tokens m WHERE m.token = r.token), 0)
           AS its_vendor_requests,
       (SELECT count(*) FROM push_deliveries p WHERE p.app = :'app'
                                                 AND p.registration_id = r.registration_id)
           AS its_deliveries
FROM public.demo_rolled_back r;
