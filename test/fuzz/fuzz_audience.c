/*
 * fuzz_audience: the audience compiler (audience_parse.c, audience_sql.c) from the three
 * dialects' audiences to SQL. Input: an audience (EngageLab "to", Tencent Push, Tencent IM).
 * Tags and account packages are resolved here as a database would answer (ppa_resolve asks
 * SPI): one tag in four unknown, every package of account type 1.
 */
#include "postgres.h"

#include "audience.h"
#include "audience_tree.h"
#include "common/hashfn.h"

#include "fuzz_common.h"

static void
resolve(AudNode *n)
{
	ListCell   *lc;

	if (n->kind == A_TAG)
	{
		uint32		h = hash_bytes((const unsigned char *) n->tag, strlen(n->tag));

		if (h % 4 == 0)
			n->kind = A_NONE;
		else
			n->tag_id = (int32) (h & 0x7fffffff);
	}
	else if (n->kind == A_UPLOAD)
		n->account_type = 1;
	foreach(lc, n->children)
		resolve(lfirst(lc));
}

static void
body(const uint8_t *data, size_t size)
{
	Jsonb	   *jb = fuzz_jsonb(fuzz_text(data, size), size);
	AudCtx		c;
	AudNode    *root;
	PPAudience	out;

	if (jb == NULL)
		return;
	memset(&c, 0, sizeof(c));
	c.app_id = 1;
	root = ppa_parse_audience(&c, jb);
	resolve(root);
	c.any_state = (size & 1) != 0;
	ppa_generate(&c, ppa_simplify(root), 2, &out);
	(void) pp_audience_list_size(jb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(body, data, size);
}
