/*
 * auth.c: what the vendors verify cryptographically: ES256 / RS256 JWTs (OpenSSL EVP),
 * HMAC-SHA256 webhook signatures, and the access tokens the mock hands out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "mock.h"

static const char b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Unpadded base64url, as JWS requires (RFC 7515 section 2). */
int
b64url_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
	unsigned char *o;
	size_t		n = 0;
	unsigned	acc = 0;
	int			bits = 0;

	if (inlen % 4 == 1)
		return -1;
	o = malloc(inlen * 3 / 4 + 1);
	if (o == NULL)
		abort();
	for (size_t i = 0; i < inlen; i++)
	{
		int			v = b64url_val((unsigned char) in[i]);

		if (v < 0)
		{
			free(o);
			return -1;
		}
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			o[n++] = (acc >> bits) & 0xFF;
		}
	}
	*out = o;
	*outlen = n;
	return 0;
}

void
b64url_encode(buf *b, const unsigned char *in, size_t n)
{
	unsigned	acc = 0;
	int			bits = 0;

	buf_reserve(b, n * 4 / 3 + 4);
	for (size_t i = 0; i < n; i++)
	{
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6)
		{
			bits -= 6;
			b->data[b->len++] = b64url_alphabet[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		b->data[b->len++] = b64url_alphabet[(acc << (6 - bits)) & 63];
	b->data[b->len] = '\0';
}

void
hex_encode(char *out, const unsigned char *in, size_t n)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}

EVP_PKEY *
load_public_key(const char *path)
{
	FILE	   *f = fopen(path, "r");
	EVP_PKEY   *k;

	if (f == NULL)
		return NULL;
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

static json *
decode_part(const char *s, size_t n)
{
	unsigned char *raw;
	size_t		rawlen;
	json	   *j;

	if (b64url_decode(s, n, &raw, &rawlen) != 0)
		return NULL;
	j = json_parse((const char *) raw, rawlen);
	free(raw);
	if (j && j->type != JSON_OBJ)
	{
		json_free(j);
		j = NULL;
	}
	/* the DOM points into raw only through raw/rawlen, which nobody reads for JWT parts */
	return j;
}

int
jwt_parse(const char *token, size_t len, jwt *out)
{
	const char *d1 = memchr(token, '.', len);
	const char *d2;

	memset(out, 0, sizeof(*out));
	if (d1 == NULL)
		return -1;
	d2 = memchr(d1 + 1, '.', len - (d1 + 1 - token));
	if (d2 == NULL || memchr(d2 + 1, '.', len - (d2 + 1 - token)) != NULL)
		return -1;
	out->header = decode_part(token, d1 - token);
	out->claims = decode_part(d1 + 1, d2 - d1 - 1);
	if (out->header == NULL || out->claims == NULL ||
		b64url_decode(d2 + 1, len - (d2 + 1 - token), &out->sig, &out->siglen) != 0)
	{
		jwt_free(out);
		return -1;
	}
	out->signing_input = token;
	out->signing_len = d2 - token;
	return 0;
}

void
jwt_free(jwt *j)
{
	json_free(j->header);
	json_free(j->claims);
	free(j->sig);
	memset(j, 0, sizeof(*j));
}

static bool
verify_der(EVP_PKEY *key, const unsigned char *sig, size_t siglen, const jwt *j)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool		ok;

	ok = ctx != NULL &&
		EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
		EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *) j->signing_input,
						 j->signing_len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* JWS ES256 carries the raw r || s (32 + 32 bytes); OpenSSL verifies DER, so convert. */
bool
jwt_verify_es256(const jwt *j, EVP_PKEY *key)
{
	ECDSA_SIG  *es;
	BIGNUM	   *r,
			   *s;
	unsigned char *der = NULL;
	int			derlen;
	bool		ok;

	if (j->siglen != 64 || EVP_PKEY_base_id(key) != EVP_PKEY_EC)
		return false;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(j->sig, 32, NULL);
	s = BN_bin2bn(j->sig + 32, 32, NULL);
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
	{
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return false;
	}
	derlen = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (derlen <= 0)
		return false;
	ok = verify_der(key, der, derlen, j);
	OPENSSL_free(der);
	return ok;
}

bool
jwt_verify_rs256(const jwt *j, EVP_PKEY *key)
{
	if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
		return false;
	return verify_der(key, j->sig, j->siglen, j);
}

void
hmac_sha256_hex(const char *key, size_t keylen, const void *data, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);

	HMAC(EVP_sha256(), key, (int) keylen, data, n, md, &mdlen);
	hex_encode(out, md, 32);
}

/*
 * Access tokens: "<kind>.<expires_at>.<hex HMAC(server key, kind|subject|expires_at)>".
 * Self-verifying, so the mock keeps no table of issued tokens whatever the load.
 */
static unsigned char token_key[32];
long		jwt_not_before = 0;
long		revocations = 0;

void
access_token_init(void)
{
	if (RAND_bytes(token_key, sizeof(token_key)) != 1)
		abort();
}

void
access_tokens_revoke(void)
{
	access_token_init();
	jwt_not_before = (long) time(NULL);
	revocations++;
}

static void
token_mac(const char *kind, const char *subject, long expires_at, char out[65])
{
	char		msg[1024];
	int			n = snprintf(msg, sizeof(msg), "%s|%s|%ld", kind, subject, expires_at);

	if (n >= (int) sizeof(msg))
		n = sizeof(msg) - 1;
	hmac_sha256_hex((const char *) token_key, sizeof(token_key), msg, n, out);
}

void
access_token_issue(buf *out, const char *kind, const char *subject, long expires_at)
{
	char		mac[65];

	token_mac(kind, subject, expires_at, mac);
	buf_printf(out, "%s.%ld.%s", kind, expires_at, mac);
}

int
access_token_check(const char *tok, size_t len, const char *kind, const char *subject)
{
	char		copy[256];
	char	   *dot1,
			   *dot2,
			   *end;
	long		exp;
	char		mac[65];

	if (len == 0 || len >= sizeof(copy))
		return 0;
	memcpy(copy, tok, len);
	copy[len] = '\0';
	dot1 = strchr(copy, '.');
	if (dot1 == NULL)
		return 0;
	*dot1 = '\0';
	if (strcmp(copy, kind) != 0)
		return 0;
	dot2 = strchr(dot1 + 1, '.');
	if (dot2 == NULL)
		return 0;
	*dot2 = '\0';
	exp = strtol(dot1 + 1, &end, 10);
	if (*end != '\0' || end == dot1 + 1)
		return 0;
	token_mac(kind, subject, exp, mac);
	if (strlen(dot2 + 1) != 64 || CRYPTO_memcmp(mac, dot2 + 1, 64) != 0)
		return 0;
	if (exp <= (long) time(NULL))
		return -1;
	return 1;
}

/* The digest of data as lowercase hex (len bytes: 2 * len digits) */
static void
digest_hex(const EVP_MD *type, const void *data, size_t n, char *out, unsigned int want)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(data, n, md, &len, type, NULL) != 1 || len != want)
		memset(md, 0, want);
	hex_encode(out, md, want);
	out[2 * want] = '\0';
}

void
md5_hex(const void *data, size_t n, char out[33])
{
	digest_hex(EVP_md5(), data, n, out, 16);
}

void
sha256_hex(const void *data, size_t n, char out[65])
{
	digest_hex(EVP_sha256(), data, n, out, 32);
}
