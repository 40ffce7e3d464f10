/*
 * vendor_meizu.c: Meizu Push (Meizu phones, Android), declared.
 *
 * Declared, not sent to yet: devices register for it and push_vendor_set checks its keys, but
 * it has no request builder, so the engine does not send to it and a delivery to it fails
 * ("vendor \"meizu\" is not supported by the delivery engine").
 */
#include "pushplan.h"

#include "vendor.h"

static const char *const meizu_platforms[] = {"android", NULL};
static const PPVendorKey meizu_keys[] = {
	{"app_id", true}, {"app_secret", true}, {"endpoint", false}, {NULL}
};

const PPVendor pp_vendor_meizu = {
	.name = "meizu",
	.platforms = meizu_platforms,
	.keys = meizu_keys,
};
