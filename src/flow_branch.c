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
	PG_RETURN_ARRAYTYPE_P(pp_audience_ids_statement(
		PG_GETARG_INT32(0), PG_GETARG_JSONB_P(1),
		"SELECT array_agg(a.device_id ORDER BY a.device_id) FROM (%s) a "
		"WHERE a.device_id = ANY ($1)",
		INT8ARRAYOID, PG_GETARG_DATUM(2), true, "flow branch audience evaluation"));
}
