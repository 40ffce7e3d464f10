-- The delivery engine's SQL faces (src/engine_sql.c, src/auth.c): a real test send for
-- operators, and internal functions for the regression and integration tests.

CREATE OR REPLACE FUNCTION push_vendor_test(app text, vendor text, token text, push jsonb,
                                 platform text DEFAULT NULL, language text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_vendor_test'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pushplan, pg_temp
SET log_min_error_statement = panic;  -- a failing call's statement (a device token) stays out of the log
COMMENT ON FUNCTION push_vendor_test(text, text, text, jsonb, text, text) IS
    'sends one push to one device token with the app''s vendor config now, and returns the outcome: {"outcome": "sent"|"retry"|"invalid_token"|"failed", "http_status", "retry_after_ms", "error", "vendor_message_id"}';

CREATE OR REPLACE FUNCTION _engine_send_many(app text, vendor text, tokens text[], push jsonb,
                                  platform text DEFAULT NULL, language text DEFAULT NULL)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'pushplan_engine_send_many'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION _engine_send_many(text, text, text[], jsonb, text, text) IS
    'sends one push to many tokens through one engine (multiplexing, HMS grouping); one outcome per token, in order';

CREATE OR REPLACE FUNCTION _vendor_payload(vendor text, push jsonb, platform text DEFAULT NULL,
                                language text DEFAULT NULL, config jsonb DEFAULT NULL,
                                token text DEFAULT 'TOKEN')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_vendor_payload'
LANGUAGE C STABLE;
COMMENT ON FUNCTION _vendor_payload(text, jsonb, text, text, jsonb, text) IS
    'the request a vendor would get for a push and device: url, headers (never the auth header), body, bytes counted by the vendor''s size limit';

CREATE OR REPLACE FUNCTION _message_check(push jsonb) RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_message_check'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION _message_check(jsonb) IS
    'raises 92510 when a vendor payload of the push is over the vendor''s size limit (what push_send checks)';

CREATE OR REPLACE FUNCTION _auth_token_put(vendor text, config jsonb, token text, ttl_seconds int)
RETURNS void
AS 'MODULE_PATHNAME', 'pushplan_auth_token_put' LANGUAGE C VOLATILE STRICT
SET log_min_error_statement = panic;
CREATE OR REPLACE FUNCTION _auth_token_peek(vendor text, config jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_auth_token_peek' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION _auth_token_put(text, jsonb, text, int) IS
    'test hook: caches an auth token for a vendor config, valid for ttl_seconds';

REVOKE EXECUTE ON FUNCTION push_vendor_test(text, text, text, jsonb, text, text),
    _engine_send_many(text, text, text[], jsonb, text, text),
    _auth_token_put(text, jsonb, text, int), _auth_token_peek(text, jsonb)
    FROM PUBLIC;
