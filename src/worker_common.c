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
#include "layout.h"
#include "workers.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* The role every unit of work runs as (sql/api/90_roles.sql, push_worker_grants). */
#define PP_WORKER_ROLE "pushplan_worker"

static bool role_missing = false;	/* warned that PP_WORKER_ROLE does not exist */
static bool role_switched = false;	/* between pp_work_begin and pp_work_end */
static Oid	saved_user = InvalidOid;
static int	saved_sec_context = 0;

void
pp_worker_signals(void)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
}

/*
 * Connects to the worker's database (bgw_extra), pins search_path to pg_catalog, pg_temp and
 * turns JIT off.
 * The workers connect as the bootstrap superuser: with the default path ("$user", public), a
 * function or operator that anyone who may create in public planted there (public.format(text,
 * text), public.*(integer, interval): exact matches beat pg_catalog's inexact ones) would run as
 * superuser inside worker SQL. PGC_S_OVERRIDE outranks ALTER DATABASE / ALTER ROLE ... SET
 * search_path. Every pushplan object in worker SQL is schema-qualified.
 *
 * The session stays the bootstrap superuser's (PostgreSQL 15 connects a background worker only
 * as a role that can log in); the work itself runs as pushplan_worker (pp_work_begin).
 */
void
pp_worker_connect(void)
{
	BackgroundWorkerInitializeConnection(MyBgworkerEntry->bgw_extra, NULL, 0);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * No JIT: a worker runs the same short statements again and again, and LLVM compiles a plan
	 * anew at each execution whose estimate passes jit_above_cost (a table's statistics lagging
	 * its growth are enough). Loading LLVM alone cost the scheduler 30 MB of private memory
	 * within a minute of the soak (doc/reliability.md, "Soak"); the senders had it off already.
	 */
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_SESSION);
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

/*
 * The worker role's OID, locked for the rest of the transaction so that DROP ROLE waits for the
 * unit of work to end instead of pulling the role from under it; InvalidOid if there is no
 * such role. Looked up in every transaction (a syscache hit): a cached OID would outlive a
 * DROP ROLE. The first miss is a WARNING, the return a LOG line.
 */
static Oid
work_role(void)
{
	Oid			role = get_role_oid(PP_WORKER_ROLE, true);

	if (OidIsValid(role))
	{
		/* taking the lock reads pending invalidations: a role dropped meanwhile is gone now */
		LockSharedObject(AuthIdRelationId, role, 0, AccessShareLock);
		if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
			role = InvalidOid;
	}
	if (!OidIsValid(role) && !role_missing)
		ereport(WARNING,
				(errmsg("pushplan: role \"%s\" does not exist: this worker does no work until it does",
						PP_WORKER_ROLE),
				 errdetail("The workers do their work as that role, never as the superuser they connect as."),
				 errhint("As a superuser, run SELECT pushplan.push_worker_grants(); in database \"%s\".",
						 MyBgworkerEntry->bgw_extra)));
	else if (OidIsValid(role) && role_missing)
		ereport(LOG, (errmsg("pushplan: role \"%s\" exists again: resuming work", PP_WORKER_ROLE)));
	role_missing = !OidIsValid(role);
	return role;
}

/*
 * Whether this database has the extension, locked for the rest of the transaction as
 * DROP EXTENSION locks it: a drop waits for the unit of work to end, and one that committed
 * between pp_extension_ready and here is seen (the lock reads pending invalidations), so no
 * worker statement meets tables that are gone.
 */
static bool
work_extension_locked(void)
{
	Oid			ext = get_extension_oid("pushplan", true);

	if (!OidIsValid(ext))
		return false;
	LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
	return get_extension_oid("pushplan", true) == ext;
}

/*
 * Starts a unit of work: a transaction, SPI, a snapshot, and the switch to pushplan_worker, as
 * a security-restricted operation with a local user id change (so nothing in the work can SET
 * ROLE back, create temporary objects or otherwise outlive it). Reports `activity` if given.
 * Returns false, with no transaction open, if the role or the extension does not exist: the
 * work is skipped (the workers' loops find a dropped extension and wait for it).
 *
 * pp_work_end restores the user before it commits. An ERROR in between ends the process (a
 * background worker without its own error handler turns ERROR into FATAL), unless the caller
 * catches it and calls pp_work_abort (the senders' outcome writes do); a subtransaction's
 * abort (the scheduler's expansion) restores what was current when it began, the worker role;
 * and a top-level abort restores what was current when the transaction began. No path leaves
 * the next transaction running as pushplan_worker without a pp_work_begin.
 */
bool
pp_work_begin(const char *activity)
{
	Oid			role;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	role = work_extension_locked() ? work_role() : InvalidOid;
	if (!OidIsValid(role))
	{
		CommitTransactionCommand();
		return false;
	}
	GetUserIdAndSecContext(&saved_user, &saved_sec_context);
	SetUserIdAndSecContext(role, saved_sec_context | SECURITY_RESTRICTED_OPERATION |
						   SECURITY_LOCAL_USERID_CHANGE);
	role_switched = true;
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (activity)
		pgstat_report_activity(STATE_RUNNING, activity);
	return true;
}

/* Ends a unit of work begun by pp_work_begin: back to the session's user, then commit. */
void
pp_work_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	if (role_switched)
		SetUserIdAndSecContext(saved_user, saved_sec_context);
	role_switched = false;
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

/*
 * Ends a unit of work whose ERROR the caller caught (PG_CATCH, error state flushed): the
 * transaction is rolled back, which restores the user it began with and releases SPI and the
 * snapshot.
 */
void
pp_work_abort(void)
{
	AbortCurrentTransaction();
	role_switched = false;
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * In a PG_CATCH of a unit of work's ERROR: the error taken (in cxt, the context from before
 * the PG_TRY) and logged at elevel as "pushplan: <what> failed: <message>", then the unit of
 * work rolled back.
 */
void
pp_work_abort_logged(MemoryContext cxt, int elevel, const char *what)
{
	ErrorData  *ed;

	MemoryContextSwitchTo(cxt);
	ed = CopyErrorData();
	FlushErrorState();
	pp_work_abort();
	ereport(elevel, (errmsg("pushplan: %s failed: %s", what, ed->message)));
	FreeErrorData(ed);
}

/*
 * Runs fn(arg) in a subtransaction of the current unit of work. On an ERROR the subtransaction
 * is rolled back and the error's message returned (palloc'd in the caller's context), so that
 * one failing task or schedule is recorded as such instead of ending the worker; NULL when fn
 * succeeded.
 */
char *
pp_run_in_subtransaction(void (*fn) (void *arg), void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char	   *volatile failure = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
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
	}
	PG_END_TRY();
	return failure;
}

/*
 * Checks an SPI result code: anything but `expected` (SPI_OK_SELECT, SPI_OK_UPDATE, ...) is an
 * ERROR naming `what`. Returns SPI_processed.
 */
uint64
pp_spi_checked(int ret, const char *what, int expected)
{
	if (ret != expected)
		elog(ERROR, "pushplan: %s failed: %s", what, SPI_result_code_string(ret));
	return SPI_processed;
}

/* Runs one statement with SPI and checks its result code (pp_spi_checked). */
uint64
pp_spi_run(const char *what, int expected, const char *sql, int nargs, Oid *types, Datum *args,
		   const char *nulls, bool read_only, long count)
{
	return pp_spi_checked(SPI_execute_with_args(sql, nargs, types, args, nulls, read_only, count),
						  what, expected);
}

/*
 * A statement run again and again, prepared on first use and kept (SPI_keepplan) in *plan for
 * the process's life; the plan cache analyses it again after DDL, also when the extension is
 * dropped and created again. cursor_options: CURSOR_OPT_CUSTOM_PLAN (planned at each run, with
 * its parameters' values) or CURSOR_OPT_GENERIC_PLAN (planned once: for parameters whose values
 * would cost more to estimate than to run, such as a batch's 50,000 ids).
 */
SPIPlanPtr
pp_spi_keep(SPIPlanPtr *plan, const char *what, const char *sql, int nargs, Oid *types,
			int cursor_options)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, types, cursor_options);

		if (p == NULL)
			elog(ERROR, "pushplan: preparing %s failed: %s", what,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "pushplan: keeping the plan of %s failed", what);
		*plan = p;
	}
	return *plan;
}

/*
 * pp_spi_run for a statement a worker runs again and again (the scheduler's polls and upkeep),
 * kept by pp_spi_keep with custom plans: generic ones measured slower (doc/benchmarks.md, "Kept
 * plans"). The senders' outcome statement is kept with a generic plan instead
 * (run_batch_statement in src/worker_sender.c), the claim planned each time.
 */
uint64
pp_spi_run_kept(SPIPlanPtr *plan, const char *what, int expected, const char *sql, int nargs,
				Oid *types, Datum *args, const char *nulls, bool read_only, long count)
{
	pp_spi_keep(plan, what, sql, nargs, types, CURSOR_OPT_CUSTOM_PLAN);
	return pp_spi_checked(SPI_execute_plan(*plan, args, nulls, read_only, count), what, expected);
}

/*
 * pp_spi_run_kept with a generic plan made without sequential or bitmap scans: for a statement
 * run at every turn that must find its few rows by an index whatever the statistics said when
 * its plan was made (a table nearly empty then, large now). The settings hold while it runs,
 * so a plan made again after an invalidation is made with them too; an ERROR undoes them with
 * the transaction.
 */
uint64
pp_spi_run_kept_indexed(SPIPlanPtr *plan, const char *what, int expected, const char *sql,
						int nargs, Oid *types, Datum *args, const char *nulls, bool read_only,
						long count)
{
	int			nest = NewGUCNestLevel();
	uint64		n;

	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	pp_spi_keep(plan, what, sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	n = pp_spi_checked(SPI_execute_plan(*plan, args, nulls, read_only, count), what, expected);
	AtEOXact_GUC(true, nest);
	return n;
}

/*
 * pp_spi_run_kept for a statement whose text is put together at run time but repeats: a
 * transactional push's expansion (one text per kind of audience), a sender's look-up of a new
 * task. Kept by its text and parameter types, up to KEPT_BY_TEXT statements a process (the
 * others run as pp_spi_run); custom plans, so that only the parsing and analysis are saved,
 * never a plan made for other values or other statistics. pp_spi_run_kept_key keeps a generic
 * plan: for statements that read rows by the key their parameters give (a task by its id, a
 * transactional push's few devices by their ids), for which no other plan is worth its
 * planning at each run (push_send's planning was 43 % of its backend's CPU).
 */
#define KEPT_BY_TEXT 32

typedef struct KeptByText
{
	char	   *sql;
	int			nargs;
	Oid		   *types;
	int			cursor_options;
	SPIPlanPtr	plan;
} KeptByText;

static uint64
run_kept_by_text(const char *what, int expected, const char *sql, int nargs, Oid *types,
				 Datum *args, const char *nulls, bool read_only, long count, int cursor_options)
{
	static KeptByText kept[KEPT_BY_TEXT];
	static int	nkept = 0;
	KeptByText *k = NULL;

	for (int i = 0; i < nkept && k == NULL; i++)
		if (kept[i].nargs == nargs && kept[i].cursor_options == cursor_options &&
			strcmp(kept[i].sql, sql) == 0 &&
			(nargs == 0 || memcmp(kept[i].types, types, sizeof(Oid) * nargs) == 0))
			k = &kept[i];
	if (k == NULL)
	{
		if (nkept == KEPT_BY_TEXT)
			return pp_spi_run(what, expected, sql, nargs, types, args, nulls, read_only, count);
		k = &kept[nkept];
		k->plan = NULL;
		k->cursor_options = cursor_options;
		pp_spi_keep(&k->plan, what, sql, nargs, types, cursor_options);
		/* (only once the statement is prepared: one that fails is not kept) */
		k->sql = MemoryContextStrdup(TopMemoryContext, sql);
		k->nargs = nargs;
		k->types = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(nargs, 1));
		memcpy(k->types, types, sizeof(Oid) * nargs);
		nkept++;
	}
	return pp_spi_checked(SPI_execute_plan(k->plan, args, nulls, read_only, count), what, expected);
}

uint64
pp_spi_run_kept_text(const char *what, int expected, const char *sql, int nargs, Oid *types,
					 Datum *args, const char *nulls, bool read_only, long count)
{
	return run_kept_by_text(what, expected, sql, nargs, types, args, nulls, read_only, count,
							CURSOR_OPT_CUSTOM_PLAN);
}

uint64
pp_spi_run_kept_key(const char *what, int expected, const char *sql, int nargs, Oid *types,
					Datum *args, const char *nulls, bool read_only, long count)
{
	return run_kept_by_text(what, expected, sql, nargs, types, args, nulls, read_only, count,
							CURSOR_OPT_GENERIC_PLAN);
}

/*
 * A statement that reads and writes rows by the keys its parameters give (push_send's, a
 * transactional push's expansion): kept with a generic plan on one node. Citus makes no
 * distributed plan of a generic INSERT ... SELECT into a reference table ("could not create
 * distributed plan"): on the distributed layout it is kept by its text and planned for its values.
 */
uint64
pp_spi_run_keyed(const char *what, int expected, const char *sql, int nargs, Oid *types,
				 Datum *args, const char *nulls, bool read_only, long count)
{
	return run_kept_by_text(what, expected, sql, nargs, types, args, nulls, read_only, count,
							pp_registry_distributed_xact() ? CURSOR_OPT_CUSTOM_PLAN :
							CURSOR_OPT_GENERIC_PLAN);
}

/* The first row of the last SPI result; an ERROR naming `what` if it returned none. */
HeapTuple
pp_spi_first_row(const char *what)
{
	if (SPI_tuptable == NULL || SPI_processed == 0)
		elog(ERROR, "pushplan: %s returned no row", what);
	return SPI_tuptable->vals[0];
}

/* An int8[] of v[0..n-1], in the current memory context. */
Datum
pp_int8_array(int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
