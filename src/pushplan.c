/*
 * pushplan.c: module entry point: settings (settings.c), shared memory and the launcher.
 *
 * Loaded through shared_preload_libraries, the library reserves its shared memory (worker slots
 * and wake flags, the vendors' auth token cache) and registers the launcher, which starts the
 * schedulers and senders. Loaded later (first use of a C function in a backend), it only
 * defines the settings: the SQL API works, and nothing is sent until the server is configured.
 */
#include "pushplan.h"
#include "workers.h"
#include "engine.h"
#include "settings.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

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


void
_PG_init(void)
{
	pp_settings_define();
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pushplan_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pushplan_shmem_startup;
	pp_register_launcher();
}
