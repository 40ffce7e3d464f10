/*
 * worker_launcher.c: the static background worker that starts one scheduler, pushplan.senders
 * senders and pushplan.express_senders express senders for every database named in
 * pushplan.databases, and keeps that set in line with the
 * configuration on SIGHUP (as TimescaleDB's launcher does, unlike single-database pg_cron).
 *
 * The launcher is the only supervisor of the workers it starts. They are registered with
 * BGW_NEVER_RESTART, so a crash-restart of the server forgets them and the new launcher starts
 * one fresh set (with a restart time, the postmaster would bring back the old set too, and the
 * new launcher could not stop workers it holds no handle for). The launcher restarts a worker
 * that stopped (SIGTERM, error, DROP DATABASE ... WITH (FORCE)) WORKER_RESTART_SECONDS after it
 * stopped.
 *
 * What runs is read from the shared slots (workers.h), not from the launcher's handles: a
 * launcher restarted alone (it exits with code 1 on SIGTERM or an error) adopts the workers of
 * its predecessor, and stops them by pid when the configuration no longer wants them.
 *
 * The launcher connects to no database but reads the shared catalog pg_database, so a listed
 * database that does not exist (yet, or any more) is reported once and skipped, not retried in
 * a loop of failing connections.
 */
#include "pushplan.h"
#include "workers.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#define WORKER_RESTART_SECONDS	5
#define LAUNCHER_RESTART_SECONDS 5
#define RECHECK_MS				2000	/* backstop for workers that stop without telling us */

/* A (database, role) the launcher has started or will start. */
typedef struct LaunchedWorker
{
	Oid			dboid;
	char		dbname[NAMEDATALEN];
	int			role;			/* PP_ROLE_SCHEDULER or a sender number */
	BackgroundWorkerHandle *handle; /* NULL: none of ours is registered */
	bool		ever_ran;		/* started or seen running: a stop delays the next start */
	TimestampTz stopped_at;		/* when it was first seen stopped, 0 while it runs */
} LaunchedWorker;

typedef struct WantedDb
{
	Oid			dboid;
	char		dbname[NAMEDATALEN];
} WantedDb;

static LaunchedWorker launched[PP_MAX_DATABASES * PP_ROLES];
static int	nlaunched = 0;

/* Listed databases that do not exist, already reported (reported again once they reappear). */
static char missing[PP_MAX_DATABASES][NAMEDATALEN];
static int	nmissing = 0;

static int	nrunning = 0;		/* for the activity text */

void
pp_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	/* a database connection (to none) puts the launcher in pg_stat_activity */
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;	/* primaries only */
	worker.bgw_restart_time = LAUNCHER_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pushplan");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pushplan_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pushplan launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pushplan launcher");
	RegisterBackgroundWorker(&worker);
}

static bool
start_worker(LaunchedWorker *w)
{
	BackgroundWorker worker;
	MemoryContext old;
	bool		ok;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher restarts it */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pushplan");
	if (w->role == PP_ROLE_SCHEDULER)
	{
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "pushplan_scheduler_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "pushplan scheduler %s", w->dbname);
		snprintf(worker.bgw_type, BGW_MAXLEN, "pushplan scheduler");
	}
	else if (PP_ROLE_IS_EXPRESS(w->role))
	{
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "pushplan_sender_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "pushplan express sender %d %s",
				 w->role - PP_MAX_SENDERS, w->dbname);
		snprintf(worker.bgw_type, BGW_MAXLEN, "pushplan express sender");
	}
	else
	{
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "pushplan_sender_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "pushplan sender %d %s", w->role, w->dbname);
		snprintf(worker.bgw_type, BGW_MAXLEN, "pushplan sender");
	}
	worker.bgw_main_arg = Int32GetDatum(w->role);
	strlcpy(worker.bgw_extra, w->dbname, BGW_EXTRALEN);
	worker.bgw_notify_pid = MyProcPid;	/* SIGUSR1 (our latch) when it starts or stops */

	w->ever_ran = true;
	w->stopped_at = 0;
	/* the handle lives as long as the worker, not in the per-round context */
	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &w->handle);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		w->handle = NULL;
		ereport(WARNING,
				(errmsg("pushplan: could not start %s for database \"%s\"",
						w->role == PP_ROLE_SCHEDULER ? "the scheduler" : "a sender", w->dbname),
				 errhint("Raise max_worker_processes.")));
		return false;
	}
	return true;
}

/*
 * The OID of a database, by a heap scan of pg_database: the launcher has no database, and an
 * index scan (get_database_oid) would need pg_class to build the index's relcache entry, which
 * a fresh cluster has not cached yet (global/pg_internal.init), as the autovacuum launcher
 * knows. Caller runs a transaction.
 */
static Oid
database_oid(Relation rel, const char *dbname)
{
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	Oid			dboid = InvalidOid;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), dbname) == 0)
		{
			dboid = db->oid;
			break;
		}
	}
	table_endscan(scan);
	return dboid;
}

static bool
was_missing(const char *dbname)
{
	for (int i = 0; i < nmissing; i++)
		if (strcmp(missing[i], dbname) == 0)
			return true;
	return false;
}

/*
 * The databases of pushplan.databases that exist (at most PP_MAX_DATABASES), with their OIDs
 * read from pg_database (a database dropped and created again has a new OID).
 */
static int
wanted_databases(WantedDb *out)
{
	char	   *raw = pstrdup(pp_databases ? pp_databases : "");
	List	   *names = NIL;
	ListCell   *lc;
	int			n = 0;
	char		now_missing[PP_MAX_DATABASES][NAMEDATALEN];
	int			nnow = 0;
	Relation	rel;
	MemoryContext cxt = CurrentMemoryContext;

	if (!SplitIdentifierString(raw, ',', &names))
	{
		ereport(WARNING, (errmsg("pushplan: pushplan.databases is not a list of database names")));
		return 0;
	}
	if (list_length(names) > PP_MAX_DATABASES)
	{
		ereport(WARNING,
				(errmsg("pushplan: serving only the first %d databases of pushplan.databases",
						PP_MAX_DATABASES)));
		names = list_truncate(names, PP_MAX_DATABASES);
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) MemoryContextSwitchTo(cxt);	/* the names stay valid after the commit */
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		Oid			dboid = database_oid(rel, name);

		if (OidIsValid(dboid))
		{
			out[n].dboid = dboid;
			strlcpy(out[n].dbname, name, NAMEDATALEN);
			n++;
			continue;
		}
		if (!was_missing(name))
			ereport(WARNING,
					(errmsg("pushplan: database \"%s\" of pushplan.databases does not exist", name),
					 errdetail("It is served once it is created."),
					 errhint("Remove it from pushplan.databases if it was dropped.")));
		strlcpy(now_missing[nnow++], name, NAMEDATALEN);
	}
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	(void) MemoryContextSwitchTo(cxt);

	memcpy(missing, now_missing, sizeof(missing[0]) * nnow);
	nmissing = nnow;
	return n;
}

/* Whether the configuration wants a role in every served database. */
static bool
role_wanted(int role)
{
	if (role == PP_ROLE_SCHEDULER)
		return true;
	if (PP_ROLE_IS_EXPRESS(role))
		return role - PP_MAX_SENDERS < pp_express_senders;
	return role < pp_senders;
}

static bool
is_wanted(WantedDb *dbs, int ndbs, Oid dboid, int role)
{
	if (!role_wanted(role))
		return false;
	for (int i = 0; i < ndbs; i++)
		if (dbs[i].dboid == dboid)
			return true;
	return false;
}

static LaunchedWorker *
find_launched(Oid dboid, int role)
{
	for (int i = 0; i < nlaunched; i++)
		if (launched[i].dboid == dboid && launched[i].role == role)
			return &launched[i];
	return NULL;
}

static void
forget_handle(LaunchedWorker *w)
{
	if (w->handle)
	{
		pfree(w->handle);
		w->handle = NULL;
	}
}

/*
 * Stops the workers no longer wanted (ours through their handles, anyone else's by pid) and
 * starts the missing ones. Returns the number of roles that run or are starting.
 */
static int
reconcile(void)
{
	WantedDb	dbs[PP_MAX_DATABASES];
	int			ndbs = wanted_databases(dbs);
	int			kept = 0;
	int			running = 0;
	TimestampTz now = GetCurrentTimestamp();

	/* ours that are no longer wanted */
	for (int i = 0; i < nlaunched; i++)
	{
		if (is_wanted(dbs, ndbs, launched[i].dboid, launched[i].role))
			launched[kept++] = launched[i];
		else if (launched[i].handle)
		{
			TerminateBackgroundWorker(launched[i].handle);
			forget_handle(&launched[i]);
		}
	}
	nlaunched = kept;

	/* anyone still holding an unwanted role: a predecessor's worker, or ours just told to stop */
	for (int i = 0; i < PP_MAX_DATABASES; i++)
	{
		PPDatabaseSlot *slot = &pp_shared->db[i];

		if (slot->dboid == InvalidOid)
			continue;
		for (int role = PP_ROLE_SCHEDULER; role < PP_ROLE_END; role++)
		{
			int			pid;

			if (is_wanted(dbs, ndbs, slot->dboid, role))
				continue;
			if ((pid = pp_slot_holder(slot, role)) != 0)
				(void) kill(pid, SIGTERM);	/* finishes its batch, exits */
		}
	}

	/* start what is missing */
	for (int d = 0; d < ndbs; d++)
	{
		PPDatabaseSlot *slot = pp_database_slot(dbs[d].dboid);

		for (int role = PP_ROLE_SCHEDULER; role < PP_ROLE_END; role++)
		{
			LaunchedWorker *w;
			pid_t		pid;

			if (!role_wanted(role))
				continue;
			w = find_launched(dbs[d].dboid, role);

			if (w == NULL)
			{
				if (nlaunched >= lengthof(launched))
					continue;
				w = &launched[nlaunched++];
				memset(w, 0, sizeof(*w));
				w->dboid = dbs[d].dboid;
				w->role = role;
			}
			strlcpy(w->dbname, dbs[d].dbname, NAMEDATALEN);

			if (slot && pp_slot_holder(slot, role) != 0)
			{
				running++;		/* ours, or adopted */
				w->ever_ran = true;
				w->stopped_at = 0;
				continue;
			}
			if (w->handle)
			{
				BgwHandleStatus st = GetBackgroundWorkerPid(w->handle, &pid);

				if (st == BGWH_POSTMASTER_DIED)
					proc_exit(1);
				if (st != BGWH_STOPPED)
				{
					running++;	/* starting, not yet in its slot */
					continue;
				}
				forget_handle(w);
			}


			/*
			 * A worker that stopped is started again WORKER_RESTART_SECONDS later, not at once:
			 * a DROP DATABASE ... WITH (FORCE) that stopped it has committed by then, and the
			 * database is found missing instead of failing a connection.
			 */
			if (w->ever_ran)
			{
				if (w->stopped_at == 0)
					w->stopped_at = now;
				if (!TimestampDifferenceExceeds(w->stopped_at, now, WORKER_RESTART_SECONDS * 1000))
					continue;
			}
			if (start_worker(w))
				running++;
		}
	}
	return running;
}

void
pushplan_launcher_main(Datum arg)
{
	MemoryContext cxt;

	pp_worker_signals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	cxt = AllocSetContextCreate(TopMemoryContext, "pushplan launcher", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		MemoryContext old;
		char		activity[64];

		if (pp_worker_reload_and_check())
			break;
		pgstat_report_activity(STATE_RUNNING, "pushplan launcher: starting and stopping workers");
		old = MemoryContextSwitchTo(cxt);
		nrunning = reconcile();
		MemoryContextSwitchTo(old);
		MemoryContextReset(cxt);

		snprintf(activity, sizeof(activity), "pushplan launcher: %d workers", nrunning);
		pgstat_report_activity(STATE_IDLE, activity);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 RECHECK_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	/*
	 * Exit code 1: the postmaster starts a new launcher after LAUNCHER_RESTART_SECONDS (unless
	 * the server is shutting down), which adopts the workers that keep running meanwhile.
	 */
	ereport(LOG, (errmsg("pushplan launcher stopping; its workers keep running")));
	proc_exit(1);
}
