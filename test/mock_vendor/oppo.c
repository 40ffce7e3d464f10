/*
 * oppo.c: OPPO Push (HeyTap) server API v1: POST /server/v1/auth and
 * /server/v1/message/notification/unicast and unicast_batch.
 *
 * Auth: the form app_key, timestamp (Unix ms, within 10 minutes of now: else code 19) and sign
 * = lowercase hex sha256(app_key + timestamp + master_secret) (else 16; an unknown app_key 14)
 * gives {"code": 0, "data": {"auth_token", "create_time"}}, a token valid 24 hours.
 * Sends are forms that carry auth_token as a field (missing: 29; unknown or expired: 11) and
 * message (unicast: one JSON message) or messages (unicast_batch: a JSON array of 1 to 1000);
 * a message is {"target_type": 2, "target_value": regId, "notification": {...}} with a title
 * (1-50 characters) and a content (1-200), click_action_type 0, 1, 2, 4 or 5 (2 needs
 * click_action_url), off_line_ttl at most 10 days, action_parameters a JSON object; anything
 * else is code 41 (invalid argument).  Answers: unicast {"code": 0, "data": {"messageId"}};
 * unicast_batch {"code": 0, "data": [{"messageId", "registrationId"[, "errorCode": 10000,
 * "errorMessage"]}]}; a unicast to a bad regId (faults unregistered, baddevice) is code 10000.
 * Faults: throttle -2 (flow control), fail5xx HTTP 503 with -1, error500 HTTP 500 with -1,
 * quota 33 (the app's daily message limit).  save_message_content and broadcast are not served:
 * pushplan does not send them (doc/vendors.md, "OPPO").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock.h"

#define OPPO_MAX_MESSAGES	1000
#define OPPO_MAX_TTL_S		(10L * 86400)
#define OPPO_TOKEN_LIFE_S	86400
#define OPPO_SKEW_MS		(10L * 60 * 1000)

static bool
is_form_post(const request *r)
{
	const char *ct = req_header(r, "content-type");

	return strcmp(r->method, "POST") == 0 && ct &&
		strncmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

void
handle_oppo_auth(request *r)
{
	const char *body = r->body.data ? r->body.data : "";
	char	   *key = form_get(body, r->body.len, "app_key");
	char	   *ts = form_get(body, r->body.len, "timestamp");
	char	   *sign = form_get(body, r->body.len, "sign");
	struct timespec now;
	long long	now_ms;
	char		want[65];
	buf			s = {0};

	clock_gettime(CLOCK_REALTIME, &now);
	now_ms = (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (!is_form_post(r))
		resp_code(r, 200, 40, "a form POST is expected", NULL);
	else if (key == NULL || ts == NULL || sign == NULL)
		resp_code(r, 200, 40, "app_key, timestamp and sign are required", NULL);
	else if (cfg.oppo_app_key == NULL || strcmp(key, cfg.oppo_app_key) != 0)
		resp_code(r, 200, 14, "Invalid AppKey", NULL);
	else if (llabs(atoll(ts) - now_ms) > OPPO_SKEW_MS)
		resp_code(r, 200, 19, "Invalid Timestamp", NULL);
	else
	{
		buf_printf(&s, "%s%s%s", key, ts, cfg.oppo_master_secret ? cfg.oppo_master_secret : "");
		sha256_hex(s.data, s.len, want);
		if (strcmp(sign, want) != 0)
			resp_code(r, 200, 16, "Invalid Sign", NULL);
		else
		{
			buf			t = {0},
						d = {0};

			access_token_issue(&t, "oppo", cfg.oppo_app_key, (long) now.tv_sec + OPPO_TOKEN_LIFE_S);
			buf_puts(&d, "{\"auth_token\":");
			buf_json_str(&d, t.data, t.len);
			buf_printf(&d, ",\"create_time\":%lld}", now_ms);
			resp_code(r, 200, 0, "success", d.data);
			buf_free(&t);
			buf_free(&d);
		}
	}
	buf_free(&s);
	free(key);
	free(ts);
	free(sign);
	record(r, EP_OPPO_TOKEN, NULL);
}

/* Why a message is refused (41), or NULL; its regId in *regid. */
static const char *
check_message(const json *m, const char **regid)
{
	const json *tt = json_get(m, "target_type");
	const json *tv = json_get(m, "target_value");
	const json *n = json_get(m, "notification");
	const json *title,
			   *content,
			   *cat,
			   *url,
			   *ttl,
			   *ap;

	*regid = NULL;
	if (m->type != JSON_OBJ)
		return "a message must be an object";
	if (tt == NULL || tt->type != JSON_NUM || tt->num != 2)
		return "target_type must be 2 (registration_id)";
	if (tv == NULL || tv->type != JSON_STR || tv->strlen == 0 || strchr(tv->str, ';') || strchr(tv->str, ','))
		return "target_value must be one registration_id";
	*regid = tv->str;
	if (n == NULL || n->type != JSON_OBJ)
		return "notification must be an object";
	title = json_get(n, "title");
	content = json_get(n, "content");
	cat = json_get(n, "click_action_type");
	url = json_get(n, "click_action_url");
	ttl = json_get(n, "off_line_ttl");
	ap = json_get(n, "action_parameters");
	if (title == NULL || title->type != JSON_STR || title->strlen == 0 || utf8_chars(title->str) > 50)
		return "notification.title is required, at most 50 characters";
	if (content == NULL || content->type != JSON_STR || content->strlen == 0 || utf8_chars(content->str) > 200)
		return "notification.content is required, at most 200 characters";
	if (cat && (cat->type != JSON_NUM || !(cat->num == 0 || cat->num == 1 || cat->num == 2 ||
										   cat->num == 4 || cat->num == 5)))
		return "click_action_type must be 0, 1, 2, 4 or 5";
	if (cat && cat->num == 2 && (url == NULL || url->type != JSON_STR || strncmp(url->str, "http", 4) != 0))
		return "click_action_type 2 needs an http(s) click_action_url";
	if (url && (url->type != JSON_STR || utf8_chars(url->str) > 500))
		return "click_action_url is at most 500 characters";
	if (ttl && (ttl->type != JSON_NUM || ttl->num < 0 || ttl->num > OPPO_MAX_TTL_S))
		return "off_line_ttl is seconds, at most 10 days";
	if (ap)
	{
		json	   *p = ap->type == JSON_STR ? json_parse(ap->str, ap->strlen) : NULL;
		bool		ok = p && p->type == JSON_OBJ && ap->strlen <= 4096;

		json_free(p);
		if (!ok)
			return "action_parameters must be a JSON object of at most 4K";
	}
	return NULL;
}

/* The bad regIds of the faults: 10000 for that message alone. */
static bool
bad_regid(const char *regid)
{
	faults		f;

	faults_parse(regid, &f);
	return f.unregistered || f.baddevice;
}

static void
oppo_answer(request *r, bool batch, char **regids, int n)
{
	fault_kind	fk = F_NONE;
	bool		quota = false;
	buf			d = {0};
	int			nbad = 0;

	for (int i = 0; i < n && fk == F_NONE && r->act == ACT_NONE && r->delay_ms == 0; i++)
		fk = fault_pick(r, regids[i], false);
	for (int i = 0; i < n; i++)
	{
		faults		f;

		faults_parse(regids[i], &f);
		quota = quota || f.quota;
		nbad += bad_regid(regids[i]);
	}
	switch (fk)
	{
		case F_DROP:
		case F_STALL:
			return;
		case F_500:
			resp_code(r, 500, -1, "Service Currently Unavailable", NULL);
			return;
		case F_5XX:
			resp_code(r, 503, -1, "Service Currently Unavailable", NULL);
			return;
		case F_THROTTLE:
			resp_code(r, 200, -2, "Service in Flow Control", NULL);
			return;
		default:
			break;
	}
	if (quota)
	{
		resp_code(r, 200, 33, "The number of messages exceeds the daily limit", NULL);
		return;
	}
	if (!batch)
	{
		if (nbad)
			resp_code(r, 200, 10000, "Invalid RegistrationId", NULL);
		else
		{
			buf_printf(&d, "{\"messageId\":\"30000-1-1-%ld\"}", next_id());
			resp_code(r, 200, 0, "Success", d.data);
		}
		buf_free(&d);
		return;
	}
	buf_puts(&d, "[");
	for (int i = 0; i < n; i++)
	{
		buf_printf(&d, "%s{\"messageId\":\"30000-1-1-%ld\",\"registrationId\":", i ? "," : "", next_id());
		buf_json_str(&d, regids[i], strlen(regids[i]));
		if (bad_regid(regids[i]))
			buf_puts(&d, ",\"errorCode\":10000,\"errorMessage\":\"Invalid RegistrationId\"");
		buf_puts(&d, "}");
	}
	buf_puts(&d, "]");
	resp_code(r, 200, 0, "Success", d.data);
	buf_free(&d);
}

void
handle_oppo_send(request *r, const char *what)
{
	const char *body = r->body.data ? r->body.data : "";
	bool		batch = strcmp(what, "unicast_batch") == 0;
	char	   *tok = NULL;
	char	   *field = NULL;
	json	   *doc = NULL;
	char	  **regids = NULL;
	int			n = 0;
	int			auth;

	if (!batch && strcmp(what, "unicast") != 0)
	{
		/* save_message_content, broadcast ...: not what pushplan sends */
		resp_code(r, 404, 404, "not found", NULL);
		record(r, EP_OPPO, NULL);
		return;
	}
	if (!is_form_post(r))
	{
		resp_code(r, 200, 40, "a form POST is expected", NULL);
		record(r, EP_OPPO, NULL);
		return;
	}
	if (r->body_too_large)
	{
		resp_code(r, 413, 41, "request too large", NULL);
		record(r, EP_OPPO, NULL);
		return;
	}
	tok = form_get(body, r->body.len, "auth_token");
	auth = tok && cfg.oppo_app_key ? access_token_check(tok, strlen(tok), "oppo", cfg.oppo_app_key) : 0;
	if (tok == NULL || tok[0] == '\0')
		resp_code(r, 200, 29, "Missing AuthToken", NULL);
	else if (auth != 1)
		resp_code(r, 200, 11, "Invalid AuthToken", NULL);
	else if ((field = form_get(body, r->body.len, batch ? "messages" : "message")) == NULL ||
			 (doc = json_parse(field, strlen(field))) == NULL)
		resp_code(r, 200, 41, batch ? "messages must be a JSON array" : "message must be JSON", NULL);
	else if (batch && (doc->type != JSON_ARR || json_count(doc) < 1 || json_count(doc) > OPPO_MAX_MESSAGES))
		resp_code(r, 200, 41, "messages must hold 1 to 1000 messages", NULL);
	else
	{
		const char *why = NULL;
		int			count = batch ? json_count(doc) : 1;
		const json *m = batch ? doc->child : doc;

		regids = calloc(count, sizeof(char *));
		for (; m && why == NULL && n < count; m = batch ? m->next : NULL)
		{
			const char *regid;

			why = check_message(m, &regid);
			if (regid)
				regids[n++] = strdup(regid);
		}
		if (why)
			resp_code(r, 200, 41, why, NULL);
		else
			oppo_answer(r, batch, regids, n);
	}
	record_many(r, EP_OPPO, regids, n);
	for (int i = 0; i < n; i++)
		free(regids[i]);
	free(regids);
	json_free(doc);
	free(field);
	free(tok);
}
