/*
 * webpush_crypto.c: Web Push message encryption and VAPID keys, with OpenSSL 3.
 *
 * Encryption (RFC 8291 section 3, RFC 8188 aes128gcm), one record per message:
 *   ecdh_secret = ECDH(as_private, ua_public), with a new P-256 key pair per message
 *   IKM   = HKDF(salt = auth, ikm = ecdh_secret, info = "WebPush: info" 0 ua_public as_public, 32)
 *   CEK   = HKDF(salt, IKM, "Content-Encoding: aes128gcm" 0, 16)
 *   NONCE = HKDF(salt, IKM, "Content-Encoding: nonce" 0, 12)
 *   body  = salt || rs (4096) || 65 || as_public || AES-128-GCM(CEK, NONCE, plaintext || 0x02) || tag
 * Each HKDF here has one output block, so extract and expand are one HMAC-SHA256 each (RFC
 * 5869): five HMACs in all.  The HMAC and the cipher are fetched once per process and reused:
 * OpenSSL 3 looks an algorithm up again on every implicit fetch, which costs as much as the
 * HMACs themselves.
 *
 * The message's key pair and the ECDH are OpenSSL's P-256 point multiplications on one group
 * kept for the process (EC_POINT_mul, as OpenSSL's own EC key generation and ECDH call it: a
 * private scalar drawn by BN_priv_rand_range in [1, n), constant-time flag set; the shared
 * secret the x coordinate of that scalar times the subscription's point). Through EVP each
 * message made three keys, each with a P-256 group built from its name, and two contexts: a
 * quarter of a message's cost (doc/benchmarks.md, "Web Push encryption"). The subscription's
 * point is checked on the curve when it is read (EC_POINT_is_on_curve; P-256's cofactor is 1, so
 * that is the whole check).
 */
#include "pushplan.h"

#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "fmgr.h"
#include "miscadmin.h"

#include "json.h"
#include "jwt.h"
#include "webpush_crypto.h"

static EVP_PKEY_CTX *wp_keygen = NULL;	/* P-256 key pairs (the benchmark's subscription) */
static EC_GROUP *wp_group = NULL;	/* P-256 */
static BN_CTX *wp_bn = NULL;
static BIGNUM *wp_scalar = NULL;	/* the message's private key, cleared after each */
static BIGNUM *wp_x = NULL;			/* the shared point's x coordinate */
static EC_POINT *wp_as_point = NULL;	/* the message's public key */
static EC_POINT *wp_ua_point = NULL;	/* the subscription's */
static EC_POINT *wp_shared = NULL;
static EVP_MAC_CTX *wp_hmac = NULL;		/* HMAC-SHA256 */
static EVP_CIPHER *wp_aes = NULL;		/* AES-128-GCM */
static EVP_CIPHER_CTX *wp_cipher = NULL;

static const char wp_key_info[] = "WebPush: info";	/* with its NUL */
static const char wp_cek_info[] = "Content-Encoding: aes128gcm";
static const char wp_nonce_info[] = "Content-Encoding: nonce";

/* The process's reusable OpenSSL objects; false if OpenSSL cannot make them. */
static bool
wp_init(void)
{
	if (wp_cipher)
		return true;
	if (wp_keygen == NULL)
	{
		OSSL_PARAM	p[2] = {
			OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
			OSSL_PARAM_END
		};

		wp_keygen = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (wp_keygen == NULL || EVP_PKEY_keygen_init(wp_keygen) != 1 ||
			EVP_PKEY_CTX_set_params(wp_keygen, p) != 1)
		{
			EVP_PKEY_CTX_free(wp_keygen);
			wp_keygen = NULL;
			return false;
		}
	}
	if (wp_hmac == NULL)
	{
		EVP_MAC   *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		OSSL_PARAM	p[2] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			OSSL_PARAM_END
		};

		wp_hmac = mac ? EVP_MAC_CTX_new(mac) : NULL;
		EVP_MAC_free(mac);		/* the context keeps its own reference */
		if (wp_hmac == NULL || EVP_MAC_CTX_set_params(wp_hmac, p) != 1)
		{
			EVP_MAC_CTX_free(wp_hmac);
			wp_hmac = NULL;
			return false;
		}
	}
	if (wp_group == NULL)
	{
		EC_GROUP   *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);

		wp_bn = wp_bn ? wp_bn : BN_CTX_secure_new();
		wp_scalar = wp_scalar ? wp_scalar : BN_secure_new();
		wp_x = wp_x ? wp_x : BN_secure_new();
		if (g == NULL || wp_bn == NULL || wp_scalar == NULL || wp_x == NULL ||
			(wp_as_point = EC_POINT_new(g)) == NULL || (wp_ua_point = EC_POINT_new(g)) == NULL ||
			(wp_shared = EC_POINT_new(g)) == NULL)
		{
			EC_POINT_free(wp_as_point);
			EC_POINT_free(wp_ua_point);
			EC_POINT_free(wp_shared);
			wp_as_point = wp_ua_point = wp_shared = NULL;
			EC_GROUP_free(g);
			return false;
		}
		BN_set_flags(wp_scalar, BN_FLG_CONSTTIME);
		wp_group = g;
	}
	if (wp_aes == NULL && (wp_aes = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL)) == NULL)
		return false;
	wp_cipher = EVP_CIPHER_CTX_new();
	return wp_cipher != NULL;
}

/* HMAC-SHA256(key, a || b) into out (32 bytes). */
static bool
wp_hmac2(const unsigned char *key, size_t keylen, const void *a, size_t alen,
		 const void *b, size_t blen, unsigned char *out)
{
	size_t		outlen = 0;

	return EVP_MAC_init(wp_hmac, key, keylen, NULL) == 1 &&
		EVP_MAC_update(wp_hmac, a, alen) == 1 &&
		(blen == 0 || EVP_MAC_update(wp_hmac, b, blen) == 1) &&
		EVP_MAC_final(wp_hmac, out, &outlen, 32) == 1 && outlen == 32;
}

/* Reads an uncompressed P-256 point into p; false unless it is one on the curve. */
static bool
wp_read_point(const unsigned char *point, size_t len, EC_POINT *p)
{
	return len == PP_WP_POINT_LEN && point[0] == 0x04 &&
		EC_POINT_oct2point(wp_group, p, point, len, wp_bn) == 1 &&
		EC_POINT_is_on_curve(wp_group, p, wp_bn) == 1;
}

/* A P-256 key pair from a raw private scalar and its public point (a VAPID key). */
static EVP_PKEY *
wp_key_from_raw(const unsigned char *priv, const unsigned char *pub, size_t publen)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM	   *d = BN_bin2bn(priv, PP_WP_PRIVATE_LEN, NULL);
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY   *k = NULL;

	if (bld && d &&
		OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) == 1 &&
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) == 1 &&
		OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, publen) == 1 &&
		(params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
		(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
		EVP_PKEY_fromdata_init(ctx) == 1)
	{
		if (EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) != 1)
			k = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	BN_clear_free(d);
	OSSL_PARAM_BLD_free(bld);
	return k;
}

bool
pp_webpush_point_valid(const unsigned char *point, size_t len)
{
	bool		ok;

	if (!wp_init())
	{
		ERR_clear_error();
		return false;
	}
	ok = wp_read_point(point, len, wp_ua_point);
	ERR_clear_error();
	return ok;
}

bool
pp_webpush_encrypt(const unsigned char *plaintext, size_t len, const unsigned char *ua_public,
				   const unsigned char *auth, const unsigned char *salt_in,
				   const unsigned char *as_private, const unsigned char *as_public_in,
				   StringInfo out, const char **why)
{
	unsigned char as_public[PP_WP_POINT_LEN];
	unsigned char salt[PP_WP_SALT_LEN];
	unsigned char secret[32];
	unsigned char prk[32];
	unsigned char ikm[32];
	unsigned char cek[32];
	unsigned char nonce[32];
	unsigned char one = 0x01;
	unsigned char delimiter = 0x02;
	unsigned char *p;
	int			n;
	bool		ok = false;

	*why = NULL;
	if (len > PP_WP_MAX_PLAINTEXT)
	{
		*why = "the payload is larger than one 4096-byte record holds";
		return false;
	}
	if (!wp_init())
	{
		ERR_clear_error();
		*why = "OpenSSL cannot make P-256 keys, HMAC-SHA256 or AES-128-GCM";
		return false;
	}
	enlargeStringInfo(out, PP_WP_HEADER_LEN + len + 1 + 16);

	/* the message's key pair (a scalar in [1, n) and its point), and the salt */
	if (as_private)
	{
		memcpy(as_public, as_public_in, PP_WP_POINT_LEN);
		ok = BN_bin2bn(as_private, PP_WP_PRIVATE_LEN, wp_scalar) != NULL &&
			!BN_is_zero(wp_scalar) && BN_cmp(wp_scalar, EC_GROUP_get0_order(wp_group)) < 0;
	}
	else
	{
		do
			ok = BN_priv_rand_range_ex(wp_scalar, EC_GROUP_get0_order(wp_group), 0, wp_bn) == 1;
		while (ok && BN_is_zero(wp_scalar));
		ok = ok && EC_POINT_mul(wp_group, wp_as_point, wp_scalar, NULL, NULL, wp_bn) == 1 &&
			EC_POINT_point2oct(wp_group, wp_as_point, POINT_CONVERSION_UNCOMPRESSED, as_public,
							   sizeof(as_public), wp_bn) == PP_WP_POINT_LEN;
	}
	if (!ok)
	{
		*why = "OpenSSL failed to make the message's key pair";
		goto done;
	}
	ok = false;
	if (salt_in)
		memcpy(salt, salt_in, sizeof(salt));
	else if (RAND_bytes(salt, sizeof(salt)) != 1)
	{
		*why = "OpenSSL failed to make the message's salt";
		goto done;
	}

	/* ECDH with the subscription's key: the x coordinate of scalar x its point */
	if (!wp_read_point(ua_public, PP_WP_POINT_LEN, wp_ua_point))
	{
		*why = "p256dh is not a P-256 public key";
		goto done;
	}
	if (EC_POINT_mul(wp_group, wp_shared, NULL, wp_ua_point, wp_scalar, wp_bn) != 1 ||
		EC_POINT_get_affine_coordinates(wp_group, wp_shared, wp_x, NULL, wp_bn) != 1 ||
		BN_bn2binpad(wp_x, secret, sizeof(secret)) != sizeof(secret))
	{
		*why = "OpenSSL failed in the ECDH key agreement";
		goto done;
	}

	/* the key schedule: five HMACs (see the file's comment) */
	{
		unsigned char info[sizeof(wp_key_info) + 2 * PP_WP_POINT_LEN + 1];

		memcpy(info, wp_key_info, sizeof(wp_key_info));
		memcpy(info + sizeof(wp_key_info), ua_public, PP_WP_POINT_LEN);
		memcpy(info + sizeof(wp_key_info) + PP_WP_POINT_LEN, as_public, PP_WP_POINT_LEN);
		info[sizeof(info) - 1] = 0x01;
		if (!wp_hmac2(auth, PP_WP_AUTH_LEN, secret, sizeof(secret), NULL, 0, prk) ||
			!wp_hmac2(prk, 32, info, sizeof(info), NULL, 0, ikm) ||
			!wp_hmac2(salt, sizeof(salt), ikm, sizeof(ikm), NULL, 0, prk) ||
			!wp_hmac2(prk, 32, wp_cek_info, sizeof(wp_cek_info), &one, 1, cek) ||
			!wp_hmac2(prk, 32, wp_nonce_info, sizeof(wp_nonce_info), &one, 1, nonce))
		{
			*why = "OpenSSL failed in HMAC-SHA256";
			goto done;
		}
	}

	/* the header, then the one record: plaintext, the last-record delimiter, the tag */
	p = (unsigned char *) out->data + out->len;
	memcpy(p, salt, sizeof(salt));
	p[16] = (PP_WP_RECORD_SIZE >> 24) & 0xff;
	p[17] = (PP_WP_RECORD_SIZE >> 16) & 0xff;
	p[18] = (PP_WP_RECORD_SIZE >> 8) & 0xff;
	p[19] = PP_WP_RECORD_SIZE & 0xff;
	p[20] = PP_WP_POINT_LEN;
	memcpy(p + 21, as_public, PP_WP_POINT_LEN);
	p += PP_WP_HEADER_LEN;
	if (EVP_EncryptInit_ex2(wp_cipher, wp_aes, cek, nonce, NULL) != 1 ||
		EVP_EncryptUpdate(wp_cipher, p, &n, plaintext, (int) len) != 1 || n != (int) len ||
		EVP_EncryptUpdate(wp_cipher, p + len, &n, &delimiter, 1) != 1 || n != 1 ||
		EVP_EncryptFinal_ex(wp_cipher, p + len + 1, &n) != 1 ||
		EVP_CIPHER_CTX_ctrl(wp_cipher, EVP_CTRL_GCM_GET_TAG, 16, p + len + 1) != 1)
	{
		*why = "OpenSSL failed in AES-128-GCM";
		goto done;
	}
	out->len += PP_WP_HEADER_LEN + len + 1 + 16;
	out->data[out->len] = '\0';
	ok = true;

done:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(prk, sizeof(prk));
	OPENSSL_cleanse(ikm, sizeof(ikm));
	OPENSSL_cleanse(cek, sizeof(cek));
	BN_clear(wp_scalar);
	BN_clear(wp_x);
	EC_POINT_set_to_infinity(wp_group, wp_shared);
	ERR_clear_error();
	return ok;
}

/* ---- VAPID keys ------------------------------------------------------------------------- */

static bool
wp_is_pem(const char *s)
{
	return strncmp(s, "-----BEGIN", 10) == 0;
}

/* The raw private key's 32 bytes, or NULL. */
static unsigned char *
wp_raw_private(const char *s)
{
	size_t		n;
	unsigned char *d = pp_base64url_decode(s, strlen(s), &n);

	return d && n == PP_WP_PRIVATE_LEN ? d : NULL;
}

/* The public point of a PEM private key, or false. */
static bool
wp_pem_public(const char *pem, unsigned char *pub)
{
	BIO		   *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY   *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	size_t		n = 0;
	bool		ok;

	ok = k && EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub,
											  PP_WP_POINT_LEN, &n) == 1 && n == PP_WP_POINT_LEN;
	EVP_PKEY_free(k);
	BIO_free(bio);
	ERR_clear_error();
	return ok;
}

char *
pp_vapid_keys_problem(const char *public_b64url, const char *private_key)
{
	size_t		publen;
	unsigned char *pub = pp_base64url_decode(public_b64url, strlen(public_b64url), &publen);
	unsigned char derived[PP_WP_POINT_LEN];
	bool		match;

	if (pub == NULL || !pp_webpush_point_valid(pub, publen))
		return psprintf(PP_CODE(PPE_VAPID_PUBLIC_KEY)
						": vapid_public_key must be a P-256 public key: the 65-byte uncompressed point in base64url");
	if (wp_is_pem(private_key))
	{
		char	   *problem = pp_pem_key_problem(private_key, PP_KEY_EC_P256);

		if (problem)
			return problem;
		match = wp_pem_public(private_key, derived) && memcmp(derived, pub, publen) == 0;
	}
	else
	{
		unsigned char *raw = wp_raw_private(private_key);
		EVP_PKEY   *k;

		if (raw == NULL)
			return psprintf(PP_CODE(PPE_VAPID_PRIVATE_KEY)
							": vapid_private_key must be a P-256 private key: a PEM, or the 32-byte raw key in base64url");
		/* the public key given with it: the pair check says whether it is the private key's */
		k = wp_key_from_raw(raw, pub, publen);
		if (k)
		{
			EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);

			match = c && EVP_PKEY_pairwise_check(c) == 1;
			EVP_PKEY_CTX_free(c);
		}
		else
			match = false;
		EVP_PKEY_free(k);
		ERR_clear_error();
	}
	if (!match)
		return psprintf(PP_CODE(PPE_VAPID_KEY_MISMATCH)
						": vapid_public_key is not the public key of vapid_private_key");
	return NULL;
}

char *
pp_vapid_private_pem(const char *private_key, const char *public_b64url)
{
	unsigned char *raw;
	unsigned char *pub;
	size_t		publen;
	EVP_PKEY   *k;
	BIO		   *bio;
	char	   *pem = NULL;

	if (wp_is_pem(private_key))
		return pstrdup(private_key);
	raw = wp_raw_private(private_key);
	pub = pp_base64url_decode(public_b64url, strlen(public_b64url), &publen);
	if (raw == NULL || pub == NULL)
		return NULL;
	k = wp_key_from_raw(raw, pub, publen);
	bio = k ? BIO_new(BIO_s_mem()) : NULL;
	if (bio && PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) == 1)
	{
		char	   *data;
		long		n = BIO_get_mem_data(bio, &data);

		pem = pnstrdup(data, n);
	}
	BIO_free(bio);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return pem;
}

/* ---- SQL faces for tests and the benchmark (test/modules/pushplan_test) -------------------- */

static unsigned char *
wp_arg_b64url(FunctionCallInfo fcinfo, int argno, size_t want, const char *what)
{
	text	   *t;
	size_t		n;
	unsigned char *d;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	t = PG_GETARG_TEXT_PP(argno);
	d = pp_base64url_decode(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &n);
	if (d == NULL || n != want)
		pp_error(PPE_BASE64URL_INVALID, "%s must be %d bytes in base64url", what, (int) want);
	return d;
}

/*
 * _webpush_encrypt(plaintext bytea, p256dh text, auth text, salt text, as_private text,
 * as_public text) RETURNS bytea: the aes128gcm body; salt and the key pair NULL: random ones.
 */
PG_FUNCTION_INFO_V1(pushplan_webpush_encrypt);
Datum
pushplan_webpush_encrypt(PG_FUNCTION_ARGS)
{
	bytea	   *plain;
	unsigned char *ua = wp_arg_b64url(fcinfo, 1, PP_WP_POINT_LEN, "p256dh");
	unsigned char *auth = wp_arg_b64url(fcinfo, 2, PP_WP_AUTH_LEN, "auth");
	unsigned char *salt = wp_arg_b64url(fcinfo, 3, PP_WP_SALT_LEN, "salt");
	unsigned char *as_priv = wp_arg_b64url(fcinfo, 4, PP_WP_PRIVATE_LEN, "as_private");
	unsigned char *as_pub = wp_arg_b64url(fcinfo, 5, PP_WP_POINT_LEN, "as_public");
	StringInfoData out;
	const char *why;
	bytea	   *result;

	if (PG_ARGISNULL(0) || ua == NULL || auth == NULL)
		pp_error(PPE_ENGINE_ARGS_NULL, "plaintext, p256dh and auth must not be null");
	if ((as_priv == NULL) != (as_pub == NULL))
		pp_error(PPE_ENGINE_ARGS_NULL, "as_private and as_public go together");
	plain = PG_GETARG_BYTEA_PP(0);
	initStringInfo(&out);
	if (!pp_webpush_encrypt((unsigned char *) VARDATA_ANY(plain), VARSIZE_ANY_EXHDR(plain), ua,
							auth, salt, as_priv, as_pub, &out, &why))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("cannot encrypt: %s", why)));
	result = palloc(VARHDRSZ + out.len);
	SET_VARSIZE(result, VARHDRSZ + out.len);
	memcpy(VARDATA(result), out.data, out.len);
	PG_RETURN_BYTEA_P(result);
}

static double
wp_seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * _webpush_encrypt_bench(n int, bytes int) RETURNS jsonb: n messages of `bytes` bytes of
 * plaintext encrypted as a send does (a new key pair and salt each, ECDH, HKDF, AES-128-GCM) to
 * one subscription key: {"messages", "cpu_s", "wall_s", "per_cpu_second", "per_second"}.
 */
PG_FUNCTION_INFO_V1(pushplan_webpush_encrypt_bench);
Datum
pushplan_webpush_encrypt_bench(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	int32		bytes = PG_GETARG_INT32(1);
	unsigned char ua[PP_WP_POINT_LEN];
	unsigned char auth[PP_WP_AUTH_LEN];
	unsigned char *plain;
	EVP_PKEY   *k = NULL;
	size_t		len = 0;
	StringInfoData out;
	const char *why;
	double		cpu0,
				wall0,
				cpu,
				wall;
	PPJsonb		b;

	if (n < 1 || n > 10000000 || bytes < 0 || bytes > PP_WP_MAX_PLAINTEXT)
		pp_error(PPE_ENGINE_ARGS_NULL, "n must be 1 to 10000000 and bytes 0 to %d",
				 PP_WP_MAX_PLAINTEXT);
	if (!wp_init() || EVP_PKEY_keygen(wp_keygen, &k) != 1 ||
		EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, ua, sizeof(ua),
										&len) != 1 || RAND_bytes(auth, sizeof(auth)) != 1)
	{
		EVP_PKEY_free(k);
		ERR_clear_error();
		pp_error(PPE_OPENSSL_FAILED, "OpenSSL failed in making a subscription key");
	}
	EVP_PKEY_free(k);
	plain = palloc(Max(bytes, 1));
	memset(plain, 'x', bytes);
	initStringInfo(&out);
	cpu0 = wp_seconds(CLOCK_PROCESS_CPUTIME_ID);
	wall0 = wp_seconds(CLOCK_MONOTONIC);
	for (int i = 0; i < n; i++)
	{
		resetStringInfo(&out);
		if (!pp_webpush_encrypt(plain, bytes, ua, auth, NULL, NULL, NULL, &out, &why))
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("cannot encrypt: %s", why)));
		CHECK_FOR_INTERRUPTS();
	}
	cpu = wp_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	wall = wp_seconds(CLOCK_MONOTONIC) - wall0;
	pp_jb_begin(&b);
	pp_jb_int(&b, "messages", n);
	pp_jb_int(&b, "bytes", bytes);
	pp_jb_str(&b, "cpu_s", psprintf("%.3f", cpu));
	pp_jb_str(&b, "wall_s", psprintf("%.3f", wall));
	pp_jb_int(&b, "per_cpu_second", (int64) (n / Max(cpu, 1e-9)));
	pp_jb_int(&b, "per_second", (int64) (n / Max(wall, 1e-9)));
	PG_RETURN_JSONB_P(pp_jb_end(&b));
}
