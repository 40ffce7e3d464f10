-- A/B variants (doc/variants.md): the hash that assigns a device to a variant, the winner of a
-- variants test, and the figures of a push's variants side by side. A push with "variants" is
-- stored as its own task (state 'variants', or 'testing' until a test's winner is sent; never
-- expanded) and one task per variant (tasks.parent_task_id, variant, variant_buckets,
-- variant_control, variant_winner: sql/install/schema.sql).

-- The bucket (0..9999) of a device in a push: the first 32 bits of md5('<task id>:<device id>'),
-- modulo 10000. The same in every session, sender and rerun, and computable outside pushplan.
-- A variant takes the devices whose bucket falls in its share: weights in the order the push
-- lists them, [0, 100 w1), [100 w1, 100 (w1 + w2)), ...; with a test of p %, [0, p w1), ...
-- and the winner [100 p, 10000). md5 is not used for security here, only for its even spread.
CREATE OR REPLACE FUNCTION _variant_bucket(push_task text, device_id bigint) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (('x' || left(md5(push_task || ':' || device_id), 8))::bit(32)::bigint % 10000)::int
$$;

-- The winners of the variants tests that are due (the push's send_at plus "after", by
-- pushplan.clock_now()): the variant (not the control group) with the best figure so far, its
-- click rate (clicked / sent) or its conversion rate (converted / targeted), a tie going to the
-- first listed, is sent to the rest of the audience at once by a task of its own. Run by the
-- scheduler's upkeep, with the workers' rights (it reads the figures from their tables). Returns
-- the number of winners sent.
CREATE OR REPLACE FUNCTION _variants_pick_winners() RETURNS int
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    p record;
    v_winner text;
    v_sent int := 0;
BEGIN
    FOR p IN SELECT t.task_id, t.push->'variants_test' AS test FROM tasks t
             WHERE t.state = 'testing'
               AND t.send_at + (t.push->'variants_test'->>'after')::interval <= clock_now()
             ORDER BY t.send_at FOR NO KEY UPDATE SKIP LOCKED
    LOOP
        SELECT c.task_id INTO v_winner
        FROM tasks c
        CROSS JOIN LATERAL (
            SELECT sum(x.targeted) AS targeted, sum(x.sent) AS sent, sum(x.clicked) AS clicked,
                   sum(x.converted) AS converted
            FROM (SELECT s.targeted, s.sent, s.clicked, s.converted FROM task_stats s WHERE s.task_id = c.task_id
                  UNION ALL
                  SELECT s.targeted, s.sent, s.clicked, s.converted FROM stats_pending s WHERE s.task_id = c.task_id) x) f
        WHERE c.parent_task_id = p.task_id AND NOT c.variant_control AND NOT c.variant_winner
        ORDER BY CASE WHEN p.test->>'metric' = 'ctr'
                      THEN coalesce(f.clicked::numeric / nullif(f.sent, 0), 0)
                      ELSE coalesce(f.converted::numeric / nullif(f.targeted, 0), 0) END DESC,
                 lower(c.variant_buckets)
        LIMIT 1;
        -- the winner's push, to the buckets the test left, now (a per-device send time has passed)
        INSERT INTO tasks (task_id, app_id, plan_id, dialect, push, broadcast, send_at, expires_at,
                           created_by, priority, time_to_live, template_reads, category, consent,
                           parent_task_id, variant, variant_buckets, variant_control, variant_winner,
                           fallback_at)
            SELECT 'tsk_' || replace(gen_random_uuid()::text, '-', ''), c.app_id, c.plan_id,
                   c.dialect, c.push, false, now(), now() + c.time_to_live, c.created_by,
                   c.priority, c.time_to_live, c.template_reads, c.category, c.consent,
                   p.task_id, c.variant,
                   int4range(100 * (p.test->>'percent')::int, 10000), false, true,
                   -- the push's fallback (doc/fallback.md), as push_send sets it for a task
                   now() + (c.push->'fallback'->>'after')::int * interval '1 second'
            FROM tasks c WHERE c.task_id = v_winner;
        UPDATE tasks t SET state = 'variants' WHERE t.task_id = p.task_id;
        v_sent := v_sent + 1;
    END LOOP;
    RETURN v_sent;
END $$;

-- One row per variant of a push (doc/statistics.md): a variant's figures are its task's (a
-- test's winner has a second row, winner true: the rest of the audience). The control group is
-- sent nothing: its devices count in control, not in targeted; its conversions (push_event with
-- its task id) are what lift is measured against. conversion_rate is over the devices assigned
-- to the variant (targeted, or control for the control group).
CREATE OR REPLACE VIEW push_variant_stats WITH (security_barrier) AS
    SELECT s.app, s.parent_task_id AS task_id, s.variant,
           (SELECT (v->>'weight')::int FROM jsonb_array_elements(p.push->'variants') v
            WHERE v->>'name' = s.variant) AS weight,
           t.variant_control AS control_group, s.task_id AS variant_task_id, s.state,
           s.targeted + s.control AS assigned, s.targeted, s.control, s.suppressed, s.sent,
           s.failed, s.cancelled, s.pending, s.received, s.opened, s.clicked, s.converted,
           s.converted_value, s.click_rate,
           _rate(s.converted, s.targeted + s.control) AS conversion_rate, t.variant_winner AS winner
    FROM push_task_stats s
    JOIN tasks t ON t.task_id = s.task_id
    JOIN tasks p ON p.task_id = s.parent_task_id
    WHERE s.parent_task_id IS NOT NULL;
