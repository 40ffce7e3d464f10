/*
 * webpush.c: a Web Push service (RFC 8030) with VAPID (RFC 8292) and aes128gcm (RFC 8291,
 * RFC 8188), as a browser vendor's push service answers.
 *
 * Subscriptions are the paths /wp/<seed>: the mock derives the subscription's key pair and
 * auth secret from the seed (below), so it can decrypt what it gets.  GET
 * /_mock/webpush_subscription?seed=<seed> hands a test the subscription a browser would have
 * made (endpoint https://<authority>/wp/<seed>, p256dh, auth).  Faults come from the seed, as
 * from the device tokens of the other vendors, and two of Web Push's own: "vapidrefused" (403,
 * as for a VAPID key that is not the one the browser subscribed with) and "toolarge" (413, as
 * a push service with a lower limit answers).
 *
 * A push that passes every check and no fault is answered 201 with a Location; what it
 * decrypted to is what /_mock/last shows as its body.  Answers are autopush's
 * {"code", "errno", "error", "message"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>

#include "mock.h"

#define WP_MAX_BODY		4096	/* RFC 8030 7.2: what a push service must accept */
#define WP_HEADER		86		/* salt 16, rs 4, idlen 1, key 65 */
#define WP_MAX_EXP		86400	/* RFC 8292 2: exp at most 24 hours ahead */

/* A subscription's keys, derived from its seed. */
typedef struct wp_keys
{
	EVP_PKEY   *key;			/* the user agent's key pair */
	unsigned char pub[65];
	unsigned char auth[16];
} wp_keys;

static void
sha256_of(const char *what, const char *seed, unsigned char out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n;

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, what, strlen(what));
	EVP_DigestUpdate(c, seed, strlen(seed));
	EVP_DigestFinal_ex(c, out, &n);
	EVP_MD_CTX_free(c);
}

/*
 * scalar = SHA-256("pushplan mock webpush key " seed) (mod n: never 0 in practice).  Only the
 * seed's part before its first '.' counts: "demo.1" and "demo.2" are two subscriptions (two
 * endpoints, each with its faults) of one key pair, as the demo's browsers share one.
 */
static bool
wp_derive(const char *full_seed, wp_keys *k)
{
	char		seed[256];
	unsigned char d[32];
	EC_GROUP   *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM	   *bn = BN_new();
	BIGNUM	   *order = BN_new();
	BN_CTX	   *bctx = BN_CTX_new();
	EC_POINT   *p = g ? EC_POINT_new(g) : NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	bool		ok = false;

	memset(k, 0, sizeof(*k));
	snprintf(seed, sizeof(seed), "%.*s", (int) strcspn(full_seed, "."), full_seed);
	sha256_of("pushplan mock webpush key ", seed, d);
	sha256_of("pushplan mock webpush auth ", seed, k->pub);	/* scratch */
	memcpy(k->auth, k->pub, 16);
	if (g && bn && order && bctx && p && bld && BN_bin2bn(d, 32, bn) &&
		EC_GROUP_get_order(g, order, bctx) && BN_mod(bn, bn, order, bctx) && !BN_is_zero(bn) &&
		EC_POINT_mul(g, p, bn, NULL, NULL, bctx) &&
		EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, k->pub, 65, bctx) == 65 &&
		OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) &&
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) &&
		OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, k->pub, 65) &&
		(params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
		(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
		EVP_PKEY_fromdata_init(ctx) == 1 &&
		EVP_PKEY_fromdata(ctx, &k->key, EVP_PKEY_KEYPAIR, params) == 1)
		ok = true;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(p);
	BN_CTX_free(bctx);
	BN_free(order);
	BN_clear_free(bn);
	EC_GROUP_free(g);
	ERR_clear_error();
	return ok;
}

/* A P-256 public key from an uncompressed point, or NULL. */
static EVP_PKEY *
wp_public(const unsigned char *pt, size_t n)
{
	OSSL_PARAM	params[3];
	EVP_PKEY_CTX *ctx;
	EVP_PKEY   *k = NULL;

	if (n != 65 || pt[0] != 0x04)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *) pt, n);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
		EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return k;
}

/* HKDF-SHA256 (RFC 5869) with OpenSSL's KDF: the other side of pushplan's HMAC steps. */
static bool
hkdf(const unsigned char *salt, size_t sl, const unsigned char *ikm, size_t il,
	 const unsigned char *info, size_t nl, unsigned char *out, size_t ol)
{
	EVP_KDF    *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM	p[5];
	bool		ok;

	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) salt, sl);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) ikm, il);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *) info, nl);
	p[4] = OSSL_PARAM_construct_end();
	ok = c && EVP_KDF_derive(c, out, ol, p) == 1;
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(kdf);
	return ok;
}

/*
 * Decrypts an aes128gcm body (one record) for the subscription; the plaintext (malloc'd) or
 * NULL with *why.
 */
static unsigned char *
wp_decrypt(const unsigned char *b, size_t len, const wp_keys *k, size_t *plen, const char **why)
{
	uint32_t	rs;
	EVP_PKEY   *as;
	EVP_PKEY_CTX *dc = NULL;
	EVP_CIPHER_CTX *cc = NULL;
	unsigned char secret[32],
				ikm[32],
				cek[16],
				nonce[12];
	unsigned char info[14 + 65 + 65];
	size_t		slen = sizeof(secret);
	unsigned char *out = NULL;
	int			n,
				m;
	size_t		clen;

	if (len < WP_HEADER + 17)
	{
		*why = "body shorter than a header and one record";
		return NULL;
	}
	rs = ((uint32_t) b[16] << 24) | ((uint32_t) b[17] << 16) | ((uint32_t) b[18] << 8) | b[19];
	clen = len - WP_HEADER;
	if (b[20] != 65 || (as = wp_public(b + 21, 65)) == NULL)
	{
		*why = "keyid is not the sender's P-256 public key";
		return NULL;
	}
	if (rs < 18 || clen > rs)
	{
		EVP_PKEY_free(as);
		*why = "not one record: the body is larger than its record size";
		return NULL;
	}
	memcpy(info, "WebPush: info", 14);
	memcpy(info + 14, k->pub, 65);
	memcpy(info + 79, b + 21, 65);
	if ((dc = EVP_PKEY_CTX_new_from_pkey(NULL, k->key, NULL)) == NULL ||
		EVP_PKEY_derive_init(dc) != 1 || EVP_PKEY_derive_set_peer(dc, as) != 1 ||
		EVP_PKEY_derive(dc, secret, &slen) != 1 ||
		!hkdf(k->auth, 16, secret, 32, info, sizeof(info), ikm, 32) ||
		!hkdf(b, 16, ikm, 32, (const unsigned char *) "Content-Encoding: aes128gcm", 28, cek, 16) ||
		!hkdf(b, 16, ikm, 32, (const unsigned char *) "Content-Encoding: nonce", 24, nonce, 12))
		*why = "key agreement failed";
	else if ((cc = EVP_CIPHER_CTX_new()) == NULL ||
			 (out = malloc(clen)) == NULL ||
			 EVP_DecryptInit_ex(cc, EVP_aes_128_gcm(), NULL, cek, nonce) != 1 ||
			 EVP_DecryptUpdate(cc, out, &n, b + WP_HEADER, (int) (clen - 16)) != 1 ||
			 EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, 16, (void *) (b + len - 16)) != 1 ||
			 EVP_DecryptFinal_ex(cc, out + n, &m) != 1)
		*why = "decryption failed (bad tag)";
	else
	{
		/* padding: zeros after the delimiter, which must be 2 (the last record) */
		size_t		end = (size_t) n + m;

		while (end > 0 && out[end - 1] == 0)
			end--;
		if (end == 0 || out[end - 1] != 2)
			*why = "the record's delimiter is not 2 (the last record)";
		else
		{
			*plen = end - 1;
			out[end - 1] = '\0';
			*why = NULL;
		}
	}
	EVP_CIPHER_CTX_free(cc);
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_free(as);
	ERR_clear_error();
	if (*why)
	{
		free(out);
		return NULL;
	}
	return out;
}

/* The VAPID token of the request (RFC 8292 3): NULL if valid, else why; *status 401 or 403. */
static const char *
wp_vapid(request *r, int *status)
{
	const char *a = req_header(r, "authorization");
	const char *authority = req_header(r, ":authority");
	const char *t,
			   *te,
			   *kk;
	unsigned char *pub = NULL;
	size_t		publen;
	EVP_PKEY   *key;
	jwt			j;
	json	   *alg,
			   *aud,
			   *exp,
			   *sub;
	char		origin[300];
	long		now = (long) time(NULL);
	const char *why = NULL;

	if (authority == NULL)
		authority = req_header(r, "host");
	*status = 401;
	if (a == NULL || strncasecmp(a, "vapid ", 6) != 0)
		return "no vapid authorization";
	*status = 403;
	t = strstr(a, "t=");
	kk = strstr(a, "k=");
	if (t == NULL || kk == NULL)
		return "vapid needs t= and k=";
	t += 2;
	te = t + strcspn(t, ", ");
	kk += 2;
	if (b64url_decode(kk, strcspn(kk, ", "), &pub, &publen) != 0 ||
		(key = wp_public(pub, publen)) == NULL)
	{
		free(pub);
		return "k is not a P-256 public key";
	}
	free(pub);
	if (jwt_parse(t, te - t, &j) != 0)
	{
		EVP_PKEY_free(key);
		return "t is not a JWT";
	}
	alg = json_get(j.header, "alg");
	aud = json_get(j.claims, "aud");
	exp = json_get(j.claims, "exp");
	sub = json_get(j.claims, "sub");
	snprintf(origin, sizeof(origin), "https://%s", authority ? authority : "");
	if (alg == NULL || alg->type != JSON_STR || strcmp(alg->str, "ES256") != 0 ||
		!jwt_verify_es256(&j, key))
		why = "bad signature";
	else if (aud == NULL || aud->type != JSON_STR || strcmp(aud->str, origin) != 0)
		why = "aud is not the push resource's origin";
	else if (exp == NULL || exp->type != JSON_NUM || (long) exp->num <= now)
		why = "exp has passed";
	else if ((long) exp->num > now + WP_MAX_EXP)
		why = "exp is more than 24 hours ahead";
	else if (sub == NULL || sub->type != JSON_STR ||
			 (strncmp(sub->str, "mailto:", 7) != 0 && strncmp(sub->str, "https:", 6) != 0))
		why = "sub is not a mailto: or https: URL";
	jwt_free(&j);
	EVP_PKEY_free(key);
	return why;
}

static void
wp_answer(request *r, int status, int errnum, const char *error, const char *message)
{
	buf			b = {0};

	buf_printf(&b, "{\"code\":%d,\"errno\":%d,\"error\":", status, errnum);
	buf_json_str(&b, error, strlen(error));
	buf_puts(&b, ",\"message\":");
	buf_json_str(&b, message, strlen(message));
	buf_puts(&b, "}");
	resp_json(r, status, b.data);
	buf_free(&b);
}

static bool
topic_valid(const char *s)
{
	size_t		n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
			  (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

void
handle_webpush(request *r, const char *seed)
{
	const char *ttl = req_header(r, "ttl");
	const char *enc = req_header(r, "content-encoding");
	const char *urg = req_header(r, "urgency");
	const char *topic = req_header(r, "topic");
	const char *why;
	int			status;
	wp_keys		k = {0};
	unsigned char *plain = NULL;
	size_t		plen = 0;
	char	   *end;

	if (strcmp(r->method, "POST") != 0)
		wp_answer(r, 405, 115, "Method Not Allowed", "push messages are POSTed");
	else if (seed[0] == '\0' || !wp_derive(seed, &k))
		wp_answer(r, 404, 102, "Not Found", "no such subscription");
	else if ((why = wp_vapid(r, &status)) != NULL)
		wp_answer(r, status, 109, status == 401 ? "Unauthorized" : "Forbidden", why);
	else if (strstr(seed, "vapidrefused"))
		wp_answer(r, 403, 109, "Forbidden", "vapidrefused: the VAPID key is not the subscription's");
	else if (ttl == NULL || ttl[0] == '\0' || strtol(ttl, &end, 10) < 0 || *end != '\0')
		wp_answer(r, 400, 111, "Bad Request", "Missing TTL header");
	else if (urg && strcmp(urg, "very-low") != 0 && strcmp(urg, "low") != 0 &&
			 strcmp(urg, "normal") != 0 && strcmp(urg, "high") != 0)
		wp_answer(r, 400, 112, "Bad Request", "Invalid Urgency header");
	else if (topic && !topic_valid(topic))
		wp_answer(r, 400, 113, "Bad Request", "Topic must be at most 32 base64url characters");
	else if (r->body_too_large || r->body.len > WP_MAX_BODY || strstr(seed, "toolarge"))
		wp_answer(r, 413, 104, "Payload Too Large", "the body is larger than 4096 bytes");
	else if (enc == NULL || strcmp(enc, "aes128gcm") != 0)
		wp_answer(r, 400, 110, "Bad Request", "Content-Encoding must be aes128gcm");
	else if ((plain = wp_decrypt((const unsigned char *) r->body.data, r->body.len, &k, &plen,
								 &why)) == NULL)
		wp_answer(r, 400, 110, "Bad Request", why);
	else
	{
		/* what the push decrypted to is what /_mock/last shows */
		buf_reset(&r->body);
		buf_append(&r->body, plain, plen);
		switch (fault_pick(r, seed, true))
		{
			case F_DROP:
			case F_STALL:
				break;
			case F_500:
				wp_answer(r, 500, 999, "Internal Server Error", "error500");
				break;
			case F_5XX:
				wp_answer(r, 503, 201, "Service Unavailable", "fail5xx");
				resp_header(r, "retry-after", "2");
				break;
			case F_THROTTLE:
				wp_answer(r, 429, 201, "Too Many Requests", "throttled");
				resp_header(r, "retry-after", "1");
				break;
			case F_UNREGISTERED:
				wp_answer(r, 410, 106, "Gone", "the subscription has expired or was unsubscribed");
				break;
			case F_BADDEVICE:
				wp_answer(r, 404, 102, "Not Found", "no such subscription");
				break;
			case F_NONE:
				{
					char		loc[400];

					snprintf(loc, sizeof(loc), "/m/%ld", next_id());
					r->status = 201;
					resp_header(r, "location", loc);
				}
				break;
		}
	}
	free(plain);
	EVP_PKEY_free(k.key);
	record(r, EP_WEBPUSH, seed);
}

/* GET /_mock/webpush_subscription?seed=S: the subscription a browser would hold for /wp/S. */
void
webpush_subscription(request *r, const char *seed)
{
	const char *authority = req_header(r, ":authority");
	wp_keys		k;
	buf			b = {0};

	if (authority == NULL)
		authority = req_header(r, "host");
	if (seed == NULL || seed[0] == '\0' || strchr(seed, '/') || !wp_derive(seed, &k))
	{
		resp_json(r, 400, "{\"error\":\"seed required (no /)\"}");
		return;
	}
	buf_puts(&b, "{\"endpoint\":\"https://");
	buf_puts(&b, authority ? authority : "");
	buf_puts(&b, "/wp/");
	buf_puts(&b, seed);
	buf_puts(&b, "\",\"keys\":{\"p256dh\":\"");
	b64url_encode(&b, k.pub, 65);
	buf_puts(&b, "\",\"auth\":\"");
	b64url_encode(&b, k.auth, 16);
	buf_puts(&b, "\"}}");
	resp_json(r, 200, b.data);
	buf_free(&b);
	EVP_PKEY_free(k.key);
}
