/*
 * push_engagelab.c: the EngageLab push object, checked against its field tables and copied with
 * its defaults filled in: the one shape every dialect ends in (doc/push.md).
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
#include "push_parse.h"

const char *const ppj_platform_names[] = {"android", "ios", "web", "harmony"};

#define PLATFORMS_HINT	"The platforms are android, ios, web and harmony, or \"all\" alone."
#define IM_ONLY_DETAIL	"It is allowed here only with \"dialect\": \"tencent_im\"."

static int
platform_bit(JsonbValue *v)
{
	for (int i = 0; i < N_PLATFORMS; i++)
		if (ppj_string_is(v, ppj_platform_names[i]))
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

		if (ppj_string_is(v, "all"))
			return ALL_PLATFORMS;
		if ((bit = platform_bit(v)) < 0)
			ereport(ERROR,
					(pp_errmsg(PPE_PUSH_PLATFORM_UNKNOWN, "unknown platform \"%s\" in \"%s\"",
							   pp_shown(ppj_string_of(v)), path),
					 errhint(PLATFORMS_HINT)));
		return 1 << bit;
	}
	if (!pp_jv_is_array(v))
		pp_error(PPE_PUSH_TYPE,
				 "\"%s\" must be \"all\", a platform name or an array of platform names", path);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		int			bit;

		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString)
			pp_error(PPE_PUSH_TYPE,
					 "\"%s\" must be \"all\", a platform name or an array of platform names", path);
		if ((bit = platform_bit(&e)) < 0)
			ereport(ERROR,
					(pp_errmsg(PPE_PUSH_PLATFORM_UNKNOWN, "unknown platform \"%s\" in \"%s\"",
							   pp_shown(ppj_string_of(&e)), path),
					 errhint(PLATFORMS_HINT)));
		if (mask & (1 << bit))
			pp_error(PPE_PUSH_PLATFORM_TWICE, "platform \"%s\" appears twice in \"%s\"",
					 ppj_platform_names[bit], path);
		mask |= 1 << bit;
	}
	if (mask == 0)
		pp_error(PPE_PUSH_PLATFORM_NONE, "\"%s\" must name at least one platform", path);
	return mask;
}

/* "platform": the platforms of mask as an array, always in the same order. */
void
ppj_put_platforms(JsonbParseState **st, int mask)
{
	ppj_put_key(st, "platform");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < N_PLATFORMS; i++)
	{
		JsonbValue	p;

		if (!(mask & (1 << i)))
			continue;
		p.type = jbvString;
		p.val.string.val = (char *) ppj_platform_names[i];
		p.val.string.len = strlen(ppj_platform_names[i]);
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
	if (!ppj_string_is(v, "all") && !pp_jv_is_object(v))
		pp_error(PPE_PUSH_TO_INVALID, "\"%s\" must be \"all\" or an audience object", path);
}

const FieldSpec ppj_ios_alert_fields[] = {
	{"title", FK_TEXT, .max = MAX_SHORT},
	{"subtitle", FK_TEXT, .max = MAX_SHORT},
	{"body", FK_TEXT, .max = MAX_TEXT},
	{NULL}
};

static void
check_ios_alert(JsonbValue *v, const char *path)
{
	if (v->type == jbvString)
		ppj_check_text(v, path, MAX_TEXT);
	else if (pp_jv_is_object(v))
		ppj_check_object(v, path, ppj_ios_alert_fields);
	else
		pp_error(PPE_PUSH_TYPE, "\"%s\" must be a string or an object", path);
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
		ok = ppj_jbv_int64(v, &n) && n >= 0 && n <= 99999;
	if (!ok)
		pp_error(PPE_PUSH_BADGE,
				 "\"%s\" must be an integer from 0 to 99999 or a string \"+N\" or \"-N\" (N from 1 to 99999)",
				 path);
}

static void
check_ttl(JsonbValue *v, const char *path)
{
	int64		n;

	if (!ppj_jbv_int64(v, &n) || n < 0 || n > MAX_TTL)
		pp_error(PPE_PUSH_TTL,
				 "\"%s\" must be an integer from 0 to %d (seconds, at most 15 days)", path, MAX_TTL);
}

static void
check_priority(JsonbValue *v, const char *path)
{
	if (!ppj_string_is(v, "high") && !ppj_string_is(v, "normal") && !ppj_string_is(v, "low"))
		pp_error(PPE_PUSH_VALUE_UNKNOWN, "\"%s\" must be \"high\", \"normal\" or \"low\"", path);
}

/*
 * options.category (doc/privacy.md): the consent category the push is sent under, a name of
 * a-z, 0-9 and _ (push_send checks that the app knows it).
 */
void
ppj_check_category(JsonbValue *v, const char *path)
{
	bool		ok = v->type == jbvString && v->val.string.len >= 1 && v->val.string.len <= 64 &&
		v->val.string.val[0] >= 'a' && v->val.string.val[0] <= 'z';

	for (int i = 1; ok && i < v->val.string.len; i++)
	{
		char		c = v->val.string.val[i];

		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
	}
	if (!ok)
		pp_error(PPE_CONSENT_CATEGORY_NAME,
				 "\"%s\" must be a category: 1 to 64 characters of a-z, 0-9 and _, starting with a letter",
				 path);
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
		pp_error(PPE_PUSH_TYPE, "\"%s\" must be an object", path);
	if (JsonContainerSize(v->val.binary.data) > MAX_LANGUAGES)
		pp_error(PPE_PUSH_LANGUAGES_TOO_MANY, "\"%s\" has more than %d languages", path, MAX_LANGUAGES);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *lang;
		char	   *lpath;

		if (tok != WJB_KEY)
			continue;
		lang = ppj_string_of(&k);
		lpath = ppj_child_path(path, lang);
		tok = JsonbIteratorNext(&it, &val, true);
		if (!pp_language_tag_valid(lang))
			pp_error(PPE_PUSH_LANGUAGE_TAG,
					 "\"%s\" is not a language tag such as \"en\" or \"zh-Hans\"", lpath);
		ppj_check_object(&val, lpath, language_fields);
		if (JsonContainerSize(val.val.binary.data) == 0)
			pp_error(PPE_PUSH_LANGUAGE_EMPTY, "\"%s\" needs \"alert\" or \"title\"", lpath);
	}
}

static void
check_request_id(JsonbValue *v, const char *path)
{
	if (v->type != jbvString)
		pp_error(PPE_PUSH_TYPE, "\"%s\" must be a string", path);
	if (v->val.string.len == 0)
		pp_error(PPE_PUSH_EMPTY, "\"%s\" must not be empty", path);
	if (pg_mbstrlen_with_len(v->val.string.val, v->val.string.len) > MAX_ID)
		pp_error(PPE_PUSH_TOO_LONG, "\"%s\" is longer than %d characters", path, MAX_ID);
}

static void
check_dialect(JsonbValue *v, const char *path)
{
	if (!ppj_string_is(v, PP_DIALECT_ENGAGELAB) && !ppj_string_is(v, PP_DIALECT_TENCENT_PUSH) &&
		!ppj_string_is(v, PP_DIALECT_TENCENT_IM))
		pp_error(PPE_PUSH_VALUE_UNKNOWN,
				 "\"%s\" must be \"engagelab\", \"tencent_push\" or \"tencent_im\"", path);
}

/* Seed 004: a 32-bit unsigned integer, used to de-duplicate sends within one second. */
void
ppj_check_msg_random(JsonbValue *v, const char *path)
{
	int64		n;

	if (!ppj_jbv_int64(v, &n) || n < 0 || n > PG_UINT32_MAX)
		pp_error(PPE_PUSH_MSG_RANDOM, "MsgRandom is missing or not an integer from 0 to 4294967295");
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
	{"missing_attribute", FK_CUSTOM, .check = ppj_check_missing_attribute},
	/* engagement controls (doc/engagement.md): true applies them to a transactional push too,
	 * false exempts the push */
	{"frequency_cap", FK_BOOL},
	{"quiet_hours", FK_BOOL},
	{"category", FK_CUSTOM, .check = ppj_check_category},
	{NULL}
};

static const FieldSpec body_fields[] = {
	{"platform", FK_CUSTOM, true, .check = check_platform},
	{"notification", FK_OBJECT, .sub = notification_fields},
	{"message", FK_OBJECT, .sub = message_fields},
	{"options", FK_OBJECT, .sub = options_fields},
	{NULL}
};

/*
 * Tencent Push's send_time: a wall time in the app's time zone (push_send makes the task due
 * then; doc/push.md, "Tencent Push").
 */
void
ppj_check_send_time(JsonbValue *v, const char *path)
{
	if (v->type != jbvString || !pp_valid_local_datetime(v->val.string.val, v->val.string.len))
		pp_error(PPE_PUSH_SEND_TIME, "\"%s\" must be a valid time YYYY-MM-DD HH:MM:SS", path);
}

/* The trigger checks come with push_schedule_create, which push_send hands a loop to. */
static void
check_loop(JsonbValue *v, const char *path)
{
	if (!pp_jv_is_object(v))
		pp_error(PPE_PUSH_LOOP, "\"%s\" must be an object (a schedule's trigger)", path);
}

static const FieldSpec push_fields[] = {
	{"from", FK_TEXT, .max = MAX_SHORT},
	{"to", FK_CUSTOM, true, .check = check_to},
	{"body", FK_OBJECT, true, .sub = body_fields},
	{"request_id", FK_CUSTOM, .check = check_request_id},
	{"custom_args", FK_EXTRAS},
	/* only in normalized pushes (a push already normalized is accepted again) */
	{"dialect", FK_CUSTOM, .check = check_dialect},
	{"MsgRandom", FK_CUSTOM, .check = ppj_check_msg_random},
	{"From_Account", FK_TEXT, .max = MAX_SHORT},
	{"send_time", FK_CUSTOM, .check = ppj_check_send_time},
	/* Tencent Push's loop_param as the trigger it comes to: push_send makes it a schedule */
	{"loop", FK_CUSTOM, .check = check_loop},
	/* A/B variants (push_variants.c, doc/variants.md) */
	{"variants", FK_CUSTOM, .check = ppj_check_variants},
	{"variants_test", FK_CUSTOM, .check = ppj_check_variants_test},
	/* cross-channel fallback (doc/fallback.md): checked as it is written, by pp_fallback_put */
	{"fallback", FK_ANY},
	{NULL}
};

/* "in variant ..." on the errors of a variant's push */
static void
variant_context(void *arg)
{
	errcontext("in variant \"%s\" (variants[%d] of the push)", ((const char **) arg)[0],
			   (int) (intptr_t) ((const char **) arg)[1]);
}

/*
 * Every variant's push is checked as a whole push (the base push has been checked already), so
 * that a variant is refused for what would refuse the push it sends.
 */
static void
check_variant_pushes(JsonbContainer *root, JsonbValue *variants)
{
	JsonbIterator *it = JsonbIteratorInit(variants->val.binary.data);
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			i = 0;

	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		ErrorContextCallback cb;
		const char *arg[2];
		bool		control = false;

		if (tok != WJB_ELEM)
			continue;
		(void) pp_jbool(e.val.binary.data, "control", &control);
		if (!control)
		{
			arg[0] = pp_jstr(e.val.binary.data, "name");
			arg[1] = (const char *) (intptr_t) i;
			cb.callback = variant_context;
			cb.arg = arg;
			cb.previous = error_context_stack;
			error_context_stack = &cb;
			(void) pp_engagelab_normalize(&ppj_variant_push(root, e.val.binary.data)->root, NULL);
			error_context_stack = cb.previous;
		}
		i++;
	}
}

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

Jsonb *
pp_engagelab_normalize(JsonbContainer *root, const char **dialect_out)
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
	ppj_check_object(&rootv, "", push_fields);

	dialectv = pp_jmember(root, "dialect");
	dialect = dialectv ? ppj_string_of(dialectv) : PP_DIALECT_ENGAGELAB;
	if (strcmp(dialect, PP_DIALECT_TENCENT_IM) != 0)
	{
		if (pp_jmember(root, "MsgRandom"))
			ereport(ERROR,
					(pp_errmsg(PPE_PUSH_DIALECTS_MIXED,
							   "\"MsgRandom\" belongs to the Tencent IM form"),
					 errdetail(IM_ONLY_DETAIL)));
		if (pp_jmember(root, "From_Account"))
			ereport(ERROR,
					(pp_errmsg(PPE_PUSH_DIALECTS_MIXED,
							   "\"From_Account\" belongs to the Tencent IM form"),
					 errdetail(IM_ONLY_DETAIL)));
	}
	else if (pp_jmember(root, "MsgRandom") == NULL)
		pp_error(PPE_PUSH_MSG_RANDOM, "MsgRandom is missing or not an integer from 0 to 4294967295");
	if (strcmp(dialect, PP_DIALECT_TENCENT_PUSH) != 0 && pp_jmember(root, "send_time"))
		ereport(ERROR,
				(pp_errmsg(PPE_PUSH_DIALECTS_MIXED, "\"send_time\" belongs to the Tencent Push form"),
				 errdetail("It is allowed here only with \"dialect\": \"tencent_push\"."),
				 errhint("Other pushes are sent at a later time by push_schedule_create.")));

	if (strcmp(dialect, PP_DIALECT_TENCENT_PUSH) != 0 && pp_jmember(root, "loop"))
		ereport(ERROR,
				(pp_errmsg(PPE_PUSH_DIALECTS_MIXED, "\"loop\" belongs to the Tencent Push form"),
				 errdetail("It is allowed here only with \"dialect\": \"tencent_push\"."),
				 errhint("Other pushes are sent periodically by push_schedule_create.")));

	if (strcmp(dialect, PP_DIALECT_ENGAGELAB) != 0 && pp_jmember(root, "variants"))
		ereport(ERROR,
				(pp_errmsg(PPE_VARIANTS_DIALECT, "\"variants\" belongs to the EngageLab form"),
				 errdetail("A Tencent Push or Tencent IM body has no variants."),
				 errhint("Send the push as an EngageLab push object to test variants.")));

	body = pp_jmember(root, "body")->val.binary.data;
	mask = platform_mask(pp_jmember(body, "platform"), "body.platform");
	notification = pp_jmember(body, "notification");
	if (notification == NULL && pp_jmember(body, "message") == NULL)
		pp_error(PPE_PUSH_BODY_EMPTY, "\"body\" needs \"notification\" or \"message\"");
	if (notification && pp_jmember(notification->val.binary.data, "alert") == NULL)
	{
		for (int i = 0; i < N_PLATFORMS; i++)
			if ((mask & (1 << i)) &&
				!block_has_alert(notification->val.binary.data, ppj_platform_names[i]))
				ereport(ERROR,
						(pp_errmsg(PPE_PUSH_NO_ALERT,
								   "\"body.notification\" has no alert for platform \"%s\"",
								   ppj_platform_names[i]),
						 errhint("Set \"body.notification.alert\" or \"body.notification.%s.alert\".",
								 ppj_platform_names[i])));
	}

	ppj_begin_object(&st, NULL);
	ppj_put_copy(&st, root, "from");
	ppj_put_copy(&st, root, "to");
	ppj_begin_object(&st, "body");
	ppj_put_platforms(&st, mask);
	ppj_put_copy(&st, body, "notification");
	ppj_put_copy(&st, body, "message");
	options = pp_jmember(body, "options");
	ppj_begin_object(&st, "options");
	if (options)
		ppj_push_pairs(&st, options->val.binary.data);
	if (options == NULL || pp_jmember(options->val.binary.data, "time_to_live") == NULL)
		ppj_put_int(&st, "time_to_live", DEFAULT_TTL);
	ppj_end_object(&st);
	ppj_end_object(&st);
	ppj_put_copy(&st, root, "request_id");
	ppj_put_copy(&st, root, "custom_args");
	ppj_put_copy(&st, root, "MsgRandom");
	ppj_put_copy(&st, root, "From_Account");
	ppj_put_copy(&st, root, "send_time");
	ppj_put_copy(&st, root, "loop");
	ppj_put_copy(&st, root, "variants");
	ppj_put_copy(&st, root, "variants_test");
	if (pp_jmember(root, "fallback"))
		pp_fallback_put(&st, pp_jmember(root, "fallback"));
	ppj_put_string(&st, "dialect", dialect);

	if (pp_jmember(root, "variants_test") && !pp_jmember(root, "variants"))
		pp_error(PPE_VARIANTS_TEST_ALONE, "\"variants_test\" needs \"variants\"");
	if (pp_jmember(root, "variants"))
		check_variant_pushes(root, pp_jmember(root, "variants"));

	if (dialect_out)
		*dialect_out = strcmp(dialect, PP_DIALECT_TENCENT_PUSH) == 0 ? PP_DIALECT_TENCENT_PUSH :
			strcmp(dialect, PP_DIALECT_TENCENT_IM) == 0 ? PP_DIALECT_TENCENT_IM : PP_DIALECT_ENGAGELAB;
	return JsonbValueToJsonb(ppj_end_object(&st));
}
