/*
 * pushplan.c: module entry point.
 *
 * _PG_init runs when the library is loaded (shared_preload_libraries for the workers, or on first
 * use of a C function). GUCs and background workers are registered here as they are added.
 */
#include "pushplan.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "engine.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
pp_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	pp_auth_shmem_request();
}

static void
pp_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	pp_auth_shmem_startup();
}

void
_PG_init(void)
{
	pp_engine_define_gucs();
	MarkGUCPrefixReserved("pushplan");
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = pp_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = pp_shmem_startup;
	}
}
