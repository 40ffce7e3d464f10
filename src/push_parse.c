/*
 * push_parse.c: the three push dialects -> one normalized push (doc/push.md).
 *
 * An EngageLab push object is checked against field tables (unknown keys, types, sizes, ranges)
 * and copied with its defaults filled in.  Tencent Push and Tencent IM bodies are checked in
 * their own terms, so that errors name the fields the caller wrote, then translated into an
 * EngageLab object carrying "dialect", and that object goes through the EngageLab path like any
 * other: every dialect ends in exactly one shape, and a normalized push normalizes to itself.
 *
 * Everything is palloc'd in the caller's context; an error simply abandons it.
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
#include "push_parse.h"

PG_FUNCTION_INFO_V1(pushplan_push_validate);

/* Size caps, in bytes of UTF-8 text unless said otherwise (doc/push.md gives the reasons). */
#define MAX_PUSH_BYTES		65536	/* a whole push, as jsonb text */
#define MAX_IM_BODY_BYTES	10240	/* a Tencent IM body (Tencent IM, 90056) */
#define MAX_SHORT			256		/* titles, sounds, categories, channel and thread ids */
#define MAX_TEXT			4000	/* alerts, message content, big text */
#define MAX_URL				1024	/* images, icons, links */
#define MAX_EXTRAS			4000	/* extras, custom_args, inbox: as JSON text */
#define MAX_ID				64		/* plan_id, apns_collapse_id; request_id in characters */
#define MAX_LANGUAGES		100
#define MAX_TTL				(15 * 86400)
#define DEFAULT_TTL			86400
#define TP_MAX_EXPIRE		(3 * 86400) /* Tencent Push: 72 hours, also its default */
#define IM_MAX_LIFETIME		(7 * 86400) /* Tencent IM: 7 days */

#define ERR_PARAM			ERRCODE_INVALID_PARAMETER_VALUE
#define ERR_TOO_LARGE		ERRCODE_PROGRAM_LIMIT_EXCEEDED

static const char *const platform_names[] = {"android", "ios", "web", "harmony"};

#define N_PLATFORMS			4
#define ALL_PLATFORMS		0xF
#define TENCENT_PLATFORMS	0x3		/* android, ios: what both Tencent services reach */

typedef enum FieldKind
{
	FK_ANY,						/* checked by someone else (the audience compiler) */
	FK_TEXT,					/* non-empty string of at most max bytes */
	FK_INT,						/* integer in [min, max] */
	FK_BOOL,
	FK_EXTRAS,					/* object of any JSON values, at most MAX_EXTRAS as text */
	FK_OBJECT,					/* object checked against sub */
	FK_CUSTOM					/* checked by check() */
} FieldKind;

typedef struct FieldSpec
{
	const char *key;
	FieldKind	kind;
	bool		required;
	int64		min;
	int64		max;
	const struct FieldSpec *sub;
	void		(*check) (JsonbValue *v, const char *path);
} FieldSpec;

/* ---------------------------------------------------------------------------------------------
 * Reading jsonb
 */

/* A member's path as messages show it: the key may be the user's, so it is shown bounded. */
static char *
child_path(const char *path, const char *key)
{
	return path[0] ? psprintf("%s.%s", path, pp_shown(key)) : pp_shown(key);
}

static bool
string_is(JsonbValue *v, const char *s)
{
	return v->type == jbvString && v->val.string.len == strlen(s) &&
		memcmp(v->val.string.val, s, v->val.string.len) == 0;
}

static char *
string_of(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A JSON number that is an integer; huge ones are clamped, so that range checks report them. */
static bool
jbv_int64(JsonbValue *v, int64 *out)
{
	bool		huge = false;

	return pp_jv_int64(v, out, &huge);
}

/* The value of an integer already checked. */
static int64
int_of(JsonbValue *v)
{
	int64		n = 0;

	(void) jbv_int64(v, &n);
	return n;
}

/* Length of a container as JSON text (jsonb's own text form, as jsonb::text prints it). */
static int
json_text_length(JsonbContainer *c, int estimate)
{
	return strlen(JsonbToCString(NULL, c, estimate));
}

/* ---------------------------------------------------------------------------------------------
 * Generic checks
 */

static void check_object(JsonbValue *v, const char *path, const FieldSpec *specs);

static void
check_text(JsonbValue *v, const char *path, int64 max)
{
	if (v->type != jbvString)
		pp_error(ERR_PARAM, "92604", "\"%s\" must be a string", path);
	if (v->val.string.len == 0)
		pp_error(ERR_PARAM, "92607", "\"%s\" must not be empty", path);
	if (v->val.string.len > max)
		pp_error(ERR_TOO_LARGE, "92606", "\"%s\" is longer than %d bytes", path, (int) max);
}

static int64
check_int(JsonbValue *v, const char *path, int64 min, int64 max)
{
	int64		n;

	if (!jbv_int64(v, &n))
		pp_error(ERR_PARAM, "92604", "\"%s\" must be an integer", path);
	if (n < min || n > max)
		pp_error(ERR_PARAM, "92608", "\"%s\" must be from " INT64_FORMAT " to " INT64_FORMAT,
				 path, min, max);
	return n;
}

static void
check_extras(JsonbValue *v, const char *path)
{
	if (!pp_jv_is_object(v))
		pp_error(ERR_PARAM, "92604", "\"%s\" must be an object", path);
	if (json_text_length(v->val.binary.data, v->val.binary.len) > MAX_EXTRAS)
		pp_error(ERR_TOO_LARGE, "92606", "\"%s\" is longer than %d bytes as JSON text",
				 path, MAX_EXTRAS);
}

static void
check_value(JsonbValue *v, const char *path, const FieldSpec *spec)
{
	switch (spec->kind)
	{
		case FK_ANY:
			break;
		case FK_TEXT:
			check_text(v, path, spec->max);
			break;
		case FK_INT:
			check_int(v, path, spec->min, spec->max);
			break;
		case FK_BOOL:
			if (v->type != jbvBool)
				pp_error(ERR_PARAM, "92604", "\"%s\" must be a boolean", path);
			break;
		case FK_EXTRAS:
			check_extras(v, path);
			break;
		case FK_OBJECT:
			check_object(v, path, spec->sub);
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
static void
check_object(JsonbValue *v, const char *path, const FieldSpec *specs)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	val;
	JsonbIteratorToken tok;

	if (!pp_jv_is_object(v))
		pp_error(ERR_PARAM, "92604", "\"%s\" must be an object", path);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		const FieldSpec *spec;
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = string_of(&k);
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		for (spec = specs; spec->key; spec++)
			if (strcmp(spec->key, key) == 0)
				break;
		if (spec->key == NULL)
			pp_error(ERR_PARAM, "92603", "unknown key \"%s\"", child_path(path, key));
		check_value(&val, child_path(path, key), spec);
	}
	for (const FieldSpec *spec = specs; spec->key; spec++)
		if (spec->required && pp_jmember(v->val.binary.data, spec->key) == NULL)
			pp_error(ERR_PARAM, "92605", "\"%s\" is required", child_path(path, spec->key));
}

/* ---------------------------------------------------------------------------------------------
 * Building jsonb
 */

static void
put_key(JsonbParseState **st, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
}

/* A value straight from a container: scalars as they are, containers copied whole. */
static void
put_value(JsonbParseState **st, const char *key, JsonbValue *v)
{
	put_key(st, key);
	pushJsonbValue(st, WJB_VALUE, v);
}

static void
put_string(JsonbParseState **st, const char *key, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	put_value(st, key, &v);
}

static void
put_int(JsonbParseState **st, const char *key, int64 n)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(n);
	put_value(st, key, &v);
}

static void
put_bool(JsonbParseState **st, const char *key, bool b)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = b;
	put_value(st, key, &v);
}

/* Copies from[fromkey] as key, if present. */
static void
put_copy_as(JsonbParseState **st, const char *key, JsonbContainer *from, const char *fromkey)
{
	JsonbValue *v = from ? pp_jmember(from, fromkey) : NULL;

	if (v)
		put_value(st, key, v);
}

static void
put_copy(JsonbParseState **st, JsonbContainer *from, const char *key)
{
	put_copy_as(st, key, from, key);
}

static void
begin_object(JsonbParseState **st, const char *key)
{
	if (key)
		put_key(st, key);
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
}

static JsonbValue *
end_object(JsonbParseState **st)
{
	return pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/*
 * A nested object built on its own (start with begin_object(&sub, NULL)), put under key only if
 * it got any member, so that translations never leave empty blocks behind.
 */
static void
put_block(JsonbParseState **st, const char *key, JsonbParseState **sub)
{
	JsonbValue *obj = end_object(sub);
	Jsonb	   *jb;
	JsonbValue	v;

	if (obj->val.object.nPairs == 0)
		return;
	jb = JsonbValueToJsonb(obj);
	v.type = jbvBinary;
	v.val.binary.data = &jb->root;
	v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	put_value(st, key, &v);
}

/* Pushes the pairs of an object into the object being built (a later duplicate key wins). */
static void
push_pairs(JsonbParseState **st, JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY || tok == WJB_VALUE)
			pushJsonbValue(st, tok, &v);
}

/* ---------------------------------------------------------------------------------------------
 * EngageLab push object
 */

static int
platform_bit(JsonbValue *v)
{
	for (int i = 0; i < N_PLATFORMS; i++)
		if (string_is(v, platform_names[i]))
			return i;
	return -1;
}

/* "all" | "android" | [...] -> bit set of platforms, checking names and duplicates. */
static int
platform_mask(JsonbValue *v, const char *path)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			mask = 0;

	if (v->type == jbvString)
	{
		int			bit;

		if (string_is(v, "all"))
			return ALL_PLATFORMS;
		if ((bit = platform_bit(v)) < 0)
			pp_error(ERR_PARAM, "92610",
					 "unknown platform \"%s\" in \"%s\" (android, ios, web, harmony, or \"all\" alone)",
					 pp_shown(string_of(v)), path);
		return 1 << bit;
	}
	if (!pp_jv_is_array(v))
		pp_error(ERR_PARAM, "92604",
				 "\"%s\" must be \"all\", a platform name or an array of platform names", path);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		int			bit;

		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString)
			pp_error(ERR_PARAM, "92604",
					 "\"%s\" must be \"all\", a platform name or an array of platform names", path);
		if ((bit = platform_bit(&e)) < 0)
			pp_error(ERR_PARAM, "92610",
					 "unknown platform \"%s\" in \"%s\" (android, ios, web, harmony, or \"all\" alone)",
					 pp_shown(string_of(&e)), path);
		if (mask & (1 << bit))
			pp_error(ERR_PARAM, "92611", "platform \"%s\" appears twice in \"%s\"",
					 platform_names[bit], path);
		mask |= 1 << bit;
	}
	if (mask == 0)
		pp_error(ERR_PARAM, "92612", "\"%s\" must name at least one platform", path);
	return mask;
}

/* "platform": the platforms of mask as an array, always in the same order. */
static void
put_platforms(JsonbParseState **st, int mask)
{
	put_key(st, "platform");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < N_PLATFORMS; i++)
	{
		JsonbValue	p;

		if (!(mask & (1 << i)))
			continue;
		p.type = jbvString;
		p.val.string.val = (char *) platform_names[i];
		p.val.string.len = strlen(platform_names[i]);
		pushJsonbValue(st, WJB_ELEM, &p);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

static void
check_platform(JsonbValue *v, const char *path)
{
	(void) platform_mask(v, path);
}

static void
check_to(JsonbValue *v, const char *path)
{
	if (!string_is(v, "all") && !pp_jv_is_object(v))
		pp_error(ERR_PARAM, "92609", "\"%s\" must be \"all\" or an audience object", path);
}

static const FieldSpec ios_alert_fields[] = {
	{"title", FK_TEXT, .max = MAX_SHORT},
	{"subtitle", FK_TEXT, .max = MAX_SHORT},
	{"body", FK_TEXT, .max = MAX_TEXT},
	{NULL}
};

static void
check_ios_alert(JsonbValue *v, const char *path)
{
	if (v->type == jbvString)
		check_text(v, path, MAX_TEXT);
	else if (pp_jv_is_object(v))
		check_object(v, path, ios_alert_fields);
	else
		pp_error(ERR_PARAM, "92604", "\"%s\" must be a string or an object", path);
}

/* An integer sets the badge; "+N" / "-N" changes it. */
static void
check_ios_badge(JsonbValue *v, const char *path)
{
	int64		n;
	bool		ok;

	if (v->type == jbvString)
	{
		const char *s = v->val.string.val;
		int			len = v->val.string.len;

		ok = len >= 2 && len <= 6 && (s[0] == '+' || s[0] == '-') && s[1] >= '1' && s[1] <= '9';
		for (int i = 2; ok && i < len; i++)
			ok = s[i] >= '0' && s[i] <= '9';
	}
	else
		ok = jbv_int64(v, &n) && n >= 0 && n <= 99999;
	if (!ok)
		pp_error(ERR_PARAM, "92615",
				 "\"%s\" must be an integer from 0 to 99999 or a string \"+N\" or \"-N\" (N from 1 to 99999)",
				 path);
}

static void
check_ttl(JsonbValue *v, const char *path)
{
	int64		n;

	if (!jbv_int64(v, &n) || n < 0 || n > MAX_TTL)
		pp_error(ERR_PARAM, "90026",
				 "\"%s\" must be an integer from 0 to %d (seconds, at most 15 days)", path, MAX_TTL);
}

static void
check_priority(JsonbValue *v, const char *path)
{
	if (!string_is(v, "high") && !string_is(v, "normal"))
		pp_error(ERR_PARAM, "92616", "\"%s\" must be \"high\" or \"normal\"", path);
}

static const FieldSpec language_fields[] = {
	{"alert", FK_TEXT, .max = MAX_TEXT},
	{"title", FK_TEXT, .max = MAX_SHORT},
	{NULL}
};

static void
check_multi_language(JsonbValue *v, const char *path)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	val;
	JsonbIteratorToken tok;

	if (!pp_jv_is_object(v))
		pp_error(ERR_PARAM, "92604", "\"%s\" must be an object", path);
	if (JsonContainerSize(v->val.binary.data) > MAX_LANGUAGES)
		pp_error(ERR_TOO_LARGE, "92619", "\"%s\" has more than %d languages", path, MAX_LANGUAGES);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *lang;
		char	   *lpath;

		if (tok != WJB_KEY)
			continue;
		lang = string_of(&k);
		lpath = child_path(path, lang);
		tok = JsonbIteratorNext(&it, &val, true);
		if (!pp_language_tag_valid(lang))
			pp_error(ERR_PARAM, "92617",
					 "\"%s\" is not a language tag such as \"en\" or \"zh-Hans\"", lpath);
		check_object(&val, lpath, language_fields);
		if (JsonContainerSize(val.val.binary.data) == 0)
			pp_error(ERR_PARAM, "92618", "\"%s\" needs \"alert\" or \"title\"", lpath);
	}
}

static void
check_request_id(JsonbValue *v, const char *path)
{
	if (v->type != jbvString)
		pp_error(ERR_PARAM, "92604", "\"%s\" must be a string", path);
	if (v->val.string.len == 0)
		pp_error(ERR_PARAM, "92607", "\"%s\" must not be empty", path);
	if (pg_mbstrlen_with_len(v->val.string.val, v->val.string.len) > MAX_ID)
		pp_error(ERR_TOO_LARGE, "92606", "\"%s\" is longer than %d characters", path, MAX_ID);
}

static void
check_dialect(JsonbValue *v, const char *path)
{
	if (!string_is(v, PP_DIALECT_ENGAGELAB) && !string_is(v, PP_DIALECT_TENCENT_PUSH) &&
		!string_is(v, PP_DIALECT_TENCENT_IM))
		pp_error(ERR_PARAM, "92616",
				 "\"%s\" must be \"engagelab\", \"tencent_push\" or \"tencent_im\"", path);
}

/* Seed 004: a 32-bit unsigned integer, used to de-duplicate sends within one second. */
static void
check_msg_random(JsonbValue *v, const char *path)
{
	int64		n;

	if (!jbv_int64(v, &n) || n < 0 || n > PG_UINT32_MAX)
		pp_error(ERR_PARAM, "90005", "MsgRandom is missing or not an integer from 0 to 4294967295");
}

static const FieldSpec intent_fields[] = {
	{"url", FK_TEXT, true, .max = MAX_URL},
	{NULL}
};

static const FieldSpec android_fields[] = {
	{"title", FK_TEXT, .max = MAX_SHORT},
	{"alert", FK_TEXT, .max = MAX_TEXT},
	{"extras", FK_EXTRAS},
	{"image", FK_TEXT, .max = MAX_URL},
	{"intent", FK_OBJECT, .sub = intent_fields},
	{"channel_id", FK_TEXT, .max = MAX_SHORT},
	{"priority", FK_INT, .min = -2, .max = 2},
	{"category", FK_TEXT, .max = MAX_SHORT},
	{"badge_add_num", FK_INT, .min = 1, .max = 99},
	{"sound", FK_TEXT, .max = MAX_SHORT},
	{"style", FK_INT, .min = 0, .max = 3},
	{"big_text", FK_TEXT, .max = MAX_TEXT},
	{"inbox", FK_EXTRAS},
	{"big_pic_path", FK_TEXT, .max = MAX_URL},
	{"large_icon", FK_TEXT, .max = MAX_URL},
	{NULL}
};

static const FieldSpec ios_fields[] = {
	{"alert", FK_CUSTOM, .check = check_ios_alert},
	{"sound", FK_TEXT, .max = MAX_SHORT},
	{"badge", FK_CUSTOM, .check = check_ios_badge},
	{"extras", FK_EXTRAS},
	{"category", FK_TEXT, .max = MAX_SHORT},
	{"mutable_content", FK_BOOL},
	{"content_available", FK_BOOL},
	{"thread_id", FK_TEXT, .max = MAX_SHORT},
	{"image", FK_TEXT, .max = MAX_URL},
	{NULL}
};

static const FieldSpec web_fields[] = {
	{"title", FK_TEXT, .max = MAX_SHORT},
	{"alert", FK_TEXT, .max = MAX_TEXT},
	{"url", FK_TEXT, .max = MAX_URL},
	{"icon", FK_TEXT, .max = MAX_URL},
	{"image", FK_TEXT, .max = MAX_URL},
	{"extras", FK_EXTRAS},
	{NULL}
};

static const FieldSpec harmony_fields[] = {
	{"title", FK_TEXT, .max = MAX_SHORT},
	{"alert", FK_TEXT, .max = MAX_TEXT},
	{"extras", FK_EXTRAS},
	{"category", FK_TEXT, .max = MAX_SHORT},
	{NULL}
};

static const FieldSpec notification_fields[] = {
	{"alert", FK_TEXT, .max = MAX_TEXT},
	{"android", FK_OBJECT, .sub = android_fields},
	{"ios", FK_OBJECT, .sub = ios_fields},
	{"web", FK_OBJECT, .sub = web_fields},
	{"harmony", FK_OBJECT, .sub = harmony_fields},
	{NULL}
};

static const FieldSpec message_fields[] = {
	{"msg_content", FK_TEXT, true, .max = MAX_TEXT},
	{"title", FK_TEXT, .max = MAX_SHORT},
	{"content_type", FK_TEXT, .max = MAX_SHORT},
	{"extras", FK_EXTRAS},
	{NULL}
};

static const FieldSpec options_fields[] = {
	{"plan_id", FK_TEXT, .max = MAX_ID},
	{"time_to_live", FK_CUSTOM, .check = check_ttl},
	{"multi_language", FK_CUSTOM, .check = check_multi_language},
	{"big_push_duration", FK_INT, .min = 0, .max = 1400},
	{"apns_collapse_id", FK_TEXT, .max = MAX_ID},
	{"priority", FK_CUSTOM, .check = check_priority},
	{"apns_production", FK_BOOL},
	{NULL}
};

static const FieldSpec body_fields[] = {
	{"platform", FK_CUSTOM, true, .check = check_platform},
	{"notification", FK_OBJECT, .sub = notification_fields},
	{"message", FK_OBJECT, .sub = message_fields},
	{"options", FK_OBJECT, .sub = options_fields},
	{NULL}
};

static const FieldSpec push_fields[] = {
	{"from", FK_TEXT, .max = MAX_SHORT},
	{"to", FK_CUSTOM, true, .check = check_to},
	{"body", FK_OBJECT, true, .sub = body_fields},
	{"request_id", FK_CUSTOM, .check = check_request_id},
	{"custom_args", FK_EXTRAS},
	/* only in normalized pushes (a push already normalized is accepted again) */
	{"dialect", FK_CUSTOM, .check = check_dialect},
	{"MsgRandom", FK_CUSTOM, .check = check_msg_random},
	{"From_Account", FK_TEXT, .max = MAX_SHORT},
	{NULL}
};

/* Does the notification give platform p a text: its own alert (an iOS alert object's body)? */
static bool
block_has_alert(JsonbContainer *notification, const char *platform)
{
	JsonbValue *block = pp_jmember(notification, platform);
	JsonbValue *alert;

	if (block == NULL)
		return false;
	alert = pp_jmember(block->val.binary.data, "alert");
	if (alert == NULL)
		return false;
	return alert->type == jbvString || pp_jmember(alert->val.binary.data, "body") != NULL;
}

static Jsonb *
engagelab_normalize(JsonbContainer *root, const char **dialect_out)
{
	JsonbValue	rootv;
	JsonbValue *dialectv;
	JsonbContainer *body;
	JsonbValue *notification;
	JsonbValue *options;
	JsonbParseState *st = NULL;
	const char *dialect;
	int			mask;

	rootv.type = jbvBinary;
	rootv.val.binary.data = root;
	rootv.val.binary.len = 0;
	check_object(&rootv, "", push_fields);

	dialectv = pp_jmember(root, "dialect");
	dialect = dialectv ? string_of(dialectv) : PP_DIALECT_ENGAGELAB;
	if (strcmp(dialect, PP_DIALECT_TENCENT_IM) != 0)
	{
		if (pp_jmember(root, "MsgRandom"))
			pp_error(ERR_PARAM, "92602",
					 "\"MsgRandom\" belongs to the Tencent IM form (allowed here only with \"dialect\": \"tencent_im\")");
		if (pp_jmember(root, "From_Account"))
			pp_error(ERR_PARAM, "92602",
					 "\"From_Account\" belongs to the Tencent IM form (allowed here only with \"dialect\": \"tencent_im\")");
	}
	else if (pp_jmember(root, "MsgRandom") == NULL)
		pp_error(ERR_PARAM, "90005", "MsgRandom is missing or not an integer from 0 to 4294967295");

	body = pp_jmember(root, "body")->val.binary.data;
	mask = platform_mask(pp_jmember(body, "platform"), "body.platform");
	notification = pp_jmember(body, "notification");
	if (notification == NULL && pp_jmember(body, "message") == NULL)
		pp_error(ERR_PARAM, "92613", "\"body\" needs \"notification\" or \"message\"");
	if (notification && pp_jmember(notification->val.binary.data, "alert") == NULL)
	{
		for (int i = 0; i < N_PLATFORMS; i++)
			if ((mask & (1 << i)) &&
				!block_has_alert(notification->val.binary.data, platform_names[i]))
				pp_error(ERR_PARAM, "92614",
						 "\"body.notification\" has no alert for platform \"%s\": set \"body.notification.alert\" or \"body.notification.%s.alert\"",
						 platform_names[i], platform_names[i]);
	}

	begin_object(&st, NULL);
	put_copy(&st, root, "from");
	put_copy(&st, root, "to");
	begin_object(&st, "body");
	put_platforms(&st, mask);
	put_copy(&st, body, "notification");
	put_copy(&st, body, "message");
	options = pp_jmember(body, "options");
	begin_object(&st, "options");
	if (options)
		push_pairs(&st, options->val.binary.data);
	if (options == NULL || pp_jmember(options->val.binary.data, "time_to_live") == NULL)
		put_int(&st, "time_to_live", DEFAULT_TTL);
	end_object(&st);
	end_object(&st);
	put_copy(&st, root, "request_id");
	put_copy(&st, root, "custom_args");
	put_copy(&st, root, "MsgRandom");
	put_copy(&st, root, "From_Account");
	put_string(&st, "dialect", dialect);

	if (dialect_out)
		*dialect_out = strcmp(dialect, PP_DIALECT_TENCENT_PUSH) == 0 ? PP_DIALECT_TENCENT_PUSH :
			strcmp(dialect, PP_DIALECT_TENCENT_IM) == 0 ? PP_DIALECT_TENCENT_IM : PP_DIALECT_ENGAGELAB;
	return JsonbValueToJsonb(end_object(&st));
}

/* ---------------------------------------------------------------------------------------------
 * Tencent Push body (Tencent Push's push plan and push to accounts)
 */

static const char *const tp_audience_types[] = {
	"all", "tag", "token", "token_list", "account", "account_list", "package_account_push", NULL
};

/* The audience members of a Tencent Push body; the audience compiler checks their contents. */
static const char *const tp_audience_keys[] = {
	"token_list", "account_list", "account_type", "account_push_type", "upload_id", "tag_list", NULL
};

/* Which audience members each audience_type takes; the first one listed is required. */
static bool
tp_audience_allows(const char *type, const char *key, bool *required)
{
	static const struct
	{
		const char *type;
		const char *keys[4];
	}			rules[] = {
		{"all", {NULL}},
		{"tag", {"tag_list", NULL}},
		{"token", {"token_list", NULL}},
		{"token_list", {"token_list", NULL}},
		{"account", {"account_list", "account_type", "account_push_type", NULL}},
		{"account_list", {"account_list", "account_type", "account_push_type", NULL}},
		{"package_account_push", {"upload_id", "account_type", "account_push_type", NULL}},
	};

	for (int i = 0; i < lengthof(rules); i++)
	{
		if (strcmp(rules[i].type, type) != 0)
			continue;
		for (int j = 0; rules[i].keys[j]; j++)
			if (strcmp(rules[i].keys[j], key) == 0)
			{
				*required = j == 0;
				return true;
			}
	}
	*required = false;
	return false;
}

static void
check_expire_time(JsonbValue *v, const char *path)
{
	int64		n;

	if (!jbv_int64(v, &n) || n < 0 || n > TP_MAX_EXPIRE)
		pp_error(ERR_PARAM, "90026",
				 "\"%s\" must be an integer from 0 to %d (seconds, at most 72 hours; 0 means the default, 72 hours)",
				 path, TP_MAX_EXPIRE);
}

static void
check_environment(JsonbValue *v, const char *path)
{
	if (!string_is(v, "product") && !string_is(v, "dev"))
		pp_error(ERR_PARAM, "92616", "\"%s\" must be \"product\" or \"dev\"", path);
}

static void
check_message_type(JsonbValue *v, const char *path)
{
	if (!string_is(v, "notify") && !string_is(v, "message"))
		pp_error(ERR_PARAM, "92616", "\"%s\" must be \"notify\" or \"message\"", path);
}

/*
 * custom_content: Tencent Push writes it as a string holding a JSON object; an object is
 * accepted too.  Returns the object as a binary JsonbValue.
 */
static JsonbValue *
tp_custom_content(JsonbValue *v, const char *path)
{
	JsonbValue *res;

	if (v->type == jbvString)
	{
		char	   *s = string_of(v);
		JsonLexContext *lex;
		Jsonb	   *jb;

		lex = makeJsonLexContextCstringLen(s, strlen(s), GetDatabaseEncoding(), true);
		if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
			pp_error(ERRCODE_INVALID_TEXT_REPRESENTATION, "90001",
					 "\"%s\" is not valid JSON text", path);
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
		if (!JB_ROOT_IS_OBJECT(jb))
			pp_error(ERR_PARAM, "92604",
					 "\"%s\" must be an object or a string holding a JSON object", path);
		res = palloc(sizeof(JsonbValue));
		res->type = jbvBinary;
		res->val.binary.data = &jb->root;
		res->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
	else if (pp_jv_is_object(v))
		res = v;
	else
		pp_error(ERR_PARAM, "92604",
				 "\"%s\" must be an object or a string holding a JSON object", path);
	check_extras(res, path);
	return res;
}

static void
check_custom_content(JsonbValue *v, const char *path)
{
	(void) tp_custom_content(v, path);
}

/* Android badge_type: -1 leaves the badge, -2 adds one; setting it to N has no counterpart. */
static void
check_tp_android_badge(JsonbValue *v, const char *path)
{
	int64		n = check_int(v, path, -2, PG_INT32_MAX);

	if (n >= 0)
		pp_error(ERR_PARAM, "92624",
				 "\"%s\" " INT64_FORMAT " (set the badge to N) is not supported on Android; use -1 (unchanged) or -2 (add one)",
				 path, n);
}

static const FieldSpec tp_browser_fields[] = {
	{"url", FK_TEXT, true, .max = MAX_URL},
	{"confirm", FK_INT, .min = 0, .max = 1},
	{NULL}
};

static const FieldSpec tp_action_fields[] = {
	{"action_type", FK_INT, true, .min = 1, .max = 3},
	{"activity", FK_TEXT, .max = MAX_SHORT},
	{"browser", FK_OBJECT, .sub = tp_browser_fields},
	{"intent", FK_TEXT, .max = MAX_URL},
	{NULL}
};

static const FieldSpec tp_android_fields[] = {
	{"n_ch_id", FK_TEXT, .max = MAX_SHORT},
	{"ring_raw", FK_TEXT, .max = MAX_SHORT},
	{"badge_type", FK_CUSTOM, .check = check_tp_android_badge},
	{"custom_content", FK_CUSTOM, .check = check_custom_content},
	{"action", FK_OBJECT, .sub = tp_action_fields},
	{NULL}
};

static const FieldSpec tp_android_message_fields[] = {
	{"custom_content", FK_CUSTOM, .check = check_custom_content},
	{NULL}
};

static const FieldSpec tp_aps_fields[] = {
	{"alert", FK_OBJECT, .sub = ios_alert_fields},
	{"badge_type", FK_INT, .min = -2, .max = 99999},
	{"category", FK_TEXT, .max = MAX_SHORT},
	{"sound", FK_TEXT, .max = MAX_SHORT},
	{"mutable-content", FK_INT, .min = 0, .max = 1},
	{"thread-id", FK_TEXT, .max = MAX_SHORT},
	{NULL}
};

/* message.ios: "aps", "xg_media_resources", and any other key is custom content. */
static void
check_tp_ios(JsonbValue *v, const char *path)
{
	JsonbValue *aps;
	JsonbValue *media;

	check_extras(v, path);
	if ((aps = pp_jmember(v->val.binary.data, "aps")) != NULL)
		check_object(aps, child_path(path, "aps"), tp_aps_fields);
	if ((media = pp_jmember(v->val.binary.data, "xg_media_resources")) != NULL)
		check_text(media, child_path(path, "xg_media_resources"), MAX_URL);
}

static void
reject_for_data_message(JsonbValue *v, const char *path)
{
	pp_error(ERR_PARAM, "92625", "\"%s\" applies only to message_type \"notify\"", path);
}

static const FieldSpec tp_notify_fields[] = {
	{"title", FK_TEXT, .max = MAX_SHORT},
	{"content", FK_TEXT, true, .max = MAX_TEXT},
	{"android", FK_OBJECT, .sub = tp_android_fields},
	{"ios", FK_CUSTOM, .check = check_tp_ios},
	{"custom_content", FK_CUSTOM, .check = check_custom_content},
	{NULL}
};

static const FieldSpec tp_message_fields[] = {
	{"title", FK_TEXT, .max = MAX_SHORT},
	{"content", FK_TEXT, true, .max = MAX_TEXT},
	{"android", FK_OBJECT, .sub = tp_android_message_fields},
	{"ios", FK_CUSTOM, .check = reject_for_data_message},
	{"custom_content", FK_CUSTOM, .check = check_custom_content},
	{NULL}
};

static const FieldSpec tp_fields[] = {
	{"audience_type", FK_TEXT, true, .max = MAX_SHORT},
	{"token_list", FK_ANY},
	{"account_list", FK_ANY},
	{"account_type", FK_ANY},
	{"account_push_type", FK_ANY},
	{"upload_id", FK_ANY},
	{"tag_list", FK_ANY},
	{"message_type", FK_CUSTOM, true, .check = check_message_type},
	{"message", FK_ANY, true},	/* checked once message_type is known */
	{"plan_id", FK_TEXT, .max = MAX_ID},
	{"expire_time", FK_CUSTOM, .check = check_expire_time},
	{"environment", FK_CUSTOM, .check = check_environment},
	{NULL}
};

/* Extras from message.custom_content and a platform's own custom content (which wins). */
static void
put_merged_extras(JsonbParseState **st, JsonbValue *common, JsonbContainer *own, bool own_is_ios)
{
	if (common == NULL && own == NULL)
		return;
	begin_object(st, "extras");
	if (common)
		push_pairs(st, common->val.binary.data);
	if (own && own_is_ios)
	{
		JsonbIterator *it = JsonbIteratorInit(own);
		JsonbValue	k;
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			if (tok != WJB_KEY)
				continue;
			JsonbIteratorNext(&it, &v, true);
			if (string_is(&k, "aps") || string_is(&k, "xg_media_resources"))
				continue;
			pushJsonbValue(st, WJB_KEY, &k);
			pushJsonbValue(st, WJB_VALUE, &v);
		}
	}
	else if (own)
		push_pairs(st, own);
	end_object(st);
}


static bool
tp_ios_has_custom_keys(JsonbContainer *ios)
{
	int			n = JsonContainerSize(ios);

	n -= pp_jmember(ios, "aps") != NULL;
	n -= pp_jmember(ios, "xg_media_resources") != NULL;
	return n > 0;
}

/* message.android.action -> android.intent.url (2: a web page, 3: an intent URI). */
static void
tp_put_intent(JsonbParseState **st, JsonbContainer *action)
{
	JsonbValue *browser = pp_jmember(action, "browser");
	int64		type = int_of(pp_jmember(action, "action_type"));

	if (type == 2 && browser == NULL)
		pp_error(ERR_PARAM, "92605",
				 "\"message.android.action.browser\" is required when action_type is 2");
	if (type == 3 && pp_jmember(action, "intent") == NULL)
		pp_error(ERR_PARAM, "92605",
				 "\"message.android.action.intent\" is required when action_type is 3");
	if (type == 1)
		return;					/* open the app: what a notification does anyway */
	begin_object(st, "intent");
	if (type == 2)
		put_copy(st, browser->val.binary.data, "url");
	else
		put_copy_as(st, "url", action, "intent");
	end_object(st);
}

static void
tp_put_notification(JsonbParseState **st, JsonbContainer *msg)
{
	JsonbValue *title = pp_jmember(msg, "title");
	JsonbValue *common = pp_jmember(msg, "custom_content");
	JsonbValue *v;
	JsonbContainer *a = NULL;
	JsonbContainer *i = NULL;
	JsonbContainer *aps = NULL;
	JsonbContainer *alert = NULL;
	JsonbValue *ititle;
	JsonbParseState *sub;

	if (common)
		common = tp_custom_content(common, "message.custom_content");
	if ((v = pp_jmember(msg, "android")) != NULL)
		a = v->val.binary.data;
	if ((v = pp_jmember(msg, "ios")) != NULL)
		i = v->val.binary.data;
	if (i && (v = pp_jmember(i, "aps")) != NULL)
		aps = v->val.binary.data;
	if (aps && (v = pp_jmember(aps, "alert")) != NULL)
		alert = v->val.binary.data;

	begin_object(st, "notification");
	put_copy_as(st, "alert", msg, "content");

	sub = NULL;
	begin_object(&sub, NULL);
	if (title)
		put_value(&sub, "title", title);
	put_copy_as(&sub, "channel_id", a, "n_ch_id");
	put_copy_as(&sub, "sound", a, "ring_raw");
	if (a && (v = pp_jmember(a, "badge_type")) != NULL && int_of(v) == -2)
		put_int(&sub, "badge_add_num", 1);
	if (a && (v = pp_jmember(a, "action")) != NULL)
		tp_put_intent(&sub, v->val.binary.data);
	v = a ? pp_jmember(a, "custom_content") : NULL;
	put_merged_extras(&sub, common,
					  v ? tp_custom_content(v, "message.android.custom_content")->val.binary.data : NULL,
					  false);
	put_block(st, "android", &sub);

	sub = NULL;
	begin_object(&sub, NULL);
	ititle = alert ? pp_jmember(alert, "title") : NULL;
	if (ititle == NULL)
		ititle = title;
	if (ititle || (alert && JsonContainerSize(alert) > 0))
	{
		begin_object(&sub, "alert");
		if (ititle)
			put_value(&sub, "title", ititle);
		put_copy(&sub, alert, "subtitle");
		if (alert && pp_jmember(alert, "body"))
			put_copy(&sub, alert, "body");
		else
			put_copy_as(&sub, "body", msg, "content");
		end_object(&sub);
	}
	if (aps && (v = pp_jmember(aps, "badge_type")) != NULL)
	{
		int64		n = int_of(v);

		if (n == -2)
			put_string(&sub, "badge", "+1");
		else if (n >= 0)
			put_int(&sub, "badge", n);
	}
	put_copy(&sub, aps, "sound");
	put_copy(&sub, aps, "category");
	put_copy_as(&sub, "thread_id", aps, "thread-id");
	if (aps && (v = pp_jmember(aps, "mutable-content")) != NULL)
		put_bool(&sub, "mutable_content", int_of(v) == 1);
	put_copy_as(&sub, "image", i, "xg_media_resources");
	put_merged_extras(&sub, common, i && tp_ios_has_custom_keys(i) ? i : NULL, true);
	put_block(st, "ios", &sub);

	end_object(st);
}

static void
tp_put_message(JsonbParseState **st, JsonbContainer *msg)
{
	JsonbValue *common = pp_jmember(msg, "custom_content");
	JsonbValue *android = pp_jmember(msg, "android");
	JsonbValue *own = android ? pp_jmember(android->val.binary.data, "custom_content") : NULL;

	begin_object(st, "message");
	put_copy_as(st, "msg_content", msg, "content");
	put_copy(st, msg, "title");
	put_merged_extras(st,
					  common ? tp_custom_content(common, "message.custom_content") : NULL,
					  own ? tp_custom_content(own, "message.android.custom_content")->val.binary.data : NULL,
					  false);
	end_object(st);
}

/* Checks a Tencent Push body in its own terms and returns it as a normalized EngageLab object. */
static Jsonb *
tencent_push_translate(JsonbContainer *root)
{
	JsonbValue	rootv;
	char	   *type;
	bool		notify;
	JsonbValue *v;
	JsonbParseState *st = NULL;
	bool		required;

	rootv.type = jbvBinary;
	rootv.val.binary.data = root;
	rootv.val.binary.len = 0;
	check_object(&rootv, "", tp_fields);

	type = string_of(pp_jmember(root, "audience_type"));
	for (int i = 0;; i++)
	{
		if (tp_audience_types[i] == NULL)
			pp_error(ERR_PARAM, "92620",
					 "audience_type \"%s\" is not one of all, tag, token, token_list, account, account_list, package_account_push",
					 type);
		if (strcmp(tp_audience_types[i], type) == 0)
			break;
	}
	for (int i = 0; tp_audience_keys[i]; i++)
	{
		const char *key = tp_audience_keys[i];
		bool		allowed = tp_audience_allows(type, key, &required);
		bool		present = pp_jmember(root, key) != NULL;

		if (present && !allowed)
			pp_error(ERR_PARAM, "92621", "\"%s\" does not go with audience_type \"%s\"", key, type);
		if (!present && required)
			pp_error(ERR_PARAM, "92605", "\"%s\" is required with audience_type \"%s\"", key, type);
	}

	notify = string_is(pp_jmember(root, "message_type"), "notify");
	check_object(pp_jmember(root, "message"), "message", notify ? tp_notify_fields : tp_message_fields);

	begin_object(&st, NULL);
	begin_object(&st, "to");
	put_copy(&st, root, "audience_type");
	for (int i = 0; tp_audience_keys[i]; i++)
		put_copy(&st, root, tp_audience_keys[i]);
	end_object(&st);

	begin_object(&st, "body");
	put_platforms(&st, TENCENT_PLATFORMS);
	if (notify)
		tp_put_notification(&st, pp_jmember(root, "message")->val.binary.data);
	else
		tp_put_message(&st, pp_jmember(root, "message")->val.binary.data);
	begin_object(&st, "options");
	put_copy(&st, root, "plan_id");
	v = pp_jmember(root, "expire_time");
	put_int(&st, "time_to_live", v && int_of(v) > 0 ? int_of(v) : TP_MAX_EXPIRE);
	if ((v = pp_jmember(root, "environment")) != NULL)
		put_bool(&st, "apns_production", string_is(v, "product"));
	end_object(&st);
	end_object(&st);

	put_string(&st, "dialect", PP_DIALECT_TENCENT_PUSH);
	return JsonbValueToJsonb(end_object(&st));
}

/* ---------------------------------------------------------------------------------------------
 * Tencent IM all/tag/attribute push (Tencent IM's all/tag push)
 */

static void
check_msg_lifetime(JsonbValue *v, const char *path)
{
	int64		n;

	if (!jbv_int64(v, &n) || n < 0 || n > IM_MAX_LIFETIME)
		pp_error(ERR_PARAM, "90026",
				 "\"%s\" must be an integer from 0 to %d (seconds, at most 7 days)",
				 path, IM_MAX_LIFETIME);
}

/* Ext becomes the extra "ext" of the notification, so it must fit the extras cap as JSON. */
static void
check_im_ext(JsonbValue *v, const char *path)
{
	StringInfoData buf;

	check_text(v, path, MAX_TEXT);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"ext\": ");
	escape_json(&buf, string_of(v));
	appendStringInfoChar(&buf, '}');
	if (buf.len > MAX_EXTRAS)
		pp_error(ERR_TOO_LARGE, "92606",
				 "\"%s\" is longer than %d bytes as the JSON text {\"ext\": ...}", path, MAX_EXTRAS);
}

static void
check_condition(JsonbValue *v, const char *path)
{
	/* its members and Tencent IM's tag rules are the audience compiler's (src/audience.c) */
	if (!pp_jv_is_object(v))
		pp_error(ERR_PARAM, "92604", "\"%s\" must be an object", path);
}

static const FieldSpec im_android_fields[] = {
	{"Sound", FK_TEXT, .max = MAX_SHORT},
	{"GoogleChannelID", FK_TEXT, .max = MAX_SHORT},
	{NULL}
};

static const FieldSpec im_apns_fields[] = {
	{"Sound", FK_TEXT, .max = MAX_SHORT},
	{"BadgeMode", FK_INT, .min = 0, .max = 1},
	{"Title", FK_TEXT, .max = MAX_SHORT},
	{"SubTitle", FK_TEXT, .max = MAX_SHORT},
	{"Image", FK_TEXT, .max = MAX_URL},
	{"MutableContent", FK_INT, .min = 0, .max = 1},
	{NULL}
};

static const FieldSpec im_offline_fields[] = {
	{"PushFlag", FK_INT, .min = 0, .max = 1},
	{"Title", FK_TEXT, .max = MAX_SHORT},
	{"Desc", FK_TEXT, .max = MAX_TEXT},
	{"Ext", FK_CUSTOM, .check = check_im_ext},
	{"AndroidInfo", FK_OBJECT, .sub = im_android_fields},
	{"ApnsInfo", FK_OBJECT, .sub = im_apns_fields},
	{NULL}
};

static const FieldSpec im_fields[] = {
	{"From_Account", FK_TEXT, .max = MAX_SHORT},
	{"MsgRandom", FK_CUSTOM, .check = check_msg_random},
	{"Condition", FK_CUSTOM, .check = check_condition},
	{"OfflinePushInfo", FK_OBJECT, .sub = im_offline_fields},
	{"MsgLifeTime", FK_CUSTOM, .check = check_msg_lifetime},
	{NULL}
};

/* Ext, the IM pass-through string, reaches the app as the extra "ext" (as IM itself does). */
static void
im_put_ext(JsonbParseState **st, JsonbValue *ext)
{
	if (ext == NULL)
		return;
	begin_object(st, "extras");
	put_value(st, "ext", ext);
	end_object(st);
}

static void
im_put_notification(JsonbParseState **st, JsonbContainer *info)
{
	JsonbValue *title = pp_jmember(info, "Title");
	JsonbValue *ext = pp_jmember(info, "Ext");
	JsonbValue *v;
	JsonbContainer *ai = NULL;
	JsonbContainer *apns = NULL;
	JsonbValue *ititle;
	JsonbParseState *sub;

	if (pp_jmember(info, "Desc") == NULL)
		pp_error(ERR_PARAM, "92605", "\"OfflinePushInfo.Desc\" is required when PushFlag is 0");
	if ((v = pp_jmember(info, "AndroidInfo")) != NULL)
		ai = v->val.binary.data;
	if ((v = pp_jmember(info, "ApnsInfo")) != NULL)
		apns = v->val.binary.data;

	begin_object(st, "notification");
	put_copy_as(st, "alert", info, "Desc");

	sub = NULL;
	begin_object(&sub, NULL);
	if (title)
		put_value(&sub, "title", title);
	put_copy_as(&sub, "sound", ai, "Sound");
	put_copy_as(&sub, "channel_id", ai, "GoogleChannelID");
	im_put_ext(&sub, ext);
	put_block(st, "android", &sub);

	sub = NULL;
	begin_object(&sub, NULL);
	ititle = apns ? pp_jmember(apns, "Title") : NULL;
	if (ititle == NULL)
		ititle = title;
	if (ititle || (apns && pp_jmember(apns, "SubTitle")))
	{
		begin_object(&sub, "alert");
		if (ititle)
			put_value(&sub, "title", ititle);
		put_copy_as(&sub, "subtitle", apns, "SubTitle");
		put_copy_as(&sub, "body", info, "Desc");
		end_object(&sub);
	}
	put_copy_as(&sub, "sound", apns, "Sound");
	/* BadgeMode: absent or 0 counts the message on the badge, 1 does not */
	if (apns == NULL || (v = pp_jmember(apns, "BadgeMode")) == NULL || int_of(v) == 0)
		put_string(&sub, "badge", "+1");
	put_copy_as(&sub, "image", apns, "Image");
	if (apns && (v = pp_jmember(apns, "MutableContent")) != NULL)
		put_bool(&sub, "mutable_content", int_of(v) == 1);
	im_put_ext(&sub, ext);
	put_block(st, "ios", &sub);

	end_object(st);
}

/*
 * PushFlag 1 means "online users only": pushplan has no online channel, so the nearest thing
 * is a data message, which reaches the app (when it runs) without showing a notification.
 */
static void
im_put_message(JsonbParseState **st, JsonbContainer *info)
{
	JsonbValue *content = pp_jmember(info, "Ext");

	if (content == NULL)
		content = pp_jmember(info, "Desc");
	if (content == NULL)
		pp_error(ERR_PARAM, "92630",
				 "\"OfflinePushInfo\" with PushFlag 1 (online only) needs \"Ext\": pushplan has no online channel and sends it as a data message");
	if (pp_jmember(info, "AndroidInfo"))
		pp_error(ERR_PARAM, "92632",
				 "\"OfflinePushInfo.AndroidInfo\" applies only when PushFlag is 0");
	if (pp_jmember(info, "ApnsInfo"))
		pp_error(ERR_PARAM, "92632", "\"OfflinePushInfo.ApnsInfo\" applies only when PushFlag is 0");
	begin_object(st, "message");
	put_value(st, "msg_content", content);
	put_copy_as(st, "title", info, "Title");
	end_object(st);
}

static Jsonb *
tencent_im_translate(Jsonb *push)
{
	JsonbContainer *root = &push->root;
	JsonbValue	rootv;
	JsonbValue *info;
	JsonbValue *v;
	JsonbParseState *st = NULL;

	if (json_text_length(root, VARSIZE(push)) > MAX_IM_BODY_BYTES)
		pp_error(ERR_TOO_LARGE, "90056",
				 "a Tencent IM push body is larger than %d bytes as JSON text", MAX_IM_BODY_BYTES);
	rootv.type = jbvBinary;
	rootv.val.binary.data = root;
	rootv.val.binary.len = 0;
	check_object(&rootv, "", im_fields);
	if (pp_jmember(root, "MsgRandom") == NULL)
		pp_error(ERR_PARAM, "90005", "MsgRandom is missing or not an integer from 0 to 4294967295");
	if ((info = pp_jmember(root, "OfflinePushInfo")) == NULL)
		pp_error(ERR_PARAM, "92631",
				 "\"OfflinePushInfo\" is required: pushplan delivers through the vendors' offline channels only");

	begin_object(&st, NULL);
	if ((v = pp_jmember(root, "Condition")) != NULL)
		put_value(&st, "to", v);
	else
		put_string(&st, "to", "all");
	begin_object(&st, "body");
	put_platforms(&st, TENCENT_PLATFORMS);
	v = pp_jmember(info->val.binary.data, "PushFlag");
	if (v && int_of(v) == 1)
		im_put_message(&st, info->val.binary.data);
	else
		im_put_notification(&st, info->val.binary.data);
	begin_object(&st, "options");
	v = pp_jmember(root, "MsgLifeTime");
	put_int(&st, "time_to_live", v ? int_of(v) : DEFAULT_TTL);
	end_object(&st);
	end_object(&st);
	put_copy(&st, root, "MsgRandom");
	put_copy(&st, root, "From_Account");
	put_string(&st, "dialect", PP_DIALECT_TENCENT_IM);
	return JsonbValueToJsonb(end_object(&st));
}

/* ---------------------------------------------------------------------------------------------
 * Dialect detection and the entry points
 */

/* Keys that only one dialect has; the first one present names the dialect in errors. */
static const char *const engagelab_marks[] = {"to", "body", "from", "request_id", "custom_args", NULL};
static const char *const tencent_push_marks[] = {"audience_type", "message_type", "message", NULL};
static const char *const tencent_im_marks[] = {
	"MsgRandom", "OfflinePushInfo", "Condition", "From_Account", "MsgLifeTime", NULL
};

static const char *
first_mark(JsonbContainer *root, const char *const *marks)
{
	for (int i = 0; marks[i]; i++)
		if (pp_jmember(root, marks[i]))
			return marks[i];
	return NULL;
}

Jsonb *
pp_push_normalize(Jsonb *push, const char **dialect_out)
{
	JsonbContainer *root = &push->root;
	const char *names[3] = {"EngageLab", "Tencent Push", "Tencent IM"};
	const char *marks[3];
	int			found = -1;

	if (!JB_ROOT_IS_OBJECT(push))
		pp_error(ERR_PARAM, "92600", "a push must be a JSON object");

	/* a push normalized before carries its dialect and is in the EngageLab form */
	if (pp_jmember(root, "dialect"))
		found = 0;
	else
	{
		marks[0] = first_mark(root, engagelab_marks);
		marks[1] = first_mark(root, tencent_push_marks);
		marks[2] = first_mark(root, tencent_im_marks);
		for (int i = 0; i < 3; i++)
		{
			if (marks[i] == NULL)
				continue;
			if (found >= 0)
				pp_error(ERR_PARAM, "92602",
						 "a push mixes the %s form (\"%s\") with the %s form (\"%s\")",
						 names[found], marks[found], names[i], marks[i]);
			found = i;
		}
		if (found < 0)
			pp_error(ERR_PARAM, "92601",
					 "a push must be an EngageLab push object (\"to\", \"body\"), a Tencent Push body (\"audience_type\", \"message\") or a Tencent IM body (\"MsgRandom\", \"OfflinePushInfo\")");
	}

	if (found == 2)
		return engagelab_normalize(&tencent_im_translate(push)->root, dialect_out);
	if (json_text_length(root, VARSIZE(push)) > MAX_PUSH_BYTES)
		pp_error(ERR_TOO_LARGE, "92640", "a push is larger than %d bytes as JSON text",
				 MAX_PUSH_BYTES);
	if (found == 1)
		return engagelab_normalize(&tencent_push_translate(root)->root, dialect_out);
	return engagelab_normalize(root, dialect_out);
}

/* push_validate(push jsonb) RETURNS jsonb: the normalized push, or the error push_send would raise */
Datum
pushplan_push_validate(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(pp_push_normalize(PG_GETARG_JSONB_P(0), NULL));
}
