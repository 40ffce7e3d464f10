/*
 * vendor_vivo.c: vivo Push (vivo and iQOO phones, Android), declared.
 *
 * Declared, not sent to yet: devices register for it and push_vendor_set checks its keys, but
 * it has no request builder, so the engine does not send to it and a delivery to it fails
 * ("vendor \"vivo\" is not supported by the delivery engine").
 */
#include "pushplan.h"

#include "vendor.h"

static const char *const vivo_platforms[] = {"android", NULL};
static const PPVendorKey vivo_keys[] = {
	{"app_id", true}, {"app_key", true}, {"app_secret", true}, {"endpoint", false}, {NULL}
};

const PPVendor pp_vendor_vivo = {
	.name = "vivo",
	.platforms = vivo_platforms,
	.keys = vivo_keys,
};
