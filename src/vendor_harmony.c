/*
 * vendor_harmony.c: HarmonyOS NEXT Push Kit, scenario-based API v3 (HarmonyOS 5 and later).
 *
 * POST {endpoint}/v3/<project_id>/messages:send with Authorization: Bearer <JWT> and a push-type
 * header: 0 (alert) for a notification, 6 (background) for a data message.  The JWT is the
 * service account's own token (vendor_oauth.c: PS256, no token endpoint), cached in shared
 * memory like APNs' and replaced after 55 minutes (Huawei: valid an hour, reusable).  Body
 * {"payload": {...}, "pushOptions": {"ttl", "biTag"}, "target": {"token": [...]}}; one request
 * carries up to 1000 tokens, grouped by the engine as for HMS.  Answers {"code", "msg",
 * "requestId"} (code a string): 80000000 sent; 80100000 partly sent, msg a JSON string
 * {"illegalTokens": {"<reason>": [tokens]}, ...}; 80300007 every token invalid; 401 (or the
 * 802000xx auth codes) renew the JWT once; 503 flow control.  doc/vendors.md, "HarmonyOS NEXT".
 */
#include "pushplan.h"

#include "jwt.h"
#include "vendor.h"

static const char *const harmony_platforms[] = {"harmony", NULL};
static const char harmony_endpoint[] = "https://push-api.cloud.huawei.com";
static const PPVendorKey harmony_keys[] = {
	{"project_id", true}, {"key_id", true}, {"private_key", true}, {"sub_account", true},
	{"default_title", false}, {"endpoint", false}, {NULL}
};

/* pushOptions.ttl: Huawei keeps a message at most 15 days. */
#define HARMONY_MAX_TTL_S	1296000

/* An app's service account (the key file Huawei's API Console gives) and its options. */
typedef struct PPHarmonyConfig
{
	const char *project_id;
	PPProviderKey account;		/* iss: sub_account, kid: key_id, the RSA private key */
	const char *default_title;	/* a notification needs a title: used when the push has none */
} PPHarmonyConfig;

static const PPHarmonyConfig harmony_placeholder = {.project_id = "<project_id>"};

static bool
harmony_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPHarmonyConfig *hc = palloc0(sizeof(PPHarmonyConfig));

	hc->project_id = pp_config_str(config, "project_id");
	hc->account.kid = pp_config_str(config, "key_id");
	hc->account.private_key = pp_config_str(config, "private_key");
	hc->account.iss = pp_config_str(config, "sub_account");
	hc->default_title = pp_config_str(config, "default_title");
	cfg->own = hc;
	cfg->creds = &hc->account;
	cfg->endpoint = pp_config_str(config, "endpoint");
	if (cfg->endpoint == NULL)
		cfg->endpoint = harmony_endpoint;
	if (!hc->project_id || !hc->account.kid || !hc->account.private_key || !hc->account.iss)
	{
		*why = "harmony config needs project_id, key_id, private_key and sub_account";
		return false;
	}
	return true;
}

/* push_vendor_set: the private key must be an RSA key, as PS256 signs with one. */
static char *
harmony_config_problem(Jsonb *config)
{
	char	   *pem = pp_config_str(config, "private_key");

	return pem ? pp_pem_key_problem(pem, PP_KEY_RSA) : NULL;
}

/* ---- the message ------------------------------------------------------------------------- */

/*
 * payload and pushOptions, without the target: what groups items and what the limit counts.
 * A notification is push-type 0 (payload.notification); a push without one is a background
 * message, push-type 6 (payload.extraData, the extras and message fields as a JSON string).
 */
static void
harmony_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	const PPHarmonyConfig *hc = cfg->own;
	JsonbContainer *body = pp_push_body(in->push);
	JsonbContainer *notif = pp_jobj(body, "notification");
	JsonbContainer *block = pp_platform_block(body, "harmony");
	char	   *collapse = pp_resend_collapse_id(body, in->task_id);
	StringInfo	b = &req->body;
	bool		first = true;
	bool		f = true;

	initStringInfo(b);
	pp_jw_key(b, &first, "payload");
	appendStringInfoChar(b, '{');
	if (notif)
	{
		PPText		t;
		bool		nf = true;
		bool		cf = true;
		char	   *category = pp_jstr(block, "category");
		JsonbContainer *extras = pp_jobj(block, "extras");

		pp_resolve_text(body, "harmony", in->language, &t);
		pp_jw_key(b, &f, "notification");
		appendStringInfoChar(b, '{');
		/* MARKETING needs no approval; the service categories do (Huawei's self-classification) */
		pp_jw_str(b, &nf, "category", category ? category : "MARKETING");
		pp_jw_str(b, &nf, "title", t.title ? t.title : hc->default_title);
		pp_jw_str(b, &nf, "body", t.alert);
		if (collapse)
			pp_jw_int(b, &nf, "notifyId", pp_collapse_number(collapse));
		/* clickAction is required: open the app's home page, with the extras as its data */
		pp_jw_key(b, &nf, "clickAction");
		appendStringInfoChar(b, '{');
		pp_jw_int(b, &cf, "actionType", 0);
		if (extras)
		{
			bool		df = true;

			pp_jw_key(b, &cf, "data");
			appendStringInfoChar(b, '{');
			pp_jw_members(b, &df, extras);
			appendStringInfoChar(b, '}');
		}
		appendStringInfoChar(b, '}');
		appendStringInfoChar(b, '}');
	}
	else
	{
		char	   *data = pp_data_json(body, block);

		pp_jw_str(b, &f, "extraData", data ? data : "{}");
	}
	appendStringInfoChar(b, '}');

	pp_jw_key(b, &first, "pushOptions");
	appendStringInfoChar(b, '{');
	f = true;
	pp_jw_int(b, &f, "ttl", Min(pp_ttl_seconds(body, in->expires_at), HARMONY_MAX_TTL_S));
	/* receipts name the task (biTag: at most 64 bytes; a task id is 36) */
	if (in->task_id && strlen(in->task_id) <= 64)
		pp_jw_str(b, &f, "biTag", in->task_id);
	appendStringInfoChar(b, '}');

	/* the limit counts {members} */
	req->limited_len = b->len + 2;
	req->url = psprintf("%s/v3/%s/messages:send", cfg->endpoint, pp_url_escape(hc->project_id));
	req->headers = list_make2(pstrdup("content-type: application/json"),
							  pstrdup(notif ? "push-type: 0" : "push-type: 6"));
}

static void
harmony_assemble(const PPRequest *req, const char *const *tokens, int ntokens, StringInfo b)
{
	appendStringInfoChar(b, '{');
	appendBinaryStringInfo(b, req->body.data, req->body.len);
	appendStringInfoString(b, ",\"target\":{\"token\":");
	pp_jw_tokens(b, tokens, ntokens);
	appendStringInfoString(b, "}}");
}

/* ---- answers ----------------------------------------------------------------------------- */

/*
 * The reasons of 80100000 that are about the token itself: it is malformed, of another
 * project's app, or a third-party proxy's.  The others (no right to the push-type, the app
 * penalised, the country, ...) fail the delivery with the reason: the token is not to blame.
 */
static bool
harmony_token_reason(const char *reason)
{
	return strcmp(reason, "tokenFormatError") == 0 || strcmp(reason, "noRight") == 0 ||
		strcmp(reason, "tokenPlatformNotSupport") == 0;
}

/* 80100000: msg {"illegalTokens": {"<reason>": [tokens]}, "success", "failure"}. */
static void
harmony_partial(const char *msg, const char *const *tokens, int ntokens, PPItemResult *results)
{
	Jsonb	   *j = msg ? pp_json_parse_safe(msg, strlen(msg)) : NULL;
	JsonbContainer *illegal = j && JsonContainerIsObject(&j->root) ?
		pp_jobj(&j->root, "illegalTokens") : NULL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;
	char	   *reason = NULL;

	if (illegal == NULL)
		return;
	it = JsonbIteratorInit(illegal);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (r == WJB_KEY)
			reason = pnstrdup(v.val.string.val, v.val.string.len);
		else if (r == WJB_VALUE && reason && v.type == jbvBinary)
			pp_result_set_named(v.val.binary.data, tokens, ntokens, results,
								harmony_token_reason(reason) ? PP_OUT_INVALID_TOKEN : PP_OUT_FAILED,
								psprintf("80100000: %s", reason));
	}
}

/* Huawei's answers, as HMS's (vendor_util.c), with the reasons of 80100000 above. */
static PPClassify
harmony_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
				 PPItemResult *results)
{
	return pp_huawei_classify(resp, tokens, ntokens, results, harmony_partial);
}

const PPVendor pp_vendor_harmony = {
	.name = "harmony",
	.platforms = harmony_platforms,
	.keys = harmony_keys,
	.default_endpoint = harmony_endpoint,
	.max_tokens = 1000,
	.payload_limit = 4096,
	.limit_what = "HarmonyOS Push Kit takes at most 4096 bytes of message (without its token list).",
	.auth = &pp_auth_huawei_service_account,
	.default_platform = "harmony",
	.config = harmony_config,
	.placeholder = &harmony_placeholder,
	.build = harmony_build,
	.assemble = harmony_assemble,
	.classify = harmony_classify,
	.config_problem = harmony_config_problem,
};
