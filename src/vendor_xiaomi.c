/*
 * vendor_xiaomi.c: Xiaomi Push (Xiaomi, Redmi and POCO phones, Android), declared.
 *
 * Declared, not sent to yet: devices register for it and push_vendor_set checks its keys, but
 * it has no request builder, so the engine does not send to it and a delivery to it fails
 * ("vendor \"xiaomi\" is not supported by the delivery engine").
 */
#include "pushplan.h"

#include "vendor.h"

static const char *const xiaomi_platforms[] = {"android", NULL};
static const PPVendorKey xiaomi_keys[] = {
	{"app_secret", true}, {"package_name", true}, {"endpoint", false}, {NULL}
};

const PPVendor pp_vendor_xiaomi = {
	.name = "xiaomi",
	.platforms = xiaomi_platforms,
	.keys = xiaomi_keys,
};
