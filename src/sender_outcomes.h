/*
 * sender_outcomes.h: a sender's outcomes waiting to be written, and the statements that write
 * them (src/sender_outcomes.c), for the sender workers (src/worker_sender.c).
 */
#ifndef PUSHPLAN_SENDER_OUTCOMES_H
#define PUSHPLAN_SENDER_OUTCOMES_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/timestamp.h"

/* Outcomes waiting to be written */
typedef struct PPPending
{
	int			n;
	int			cap;
	int64	   *ids;
	char	  **task_ids;
	int64	   *device_ids;
	char	  **tokens;
	char	  **statuses;
	int		   *http;
	char	  **msgids;
	char	  **errors;
	TimestampTz *retry_at;
	TimestampTz *claimed_at;
	int		   *latency_us;		/* -1: no answer */
	bool	   *collateral;		/* a retry lost with its connection: no attempt counted */
	int64	   *send_plans;		/* the delivery_plans row of a delivery not written yet, or 0 */
	TimestampTz first_at;
} PPPending;

extern PPPending pp_pending;

/* Once per sender, before anything else here: its role (sender slot), written with its outcomes. */
extern void pp_outcomes_init(int role);
extern void pp_pending_add(int64 id, const char *task_id, int64 device_id, const char *token,
						   const char *status, int http, const char *msgid, const char *error,
						   TimestampTz retry_at, TimestampTz claimed_at, int latency_us,
						   int64 send_plan);
extern void pp_pending_clear(void);

/*
 * Writes every pending outcome (see sender_outcomes.c); false, keeping them pending, if the work
 * cannot run now.
 */
extern bool pp_outcomes_flush(bool queue_drained);

/* A kept generic plan made again once it is KEPT_PLAN_MAX_AGE_MS old (call before pp_spi_keep). */
extern void pp_keep_fresh(SPIPlanPtr *plan, TimestampTz *made_at);

#endif							/* PUSHPLAN_SENDER_OUTCOMES_H */
