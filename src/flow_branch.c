/*
 * flow_branch.c: a branch step's audience conditions (doc/flows.md, "Branch conditions").
 *
 * A branch may ask whether the instance's user is in an audience ({"audience": any audience
 * push_send takes}, or {"view": "schema.view"} for short). The audience is compiled as push_send
 * compiles its "to" (src/audience_sql.c: the same checks, the view's allowance for the app, the
 * view named by its catalog names and read with its owner's privileges) and run once per
 * advance for every device the batch's instances stand for, not once per instance
 * (sql/api/89_flow_branch.sql, _flow_branch_hits).
 */
#include "pushplan.h"
#include "audience.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(pushplan_flow_audience_members);

/*
 * _flow_audience_members(app_id int, audience jsonb, devices bigint[]) RETURNS bigint[]: those
 * of the devices that are in the audience now (distinct, ascending). The devices are a filter
 * on the compiled query's device_id, which the planner pushes into it (the index on device ids
 * rather than the whole audience).
 */
Datum
pushplan_flow_audience_members(PG_FUNCTION_ARGS)
{
	PPAudience	aud;
	StringInfoData q;
	Oid		   *types;
	Datum	   *values;
	bool		isnull;
	Datum		d;
	ArrayType  *result = NULL;

	SPI_connect();
	pp_audience_compile(PG_GETARG_INT32(0), PG_GETARG_JSONB_P(1), 2, &aud);
	initStringInfo(&q);
	appendStringInfo(&q,
					 "SELECT array_agg(a.device_id ORDER BY a.device_id) FROM (%s) a "
					 "WHERE a.device_id = ANY ($1)",
					 aud.sql.data);
	types = palloc(sizeof(Oid) * (aud.nargs + 1));
	values = palloc(sizeof(Datum) * (aud.nargs + 1));
	types[0] = INT8ARRAYOID;
	values[0] = PG_GETARG_DATUM(2);
	memcpy(types + 1, aud.argtypes, sizeof(Oid) * aud.nargs);
	memcpy(values + 1, aud.values, sizeof(Datum) * aud.nargs);
	if (SPI_execute_with_args(q.data, aud.nargs + 1, types, values, NULL, true, 0) != SPI_OK_SELECT
		|| SPI_processed != 1)
		elog(ERROR, "flow branch audience evaluation failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		result = (ArrayType *) DatumGetPointer(SPI_datumTransfer(d, false, -1));
	SPI_finish();
	if (result == NULL)
		result = construct_empty_array(INT8OID);
	PG_RETURN_ARRAYTYPE_P(result);
}
