/*
 * settings.h: the pushplan.* settings (settings.c); doc/operations.md describes them.
 */
#ifndef PUSHPLAN_SETTINGS_H
#define PUSHPLAN_SETTINGS_H

/* workers */
extern char *pp_databases;
extern int	pp_senders;
extern int	pp_express_senders;
extern int	pp_batch_size;
extern int	pp_max_inflight;
extern int	pp_outcomes_per_write;
extern int	pp_max_unrecorded;
extern int	pp_poll_interval;
extern int	pp_max_attempts;
extern int	pp_retention_days;
extern int	pp_retry_max_backoff;

/* the delivery engine */
extern char *pp_ca_file;
extern int	pp_http_timeout_ms;
extern int	pp_max_conns_per_host;

/* the outcome webhook */
extern int	pp_outcome_batch_size;
extern int	pp_outcome_batch_wait_ms;
extern int	pp_outcome_max_attempts;

/* the most ids, tokens or accounts a push of a role with app rights only may list */
extern int	pp_small_audience_limit;
extern int	pp_flow_trigger_chunk;

/* Defines them all; called by _PG_init only. */
extern void pp_settings_define(void);

#endif							/* PUSHPLAN_SETTINGS_H */
