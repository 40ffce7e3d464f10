/*
 * vendor_oppo.c: OPPO Push (OPPO, OnePlus and realme phones, Android), declared.
 *
 * Declared, not sent to yet: devices register for it and push_vendor_set checks its keys, but
 * it has no request builder, so the engine does not send to it and a delivery to it fails
 * ("vendor \"oppo\" is not supported by the delivery engine").
 */
#include "pushplan.h"

#include "vendor.h"

static const char *const oppo_platforms[] = {"android", NULL};
static const PPVendorKey oppo_keys[] = {
	{"app_key", true}, {"master_secret", true}, {"endpoint", false}, {NULL}
};

const PPVendor pp_vendor_oppo = {
	.name = "oppo",
	.platforms = oppo_platforms,
	.keys = oppo_keys,
};
