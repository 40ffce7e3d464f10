/*
 * honor.c: Honor Push downlink messages (POST /api/v1/<appId>/sendMessage) and Honor's OAuth
 * 2.0 client-credentials token endpoint
 * (POST /auth/realms/developer/protocol/openid-connect/token, as Honor's guide names it).
 *
 * Answers {"code", "message", "data": {"sendResult", "requestId", "failTokens",
 * "expireTokens"}}: 200 all sent, 80100000 some tokens refused (listed: unregistered ones in
 * expireTokens, bad ones in failTokens), 80300007 every token refused, 80300010 token count
 * not 1..1000, 80300008 message too large, 80100001/80100003 bad parameters or structure,
 * 80200001 / 80200003 (HTTP 401) OAuth failures: Huawei's codes, which Honor's API mirrors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock.h"

#define HONOR_MAX_TOKENS 1000
#define HONOR_MAX_MESSAGE 4096

void
handle_honor_token(request *r)
{
	const char *body = r->body.data ? r->body.data : "";
	const char *ct = req_header(r, "content-type");
	char	   *grant = form_get(body, r->body.len, "grant_type");
	char	   *id = form_get(body, r->body.len, "client_id");
	char	   *secret = form_get(body, r->body.len, "client_secret");

	if (strcmp(r->method, "POST") != 0 || ct == NULL ||
		strncmp(ct, "application/x-www-form-urlencoded", 33) != 0)
		resp_json(r, 400, "{\"error\":\"invalid_request\",\"error_description\":\"a form POST is expected\"}");
	else if (grant == NULL || strcmp(grant, "client_credentials") != 0)
		resp_json(r, 400, "{\"error\":\"unsupported_grant_type\",\"error_description\":\"client_credentials only\"}");
	else if (id == NULL || cfg.honor_client_id == NULL || strcmp(id, cfg.honor_client_id) != 0 ||
			 secret == NULL || cfg.honor_client_secret == NULL ||
			 strcmp(secret, cfg.honor_client_secret) != 0)
		resp_json(r, 401, "{\"error\":\"invalid_client\",\"error_description\":\"unknown client or wrong secret\"}");
	else
		token_granted(r, "honor", cfg.honor_app_id);
	free(grant);
	free(id);
	free(secret);
	record(r, EP_HONOR_TOKEN, NULL);
}

/* android.ttl, when present: "<seconds>s" */
static bool
ttl_ok(const json *ttl)
{
	char	   *end = NULL;

	if (ttl == NULL)
		return true;
	if (ttl->type != JSON_STR || ttl->strlen < 2)
		return false;
	strtol(ttl->str, &end, 10);
	return end != ttl->str && strcmp(end, "s") == 0;
}

/* Validates the request; returns the token array, or NULL with the answer set. */
static json *
check_send(request *r, const char *app_id, json **doc)
{
	const char *tok = bearer_token(r);
	const char *ts = req_header(r, "timestamp");
	const char *ct = req_header(r, "content-type");
	char	   *end = NULL;
	json	   *tokens,
			   *android,
			   *notif,
			   *data;
	int			auth,
				n;

	*doc = NULL;
	auth = (tok && cfg.honor_app_id && strcmp(app_id, cfg.honor_app_id) == 0) ?
		access_token_check(tok, strlen(tok), "honor", cfg.honor_app_id) : 0;
	if (auth == -1)
	{
		resp_code(r, 401, 80200003, "Oauth Token expired", NULL);
		return NULL;
	}
	if (auth != 1)
	{
		resp_code(r, 401, 80200001, "Oauth authentication error", NULL);
		return NULL;
	}
	if (strcmp(r->method, "POST") != 0 || ct == NULL || strncmp(ct, "application/json", 16) != 0)
	{
		resp_code(r, 400, 80100001, "Some request parameters are incorrect", NULL);
		return NULL;
	}
	if (ts == NULL || (strtoll(ts, &end, 10), end == ts || *end != '\0'))
	{
		resp_code(r, 400, 80100001, "timestamp header missing or not a number", NULL);
		return NULL;
	}
	if (r->body_too_large)
	{
		resp_code(r, 413, 80300008, "The message body size exceeds the default value", NULL);
		return NULL;
	}
	*doc = json_parse(r->body.data ? r->body.data : "", r->body.len);
	if (*doc == NULL || (*doc)->type != JSON_OBJ)
	{
		resp_code(r, 400, 80100003, "Incorrect message structure", NULL);
		return NULL;
	}
	tokens = json_get(*doc, "token");
	n = tokens && tokens->type == JSON_ARR ? json_count(tokens) : 0;
	if (n < 1 || n > HONOR_MAX_TOKENS)
	{
		resp_code(r, 400, 80300010,
					 "The number of tokens in the message body exceeds the default value", NULL);
		return NULL;
	}
	for (json *t = tokens->child; t; t = t->next)
		if (t->type != JSON_STR || t->strlen == 0)
		{
			resp_code(r, 400, 80100001, "Some request parameters are incorrect", NULL);
			return NULL;
		}
	android = json_get(*doc, "android");
	notif = android ? json_get(android, "notification") : NULL;
	data = json_get(*doc, "data");
	if ((android && android->type != JSON_OBJ) || (data && data->type != JSON_STR) ||
		(notif && (notif->type != JSON_OBJ || json_get(notif, "clickAction") == NULL ||
				   json_get(json_get(notif, "clickAction"), "type") == NULL)) ||
		(android && !ttl_ok(json_get(android, "ttl"))))
	{
		/* data is a string; a notification needs clickAction.type; ttl is "<seconds>s" */
		resp_code(r, 400, 80100003, "Incorrect message structure", NULL);
		return NULL;
	}
	if (r->body.len - tokens->rawlen > HONOR_MAX_MESSAGE)
	{
		resp_code(r, 413, 80300008, "The message body size exceeds the default value", NULL);
		return NULL;
	}
	return tokens;
}

void
handle_honor_send(request *r, const char *app_id)
{
	json	   *doc;
	json	   *tokens = check_send(r, app_id, &doc);
	fault_kind	fk = F_NONE;
	char	  **names = NULL;
	int			n = 0;

	if (tokens)
	{
		for (json *t = tokens->child; t && fk == F_NONE && r->act == ACT_NONE && r->delay_ms == 0; t = t->next)
			fk = fault_pick(r, t->str, false);
		switch (fk)
		{
			case F_DROP:
			case F_STALL:
				break;
			case F_500:
				resp_code(r, 500, 81000001, "System internal error", NULL);
				break;
			case F_5XX:
			case F_THROTTLE:
				/* flow control, as Huawei's: 503, and no Retry-After */
				resp_code(r, 503, 81000001, "System internal error", NULL);
				break;
			default:
				{
					buf			fail = {0},
								expire = {0},
								d = {0};
					int			ok = 0,
								bad = 0;

					buf_puts(&fail, "[");
					buf_puts(&expire, "[");
					for (json *t = tokens->child; t; t = t->next)
					{
						faults		f;

						faults_parse(t->str, &f);
						if (f.unregistered || f.baddevice)
						{
							buf		   *l = f.unregistered ? &expire : &fail;

							buf_puts(l, l->len > 1 ? "," : "");
							buf_json_str(l, t->str, t->strlen);
							bad++;
						}
						else
							ok++;
					}
					buf_puts(&fail, "]");
					buf_puts(&expire, "]");
					buf_printf(&d, "{\"sendResult\":%s,\"requestId\":\"%ld%06ld\",\"failTokens\":%s,\"expireTokens\":%s}",
							   ok ? "true" : "false", (long) time(NULL), next_id() % 1000000,
							   fail.data, expire.data);
					if (bad == 0)
						resp_code(r, 200, 200, "success", d.data);
					else if (ok == 0)
						resp_code(r, 400, 80300007, "All the tokens are invalid", d.data);
					else
						resp_code(r, 200, 80100000, "Some tokens are invalid", d.data);
					buf_free(&fail);
					buf_free(&expire);
					buf_free(&d);
				}
				break;
		}
	}
	names = malloc(sizeof(char *) * (tokens ? json_count(tokens) + 1 : 1));
	for (json *t = tokens ? tokens->child : NULL; t; t = t->next)
		names[n++] = t->str;
	record_many(r, EP_HONOR, names, n);
	free(names);
	json_free(doc);
}
