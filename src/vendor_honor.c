/*
 * vendor_honor.c: Honor Push (Honor phones, Android), declared.
 *
 * Declared, not sent to yet: devices register for it and push_vendor_set checks its keys, but
 * it has no request builder, so the engine does not send to it and a delivery to it fails
 * ("vendor \"honor\" is not supported by the delivery engine").
 */
#include "pushplan.h"

#include "vendor.h"

static const char *const honor_platforms[] = {"android", NULL};
static const PPVendorKey honor_keys[] = {
	{"app_id", true}, {"client_id", true}, {"client_secret", true}, {"endpoint", false}, {"token_endpoint", false}, {NULL}
};

const PPVendor pp_vendor_honor = {
	.name = "honor",
	.platforms = honor_platforms,
	.keys = honor_keys,
};
