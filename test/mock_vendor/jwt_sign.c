/*
 * jwt_sign.c: test-only JWT signer, so tests can present valid (and deliberately bad)
 * provider tokens to the mock.
 *
 *   jwt_sign es256|rs256|ps256 PRIVATE_KEY.pem 'HEADER_JSON' 'CLAIMS_JSON'
 *
 * Prints header.claims.signature (base64url, unpadded).  ES256 signatures are JWS raw r || s,
 * converted from OpenSSL's DER through ECDSA_SIG; PS256 is RSASSA-PSS, salt 32 (HarmonyOS).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

static const char alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t
b64url(char *out, const unsigned char *in, size_t n)
{
	unsigned	acc = 0;
	int			bits = 0;
	size_t		o = 0;

	for (size_t i = 0; i < n; i++)
	{
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6)
		{
			bits -= 6;
			out[o++] = alphabet[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = alphabet[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return o;
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	EVP_PKEY   *key;
	EVP_MD_CTX *ctx;
	char	   *input;
	size_t		hl,
				cl,
				n,
				siglen = 0;
	unsigned char *sig;
	unsigned char raw[64];
	char	   *out;
	bool		es256;
	EVP_PKEY_CTX *pctx = NULL;

	if (argc != 5 || (strcmp(argv[1], "es256") != 0 && strcmp(argv[1], "rs256") != 0 &&
					  strcmp(argv[1], "ps256") != 0))
	{
		fprintf(stderr, "usage: jwt_sign es256|rs256|ps256 KEY.pem HEADER_JSON CLAIMS_JSON\n");
		return 2;
	}
	es256 = strcmp(argv[1], "es256") == 0;
	f = fopen(argv[2], "r");
	if (f == NULL || (key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
	{
		fprintf(stderr, "jwt_sign: cannot read private key %s\n", argv[2]);
		return 1;
	}
	fclose(f);

	hl = strlen(argv[3]);
	cl = strlen(argv[4]);
	input = malloc((hl + cl) * 2 + 8);
	n = b64url(input, (unsigned char *) argv[3], hl);
	input[n++] = '.';
	n += b64url(input + n, (unsigned char *) argv[4], cl);

	ctx = EVP_MD_CTX_new();
	if (EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) != 1 ||
		(strcmp(argv[1], "ps256") == 0 &&
		 (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) ||
		EVP_DigestSign(ctx, NULL, &siglen, (unsigned char *) input, n) != 1)
		return 1;
	sig = malloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, (unsigned char *) input, n) != 1)
		return 1;
	if (es256)
	{
		const unsigned char *p = sig;
		ECDSA_SIG  *es = d2i_ECDSA_SIG(NULL, &p, (long) siglen);
		const BIGNUM *r,
				   *s;

		if (es == NULL)
			return 1;
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
			return 1;
		ECDSA_SIG_free(es);
		free(sig);
		sig = malloc(64);
		memcpy(sig, raw, 64);
		siglen = 64;
	}
	out = malloc(siglen * 2 + 4);
	b64url(out, sig, siglen);
	printf("%s.%s\n", input, out);
	free(out);
	free(sig);
	free(input);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return 0;
}
