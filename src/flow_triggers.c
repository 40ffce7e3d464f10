/*
 * flow_triggers.c: the flow triggers the scheduler evaluates as set operations (inactive,
 * date_attr, audience_enter; doc/flows.md, "Triggers"), and the audience faces they need.
 *
 * One evaluation is one flow, in its own transaction (sql/api/89_flow_triggers.sql,
 * _flow_triggers_run): a statement over the app's devices, never a timer per user. The flow's
 * row is taken FOR UPDATE SKIP LOCKED, so that two schedulers never evaluate one flow at once.
 * An evaluation that fails is rolled back inside the SQL function, its error kept in
 * flow_trigger_evals and the flow due again a period later over the same window; anything that
 * escapes it here is logged and rolled back with the unit of work.
 *
 * An audience_enter flow keeps its members in flow_audience_members; each evaluation compiles
 * the audience as push_send does (src/audience_sql.c) and brings the members up to date with
 * one statement, which returns the devices that came in.
 */
#include "pushplan.h"
#include "audience.h"
#include "flow_triggers.h"
#include "workers.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pushplan_flow_audience_check);
PG_FUNCTION_INFO_V1(pushplan_flow_audience_diff);

static SPIPlanPtr run_plan = NULL;
static SPIPlanPtr chunking_plan = NULL;
static SPIPlanPtr next_due_plan = NULL;

typedef struct EvalRun
{
	bool		evaluated;		/* out: a flow was due */
	bool		chunking;		/* out: a first evaluation is under way, in chunks */
} EvalRun;

static void
evaluate(void *arg)
{
	EvalRun    *r = arg;
	bool		isnull;

	pp_spi_run_kept(&run_plan, "evaluating flow triggers", SPI_OK_SELECT,
					"SELECT pushplan._flow_triggers_run()", 0, NULL, NULL, NULL, false, 0);
	(void) SPI_getbinval(pp_spi_first_row("evaluating flow triggers"), SPI_tuptable->tupdesc, 1,
						 &isnull);
	r->evaluated = !isnull;
	if (!r->evaluated)
		return;
	pp_spi_run_kept(&chunking_plan, "evaluating flow triggers", SPI_OK_SELECT,
					"SELECT pushplan._flow_triggers_chunking()", 0, NULL, NULL, NULL, true, 0);
	r->chunking = DatumGetBool(SPI_getbinval(pp_spi_first_row("evaluating flow triggers"),
											 SPI_tuptable->tupdesc, 1, &isnull));
}

bool
pp_flow_triggers_run(bool *chunking)
{
	EvalRun		r = {0};
	char	   *failure;

	*chunking = false;
	if (!pp_work_begin("pushplan: evaluating flow triggers"))
		return false;
	failure = pp_run_in_subtransaction(evaluate, &r);
	if (failure)
		ereport(LOG, (errmsg("pushplan: evaluating a flow trigger failed: %s", failure)));
	pp_work_end();
	*chunking = !failure && r.chunking;
	return failure ? false : r.evaluated;
}

TimestampTz
pp_flow_triggers_next_due(void)
{
	bool		isnull;
	Datum		d;

	/*
	 * On the real clock, as the scheduler sleeps by it (pushplan's clock may be ahead in tests);
	 * NULL when no flow has such a trigger (greatest() would skip the NULL and say "now": the
	 * scheduler then polled every millisecond)
	 */
	pp_spi_run_kept(&next_due_plan, "looking for the next flow trigger evaluation", SPI_OK_SELECT,
					"SELECT CASE WHEN n.at IS NOT NULL THEN "
					"  greatest(n.at, pushplan.clock_now()) - pushplan.clock_now() + now() END "
					"FROM (SELECT pushplan._flow_triggers_next_due() AS at) n",
					0, NULL, NULL, NULL, true, 0);
	d = SPI_getbinval(pp_spi_first_row("looking for the next flow trigger evaluation"),
					  SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}

/* _flow_audience_check(app_id int, audience jsonb): push_send's audience errors, or nothing */
Datum
pushplan_flow_audience_check(PG_FUNCTION_ARGS)
{
	PPAudience	aud;

	SPI_connect();
	pp_audience_compile(PG_GETARG_INT32(0), PG_GETARG_JSONB_P(1), 1, &aud);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * _flow_audience_diff(flow_id text, app_id int, audience jsonb) RETURNS bigint[]: one statement
 * over the audience as it is now and the flow's members: those that left are deleted, those
 * that came in are inserted and returned (the two sets are disjoint, so the two modifications
 * of the one snapshot never touch the same row; a data-modifying WITH runs to its end whether or
 * not the query reads it).
 */
Datum
pushplan_flow_audience_diff(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(pp_audience_ids_statement(
		PG_GETARG_INT32(1), PG_GETARG_JSONB_P(2),
		"WITH cur AS MATERIALIZED (%s), "
		"gone AS (DELETE FROM pushplan.flow_audience_members m "
		"  WHERE m.flow_id = $1 "
		"    AND NOT EXISTS (SELECT 1 FROM cur WHERE cur.device_id = m.device_id) "
		"  RETURNING 1), "
		"came AS (INSERT INTO pushplan.flow_audience_members (flow_id, device_id) "
		"  SELECT $1, cur.device_id FROM cur "
		"  WHERE NOT EXISTS (SELECT 1 FROM pushplan.flow_audience_members m "
		"                    WHERE m.flow_id = $1 AND m.device_id = cur.device_id) "
		"  RETURNING device_id) "
		"SELECT array_agg(device_id ORDER BY device_id) FROM came",
		TEXTOID, PG_GETARG_DATUM(0), false, "flow audience evaluation"));
}
