/*
 * pp_shim.c: the pushplan files the fuzz targets leave out, as they would answer in a test
 * database: the clock (clock.c: a fixed instant), the registry's layout (layout.c: one node)
 * and tenancy (tenancy.c: app 1). These read shared memory or tables.
 */
#include "postgres.h"

#include "datatype/timestamp.h"

#include "layout.h"
#include "tenancy.h"
#include "workers.h"

/* 2026-06-18 12:00:00 UTC, as microseconds since 2000-01-01 */
#define FUZZ_NOW	INT64CONST(835099200000000)

TimestampTz
pp_clock_current(void)
{
	return FUZZ_NOW;
}

bool
pp_registry_distributed(void)
{
	return false;
}

int32
pp_app_id(const char *app, int any_of, int *held)
{
	if (held)
		*held = any_of;
	return 1;
}
