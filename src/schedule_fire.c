/*
 * schedule_fire.c: the scheduler fires due schedules (doc/schedules.md, "Firing").
 *
 * One occurrence per call, in the scheduler's transaction: the schedule's row is locked (SKIP
 * LOCKED: two schedulers never take the same one), its occurrence is recorded in schedule_runs
 * first (the primary key (schedule, occurrence) refuses a second record, so a task is made at
 * most once), then the task is made through push_send's own steps, and next_run_at moves on.
 * All of it commits together or not at all: a crash before the commit leaves the occurrence
 * due, and it fires after the restart; after the commit it is never fired again.
 *
 * An occurrence is missed (recorded, no task) when the next one is already due too (the server
 * was down over several: only the latest fires) or when it is later than the push's
 * time_to_live (for zone_type 2 and intelligent triggers: later than that for the last device
 * that can be planned; devices whose own time is that late expire one by one, as deliveries). A push refused when it fires (its plan deleted, the app's daily broadcasts used
 * up) is skipped, with push_send's error as the run's detail.
 */
#include "pushplan.h"
#include "json.h"
#include "push_send.h"
#include "schedule.h"
#include "tenancy.h"
#include "workers.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

static SPIPlanPtr pick_plan = NULL;
static SPIPlanPtr run_plan = NULL;
static SPIPlanPtr advance_plan = NULL;
static SPIPlanPtr next_due_plan = NULL;

/* The occurrence's task, made as push_send makes one (run by pp_run_in_subtransaction). */
typedef struct Firing
{
	int32		app_id;
	Jsonb	   *push;
	PPTaskTiming timing;
	char	   *task_id;		/* out */
} Firing;

static void
make_task(void *arg)
{
	Firing	   *f = arg;
	PPPush		p;
	bool		inserted;

	pp_push_read(f->push, &p);
	pp_push_check(f->app_id, PP_RIGHTS_ALL, &p);
	f->task_id = pp_push_store(f->app_id, &p, &f->timing, &inserted);
}

bool
pp_schedule_fire_next(void)
{
	/*
	 * zone_type 2 occurrences are the wall time read at UTC+14, where it comes first: the task
	 * then gives each device that wall time in its own zone (send_rule "local"); the last
	 * devices (UTC-12) reach it 26 hours later, so the occurrence is late only once they are.
	 * An intelligent occurrence's devices are planned within the 24 hours that follow it.
	 */
	const char *pick =
		"SELECT s.schedule_id, s.app_id, s.push, s.next_run_at, s.created_by, "
		"  pushplan._schedule_next(s.trigger, a.tz, s.next_run_at, s.created_at), "
		"  pushplan.clock_now(), k.ttl, "
		"  CASE k.kind "
		"    WHEN 'local' THEN jsonb_build_object('local', to_char(s.next_run_at AT TIME ZONE "
		"      'Etc/GMT-14', 'YYYY-MM-DD HH24:MI:SS'))::text "
		"    WHEN 'intelligent' THEN jsonb_build_object('intelligent', jsonb_build_object("
		"      'window_start', s.next_run_at, "
		"      'backup_local', nullif(s.trigger #>> '{intelligent,backup_time}', 'now')))::text "
		"  END, "
		"  k.ttl > 0 AND s.next_run_at + k.ttl * interval '1 second' "
		"    + CASE k.kind WHEN 'local' THEN interval '26 hours' "
		"                  WHEN 'intelligent' THEN interval '24 hours' ELSE interval '0' END "
		"    < pushplan.clock_now() "
		"FROM pushplan.schedules s "
		"CROSS JOIN LATERAL (SELECT coalesce(settings->>'timezone', 'UTC') AS tz "
		"  FROM pushplan.apps WHERE app_id = s.app_id) a "
		"CROSS JOIN LATERAL (SELECT "
		"  CASE WHEN coalesce(s.trigger #>> '{single,zone_type}', "
		"                     s.trigger #>> '{periodical,zone_type}') = '2' THEN 'local' "
		"       WHEN s.trigger ? 'intelligent' THEN 'intelligent' END AS kind, "
		"  coalesce((s.push #>> '{body,options,time_to_live}')::bigint, 86400) AS ttl) k "
		"WHERE s.enabled AND s.next_run_at <= pushplan.clock_now() "
		"ORDER BY s.next_run_at LIMIT 1 FOR UPDATE OF s SKIP LOCKED";
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *schedule_id;
	int32		app_id;
	Jsonb	   *push;
	TimestampTz occurrence;
	Oid			created_by;
	Datum		following;
	bool		has_following;
	TimestampTz now;
	int64		ttl;
	char	   *send_rule;
	bool		late;
	const char *state = "fired";
	char	   *detail = NULL;
	char	   *task_id = NULL;
	Datum		args[6];
	Oid			types[6] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	char		nulls[6];

	if (pp_spi_run_kept(&pick_plan, "looking for due schedules", SPI_OK_SELECT, pick,
						0, NULL, NULL, NULL, false, 0) == 0)
		return false;
	tup = pp_spi_first_row("looking for due schedules");
	desc = SPI_tuptable->tupdesc;
	schedule_id = SPI_getvalue(tup, desc, 1);
	app_id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	push = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 3, &isnull));
	occurrence = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
	created_by = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
	if (isnull)
		created_by = InvalidOid;
	following = SPI_getbinval(tup, desc, 6, &isnull);
	has_following = !isnull;
	now = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull));
	ttl = DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
	send_rule = SPI_getvalue(tup, desc, 9);
	late = DatumGetBool(SPI_getbinval(tup, desc, 10, &isnull));

	if (has_following && DatumGetTimestampTz(following) <= now)
	{
		state = "missed";
		detail = "a later occurrence was due too: only the latest fires";
	}
	else if (late)
	{
		state = "missed";
		detail = psprintf("more than the push's time_to_live (%lld s) late", (long long) ttl);
	}

	/* the occurrence's record first: if it exists, this occurrence was handled already */
	memset(nulls, ' ', sizeof(nulls));
	args[0] = CStringGetTextDatum(schedule_id);
	args[1] = TimestampTzGetDatum(occurrence);
	args[2] = CStringGetTextDatum(state);
	args[3] = (Datum) 0;
	nulls[3] = 'n';
	args[4] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	nulls[4] = detail ? ' ' : 'n';
	args[5] = TimestampTzGetDatum(now);
	if (pp_spi_run_kept(&run_plan, "recording the occurrence", SPI_OK_INSERT,
						"INSERT INTO pushplan.schedule_runs (schedule_id, occurrence, state, task_id, "
						"  detail, fired_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
						6, types, args, nulls, false, 0) == 1 && strcmp(state, "fired") == 0)
	{
		Firing		f;

		memset(&f, 0, sizeof(f));
		f.app_id = app_id;
		f.push = push;
		f.timing.scheduled = true;
		f.timing.send_at = occurrence;
		f.timing.send_rule = send_rule;
		f.timing.created_by = created_by;
		detail = pp_run_in_subtransaction(make_task, &f);
		task_id = detail ? NULL : pstrdup(f.task_id);
		if (task_id == NULL)
		{
			state = "skipped";
			ereport(LOG, (errmsg("pushplan: schedule %s skipped its occurrence: %s",
								 schedule_id, detail)));
		}
		args[2] = CStringGetTextDatum(state);
		args[3] = task_id ? CStringGetTextDatum(task_id) : (Datum) 0;
		nulls[3] = task_id ? ' ' : 'n';
		args[4] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
		nulls[4] = detail ? ' ' : 'n';
		pp_spi_run("recording the firing", SPI_OK_UPDATE,
				   "UPDATE pushplan.schedule_runs SET state = $3, task_id = $4, detail = $5 "
				   "WHERE schedule_id = $1 AND occurrence = $2",
				   5, types, args, nulls, false, 0);
	}

	args[2] = BoolGetDatum(task_id != NULL);
	types[2] = BOOLOID;
	nulls[2] = ' ';
	args[3] = following;
	types[3] = TIMESTAMPTZOID;
	nulls[3] = has_following ? ' ' : 'n';
	pp_spi_run_kept(&advance_plan, "advancing the schedule", SPI_OK_UPDATE,
					"UPDATE pushplan.schedules SET next_run_at = $4, last_run_at = $2, "
					"  runs = runs + $3::int WHERE schedule_id = $1",
					4, types, args, nulls, false, 0);
	return true;
}

TimestampTz
pp_schedule_next_due(void)
{
	bool		isnull;
	Datum		d;

	pp_spi_run_kept(&next_due_plan, "looking for the next schedule", SPI_OK_SELECT,
					"SELECT least((SELECT min(next_run_at) FROM pushplan.schedules WHERE enabled), "
					"  (SELECT min(send_at) FROM pushplan.tasks WHERE state = 'queued')) "
					"  - pushplan.clock_now() + now()",
					0, NULL, NULL, NULL, true, 0);
	d = SPI_getbinval(pp_spi_first_row("looking for the next schedule"), SPI_tuptable->tupdesc,
					  1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}
