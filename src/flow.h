/*
 * flow.h: flows (automated notifications; doc/flows.md), as the scheduler sees them.
 */
#ifndef PUSHPLAN_FLOW_H
#define PUSHPLAN_FLOW_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/*
 * In its own transaction: advances up to a batch of the flow instances whose time has come
 * (pushplan._flow_advance). Returns how many were advanced; 0 when none was due.
 */
extern int64 pp_flow_advance_batch(void);

/* Inside a unit of work: when the next waiting instance is due (real time), or 0 if none. */
extern TimestampTz pp_flow_next_due(void);

/* flow_match.c: why an event's props are more than push_track keeps, or NULL */
extern char *pp_track_props_problem(Jsonb *props);

/* track_read.c: one event of push_track_batch's, as read */
typedef struct PPTrackEvent
{
	int			pos;			/* its place in the batch */
	TimestampTz at;
	text	   *registration_id;	/* or NULL */
	text	   *account;		/* or NULL */
	int32		account_type;
	text	   *name;
	Jsonb	   *props;
} PPTrackEvent;

/* A batch's events, sorted by time then place: how many, or -1 when one breaks a rule. */
extern int	pp_track_read(Jsonb *events, TimestampTz earliest, TimestampTz latest, PPTrackEvent **out);

#endif							/* PUSHPLAN_FLOW_H */
