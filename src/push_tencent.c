/*
 * push_tencent.c: the Tencent Push body (push plans, push to accounts), checked in its own
 * terms, so that errors name the fields the caller wrote, then translated to an EngageLab object.
 */
#include "pushplan.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "json.h"
#include "push_check.h"
#include "push_parse.h"

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

	if (!ppj_jbv_int64(v, &n) || n < 0 || n > TP_MAX_EXPIRE)
		ereport(ERROR,
				(pp_errmsg(PPE_PUSH_TTL,
						   "\"%s\" must be an integer from 0 to %d (seconds, at most 72 hours)",
						   path, TP_MAX_EXPIRE),
				 errdetail("0 means the default, 72 hours.")));
}

static void
check_environment(JsonbValue *v, const char *path)
{
	if (!ppj_string_is(v, "product") && !ppj_string_is(v, "dev"))
		pp_error(PPE_PUSH_VALUE_UNKNOWN, "\"%s\" must be \"product\" or \"dev\"", path);
}

static void
check_message_type(JsonbValue *v, const char *path)
{
	if (!ppj_string_is(v, "notify") && !ppj_string_is(v, "message"))
		pp_error(PPE_PUSH_VALUE_UNKNOWN, "\"%s\" must be \"notify\" or \"message\"", path);
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
		char	   *s = ppj_string_of(v);
		JsonLexContext *lex;
		Jsonb	   *jb;

		lex = makeJsonLexContextCstringLen(s, strlen(s), GetDatabaseEncoding(), true);
		if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
			pp_error(PPE_PUSH_BAD_JSON,
					 "\"%s\" is not valid JSON text", path);
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
		if (!JB_ROOT_IS_OBJECT(jb))
			pp_error(PPE_PUSH_TYPE,
					 "\"%s\" must be an object or a string holding a JSON object", path);
		res = palloc(sizeof(JsonbValue));
		res->type = jbvBinary;
		res->val.binary.data = &jb->root;
		res->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
	else if (pp_jv_is_object(v))
		res = v;
	else
		pp_error(PPE_PUSH_TYPE,
				 "\"%s\" must be an object or a string holding a JSON object", path);
	ppj_check_extras(res, path);
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
	int64		n = ppj_check_int(v, path, -2, PG_INT32_MAX);

	if (n >= 0)
		ereport(ERROR,
				(pp_errmsg(PPE_PUSH_BADGE_TYPE,
						   "\"%s\" " INT64_FORMAT " (set the badge to N) is not supported on Android",
						   path, n),
				 errhint("Use -1 (unchanged) or -2 (add one).")));
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
	{"alert", FK_OBJECT, .sub = ppj_ios_alert_fields},
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

	ppj_check_extras(v, path);
	if ((aps = pp_jmember(v->val.binary.data, "aps")) != NULL)
		ppj_check_object(aps, ppj_child_path(path, "aps"), tp_aps_fields);
	if ((media = pp_jmember(v->val.binary.data, "xg_media_resources")) != NULL)
		ppj_check_text(media, ppj_child_path(path, "xg_media_resources"), MAX_URL);
}

static void
reject_for_data_message(JsonbValue *v, const char *path)
{
	pp_error(PPE_PUSH_IOS_NOT_NOTIFY, "\"%s\" applies only to message_type \"notify\"", path);
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

/*
 * Tencent Push's loop_param: the push sent at each of dayTimes on the days of [startDate,
 * endDate] that loopType (1 daily, 2 weekly, 3 monthly) and loopDayIndexs (weekly: 0..6 for
 * Monday..Sunday; monthly: 1..31, the day of the month) name. The normalized push carries it as
 * "loop", the periodical trigger it comes to, and push_send makes the push a schedule with it
 * (doc/push.md, "Tencent Push"). Some SDKs write dayTimes as DayTimes: either is taken.
 */
#define TP_LOOP_MAX_TIMES	24

static const char *const tp_weekdays[] = {"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"};

/* A "YYYY-MM-DD" date of the calendar, as a string. */
static char *
tp_loop_date(JsonbContainer *loop, const char *key)
{
	JsonbValue *v = pp_jmember(loop, key);
	char		full[20];

	if (v == NULL)
		pp_error(PPE_PUSH_LOOP, "\"loop_param.%s\" is required", key);
	if (v->type == jbvString && v->val.string.len == 10)
	{
		snprintf(full, sizeof(full), "%.10s 00:00:00", v->val.string.val);
		if (pp_valid_local_datetime(full, 19))
			return pnstrdup(v->val.string.val, 10);
	}
	pp_error(PPE_PUSH_LOOP, "\"loop_param.%s\" must be a date YYYY-MM-DD", key);
	return NULL;				/* not reached */
}

/* The elements of an array member as a list of JsonbValues; NULL when absent. */
static List *
tp_loop_array(JsonbContainer *loop, const char *key, const char *what)
{
	JsonbValue *v = pp_jmember(loop, key);
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	List	   *out = NIL;

	if (v == NULL)
		return NIL;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		pp_error(PPE_PUSH_LOOP, "\"loop_param.%s\" must be an array of %s", key, what);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
		{
			JsonbValue *copy = palloc(sizeof(JsonbValue));

			*copy = e;
			out = lappend(out, copy);
		}
	return out;
}

/* Checks loop_param and returns the periodical trigger it comes to, as JSON text. */
static char *
tp_loop_trigger(JsonbValue *v)
{
	static const char *const keys[] = {"startDate", "endDate", "loopType", "loopDayIndexs",
	"dayTimes", "DayTimes", NULL};
	static const char *const units[] = {"day", "week", "month"};
	JsonbContainer *loop;
	char	   *unknown;
	char	   *start;
	char	   *end;
	int64		type;
	const char *times_key;
	List	   *times;
	List	   *days;
	ListCell   *lc;
	StringInfoData out;
	bool		first = true;

	if (!pp_jv_is_object(v))
		pp_error(PPE_PUSH_LOOP, "\"loop_param\" must be an object");
	loop = v->val.binary.data;
	if ((unknown = pp_jkey_not_in(loop, keys)) != NULL)
		pp_error(PPE_PUSH_LOOP, "unknown key \"%s\" in \"loop_param\"", pp_shown(unknown));
	start = tp_loop_date(loop, "startDate");
	end = tp_loop_date(loop, "endDate");
	if (strcmp(end, start) < 0)
		pp_error(PPE_PUSH_LOOP, "\"loop_param.endDate\" must not be before \"loop_param.startDate\"");
	if (!pp_jv_int64(pp_jmember(loop, "loopType"), &type, NULL) || type < 1 || type > 3)
		pp_error(PPE_PUSH_LOOP, "\"loop_param.loopType\" must be 1 (daily), 2 (weekly) or 3 (monthly)");

	if (pp_jmember(loop, "dayTimes") && pp_jmember(loop, "DayTimes"))
		pp_error(PPE_PUSH_LOOP, "\"loop_param\" takes \"dayTimes\" or \"DayTimes\", not both");
	times_key = pp_jmember(loop, "DayTimes") ? "DayTimes" : "dayTimes";
	times = tp_loop_array(loop, times_key, "times of day HH:MM:SS");
	if (times == NIL || list_length(times) > TP_LOOP_MAX_TIMES)
		pp_error(PPE_PUSH_LOOP, "\"loop_param.%s\" must hold 1 to %d times of day HH:MM:SS",
				 times_key, TP_LOOP_MAX_TIMES);
	foreach(lc, times)
	{
		JsonbValue *t = lfirst(lc);

		if (t->type != jbvString || !pp_valid_time_of_day(t->val.string.val, t->val.string.len))
			pp_error(PPE_PUSH_LOOP, "\"loop_param.%s\" must hold times of day HH:MM:SS", times_key);
	}

	/* daily: the days are every day (loopDayIndexs, sent by some SDKs anyway, is not read) */
	days = type == 1 ? NIL : tp_loop_array(loop, "loopDayIndexs", "day numbers");
	if (type != 1 && days == NIL)
		pp_error(PPE_PUSH_LOOP, "\"loop_param.loopDayIndexs\" must name the days of a %s loop: %s",
				 type == 2 ? "weekly" : "monthly",
				 type == 2 ? "0 to 6, Monday to Sunday" : "1 to 31, the days of the month");
	foreach(lc, days)
	{
		int64		d;

		if (!pp_jv_int64(lfirst(lc), &d, NULL) || (type == 2 && (d < 0 || d > 6)) ||
			(type == 3 && (d < 1 || d > 31)))
			pp_error(PPE_PUSH_LOOP, "\"loop_param.loopDayIndexs\" of a %s loop holds %s",
					 type == 2 ? "weekly" : "monthly",
					 type == 2 ? "0 to 6, Monday to Sunday" : "1 to 31, the days of the month");
	}

	initStringInfo(&out);
	appendStringInfo(&out, "{\"periodical\": {\"start\": \"%s 00:00:00\", \"end\": \"%s 23:59:59\", "
					 "\"time_unit\": \"%s\", \"time\": [", start, end, units[type - 1]);
	foreach(lc, times)
	{
		JsonbValue *t = lfirst(lc);

		appendStringInfo(&out, "%s\"%.8s\"", first ? "" : ", ", t->val.string.val);
		first = false;
	}
	appendStringInfoChar(&out, ']');
	if (days != NIL)
	{
		appendStringInfoString(&out, ", \"point\": [");
		first = true;
		foreach(lc, days)
		{
			int64		d;

			(void) pp_jv_int64(lfirst(lc), &d, NULL);
			if (type == 2)
				appendStringInfo(&out, "%s\"%s\"", first ? "" : ", ", tp_weekdays[d]);
			else
				appendStringInfo(&out, "%s\"%02d\"", first ? "" : ", ", (int) d);
			first = false;
		}
		appendStringInfoChar(&out, ']');
	}
	appendStringInfoString(&out, "}}");
	return out.data;
}


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
	{"send_time", FK_CUSTOM, .check = ppj_check_send_time},
	{"loop_param", FK_ANY},	/* checked as its trigger is made (tp_loop_trigger) */
	{"missing_attribute", FK_CUSTOM, .check = ppj_check_missing_attribute},	/* pushplan's own */
	{"category", FK_CUSTOM, .check = ppj_check_category},	/* pushplan's own */
	{NULL}
};

/* Extras from message.custom_content and a platform's own custom content (which wins). */
static void
put_merged_extras(JsonbParseState **st, JsonbValue *common, JsonbContainer *own, bool own_is_ios)
{
	if (common == NULL && own == NULL)
		return;
	ppj_begin_object(st, "extras");
	if (common)
		ppj_push_pairs(st, common->val.binary.data);
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
			if (ppj_string_is(&k, "aps") || ppj_string_is(&k, "xg_media_resources"))
				continue;
			pushJsonbValue(st, WJB_KEY, &k);
			pushJsonbValue(st, WJB_VALUE, &v);
		}
	}
	else if (own)
		ppj_push_pairs(st, own);
	ppj_end_object(st);
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
	int64		type = ppj_int_of(pp_jmember(action, "action_type"));

	if (type == 2 && browser == NULL)
		pp_error(PPE_PUSH_REQUIRED,
				 "\"message.android.action.browser\" is required when action_type is 2");
	if (type == 3 && pp_jmember(action, "intent") == NULL)
		pp_error(PPE_PUSH_REQUIRED,
				 "\"message.android.action.intent\" is required when action_type is 3");
	if (type == 1)
		return;					/* open the app: what a notification does anyway */
	ppj_begin_object(st, "intent");
	if (type == 2)
		ppj_put_copy(st, browser->val.binary.data, "url");
	else
		ppj_put_copy_as(st, "url", action, "intent");
	ppj_end_object(st);
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

	ppj_begin_object(st, "notification");
	ppj_put_copy_as(st, "alert", msg, "content");

	sub = NULL;
	ppj_begin_object(&sub, NULL);
	if (title)
		ppj_put_value(&sub, "title", title);
	ppj_put_copy_as(&sub, "channel_id", a, "n_ch_id");
	ppj_put_copy_as(&sub, "sound", a, "ring_raw");
	if (a && (v = pp_jmember(a, "badge_type")) != NULL && ppj_int_of(v) == -2)
		ppj_put_int(&sub, "badge_add_num", 1);
	if (a && (v = pp_jmember(a, "action")) != NULL)
		tp_put_intent(&sub, v->val.binary.data);
	v = a ? pp_jmember(a, "custom_content") : NULL;
	put_merged_extras(&sub, common,
					  v ? tp_custom_content(v, "message.android.custom_content")->val.binary.data : NULL,
					  false);
	ppj_put_block(st, "android", &sub);

	sub = NULL;
	ppj_begin_object(&sub, NULL);
	ititle = alert ? pp_jmember(alert, "title") : NULL;
	if (ititle == NULL)
		ititle = title;
	if (ititle || (alert && JsonContainerSize(alert) > 0))
	{
		ppj_begin_object(&sub, "alert");
		if (ititle)
			ppj_put_value(&sub, "title", ititle);
		ppj_put_copy(&sub, alert, "subtitle");
		if (alert && pp_jmember(alert, "body"))
			ppj_put_copy(&sub, alert, "body");
		else
			ppj_put_copy_as(&sub, "body", msg, "content");
		ppj_end_object(&sub);
	}
	if (aps && (v = pp_jmember(aps, "badge_type")) != NULL)
	{
		int64		n = ppj_int_of(v);

		if (n == -2)
			ppj_put_string(&sub, "badge", "+1");
		else if (n >= 0)
			ppj_put_int(&sub, "badge", n);
	}
	ppj_put_copy(&sub, aps, "sound");
	ppj_put_copy(&sub, aps, "category");
	ppj_put_copy_as(&sub, "thread_id", aps, "thread-id");
	if (aps && (v = pp_jmember(aps, "mutable-content")) != NULL)
		ppj_put_bool(&sub, "mutable_content", ppj_int_of(v) == 1);
	ppj_put_copy_as(&sub, "image", i, "xg_media_resources");
	put_merged_extras(&sub, common, i && tp_ios_has_custom_keys(i) ? i : NULL, true);
	ppj_put_block(st, "ios", &sub);

	ppj_end_object(st);
}

static void
tp_put_message(JsonbParseState **st, JsonbContainer *msg)
{
	JsonbValue *common = pp_jmember(msg, "custom_content");
	JsonbValue *android = pp_jmember(msg, "android");
	JsonbValue *own = android ? pp_jmember(android->val.binary.data, "custom_content") : NULL;

	ppj_begin_object(st, "message");
	ppj_put_copy_as(st, "msg_content", msg, "content");
	ppj_put_copy(st, msg, "title");
	put_merged_extras(st,
					  common ? tp_custom_content(common, "message.custom_content") : NULL,
					  own ? tp_custom_content(own, "message.android.custom_content")->val.binary.data : NULL,
					  false);
	ppj_end_object(st);
}

/* Checks a Tencent Push body in its own terms and returns it as a normalized EngageLab object. */
Jsonb *
pp_tencent_push_translate(JsonbContainer *root)
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
	ppj_check_object(&rootv, "", tp_fields);

	type = ppj_string_of(pp_jmember(root, "audience_type"));
	for (int i = 0;; i++)
	{
		if (tp_audience_types[i] == NULL)
			pp_error(PPE_PUSH_AUDIENCE_TYPE,
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
			pp_error(PPE_PUSH_AUDIENCE_MEMBER, "\"%s\" does not go with audience_type \"%s\"", key, type);
		if (!present && required)
			pp_error(PPE_PUSH_REQUIRED, "\"%s\" is required with audience_type \"%s\"", key, type);
	}

	notify = ppj_string_is(pp_jmember(root, "message_type"), "notify");
	ppj_check_object(pp_jmember(root, "message"), "message", notify ? tp_notify_fields : tp_message_fields);

	ppj_begin_object(&st, NULL);
	ppj_begin_object(&st, "to");
	ppj_put_copy(&st, root, "audience_type");
	for (int i = 0; tp_audience_keys[i]; i++)
		ppj_put_copy(&st, root, tp_audience_keys[i]);
	ppj_end_object(&st);

	ppj_begin_object(&st, "body");
	ppj_put_platforms(&st, TENCENT_PLATFORMS);
	if (notify)
		tp_put_notification(&st, pp_jmember(root, "message")->val.binary.data);
	else
		tp_put_message(&st, pp_jmember(root, "message")->val.binary.data);
	ppj_begin_object(&st, "options");
	ppj_put_copy(&st, root, "plan_id");
	v = pp_jmember(root, "expire_time");
	ppj_put_int(&st, "time_to_live", v && ppj_int_of(v) > 0 ? ppj_int_of(v) : TP_MAX_EXPIRE);
	if ((v = pp_jmember(root, "environment")) != NULL)
		ppj_put_bool(&st, "apns_production", ppj_string_is(v, "product"));
	ppj_put_copy(&st, root, "missing_attribute");
	ppj_put_copy(&st, root, "category");
	ppj_end_object(&st);
	ppj_end_object(&st);

	ppj_put_copy(&st, root, "send_time");
	if ((v = pp_jmember(root, "loop_param")) != NULL)
	{
		Jsonb	   *trigger;
		JsonbValue	t;

		if (pp_jmember(root, "send_time"))
			pp_error(PPE_PUSH_LOOP_SEND_TIME,
					 "a push has \"send_time\" or \"loop_param\", not both: a loop's times are its dayTimes");
		trigger = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(tp_loop_trigger(v))));
		t.type = jbvBinary;
		t.val.binary.data = &trigger->root;
		t.val.binary.len = VARSIZE(trigger) - VARHDRSZ;
		ppj_put_value(&st, "loop", &t);
	}
	ppj_put_string(&st, "dialect", PP_DIALECT_TENCENT_PUSH);
	return JsonbValueToJsonb(ppj_end_object(&st));
}
