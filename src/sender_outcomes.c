/*
 * sender_outcomes.c: a sender's outcomes, from the vendor's answer to their rows. The sender
 * (src/worker_sender.c) adds each delivery's outcome as it comes (pp_pending_add) and writes
 * them in batches (pp_outcomes_flush), each in one short transaction: a delivery written already
 * (queued: a transactional push, a retry) updated with its outcome, a send plan's device's
 * delivery written once with it (doc/schedules.md, "Send plans"), invalid tokens cleared, the
 * statistics counted, the queue rows and plans taken away, the finished tasks marked done. The
 * statements are kept with generic plans, written so that no plan of them can scan a table for
 * a batch (run_batch_statement).
 */
#include "pushplan.h"
#include "workers.h"
#include "sender_outcomes.h"
#include "shard_local.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PPPending	pp_pending;
static MemoryContext pend_cxt = NULL;
static int	sender_role = 0;

void
pp_outcomes_init(int role)
{
	sender_role = role;
	pend_cxt = AllocSetContextCreate(TopMemoryContext, "pushplan outcomes", ALLOCSET_DEFAULT_SIZES);
}

void
pp_pending_add(int64 id, const char *task_id, int64 device_id, const char *token, const char *status, int http,
			const char *msgid, const char *error, TimestampTz retry_at, TimestampTz claimed_at,
			int latency_us, int64 send_plan)
{
	MemoryContext old = MemoryContextSwitchTo(pend_cxt);

	if (pp_pending.n == pp_pending.cap)
	{
		int			cap = pp_pending.cap ? pp_pending.cap * 2 : 1024;

#define GROW(f, t) pp_pending.f = pp_pending.cap ? repalloc(pp_pending.f, sizeof(t) * cap) : palloc(sizeof(t) * cap)
		GROW(ids, int64);
		GROW(task_ids, char *);
		GROW(device_ids, int64);
		GROW(tokens, char *);
		GROW(statuses, char *);
		GROW(http, int);
		GROW(msgids, char *);
		GROW(errors, char *);
		GROW(retry_at, TimestampTz);
		GROW(claimed_at, TimestampTz);
		GROW(latency_us, int);
		GROW(collateral, bool);
		GROW(send_plans, int64);
#undef GROW
		pp_pending.cap = cap;
	}
	if (pp_pending.n == 0)
		pp_pending.first_at = GetCurrentTimestamp();
	pp_pending.ids[pp_pending.n] = id;
	pp_pending.task_ids[pp_pending.n] = pstrdup(task_id);
	pp_pending.device_ids[pp_pending.n] = device_id;
	pp_pending.tokens[pp_pending.n] = token ? pstrdup(token) : NULL;
	pp_pending.statuses[pp_pending.n] = (char *) status;
	pp_pending.http[pp_pending.n] = http;
	pp_pending.msgids[pp_pending.n] = msgid ? pstrdup(msgid) : NULL;
	pp_pending.errors[pp_pending.n] = error ? pstrdup(error) : NULL;
	pp_pending.retry_at[pp_pending.n] = retry_at;
	pp_pending.claimed_at[pp_pending.n] = claimed_at;
	pp_pending.latency_us[pp_pending.n] = latency_us;
	pp_pending.collateral[pp_pending.n] = false;
	pp_pending.send_plans[pp_pending.n] = send_plan;
	pp_pending.n++;
	MemoryContextSwitchTo(old);
}

/* Forgets the pending outcomes (written, or their deliveries dropped with the extension). */
void
pp_pending_clear(void)
{
	pp_pending.n = 0;
	pp_pending.cap = 0;
	MemoryContextReset(pend_cxt);
}

static Datum
text_array(char **v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);
	bool	   *nulls = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nulls[i] = v[i] == NULL;
		d[i] = v[i] ? CStringGetTextDatum(v[i]) : (Datum) 0;
	}
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * The queue row of outcome o, by a key probe per outcome: a correlated subquery gives the
 * planner no join clause to turn around, so no plan can scan the queue instead (see
 * run_batch_statement). A row updated meanwhile (the upkeep's stale-claim reset) has another
 * ctid and is left; the next claim drops a queue row whose delivery has its outcome.
 */
#define QUEUE_ROW_OF_O \
	"(SELECT x.ctid FROM pushplan.delivery_queue x WHERE x.task_id = o.task_id AND x.delivery_id = o.id)"

/*
 * What a batch of outcomes adds up to, from the deliveries written (u: task_id, app_id,
 * platform, vendor, status, http_status, error, latency_us, delivery_id, device_id,
 * device_platform, vendor_message_id, fallback_of): counted in the statistics
 * (doc/statistics.md), as one row per task, platform and vendor (a fallback's messages in the
 * push's own figures, as its kinds, doc/fallback.md), and the vendors' answer times as a
 * histogram (bucket b > 0: [2^((b-1)/4), 2^(b/4)) ms; 0: under 1 ms). The final outcomes of
 * apps with an outcome webhook are appended to its outbox, for the scheduler to post
 * (src/outcome_webhook.c): the one-time filter skips the join when no app has one; otherwise,
 * an index probe of the tiny outcome_webhooks per outcome, and the task and device of those
 * that match.
 */
#define OUTCOMES_COUNTED \
	"counted AS (INSERT INTO pushplan.stats_pending (task_id, platform, vendor, sent, failed, " \
	"  invalid_token, rejected, gave_up, suppressed, opted_out, unregistered, no_token, " \
	"  expired, cancelled, retries, missing_attribute, capped, quiet_hours, consent) " \
	"  SELECT task_id, platform, vendor, count(*) FILTER (WHERE status = 'sent'), " \
	"    count(*) FILTER (WHERE status IN ('failed', 'invalid_token')), " \
	"    count(*) FILTER (WHERE status = 'invalid_token'), " \
	"    count(*) FILTER (WHERE status = 'failed' AND http_status BETWEEN 400 AND 499), " \
	"    count(*) FILTER (WHERE status = 'failed' AND error LIKE 'gave up after %'), " \
	"    count(*) FILTER (WHERE status IN ('suppressed', 'expired')), " \
	"    count(*) FILTER (WHERE status = 'suppressed' AND error = 'opted out'), " \
	"    count(*) FILTER (WHERE status = 'suppressed' AND error IN ('unregistered', 'device deleted')), " \
	"    count(*) FILTER (WHERE status = 'suppressed' AND error = 'token invalidated'), " \
	"    count(*) FILTER (WHERE status = 'expired'), count(*) FILTER (WHERE status = 'cancelled'), " \
	"    count(*) FILTER (WHERE status = 'queued'), " \
	"    count(*) FILTER (WHERE status = 'suppressed' AND error LIKE 'missing attribute %'), " \
	"    count(*) FILTER (WHERE status = 'suppressed' AND error = 'capped'), " \
	"    count(*) FILTER (WHERE status = 'suppressed' AND error = 'quiet hours'), " \
	"    count(*) FILTER (WHERE status = 'suppressed' AND error LIKE 'no consent: %') " \
	"  FROM u WHERE fallback_of IS NULL GROUP BY task_id, platform, vendor), " \
	"fallback_counted AS (INSERT INTO pushplan.stats_pending (task_id, platform, vendor, " \
	"  fallback_sent, fallback_failed) " \
	"  SELECT fallback_of, platform, vendor, count(*) FILTER (WHERE status = 'sent'), " \
	"    count(*) FILTER (WHERE status NOT IN ('sent', 'queued')) " \
	"  FROM u WHERE fallback_of IS NOT NULL GROUP BY fallback_of, platform, vendor), " \
	"timed AS (INSERT INTO pushplan.latency_pending (app_id, vendor, hour, bucket, answers) " \
	"  SELECT app_id, vendor, date_trunc('hour', now()), " \
	"    CASE WHEN latency_us < 1000 THEN 0 ELSE 1 + floor(4 * ln(latency_us / 1000.0::float8) / ln(2)) END, " \
	"    count(*) FROM u WHERE latency_us >= 0 GROUP BY 1, 2, 3, 4), " \
	"hooked AS (INSERT INTO pushplan.outcome_outbox (app_id, delivery_id, task_id, plan_id, " \
	"  registration_id, vendor, platform, status, error, http_status, vendor_message_id, at) " \
	"  SELECT u.app_id, u.delivery_id, u.task_id, " \
	"    (SELECT t.plan_id FROM pushplan.tasks t WHERE t.task_id = u.task_id), " \
	"    v.registration_id, u.vendor, " \
	"    u.device_platform, u.status, u.error, u.http_status, u.vendor_message_id, now() " \
	"  FROM u JOIN pushplan.outcome_webhooks w ON w.app_id = u.app_id " \
	"  LEFT JOIN pushplan.devices v ON v.device_id = u.device_id " \
	"  WHERE u.status <> 'queued' AND EXISTS (SELECT FROM pushplan.outcome_webhooks)), "

/*
 * Runs the statement that writes a batch of outcomes. On one node it is prepared once with a
 * generic plan and kept (pp_spi_keep): outcomes are written every few dozen answers
 * (pushplan.max_unrecorded), and parsing and planning the statement each time was a fifth of a
 * sender's CPU (doc/benchmarks.md, "The outcome statement kept"). A generic plan is made
 * blind to the batch's size and with the statistics of the moment, which may say the tables
 * are empty (after a quiet night, a TRUNCATE), and then joins a whole table to the batch. So
 * the deliveries are read by an index condition on the batch's ids (= ANY of its array: each
 * partition's scan bounded by the batch whatever the join order) and the queue rows by a
 * probe per outcome (QUEUE_ROW_OF_O); test/integration/sending.sh counts what they read.
 * (The claim is kept so too, written so that no plan of it can scan a table: a first kept
 * version, joined by the queue's key, scanned the whole queue at each claim once the queue had
 * grown from empty, 15-26 s a claim; claim_and_submit_group.) On the distributed layout (group >= 0) each shard group's statement names its
 * shards, which move: planned each time.
 */
static uint64
run_batch_statement(SPIPlanPtr *kept, const char *what, int expected, const char *sql, int group,
					int nargs, Oid *types, Datum *args)
{
	if (group >= 0 || pp_shards_distributed())
		return pp_spi_run(what, expected, pp_shard_sql(sql, group), nargs, types, args, NULL,
						  false, 0);
	pp_spi_keep(kept, what, sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	return pp_spi_checked(SPI_execute_plan(*kept, args, NULL, false, 0), what, expected);
}

/*
 * A kept generic plan is made with the statistics and table sizes of its moment: plans whose
 * statements could still read more than they must on a table that grew since are made again
 * this often (the planner reads a table's current size, not only its statistics).
 */
#define KEPT_PLAN_MAX_AGE_MS 10000

void
pp_keep_fresh(SPIPlanPtr *plan, TimestampTz *made_at)
{
	if (*plan != NULL &&
		TimestampDifferenceExceeds(*made_at, GetCurrentTimestamp(), KEPT_PLAN_MAX_AGE_MS))
	{
		SPI_freeplan(*plan);
		*plan = NULL;
	}
	if (*plan == NULL)
		*made_at = GetCurrentTimestamp();
}

/*
 * The outcomes of deliveries written already (queued ones): args and types as
 * write_outcome_rows makes them, the first 11; lo and hi, the least and greatest of the
 * batch's delivery ids.
 *
 * deliveries is partitioned by day of delivery_id, and a kept generic plan cannot prune by
 * "= ANY ($1)": every execution started a scan of each partition, 33 after a month at the
 * default retention. "BETWEEN $12 AND $13" on the partition key is pruned when the executor
 * starts: only the scans of the batch's days (nearly always one) are started
 * (doc/benchmarks.md, "A transactional push's outcome and the day partitions").
 */
static uint64
write_queued_outcome_rows(Datum *args, Oid *types, int group, int64 lo, int64 hi)
{
	static SPIPlanPtr outcome_plan = NULL;
	Datum		a[13];
	Oid			t[13];

	memcpy(a, args, sizeof(Datum) * 11);
	memcpy(t, types, sizeof(Oid) * 11);
	a[11] = Int64GetDatum(lo);
	a[12] = Int64GetDatum(hi);
	t[11] = t[12] = INT8OID;

	/*
	 * The deliveries (HOT updates: the only write of a delivery between its insert and its
	 * outcome, as the claim writes only the queue row), and their queue rows: deleted when
	 * final, back in the queue with the new send_at when retried. A delivery no longer 'queued'
	 * already has its outcome (written by an earlier try of this batch, or by another sender
	 * after the upkeep gave a stale claim back) and keeps it. Counted by OUTCOMES_COUNTED.
	 * Returns the tasks these deliveries belong to.
	 */
	return run_batch_statement(&outcome_plan, "recording outcomes", SPI_OK_SELECT,
						"WITH o AS (SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $10, $11) "
						"  o(id, status, http, msgid, error, retry_at, task_id, claimed_at, latency_us, collateral)), "
						/* the tries, and those lost with their connection (record_collateral) */
						"u AS (UPDATE pushplan.deliveries d SET status = o.status, attempts = d.attempts + 1, "
						"  collateral = d.collateral + CASE WHEN o.collateral THEN 1 ELSE 0 END, "
						"  claimed_by = $9, claimed_at = o.claimed_at, "
						"  sent_at = CASE WHEN o.status = 'sent' THEN clock_timestamp() ELSE d.sent_at END, "
						"  send_at = coalesce(o.retry_at, d.send_at), "
						"  http_status = nullif(o.http, 0), vendor_message_id = o.msgid, error = o.error "
						"  FROM o WHERE d.delivery_id = o.id AND d.delivery_id = ANY ($1) "
						"  AND d.delivery_id BETWEEN $12 AND $13 AND d.status = 'queued' "
						"  RETURNING d.task_id, d.app_id, coalesce(d.platform, 'unknown') AS platform, d.vendor, "
						"    d.status, d.http_status, d.error, o.latency_us, d.delivery_id, d.device_id, "
						"    d.platform AS device_platform, d.vendor_message_id, d.fallback->>'task_id' AS fallback_of), "
						OUTCOMES_COUNTED
						"fin AS (DELETE FROM pushplan.delivery_queue q USING o "
						"  WHERE q.ctid = " QUEUE_ROW_OF_O " AND o.status <> 'queued'), "
						"again AS (UPDATE pushplan.delivery_queue q SET claimed_by = NULL, claimed_at = NULL, "
						"  send_at = o.retry_at FROM o "
						"  WHERE q.ctid = " QUEUE_ROW_OF_O " AND o.status = 'queued') "
						"SELECT DISTINCT task_id FROM u", group,
						13, t, a);
}

/*
 * The outcomes of the devices of send plans (claim_planned), args and types as
 * write_outcome_rows makes them: each device's delivery written once, with its outcome (a
 * retry's queued, with its queue row), and the device taken out of its plan, a plan left empty
 * deleted, in one statement. The plans are locked first: a device that is no longer in its
 * plan (an erasure took it out, or another sender's outcome for it came first after the
 * upkeep gave a stale claim back) gets no delivery.
 *
 * Kept with a generic plan, as the other outcome statement (run_batch_statement): planning it
 * at each run was a sixth of a sender's CPU. The plans are read by their ids (= ANY of the
 * batch's); a generic plan made while delivery_plans held a few rows may read it whole, so the
 * plan is made again every KEPT_PLAN_MAX_AGE_MS (pp_keep_fresh).
 */

static uint64
write_planned_outcome_rows(Datum *args, Oid *types)
{
	static SPIPlanPtr outcome_plan = NULL;
	static TimestampTz made_at = 0;

	pp_keep_fresh(&outcome_plan, &made_at);
	pp_spi_keep(&outcome_plan, "recording planned outcomes",
		"WITH o AS (SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $10, $11, $12, $13) "
		"  o(id, status, http, msgid, error, retry_at, task_id, claimed_at, latency_us, collateral, "
		"    device_id, send_plan)), "
		"lk AS (SELECT x.plan_id, x.send_at, x.priority, x.platform, x.vendor, x.device_ids "
		"  FROM pushplan.delivery_plans x WHERE x.plan_id = ANY ($13) FOR UPDATE), "
		/* the outcomes of devices still in their plans */
		"w AS (SELECT o.*, t.app_id, lk.send_at AS planned_at, lk.priority, lk.platform, lk.vendor "
		"  FROM o JOIN lk ON lk.plan_id = o.send_plan JOIN pushplan.tasks t ON t.task_id = o.task_id "
		"  WHERE o.device_id = ANY (lk.device_ids)), "
		"ins AS (INSERT INTO pushplan.deliveries (delivery_id, task_id, app_id, device_id, vendor, "
		"    platform, send_at, status, attempts, collateral, claimed_by, claimed_at, sent_at, "
		"    http_status, vendor_message_id, error) "
		"  SELECT w.id, w.task_id, w.app_id, w.device_id, w.vendor, w.platform, "
		"    coalesce(w.retry_at, w.planned_at), w.status, 1, CASE WHEN w.collateral THEN 1 ELSE 0 END, "
		"    $9, w.claimed_at, CASE WHEN w.status = 'sent' THEN clock_timestamp() END, "
		"    nullif(w.http, 0), w.msgid, w.error FROM w), "
		/* what ins wrote, for OUTCOMES_COUNTED */
		"u AS (SELECT w.task_id, w.app_id, w.platform, w.vendor, w.status, nullif(w.http, 0) AS http_status, "
		"  w.error, w.latency_us, w.id AS delivery_id, w.device_id, w.platform AS device_platform, "
		"  w.msgid AS vendor_message_id, NULL::text AS fallback_of FROM w), "
		/* a retry: a queued delivery from now on, in the plan's lane */
		"requeued AS (INSERT INTO pushplan.delivery_queue (delivery_id, task_id, send_at, priority, device_id) "
		"  SELECT w.id, w.task_id, w.retry_at, w.priority, w.device_id FROM w WHERE w.status = 'queued'), "
		OUTCOMES_COUNTED
		"rest AS (SELECT lk.plan_id, cardinality(lk.device_ids) AS had, "
		"  ARRAY(SELECT x FROM unnest(lk.device_ids) x "
		"        WHERE x <> ALL (ARRAY(SELECT w.device_id FROM w WHERE w.send_plan = lk.plan_id))) AS ids "
		"  FROM lk), "
		"shrunk AS (UPDATE pushplan.delivery_plans x SET device_ids = r.ids FROM rest r "
		"  WHERE x.plan_id = ANY ($13) AND x.plan_id = r.plan_id "
		"  AND cardinality(r.ids) BETWEEN 1 AND r.had - 1), "
		"emptied AS (DELETE FROM pushplan.delivery_plans x USING rest r "
		"  WHERE x.plan_id = ANY ($13) AND x.plan_id = r.plan_id AND cardinality(r.ids) = 0) "
		"SELECT DISTINCT task_id FROM u",
		13, types, CURSOR_OPT_GENERIC_PLAN);
	return pp_spi_checked(SPI_execute_plan(outcome_plan, args, NULL, false, 0),
						  "recording planned outcomes", SPI_OK_SELECT);
}

/*
 * Writes the pending outcomes pend[idx[0..n-1]] (all of one shard group on the distributed
 * layout: group; -1 on a single node), and clears the invalid tokens among them, in the
 * caller's unit of work: all of deliveries written already (planned false:
 * write_queued_outcome_rows), or all of devices of send plans (planned true:
 * write_planned_outcome_rows). Returns the number of tasks these deliveries belong to, listed
 * in SPI_tuptable.
 */
static uint64
write_outcome_rows(const int *idx, int n, int group, bool planned)
{
	Datum		args[13];
	Oid			types[13] = {INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, INT4OID, INT4ARRAYOID, BOOLARRAYOID,
	INT8ARRAYOID, INT8ARRAYOID};
	int64	   *devices;
	int64	   *send_plans;
	Datum	   *collateral;
	Datum	   *http;
	Datum	   *latency;
	Datum	   *retry;
	Datum	   *claimed;
	bool	   *retry_nulls;
	int64	   *ids;
	int64		lo = PG_INT64_MAX;
	int64		hi = PG_INT64_MIN;
	char	  **statuses;
	char	  **msgids;
	char	  **errors;
	char	  **task_ids;
	int			dims[1];
	int			lbs[1] = {1};
	int64	   *bad_devices;
	char	  **bad_tokens;
	int			nbad = 0;
	MemoryContext old;
	uint64		ntasks;
	SPITupleTable *tasks;

	old = MemoryContextSwitchTo(pend_cxt);
	dims[0] = n;
	http = palloc(sizeof(Datum) * n);
	retry = palloc(sizeof(Datum) * n);
	retry_nulls = palloc(sizeof(bool) * n);
	claimed = palloc(sizeof(Datum) * n);
	latency = palloc(sizeof(Datum) * n);
	collateral = palloc(sizeof(Datum) * n);
	ids = palloc(sizeof(int64) * n);
	statuses = palloc(sizeof(char *) * n);
	msgids = palloc(sizeof(char *) * n);
	errors = palloc(sizeof(char *) * n);
	task_ids = palloc(sizeof(char *) * n);
	bad_devices = palloc(sizeof(int64) * n);
	bad_tokens = palloc(sizeof(char *) * n);
	devices = palloc(sizeof(int64) * n);
	send_plans = palloc(sizeof(int64) * n);
	for (int j = 0; j < n; j++)
	{
		int			i = idx[j];

		ids[j] = pp_pending.ids[i];
		lo = Min(lo, ids[j]);
		hi = Max(hi, ids[j]);
		devices[j] = pp_pending.device_ids[i];
		send_plans[j] = pp_pending.send_plans[i];
		statuses[j] = pp_pending.statuses[i];
		msgids[j] = pp_pending.msgids[i];
		errors[j] = pp_pending.errors[i];
		task_ids[j] = pp_pending.task_ids[i];
		http[j] = Int32GetDatum(pp_pending.http[i]);
		retry_nulls[j] = pp_pending.retry_at[i] == 0;
		retry[j] = TimestampTzGetDatum(pp_pending.retry_at[i]);
		claimed[j] = TimestampTzGetDatum(pp_pending.claimed_at[i]);
		latency[j] = Int32GetDatum(pp_pending.latency_us[i]);
		collateral[j] = BoolGetDatum(pp_pending.collateral[i]);
		if (strcmp(pp_pending.statuses[i], "invalid_token") == 0 && pp_pending.tokens[i])
		{
			bad_devices[nbad] = pp_pending.device_ids[i];
			bad_tokens[nbad++] = pp_pending.tokens[i];
		}
	}
	args[0] = pp_int8_array(ids, n);
	args[1] = text_array(statuses, n);
	args[2] = PointerGetDatum(construct_array(http, n, INT4OID, 4, true, TYPALIGN_INT));
	args[3] = text_array(msgids, n);
	args[4] = text_array(errors, n);
	args[5] = PointerGetDatum(construct_md_array(retry, retry_nulls, 1, dims, lbs, TIMESTAMPTZOID,
												 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[6] = text_array(task_ids, n);
	args[7] = PointerGetDatum(construct_array(claimed, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	args[8] = Int32GetDatum(sender_role);
	args[9] = PointerGetDatum(construct_array(latency, n, INT4OID, 4, true, TYPALIGN_INT));
	args[10] = PointerGetDatum(construct_array(collateral, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	args[11] = pp_int8_array(devices, n);
	args[12] = pp_int8_array(send_plans, n);
	MemoryContextSwitchTo(old);

	ntasks = planned ? write_planned_outcome_rows(args, types) :
		write_queued_outcome_rows(args, types, group, lo, hi);
	tasks = SPI_tuptable;
	if (nbad > 0)
	{
		Oid			t2[2] = {INT8ARRAYOID, TEXTARRAYOID};
		Datum		a2[2];

		old = MemoryContextSwitchTo(pend_cxt);
		a2[0] = pp_int8_array(bad_devices, nbad);
		a2[1] = text_array(bad_tokens, nbad);
		MemoryContextSwitchTo(old);
		/* only the token the vendor refused: the device may have re-registered since */
		pp_spi_run("clearing invalid tokens", SPI_OK_UPDATE, pp_shard_sql(
				   "UPDATE pushplan.devices v SET token = NULL, token_invalidated_at = now(), "
				   "updated_at = now() "
				   "FROM unnest($1, $2) x(device_id, token) "
				   "WHERE v.device_id = x.device_id AND v.token = x.token", group),
				   2, t2, a2, NULL, false, 0);
	}
	SPI_tuptable = tasks;
	return ntasks;
}

/*
 * Writes the pending outcomes from..from+n-1 in one transaction; invalid tokens are cleared in
 * the same one.  Returns false if the work cannot run (pp_work_begin).
 */
static bool
write_outcomes(int from, int n, bool queue_drained)
{
	char		activity[64];
	int		   *idx;
	Datum	   *tasks;
	int			ntasks = 0;

	/* no psprintf: this runs outside any transaction, in the long-lived context */
	snprintf(activity, sizeof(activity), "pushplan: recording %d outcomes", n);
	if (!pp_work_begin(activity))
	{
		pgstat_report_activity(STATE_IDLE, NULL);
		return false;
	}

	/*
	 * An express sender does not wait for its outcomes' WAL to reach the disk: during a
	 * broadcast that wait (the broadcast's WAL ahead of it) is what the next transactional push
	 * would wait for. A crash can lose the last outcomes written (up to three
	 * wal_writer_delay), whose deliveries are then sent again (doc/operations.md, "Crashes").
	 */
	if (PP_ROLE_IS_EXPRESS(sender_role))
		(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	pp_shards_refresh(false);
	idx = MemoryContextAlloc(pend_cxt, sizeof(int) * n);
	if (pp_shards_distributed())
	{
		/*
		 * Each outcome goes to its delivery's shard, one statement per local shard group.
		 * A delivery whose shard moved to another node since its claim cannot be written here:
		 * its queue row there stays claimed until the upkeep's stale-claim timeout, and it is
		 * sent again (doc/scale-out.md, "Failures and growth").
		 */
		for (int g = 0; g < pp_shards_local_count(); g++)
		{
			int			k = 0;

			for (int i = from; i < from + n; i++)
				if (pp_shard_of_device(pp_pending.device_ids[i]) == g)
					idx[k++] = i;
			if (k > 0)
				(void) write_outcome_rows(idx, k, g, false);
		}
		for (int i = from; i < from + n; i++)
			if (pp_shard_of_device(pp_pending.device_ids[i]) < 0)
				ereport(LOG, (errmsg("pushplan: sender %d: the shard of delivery " INT64_FORMAT
									 " moved to another node: its outcome \"%s\" is not written",
									 sender_role, pp_pending.ids[i], pp_pending.statuses[i])));
		pp_work_end();
		pgstat_report_activity(STATE_IDLE, NULL);
		return true;
	}
	/* the deliveries written already, then the devices of send plans: each part's tasks */
	tasks = MemoryContextAlloc(pend_cxt, sizeof(Datum) * n);
	for (int part = 0; part < 2; part++)
	{
		int			k = 0;
		uint64		found;

		for (int i = from; i < from + n; i++)
			if ((pp_pending.send_plans[i] != 0) == (part == 1))
				idx[k++] = i;
		if (k == 0)
			continue;
		found = write_outcome_rows(idx, k, -1, part == 1);
		for (uint64 i = 0; i < found; i++)
		{
			bool		isnull;

			tasks[ntasks++] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		}
	}

	/*
	 * Once the queue runs dry, the tasks whose last deliveries these were are done (the
	 * scheduler's upkeep catches the races between senders). A task is done when it has no queue
	 * row or send plan left (PP_TASK_HAS_OPEN_DELIVERIES, an index probe of each per task).
	 */
	if (queue_drained && ntasks > 0)
	{
		Oid			t1[1] = {TEXTARRAYOID};
		Datum		a1[1];

		a1[0] = PointerGetDatum(construct_array(tasks, (int) ntasks, TEXTOID, -1, false, TYPALIGN_INT));
		/*
		 * (An express sender's every push ends here: kept with a generic plan, the tasks read by
		 * their ids, each one's queue rows and plans by an index probe.)
		 */
		pp_spi_run_kept_key("marking finished tasks done", SPI_OK_UPDATE,
							 "UPDATE pushplan.tasks t SET state = 'done', finished_at = now() "
							 "WHERE t.task_id = ANY ($1) AND t.state = 'sending' AND t.expanded "
							 "AND NOT " PP_TASK_HAS_OPEN_DELIVERIES,
							 1, t1, a1, NULL, false, 0);
	}
	pp_work_end();
	pgstat_report_activity(STATE_IDLE, NULL);
	return true;
}

typedef enum WriteResult
{
	WRITE_OK,
	WRITE_BLOCKED,				/* the work cannot run now (pp_work_begin) */
	WRITE_FAILED				/* an ERROR, logged; the transaction rolled back */
} WriteResult;

/* The delivery ids from..from+n-1, for a log line: at most 20 of them. */
static char *
ids_text(int from, int n)
{
	StringInfoData b;

	initStringInfo(&b);
	for (int i = 0; i < n && i < 20; i++)
		appendStringInfo(&b, "%s" INT64_FORMAT, i ? ", " : "", pp_pending.ids[from + i]);
	if (n > 20)
		appendStringInfo(&b, " and %d more", n - 20);
	return b.data;
}

/* write_outcomes, with an ERROR caught: logged with the delivery ids, rolled back. */
static WriteResult
write_outcomes_guarded(int from, int n, bool queue_drained)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile WriteResult result = WRITE_OK;

	PG_TRY();
	{
		result = write_outcomes(from, n, queue_drained) ? WRITE_OK : WRITE_BLOCKED;
	}
	PG_CATCH();
	{
		ErrorData  *ed;
		char	   *ids;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		pp_work_abort();
		ids = ids_text(from, n);
		ereport(LOG,
				(errmsg("pushplan: sender %d could not record %d outcomes: %s", sender_role, n,
						ed->message),
				 errdetail("Deliveries %s.", ids)));
		pfree(ids);
		FreeErrorData(ed);
		result = WRITE_FAILED;
	}
	PG_END_TRY();
	return result;
}

/*
 * Writes every pending outcome, in one transaction.  If that fails, each outcome is written
 * alone, so that one delivery whose row cannot be written (a trigger, a constraint) costs only
 * itself: it stays claimed by this sender, is logged, and the sender goes on.  Returns false,
 * keeping the outcomes pending, if the work cannot run (pp_work_begin).
 */
bool
pp_outcomes_flush(bool queue_drained)
{
	WriteResult r;

	if (pp_pending.n == 0)
		return true;
	r = write_outcomes_guarded(0, pp_pending.n, queue_drained);
	if (r == WRITE_BLOCKED)
		return false;
	if (r == WRITE_FAILED)
		for (int i = 0; i < pp_pending.n; i++)
			if (write_outcomes_guarded(i, 1, queue_drained) == WRITE_BLOCKED)
				return false;	/* the rest waits; those written are written again, harmless */
	pp_pending_clear();
	return true;
}

