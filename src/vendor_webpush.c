/*
 * vendor_webpush.c: Web Push (RFC 8030) to browsers, with VAPID (RFC 8292) and the payload
 * encrypted with aes128gcm (RFC 8291, RFC 8188; webpush_crypto.c).
 *
 * A device's token is its push subscription, stored as canonical JSON
 * {"endpoint":"https://...","keys":{"p256dh":"...","auth":"..."}} (what the browser's
 * PushSubscription.toJSON() gives, less expirationTime).  A push is POSTed to the endpoint:
 *   authorization: vapid t=<ES256 JWT {aud: the endpoint's origin, exp: 12 h, sub}>, k=<public key>
 *   ttl (seconds to live), urgency (options.priority), topic (options.apns_collapse_id),
 *   content-encoding: aes128gcm, and the JSON the service worker reads (doc/vendors.md), encrypted.
 * The VAPID token depends on the origin: auth.c caches one per VAPID key and origin (the
 * engine hands the origin over as PPVendorConfig.audience), replaced every hour.
 *
 * Answers: 201 sent; 404 / 410 the subscription is gone (invalid_token); 413 too large
 * (failed); 429 and 5xx retried (Retry-After honoured); 401 / 403 the VAPID token refused
 * (renewed and retried once, then failed); other 4xx failed.
 */
#include "pushplan.h"

#include "utils/json.h"

#include "jwt.h"
#include "vendor.h"
#include "webpush_crypto.h"

/* The VAPID token's lifetime: RFC 8292 allows at most 24 h; web-push's default is 12 h. */
#define WP_JWT_EXP_S		(12 * 3600)
/* It is replaced long before it expires: a request never carries a token about to lapse. */
#define WP_JWT_RENEW_S		3600
/* RFC 8030 5.4: a Topic is at most 32 characters of the base64url alphabet. */

static const char *const webpush_platforms[] = {"web", NULL};
static const PPVendorKey webpush_keys[] = {
	{"vapid_public_key", true}, {"vapid_private_key", true}, {"subject", true}, {NULL}
};

/* An app's Web Push config: its VAPID key pair and contact (the auth scheme's credentials). */
typedef struct PPWebPushConfig
{
	const char *public_key;		/* base64url, 65 bytes uncompressed */
	const char *private_key;	/* PEM, or the raw 32 bytes in base64url */
	const char *subject;		/* mailto: or https: */
} PPWebPushConfig;

static const PPWebPushConfig webpush_placeholder = {
	.public_key = "<vapid_public_key>", .private_key = "", .subject = "mailto:<subject>"
};

/* A subscription as read from a token. */
typedef struct WPSub
{
	char	   *endpoint;
	char	   *p256dh;			/* base64url, as given */
	char	   *auth;
	unsigned char *ua_public;	/* decoded: PP_WP_POINT_LEN bytes */
	unsigned char *secret;		/* decoded: PP_WP_AUTH_LEN bytes */
	char	   *origin;
} WPSub;

#define WP_SHAPE_PROBLEM PP_CODE(PPE_WEBPUSH_SUBSCRIPTION) \
	": a webpush token must be a push subscription: {\"endpoint\": \"https://...\", \"keys\": {\"p256dh\": \"...\", \"auth\": \"...\"}}"

/*
 * Reads a subscription: NULL and *s filled, or the problem.  Checks the point is on the curve
 * only when full (registration and the engine's submit; encryption checks it again anyway).
 */
static char *
wp_subscription(const char *token, WPSub *s, bool full)
{
	static const char *const top[] = {"endpoint", "expirationTime", "keys", NULL};
	static const char *const keys[] = {"p256dh", "auth", NULL};
	Jsonb	   *j = pp_json_parse_safe(token, strlen(token));
	JsonbContainer *k;
	JsonbValue	exp;
	size_t		n;
	const char *why;

	memset(s, 0, sizeof(*s));
	if (j == NULL || !JsonContainerIsObject(&j->root) || pp_jkey_not_in(&j->root, top) != NULL ||
		(k = pp_jobj(&j->root, "keys")) == NULL || pp_jkey_not_in(k, keys) != NULL ||
		(s->endpoint = pp_jstr(&j->root, "endpoint")) == NULL ||
		(s->p256dh = pp_jstr(k, "p256dh")) == NULL || (s->auth = pp_jstr(k, "auth")) == NULL ||
		(pp_jget(&j->root, "expirationTime", &exp) && exp.type != jbvNull && exp.type != jbvNumeric))
		return psprintf(WP_SHAPE_PROBLEM);
	if ((s->origin = pp_url_origin(s->endpoint, &why)) == NULL)
		return psprintf(PP_CODE(PPE_WEBPUSH_ENDPOINT)
						": the subscription's endpoint must be an https:// URL: %s", why);
	s->ua_public = pp_base64url_decode(s->p256dh, strlen(s->p256dh), &n);
	if (s->ua_public == NULL || n != PP_WP_POINT_LEN || s->ua_public[0] != 0x04 ||
		(full && !pp_webpush_point_valid(s->ua_public, n)))
		return psprintf(PP_CODE(PPE_WEBPUSH_P256DH)
						": the subscription's keys.p256dh must be a P-256 public key: 65 bytes, uncompressed, in base64url");
	s->secret = pp_base64url_decode(s->auth, strlen(s->auth), &n);
	if (s->secret == NULL || n != PP_WP_AUTH_LEN)
		return psprintf(PP_CODE(PPE_WEBPUSH_AUTH)
						": the subscription's keys.auth must be 16 bytes in base64url");
	return NULL;
}

static char *
webpush_token_problem(const char *token, char **canonical)
{
	WPSub		s;
	char	   *why = wp_subscription(token, &s, true);

	if (why == NULL && canonical)
	{
		StringInfoData b;

		initStringInfo(&b);
		appendStringInfoString(&b, "{\"endpoint\":");
		escape_json(&b, s.endpoint);
		appendStringInfoString(&b, ",\"keys\":{\"p256dh\":");
		escape_json(&b, s.p256dh);
		appendStringInfoString(&b, ",\"auth\":");
		escape_json(&b, s.auth);
		appendStringInfoString(&b, "}}");
		*canonical = b.data;
	}
	return why;
}

static char *
webpush_config_problem(Jsonb *config)
{
	char	   *subject = pp_config_str(config, "subject");
	char	   *pub = pp_config_str(config, "vapid_public_key");
	char	   *priv = pp_config_str(config, "vapid_private_key");
	const char *why;

	if (pub == NULL || priv == NULL || subject == NULL)
		return NULL;			/* push_vendor_set names the missing key */
	if (strncmp(subject, "mailto:", 7) == 0 ? subject[7] == '\0' :
		pp_url_origin(subject, &why) == NULL)
		return psprintf(PP_CODE(PPE_VAPID_SUBJECT)
						": subject must be a mailto: or https: URL, a contact for the push services");
	return pp_vapid_keys_problem(pub, priv);
}

static bool
webpush_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPWebPushConfig *wc = palloc0(sizeof(PPWebPushConfig));

	wc->public_key = pp_config_str(config, "vapid_public_key");
	wc->private_key = pp_config_str(config, "vapid_private_key");
	wc->subject = pp_config_str(config, "subject");
	cfg->own = wc;
	cfg->creds = wc;
	cfg->endpoint = NULL;		/* each subscription names its own */
	if (!wc->public_key || !wc->private_key || !wc->subject)
	{
		*why = "webpush config needs vapid_public_key, vapid_private_key and subject";
		return false;
	}
	return true;
}

/* ---- VAPID: one token per key pair and origin ---------------------------------------------- */

static void
vapid_key(const PPVendorConfig *cfg, StringInfo out)
{
	const PPWebPushConfig *wc = cfg->creds;

	appendStringInfo(out, "%s\n%s\n%s\n%s", wc->public_key, wc->subject,
					 cfg->audience ? cfg->audience : "", wc->private_key);
}

/* The token auth.c caches is what follows "vapid t=": the JWT, then the public key. */
static char *
vapid_sign(const PPVendorConfig *cfg, int64 now)
{
	const PPWebPushConfig *wc = cfg->creds;
	char	   *pem = pp_vapid_private_pem(wc->private_key, wc->public_key);

	if (pem == NULL)
		pp_error(PPE_VAPID_PRIVATE_KEY,
				 "vapid_private_key must be a P-256 private key: a PEM, or the 32-byte raw key in base64url");
	if (cfg->audience == NULL)
		elog(ERROR, "a VAPID token needs the endpoint's origin");
	return psprintf("%s, k=%s", pp_jwt_vapid(pem, cfg->audience, now + WP_JWT_EXP_S, wc->subject),
					wc->public_key);
}

static const PPAuth webpush_vapid = {
	.key = vapid_key,
	.sign = vapid_sign,
	.signs = "VAPID",
	.lifetime_s = WP_JWT_RENEW_S,
	.header = "authorization: vapid t=",
};

/* ---- the request -------------------------------------------------------------------------- */

/* The block's extras as given (JSON values, not strings), when it has them. */
static void
wp_jw_extras(StringInfo b, bool *first, JsonbContainer *block)
{
	if (pp_jobj(block, "extras"))
		pp_jw_raw(b, first, "extras", pp_jraw(block, "extras"));
}

/*
 * What the service worker gets (event.data.json()), documented in doc/vendors.md:
 * {"notification": {"title", "body", "icon", "image", "url", "extras"},
 *  "message": {"msg_content", "title", "content_type", "extras"}, "task_id"}
 * each member only when the push has it.
 */
static void
webpush_payload(JsonbContainer *body, const char *language, const char *task_id, StringInfo b)
{
	JsonbContainer *notif = pp_jobj(body, "notification");
	JsonbContainer *msg = pp_jobj(body, "message");
	bool		first = true;

	appendStringInfoChar(b, '{');
	if (notif)
	{
		JsonbContainer *web = pp_jobj(notif, "web");
		bool		f = true;
		PPText		t;

		pp_resolve_text(body, "web", language, &t);
		pp_jw_key(b, &first, "notification");
		appendStringInfoChar(b, '{');
		pp_jw_str(b, &f, "title", t.title);
		pp_jw_str(b, &f, "body", t.alert);
		pp_jw_str(b, &f, "icon", pp_jstr(web, "icon"));
		pp_jw_str(b, &f, "image", pp_jstr(web, "image"));
		pp_jw_str(b, &f, "url", pp_jstr(web, "url"));
		wp_jw_extras(b, &f, web);
		appendStringInfoChar(b, '}');
	}
	if (msg)
	{
		bool		f = true;

		pp_jw_key(b, &first, "message");
		appendStringInfoChar(b, '{');
		pp_jw_str(b, &f, "msg_content", pp_jstr(msg, "msg_content"));
		pp_jw_str(b, &f, "title", pp_jstr(msg, "title"));
		pp_jw_str(b, &f, "content_type", pp_jstr(msg, "content_type"));
		wp_jw_extras(b, &f, msg);
		appendStringInfoChar(b, '}');
	}
	pp_jw_str(b, &first, "task_id", task_id);
	appendStringInfoChar(b, '}');
}

static void
webpush_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	JsonbContainer *body = pp_push_body(in->push);
	JsonbContainer *opts = pp_jobj(body, "options");
	char	   *prio = pp_jstr(opts, "priority");
	char	   *collapse = pp_resend_collapse_id(body, in->task_id);
	WPSub		s;

	initStringInfo(&req->body);
	webpush_payload(body, in->language, in->task_id, &req->body);
	/* the limit is on the plaintext: one record of 4096 bytes (webpush_crypto.h) */
	req->limited_len = req->body.len;
	/* a token the engine has checked; the size check and previews build with a placeholder */
	if (wp_subscription(in->token, &s, false) == NULL)
	{
		req->url = s.endpoint;
		req->auth_audience = s.origin;
	}
	else
		req->url = "";
	req->headers = list_make3(psprintf("ttl: " INT64_FORMAT, pp_ttl_seconds(body, in->expires_at)),
							  pstrdup("content-encoding: aes128gcm"),
							  pstrdup("content-type: application/octet-stream"));
	/* Web Push has a low urgency that delivers (pushplan's low lane), unlike the others */
	if (prio && (strcmp(prio, "high") == 0 || strcmp(prio, "normal") == 0 ||
				 strcmp(prio, "low") == 0))
		req->headers = lappend(req->headers, psprintf("urgency: %s", prio));
	if (collapse && (collapse = pp_webpush_topic(collapse)) != NULL)
		req->headers = lappend(req->headers, psprintf("topic: %s", collapse));
}

/*
 * Encrypts the built payload to the subscription.  A token that cannot be read was refused at
 * submit; should encryption still fail, the body stays empty and the push service's 400 fails
 * the delivery.
 */
static void
webpush_assemble(const PPRequest *req, const char *const *tokens, int ntokens, StringInfo body)
{
	WPSub		s;
	const char *why;

	if (ntokens != 1 || wp_subscription(tokens[0], &s, false) != NULL)
		return;
	if (!pp_webpush_encrypt((const unsigned char *) req->body.data, req->body.len, s.ua_public,
							s.secret, NULL, NULL, NULL, body, &why))
		resetStringInfo(body);
}

/* The push service's reason: autopush's {"message"} or {"error"}, else the status. */
static char *
webpush_reason(const PPResponse *resp)
{
	Jsonb	   *j = resp->body_len ? pp_json_parse_safe(resp->body, resp->body_len) : NULL;
	char	   *r = NULL;

	if (j && JsonContainerIsObject(&j->root))
	{
		r = pp_jstr(&j->root, "message");
		if (r == NULL)
			r = pp_jstr(&j->root, "error");
	}
	return r ? psprintf("HTTP %d: %s", resp->status, r) : psprintf("HTTP %d", resp->status);
}

static PPClassify
webpush_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
				 PPItemResult *results)
{
	if (resp->status >= 200 && resp->status < 300)
	{
		pp_result_set(&results[0], PP_OUT_SENT, NULL, NULL);
		return PP_CLS_DONE;
	}
	if (resp->status == 404 || resp->status == 410)
		pp_result_set(&results[0], PP_OUT_INVALID_TOKEN, webpush_reason(resp), NULL);
	else
		pp_result_set(&results[0], pp_status_default_kind(resp->status), webpush_reason(resp),
					  NULL);
	if (resp->status == 401 || resp->status == 403)
		return PP_CLS_AUTH_STALE;
	return PP_CLS_DONE;
}

const PPVendor pp_vendor_webpush = {
	.name = "webpush",
	.platforms = webpush_platforms,
	.keys = webpush_keys,
	.default_endpoint = NULL,
	.max_tokens = 1,
	.payload_limit = PP_WP_MAX_PLAINTEXT,
	.limit_what = "Web Push sends one encrypted record of 4096 bytes: at most 3993 bytes of JSON payload before encryption (RFC 8291, section 4).",
	.auth = &webpush_vapid,
	.default_platform = "web",
	.config = webpush_config,
	.placeholder = &webpush_placeholder,
	.build = webpush_build,
	.assemble = webpush_assemble,
	.classify = webpush_classify,
	.conn_group = NULL,
	.token_problem = webpush_token_problem,
	.config_problem = webpush_config_problem,
};
