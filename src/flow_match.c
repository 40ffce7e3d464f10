/*
 * flow_match.c: what push_track asks of every event's props, in C because it runs for each
 * event of a batch (doc/flows.md, "Conditions", "push_track"; doc/benchmarks.md, "Flows").
 *
 *   _flow_props_match(cond, props): whether props meet conditions that _flow_where_problem
 *       accepted ({"prop": value, "a.b": {"gte": 100}, ...}, every pair holds). The PL/pgSQL
 *       version it replaces cost about 25 us a call, a third of an event's time in a batch.
 *   _track_props_problem(props): why props are too big to keep (size, keys, depth), or NULL.
 *
 * Comparisons are jsonb's: a plain value and eq / ne / in compare as jsonb's = does (1 equals
 * 1.0); gt / gte / lt / lte compare numbers with numbers and strings with strings bytewise (as
 * COLLATE "C"), any other pair is false. A prop that is JSON null is a missing prop. A dotted
 * name reads nested props as #> does (an array element by its index, negative from the end).
 */
#include "pushplan.h"
#include "flow.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(pushplan_flow_props_match);
PG_FUNCTION_INFO_V1(pushplan_track_props_problem);

/* What push_track keeps of an event's props (doc/flows.md, "push_track"). */
#define TRACK_PROPS_MAX_BYTES	65536	/* as stored (jsonb) */
#define TRACK_PROPS_MAX_KEYS	1000	/* object members at every level */
#define TRACK_PROPS_MAX_DEPTH	10		/* the props object is level 1 */

/* The value at a dotted path in c, or false (missing, or a scalar on the way). */
static bool
path_value(JsonbContainer *c, const char *path, int pathlen, JsonbValue *out)
{
	const char *p = path;
	const char *end = path + pathlen;

	for (;;)
	{
		const char *dot = memchr(p, '.', end - p);
		int			len = (dot ? dot : end) - p;
		JsonbValue *v = NULL;

		if (JsonContainerIsObject(c))
		{
			if (!getKeyJsonValueFromContainer(c, p, len, out))
				return false;
		}
		else if (JsonContainerIsArray(c))
		{
			char	   *text = pnstrdup(p, len);
			char	   *endptr;
			long		index;
			int			n = JsonContainerSize(c);

			errno = 0;
			index = strtol(text, &endptr, 10);
			if (endptr == text || *endptr != '\0' || errno != 0 || index > INT_MAX || index < INT_MIN)
				return false;
			if (index < 0)
			{
				if (-index > n)
					return false;
				index = n + index;
			}
			v = getIthJsonbValueFromContainer(c, (uint32) index);
			if (v == NULL)
				return false;
			*out = *v;
		}
		else
			return false;
		if (dot == NULL)
			return true;
		if (out->type != jbvBinary)
			return false;
		c = out->val.binary.data;
		p = dot + 1;
	}
}

/* jsonb's = */
static bool
jv_equal(JsonbValue *a, JsonbValue *b)
{
	Jsonb	   *ja = JsonbValueToJsonb(a);
	Jsonb	   *jb = JsonbValueToJsonb(b);

	return compareJsonbContainers(&ja->root, &jb->root) == 0;
}

/* gt / gte / lt / lte: numbers with numbers, strings with strings (bytewise); else false */
static bool
jv_order(const char *op, JsonbValue *have, JsonbValue *arg)
{
	int			cmp;

	if (have->type == jbvNumeric && arg->type == jbvNumeric)
		cmp = DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(have->val.numeric),
												NumericGetDatum(arg->val.numeric)));
	else if (have->type == jbvString && arg->type == jbvString)
	{
		int			la = have->val.string.len;
		int			lb = arg->val.string.len;

		cmp = memcmp(have->val.string.val, arg->val.string.val, Min(la, lb));
		if (cmp == 0)
			cmp = (la > lb) - (la < lb);
	}
	else
		return false;
	if (strcmp(op, "gt") == 0)
		return cmp > 0;
	if (strcmp(op, "gte") == 0)
		return cmp >= 0;
	if (strcmp(op, "lt") == 0)
		return cmp < 0;
	return cmp <= 0;			/* lte */
}

/* One operator of a condition; have NULL: the prop is missing (or null). */
static bool
op_holds(const char *op, JsonbValue *have, JsonbValue *arg)
{
	if (strcmp(op, "eq") == 0)
		return have && jv_equal(have, arg);
	if (strcmp(op, "ne") == 0)
		return have == NULL || !jv_equal(have, arg);
	if (strcmp(op, "exists") == 0)
		return (have != NULL) == (arg->type == jbvBool && arg->val.boolean);
	if (strcmp(op, "in") == 0)
	{
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;

		if (have == NULL || arg->type != jbvBinary || !JsonContainerIsArray(arg->val.binary.data))
			return false;
		it = JsonbIteratorInit(arg->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && jv_equal(have, &v))
				return true;
		return false;
	}
	if (strcmp(op, "gt") == 0 || strcmp(op, "gte") == 0 || strcmp(op, "lt") == 0
		|| strcmp(op, "lte") == 0)
		return have && jv_order(op, have, arg);
	return false;				/* _flow_where_problem refuses any other */
}

static bool
props_match(Jsonb *cond, Jsonb *props)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	want;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(cond))
		return false;
	it = JsonbIteratorInit(&cond->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		JsonbValue	found;
		JsonbValue *have = NULL;
		char	   *name;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(k.val.string.val, k.val.string.len);
		tok = JsonbIteratorNext(&it, &want, true);
		Assert(tok == WJB_VALUE);
		if (props && JB_ROOT_IS_OBJECT(props)
			&& path_value(&props->root, name, k.val.string.len, &found)
			&& found.type != jbvNull)
			have = &found;

		if (want.type == jbvBinary && JsonContainerIsObject(want.val.binary.data))
		{
			JsonbIterator *oit = JsonbIteratorInit(want.val.binary.data);
			JsonbValue	op;
			JsonbValue	arg;

			while ((tok = JsonbIteratorNext(&oit, &op, true)) != WJB_DONE)
			{
				char	   *opname;

				if (tok != WJB_KEY)
					continue;
				opname = pnstrdup(op.val.string.val, op.val.string.len);
				(void) JsonbIteratorNext(&oit, &arg, true);
				if (!op_holds(opname, have, &arg))
					return false;
			}
		}
		else if (have == NULL || !jv_equal(have, &want))
			return false;
	}
	return true;
}

/*
 * _flow_props_match(cond jsonb, props jsonb) RETURNS boolean: NULL conditions always hold;
 * NULL props are an event without props.
 */
Datum
pushplan_flow_props_match(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(props_match(PG_GETARG_JSONB_P(0), PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1)));
}

/* Why an event's props are more than push_track keeps, or NULL (track_read.c calls it too). */
char *
pp_track_props_problem(Jsonb *props)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			keys = 0;
	int			depth = 0;

	if (VARSIZE(props) > TRACK_PROPS_MAX_BYTES)
		return psprintf(PP_CODE(PPE_TRACK_PROPS_SIZE) ": props are at most %d bytes (as jsonb), got %zu",
						TRACK_PROPS_MAX_BYTES, (size_t) VARSIZE(props));
	it = JsonbIteratorInit(&props->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
		{
			/* a scalar at the top is a raw-scalar array: not a level */
			if (!(tok == WJB_BEGIN_ARRAY && v.val.array.rawScalar) && ++depth > TRACK_PROPS_MAX_DEPTH)
				return psprintf(PP_CODE(PPE_TRACK_PROPS_DEPTH) ": props nest at most %d levels deep",
								TRACK_PROPS_MAX_DEPTH);
		}
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			depth--;
		else if (tok == WJB_KEY && ++keys > TRACK_PROPS_MAX_KEYS)
			return psprintf(PP_CODE(PPE_TRACK_PROPS_KEYS) ": props have at most %d keys (at every level)",
							TRACK_PROPS_MAX_KEYS);
	}
	return NULL;
}

/*
 * _track_props_problem(props jsonb) RETURNS text: why an event's props are more than
 * push_track keeps, or NULL. (That they are an object is the caller's check, 93031.)
 */
Datum
pushplan_track_props_problem(PG_FUNCTION_ARGS)
{
	char	   *why = pp_track_props_problem(PG_GETARG_JSONB_P(0));

	if (why == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(why));
}
