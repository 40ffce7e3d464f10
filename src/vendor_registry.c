/*
 * vendor_registry.c: the vendors the delivery engine sends to, one line each.
 *
 * Adding a vendor: its file (src/vendor_<name>.c, defining a PPVendor), its line here, its
 * mock (test/mock_vendor) and its tests; src/README.md ("Adding a vendor") says what a vendor
 * declares.
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
PG_FUNCTION_INFO_V1(pushplan_vendor_config_problem);

/*
 * Every vendor, one line each, in the order _vendor_names() gives them: X(name) stands for
 * pp_vendor_<name>, the PPVendor its file (src/vendor_<name>.c) defines.
 */
#define PP_VENDOR_LIST(X) \
	X(apns) \
	X(fcm) \
	X(hms) \
	X(honor) \
	X(oppo) \
	X(vivo) \
	X(xiaomi) \
	X(meizu) \
	X(webpush) \
	X(webhook) \
	X(harmony)

#define PP_VENDOR_EXTERN(name) extern const PPVendor pp_vendor_##name;
#define PP_VENDOR_ENTRY(name) &pp_vendor_##name,

PP_VENDOR_LIST(PP_VENDOR_EXTERN)

const PPVendor *const pp_vendors[] = {
	PP_VENDOR_LIST(PP_VENDOR_ENTRY)
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

/*
 * _vendor_config_problem(vendor, config) RETURNS text: what push_vendor_set refuses in a config
 * beyond its keys, as the vendor's file says ("code: message"), or NULL.
 */
Datum
pushplan_vendor_config_problem(PG_FUNCTION_ARGS)
{
	const PPVendor *v = pp_vendor_declared(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	char	   *why = v && v->config_problem ? v->config_problem(PG_GETARG_JSONB_P(1)) : NULL;

	if (why == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(why));
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
