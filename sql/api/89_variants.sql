-- A/B variants (doc/variants.md): the hash that assigns a device to a variant, and the figures
-- of a push's variants side by side. A push with "variants" is stored as its own task (state
-- 'variants', never expanded) and one task per variant (tasks.parent_task_id, variant,
-- variant_buckets, variant_control: sql/install/schema.sql).

-- The bucket (0..99) of a device in a push: the first 32 bits of md5('<task id>:<device id>'),
-- modulo 100. The same in every session, sender and rerun, and computable outside pushplan; a
-- variant takes the devices whose bucket falls in its share (weights in the order the push
-- lists them: [0, w1), [w1, w1 + w2), ...). md5 is not used for security here, only for its
-- even spread.
CREATE OR REPLACE FUNCTION _variant_bucket(push_task text, device_id bigint) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (('x' || left(md5(push_task || ':' || device_id), 8))::bit(32)::bigint % 100)::int
$$;

-- One row per variant of a push (doc/statistics.md): a variant's figures are its task's. The
-- control group is sent nothing: its devices count in control, not in targeted; its conversions
-- (push_event with its task id) are what lift is measured against. conversion_rate is over the
-- devices assigned to the variant (targeted, or control for the control group).
CREATE OR REPLACE VIEW push_variant_stats WITH (security_barrier) AS
    SELECT s.app, s.parent_task_id AS task_id, s.variant,
           upper(t.variant_buckets) - lower(t.variant_buckets) AS weight,
           t.variant_control AS control_group, s.task_id AS variant_task_id, s.state,
           s.targeted + s.control AS assigned, s.targeted, s.control, s.suppressed, s.sent,
           s.failed, s.cancelled, s.pending, s.received, s.opened, s.clicked, s.converted,
           s.converted_value, s.click_rate,
           _rate(s.converted, s.targeted + s.control) AS conversion_rate
    FROM push_task_stats s
    JOIN tasks t ON t.task_id = s.task_id
    WHERE s.parent_task_id IS NOT NULL;
