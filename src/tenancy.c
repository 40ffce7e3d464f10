/*
 * tenancy.c: the check every API function and view makes first: may the caller act on this
 * app, and with which rights (tenancy.h, doc/security.md).
 *
 * Bindings are rows of pushplan.app_grants (app_id, role oid, kind). A binding counts for every
 * role that has the privileges of its role (has_privs_of_role: members, through inheritance),
 * so a binding to a group role covers its logins. A dropped role's bindings match nobody
 * (has_privs_of_role is false for an oid that names no role); push_app_grant removes them.
 *
 * On the distributed layout app_grants is a reference table: every node holds the
 * coordinator's rows, whose role oids name the coordinator's roles. A worker node's roles have
 * oids of their own, so a binding read there could name another role; bindings count on the
 * coordinator only (bindings_here), where the API is called (doc/scale-out.md, "Where the API
 * is called"). Superusers and pushplan_admin members, found by name, may call it anywhere.
 */
#include "pushplan.h"
#include "tenancy.h"

#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(pushplan_app_id);
PG_FUNCTION_INFO_V1(pushplan_app_holds);
PG_FUNCTION_INFO_V1(pushplan_visible_apps);
PG_FUNCTION_INFO_V1(pushplan_caller_acts_as);
PG_FUNCTION_INFO_V1(pushplan_caller);

/* Kept for the backend's life: these run at the start of every API call. */
static SPIPlanPtr app_plan = NULL;
static SPIPlanPtr grants_plan = NULL;

Oid
pp_caller(void)
{
	return GetOuterUserId();
}

bool
pp_caller_cluster_wide(void)
{
	Oid			caller = pp_caller();
	Oid			admin;

	if (superuser_arg(caller))
		return true;
	admin = get_role_oid("pushplan_admin", true);
	return OidIsValid(admin) && has_privs_of_role(caller, admin);
}

/*
 * Kinds by name: what a binding of the kind holds, and what a function asking for it wants.
 * "send" is no binding: push_send and push_cancel want app or operator rights.
 */
static const struct
{
	const char *name;
	int			holds;
	int			wants;
	const char *wants_name;		/* for 92061 */
}			kinds[] = {
	{"admin", PP_RIGHTS_ALL, PP_RIGHT_ADMIN, "admin"},
	{"operator", PP_RIGHT_OPERATOR | PP_RIGHT_READER, PP_RIGHT_OPERATOR, "operator"},
	{"app", PP_RIGHT_APP, PP_RIGHT_APP, "app"},
	{"reader", PP_RIGHT_READER, PP_RIGHT_READER, "reader"},
	{"send", 0, PP_RIGHT_APP | PP_RIGHT_OPERATOR, "app or operator"},
};

static int
kind_index(const char *name)
{
	for (int i = 0; i < lengthof(kinds); i++)
		if (strcmp(kinds[i].name, name) == 0)
			return i;
	/* _visible_apps(kind) is callable by every pushplan role: a documented error, a short value */
	pp_error(PPE_KIND_UNKNOWN, "unknown kind \"%s\" (admin, operator, app, reader, send)",
			 pp_shown(name));
	return -1;					/* keep the compiler quiet */
}

static const char *
wants_name(int any_of)
{
	for (int i = 0; i < lengthof(kinds); i++)
		if (kinds[i].wants == any_of)
			return kinds[i].wants_name;
	return "those";
}

static SPIPlanPtr
kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			elog(ERROR, "pushplan: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "pushplan: SPI_keepplan failed");
		*plan = p;
	}
	return *plan;
}

/*
 * This node's Citus group as last read (0: the coordinator; -1: not read since the last
 * invalidation). Citus sends a relcache invalidation of pg_dist_local_group whenever its row
 * changes (a trigger on it), the one its own cache of the group listens to: so does this.
 */
static int32 local_group = -1;
static Oid	local_group_relid = InvalidOid;

static void
local_group_invalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == local_group_relid)
		local_group = -1;
}

/*
 * Refuses the bindings on a Citus worker node (a node whose group is not the coordinator's, 0),
 * where their role oids are another node's (above). Without Citus in the database this costs a
 * catalog cache probe; with it, a read of Citus' one-row pg_dist_local_group when the group is
 * not known. Needs an SPI connection.
 */
static void
bindings_here(void)
{
	static bool callback = false;
	bool		isnull;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return;
	if (local_group < 0)
	{
		if (!callback)
		{
			CacheRegisterRelcacheCallback(local_group_invalidate, (Datum) 0);
			callback = true;
		}
		local_group_relid = get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE);
		if (SPI_execute("SELECT groupid FROM pg_catalog.pg_dist_local_group", true, 1) != SPI_OK_SELECT)
			elog(ERROR, "pushplan: reading pg_dist_local_group failed");
		local_group = SPI_processed == 1 ?
			DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) : 0;
	}
	if (local_group != 0)
		ereport(ERROR,
				(pp_errmsg(PPE_CITUS_BINDINGS_HERE,
						   "app bindings are checked on the coordinator: role \"%s\" calls pushplan on a worker node",
						   GetUserNameFromId(pp_caller(), false)),
				 errhint("Call pushplan's functions and views on the coordinator (doc/scale-out.md, \"Where the API is called\").")));
}

/* Rights from the bindings of app_id; needs an SPI connection. */
static int
rights_from_bindings(int32 app_id)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(app_id)};
	Oid			caller = pp_caller();
	int			rights = 0;
	int			ret;

	bindings_here();

	ret = SPI_execute_plan(kept_plan(&grants_plan,
									 "SELECT role, kind FROM pushplan.app_grants WHERE app_id = $1",
									 1, types),
						   args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "pushplan: reading app_grants failed: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			role = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1, &isnull));
		char	   *kind = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (has_privs_of_role(caller, role))
			rights |= kinds[kind_index(kind)].holds;
	}
	return rights;
}

int
pp_app_rights(int32 app_id)
{
	int			rights;

	if (pp_caller_cluster_wide())
		return PP_RIGHTS_ALL;
	SPI_connect();
	rights = rights_from_bindings(app_id);
	SPI_finish();
	return rights;
}

int32
pp_app_id(const char *app, int any_of, int *held)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	int32		app_id = 0;
	int			rights = 0;
	bool		found = false;
	int			ret;

	if (app == NULL)
		pp_error(PPE_APP_UNKNOWN, "app \"<NULL>\" does not exist");
	args[0] = CStringGetTextDatum(app);
	SPI_connect();
	ret = SPI_execute_plan(kept_plan(&app_plan,
									 "SELECT app_id FROM pushplan.apps WHERE app = $1",
									 1, types),
						   args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "pushplan: reading apps failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		bool		isnull;

		found = true;
		app_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											 &isnull));
		rights = pp_caller_cluster_wide() ? PP_RIGHTS_ALL : rights_from_bindings(app_id);
	}
	SPI_finish();

	/* no binding at all looks exactly like no app */
	if (!found || rights == 0)
		pp_error(PPE_APP_UNKNOWN, "app \"%s\" does not exist", pp_shown(app));
	if ((rights & any_of) == 0)
		ereport(ERROR,
				(pp_errmsg(PPE_RIGHTS_MISSING, "role \"%s\" holds no %s rights on app \"%s\"",
						GetUserNameFromId(pp_caller(), false), wants_name(any_of), app),
				 errhint("push_app_grant(app, role, kind) binds a role to an app.")));
	if (held)
		*held = rights;
	return app_id;
}

/* _app_id(app text, kind text) RETURNS int: pp_app_id for SQL functions. */
Datum
pushplan_app_id(PG_FUNCTION_ARGS)
{
	char	   *app = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (PG_ARGISNULL(1))
		elog(ERROR, "pushplan: _app_id needs a kind");
	PG_RETURN_INT32(pp_app_id(app, kinds[kind_index(text_to_cstring(PG_GETARG_TEXT_PP(1)))].wants,
							   NULL));
}

/* _app_holds(app_id int, kind text) RETURNS boolean */
Datum
pushplan_app_holds(PG_FUNCTION_ARGS)
{
	int			want = kinds[kind_index(text_to_cstring(PG_GETARG_TEXT_PP(1)))].wants;

	PG_RETURN_BOOL((pp_app_rights(PG_GETARG_INT32(0)) & want) != 0);
}

/*
 * _visible_apps(kind text) RETURNS int[]: the apps on which the caller holds the right; what
 * the views filter on (evaluated once per query, as an InitPlan).
 */
Datum
pushplan_visible_apps(PG_FUNCTION_ARGS)
{
	int			want = kinds[kind_index(text_to_cstring(PG_GETARG_TEXT_PP(0)))].wants;
	bool		all = pp_caller_cluster_wide();
	Oid			caller = pp_caller();
	ArrayBuildState *acc = initArrayResult(INT4OID, CurrentMemoryContext, false);
	int			ret;

	SPI_connect();
	if (all)
		ret = SPI_execute("SELECT app_id, NULL::oid, 'admin' FROM pushplan.apps", true, 0);
	else
	{
		bindings_here();
		ret = SPI_execute("SELECT app_id, role, kind FROM pushplan.app_grants", true, 0);
	}
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "pushplan: reading app_grants failed: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		app_id = SPI_getbinval(tup, desc, 1, &isnull);

		if (!all)
		{
			Oid			role = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));

			if ((kinds[kind_index(SPI_getvalue(tup, desc, 3))].holds & want) == 0 ||
				!has_privs_of_role(caller, role))
				continue;
		}
		(void) accumArrayResult(acc, app_id, false, INT4OID, CurrentMemoryContext);
	}
	SPI_finish();
	PG_RETURN_DATUM(makeArrayResult(acc, CurrentMemoryContext));
}

/* _caller_acts_as(role oid) RETURNS boolean: the caller has the privileges of that role. */
Datum
pushplan_caller_acts_as(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!PG_ARGISNULL(0) && has_privs_of_role(pp_caller(), PG_GETARG_OID(0)));
}

/* _caller() RETURNS oid: the role calling, from inside a SECURITY DEFINER function too. */
Datum
pushplan_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(pp_caller());
}
