-- Each shopper's path through the flow: the steps that fired (flow_step_runs, one row per step
-- and run, whatever crashed in between), how the run ended, and the reminder's delivery.
\set ECHO none
SELECT s.shopper,
       coalesce(string_agg(x.step_id || CASE WHEN x.task_id IS NOT NULL THEN ' (push sent: ' || d.status || ')'
                                             ELSE '' END, ' -> ' ORDER BY x.at, x.step_id), '(never entered)') AS path,
       coalesce(min(r.state), '') AS state, coalesce(min(r.exit_reason), '') AS ended_by
FROM public.shoppers s
LEFT JOIN push_flow_runs r ON r.registration_id = s.registration_id
LEFT JOIN flow_step_runs x ON x.instance_id = r.instance_id
LEFT JOIN push_deliveries d ON d.task_id = x.task_id
GROUP BY s.shopper ORDER BY s.shopper;
\echo 'the reminder''s task, attributed to the flow, its step and the plan:'
SELECT t.plan_id, f.name AS flow, t.flow_step, count(d.*) AS deliveries
FROM tasks t JOIN flows f USING (flow_id) LEFT JOIN deliveries d USING (task_id)
GROUP BY 1, 2, 3;
