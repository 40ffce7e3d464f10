/*
 * vendor_vivo.c: vivo Push (vivo and iQOO phones, Android), server API v2.9.2.
 *
 * Every request is JSON with the authToken header: a token from POST {endpoint}/message/auth
 * ({appId, appKey, timestamp, sign = md5(appId + appKey + timestamp + appSecret)}), cached in
 * shared memory (auth.c) for every sender and renewed when an hour old, as vivo asks (it lives
 * a day).  One device: POST /message/send {appId, regId, requestId, title, content, ...}.
 * Several (2 to 1000, grouped by the engine): two steps on the engine's multi handle,
 * POST /message/saveListPayload (the message, without targets) for a taskId, then
 * POST /message/pushToList {appId, regIds, taskId, requestId} (PPVendor.prepare/prepared).
 * requestId is the md5 of the task and the device(s): a delivery sent again, by the senders'
 * retry or after a renewed token, carries the same one (vivo's unique request id: that vivo
 * then does not send twice is not confirmed from its text).  Answers
 * {"result", "desc", "taskId", "invalidUser" | "invalidUsers"}: result 0 sent, but for the
 * regIds listed as invalid users (invalid_token, "status <n>").  doc/vendors.md, "vivo", says
 * what is mapped, what is ignored and what is not confirmed.
 */
#include "pushplan.h"

#include <sys/time.h>

#include "common/pg_prng.h"
#include "jwt.h"
#include "vendor.h"

static const char *const vivo_platforms[] = {"android", NULL};
static const char vivo_endpoint[] = "https://api-push.vivo.com.cn";
static const PPVendorKey vivo_keys[] = {
	{"app_id", true}, {"app_key", true}, {"app_secret", true}, {"endpoint", false}, {NULL}
};

/* timeToLive: at least 60 s for one device, 900 s for a saved list payload, at most 7 days */
#define VIVO_MIN_TTL_S		60
#define VIVO_MIN_LIST_TTL_S	900
#define VIVO_MAX_TTL_S		(7 * 86400)
/* A daily quota (10070, 10252, 10254) is spent: try again in an hour, not at the back-off's pace. */
#define VIVO_QUOTA_RETRY_MS	(3600 * 1000)
/* vivo: "cache the token centrally, renew it every 1 to 2 hours"; it lives a day */
#define VIVO_TOKEN_LIFE_S	86400
#define VIVO_TOKEN_RENEW_S	3600

typedef struct PPVivoConfig
{
	const char *app_id;
	const char *app_key;
	const char *app_secret;
	const char *endpoint;
} PPVivoConfig;

/* What the requests of one message share beyond the built body (PPRequest.own). */
typedef struct PPVivoMsg
{
	const PPVivoConfig *vc;
	const char *task_id;		/* NULL: a random requestId (previews, tests) */
	char	   *fields;			/* the message's members, without timeToLive and targets */
	int64		ttl;
} PPVivoMsg;

static const PPVivoConfig vivo_placeholder = {
	.app_id = "<app_id>", .app_key = "<app_key>", .app_secret = "<app_secret>",
	.endpoint = vivo_endpoint
};

static bool
vivo_config(Jsonb *config, PPVendorConfig *cfg, char **why)
{
	PPVivoConfig *vc = palloc0(sizeof(PPVivoConfig));

	vc->app_id = pp_config_str(config, "app_id");
	vc->app_key = pp_config_str(config, "app_key");
	vc->app_secret = pp_config_str(config, "app_secret");
	cfg->endpoint = pp_config_str(config, "endpoint");
	if (cfg->endpoint == NULL)
		cfg->endpoint = vivo_endpoint;
	vc->endpoint = cfg->endpoint;
	cfg->own = vc;
	cfg->creds = vc;
	if (!vc->app_id || !vc->app_key || !vc->app_secret)
	{
		*why = "vivo config needs app_id, app_key and app_secret";
		return false;
	}
	return true;
}

/* appId: vivo's is a number; written as one when it is one */
static void
vivo_jw_app_id(StringInfo b, bool *first, const char *app_id)
{
	if (app_id[0] && app_id[strspn(app_id, "0123456789")] == '\0' && strlen(app_id) < 19)
		pp_jw_raw(b, first, "appId", app_id);
	else
		pp_jw_str(b, first, "appId", app_id);
}

/* ---- auth: md5-signed request for an authToken ------------------------------------------- */

static void
vivo_auth_key(const PPVendorConfig *cfg, StringInfo out)
{
	const PPVivoConfig *vc = cfg->creds;

	appendStringInfo(out, "%s\n%s\n%s\n%s", vc->endpoint, vc->app_id, vc->app_key,
					 vc->app_secret);
}

static void
vivo_auth_request(const PPVendorConfig *cfg, const char *assertion, PPTokenRequest *r)
{
	const PPVivoConfig *vc = cfg->creds;
	struct timeval tv;
	char	   *ts;
	char	   *sign;
	StringInfoData b;
	bool		first = true;

	gettimeofday(&tv, NULL);
	ts = psprintf(INT64_FORMAT, (int64) tv.tv_sec * 1000 + tv.tv_usec / 1000);
	sign = psprintf("%s%s%s%s", vc->app_id, vc->app_key, ts, vc->app_secret);
	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	vivo_jw_app_id(&b, &first, vc->app_id);
	pp_jw_str(&b, &first, "appKey", vc->app_key);
	pp_jw_raw(&b, &first, "timestamp", ts);
	pp_jw_str(&b, &first, "sign", pp_md5_hex(sign, strlen(sign)));
	appendStringInfoChar(&b, '}');
	r->url = psprintf("%s/message/auth", vc->endpoint);
	r->body = b.data;
	r->content_type = "application/json";
}

static char *
vivo_auth_answer(int status, const char *body, size_t len, int64 *expires_in, char **why,
				 bool *transient)
{
	Jsonb	   *j = pp_json_parse_safe(body, len);
	JsonbContainer *root = j && JsonContainerIsObject(&j->root) ? &j->root : NULL;
	char	   *tok = pp_jstr(root, "authToken");
	char	   *desc = pp_jstr(root, "desc");
	int64		result = -1;

	if (!pp_jnum(root, "result", &result))
		result = -1;
	if (status == 200 && result == 0 && tok && tok[0])
	{
		*expires_in = VIVO_TOKEN_LIFE_S;
		return tok;
	}
	*why = result >= 0 ?
		psprintf("vivo auth answered HTTP %d, result " INT64_FORMAT "%s%s", status, result,
				 desc ? ": " : "", desc ? desc : "") :
		psprintf("vivo auth answered HTTP %d", status);
	/* 10072: too fast (10 a second per app) */
	*transient = status == 429 || status >= 500 || result == 10072;
	return NULL;
}

static const PPAuth vivo_auth = {
	.key = vivo_auth_key,
	.request = vivo_auth_request,
	.answer = vivo_auth_answer,
	.margin_s = VIVO_TOKEN_LIFE_S - VIVO_TOKEN_RENEW_S,
	.header = "authToken: ",
};

/* ---- the message ---------------------------------------------------------------------------- */

/* skipType 1 opens the app, 2 a web page, 4 an activity (an intent URI) in skipContent */
static void
vivo_skip(StringInfo b, bool *first, JsonbContainer *block)
{
	bool		web;
	char	   *url = pp_click_url(block, &web);

	pp_jw_int(b, first, "skipType", url ? (web ? 2 : 4) : 1);
	if (url)
		pp_jw_str(b, first, "skipContent", url);
}

/*
 * The body of /message/send without regId and requestId: what groups items (the message's
 * members and timeToLive); the limit counts clientCustomMap (the extras, every value a string).
 */
static void
vivo_build(const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req)
{
	const PPVivoConfig *vc = cfg->own;
	JsonbContainer *body = pp_push_body(in->push);
	JsonbContainer *notif = pp_jobj(body, "notification");
	const char *platform = in->platform ? in->platform : "android";
	JsonbContainer *block = pp_platform_block(body, platform);
	JsonbContainer *extras = pp_jobj(block, "extras");
	const char *prio = pp_vendor_priority(pp_jobj(body, "options"));
	PPVivoMsg  *m = palloc0(sizeof(PPVivoMsg));
	StringInfoData f;
	bool		first = true;
	PPText		t = {0};

	initStringInfo(&f);
	vivo_jw_app_id(&f, &first, vc->app_id);
	/*
	 * vivo has no data (pass-through) message: one goes without title and content, and vivo
	 * refuses it
	 */
	if (notif)
		pp_resolve_text(body, platform, in->language, &t);
	pp_jw_str(&f, &first, "title", t.title);
	pp_jw_str(&f, &first, "content", t.alert);
	/* 4: sound and vibration */
	pp_jw_int(&f, &first, "notifyType", 4);
	vivo_skip(&f, &first, block);
	pp_jw_int(&f, &first, "networkType", -1);
	req->limited_len = 0;
	if (extras)
	{
		StringInfoData c;
		bool		cf = true;

		initStringInfo(&c);
		appendStringInfoChar(&c, '{');
		pp_jw_members_as_strings(&c, &cf, extras);
		appendStringInfoChar(&c, '}');
		pp_jw_raw(&f, &first, "clientCustomMap", c.data);
		req->limited_len = c.len;
	}
	/* 1: a system message (vivo approves the app for them), 0: an operational one */
	pp_jw_int(&f, &first, "classification", prio && strcmp(prio, "high") == 0 ? 1 : 0);
	pp_jw_int(&f, &first, "pushMode", 0);

	m->vc = vc;
	m->task_id = in->task_id ? pstrdup(in->task_id) : NULL;
	m->fields = f.data;
	m->ttl = Min(pp_ttl_seconds(body, in->expires_at), VIVO_MAX_TTL_S);
	initStringInfo(&req->body);
	appendStringInfo(&req->body, "%s,\"timeToLive\":" INT64_FORMAT, m->fields,
					 Max(m->ttl, VIVO_MIN_TTL_S));
	req->own = m;
	req->url = psprintf("%s/message/send", cfg->endpoint);
	req->headers = list_make1(pstrdup("content-type: application/json"));
}

/* requestId: the md5 of what the request is, of the task, and of its devices */
static char *
vivo_request_id(const PPVivoMsg *m, const char *what, const char *const *tokens, int ntokens)
{
	StringInfoData s;
	char	   *id;

	initStringInfo(&s);
	if (m->task_id)
		appendStringInfo(&s, "%s\n%s", what, m->task_id);
	else
		appendStringInfo(&s, "%s\n%016llx%016llx", what,
						 (unsigned long long) pg_prng_uint64(&pg_global_prng_state),
						 (unsigned long long) pg_prng_uint64(&pg_global_prng_state));
	for (int i = 0; i < ntokens; i++)
		appendStringInfo(&s, "\n%s", tokens[i]);
	id = pp_md5_hex(s.data, s.len);
	pfree(s.data);
	return id;
}

/* The first step of a group: saveListPayload, the message without targets; pushToList after */
static void
vivo_prepare(const PPVendorConfig *cfg, PPRequest *req, const char *const *tokens, int ntokens,
			 PPRequest *first)
{
	const PPVivoMsg *m = req->own;
	bool		f = false;

	if (ntokens < 2)
		return;
	initStringInfo(&first->body);
	appendStringInfo(&first->body, "{%s,\"timeToLive\":" INT64_FORMAT, m->fields,
					 Max(m->ttl, VIVO_MIN_LIST_TTL_S));
	pp_jw_str(&first->body, &f, "requestId", vivo_request_id(m, "save", tokens, ntokens));
	appendStringInfoChar(&first->body, '}');
	first->url = psprintf("%s/message/saveListPayload", cfg->endpoint);
	first->headers = req->headers;
	req->url = psprintf("%s/message/pushToList", cfg->endpoint);
}

/* One device: the built body with regId and requestId; many: pushToList's targets and taskId. */
static void
vivo_assemble(const PPRequest *req, const char *const *tokens, int ntokens, StringInfo b)
{
	const PPVivoMsg *m = req->own;
	bool		first = true;

	appendStringInfoChar(b, '{');
	if (ntokens == 1)
	{
		pp_jw_str(b, &first, "regId", tokens[0]);
		pp_jw_str(b, &first, "requestId", vivo_request_id(m, "send", tokens, 1));
		appendStringInfo(b, ",%s", req->body.data);
	}
	else
	{
		vivo_jw_app_id(b, &first, m->vc->app_id);
		pp_jw_key(b, &first, "regIds");
		pp_jw_tokens(b, tokens, ntokens);
		pp_jw_str(b, &first, "taskId", req->prepared);
		pp_jw_str(b, &first, "requestId", vivo_request_id(m, "list", tokens, ntokens));
	}
	appendStringInfoChar(b, '}');
}

/*
 * A failed answer's outcome: a daily quota retried in an hour, too fast or busy at the
 * back-off's pace, a stale token renewed; else the HTTP status decides.
 */
static PPClassify
vivo_failure(const PPResponse *resp, JsonbContainer *root, PPItemResult *r)
{
	int64		result = -1;
	char	   *desc = pp_jstr(root, "desc");
	char	   *error;
	PPOutcomeKind kind;
	int			retry_ms = 0;
	bool		stale = false;

	if (!pp_jnum(root, "result", &result))
		result = -1;
	error = result >= 0 ? psprintf(INT64_FORMAT, result) : psprintf("HTTP %d", resp->status);
	switch (result)
	{
		case 10070:				/* the day's total is spent */
		case 10252:				/* the day's saved list payloads are spent */
		case 10254:				/* the day's broadcasts are spent */
			kind = PP_OUT_RETRY;
			retry_ms = VIVO_QUOTA_RETRY_MS;
			break;
		case 10072:				/* too fast */
			kind = PP_OUT_RETRY;
			break;
		case 10000:				/* authToken refused */
			kind = PP_OUT_RETRY;
			stale = true;
			break;
		default:
			kind = pp_status_default_kind(resp->status == 200 ? 400 : resp->status);
			stale = resp->status == 401;
	}
	if (desc)
		error = psprintf("%s: %s", error, desc);
	pp_result_set(r, kind, error, NULL);
	r->retry_after_ms = retry_ms;
	return stale ? PP_CLS_AUTH_STALE : PP_CLS_DONE;
}

static PPClassify
vivo_prepared(const PPResponse *resp, char **handle, PPItemResult *fail)
{
	Jsonb	   *j = pp_json_parse_safe(resp->body, resp->body_len);
	JsonbContainer *root = j && JsonContainerIsObject(&j->root) ? &j->root : NULL;
	int64		result = -1;
	char	   *task = pp_jstr(root, "taskId");

	if (resp->status == 200 && pp_jnum(root, "result", &result) && result == 0 && task && task[0])
	{
		*handle = task;
		return PP_CLS_DONE;
	}
	return vivo_failure(resp, root, fail);
}

/* The invalid user {"status", "userid"} named in v: its token invalid_token. */
static void
vivo_invalid_user(JsonbContainer *u, const char *const *tokens, int ntokens,
				  PPItemResult *results)
{
	char	   *id = pp_jstr(u, "userid");
	int64		status = 0;

	if (id == NULL)
		return;
	pp_jnum(u, "status", &status);
	for (int i = 0; i < ntokens; i++)
		if (strcmp(tokens[i], id) == 0)
			pp_result_set(&results[i], PP_OUT_INVALID_TOKEN,
						  psprintf("status " INT64_FORMAT, status), NULL);
}

static PPClassify
vivo_classify(const PPResponse *resp, const char *const *tokens, int ntokens,
			  PPItemResult *results)
{
	Jsonb	   *j = pp_json_parse_safe(resp->body, resp->body_len);
	JsonbContainer *root = j && JsonContainerIsObject(&j->root) ? &j->root : NULL;
	int64		result = -1;
	JsonbValue	v;
	PPItemResult r = {0};
	PPClassify	cls;

	if (resp->status == 200 && pp_jnum(root, "result", &result) && result == 0)
	{
		char	   *task = pp_jstr(root, "taskId");

		for (int i = 0; i < ntokens; i++)
			pp_result_set(&results[i], PP_OUT_SENT, NULL, task);
		/* one device: invalidUser; pushToList: invalidUsers, an array of them */
		if (pp_jget(root, "invalidUser", &v) && v.type == jbvBinary &&
			JsonContainerIsObject(v.val.binary.data))
			vivo_invalid_user(v.val.binary.data, tokens, ntokens, results);
		if (pp_jget(root, "invalidUsers", &v) && v.type == jbvBinary &&
			JsonContainerIsArray(v.val.binary.data))
		{
			JsonbIterator *it = JsonbIteratorInit(v.val.binary.data);
			JsonbValue	e;
			JsonbIteratorToken tok;

			while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
				if (tok == WJB_ELEM && e.type == jbvBinary &&
					JsonContainerIsObject(e.val.binary.data))
					vivo_invalid_user(e.val.binary.data, tokens, ntokens, results);
		}
		return PP_CLS_DONE;
	}
	cls = vivo_failure(resp, root, &r);
	for (int i = 0; i < ntokens; i++)
		results[i] = r;
	return cls;
}

const PPVendor pp_vendor_vivo = {
	.name = "vivo",
	.platforms = vivo_platforms,
	.keys = vivo_keys,
	.default_endpoint = vivo_endpoint,
	.max_tokens = 1000,
	/*
	 * vivo's own bound on clientCustomMap is 1024 characters, but push_send checks sizes for
	 * every vendor, configured or not: 1024 would refuse other apps' pushes, so vivo refuses
	 * those (failed) and this is pushplan's bound, as for Meizu
	 */
	.payload_limit = 4096,
	.limit_what = "pushplan sends vivo custom parameters (clientCustomMap, the extras) of at most 4096 bytes (vivo takes 1024 characters and refuses more).",
	.title_max = 40,
	.alert_max = 100,
	.text_what = "vivo Push takes a title of at most 40 and a content of at most 100 characters, a Chinese one counting as two.",
	.auth = &vivo_auth,
	.default_platform = "android",
	.config = vivo_config,
	.placeholder = &vivo_placeholder,
	.build = vivo_build,
	.assemble = vivo_assemble,
	.classify = vivo_classify,
	.prepare = vivo_prepare,
	.prepared = vivo_prepared,
	.text_wide = true,
};
