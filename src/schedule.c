/*
 * schedule.c: push_schedule_create, push_schedule_update, push_schedule_enable,
 * push_schedule_delete (doc/schedules.md).
 *
 * A schedule is the EngageLab /v4/schedules body, {"name", "enabled", "trigger", "push"}. Its
 * push goes through push_send's own checks (src/push_send.h) and is stored normalized; its
 * trigger is checked and normalized by schedule_trigger.c. The first occurrence is computed
 * with the app's time zone (_schedule_next, sql/api/80_schedules.sql) and must be ahead and at
 * most a year away. A commit that creates or changes a schedule wakes the scheduler, so that a
 * schedule due in a second fires in a second, not at the next poll.
 */
#include "pushplan.h"
#include "json.h"
#include "push_send.h"
#include "schedule.h"
#include "tenancy.h"
#include "workers.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pushplan_schedule_create);
PG_FUNCTION_INFO_V1(pushplan_schedule_update);
PG_FUNCTION_INFO_V1(pushplan_schedule_enable);

#define SCHEDULE_NAME_MAX	255

/* What a schedule body gave (members it lacks stay NULL / unset). */
typedef struct ScheduleBody
{
	char	   *name;
	bool		has_enabled;
	bool		enabled;
	Jsonb	   *trigger;		/* normalized */
	bool		has_push;
	PPPush		push;
} ScheduleBody;

/* Checks a schedule body; `whole`: create (name, trigger and push are required). */
static void
read_body(Jsonb *body, bool whole, ScheduleBody *s)
{
	static const char *const keys[] = {"name", "enabled", "trigger", "push", NULL};
	JsonbValue *m;
	char	   *unknown;

	memset(s, 0, sizeof(*s));
	if (!JB_ROOT_IS_OBJECT(body))
		pp_error(PPE_SCHEDULE_NOT_OBJECT, "the schedule must be a JSON object");
	if ((unknown = pp_jkey_not_in(&body->root, keys)) != NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_SCHEDULE_KEY_UNKNOWN, "unknown key \"%s\" in the schedule",
						   pp_shown(unknown)),
				 errhint("A schedule has name, enabled, trigger and push.")));

	m = pp_jmember(&body->root, "name");
	if (m != NULL || whole)
	{
		if (m == NULL || m->type != jbvString || m->val.string.len == 0 ||
			pg_mbstrlen_with_len(m->val.string.val, m->val.string.len) > SCHEDULE_NAME_MAX)
			pp_error(PPE_SCHEDULE_NAME, "the schedule's name must be a string of 1 to %d characters",
					 SCHEDULE_NAME_MAX);
		s->name = pnstrdup(m->val.string.val, m->val.string.len);
	}
	m = pp_jmember(&body->root, "enabled");
	if (m != NULL)
	{
		if (m->type != jbvBool)
			pp_error(PPE_SCHEDULE_ENABLED, "the schedule's \"enabled\" must be true or false");
		s->has_enabled = true;
		s->enabled = m->val.boolean;
	}
	m = pp_jmember(&body->root, "trigger");
	if (m != NULL || whole)
		s->trigger = pp_trigger_normalize(m);
	m = pp_jmember(&body->root, "push");
	if (m == NULL && whole)
		pp_error(PPE_SCHEDULE_NO_PUSH, "the schedule needs a push (the object push_send takes)");
	if (m != NULL)
	{
		s->has_push = true;
		pp_push_read(JsonbValueToJsonb(m), &s->push);
		if (s->push.send_time)
			pp_error(PPE_SCHEDULE_PUSH_SEND_TIME,
					 "a schedule's push has no send_time: its trigger says when it is sent");
	}
}

/*
 * The first occurrence of a trigger from the clock's now on, in the app's time zone; raises
 * 92718 / 92720 when there is none, 92719 when it is more than a year ahead. created: the
 * schedule's creation (0: now), when an intelligent trigger without start fires; last: its
 * last occurrence (0: none), which is never fired again.
 */
static TimestampTz
first_occurrence(int32 app_id, Jsonb *trigger, TimestampTz created, TimestampTz last)
{
	Oid			types[4] = {INT4OID, JSONBOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[4];
	char		nulls[4] = "    ";
	HeapTuple	tup;
	bool		isnull;
	Datum		first;
	char	   *zone;

	args[0] = Int32GetDatum(app_id);
	args[1] = JsonbPGetDatum(trigger);
	args[2] = TimestampTzGetDatum(created);
	nulls[2] = created ? ' ' : 'n';
	args[3] = TimestampTzGetDatum(last);
	nulls[3] = last ? ' ' : 'n';
	pp_spi_run("computing the first occurrence", SPI_OK_SELECT,
			   "WITH a AS (SELECT coalesce(settings->>'timezone', 'UTC') AS tz "
			   "  FROM pushplan.apps WHERE app_id = $1), "
			   "n AS (SELECT pushplan.clock_now() AS now), "
			   "s AS (SELECT coalesce($3, n.now) AS created, "
			   "  greatest(n.now - interval '1 microsecond', $4) AS after FROM n) "
			   "SELECT f.first, f.first > n.now + interval '1 year', a.tz "
			   "FROM a, n, s, LATERAL (SELECT pushplan._schedule_next($2, a.tz, s.after, s.created) AS first) f",
			   4, types, args, nulls, true, 0);
	tup = pp_spi_first_row("computing the first occurrence");
	zone = SPI_getvalue(tup, SPI_tuptable->tupdesc, 3);
	first = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull && pp_jmember(&trigger->root, "periodical"))
		pp_error(PPE_SCHEDULE_NO_OCCURRENCE,
				 "the periodical trigger has no occurrence left before its end (app time zone %s)",
				 zone);
	if (isnull)
		pp_error(PPE_SCHEDULE_TIME_PASSED, "the trigger's time has passed (app time zone %s)", zone);
	if (DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull)))
		pp_error(PPE_SCHEDULE_TOO_FAR, "the trigger's first occurrence is more than one year ahead");
	return DatumGetTimestampTz(first);
}

/* What push_schedule_update reads of a schedule (its row locked). */
typedef struct ScheduleRow
{
	Jsonb	   *trigger;
	TimestampTz created_at;
	TimestampTz last_run_at;	/* 0: never fired */
} ScheduleRow;

/* The schedule's row, locked and read; 92722 when the app has no such schedule. */
static void
lock_schedule(int32 app_id, const char *schedule_id, ScheduleRow *row)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2] = {Int32GetDatum(app_id), CStringGetTextDatum(schedule_id)};
	HeapTuple	tup;
	bool		isnull;
	Datum		last;

	if (pp_spi_run("finding the schedule", SPI_OK_SELECT,
				   "SELECT trigger, created_at, last_run_at FROM pushplan.schedules "
				   "WHERE app_id = $1 AND schedule_id = $2 FOR UPDATE",
				   2, types, args, NULL, false, 0) == 0)
		pp_error(PPE_SCHEDULE_UNKNOWN, "schedule \"%s\" does not exist", pp_shown(schedule_id));
	tup = SPI_tuptable->vals[0];
	row->trigger = DatumGetJsonbPCopy(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
	row->created_at = DatumGetTimestampTz(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	last = SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull);
	row->last_run_at = isnull ? 0 : DatumGetTimestampTz(last);
}

/* push_schedule_create(app text, schedule jsonb) RETURNS text */
Datum
pushplan_schedule_create(PG_FUNCTION_ARGS)
{
	ScheduleBody s;
	int32		app_id;
	int			rights;
	TimestampTz first;
	Datum		args[8];
	Oid			types[8] = {INT4OID, TEXTOID, BOOLOID, JSONBOID, JSONBOID, TEXTOID,
	TIMESTAMPTZOID, OIDOID};
	char		nulls[8];
	char	   *id;
	MemoryContext caller_cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		pp_error(PPE_SCHEDULE_ARGS_NULL, "push_schedule_create needs an app and a schedule");
	read_body(PG_GETARG_JSONB_P(1), true, &s);
	app_id = pp_app_id(text_to_cstring(PG_GETARG_TEXT_PP(0)), PP_RIGHT_OPERATOR, &rights);
	SPI_connect();

	/* the push's request_id makes the creation idempotent */
	if (s.push.request_id)
	{
		args[0] = Int32GetDatum(app_id);
		args[1] = CStringGetTextDatum(s.push.request_id);
		if (pp_spi_run("finding the schedule", SPI_OK_SELECT,
					   "SELECT schedule_id FROM pushplan.schedules WHERE app_id = $1 AND request_id = $2",
					   2, types, args, NULL, true, 0) == 1)
		{
			/* copied where SPI_finish() does not free it (SPI_connect() switched contexts) */
			id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			id = MemoryContextStrdup(caller_cxt, id);
			SPI_finish();
			PG_RETURN_TEXT_P(cstring_to_text(id));
		}
	}
	pp_push_check(app_id, rights, &s.push);
	first = first_occurrence(app_id, s.trigger, 0, 0);

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int32GetDatum(app_id);
	args[1] = CStringGetTextDatum(s.name);
	args[2] = BoolGetDatum(s.has_enabled ? s.enabled : true);
	args[3] = JsonbPGetDatum(s.trigger);
	args[4] = JsonbPGetDatum(s.push.push);
	args[5] = s.push.request_id ? CStringGetTextDatum(s.push.request_id) : (Datum) 0;
	nulls[5] = s.push.request_id ? ' ' : 'n';
	args[6] = TimestampTzGetDatum(first);
	args[7] = ObjectIdGetDatum(pp_caller());
	pp_spi_run("storing the schedule", SPI_OK_INSERT_RETURNING,
			   "INSERT INTO pushplan.schedules (schedule_id, app_id, name, enabled, trigger, push, "
			   "  request_id, next_run_at, created_by) "
			   "VALUES ('sch_' || replace(gen_random_uuid()::text, '-', ''), $1, $2, $3, $4, $5, "
			   "  $6, $7, $8) RETURNING schedule_id",
			   8, types, args, nulls, false, 0);
	id = MemoryContextStrdup(caller_cxt,
							 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	pp_wake_scheduler_at_commit();
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

/*
 * push_schedule_update(app text, schedule_id text, schedule jsonb) RETURNS void: the members
 * given replace the schedule's; a new trigger (or enabling it) starts from now.
 */
Datum
pushplan_schedule_update(PG_FUNCTION_ARGS)
{
	ScheduleBody s;
	int32		app_id;
	int			rights;
	char	   *schedule_id;
	Datum		args[7];
	Oid			types[7] = {TEXTOID, TEXTOID, BOOLOID, JSONBOID, JSONBOID, TIMESTAMPTZOID, BOOLOID};
	char		nulls[7];
	bool		recompute;
	TimestampTz next = 0;
	ScheduleRow row;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		pp_error(PPE_SCHEDULE_ARGS_NULL,
				 "push_schedule_update needs an app, a schedule id and a schedule");
	read_body(PG_GETARG_JSONB_P(2), false, &s);
	app_id = pp_app_id(text_to_cstring(PG_GETARG_TEXT_PP(0)), PP_RIGHT_OPERATOR, &rights);
	schedule_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	SPI_connect();
	lock_schedule(app_id, schedule_id, &row);
	if (s.has_push)
		pp_push_check(app_id, rights, &s.push);
	if (s.trigger != NULL)
		next = first_occurrence(app_id, s.trigger, 0, 0);	/* a new trigger starts now */
	else if (s.has_enabled && s.enabled)
		/* enabled again: from now on (what passed meanwhile is not fired), never twice */
		next = first_occurrence(app_id, row.trigger, row.created_at, row.last_run_at);
	recompute = s.trigger != NULL || (s.has_enabled && s.enabled);

	memset(nulls, ' ', sizeof(nulls));
	args[0] = CStringGetTextDatum(schedule_id);
	args[1] = s.name ? CStringGetTextDatum(s.name) : (Datum) 0;
	nulls[1] = s.name ? ' ' : 'n';
	args[2] = BoolGetDatum(s.enabled);
	nulls[2] = s.has_enabled ? ' ' : 'n';
	args[3] = s.trigger ? JsonbPGetDatum(s.trigger) : (Datum) 0;
	nulls[3] = s.trigger ? ' ' : 'n';
	args[4] = s.has_push ? JsonbPGetDatum(s.push.push) : (Datum) 0;
	nulls[4] = s.has_push ? ' ' : 'n';
	args[5] = TimestampTzGetDatum(next);
	nulls[5] = recompute ? ' ' : 'n';
	args[6] = BoolGetDatum(recompute);
	pp_spi_run("updating the schedule", SPI_OK_UPDATE,
			   "UPDATE pushplan.schedules SET name = coalesce($2, name), "
			   "  enabled = coalesce($3, enabled), trigger = coalesce($4, trigger), "
			   "  push = coalesce($5, push), "
			   "  next_run_at = CASE WHEN $7 THEN $6 ELSE next_run_at END, updated_at = now() "
			   "WHERE schedule_id = $1",
			   7, types, args, nulls, false, 0);
	pp_wake_scheduler_at_commit();
	SPI_finish();
	PG_RETURN_VOID();
}

/* push_schedule_enable(app text, schedule_id text, enabled boolean) RETURNS void */
Datum
pushplan_schedule_enable(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		pp_error(PPE_SCHEDULE_ARGS_NULL,
				 "push_schedule_enable needs an app, a schedule id and true or false");
	return DirectFunctionCall3(pushplan_schedule_update, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1),
							   DirectFunctionCall1(jsonb_in, CStringGetDatum(
								   PG_GETARG_BOOL(2) ? "{\"enabled\": true}" : "{\"enabled\": false}")));
}
