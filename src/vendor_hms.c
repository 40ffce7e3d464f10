/*
 * vendor_hms.c: Huawei Push Kit, v1 API (server).
 *
 * POST {endpoint}/v1/<app_id>/messages:send with Authorization: Bearer <OAuth client-credentials
 * token> (vendor_oauth.c) and {"validate_only": false, "message": {"token": [...], "android": {...},
 * "data"?}}.  One request carries up to 1000 tokens: the engine groups items whose message
 * (everything but the token list) is the same, i.e. the same app, task and resolved text.
 * Answers: 80000000 all sent; 80100000 some tokens illegal ("msg" is a JSON string listing
 * them); 80300007 all tokens invalid; 80200003 token expired (renew, retry once).
 */
#include "pushplan.h"

#include "utils/json.h"

#include "vendor.h"

static const char *const hms_platforms[] = {"android", "harmony", NULL};
static const char hms_endpoint[] = "https://push-api.cloud.huawei.com";
static const PPVendorKey hms_keys[] = {
	{"app_id", true}, {"client_secret", true}, {"token_endpoint", false}, {"endpoint", false}, {NULL}
};

/* An app's HMS config: its app id, which is also its OAuth client id (vendor_oauth.c). */
typedef struct PPHmsConfig
{
	const char *app_id;
	PPClientCredentials client; /* client_id: app_id, token_url: token_endpoint */
} PPHmsConfig;

static const PPHmsConfig hms_placeholder = {.app_id = "<app_id>"};

static bool
hms_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPHmsConfig *hc = palloc0(sizeof(PPHmsConfig));

	hc->app_id = pp_config_str(config, "app_id");
	hc->client.client_id = hc->app_id;
	hc->client.client_secret = pp_config_str(config, "client_secret");
	hc->client.token_url = pp_config_str(config, "token_endpoint");
	if (hc->client.token_url == NULL)
		hc->client.token_url = "https://oauth-login.cloud.huawei.com/oauth2/v3/token";
	cfg->own = hc;
	cfg->creds = &hc->client;
	cfg->endpoint = pp_config_str(config, "endpoint");
	if (cfg->endpoint == NULL)
		cfg->endpoint = hms_endpoint;
	if (!hc->app_id || !hc->client.client_secret)
	{
		*why = "hms config needs app_id and client_secret";
		return false;
	}
	return true;
}

/*
 * click_action is required in a notification: a web URL opens the browser (type 2), another
 * deep link or intent URI is an intent (type 1), none opens the app (type 3).
 */
static void
hms_click_action(StringInfo b, bool *first, JsonbContainer *block)
{
	char	   *url = pp_jstr(pp_jobj(block, "intent"), "url");
	bool		f = true;

	pp_jw_key(b, first, "click_action");
	appendStringInfoChar(b, '{');
	if (url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0))
	{
		pp_jw_int(b, &f, "type", 2);
		pp_jw_str(b, &f, "url", url);
	}
	else if (url)
	{
		pp_jw_int(b, &f, "type", 1);
		pp_jw_str(b, &f, "intent", url);
	}
	else
		pp_jw_int(b, &f, "type", 3);
	appendStringInfoChar(b, '}');
}

/* The message's members without the token list: what groups items and what the limit counts. */
static void
hms_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	const PPHmsConfig *hc = cfg->own;
	JsonbContainer *body = pp_push_body(in->push);
	JsonbContainer *opts = pp_jobj(body, "options");
	JsonbContainer *notif = pp_jobj(body, "notification");
	const char *platform = in->platform ? in->platform : "android";
	JsonbContainer *block = pp_platform_block(body, platform);
	const char *prio = pp_vendor_priority(opts);
	StringInfo	b = &req->body;
	bool		first = true;
	bool		f = true;

	initStringInfo(b);
	pp_jw_key(b, &first, "android");
	appendStringInfoChar(b, '{');
	pp_jw_str(b, &f, "ttl", psprintf(INT64_FORMAT "s", pp_ttl_seconds(body, in->expires_at)));
	if (prio)
		pp_jw_str(b, &f, "urgency", strcmp(prio, "normal") == 0 ? "NORMAL" : "HIGH");
	if (notif)
	{
		PPText		t;
		bool		nf = true;

		pp_resolve_text(body, platform, in->language, &t);
		pp_jw_key(b, &f, "notification");
		appendStringInfoChar(b, '{');
		pp_jw_str(b, &nf, "title", t.title);
		pp_jw_str(b, &nf, "body", t.alert);
		pp_jw_str(b, &nf, "image", pp_jstr(block, "image"));
		pp_jw_str(b, &nf, "channel_id", pp_jstr(block, "channel_id"));
		pp_jw_str(b, &nf, "sound", pp_jstr(block, "sound"));
		pp_jw_str(b, &nf, "category", pp_jstr(block, "category"));
		/* a newer notification of the same tag replaces the one shown */
		pp_jw_str(b, &nf, "tag", pp_resend_collapse_id(body, in->task_id));
		hms_click_action(b, &nf, block);
		appendStringInfoChar(b, '}');
	}
	appendStringInfoChar(b, '}');

	pp_jw_data_string(b, &first, "data", body, block);
	/* the limit counts {members} */
	req->limited_len = b->len + 2;
	req->url = psprintf("%s/v1/%s/messages:send", cfg->endpoint, pp_url_escape(hc->app_id));
	req->headers = list_make1(pstrdup("content-type: application/json; charset=UTF-8"));
}

static void
hms_assemble(const PPRequest *req, const char *const *tokens, int ntokens, StringInfo b)
{
	appendStringInfoString(b, "{\"validate_only\":false,\"message\":{\"token\":");
	pp_jw_tokens(b, tokens, ntokens);
	if (req->body.len > 0)
		appendStringInfoChar(b, ',');
	appendBinaryStringInfo(b, req->body.data, req->body.len);
	appendStringInfoString(b, "}}");
}

/* 80100000: the tokens named in msg {"illegal_tokens": [...]} are invalid. */
static void
hms_partial(const char *msg, const char *const *tokens, int ntokens, PPItemResult *results)
{
	Jsonb	   *j = msg ? pp_json_parse_safe(msg, strlen(msg)) : NULL;
	JsonbValue	v;

	if (j && JsonContainerIsObject(&j->root) &&
		getKeyJsonValueFromContainer(&j->root, "illegal_tokens", 14, &v) &&
		v.type == jbvBinary)
		pp_result_set_named(v.val.binary.data, tokens, ntokens, results, PP_OUT_INVALID_TOKEN,
							"80100000");
}

static PPClassify
hms_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
			 PPItemResult *results)
{
	return pp_huawei_classify(resp, tokens, ntokens, results, hms_partial);
}

const PPVendor pp_vendor_hms = {
	.name = "hms",
	.platforms = hms_platforms,
	.keys = hms_keys,
	.default_endpoint = hms_endpoint,
	.max_tokens = 1000,
	.payload_limit = 4096,
	.limit_what = "Huawei Push Kit takes at most 4096 bytes of message (without its token list).",
	.auth = &pp_auth_client_credentials,
	.default_platform = "android",
	.config = hms_config,
	.placeholder = &hms_placeholder,
	.build = hms_build,
	.assemble = hms_assemble,
	.classify = hms_classify,
};
