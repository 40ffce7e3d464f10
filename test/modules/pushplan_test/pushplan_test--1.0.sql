-- pushplan_test: the SQL faces the regression and integration tests drive pushplan's C with
-- (the engine, the token cache, the crypto). Not part of the production extension: make test
-- installs it, make install does not. Their C lives in the pushplan library.
\echo Use "CREATE EXTENSION pushplan_test" to load this file. \quit

CREATE OR REPLACE FUNCTION _jwt_es256(private_key text, kid text, iss text, iat bigint) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_jwt_es256' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _jwt_es256(text, text, text, bigint) IS
    'APNs provider token: ES256 JWT {"alg":"ES256","kid":kid}.{"iss":iss,"iat":iat} signed with the .p8 key';

-- Not strict: kid may be NULL (no "kid" in the header); any other NULL gives NULL.
CREATE OR REPLACE FUNCTION _jwt_rs256(private_key text, kid text, iss text, scope text, aud text,
                           iat bigint, exp bigint) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_jwt_rs256' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION _jwt_rs256(text, text, text, text, text, bigint, bigint) IS
    'Google OAuth 2.0 service-account assertion: RS256 JWT signed with the service account''s RSA key';

CREATE OR REPLACE FUNCTION _hmac_sha256_hex(key text, data text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_hmac_sha256_hex' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION _hmac_sha256_hex(key bytea, data bytea) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_hmac_sha256_hex' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _hmac_sha256_hex(text, text) IS
    'HMAC-SHA256 in lowercase hex, as in the webhook header X-Pushplan-Signature: sha256=<hex>';

CREATE OR REPLACE FUNCTION _base64url_encode(data bytea) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_base64url_encode' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION _base64url_decode(data text) RETURNS bytea
AS 'MODULE_PATHNAME', 'pushplan_base64url_decode' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

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

-- Web Push (src/webpush_crypto.c): the aes128gcm body of a message, with RFC 8291 Appendix A's
-- fixed salt and key pair when given (random ones when NULL), and the encryption benchmark.
CREATE OR REPLACE FUNCTION _webpush_encrypt(plaintext bytea, p256dh text, auth text,
                                            salt text DEFAULT NULL, as_private text DEFAULT NULL,
                                            as_public text DEFAULT NULL) RETURNS bytea
AS 'MODULE_PATHNAME', 'pushplan_webpush_encrypt' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION _webpush_encrypt(bytea, text, text, text, text, text) IS
    'Web Push message encryption (RFC 8291, aes128gcm, one 4096-byte record): salt || rs || idlen || as_public || ciphertext || tag';
CREATE OR REPLACE FUNCTION _webpush_encrypt_bench(n int, bytes int) RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_webpush_encrypt_bench' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION _webpush_encrypt_bench(int, int) IS
    'encrypts n messages of bytes bytes as a send does (new key pair and salt each): messages per CPU second and per second';

CREATE OR REPLACE FUNCTION _clock_set(at timestamptz) RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pushplan_clock_set' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION _clock_set(timestamptz) IS
    'test hook: moves pushplan''s clock (pushplan.clock_now()) forward to at, or back to the real time (NULL), and wakes the workers';

-- Templates (src/template_sql.c, doc/templates.md)
CREATE OR REPLACE FUNCTION _template_render(template text, attrs jsonb DEFAULT '{}',
                                            account text DEFAULT NULL,
                                            missing_attribute text DEFAULT 'default',
                                            OUT rendered text, OUT missing text)
AS 'MODULE_PATHNAME', 'pushplan_template_render' LANGUAGE C STABLE;
COMMENT ON FUNCTION _template_render(text, jsonb, text, text) IS
    'one template rendered for one device''s attributes and account; missing: the attribute that stopped it (skip or fail)';

CREATE OR REPLACE FUNCTION _push_render(push jsonb, attrs jsonb DEFAULT '{}', account text DEFAULT NULL,
                                        language text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_push_render' LANGUAGE C STABLE;
COMMENT ON FUNCTION _push_render(jsonb, jsonb, text, text) IS
    'a push (any dialect) rendered for one device as a sender would; {"missing", "policy"} when it is not sent';

CREATE OR REPLACE FUNCTION _template_bench(push jsonb, devices int) RETURNS jsonb
AS 'MODULE_PATHNAME', 'pushplan_template_bench' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION _template_bench(jsonb, int) IS
    'renders of a templated push per second over made-up devices (make bench)';

REVOKE EXECUTE ON FUNCTION _jwt_es256(text, text, text, bigint), _clock_set(timestamptz),
    _jwt_rs256(text, text, text, text, text, bigint, bigint),
    _hmac_sha256_hex(text, text), _hmac_sha256_hex(bytea, bytea),
    _base64url_encode(bytea), _base64url_decode(text),
    _engine_send_many(text, text, text[], jsonb, text, text),
    _vendor_payload(text, jsonb, text, text, jsonb, text), _message_check(jsonb),
    _auth_token_put(text, jsonb, text, int), _auth_token_peek(text, jsonb),
    _webpush_encrypt(bytea, text, text, text, text, text), _webpush_encrypt_bench(int, int),
    _template_render(text, jsonb, text, text), _push_render(jsonb, jsonb, text, text),
    _template_bench(jsonb, int)
    FROM PUBLIC;
