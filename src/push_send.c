/*
 * push_send.c: push_send, the transactional outbox.
 *
 * push_send validates the push completely (dialect, content, audience, vendor size limits,
 * broadcast quota), stores it as a task and asks for the scheduler to be woken when the
 * caller's transaction commits. Nothing leaves before that commit, and nothing ever leaves if
 * it rolls back: the task row is part of the caller's transaction.
 *
 * A transactional push (a list of at most pushplan.small_audience_limit registration ids,
 * tokens or accounts) is expanded here, in the caller's transaction, and the senders are woken
 * at commit instead of the scheduler: it never waits behind a broadcast's expansion. Its lane
 * (tasks.priority) is high unless options.priority says otherwise, so that its deliveries are
 * also claimed ahead of any broadcast backlog (doc/push.md, "Priority").
 */
#include "pushplan.h"
#include "tenancy.h"
#include "workers.h"
#include "audience.h"
#include "json.h"
#include "engine.h"
#include "push_parse.h"
#include "task_expand.h"
#include "template_push.h"
#include "push_send.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pushplan_push_send);

#define DEFAULT_DAILY_BROADCASTS	100		/* Tencent IM: 100 all/tag/attribute pushes a day */
#define DEFAULT_BROADCAST_INTERVAL	"1 second"

/* pg_advisory_xact_lock(PP_LOCK_BROADCAST_QUOTA, app_id): one app's broadcast quota ("push") */
#define PP_LOCK_BROADCAST_QUOTA		1886745448

/*
 * Whether an audience reaches devices by who they are (all, tags, attributes, conditions)
 * rather than by a list of ids: such pushes are the broadcasts the app's daily quota counts.
 */
static bool
is_broadcast(JsonbValue *to)
{
	static const char *const keys[] = {
		"tag", "tag_and", "tag_not", "attr_and", "attr_or", "condition",
		"TagsAnd", "TagsOr", "AttrsAnd", "AttrsOr", NULL
	};
	char	   *type;

	if (to->type == jbvString)
		return true;			/* "all" */
	if (to->type != jbvBinary)
		return false;
	for (int i = 0; keys[i]; i++)
		if (pp_jmember(to->val.binary.data, keys[i]))
			return true;
	type = pp_jstr(to->val.binary.data, "audience_type");
	return type && (strcmp(type, "all") == 0 || strcmp(type, "tag") == 0);
}

static Datum
spi_value(const char *sql, int nargs, Oid *types, Datum *args, bool *isnull)
{
	if (pp_spi_run_keyed(sql, SPI_OK_SELECT, sql, nargs, types, args, NULL, false, 1) == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
}

/*
 * Tencent IM's quota on all/tag/attribute pushes: at most broadcast_daily_limit a day
 * (in the app's time zone) and at least broadcast_min_interval apart. A lock on the app's quota
 * (an advisory lock: the workers, who fire schedules, may read apps but not lock its rows) makes
 * concurrent sends count each other. A schedule's firing counts for the day, but is not
 * held to the interval (min_interval false): two schedules due in the same second both fire.
 */
static void
check_broadcast_quota(int32 app_id, bool min_interval)
{
	Datum		args[1] = {Int32GetDatum(app_id)};
	Oid			types[1] = {INT4OID};
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	int64		today;
	int64		limit;
	bool		too_soon;
	char	   *interval;

	pp_spi_run("locking the app's quota", SPI_OK_SELECT,
			   "SELECT pg_advisory_xact_lock(" CppAsString2(PP_LOCK_BROADCAST_QUOTA) ", $1)",
			   1, types, args, NULL, false, 0);
	pp_spi_run("counting the app's broadcasts", SPI_OK_SELECT,
		"WITH s AS (SELECT coalesce((settings->>'broadcast_daily_limit')::bigint, "
		CppAsString2(DEFAULT_DAILY_BROADCASTS) ") AS daily, "
		"  coalesce(settings->>'broadcast_min_interval', '" DEFAULT_BROADCAST_INTERVAL "') AS gap, "
		"  coalesce(settings->>'timezone', 'UTC') AS tz FROM pushplan.apps WHERE app_id = $1) "
		"SELECT (SELECT count(*) FROM pushplan.tasks t WHERE t.app_id = $1 AND t.broadcast "
		"          AND t.created_at >= (date_trunc('day', now() AT TIME ZONE s.tz) AT TIME ZONE s.tz)), "
		"       s.daily, "
		"       EXISTS (SELECT 1 FROM pushplan.tasks t WHERE t.app_id = $1 AND t.broadcast "
		"          AND t.created_at > now() - s.gap::interval), "
		"       s.gap "
		"FROM s",
		1, types, args, NULL, false, 0);
	tup = pp_spi_first_row("counting the app's broadcasts");
	desc = SPI_tuptable->tupdesc;
	today = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	limit = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	too_soon = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	interval = SPI_getvalue(tup, desc, 4);
	if (today >= limit)
		ereport(ERROR,
				(pp_errmsg(PPE_BROADCAST_DAILY_LIMIT,
						   "the app's %lld all/tag/attribute pushes for today are used up",
						(long long) limit),
				 errhint("Raise it with push_app_set(app, '{\"broadcast_daily_limit\": N}').")));
	if (too_soon && min_interval)
		pp_error(PPE_BROADCAST_TOO_SOON, "all/tag/attribute pushes must be more than %s apart",
				 interval);
}

/* The vendors the app has a configuration for: whose text limits push_send applies. */
static List *
app_vendors(int32 app_id)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(app_id)};
	List	   *names = NIL;

	pp_spi_run_keyed("reading the app's vendors", SPI_OK_SELECT,
					 "SELECT vendor FROM pushplan.vendor_configs WHERE app_id = $1",
					 1, types, args, NULL, true, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return names;
}

/*
 * What a caller with app rights but no operator rights may send (doc/security.md): a push to a
 * list of registration ids, tokens or accounts of at most pushplan.small_audience_limit entries.
 * Broadcasts, tags, attributes and packages need operator rights.
 */
static void
check_transactional(int list_size)
{
	if (list_size < 0)
		ereport(ERROR,
				(pp_errmsg(PPE_SEND_APP_ROLE_AUDIENCE,
						   "an app role sends only to a list of registration ids, tokens or accounts"),
				 errdetail("Broadcasts and tag, attribute and account package audiences need operator rights."),
				 errhint("push_app_grant(app, role, 'operator') gives them.")));
	if (list_size > pp_small_audience_limit)
		ereport(ERROR,
				(pp_errmsg(PPE_SEND_APP_ROLE_TOO_MANY,
						   "an app role sends to at most %d registration ids, tokens or accounts at once, got %d",
						pp_small_audience_limit, list_size),
				 errhint("pushplan.small_audience_limit sets the limit; larger audiences need operator rights.")));
}

/*
 * The task's lane: options.priority if given (high, normal, low), else high for a
 * transactional push (a list of at most pushplan.small_audience_limit entries), else normal.
 */
static int
task_priority(JsonbContainer *options, bool transactional)
{
	char	   *given = pp_jstr(options, "priority");

	if (given)
		return strcmp(given, "high") == 0 ? PP_LANE_HIGH :
			strcmp(given, "low") == 0 ? PP_LANE_LOW : PP_LANE_NORMAL;
	return transactional ? PP_LANE_HIGH : PP_LANE_NORMAL;
}

/*
 * Expands a small list push now, in the caller's transaction (one batch holds any list), and
 * records it as the scheduler would have: sending, or done when nothing was queued.
 */
static void
expand_now(const char *task_id, int32 app_id, Jsonb *push, int priority)
{
	PPExpandResult res;
	Datum		args[4];
	Oid			types[4] = {TEXTOID, INT8OID, BOOLOID, TIMESTAMPTZOID};

	memset(&res, 0, sizeof(res));
	pp_task_expand_batch(task_id, app_id, push, GetCurrentTransactionStartTimestamp(), NULL,
						 priority, -1, 0, 0, -1, true, &res);
	args[0] = CStringGetTextDatum(task_id);
	args[1] = Int64GetDatum(res.inserted);
	args[2] = BoolGetDatum(res.queued > 0);
	/* now() as a parameter: Citus takes no STABLE function in a CASE of a reference table's UPDATE */
	args[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	pp_spi_run_keyed("recording the expansion", SPI_OK_UPDATE,
					 "UPDATE pushplan.tasks SET targeted = $2, expanded = true, "
					 "expanded_upto = NULL, started_at = $4, "
					 "state = CASE WHEN $3 THEN 'sending' ELSE 'done' END, "
					 "finished_at = CASE WHEN $3 THEN NULL ELSE $4 END "
					 "WHERE task_id = $1",
					 4, types, args, NULL, false, 0);
	if (res.queued > 0)
		pp_wake_senders_at_commit(priority == PP_LANE_HIGH);
}

/*
 * A Tencent Push loop (loop_param): a schedule whose trigger is the push's "loop" (the
 * periodical trigger the dialect made of it) and whose push is the rest, created through
 * push_schedule_create, with its rights (operators) and its checks; returns the schedule's id
 * (doc/push.md, "Tencent Push"). Through SQL: schedule.c calls into this file.
 */
static char *
loop_schedule(const char *app, PPPush *p)
{
	Oid			types[2] = {TEXTOID, JSONBOID};
	Datum		args[2] = {CStringGetTextDatum(app), JsonbPGetDatum(p->push)};
	char	   *id;

	SPI_connect();
	pp_spi_run("creating the loop's schedule", SPI_OK_SELECT,
			   "SELECT pushplan.push_schedule_create($1, jsonb_build_object("
			   "  'name', 'Tencent Push loop' || coalesce(' (' || ($2->'body'->'options'->>'plan_id') || ')', ''), "
			   "  'trigger', $2->'loop', 'push', $2 - 'loop'))",
			   2, types, args, NULL, false, 1);
	id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	id = MemoryContextStrdup(TopTransactionContext, id);
	SPI_finish();
	return id;
}

/*
 * Tencent Push's send_time (a wall time in the app's zone): at most a year ahead. Returns
 * whether it is still ahead; one that has passed is sent as any push is, at commit.
 */
static bool
send_time_ahead(int32 app_id, const char *send_time)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2] = {Int32GetDatum(app_id), CStringGetTextDatum(send_time)};
	bool		isnull;
	HeapTuple	tup;

	pp_spi_run("reading send_time", SPI_OK_SELECT,
			   "SELECT t.at > pushplan.clock_now() + interval '1 year', t.at > pushplan.clock_now() "
			   "FROM (SELECT $2::timestamp AT TIME ZONE coalesce(settings->>'timezone', 'UTC') AS at "
			   "      FROM pushplan.apps WHERE app_id = $1) t",
			   2, types, args, NULL, true, 0);
	tup = pp_spi_first_row("reading send_time");
	if (DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(pp_errmsg(PPE_SEND_TIME_TOO_FAR, "send_time %s is more than one year ahead",
						   send_time),
				 errhint("Schedules further ahead are push_schedule_create.")));
	return DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
}

/* An existing task with the same idempotency key, or NULL. */
static char *
existing_task(int32 app_id, const char *request_id, int64 msg_random)
{
	Datum		args[2];
	Oid			by_request[2] = {INT4OID, TEXTOID};
	Oid			by_random[2] = {INT4OID, INT8OID};
	bool		isnull;
	Datum		d;

	/*
	 * Every parameter passed is one the statement uses: an unused text parameter with no value
	 * is copied by whoever copies the parameter list (Citus' executor does) and crashes it.
	 */
	args[0] = Int32GetDatum(app_id);
	if (request_id)
	{
		args[1] = CStringGetTextDatum(request_id);
		d = spi_value("SELECT task_id FROM pushplan.tasks WHERE app_id = $1 AND request_id = $2",
					  2, by_request, args, &isnull);
	}
	else
	{
		args[1] = Int64GetDatum(msg_random);
		d = spi_value("SELECT task_id FROM pushplan.tasks WHERE app_id = $1 AND msg_random = $2 "
					  "AND msg_second = floor(extract(epoch FROM now()))::bigint",
					  2, by_random, args, &isnull);
	}
	return isnull ? NULL : TextDatumGetCString(d);
}

void
pp_push_read(Jsonb *given, PPPush *p)
{
	JsonbContainer *root;
	JsonbContainer *options;

	memset(p, 0, sizeof(*p));
	p->push = pp_push_normalize(given, &p->dialect);
	root = &p->push->root;
	options = pp_jobj(pp_jobj(root, "body"), "options");
	p->plan_id = pp_jstr(options, "plan_id");
	if (p->plan_id == NULL)
		p->plan_id = "default";
	p->request_id = pp_jstr(root, "request_id");
	p->send_time = pp_jstr(root, "send_time");
	p->loop = pp_jmember(root, "loop") != NULL;
	/* integers after normalization; absent ones keep their defaults */
	p->msg_random = -1;
	(void) pp_jv_int64(pp_jmember(root, "MsgRandom"), &p->msg_random, NULL);
	p->ttl = 86400;
	(void) pp_jv_int64(pp_jmember(options, "time_to_live"), &p->ttl, NULL);
	p->category = pp_jstr(options, "category");
	p->variants = pp_push_variants(p->push);
	p->variants_test = pp_jmember(root, "variants_test") != NULL;
}

/* "in variant ..." on the errors of a variant's checks */
static void
variant_context(void *arg)
{
	errcontext("in variant \"%s\"", (const char *) arg);
}

/* Every variant sent is checked as the push is: its templates, and each vendor's limits. */
static void
check_variants(List *variants, List *vendors)
{
	ListCell   *lc;

	foreach(lc, variants)
	{
		PPVariant  *v = lfirst(lc);
		ErrorContextCallback cb;

		if (v->control)
			continue;
		cb.callback = variant_context;
		cb.arg = v->name;
		cb.previous = error_context_stack;
		error_context_stack = &cb;
		pp_message_check_for(pp_push_template_check(v->push, &v->template_reads), vendors);
		error_context_stack = cb.previous;
	}
}

/*
 * A push with a fallback (doc/fallback.md): the app must have the channel it goes through, and
 * the fallback's texts are templates as the push's are: the message the scheduler will make
 * (_fallback_push) is checked here, and what its templates read is read for the push too.
 */
static void
fallback_context(void *arg)
{
	errcontext("in the fallback's message (\"fallback\": its title and alert replace the push's)");
}

static void
check_fallback(int32 app_id, PPPush *p)
{
	ErrorContextCallback context = {.callback = fallback_context, .previous = error_context_stack};
	Datum		args[2];
	Oid			types[2] = {INT4OID, JSONBOID};
	bool		isnull;
	Datum		d;
	int			reads = 0;

	args[0] = Int32GetDatum(app_id);
	(void) spi_value("SELECT 1 FROM pushplan.vendor_configs WHERE app_id = $1 AND vendor = 'webhook'",
					 1, types, args, &isnull);
	if (isnull)
		ereport(ERROR,
				(pp_errmsg(PPE_FALLBACK_NO_CHANNEL,
						   "the fallback goes through the webhook channel, which this app has not configured"),
				 errhint("Configure it with push_vendor_set(app, 'webhook', '{\"url\": ..., \"secret\": ...}').")));
	args[1] = JsonbPGetDatum(p->push);
	d = spi_value("SELECT pushplan._fallback_push($2) WHERE $1 IS NOT NULL", 2, types, args, &isnull);
	if (!isnull)
	{
		error_context_stack = &context;
		(void) pp_push_template_check(DatumGetJsonbPCopy(d), &reads);
		error_context_stack = context.previous;
	}
	p->template_reads |= reads;
}

void
pp_push_check(int32 app_id, int rights, PPPush *p)
{
	JsonbContainer *options = pp_jobj(pp_jobj(&p->push->root, "body"), "options");
	JsonbValue *to = pp_jmember(&p->push->root, "to");
	Datum		args[2];
	Oid			types[2] = {INT4OID, TEXTOID};
	bool		isnull;
	Datum		d;
	PPAudience	aud;
	List	   *vendors;

	args[0] = Int32GetDatum(app_id);
	args[1] = CStringGetTextDatum(p->plan_id);
	(void) spi_value("SELECT 1 FROM pushplan.plans WHERE app_id = $1 AND plan_id = $2",
					 2, types, args, &isnull);
	if (isnull)
		pp_error(PPE_SEND_PLAN_UNKNOWN, "plan \"%s\" does not exist", p->plan_id);

	/* Everything that would fail later fails now: the audience and every vendor payload. */
	if (to == NULL)
		pp_error(PPE_SEND_NO_AUDIENCE, "the push has no audience (\"to\")");
	p->list_size = pp_audience_list_size(JsonbValueToJsonb(to));
	if ((rights & PP_RIGHT_OPERATOR) == 0)
		check_transactional(p->list_size);
	pp_audience_compile(app_id, JsonbValueToJsonb(to), 1, &aud);
	p->transactional = p->list_size >= 0 && p->list_size <= pp_small_audience_limit;
	p->priority = task_priority(options, p->transactional);
	/* templates: checked, and the sizes checked with every expression empty (the least a device gets) */
	vendors = app_vendors(app_id);
	pp_message_check_for(pp_push_template_check(p->push, &p->template_reads), vendors);
	check_variants(p->variants, vendors);
	p->broadcast = is_broadcast(to);
	if (pp_jmember(&p->push->root, "fallback"))
		check_fallback(app_id, p);

	/* the consent the category needs, as the app's settings say now (92861: not one of them) */
	p->consent = NULL;
	if (p->category)
	{
		args[1] = CStringGetTextDatum(p->category);
		d = spi_value("SELECT pushplan._consent_rule($1, $2)", 2, types, args, &isnull);
		if (!isnull)
			p->consent = TextDatumGetCString(d);
	}
}

/* tasks.template_reads: what the senders read from each device for the push's templates */
static Datum
template_reads_array(int reads)
{
	Datum		names[2];
	int			n = 0;

	if (reads & PP_TEMPLATE_READS_ATTRS)
		names[n++] = CStringGetTextDatum("attrs");
	if (reads & PP_TEMPLATE_READS_ACCOUNT)
		names[n++] = CStringGetTextDatum("account");
	/* templates that read nothing of a device ({{ "{{" }}, a flow's bound event props): '{}' */
	if (reads == 0)
		return (Datum) 0;
	return PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * One task row: the push's (parent NULL), or one of its variants' (v: the variant, parent: the
 * push's task), which has no idempotency key and does not count for the broadcast quota.
 */
static char *
store_task(int32 app_id, PPPush *p, const PPTaskTiming *timing, const char *parent,
		   PPVariant *v, bool *inserted)
{
	const char *request_id = timing->scheduled || v ? NULL : p->request_id;
	int64		msg_random = timing->scheduled || v ? -1 : p->msg_random;
	int			template_reads = v ? v->template_reads : p->template_reads;
	Datum		args[22];
	Oid			types[22];
	char		nulls[22];
	char	   *task_id;

	memset(nulls, ' ', sizeof(nulls));
	types[0] = INT4OID;
	args[0] = Int32GetDatum(app_id);
	types[1] = TEXTOID;
	args[1] = CStringGetTextDatum(p->plan_id);
	types[2] = TEXTOID;
	args[2] = CStringGetTextDatum(p->dialect);
	types[3] = TEXTOID;
	args[3] = request_id ? CStringGetTextDatum(request_id) : (Datum) 0;
	nulls[3] = request_id ? ' ' : 'n';
	types[4] = INT8OID;
	args[4] = Int64GetDatum(msg_random);
	nulls[4] = msg_random >= 0 ? ' ' : 'n';
	types[5] = JSONBOID;
	args[5] = JsonbPGetDatum(v ? v->push : p->push);
	types[6] = BOOLOID;
	args[6] = BoolGetDatum(p->broadcast && v == NULL);
	types[7] = INT8OID;
	args[7] = Int64GetDatum(p->ttl);
	types[8] = OIDOID;
	args[8] = ObjectIdGetDatum(timing->created_by);
	nulls[8] = OidIsValid(timing->created_by) ? ' ' : 'n';
	types[9] = INT2OID;
	args[9] = Int16GetDatum((int16) p->priority);
	types[10] = TIMESTAMPTZOID;
	args[10] = TimestampTzGetDatum(timing->send_at);
	nulls[10] = timing->scheduled ? ' ' : 'n';
	types[11] = TEXTOID;
	args[11] = timing->send_rule ? CStringGetTextDatum(timing->send_rule) : (Datum) 0;
	nulls[11] = timing->send_rule ? ' ' : 'n';
	types[12] = TEXTOID;
	args[12] = timing->delayed ? CStringGetTextDatum(p->send_time) : (Datum) 0;
	nulls[12] = timing->delayed ? ' ' : 'n';
	types[13] = TEXTARRAYOID;
	args[13] = template_reads_array(template_reads);
	nulls[13] = template_reads ? ' ' : 'n';
	types[14] = TEXTOID;
	args[14] = p->category ? CStringGetTextDatum(p->category) : (Datum) 0;
	nulls[14] = p->category ? ' ' : 'n';
	types[15] = TEXTOID;
	args[15] = p->consent ? CStringGetTextDatum(p->consent) : (Datum) 0;
	nulls[15] = p->consent ? ' ' : 'n';
	/*
	 * a push with variants is never expanded itself: its variants' tasks are; one with a test
	 * is "testing" until the scheduler has sent its winner to the rest
	 */
	types[16] = TEXTOID;
	args[16] = CStringGetTextDatum(v != NULL || p->variants == NIL ? "queued" :
								   p->variants_test ? "testing" : "variants");
	types[17] = TEXTOID;
	args[17] = parent ? CStringGetTextDatum(parent) : (Datum) 0;
	nulls[17] = parent ? ' ' : 'n';
	types[18] = TEXTOID;
	args[18] = v ? CStringGetTextDatum(v->name) : (Datum) 0;
	nulls[18] = v ? ' ' : 'n';
	types[19] = INT4OID;
	args[19] = Int32GetDatum(v ? v->bucket_from : 0);
	types[20] = INT4OID;
	args[20] = Int32GetDatum(v ? v->bucket_to : 0);
	nulls[19] = nulls[20] = v ? ' ' : 'n';
	types[21] = BOOLOID;
	args[21] = BoolGetDatum(v && v->control);
	/*
	 * A task with per-device send times (send_rule) expires per device (the sender adds
	 * time_to_live to each delivery's own send_at), so it has no task-wide expires_at.
	 */
	(void) pp_spi_run_keyed(
			"storing the task", SPI_OK_INSERT_RETURNING,
			/*
			 * send_time: read in the app's zone; one already passed is now, as Tencent does.
			 * Now is pushplan's clock, which the senders claim and expire by.
			 */
			"WITH t AS (SELECT coalesce($11, greatest($13::timestamp AT TIME ZONE "
			"  (SELECT coalesce(settings->>'timezone', 'UTC') FROM pushplan.apps WHERE app_id = $1), "
			"  pushplan.clock_now()), pushplan.clock_now()) AS send_at) "
			"INSERT INTO pushplan.tasks (task_id, app_id, plan_id, dialect, request_id, msg_random, "
			"  msg_second, push, broadcast, send_at, expires_at, created_by, priority, send_rule, "
			"  time_to_live, template_reads, category, consent, state, parent_task_id, variant, "
			"  variant_buckets, variant_control, fallback_at) "
			"SELECT 'tsk_' || replace(gen_random_uuid()::text, '-', ''), $1, $2, $3, $4, $5, "
			"  CASE WHEN $5 IS NOT NULL THEN floor(extract(epoch FROM now()))::bigint END, "
			"  $6, $7, t.send_at, "
			"  CASE WHEN $8 > 0 AND $12 IS NULL THEN t.send_at + $8 * interval '1 second' END, "
			"  $9, $10, $12::jsonb, CASE WHEN $8 > 0 THEN $8 * interval '1 second' END, $14, $15, $16, "
			"  $17, $18, $19, int4range($20, $21), $22, "
			/*
			 * a fallback's first look (doc/fallback.md): when the first sends may be due; none
			 * for a push with variants (its variants' tasks have the deliveries) nor for a
			 * control group (sent nothing)
			 */
			"  CASE WHEN $17 = 'queued' AND NOT $22 "
			"    THEN t.send_at + ($6->'fallback'->>'after')::int * interval '1 second' END "
			"FROM t ON CONFLICT DO NOTHING RETURNING task_id",
			22, types, args, nulls, false, 0);
	*inserted = SPI_processed == 1;
	if (*inserted)
		task_id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	else
	{
		/* a concurrent push_send with the same key committed first */
		task_id = existing_task(app_id, request_id, msg_random);
		if (task_id == NULL)
			elog(ERROR, "pushplan: could not store the task");
	}
	return task_id;
}

char *
pp_push_store(int32 app_id, PPPush *p, const PPTaskTiming *timing, bool *inserted)
{
	char	   *task_id;
	ListCell   *lc;

	if (p->broadcast)
		check_broadcast_quota(app_id, !timing->scheduled);
	task_id = store_task(app_id, p, timing, NULL, NULL, inserted);
	if (!*inserted)
		return task_id;
	foreach(lc, p->variants)
	{
		PPVariant  *v = lfirst(lc);
		bool		child_inserted;

		v->task_id = store_task(app_id, p, timing, task_id, v, &child_inserted);
	}
	return task_id;
}

Datum
pushplan_push_send(PG_FUNCTION_ARGS)
{
	char	   *app;
	PPPush		p;
	PPTaskTiming timing;
	int32		app_id;
	int			rights;
	bool		inserted;
	char	   *task_id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		pp_error(PPE_SEND_ARGS_NULL, "push_send needs an app and a push");
	app = text_to_cstring(PG_GETARG_TEXT_PP(0));
	pp_push_read(PG_GETARG_JSONB_P(1), &p);
	if (p.loop)
		PG_RETURN_TEXT_P(cstring_to_text(loop_schedule(app, &p)));

	app_id = pp_app_id(app, PP_RIGHT_APP | PP_RIGHT_OPERATOR, &rights);
	SPI_connect();

	/* The same idempotency key again returns the same task. */
	if (p.request_id || p.msg_random >= 0)
	{
		task_id = existing_task(app_id, p.request_id, p.msg_random);
		if (task_id)
		{
			SPI_finish();
			PG_RETURN_TEXT_P(cstring_to_text(task_id));
		}
	}

	pp_push_check(app_id, rights, &p);
	memset(&timing, 0, sizeof(timing));
	timing.created_by = pp_caller();
	timing.delayed = p.send_time && send_time_ahead(app_id, p.send_time);
	task_id = pp_push_store(app_id, &p, &timing, &inserted);
	task_id = MemoryContextStrdup(TopTransactionContext, task_id);
	if (inserted && p.transactional && !timing.delayed && p.variants)
	{
		ListCell   *lc;

		foreach(lc, p.variants)
		{
			PPVariant  *v = lfirst(lc);

			expand_now(v->task_id, app_id, v->push, p.priority);
		}
	}
	else if (inserted && p.transactional && !timing.delayed)
		expand_now(task_id, app_id, p.push, p.priority);
	else if (inserted)
		pp_wake_scheduler_at_commit();
	SPI_finish();

	PG_RETURN_TEXT_P(cstring_to_text(task_id));
}
