/*
 * settings.c: every pushplan.* setting (GUC), defined in one place.
 *
 * The variables are read where they are used (workers, engine, tenancy); only _PG_init calls
 * pp_settings_define.  doc/operations.md describes each setting.
 */
#include "pushplan.h"

#include "utils/guc.h"

#include "settings.h"
#include "workers.h"

char	   *pp_databases = NULL;
int			pp_senders = 2;
int			pp_express_senders = 1;
int			pp_batch_size = 500;
int			pp_max_inflight = 500;
int			pp_outcomes_per_write = 100;
int			pp_max_unrecorded = 50;
int			pp_poll_interval = 1000;
int			pp_max_attempts = 5;
int			pp_retention_days = 30;
int			pp_retry_max_backoff = 300;
int			pp_small_audience_limit = 100;
char	   *pp_ca_file = NULL;
int			pp_http_timeout_ms = 10000;
int			pp_max_conns_per_host = 4;
int			pp_outcome_batch_size = 500;
int			pp_outcome_batch_wait_ms = 1000;
int			pp_outcome_max_attempts = 10;
int			pp_flow_trigger_chunk = 50000;

void
pp_settings_define(void)
{
	DefineCustomStringVariable("pushplan.databases",
							   "Databases whose pushes are sent (comma-separated).",
							   "Each gets a scheduler, pushplan.senders senders and pushplan.express_senders express senders.",
							   &pp_databases, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.senders",
							"Sender workers per database.",
							NULL, &pp_senders, 2, 0, PP_MAX_SENDERS, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.express_senders",
							"Senders per database that send only the high lane (transactional pushes).",
							"They wait for a commit's wake-up, so that a transactional push never waits for a sender busy with a broadcast.",
							&pp_express_senders, 1, 0, PP_MAX_EXPRESS, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.batch_size",
							"Deliveries a sender claims, and outcomes it writes, in one transaction.",
							NULL, &pp_batch_size, 500, 1, 10000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.max_inflight",
							"Deliveries a sender has in flight at once.",
							NULL, &pp_max_inflight, 500, 1, 100000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.outcomes_per_write",
							"Outcomes a sender writes in one transaction at most, but one vendor answer's are never split; it also writes them every 5 ms.",
							"Answers received and not yet written are sent again after a crash: this bounds them.",
							&pp_outcomes_per_write, 100, 1, 10000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.max_unrecorded",
							"Deliveries a sender has on the wire or answered and not yet written, at most.",
							"These are what a crash sends again. Requests of the high lane and of vendors with connection groups (APNs) are not held by it.",
							&pp_max_unrecorded, 50, 1, 100000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.poll_interval",
							"How often idle workers look for work that nothing woke them for.",
							"Commits of push_send wake the workers at once; this is the backstop.",
							&pp_poll_interval, 1000, 10, 60000, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.max_attempts",
							"Attempts at a delivery before a transient failure becomes final.",
							NULL, &pp_max_attempts, 5, 1, 100, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	/* read by the partitions' upkeep (sql/api/86_retention.sql) and the events functions */
	DefineCustomIntVariable("pushplan.retention_days",
							"Days the raw deliveries and events are kept (the aggregates are kept for ever).",
							"Whole days, counted in UTC: each day's partitions are dropped once they are older.",
							&pp_retention_days, 30, 3, 3650, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.retry_max_backoff",
							"Longest wait between attempts when the vendor gives no Retry-After.",
							NULL, &pp_retry_max_backoff, 300, 1, 86400, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	/* SUSET: the application code it limits must not raise it for its own session */
	DefineCustomIntVariable("pushplan.small_audience_limit",
							"Most registration ids, tokens or accounts a transactional push lists.",
							"Such pushes are expanded by push_send and sent in the high lane unless they say otherwise; roles bound to an app as kind app send only these.",
							&pp_small_audience_limit, 100, 1, 1000, PGC_SUSET, 0,
							NULL, NULL, NULL);
	/* the delivery engine (src/engine.c) */
	DefineCustomStringVariable("pushplan.ca_file",
							   "CA certificates (PEM file) vendor servers are verified against.",
							   "Empty: the system's CA store.",
							   &pp_ca_file, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.http_timeout",
							"Time limit of one vendor request, connecting included.",
							NULL, &pp_http_timeout_ms, 10000, 100, 600000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.max_connections_per_host",
							"HTTP connections a sender opens to one vendor host (each carries many HTTP/2 streams; APNs: per team and key).",
							NULL, &pp_max_conns_per_host, 4, 1, 64, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	/* the outcome webhook (src/outcome_webhook.c) */
	DefineCustomIntVariable("pushplan.outcome_batch_size",
							"Most outcomes in one batch of the outcome webhook.",
							NULL, &pp_outcome_batch_size, 500, 1, 10000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.outcome_batch_wait",
							"How long the oldest outcome waits for a fuller batch of the outcome webhook.",
							NULL, &pp_outcome_batch_wait_ms, 1000, 0, 600000, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.outcome_max_attempts",
							"Attempts at posting a batch of the outcome webhook before it is given up.",
							NULL, &pp_outcome_max_attempts, 10, 1, 100, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	/* flows' inactivity triggers (sql/api/89_flow_trigger_chunks.sql) */
	DefineCustomIntVariable("pushplan.flow_trigger_chunk",
							"Devices one turn of the scheduler looks at in a flow's first inactivity evaluation.",
							"The first evaluation of an inactive trigger looks at every device of the app, in chunks of device ids across the scheduler's turns.",
							&pp_flow_trigger_chunk, 50000, 100, 10000000, PGC_SUSET, 0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("pushplan");
}
