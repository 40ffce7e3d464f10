/*
 * message.c: reading the normalized push (SENDING.md section 1) for one device, writing JSON,
 * and the size check push_send runs before a push is accepted.
 *
 * The vendor files (src/vendor/ *.c) build their payloads with these helpers.  Text resolution
 * for a device: options.multi_language[<language>] (exact, then the primary subtag, "zh-Hans"
 * -> "zh"), else the platform block's own alert / title, else the top-level notification alert;
 * each field falls back on its own, so a multi_language entry with only "alert" keeps the
 * block's title.
 */
#include "pushplan.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "vendor.h"

/* Placeholder device token for the size check: FCM registration tokens are about 163 bytes. */
#define PP_CHECK_TOKEN_LEN 200

/* ---- reading jsonb ------------------------------------------------------------------------ */

JsonbContainer *
pp_push_body(Jsonb *push)
{
	JsonbContainer *body;

	if (push == NULL || !JsonContainerIsObject(&push->root))
		return NULL;
	body = pp_jobj(&push->root, "body");
	/* a bare body (no "to"/"body" wrapper) is read as the body itself */
	return body ? body : &push->root;
}

static bool
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
	char	   *s = pp_jstr(c, key);
	char	   *end;
	double		d;

	if (s == NULL)
		return false;
	d = strtod(s, &end);
	if (end == s || *end != '\0' || d != d || d > (double) PG_INT32_MAX * 1000.0 ||
		d < -(double) PG_INT32_MAX * 1000.0)
		return false;
	*out = (int64) d;
	return true;
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

JsonbContainer *
pp_platform_block(JsonbContainer *body, const char *platform)
{
	JsonbContainer *notif = pp_jobj(body, "notification");

	if (notif == NULL || platform == NULL)
		return NULL;
	return pp_jobj(notif, platform);
}

/* multi_language entry for a language: exact, then its primary subtag. */
static JsonbContainer *
pp_language_entry(JsonbContainer *body, const char *language)
{
	JsonbContainer *ml = pp_jobj(pp_jobj(body, "options"), "multi_language");
	JsonbContainer *e;
	size_t		n;
	char	   *primary;

	if (ml == NULL || language == NULL || language[0] == '\0')
		return NULL;
	e = pp_jobj(ml, language);
	if (e)
		return e;
	n = strcspn(language, "-_");
	if (language[n] == '\0')
		return NULL;
	primary = pnstrdup(language, n);
	return pp_jobj(ml, primary);
}

void
pp_resolve_text(JsonbContainer *body, const char *platform, const char *language, PPText *t)
{
	JsonbContainer *ml = pp_language_entry(body, language);
	JsonbContainer *block = pp_platform_block(body, platform);
	JsonbContainer *alert_obj = pp_jobj(block, "alert");

	memset(t, 0, sizeof(*t));
	if (ml)
	{
		t->alert = pp_jstr(ml, "alert");
		t->title = pp_jstr(ml, "title");
	}
	if (alert_obj)
	{
		/* iOS {"title", "subtitle", "body"} */
		if (t->alert == NULL)
			t->alert = pp_jstr(alert_obj, "body");
		if (t->title == NULL)
			t->title = pp_jstr(alert_obj, "title");
		t->subtitle = pp_jstr(alert_obj, "subtitle");
	}
	else if (block && t->alert == NULL)
		t->alert = pp_jstr(block, "alert");
	if (block && t->title == NULL)
		t->title = pp_jstr(block, "title");
	if (t->alert == NULL)
		t->alert = pp_jstr(pp_jobj(body, "notification"), "alert");
}

int64
pp_ttl_seconds(JsonbContainer *body, TimestampTz expires_at)
{
	int64		ttl;

	if (expires_at > 0)
	{
		ttl = (expires_at - GetCurrentTimestamp()) / USECS_PER_SEC;
		return Max(ttl, 0);
	}
	if (pp_jnum(pp_jobj(body, "options"), "time_to_live", &ttl) && ttl >= 0)
		return ttl;
	return 86400;
}

/* ---- writing JSON ------------------------------------------------------------------------- */

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

/*
 * Keys extras may not use: "aps" is APNs's own dictionary; FCM rejects data keys "from",
 * "message_type", "notification" and any starting with "google" or "gcm" (HMS data is written
 * the same way, so one rule serves both).
 */
static bool
pp_reserved_key(const char *key, bool data)
{
	if (!data)
		return strcmp(key, "aps") == 0;
	return strcmp(key, "from") == 0 || strcmp(key, "message_type") == 0 ||
		strcmp(key, "notification") == 0 || strncmp(key, "google", 6) == 0 ||
		strncmp(key, "gcm", 3) == 0;
}

/* Writes each member of an object: the key and its value (scalar or container). */
static void
pp_jw_each(StringInfo b, bool *first, JsonbContainer *obj, bool as_strings)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;
	char	   *key = NULL;

	if (obj == NULL)
		return;
	it = JsonbIteratorInit(obj);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (r == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (pp_reserved_key(key, as_strings))
				key = NULL;
		}
		else if (r == WJB_VALUE && key)
		{
			char	   *text;

			if (v.type == jbvString && as_strings)
			{
				pp_jw_key(b, first, key);
				text = pnstrdup(v.val.string.val, v.val.string.len);
				escape_json(b, text);
			}
			else
			{
				if (v.type == jbvBinary)
					text = JsonbToCString(NULL, v.val.binary.data, v.val.binary.len);
				else
					text = JsonbToCString(NULL, &JsonbValueToJsonb(&v)->root, 0);
				pp_jw_key(b, first, key);
				if (as_strings)
					escape_json(b, text);
				else
					appendStringInfoString(b, text);
			}
			key = NULL;
		}
	}
}

void
pp_jw_members(StringInfo b, bool *first, JsonbContainer *obj)
{
	pp_jw_each(b, first, obj, false);
}

void
pp_jw_members_as_strings(StringInfo b, bool *first, JsonbContainer *obj)
{
	pp_jw_each(b, first, obj, true);
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

/* ---- the size check ----------------------------------------------------------------------- */

static const PPVendor *const pp_check_vendors[] = {
	&pp_vendor_apns, &pp_vendor_fcm, &pp_vendor_hms, &pp_vendor_webhook, NULL
};

static const char *const pp_all_platforms[] = {"android", "ios", "web", "harmony", NULL};

static bool
pp_vendor_serves(const PPVendor *v, const char *platform)
{
	for (const char *const *p = v->platforms; *p; p++)
		if (strcmp(*p, platform) == 0)
			return true;
	return false;
}

void
pp_placeholder_config(const PPVendor *v, PPVendorConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (strcmp(v->name, "apns") == 0)
		cfg->endpoint = "https://api.push.apple.com";
	else if (strcmp(v->name, "fcm") == 0)
		cfg->endpoint = "https://fcm.googleapis.com";
	else if (strcmp(v->name, "hms") == 0)
		cfg->endpoint = "https://push-api.cloud.huawei.com";
	cfg->bundle_id = "<bundle_id>";
	cfg->project_id = "<project_id>";
	cfg->app_id = "<app_id>";
	cfg->url = "<url>";
	cfg->secret = "";
}

/* Checks one vendor x platform x language payload. */
static void
pp_check_one(const PPVendor *v, Jsonb *push, const char *platform, const char *language,
			 const char *token)
{
	PPVendorConfig cfg;
	PPMsgInput	in = {0};
	PPRequest	req = {0};

	pp_placeholder_config(v, &cfg);
	in.push = push;
	in.platform = platform;
	in.language = language;
	in.token = token;
	in.task_id = "size-check";
	v->build(&cfg, &in, &req);
	if (req.limited_len > v->payload_limit)
	{
		if (language)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("92510: %s payload for platform \"%s\" and language \"%s\" is %d bytes; the limit is %d",
							v->name, platform, language, req.limited_len, v->payload_limit),
					 errdetail("%s", v->limit_what)));
		else
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("92510: %s payload for platform \"%s\" is %d bytes; the limit is %d",
							v->name, platform, req.limited_len, v->payload_limit),
					 errdetail("%s", v->limit_what)));
	}
}

void
pp_message_check(Jsonb *push)
{
	JsonbContainer *body = pp_push_body(push);
	JsonbValue	pv;
	bool		has_platform;
	List	   *platforms = NIL;
	List	   *languages = list_make1(NULL);
	JsonbContainer *ml;
	MemoryContext cxt,
				old;
	char	   *token;
	ListCell   *pc;

	if (body == NULL)
		pp_error(ERRCODE_INVALID_PARAMETER_VALUE, "92502", "push must be a JSON object");

	cxt = AllocSetContextCreate(CurrentMemoryContext, "pushplan message check",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	/* platforms: an array, a name, or "all" (absent: all) */
	has_platform = pp_jget(body, "platform", &pv);
	if (has_platform && pv.type == jbvBinary && JsonContainerIsArray(pv.val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(pv.val.binary.data);
		JsonbValue	v;
		JsonbIteratorToken r;

		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (r == WJB_ELEM && v.type == jbvString)
				platforms = lappend(platforms, pnstrdup(v.val.string.val, v.val.string.len));
	}
	else if (has_platform && pv.type == jbvString &&
			 !(pv.val.string.len == 3 && strncmp(pv.val.string.val, "all", 3) == 0))
		platforms = list_make1(pnstrdup(pv.val.string.val, pv.val.string.len));
	if (platforms == NIL)
		for (const char *const *p = pp_all_platforms; *p; p++)
			platforms = lappend(platforms, (char *) *p);

	ml = pp_jobj(pp_jobj(body, "options"), "multi_language");
	if (ml)
	{
		JsonbIterator *it = JsonbIteratorInit(ml);
		JsonbValue	v;
		JsonbIteratorToken r;

		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (r == WJB_KEY)
				languages = lappend(languages, pnstrdup(v.val.string.val, v.val.string.len));
	}

	token = palloc(PP_CHECK_TOKEN_LEN + 1);
	memset(token, 'x', PP_CHECK_TOKEN_LEN);
	token[PP_CHECK_TOKEN_LEN] = '\0';

	foreach(pc, platforms)
	{
		const char *platform = lfirst(pc);

		for (int i = 0; pp_check_vendors[i]; i++)
		{
			ListCell   *lc;

			if (!pp_vendor_serves(pp_check_vendors[i], platform))
				continue;
			foreach(lc, languages)
				pp_check_one(pp_check_vendors[i], push, platform, lfirst(lc), token);
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * A data message's fields as members of an object: extras first, then msg_content, title and
 * content_type (so those three win over extras of the same name in receivers that keep the
 * last).  as_strings: every value a string (FCM and HMS data).
 */
void
pp_jw_message_data(StringInfo b, bool *first, JsonbContainer *body, bool as_strings)
{
	JsonbContainer *msg = pp_jobj(body, "message");

	if (msg == NULL)
		return;
	if (as_strings)
		pp_jw_members_as_strings(b, first, pp_jobj(msg, "extras"));
	else
		pp_jw_members(b, first, pp_jobj(msg, "extras"));
	pp_jw_str(b, first, "msg_content", pp_jstr(msg, "msg_content"));
	pp_jw_str(b, first, "title", pp_jstr(msg, "title"));
	pp_jw_str(b, first, "content_type", pp_jstr(msg, "content_type"));
}
