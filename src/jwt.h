/*
 * jwt.h: JWT signing (ES256 for APNs and Web Push's VAPID, RS256 for Google OAuth, PS256 for
 * HarmonyOS Push Kit), HMAC-SHA256 for webhooks, base64url, and private-key checks, all with
 * OpenSSL 3 EVP.
 *
 * Usable from backends and background workers alike: results are palloc'd in
 * CurrentMemoryContext, failures are ereport(ERROR) raised only after every OpenSSL object has
 * been freed and the OpenSSL error queue cleared (it is shared with libcurl's TLS in the same
 * process).  The key checks never raise for a bad key: they return false and the reason.
 */
#ifndef PUSHPLAN_JWT_H
#define PUSHPLAN_JWT_H

#include "postgres.h"

/* Kinds of private key the vendors take. */
typedef enum PpKeyKind
{
	PP_KEY_EC_P256,				/* APNs .p8: EC on P-256, for ES256 */
	PP_KEY_RSA					/* Google service account: RSA >= 2048 bits, for RS256 */
} PpKeyKind;

/* RFC 4648 section 5, without padding. */
extern char *pp_base64url_encode(const unsigned char *data, size_t len);
/*
 * SHA-256 of data into md (32 bytes); false when OpenSSL fails.  The digest is fetched once:
 * EVP_sha256() in EVP_Digest makes OpenSSL 3 look it up again on every call.
 */
extern bool pp_sha256(const void *data, size_t len, unsigned char *md);

/*
 * Strict decoding: only A-Z a-z 0-9 - _, no padding, canonical trailing bits.  Returns NULL
 * (without raising) when the text is not valid base64url; *outlen gets the decoded length.
 */
extern unsigned char *pp_base64url_decode(const char *text, size_t len, size_t *outlen);

/*
 * NULL when pem holds one unencrypted private key of the kind; else the reason, which starts
 * with its pushplan error code ("92402: ...") so SQL callers can raise it as is.
 */
extern char *pp_pem_key_problem(const char *pem, PpKeyKind kind);
extern bool pp_pem_is_ec_p256_private_key(const char *pem, char **why);
extern bool pp_pem_is_rsa_private_key(const char *pem, char **why);

/* APNs provider token: {"alg":"ES256","kid":kid} . {"iss":iss,"iat":iat} */
extern char *pp_jwt_es256(const char *pem_private_key, const char *kid, const char *iss,
						  int64 iat);

/* Web Push VAPID token (RFC 8292): {"typ":"JWT","alg":"ES256"} . {"aud":aud,"exp":exp,"sub":sub} */
extern char *pp_jwt_vapid(const char *pem_private_key, const char *aud, int64 exp,
						  const char *sub);

/*
 * Google OAuth 2.0 service-account assertion:
 * {"alg":"RS256","typ":"JWT"[,"kid":kid]} . {"iss":iss,"scope":scope,"aud":aud,"iat":iat,"exp":exp}
 * kid may be NULL (omitted).
 */
extern char *pp_jwt_rs256(const char *pem_private_key, const char *kid, const char *iss,
						  const char *scope, const char *aud, int64 iat, int64 exp);

/*
 * Huawei service-account token (HarmonyOS NEXT Push Kit v3), RSASSA-PSS with SHA-256:
 * {"kid":kid,"typ":"JWT","alg":"PS256"} . {"aud":aud,"iss":iss,"exp":exp,"iat":iat}
 */
extern char *pp_jwt_ps256(const char *pem_private_key, const char *kid, const char *iss,
						  const char *aud, int64 iat, int64 exp);

/* HMAC-SHA256 of data under a key: raw 32 bytes into out, or 64 lowercase hex digits. */
extern void pp_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
						   unsigned char out[32]);
extern char *pp_hmac_sha256_hex(const char *key, const char *data, size_t len);
/*
 * The signature pushplan's own webhooks carry, the webhook channel's and the outcome webhook's:
 * the header "x-pushplan-signature: sha256=<hex HMAC-SHA256(secret, body)>".
 */
extern char *pp_webhook_signature_header(const char *secret, const char *body, size_t len);

/* MD5 as 32 lowercase hex digits (Meizu's request signature: not for secrecy). */
extern char *pp_md5_hex(const void *data, size_t len);

#endif							/* PUSHPLAN_JWT_H */
