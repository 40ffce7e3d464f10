/*
 * audience.c: the SQL faces of audiences: push_audience_count, push_audience_preview and the
 * expansion the scheduler runs (_audience_expand). Parsing is audience_parse.c, compiling to
 * SQL audience_sql.c.
 */
#include "pushplan.h"
#include "tenancy.h"
#include "audience.h"
#include "audience_tree.h"
#include "json.h"

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


/* ---------------------------------------------------------------- SQL functions */

/* The app's id by the rule of every API function: audiences are for operators (tenancy.h). */
static int32
app_id_of(FunctionCallInfo fcinfo)
{
	return pp_app_id(PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)),
					 PP_RIGHT_OPERATOR, NULL);
}

PG_FUNCTION_INFO_V1(pushplan_audience_count);
Datum
pushplan_audience_count(PG_FUNCTION_ARGS)
{
	PPAudience	aud;
	StringInfoData q;
	int32		app_id;
	bool		isnull;
	int64		count;

	SPI_connect();
	app_id = app_id_of(fcinfo);
	pp_audience_compile(app_id, PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), 1, &aud);
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT count(*) FROM (%s) a", aud.sql.data);
	/* no row limit: a limit would make the executor run a parallel plan without workers */
	if (SPI_execute_with_args(q.data, aud.nargs, aud.argtypes, aud.values, NULL, true, 0)
		!= SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "audience count failed");
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(count);
}

PG_FUNCTION_INFO_V1(pushplan_audience_preview);
Datum
pushplan_audience_preview(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PPAudience	aud;
	StringInfoData q;
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	MemoryContext old;
	int32		app_id;
	uint64		i;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("set-valued function called in context that cannot accept a set")));

	SPI_connect();
	app_id = app_id_of(fcinfo);
	if (PG_ARGISNULL(2) || PG_GETARG_INT32(2) < 1 || PG_GETARG_INT32(2) > MAX_PREVIEW)
		pp_error(PPE_AUD_PREVIEW_ROWS, "max_rows must be from 1 to %d", MAX_PREVIEW);
	pp_audience_compile(app_id, PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), 1, &aud);
	initStringInfo(&q);
	/* device_id order: the order in which the devices were registered */
	appendStringInfo(&q, "SELECT d.registration_id FROM (%s) a "
					 "JOIN pushplan.devices d ON d.device_id = a.device_id "
					 "ORDER BY a.device_id LIMIT $%d",
					 aud.sql.data, aud.first_param + aud.nargs);
	aud.argtypes = repalloc(aud.argtypes, sizeof(Oid) * (aud.nargs + 1));
	aud.values = repalloc(aud.values, sizeof(Datum) * (aud.nargs + 1));
	aud.argtypes[aud.nargs] = INT4OID;
	aud.values[aud.nargs] = Int32GetDatum(PG_GETARG_INT32(2));
	if (SPI_execute_with_args(q.data, aud.nargs + 1, aud.argtypes, aud.values, NULL, true, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "audience preview failed");

	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(tupdesc, 1, "registration_id", TEXTOID, -1, 0);
	store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		tuplestore_putvalues(store, tupdesc, &v, &isnull);
	}
	SPI_finish();

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}

/*
 * _audience_expand(app, audience, target): insert the audience's device ids into table target
 * (column device_id), as the sending code will expand a task's audience into deliveries. For
 * tests and benchmarks; runs with the caller's rights.
 */
PG_FUNCTION_INFO_V1(pushplan_audience_expand);
Datum
pushplan_audience_expand(PG_FUNCTION_ARGS)
{
	Oid			target = PG_GETARG_OID(2);
	PPAudience	aud;
	StringInfoData q;
	int32		app_id;
	uint64		n;

	SPI_connect();
	app_id = app_id_of(fcinfo);
	pp_audience_compile(app_id, PG_GETARG_JSONB_P(1), 1, &aud);
	initStringInfo(&q);
	appendStringInfo(&q, "INSERT INTO %s (device_id) SELECT a.device_id FROM (%s) a",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(target)),
												get_rel_name(target)),
					 aud.sql.data);
	if (SPI_execute_with_args(q.data, aud.nargs, aud.argtypes, aud.values, NULL, false, 0)
		!= SPI_OK_INSERT)
		elog(ERROR, "audience expansion failed");
	n = SPI_processed;
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

/* pp_audience_ids_statement (audience.h): the flows' audience queries (branches, audience_enter) */
ArrayType *
pp_audience_ids_statement(int32 app_id, Jsonb *audience, const char *sql, Oid type1, Datum arg1,
						  bool read_only, const char *what)
{
	PPAudience	aud;
	StringInfoData q;
	Oid		   *types;
	Datum	   *values;
	bool		isnull;
	Datum		d;
	ArrayType  *result = NULL;

	SPI_connect();
	pp_audience_compile(app_id, audience, 2, &aud);
	initStringInfo(&q);
	appendStringInfo(&q, sql, aud.sql.data);
	types = palloc(sizeof(Oid) * (aud.nargs + 1));
	values = palloc(sizeof(Datum) * (aud.nargs + 1));
	types[0] = type1;
	values[0] = arg1;
	memcpy(types + 1, aud.argtypes, sizeof(Oid) * aud.nargs);
	memcpy(values + 1, aud.values, sizeof(Datum) * aud.nargs);
	if (SPI_execute_with_args(q.data, aud.nargs + 1, types, values, NULL, read_only, 0)
		!= SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "%s failed", what);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		result = (ArrayType *) DatumGetPointer(SPI_datumTransfer(d, false, -1));
	SPI_finish();
	return result ? result : construct_empty_array(INT8OID);
}
