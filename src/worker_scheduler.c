/*
 * worker_scheduler.c: one per served database. Finds tasks whose time has come, expands each task's
 * audience into delivery rows in one committed transaction, wakes the senders, and marks tasks
 * done when nothing of them is left in flight.
 *
 * It makes the messages of pushes' fallbacks once they are due (sql/api/74_fallback.sql).
 *
 * It also posts the delivery-outcome webhooks' batches, without ever waiting for a receiver
 * (src/outcome_webhook.c).
 *
 * A task's expansion (src/task_expand.c) runs in batches of devices, one committed transaction
 * each: a crash during expansion resumes after the last batch committed (expanded_upto).
 * Due tasks are taken lane by lane (tasks.priority: high, normal, low), then by time, so a
 * high task's batches go ahead of a broadcast's; small list pushes were expanded by push_send
 * already and never wait here. A task whose expansion fails (say its account
 * package was deleted since) is marked failed with the error, never retried for ever.
 */
#include "pushplan.h"
#include "workers.h"
#include "task_expand.h"
#include "schedule.h"
#include "outcome_webhook.h"
#include "flow.h"
#include "flow_triggers.h"
#include "shard_local.h"

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
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define MAINTENANCE_INTERVAL_MS	10000
#define TASKS_TURN_MS		200		/* expansion batches in one turn of the loop, at most this long */
#define STALE_CHECK_INTERVAL_MS	60000

static PPDatabaseSlot *my_slot = NULL;

/* the statements of every poll and upkeep, prepared once (pp_spi_run_kept) */
static SPIPlanPtr pick_plan = NULL;
static SPIPlanPtr expansion_plan = NULL;
static SPIPlanPtr done_plan = NULL;
static SPIPlanPtr variants_done_plan = NULL;
static SPIPlanPtr stale_plan = NULL;
static SPIPlanPtr stale_plans_plan = NULL;
static SPIPlanPtr profiles_plan = NULL;
static SPIPlanPtr rollup_plan = NULL;
static SPIPlanPtr winners_plan = NULL;
static SPIPlanPtr partitions_plan = NULL;
static SPIPlanPtr fallback_plan = NULL;

/* deliveries of a push looked at per fallback step (and committed transaction) */
#define FALLBACK_BATCH	10000
/* send profiles refreshed per upkeep (per shard group on the distributed layout) */
#define PROFILES_BATCH	20000

/* Ends a unit of work (pp_work_begin) and reports the scheduler idle. */
static void
end_work(void)
{
	pp_work_end();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Whether this scheduler serves its database: on the distributed layout only the coordinator's
 * does (it fires and expands for the whole cluster, and its upkeep marks tasks done); the
 * workers' schedulers wait (doc/scale-out.md, "Senders on every node"). Looked at every 10 s.
 */
static bool
serves_cluster(bool *distributed)
{
	static TimestampTz checked = 0;
	static bool serves = true;
	static bool dist = false;

	if (TimestampDifferenceExceeds(checked, GetCurrentTimestamp(), 10000))
	{
		if (!pp_work_begin("pushplan: reading the layout"))
			return false;
		pp_shards_refresh(true);
		serves = pp_shards_serve_cluster();
		dist = pp_shards_distributed();
		end_work();
		checked = GetCurrentTimestamp();
	}
	*distributed = dist;
	return serves;
}

/* One batch of pp_task_expand_batch, run by pp_run_in_subtransaction. */
typedef struct ExpandBatch
{
	const char *task_id;
	int32		app_id;
	Jsonb	   *push;
	TimestampTz send_at;
	Jsonb	   *send_rule;
	int			priority;
	int64		after;
	int64		done;
	int64		spread_total;
	int			group;			/* a local shard group (a node's expansion), or -1 */
	PPExpandResult *res;
} ExpandBatch;

static void
expand_batch(void *arg)
{
	ExpandBatch *b = arg;

	pp_task_expand_batch(b->task_id, b->app_id, b->push, b->send_at, b->send_rule, b->priority,
						 b->after, b->done, b->spread_total, b->group, false, b->res);
}

/* Whether the nodes can expand a task: run by pp_run_in_subtransaction. */
typedef struct NodesCheck
{
	int32		app_id;
	Jsonb	   *push;
	bool		on_nodes;
} NodesCheck;

static void
nodes_check(void *arg)
{
	NodesCheck *c = arg;

	c->on_nodes = pp_task_expands_on_nodes(c->app_id, c->push);
}

/*
 * The distributed layout's expansion on every node (doc/scale-out.md, "Expansion on every
 * node"): a due task whose audience each shard can expand by itself is handed to the shards'
 * nodes (_task_shards_start: a task_shard_expansions row per shard), in the transaction that
 * holds the task's row, and is not expanded here. An audience that no longer compiles is left
 * to the batch below, which fails the task with its error. Returns whether it was handed over.
 */
static bool
hand_to_nodes(const char *task_id, int32 app_id, Jsonb *push)
{
	NodesCheck	check = {app_id, push, false};
	Oid			types[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		args[2];

	if (pp_run_in_subtransaction(nodes_check, &check) != NULL || !check.on_nodes)
		return false;
	args[0] = CStringGetTextDatum(task_id);
	args[1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	pp_spi_run("handing the expansion to the nodes", SPI_OK_SELECT,
			   "SELECT pushplan._task_shards_start($1, $2)", 2, types, args, NULL, false, 0);
	return true;
}

/*
 * The tasks the nodes expand whose every shard is done, marked expanded (and the others'
 * deliveries made so far counted, when progress is asked): the coordinator's, each turn.
 * Returns whether one was finished.
 */
static bool
shard_expansions_finish(bool progress)
{
	Oid			types[2] = {TIMESTAMPTZOID, BOOLOID};
	Datum		args[2];
	bool		isnull;
	int32		finished;

	if (!pp_work_begin("pushplan: looking at the nodes' expansions"))
		return false;
	args[0] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	args[1] = BoolGetDatum(progress);
	pp_spi_run("looking at the nodes' expansions", SPI_OK_SELECT,
			   "SELECT pushplan._task_shards_finish($1, $2)", 2, types, args, NULL, false, 0);
	finished = DatumGetInt32(SPI_getbinval(pp_spi_first_row("looking at the nodes' expansions"),
										   SPI_tuptable->tupdesc, 1, &isnull));
	end_work();
	return finished > 0;
}

/*
 * One batch of a task's expansion in local shard group `group` (task_shard_expansions), in
 * one transaction, if one is waiting there: as run_one_due_task's batch, over the group's
 * shards only, with the group held against a move (pp_shard_group_hold) until it commits. The
 * task's row (this node's copy) is read FOR SHARE: a push_cancel waits for the batch, and a
 * batch after it sees the task cancelled and writes nothing. Returns whether a batch ran.
 */
static bool
expand_shard_batch(int group)
{
	const char *pick =
		"SELECT e.device_id, e.task_id, e.expanded_upto, e.targeted, coalesce(e.spread_total, 0) "
		"FROM pushplan.task_shard_expansions e LEFT JOIN pushplan.tasks t ON t.task_id = e.task_id "
		"WHERE NOT e.done ORDER BY t.priority, t.send_at LIMIT 1 FOR UPDATE OF e SKIP LOCKED";
	const char *record =
		"UPDATE pushplan.task_shard_expansions SET expanded_upto = $3, targeted = targeted + $4, "
		"  spread_total = nullif($5, 0), done = $6, error = $7 "
		"WHERE device_id = $1 AND task_id = $2";
	Oid			types[7] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, BOOLOID, TEXTOID};
	Datum		args[7];
	char		nulls[8] = "       ";
	Oid			task_type[1] = {TEXTOID};
	int64		key;
	char	   *task_id;
	PPExpandResult res;
	ExpandBatch batch;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	bool		held = false;
	Datum		d;
	char	   *failure = NULL;

	if (!pp_work_begin("pushplan: expanding the node's shards"))
		return false;
	pp_shards_refresh(false);
	if (group >= pp_shards_local_count() ||
		pp_spi_run("looking for the shard's expansions", SPI_OK_SELECT, pp_shard_sql(pick, group),
				   0, NULL, NULL, NULL, false, 0) == 0)
	{
		end_work();
		return false;
	}
	tup = pp_spi_first_row("looking for the shard's expansions");
	desc = SPI_tuptable->tupdesc;
	key = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	task_id = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
	memset(&res, 0, sizeof(res));
	memset(&batch, 0, sizeof(batch));
	batch.task_id = task_id;
	batch.after = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	batch.done = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	batch.spread_total = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	batch.group = group;
	batch.res = &res;
	res.last_device = batch.after;

	/*
	 * Not filtered by state: the hand-over's update of this copy of the row may be prepared
	 * and not yet committed when its rows here are (Citus writes them over other connections,
	 * each committed in turn), and a filter would read the old state without waiting for it.
	 */
	args[0] = CStringGetTextDatum(task_id);
	if (pp_spi_run("reading the task", SPI_OK_SELECT, pp_shard_sql(
					   "SELECT app_id, push, send_at, priority, send_rule, state = 'sending' "
					   "FROM pushplan.tasks WHERE task_id = $1 FOR SHARE", group),
				   1, task_type, args, NULL, false, 0) > 0 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull)))
	{
		/* (a task cancelled, failed or deleted meanwhile: its shards are done, with nothing) */
		tup = pp_spi_first_row("reading the task");
		desc = SPI_tuptable->tupdesc;
		batch.app_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		batch.push = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 2, &isnull));
		batch.send_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
		batch.priority = DatumGetInt16(SPI_getbinval(tup, desc, 4, &isnull));
		d = SPI_getbinval(tup, desc, 5, &isnull);
		batch.send_rule = isnull ? NULL : DatumGetJsonbPCopy(d);
		/* a move waiting for the group: not now (the row stays as it is) */
		if (!pp_shard_group_hold(group))
		{
			end_work();
			return false;
		}
		held = true;
		pgstat_report_activity(STATE_RUNNING, psprintf("pushplan: expanding task %s on its shards",
													   task_id));
		failure = pp_run_in_subtransaction(expand_batch, &batch);
		if (failure)
			ereport(WARNING, (errmsg("pushplan: task %s failed on shard group %d: %s",
									 task_id, group, failure)));
	}
	else
		res.rows = 0;

	args[0] = Int64GetDatum(key);
	args[1] = CStringGetTextDatum(task_id);
	args[2] = Int64GetDatum(res.last_device);
	args[3] = Int64GetDatum(res.inserted);
	args[4] = Int64GetDatum(res.spread_total);
	args[5] = BoolGetDatum(failure != NULL || res.rows < PP_EXPANSION_BATCH);
	args[6] = failure ? CStringGetTextDatum(failure) : (Datum) 0;
	nulls[6] = failure ? ' ' : 'n';
	pp_spi_run("recording the shard's expansion", SPI_OK_UPDATE, pp_shard_sql(record, group),
			   7, types, args, nulls, false, 0);
	end_work();
	if (held)
		pp_shard_holds_release(NULL);
	if (res.queued > 0)
		pp_wake_slot_senders(my_slot, batch.priority == PP_LANE_HIGH);
	return true;
}

/*
 * A turn of the node's expansions: a batch in each local shard group that has one waiting.
 * Returns whether any ran.
 */
static bool
local_expansions(void)
{
	bool		any = false;
	bool		pending;
	int			groups;

	/* one look at the node's copy of the tasks first: most turns there is nothing to expand */
	if (!pp_work_begin("pushplan: looking for tasks the nodes expand"))
		return false;
	pp_shards_refresh(false);
	groups = pp_shards_local_count();
	pending = groups > 0 &&
		pp_spi_run("looking for tasks the nodes expand", SPI_OK_SELECT,
				   pp_shard_sql("SELECT 1 FROM pushplan.tasks "
								"WHERE shard_expansion AND NOT expanded LIMIT 1", -1),
				   0, NULL, NULL, NULL, false, 0) > 0;
	end_work();
	/* (a group gone since, by a move, is seen by expand_shard_batch's own look) */
	for (int g = 0; pending && g < groups && !ShutdownRequestPending; g++)
		if (expand_shard_batch(g))
			any = true;
	return any;
}

/*
 * Expands the next batch of the next due task, if any, in one transaction: the senders can start
 * on a big audience while the rest of it is being expanded, and no transaction grows with the
 * audience. Returns true if a task was handled. The batch runs in a subtransaction so that a
 * failing audience marks the task failed instead of stopping the scheduler; a crash between
 * batches resumes after the last committed one (expanded_upto). The task is taken FOR NO KEY
 * UPDATE, the lock its UPDATE needs: the senders writing its deliveries hold a key-share lock
 * on its row (their foreign key) until their outcomes commit, which FOR UPDATE conflicts with
 * (the pick then skipped the task while any sender wrote its deliveries, and their writes
 * waited for each batch; test/integration/sending.sh).
 */
static bool
run_one_due_task(void)
{
	const char *pick =
		"SELECT task_id, app_id, push, send_at, coalesce(expanded_upto, -1), "
		"  coalesce(targeted, 0), coalesce(spread_total, 0), priority, send_rule, broadcast "
		"FROM pushplan.tasks "
		"WHERE (state = 'queued' AND send_at <= pushplan.clock_now()) "
		"   OR (state = 'sending' AND NOT expanded AND NOT shard_expansion) "
		"ORDER BY priority, send_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED";
	char	   *task_id;
	int32		app_id;
	Jsonb	   *push;
	TimestampTz send_at;
	int64		after;
	int64		done;
	int64		spread_total;
	int			priority;
	Jsonb	   *send_rule;
	bool		broadcast;
	bool		isnull;
	Datum		d;
	PPExpandResult res;
	ExpandBatch batch;
	char	   *failure;
	Datum		args[8];
	Oid			types[8] = {TEXTOID, INT8OID, TEXTOID, INT8OID, BOOLOID, INT8OID, INT8OID,
	TIMESTAMPTZOID};
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
	priority = DatumGetInt16(SPI_getbinval(tup, desc, 8, &isnull));
	d = SPI_getbinval(tup, desc, 9, &isnull);
	send_rule = isnull ? NULL : DatumGetJsonbPCopy(d);
	broadcast = DatumGetBool(SPI_getbinval(tup, desc, 10, &isnull));
	pgstat_report_activity(STATE_RUNNING, psprintf("pushplan: expanding task %s", task_id));

	/*
	 * On the distributed layout the nodes expand a broadcast (all, tags, attributes) whose
	 * shards can by themselves; a list of ids is a few devices, found here in one query.
	 */
	if (after < 0 && broadcast && pp_shards_distributed() && hand_to_nodes(task_id, app_id, push))
	{
		end_work();
		return true;
	}

	memset(&res, 0, sizeof(res));
	batch.task_id = task_id;
	batch.app_id = app_id;
	batch.push = push;
	batch.send_at = send_at;
	batch.send_rule = send_rule;
	batch.priority = priority;
	batch.after = after;
	batch.done = done;
	batch.spread_total = spread_total;
	batch.group = -1;
	batch.res = &res;
	failure = pp_run_in_subtransaction(expand_batch, &batch);
	if (failure)
		ereport(WARNING, (errmsg("pushplan: task %s failed: %s", task_id, failure)));

	finished = failure != NULL || res.rows < PP_EXPANSION_BATCH;
	args[0] = CStringGetTextDatum(task_id);
	args[1] = Int64GetDatum(done + res.inserted);
	args[2] = failure ? CStringGetTextDatum(failure) : (Datum) 0;
	args[3] = Int64GetDatum(res.last_device);
	args[4] = BoolGetDatum(finished);
	args[5] = Int64GetDatum(res.spread_total);
	args[6] = Int64GetDatum(res.inserted);
	/* now() as a parameter: Citus takes no STABLE function in a CASE of a reference table's UPDATE */
	args[7] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	pp_spi_run_kept(&expansion_plan, "recording the expansion", SPI_OK_UPDATE,
			   "UPDATE pushplan.tasks SET targeted = $2, error = $3, "
			   "expanded_upto = $4, expanded = $5, spread_total = nullif($6, 0), "
			   "started_at = coalesce(started_at, $8), "
			   "state = CASE WHEN $3 IS NOT NULL THEN 'failed' "
			   "  WHEN $5 AND $2 = 0 THEN 'done' ELSE 'sending' END, "
			   "finished_at = CASE WHEN $3 IS NOT NULL OR ($5 AND $2 = 0) THEN $8 END "
			   "WHERE task_id = $1",
			   8, types, args, failure ? "        " : "  n     ", false, 0);
	end_work();
	if (res.queued > 0)
		pp_wake_slot_senders(my_slot, priority == PP_LANE_HIGH);
	return true;
}

/* One step of _fallback_step, run by pp_run_in_subtransaction: the messages made, or -1. */
static void
fallback_step(void *arg)
{
	Datum		args[1] = {Int32GetDatum(FALLBACK_BATCH)};
	Oid			types[1] = {INT4OID};
	bool		isnull;

	pp_spi_run_kept(&fallback_plan, "making fallback messages", SPI_OK_SELECT,
					"SELECT pushplan._fallback_step($1, pushplan.clock_now())",
					1, types, args, NULL, false, 0);
	*(int *) arg = DatumGetInt32(SPI_getbinval(pp_spi_first_row("making fallback messages"),
											   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Takes one step of the look at the push whose fallback is due soonest, if any, in its own
 * transaction (sql/api/74_fallback.sql, doc/fallback.md): a batch of its deliveries decided,
 * the messages of those due made and the senders woken for them. Returns true if a fallback
 * was due. A step that fails is logged and the fallbacks wait for the next pass.
 */
static bool
run_one_fallback_step(void)
{
	int			made = -1;
	char	   *failure;

	if (!pp_work_begin("pushplan: looking for due fallbacks"))
		return false;
	failure = pp_run_in_subtransaction(fallback_step, &made);
	if (failure)
		ereport(WARNING, (errmsg("pushplan: a fallback step failed: %s", failure)));
	end_work();
	if (made > 0)
		pp_wake_slot_senders(my_slot, false);
	return failure == NULL && made >= 0;
}

/* The send profiles of one local shard group refreshed, run by pp_run_in_subtransaction. */
static void
shard_profiles_refresh(void *arg)
{
	int			group = *(int *) arg;

	/* (the marks' and the profiles' shards of the group, named in the call) */
	pp_spi_run("refreshing send profiles", SPI_OK_SELECT,
			   pp_shard_sql("SELECT pushplan._smart_profiles_refresh_tables("
							"'pushplan.smart_profile_pending', 'pushplan.device_send_profiles', "
							CppAsString2(PROFILES_BATCH) ")", group),
			   0, NULL, NULL, NULL, false, 0);
}

/*
 * On the distributed layout every node's scheduler keeps the send profiles of the shards
 * placed on it (doc/smart_send.md, doc/scale-out.md): each shard group's marks taken and its
 * profiles written in a transaction of its own, statements that stay on the node. A group
 * moved away meanwhile is refreshed in its old copy, which is dropped: its marks went with the
 * move and are taken on the new node. A failure is logged; the marks wait for the next pass.
 */
static void
local_profiles_refresh(void)
{
	for (int g = 0; !ShutdownRequestPending; g++)
	{
		char	   *failure;

		if (!pp_work_begin("pushplan: refreshing send profiles"))
			return;
		pp_shards_refresh(false);
		if (g >= pp_shards_local_count())
		{
			end_work();
			return;
		}
		failure = pp_run_in_subtransaction(shard_profiles_refresh, &g);
		if (failure)
			ereport(WARNING, (errmsg("pushplan: refreshing the send profiles of a shard failed: %s",
									 failure)));
		end_work();
	}
}

/*
 * Fires the next due occurrence of a schedule, if any, in its own transaction (src/schedule_fire.c).
 * Returns true if one was handled.
 */
static bool
fire_one_due_schedule(void)
{
	bool		fired;

	if (!pp_work_begin("pushplan: looking for due schedules"))
		return false;
	fired = pp_schedule_fire_next();
	end_work();
	return fired;
}

/*
 * How long to sleep when idle: the poll interval, or less when a schedule or a flow instance
 * (src/flow_advance.c) is due sooner, so that it fires on time without a wake-up.
 */
static long
idle_timeout(void)
{
	TimestampTz next;
	long		ms = pp_poll_interval;

	if (!pp_work_begin("pushplan: looking for the next schedule"))
		return ms;
	next = pp_schedule_next_due();
	{
		TimestampTz flow_next = pp_flow_next_due();

		if (flow_next != 0 && (next == 0 || flow_next < next))
			next = flow_next;
	}
	{
		/* flows' trigger evaluations (src/flow_triggers.c) */
		TimestampTz eval_next = pp_flow_triggers_next_due();

		if (eval_next != 0 && (next == 0 || eval_next < next))
			next = eval_next;
	}
	end_work();
	if (next != 0)
	{
		long		until = (long) ((next - GetCurrentTimestamp()) / 1000) + 1;

		ms = Max(Min(ms, until), 1);
	}
	return ms;
}

/*
 * The tasks being sent whose last delivery is written are done. Found by their keys: the
 * sending tasks' own index, then one probe of the queue's and one of the send plans' per task,
 * planned without sequential or bitmap scans whatever the statistics say. They lag a
 * broadcast's tables by minutes, and with those of nearly empty tables the planner chose a scan
 * of all the send plans per sending task, at each turn (test/integration/sending.sh counts the
 * scans of the send plans and of the tasks).
 */
static void
mark_finished_tasks_done(void)
{
	pp_spi_run_kept_indexed(&done_plan, "marking finished tasks done", SPI_OK_UPDATE,
							"UPDATE pushplan.tasks t SET state = 'done', finished_at = now() "
							"WHERE t.state = 'sending' AND t.expanded "
							"AND NOT " PP_TASK_HAS_OPEN_DELIVERIES,
							0, NULL, NULL, NULL, false, 0);
}

/*
 * Periodic upkeep: tasks with nothing left in flight are done (the senders mark them, but two
 * senders finishing the last rows of a task at once may each see the other's); deliveries claimed
 * by a sender that died long ago go back to the queue (the vendors' de-duplication keys make the
 * re-send harmless). The stale look is a scan of the queue, so it runs once a minute, as does
 * the upkeep of the raw partitions (each day's made ahead, those past pushplan.retention_days
 * dropped: sql/api/86_retention.sql). The send
 * profiles of up to 20,000 devices with new visits are refreshed (doc/smart_send.md), the
 * variants tests that are due send their winners (doc/variants.md), and the statistics appended
 * since the last upkeep are folded into the aggregates (doc/statistics.md).
 */
static void
maintenance(bool stale_check, bool distributed)
{
	if (!pp_work_begin("pushplan: maintenance"))
		return;
	/* Citus plans no correlated subquery from a reference table into a distributed one */
	if (distributed)
		pp_spi_run("marking finished tasks done", SPI_OK_SELECT,
				   "SELECT pushplan._distributed_tasks_done()", 0, NULL, NULL, NULL, false, 0);
	else
		mark_finished_tasks_done();
	/* a push with variants is done when its variants are (doc/variants.md) */
	pp_spi_run_kept(&variants_done_plan, "marking pushes with variants done", SPI_OK_UPDATE,
			   "UPDATE pushplan.tasks p SET state = 'done', finished_at = now() "
			   "WHERE p.state = 'variants' AND NOT EXISTS (SELECT 1 FROM pushplan.tasks c "
			   "WHERE c.parent_task_id = p.task_id AND c.state NOT IN ('done', 'cancelled'))",
			   0, NULL, NULL, NULL, false, 0);
	/* the variants tests that are due send their winners (doc/variants.md) */
	pp_spi_run_kept(&winners_plan, "sending the winners of variants tests", SPI_OK_SELECT,
			   "SELECT pushplan._variants_pick_winners()", 0, NULL, NULL, NULL, false, 0);
	if (stale_check)
	{
		uint64		n;

		pp_spi_run_kept(&stale_plan, "requeueing stale claims", SPI_OK_UPDATE,
				   "UPDATE pushplan.delivery_queue SET claimed_by = NULL, claimed_at = NULL "
				   "WHERE claimed_by IS NOT NULL AND claimed_at < now() - interval '5 minutes'",
				   0, NULL, NULL, NULL, false, 0);
		/* and the send plans' (one node): the devices left in them are not written yet */
		if (!distributed)
			pp_spi_run_kept(&stale_plans_plan, "requeueing stale claims of send plans", SPI_OK_UPDATE,
					   "UPDATE pushplan.delivery_plans SET claimed_by = NULL, claimed_at = NULL "
					   "WHERE claimed_by IS NOT NULL AND claimed_at < now() - interval '5 minutes'",
					   0, NULL, NULL, NULL, false, 0);
		/*
		 * Citus runs a transaction's statements on a shard group's placements as one user: the
		 * partitions' upkeep (SECURITY DEFINER) gets a transaction of its own
		 */
		if (distributed)
		{
			end_work();
			if (!pp_work_begin("pushplan: maintenance"))
				return;
		}
		n = pp_spi_run_kept(&partitions_plan, "keeping the raw partitions", SPI_OK_SELECT,
						"SELECT unnest(pushplan._raw_partitions_maintain())",
						0, NULL, NULL, NULL, false, 0);
		for (uint64 i = 0; i < n; i++)
			ereport(LOG, (errmsg("pushplan: %s",
								 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1))));
		pp_outcome_webhook_sweep();
	}
	/* (on the distributed layout each node refreshes its own shards': local_profiles_refresh) */
	if (!distributed)
		pp_spi_run_kept(&profiles_plan, "refreshing send profiles", SPI_OK_SELECT,
						"SELECT pushplan._smart_profiles_refresh(" CppAsString2(PROFILES_BATCH) ")",
						0, NULL, NULL, NULL, false, 0);
	/* the worker nodes' senders append their statistics on their node */
	if (distributed)
		pp_spi_run("moving the worker nodes' statistics", SPI_OK_SELECT,
				   "SELECT pushplan._distributed_stats_pull()", 0, NULL, NULL, NULL, false, 0);
	pp_spi_run_kept(&rollup_plan, "folding the statistics", SPI_OK_SELECT,
			   "SELECT pushplan._stats_rollup()", 0, NULL, NULL, NULL, false, 0);
	end_work();
}

/*
 * Expansion batches (step: one batch; false when none is due) for TASKS_TURN_MS at most, one at
 * least: a broadcast of millions is a hundred batches of a second each, and the schedules,
 * flows and outcome webhooks due meanwhile must not wait for all of them. Returns whether a
 * batch ran.
 */
static bool
expansion_turn(bool (*step) (void))
{
	TimestampTz turn = GetCurrentTimestamp();
	bool		ran = false;

	for (int i = 0; i < 100 && !ShutdownRequestPending; i++)
	{
		if (!step())
			break;
		ran = true;
		if (TimestampDifferenceExceeds(turn, GetCurrentTimestamp(), TASKS_TURN_MS))
			break;
	}
	return ran;
}

void
pushplan_scheduler_main(Datum arg)
{
	TimestampTz last_maintenance = 0;
	TimestampTz last_stale_check = 0;
	TimestampTz last_profiles = 0;
	TimestampTz last_progress = 0;

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
		bool		distributed = false;

		pg_atomic_write_u32(&my_slot->scheduler_wake, 0);
		if (pp_extension_ready() && serves_cluster(&distributed))
		{
			/* bounded bursts (schedules, then tasks), then upkeep and a look at the latch */
			for (int i = 0; i < 100 && !ShutdownRequestPending; i++)
			{
				if (!fire_one_due_schedule())
					break;
				busy = true;
			}
			/* flows' triggers evaluated over all users, one flow at a time (src/flow_triggers.c) */
			for (int i = 0; i < 10 && !ShutdownRequestPending; i++)
			{
				bool		chunking;

				if (!pp_flow_triggers_run(&chunking))
					break;
				busy = true;
				/* a first evaluation's chunk: the turn's other work before the next one */
				if (chunking)
					break;
			}
			/* flow instances whose time has come (src/flow_advance.c) */
			for (int i = 0; i < 100 && !ShutdownRequestPending; i++)
			{
				if (pp_flow_advance_batch() == 0)
					break;
				busy = true;
			}
			if (expansion_turn(run_one_due_task))
				busy = true;
			/* the tasks handed to the nodes, once their shards are expanded */
			if (distributed)
			{
				bool		progress = TimestampDifferenceExceeds(last_progress,
																  GetCurrentTimestamp(),
																  MAINTENANCE_INTERVAL_MS);

				if (shard_expansions_finish(progress))
					busy = true;
				if (progress)
					last_progress = GetCurrentTimestamp();
			}
			for (int i = 0; i < 100 && !ShutdownRequestPending; i++)
			{
				if (!run_one_fallback_step())
					break;
				busy = true;
			}
			if (TimestampDifferenceExceeds(last_maintenance, GetCurrentTimestamp(),
										   busy ? 1000 : MAINTENANCE_INTERVAL_MS))
			{
				bool		stale = TimestampDifferenceExceeds(last_stale_check,
															   GetCurrentTimestamp(),
															   STALE_CHECK_INTERVAL_MS);

				maintenance(stale, distributed);
				last_maintenance = GetCurrentTimestamp();
				if (stale)
					last_stale_check = last_maintenance;
			}
			/* the outcome webhook's posts, never waited for (src/outcome_webhook.c) */
			pp_outcome_webhook_step();
		}
		/* on the distributed layout each node expands its own shards' part of a task */
		if (distributed && expansion_turn(local_expansions))
			busy = true;
		/* on the distributed layout each node keeps its own shards' send profiles */
		if (distributed && TimestampDifferenceExceeds(last_profiles, GetCurrentTimestamp(),
													  MAINTENANCE_INTERVAL_MS))
		{
			local_profiles_refresh();
			last_profiles = GetCurrentTimestamp();
		}
		if (!busy)
		{
			bool		ready = pp_extension_ready();
			long		timeout = ready ? idle_timeout() : pp_poll_interval;
			TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout);

			pgstat_report_activity(STATE_IDLE, "pushplan scheduler: waiting for due tasks");
			/*
			 * Sleeps until the next schedule or a wake-up, in short naps while outcome
			 * webhooks' posts are in flight or batches wait, driving them between naps.
			 */
			for (;;)
			{
				long		left = (long) ((until - GetCurrentTimestamp()) / 1000);
				long		nap = ready ? pp_outcome_webhook_nap(Max(left, 0)) : Max(left, 0);
				int			rc;

				rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							   nap, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				if ((rc & WL_LATCH_SET) || nap >= left || ShutdownRequestPending ||
					ConfigReloadPending)
					break;
				pp_outcome_webhook_step();
			}
		}
	}
	proc_exit(0);
}
