/*
 * vendor_honor.c: Honor Push (Honor phones, Android), server API v1.
 *
 * POST {endpoint}/api/v1/<app_id>/sendMessage with Authorization: Bearer <OAuth
 * client-credentials token> (vendor_oauth.c; Honor's token endpoint takes the same form POST as
 * Huawei's), a timestamp header (Unix milliseconds) and a camelCase JSON body
 * {"token": [...], "android": {"ttl", "notification": {...}}, "data"?}.  One request carries up
 * to 1000 tokens, grouped by the engine as for HMS.  Answers {"code", "message", "data":
 * {"sendResult", "requestId", "failTokens", "expireTokens"}}: code 200 (or 80100000, partly
 * sent) with the tokens Honor refused listed; those are invalid_token, the others sent.
 * doc/vendors.md, "Honor", says what is mapped, what is ignored and what is not confirmed.
 */
#include "pushplan.h"

#include <sys/time.h>

#include "vendor.h"

static const char *const honor_platforms[] = {"android", NULL};
static const char honor_endpoint[] = "https://push-api.cloud.honor.com";
static const PPVendorKey honor_keys[] = {
	{"app_id", true}, {"client_id", true}, {"client_secret", true}, {"endpoint", false}, {"token_endpoint", false}, {NULL}
};

/* Honor's developer guide (2023); its SDKs also use /auth/token on the same host */
#define HONOR_TOKEN_URL \
	"https://iam.developer.honor.com/auth/realms/developer/protocol/openid-connect/token"

/* Honor keeps a message for at most 15 days. */
#define HONOR_MAX_TTL_S		1296000

typedef struct PPHonorConfig
{
	const char *app_id;
	PPClientCredentials client;
} PPHonorConfig;

static const PPHonorConfig honor_placeholder = {.app_id = "<app_id>"};

static bool
honor_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPHonorConfig *hc = palloc0(sizeof(PPHonorConfig));

	hc->app_id = pp_config_str(config, "app_id");
	hc->client.client_id = pp_config_str(config, "client_id");
	hc->client.client_secret = pp_config_str(config, "client_secret");
	hc->client.token_url = pp_config_str(config, "token_endpoint");
	if (hc->client.token_url == NULL)
		hc->client.token_url = HONOR_TOKEN_URL;
	cfg->own = hc;
	cfg->creds = &hc->client;
	cfg->endpoint = pp_config_str(config, "endpoint");
	if (cfg->endpoint == NULL)
		cfg->endpoint = honor_endpoint;
	if (!hc->app_id || !hc->client.client_id || !hc->client.client_secret)
	{
		*why = "honor config needs app_id, client_id and client_secret";
		return false;
	}
	return true;
}

/* clickAction is required in a notification: 2 a web page, 1 an intent, 3 open the app. */
static void
honor_click_action(StringInfo b, bool *first, JsonbContainer *block)
{
	bool		web;
	char	   *url = pp_click_url(block, &web);
	bool		f = true;

	pp_jw_key(b, first, "clickAction");
	appendStringInfoChar(b, '{');
	pp_jw_int(b, &f, "type", url ? (web ? 2 : 1) : 3);
	if (url)
		pp_jw_str(b, &f, web ? "url" : "intent", url);
	appendStringInfoChar(b, '}');
}

/* The body's members without the token list: what groups items and what the limit counts. */
static void
honor_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	const PPHonorConfig *hc = cfg->own;
	JsonbContainer *body = pp_push_body(in->push);
	JsonbContainer *notif = pp_jobj(body, "notification");
	const char *platform = in->platform ? in->platform : "android";
	JsonbContainer *block = pp_platform_block(body, platform);
	const char *prio = pp_vendor_priority(pp_jobj(body, "options"));
	char	   *collapse = pp_resend_collapse_id(body, in->task_id);
	StringInfo	b = &req->body;
	bool		first = true;
	bool		f = true;
	struct timeval tv;

	initStringInfo(b);
	pp_jw_key(b, &first, "android");
	appendStringInfoChar(b, '{');
	pp_jw_str(b, &f, "ttl", psprintf(INT64_FORMAT "s",
									 Min(pp_ttl_seconds(body, in->expires_at), HONOR_MAX_TTL_S)));
	if (notif)
	{
		PPText		t;
		bool		nf = true;
		char	   *big = pp_jstr(block, "big_text");

		pp_resolve_text(body, platform, in->language, &t);
		pp_jw_key(b, &f, "notification");
		appendStringInfoChar(b, '{');
		pp_jw_str(b, &nf, "title", t.title);
		pp_jw_str(b, &nf, "body", t.alert);
		pp_jw_str(b, &nf, "image", pp_jstr(block, "image"));
		/* NORMAL (service and communication) needs Honor's approval: only when asked for */
		if (prio && strcmp(prio, "high") == 0)
			pp_jw_str(b, &nf, "importance", "NORMAL");
		pp_jw_str(b, &nf, "tag", collapse);
		if (big)
		{
			pp_jw_int(b, &nf, "style", 1);
			pp_jw_str(b, &nf, "bigTitle", t.title);
			pp_jw_str(b, &nf, "bigBody", big);
		}
		honor_click_action(b, &nf, block);
		appendStringInfoChar(b, '}');
	}
	appendStringInfoChar(b, '}');

	pp_jw_data_string(b, &first, "data", body, block);
	req->limited_len = b->len + 2;
	req->url = psprintf("%s/api/v1/%s/sendMessage", cfg->endpoint, pp_url_escape(hc->app_id));
	gettimeofday(&tv, NULL);
	req->headers = list_make2(pstrdup("content-type: application/json; charset=UTF-8"),
							  psprintf("timestamp: " INT64_FORMAT,
									   (int64) tv.tv_sec * 1000 + tv.tv_usec / 1000));
}

static void
honor_assemble(const PPRequest *req, const char *const *tokens, int ntokens, StringInfo b)
{
	appendStringInfoString(b, "{\"token\":");
	pp_jw_tokens(b, tokens, ntokens);
	if (req->body.len > 0)
		appendStringInfoChar(b, ',');
	appendBinaryStringInfo(b, req->body.data, req->body.len);
	appendStringInfoChar(b, '}');
}

static PPClassify
honor_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
			   PPItemResult *results)
{
	Jsonb	   *j = pp_json_parse_safe(resp->body, resp->body_len);
	JsonbContainer *root = j && JsonContainerIsObject(&j->root) ? &j->root : NULL;
	JsonbContainer *data = pp_jobj(root, "data");
	char	   *message = pp_jstr(root, "message");
	char	   *request_id = pp_jstr(data, "requestId");
	int64		code = 0;
	char	   *error;
	PPOutcomeKind kind;

	if (!pp_jnum(root, "code", &code))
		code = 0;
	if (resp->status == 200 && (code == 200 || code == 80100000))
	{
		JsonbValue	v;

		for (int i = 0; i < ntokens; i++)
			pp_result_set(&results[i], PP_OUT_SENT, NULL, request_id);
		if (pp_jget(data, "failTokens", &v) && v.type == jbvBinary)
			pp_result_set_named(v.val.binary.data, tokens, ntokens, results,
								PP_OUT_INVALID_TOKEN, "failTokens");
		if (pp_jget(data, "expireTokens", &v) && v.type == jbvBinary)
			pp_result_set_named(v.val.binary.data, tokens, ntokens, results,
								PP_OUT_INVALID_TOKEN, "expireTokens");
		return PP_CLS_DONE;
	}
	error = code ? psprintf(INT64_FORMAT, code) : psprintf("HTTP %d", resp->status);
	if (code == 80300007)
		kind = PP_OUT_INVALID_TOKEN;
	else
		kind = pp_status_default_kind(resp->status == 200 ? 400 : resp->status);
	if (kind == PP_OUT_FAILED && message)
		error = psprintf("%s: %s", error, message);
	for (int i = 0; i < ntokens; i++)
		pp_result_set(&results[i], kind, error, NULL);
	/* 401, or 80200001 / 80200003 (Huawei's auth codes, which Honor's API mirrors): renew once */
	if (resp->status == 401 || code == 80200001 || code == 80200003)
		return PP_CLS_AUTH_STALE;
	return PP_CLS_DONE;
}

const PPVendor pp_vendor_honor = {
	.name = "honor",
	.platforms = honor_platforms,
	.keys = honor_keys,
	.default_endpoint = honor_endpoint,
	.max_tokens = 1000,
	.payload_limit = 4096,
	.limit_what = "Honor Push takes at most 4096 bytes of message (without its token list).",
	.auth = &pp_auth_client_credentials,
	.default_platform = "android",
	.config = honor_config,
	.placeholder = &honor_placeholder,
	.build = honor_build,
	.assemble = honor_assemble,
	.classify = honor_classify,
};
