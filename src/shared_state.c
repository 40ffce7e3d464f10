/*
 * shared_state.c: shared memory of the workers and the wake-up on commit.
 *
 * Work created by SQL (push_send, schedules) must start at COMMIT, not at the next poll, and
 * work that rolls back must wake nobody. A backend that creates work marks it with
 * pp_wake_scheduler_at_commit(); a transaction callback, registered once per backend, sees the
 * COMMIT and wakes the scheduler of the backend's database. The wake flag is an atomic in shared
 * memory: only the backend that turns it from 0 to 1 sets the latch, so a burst of commits costs
 * the scheduler one wake-up. The scheduler clears the flag before it looks for work.
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

PPShared   *pp_shared = NULL;

static bool wake_pending = false;	/* this transaction created work */
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
		for (int i = 0; i < PP_MAX_DATABASES; i++)
		{
			PPDatabaseSlot *slot = &pp_shared->db[i];

			slot->dboid = InvalidOid;
			slot->scheduler_procno = -1;
			pg_atomic_init_u32(&slot->scheduler_wake, 0);
			pg_atomic_init_u32(&slot->senders_wake, 0);
			for (int j = 0; j < PP_MAX_SENDERS; j++)
				slot->sender_procno[j] = -1;
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The slot of a database, or NULL. With create, a free slot is taken for it (NULL when all
 * are in use).
 */
PPDatabaseSlot *
pp_database_slot(Oid dboid, bool create)
{
	PPDatabaseSlot *found = NULL;

	if (pp_shared == NULL)
		return NULL;			/* library not preloaded: no workers to wake */
	LWLockAcquire(pp_shared->lock, create ? LW_EXCLUSIVE : LW_SHARED);
	for (int i = 0; i < PP_MAX_DATABASES && !found; i++)
		if (pp_shared->db[i].dboid == dboid)
			found = &pp_shared->db[i];
	for (int i = 0; i < PP_MAX_DATABASES && !found && create; i++)
		if (pp_shared->db[i].dboid == InvalidOid)
		{
			found = &pp_shared->db[i];
			found->dboid = dboid;
		}
	LWLockRelease(pp_shared->lock);
	return found;
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
		set_proc_latch(slot->scheduler_procno);
}

void
pp_wake_slot_senders(PPDatabaseSlot *slot)
{
	if (slot == NULL)
		return;
	pg_atomic_write_u32(&slot->senders_wake, 1);
	for (int i = 0; i < PP_MAX_SENDERS; i++)
		set_proc_latch(slot->sender_procno[i]);
}

static void
wake_at_commit_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending)
				pp_wake_slot_scheduler(pp_database_slot(MyDatabaseId, false));
			wake_pending = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_pending = false;	/* rolled-back work wakes nobody */
			break;
		default:
			break;
	}
}

/* Wake this database's scheduler when (and only if) the current transaction commits. */
void
pp_wake_scheduler_at_commit(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(wake_at_commit_callback, NULL);
		callback_registered = true;
	}
	wake_pending = true;
}

/* pushplan._wake_scheduler(): for work written straight into the tables */
Datum
pushplan_wake_scheduler(PG_FUNCTION_ARGS)
{
	pp_wake_scheduler_at_commit();
	PG_RETURN_VOID();
}
