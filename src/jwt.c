/*
 * jwt.c: vendor credential crypto with OpenSSL 3 EVP.
 *
 * - ES256 JWTs (APNs provider tokens, signed with the team's .p8 EC P-256 key; the JWS
 *   signature is the raw r||s pair, not OpenSSL's DER ECDSA-Sig-Value);
 * - VAPID JWTs (RFC 8292: Web Push, ES256 with the app's VAPID key, claims aud, exp, sub);
 * - RS256 JWTs (the assertion Google's OAuth 2.0 token endpoint exchanges for an FCM access
 *   token, signed with the service account's RSA key);
 * - HMAC-SHA256 (webhook signatures), base64url, and checks that a PEM text holds the kind of
 *   private key a vendor needs.
 *
 * Memory: every OpenSSL object is freed, and the OpenSSL error queue cleared, before an error is
 * raised (PG_FINALLY where palloc or ereport can run while objects are held), so a worker that
 * signs in a loop stays flat and libcurl's TLS in the same process never sees our stale errors.
 * Results are palloc'd in CurrentMemoryContext.
 */
#include "pushplan.h"

#include <limits.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "jwt.h"

/* Room for a key problem's text: the longest names a key type or curve. */
#define PP_WHY_LEN 160

/* RFC 7518 3.3: a key of size 2048 bits or larger MUST be used with RS256. */
#define PP_RSA_MIN_BITS 2048

/* ES256 (RFC 7518 3.4): R and S as 32-byte big-endian unsigned integers. */
#define PP_ES256_HALF 32

static const char pp_b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Raises an OpenSSL failure that no input can cause (allocation, provider missing). */
static void
pp_openssl_failed(const char *what)
{
	unsigned long e = ERR_get_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	ereport(ERROR,
			(pp_errmsg(PPE_OPENSSL_FAILED, "OpenSSL failed in %s", what),
			 reason ? errdetail("%s", reason) : 0));
}

/* ---- base64url ------------------------------------------------------------------------- */

char *
pp_base64url_encode(const unsigned char *data, size_t len)
{
	size_t		cap = 4 * ((len + 2) / 3) + 1;
	unsigned char *out;
	int			n;

	/* palloc rejects cap > MaxAllocSize, so len fits EVP_EncodeBlock's int from here on. */
	out = palloc(cap);
	n = len ? EVP_EncodeBlock(out, data, (int) len) : 0;
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (int i = 0; i < n; i++)
	{
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return (char *) out;
}

/* The 6-bit value of a base64url character, or -1. */
static int
pp_b64url_value(char c)
{
	const char *p = (c != '\0') ? strchr(pp_b64url_alphabet, c) : NULL;

	return p ? (int) (p - pp_b64url_alphabet) : -1;
}

unsigned char *
pp_base64url_decode(const char *text, size_t len, size_t *outlen)
{
	size_t		rem = len % 4;
	size_t		pad = rem ? 4 - rem : 0;
	char	   *std;
	unsigned char *out;
	int			n;

	*outlen = 0;
	if (rem == 1)
		return NULL;			/* 6 bits cannot make a byte */
	for (size_t i = 0; i < len; i++)
		if (pp_b64url_value(text[i]) < 0)
			return NULL;
	/* Canonical form only: the bits after the last whole byte must be zero. */
	if (rem == 2 && (pp_b64url_value(text[len - 1]) & 0x0F) != 0)
		return NULL;
	if (rem == 3 && (pp_b64url_value(text[len - 1]) & 0x03) != 0)
		return NULL;
	if (len == 0)
		return palloc(1);

	std = palloc(len + pad + 1);
	for (size_t i = 0; i < len; i++)
		std[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
	memset(std + len, '=', pad);
	std[len + pad] = '\0';

	out = palloc((len + pad) / 4 * 3 + 1);
	n = EVP_DecodeBlock(out, (unsigned char *) std, (int) (len + pad));
	pfree(std);
	if (n < 0 || (size_t) n < pad)
		return NULL;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	*outlen = (size_t) n - pad;
	return out;
}

/* ---- private keys ---------------------------------------------------------------------- */

/*
 * Passphrase callback: we never have a passphrase (and OpenSSL's default would prompt on the
 * server's terminal).  Being asked tells us the key is encrypted.
 */
static int
pp_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	*(bool *) u = true;
	return -1;
}

/*
 * Parses pem and checks it is a private key of the kind.  Returns the key (the caller frees
 * it), or NULL with the reason in why.  Holds no OpenSSL object and raises nothing but
 * out-of-memory on return.
 */
static EVP_PKEY *
pp_read_key(const char *pem, PpKeyKind kind, char *why, size_t whylen)
{
	size_t		len = strlen(pem);
	BIO		   *bio;
	EVP_PKEY   *pkey;
	bool		encrypted = false;
	const char *type;
	char		group[64];

	ERR_clear_error();
	why[0] = '\0';
	if (len > INT_MAX)
		len = 0;				/* no key is that long; read nothing */
	bio = BIO_new_mem_buf(pem, (int) len);
	if (bio == NULL)
		pp_openssl_failed("BIO_new_mem_buf");
	pkey = PEM_read_bio_PrivateKey(bio, NULL, pp_no_passphrase, &encrypted);
	BIO_free(bio);
	ERR_clear_error();

	if (pkey == NULL)
	{
		if (encrypted)
			snprintf(why, whylen, PP_CODE(PPE_KEY_ENCRYPTED)
								  ": private key is encrypted; give it without a passphrase");
		else
			snprintf(why, whylen, PP_CODE(PPE_KEY_NOT_PEM)
								  ": private key is not a PEM private key");
		return NULL;
	}

	type = EVP_PKEY_get0_type_name(pkey);
	if (type == NULL)
		type = "unknown";
	if (kind == PP_KEY_EC_P256)
	{
		if (!EVP_PKEY_is_a(pkey, "EC"))
			snprintf(why, whylen, PP_CODE(PPE_KEY_NOT_EC)
								  ": private key type is %s, not EC P-256", type);
		else if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1)
			snprintf(why, whylen, PP_CODE(PPE_KEY_CURVE)
								  ": EC private key is not on a named curve, not P-256");
		else if (strcmp(group, SN_X9_62_prime256v1) != 0 &&
				 EC_curve_nist2nid(group) != NID_X9_62_prime256v1)
			snprintf(why, whylen, PP_CODE(PPE_KEY_CURVE)
								  ": EC private key is on curve %s, not P-256", group);
	}
	else
	{
		int			bits;

		if (!EVP_PKEY_is_a(pkey, "RSA"))
			snprintf(why, whylen, PP_CODE(PPE_KEY_NOT_RSA)
								  ": private key type is %s, not RSA", type);
		else if ((bits = EVP_PKEY_get_bits(pkey)) < PP_RSA_MIN_BITS)
			snprintf(why, whylen,
					 PP_CODE(PPE_KEY_RSA_TOO_SHORT) ": RSA private key has %d bits; RS256 needs at least %d",
					 bits, PP_RSA_MIN_BITS);
	}
	ERR_clear_error();
	if (why[0] != '\0')
	{
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

char *
pp_pem_key_problem(const char *pem, PpKeyKind kind)
{
	char		why[PP_WHY_LEN];
	EVP_PKEY   *pkey = pp_read_key(pem, kind, why, sizeof(why));

	if (pkey == NULL)
		return pstrdup(why);
	EVP_PKEY_free(pkey);
	return NULL;
}

bool
pp_pem_is_ec_p256_private_key(const char *pem, char **why)
{
	char	   *problem = pp_pem_key_problem(pem, PP_KEY_EC_P256);

	if (why)
		*why = problem;
	return problem == NULL;
}

bool
pp_pem_is_rsa_private_key(const char *pem, char **why)
{
	char	   *problem = pp_pem_key_problem(pem, PP_KEY_RSA);

	if (why)
		*why = problem;
	return problem == NULL;
}

/* ---- JWS ------------------------------------------------------------------------------- */

/*
 * Signs base64url(header) "." base64url(claims) with SHA-256 and the key of the kind, and
 * returns the compact JWS.  ES256 converts OpenSSL's DER signature to raw r||s.  pss (RSA
 * only): RSASSA-PSS as JWS PS256 (RFC 7518 3.5: MGF1 with SHA-256, salt as long as the hash).
 */
static char *
pp_jws_sign(const char *pem, PpKeyKind kind, bool pss, const char *header, const char *claims)
{
	StringInfoData jws;
	char		why[PP_WHY_LEN];
	char	   *part;
	char	   *volatile sigtext = NULL;
	EVP_PKEY   *volatile pkey;
	EVP_MD_CTX *volatile mdctx = NULL;
	ECDSA_SIG  *volatile esig = NULL;

	initStringInfo(&jws);
	part = pp_base64url_encode((const unsigned char *) header, strlen(header));
	appendStringInfoString(&jws, part);
	pfree(part);
	appendStringInfoChar(&jws, '.');
	part = pp_base64url_encode((const unsigned char *) claims, strlen(claims));
	appendStringInfoString(&jws, part);
	pfree(part);

	pkey = pp_read_key(pem, kind, why, sizeof(why));
	if (pkey == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", why)));

	PG_TRY();
	{
		unsigned char *sig;
		size_t		siglen;
		unsigned char raw[2 * PP_ES256_HALF];
		EVP_PKEY_CTX *pctx = NULL;

		mdctx = EVP_MD_CTX_new();
		if (mdctx == NULL ||
			EVP_DigestSignInit_ex(mdctx, &pctx, "SHA256", NULL, NULL, pkey, NULL) != 1 ||
			(pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
					 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) ||
			EVP_DigestSign(mdctx, NULL, &siglen,
						   (const unsigned char *) jws.data, jws.len) != 1)
			pp_openssl_failed("EVP_DigestSignInit");
		sig = palloc(siglen);
		if (EVP_DigestSign(mdctx, sig, &siglen,
						   (const unsigned char *) jws.data, jws.len) != 1)
			pp_openssl_failed("EVP_DigestSign");

		if (kind == PP_KEY_EC_P256)
		{
			const unsigned char *p = sig;
			const BIGNUM *r;
			const BIGNUM *s;

			esig = d2i_ECDSA_SIG(NULL, &p, (long) siglen);
			if (esig == NULL)
				pp_openssl_failed("d2i_ECDSA_SIG");
			ECDSA_SIG_get0(esig, &r, &s);
			if (BN_bn2binpad(r, raw, PP_ES256_HALF) != PP_ES256_HALF ||
				BN_bn2binpad(s, raw + PP_ES256_HALF, PP_ES256_HALF) != PP_ES256_HALF)
				pp_openssl_failed("BN_bn2binpad");
			sigtext = pp_base64url_encode(raw, sizeof(raw));
		}
		else
			sigtext = pp_base64url_encode(sig, siglen);
		pfree(sig);
	}
	PG_FINALLY();
	{
		ECDSA_SIG_free(esig);
		EVP_MD_CTX_free(mdctx);
		EVP_PKEY_free(pkey);
		ERR_clear_error();
	}
	PG_END_TRY();

	appendStringInfoChar(&jws, '.');
	appendStringInfoString(&jws, sigtext);
	pfree(sigtext);
	return jws.data;
}

char *
pp_jwt_es256(const char *pem_private_key, const char *kid, const char *iss, int64 iat)
{
	StringInfoData header;
	StringInfoData claims;
	char	   *jwt;

	initStringInfo(&header);
	appendStringInfoString(&header, "{\"alg\":\"ES256\",\"kid\":");
	escape_json(&header, kid);
	appendStringInfoChar(&header, '}');

	initStringInfo(&claims);
	appendStringInfoString(&claims, "{\"iss\":");
	escape_json(&claims, iss);
	appendStringInfo(&claims, ",\"iat\":" INT64_FORMAT "}", iat);

	jwt = pp_jws_sign(pem_private_key, PP_KEY_EC_P256, false, header.data, claims.data);
	pfree(header.data);
	pfree(claims.data);
	return jwt;
}

char *
pp_jwt_vapid(const char *pem_private_key, const char *aud, int64 exp, const char *sub)
{
	StringInfoData claims;
	char	   *jwt;

	initStringInfo(&claims);
	appendStringInfoString(&claims, "{\"aud\":");
	escape_json(&claims, aud);
	appendStringInfo(&claims, ",\"exp\":" INT64_FORMAT ",\"sub\":", exp);
	escape_json(&claims, sub);
	appendStringInfoChar(&claims, '}');
	jwt = pp_jws_sign(pem_private_key, PP_KEY_EC_P256, false, "{\"typ\":\"JWT\",\"alg\":\"ES256\"}",
					  claims.data);
	pfree(claims.data);
	return jwt;
}

char *
pp_jwt_rs256(const char *pem_private_key, const char *kid, const char *iss,
			 const char *scope, const char *aud, int64 iat, int64 exp)
{
	StringInfoData header;
	StringInfoData claims;
	char	   *jwt;

	if (exp <= iat)
		pp_error(PPE_JWT_EXP_INVALID, "exp must be later than iat");

	initStringInfo(&header);
	appendStringInfoString(&header, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
	if (kid != NULL)
	{
		appendStringInfoString(&header, ",\"kid\":");
		escape_json(&header, kid);
	}
	appendStringInfoChar(&header, '}');

	initStringInfo(&claims);
	appendStringInfoString(&claims, "{\"iss\":");
	escape_json(&claims, iss);
	appendStringInfoString(&claims, ",\"scope\":");
	escape_json(&claims, scope);
	appendStringInfoString(&claims, ",\"aud\":");
	escape_json(&claims, aud);
	appendStringInfo(&claims, ",\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT "}", iat, exp);

	jwt = pp_jws_sign(pem_private_key, PP_KEY_RSA, false, header.data, claims.data);
	pfree(header.data);
	pfree(claims.data);
	return jwt;
}

/* s as a JSON string, quoted and escaped */
static char *
pp_json_quoted(const char *s)
{
	StringInfoData b;

	initStringInfo(&b);
	escape_json(&b, s);
	return b.data;
}

char *
pp_jwt_ps256(const char *pem_private_key, const char *kid, const char *iss, const char *aud,
			 int64 iat, int64 exp)
{
	char	   *header;
	char	   *claims;
	char	   *jwt;

	if (exp <= iat)
		pp_error(PPE_JWT_EXP_INVALID, "exp must be later than iat");
	header = psprintf("{\"kid\":%s,\"typ\":\"JWT\",\"alg\":\"PS256\"}", pp_json_quoted(kid));
	claims = psprintf("{\"aud\":%s,\"iss\":%s,\"exp\":" INT64_FORMAT ",\"iat\":" INT64_FORMAT "}",
					  pp_json_quoted(aud), pp_json_quoted(iss), exp, iat);
	jwt = pp_jws_sign(pem_private_key, PP_KEY_RSA, true, header, claims);
	pfree(header);
	pfree(claims);
	return jwt;
}

/* ---- HMAC ------------------------------------------------------------------------------ */

void
pp_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
			   unsigned char out[32])
{
	size_t		outlen = 0;

	ERR_clear_error();
	/* A NULL key would mean "keep the previous key" to EVP_MAC; an empty one is "". */
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, keylen ? key : "", keylen,
				  data, len, out, 32, &outlen) == NULL || outlen != 32)
		pp_openssl_failed("EVP_Q_mac");
}

char *
pp_hmac_sha256_hex(const char *key, const char *data, size_t len)
{
	unsigned char mac[32];
	char	   *hex = palloc(2 * sizeof(mac) + 1);

	pp_hmac_sha256(key, strlen(key), data, len, mac);
	hex_encode((const char *) mac, sizeof(mac), hex);
	hex[2 * sizeof(mac)] = '\0';
	return hex;
}

char *
pp_webhook_signature_header(const char *secret, const char *body, size_t len)
{
	return psprintf("x-pushplan-signature: sha256=%s", pp_hmac_sha256_hex(secret, body, len));
}

char *
pp_md5_hex(const void *data, size_t len)
{
	static EVP_MD *md5 = NULL;
	unsigned char md[16];
	unsigned int mdlen = 0;
	char	   *hex = palloc(2 * sizeof(md) + 1);

	if (md5 == NULL)
		md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	if (md5 == NULL || EVP_Digest(data, len, md, &mdlen, md5, NULL) != 1 || mdlen != 16)
	{
		ERR_clear_error();
		pp_error(PPE_OPENSSL_FAILED, "MD5 is not available from OpenSSL");
	}
	hex_encode((const char *) md, sizeof(md), hex);
	hex[2 * sizeof(md)] = '\0';
	return hex;
}

/* ---- SQL functions (internal, for tests and operators; see sql/api/50_crypto.sql) ----------- */

PG_FUNCTION_INFO_V1(pushplan_jwt_es256);
Datum
pushplan_jwt_es256(PG_FUNCTION_ARGS)
{
	char	   *jwt = pp_jwt_es256(text_to_cstring(PG_GETARG_TEXT_PP(0)),
								   text_to_cstring(PG_GETARG_TEXT_PP(1)),
								   text_to_cstring(PG_GETARG_TEXT_PP(2)),
								   PG_GETARG_INT64(3));

	PG_RETURN_TEXT_P(cstring_to_text(jwt));
}

/* Not strict: kid may be NULL (omitted); any other NULL gives NULL. */
PG_FUNCTION_INFO_V1(pushplan_jwt_rs256);
Datum
pushplan_jwt_rs256(PG_FUNCTION_ARGS)
{
	char	   *jwt;

	for (int i = 0; i < 7; i++)
		if (i != 1 && PG_ARGISNULL(i))
			PG_RETURN_NULL();
	jwt = pp_jwt_rs256(text_to_cstring(PG_GETARG_TEXT_PP(0)),
					   PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)),
					   text_to_cstring(PG_GETARG_TEXT_PP(2)),
					   text_to_cstring(PG_GETARG_TEXT_PP(3)),
					   text_to_cstring(PG_GETARG_TEXT_PP(4)),
					   PG_GETARG_INT64(5), PG_GETARG_INT64(6));
	PG_RETURN_TEXT_P(cstring_to_text(jwt));
}

PG_FUNCTION_INFO_V1(pushplan_hmac_sha256_hex);
Datum
pushplan_hmac_sha256_hex(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	text	   *data = PG_GETARG_TEXT_PP(1);
	unsigned char mac[32];
	char		hex[2 * sizeof(mac) + 1];

	pp_hmac_sha256(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
				   VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), mac);
	hex_encode((const char *) mac, sizeof(mac), hex);
	hex[2 * sizeof(mac)] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/* Not strict: a NULL pem is no key (NULL would read as "no problem"). */
PG_FUNCTION_INFO_V1(pushplan_pem_key_check);
Datum
pushplan_pem_key_check(PG_FUNCTION_ARGS)
{
	char	   *pem = PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *kind = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *problem;

	if (kind != NULL && strcmp(kind, "ec_p256") == 0)
		problem = pp_pem_key_problem(pem, PP_KEY_EC_P256);
	else if (kind != NULL && strcmp(kind, "rsa") == 0)
		problem = pp_pem_key_problem(pem, PP_KEY_RSA);
	else
		pp_error(PPE_KEY_KIND_UNKNOWN, "key kind must be \"ec_p256\" or \"rsa\"");
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

PG_FUNCTION_INFO_V1(pushplan_base64url_encode);
Datum
pushplan_base64url_encode(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(pp_base64url_encode((unsigned char *) VARDATA_ANY(data),
														 VARSIZE_ANY_EXHDR(data))));
}

PG_FUNCTION_INFO_V1(pushplan_base64url_decode);
Datum
pushplan_base64url_decode(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	size_t		len;
	unsigned char *out = pp_base64url_decode(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), &len);
	bytea	   *result;

	if (out == NULL)
		pp_error(PPE_BASE64URL_INVALID, "invalid base64url text");
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), out, len);
	PG_RETURN_BYTEA_P(result);
}

/*
 * SHA-256 with the digest fetched once: EVP_sha256() in EVP_Digest makes OpenSSL 3 look the
 * algorithm up again on every call, which showed in the senders' profile (one call a request).
 */
bool
pp_sha256(const void *data, size_t len, unsigned char *md)
{
	static EVP_MD *sha256 = NULL;
	unsigned int mdlen = 0;

	if (sha256 == NULL)
		sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (sha256 == NULL)
		return false;
	return EVP_Digest(data, len, md, &mdlen, sha256, NULL) == 1 && mdlen == 32;
}
