-- Audiences: counted and previewed through the C compiler of src/audience_sql.c, which turns the
-- audience JSON (doc/audiences.md) into one parameterised query over device ids.

CREATE OR REPLACE FUNCTION push_audience_count(app text, audience jsonb) RETURNS bigint
AS 'MODULE_PATHNAME', 'pushplan_audience_count'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION push_audience_count(text, jsonb) IS
    'the number of reachable devices of the app in the audience';

CREATE OR REPLACE FUNCTION push_audience_preview(app text, audience jsonb, max_rows int DEFAULT 100)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'pushplan_audience_preview'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pushplan, pg_temp ROWS 100;
COMMENT ON FUNCTION push_audience_preview(text, jsonb, int) IS
    'registration ids of up to max_rows (1..10000) devices of the audience, in registration order';

-- Internal: insert the audience's device ids into table target (column device_id), the way the
-- sending code expands a task's audience. For tests and benchmarks; runs with the caller's rights.
CREATE OR REPLACE FUNCTION _audience_expand(app text, audience jsonb, target regclass) RETURNS bigint
AS 'MODULE_PATHNAME', 'pushplan_audience_expand'
LANGUAGE C VOLATILE STRICT;
