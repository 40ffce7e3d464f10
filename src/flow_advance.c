/*
 * flow_advance.c: the scheduler advances flow instances (doc/flows.md, "Reliability").
 *
 * Waiting instances are rows with next_at, never a process or a timer each: one call takes a
 * batch of the due ones (FOR UPDATE SKIP LOCKED, so that several schedulers never take the same
 * row) and runs their steps as set operations, step kind by step kind, in one transaction
 * (sql/api/89_flows.sql, _flow_advance). A crash before the commit leaves them due, and the
 * next round runs them again; after the commit, each step's row in flow_step_runs (primary key
 * (instance, step)) is what makes it fire once. A batch that fails is logged and rolled back,
 * so that one bad instance never stops the scheduler's other work.
 */
#include "pushplan.h"
#include "flow.h"
#include "workers.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define FLOW_BATCH	1000		/* instances a transaction advances */

static SPIPlanPtr advance_plan = NULL;
static SPIPlanPtr next_due_plan = NULL;

typedef struct AdvanceBatch
{
	int64		advanced;		/* out */
} AdvanceBatch;

static void
advance(void *arg)
{
	AdvanceBatch *b = arg;
	bool		isnull;
	Datum		d;

	pp_spi_run_kept(&advance_plan, "advancing flow instances", SPI_OK_SELECT,
					"SELECT pushplan._flow_advance(" CppAsString2(FLOW_BATCH) ")",
					0, NULL, NULL, NULL, false, 0);
	d = SPI_getbinval(pp_spi_first_row("advancing flow instances"), SPI_tuptable->tupdesc, 1,
					  &isnull);
	b->advanced = isnull ? 0 : DatumGetInt64(d);
}

int64
pp_flow_advance_batch(void)
{
	AdvanceBatch b = {0};
	char	   *failure;

	if (!pp_work_begin("pushplan: advancing flows"))
		return 0;
	failure = pp_run_in_subtransaction(advance, &b);
	if (failure)
		ereport(LOG, (errmsg("pushplan: advancing flow instances failed: %s", failure)));
	pp_work_end();
	return failure ? 0 : b.advanced;
}

TimestampTz
pp_flow_next_due(void)
{
	bool		isnull;
	Datum		d;

	/* on the real clock, as the scheduler sleeps by it (pushplan's clock may be ahead in tests) */
	pp_spi_run_kept(&next_due_plan, "looking for the next flow instance", SPI_OK_SELECT,
					"SELECT pushplan._flow_next_due() - pushplan.clock_now() + now()",
					0, NULL, NULL, NULL, true, 0);
	d = SPI_getbinval(pp_spi_first_row("looking for the next flow instance"),
					  SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}
