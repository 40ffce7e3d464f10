/*
 * vendor_fcm.c: Firebase Cloud Messaging, HTTP v1 API.
 *
 * POST {endpoint}/v1/projects/<project_id>/messages:send with Authorization: Bearer <OAuth
 * access token> (vendor_oauth.c, service-account flow) and {"message": {"token", "notification"?,
 * "android"?, "apns"?, "webpush"?, "data"?}}.  Android devices get notification + android
 * (ttl, priority, notification options); iOS devices get the APNs payload in "apns"; web
 * devices get notification + webpush.  "data" values are strings (FCM rejects anything else):
 * extras that are not strings are sent as their JSON text.
 */
#include "pushplan.h"

#include "utils/json.h"

#include "vendor.h"

static const char *const fcm_platforms[] = {"android", "ios", "web", NULL};
static const char fcm_endpoint[] = "https://fcm.googleapis.com";
static const PPVendorKey fcm_keys[] = {
	{"service_account", true}, {"endpoint", false}, {NULL}
};

/* An app's FCM config: its service account (vendor_oauth.c) and its Firebase project. */
typedef struct PPFcmConfig
{
	PPServiceAccount account;
	const char *project_id;
} PPFcmConfig;

static const PPFcmConfig fcm_placeholder = {.project_id = "<project_id>"};

/* JPush's notification priority -2..2 -> FCM's AndroidNotification.NotificationPriority */
static const char *
fcm_notification_priority(JsonbContainer *android)
{
	int64		p;
	static const char *const names[] = {"PRIORITY_MIN", "PRIORITY_LOW", "PRIORITY_DEFAULT",
	"PRIORITY_HIGH", "PRIORITY_MAX"};

	if (!pp_jnum(android, "priority", &p) || p < -2 || p > 2)
		return NULL;
	return names[p + 2];
}

static bool
fcm_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPFcmConfig *fc = palloc0(sizeof(PPFcmConfig));
	JsonbValue	v;
	JsonbContainer *sa = NULL;

	if (getKeyJsonValueFromContainer(&config->root, "service_account", 15, &v))
	{
		if (v.type == jbvBinary)
			sa = pp_jobj(&config->root, "service_account");
		else if (v.type == jbvString)
		{
			Jsonb	   *j = pp_json_parse_safe(v.val.string.val, v.val.string.len);

			sa = j && JsonContainerIsObject(&j->root) ? &j->root : NULL;
		}
	}
	fc->project_id = pp_jstr(sa, "project_id");
	fc->account.client_email = pp_jstr(sa, "client_email");
	fc->account.private_key = pp_jstr(sa, "private_key");
	fc->account.private_key_id = pp_jstr(sa, "private_key_id");
	fc->account.token_uri = pp_jstr(sa, "token_uri");
	if (fc->account.token_uri == NULL)
		fc->account.token_uri = "https://oauth2.googleapis.com/token";
	fc->account.scope = "https://www.googleapis.com/auth/firebase.messaging";
	cfg->own = fc;
	cfg->creds = &fc->account;
	cfg->endpoint = pp_config_str(config, "endpoint");
	if (cfg->endpoint == NULL)
		cfg->endpoint = fcm_endpoint;
	if (!fc->project_id || !fc->account.client_email || !fc->account.private_key)
	{
		*why = "fcm service_account needs project_id, client_email and private_key";
		return false;
	}
	return true;
}

/* The top-level notification {title, body, image}. */
static void
fcm_notification(StringInfo b, bool *first, const PPText *t, const char *image)
{
	bool		f = true;

	if (!t->title && !t->alert && !image)
		return;
	pp_jw_key(b, first, "notification");
	appendStringInfoChar(b, '{');
	pp_jw_str(b, &f, "title", t->title);
	pp_jw_str(b, &f, "body", t->alert);
	pp_jw_str(b, &f, "image", image);
	appendStringInfoChar(b, '}');
}

/* "data": extras of the platform block, then the message's data; omitted when empty. */
static void
fcm_data(StringInfo b, bool *first, JsonbContainer *body, JsonbContainer *block)
{
	StringInfoData d;
	bool		f = true;

	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	pp_jw_members_as_strings(&d, &f, pp_jobj(block, "extras"));
	pp_jw_message_data(&d, &f, body, true);
	appendStringInfoChar(&d, '}');
	if (!f)
		pp_jw_raw(b, first, "data", d.data);
}

static void
fcm_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	const PPFcmConfig *fc = cfg->own;
	JsonbContainer *body = pp_push_body(in->push);
	JsonbContainer *opts = pp_jobj(body, "options");
	JsonbContainer *notif = pp_jobj(body, "notification");
	const char *platform = in->platform ? in->platform : "android";
	JsonbContainer *block = pp_platform_block(body, platform);
	const char *prio = pp_vendor_priority(opts);
	int64		ttl = pp_ttl_seconds(body, in->expires_at);
	StringInfo	b = &req->body;
	bool		first = true;
	PPText		t;
	int			msg_start;

	initStringInfo(b);
	appendStringInfoString(b, "{\"message\":");
	msg_start = b->len;
	appendStringInfoChar(b, '{');
	pp_jw_str(b, &first, "token", in->token);
	pp_resolve_text(body, platform, in->language, &t);

	if (strcmp(platform, "ios") == 0)
	{
		bool		background;
		char	   *collapse = pp_resend_collapse_id(body, in->task_id);
		bool		f = true;

		pp_jw_key(b, &first, "apns");
		appendStringInfoString(b, "{\"headers\":{");
		pp_jw_key(b, &f, "apns-priority");
		/* the payload decides alert vs background: write it first into its own buffer */
		{
			StringInfoData p;

			initStringInfo(&p);
			pp_apns_payload(body, in->language, &p, &background);
			escape_json(b, background || (prio && strcmp(prio, "normal") == 0) ? "5" : "10");
			pp_jw_str(b, &f, "apns-push-type", background ? "background" : "alert");
			pp_jw_str(b, &f, "apns-collapse-id", collapse);
			/* APNs keeps an undeliverable push until then (FCM's own ttl is Android's) */
			if (in->expires_at > 0)
				pp_jw_str(b, &f, "apns-expiration",
						  psprintf(INT64_FORMAT, (int64) (in->expires_at / USECS_PER_SEC +
														  (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) *
														  SECS_PER_DAY)));
			appendStringInfoString(b, "},\"payload\":");
			appendStringInfoString(b, p.data);
			appendStringInfoChar(b, '}');
		}
	}
	else if (strcmp(platform, "web") == 0)
	{
		bool		f = true;
		char	   *url = pp_jstr(block, "url");
		char	   *icon = pp_jstr(block, "icon");

		if (notif)
			fcm_notification(b, &first, &t, pp_jstr(block, "image"));
		pp_jw_key(b, &first, "webpush");
		appendStringInfoString(b, "{\"headers\":{");
		pp_jw_str(b, &f, "TTL", psprintf(INT64_FORMAT, ttl));
		if (prio)
			pp_jw_str(b, &f, "Urgency", strcmp(prio, "normal") == 0 ? "normal" : "high");
		/* the push service keeps one undelivered message per topic (RFC 8030) */
		{
			char	   *collapse = pp_resend_collapse_id(body, in->task_id);

			if (collapse)
				pp_jw_str(b, &f, "Topic", pp_webpush_topic(collapse));
		}
		appendStringInfoChar(b, '}');
		if (icon && notif)
		{
			appendStringInfoString(b, ",\"notification\":{");
			f = true;
			pp_jw_str(b, &f, "icon", icon);
			appendStringInfoChar(b, '}');
		}
		if (url)
		{
			appendStringInfoString(b, ",\"fcm_options\":{");
			f = true;
			pp_jw_str(b, &f, "link", url);
			appendStringInfoChar(b, '}');
		}
		appendStringInfoChar(b, '}');
		fcm_data(b, &first, body, notif ? block : NULL);
	}
	else
	{
		bool		f = true;
		int64		count;

		if (notif)
			fcm_notification(b, &first, &t, pp_jstr(block, "image"));
		pp_jw_key(b, &first, "android");
		appendStringInfoChar(b, '{');
		pp_jw_str(b, &f, "ttl", psprintf(INT64_FORMAT "s", ttl));
		if (prio)
			pp_jw_str(b, &f, "priority", strcmp(prio, "normal") == 0 ? "NORMAL" : "HIGH");
		if (notif)
		{
			bool		nf = true;

			pp_jw_key(b, &f, "notification");
			appendStringInfoChar(b, '{');
			pp_jw_str(b, &nf, "channel_id", pp_jstr(block, "channel_id"));
			pp_jw_str(b, &nf, "sound", pp_jstr(block, "sound"));
			pp_jw_str(b, &nf, "click_action", pp_jstr(pp_jobj(block, "intent"), "url"));
			pp_jw_str(b, &nf, "notification_priority", fcm_notification_priority(block));
			/* a newer notification of the same tag replaces the one shown */
			pp_jw_str(b, &nf, "tag", pp_resend_collapse_id(body, in->task_id));
			if (pp_jnum(block, "badge_add_num", &count) && count > 0)
				pp_jw_int(b, &nf, "notification_count", count);
			appendStringInfoChar(b, '}');
		}
		appendStringInfoChar(b, '}');
		fcm_data(b, &first, body, notif ? block : NULL);
	}
	appendStringInfoChar(b, '}');
	/* the limit counts the message object */
	req->limited_len = b->len - msg_start;
	appendStringInfoChar(b, '}');
	req->url = psprintf("%s/v1/projects/%s/messages:send", cfg->endpoint,
						pp_url_escape(fc->project_id));
	req->headers = list_make1(pstrdup("content-type: application/json; charset=UTF-8"));
}

static PPClassify
fcm_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
			 PPItemResult *results)
{
	Jsonb	   *j = pp_json_parse_safe(resp->body, resp->body_len);
	JsonbContainer *err;
	char	   *status = NULL;
	char	   *message = NULL;
	char	   *code = NULL;

	if (resp->status >= 200 && resp->status < 300)
	{
		pp_result_set(&results[0], PP_OUT_SENT, NULL, j ? pp_jstr(&j->root, "name") : NULL);
		return PP_CLS_DONE;
	}
	err = j ? pp_jobj(&j->root, "error") : NULL;
	if (err)
	{
		JsonbValue	v;

		status = pp_jstr(err, "status");
		message = pp_jstr(err, "message");
		/* details[].errorCode (FcmError) is the precise reason */
		if (getKeyJsonValueFromContainer(err, "details", 7, &v) && v.type == jbvBinary &&
			JsonContainerIsArray(v.val.binary.data))
		{
			for (uint32 i = 0; code == NULL; i++)
			{
				JsonbValue *d = getIthJsonbValueFromContainer(v.val.binary.data, i);

				if (d == NULL)
					break;
				if (d->type == jbvBinary)
					code = pp_jstr(d->val.binary.data, "errorCode");
			}
		}
	}
	if (code == NULL)
		code = status ? status : psprintf("HTTP %d", resp->status);

	if (resp->status == 404 || strcmp(code, "UNREGISTERED") == 0)
		pp_result_set(&results[0], PP_OUT_INVALID_TOKEN, code, NULL);
	else if (resp->status == 400 && strcmp(code, "INVALID_ARGUMENT") == 0 && message &&
			 strstr(message, "registration token") != NULL)
		pp_result_set(&results[0], PP_OUT_INVALID_TOKEN, code, NULL);
	else if (resp->status == 401)
	{
		pp_result_set(&results[0], PP_OUT_FAILED, code, NULL);
		return PP_CLS_AUTH_STALE;
	}
	else
	{
		PPOutcomeKind k = pp_status_default_kind(resp->status);

		pp_result_set(&results[0], k,
					  k == PP_OUT_FAILED && message ? psprintf("%s: %s", code, message) : code,
					  NULL);
	}
	return PP_CLS_DONE;
}

const PPVendor pp_vendor_fcm = {
	.name = "fcm",
	.platforms = fcm_platforms,
	.keys = fcm_keys,
	.default_endpoint = fcm_endpoint,
	.max_tokens = 1,
	.payload_limit = 4096,
	.limit_what = "FCM takes at most 4096 bytes of message (the \"message\" object, device token included).",
	.auth = &pp_auth_google_service_account,
	.default_platform = "android",
	.config = fcm_config,
	.placeholder = &fcm_placeholder,
	.build = fcm_build,
	.assemble = NULL,
	.classify = fcm_classify,
};
