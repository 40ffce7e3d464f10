/*
 * launcher.c: the static background worker that starts one scheduler and pushplan.senders
 * senders for every database named in pushplan.databases, and keeps that set in line with the
 * configuration on SIGHUP (as TimescaleDB's launcher does, unlike single-database pg_cron).
 *
 * Crashed workers are restarted by the postmaster (bgw_restart_time); the launcher only adds
 * and removes workers when the configuration changes.
 */
#include "pushplan.h"
#include "workers.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#define WORKER_RESTART_SECONDS	5

/* The workers this launcher started: role -1 is a scheduler, 0..n-1 the senders. */
typedef struct LaunchedWorker
{
	char		dbname[NAMEDATALEN];
	int			role;
	BackgroundWorkerHandle *handle;
} LaunchedWorker;

static LaunchedWorker launched[PP_MAX_DATABASES * (PP_MAX_SENDERS + 1)];
static int	nlaunched = 0;

void
pp_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;	/* primaries only */
	worker.bgw_restart_time = WORKER_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pushplan");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pushplan_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pushplan launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pushplan launcher");
	RegisterBackgroundWorker(&worker);
}

static bool
start_worker(const char *dbname, int role, LaunchedWorker *out)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = WORKER_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pushplan");
	if (role < 0)
	{
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "pushplan_scheduler_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "pushplan scheduler %s", dbname);
		snprintf(worker.bgw_type, BGW_MAXLEN, "pushplan scheduler");
	}
	else
	{
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "pushplan_sender_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "pushplan sender %d %s", role, dbname);
		snprintf(worker.bgw_type, BGW_MAXLEN, "pushplan sender");
	}
	worker.bgw_main_arg = Int32GetDatum(role);
	strlcpy(worker.bgw_extra, dbname, BGW_EXTRALEN);
	worker.bgw_notify_pid = MyProcPid;

	strlcpy(out->dbname, dbname, NAMEDATALEN);
	out->role = role;
	if (!RegisterDynamicBackgroundWorker(&worker, &out->handle))
	{
		ereport(WARNING,
				(errmsg("pushplan: could not start %s for database \"%s\"",
						role < 0 ? "scheduler" : "sender", dbname),
				 errhint("Raise max_worker_processes.")));
		return false;
	}
	return true;
}

/* The databases of pushplan.databases (at most PP_MAX_DATABASES). */
static List *
wanted_databases(void)
{
	char	   *raw = pstrdup(pp_databases ? pp_databases : "");
	List	   *names = NIL;

	if (!SplitIdentifierString(raw, ',', &names))
	{
		ereport(WARNING, (errmsg("pushplan: pushplan.databases is not a list of database names")));
		return NIL;
	}
	if (list_length(names) > PP_MAX_DATABASES)
	{
		ereport(WARNING,
				(errmsg("pushplan: serving only the first %d databases of pushplan.databases",
						PP_MAX_DATABASES)));
		names = list_truncate(names, PP_MAX_DATABASES);
	}
	return names;
}

static bool
is_wanted(List *dbs, const char *dbname, int role)
{
	ListCell   *lc;

	if (role >= pp_senders)
		return false;
	foreach(lc, dbs)
		if (strcmp((char *) lfirst(lc), dbname) == 0)
			return true;
	return false;
}

/* Stops the workers no longer wanted and starts the missing ones. */
static void
reconcile(void)
{
	List	   *dbs = wanted_databases();
	ListCell   *lc;
	int			kept = 0;

	for (int i = 0; i < nlaunched; i++)
	{
		if (is_wanted(dbs, launched[i].dbname, launched[i].role))
			launched[kept++] = launched[i];
		else
		{
			TerminateBackgroundWorker(launched[i].handle);
			pfree(launched[i].handle);
		}
	}
	nlaunched = kept;

	foreach(lc, dbs)
	{
		const char *dbname = lfirst(lc);

		for (int role = -1; role < pp_senders; role++)
		{
			bool		running = false;

			for (int i = 0; i < nlaunched && !running; i++)
				running = launched[i].role == role && strcmp(launched[i].dbname, dbname) == 0;
			if (!running && nlaunched < lengthof(launched) &&
				start_worker(dbname, role, &launched[nlaunched]))
				nlaunched++;
		}
	}
}

void
pushplan_launcher_main(Datum arg)
{
	pp_worker_signals();
	pgstat_report_activity(STATE_RUNNING, "starting schedulers and senders");
	reconcile();

	for (;;)
	{
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			pgstat_report_activity(STATE_RUNNING, "applying pushplan.databases and pushplan.senders");
			reconcile();
		}
	}
	proc_exit(0);
}
