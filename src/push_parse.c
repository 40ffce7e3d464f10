/*
 * push_parse.c: the three push dialects -> one normalized push (doc/push.md).
 *
 * An EngageLab push object is checked against field tables (unknown keys, types, sizes, ranges)
 * and copied with its defaults filled in.  Tencent Push and Tencent IM bodies are checked in
 * their own terms, so that errors name the fields the caller wrote, then translated into an
 * EngageLab object carrying "dialect", and that object goes through the EngageLab path like any
 * other: every dialect ends in exactly one shape, and a normalized push normalizes to itself.
 *
 * This file detects the dialect and holds the entry points; the generic checker is push_check.c,
 * the dialects push_engagelab.c, push_tencent.c and push_tencent_im.c.
 *
 * Everything is palloc'd in the caller's context; an error simply abandons it.
 */
#include "pushplan.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "json.h"
#include "push_check.h"
#include "push_parse.h"
#include "template_push.h"

PG_FUNCTION_INFO_V1(pushplan_push_validate);

/* Keys that only one dialect has; the first one present names the dialect in errors. */
static const char *const engagelab_marks[] = {"to", "body", "from", "request_id", "custom_args", NULL};
static const char *const tencent_push_marks[] = {"audience_type", "message_type", "message", NULL};
static const char *const tencent_im_marks[] = {
	"MsgRandom", "OfflinePushInfo", "Condition", "From_Account", "MsgLifeTime", NULL
};

static const char *
first_mark(JsonbContainer *root, const char *const *marks)
{
	for (int i = 0; marks[i]; i++)
		if (pp_jmember(root, marks[i]))
			return marks[i];
	return NULL;
}

const char *
pp_push_tencent_mark(Jsonb *push)
{
	const char *mark = first_mark(&push->root, tencent_push_marks);

	return mark ? mark : first_mark(&push->root, tencent_im_marks);
}

Jsonb *
pp_push_normalize(Jsonb *push, const char **dialect_out)
{
	JsonbContainer *root = &push->root;
	const char *names[3] = {"EngageLab", "Tencent Push", "Tencent IM"};
	const char *marks[3];
	int			found = -1;

	if (!JB_ROOT_IS_OBJECT(push))
		pp_error(PPE_PUSH_NOT_OBJECT, "a push must be a JSON object");

	/* a push normalized before carries its dialect and is in the EngageLab form */
	if (pp_jmember(root, "dialect"))
		found = 0;
	else
	{
		marks[0] = first_mark(root, engagelab_marks);
		marks[1] = first_mark(root, tencent_push_marks);
		marks[2] = first_mark(root, tencent_im_marks);
		for (int i = 0; i < 3; i++)
		{
			if (marks[i] == NULL)
				continue;
			if (found >= 0)
				pp_error(PPE_PUSH_DIALECTS_MIXED,
						 "a push mixes the %s form (\"%s\") with the %s form (\"%s\")",
						 names[found], marks[found], names[i], marks[i]);
			found = i;
		}
		if (found < 0)
			ereport(ERROR,
					(pp_errmsg(PPE_PUSH_NO_DIALECT,
							   "a push must be an EngageLab push, a Tencent Push body or a Tencent IM body"),
					 errdetail("An EngageLab push has \"to\" and \"body\", a Tencent Push body \"audience_type\" and \"message\", a Tencent IM body \"MsgRandom\" and \"OfflinePushInfo\".")));
	}

	if (found == 2)
		return pp_engagelab_normalize(&pp_tencent_im_translate(push)->root, dialect_out);
	if (ppj_json_text_length(root, VARSIZE(push)) > MAX_PUSH_BYTES)
		pp_error(PPE_PUSH_TOO_LARGE, "a push is larger than %d bytes as JSON text",
				 MAX_PUSH_BYTES);
	if (found == 1)
		return pp_engagelab_normalize(&pp_tencent_push_translate(root)->root, dialect_out);
	return pp_engagelab_normalize(root, dialect_out);
}

List *
pp_push_variants(Jsonb *normalized)
{
	JsonbValue *variants = pp_jmember(&normalized->root, "variants");
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	List	   *out = NIL;
	int			from = 0;
	int64		percent = 100;

	if (variants == NULL)
		return NIL;
	/* with a test, the variants share the first `percent` of the buckets */
	(void) pp_jnum(pp_jobj(&normalized->root, "variants_test"), "percent", &percent);
	it = JsonbIteratorInit(variants->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		PPVariant  *v;
		int64		weight = 0;

		if (tok != WJB_ELEM)
			continue;
		v = palloc0(sizeof(PPVariant));
		v->name = pp_jstr(e.val.binary.data, "name");
		(void) pp_jnum(e.val.binary.data, "weight", &weight);
		v->weight = (int) weight;
		v->bucket_from = from;
		v->bucket_to = from + v->weight * (int) percent;
		from = v->bucket_to;
		(void) pp_jbool(e.val.binary.data, "control", &v->control);
		/* a control group has no overrides: its push is the push's own content */
		v->push = pp_engagelab_normalize(&ppj_variant_push(&normalized->root,
														   e.val.binary.data)->root, NULL);
		out = lappend(out, v);
	}
	return out;
}

/* push_validate(push jsonb) RETURNS jsonb: the normalized push, or the error push_send would raise */
Datum
pushplan_push_validate(PG_FUNCTION_ARGS)
{
	Jsonb	   *push = pp_push_normalize(PG_GETARG_JSONB_P(0), NULL);
	int			reads;
	ListCell   *lc;

	(void) pp_push_template_check(push, &reads);	/* its templates raise push_send's errors */
	foreach(lc, pp_push_variants(push))
	{
		PPVariant  *v = lfirst(lc);

		if (!v->control)
			(void) pp_push_template_check(v->push, &reads);
	}
	PG_RETURN_JSONB_P(push);
}
