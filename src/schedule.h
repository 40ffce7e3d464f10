/*
 * schedule.h: schedules (doc/schedules.md).
 *
 * schedule.c is their SQL API (push_schedule_create, _update, _enable, _delete),
 * schedule_trigger.c checks and normalizes a trigger, schedule_fire.c is the scheduler's side:
 * it fires due occurrences, each exactly once (schedule_runs' primary key), as tasks.
 */
#ifndef PUSHPLAN_SCHEDULE_H
#define PUSHPLAN_SCHEDULE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* The trigger checked (raising 927xx) and normalized: the form _schedule_next reads. */
extern Jsonb *pp_trigger_normalize(JsonbValue *trigger);

/*
 * Fires (or records as missed or skipped) the next due occurrence of one schedule, in the
 * caller's transaction, inside SPI. Returns false when no schedule is due.
 */
extern bool pp_schedule_fire_next(void);

/*
 * When the scheduler must look next, on the real clock: the earliest next_run_at of an enabled
 * schedule or send_at of a queued task (a Tencent Push send_time), or 0 (none).
 */
extern TimestampTz pp_schedule_next_due(void);

#endif							/* PUSHPLAN_SCHEDULE_H */
