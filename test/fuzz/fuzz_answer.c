/*
 * fuzz_answer: what vendors answer (every vendor's classify, the two-step first answer of
 * vivo, the token endpoints' answers of every auth scheme): bodies from the network, read by
 * the senders. Input: one byte choosing the HTTP status, then the body.
 */
#include "postgres.h"

#include "vendor.h"

#include "fuzz_common.h"

static const int statuses[] = {200, 200, 200, 400, 401, 403, 404, 410, 413, 429, 500, 503, 0};

static void
body(const uint8_t *data, size_t size)
{
	const char *const tokens[3] = {"tok-a", "tok-b", "tok-c"};
	PPResponse	resp = {0};
	char	   *text;

	if (size < 1)
		return;
	/* the engine hands classify a NUL-terminated body; a NUL inside is possible on the wire */
	text = palloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	resp.status = statuses[data[0] % lengthof(statuses)];
	resp.error = resp.status == 0 ? "connection reset" : NULL;
	resp.apns_id = (data[0] & 0x80) ? "00000000-0000-0000-0000-000000000000" : NULL;
	resp.body = text;
	resp.body_len = size - 1;
	for (int i = 0; pp_vendors[i]; i++)
	{
		const PPVendor *v = pp_vendors[i];
		int			n = v->max_tokens > 1 ? 3 : 1;

		if (v->classify)
		{
			PPItemResult results[3];

			memset(results, 0, sizeof(results));
			(void) v->classify(&resp, tokens, n, results);
		}
		if (v->prepared)
		{
			char	   *handle = NULL;
			PPItemResult fail;

			memset(&fail, 0, sizeof(fail));
			(void) v->prepared(&resp, &handle, &fail);
		}
		if (v->auth && v->auth->answer && resp.status != 0)
		{
			int64		expires_in = 0;
			char	   *why = NULL;
			bool		transient = false;

			(void) v->auth->answer(resp.status, resp.body, resp.body_len, &expires_in, &why,
								   &transient);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(body, data, size);
}
