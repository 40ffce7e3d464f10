/*
 * task_expand.h: a task's audience into send plans, or into delivery rows and their queue rows.
 *
 * The scheduler expands a task in batches of PP_EXPANSION_BATCH devices, each batch in its own
 * committed transaction; push_send expands a small list audience at once, in the caller's
 * transaction, so that a transactional push needs no scheduler round before its senders see
 * it. Either way the deliveries' queue rows carry the task's lane (tasks.priority).
 *
 * Inside SPI_connect() / SPI_finish(); errors (an audience that no longer compiles) are raised.
 */
#ifndef PUSHPLAN_TASK_EXPAND_H
#define PUSHPLAN_TASK_EXPAND_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#define PP_EXPANSION_BATCH	50000	/* devices expanded per batch (and committed transaction) */
#define PP_PLAN_DEVICES		100		/* devices per delivery_plans row (task_expand.c) */

/* What one expansion batch did. */
typedef struct PPExpandResult
{
	int64		rows;			/* audience devices in the batch (a short batch is the last) */
	int64		inserted;		/* deliveries written or planned */
	int64		queued;			/* ... of which queued or planned to be sent (the others failed at once) */
	int64		last_device;	/* the batch's highest device id: where the next one starts */
	int64		spread_total;	/* audience size, when big_push_duration spreads the sends */
} PPExpandResult;

/*
 * Writes the deliveries of the next PP_EXPANSION_BATCH devices of a task's audience (those after
 * device id `after`, in id order; `done` deliveries were written by earlier batches), queued in
 * lane `priority`. spread_total: the audience size counted by an earlier batch, or 0.
 * send_rule (tasks.send_rule, or NULL): per-device send times instead of send_at.
 * group: -1, the whole install's devices; or a local shard group of the distributed layout
 * (src/shard_local.c), whose devices only are expanded, by statements on its shards, with the
 * node's own delivery ids (doc/scale-out.md, "Expansion on every node"); `after`, `done` and
 * spread_total are then the shard's. in_push_send: push_send's expansion of a transactional
 * push in the caller's transaction (src/push_send.c): its deliveries are written and queued
 * for the express sender, never planned, and its statement, whose text repeats, is kept by
 * its text rather than parsed at each call. The scheduler's expansions are planned
 * (delivery_plans) where they can be.
 */
extern void pp_task_expand_batch(const char *task_id, int32 app_id, Jsonb *push, TimestampTz send_at,
								 Jsonb *send_rule, int priority, int64 after, int64 done,
								 int64 spread_total, int group, bool in_push_send,
								 PPExpandResult *res);

/*
 * Whether the shards of the distributed layout can expand a task's audience each by itself
 * (the audience names no coordinator table and picks no device among an account's devices
 * across shards). Compiles the audience: errors are raised.
 */
extern bool pp_task_expands_on_nodes(int32 app_id, Jsonb *push);

#endif							/* PUSHPLAN_TASK_EXPAND_H */
