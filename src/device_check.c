/*
 * device_check.c: validation of device registrations, tags and attributes.
 *
 * One implementation of every rule, used by the single and the batch registration paths and by
 * push_tag_add / push_attr_set. Written in C because bulk registration validates tens of
 * thousands of devices per call; each check returns NULL or a palloc'd "code: message".
 */
#include "pushplan.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(pushplan_devices_problem);
PG_FUNCTION_INFO_V1(pushplan_tags_problem);
PG_FUNCTION_INFO_V1(pushplan_attrs_problem);

#define MAX_TAGS_PER_REQUEST	10
#define MAX_TAG_BYTES			50
#define MAX_ATTR_NAME_BYTES		64
#define MAX_ATTR_VALUE_BYTES	256

static const char *const platforms[] = {"android", "ios", "web", "harmony", NULL};
static const char *const vendors[] = {
	"apns", "fcm", "hms", "honor", "oppo", "vivo", "xiaomi", "meizu", "webpush", "webhook", NULL
};
static const char *const device_keys[] = {
	"registration_id", "platform", "vendor", "token", "timezone", "language", "tags", "attrs", NULL
};

static bool
in_list(const char *s, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* Which platforms each vendor delivers to. */
static bool
vendor_serves(const char *vendor, const char *platform)
{
	if (strcmp(vendor, "apns") == 0)
		return strcmp(platform, "ios") == 0;
	if (strcmp(vendor, "fcm") == 0)
		return strcmp(platform, "harmony") != 0;
	if (strcmp(vendor, "hms") == 0)
		return strcmp(platform, "android") == 0 || strcmp(platform, "harmony") == 0;
	if (strcmp(vendor, "webpush") == 0)
		return strcmp(platform, "web") == 0;
	if (strcmp(vendor, "webhook") == 0)
		return true;
	return strcmp(platform, "android") == 0;	/* honor, oppo, vivo, xiaomi, meizu */
}

/* A language tag as in multi_language keys: "en", "zh-Hans", "pt_BR". */
static bool
valid_language(const char *s)
{
	int			n = 0;

	while (isalpha((unsigned char) s[n]) && IS_HIGHBIT_SET(s[n]) == 0)
		n++;
	if (n < 2 || n > 3)
		return false;
	s += n;
	while (*s)
	{
		if (*s != '-' && *s != '_')
			return false;
		s++;
		n = 0;
		while (isalnum((unsigned char) s[n]) && !IS_HIGHBIT_SET(s[n]))
			n++;
		if (n < 1 || n > 8)
			return false;
		s += n;
	}
	return true;
}

static bool
valid_registration_id(const char *s, int len)
{
	if (len == 0 || pg_mbstrlen_with_len(s, len) > 128)
		return false;
	for (int i = 0; i < len; i++)
		if (!IS_HIGHBIT_SET(s[i]) && (isspace((unsigned char) s[i]) || iscntrl((unsigned char) s[i])))
			return false;
	return true;
}

static char *
device_problem(const char *rid, int rid_len, const char *platform, const char *vendor,
			   const char *token, const char *timezone, const char *language)
{
	if (rid == NULL || !valid_registration_id(rid, rid_len))
		return psprintf("92030: registration_id must be 1 to 128 characters with no spaces");
	if (platform == NULL || !in_list(platform, platforms))
		return psprintf("92031: unknown platform \"%s\" (android, ios, web, harmony)",
						platform ? platform : "");
	if (vendor == NULL || !in_list(vendor, vendors))
		return psprintf("92032: unknown vendor \"%s\"", vendor ? vendor : "");
	if (!vendor_serves(vendor, platform))
		return psprintf("92033: vendor \"%s\" does not deliver to platform \"%s\"", vendor, platform);
	if (token == NULL || token[0] == '\0' || pg_mbstrlen(token) > 4096)
		return psprintf("92034: token must be 1 to 4096 characters");
	if (pp_canonical_timezone(timezone) == NULL)
		return psprintf("92015: unknown time zone \"%s\"", timezone);
	if (language != NULL && !valid_language(language))
		return psprintf("92035: language \"%s\" is not a language tag such as \"en\" or \"zh-Hans\"",
						language);
	return NULL;
}

static char *
one_tag_problem(const char *tag, int len)
{
	if (len == 0)
		return psprintf("90040: a tag is empty");
	if (len > MAX_TAG_BYTES)
		return psprintf("90020: tag \"%s\" is longer than %d bytes", pnstrdup(tag, len), MAX_TAG_BYTES);
	return NULL;
}

static char *
tag_count_problem(int n)
{
	if (n == 0)
		return psprintf("92040: at least one tag is required");
	if (n > MAX_TAGS_PER_REQUEST)
		return psprintf("90032: at most %d tags in one request, got %d", MAX_TAGS_PER_REQUEST, n);
	return NULL;
}

/* Attributes are a flat object of scalars, so that audiences can match them with @>. */
static char *
attrs_problem(JsonbContainer *attrs, int *nkeys)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			keylen = 0;

	if (attrs == NULL || !JsonContainerIsObject(attrs))
		return psprintf("90033: attributes must be a JSON object");
	*nkeys = JsonContainerSize(attrs);
	it = JsonbIteratorInit(attrs);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			keylen = v.val.string.len;
			if (keylen == 0 || keylen > MAX_ATTR_NAME_BYTES)
				return psprintf("90033: attribute name \"%s\" must be 1 to %d bytes",
								pnstrdup(key, keylen), MAX_ATTR_NAME_BYTES);
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type == jbvBinary)
				return psprintf("90033: attribute \"%s\" must be a string, number, boolean or null",
								pnstrdup(key, keylen));
			if (v.type == jbvString && v.val.string.len > MAX_ATTR_VALUE_BYTES)
				return psprintf("90033: attribute \"%s\" is longer than %d bytes",
								pnstrdup(key, keylen), MAX_ATTR_VALUE_BYTES);
		}
	}
	return NULL;
}

static char *
json_string_or_null(JsonbValue *v)
{
	return v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;
}

/* Everything wrong with one element of a registration batch, or NULL. */
static char *
device_json_problem(JsonbValue *elem)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	char	   *f[6] = {NULL, NULL, NULL, NULL, NULL, NULL};	/* first six device_keys */
	int			rid_len = 0;
	JsonbContainer *tags = NULL;
	JsonbContainer *attrs = NULL;
	bool		has_attrs = false;
	char	   *why;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		return psprintf("92036: a device must be a JSON object");
	it = JsonbIteratorInit(elem->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (!in_list(key, device_keys))
				return psprintf("92038: unknown device key \"%s\"", key);
		}
		else if (tok == WJB_VALUE)
		{
			if (strcmp(key, "tags") == 0)
			{
				if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
					return psprintf("92038: device key \"tags\" must be an array of strings");
				tags = v.val.binary.data;
			}
			else if (strcmp(key, "attrs") == 0)
			{
				has_attrs = true;
				attrs = v.type == jbvBinary ? v.val.binary.data : NULL;
			}
			else if (v.type != jbvString && v.type != jbvNull)
				return psprintf("92038: device key \"%s\" must be a string", key);
			else
			{
				for (int i = 0; i < 6; i++)
					if (strcmp(key, device_keys[i]) == 0)
					{
						f[i] = json_string_or_null(&v);
						if (i == 0 && f[0])
							rid_len = v.val.string.len;
					}
			}
		}
	}
	if (tags)
	{
		JsonbIterator *ti = JsonbIteratorInit(tags);

		while ((tok = JsonbIteratorNext(&ti, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && v.type != jbvString)
				return psprintf("92038: device key \"tags\" must be an array of strings");
	}
	why = device_problem(f[0], rid_len, f[1], f[2], f[3], f[4] ? f[4] : "UTC", f[5]);
	if (why)
		return why;
	if (tags && JsonContainerSize(tags) > 0)
	{
		JsonbIterator *ti = JsonbIteratorInit(tags);

		if ((why = tag_count_problem(JsonContainerSize(tags))) != NULL)
			return why;
		while ((tok = JsonbIteratorNext(&ti, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && (why = one_tag_problem(v.val.string.val, v.val.string.len)) != NULL)
				return why;
	}
	if (has_attrs)
	{
		int			nkeys;

		if ((why = attrs_problem(attrs, &nkeys)) != NULL)
			return why;
	}
	return NULL;
}

/*
 * _devices_problem(devices jsonb, OUT ord int, OUT problem text): the first element of a
 * registration batch that is wrong (1-based), and what is wrong with it; NULLs if none.
 */
Datum
pushplan_devices_problem(PG_FUNCTION_ARGS)
{
	Jsonb	   *devices = PG_GETARG_JSONB_P(0);
	TupleDesc	tupdesc;
	Datum		values[2] = {0, 0};
	bool		nulls[2] = {true, true};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			ord = 0;
	MemoryContext scratch,
				old;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (JB_ROOT_IS_ARRAY(devices) && !JB_ROOT_IS_SCALAR(devices))
	{
		scratch = AllocSetContextCreate(CurrentMemoryContext, "device checks",
										ALLOCSET_DEFAULT_SIZES);
		it = JsonbIteratorInit(&devices->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			char	   *why;

			if (tok != WJB_ELEM)
				continue;
			ord++;
			old = MemoryContextSwitchTo(scratch);
			why = device_json_problem(&v);
			MemoryContextSwitchTo(old);
			if (why)
			{
				values[0] = Int32GetDatum(ord);
				values[1] = CStringGetTextDatum(why);
				nulls[0] = nulls[1] = false;
				break;
			}
			MemoryContextReset(scratch);
		}
		MemoryContextDelete(scratch);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* _tags_problem(tags text[]) RETURNS text: what is wrong with the tags of one request, or NULL */
Datum
pushplan_tags_problem(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *enulls;
	int			n;
	char	   *why;

	if (PG_ARGISNULL(0))
		PG_RETURN_TEXT_P(cstring_to_text(tag_count_problem(0)));
	arr = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &n);
	if ((why = tag_count_problem(n)) != NULL)
		PG_RETURN_TEXT_P(cstring_to_text(why));
	for (int i = 0; i < n; i++)
	{
		if (enulls[i])
			why = one_tag_problem("", 0);
		else
			why = one_tag_problem(VARDATA_ANY(elems[i]), VARSIZE_ANY_EXHDR(elems[i]));
		if (why)
			PG_RETURN_TEXT_P(cstring_to_text(why));
	}
	PG_RETURN_NULL();
}

/* _attrs_problem(attrs jsonb) RETURNS text: what is wrong with an attribute update, or NULL */
Datum
pushplan_attrs_problem(PG_FUNCTION_ARGS)
{
	Jsonb	   *attrs = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	int			nkeys;
	char	   *why;

	why = attrs_problem(attrs && !JB_ROOT_IS_SCALAR(attrs) ? &attrs->root : NULL, &nkeys);
	if (why)
		PG_RETURN_TEXT_P(cstring_to_text(why));
	PG_RETURN_NULL();
}

/* The language-tag rule, shared with multi_language keys of pushes (push_parse.c). */
bool
pp_language_tag_valid(const char *tag)
{
	return valid_language(tag);
}
