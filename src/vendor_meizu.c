/*
 * vendor_meizu.c: Meizu Push (Flyme: Meizu phones, Android).
 *
 * POST {endpoint}/garcia/api/server/push/varnished/pushByPushId (notifications; data messages
 * go to unvarnished/pushByPushId, which Meizu restricts to apps it allowed) with a form body
 * appId, messageJson, pushIds (up to 100 comma-joined: the engine groups items as for HMS)
 * and sign = md5 of the other parameters sorted by name, as name=value with the raw values,
 * then the app secret.  No token: every request is signed.  Answers {"code": "200", "message",
 * "msgId", "value": {"110002": [pushIds], ...}}: the value map lists the devices that failed, by
 * code.  doc/vendors.md, "Meizu", says what is mapped and what is not confirmed.
 */
#include "pushplan.h"

#include "jwt.h"
#include "vendor.h"

static const char *const meizu_platforms[] = {"android", NULL};
static const char meizu_endpoint[] = "https://server-api-push.meizu.com";
static const PPVendorKey meizu_keys[] = {
	{"app_id", true}, {"app_secret", true}, {"default_title", false}, {"endpoint", false}, {NULL}
};

/* A message is kept offline 1 to 72 hours. */
#define MEIZU_MAX_VALID_H	72
#define MEIZU_QUOTA_RETRY_MS	(3600 * 1000)

typedef struct PPMeizuConfig
{
	const char *app_id;
	const char *app_secret;
	const char *default_title;
} PPMeizuConfig;

static const PPMeizuConfig meizu_placeholder = {
	.app_id = "<app_id>", .app_secret = "<app_secret>"
};

static bool
meizu_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPMeizuConfig *mc = palloc0(sizeof(PPMeizuConfig));

	mc->app_id = pp_config_str(config, "app_id");
	mc->app_secret = pp_config_str(config, "app_secret");
	mc->default_title = pp_config_str(config, "default_title");
	cfg->own = mc;
	cfg->endpoint = pp_config_str(config, "endpoint");
	if (cfg->endpoint == NULL)
		cfg->endpoint = meizu_endpoint;
	if (!mc->app_id || !mc->app_secret)
	{
		*why = "meizu config needs app_id and app_secret";
		return false;
	}
	return true;
}

/* pushTimeInfo: offline for the TTL in whole hours (1..72), or not at all for a TTL of 0. */
static void
meizu_time_info(StringInfo b, bool *first, int64 ttl)
{
	bool		f = true;

	pp_jw_key(b, first, "pushTimeInfo");
	appendStringInfoChar(b, '{');
	pp_jw_int(b, &f, "offLine", ttl > 0 ? 1 : 0);
	if (ttl > 0)
		pp_jw_int(b, &f, "validTime", Min(Max((ttl + 3599) / 3600, 1), MEIZU_MAX_VALID_H));
	appendStringInfoChar(b, '}');
}

/*
 * advanceInfo.notifyKey replaces an earlier notification of the same key: at most 8 of
 * [0-9A-Za-z_-].  A longer collapse id is folded into 8 characters of that alphabet.
 */
static char *
meizu_notify_key(const char *collapse)
{
	static const char alphabet[] =
		"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
	size_t		n = strlen(collapse);
	char	   *key;
	uint32		h;

	if (n <= 8 && strspn(collapse, alphabet) == n)
		return pstrdup(collapse);
	key = palloc(9);
	h = (uint32) pp_collapse_number(collapse);
	for (int i = 0; i < 8; i++)
	{
		key[i] = alphabet[h & 63];
		h = (h >> 6) | ((uint32) i << 26);
	}
	key[8] = '\0';
	return key;
}

/* The messageJson of a notification. */
static void
meizu_notice(StringInfo b, const PPMeizuConfig *mc, JsonbContainer *body,
			 JsonbContainer *block, const char *platform, const char *language, int64 ttl)
{
	PPText		t;
	bool		first = true;
	bool		f = true;
	bool		web;
	char	   *url = pp_click_url(block, &web);
	char	   *big = pp_jstr(block, "big_text");
	char	   *collapse = pp_collapse_id(body);
	JsonbContainer *extras = pp_jobj(block, "extras");

	pp_resolve_text(body, platform, language, &t);
	appendStringInfoChar(b, '{');
	pp_jw_key(b, &first, "noticeBarInfo");
	appendStringInfoChar(b, '{');
	pp_jw_str(b, &f, "title", t.title ? t.title : mc->default_title);
	pp_jw_str(b, &f, "content", t.alert);
	appendStringInfoChar(b, '}');
	if (big)
	{
		f = true;
		pp_jw_key(b, &first, "noticeExpandInfo");
		appendStringInfoChar(b, '{');
		pp_jw_int(b, &f, "noticeExpandType", 1);
		pp_jw_str(b, &f, "noticeExpandContent", big);
		appendStringInfoChar(b, '}');
	}
	/* 0 open the app, 2 a URI (a web page or the app's deep link); extras as its parameters */
	f = true;
	pp_jw_key(b, &first, "clickTypeInfo");
	appendStringInfoChar(b, '{');
	pp_jw_int(b, &f, "clickType", url ? 2 : 0);
	pp_jw_str(b, &f, "url", url);
	if (extras)
	{
		bool		pf = true;

		pp_jw_key(b, &f, "parameters");
		appendStringInfoChar(b, '{');
		pp_jw_members(b, &pf, extras);
		appendStringInfoChar(b, '}');
	}
	appendStringInfoChar(b, '}');
	meizu_time_info(b, &first, ttl);
	if (collapse)
	{
		f = true;
		pp_jw_key(b, &first, "advanceInfo");
		appendStringInfoChar(b, '{');
		pp_jw_str(b, &f, "notifyKey", meizu_notify_key(collapse));
		appendStringInfoChar(b, '}');
	}
	appendStringInfoChar(b, '}');
}

/* The messageJson (the body until assemble signs it): what groups items and the limit counts. */
static void
meizu_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	const PPMeizuConfig *mc = cfg->own;
	JsonbContainer *body = pp_push_body(in->push);
	const char *platform = in->platform ? in->platform : "android";
	JsonbContainer *block = pp_platform_block(body, platform);
	int64		ttl = pp_ttl_seconds(body, in->expires_at);
	bool		notice = pp_jobj(body, "notification") != NULL;
	StringInfo	b = &req->body;

	initStringInfo(b);
	if (notice)
		meizu_notice(b, mc, body, block, platform, in->language, ttl);
	else
	{
		/* a data message: its fields as the pass-through content */
		JsonbContainer *msg = pp_jobj(body, "message");
		char	   *data = pp_data_json(body, block);
		bool		first = true;

		appendStringInfoChar(b, '{');
		pp_jw_str(b, &first, "title", pp_jstr(msg, "title"));
		pp_jw_str(b, &first, "content", data ? data : "{}");
		meizu_time_info(b, &first, ttl);
		appendStringInfoChar(b, '}');
	}
	req->limited_len = b->len;
	req->own = mc;
	req->url = psprintf("%s/garcia/api/server/push/%s/pushByPushId", cfg->endpoint,
						notice ? "varnished" : "unvarnished");
	req->headers = list_make1(pstrdup("content-type: application/x-www-form-urlencoded;charset=UTF-8"));
}

/* The form: appId, messageJson, pushIds and their signature. */
static void
meizu_assemble(const PPRequest *req, const char *const *tokens, int ntokens, StringInfo b)
{
	const PPMeizuConfig *mc = req->own;
	char	   *ids = pp_join_tokens(tokens, ntokens, ',');
	StringInfoData s;

	/* sign: the parameters sorted by name, name=value with raw values, then the secret */
	initStringInfo(&s);
	appendStringInfo(&s, "appId=%smessageJson=%spushIds=%s%s", mc->app_id, req->body.data,
					 ids, mc->app_secret);
	pp_form_add(b, "appId", mc->app_id);
	pp_form_add(b, "messageJson", req->body.data);
	pp_form_add(b, "pushIds", ids);
	pp_form_add(b, "sign", pp_md5_hex(s.data, s.len));
	pfree(s.data);
	pfree(ids);
}

/* The failed devices of a code-200 answer, by the code in value's map. */
static void
meizu_value_map(JsonbContainer *value, const char *const *tokens, int ntokens,
				PPItemResult *results)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;
	char	   *code = NULL;

	if (value == NULL || !JsonContainerIsObject(value))
		return;
	it = JsonbIteratorInit(value);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (r == WJB_KEY)
			code = pnstrdup(v.val.string.val, v.val.string.len);
		else if (r == WJB_VALUE && code && v.type == jbvBinary)
		{
			PPOutcomeKind kind = PP_OUT_FAILED;
			int			retry_ms = 0;

			/* 110002 unsubscribed, 110003 illegal, 110005 alias unsubscribed */
			if (strcmp(code, "110002") == 0 || strcmp(code, "110003") == 0 ||
				strcmp(code, "110005") == 0)
				kind = PP_OUT_INVALID_TOKEN;
			/* the device's daily limit of public messages */
			else if (strcmp(code, "110011") == 0)
			{
				kind = PP_OUT_RETRY;
				retry_ms = MEIZU_QUOTA_RETRY_MS;
			}
			/* folded with the device's other messages of the minute: it has them */
			else if (strcmp(code, "520") == 0)
				kind = PP_OUT_SENT;
			pp_result_set_named(v.val.binary.data, tokens, ntokens, results, kind,
								kind == PP_OUT_SENT ? NULL : code);
			for (int i = 0; i < ntokens && retry_ms; i++)
				if (results[i].kind == PP_OUT_RETRY)
					results[i].retry_after_ms = retry_ms;
			code = NULL;
		}
	}
}

static PPClassify
meizu_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
			   PPItemResult *results)
{
	Jsonb	   *j = pp_json_parse_safe(resp->body, resp->body_len);
	JsonbContainer *root = j && JsonContainerIsObject(&j->root) ? &j->root : NULL;
	char	   *message = pp_jstr(root, "message");
	int64		code = -1;
	PPOutcomeKind kind;
	char	   *error;
	int			retry_ms = 0;

	if (!pp_jnum(root, "code", &code))
		code = -1;
	if (resp->status == 200 && code == 200)
	{
		for (int i = 0; i < ntokens; i++)
			pp_result_set(&results[i], PP_OUT_SENT, NULL, pp_jstr(root, "msgId"));
		meizu_value_map(pp_jobj(root, "value"), tokens, ntokens, results);
		return PP_CLS_DONE;
	}
	error = code >= 0 ? psprintf(INT64_FORMAT, code) : psprintf("HTTP %d", resp->status);
	switch (code)
	{
		case 110002:			/* one pushId, refused as a whole */
		case 110003:
			kind = PP_OUT_INVALID_TOKEN;
			break;
		case 110019:			/* the app's daily limit */
			kind = PP_OUT_RETRY;
			retry_ms = MEIZU_QUOTA_RETRY_MS;
			break;
		case 110010:			/* too fast, over the configured rate, busy, overloaded */
		case 518:
		case 1003:
		case 519:
		case 500:
		case 501:
		case 513:
		case 1001:
			kind = PP_OUT_RETRY;
			break;
		default:
			kind = pp_status_default_kind(resp->status == 200 ? 400 : resp->status);
	}
	if (kind != PP_OUT_INVALID_TOKEN && message && message[0])
		error = psprintf("%s: %s", error, message);
	for (int i = 0; i < ntokens; i++)
	{
		pp_result_set(&results[i], kind, error, NULL);
		results[i].retry_after_ms = retry_ms;
	}
	return PP_CLS_DONE;
}

const PPVendor pp_vendor_meizu = {
	.name = "meizu",
	.platforms = meizu_platforms,
	.keys = meizu_keys,
	.default_endpoint = meizu_endpoint,
	.max_tokens = 100,
	.payload_limit = 4096,
	.limit_what = "pushplan sends Meizu a messageJson of at most 4096 bytes (Meizu states no limit; a pass-through content takes at most 2000 characters).",
	.title_max = 32,
	.alert_max = 100,
	.text_what = "Meizu Push takes a title of 1 to 32 characters and a content of 1 to 100.",
	.default_platform = "android",
	.config = meizu_config,
	.placeholder = &meizu_placeholder,
	.build = meizu_build,
	.assemble = meizu_assemble,
	.classify = meizu_classify,
};
