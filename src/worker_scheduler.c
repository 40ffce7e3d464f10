/*
 * worker_scheduler.c: one per served database. Finds tasks whose time has come, expands each task's
 * audience into delivery rows in one committed transaction, wakes the senders, and marks tasks
 * done when nothing of them is left in flight.
 *
 * A task's expansion is one INSERT ... SELECT over the compiled audience (src/audience_sql.c), so a
 * task has either all of its deliveries or none: a crash during expansion leaves it 'queued'
 * and the restarted scheduler expands it again. A task whose expansion fails (say its account
 * package was deleted since) is marked failed with the error, never retried for ever.
 */
#include "pushplan.h"
#include "workers.h"
#include "audience.h"
#include "json.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define EXPANSION_BATCH			50000	/* devices expanded per committed transaction */
#define MAINTENANCE_INTERVAL_MS	10000
#define STALE_CHECK_INTERVAL_MS	60000

static PPDatabaseSlot *my_slot = NULL;

/* the statements of every poll and upkeep, prepared once (pp_spi_run_kept) */
static SPIPlanPtr pick_plan = NULL;
static SPIPlanPtr expansion_plan = NULL;
static SPIPlanPtr done_plan = NULL;
static SPIPlanPtr stale_plan = NULL;

/* Ends a unit of work (pp_work_begin) and reports the scheduler idle. */
static void
end_work(void)
{
	pp_work_end();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Inserts the deliveries of one task: every reachable device of the audience whose platform the
 * push targets. big_push_duration spreads send_at evenly over that many minutes. Devices whose
 * vendor the app has not configured are recorded as failed right away.
 */
/* What one expansion batch did. */
typedef struct ExpandResult
{
	int64		rows;			/* audience devices in the batch (a short batch is the last) */
	int64		inserted;		/* deliveries written */
	int64		last_device;	/* the batch's highest device id: where the next one starts */
	int64		spread_total;	/* audience size, when big_push_duration spreads the sends */
} ExpandResult;

/*
 * Writes the deliveries of the next EXPANSION_BATCH devices of a task's audience (those after
 * device id `after`, in id order): every reachable device of the audience whose platform the
 * push targets. big_push_duration spreads send_at evenly over that many minutes, by the
 * device's rank in the whole audience (counted once, on the first batch). Devices whose vendor
 * the app has not configured are recorded as failed at once.
 */
static void
expand_batch(const char *task_id, int32 app_id, Jsonb *push, TimestampTz send_at,
			 int64 after, int64 done, int64 spread_total, ExpandResult *res)
{
	PPAudience	aud;
	JsonbValue *to = pp_jmember(&push->root, "to");
	JsonbValue *body_platforms = pp_jmember(pp_jobj(&push->root, "body"), "platform");
	JsonbContainer *options = pp_jobj(pp_jobj(&push->root, "body"), "options");
	const char *platforms = "[\"android\", \"ios\", \"web\", \"harmony\"]";
	StringInfoData q;
	StringInfoData from;
	Oid		   *types;
	Datum	   *values;
	int			nfixed = 9;
	int			minutes = 0;
	int64		duration;
	HeapTuple	tup;
	bool		isnull;

	if (to == NULL)
		pp_error(PPE_TASK_NO_AUDIENCE, "task has no audience");
	pp_audience_compile(app_id, JsonbValueToJsonb(to), nfixed + 1, &aud);

	/* body.platform is an array of platform names after normalization */
	if (body_platforms)
		platforms = DatumGetCString(DirectFunctionCall1(jsonb_out,
														JsonbPGetDatum(JsonbValueToJsonb(body_platforms))));
	/* an integer in range after normalization (push_engagelab.c) */
	if (pp_jv_int64(pp_jmember(options, "big_push_duration"), &duration, NULL))
		minutes = (int) duration;

	types = palloc(sizeof(Oid) * (nfixed + aud.nargs));
	values = palloc(sizeof(Datum) * (nfixed + aud.nargs));
	types[0] = TEXTOID;
	values[0] = CStringGetTextDatum(task_id);
	types[1] = INT4OID;
	values[1] = Int32GetDatum(app_id);
	types[2] = TIMESTAMPTZOID;
	values[2] = TimestampTzGetDatum(send_at);
	types[3] = TEXTOID;
	values[3] = CStringGetTextDatum(platforms);
	types[4] = INT4OID;
	values[4] = Int32GetDatum(minutes);
	types[5] = INT8OID;
	values[5] = Int64GetDatum(after);
	types[6] = INT4OID;
	values[6] = Int32GetDatum(EXPANSION_BATCH);
	types[7] = INT8OID;
	types[8] = INT8OID;
	values[8] = Int64GetDatum(done);
	memcpy(types + nfixed, aud.argtypes, sizeof(Oid) * aud.nargs);
	memcpy(values + nfixed, aud.values, sizeof(Datum) * aud.nargs);

	/* the audience's devices that this push's platforms include */
	initStringInfo(&from);
	appendStringInfo(&from,
					 "FROM (%s) a JOIN pushplan.devices d ON d.device_id = a.device_id "
					 "WHERE d.platform IN (SELECT jsonb_array_elements_text($4::jsonb))",
					 aud.sql.data);

	if (minutes > 0 && spread_total <= 0)
	{
		values[7] = Int64GetDatum(0);
		(void) pp_spi_run("counting the audience", SPI_OK_SELECT,
						  psprintf("SELECT count(*) %s", from.data),
						  nfixed + aud.nargs, types, values, NULL, true, 1);
		spread_total = DatumGetInt64(SPI_getbinval(pp_spi_first_row("counting the audience"),
												   SPI_tuptable->tupdesc, 1, &isnull));
	}
	res->spread_total = spread_total;
	values[7] = Int64GetDatum(Max(spread_total, 1));

	/*
	 * The bound is given on both sides of the join: the planner does not carry an inequality
	 * across a join's equality, and a merge join would otherwise read the devices from the
	 * first one on every batch (quadratic over a big audience).
	 */
	initStringInfo(&q);
	appendStringInfo(&q,
					 "WITH src AS ("
					 "  SELECT d.device_id, d.vendor %s AND a.device_id > $6 AND d.device_id > $6 "
					 "  ORDER BY a.device_id LIMIT $7), "
					 "ranked AS (SELECT s.*, row_number() OVER (ORDER BY s.device_id) AS rn FROM src s), "
					 "ins AS ("
					 "  INSERT INTO pushplan.deliveries (task_id, app_id, device_id, vendor, send_at, status, error) "
					 "  SELECT $1, $2, r.device_id, r.vendor, "
					 "    CASE WHEN $5 > 0 THEN $3 + ($9 + r.rn - 1) * ($5 * interval '1 minute') / $8 ELSE $3 END, "
					 "    CASE WHEN c.vendor IS NULL THEN 'failed' ELSE 'queued' END, "
					 "    CASE WHEN c.vendor IS NULL THEN format('vendor \"%%s\" is not configured for this app', r.vendor) END "
					 "  FROM ranked r LEFT JOIN pushplan.vendor_configs c ON c.app_id = $2 AND c.vendor = r.vendor "
					 "  ON CONFLICT (task_id, device_id) DO NOTHING RETURNING delivery_id, send_at, status), "
					 "queued AS ("
					 "  INSERT INTO pushplan.delivery_queue (delivery_id, task_id, send_at) "
					 "  SELECT delivery_id, $1, send_at FROM ins WHERE status = 'queued') "
					 "SELECT (SELECT count(*) FROM src), (SELECT max(device_id) FROM src), (SELECT count(*) FROM ins)",
					 from.data);
	(void) pp_spi_run("expanding the audience", SPI_OK_SELECT, q.data, nfixed + aud.nargs,
					  types, values, NULL, false, 0);
	tup = pp_spi_first_row("expanding the audience");
	res->rows = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
	res->last_device = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull)
		res->last_device = after;
	res->inserted = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
}

/*
 * Expands the next batch of the next due task, if any, in one transaction: the senders can start
 * on a big audience while the rest of it is being expanded, and no transaction grows with the
 * audience. Returns true if a task was handled. The batch runs in a subtransaction so that a
 * failing audience marks the task failed instead of stopping the scheduler; a crash between
 * batches resumes after the last committed one (expanded_upto).
 */
static bool
run_one_due_task(void)
{
	const char *pick =
		"SELECT task_id, app_id, push, send_at, coalesce(expanded_upto, -1), "
		"  coalesce(targeted, 0), coalesce(spread_total, 0) FROM pushplan.tasks "
		"WHERE (state = 'queued' AND send_at <= now()) OR (state = 'sending' AND NOT expanded) "
		"ORDER BY send_at LIMIT 1 FOR UPDATE SKIP LOCKED";
	char	   *task_id;
	int32		app_id;
	Jsonb	   *push;
	TimestampTz send_at;
	int64		after;
	int64		done;
	int64		spread_total;
	bool		isnull;
	MemoryContext oldcxt;
	ResourceOwner oldowner;
	ExpandResult res;
	char	   *volatile failure = NULL;
	Datum		args[7];
	Oid			types[7] = {TEXTOID, INT8OID, TEXTOID, INT8OID, BOOLOID, INT8OID, INT8OID};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		finished;

	if (!pp_work_begin("pushplan: looking for due tasks"))
		return false;
	if (pp_spi_run_kept(&pick_plan, "looking for due tasks", SPI_OK_SELECT, pick, 0, NULL, NULL, NULL, false, 0) == 0)
	{
		end_work();
		return false;
	}
	tup = pp_spi_first_row("looking for due tasks");
	desc = SPI_tuptable->tupdesc;
	task_id = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
	app_id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	push = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 3, &isnull));
	send_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
	after = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	done = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
	spread_total = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
	pgstat_report_activity(STATE_RUNNING, psprintf("pushplan: expanding task %s", task_id));

	memset(&res, 0, sizeof(res));
	oldcxt = CurrentMemoryContext;
	oldowner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		expand_batch(task_id, app_id, push, send_at, after, done, spread_total, &res);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		failure = edata->message;
		ereport(WARNING, (errmsg("pushplan: task %s failed: %s", task_id, failure)));
	}
	PG_END_TRY();

	finished = failure != NULL || res.rows < EXPANSION_BATCH;
	args[0] = CStringGetTextDatum(task_id);
	args[1] = Int64GetDatum(done + res.inserted);
	args[2] = failure ? CStringGetTextDatum(failure) : (Datum) 0;
	args[3] = Int64GetDatum(res.last_device);
	args[4] = BoolGetDatum(finished);
	args[5] = Int64GetDatum(res.spread_total);
	args[6] = Int64GetDatum(res.inserted);
	pp_spi_run_kept(&expansion_plan, "recording the expansion", SPI_OK_UPDATE,
			   "UPDATE pushplan.tasks SET targeted = $2, error = $3, "
			   "expanded_upto = $4, expanded = $5, spread_total = nullif($6, 0), "
			   "started_at = coalesce(started_at, now()), "
			   "state = CASE WHEN $3 IS NOT NULL THEN 'failed' "
			   "  WHEN $5 AND $2 = 0 THEN 'done' ELSE 'sending' END, "
			   "finished_at = CASE WHEN $3 IS NOT NULL OR ($5 AND $2 = 0) THEN now() END "
			   "WHERE task_id = $1",
			   7, types, args, failure ? "       " : "  n    ", false, 0);
	end_work();
	if (res.inserted > 0)
		pp_wake_slot_senders(my_slot);
	return true;
}

/*
 * Periodic upkeep: tasks with nothing left in flight are done (the senders mark them, but two
 * senders finishing the last rows of a task at once may each see the other's); deliveries claimed
 * by a sender that died long ago go back to the queue (the vendors' de-duplication keys make the
 * re-send harmless). The stale look is a scan of the queue, so it runs once a minute.
 */
static void
maintenance(bool stale_check)
{
	if (!pp_work_begin("pushplan: maintenance"))
		return;
	pp_spi_run_kept(&done_plan, "marking finished tasks done", SPI_OK_UPDATE,
			   "UPDATE pushplan.tasks t SET state = 'done', finished_at = now() "
			   "WHERE t.state = 'sending' AND t.expanded "
			   "AND NOT " PP_TASK_HAS_OPEN_DELIVERIES,
			   0, NULL, NULL, NULL, false, 0);
	if (stale_check)
		pp_spi_run_kept(&stale_plan, "requeueing stale claims", SPI_OK_UPDATE,
				   "WITH q AS (UPDATE pushplan.delivery_queue SET claimed_by = NULL, claimed_at = NULL "
				   "  WHERE claimed_by IS NOT NULL AND claimed_at < now() - interval '5 minutes' "
				   "  RETURNING delivery_id) "
				   "UPDATE pushplan.deliveries d SET status = 'queued' FROM q "
				   "WHERE d.delivery_id = q.delivery_id AND d.status = 'sending'",
				   0, NULL, NULL, NULL, false, 0);
	end_work();
}

void
pushplan_scheduler_main(Datum arg)
{
	TimestampTz last_maintenance = 0;
	TimestampTz last_stale_check = 0;

	pp_worker_signals();
	pp_worker_connect();
	my_slot = pp_slot_claim(PP_ROLE_SCHEDULER);
	if (my_slot == NULL)
	{
		ereport(LOG, (errmsg("pushplan: a scheduler already serves database \"%s\"",
							 MyBgworkerEntry->bgw_extra)));
		proc_exit(0);			/* not restarted */
	}
	ereport(LOG, (errmsg("pushplan scheduler started for database \"%s\"",
						 MyBgworkerEntry->bgw_extra)));

	while (!pp_worker_reload_and_check())
	{
		bool		busy = false;

		pg_atomic_write_u32(&my_slot->scheduler_wake, 0);
		if (pp_extension_ready())
		{
			/* a bounded burst, then upkeep and a look at the latch */
			for (int i = 0; i < 100 && !ShutdownRequestPending; i++)
			{
				if (!run_one_due_task())
					break;
				busy = true;
			}
			if (TimestampDifferenceExceeds(last_maintenance, GetCurrentTimestamp(),
										   busy ? 1000 : MAINTENANCE_INTERVAL_MS))
			{
				bool		stale = TimestampDifferenceExceeds(last_stale_check,
															   GetCurrentTimestamp(),
															   STALE_CHECK_INTERVAL_MS);

				maintenance(stale);
				last_maintenance = GetCurrentTimestamp();
				if (stale)
					last_stale_check = last_maintenance;
			}
		}
		if (!busy)
		{
			pgstat_report_activity(STATE_IDLE, "pushplan scheduler: waiting for due tasks");
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 pp_poll_interval, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
	proc_exit(0);
}
