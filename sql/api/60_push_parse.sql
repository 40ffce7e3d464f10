-- Push bodies (src/push_parse.c, doc/push.md): the three dialects accepted by push_send, checked
-- and normalized.  push_validate lets anyone check a body without sending it; it reads no table
-- (plan existence and the audience's contents are checked by push_send against the app).

CREATE OR REPLACE FUNCTION push_validate(push jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_push_validate' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION push_validate(jsonb) IS
    'The normalized push (EngageLab form, defaults filled in, "dialect" recorded) of an EngageLab, Tencent Push or Tencent IM push body, or the coded error push_send would raise';
