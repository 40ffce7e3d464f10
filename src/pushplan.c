/*
 * pushplan.c: module entry point.
 *
 * _PG_init runs when the library is loaded (shared_preload_libraries for the workers, or on first
 * use of a C function). GUCs and background workers are registered here as they are added.
 */
#include "pushplan.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	MarkGUCPrefixReserved("pushplan");
}
