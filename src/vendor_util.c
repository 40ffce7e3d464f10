/*
 * vendor_util.c: what the vendor files (src/vendor_*.c) share: the normalized push read for one
 * device, data members written as JSON, config values, and the outcome of an answer.
 *
 * Text resolution for a device: options.multi_language[<language>] (exact, then the primary
 * subtag, "zh-Hans" -> "zh"), else the platform block's own alert / title, else the top-level
 * notification alert; each field falls back on its own, so a multi_language entry with only
 * "alert" keeps the block's title.
 */
#include "pushplan.h"
#include "workers.h"

#include <openssl/evp.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "jwt.h"
#include "vendor.h"

/* ---- reading the push for one device ------------------------------------------------------ */

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
		ttl = (expires_at - pp_clock_current()) / USECS_PER_SEC;
		return Max(ttl, 0);
	}
	if (pp_jnum(pp_jobj(body, "options"), "time_to_live", &ttl) && ttl >= 0)
		return ttl;
	return 86400;
}

/*
 * The vendor's urgency from options.priority: "high", "normal", or NULL when the push does not
 * say. pushplan's "low" lane is the vendors' normal urgency: they have no lower one that delivers.
 */
const char *
pp_vendor_priority(JsonbContainer *options)
{
	char	   *p = pp_jstr(options, "priority");

	if (p && strcmp(p, "low") == 0)
		return "normal";
	return p;
}

/*
 * The click action of a platform block: its intent URL, and whether that is a web page (http or
 * https: the vendors' "open a URL" action) rather than an intent or deep link.  NULL: none (open
 * the app).
 */
char *
pp_click_url(JsonbContainer *block, bool *web)
{
	char	   *url = pp_jstr(pp_jobj(block, "intent"), "url");

	*web = url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
	return url;
}

/* The push's collapse id (options.apns_collapse_id, its only one), or NULL. */
char *
pp_collapse_id(JsonbContainer *body)
{
	return pp_jstr(pp_jobj(body, "options"), "apns_collapse_id");
}

/*
 * The collapse id a delivery goes out with, for the vendors whose collapse id makes a newer
 * notification replace an older one (shown, or stored for an offline device): the push's own
 * (options.apns_collapse_id), else one derived from its task ("pp" and 30 hex digits of the
 * task id's SHA-256). A delivery sent again after a crash (its first answer was never recorded:
 * doc/operations.md, "Crashes") then replaces its first copy instead of showing twice. A device
 * gets one delivery of a task, so the task alone tells the copies of one push from other pushes,
 * and a batching vendor keeps one body for the devices of a request. NULL without a task (a
 * test send) and without a collapse id of the push's own.
 */
char *
pp_resend_collapse_id(JsonbContainer *body, const char *task_id)
{
	char	   *own = pp_collapse_id(body);
	unsigned char md[EVP_MAX_MD_SIZE];
	StringInfoData id;

	if (own || task_id == NULL || !pp_sha256(task_id, strlen(task_id), md))
		return own;
	initStringInfo(&id);
	appendStringInfoString(&id, "pp");
	for (int i = 0; i < 15; i++)
		appendStringInfo(&id, "%02x", md[i]);
	return id.data;
}

#define WEBPUSH_TOPIC_MAX 32

/* Whether s can be a Topic header: 1 to 32 characters of the base64url alphabet. */
static bool
topic_valid(const char *s)
{
	size_t		n = strlen(s);

	if (n == 0 || n > WEBPUSH_TOPIC_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
			  (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

/*
 * The Web Push Topic header (RFC 8030; Web Push, and FCM's webpush headers) for a collapse id: itself when it can be one, else the first 32 characters of the
 * base64url SHA-256 of it. Collapse ids are usually APNs' (up to 64 bytes, any characters: a
 * push to "all" must not be refused for the web's stricter alphabet), and a digest keeps what a
 * topic is for: the same collapse id, the same topic, so a newer push replaces the older one.
 */
char *
pp_webpush_topic(const char *collapse)
{
	unsigned char md[32];
	char	   *b64;

	if (topic_valid(collapse))
		return pstrdup(collapse);
	if (!pp_sha256(collapse, strlen(collapse), md))
		return NULL;
	b64 = pp_base64url_encode(md, sizeof(md));
	b64[WEBPUSH_TOPIC_MAX] = '\0';
	return b64;
}

/*
 * A collapse id as a positive 31-bit number (FNV-1a), for vendors whose replace key is an
 * integer: the same id always gives the same number.
 */
int32
pp_collapse_number(const char *id)
{
	uint32		h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *) id; *p; p++)
		h = (h ^ *p) * 16777619u;
	return (int32) (h & 0x7fffffff);
}

/* ---- writing forms and data members ------------------------------------------------------- */

void
pp_form_add(StringInfo b, const char *key, const char *value)
{
	if (value == NULL)
		return;
	if (b->len > 0)
		appendStringInfoChar(b, '&');
	appendStringInfo(b, "%s=%s", pp_url_escape(key), pp_url_escape(value));
}

void
pp_jw_tokens(StringInfo b, const char *const *tokens, int ntokens)
{
	appendStringInfoChar(b, '[');
	for (int i = 0; i < ntokens; i++)
	{
		if (i > 0)
			appendStringInfoChar(b, ',');
		escape_json(b, tokens[i]);
	}
	appendStringInfoChar(b, ']');
}

char *
pp_join_tokens(const char *const *tokens, int ntokens, char sep)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < ntokens; i++)
	{
		if (i > 0)
			appendStringInfoChar(&s, sep);
		appendStringInfoString(&s, tokens[i]);
	}
	return s.data;
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

/*
 * The data of a push as one JSON object's text: the notification block's extras, then the
 * message's fields (HMS and Honor "data", Xiaomi "payload", Meizu's pass-through content).
 * NULL when there is none.
 */
char *
pp_data_json(JsonbContainer *body, JsonbContainer *block)
{
	StringInfoData d;
	bool		first = true;

	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	pp_jw_members(&d, &first, pp_jobj(body, "notification") ? pp_jobj(block, "extras") : NULL);
	pp_jw_message_data(&d, &first, body, false);
	appendStringInfoChar(&d, '}');
	if (first)
	{
		pfree(d.data);
		return NULL;
	}
	return d.data;
}

void
pp_jw_data_string(StringInfo b, bool *first, const char *key, JsonbContainer *body,
				  JsonbContainer *block)
{
	char	   *data = pp_data_json(body, block);

	if (data == NULL)
		return;
	pp_jw_key(b, first, key);
	escape_json(b, data);
}

const char *
pp_outcome_name(PPOutcomeKind kind)
{
	switch (kind)
	{
		case PP_OUT_SENT:
			return "sent";
		case PP_OUT_RETRY:
			return "retry";
		case PP_OUT_INVALID_TOKEN:
			return "invalid_token";
		case PP_OUT_FAILED:
			break;
	}
	return "failed";
}

char *
pp_config_str(Jsonb *config, const char *key)
{
	char	   *s;

	if (config == NULL || !JsonContainerIsObject(&config->root))
		return NULL;
	s = pp_jstr(&config->root, key);
	return s && s[0] ? s : NULL;
}

void
pp_result_set(PPItemResult *r, PPOutcomeKind kind, const char *error, const char *msgid)
{
	r->kind = kind;
	r->error = error ? pstrdup(error) : NULL;
	r->vendor_message_id = msgid && msgid[0] ? pstrdup(msgid) : NULL;
	r->retry_after_ms = 0;
	r->collateral = false;
}

/* Sets every token's result whose token is named in names (a JSON array of strings). */
void
pp_result_set_named(JsonbContainer *names, const char *const *tokens, int ntokens,
					PPItemResult *results, PPOutcomeKind kind, const char *error)
{
	if (names == NULL || !JsonContainerIsArray(names))
		return;
	for (uint32 k = 0;; k++)
	{
		JsonbValue *t = getIthJsonbValueFromContainer(names, k);

		if (t == NULL)
			break;
		if (t->type != jbvString)
			continue;
		for (int i = 0; i < ntokens; i++)
			if (strlen(tokens[i]) == t->val.string.len &&
				memcmp(tokens[i], t->val.string.val, t->val.string.len) == 0)
				pp_result_set(&results[i], kind, error, NULL);
	}
}

/* The same for names given as one string, separated by sep (Xiaomi's "id1,id2"). */
void
pp_result_set_listed(const char *names, char sep, const char *const *tokens, int ntokens,
					 PPItemResult *results, PPOutcomeKind kind, const char *error)
{
	const char *p = names;

	while (p && *p)
	{
		const char *e = strchr(p, sep);
		size_t		n = e ? (size_t) (e - p) : strlen(p);

		for (int i = 0; i < ntokens; i++)
			if (n > 0 && strlen(tokens[i]) == n && memcmp(tokens[i], p, n) == 0)
				pp_result_set(&results[i], kind, error, NULL);
		p = e ? e + 1 : NULL;
	}
}

/*
 * Huawei's answers {"code", "msg", "requestId"} (HMS v1, HarmonyOS v3; code a string): 80000000
 * all sent; 80100000 partly sent (the others sent, partial sets the refused ones from msg);
 * 80300007 every token invalid; otherwise by the HTTP status (an unknown code with 200: failed),
 * error "code: msg".  A 401, or the auth codes 80200001 (refused), 80200003 (OAuth token
 * expired), 80200005 (JWT expired): renew the token, once.
 */
PPClassify
pp_huawei_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
				   PPItemResult *results, PPHuaweiPartial partial)
{
	Jsonb	   *j = pp_json_parse_safe(resp->body, resp->body_len);
	JsonbContainer *root = j && JsonContainerIsObject(&j->root) ? &j->root : NULL;
	char	   *code = pp_jstr(root, "code");
	char	   *msg = pp_jstr(root, "msg");
	char	   *request_id = pp_jstr(root, "requestId");
	PPOutcomeKind kind;
	char	   *error;

	if (code == NULL)
		code = psprintf("HTTP %d", resp->status);
	if (resp->status == 200 &&
		(strcmp(code, "80000000") == 0 || strcmp(code, "80100000") == 0))
	{
		for (int i = 0; i < ntokens; i++)
			pp_result_set(&results[i], PP_OUT_SENT, NULL, request_id);
		if (strcmp(code, "80100000") == 0)
			partial(msg, tokens, ntokens, results);
		return PP_CLS_DONE;
	}
	if (strcmp(code, "80300007") == 0)
		kind = PP_OUT_INVALID_TOKEN;
	else
		kind = pp_status_default_kind(resp->status == 200 ? 400 : resp->status);
	error = kind == PP_OUT_FAILED && msg ? psprintf("%s: %s", code, msg) : code;
	for (int i = 0; i < ntokens; i++)
		pp_result_set(&results[i], kind, error, NULL);
	if (resp->status == 401 || strcmp(code, "80200001") == 0 ||
		strcmp(code, "80200003") == 0 || strcmp(code, "80200005") == 0)
		return PP_CLS_AUTH_STALE;
	return PP_CLS_DONE;
}

PPOutcomeKind
pp_status_default_kind(int status)
{
	if (status >= 200 && status < 300)
		return PP_OUT_SENT;
	if (status == 429 || status >= 500)
		return PP_OUT_RETRY;
	return PP_OUT_FAILED;
}
