/*
 * workers.h: the background workers (launcher, scheduler, sender), their settings and the
 * shared memory through which backends wake them.
 *
 * One launcher (static worker) starts, for every database in pushplan.databases, one scheduler
 * and pushplan.senders senders (dynamic workers). A backend whose transaction created work sets
 * its database's wake flag at commit and, if it was the one to set it, the scheduler's latch.
 */
#ifndef PUSHPLAN_WORKERS_H
#define PUSHPLAN_WORKERS_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/lwlock.h"

#define PP_MAX_DATABASES	16
#define PP_MAX_SENDERS		32

/* GUCs (pushplan.c) */
extern char *pp_databases;
extern int	pp_senders;
extern int	pp_batch_size;
extern int	pp_max_inflight;
extern int	pp_poll_interval;
extern int	pp_max_attempts;
extern int	pp_retry_max_backoff;

/* One database served by a scheduler and its senders. */
typedef struct PPDatabaseSlot
{
	Oid			dboid;			/* InvalidOid: free */
	int			scheduler_procno;	/* -1 while no scheduler runs */
	pg_atomic_uint32 scheduler_wake;	/* 1: a wake-up is pending */
	pg_atomic_uint32 senders_wake;
	int			sender_procno[PP_MAX_SENDERS];	/* -1 while that sender is down */
} PPDatabaseSlot;

typedef struct PPShared
{
	LWLock	   *lock;			/* slot assignment */
	PPDatabaseSlot db[PP_MAX_DATABASES];
} PPShared;

/* shared_state.c */
extern PPShared *pp_shared;
extern void pp_shared_request(void);
extern void pp_shared_startup(void);
extern PPDatabaseSlot *pp_database_slot(Oid dboid, bool create);
extern void pp_wake_scheduler_at_commit(void);
extern void pp_wake_slot_scheduler(PPDatabaseSlot *slot);
extern void pp_wake_slot_senders(PPDatabaseSlot *slot);

/* launcher.c, scheduler.c, sender.c: background worker entry points */
extern PGDLLEXPORT void pushplan_launcher_main(Datum arg);
extern PGDLLEXPORT void pushplan_scheduler_main(Datum arg);
extern PGDLLEXPORT void pushplan_sender_main(Datum arg);
extern void pp_register_launcher(void);

/* worker_common.c */
extern void pp_worker_signals(void);
extern bool pp_worker_reload_and_check(void);
extern bool pp_extension_ready(void);

#endif							/* PUSHPLAN_WORKERS_H */
