/*
 * webpush_crypto.h: Web Push message encryption (RFC 8291 over RFC 8188's aes128gcm) and the
 * VAPID key forms (RFC 8292), all with OpenSSL 3 EVP.  A leaf: vendor_webpush.c sends with it.
 *
 * Nothing here raises for bad input: checks return the problem as "code: message" (palloc'd),
 * encryption returns false with the reason.  OpenSSL objects are freed and its error queue
 * cleared before returning (the queue is shared with libcurl's TLS in the same process).
 */
#ifndef PUSHPLAN_WEBPUSH_CRYPTO_H
#define PUSHPLAN_WEBPUSH_CRYPTO_H

#include "postgres.h"

#include "lib/stringinfo.h"

#define PP_WP_POINT_LEN		65		/* uncompressed P-256 point: 0x04 || X || Y */
#define PP_WP_AUTH_LEN		16		/* the subscription's auth secret */
#define PP_WP_SALT_LEN		16
#define PP_WP_PRIVATE_LEN	32		/* a raw P-256 private scalar */
#define PP_WP_RECORD_SIZE	4096	/* rs: one record of at most 4096 bytes */
/* salt(16) || rs(4) || idlen(1) || keyid(65) */
#define PP_WP_HEADER_LEN	(PP_WP_SALT_LEN + 4 + 1 + PP_WP_POINT_LEN)
/* RFC 8291 section 4: 4096 - 86 (header) - 16 (tag) - 1 (delimiter) */
#define PP_WP_MAX_PLAINTEXT (PP_WP_RECORD_SIZE - PP_WP_HEADER_LEN - 16 - 1)

/*
 * Appends the aes128gcm body (header, then one record) of plaintext for the subscription keys
 * ua_public (65 bytes) and auth (16).  salt and as_private/as_public NULL: a random salt and a
 * new ephemeral key pair, as every message gets; given: RFC 8291 Appendix A's fixed inputs.
 * false with *why when ua_public is not a P-256 point, the plaintext is over
 * PP_WP_MAX_PLAINTEXT, or OpenSSL fails.
 */
extern bool pp_webpush_encrypt(const unsigned char *plaintext, size_t len,
							   const unsigned char *ua_public, const unsigned char *auth,
							   const unsigned char *salt, const unsigned char *as_private,
							   const unsigned char *as_public, StringInfo out,
							   const char **why);

/* Whether point (len bytes) is an uncompressed P-256 point on the curve. */
extern bool pp_webpush_point_valid(const unsigned char *point, size_t len);

/*
 * VAPID keys as push_vendor_set takes them: the public key in base64url (65 bytes, as browsers'
 * applicationServerKey), the private key as a PEM (EC P-256) or the 32-byte raw key in
 * base64url (web-push's generateVAPIDKeys).  The problem ("code: message"), or NULL when the
 * private key is one and the public key is its public half.
 */
extern char *pp_vapid_keys_problem(const char *public_b64url, const char *private_key);

/*
 * The private key as a PEM, whichever form it was given in (a raw key is written as PKCS#8 with
 * its public half); NULL when it is neither form.
 */
extern char *pp_vapid_private_pem(const char *private_key, const char *public_b64url);

#endif							/* PUSHPLAN_WEBPUSH_CRYPTO_H */
