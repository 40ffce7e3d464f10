/*
 * outcome_webhook.h: the delivery-outcome webhook's poster (outcome_webhook.c), driven by the
 * scheduler (doc/statistics.md, "Outcome webhook").
 */
#ifndef PUSHPLAN_OUTCOME_WEBHOOK_H
#define PUSHPLAN_OUTCOME_WEBHOOK_H

/*
 * One pass, outside any transaction: records the posts that finished and, after an answer or
 * every 200 ms, makes batches of the outboxes and starts the due ones. Never waits for a
 * receiver.
 */
extern void pp_outcome_webhook_step(void);
/* How long the scheduler may sleep, at most timeout_ms: less while posts are in flight. */
extern long pp_outcome_webhook_nap(long timeout_ms);
/* Upkeep, in a unit of work: outcomes of apps whose webhook was removed meanwhile. */
extern void pp_outcome_webhook_sweep(void);

#endif							/* PUSHPLAN_OUTCOME_WEBHOOK_H */
