/*
 * flow_triggers.h: the flow triggers the scheduler evaluates (src/flow_triggers.c).
 */
#ifndef PUSHPLAN_FLOW_TRIGGERS_H
#define PUSHPLAN_FLOW_TRIGGERS_H

#include "postgres.h"

#include "datatype/timestamp.h"

/*
 * In its own transaction: evaluates the trigger of the one enabled flow whose evaluation is the
 * most overdue (pushplan._flow_triggers_run). Returns false when none was due (or it failed).
 * *chunking: a flow's first inactivity evaluation is under way, a chunk of devices per call
 * (sql/api/89_flow_trigger_chunks.sql): the caller does its other work before the next.
 */
extern bool pp_flow_triggers_run(bool *chunking);

/* Inside a unit of work: when the next evaluation is due (real time), or 0 if none. */
extern TimestampTz pp_flow_triggers_next_due(void);

#endif							/* PUSHPLAN_FLOW_TRIGGERS_H */
