/*
 * vendor_registry.c: the vendors the delivery engine sends to, one line each.
 *
 * Adding a vendor: its file (src/vendor_<name>.c, defining a PPVendor), its line here, its
 * mock (test/mock_vendor) and its tests; doc/vendors.md says what else a vendor declares.
 */
#include "pushplan.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "vendor.h"

PG_FUNCTION_INFO_V1(pushplan_vendor_keys);
PG_FUNCTION_INFO_V1(pushplan_vendor_names);

const PPVendor *const pp_vendors[] = {
	&pp_vendor_apns,
	&pp_vendor_fcm,
	&pp_vendor_hms,
	&pp_vendor_honor,
	&pp_vendor_oppo,
	&pp_vendor_vivo,
	&pp_vendor_xiaomi,
	&pp_vendor_meizu,
	&pp_vendor_webpush,
	&pp_vendor_webhook,
	NULL
};

const PPVendor *
pp_vendor_declared(const char *name)
{
	if (name == NULL)
		return NULL;
	for (int i = 0; pp_vendors[i]; i++)
		if (strcmp(pp_vendors[i]->name, name) == 0)
			return pp_vendors[i];
	return NULL;
}

const PPVendor *
pp_vendor_find(const char *name)
{
	const PPVendor *v = pp_vendor_declared(name);

	return v && v->build ? v : NULL;
}

bool
pp_vendor_serves(const PPVendor *v, const char *platform)
{
	for (const char *const *p = v->platforms; *p; p++)
		if (strcmp(*p, platform) == 0)
			return true;
	return false;
}

/* _vendor_keys() RETURNS TABLE(vendor text, key text, required boolean): push_vendor_set's rules. */
Datum
pushplan_vendor_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; pp_vendors[i]; i++)
		for (const PPVendorKey *k = pp_vendors[i]->keys; k->key; k++)
		{
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			values[0] = CStringGetTextDatum(pp_vendors[i]->name);
			values[1] = CStringGetTextDatum(k->key);
			values[2] = BoolGetDatum(k->required);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	return (Datum) 0;
}

/* _vendor_names() RETURNS text[]: every vendor, in the registry's order. */
Datum
pushplan_vendor_names(PG_FUNCTION_ARGS)
{
	Datum		names[lengthof(pp_vendors)];
	int			n = 0;

	for (; pp_vendors[n]; n++)
		names[n] = CStringGetTextDatum(pp_vendors[n]->name);
	PG_RETURN_ARRAYTYPE_P(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}
