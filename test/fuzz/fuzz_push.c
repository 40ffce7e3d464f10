/*
 * fuzz_push: the three push dialects (push_parse.c, push_engagelab.c, push_tencent.c,
 * push_tencent_im.c) and A/B variants (push_variants.c). Input: a push body, any dialect.
 * Checks beyond "no crash": a normalized push normalizes to itself (push_parse.h).
 */
#include "postgres.h"

#include "push_parse.h"

#include "fuzz_common.h"

static void
body(const uint8_t *data, size_t size)
{
	Jsonb	   *jb = fuzz_jsonb(fuzz_text(data, size), size);
	Jsonb	   *n;
	Jsonb	   *again;

	if (jb == NULL)
		return;
	n = pp_push_normalize(jb, NULL);
	again = pp_push_normalize(n, NULL);
	if (VARSIZE(n) != VARSIZE(again) || memcmp(n, again, VARSIZE(n)) != 0)
	{
		fprintf(stderr, "fuzz_push: a normalized push changed when normalized again\n");
		abort();
	}
	(void) pp_push_variants(n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(body, data, size);
}
