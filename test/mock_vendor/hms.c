/*
 * hms.c: Huawei Push Kit (HMS Core) downlink messages and the Huawei OAuth 2.0
 * client-credentials token endpoint.
 *
 * Answers carry {"code", "msg", "requestId"}: 80000000 all sent, 80100000 some tokens
 * illegal (msg is a JSON string listing them), 80300007 all tokens invalid, 80300010 token
 * count not 1..1000, 80300008 message too large, 80200001 / 80200003 OAuth failures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock.h"

#define HMS_MAX_TOKENS 1000
#define HMS_MAX_MESSAGE 4096

void
hms_result(request *r, int status, const char *code, const char *msg)
{
	buf			b = {0};

	buf_printf(&b, "{\"code\":\"%s\",\"msg\":", code);
	buf_json_str(&b, msg, strlen(msg));
	buf_printf(&b, ",\"requestId\":\"%ld%06ld\"}", (long) time(NULL), next_id() % 1000000);
	resp_json(r, status, b.data);
	buf_free(&b);
}

static void
oauth_error(request *r, int error, int sub_error, const char *desc)
{
	char		b[300];

	snprintf(b, sizeof(b), "{\"error\":%d,\"sub_error\":%d,\"error_description\":\"%s\"}",
			 error, sub_error, desc);
	resp_json(r, 400, b);
}

void
handle_hms_token(request *r)
{
	const char *body = r->body.data ? r->body.data : "";
	char	   *grant = form_get(body, r->body.len, "grant_type");
	char	   *id = form_get(body, r->body.len, "client_id");
	char	   *secret = form_get(body, r->body.len, "client_secret");

	if (strcmp(r->method, "POST") != 0)
		oauth_error(r, 1101, 20001, "invalid request");
	else if (grant == NULL || strcmp(grant, "client_credentials") != 0)
		oauth_error(r, 1102, 20003, "unsupported grant type");
	else if (id == NULL || cfg.hms_app_id == NULL || strcmp(id, cfg.hms_app_id) != 0)
		oauth_error(r, 1102, 20152, "invalid client");
	else if (secret == NULL || cfg.hms_client_secret == NULL ||
			 strcmp(secret, cfg.hms_client_secret) != 0)
		oauth_error(r, 1101, 20152, "invalid client_secret");
	else
		token_granted(r, "hms", cfg.hms_app_id);
	free(grant);
	free(id);
	free(secret);
	record(r, EP_HMS_TOKEN, NULL);
}

/* Validates the request; returns the token array, or NULL with the answer set. */
static json *
check_send(request *r, const char *app_id, json **doc)
{
	const char *tok = bearer_token(r);
	int			auth;
	json	   *msg,
			   *tokens,
			   *data;
	int			ntargets,
				n;

	*doc = NULL;
	auth = (tok && cfg.hms_app_id && strcmp(app_id, cfg.hms_app_id) == 0) ?
		access_token_check(tok, strlen(tok), "hms", cfg.hms_app_id) : 0;
	if (auth == -1)
	{
		hms_result(r, 401, "80200003", "Oauth Token expired");
		return NULL;
	}
	if (auth != 1)
	{
		hms_result(r, 401, "80200001", "Oauth authentication error");
		return NULL;
	}
	if (strcmp(r->method, "POST") != 0)
	{
		hms_result(r, 400, "80100001", "Some request parameters are incorrect");
		return NULL;
	}
	if (r->body_too_large)
	{
		hms_result(r, 413, "80300008", "The message body size exceeds the default value");
		return NULL;
	}
	*doc = json_parse(r->body.data ? r->body.data : "", r->body.len);
	msg = json_get(*doc, "message");
	if (msg == NULL || msg->type != JSON_OBJ)
	{
		hms_result(r, 400, "80100003", "Incorrect message structure");
		return NULL;
	}
	tokens = json_get(msg, "token");
	ntargets = (tokens != NULL) + (json_get(msg, "topic") != NULL) +
		(json_get(msg, "condition") != NULL);
	if (ntargets > 1)
	{
		hms_result(r, 400, "80100001", "Some request parameters are incorrect");
		return NULL;
	}
	if (ntargets == 1 && tokens == NULL)
	{
		/* a topic or condition message: nothing per device to check */
		hms_result(r, 200, "80000000", "Success");
		return NULL;
	}
	n = tokens && tokens->type == JSON_ARR ? json_count(tokens) : 0;
	if (n < 1 || n > HMS_MAX_TOKENS)
	{
		hms_result(r, 400, "80300010",
				   "The number of tokens in the message body exceeds the default value");
		return NULL;
	}
	for (json *t = tokens->child; t; t = t->next)
		if (t->type != JSON_STR || t->strlen == 0)
		{
			hms_result(r, 400, "80100001", "Some request parameters are incorrect");
			return NULL;
		}
	data = json_get(msg, "data");
	if (data && data->type != JSON_STR)
	{
		/* HMS message.data is a string (often holding JSON), not an object */
		hms_result(r, 400, "80100003", "Incorrect message structure");
		return NULL;
	}
	/* the size limit is on the message, not on its list of recipients */
	if (r->body.len - tokens->rawlen > HMS_MAX_MESSAGE)
	{
		hms_result(r, 413, "80300008", "The message body size exceeds the default value");
		return NULL;
	}
	return tokens;
}

void
handle_hms_send(request *r, const char *app_id)
{
	json	   *doc;
	json	   *tokens = check_send(r, app_id, &doc);
	fault_kind fk = F_NONE;
	int			ok = 0,
				bad = 0;
	buf			illegal = {0};

	if (tokens)
	{
		/* the first token with a server-side fault decides the whole request's fate */
		for (json *t = tokens->child; t && fk == F_NONE && r->act == ACT_NONE && r->delay_ms == 0; t = t->next)
			fk = fault_pick(r, t->str, false);
		switch (fk)
		{
			case F_DROP:
			case F_STALL:
				break;
			case F_500:
				hms_result(r, 500, "81000001", "System internal error");
				break;
			case F_5XX:
			case F_THROTTLE:
				/* Push Kit answers flow control with 503 */
				hms_result(r, 503, "81000001", "System internal error");
				resp_header(r, "retry-after", "1");
				break;
			default:
				buf_puts(&illegal, "[");
				for (json *t = tokens->child; t; t = t->next)
				{
					faults		f;

					faults_parse(t->str, &f);
					if (f.unregistered || f.baddevice)
					{
						buf_puts(&illegal, bad ? "," : "");
						buf_json_str(&illegal, t->str, t->strlen);
						bad++;
					}
					else
						ok++;
				}
				buf_puts(&illegal, "]");
				if (bad == 0)
					hms_result(r, 200, "80000000", "Success");
				else if (ok == 0)
					hms_result(r, 400, "80300007", "All the tokens are invalid");
				else
				{
					buf			m = {0};

					buf_printf(&m, "{\"success\":%d,\"failure\":%d,\"illegal_tokens\":%s}",
							   ok, bad, illegal.data);
					hms_result(r, 200, "80100000", m.data);
					buf_free(&m);
				}
				break;
		}
	}
	{
		int			n = 0;
		char	  **names = malloc(sizeof(char *) * (tokens ? json_count(tokens) + 1 : 1));

		for (json *t = tokens ? tokens->child : NULL; t; t = t->next)
			names[n++] = t->str;
		record_many(r, EP_HMS, names, n);
		free(names);
	}
	buf_free(&illegal);
	json_free(doc);
}
