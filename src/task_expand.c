/*
 * task_expand.c: a task's audience into deliveries (task_expand.h).
 *
 * One INSERT ... SELECT over the compiled audience (src/audience_sql.c) per batch: every
 * reachable device of the audience whose platform the push targets gets a delivery and, when
 * its vendor is configured, a queue row in the task's lane; a device whose vendor the app has
 * not configured gets a delivery recorded failed at once. big_push_duration spreads send_at
 * evenly over that many minutes, by the device's rank in the whole audience.
 *
 * A task fired by a schedule may plan each device's own time (tasks.send_rule): zone_type 2's
 * wall time read in the device's zone ({"local": ...}), or an intelligent schedule's best time
 * of each device of the batch, from _smart_send_times (src/smart_send.c). big_push_duration
 * then spreads from those times.
 *
 * The scheduler's expansions are planned rather than written, on one node (doc/schedules.md,
 * "Send plans"): one delivery_plans row per send time, platform, vendor and PP_PLAN_DEVICES
 * devices, whose devices a sender claims when the row falls due and whose deliveries it writes
 * once, with their outcomes (src/worker_sender.c). A million devices are then ten thousand rows
 * written at the expansion, not two million, and no queue row each. Not planned: push_send's
 * transactional pushes (written and queued in the caller's transaction, for the express
 * sender), a spread (big_push_duration gives every device a time of its own), a control group
 * (its deliveries are the record), a push with a fallback (its look reads the push's
 * deliveries as they are made) or of a flow, and the distributed layout (its nodes expand into
 * deliveries on their shards).
 */
#include "pushplan.h"
#include "task_expand.h"
#include "audience.h"
#include "json.h"
#include "shard_local.h"
#include "workers.h"
#include "layout.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/jsonb.h"

/*
 * sql as run for shard group `group`: every table named by its shard in the group (a node's
 * expansion), or as it is (-1: the whole install, through Citus on the coordinator)
 */
static const char *
on_group(const char *sql, int group)
{
	return group >= 0 ? pp_shard_sql(sql, group) : sql;
}

/*
 * A push whose category needs consent (tasks.consent, doc/privacy.md) reaches only the devices
 * that granted it (opt_in) or did not withdraw it (opt_out): one probe of device_consents'
 * primary key per device of the audience. Pushes without one pay a look-up of their task.
 *
 * A variant's task (doc/variants.md) takes the devices of its parent's audience whose bucket
 * falls in its share: every variant of a push computes the same bucket for a device, so the
 * shares split the audience exactly, whichever expands first, in whatever batches. Returns
 * whether the task is a control group (its devices are held out, not sent).
 */
static bool
append_task_filters(StringInfo from, const char *task_id, int group, bool *of_flow,
					bool *task_literal)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(task_id)};
	HeapTuple	tup;
	char	   *category;
	char	   *consent;
	char	   *parent;
	bool		control;
	bool		isnull;

	const char *sql = "SELECT category, consent, parent_task_id, lower(variant_buckets), "
		"  upper(variant_buckets), variant_control, flow_id IS NOT NULL "
		"FROM pushplan.tasks WHERE task_id = $1";

	if (group < 0)
		(void) pp_spi_run_keyed("reading the task's filters", SPI_OK_SELECT, sql,
								1, types, args, NULL, false, 1);
	else
		(void) pp_spi_run("reading the task's filters", SPI_OK_SELECT, on_group(sql, group),
						  1, types, args, NULL, false, 1);
	tup = pp_spi_first_row("reading the task's filters");
	category = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
	consent = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
	parent = SPI_getvalue(tup, SPI_tuptable->tupdesc, 3);
	control = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 6, &isnull));
	*of_flow = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 7, &isnull));
	*task_literal = parent != NULL;
	if (parent)
		appendStringInfo(from, " AND pushplan._variant_bucket(%s, d.device_id) >= %s "
						 "AND pushplan._variant_bucket(%s, d.device_id) < %s",
						 quote_literal_cstr(parent), SPI_getvalue(tup, SPI_tuptable->tupdesc, 4),
						 quote_literal_cstr(parent), SPI_getvalue(tup, SPI_tuptable->tupdesc, 5));
	if (category == NULL || consent == NULL)
		return control;
	appendStringInfo(from, " AND %s (SELECT 1 FROM pushplan.device_consents k "
					 "WHERE k.device_id = d.device_id AND k.category = %s AND %sk.granted)",
					 strcmp(consent, "opt_in") == 0 ? "EXISTS" : "NOT EXISTS",
					 quote_literal_cstr(category),
					 strcmp(consent, "opt_in") == 0 ? "" : "NOT ");
	return control;
}

/*
 * The platforms a push targets (body.platform, an array of names after normalization; every
 * platform without it), as a text[] for the statement's filter: a plain array filter, which
 * the planner estimates, where a semi-join with the JSON's elements (estimated at 100 rows)
 * made it sort all of a big audience's remaining devices for each batch of its second half.
 */
static Datum
platform_array(JsonbValue *body_platforms)
{
	static const char *const every[] = {"android", "ios", "web", "harmony"};
	Datum		names[8];
	int			n = 0;

	if (body_platforms == NULL || body_platforms->type != jbvBinary)
	{
		for (n = 0; n < lengthof(every); n++)
			names[n] = CStringGetTextDatum(every[n]);
	}
	else
	{
		JsonbIterator *it = JsonbIteratorInit(body_platforms->val.binary.data);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && v.type == jbvString && n < lengthof(names))
				names[n++] = PointerGetDatum(cstring_to_text_with_len(v.val.string.val,
																	  v.val.string.len));
	}
	return PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * A device's send time in the expansion's statement (r: a row of its ranked batch): the task's
 * send_at, or the device's own (an intelligent schedule's best time, or zone_type 2's wall
 * time in its zone), plus its share of a big_push_duration spread.
 */
#define SEND_AT_OF_R \
	"CASE WHEN $12 IS NOT NULL THEN coalesce(r.smart_at, $3) " \
	"     WHEN $11 IS NOT NULL THEN $11::timestamp AT TIME ZONE r.timezone ELSE $3 END " \
	"+ CASE WHEN $5 > 0 THEN ($9 + r.rn - 1) * ($5 * interval '1 minute') / $8 ELSE interval '0' END"

/*
 * The statement's CTE "hooked": the deliveries of ins (the statement's inserted ones) failed at
 * once, each a final outcome for the app's outcome webhook, if it has one.
 */
#define FAILED_AT_ONCE_POSTED \
	"hooked AS (" \
	"  INSERT INTO pushplan.outcome_outbox (app_id, delivery_id, task_id, plan_id, registration_id, " \
	"    vendor, platform, status, error, at) " \
	"  SELECT $2, i.delivery_id, $1, t.plan_id, v.registration_id, i.vendor, i.platform, " \
	"    i.status, i.error, now() " \
	"  FROM ins i JOIN pushplan.outcome_webhooks w ON w.app_id = $2 " \
	"  JOIN pushplan.tasks t ON t.task_id = $1 " \
	"  LEFT JOIN pushplan.devices v ON v.device_id = i.device_id " \
	"  WHERE i.status = 'failed') "

/*
 * The rest of a planned batch's statement (after its src and ranked): each device's send time,
 * the batch grouped by send time, platform and vendor (one hash aggregate; its groups keep the
 * batch's device order), and whether the app has configured each group's vendor. A device whose vendor
 * the app has not configured gets its delivery, failed, at once (and the app's outcome webhook
 * hears of it); the others are planned: one delivery_plans row per group and PP_PLAN_DEVICES
 * devices. Counted in the statistics as an expansion's deliveries are (targeted, failed at
 * once). Returns what the unplanned statement does: the batch's devices, its last id, the
 * deliveries made or planned, and those planned. Every figure comes from the groups, so that
 * the batch's rows are read once, in one pipeline, and never kept.
 */
static void
append_plan_statement(StringInfo q)
{
	appendStringInfo(q,
					 "grouped AS (SELECT g.*, EXISTS (SELECT 1 FROM pushplan.vendor_configs c "
					 "    WHERE c.app_id = $2 AND c.vendor = g.vendor) AS configured "
					 "  FROM (SELECT " SEND_AT_OF_R " AS at, r.platform, r.vendor, "
					 "    array_agg(r.device_id) AS ids, max(r.device_id) AS last "
					 "    FROM ranked r GROUP BY 1, 2, 3) g), "
					 "ins AS ("
					 "  INSERT INTO pushplan.deliveries (task_id, app_id, device_id, vendor, platform, send_at, status, error) "
					 "  SELECT $1, $2, u.device_id, g.vendor, g.platform, g.at, 'failed', "
					 "    format('vendor \"%%s\" is not configured for this app', g.vendor) "
					 "  FROM grouped g CROSS JOIN LATERAL unnest(g.ids) u(device_id) WHERE NOT g.configured "
					 "  RETURNING delivery_id, device_id, send_at, status, platform, vendor, error), "
					 "planned AS ("
					 "  INSERT INTO pushplan.delivery_plans (task_id, send_at, priority, platform, vendor, device_ids) "
					 "  SELECT $1, g.at, $10, g.platform, g.vendor, g.ids[i : i + %d] "
					 "  FROM grouped g, generate_series(1, cardinality(g.ids), %d) i WHERE g.configured "
					 "  RETURNING cardinality(device_ids) AS n), "
					 "counted AS ("
					 "  INSERT INTO pushplan.stats_pending (task_id, platform, vendor, targeted, failed, control) "
					 "  SELECT $1, platform, vendor, sum(cardinality(ids)), "
					 "    coalesce(sum(cardinality(ids)) FILTER (WHERE NOT configured), 0), 0 "
					 "  FROM grouped GROUP BY platform, vendor), "
					 FAILED_AT_ONCE_POSTED
					 "SELECT coalesce(sum(cardinality(ids)), 0), max(last), coalesce(sum(cardinality(ids)), 0), "
					 "  (SELECT coalesce(sum(n), 0) FROM planned) FROM grouped",
					 PP_PLAN_DEVICES - 1, PP_PLAN_DEVICES);
}

void
pp_task_expand_batch(const char *task_id, int32 app_id, Jsonb *push, TimestampTz send_at,
					 Jsonb *send_rule, int priority, int64 after, int64 done,
					 int64 spread_total, int group, bool in_push_send, PPExpandResult *res)
{
	PPAudience	aud;
	JsonbValue *to = pp_jmember(&push->root, "to");
	JsonbValue *body_platforms = pp_jmember(pp_jobj(&push->root, "body"), "platform");
	JsonbContainer *options = pp_jobj(pp_jobj(&push->root, "body"), "options");
	Datum		platforms;
	StringInfoData q;
	StringInfoData from;
	Oid		   *types;
	Datum	   *values;
	char	   *nulls;
	int			nfixed = 13;
	char	   *local = send_rule ? pp_jstr(&send_rule->root, "local") : NULL;
	JsonbContainer *smart = send_rule ? pp_jobj(&send_rule->root, "intelligent") : NULL;
	char	   *window_start = smart ? pp_jstr(smart, "window_start") : NULL;
	char	   *backup_local = smart ? pp_jstr(smart, "backup_local") : NULL;
	int			minutes = 0;
	int64		duration;
	HeapTuple	tup;
	bool		isnull;
	bool		control;
	bool		of_flow;
	bool		planned;
	bool		task_literal;

	if (to == NULL)
		pp_error(PPE_TASK_NO_AUDIENCE, "task has no audience");
	pp_audience_compile(app_id, JsonbValueToJsonb(to), nfixed + 1, &aud);

	/* body.platform is an array of platform names after normalization */
	platforms = platform_array(body_platforms);
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
	types[3] = TEXTARRAYOID;
	values[3] = platforms;
	types[4] = INT4OID;
	values[4] = Int32GetDatum(minutes);
	types[5] = INT8OID;
	values[5] = Int64GetDatum(after);
	types[6] = INT4OID;
	values[6] = Int32GetDatum(PP_EXPANSION_BATCH);
	types[7] = INT8OID;
	types[8] = INT8OID;
	values[8] = Int64GetDatum(done);
	types[9] = INT2OID;
	values[9] = Int16GetDatum((int16) priority);
	/* a zone_type 2 schedule's wall time, read in each device's own zone */
	types[10] = TIMESTAMPOID;		/* (read once here, not once per device in the statement) */
	values[10] = local ? DirectFunctionCall3(timestamp_in, CStringGetDatum(local),
											 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)) : (Datum) 0;
	/* an intelligent schedule's window and backup time (NULL: "now"), read per device */
	types[11] = TEXTOID;
	values[11] = window_start ? CStringGetTextDatum(window_start) : (Datum) 0;
	types[12] = TEXTOID;
	values[12] = backup_local ? CStringGetTextDatum(backup_local) : (Datum) 0;
	nulls = palloc(nfixed + aud.nargs + 1);
	memset(nulls, ' ', nfixed + aud.nargs);
	nulls[nfixed + aud.nargs] = '\0';
	nulls[10] = local ? ' ' : 'n';
	nulls[11] = window_start ? ' ' : 'n';
	nulls[12] = backup_local ? ' ' : 'n';
	memcpy(types + nfixed, aud.argtypes, sizeof(Oid) * aud.nargs);
	memcpy(values + nfixed, aud.values, sizeof(Datum) * aud.nargs);

	/* the audience's devices that this push's platforms include */
	initStringInfo(&from);
	if (aud.whole_app)
		/* "all": the devices themselves, not joined with their own ids (a second index scan) */
		appendStringInfoString(&from,
							   "FROM pushplan.devices d WHERE d.app_id = $2 AND d.reachable "
							   "AND d.platform = ANY ($4)");
	else
		appendStringInfo(&from,
						 "FROM (%s) a JOIN pushplan.devices d ON d.device_id = a.device_id "
						 "WHERE d.platform = ANY ($4)",
						 aud.sql.data);
	control = append_task_filters(&from, task_id, group, &of_flow, &task_literal);
	planned = !in_push_send && minutes == 0 && !control && !of_flow && group < 0 &&
		pp_jmember(&push->root, "fallback") == NULL && !pp_registry_distributed();

	if (minutes > 0 && spread_total <= 0)
	{
		values[7] = Int64GetDatum(0);
		(void) pp_spi_run("counting the audience", SPI_OK_SELECT,
						  on_group(psprintf("SELECT count(*) %s", from.data), group),
						  nfixed + aud.nargs, types, values, nulls, false, 1);
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
					 "  SELECT d.device_id, d.vendor, d.platform, d.timezone %s%s AND d.device_id > $6 "
					 "  ORDER BY d.device_id LIMIT $7), "
					 "ranked AS (SELECT s.*, %s AS smart_at, row_number() OVER (ORDER BY s.device_id) AS rn "
					 "  FROM src s %s), ",
					 from.data, aud.whole_app ? "" : " AND a.device_id > $6",
					 smart ? "m.send_at" : "NULL::timestamptz",
					 /* an empty batch (an empty audience) is an empty array, never NULL */
					 smart ? "LEFT JOIN pushplan._smart_send_times("
					 "coalesce((SELECT array_agg(device_id) FROM src), '{}'), "
					 "$12::timestamptz, pushplan.clock_now(), $13::timestamp) m ON m.device_id = s.device_id" : "");
	if (planned)
		append_plan_statement(&q);
	else
		appendStringInfo(&q,
					 "ins AS ("
					 "  INSERT INTO pushplan.deliveries (%stask_id, app_id, device_id, vendor, platform, send_at, status, error) "
					 "  SELECT %s$1, $2, r.device_id, r.vendor, r.platform, " SEND_AT_OF_R ", "
					 "    %s "
					 "  FROM ranked r %s "
					 "  RETURNING delivery_id, device_id, send_at, status, platform, vendor, error), "
					 "queued AS ("
					 "  INSERT INTO pushplan.delivery_queue (delivery_id, task_id, send_at, priority, device_id) "
					 "  SELECT delivery_id, $1, send_at, $10, device_id FROM ins WHERE status = 'queued' RETURNING 1), "
					 /* the statistics (doc/statistics.md): made, and failed at once */
					 "counted AS ("
					 "  INSERT INTO pushplan.stats_pending (task_id, platform, vendor, targeted, failed, control) "
					 "  SELECT $1, platform, vendor, count(*) FILTER (WHERE status <> 'control'), "
					 "    count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'control') "
					 "  FROM ins GROUP BY platform, vendor), "
					 FAILED_AT_ONCE_POSTED
					 "SELECT (SELECT count(*) FROM src), (SELECT max(device_id) FROM src), (SELECT count(*) FROM ins WHERE status <> 'control'), "
					 "  (SELECT count(*) FROM queued)",
					 group >= 0 ? "delivery_id, " : "",
					 /*
					  * A node's own ids (doc/scale-out.md, "Expansion on every node"): the
					  * column's default with the node's group in bits 32-39 and the node's
					  * sequence in the low 32 (the coordinator draws its ids below 2^32).
					  */
					 group >= 0 ? "(floor(extract(epoch FROM now()) / 86400)::bigint << 40) "
					 "+ (((SELECT groupid FROM pg_catalog.pg_dist_local_group)::bigint & 255) << 32) "
					 "+ (nextval('pushplan.deliveries_delivery_id_seq') & 4294967295), " : "",
					 /*
					  * a control group's devices are written as control, whatever their vendor:
					  * without the vendors' join (Citus plans no insert whose left join the
					  * planner removed, its columns unused: "cannot handle complex subqueries
					  * when the router executor is disabled")
					  */
					 control ? "'control', NULL" :
					 "CASE WHEN c.vendor IS NULL THEN 'failed' ELSE 'queued' END, "
					 "CASE WHEN c.vendor IS NULL THEN format('vendor \"%s\" is not configured for this app', r.vendor) END",
					 control ? "" :
					 "LEFT JOIN pushplan.vendor_configs c ON c.app_id = $2 AND c.vendor = r.vendor");
	/* (an intelligent schedule's send times read the same group's shards) */
	pp_shard_statement_group = group;
	PG_TRY();
	{
		/*
		 * a transactional push's text repeats (one per kind of audience): kept, with a generic
		 * plan, as its few devices are read by their ids (keys) whatever the statistics
		 */
		if (in_push_send && group < 0 && !task_literal)
			(void) pp_spi_run_keyed("expanding the audience", SPI_OK_SELECT, q.data,
									nfixed + aud.nargs, types, values, nulls, false, 0);
		else
			(void) pp_spi_run("expanding the audience", SPI_OK_SELECT, on_group(q.data, group),
							  nfixed + aud.nargs, types, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		pp_shard_statement_group = -1;
	}
	PG_END_TRY();
	tup = pp_spi_first_row("expanding the audience");
	res->rows = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
	res->last_device = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull)
		res->last_device = after;
	res->inserted = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
	res->queued = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 4, &isnull));
}

bool
pp_task_expands_on_nodes(int32 app_id, Jsonb *push)
{
	PPAudience	aud;
	JsonbValue *to = pp_jmember(&push->root, "to");

	if (to == NULL)
		return false;
	pp_audience_compile(app_id, JsonbValueToJsonb(to), 1, &aud);
	return !aud.coordinator_only;
}
