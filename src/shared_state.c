/*
 * shared_state.c: shared memory of the workers and the wake-up on commit.
 *
 * Work created by SQL (push_send, schedules) must start at COMMIT, not at the next poll, and
 * work that rolls back must wake nobody. A backend that creates work marks it with
 * pp_wake_scheduler_at_commit(); a transaction callback, registered once per backend, sees the
 * COMMIT and wakes the scheduler of the backend's database. The wake flag is an atomic in shared
 * memory: only the backend that turns it from 0 to 1 sets the latch, so a burst of commits costs
 * the scheduler one wake-up. The scheduler clears the flag before it looks for work.
 *
 * push_send queues the deliveries of a small list push itself; such a transaction wakes the
 * senders instead (pp_wake_senders_at_commit), and when the push is in the high lane it also
 * raises the express flag, which a busy sender looks at between two polls of its transfers and
 * answers with a claim of the high lane alone, whether or not it has room (worker_sender.c).
 */
#include "pushplan.h"
#include "workers.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"

PG_FUNCTION_INFO_V1(pushplan_wake_scheduler);
PG_FUNCTION_INFO_V1(pushplan_wake_senders);

PPShared   *pp_shared = NULL;

static bool wake_pending = false;	/* this transaction created work for the scheduler */
static bool senders_pending = false;	/* ... queued deliveries */
static bool express_pending = false;	/* ... in the high lane */
static bool callback_registered = false;

void
pp_shared_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(PPShared)));
	RequestNamedLWLockTranche("pushplan", 1);
}

void
pp_shared_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pp_shared = ShmemInitStruct("pushplan", sizeof(PPShared), &found);
	if (!found)
	{
		memset(pp_shared, 0, sizeof(PPShared));
		pp_shared->lock = &(GetNamedLWLockTranche("pushplan"))->lock;
		pg_atomic_init_u64(&pp_shared->clock_offset, 0);
		for (int i = 0; i < PP_MAX_DATABASES; i++)
		{
			PPDatabaseSlot *slot = &pp_shared->db[i];

			slot->dboid = InvalidOid;
			pg_atomic_init_u32(&slot->scheduler_wake, 0);
			pg_atomic_init_u32(&slot->express_wake, 0);
			for (int j = 0; j < PP_ROLES; j++)
			{
				slot->procno[j] = -1;
				slot->pid[j] = 0;
			}
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The pid of the live process holding a role index of a slot, or 0. Caller holds the lock. */
static int
holder_locked(PPDatabaseSlot *slot, int idx)
{
	int			procno = slot->procno[idx];

	if (procno < 0 || ProcGlobal->allProcs[procno].pid != slot->pid[idx])
		return 0;
	return slot->pid[idx];
}

/* The live process serving a role of a database, or 0. */
int
pp_slot_holder(PPDatabaseSlot *slot, int role)
{
	int			pid;

	LWLockAcquire(pp_shared->lock, LW_SHARED);
	pid = holder_locked(slot, PP_ROLE_INDEX(role));
	LWLockRelease(pp_shared->lock);
	return pid;
}

/* The slot of a database, or NULL if no worker ever served it. */
PPDatabaseSlot *
pp_database_slot(Oid dboid)
{
	PPDatabaseSlot *found = NULL;

	if (pp_shared == NULL)
		return NULL;			/* library not preloaded: no workers to wake */
	LWLockAcquire(pp_shared->lock, LW_SHARED);
	for (int i = 0; i < PP_MAX_DATABASES && !found; i++)
		if (pp_shared->db[i].dboid == dboid)
			found = &pp_shared->db[i];
	LWLockRelease(pp_shared->lock);
	return found;
}

static PPDatabaseSlot *claimed_slot = NULL;
static int	claimed_idx = -1;

static void
release_role(int code, Datum arg)
{
	LWLockAcquire(pp_shared->lock, LW_EXCLUSIVE);
	if (claimed_slot->procno[claimed_idx] == MyProc->pgprocno &&
		claimed_slot->pid[claimed_idx] == MyProcPid)
	{
		claimed_slot->procno[claimed_idx] = -1;
		claimed_slot->pid[claimed_idx] = 0;
	}
	LWLockRelease(pp_shared->lock);
}

/*
 * Takes a role (PP_ROLE_SCHEDULER or a sender number) in this database's slot, taking a slot
 * for the database if it has none: a free one, or one whose database nobody serves any more
 * (dropped, or removed from pushplan.databases). Returns NULL if a live process already holds
 * the role. The role is given back when this process exits.
 */
PPDatabaseSlot *
pp_slot_claim(int role)
{
	PPDatabaseSlot *slot = NULL;
	int			idx = PP_ROLE_INDEX(role);
	bool		taken = false;

	LWLockAcquire(pp_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < PP_MAX_DATABASES && !slot; i++)
		if (pp_shared->db[i].dboid == MyDatabaseId)
			slot = &pp_shared->db[i];
	for (int i = 0; i < PP_MAX_DATABASES && !slot; i++)
	{
		PPDatabaseSlot *s = &pp_shared->db[i];
		bool		idle = true;

		for (int j = 0; j < PP_ROLES && idle; j++)
			idle = holder_locked(s, j) == 0;
		if (idle)
		{
			slot = s;
			slot->dboid = MyDatabaseId;
			for (int j = 0; j < PP_ROLES; j++)
			{
				slot->procno[j] = -1;
				slot->pid[j] = 0;
			}
		}
	}
	if (slot && holder_locked(slot, idx) == 0)
	{
		slot->procno[idx] = MyProc->pgprocno;
		slot->pid[idx] = MyProcPid;
		taken = true;
	}
	LWLockRelease(pp_shared->lock);
	if (slot == NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_WORKER_DATABASES,
						   "more than %d databases are served at once", PP_MAX_DATABASES),
				 errhint("List at most %d databases in pushplan.databases.", PP_MAX_DATABASES)));
	if (!taken)
		return NULL;
	claimed_slot = slot;
	claimed_idx = idx;
	before_shmem_exit(release_role, 0);
	return slot;
}

static void
set_proc_latch(int procno)
{
	if (procno >= 0)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

void
pp_wake_slot_scheduler(PPDatabaseSlot *slot)
{
	if (slot && pg_atomic_exchange_u32(&slot->scheduler_wake, 1) == 0)
		set_proc_latch(slot->procno[PP_ROLE_INDEX(PP_ROLE_SCHEDULER)]);
}

void
pp_wake_slot_senders(PPDatabaseSlot *slot, bool express)
{
	bool		woken = false;

	if (slot == NULL)
		return;
	if (express)
	{
		/*
		 * High-lane deliveries are the express senders' when one runs: the others are not
		 * woken for them (an idle one would claim and, mostly, find nothing: about as much CPU
		 * a push as the express sender's whole work). A busy one takes them at its next claim.
		 */
		pg_atomic_write_u32(&slot->express_wake, 1);
		for (int i = PP_MAX_SENDERS; i < PP_ROLE_END; i++)
			if (slot->procno[PP_ROLE_INDEX(i)] >= 0)
			{
				set_proc_latch(slot->procno[PP_ROLE_INDEX(i)]);
				woken = true;
			}
		if (woken)
			return;
	}
	for (int i = 0; i < PP_ROLE_END; i++)
		set_proc_latch(slot->procno[PP_ROLE_INDEX(i)]);
}

static void
wake_at_commit_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending)
				pp_wake_slot_scheduler(pp_database_slot(MyDatabaseId));
			if (senders_pending)
				pp_wake_slot_senders(pp_database_slot(MyDatabaseId), express_pending);
			wake_pending = senders_pending = express_pending = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* rolled-back work wakes nobody */
			wake_pending = senders_pending = express_pending = false;
			break;
		default:
			break;
	}
}

static void
register_callback(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(wake_at_commit_callback, NULL);
		callback_registered = true;
	}
}

/* Wake this database's scheduler when (and only if) the current transaction commits. */
void
pp_wake_scheduler_at_commit(void)
{
	register_callback();
	wake_pending = true;
}

/* Wake this database's senders at commit; express: deliveries of the high lane are queued. */
void
pp_wake_senders_at_commit(bool express)
{
	register_callback();
	senders_pending = true;
	express_pending |= express;
}

/* pushplan._wake_scheduler(): for work written straight into the tables */
Datum
pushplan_wake_scheduler(PG_FUNCTION_ARGS)
{
	pp_wake_scheduler_at_commit();
	PG_RETURN_VOID();
}

/* pushplan._wake_senders(express boolean): for deliveries queued straight into the tables */
Datum
pushplan_wake_senders(PG_FUNCTION_ARGS)
{
	pp_wake_senders_at_commit(PG_GETARG_BOOL(0));
	PG_RETURN_VOID();
}
