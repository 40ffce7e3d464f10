/*
 * clock.c: the time schedules and due deliveries are measured against.
 *
 * pushplan.clock_now() is now() plus an offset kept in shared memory. The offset is 0 unless a
 * test moved the clock forward (pushplan_test's _clock_set): then the scheduler fires the
 * schedules, and the senders claim the deliveries, that would be due at that later time, and a
 * test of a daily schedule or of a device's local 09:00 runs in seconds instead of hours
 * (doc/schedules.md, "Testing"). The clock only moves forward: an offset is never negative,
 * so a test cannot make pushplan treat something already due as not due.
 */
#include "pushplan.h"
#include "workers.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pushplan_clock_now);
PG_FUNCTION_INFO_V1(pushplan_clock_set);

/* The clock's lead over the real time (0 without shared memory: the library not preloaded). */
static int64
clock_offset(void)
{
	return pp_shared ? (int64) pg_atomic_read_u64(&pp_shared->clock_offset) : 0;
}

/* Like now(): the start of the current transaction, on pushplan's clock. */
TimestampTz
pp_clock_now(void)
{
	return GetCurrentTransactionStartTimestamp() + clock_offset();
}

/* Like clock_timestamp(): this instant, on pushplan's clock (what expiry is measured against). */
TimestampTz
pp_clock_current(void)
{
	return GetCurrentTimestamp() + clock_offset();
}

/* pushplan.clock_now() RETURNS timestamptz (stable within a transaction, as now() is) */
Datum
pushplan_clock_now(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(pp_clock_now());
}

/*
 * pushplan_test._clock_set(at timestamptz) RETURNS timestamptz: moves pushplan's clock to `at`
 * (NULL: back to the real time) and wakes this database's workers. Test-only: the test extension
 * gives it its SQL face. An `at` before the clock's current time is refused.
 */
Datum
pushplan_clock_set(PG_FUNCTION_ARGS)
{
	TimestampTz real = GetCurrentTimestamp();
	int64		offset = 0;

	if (pp_shared == NULL)
		ereport(ERROR, (errmsg("the pushplan clock needs pushplan in shared_preload_libraries")));
	if (!PG_ARGISNULL(0))
	{
		TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);

		if (at < real + clock_offset())
			ereport(ERROR, (errmsg("the pushplan clock only moves forward")));
		offset = at - real;
	}
	pg_atomic_write_u64(&pp_shared->clock_offset, (uint64) offset);
	pp_wake_slot_scheduler(pp_database_slot(MyDatabaseId));
	pp_wake_slot_senders(pp_database_slot(MyDatabaseId), false);
	PG_RETURN_TIMESTAMPTZ(real + offset);
}
