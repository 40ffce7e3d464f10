/*
 * vendor_xiaomi.c: Xiaomi Push (MiPush: Xiaomi, Redmi and POCO phones, Android), server API v3.
 *
 * POST {endpoint}/v3/message/regid with Authorization: key=<AppSecret> (no token exchange: the
 * secret is the credential) and a form body: restricted_package_name, title, description,
 * pass_through, payload, time_to_live (milliseconds), notify_id, extra.* and
 * registration_id, the devices' regids comma-joined, up to 1000 a request (the engine groups
 * items as for HMS).  Answers {"result": "ok"|"error", "code", "description", "reason", "data":
 * {"id", "bad_regids": "id1,id2"}}: code 0 sent, but for the regids listed in bad_regids
 * (invalid_token).  doc/vendors.md, "Xiaomi", says what is mapped and what is not confirmed.
 */
#include "pushplan.h"

#include "vendor.h"

static const char *const xiaomi_platforms[] = {"android", NULL};
static const char xiaomi_endpoint[] = "https://api.xmpush.xiaomi.com";
static const PPVendorKey xiaomi_keys[] = {
	{"app_secret", true}, {"package_name", true}, {"default_title", false}, {"endpoint", false}, {NULL}
};

/* Xiaomi keeps a message for at most two weeks (its default too). */
#define XIAOMI_MAX_TTL_S	(14 * 86400)
/* A daily quota is spent: try again in an hour, not at the back-off's pace. */
#define XIAOMI_QUOTA_RETRY_MS	(3600 * 1000)

typedef struct PPXiaomiConfig
{
	const char *app_secret;
	const char *package_name;
	const char *default_title;	/* a notification's title when the push has none */
} PPXiaomiConfig;

static const PPXiaomiConfig xiaomi_placeholder = {
	.app_secret = "<app_secret>", .package_name = "<package_name>"
};

static bool
xiaomi_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPXiaomiConfig *xc = palloc0(sizeof(PPXiaomiConfig));

	xc->app_secret = pp_config_str(config, "app_secret");
	xc->package_name = pp_config_str(config, "package_name");
	xc->default_title = pp_config_str(config, "default_title");
	cfg->own = xc;
	cfg->endpoint = pp_config_str(config, "endpoint");
	if (cfg->endpoint == NULL)
		cfg->endpoint = xiaomi_endpoint;
	if (!xc->app_secret || !xc->package_name)
	{
		*why = "xiaomi config needs app_secret and package_name";
		return false;
	}
	return true;
}

/* The form without registration_id: what groups items; the limit counts the payload. */
static void
xiaomi_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	const PPXiaomiConfig *xc = cfg->own;
	JsonbContainer *body = pp_push_body(in->push);
	JsonbContainer *notif = pp_jobj(body, "notification");
	const char *platform = in->platform ? in->platform : "android";
	JsonbContainer *block = pp_platform_block(body, platform);
	char	   *payload = pp_data_json(body, block);
	char	   *collapse = pp_collapse_id(body);
	StringInfo	b = &req->body;

	initStringInfo(b);
	pp_form_add(b, "restricted_package_name", xc->package_name);
	pp_form_add(b, "pass_through", notif ? "0" : "1");
	pp_form_add(b, "payload", payload);
	pp_form_add(b, "time_to_live",
				psprintf(INT64_FORMAT,
						 Min(pp_ttl_seconds(body, in->expires_at), XIAOMI_MAX_TTL_S) * 1000));
	if (notif)
	{
		PPText		t;
		bool		web;
		char	   *url = pp_click_url(block, &web);
		char	   *sound = pp_jstr(block, "sound");
		char	   *channel = pp_jstr(block, "channel_id");

		pp_resolve_text(body, platform, in->language, &t);
		pp_form_add(b, "title", t.title ? t.title : xc->default_title);
		pp_form_add(b, "description", t.alert);
		/* -1: the device's default sound, vibration and light */
		pp_form_add(b, "notify_type", "-1");
		if (collapse)
			pp_form_add(b, "notify_id", psprintf("%d", pp_collapse_number(collapse)));
		/* 1 launch the app, 2 an activity (intent_uri), 3 a web page (web_uri) */
		pp_form_add(b, "extra.notify_effect", url ? (web ? "3" : "2") : "1");
		if (url)
			pp_form_add(b, web ? "extra.web_uri" : "extra.intent_uri", url);
		if (sound && strstr(sound, "://"))
			pp_form_add(b, "extra.sound_uri", sound);
		pp_form_add(b, "extra.channel_id", channel);
	}
	req->limited_len = payload ? strlen(payload) : 0;
	req->url = psprintf("%s/v3/message/regid", cfg->endpoint);
	req->headers = list_make2(pstrdup("content-type: application/x-www-form-urlencoded;charset=UTF-8"),
							  psprintf("authorization: key=%s", xc->app_secret));
}

static void
xiaomi_assemble(const PPRequest *req, const char *const *tokens, int ntokens, StringInfo b)
{
	appendBinaryStringInfo(b, req->body.data, req->body.len);
	pp_form_add(b, "registration_id", pp_join_tokens(tokens, ntokens, ','));
}

static PPClassify
xiaomi_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
				PPItemResult *results)
{
	Jsonb	   *j = pp_json_parse_safe(resp->body, resp->body_len);
	JsonbContainer *root = j && JsonContainerIsObject(&j->root) ? &j->root : NULL;
	JsonbContainer *data = pp_jobj(root, "data");
	char	   *reason = pp_jstr(root, "reason");
	int64		code = -1;
	PPOutcomeKind kind;
	char	   *error;
	int			retry_ms = 0;

	if (reason == NULL)
		reason = pp_jstr(root, "description");
	if (!pp_jnum(root, "code", &code))
		code = -1;
	if (resp->status == 200 && code == 0)
	{
		for (int i = 0; i < ntokens; i++)
			pp_result_set(&results[i], PP_OUT_SENT, NULL, pp_jstr(data, "id"));
		pp_result_set_listed(pp_jstr(data, "bad_regids"), ',', tokens, ntokens, results,
							 PP_OUT_INVALID_TOKEN, "bad_regids");
		return PP_CLS_DONE;
	}
	error = code >= 0 ? psprintf(INT64_FORMAT, code) : psprintf("HTTP %d", resp->status);
	switch (code)
	{
		case 20301:				/* every regid of the request is invalid */
			kind = PP_OUT_INVALID_TOKEN;
			break;
		case 200001:			/* the app's daily quota */
			kind = PP_OUT_RETRY;
			retry_ms = XIAOMI_QUOTA_RETRY_MS;
			break;
		case 10002:				/* busy, rate limited: the caller's back-off */
		case 10003:
		case 10027:
		case 10037:
			kind = PP_OUT_RETRY;
			break;
		default:
			kind = pp_status_default_kind(resp->status == 200 ? 400 : resp->status);
	}
	if (kind != PP_OUT_INVALID_TOKEN && reason)
		error = psprintf("%s: %s", error, reason);
	for (int i = 0; i < ntokens; i++)
	{
		pp_result_set(&results[i], kind, error, NULL);
		results[i].retry_after_ms = retry_ms;
	}
	return PP_CLS_DONE;
}

const PPVendor pp_vendor_xiaomi = {
	.name = "xiaomi",
	.platforms = xiaomi_platforms,
	.keys = xiaomi_keys,
	.default_endpoint = xiaomi_endpoint,
	.max_tokens = 1000,
	.payload_limit = 4096,
	.limit_what = "Xiaomi Push takes a payload (extras and message fields) of at most 4096 bytes.",
	.title_max = 49,
	.alert_max = 127,
	.text_what = "Xiaomi Push takes a title of less than 50 characters and a description of less than 128.",
	.default_platform = "android",
	.config = xiaomi_config,
	.placeholder = &xiaomi_placeholder,
	.build = xiaomi_build,
	.assemble = xiaomi_assemble,
	.classify = xiaomi_classify,
};
