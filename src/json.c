/*
 * json.c: reading jsonb members and writing JSON text, the one set of helpers for both.
 *
 * Readers take a container and a key and answer NULL / false when the member is absent or of
 * another type, so that callers can chain them (pp_jobj(pp_jobj(body, "options"), "x")).
 * Writers append "key":value members to a StringInfo, with *first tracking the comma; vendor
 * payloads are text on the wire, so they are written as text.  What an SQL function returns as
 * jsonb is built as jsonb (pp_jb_*), never printed and parsed again.
 */
#include "pushplan.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "json.h"

/* ---- reading jsonb ---- */

JsonbValue *
pp_jmember(JsonbContainer *c, const char *key)
{
	if (c == NULL || !JsonContainerIsObject(c))
		return NULL;
	return getKeyJsonValueFromContainer(c, key, strlen(key), NULL);
}

bool
pp_jv_is_object(const JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

bool
pp_jv_is_array(const JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

/* An optional '-' and decimal digits, as int64; beyond int64 as for pp_jv_int64. */
static bool
integer_text(const char *s, int64 *out, bool *huge)
{
	const char *digits;
	long long	n;

	digits = s[0] == '-' ? s + 1 : s;
	if (digits[0] == '\0' || strspn(digits, "0123456789") != strlen(digits))
		return false;
	errno = 0;
	n = strtoll(s, NULL, 10);
	if (errno == ERANGE)
	{
		if (huge == NULL)
			return false;		/* *out untouched, as for any refusal */
		*huge = true;
		n = s[0] == '-' ? PG_INT64_MIN : PG_INT64_MAX;
	}
	*out = n;
	return true;
}

bool
pp_jv_int64(const JsonbValue *v, int64 *out, bool *huge)
{
	if (v == NULL || v->type != jbvNumeric)
		return false;
	/* numeric_out writes an integer without a fraction or exponent: 1e2 is "100", 1.0 "1.0" */
	return integer_text(DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(v->val.numeric))),
						out, huge);
}

bool
pp_jget(JsonbContainer *c, const char *key, JsonbValue *v)
{
	if (c == NULL || !JsonContainerIsObject(c))
		return false;
	return getKeyJsonValueFromContainer(c, key, strlen(key), v) != NULL;
}

JsonbContainer *
pp_jobj(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (pp_jget(c, key, &v) && v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
		return v.val.binary.data;
	return NULL;
}

/* A string member; numbers are given as their text; anything else is absent. */
char *
pp_jstr(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (!pp_jget(c, key, &v))
		return NULL;
	if (v.type == jbvString)
		return pnstrdup(v.val.string.val, v.val.string.len);
	if (v.type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out,
												   NumericGetDatum(v.val.numeric)));
	return NULL;
}

bool
pp_jnum(JsonbContainer *c, const char *key, int64 *out)
{
	JsonbValue	v;

	if (!pp_jget(c, key, &v))
		return false;
	/* some vendors' answers quote their numbers ("expires_in": "3600") */
	if (v.type == jbvString)
		return integer_text(pnstrdup(v.val.string.val, v.val.string.len), out, NULL);
	return pp_jv_int64(&v, out, NULL);
}

bool
pp_jbool(JsonbContainer *c, const char *key, bool *out)
{
	JsonbValue	v;

	if (!pp_jget(c, key, &v))
		return false;
	if (v.type == jbvBool)
		*out = v.val.boolean;
	else if (v.type == jbvNumeric)
	{
		int64		n = 0;

		(void) pp_jnum(c, key, &n);
		*out = n != 0;
	}
	else
		return false;
	return true;
}

/* The first key of object c (in jsonb's key order) that `allowed` (NULL-terminated) does not list, or NULL. */
char *
pp_jkey_not_in(JsonbContainer *c, const char *const *allowed)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const char *const *a;

		if (tok != WJB_KEY)
			continue;
		for (a = allowed; *a != NULL; a++)
			if (strlen(*a) == v.val.string.len && memcmp(*a, v.val.string.val, v.val.string.len) == 0)
				break;
		if (*a == NULL)
			return pnstrdup(v.val.string.val, v.val.string.len);
	}
	return NULL;
}

/* Any member as JSON text, or NULL when absent. */
char *
pp_jraw(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (!pp_jget(c, key, &v))
		return NULL;
	if (v.type == jbvBinary)
		return JsonbToCString(NULL, v.val.binary.data, v.val.binary.len);
	return JsonbToCString(NULL, &JsonbValueToJsonb(&v)->root, 0);
}

void
pp_jw_key(StringInfo b, bool *first, const char *key)
{
	if (!*first)
		appendStringInfoChar(b, ',');
	*first = false;
	escape_json(b, key);
	appendStringInfoChar(b, ':');
}

void
pp_jw_str(StringInfo b, bool *first, const char *key, const char *val)
{
	if (val == NULL)
		return;
	pp_jw_key(b, first, key);
	escape_json(b, val);
}

void
pp_jw_int(StringInfo b, bool *first, const char *key, int64 val)
{
	pp_jw_key(b, first, key);
	appendStringInfo(b, INT64_FORMAT, val);
}

void
pp_jw_raw(StringInfo b, bool *first, const char *key, const char *json)
{
	if (json == NULL)
		return;
	pp_jw_key(b, first, key);
	appendStringInfoString(b, json);
}

Jsonb *
pp_json_parse_safe(const char *text, size_t len)
{
	JsonLexContext *lex;
	char	   *copy;

	if (text == NULL || len == 0 || len > MaxAllocSize / 2)
		return NULL;
	copy = pnstrdup(text, len);
	if (strlen(copy) != len)
		return NULL;			/* an embedded NUL */
	if (pg_verify_mbstr(PG_UTF8, copy, (int) len, true) == false &&
		GetDatabaseEncoding() == PG_UTF8)
		return NULL;
	lex = makeJsonLexContextCstringLen(copy, (int) len, GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
}

/* ---- building jsonb ---- */

/* key: v, as the next member of the open object */
static void
jb_member(PPJsonb *b, const char *key, JsonbValue *v)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(&b->state, WJB_KEY, &k);
	if (v)
		b->result = pushJsonbValue(&b->state, WJB_VALUE, v);
}

void
pp_jb_begin(PPJsonb *b)
{
	b->state = NULL;
	b->result = pushJsonbValue(&b->state, WJB_BEGIN_OBJECT, NULL);
}

void
pp_jb_str(PPJsonb *b, const char *key, const char *val)
{
	JsonbValue	v = {.type = jbvNull};

	if (val != NULL)
	{
		v.type = jbvString;
		v.val.string.val = (char *) val;
		v.val.string.len = strlen(val);
	}
	jb_member(b, key, &v);
}

void
pp_jb_int(PPJsonb *b, const char *key, int64 val)
{
	JsonbValue	v = {.type = jbvNumeric, .val.numeric = int64_to_numeric(val)};

	jb_member(b, key, &v);
}

void
pp_jb_bool(PPJsonb *b, const char *key, bool val)
{
	JsonbValue	v = {.type = jbvBool, .val.boolean = val};

	jb_member(b, key, &v);
}

/* A jsonb value as a member (pushJsonbValue unpacks the container). */
void
pp_jb_jsonb(PPJsonb *b, const char *key, Jsonb *val)
{
	JsonbValue	v = {.type = jbvBinary};

	v.val.binary.data = &val->root;
	v.val.binary.len = VARSIZE(val) - VARHDRSZ;
	jb_member(b, key, &v);
}

void
pp_jb_object(PPJsonb *b, const char *key)
{
	jb_member(b, key, NULL);
	b->result = pushJsonbValue(&b->state, WJB_BEGIN_OBJECT, NULL);
}

void
pp_jb_close(PPJsonb *b)
{
	b->result = pushJsonbValue(&b->state, WJB_END_OBJECT, NULL);
}

Jsonb *
pp_jb_end(PPJsonb *b)
{
	pp_jb_close(b);
	return JsonbValueToJsonb(b->result);
}
