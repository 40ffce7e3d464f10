/*
 * worker_common.c: what every pushplan background worker does the same way.
 *
 * SIGTERM asks for a clean stop (the batch in flight is finished first), SIGHUP reloads the
 * configuration; postmaster death ends the wait loops (WL_EXIT_ON_PM_DEATH) and the busy loops
 * (pp_worker_reload_and_check). SIGUSR1 keeps PostgreSQL's handler for database-connected
 * workers (procsignal_sigusr1_handler), which sets the latch: a sleeping worker wakes for
 * DROP DATABASE's barrier and for the launcher's start/stop notifications.
 */
#include "pushplan.h"
#include "workers.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

void
pp_worker_signals(void)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
}

/*
 * Connects to the worker's database (bgw_extra) and pins search_path to pg_catalog, pg_temp.
 * The workers connect as the bootstrap superuser: with the default path ("$user", public), a
 * function or operator that anyone who may create in public planted there (public.format(text,
 * text), public.*(integer, interval): exact matches beat pg_catalog's inexact ones) would run as
 * superuser inside worker SQL. PGC_S_OVERRIDE outranks ALTER DATABASE / ALTER ROLE ... SET
 * search_path. Every pushplan object in worker SQL is schema-qualified.
 */
void
pp_worker_connect(void)
{
	BackgroundWorkerInitializeConnection(MyBgworkerEntry->bgw_extra, NULL, 0);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
}

/* Reloads the configuration if asked; returns true when the worker should stop. */
bool
pp_worker_reload_and_check(void)
{
	CHECK_FOR_INTERRUPTS();
	if (!PostmasterIsAlive())
		proc_exit(1);			/* nobody to report to: stop now, send nothing more */
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
	return ShutdownRequestPending;
}

/*
 * Whether this database has the extension (a database may be listed in pushplan.databases
 * before CREATE EXTENSION, or after DROP EXTENSION). Runs in its own short transaction.
 */
bool
pp_extension_ready(void)
{
	bool		ready;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	ready = OidIsValid(get_extension_oid("pushplan", true));
	PopActiveSnapshot();
	CommitTransactionCommand();
	return ready;
}

/* Starts a unit of work: a transaction, SPI and a snapshot. Reports `activity` if given. */
void
pp_work_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (activity)
		pgstat_report_activity(STATE_RUNNING, activity);
}

/* Ends a unit of work begun by pp_work_begin: commit. */
void
pp_work_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

/*
 * Runs one statement with SPI and checks its result code: anything but `expected` (SPI_OK_SELECT,
 * SPI_OK_UPDATE, ...) is an ERROR naming `what`. Returns SPI_processed.
 */
uint64
pp_spi_run(const char *what, int expected, const char *sql, int nargs, Oid *types, Datum *args,
		   const char *nulls, bool read_only, long count)
{
	int			ret = SPI_execute_with_args(sql, nargs, types, args, nulls, read_only, count);

	if (ret != expected)
		elog(ERROR, "pushplan: %s failed: %s", what, SPI_result_code_string(ret));
	return SPI_processed;
}

/* The first row of the last SPI result; an ERROR naming `what` if it returned none. */
HeapTuple
pp_spi_first_row(const char *what)
{
	if (SPI_tuptable == NULL || SPI_processed == 0)
		elog(ERROR, "pushplan: %s returned no row", what);
	return SPI_tuptable->vals[0];
}
