/*
 * vendor_apns.c: Apple Push Notification service, HTTP/2 provider API with token authentication.
 *
 * POST {endpoint}/3/device/<token>, headers authorization: bearer <ES256 JWT> (vendor_oauth.c),
 * apns-topic (bundle_id), apns-push-type (alert, or background for a data message),
 * apns-priority (10, or 5 for background and options.priority "normal"), apns-expiration
 * (expires_at in Unix seconds, 0 when none), apns-collapse-id (options.apns_collapse_id) and
 * apns-id, a UUID derived from task_id + device_id so that a re-send after a crash is
 * de-duplicated by Apple.
 *
 * APNs ties a connection to the team (and key) of the provider token it first carries: a token
 * of another team on it is refused (403 InvalidProviderToken), one of another key counts as a
 * token update (429 TooManyProviderTokenUpdates when too frequent), see doc/vendors.md,
 * "Connections".  So the requests of each team and key are a connection group of their own
 * (apns_conn_group).
 */
#include "pushplan.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "utils/timestamp.h"

#include "jwt.h"
#include "vendor.h"

static const char *const apns_platforms[] = {"ios", NULL};
static const char apns_endpoint[] = "https://api.push.apple.com";
static const PPVendorKey apns_keys[] = {
	{"team_id", true}, {"key_id", true}, {"private_key", true}, {"bundle_id", true}, {"endpoint", false}, {NULL}
};

/* An app's APNs config: the provider key (vendor_oauth.c signs with it) and the topic. */
typedef struct PPApnsConfig
{
	PPProviderKey key;			/* iss: team_id, kid: key_id, private_key */
	const char *bundle_id;
} PPApnsConfig;

static const PPApnsConfig apns_placeholder = {.bundle_id = "<bundle_id>"};

/* "+1", "5", 5 -> 5; APNs badges are absolute (see doc/vendors.md). -1: none or invalid */
static int64
apns_badge(JsonbContainer *ios)
{
	char	   *s = pp_jstr(ios, "badge");
	char	   *end;
	long		n;

	if (s == NULL)
		return -1;
	n = strtol(s[0] == '+' ? s + 1 : s, &end, 10);
	if (end == s || *end != '\0')
		return -1;
	return Max(n, 0);
}

void
pp_apns_payload(JsonbContainer *body, const char *language, StringInfo b, bool *background)
{
	JsonbContainer *notif = pp_jobj(body, "notification");
	JsonbContainer *ios = pp_jobj(notif, "ios");
	bool		first = true;
	bool		afirst = true;
	bool		flag;

	*background = (notif == NULL);
	appendStringInfoString(b, "{\"aps\":{");
	if (!*background)
	{
		PPText		t;
		int64		badge = apns_badge(ios);
		char	   *image = pp_jstr(ios, "image");
		char	   *sound;

		pp_resolve_text(body, "ios", language, &t);
		if (t.title || t.subtitle)
		{
			bool		f = true;

			pp_jw_key(b, &afirst, "alert");
			appendStringInfoChar(b, '{');
			pp_jw_str(b, &f, "title", t.title);
			pp_jw_str(b, &f, "subtitle", t.subtitle);
			pp_jw_str(b, &f, "body", t.alert);
			appendStringInfoChar(b, '}');
		}
		else
			pp_jw_str(b, &afirst, "alert", t.alert);
		/* a sound is a name, or a critical-alert dictionary */
		if ((sound = pp_jstr(ios, "sound")) != NULL)
			pp_jw_str(b, &afirst, "sound", sound);
		else
			pp_jw_raw(b, &afirst, "sound", pp_jobj(ios, "sound") ? pp_jraw(ios, "sound") : NULL);
		if (badge >= 0)
			pp_jw_int(b, &afirst, "badge", badge);
		pp_jw_str(b, &afirst, "thread-id", pp_jstr(ios, "thread_id"));
		pp_jw_str(b, &afirst, "category", pp_jstr(ios, "category"));
		/* an image needs the app's notification service extension: mutable-content */
		if ((pp_jbool(ios, "mutable_content", &flag) && flag) || image)
			pp_jw_int(b, &afirst, "mutable-content", 1);
		if (pp_jbool(ios, "content_available", &flag) && flag)
			pp_jw_int(b, &afirst, "content-available", 1);
		appendStringInfoChar(b, '}');
		first = false;
		pp_jw_members(b, &first, pp_jobj(ios, "extras"));
		pp_jw_str(b, &first, "image", image);
	}
	else
	{
		pp_jw_int(b, &afirst, "content-available", 1);
		appendStringInfoChar(b, '}');
		first = false;
	}
	pp_jw_message_data(b, &first, body, false);
	appendStringInfoChar(b, '}');
}

static bool
apns_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPApnsConfig *ac = palloc0(sizeof(PPApnsConfig));

	ac->key.iss = pp_config_str(config, "team_id");
	ac->key.kid = pp_config_str(config, "key_id");
	ac->key.private_key = pp_config_str(config, "private_key");
	ac->bundle_id = pp_config_str(config, "bundle_id");
	cfg->own = ac;
	cfg->creds = &ac->key;
	cfg->endpoint = pp_config_str(config, "endpoint");
	if (cfg->endpoint == NULL)
		cfg->endpoint = apns_endpoint;
	if (!ac->key.iss || !ac->key.kid || !ac->key.private_key || !ac->bundle_id)
	{
		*why = "apns config needs team_id, key_id, private_key and bundle_id";
		return false;
	}
	return true;
}

/* apns-id: a UUID derived from task_id and device_id (random when task_id is NULL) */
static char *
pp_apns_id(const char *task_id, int64 device_id)
{
	unsigned char md[EVP_MAX_MD_SIZE];

	if (task_id)
	{
		char	   *seed = psprintf("%s/" INT64_FORMAT, task_id, device_id);

		if (!pp_sha256(seed, strlen(seed), md))
			task_id = NULL;
	}
	if (task_id == NULL && RAND_bytes(md, 16) != 1)
		memset(md, 0, 16);
	/* RFC 9562: version 8 (custom) for the derived ids, 4 for random ones; variant 10 */
	md[6] = (md[6] & 0x0f) | (task_id ? 0x80 : 0x40);
	md[8] = (md[8] & 0x3f) | 0x80;
	return psprintf("%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
					md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9],
					md[10], md[11], md[12], md[13], md[14], md[15]);
}

static void
apns_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	const PPApnsConfig *ac = cfg->own;
	JsonbContainer *body = pp_push_body(in->push);
	JsonbContainer *opts = pp_jobj(body, "options");
	bool		background;
	const char *prio = pp_vendor_priority(opts);
	char	   *collapse = pp_resend_collapse_id(body, in->task_id);
	int64		expiration = 0;

	initStringInfo(&req->body);
	pp_apns_payload(body, in->language, &req->body, &background);
	req->limited_len = req->body.len;
	req->url = psprintf("%s/3/device/%s", cfg->endpoint, pp_url_escape(in->token));
	if (in->expires_at > 0)
		expiration = (in->expires_at / USECS_PER_SEC) +
			((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
	req->headers = list_make4(psprintf("apns-topic: %s", ac->bundle_id),
							  psprintf("apns-push-type: %s", background ? "background" : "alert"),
							  psprintf("apns-priority: %d",
									   background || (prio && strcmp(prio, "normal") == 0) ? 5 : 10),
							  psprintf("apns-expiration: " INT64_FORMAT, Max(expiration, 0)));
	req->headers = lappend(req->headers, psprintf("apns-id: %s",
												  pp_apns_id(in->task_id, in->device_id)));
	if (collapse)
		req->headers = lappend(req->headers, psprintf("apns-collapse-id: %s", collapse));
	req->headers = lappend(req->headers, pstrdup("content-type: application/json"));
}

/* Apple's reason, from {"reason": "..."} */
static char *
apns_reason(const PPResponse *resp)
{
	Jsonb	   *j = pp_json_parse_safe(resp->body, resp->body_len);
	char	   *r = j ? pp_jstr(&j->root, "reason") : NULL;

	return r ? r : psprintf("HTTP %d", resp->status);
}

static PPClassify
apns_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
			  PPItemResult *results)
{
	char	   *reason;

	if (resp->status >= 200 && resp->status < 300)
	{
		pp_result_set(&results[0], PP_OUT_SENT, NULL, resp->apns_id);
		return PP_CLS_DONE;
	}
	reason = apns_reason(resp);
	if (resp->status == 410 ||
		(resp->status == 400 && (strcmp(reason, "BadDeviceToken") == 0 ||
								 strcmp(reason, "DeviceTokenNotForTopic") == 0)))
		pp_result_set(&results[0], PP_OUT_INVALID_TOKEN, reason, NULL);
	else
		pp_result_set(&results[0], pp_status_default_kind(resp->status), reason, NULL);
	if (resp->status == 403 && strcmp(reason, "ExpiredProviderToken") == 0)
		return PP_CLS_AUTH_STALE;
	return PP_CLS_DONE;
}

/* One connection group per team and key: what one provider token stands for. */
static void
apns_conn_group(const PPVendorConfig *cfg, StringInfo out)
{
	const PPApnsConfig *ac = cfg->own;

	appendStringInfo(out, "%s/%s", ac->key.iss, ac->key.kid);
}

const PPVendor pp_vendor_apns = {
	.name = "apns",
	.platforms = apns_platforms,
	.keys = apns_keys,
	.default_endpoint = apns_endpoint,
	.max_tokens = 1,
	.payload_limit = 4096,
	.limit_what = "APNs takes at most 4096 bytes of JSON payload (the request body) for a notification.",
	.auth = &pp_auth_apns_provider,
	.default_platform = "ios",
	.config = apns_config,
	.placeholder = &apns_placeholder,
	.build = apns_build,
	.assemble = NULL,
	.classify = apns_classify,
	.conn_group = apns_conn_group,
};
