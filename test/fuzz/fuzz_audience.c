/*
 * fuzz_audience: the audience compiler (audience_parse.c, audience_sql.c) from the three
 * dialects' audiences to SQL. Input: an audience (EngageLab "to", Tencent Push, Tencent IM).
 * Tags, account packages and views are resolved here as a database would answer (ppa_resolve
 * asks SPI): one tag in four unknown, every package of account type 1, one view in four not
 * allowed for the app (ppa_view_resolve's error), the others returning accounts or
 * registration ids by their name's hash.
 */
#include "postgres.h"

#include "audience.h"
#include "audience_tree.h"
#include "common/hashfn.h"

#include "errors.h"
#include "pushplan.h"
#include "fuzz_common.h"

/* "schema"."view", as view_sql_name quotes a catalog name (always quoted here) */
static char *
quoted(const char *schema, const char *name)
{
	StringInfoData buf;
	const char *parts[2] = {schema, name};

	initStringInfo(&buf);
	for (int i = 0; i < 2; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, '.');
		appendStringInfoChar(&buf, '"');
		for (const char *p = parts[i]; *p; p++)
		{
			if (*p == '"')
				appendStringInfoChar(&buf, '"');
			appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '"');
	}
	return buf.data;
}

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
	else if (n->kind == A_VIEW)
	{
		uint32		h = hash_bytes((const unsigned char *) n->view, strlen(n->view));

		if (h % 4 == 0)
			pp_error(PPE_AUD_VIEW_NOT_ALLOWED, "view \"%s\" is not allowed for this app",
					 pp_shown(n->view));
		n->view_oid = (Oid) (h | 1);
		n->view_account = (h & 2) != 0;
		n->view_sql = quoted(n->view_schema, n->view_name);
	}
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
