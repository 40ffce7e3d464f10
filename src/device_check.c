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

#include "vendor.h"

PG_FUNCTION_INFO_V1(pushplan_devices_problem);
PG_FUNCTION_INFO_V1(pushplan_device_timezone);
PG_FUNCTION_INFO_V1(pushplan_device_token);
PG_FUNCTION_INFO_V1(pushplan_tags_problem);
PG_FUNCTION_INFO_V1(pushplan_attrs_problem);
PG_FUNCTION_INFO_V1(pushplan_devices_decompose);
PG_FUNCTION_INFO_V1(pushplan_attrs_count);

#define MAX_TAGS_PER_REQUEST	10
#define MAX_ATTR_VALUE_BYTES	256
#define MAX_ATTRS_PER_DEVICE	50

static const char *const platforms[] = {"android", "ios", "web", "harmony", NULL};
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

/*
 * What is wrong with one registration, or NULL; *canon_tz gets the zone's canonical name and,
 * when canon_token is not NULL, *canon_token the token as stored (the vendor's canonical form:
 * a Web Push subscription's JSON; the token itself for the others).
 */
static char *
device_problem(const char *rid, int rid_len, const char *platform, const char *vendor,
			   const char *token, const char *timezone, const char *language,
			   const char **canon_tz, char **canon_token)
{
	const PPVendor *v;
	char	   *why;

	if (rid == NULL || !valid_registration_id(rid, rid_len))
		return psprintf(PP_CODE(PPE_DEVICE_ID_INVALID)
						": registration_id must be 1 to 128 characters with no spaces");
	if (platform == NULL || !in_list(platform, platforms))
		return psprintf(PP_CODE(PPE_DEVICE_PLATFORM_UNKNOWN)
						": unknown platform \"%s\" (android, ios, web, harmony)",
						pp_shown(platform));
	if ((v = pp_vendor_declared(vendor)) == NULL)
		return psprintf(PP_CODE(PPE_DEVICE_VENDOR_UNKNOWN)
						": unknown vendor \"%s\"", pp_shown(vendor));
	if (!pp_vendor_serves(v, platform))
		return psprintf(PP_CODE(PPE_DEVICE_VENDOR_PLATFORM)
						": vendor \"%s\" does not deliver to platform \"%s\"", vendor, platform);
	if (token == NULL || token[0] == '\0' || pg_mbstrlen(token) > 4096)
		return psprintf(PP_CODE(PPE_DEVICE_TOKEN_INVALID) ": token must be 1 to 4096 characters");
	/*
	 * A token goes into URLs and bodies: CR LF and escapes have no place in one.  (A vendor with
	 * rules of its own checks its tokens itself: Web Push's is a JSON subscription.)
	 */
	if (v->token_problem == NULL && pp_has_control(token, strlen(token)))
		return psprintf(PP_CODE(PPE_DEVICE_TOKEN_CONTROL) ": token \"%s\" holds a control character",
						pp_shown(token));
	if (v->token_problem && (why = v->token_problem(token, canon_token)) != NULL)
		return why;
	if ((*canon_tz = pp_canonical_timezone(timezone)) == NULL)
		return psprintf(PP_CODE(PPE_TIMEZONE_UNKNOWN)
						": unknown time zone \"%s\"", pp_shown(timezone));
	if (language != NULL && !valid_language(language))
		return psprintf(PP_CODE(PPE_DEVICE_LANGUAGE_INVALID)
						": language \"%s\" is not a language tag such as \"en\" or \"zh-Hans\"",
						pp_shown(language));
	return NULL;
}

static char *
tag_count_problem(int n)
{
	if (n == 0)
		return psprintf(PP_CODE(PPE_TAGS_NONE) ": at least one tag is required");
	if (n > MAX_TAGS_PER_REQUEST)
		return psprintf(PP_CODE(PPE_TAGS_TOO_MANY)
						": at most %d tags in one request, got %d", MAX_TAGS_PER_REQUEST, n);
	return NULL;
}

/*
 * Attributes are a flat object of scalars, so that audiences can match them with @>.
 * *nkeys gets the number of attributes with a non-null value.
 */
static char *
attrs_problem(JsonbContainer *attrs, int *nkeys)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			keylen = 0;
	char	   *why;

	if (attrs == NULL || !JsonContainerIsObject(attrs))
		return psprintf(PP_CODE(PPE_ATTR_INVALID) ": attributes must be a JSON object");
	*nkeys = 0;
	it = JsonbIteratorInit(attrs);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			keylen = v.val.string.len;
			if ((why = pp_attr_name_problem(key, keylen, NULL)) != NULL)
				return why;
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type == jbvBinary)
				return psprintf(PP_CODE(PPE_ATTR_INVALID)
								": attribute \"%s\" must be a string, number, boolean or null",
								pp_shown_n(key, keylen));
			if (v.type == jbvString && v.val.string.len > MAX_ATTR_VALUE_BYTES)
				return psprintf(PP_CODE(PPE_ATTR_INVALID)
								": attribute \"%s\" is longer than %d bytes",
								pp_shown_n(key, keylen), MAX_ATTR_VALUE_BYTES);
			if (v.type != jbvNull)
				(*nkeys)++;
		}
	}
	return NULL;
}

static char *
json_string_or_null(JsonbValue *v)
{
	return v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;
}

/* One element of a registration batch, as read by device_json_problem. */
typedef struct DevEntry
{
	int			ord;			/* 1-based position in the batch */
	char	   *f[6];			/* the first six device_keys; NULL when absent or null */
	int			rid_len;
	const char *tz;				/* canonical time zone name */
	JsonbContainer *tags;		/* array of strings, or NULL */
	JsonbValue	attrs;			/* jbvBinary object, or jbvNull when not given */
	int			nattrs;			/* attributes with a non-null value */
} DevEntry;

/* Everything wrong with one element of a registration batch, or NULL; fills *e. */
static char *
device_json_problem(JsonbValue *elem, DevEntry *e)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	char	  **f = e->f;
	JsonbContainer *tags = NULL;
	JsonbContainer *attrs = NULL;
	bool		has_attrs = false;
	char	   *why;

	memset(e->f, 0, sizeof(e->f));
	e->rid_len = 0;
	e->tags = NULL;
	e->attrs.type = jbvNull;
	e->nattrs = 0;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		return psprintf(PP_CODE(PPE_DEVICE_BATCH_SHAPE) ": a device must be a JSON object");
	it = JsonbIteratorInit(elem->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (!in_list(key, device_keys))
				return psprintf(PP_CODE(PPE_DEVICE_KEY_INVALID)
								": unknown device key \"%s\"", pp_shown(key));
		}
		else if (tok == WJB_VALUE)
		{
			if (strcmp(key, "tags") == 0)
			{
				if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
					return psprintf(PP_CODE(PPE_DEVICE_KEY_INVALID)
									": device key \"tags\" must be an array of strings");
				tags = v.val.binary.data;
			}
			else if (strcmp(key, "attrs") == 0)
			{
				has_attrs = true;
				attrs = v.type == jbvBinary ? v.val.binary.data : NULL;
				e->attrs = v;
			}
			else if (v.type != jbvString && v.type != jbvNull)
				return psprintf(PP_CODE(PPE_DEVICE_KEY_INVALID)
								": device key \"%s\" must be a string", key);
			else
			{
				for (int i = 0; i < 6; i++)
					if (strcmp(key, device_keys[i]) == 0)
					{
						f[i] = json_string_or_null(&v);
						if (i == 0 && f[0])
							e->rid_len = v.val.string.len;
					}
			}
		}
	}
	if (tags)
	{
		JsonbIterator *ti = JsonbIteratorInit(tags);

		while ((tok = JsonbIteratorNext(&ti, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && v.type != jbvString)
				return psprintf(PP_CODE(PPE_DEVICE_KEY_INVALID)
								": device key \"tags\" must be an array of strings");
	}
	why = device_problem(f[0], e->rid_len, f[1], f[2], f[3], f[4] ? f[4] : "UTC", f[5], &e->tz,
						 &f[3]);
	if (why)
		return why;
	if (tags && JsonContainerSize(tags) > 0)
	{
		JsonbIterator *ti = JsonbIteratorInit(tags);

		if ((why = tag_count_problem(JsonContainerSize(tags))) != NULL)
			return why;
		while ((tok = JsonbIteratorNext(&ti, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && (why = pp_tag_problem(v.val.string.val, v.val.string.len, NULL)) != NULL)
				return why;
		e->tags = tags;
	}
	if (has_attrs)
	{
		int			nkeys;

		if ((why = attrs_problem(attrs, &nkeys)) != NULL)
			return why;
		e->nattrs = nkeys;
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
	DevEntry	e;
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
			why = device_json_problem(&v, &e);
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

/*
 * _device_timezone(registration_id, platform, vendor, token, timezone, language) RETURNS text:
 * the canonical name of the device's time zone, once the registration passed every rule (the
 * rules' error otherwise).  push_device_register's check: one call, no JSON built.
 */
Datum
pushplan_device_timezone(PG_FUNCTION_ARGS)
{
	char	   *f[6] = {0};
	int			rid_len = 0;
	const char *tz = NULL;
	char	   *why;

	for (int i = 0; i < 6; i++)
		if (!PG_ARGISNULL(i))
			f[i] = text_to_cstring(PG_GETARG_TEXT_PP(i));
	if (f[0])
		rid_len = strlen(f[0]);
	why = device_problem(f[0], rid_len, f[1], f[2], f[3], f[4] ? f[4] : "UTC", f[5], &tz, NULL);
	if (why)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", why)));
	PG_RETURN_TEXT_P(cstring_to_text(tz));
}

/*
 * _device_token(vendor, token) RETURNS text: the token as push_device_register stores it, once
 * _device_timezone has checked the registration (a Web Push subscription in its canonical JSON;
 * the token itself for the other vendors).
 */
Datum
pushplan_device_token(PG_FUNCTION_ARGS)
{
	const PPVendor *v = pp_vendor_declared(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *canonical = token;
	char	   *why;

	if (v && v->token_problem && (why = v->token_problem(token, &canonical)) != NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", why)));
	PG_RETURN_TEXT_P(cstring_to_text(canonical));
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
			why = pp_tag_problem("", 0, NULL);
		else
			why = pp_tag_problem(VARDATA_ANY(elems[i]), VARSIZE_ANY_EXHDR(elems[i]), NULL);
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

/* Registrations by registration_id, the last of the batch first. */
static int
cmp_rid_last_first(const void *a, const void *b)
{
	const DevEntry *x = *(DevEntry *const *) a;
	const DevEntry *y = *(DevEntry *const *) b;
	int			c = strcmp(x->f[0], y->f[0]);

	return c != 0 ? c : (y->ord - x->ord);
}

static int
cmp_vendor_token(const void *a, const void *b)
{
	const DevEntry *x = *(DevEntry *const *) a;
	const DevEntry *y = *(DevEntry *const *) b;
	int			c = strcmp(x->f[2], y->f[2]);

	return c != 0 ? c : strcmp(x->f[3], y->f[3]);
}

static Datum
text_array(Datum *elems, bool *nulls, int n)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false,
											  TYPALIGN_INT));
}

/* The attributes of a new device: as given, less the keys whose value is null. */
static Jsonb *
attrs_without_nulls(DevEntry *e)
{
	JsonbParseState *st = NULL;
	JsonbIterator *it;
	JsonbValue	v,
				key;
	JsonbIteratorToken tok;

	if (e->attrs.type == jbvNull)
		return NULL;
	if (e->nattrs == JsonContainerSize(e->attrs.val.binary.data))
		return JsonbValueToJsonb(&e->attrs);
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(e->attrs.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = v;
		else if (tok == WJB_VALUE && v.type != jbvNull)
		{
			pushJsonbValue(&st, WJB_KEY, &key);
			pushJsonbValue(&st, WJB_VALUE, &v);
		}
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/*
 * _devices_decompose(devices jsonb, batch boolean): a registration batch checked and taken
 * apart in one pass, as arrays ready for set-based writes. Raises the first problem found (for
 * a batch, naming the device's position), then a token given to two devices, then a device with
 * more than 50 attributes. The last entry of a registration_id wins; the result is ordered by
 * registration_id (bytewise), so that concurrent batches lock devices in one order.
 *
 * OUT: rid, platform, vendor, token, timezone (canonical), language text[]; attrs jsonb[] (as
 * given, '{}' when absent: a null value removes a key from an existing device); new_attrs
 * jsonb[] (without null values, for new devices); tag_dev int[], tag text[]: each device's distinct tags, tag_dev indexing the device arrays.
 */
Datum
pushplan_devices_decompose(PG_FUNCTION_ARGS)
{
	Jsonb	   *devices = PG_GETARG_JSONB_P(0);
	bool		batch = PG_GETARG_BOOL(1);
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10] = {0};
	int			cap,
				n = 0,
				nd = 0,
				ntags = 0;
	DevEntry   *entries;
	DevEntry  **sorted;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Datum	   *cols[6];
	bool	   *lang_nulls;
	Datum	   *attrs,
			   *new_attrs,
			   *tag_dev,
			   *tags;
	Datum		empty_d;
	int			dims[1],
				lbs[1] = {1};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (!JB_ROOT_IS_ARRAY(devices) || JB_ROOT_IS_SCALAR(devices))
		pp_error(PPE_DEVICE_BATCH_SHAPE,
				 "devices must be a JSON array of device objects");

	cap = JB_ROOT_COUNT(devices);
	entries = palloc(sizeof(DevEntry) * Max(cap, 1));
	it = JsonbIteratorInit(&devices->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *why;
		DevEntry   *e = &entries[n];

		if (tok != WJB_ELEM)
			continue;
		e->ord = ++n;
		why = device_json_problem(&v, e);
		if (why)
		{
			if (batch)
				why = psprintf("%s (device %d of the batch)", why, e->ord);
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", why)));
		}
	}

	/* The last entry of each registration_id. */
	sorted = palloc(sizeof(DevEntry *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		sorted[i] = &entries[i];
	qsort(sorted, n, sizeof(DevEntry *), cmp_rid_last_first);
	for (int i = 0; i < n; i++)
		if (nd == 0 || strcmp(sorted[i]->f[0], sorted[nd - 1]->f[0]) != 0)
			sorted[nd++] = sorted[i];

	/* A token belongs to one device. */
	if (nd > 1)
	{
		DevEntry  **bytok = palloc(sizeof(DevEntry *) * nd);

		memcpy(bytok, sorted, sizeof(DevEntry *) * nd);
		qsort(bytok, nd, sizeof(DevEntry *), cmp_vendor_token);
		for (int i = 1; i < nd; i++)
			if (cmp_vendor_token(&bytok[i - 1], &bytok[i]) == 0)
				pp_error(PPE_DEVICE_TOKEN_SHARED,
						 "token \"%s\" is given to more than one device of the batch",
						 pp_shown(bytok[i]->f[3]));
		pfree(bytok);
	}
	for (int i = 0; i < nd; i++)
		if (sorted[i]->nattrs > MAX_ATTRS_PER_DEVICE)
			pp_error(PPE_ATTRS_TOO_MANY,
					 "a device has at most %d attributes", MAX_ATTRS_PER_DEVICE);

	for (int c = 0; c < 6; c++)
		cols[c] = palloc(sizeof(Datum) * Max(nd, 1));
	lang_nulls = palloc0(sizeof(bool) * Max(nd, 1));
	attrs = palloc(sizeof(Datum) * Max(nd, 1));
	new_attrs = palloc(sizeof(Datum) * Max(nd, 1));
	tag_dev = palloc(sizeof(Datum) * Max(nd * MAX_TAGS_PER_REQUEST, 1));
	tags = palloc(sizeof(Datum) * Max(nd * MAX_TAGS_PER_REQUEST, 1));
	empty_d = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));

	for (int i = 0; i < nd; i++)
	{
		DevEntry   *e = sorted[i];

		cols[0][i] = PointerGetDatum(cstring_to_text_with_len(e->f[0], e->rid_len));
		cols[1][i] = CStringGetTextDatum(e->f[1]);
		cols[2][i] = CStringGetTextDatum(e->f[2]);
		cols[3][i] = CStringGetTextDatum(e->f[3]);
		cols[4][i] = CStringGetTextDatum(e->tz);
		if (e->f[5])
			cols[5][i] = CStringGetTextDatum(e->f[5]);
		else
		{
			cols[5][i] = (Datum) 0;
			lang_nulls[i] = true;
		}
		if (e->attrs.type == jbvNull)
			attrs[i] = new_attrs[i] = empty_d;
		else
		{
			attrs[i] = JsonbPGetDatum(JsonbValueToJsonb(&e->attrs));
			new_attrs[i] = e->nattrs == JsonContainerSize(e->attrs.val.binary.data) ? attrs[i] :
				JsonbPGetDatum(attrs_without_nulls(e));
		}
		if (e->tags)
		{
			int			first = ntags;

			it = JsonbIteratorInit(e->tags);
			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				text	   *t;
				bool		dup = false;

				if (tok != WJB_ELEM)
					continue;
				t = cstring_to_text_with_len(v.val.string.val, v.val.string.len);
				for (int k = first; k < ntags && !dup; k++)
					dup = VARSIZE(t) == VARSIZE(DatumGetPointer(tags[k])) &&
						memcmp(VARDATA(t), VARDATA(DatumGetPointer(tags[k])),
							   VARSIZE(t) - VARHDRSZ) == 0;
				if (dup)
					continue;
				tag_dev[ntags] = Int32GetDatum(i + 1);
				tags[ntags++] = PointerGetDatum(t);
			}
		}
	}

	for (int c = 0; c < 6; c++)
		values[c] = text_array(cols[c], c == 5 ? lang_nulls : NULL, nd);
	dims[0] = nd;
	values[6] = PointerGetDatum(construct_md_array(attrs, NULL, 1, dims, lbs, JSONBOID, -1, false,
												   TYPALIGN_INT));
	values[7] = PointerGetDatum(construct_md_array(new_attrs, NULL, 1, dims, lbs, JSONBOID, -1,
												   false, TYPALIGN_INT));
	dims[0] = ntags;
	values[8] = PointerGetDatum(construct_md_array(tag_dev, NULL, 1, dims, lbs, INT4OID, 4, true,
												   TYPALIGN_INT));
	values[9] = text_array(tags, NULL, ntags);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* _attrs_count(attrs jsonb) RETURNS int: the number of keys of an object, without reading them */
Datum
pushplan_attrs_count(PG_FUNCTION_ARGS)
{
	Jsonb	   *attrs = PG_GETARG_JSONB_P(0);

	PG_RETURN_INT32(JB_ROOT_IS_OBJECT(attrs) ? JB_ROOT_COUNT(attrs) : 0);
}
