-- The delivery engine's SQL face (src/engine_sql.c): a real test send for operators. The
-- faces the tests drive the engine and the token cache with are in the pushplan_test extension
-- (test/modules/pushplan_test).

CREATE OR REPLACE FUNCTION push_vendor_test(app text, vendor text, token text, push jsonb,
                                 platform text DEFAULT NULL, language text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_vendor_test'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pushplan, pg_temp
SET log_min_error_statement = panic;  -- a failing call's statement (a device token) stays out of the log
COMMENT ON FUNCTION push_vendor_test(text, text, text, jsonb, text, text) IS
    'sends one push to one device token with the app''s vendor config now, and returns the outcome: {"outcome": "sent"|"retry"|"invalid_token"|"failed", "http_status", "retry_after_ms", "error", "vendor_message_id"}';


REVOKE EXECUTE ON FUNCTION push_vendor_test(text, text, text, jsonb, text, text) FROM PUBLIC;
