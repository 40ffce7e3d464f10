/*
 * vendor_webhook.c: pushplan's own channel: POST the push, resolved for one device, as JSON to the
 * app's URL, signed with X-Pushplan-Signature: sha256=<hex HMAC-SHA256(secret, body)>.
 * A receiver answers 2xx (sent), 410 (the token is gone: invalidate it), 429 / 5xx (retry,
 * Retry-After honoured) or another status (failed).
 */
#include "pushplan.h"

#include "utils/timestamp.h"

#include "jwt.h"
#include "vendor.h"

static const char *const webhook_platforms[] = {"android", "ios", "web", "harmony", NULL};
static const PPVendorKey webhook_keys[] = {
	{"url", true}, {"secret", true}, {NULL}
};

/* An app's webhook: where to POST, and the HMAC key of the signature. */
typedef struct PPWebhookConfig
{
	const char *url;
	const char *secret;
} PPWebhookConfig;

static const PPWebhookConfig webhook_placeholder = {.url = "<url>", .secret = ""};

static bool
webhook_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPWebhookConfig *wc = palloc0(sizeof(PPWebhookConfig));

	wc->url = pp_config_str(config, "url");
	wc->secret = pp_config_str(config, "secret");
	cfg->own = wc;
	if (!wc->url || !wc->secret)
	{
		*why = "webhook config needs url and secret";
		return false;
	}
	return true;
}

/* Whether a message to an address is a flow's webhook step's (it names its flow_id). */
static bool
is_flow_message(const char *message)
{
	Jsonb	   *j;

	if (message == NULL)
		return false;
	j = pp_json_parse_safe(message, strlen(message));
	return j != NULL && JsonContainerIsObject(&j->root) && pp_jstr(&j->root, "flow_id") != NULL;
}

static void
webhook_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	const PPWebhookConfig *wc = cfg->own;
	JsonbContainer *body = pp_push_body(in->push);
	JsonbContainer *notif = pp_jobj(body, "notification");
	JsonbContainer *msg = pp_jobj(body, "message");
	const char *platform = in->platform ? in->platform : "android";
	JsonbContainer *block = pp_platform_block(body, platform);
	StringInfo	b = &req->body;
	bool		first = true;

	initStringInfo(b);
	appendStringInfoChar(b, '{');
	pp_jw_str(b, &first, "task_id", in->task_id);
	pp_jw_str(b, &first, "registration_id", in->registration_id);
	if (in->device_id != 0)
		pp_jw_int(b, &first, "device_id", in->device_id);
	pp_jw_str(b, &first, "token", in->token);
	pp_jw_str(b, &first, "platform", platform);
	pp_jw_str(b, &first, "language", in->language);
	if (notif)
	{
		PPText		t;

		pp_resolve_text(body, platform, in->language, &t);
		pp_jw_str(b, &first, "title", t.title);
		pp_jw_str(b, &first, "alert", t.alert);
		pp_jw_raw(b, &first, "extras", pp_jobj(block, "extras") ? pp_jraw(block, "extras") : "{}");
		/* the rest of the platform block (image, url, sound ...) as given */
		pp_jw_raw(b, &first, "notification", block ? pp_jraw(pp_jobj(body, "notification"), platform) : NULL);
	}
	pp_jw_raw(b, &first, "message", msg ? pp_jraw(body, "message") : NULL);
	if (in->push && JsonContainerIsObject(&in->push->root))
		pp_jw_raw(b, &first, "custom_args",
				  pp_jobj(&in->push->root, "custom_args") ? pp_jraw(&in->push->root, "custom_args") : NULL);
	if (in->expires_at > 0)
		pp_jw_str(b, &first, "expires_at", timestamptz_to_str(in->expires_at));
	/*
	 * a message to an address: a push's fallback (doc/fallback.md: the push's task and delivery,
	 * and the address), or a flow's webhook step (doc/flows.md: the flow, step and instance, and
	 * the address), which names its flow
	 */
	pp_jw_raw(b, &first, is_flow_message(in->fallback) ? "flow" : "fallback", in->fallback);
	appendStringInfoChar(b, '}');
	req->limited_len = b->len;
	req->url = pstrdup(wc->url);
	req->headers = list_make2(pstrdup("content-type: application/json"),
							  pp_webhook_signature_header(wc->secret, b->data, b->len));
}

static PPClassify
webhook_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
				 PPItemResult *results)
{
	Jsonb	   *j;
	char	   *err = NULL;

	if (resp->status >= 200 && resp->status < 300)
	{
		pp_result_set(&results[0], PP_OUT_SENT, NULL, NULL);
		return PP_CLS_DONE;
	}
	j = pp_json_parse_safe(resp->body, resp->body_len);
	if (j && JsonContainerIsObject(&j->root))
		err = pp_jstr(&j->root, "error");
	if (err == NULL)
		err = psprintf("HTTP %d", resp->status);
	pp_result_set(&results[0], resp->status == 410 ? PP_OUT_INVALID_TOKEN :
				  pp_status_default_kind(resp->status), err, NULL);
	return PP_CLS_DONE;
}

const PPVendor pp_vendor_webhook = {
	.name = "webhook",
	.platforms = webhook_platforms,
	.keys = webhook_keys,
	.default_endpoint = NULL,	/* the config's url */
	.max_tokens = 1,
	.payload_limit = 65536,
	.limit_what = "pushplan sends webhook bodies of at most 64 KB.",
	.auth = NULL,				/* the body is signed instead */
	.default_platform = "android",
	.config = webhook_config,
	.placeholder = &webhook_placeholder,
	.build = webhook_build,
	.assemble = NULL,
	.classify = webhook_classify,
};
