/*
 * fuzz_webpush: Web Push's input (webpush_crypto.c, vendor_webpush.c): a subscription as a
 * device registers it (the token: endpoint, p256dh, auth), VAPID keys as push_vendor_set takes
 * them, and aes128gcm encryption to the subscription's keys. Input: text, tried as each; when
 * it is 81 bytes or more, also raw: a 65-byte point, a 16-byte secret, the plaintext.
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "vendor.h"
#include "webpush_crypto.h"

#include "fuzz_common.h"

static void
raw(const uint8_t *data, size_t size)
{
	StringInfoData out;
	const char *why = NULL;

	if (size < 81 || !pp_webpush_point_valid(data, 65))
		return;
	initStringInfo(&out);
	(void) pp_webpush_encrypt(data + 81, size - 81, data, data + 65,
							  NULL, NULL, NULL, &out, &why);
}

static void
body(const uint8_t *data, size_t size)
{
	char	   *text;
	const PPVendor *v = pp_vendor_find("webpush");

	(void) pp_webpush_point_valid(data, size);
	raw(data, size);
	text = fuzz_text(data, size);
	if (text == NULL)
		return;
	{
		char	   *canonical = NULL;
		char	   *pub;
		char	   *priv;

		if (v->token_problem(text, &canonical) == NULL && canonical != NULL)
			(void) v->token_problem(canonical, NULL);
		if (fuzz_split(text, &pub, &priv))
		{
			if (pp_vapid_keys_problem(pub, priv) == NULL)
				(void) pp_vapid_private_pem(priv, pub);
		}
		else
		{
			Jsonb	   *config = fuzz_jsonb(text, size);

			if (config && JB_ROOT_IS_OBJECT(config))
				(void) v->config_problem(config);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(body, data, size);
}
