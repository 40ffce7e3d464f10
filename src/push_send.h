/*
 * push_send.h: a push, from the caller's JSON to a stored task.
 *
 * push_send and a schedule's firing take the same steps: pp_push_read normalizes the push (any
 * dialect) and reads what the task needs from it; pp_push_check checks everything that would
 * fail later (plan, audience, the caller's rights, every vendor's limits); pp_push_store writes
 * the task. A schedule stores the normalized push at push_schedule_create and runs the three
 * again when it fires, so that a push that has become impossible since (its plan deleted, its
 * package gone) is refused with push_send's own error.
 */
#ifndef PUSHPLAN_PUSH_SEND_H
#define PUSHPLAN_PUSH_SEND_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef struct PPPush
{
	Jsonb	   *push;			/* normalized (doc/push.md) */
	const char *dialect;
	char	   *plan_id;		/* options.plan_id, or "default" */
	char	   *request_id;		/* idempotency keys, or NULL / -1 */
	int64		msg_random;
	int64		ttl;			/* options.time_to_live, seconds (0: none) */
	char	   *send_time;		/* Tencent Push's send_time: a wall time in the app's zone, or NULL */
	bool		loop;			/* Tencent Push's loop_param: the push's "loop" is a trigger */
	int			list_size;		/* entries of a list audience, -1 for others */
	bool		transactional;	/* a list of at most pushplan.small_audience_limit */
	int			priority;		/* the task's lane */
	bool		broadcast;		/* all / tag / attribute: counted by the daily quota */
	int			template_reads;	/* what its templates read of a device: PP_TEMPLATE_READS_* */
	char	   *category;		/* options.category, or NULL (doc/privacy.md) */
	char	   *consent;		/* the consent its devices need: opt_in, opt_out, or NULL */
	List	   *variants;		/* PPVariant * (push_parse.h), NIL without "variants" */
	bool		variants_test;	/* "variants_test": the winner is sent later */
} PPPush;

/* How a stored task is timed (pp_push_store). */
typedef struct PPTaskTiming
{
	bool		scheduled;		/* fired by a schedule: no idempotency keys, no minimum interval */
	bool		delayed;		/* push_send of a push with send_time: due then, not now */
	TimestampTz send_at;		/* scheduled: the occurrence; else now() */
	const char *send_rule;		/* per-device send times (tasks.send_rule, JSON), or NULL */
	Oid			created_by;
} PPTaskTiming;

/* Normalizes `given` (raises the dialects' errors) and reads the task's fields. */
extern void pp_push_read(Jsonb *given, PPPush *p);

/* Inside SPI: the checks push_send makes before it stores anything (`rights`: the caller's). */
extern void pp_push_check(int32 app_id, int rights, PPPush *p);

/*
 * Inside SPI: checks the app's broadcast quota and writes the task. Returns its id, or the id
 * of the task a concurrent push_send with the same idempotency key stored first
 * (*inserted false). A push with variants is a parent task and one child task per variant
 * (each variant's task_id set), which are what the scheduler expands (doc/variants.md).
 */
extern char *pp_push_store(int32 app_id, PPPush *p, const PPTaskTiming *timing, bool *inserted);

#endif							/* PUSHPLAN_PUSH_SEND_H */
