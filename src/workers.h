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

#include "access/htup.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "port/atomics.h"
#include "storage/lwlock.h"

#define PP_MAX_DATABASES	16
#define PP_MAX_SENDERS		32
#define PP_MAX_EXPRESS		4	/* express senders: the high lane only */

#include "settings.h"

/*
 * SQL: true while task t (an alias in the enclosing query) has a delivery_queue row, i.e. a
 * delivery queued or in flight, or a send plan not due yet (delivery_plans). Ordered by the
 * whole key, descending, so that only a backward scan of delivery_queue's primary key answers
 * it: from the end, where the rows not sent yet are. (An equality probe alone let the planner
 * pick a sequential or a delivery_id scan that waded through the deleted rows of what was
 * sent.) The send plans' probe is a scalar subquery too: an EXISTS may be planned as one scan
 * of all the send plans, hashed (at a million devices, 10,000 rows for each statement). Used by
 * the senders and the scheduler, on one node.
 */
#define PP_TASK_HAS_OPEN_DELIVERIES \
	"((SELECT q.delivery_id FROM pushplan.delivery_queue q WHERE q.task_id = t.task_id " \
	" ORDER BY q.task_id DESC, q.delivery_id DESC LIMIT 1) IS NOT NULL " \
	" OR (SELECT p.plan_id FROM pushplan.delivery_plans p WHERE p.task_id = t.task_id " \
	" LIMIT 1) IS NOT NULL)"

/*
 * Lanes (tasks.priority, delivery_queue.priority), claimed in this order: high (transactional
 * pushes, and pushes that ask for it), normal (broadcasts), low (doc/push.md, "Priority").
 */
#define PP_LANE_HIGH	0
#define PP_LANE_NORMAL	1
#define PP_LANE_LOW		2

/*
 * Roles of a database's workers: the scheduler, senders 0 .. PP_MAX_SENDERS - 1, then the
 * express senders PP_MAX_SENDERS .. PP_ROLE_END - 1 (pushplan.express_senders of them), which
 * claim only the high lane: a sender busy with a broadcast is in a claim or an outcome
 * statement much of the time, an idle express sender answers a commit's wake-up at once.
 */
#define PP_ROLE_SCHEDULER	(-1)
#define PP_ROLE_END			(PP_MAX_SENDERS + PP_MAX_EXPRESS)	/* one past the last role */
#define PP_ROLES			(PP_ROLE_END + 1)
#define PP_ROLE_INDEX(role)	((role) + 1)
#define PP_ROLE_IS_EXPRESS(role)	((role) >= PP_MAX_SENDERS)

/*
 * One database served by a scheduler and its senders. A worker holds its role by writing its
 * PGPROC number and pid here; a second worker for the same role finds a live holder and exits
 * with code 0 (unregistered). The launcher reads the holders to know what runs, whoever
 * started it.
 */
typedef struct PPDatabaseSlot
{
	Oid			dboid;			/* InvalidOid: free */
	pg_atomic_uint32 scheduler_wake;	/* 1: a wake-up is pending */
	pg_atomic_uint32 express_wake;	/* 1: high-lane deliveries were queued: claim them now */
	int			procno[PP_ROLES];	/* -1 while that role is down */
	int			pid[PP_ROLES];
} PPDatabaseSlot;

typedef struct PPShared
{
	LWLock	   *lock;			/* slot assignment */
	/* the test clock's lead over the real one, in microseconds (src/clock.c); 0 in production */
	pg_atomic_uint64 clock_offset;
	PPDatabaseSlot db[PP_MAX_DATABASES];
} PPShared;

/* shared_state.c */
extern PPShared *pp_shared;
extern void pp_shared_request(void);
extern void pp_shared_startup(void);
extern PPDatabaseSlot *pp_database_slot(Oid dboid);
extern PPDatabaseSlot *pp_slot_claim(int role);
extern int	pp_slot_holder(PPDatabaseSlot *slot, int role);
extern void pp_wake_scheduler_at_commit(void);
extern void pp_wake_slot_scheduler(PPDatabaseSlot *slot);
extern void pp_wake_slot_senders(PPDatabaseSlot *slot, bool express);
extern void pp_wake_senders_at_commit(bool express);

/* clock.c: now() as schedules and due deliveries see it (a test may move it forward) */
extern TimestampTz pp_clock_now(void);
extern TimestampTz pp_clock_current(void);

/* worker_launcher.c, worker_scheduler.c, worker_sender.c: background worker entry points */
extern PGDLLEXPORT void pushplan_launcher_main(Datum arg);
extern PGDLLEXPORT void pushplan_scheduler_main(Datum arg);
extern PGDLLEXPORT void pushplan_sender_main(Datum arg);
extern void pp_register_launcher(void);

/* worker_common.c */
extern void pp_worker_signals(void);
extern void pp_worker_connect(void);
extern bool pp_worker_reload_and_check(void);
extern bool pp_extension_ready(void);
extern bool pp_work_begin(const char *activity);
extern void pp_work_end(void);
/* after a caught ERROR inside a unit of work: roll it back */
extern void pp_work_abort(void);
/* in a PG_CATCH: the ERROR logged at elevel as "pushplan: <what> failed: ...", then rolled back */
extern void pp_work_abort_logged(MemoryContext cxt, int elevel, const char *what);
/* fn(arg) in a subtransaction: NULL, or the message of the ERROR it raised (rolled back) */
extern char *pp_run_in_subtransaction(void (*fn) (void *arg), void *arg);
extern uint64 pp_spi_checked(int ret, const char *what, int expected);
extern SPIPlanPtr pp_spi_keep(SPIPlanPtr *plan, const char *what, const char *sql, int nargs,
							  Oid *types, int cursor_options);
extern uint64 pp_spi_run(const char *what, int expected, const char *sql, int nargs, Oid *types,
						 Datum *args, const char *nulls, bool read_only, long count);
/* the same for a statement run again and again: prepared once, kept in *plan */
extern uint64 pp_spi_run_kept(SPIPlanPtr *plan, const char *what, int expected, const char *sql,
							  int nargs, Oid *types, Datum *args, const char *nulls,
							  bool read_only, long count);
extern uint64 pp_spi_run_kept_indexed(SPIPlanPtr *plan, const char *what, int expected,
									  const char *sql, int nargs, Oid *types, Datum *args,
									  const char *nulls, bool read_only, long count);
extern uint64 pp_spi_run_kept_text(const char *what, int expected, const char *sql, int nargs,
								   Oid *types, Datum *args, const char *nulls, bool read_only,
								   long count);
/* ... with a generic plan: for statements that read rows by the keys their parameters give */
extern uint64 pp_spi_run_kept_key(const char *what, int expected, const char *sql, int nargs,
								  Oid *types, Datum *args, const char *nulls, bool read_only,
								  long count);
extern uint64 pp_spi_run_keyed(const char *what, int expected, const char *sql, int nargs,
							   Oid *types, Datum *args, const char *nulls, bool read_only,
							   long count);
extern HeapTuple pp_spi_first_row(const char *what);
extern Datum pp_int8_array(int64 *v, int n);

#endif							/* PUSHPLAN_WORKERS_H */
