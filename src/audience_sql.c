/*
 * audience_sql.c: audiences (doc/audiences.md) compiled to SQL set operations over device ids.
 *
 * Each of the three dialects (EngageLab "to", Tencent Push audience_type, Tencent IM Condition) is
 * validated and parsed into one small tree: and / or / not over leaves (all devices, a tag, an
 * attribute containment, registration ids, tokens, accounts, an account package). Tags and
 * packages are then resolved through the app's dictionary, the tree is simplified (an unknown tag
 * is the empty set), and SQL is generated:
 *	 and: the positive members joined on device_id (for tags, merge joins of index-only scans of
 *		  device_tags' primary key), the negative ones as anti-joins (NOT EXISTS);
 *	 or:  one scan per kind (tag_id = ANY, attrs @> ANY), UNION between kinds;
 *	 not: the app's devices minus the set.
 * Sets read from devices apply reachability in the same scan; the others subtract the small set
 * of unreachable devices (partial index devices_unreachable_idx) once, at the top. Compiled with
 * any_state (audience_explain.c: is one device in this node's set?), reachability is left out.
 */
#include "pushplan.h"
#include "tenancy.h"
#include "audience.h"
#include "audience_tree.h"
#include "json.h"
#include "layout.h"

#include <errno.h>
#include <limits.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"


/* ---------------------------------------------------------------- resolution, simplification */

void
ppa_resolve(AudCtx *c, AudNode *n)
{
	ListCell   *lc;

	if (n->kind == A_TAG)
	{
		Datum		args[2];
		bool		isnull;

		if (c->tag_plan == NULL)
		{
			Oid			types[2] = {INT4OID, TEXTOID};

			c->tag_plan = SPI_prepare("SELECT tag_id FROM pushplan.tags WHERE app_id = $1 AND tag = $2",
									  2, types);
			if (c->tag_plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		}
		args[0] = Int32GetDatum(c->app_id);
		args[1] = CStringGetTextDatum(n->tag);
		if (SPI_execute_plan(c->tag_plan, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "tag look-up failed");
		if (SPI_processed == 0)
			n->kind = A_NONE;	/* an unknown tag matches nothing */
		else
			n->tag_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 1, &isnull));
	}
	else if (n->kind == A_UPLOAD)
	{
		Oid			types[2] = {INT8OID, INT4OID};
		Datum		args[2];
		bool		isnull;
		int32		type;

		args[0] = Int64GetDatum(n->upload_id);
		args[1] = Int32GetDatum(c->app_id);
		if (SPI_execute_with_args("SELECT account_type FROM pushplan.account_packages "
								  "WHERE upload_id = $1 AND app_id = $2",
								  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "account package look-up failed");
		if (SPI_processed == 0)
			pp_error(PPE_AUD_PACKAGE_UNKNOWN, "account package %lld does not exist",
					 (long long) n->upload_id);
		type = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										   &isnull));
		if (n->account_type >= 0 && n->account_type != type)
			pp_error(PPE_AUD_ACCOUNT_TYPE_DIFFERS,
					 "\"account_type\" %d differs from account package %lld's account type %d",
					 n->account_type, (long long) n->upload_id, type);
		n->account_type = type;
	}
	else if (n->kind == A_VIEW)
		ppa_view_resolve(c, n);
	foreach(lc, n->children)
		ppa_resolve(c, lfirst(lc));
}

/*
 * Fold empty and full sets, flatten nested and/or, drop double negation. A not's operand is
 * replaced by its simplified form, in place (the same set).
 */
AudNode *
ppa_simplify(AudNode *n)
{
	List	   *kids = NIL;
	ListCell   *lc;

	if (n->kind == A_NOT)
	{
		AudNode    *x = ppa_simplify(linitial(n->children));

		if (x->kind == A_NONE)
			return ppa_mknode(A_ALL);
		if (x->kind == A_ALL)
			return ppa_mknode(A_NONE);
		if (x->kind == A_NOT)
			return linitial(x->children);
		n->children = list_make1(x);
		return n;
	}
	if (n->kind != A_AND && n->kind != A_OR)
		return n;
	foreach(lc, n->children)
	{
		AudNode    *x = ppa_simplify(lfirst(lc));

		/* and: all is neutral, none absorbs; or: the other way round */
		if (x->kind == (n->kind == A_AND ? A_ALL : A_NONE))
			continue;
		if (x->kind == (n->kind == A_AND ? A_NONE : A_ALL))
			return x;
		if (x->kind == n->kind)
			kids = list_concat(kids, x->children);
		else
			kids = lappend(kids, x);
	}
	if (kids == NIL)
		return ppa_mknode(n->kind == A_AND ? A_ALL : A_NONE);
	return ppa_mklist(n->kind, kids);
}

/* ---------------------------------------------------------------- SQL generation */

static int
param(AudCtx *c, Oid type, Datum value)
{
	PPAudience *a = c->out;

	if (a->nargs == a->maxargs)
	{
		a->maxargs *= 2;
		a->argtypes = repalloc(a->argtypes, sizeof(Oid) * a->maxargs);
		a->values = repalloc(a->values, sizeof(Datum) * a->maxargs);
	}
	a->argtypes[a->nargs] = type;
	a->values[a->nargs] = value;
	return a->first_param + a->nargs++;
}

static Datum
int4_array(List *ids)
{
	Datum	   *elems = palloc(sizeof(Datum) * list_length(ids));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, ids)
		elems[i++] = Int32GetDatum(lfirst_int(lc));
	return PointerGetDatum(construct_array(elems, i, INT4OID, 4, true, TYPALIGN_INT));
}

static Datum
jsonb_array(List *values)
{
	Datum	   *elems = palloc(sizeof(Datum) * list_length(values));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, values)
		elems[i++] = PointerGetDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, i, JSONBOID, -1, false, TYPALIGN_INT));
}

static bool gen_set(AudCtx *c, AudNode *n, StringInfo buf);

static void
gen_devices(AudCtx *c, StringInfo buf)
{
	appendStringInfo(buf, "SELECT device_id FROM pushplan.devices WHERE app_id = $%d%s",
					 c->app_param, c->any_state ? "" : " AND reachable");
}

static void
gen_accounts(AudCtx *c, AudNode *n, StringInfo buf)
{
	StringInfoData from;

	initStringInfo(&from);
	if (n->kind == A_ACCOUNT)
		appendStringInfo(&from, "pushplan.device_accounts b "
						 "WHERE b.app_id = $%d AND b.account_type = $%d AND b.account = ANY ($%d)",
						 c->app_param, param(c, INT4OID, Int32GetDatum(n->account_type)),
						 param(c, TEXTARRAYOID, n->value));
	else
		appendStringInfo(&from, "pushplan.account_package_accounts p "
						 "JOIN pushplan.device_accounts b ON b.account = p.account "
						 "WHERE p.upload_id = $%d AND b.app_id = $%d AND b.account_type = $%d",
						 param(c, INT8OID, Int64GetDatum(n->upload_id)), c->app_param,
						 param(c, INT4OID, Int32GetDatum(n->account_type)));
	if (n->push_type == 1)
		appendStringInfo(buf, "SELECT DISTINCT b.device_id FROM %s", from.data);
	else
	{
		/* each account's latest binding; a tie on bound_at goes to the newer device */
		int			a = c->alias++;

		appendStringInfo(buf, "SELECT DISTINCT s%d.device_id FROM (SELECT DISTINCT ON (b.account) "
						 "b.device_id FROM %s ORDER BY b.account, b.bound_at DESC, b.device_id DESC) s%d",
						 a, from.data, a);
	}
}

/*
 * An allowed view (audience_view.c), named by its catalog name, quoted. Its columns are cast
 * and compared with pg_catalog's own operators, named: an operator or a cast someone planted
 * in a schema of the search path (public) matches nothing here, whatever the view's column
 * types (a varchar column would otherwise prefer a planted text = varchar). Registration ids
 * compare in the "C" collation of devices.registration_id (its unique index).
 */
static bool
gen_view(AudCtx *c, AudNode *n, StringInfo buf)
{
	int			a = c->alias++;

	if (!n->view_account)
	{
		gen_devices(c, buf);
		appendStringInfo(buf, " AND registration_id OPERATOR(pg_catalog.=) ANY (SELECT "
						 "CAST(v%d.registration_id AS pg_catalog.text) COLLATE pg_catalog.\"C\" "
						 "FROM %s v%d)", a, n->view_sql, a);
		return true;
	}
	/* each account's latest binding, as an account audience's default (account_push_type 0) */
	appendStringInfo(buf, "SELECT DISTINCT s%d.device_id FROM (SELECT DISTINCT ON (b.account_type, b.account) "
					 "b.device_id FROM pushplan.device_accounts b WHERE b.app_id = $%d AND EXISTS "
					 "(SELECT 1 FROM %s v%d WHERE CAST(v%d.account AS pg_catalog.text) COLLATE pg_catalog.\"default\" "
					 "OPERATOR(pg_catalog.=) b.account AND CAST(v%d.account_type AS pg_catalog.int4) "
					 "OPERATOR(pg_catalog.=) b.account_type) "
					 "ORDER BY b.account_type, b.account, b.bound_at DESC, b.device_id DESC) s%d",
					 a, c->app_param, n->view_sql, a, a, a, a);
	return false;
}

/*
 * or: tags in one scan, attribute tests in one scan, every other member on its own, UNION
 * between them. distinct = false: the caller only tests membership, so repeats may stay.
 */
static bool
gen_or(AudCtx *c, List *members, StringInfo buf, bool distinct)
{
	List	   *tags = NIL,
			   *attrs = NIL,
			   *parts = NIL;
	ListCell   *lc;
	bool		reach = true;

	foreach(lc, members)
	{
		AudNode    *x = lfirst(lc);

		if (x->kind == A_TAG)
			tags = list_append_unique_int(tags, x->tag_id);
		else if (x->kind == A_ATTR)
			attrs = lappend(attrs, DatumGetPointer(x->value));
		else
			parts = lappend(parts, x);
	}
	if (tags != NIL || attrs != NIL || parts != NIL)
	{
		bool		first = true;

#define NEXT_PART() \
		do { \
			if (!first) appendStringInfoString(buf, distinct ? " UNION " : " UNION ALL "); \
			appendStringInfoChar(buf, '('); \
			first = false; \
		} while (0)

		if (list_length(tags) == 1)
		{
			NEXT_PART();
			appendStringInfo(buf, "SELECT device_id FROM pushplan.device_tags WHERE tag_id = $%d)",
							 param(c, INT4OID, Int32GetDatum(linitial_int(tags))));
			reach = false;
		}
		else if (tags != NIL && !distinct)
		{
			NEXT_PART();
			appendStringInfo(buf, "SELECT device_id FROM pushplan.device_tags WHERE tag_id = ANY ($%d))",
							 param(c, INT4ARRAYOID, int4_array(tags)));
			reach = false;
		}
		else if (tags != NIL)
		{
			/*
			 * A few tags: a UNION ALL of disjoint parts, tag i minus tags 1..i-1 (anti-joins
			 * of index-only scans), needs neither a sort nor a hash over all the ids and
			 * leaves the planner true row estimates (doc/benchmarks.md). Many tags: one
			 * hashed DISTINCT.
			 */
			int		   *p = palloc(sizeof(int) * list_length(tags));
			int			i = 0;
			ListCell   *t;

			NEXT_PART();
			if (list_length(tags) > MAX_DISJOINT_OR)
				appendStringInfo(buf, "SELECT DISTINCT device_id FROM pushplan.device_tags "
								 "WHERE tag_id = ANY ($%d)",
								 param(c, INT4ARRAYOID, int4_array(tags)));
			else
				foreach(t, tags)
				{
					int			a = c->alias++;
					int			j;

					p[i] = param(c, INT4OID, Int32GetDatum(lfirst_int(t)));
					appendStringInfo(buf, "%sSELECT s%d.device_id FROM pushplan.device_tags s%d "
									 "WHERE s%d.tag_id = $%d", i > 0 ? " UNION ALL " : "",
									 a, a, a, p[i]);
					for (j = 0; j < i; j++)
						appendStringInfo(buf, " AND NOT EXISTS (SELECT 1 FROM pushplan.device_tags x "
										 "WHERE x.tag_id = $%d AND x.device_id = s%d.device_id)",
										 p[j], a);
					i++;
				}
			appendStringInfoChar(buf, ')');
			reach = false;
		}
		if (attrs != NIL)
		{
			NEXT_PART();
			gen_devices(c, buf);
			if (list_length(attrs) == 1)
				appendStringInfo(buf, " AND attrs @> $%d)",
								 param(c, JSONBOID, PointerGetDatum(linitial(attrs))));
			else
				appendStringInfo(buf, " AND attrs @> ANY ($%d))",
								 param(c, JSONBARRAYOID, jsonb_array(attrs)));
		}
		foreach(lc, parts)
		{
			NEXT_PART();
			reach &= gen_set(c, lfirst(lc), buf);
			appendStringInfoChar(buf, ')');
		}
#undef NEXT_PART
	}
	return reach;
}

/*
 * and: the positive members joined on device_id (attribute tests merged into one scan of
 * devices), the negated ones as anti-joins; with no positive member, the app's devices.
 */
static bool
gen_and(AudCtx *c, List *members, StringInfo buf)
{
	List	   *pos = NIL,
			   *neg = NIL,
			   *attrs = NIL;
	ListCell   *lc;
	StringInfoData from;
	int			base = c->alias++;
	bool		reach = false;
	bool		first = true;

	foreach(lc, members)
	{
		AudNode    *x = lfirst(lc);

		if (x->kind == A_NOT)
			neg = lappend(neg, linitial(x->children));
		else if (x->kind == A_ATTR)
			attrs = lappend(attrs, x);
		else
			pos = lappend(pos, x);
	}
	initStringInfo(&from);
	if (attrs != NIL || pos == NIL)
	{
		appendStringInfoChar(&from, '(');
		gen_devices(c, &from);
		foreach(lc, attrs)
			appendStringInfo(&from, " AND attrs @> $%d",
							 param(c, JSONBOID, ((AudNode *) lfirst(lc))->value));
		appendStringInfo(&from, ") s%d", base);
		reach = true;
		first = false;
	}
	foreach(lc, pos)
	{
		int			a = first ? base : c->alias++;

		if (!first)
			appendStringInfoString(&from, " JOIN ");
		appendStringInfoChar(&from, '(');
		reach |= gen_set(c, lfirst(lc), &from);
		if (first)
			appendStringInfo(&from, ") s%d", a);
		else
			appendStringInfo(&from, ") s%d ON s%d.device_id = s%d.device_id", a, a, base);
		first = false;
	}
	appendStringInfo(buf, "SELECT s%d.device_id FROM %s", base, from.data);
	foreach(lc, neg)
	{
		AudNode    *x = lfirst(lc);
		int			a = c->alias++;

		appendStringInfo(buf, "%s NOT EXISTS (SELECT 1 FROM (",
						 lc == list_head(neg) ? " WHERE" : " AND");
		if (x->kind == A_OR)
			gen_or(c, x->children, buf, false);
		else
			gen_set(c, x, buf);
		appendStringInfo(buf, ") s%d WHERE s%d.device_id = s%d.device_id)", a, a, base);
	}
	return reach;
}

/* A query for the distinct device ids of n; returns true when all of them are reachable. */
static bool
gen_set(AudCtx *c, AudNode *n, StringInfo buf)
{
	switch (n->kind)
	{
		case A_ALL:
			gen_devices(c, buf);
			return true;
		case A_NONE:
			appendStringInfoString(buf, "SELECT NULL::bigint AS device_id WHERE false");
			return true;
		case A_TAG:
			appendStringInfo(buf, "SELECT device_id FROM pushplan.device_tags WHERE tag_id = $%d",
							 param(c, INT4OID, Int32GetDatum(n->tag_id)));
			return false;
		case A_ATTR:
			gen_devices(c, buf);
			appendStringInfo(buf, " AND attrs @> $%d", param(c, JSONBOID, n->value));
			return true;
		case A_REGID:
		case A_TOKEN:
			gen_devices(c, buf);
			appendStringInfo(buf, " AND %s = ANY ($%d)",
							 n->kind == A_REGID ? "registration_id" : "token",
							 param(c, TEXTARRAYOID, n->value));
			return true;
		case A_ACCOUNT:
		case A_UPLOAD:
			/*
			 * an account package's accounts are the coordinator's tables, and an account's
			 * latest device is chosen among its devices on every shard (doc/scale-out.md)
			 */
			if (n->kind == A_UPLOAD || n->push_type != 1)
				c->out->coordinator_only = true;
			gen_accounts(c, n, buf);
			return false;
		case A_VIEW:
			/* the app's own view: whatever it reads is the coordinator's */
			c->out->coordinator_only = true;
			return gen_view(c, n, buf);
		case A_OR:
			return gen_or(c, n->children, buf, true);
		case A_AND:
			return gen_and(c, n->children, buf);
		case A_NOT:
			return gen_and(c, list_make1(n), buf);
	}
	return false;					/* not reached */
}

void
pp_audience_compile(int32 app_id, Jsonb *audience, int first_param, PPAudience *out)
{
	AudCtx		c;
	AudNode    *root;

	memset(&c, 0, sizeof(c));
	c.app_id = app_id;
	root = ppa_parse_audience(&c, audience);	/* every check before any look-up */
	ppa_resolve(&c, root);
	ppa_generate(&c, ppa_simplify(root), first_param, out);
}

void
ppa_generate(AudCtx *c, AudNode *root, int first_param, PPAudience *out)
{
	StringInfoData body;

	c->out = out;
	c->alias = 0;
	initStringInfo(&out->sql);
	out->first_param = first_param;
	out->nargs = 0;
	out->coordinator_only = false;
	out->whole_app = root->kind == A_ALL && !c->any_state;
	out->maxargs = 8;
	out->argtypes = palloc(sizeof(Oid) * out->maxargs);
	out->values = palloc(sizeof(Datum) * out->maxargs);
	c->app_param = param(c, INT4OID, Int32GetDatum(c->app_id));

	initStringInfo(&body);
	if (gen_set(c, root, &body) || c->any_state)
		appendStringInfoString(&out->sql, body.data);
	else if (pp_registry_distributed())
		/*
		 * Citus plans no correlated anti-join beside a subquery it had to pull up to the
		 * coordinator (each account's latest device); an inner join on the distribution
		 * column plans in every case (doc/scale-out.md).
		 */
		appendStringInfo(&out->sql, "SELECT s.device_id FROM (%s) s JOIN pushplan.devices u "
						 "ON u.device_id = s.device_id WHERE u.app_id = $%d AND u.reachable",
						 body.data, c->app_param);
	else
		appendStringInfo(&out->sql, "SELECT s.device_id FROM (%s) s WHERE NOT EXISTS "
						 "(SELECT 1 FROM pushplan.devices u WHERE u.app_id = $%d "
						 "AND NOT u.reachable AND u.device_id = s.device_id)",
						 body.data, c->app_param);
}

int
pp_audience_list_size(Jsonb *audience)
{
	AudCtx		c;
	AudNode    *root;

	memset(&c, 0, sizeof(c));
	root = ppa_parse_audience(&c, audience);
	if (root->kind != A_REGID && root->kind != A_TOKEN && root->kind != A_ACCOUNT)
		return -1;
	return ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(root->value)),
						  ARR_DIMS(DatumGetArrayTypeP(root->value)));
}
