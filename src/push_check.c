/*
 * push_check.c: the generic part of the push checker: reading jsonb members, checking an object
 * against a field table (unknown keys, types, sizes, ranges, with the path in every error), and
 * building the normalized push.
 */
#include "pushplan.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "json.h"
#include "push_check.h"
#include "template.h"
#include "push_parse.h"

/* A member's path as messages show it: the key may be the user's, so it is shown bounded. */
char *
ppj_child_path(const char *path, const char *key)
{
	return path[0] ? psprintf("%s.%s", path, pp_shown(key)) : pp_shown(key);
}

bool
ppj_string_is(JsonbValue *v, const char *s)
{
	return v->type == jbvString && v->val.string.len == strlen(s) &&
		memcmp(v->val.string.val, s, v->val.string.len) == 0;
}

char *
ppj_string_of(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A JSON number that is an integer; huge ones are clamped, so that range checks report them. */
bool
ppj_jbv_int64(JsonbValue *v, int64 *out)
{
	bool		huge = false;

	return pp_jv_int64(v, out, &huge);
}

/* The value of an integer already checked. */
int64
ppj_int_of(JsonbValue *v)
{
	int64		n = 0;

	(void) ppj_jbv_int64(v, &n);
	return n;
}

/* Length of a container as JSON text (jsonb's own text form, as jsonb::text prints it). */
int
ppj_json_text_length(JsonbContainer *c, int estimate)
{
	return strlen(JsonbToCString(NULL, c, estimate));
}

/* ---------------------------------------------------------------------------------------------
 * Generic checks
 */

void
ppj_check_text(JsonbValue *v, const char *path, int64 max)
{
	if (v->type != jbvString)
		pp_error(PPE_PUSH_TYPE, "\"%s\" must be a string", path);
	if (v->val.string.len == 0)
		pp_error(PPE_PUSH_EMPTY, "\"%s\" must not be empty", path);
	if (v->val.string.len > max)
		pp_error(PPE_PUSH_TOO_LONG, "\"%s\" is longer than %d bytes", path, (int) max);
}

int64
ppj_check_int(JsonbValue *v, const char *path, int64 min, int64 max)
{
	int64		n;

	if (!ppj_jbv_int64(v, &n))
		pp_error(PPE_PUSH_TYPE, "\"%s\" must be an integer", path);
	if (n < min || n > max)
		pp_error(PPE_PUSH_RANGE, "\"%s\" must be from " INT64_FORMAT " to " INT64_FORMAT,
				 path, min, max);
	return n;
}

void
ppj_check_extras(JsonbValue *v, const char *path)
{
	if (!pp_jv_is_object(v))
		pp_error(PPE_PUSH_TYPE, "\"%s\" must be an object", path);
	if (ppj_json_text_length(v->val.binary.data, v->val.binary.len) > MAX_EXTRAS)
		pp_error(PPE_PUSH_TOO_LONG, "\"%s\" is longer than %d bytes as JSON text",
				 path, MAX_EXTRAS);
}

/* options.missing_attribute (every dialect): what a template does without a device's value */
void
ppj_check_missing_attribute(JsonbValue *v, const char *path)
{
	if (v->type != jbvString)
		pp_error(PPE_TEMPLATE_MISSING_POLICY, "\"%s\" must be \"default\", \"skip\" or \"fail\"", path);
	(void) pp_missing_policy(v->val.string.val, v->val.string.len, path);
}

static void
check_value(JsonbValue *v, const char *path, const FieldSpec *spec)
{
	switch (spec->kind)
	{
		case FK_ANY:
			break;
		case FK_TEXT:
			ppj_check_text(v, path, spec->max);
			break;
		case FK_INT:
			ppj_check_int(v, path, spec->min, spec->max);
			break;
		case FK_BOOL:
			if (v->type != jbvBool)
				pp_error(PPE_PUSH_TYPE, "\"%s\" must be a boolean", path);
			break;
		case FK_EXTRAS:
			ppj_check_extras(v, path);
			break;
		case FK_OBJECT:
			ppj_check_object(v, path, spec->sub);
			break;
		case FK_CUSTOM:
			spec->check(v, path);
			break;
	}
}

/*
 * Every key of the object must be in specs and its value must pass the spec; required keys must
 * be present.  Keys are visited in jsonb order, so the error reported first is deterministic.
 */
void
ppj_check_object(JsonbValue *v, const char *path, const FieldSpec *specs)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	val;
	JsonbIteratorToken tok;

	if (!pp_jv_is_object(v))
		pp_error(PPE_PUSH_TYPE, "\"%s\" must be an object", path);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		const FieldSpec *spec;
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = ppj_string_of(&k);
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		for (spec = specs; spec->key; spec++)
			if (strcmp(spec->key, key) == 0)
				break;
		if (spec->key == NULL)
			pp_error(PPE_PUSH_KEY_UNKNOWN, "unknown key \"%s\"", ppj_child_path(path, key));
		check_value(&val, ppj_child_path(path, key), spec);
	}
	for (const FieldSpec *spec = specs; spec->key; spec++)
		if (spec->required && pp_jmember(v->val.binary.data, spec->key) == NULL)
			pp_error(PPE_PUSH_REQUIRED, "\"%s\" is required", ppj_child_path(path, spec->key));
}

/* ---------------------------------------------------------------------------------------------
 * Building jsonb
 */

void
ppj_put_key(JsonbParseState **st, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
}

/* A value straight from a container: scalars as they are, containers copied whole. */
void
ppj_put_value(JsonbParseState **st, const char *key, JsonbValue *v)
{
	ppj_put_key(st, key);
	pushJsonbValue(st, WJB_VALUE, v);
}

void
ppj_put_string(JsonbParseState **st, const char *key, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	ppj_put_value(st, key, &v);
}

void
ppj_put_int(JsonbParseState **st, const char *key, int64 n)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(n);
	ppj_put_value(st, key, &v);
}

void
ppj_put_bool(JsonbParseState **st, const char *key, bool b)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = b;
	ppj_put_value(st, key, &v);
}

/* Copies from[fromkey] as key, if present. */
void
ppj_put_copy_as(JsonbParseState **st, const char *key, JsonbContainer *from, const char *fromkey)
{
	JsonbValue *v = from ? pp_jmember(from, fromkey) : NULL;

	if (v)
		ppj_put_value(st, key, v);
}

void
ppj_put_copy(JsonbParseState **st, JsonbContainer *from, const char *key)
{
	ppj_put_copy_as(st, key, from, key);
}

void
ppj_begin_object(JsonbParseState **st, const char *key)
{
	if (key)
		ppj_put_key(st, key);
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
}

JsonbValue *
ppj_end_object(JsonbParseState **st)
{
	return pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/*
 * A nested object built on its own (start with ppj_begin_object(&sub, NULL)), put under key only if
 * it got any member, so that translations never leave empty blocks behind.
 */
void
ppj_put_block(JsonbParseState **st, const char *key, JsonbParseState **sub)
{
	JsonbValue *obj = ppj_end_object(sub);
	Jsonb	   *jb;
	JsonbValue	v;

	if (obj->val.object.nPairs == 0)
		return;
	jb = JsonbValueToJsonb(obj);
	v.type = jbvBinary;
	v.val.binary.data = &jb->root;
	v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	ppj_put_value(st, key, &v);
}

/* Pushes the pairs of an object into the object being built (a later duplicate key wins). */
void
ppj_push_pairs(JsonbParseState **st, JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY || tok == WJB_VALUE)
			pushJsonbValue(st, tok, &v);
}
