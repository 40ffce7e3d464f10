/*
 * vendor_webpush.c: Web Push (RFC 8030, VAPID RFC 8292: browsers), declared.
 *
 * Declared, not sent to yet: devices register for it and push_vendor_set checks its keys, but
 * it has no request builder, so the engine does not send to it and a delivery to it fails
 * ("vendor \"webpush\" is not supported by the delivery engine").
 */
#include "pushplan.h"

#include "vendor.h"

static const char *const webpush_platforms[] = {"web", NULL};
static const PPVendorKey webpush_keys[] = {
	{"vapid_public_key", true}, {"vapid_private_key", true}, {"subject", true}, {NULL}
};

const PPVendor pp_vendor_webpush = {
	.name = "webpush",
	.platforms = webpush_platforms,
	.keys = webpush_keys,
};
