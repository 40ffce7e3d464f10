/*
 * audience_explain.c: why one device does not meet an audience's conditions (push_trace,
 * sql/api/87_trace.sql; doc/statistics.md, "push_trace").
 *
 * No second evaluator: the audience is parsed and resolved as for a send (audience_parse.c),
 * and each node of its tree is asked, through the query the compiler makes of it
 * (audience_sql.c) restricted to the one device, whether the device is in it. The questions
 * are asked of devices in any state (any_state): whether a device is opted in, registered and
 * holds a token is its state, which push_trace reports itself; here only the conditions count.
 * The tree is not simplified as a whole first, so that an unknown tag (resolved to the empty
 * set) is still named.
 *
 * What is reported: for an and, the reasons of each member the device fails; for an or, the
 * reasons of each member (it failed them all), together; under a not, what puts the device in
 * the set the push excludes (for an and there, every member, together). Each node costs one
 * query restricted to this device's id, an index probe (an account_push_type 0 member reads its
 * accounts' bindings, to find the latest device of each): doc/benchmarks.md, "push_trace".
 * A not's operand is simplified in place by the first question about the not (ppa_simplify):
 * the same set, and its leaves, which name the reasons, stay.
 */
#include "pushplan.h"
#include "audience.h"
#include "audience_tree.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

typedef struct Explain
{
	AudCtx		c;				/* the app, the tag look-up plan, any_state */
	int64		device_id;
} Explain;

/* Is the device in n's set? (reachable or not) */
static bool
device_in(Explain *e, AudNode *n)
{
	PPAudience	aud;
	StringInfoData q;
	Oid		   *types;
	Datum	   *values;

	/* simplified on its own: folds what the generator does not take (an empty or) */
	ppa_generate(&e->c, ppa_simplify(n), 1, &aud);
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT 1 FROM (%s) a WHERE a.device_id = $%d LIMIT 1",
					 aud.sql.data, aud.first_param + aud.nargs);
	types = palloc(sizeof(Oid) * (aud.nargs + 1));
	values = palloc(sizeof(Datum) * (aud.nargs + 1));
	memcpy(types, aud.argtypes, sizeof(Oid) * aud.nargs);
	memcpy(values, aud.values, sizeof(Datum) * aud.nargs);
	types[aud.nargs] = INT8OID;
	values[aud.nargs] = Int64GetDatum(e->device_id);
	if (SPI_execute_with_args(q.data, aud.nargs + 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "audience membership test failed");
	return SPI_processed > 0;
}

/* One text result of a query on this device ($1) and one more parameter ($2), or NULL. */
static char *
device_text(Explain *e, const char *sql, Oid type, Datum arg)
{
	Oid			types[2] = {INT8OID, type};
	Datum		values[2] = {Int64GetDatum(e->device_id), arg};
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args(sql, 2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "device look-up failed");
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : TextDatumGetCString(d);
}

static char *
jsonb_text(Datum value)
{
	Jsonb	   *j = DatumGetJsonbP(value);

	return JsonbToCString(NULL, &j->root, VARSIZE(j));
}

/*
 * An account member the device fails: bound to none of the accounts, or (account_push_type 0)
 * not the latest device of those it is bound to.
 */
static char *
account_reason(Explain *e, AudNode *n)
{
	char	   *bound;
	char	   *what = n->kind == A_ACCOUNT ? pstrdup("the push's accounts")
		: psprintf("account package %lld", (long long) n->upload_id);

	if (n->kind == A_ACCOUNT)
		bound = device_text(e, psprintf(
			"SELECT string_agg(format('\"%%s\"', pushplan._shown(b.account)), ', ' ORDER BY b.account) "
			"FROM pushplan.device_accounts b WHERE b.device_id = $1 AND b.account_type = %d "
			"AND b.account = ANY ($2)", n->account_type), TEXTARRAYOID, n->value);
	else
		bound = device_text(e, psprintf(
			"SELECT string_agg(format('\"%%s\"', pushplan._shown(b.account)), ', ' ORDER BY b.account) "
			"FROM pushplan.device_accounts b JOIN pushplan.account_package_accounts p "
			"ON p.account = b.account AND p.upload_id = $2 "
			"WHERE b.device_id = $1 AND b.account_type = %d", n->account_type),
			INT8OID, Int64GetDatum(n->upload_id));
	if (bound == NULL)
		return psprintf("no account of %s (account type %d) is bound to the device", what,
						n->account_type);
	return psprintf("account %s of %s is bound to a more recent device (account_push_type 0: "
					"each account's latest device)", bound, what);
}

/*
 * The reasons why the device fails n, appended to *out; nothing when it does not fail n.
 * excluded: n is under a not, and the device fails it by being in its set; the reasons then
 * say what puts it there, and the not adds that the push excludes it.
 */
static void
explain(Explain *e, AudNode *n, bool excluded, List **out)
{
	ListCell   *lc;

	CHECK_FOR_INTERRUPTS();
	if (device_in(e, n) != excluded)
		return;
	switch (n->kind)
	{
		case A_AND:
		case A_OR:
			if ((n->kind == A_AND) != excluded)
			{
				/* and: each member it fails; excluded or: each member it is in */
				foreach(lc, n->children)
					explain(e, lfirst(lc), excluded, out);
			}
			else
			{
				/* or: it failed every member; excluded and: it is in every member */
				List	   *all = NIL;
				StringInfoData b;

				foreach(lc, n->children)
					explain(e, lfirst(lc), excluded, &all);
				initStringInfo(&b);
				if (!excluded)
					appendStringInfoString(&b, "none of the alternatives: ");
				foreach(lc, all)
					appendStringInfo(&b, "%s%s", lc == list_head(all) ? "" : excluded ? " and " : "; ",
									 (char *) lfirst(lc));
				*out = lappend(*out, b.data);
			}
			break;
		case A_NOT:
			if (excluded)
				explain(e, linitial(n->children), false, out);
			else
			{
				List	   *in = NIL;

				explain(e, linitial(n->children), true, &in);
				foreach(lc, in)
					*out = lappend(*out, psprintf("%s, which the push excludes", (char *) lfirst(lc)));
			}
			break;
		case A_TAG:
			*out = lappend(*out, psprintf(excluded ? "tag \"%s\" present" : "tag \"%s\" missing",
										  pp_shown(n->tag)));
			break;
		case A_NONE:
			/* an unknown tag (never excluded: the empty set holds no device) */
			*out = lappend(*out, n->tag
						   ? psprintf("tag \"%s\" missing (no device of the app has it)", pp_shown(n->tag))
						   : pstrdup("the audience matches no device"));
			break;
		case A_ALL:
			*out = lappend(*out, pstrdup("every device"));
			break;
		case A_ATTR:
			{
				char	   *cond = pp_shown(jsonb_text(n->value));
				char	   *has = device_text(e,
											  "SELECT jsonb_object_agg(k, d.attrs->k)::text "
											  "FROM pushplan.devices d, jsonb_object_keys($2) k "
											  "WHERE d.device_id = $1 AND d.attrs ? k",
											  JSONBOID, n->value);

				if (excluded)
					*out = lappend(*out, psprintf("attributes %s match", cond));
				else
					*out = lappend(*out, psprintf("attribute condition %s not met (the device has %s)",
												  cond, has ? pp_shown(has) : "none of these attributes"));
			}
			break;
		case A_REGID:
			*out = lappend(*out, pstrdup(excluded ? "registration id in the push's list"
										 : "registration id not in the push's list"));
			break;
		case A_TOKEN:
			*out = lappend(*out, pstrdup(excluded ? "token in the push's list"
										 : "token not in the push's list"));
			break;
		case A_ACCOUNT:
		case A_UPLOAD:
			*out = lappend(*out, excluded ? pstrdup("bound to an account of the push's")
						   : account_reason(e, n));
			break;
		case A_VIEW:
			*out = lappend(*out, psprintf(excluded ? "in view %s" : "not in view %s%s",
										  pp_shown(n->view_sql),
										  n->view_account && !excluded
										  ? " (as one of its accounts' latest device)" : ""));
			break;
	}
}

/*
 * _audience_explain(app_id, audience, device_id): why the device does not meet the audience's
 * conditions, one reason an element; an empty array when it meets them. Reachability is not
 * asked (see the header). Internal: the caller (push_trace) checked the app's rights.
 */
PG_FUNCTION_INFO_V1(pushplan_audience_explain);
Datum
pushplan_audience_explain(PG_FUNCTION_ARGS)
{
	Explain		e;
	AudNode    *root;
	List	   *reasons = NIL;
	Datum	   *elems;
	ListCell   *lc;
	int			i = 0;
	MemoryContext caller = CurrentMemoryContext;
	ArrayType  *result;

	memset(&e, 0, sizeof(e));
	e.c.app_id = PG_GETARG_INT32(0);
	e.c.any_state = true;
	e.device_id = PG_GETARG_INT64(2);

	SPI_connect();
	root = ppa_parse_audience(&e.c, PG_GETARG_JSONB_P(1));
	ppa_resolve(&e.c, root);
	explain(&e, root, false, &reasons);

	elems = MemoryContextAlloc(caller, sizeof(Datum) * (list_length(reasons) + 1));
	foreach(lc, reasons)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	result = construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT);
	PG_RETURN_ARRAYTYPE_P(result);
}
