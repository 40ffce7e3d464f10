/*
 * audience_view.c: audiences from the application's own views ({"view": "schema.view"};
 * doc/audiences.md, "Views").
 *
 * An admin allows a view for an app (push_audience_view_allow, sql/api/42_audience_views.sql);
 * an audience of that app may then name it. The name the caller gives is only looked up: the
 * view is found by schema and name in the catalogs (no search_path, no ACL check of the role
 * compiling, which may be the workers' role), its OID must be one the app was allowed, and the
 * compiled SQL names it by the catalogs' own names, quoted (audience_sql.c). Nothing the caller
 * wrote reaches the SQL text.
 *
 * The view is read as PostgreSQL reads any view: its tables with its owner's privileges. A view
 * with security_invoker would be read with the privileges of whoever runs the audience (the
 * extension's owner, the workers' role), so it is refused, at allowance and at every compile.
 * What it returns decides its kind: a registration_id column (text or varchar) makes the
 * audience those devices of the app; account (text or varchar) and account_type (an integer
 * type), each account's latest device (account_push_type 0, the default of account audiences).
 */
#include "pushplan.h"
#include "audience_tree.h"
#include "tenancy.h"

#include "access/relation.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/varlena.h"

PG_FUNCTION_INFO_V1(pushplan_audience_view_kind);
PG_FUNCTION_INFO_V1(pushplan_audience_view_unreadable);

/* The type of a column of relid, InvalidOid when it has none of that name. */
static Oid
column_type(Oid relid, const char *name)
{
	AttrNumber	att = get_attnum(relid, name);

	return att == InvalidAttrNumber ? InvalidOid : get_atttype(relid, att);
}

static bool
is_text(Oid type)
{
	return type == TEXTOID || type == VARCHAROID;
}

static bool
is_integer(Oid type)
{
	return type == INT2OID || type == INT4OID || type == INT8OID;
}

/* The view's name as SQL names it: schema and name from the catalogs, each quoted. */
static char *
view_sql_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * The kind of view relid ("registration_id" or "account"), locked for the transaction; raises
 * 93083 (not a view), 93084 (security_invoker), 93082 (neither set of columns).
 */
static const char *
view_kind(Oid relid)
{
	Relation	rel;
	char		relkind;
	bool		invoker = false;
	char	   *name = view_sql_name(relid);

	rel = relation_open(relid, AccessShareLock);
	relkind = rel->rd_rel->relkind;
	if (relkind == RELKIND_VIEW)
		invoker = RelationHasSecurityInvoker(rel);
	relation_close(rel, NoLock);	/* the lock is kept until the transaction ends */
	if (relkind != RELKIND_VIEW && relkind != RELKIND_MATVIEW)
		pp_error(PPE_AUD_VIEW_NOT_VIEW, "%s is not a view", pp_shown(name));
	/* the system's and pushplan's own views are no application's */
	if (IsCatalogNamespace(get_rel_namespace(relid)) ||
		strcmp(get_namespace_name(get_rel_namespace(relid)), "information_schema") == 0 ||
		get_rel_namespace(relid) == get_namespace_oid("pushplan", false))
		pp_error(PPE_AUD_VIEW_NOT_VIEW, "%s is not a view of the application's", pp_shown(name));
	if (invoker)
		ereport(ERROR,
				(pp_errmsg(PPE_AUD_VIEW_INVOKER,
						   "view %s has security_invoker set: an audience's view is read with its owner's privileges",
						   pp_shown(name)),
				 errhint("ALTER VIEW %s RESET (security_invoker)", name)));
	if (is_text(column_type(relid, "registration_id")))
		return "registration_id";
	if (is_text(column_type(relid, "account")) && is_integer(column_type(relid, "account_type")))
		return "account";
	pp_error(PPE_AUD_VIEW_COLUMNS,
			 "view %s returns neither registration_id (text) nor account (text) and account_type (an integer)",
			 pp_shown(name));
	return NULL;				/* not reached */
}

/*
 * _audience_view_kind(view oid) RETURNS text: the kind of a view push_audience_view_allow is
 * given, after the checks every compile makes.
 */
Datum
pushplan_audience_view_kind(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	if (get_rel_name(relid) == NULL)
		pp_error(PPE_AUD_VIEW_NOT_VIEW, "relation %u does not exist", relid);
	PG_RETURN_TEXT_P(cstring_to_text(view_kind(relid)));
}

/*
 * Checks the form of a view name ("schema.view", each part quoted as SQL quotes identifiers)
 * and keeps it in n->view; looks nothing up (every check comes before any look-up).
 */
void
ppa_view_name_check(AudNode *n, const char *name, int len)
{
	char	   *s = pnstrdup(name, len);
	List	   *parts = NIL;
	char	   *copy = pstrdup(s);

	if (len == 0 || len > 2 * NAMEDATALEN + 8 || strlen(s) != (size_t) len ||
		!SplitIdentifierString(copy, '.', &parts) || list_length(parts) != 2)
		pp_error(PPE_AUD_VIEW_NAME,
				 "\"view\" names a view with its schema, \"schema.view\", got \"%s\"", pp_shown(s));
	n->view = s;
	n->view_schema = pstrdup(linitial(parts));
	n->view_name = pstrdup(llast(parts));
}

/*
 * Resolves n (A_VIEW): the view of that schema and name, which must be one the app was
 * allowed (93081, also for a view that does not exist: a tenant learns nothing of other
 * schemas), still a view its owner's privileges read, with the columns of its kind.
 */
void
ppa_view_resolve(AudCtx *c, AudNode *n)
{
	Oid			nsp = get_namespace_oid(n->view_schema, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(n->view_name, nsp) : InvalidOid;
	bool		allowed = false;

	if (OidIsValid(relid))
	{
		Oid			types[2] = {INT4OID, OIDOID};
		Datum		args[2];

		args[0] = Int32GetDatum(c->app_id);
		args[1] = ObjectIdGetDatum(relid);
		if (SPI_execute_with_args("SELECT 1 FROM pushplan.audience_views "
								  "WHERE app_id = $1 AND view_oid = $2",
								  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "audience view look-up failed");
		allowed = SPI_processed == 1;
	}
	if (!allowed)
		ereport(ERROR,
				(pp_errmsg(PPE_AUD_VIEW_NOT_ALLOWED, "view \"%s\" is not allowed for this app",
						   pp_shown(n->view)),
				 errhint("An admin of the app allows it: push_audience_view_allow(app, view).")));
	n->view_oid = relid;
	n->view_account = strcmp(view_kind(relid), "account") == 0;
	n->view_sql = view_sql_name(relid);
}

/*
 * _audience_view_unreadable(view oid) RETURNS text: the first of the roles that must read the
 * view who cannot (no USAGE on its schema, or no SELECT on it), NULL when all can: the caller
 * (an admin allows only what it can read itself), the role running this (the extension's
 * owner, which push_send and push_audience_count run as) and pushplan_worker (the scheduler's
 * expansion).
 */
Datum
pushplan_audience_view_unreadable(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			nsp = get_rel_namespace(relid);
	Oid			roles[3];

	roles[0] = pp_caller();
	roles[1] = GetUserId();
	roles[2] = get_role_oid("pushplan_worker", true);
	for (int i = 0; i < lengthof(roles); i++)
	{
		if (!OidIsValid(roles[i]))
			PG_RETURN_TEXT_P(cstring_to_text("pushplan_worker"));
		if (pg_namespace_aclcheck(nsp, roles[i], ACL_USAGE) != ACLCHECK_OK ||
			pg_class_aclcheck(relid, roles[i], ACL_SELECT) != ACLCHECK_OK)
			PG_RETURN_TEXT_P(cstring_to_text(GetUserNameFromId(roles[i], false)));
	}
	PG_RETURN_NULL();
}
