-- Schedules: push_schedule_create / _update / _enable / _delete, the views of schedules and of
-- their occurrences, and the occurrence arithmetic (doc/schedules.md; tables:
-- sql/install/schema.sql; C: src/schedule.c, schedule_trigger.c, schedule_fire.c).

-- now() on pushplan's clock: what due schedules and deliveries are measured against. Equal to
-- now() except in tests that move the clock forward (src/clock.c).
CREATE OR REPLACE FUNCTION clock_now() RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pushplan_clock_now' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION clock_now() IS
    'now() as schedules and due deliveries see it (equal to now() unless a test moved the clock)';

-- The first occurrence of a normalized trigger (src/schedule_trigger.c) after `after`, or NULL.
-- Wall times are read in the app's zone `tz`, or for zone_type 2 at UTC+14, where a wall time
-- comes first: the task then gives each device that wall time in its own zone. created: when an
-- intelligent trigger without "start" fires (the schedule's creation).
-- Periodical: the days from start to end (at most a year: at most 367 candidates) that the unit,
-- frequency and points select, at "time", within [start, end]. A week counts from start's week
-- (weeks begin on Monday), a month from start's month; a month day the month lacks (31 in
-- April, 29-31 in February) is the month's last day.
CREATE OR REPLACE FUNCTION _schedule_next(trigger jsonb, tz text, after timestamptz,
                                          created timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    WITH k AS (
        SELECT trigger->'single' AS s, trigger->'periodical' AS p, trigger->'intelligent' AS i,
               CASE WHEN coalesce(trigger #>> '{single,zone_type}',
                                  trigger #>> '{periodical,zone_type}') = '2'
                    THEN 'Etc/GMT-14' ELSE tz END AS zone)
    SELECT CASE
        WHEN k.s IS NOT NULL THEN
            (SELECT o FROM (SELECT (k.s->>'time')::timestamp AT TIME ZONE k.zone AS o) x
             WHERE o > after)
        WHEN k.i IS NOT NULL THEN
            (SELECT o FROM (SELECT coalesce((k.i->>'start')::timestamp AT TIME ZONE tz, created) AS o) x
             WHERE o > after)
        ELSE (
            SELECT min(c.local AT TIME ZONE k.zone)
            FROM (SELECT (k.p->>'start')::timestamp AS start, (k.p->>'end')::timestamp AS stop,
                         k.p->>'time_unit' AS unit,
                         (k.p->>'frequency')::int AS freq,
                         ARRAY(SELECT jsonb_array_elements_text(k.p->'point')) AS points) p
            CROSS JOIN LATERAL generate_series(
                greatest(p.start::date, (after AT TIME ZONE k.zone)::date - 1),
                p.stop::date, interval '1 day') g(day)
            -- "time": one time of day, or several (Tencent Push's loops)
            CROSS JOIN LATERAL (SELECT t::time AS at FROM jsonb_array_elements_text(
                CASE jsonb_typeof(k.p->'time') WHEN 'array' THEN k.p->'time'
                     ELSE jsonb_build_array(k.p->'time') END) t) pt
            CROSS JOIN LATERAL (SELECT g.day::date AS d, g.day::date + pt.at AS local) c
            WHERE c.local BETWEEN p.start AND p.stop
              AND c.local AT TIME ZONE k.zone > after
              AND CASE p.unit
                  WHEN 'day' THEN (c.d - p.start::date) % p.freq = 0
                  WHEN 'week' THEN ((date_trunc('week', c.d)::date - date_trunc('week', p.start)::date) / 7)
                                       % p.freq = 0
                                   AND to_char(c.d, 'DY') = ANY (p.points)
                  ELSE ((extract(year FROM c.d) * 12 + extract(month FROM c.d))
                        - (extract(year FROM p.start) * 12 + extract(month FROM p.start)))::int
                           % p.freq = 0
                       AND (to_char(c.d, 'DD') = ANY (p.points)
                            OR (c.d = (date_trunc('month', c.d) + interval '1 month - 1 day')::date
                                AND EXISTS (SELECT 1 FROM unnest(p.points) x
                                            WHERE x::int > extract(day FROM c.d))))
              END)
    END
    FROM k
$$;

CREATE OR REPLACE FUNCTION push_schedule_create(app text, schedule jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_schedule_create' LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION push_schedule_create(text, jsonb) IS
    'creates a schedule from an EngageLab /v4/schedules body {name, enabled, trigger, push}; returns its id';

CREATE OR REPLACE FUNCTION push_schedule_update(app text, schedule_id text, schedule jsonb) RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_schedule_update' LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION push_schedule_update(text, text, jsonb) IS
    'replaces the members given (name, enabled, trigger, push) of a schedule; a new trigger counts from now';

CREATE OR REPLACE FUNCTION push_schedule_enable(app text, schedule_id text, enabled boolean) RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_schedule_enable' LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION push_schedule_enable(text, text, boolean) IS
    'enables or disables a schedule; enabled again, it fires from now on (what passed meanwhile is not fired)';

CREATE OR REPLACE FUNCTION push_schedule_delete(app text, schedule_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
BEGIN
    IF app IS NULL OR schedule_id IS NULL THEN
        RAISE EXCEPTION '92700: push_schedule_delete needs an app and a schedule id'
            USING ERRCODE = '22023';
    END IF;
    DELETE FROM schedules s
        WHERE s.app_id = _app_id(app, 'operator') AND s.schedule_id = push_schedule_delete.schedule_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92722: schedule "%" does not exist', _shown(schedule_id)
            USING ERRCODE = '42704';
    END IF;
END $$;
COMMENT ON FUNCTION push_schedule_delete(text, text) IS
    'deletes a schedule and the record of its occurrences; the tasks it fired stay';

CREATE OR REPLACE VIEW push_schedules WITH (security_barrier) AS
    SELECT a.app, s.schedule_id, s.name, s.enabled, s.trigger, s.next_run_at, s.last_run_at,
           coalesce(s.push #>> '{body,options,plan_id}', 'default') AS plan_id, s.runs,
           s.push, s.created_at, s.updated_at
    FROM schedules s JOIN apps a USING (app_id)
    WHERE s.app_id = ANY ((SELECT _visible_apps('reader'))::int[]);

CREATE OR REPLACE VIEW push_schedule_runs WITH (security_barrier) AS
    SELECT a.app, r.schedule_id, s.name, r.occurrence, r.fired_at, r.state, r.task_id, r.detail
    FROM schedule_runs r JOIN schedules s USING (schedule_id) JOIN apps a USING (app_id)
    WHERE s.app_id = ANY ((SELECT _visible_apps('reader'))::int[]);
