-- Vendor credential crypto (src/jwt.c): the private-key check push_vendor_set runs. The senders
-- call the C functions directly; the SQL faces of JWT signing, HMAC and base64url are for the
-- tests only (the pushplan_test extension, test/modules/pushplan_test).


-- Not strict: NULL means "no problem", so a NULL key must not return it.
CREATE OR REPLACE FUNCTION _pem_key_check(pem text, kind text) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_pem_key_check' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION _pem_key_check(text, text) IS
    'NULL when pem is an unencrypted private key of kind ec_p256 (APNs) or rsa (FCM), else the coded reason';


REVOKE EXECUTE ON FUNCTION _pem_key_check(text, text) FROM PUBLIC;
