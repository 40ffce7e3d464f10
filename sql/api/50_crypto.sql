-- Vendor credential crypto (src/jwt.c): JWT signing, HMAC, base64url, private-key checks.
-- Internal: the senders call the C functions directly; these SQL faces are for tests and for
-- operators checking a credential, so nobody but superusers may run them by default.

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

-- Not strict: NULL means "no problem", so a NULL key must not return it.
CREATE OR REPLACE FUNCTION _pem_key_check(pem text, kind text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_pem_key_check' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION _pem_key_check(text, text) IS
    'NULL when pem is an unencrypted private key of kind ec_p256 (APNs) or rsa (FCM), else the coded reason';

CREATE OR REPLACE FUNCTION _base64url_encode(data bytea) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_base64url_encode' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION _base64url_decode(data text) RETURNS bytea
AS 'MODULE_PATHNAME', 'pushplan_base64url_decode' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

REVOKE EXECUTE ON FUNCTION _jwt_es256(text, text, text, bigint),
    _jwt_rs256(text, text, text, text, text, bigint, bigint),
    _hmac_sha256_hex(text, text), _hmac_sha256_hex(bytea, bytea),
    _pem_key_check(text, text), _base64url_encode(bytea), _base64url_decode(text)
    FROM PUBLIC;
