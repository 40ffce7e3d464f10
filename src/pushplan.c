/*
 * pushplan.c: module entry point: settings, shared memory and the launcher.
 *
 * Loaded through shared_preload_libraries, the library reserves its shared memory (worker slots
 * and wake flags, the vendors' auth token cache) and registers the launcher, which starts the
 * schedulers and senders. Loaded later (first use of a C function in a backend), it only
 * defines the settings: the SQL API works, and nothing is sent until the server is configured.
 */
#include "pushplan.h"
#include "workers.h"
#include "engine.h"
#include "tenancy.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

char	   *pp_databases = NULL;
int			pp_senders = 2;
int			pp_batch_size = 500;
int			pp_max_inflight = 500;
int			pp_poll_interval = 1000;
int			pp_max_attempts = 5;
int			pp_retry_max_backoff = 300;
int			pp_small_audience_limit = 100;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
pushplan_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	pp_shared_request();
	pp_auth_shmem_request();
}

static void
pushplan_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	pp_shared_startup();
	pp_auth_shmem_startup();
}

static void
define_settings(void)
{
	DefineCustomStringVariable("pushplan.databases",
							   "Databases whose pushes are sent (comma-separated).",
							   "Each gets a scheduler and pushplan.senders senders.",
							   &pp_databases, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.senders",
							"Sender workers per database.",
							NULL, &pp_senders, 2, 0, PP_MAX_SENDERS, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.batch_size",
							"Deliveries a sender claims, and outcomes it writes, in one transaction.",
							NULL, &pp_batch_size, 500, 1, 10000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pushplan.max_inflight",
							"Deliveries a sender has in flight at once.",
							NULL, &pp_max_inflight, 500, 1, 100000, PGC_SIGHUP, 0,
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
	DefineCustomIntVariable("pushplan.retry_max_backoff",
							"Longest wait between attempts when the vendor gives no Retry-After.",
							NULL, &pp_retry_max_backoff, 300, 1, 86400, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	/* SUSET: the application code it limits must not raise it for its own session */
	DefineCustomIntVariable("pushplan.small_audience_limit",
							"Most registration ids, tokens or accounts a push of an app role may list.",
							"Roles bound to an app as kind app send such small lists only (transactional pushes).",
							&pp_small_audience_limit, 100, 1, 1000, PGC_SUSET, 0,
							NULL, NULL, NULL);
	pp_engine_define_gucs();
	MarkGUCPrefixReserved("pushplan");
}

void
_PG_init(void)
{
	define_settings();
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pushplan_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pushplan_shmem_startup;
	pp_register_launcher();
}
