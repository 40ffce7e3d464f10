/*
 * vendor_oppo.c: OPPO Push (HeyTap: OPPO, OnePlus and realme phones, Android), server API v1.
 *
 * Auth: POST {endpoint}/server/v1/auth with the form app_key, timestamp (Unix ms) and sign =
 * lowercase hex SHA-256 of app_key + timestamp + master_secret; the answer's data.auth_token is
 * valid 24 hours, cached in shared memory (auth.c) and carried as the form field auth_token of
 * every request (OPPO's doc and its Java SDK put it in the body, not in a header).
 *
 * Send: one device: POST /server/v1/message/notification/unicast with the form field message =
 * {"target_type": 2, "target_value": <regId>, "notification": {...}}; several devices of the same
 * message (grouped by the engine as for HMS, up to 1000): /unicast_batch with messages = a JSON
 * array of such messages, answered with one result per message ({messageId, registrationId,
 * errorCode?, errorMessage?}).  OPPO's broadcast (save_message_content, then broadcast to up to
 * 1000 regIds) is not used: doc/vendors.md, "OPPO", says why.
 *
 * Codes: 0 sent; 10000 (a bad or unknown regId) invalid_token, for that message alone in a
 * batch; 11 the auth_token refused: renewed once; 33 the app's daily message limit: retried after
 * the quota resets (00:00 China time), and the app's other requests held until then; -2, -1,
 * 13, 55 (flow control, busy, call and frequency limits): retried at the senders' back-off.
 */
#include "pushplan.h"

#include <sys/time.h>
#include <time.h>

#include "utils/builtins.h"
#include "utils/json.h"

#include "jwt.h"
#include "vendor.h"

static const char *const oppo_platforms[] = {"android", NULL};
static const char oppo_endpoint[] = "https://api.push.oppomobile.com";
static const PPVendorKey oppo_keys[] = {
	{"app_key", true}, {"master_secret", true}, {"default_title", false}, {"endpoint", false}, {NULL}
};

/* OPPO keeps an offline message at most 10 days (off_line_ttl, seconds) */
#define OPPO_MAX_TTL_S		(10 * 86400)
/* an auth_token lives 24 hours; renewed an hour before */
#define OPPO_TOKEN_LIFE_S	86400
#define OPPO_TOKEN_MARGIN_S	3600
/* OPPO's day is China Standard Time (UTC+8): its daily quota resets at 16:00 UTC */
#define OPPO_DAY_OFFSET_S	(8 * 3600)
/* deliveries held by a spent quota come back over this many seconds after the reset */
#define OPPO_QUOTA_SPREAD_S	300

/*
 * A unicast_batch repeats the notification for every device, each in a wrapper of 48 bytes, and
 * the form's percent-encoding makes it up to three times longer (each byte of Chinese text is
 * %XX): 100 KB of notifications and regIds stay under 512 KB of form (OPPO states no bound; the
 * mock's is 512 KB).  A 250-byte notification goes about 350 devices a request; one of 60
 * bytes, 1000.
 */
#define OPPO_BATCH_BYTES	(100 * 1024)

#define OPPO_CODE_OK			0
#define OPPO_CODE_AUTH_STALE	11
#define OPPO_CODE_DAILY_LIMIT	33
#define OPPO_CODE_BAD_REGID		10000

typedef struct PPOppoConfig
{
	const char *app_key;
	const char *master_secret;
	const char *default_title;	/* a notification's title when the push has none */
	const char *endpoint;
} PPOppoConfig;

static const PPOppoConfig oppo_placeholder = {
	.app_key = "<app_key>", .master_secret = "<master_secret>", .endpoint = oppo_endpoint
};

static bool
oppo_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPOppoConfig *oc = palloc0(sizeof(PPOppoConfig));

	oc->app_key = pp_config_str(config, "app_key");
	oc->master_secret = pp_config_str(config, "master_secret");
	oc->default_title = pp_config_str(config, "default_title");
	cfg->endpoint = pp_config_str(config, "endpoint");
	if (cfg->endpoint == NULL)
		cfg->endpoint = oppo_endpoint;
	oc->endpoint = cfg->endpoint;
	cfg->own = oc;
	cfg->creds = oc;
	if (!oc->app_key || !oc->master_secret)
	{
		*why = "oppo config needs app_key and master_secret";
		return false;
	}
	return true;
}

static int64
oppo_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- auth: sha256(app_key + timestamp + master_secret) for a 24-hour auth_token ------------ */

static void
oppo_auth_key(const PPVendorConfig *cfg, StringInfo out)
{
	const PPOppoConfig *oc = cfg->creds;

	appendStringInfo(out, "%s\n%s\n%s", oc->app_key, oc->endpoint, oc->master_secret);
}

static void
oppo_auth_request(const PPVendorConfig *cfg, const char *assertion, PPTokenRequest *r)
{
	const PPOppoConfig *oc = cfg->creds;
	char	   *ts = psprintf(INT64_FORMAT, oppo_now_ms());
	char	   *signed_text = psprintf("%s%s%s", oc->app_key, ts, oc->master_secret);
	unsigned char md[32];
	char		hex[65];
	StringInfoData b;

	if (!pp_sha256(signed_text, strlen(signed_text), md))
		memset(md, 0, sizeof(md));	/* a wrong sign: OPPO answers 16 */
	hex[hex_encode((const char *) md, 32, hex)] = '\0';
	initStringInfo(&b);
	pp_form_add(&b, "app_key", oc->app_key);
	pp_form_add(&b, "sign", hex);
	pp_form_add(&b, "timestamp", ts);
	r->url = psprintf("%s/server/v1/auth", oc->endpoint);
	r->body = b.data;
	r->content_type = "application/x-www-form-urlencoded;charset=UTF-8";
}

/* OPPO's busy and rate codes: worth trying again later */
static bool
oppo_code_transient(int64 code)
{
	return code == -2 || code == -1 || code == 13 || code == 55;
}

static char *
oppo_auth_answer(int status, const char *body, size_t len, int64 *expires_in, char **why,
				 bool *transient)
{
	Jsonb	   *j = pp_json_parse_safe(body, len);
	JsonbContainer *root = j && JsonContainerIsObject(&j->root) ? &j->root : NULL;
	char	   *tok = pp_jstr(pp_jobj(root, "data"), "auth_token");
	char	   *message = pp_jstr(root, "message");
	int64		code = -1;
	bool		has_code = pp_jnum(root, "code", &code);

	*expires_in = OPPO_TOKEN_LIFE_S;
	if (status == 200 && has_code && code == OPPO_CODE_OK && tok && tok[0])
		return tok;
	if (has_code)
		*why = psprintf("OPPO auth answered code " INT64_FORMAT "%s%s", code,
						message ? ": " : "", message ? message : "");
	else
		*why = psprintf("OPPO auth answered HTTP %d", status);
	*transient = status == 429 || status >= 500 || oppo_code_transient(code);
	return NULL;
}

static const PPAuth oppo_auth = {
	.key = oppo_auth_key,
	.request = oppo_auth_request,
	.answer = oppo_auth_answer,
	.margin_s = OPPO_TOKEN_MARGIN_S,
	.form_field = "auth_token",
};

/* ---- the message ----------------------------------------------------------------------------- */

/*
 * The notification object (snake_case, as OPPO's SDK sends it): what groups items and what the
 * limit counts.  A data message has no OPPO form (OPPO Push shows notifications only): refused.
 */
static void
oppo_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	const PPOppoConfig *oc = cfg->own;
	JsonbContainer *body = pp_push_body(in->push);
	const char *platform = in->platform ? in->platform : "android";
	JsonbContainer *block = pp_platform_block(body, platform);
	int64		ttl = Min(pp_ttl_seconds(body, in->expires_at), OPPO_MAX_TTL_S);
	char	   *collapse = pp_collapse_id(body);
	StringInfo	b = &req->body;
	bool		first = true;

	initStringInfo(b);
	req->url = psprintf("%s/server/v1/message/notification/unicast", cfg->endpoint);
	req->batch_url = psprintf("%s/server/v1/message/notification/unicast_batch", cfg->endpoint);
	req->headers = list_make1(pstrdup("content-type: application/x-www-form-urlencoded;charset=UTF-8"));
	if (pp_jobj(body, "notification") == NULL)
	{
		req->refused = "OPPO Push sends notifications only: a data message (no notification) cannot go to oppo";
		appendStringInfoString(b, "{}");
		return;
	}
	{
		PPText		t;
		bool		web;
		char	   *url = pp_click_url(block, &web);
		char	   *extras = NULL;
		JsonbContainer *ex = pp_jobj(block, "extras");

		if (ex)
		{
			StringInfoData e;
			bool		ef = true;

			initStringInfo(&e);
			appendStringInfoChar(&e, '{');
			pp_jw_members(&e, &ef, ex);
			appendStringInfoChar(&e, '}');
			extras = e.data;
		}
		pp_resolve_text(body, platform, in->language, &t);
		appendStringInfoChar(b, '{');
		pp_jw_str(b, &first, "title", t.title ? t.title : oc->default_title);
		pp_jw_str(b, &first, "content", t.alert);
		/* 0 open the app, 2 a web page, 5 an intent scheme (the app's deep link) */
		pp_jw_int(b, &first, "click_action_type", url ? (web ? 2 : 5) : 0);
		pp_jw_str(b, &first, "click_action_url", url);
		pp_jw_str(b, &first, "action_parameters", extras);
		pp_jw_key(b, &first, "off_line");
		appendStringInfoString(b, ttl > 0 ? "true" : "false");
		if (ttl > 0)
			pp_jw_int(b, &first, "off_line_ttl", ttl);
		if (collapse)
			pp_jw_int(b, &first, "notify_id", pp_collapse_number(collapse));
		pp_jw_str(b, &first, "channel_id", pp_jstr(block, "channel_id"));
		appendStringInfoChar(b, '}');
	}
	req->limited_len = b->len;
}

/* One message of a unicast: the target and the notification. */
static void
oppo_message(StringInfo b, const char *token, const PPRequest *req)
{
	appendStringInfoString(b, "{\"target_type\":2,\"target_value\":");
	escape_json(b, token);
	appendStringInfoString(b, ",\"notification\":");
	appendBinaryStringInfo(b, req->body.data, req->body.len);
	appendStringInfoChar(b, '}');
}

/* message= for one device (unicast), messages=[...] for several (unicast_batch) */
static void
oppo_assemble(const PPRequest *req, const char *const *tokens, int ntokens, StringInfo b)
{
	StringInfoData m;

	initStringInfo(&m);
	if (ntokens == 1)
		oppo_message(&m, tokens[0], req);
	else
	{
		appendStringInfoChar(&m, '[');
		for (int i = 0; i < ntokens; i++)
		{
			if (i > 0)
				appendStringInfoChar(&m, ',');
			oppo_message(&m, tokens[i], req);
		}
		appendStringInfoChar(&m, ']');
	}
	pp_form_add(b, ntokens == 1 ? "message" : "messages", m.data);
	pfree(m.data);
}

/* ---- answers -------------------------------------------------------------------------------- */

/* Milliseconds until OPPO's day ends (00:00 China time), plus a spread so they do not all return at once. */
static int
oppo_quota_retry_ms(void)
{
	int64		now = (int64) time(NULL);
	int64		local = now + OPPO_DAY_OFFSET_S;
	int64		reset = (local / 86400 + 1) * 86400 - OPPO_DAY_OFFSET_S;

	return (int) ((reset - now) * 1000 + random() % (OPPO_QUOTA_SPREAD_S * 1000));
}

/* What one code means for a device: kind and the retry's own delay. */
static PPOutcomeKind
oppo_code_kind(int64 code, int status, int *retry_ms)
{
	*retry_ms = 0;
	if (code == OPPO_CODE_BAD_REGID)
		return PP_OUT_INVALID_TOKEN;
	if (code == OPPO_CODE_DAILY_LIMIT)
	{
		*retry_ms = oppo_quota_retry_ms();
		return PP_OUT_RETRY;
	}
	if (oppo_code_transient(code))
		return PP_OUT_RETRY;
	return pp_status_default_kind(status == 200 ? 400 : status);
}

static char *
oppo_error(int64 code, const char *message)
{
	if (message && message[0])
		return psprintf(INT64_FORMAT ": %s", code, message);
	return psprintf(INT64_FORMAT, code);
}

/* unicast_batch's data: one result per message, matched to the tokens by registrationId */
static bool
oppo_batch_results(JsonbContainer *data, const char *const *tokens, int ntokens,
				   PPItemResult *results)
{
	bool		quota = false;

	for (int i = 0; i < ntokens; i++)
		pp_result_set(&results[i], PP_OUT_FAILED, "no result for this regId in OPPO's answer", NULL);
	if (data == NULL || !JsonContainerIsArray(data))
		return false;
	for (uint32 k = 0;; k++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(data, k);
		JsonbContainer *m;
		char	   *regid;
		int64		code = OPPO_CODE_OK;

		if (v == NULL)
			break;
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			continue;
		m = v->val.binary.data;
		if ((regid = pp_jstr(m, "registrationId")) == NULL)
			continue;
		if (!pp_jnum(m, "errorCode", &code))
			code = OPPO_CODE_OK;
		for (int i = 0; i < ntokens; i++)
		{
			/* the results come in the messages' order: look there first */
			int			at = (k + i) % ntokens;
			int			retry_ms;
			PPOutcomeKind kind;

			if (strcmp(tokens[at], regid) != 0)
				continue;
			if (code == OPPO_CODE_OK)
			{
				pp_result_set(&results[at], PP_OUT_SENT, NULL, pp_jstr(m, "messageId"));
				break;
			}
			kind = oppo_code_kind(code, 200, &retry_ms);
			quota = quota || code == OPPO_CODE_DAILY_LIMIT;
			pp_result_set(&results[at], kind,
						  kind == PP_OUT_INVALID_TOKEN ? psprintf(INT64_FORMAT, code) :
						  oppo_error(code, pp_jstr(m, "errorMessage")), NULL);
			results[at].retry_after_ms = retry_ms;
			break;
		}
	}
	return quota;
}

static PPClassify
oppo_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
			  PPItemResult *results)
{
	Jsonb	   *j = pp_json_parse_safe(resp->body, resp->body_len);
	JsonbContainer *root = j && JsonContainerIsObject(&j->root) ? &j->root : NULL;
	char	   *message = pp_jstr(root, "message");
	int64		code = -1;
	bool		has_code = pp_jnum(root, "code", &code);
	PPOutcomeKind kind;
	char	   *error;
	int			retry_ms;

	if (resp->status == 200 && has_code && code == OPPO_CODE_OK)
	{
		JsonbValue	v;

		if (ntokens == 1 && !(pp_jget(root, "data", &v) && v.type == jbvBinary &&
							  JsonContainerIsArray(v.val.binary.data)))
		{
			pp_result_set(&results[0], PP_OUT_SENT, NULL,
						  pp_jstr(pp_jobj(root, "data"), "messageId"));
			return PP_CLS_DONE;
		}
		if (oppo_batch_results(pp_jget(root, "data", &v) && v.type == jbvBinary ?
							   v.val.binary.data : NULL, tokens, ntokens, results))
			return PP_CLS_QUOTA_SPENT;
		return PP_CLS_DONE;
	}
	if (has_code)
	{
		kind = oppo_code_kind(code, resp->status, &retry_ms);
		error = kind == PP_OUT_INVALID_TOKEN ? psprintf(INT64_FORMAT, code) :
			oppo_error(code, message);
	}
	else
	{
		kind = pp_status_default_kind(resp->status == 200 ? 400 : resp->status);
		retry_ms = 0;
		error = psprintf("HTTP %d", resp->status);
	}
	for (int i = 0; i < ntokens; i++)
	{
		pp_result_set(&results[i], kind, error, NULL);
		results[i].retry_after_ms = retry_ms;
	}
	if (has_code && code == OPPO_CODE_AUTH_STALE)
		return PP_CLS_AUTH_STALE;
	if (has_code && code == OPPO_CODE_DAILY_LIMIT)
		return PP_CLS_QUOTA_SPENT;
	return PP_CLS_DONE;
}

const PPVendor pp_vendor_oppo = {
	.name = "oppo",
	.platforms = oppo_platforms,
	.keys = oppo_keys,
	.default_endpoint = oppo_endpoint,
	.max_tokens = 1000,
	.batch_bytes = OPPO_BATCH_BYTES,
	.payload_limit = 4096,
	.limit_what = "pushplan sends OPPO a notification object of at most 4096 bytes (OPPO limits action_parameters to 4 KB and states no bound on the whole).",
	.title_max = 50,
	.alert_max = 200,
	.text_what = "OPPO Push takes a title of at most 50 characters and a content of at most 200.",
	.auth = &oppo_auth,
	.default_platform = "android",
	.config = oppo_config,
	.placeholder = &oppo_placeholder,
	.build = oppo_build,
	.assemble = oppo_assemble,
	.classify = oppo_classify,
};
