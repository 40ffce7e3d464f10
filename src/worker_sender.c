/*
 * worker_sender.c: the sender workers. Each claims batches of due deliveries in a short committed
 * transaction (FOR UPDATE SKIP LOCKED, so senders share a task without sending a device twice),
 * hands them to the delivery engine (src/engine.h) outside any transaction, and writes the
 * outcomes back in batches, again in short transactions. No transaction is ever open across
 * network I/O, and memory is flat: per-claim and per-flush contexts are reset every round.
 *
 * Express senders (pushplan.express_senders) run the same loop but claim only the high lane
 * (transactional pushes): idle while there is none, they answer a commit's wake-up at once,
 * where a sender busy with a broadcast would first finish the claim or outcome statement it is in.
 *
 * A delivery is 'sending' from its claim until its outcome is written: its queue row is claimed
 * (delivery_queue.claimed_by), while the delivery itself stays 'queued' and is written once, with
 * its outcome (push_deliveries shows it as 'sending'). The devices of a send plan (a
 * broadcast's, a schedule's: doc/schedules.md, "Send plans") are claimed with their plan
 * (delivery_plans.claimed_by) and have no delivery row until their outcome, written with it
 * (claim_planned; write_planned_outcome_rows in src/sender_outcomes.c, which writes every
 * outcome). If the sender dies in between, the restarted sender of the same slot puts its rows
 * and plans back (at most the batch in flight is sent again; apns-id and collapse ids make that
 * harmless).
 *
 * Frequency caps and quiet hours (doc/engagement.md) are applied in the claim's transaction, to
 * the deliveries of apps and plans that have any (engagement_gate): held and deferred ones go
 * back to the queue at their later time, dropped ones get their outcome at once.
 *
 * On the distributed layout (doc/scale-out.md, "Senders on every node") a sender claims from the
 * shards placed on its own node, one shard group at a time, in turn, and writes each outcome to
 * its delivery's shard, with the statements below run on the shard tables (src/shard_local.c);
 * the coordinator's scheduler marks the tasks done.
 */
#include "pushplan.h"
#include "workers.h"
#include "engine.h"
#include "template_push.h"
#include "json.h"
#include "shard_local.h"
#include "sender_outcomes.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#define CACHE_SECONDS		10	/* how long task pushes and vendor configs are reused */
#define FLUSH_AFTER_MS		20	/* longest wait for answers in one poll */
#define OUTCOMES_WAIT_MS	5	/* outcomes wait at most about this long to be written */
#define COLLATERAL_PER_ATTEMPT 5	/* tries lost with their connection, per max_attempts */
#define EXPRESS_LOOK_MS		5	/* how often a sender that may owe the high lane a claim looks */

#define CLAIM_SEND_PLAN		21	/* a claim's column of the send plan (claim_planned) */

static PPDatabaseSlot *my_slot = NULL;
static int	my_role = 0;

/* What the sender remembers of a delivery while it is in flight. */
typedef struct InFlight
{
	int64		delivery_id;	/* hash key */
	int64		device_id;
	char	   *task_id;		/* with delivery_id, the key of its delivery_queue row */
	char	   *token;			/* as sent: only this token is invalidated */
	int			attempts;		/* tries, this one included */
	int			collateral;		/* earlier tries lost with their connection (record_collateral) */
	TimestampTz expires_at;
	TimestampTz claimed_at;
	int64		send_plan;		/* its delivery_plans row (not written yet), or 0 */
} InFlight;

static void release_idle_holds(void);

/* Task pushes and vendor configurations, cached for CACHE_SECONDS. */
typedef struct CachedJsonb
{
	char		key[NAMEDATALEN * 2];
	Jsonb	   *value;
} CachedJsonb;

/* Task templates, parsed once per task and kept as long as the task's push (CACHE_SECONDS). */
typedef struct CachedTemplate
{
	char		task_id[NAMEDATALEN * 2];
	PPPushTemplate *pt;
} CachedTemplate;

static HTAB *inflight = NULL;
static HTAB *cache = NULL;
static HTAB *template_cache = NULL;
static MemoryContext cache_cxt = NULL;
static TimestampTz cache_born = 0;


static void
reset_cache(void)
{
	HASHCTL		ctl;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "pushplan sender cache",
										  ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(cache_cxt);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN * 2;
	ctl.entrysize = sizeof(CachedJsonb);
	ctl.hcxt = cache_cxt;
	cache = hash_create("pushplan sender cache", 256, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.entrysize = sizeof(CachedTemplate);
	template_cache = hash_create("pushplan sender templates", 64, &ctl,
								 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	cache_born = GetCurrentTimestamp();
}

/* A cached jsonb, loaded with query(param) on a miss (inside the claim transaction). */
static Jsonb *
cached(const char *key, const char *query, int nargs, Oid *types, Datum *args)
{
	CachedJsonb *e;
	bool		found;

	e = hash_search(cache, key, HASH_ENTER, &found);
	if (!found)
	{
		bool		isnull = true;
		Datum		d = (Datum) 0;

		/*
		 * Not read-only: a read-only statement would see the snapshot taken when the unit of
		 * work began, before the claim's own, and miss a task committed in between, whose
		 * delivery the claim did see (an express sender claims right at the commit).
		 */
		if ((pp_shards_distributed() ?
			 pp_spi_run(query, SPI_OK_SELECT, pp_shard_sql(query, -1), nargs, types, args, NULL,
						false, 1) :
			 pp_spi_run_kept_key(query, SPI_OK_SELECT, query, nargs, types, args, NULL,
								 false, 1)) == 1)
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			e->value = NULL;
		else
		{
			MemoryContext old = MemoryContextSwitchTo(cache_cxt);

			e->value = DatumGetJsonbPCopy(d);
			MemoryContextSwitchTo(old);
		}
	}
	return e->value;
}

/* The task's templates, parsed on first use; push is the task's cached push. */
static PPPushTemplate *
cached_template(const char *task_id, Jsonb *push)
{
	CachedTemplate *e;
	bool		found;

	e = hash_search(template_cache, task_id, HASH_ENTER, &found);
	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(cache_cxt);

		e->pt = pp_push_template_compile(push, PP_TEMPLATE_EVENT_VARS);
		MemoryContextSwitchTo(old);
	}
	return e->pt;
}

/* Exponential back-off (1 s, 2 s, 4 s ...) capped at pushplan.retry_max_backoff, with jitter. */
static TimestampTz
retry_time(int attempts, int retry_after_ms)
{
	int64		ms = retry_after_ms;

	if (ms <= 0)
	{
		ms = 1000L << Min(attempts - 1, 20);
		ms = Min(ms, (int64) pp_retry_max_backoff * 1000);
		ms += random() % (ms / 4 + 1);
	}
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
}

/*
 * A retry lost with its connection (PPSendOutcome.collateral: reset, closed or GOAWAY'd under
 * it, or dropped after another request on it timed out) says nothing of the delivery itself:
 * with every device of a vendor on a few connections, one bad request would otherwise cost an
 * attempt to each of the others on its connection.  It is tried again without using up one of
 * its pushplan.max_attempts (attempts counts every try, collateral those lost so), after the
 * back-off of the attempts it did use, up to COLLATERAL_PER_ATTEMPT x max_attempts such tries:
 * a vendor that drops every connection still ends.
 */
static void
record_collateral(PPSendOutcome *o, InFlight *f)
{
	int			lost = f->collateral + 1;	/* this one included */
	int			own = f->attempts - lost;	/* the attempts used */
	int64		ms = Min(1000L << Min(Max(own, 1) - 1, 20), (int64) pp_retry_max_backoff * 1000);
	TimestampTz retry_at;

	/*
	 * Full jitter, a quarter of a second up to past the attempts' back-off: the requests lost
	 * together would otherwise come back together, the one that takes the connection down
	 * among them, and be lost together again.
	 */
	ms = 250 + random() % (Max(ms, 1) * 2);
	retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), o->retry_after_ms > 0 ? o->retry_after_ms : ms);

	if (lost >= pp_max_attempts * COLLATERAL_PER_ATTEMPT)
		pp_pending_add(o->delivery_id, f->task_id, f->device_id, NULL, "failed", o->http_status, NULL,
					psprintf("gave up after %d tries lost with their connection: %s", lost,
							 o->error ? o->error : "no answer"), 0, f->claimed_at, o->latency_us, f->send_plan);
	else if (f->expires_at > 0 && retry_at > f->expires_at)
		pp_pending_add(o->delivery_id, f->task_id, f->device_id, NULL, "expired", o->http_status, NULL,
					o->error, 0, f->claimed_at, o->latency_us, f->send_plan);
	else
		pp_pending_add(o->delivery_id, f->task_id, f->device_id, NULL, "queued", o->http_status, NULL,
					o->error, retry_at, f->claimed_at, o->latency_us, f->send_plan);
	pp_pending.collateral[pp_pending.n - 1] = true;
}

static void
record_outcome(PPSendOutcome *o)
{
	InFlight   *f = hash_search(inflight, &o->delivery_id, HASH_FIND, NULL);
	TimestampTz retry_at;

	if (f == NULL)
		return;					/* cannot happen: every outcome has its item */
	switch (o->kind)
	{
		case PP_OUT_SENT:
			pp_pending_add(o->delivery_id, f->task_id, f->device_id, NULL, "sent", o->http_status,
						o->vendor_message_id, NULL, 0, f->claimed_at, o->latency_us, f->send_plan);
			break;
		case PP_OUT_INVALID_TOKEN:
			pp_pending_add(o->delivery_id, f->task_id, f->device_id, f->token, "invalid_token", o->http_status,
						NULL, o->error, 0, f->claimed_at, o->latency_us, f->send_plan);
			break;
		case PP_OUT_FAILED:
			pp_pending_add(o->delivery_id, f->task_id, f->device_id, NULL, "failed", o->http_status, NULL,
						o->error, 0, f->claimed_at, o->latency_us, f->send_plan);
			break;
		case PP_OUT_RETRY:
			if (o->collateral)
			{
				record_collateral(o, f);
				break;
			}
			/* the attempts used: tries lost with their connection are not counted */
			retry_at = retry_time(f->attempts - f->collateral, o->retry_after_ms);
			if (f->attempts - f->collateral >= pp_max_attempts)
				pp_pending_add(o->delivery_id, f->task_id, f->device_id, NULL, "failed", o->http_status, NULL,
							psprintf("gave up after %d attempts: %s", f->attempts - f->collateral,
									 o->error ? o->error : "no answer"), 0, f->claimed_at, o->latency_us, f->send_plan);
			else if (f->expires_at > 0 && retry_at > f->expires_at)
				pp_pending_add(o->delivery_id, f->task_id, f->device_id, NULL, "expired", o->http_status, NULL,
							o->error, 0, f->claimed_at, o->latency_us, f->send_plan);
			else
				pp_pending_add(o->delivery_id, f->task_id, f->device_id, NULL, "queued", o->http_status, NULL,
							o->error, retry_at, f->claimed_at, o->latency_us, f->send_plan);
			break;
	}
	if (f->token)
		pfree(f->token);
	pfree(f->task_id);
	hash_search(inflight, &o->delivery_id, HASH_REMOVE, NULL);
}

/* What the engagement gate decided for a delivery it holds back (doc/engagement.md). */
typedef struct GateVerdict
{
	int64		delivery_id;	/* hash key */
	char	   *dropped;		/* "capped" / "quiet hours"; NULL: held or deferred (requeued) */
} GateVerdict;

/*
 * The engagement gate for local shard group `group` on the distributed layout: a copy of
 * pushplan._engagement_gate in this session's temporary schema, its tables replaced by the
 * group's shards (pp_shard_sql) as the claim's are, made the first time the group needs it
 * (its name carries the group's identity, the delivery_queue shard's id). Plain PostgreSQL
 * over the local shards, as the claim: through Citus the gate's FOR UPDATE of the devices'
 * counts would be refused. The name also carries the version of the extension's definition
 * (its pg_proc row's xmin, new with each CREATE OR REPLACE: an ALTER EXTENSION UPDATE), so a
 * sender makes a new copy once the definition changes (the old one stays, unused, until the
 * session ends). Returns its qualified name.
 */
static const char *
shard_gate(int group)
{
	Oid			argtypes[2] = {INT8ARRAYOID, TIMESTAMPTZOID};
	HeapTuple	proc = SearchSysCache3(PROCNAMEARGSNSP, CStringGetDatum("_engagement_gate"),
									   PointerGetDatum(buildoidvector(argtypes, 2)),
									   ObjectIdGetDatum(get_namespace_oid("pushplan", false)));
	TransactionId version;
	char	   *fname;
	char	   *name;
	Oid			temp = LookupExplicitNamespace("pg_temp", true);
	char	   *def;
	char	   *head;

	if (!HeapTupleIsValid(proc))
		elog(ERROR, "pushplan: function pushplan._engagement_gate(bigint[], timestamptz) is missing");
	version = HeapTupleHeaderGetRawXmin(proc->t_data);
	ReleaseSysCache(proc);
	fname = psprintf("pushplan_gate_" INT64_FORMAT "_%u", pp_shard_group_id(group), version);
	name = psprintf("pg_temp.%s", fname);

	/* made already, and not rolled back since: a catalog cache probe (each gated claim asks) */
	if (OidIsValid(temp) &&
		SearchSysCacheExists3(PROCNAMEARGSNSP, CStringGetDatum(fname),
							  PointerGetDatum(buildoidvector(argtypes, 2)), ObjectIdGetDatum(temp)))
		return name;
	pp_spi_run("reading the engagement gate", SPI_OK_SELECT,
			   "SELECT pg_get_functiondef('pushplan._engagement_gate(bigint[], timestamptz)'::regprocedure)",
			   0, NULL, NULL, NULL, true, 1);
	def = SPI_getvalue(pp_spi_first_row("reading the engagement gate"), SPI_tuptable->tupdesc, 1);
	head = strstr(def, "pushplan._engagement_gate(");
	if (head == NULL)
		elog(ERROR, "pushplan: unexpected definition of _engagement_gate");
	def = psprintf("%.*s%s%s", (int) (head - def), def, name, head + strlen("pushplan._engagement_gate"));
	/* (a temporary function is this session's: nothing for Citus to propagate) */
	(void) set_config_option("citus.enable_ddl_propagation", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	pp_spi_run("making the shard group's engagement gate", SPI_OK_UTILITY, pp_shard_sql(def, group),
			   0, NULL, NULL, NULL, false, 0);
	return name;
}

/*
 * Frequency caps and quiet hours (doc/engagement.md), in the claim's transaction: the claimed
 * deliveries of apps or plans that have any go through pushplan._engagement_gate, which counts
 * the ones that pass against their caps (locking each device's count rows, so that two senders
 * never both pass a cap), puts the held and deferred ones back in the queue at their later
 * time, and names those to drop. Whether an app and plan have controls is cached with the task
 * pushes (CACHE_SECONDS): without any, a delivery costs one hash look-up here. Returns the
 * verdicts by delivery (in the current context), or NULL when nothing was held back.
 */
static HTAB *
engagement_gate(SPITupleTable *rows, int claimed, int group)
{
	int64	   *ids = palloc(sizeof(int64) * Max(claimed, 1));
	int			n = 0;
	HTAB	   *verdicts;
	HASHCTL		ctl;
	Datum		args[1];
	Oid			types[1] = {INT8ARRAYOID};
	uint64		held;
	text	   *prev_task = NULL;	/* a claim's rows are mostly of one task: decided once */
	bool		prev_gated = false;

	for (int i = 0; i < claimed; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		bool		isnull;
		char		key[NAMEDATALEN * 2];
		Datum		ka[2];
		Oid			kt[2] = {INT4OID, TEXTOID};
		int32		app_id;
		char	   *plan_id;
		text	   *task;

		(void) SPI_getbinval(tup, desc, 11, &isnull);
		if (!isnull)
			continue;			/* not sent anyway */
		task = DatumGetTextPP(SPI_getbinval(tup, desc, 2, &isnull));
		if (prev_task != NULL && VARSIZE_ANY_EXHDR(task) == VARSIZE_ANY_EXHDR(prev_task) &&
			memcmp(VARDATA_ANY(task), VARDATA_ANY(prev_task), VARSIZE_ANY_EXHDR(task)) == 0)
		{
			if (prev_gated)
				ids[n++] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			continue;
		}
		prev_task = task;
		prev_gated = false;
		app_id = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		plan_id = SPI_getvalue(tup, desc, 17);
		snprintf(key, sizeof(key), "e:%d:%s", app_id, plan_id);
		ka[0] = Int32GetDatum(app_id);
		ka[1] = CStringGetTextDatum(plan_id);
		if (cached(key, "SELECT CASE WHEN pushplan._engagement_any($1, $2) THEN 'true'::jsonb END",
				   2, kt, ka) == NULL)
			continue;			/* prev_gated stays false for the task's next rows */
		/*
		 * A transactional push (the high lane) is exempt unless its options ask for a control:
		 * it does not wait for the gate's call (the express sender's latency). A flow's send
		 * is one user's, so in the high lane, but automated: the gate decides.
		 */
		if (DatumGetBool(SPI_getbinval(tup, desc, 13, &isnull)) &&
			!DatumGetBool(SPI_getbinval(tup, desc, 19, &isnull)))
		{
			char	   *task_id = SPI_getvalue(tup, desc, 2);
			Oid			tt[1] = {TEXTOID};
			Datum		ta[1] = {CStringGetTextDatum(task_id)};
			Jsonb	   *push;
			JsonbContainer *options;
			bool		cap = false;
			bool		quiet = false;

			snprintf(key, sizeof(key), "t:%s", task_id);
			push = cached(key, "SELECT push FROM pushplan.tasks WHERE task_id = $1", 1, tt, ta);
			options = push ? pp_jobj(pp_jobj(&push->root, "body"), "options") : NULL;
			if (options == NULL ||
				(!(pp_jbool(options, "frequency_cap", &cap) && cap) &&
				 !(pp_jbool(options, "quiet_hours", &quiet) && quiet)))
				continue;
		}
		prev_gated = true;
		ids[n++] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	}
	if (n == 0)
		return NULL;

	args[0] = pp_int8_array(ids, n);
	held = pp_spi_run("applying frequency caps and quiet hours", SPI_OK_SELECT,
					  psprintf("SELECT delivery_id, verdict FROM %s($1, pushplan.clock_now())",
							   group >= 0 ? shard_gate(group) : "pushplan._engagement_gate"),
					  1, types, args, NULL, false, 0);
	if (held == 0)
		return NULL;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(GateVerdict);
	ctl.hcxt = CurrentMemoryContext;
	verdicts = hash_create("pushplan engagement verdicts", (long) held, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (uint64 i = 0; i < held; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		char	   *verdict = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
		GateVerdict *v = hash_search(verdicts, &id, HASH_ENTER, NULL);

		v->dropped = strcmp(verdict, "held") == 0 || strcmp(verdict, "deferred") == 0 ? NULL : verdict;
	}
	return verdicts;
}

/*
 * The item's push rendered for its device (the claim's columns 15 and 16: the attributes and
 * account its templates read). Returns false when a value is missing under
 * options.missing_attribute skip (suppressed) or fail (failed): the outcome is recorded and the
 * item is not sent.
 */
static bool
render_for_device(PPSendItem *item, HeapTuple tup, TupleDesc desc, TimestampTz claimed_at,
				  int64 send_plan)
{
	PPPushTemplate *pt = cached_template(item->task_id, item->push);
	PPTemplateValues values = {0};
	const char *missing = NULL;
	Jsonb	   *rendered;
	bool		isnull;
	Datum		d;

	if (pt == NULL)
		return true;			/* nothing templated after all */
	d = SPI_getbinval(tup, desc, 15, &isnull);
	values.attrs = isnull ? NULL : &DatumGetJsonbP(d)->root;
	values.account = SPI_getvalue(tup, desc, 16);
	rendered = pp_push_template_render(pt, &values, item->language, &missing);
	if (rendered)
	{
		item->push = rendered;
		return true;
	}
	if (pt->policy == PP_MISSING_SKIP)
		pp_pending_add(item->delivery_id, item->task_id, item->device_id, NULL, "suppressed", 0, NULL,
					psprintf("missing attribute \"%s\"", pp_shown(missing)), 0, claimed_at, -1, send_plan);
	else
		pp_pending_add(item->delivery_id, item->task_id, item->device_id, NULL, "failed", 0, NULL,
					psprintf("missing attribute \"%s\" (options.missing_attribute is fail)",
							 pp_shown(missing)), 0, claimed_at, -1, send_plan);
	return false;
}

/*
 * What a claim returns of each delivery it claimed, from d (delivery_id, task_id, device_id,
 * vendor, attempts so far, fallback, collateral, send_at): the claim_and_submit_group columns
 * submit_claimed reads, in their order. A fallback's message (doc/fallback.md) goes to its
 * address through the webhook: the device's push token and its opting in or out of pushes are
 * not asked. Consent withdrawn since the expansion (doc/privacy.md): only a push whose category
 * needs consent probes device_consents; the others stop at t.consent IS NULL. Then what the
 * push's templates read of the device, only when they do; the engagement gate's key
 * (doc/engagement.md); a fallback's message, what the webhook's body says of it; whether it is
 * a flow's send (gated even in the high lane); the tries lost with their connection so far
 * (record_outcome). Per-device send times (a schedule's send_rule) expire per device.
 */
#define CLAIM_COLUMNS \
	"d.delivery_id, d.task_id, t.app_id, d.device_id, d.vendor, d.attempts + 1, " \
	"  CASE WHEN d.fallback IS NULL THEN v.token " \
	"       ELSE coalesce(d.fallback #>> '{to,account}', d.fallback #>> '{to,value}') END, " \
	"  v.platform, v.language, v.registration_id, " \
	"  CASE WHEN t.state = 'cancelled' THEN 'cancelled' " \
	"       WHEN v.device_id IS NULL THEN 'device deleted' " \
	"       WHEN d.fallback IS NULL AND NOT v.opted_in THEN 'opted out' " \
	"       WHEN d.fallback IS NULL AND NOT v.registered THEN 'unregistered' " \
	"       WHEN d.fallback IS NULL AND v.token IS NULL THEN 'token invalidated' " \
	"       WHEN t.consent IS NOT NULL AND CASE t.consent WHEN 'opt_in' THEN NOT EXISTS " \
	"         (SELECT 1 FROM pushplan.device_consents k WHERE k.device_id = d.device_id " \
	"          AND k.category = t.category AND k.granted) ELSE EXISTS " \
	"         (SELECT 1 FROM pushplan.device_consents k WHERE k.device_id = d.device_id " \
	"          AND k.category = t.category AND NOT k.granted) END " \
	"         THEN 'no consent: ' || t.category " \
	"       WHEN x.expires_at < pushplan.clock_now() THEN 'expired' END AS skip, " \
	"  x.expires_at, t.priority = 0, t.template_reads IS NOT NULL, " \
	"  CASE WHEN 'attrs' = ANY (t.template_reads) THEN v.attrs END, " \
	"  CASE WHEN 'account' = ANY (t.template_reads) THEN (SELECT a.account " \
	"    FROM pushplan.device_accounts a WHERE a.device_id = v.device_id " \
	"    ORDER BY a.bound_at DESC LIMIT 1) END, " \
	"  t.plan_id, d.fallback::text, t.flow_id IS NOT NULL, d.collateral"
#define CLAIM_FROM \
	"FROM d CROSS JOIN LATERAL (SELECT * FROM pushplan.tasks t WHERE t.task_id = d.task_id OFFSET 0) t " \
	"CROSS JOIN LATERAL (SELECT coalesce(t.expires_at, d.send_at + t.time_to_live) AS expires_at) x " \
	"LEFT JOIN LATERAL (SELECT * FROM pushplan.devices v WHERE v.device_id = d.device_id OFFSET 0) v " \
	"  ON true"

/*
 * Submits the deliveries a claim returned (the columns of the queue's claim in
 * claim_and_submit_group, and CLAIM_SEND_PLAN for the devices of send plans), in claim_cxt:
 * those that must not be sent (cancelled, device gone or opted out, consent withdrawn,
 * expired, held back by the engagement gate's verdicts `gated`, a template's missing value)
 * get their outcome at once; the others go to the engine.
 */
static void
submit_claimed(PPEngine *engine, SPITupleTable *rows, int claimed, TimestampTz claimed_at,
			   HTAB *gated)
{
	for (int i = 0; i < claimed; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		bool		isnull;
		PPSendItem	item;
		char		key[NAMEDATALEN * 2];
		char	   *skip;
		Datum		ta[2];
		Oid			tt[2] = {TEXTOID, TEXTOID};
		InFlight   *f;
		bool		found;
		Datum		expires;
		bool		templated;
		GateVerdict *verdict;
		int64		send_plan;

		memset(&item, 0, sizeof(item));
		send_plan = desc->natts >= CLAIM_SEND_PLAN ?
			DatumGetInt64(SPI_getbinval(tup, desc, CLAIM_SEND_PLAN, &isnull)) : 0;
		item.delivery_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		item.task_id = SPI_getvalue(tup, desc, 2);
		item.app_id = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		item.device_id = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		item.vendor = SPI_getvalue(tup, desc, 5);
		item.token = SPI_getvalue(tup, desc, 7);
		item.platform = SPI_getvalue(tup, desc, 8);
		item.language = SPI_getvalue(tup, desc, 9);
		item.registration_id = SPI_getvalue(tup, desc, 10);
		item.fallback = SPI_getvalue(tup, desc, 18);
		skip = SPI_getvalue(tup, desc, 11);
		expires = SPI_getbinval(tup, desc, 12, &isnull);
		item.expires_at = isnull ? 0 : DatumGetTimestampTz(expires);
		item.urgent = DatumGetBool(SPI_getbinval(tup, desc, 13, &isnull));
		templated = DatumGetBool(SPI_getbinval(tup, desc, 14, &isnull));

		if (skip == NULL && gated != NULL &&
			(verdict = hash_search(gated, &item.delivery_id, HASH_FIND, NULL)) != NULL)
		{
			/* held or deferred: back in the queue, later; dropped: suppressed, as below */
			if (!verdict->dropped)
				continue;
			skip = verdict->dropped;
		}
		if (skip)
		{
			pp_pending_add(item.delivery_id, item.task_id, item.device_id, NULL,
						strcmp(skip, "cancelled") == 0 ? "cancelled" :
						strcmp(skip, "expired") == 0 ? "expired" : "suppressed",
						0, NULL, skip, 0, claimed_at, -1, send_plan);
			continue;
		}

		snprintf(key, sizeof(key), "t:%s", item.task_id);
		ta[0] = CStringGetTextDatum(item.task_id);
		item.push = cached(key, "SELECT push FROM pushplan.tasks WHERE task_id = $1", 1, tt, ta);
		snprintf(key, sizeof(key), "v:%d:%s", item.app_id, item.vendor);
		ta[0] = Int32GetDatum(item.app_id);
		ta[1] = CStringGetTextDatum(item.vendor);
		tt[0] = INT4OID;
		item.vendor_config = cached(key, "SELECT config FROM pushplan.vendor_configs "
									"WHERE app_id = $1 AND vendor = $2", 2, tt, ta);
		if (item.push == NULL || item.vendor_config == NULL)
		{
			pp_pending_add(item.delivery_id, item.task_id, item.device_id, NULL, "failed", 0, NULL,
						psprintf("vendor \"%s\" is not configured for this app", item.vendor), 0,
						claimed_at, -1, send_plan);
			continue;
		}

		if (templated && !render_for_device(&item, tup, desc, claimed_at, send_plan))
			continue;

		f = hash_search(inflight, &item.delivery_id, HASH_ENTER, &found);
		f->device_id = item.device_id;
		/* a fallback's address is no device token: a 410 for it invalidates nothing */
		f->token = item.fallback || item.token == NULL ? NULL :
			MemoryContextStrdup(TopMemoryContext, item.token);
		f->task_id = MemoryContextStrdup(TopMemoryContext, item.task_id);
		f->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		f->collateral = DatumGetInt16(SPI_getbinval(tup, desc, 20, &isnull));
		f->expires_at = item.expires_at;
		f->claimed_at = claimed_at;
		f->send_plan = send_plan;
		pp_engine_submit(engine, &item);
	}
}

/*
 * The send plans of apps or plans with frequency caps or quiet hours (doc/engagement.md),
 * `ids`, made into deliveries and queue rows in the claim's transaction, for the queue's claim
 * below to take in their lane and send time order as any queued delivery: the gate
 * (engagement_gate) counts and holds back deliveries by their rows.
 */
static void
materialize_plans(Datum ids)
{
	Oid			types[1] = {INT8ARRAYOID};

	/* (the lane of each plan's queue rows: a delivery row carries none, so from the plans) */
	pp_spi_run_kept_text("making planned deliveries", SPI_OK_INSERT,
						 "WITH g AS (DELETE FROM pushplan.delivery_plans x WHERE x.plan_id = ANY ($1) "
						 "  RETURNING x.task_id, x.send_at, x.priority, x.platform, x.vendor, x.device_ids), "
						 "ins AS (INSERT INTO pushplan.deliveries (task_id, app_id, device_id, vendor, platform, send_at) "
						 "  SELECT g.task_id, t.app_id, u.device_id, g.vendor, g.platform, g.send_at "
						 "  FROM g JOIN pushplan.tasks t ON t.task_id = g.task_id "
						 "  CROSS JOIN LATERAL unnest(g.device_ids) u(device_id) "
						 "  RETURNING delivery_id, task_id, send_at, device_id) "
						 "INSERT INTO pushplan.delivery_queue (delivery_id, task_id, send_at, priority, device_id) "
						 "SELECT i.delivery_id, i.task_id, i.send_at, l.priority, i.device_id "
						 "FROM ins i JOIN (SELECT DISTINCT task_id, priority FROM g) l ON l.task_id = i.task_id",
						 1, types, &ids, NULL, false, 0);
}

/*
 * The due rows of the tasks' send plans (delivery_plans, doc/schedules.md "Send plans"): as
 * many as hold n devices (the last one split if it goes past n) of the lanes up to max_lane,
 * taken in lane and send time order, one sender each (SKIP LOCKED), in the claim's
 * transaction, before the queue. Their devices are claimed and submitted here: the rows stay,
 * claimed (claimed_by, as a queue row's), and each device's delivery is written once, with its
 * outcome, by the statement that takes it out of its row (write_planned_outcome_rows,
 * src/sender_outcomes.c); a row whose sender dies is put back as a queue row's claim is, holding
 * only the devices not written yet. Each device gets its delivery id now, the id its row is
 * written with. The rows of tasks that the
 * engagement gate may hold back are made into deliveries instead (materialize_plans). One node
 * only: the distributed layout plans nothing. Returns the number of devices claimed.
 */
static int
claim_planned(PPEngine *engine, int n, int max_lane, MemoryContext claim_cxt,
			  TimestampTz claimed_at)
{
	/* prepared once per sender: this runs at every claim */
	static SPIPlanPtr probe_plan = NULL;
	Datum		args[3] = {Int32GetDatum(n), Int32GetDatum(my_role),
	Int16GetDatum((int16) max_lane)};
	Oid			types[3] = {INT4OID, INT4OID, INT2OID};
	uint64		nplans;
	Datum	   *gated;
	Datum	   *claimable;
	int			ngated = 0;
	int			nclaimable = 0;
	int			claimed;
	MemoryContext old;

	/*
	 * A probe of the due index first: most claims find no plan due, and need not plan the
	 * statements below (nor lock the plans before the queue: every claim takes the tables in
	 * the same order). Planned once, on the due index (planning it at each claim was a fifth of
	 * an express sender's claim: one claim a transactional push).
	 */
	if (pp_spi_run_kept_indexed(&probe_plan, "looking for planned deliveries", SPI_OK_SELECT,
								"SELECT 1 FROM pushplan.delivery_plans "
								"WHERE priority <= $1 AND claimed_by IS NULL AND send_at <= pushplan.clock_now() "
								"LIMIT 1", 1, types + 2, args + 2, NULL, false, 0) == 0)
		return 0;

	/*
	 * The due rows, in lane and send time order, as many as hold n devices (the last one may
	 * hold more: split below), then locked (SKIP LOCKED: another sender's are left, and a row
	 * claimed meanwhile fails the look again), and whether their task may be held back by the
	 * gate. (Chosen before they are locked: no window over rows locked in the same query.)
	 */
	nplans = pp_spi_run_kept_text("taking planned deliveries", SPI_OK_SELECT,
								  "WITH due AS (SELECT x.plan_id, x.priority, x.send_at, x.n "
								  "  FROM (VALUES (0::smallint), (1::smallint), (2::smallint)) lane(l), "
								  "  LATERAL (SELECT x.plan_id, x.priority, x.send_at, cardinality(x.device_ids) AS n "
								  "    FROM pushplan.delivery_plans x "
								  "    WHERE x.priority = lane.l AND x.claimed_by IS NULL "
								  "    AND x.send_at <= pushplan.clock_now() "
								  "    ORDER BY x.send_at LIMIT $1) x "
								  "  WHERE lane.l <= $3 LIMIT $1), "
								  "fit AS (SELECT plan_id FROM (SELECT plan_id, sum(n) OVER (ORDER BY priority, send_at, plan_id "
								  "  ROWS UNBOUNDED PRECEDING) - n AS before FROM due) d WHERE before < $1) "
								  "SELECT p.plan_id, pushplan._engagement_any(t.app_id, t.plan_id) "
								  "FROM pushplan.delivery_plans p JOIN pushplan.tasks t ON t.task_id = p.task_id "
								  "WHERE p.plan_id IN (SELECT plan_id FROM fit) AND p.claimed_by IS NULL "
								  "ORDER BY p.priority, p.send_at, p.plan_id "
								  "FOR UPDATE OF p SKIP LOCKED",
								  3, types, args, NULL, false, 0);
	if (nplans == 0)
		return 0;
	gated = palloc(sizeof(Datum) * nplans);
	claimable = palloc(sizeof(Datum) * nplans);
	for (uint64 i = 0; i < nplans; i++)
	{
		bool		isnull;
		Datum		id = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)))
			gated[ngated++] = id;
		else
			claimable[nclaimable++] = id;
	}
	if (ngated > 0)
		materialize_plans(PointerGetDatum(construct_array(gated, ngated, INT8OID, 8,
														  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)));
	if (nclaimable == 0)
		return 0;

	args[0] = PointerGetDatum(construct_array(claimable, nclaimable, INT8OID, 8, FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	types[0] = INT8ARRAYOID;
	/* the devices taken: n in all, the plans in their order */
	args[2] = Int32GetDatum(n);
	types[2] = INT4OID;

	/*
	 * The same columns as the queue's claim (claim_and_submit_group), and the plan's id. The
	 * plan that goes past n devices (pushplan.max_inflight) is split: the rest is a plan of its
	 * own, not claimed. (Its devices are read as they were before the claim's update: every
	 * part of a statement reads the same snapshot, and the rows are locked.)
	 */
	claimed = (int) pp_spi_run_kept_text("claiming planned deliveries", SPI_OK_SELECT,
		"WITH k AS (SELECT plan_id, least(n, $3 - before) AS keep "
		"  FROM (SELECT x.plan_id, cardinality(x.device_ids) AS n, "
		"    sum(cardinality(x.device_ids)) OVER (ORDER BY x.priority, x.send_at, x.plan_id "
		"      ROWS UNBOUNDED PRECEDING) - cardinality(x.device_ids) AS before "
		"    FROM pushplan.delivery_plans x WHERE x.plan_id = ANY ($1)) s WHERE before < $3), "
		"c AS (UPDATE pushplan.delivery_plans x SET claimed_by = $2, claimed_at = now(), "
		"    device_ids = x.device_ids[1:k.keep] "
		"  FROM k WHERE x.plan_id = k.plan_id "
		"  RETURNING x.plan_id, x.task_id, x.send_at, x.vendor, x.device_ids), "
		"split AS (INSERT INTO pushplan.delivery_plans (task_id, send_at, priority, platform, vendor, device_ids) "
		"  SELECT x.task_id, x.send_at, x.priority, x.platform, x.vendor, x.device_ids[k.keep + 1:] "
		"  FROM pushplan.delivery_plans x JOIN k ON k.plan_id = x.plan_id "
		"  WHERE cardinality(x.device_ids) > k.keep), "
		/* the deliveries.delivery_id default: an id of the claim's day */
		"d AS (SELECT c.plan_id, c.task_id, c.send_at, c.vendor, u.device_id, "
		"  (floor(extract(epoch FROM now()) / 86400)::bigint << 40) "
		"    + nextval('pushplan.deliveries_delivery_id_seq') AS delivery_id, "
		"  0 AS attempts, NULL::jsonb AS fallback, 0::smallint AS collateral "
		"  FROM c CROSS JOIN LATERAL unnest(c.device_ids) u(device_id)) "
		"SELECT " CLAIM_COLUMNS ", d.plan_id " CLAIM_FROM,
		3, types, args, NULL, false, 0);
	old = MemoryContextSwitchTo(claim_cxt);
	submit_claimed(engine, SPI_tuptable, claimed, claimed_at, NULL);
	MemoryContextSwitchTo(old);
	return claimed;
}

/*
 * Claims up to n due deliveries of the lanes up to max_lane (PP_LANE_HIGH alone, or every lane)
 * and submits them. Lanes are claimed in order: every due delivery of the high lane before any
 * of the normal one, and those before the low one; within a lane, by send_at. Deliveries that
 * must not be sent (device opted out, unregistered or its consent withdrawn since, task
 * cancelled, time_to_live passed) get their outcome at once. Returns the number claimed, or -1 if the work cannot run
 * (pp_work_begin).
 */
static int
claim_and_submit_group(PPEngine *engine, int n, int max_lane, MemoryContext claim_cxt,
					   int group_turn)
{
	Datum		args[3] = {Int32GetDatum(n), Int32GetDatum(my_role), Int16GetDatum((int16) max_lane)};
	Oid			types[3] = {INT4OID, INT4OID, INT2OID};
	int			claimed;
	int			planned;
	TimestampTz claimed_at;
	SPITupleTable *rows;
	MemoryContext old;
	int			group = -1;		/* the local shard group claimed from (distributed layout) */
	const char *claim_sql;

	if (TimestampDifferenceExceeds(cache_born, GetCurrentTimestamp(), CACHE_SECONDS * 1000))
		reset_cache();

	if (!pp_work_begin("pushplan: claiming deliveries"))
		return -1;
	pp_shards_refresh(false);
	if (pp_shards_distributed())
	{
		/* on a node without shards (the coordinator) there is nothing to claim */
		if (pp_shards_local_count() == 0)
		{
			pp_work_end();
			return 0;
		}
		group = group_turn % pp_shards_local_count();
		/* held against a move while its deliveries are in flight (src/shard_local.c) */
		if (!pp_shard_group_hold(group))
		{
			pp_work_end();
			return 0;
		}
	}

	/*
	 * A claim need not wait for its WAL to reach the disk: if a crash loses it, its deliveries
	 * are queued again and sent again, which the outcome of a delivery in flight at a crash
	 * risks anyway (doc/operations.md, "Crashes"). The outcomes' transactions stay synchronous,
	 * and flush the claims' WAL before their own.
	 */
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	claimed_at = GetCurrentTransactionStartTimestamp();	/* the claim's now() */
	planned = group < 0 ? claim_planned(engine, n, max_lane, claim_cxt, claimed_at) : 0;
	if (planned >= n)
	{
		pp_work_end();
		MemoryContextReset(claim_cxt);
		return planned;
	}
	args[0] = Int32GetDatum(n - planned);

	/*
	 * The claim writes only the queue rows (HOT updates); the deliveries are read, and written
	 * once, with their outcome. Queue rows whose delivery is no longer queued (cancelled, or the
	 * delivery deleted) are dropped. push_cancel deletes only unclaimed queue rows, under their
	 * row lock, before it cancels their deliveries: a row this claim locked stays claimed and is
	 * sent, one it deleted first is skipped here (SKIP LOCKED, or gone once it commits).
	 */
	/*
	 * Kept with a generic plan on one node: planning it at each claim was a third of an express
	 * sender's CPU (one claim per transactional push; doc/benchmarks.md, "The claim kept").
	 * A generic plan is blind to the LIMIT and may be made while the statistics say the queue
	 * is empty: so no step can scan a table for the batch. The due rows come from the due
	 * index in send_at order (the only order without a sort, which senders do not plan); each
	 * delivery, task and device by a probe of its key per claimed row (a lateral subquery
	 * that OFFSET 0 keeps from being made a join: no join order to turn around; CLAIM_FROM);
	 * the queue rows written by their ctid, which the claim's lock returned (an unclaimed queue
	 * row is written by claims alone, so it is still the version this statement sees). (A
	 * bound of each probe by the batch's ids, "= ANY (ARRAY(...))" beside the key, made each
	 * probe walk the whole batch: half the broadcast's rate.) Made again every
	 * KEPT_PLAN_MAX_AGE_MS all the same.
	 */
	claim_sql = pp_shard_sql(
		"WITH c AS (SELECT q.delivery_id, q.task_id, q.row "
		"  FROM (VALUES (0::smallint), (1::smallint), (2::smallint)) lane(p), "
		"  LATERAL (SELECT delivery_id, task_id, ctid AS row FROM pushplan.delivery_queue "
		"    WHERE priority = lane.p AND claimed_by IS NULL AND send_at <= pushplan.clock_now() "
		"    ORDER BY send_at LIMIT $1 FOR UPDATE SKIP LOCKED) q "
		"  WHERE lane.p <= $3 LIMIT $1), "
		"d AS (SELECT c.delivery_id, c.task_id, c.row, d.app_id, d.device_id, d.vendor, d.attempts, "
		"  d.collateral, d.send_at, coalesce(d.status = 'queued', false) AS live, d.fallback "
		"  FROM c LEFT JOIN LATERAL (SELECT * FROM pushplan.deliveries d "
		"    WHERE d.delivery_id = c.delivery_id OFFSET 0) d ON true), "
		"q AS (UPDATE pushplan.delivery_queue q SET claimed_by = $2, claimed_at = now() "
		"  WHERE q.ctid = ANY (ARRAY(SELECT d.row FROM d WHERE d.live))), "
		"gone AS (DELETE FROM pushplan.delivery_queue q "
		"  WHERE q.ctid = ANY (ARRAY(SELECT d.row FROM d WHERE NOT d.live))) "
		"SELECT " CLAIM_COLUMNS " " CLAIM_FROM " WHERE d.live", group);
	if (group < 0)
	{
		static SPIPlanPtr claim_plan = NULL;
		static TimestampTz made_at = 0;

		pp_keep_fresh(&claim_plan, &made_at);
		pp_spi_keep(&claim_plan, "claiming deliveries", claim_sql, 3, types, CURSOR_OPT_GENERIC_PLAN);
		claimed = (int) pp_spi_checked(SPI_execute_plan(claim_plan, args, NULL, false, 0),
									   "claiming deliveries", SPI_OK_SELECT);
	}
	else
		claimed = (int) pp_spi_run("claiming deliveries", SPI_OK_SELECT, claim_sql,
								   3, types, args, NULL, false, 0);
	rows = SPI_tuptable;		/* cache look-ups below run queries of their own */

	old = MemoryContextSwitchTo(claim_cxt);
	submit_claimed(engine, rows, claimed, claimed_at, engagement_gate(rows, claimed, group));
	MemoryContextSwitchTo(old);
	pp_work_end();
	MemoryContextReset(claim_cxt);
	return planned + claimed;
}

/*
 * On the distributed layout: lets go of the shard groups held against a move
 * (pp_shard_group_hold) that have no delivery of this sender in flight or waiting for its
 * outcome to be written.
 */
static void
release_idle_holds(void)
{
	int			n = pp_shards_local_count();
	bool	   *busy;
	HASH_SEQ_STATUS seq;
	InFlight   *f;

	if (pp_shard_holds_count() == 0)
		return;
	busy = MemoryContextAllocZero(TopMemoryContext, sizeof(bool) * Max(n, 1));
	hash_seq_init(&seq, inflight);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		int			g = pp_shard_of_device(f->device_id);

		if (g >= 0)
			busy[g] = true;
	}
	for (int i = 0; i < pp_pending.n; i++)
	{
		int			g = pp_shard_of_device(pp_pending.device_ids[i]);

		if (g >= 0)
			busy[g] = true;
	}
	pp_shard_holds_release(busy);
	pfree(busy);
}

/*
 * claim_and_submit_group on a single node; on the distributed layout, the local shard groups in
 * turn (each claim in its own transaction: Citus' shards are claimed one at a time), until n are
 * claimed or every group was asked once. The next call starts at the group after the last one
 * asked, so that a busy group does not starve the others.
 */
/*
 * On the distributed layout, before a claim: the vendor tokens this node fetched out to the
 * other nodes, theirs in (src/auth_share.c), in a unit of work of its own (the claim writes
 * its node's shard tables directly). A failure costs only this node fetching its own tokens.
 */
static void
share_tokens(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (!pp_shards_distributed() || !pp_auth_share_due())
		return;
	if (!pp_work_begin("pushplan: sharing vendor tokens"))
		return;
	PG_TRY();
	{
		pp_auth_share();
		pp_work_end();
	}
	PG_CATCH();
	{
		pp_work_abort_logged(cxt, WARNING, "sharing vendor tokens");
	}
	PG_END_TRY();
}

static int
claim_and_submit(PPEngine *engine, int n, int max_lane, MemoryContext claim_cxt)
{
	static int	turn = 0;
	int			total = 0;

	share_tokens();

	for (int asked = 0;; asked++)
	{
		int			claimed = claim_and_submit_group(engine, n - total, max_lane, claim_cxt, turn);

		if (claimed < 0)
			return total > 0 ? total : -1;
		total += claimed;
		if (!pp_shards_distributed())
			break;
		turn = (turn + 1) % Max(pp_shards_local_count(), 1);
		if (total >= n || asked + 1 >= pp_shards_local_count())
			break;
	}
	release_idle_holds();
	return total;
}

/*
 * Puts back what an earlier incarnation of this sender slot had claimed and not recorded.
 * Returns false if the work cannot run (pp_work_begin): then nothing may be claimed, since
 * this slot's new claims would be put back with the old ones.
 */
static bool
requeue_own_claims(void)
{
	Datum		args[1] = {Int32GetDatum(my_role)};
	Oid			types[1] = {INT4OID};

	const char *requeue = "UPDATE pushplan.delivery_queue SET claimed_by = NULL, claimed_at = NULL "
		"WHERE claimed_by = $1";

	if (!pp_work_begin("pushplan: requeueing this sender's earlier claims"))
		return false;
	/* on the distributed layout, in this node's shards: sender numbers are per node */
	pp_shards_refresh(true);
	if (!pp_shards_distributed())
	{
		pp_spi_run("requeueing this sender's earlier claims", SPI_OK_UPDATE, requeue,
				   1, types, args, NULL, false, 0);
		/* its send plans: the devices left in them were not written (claim_planned) */
		pp_spi_run("requeueing this sender's earlier claims", SPI_OK_UPDATE,
				   "UPDATE pushplan.delivery_plans SET claimed_by = NULL, claimed_at = NULL "
				   "WHERE claimed_by = $1", 1, types, args, NULL, false, 0);
	}
	for (int g = 0; pp_shards_distributed() && g < pp_shards_local_count(); g++)
	{
		/*
		 * not in a group being moved (its copy may be taken already): those claims go back
		 * with the upkeep's stale claims there
		 */
		if (!pp_shard_group_hold(g))
			continue;
		pp_spi_run("requeueing this sender's earlier claims", SPI_OK_UPDATE,
				   pp_shard_sql(requeue, g), 1, types, args, NULL, false, 0);
	}
	pp_work_end();
	/* nothing of this sender is in flight yet */
	pp_shard_holds_release(NULL);
	pgstat_report_activity(STATE_IDLE, NULL);
	return true;
}

/*
 * Whether the engine's settings differ from the configuration (a SIGHUP changed
 * pushplan.max_inflight, http_timeout, max_connections_per_host or ca_file). The engine takes
 * its settings when it is created, so the sender drains it and creates a new one.
 */
static bool
engine_settings_changed(const PPEngineSettings *cur, const char *cur_ca)
{
	PPEngineSettings want;

	pp_engine_settings_from_gucs(&want, pp_max_inflight);
	return want.max_inflight != cur->max_inflight ||
		want.http_timeout_ms != cur->http_timeout_ms ||
		want.max_conns_per_host != cur->max_conns_per_host ||
		want.max_unrecorded != cur->max_unrecorded ||
		strcmp(want.ca_file ? want.ca_file : "", cur_ca) != 0;
}

/*
 * Waits, idle, until this database has the extension (listed before CREATE EXTENSION, or after
 * DROP EXTENSION). Returns false if asked to stop meanwhile.
 */
/*
 * Every statement of a sender reads or writes at most a batch of rows by their keys, driven by
 * a claim or by an array of outcomes, while the statistics of its tables lag far behind them:
 * a broadcast fills the queue and the deliveries with a million rows within seconds. With the
 * statistics of the empty queue the planner sorted every due queue row for each claim (an
 * external sort: 100-250 ms a claim at 300,000 due) and hashed a sequential scan of all the
 * deliveries for each batch of outcomes (doc/benchmarks.md, "Plans that ignore statistics").
 * So a sender plans index probes and nested loops only: they cost what the batch costs,
 * whatever the sizes and statistics of the tables.
 */
static void
plan_by_keys(void)
{
	/*
	 * jit too: a statement with no path but a disabled one (the requeue's scan of the queue
	 * by claimed_by) costs more than 1e10 and would be compiled by LLVM, for nothing.
	 */
	static const char *const off[] = {
		"enable_seqscan", "enable_bitmapscan", "enable_sort", "enable_hashjoin", "enable_mergejoin",
		"jit"
	};

	for (int i = 0; i < lengthof(off); i++)
		SetConfigOption(off[i], "off", PGC_USERSET, PGC_S_SESSION);
}

static bool
wait_for_extension(void)
{
	while (!pp_extension_ready())
	{
		pgstat_report_activity(STATE_IDLE, "pushplan sender: waiting for CREATE EXTENSION pushplan");
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 pp_poll_interval * 5, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (pp_worker_reload_and_check())
			return false;
	}
	return true;
}

/*
 * Whether an express sender claims now. Its claim is planned anew each time (a statement of
 * some forty lines), and an express sender goes round its loop every EXPRESS_LOOK_MS while a
 * request is in flight: claiming at every turn cost three claims per transactional push, most
 * of them empty (3 ms of CPU a push, taken from a broadcast running beside). So it claims when a
 * commit raised the express flag since the last claim (any sender's claim lowers it, and takes
 * the high lane first, so a lowered flag means someone claimed after the commit), when its last
 * claim was full (more may be due), and at least once per poll interval (high-lane deliveries
 * that fall due by time, as a retry's).
 */
/*
 * Writes the pending outcomes (pp_outcomes_flush), then lets go of the shard groups no longer
 * in use. Returns false, keeping them pending, if the work cannot run now.
 */
static bool
flush_outcomes(bool queue_drained)
{
	if (pp_pending.n == 0)
		return true;
	if (!pp_outcomes_flush(queue_drained))
		return false;
	release_idle_holds();
	return true;
}

static bool
express_claim_owed(bool drained, TimestampTz last_claim_at)
{
	return !drained ||
		pg_atomic_read_u32(&my_slot->express_wake) != 0 ||
		TimestampDifferenceExceeds(last_claim_at, GetCurrentTimestamp(), pp_poll_interval);
}

void
pushplan_sender_main(Datum arg)
{
	PPEngineSettings settings;
	PPEngine   *engine;
	PPSendOutcome *outs;
	HASHCTL		ctl;
	MemoryContext claim_cxt;
	MemoryContext poll_cxt;
	bool		stopping = false;
	bool		drained = false;	/* the last claim found less than it asked for */
	TimestampTz last_claim_at = 0;
	bool		reconfigure = false;
	bool		requeue = true; /* this slot's earlier claims are not put back yet */
	bool		express_only;	/* an express sender: the high lane only */
	char	   *engine_ca;
	int			nouts;

	my_role = DatumGetInt32(arg);
	pp_worker_signals();
	pp_worker_connect();
	plan_by_keys();
	/* the distributed layout's senders write their node's shards (src/shard_local.c) */
	SetConfigOption("citus.enable_manual_changes_to_shards", "on", PGC_USERSET, PGC_S_SESSION);
	express_only = PP_ROLE_IS_EXPRESS(my_role);
	if (my_role < 0 || my_role >= PP_ROLE_END ||
		(my_slot = pp_slot_claim(my_role)) == NULL)
	{
		ereport(LOG, (errmsg("pushplan: sender %d of database \"%s\" already runs",
							 my_role, MyBgworkerEntry->bgw_extra)));
		proc_exit(0);			/* exit code 0: unregistered, not restarted */
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(InFlight);
	inflight = hash_create("pushplan in flight", 4096, &ctl, HASH_ELEM | HASH_BLOBS);
	reset_cache();
	pp_outcomes_init(my_role);
	claim_cxt = AllocSetContextCreate(TopMemoryContext, "pushplan claim", ALLOCSET_DEFAULT_SIZES);
	poll_cxt = AllocSetContextCreate(TopMemoryContext, "pushplan poll", ALLOCSET_DEFAULT_SIZES);

	if (!wait_for_extension())
		proc_exit(0);

	pp_engine_settings_from_gucs(&settings, pp_max_inflight);
	settings.threaded = true;	/* answers are read while the sender claims and writes */
	engine_ca = MemoryContextStrdup(TopMemoryContext, settings.ca_file ? settings.ca_file : "");
	engine = pp_engine_create(&settings);
	nouts = pp_batch_size;
	outs = MemoryContextAlloc(TopMemoryContext, sizeof(PPSendOutcome) * nouts);

	for (;;)
	{
		int			claimed = 0;
		int			claim_n;
		int			done;
		int			running;
		bool		blocked = false;	/* work could not run this round (pp_work_begin) */

		if (pp_worker_reload_and_check())
			stopping = true;
		running = pp_engine_inflight(engine);
		if (stopping && running == 0)
			break;
		if (!reconfigure && engine_settings_changed(&settings, engine_ca))
			reconfigure = true; /* claim nothing more until the engine is drained */
		if (reconfigure && running == 0)
		{
			pp_engine_destroy(engine);
			pp_engine_settings_from_gucs(&settings, pp_max_inflight);
			settings.threaded = true;
			pfree(engine_ca);
			engine_ca = MemoryContextStrdup(TopMemoryContext, settings.ca_file ? settings.ca_file : "");
			engine = pp_engine_create(&settings);
			reconfigure = false;
		}
		if (nouts != pp_batch_size)
		{
			/* pushplan.batch_size changed on SIGHUP */
			nouts = pp_batch_size;
			outs = repalloc(outs, sizeof(PPSendOutcome) * nouts);
		}

		/*
		 * Keep the engine fed: claim as soon as there is room for half a batch (or half of
		 * max_inflight, if that is smaller), as much as fits. Waiting for room for a whole batch
		 * would let the pipe run dry on each batch's slowest answers.
		 */
		claim_n = Min(pp_batch_size, pp_max_inflight - running);
		if (!stopping && !reconfigure &&
			claim_n >= Max(1, Min(pp_batch_size, pp_max_inflight) / 2) &&
			(!express_only || requeue || express_claim_owed(drained, last_claim_at)))
		{
			/* this claim takes the high lane first: no express claim is owed for it */
			pg_atomic_write_u32(&my_slot->express_wake, 0);
			if (requeue)
				requeue = !requeue_own_claims();
			claimed = requeue ? -1 : claim_and_submit(engine, claim_n,
													  express_only ? PP_LANE_HIGH : PP_LANE_LOW,
													  claim_cxt);
			blocked = claimed < 0;
			claimed = Max(claimed, 0);
			drained = claimed < claim_n;
			last_claim_at = GetCurrentTimestamp();
		}
		else if (!stopping && !reconfigure && !requeue && !express_only && pp_express_senders == 0 &&
				 running < pp_max_inflight + pp_batch_size &&
				 pg_atomic_read_u32(&my_slot->express_wake) != 0 &&
				 pg_atomic_exchange_u32(&my_slot->express_wake, 0) != 0)
		{
			/*
			 * (Without express senders.) High-lane deliveries were queued while this sender is
			 * full: claim them alone, now,
			 * past max_inflight by at most one batch (the engine starts them ahead of what
			 * waits), instead of at the next claim, which waits for room behind the broadcast
			 * in flight.
			 */
			int			want = Min(pp_batch_size, pp_max_inflight + pp_batch_size - running);
			int			express = claim_and_submit(engine, want, PP_LANE_HIGH, claim_cxt);

			blocked = express < 0;
			if (express == want)
				pg_atomic_write_u32(&my_slot->express_wake, 1);	/* there may be more */
			claimed = Max(express, 0);
		}

		running = pp_engine_inflight(engine);
		if (running > 0)
		{
			MemoryContext old = MemoryContextSwitchTo(poll_cxt);

			pgstat_report_activity(STATE_RUNNING,
								   psprintf("pushplan: %d requests open, %d deliveries in flight",
											pp_engine_running(engine), running));
			/*
			 * Who may owe the high lane a claim looks for it often: an express sender (a
			 * commit's latch is not seen while it waits for its transfers), or any sender when
			 * there are no express senders; the others wait for their answers as long as
			 * their outcomes may wait.
			 */
			done = pp_engine_poll(engine, claimed > 0 ? 0 :
								  express_only || pp_express_senders == 0 ?
								  EXPRESS_LOOK_MS : pp_pending.n > 0 ? OUTCOMES_WAIT_MS : FLUSH_AFTER_MS,
								  outs, Max(1, Min(nouts, pp_outcomes_per_write - pp_pending.n)));
			for (int i = 0; i < done; i++)
				record_outcome(&outs[i]);

			/*
			 * An answer's outcomes are written together: a batched vendor's 1000 tokens in one
			 * transaction, not in ten of outcomes_per_write. They are received already, so
			 * this writes them sooner, not a wider crash window.
			 */
			for (int left; done > 0 && (left = pp_engine_answer_left(engine)) > 0;)
			{
				done = pp_engine_poll(engine, 0, outs, Min(nouts, left));
				for (int i = 0; i < done; i++)
					record_outcome(&outs[i]);
			}
			pp_engine_set_unrecorded(engine, pp_pending.n);
			MemoryContextSwitchTo(old);
			MemoryContextReset(poll_cxt);
		}
		else
			pp_engine_idle(engine);

		/*
		 * Answers received and not yet written are sent again if the server crashes now: the
		 * engine keeps them, with the requests on the wire, within max_unrecorded, and they
		 * are written once half of that is reached (or outcomes_per_write, if lower), and
		 * every OUTCOMES_WAIT_MS: the network thread goes on meanwhile, within what is left.
		 */
		if (pp_pending.n >= Max(1, Min(pp_outcomes_per_write, pp_max_unrecorded / 2)) ||
			(pp_pending.n > 0 && (pp_engine_inflight(engine) == 0 ||
							TimestampDifferenceExceeds(pp_pending.first_at, GetCurrentTimestamp(),
													   OUTCOMES_WAIT_MS))))
		{
			blocked |= !flush_outcomes(drained);
			pp_engine_set_unrecorded(engine, pp_pending.n);
		}

		/*
		 * Sleep only when there is nothing to do: the last claim found the queue empty (or
		 * claiming is off), or work cannot run (the outcomes wait). A round that merely had no
		 * room to claim must not sleep once its last answers are recorded: the next round claims
		 * at once.
		 */
		if (claimed == 0 && pp_engine_inflight(engine) == 0 && (pp_pending.n == 0 || blocked) &&
			(drained || stopping || reconfigure || blocked))
		{
			pgstat_report_activity(STATE_IDLE, express_only ?
								   "pushplan express sender: waiting for high-lane deliveries" :
								   "pushplan sender: waiting for deliveries");
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 pp_poll_interval, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);

			/* DROP EXTENSION: wait quietly for it to come back instead of failing to claim */
			if (!pp_extension_ready())
			{
				if (!wait_for_extension())
					break;
				reset_cache();	/* a new extension reuses app ids */
				pp_pending_clear();	/* and delivery ids: these outcomes are of dropped rows */
				pp_shard_holds_release(NULL);
				requeue = true;
			}
		}
	}
	/* outcomes that cannot be written now are sent again by the next incarnation (requeue) */
	(void) flush_outcomes(true);
	pp_engine_destroy(engine);
	proc_exit(0);
}
