/*
 * fcm.c: Firebase Cloud Messaging HTTP v1 and the Google OAuth 2.0 token endpoint that a
 * service account's JWT (RS256, RFC 7523 jwt-bearer grant) is exchanged at.
 *
 * Errors take Google's shape: {"error": {"code", "message", "status", "details": [FcmError]}}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock.h"

#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define FCM_MAX_MESSAGE 4096

static void
oauth_error(request *r, const char *error, const char *desc)
{
	buf			b = {0};

	buf_printf(&b, "{\"error\":\"%s\",\"error_description\":", error);
	buf_json_str(&b, desc, strlen(desc));
	buf_puts(&b, "}");
	resp_json(r, 400, b.data);
	buf_free(&b);
}

static bool
has_scope(const char *scopes, const char *want)
{
	size_t		wl = strlen(want);

	for (const char *p = scopes; (p = strstr(p, want)) != NULL; p += wl)
		if ((p == scopes || p[-1] == ' ') && (p[wl] == '\0' || p[wl] == ' '))
			return true;
	return false;
}

static void
token_answer(request *r)
{
	char	   *grant,
			   *assertion;
	jwt			j;
	json	   *alg,
			   *iss,
			   *aud,
			   *scope,
			   *iat,
			   *exp;
	long		now = (long) time(NULL);

	if (strcmp(r->method, "POST") != 0)
	{
		resp_json(r, 405, "{\"error\":\"invalid_request\",\"error_description\":\"POST required\"}");
		return;
	}
	grant = form_get(r->body.data ? r->body.data : "", r->body.len, "grant_type");
	assertion = form_get(r->body.data ? r->body.data : "", r->body.len, "assertion");
	if (grant == NULL || strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") != 0)
	{
		char		d[300];

		snprintf(d, sizeof(d), "Invalid grant_type: %.200s", grant ? grant : "");
		oauth_error(r, "unsupported_grant_type", d);
		goto out;
	}
	if (assertion == NULL || *assertion == '\0')
	{
		oauth_error(r, "invalid_request", "Missing required parameter: assertion");
		goto out;
	}
	if (jwt_parse(assertion, strlen(assertion), &j) != 0)
	{
		oauth_error(r, "invalid_grant", "Invalid JWT: malformed");
		goto out;
	}
	alg = json_get(j.header, "alg");
	iss = json_get(j.claims, "iss");
	aud = json_get(j.claims, "aud");
	scope = json_get(j.claims, "scope");
	iat = json_get(j.claims, "iat");
	exp = json_get(j.claims, "exp");
	if (alg == NULL || alg->type != JSON_STR || strcmp(alg->str, "RS256") != 0)
		oauth_error(r, "invalid_grant", "Invalid JWT Signature.");
	else if (iss == NULL || iss->type != JSON_STR || cfg.fcm_client_email == NULL ||
			 strcmp(iss->str, cfg.fcm_client_email) != 0 || cfg.fcm_key == NULL)
		oauth_error(r, "invalid_grant", "Invalid grant: account not found");
	else if (!jwt_verify_rs256(&j, cfg.fcm_key))
		oauth_error(r, "invalid_grant", "Invalid JWT Signature.");
	else if (aud == NULL || aud->type != JSON_STR || strcmp(aud->str, cfg.fcm_token_uri) != 0)
		oauth_error(r, "invalid_grant", "Invalid JWT: Failed audience check.");
	else if (iat == NULL || exp == NULL || iat->type != JSON_NUM || exp->type != JSON_NUM ||
			 exp->num - iat->num > 3600 || exp->num < iat->num || exp->num <= now ||
			 iat->num > now + 300)
		oauth_error(r, "invalid_grant",
					"Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
					"reasonable timeframe. Check your iat and exp values in the JWT claim.");
	else if (scope == NULL || scope->type != JSON_STR || !has_scope(scope->str, FCM_SCOPE))
		oauth_error(r, "invalid_scope", "Invalid OAuth scope or ID token audience provided.");
	else
	{
		buf			t = {0},
					b = {0};

		access_token_issue(&t, "fcm", cfg.fcm_project_id ? cfg.fcm_project_id : "", now + 3599);
		buf_puts(&b, "{\"access_token\":");
		buf_json_str(&b, t.data, t.len);
		buf_puts(&b, ",\"expires_in\":3599,\"token_type\":\"Bearer\"}");
		resp_json(r, 200, b.data);
		buf_free(&t);
		buf_free(&b);
	}
	jwt_free(&j);
out:
	free(grant);
	free(assertion);
}

void
handle_fcm_token(request *r)
{
	token_answer(r);
	record(r, EP_FCM_TOKEN, NULL);
}

/* Google's error body; fcm_code adds the FcmError detail. */
static void
google_error(request *r, int code, const char *status, const char *message, const char *fcm_code)
{
	buf			b = {0};

	buf_printf(&b, "{\"error\":{\"code\":%d,\"message\":", code);
	buf_json_str(&b, message, strlen(message));
	buf_printf(&b, ",\"status\":\"%s\"", status);
	if (fcm_code)
		buf_printf(&b, ",\"details\":[{\"@type\":\"type.googleapis.com/google.firebase.fcm.v1.FcmError\","
				   "\"errorCode\":\"%s\"}]", fcm_code);
	buf_puts(&b, "}}");
	resp_json(r, code, b.data);
	resp_header(r, "content-type", "application/json; charset=UTF-8");
	buf_free(&b);
}

static void
bad_argument(request *r, const char *message)
{
	google_error(r, 400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT");
}

static bool
known_name(const char *name, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(name, *names) == 0)
			return true;
	return false;
}

/* Validates the body; returns the message's token target (inside *doc) or NULL. */
static const char *
send_answer(request *r, const char *project, json **doc)
{
	static const char *const top_names[] = {"validate_only", "message", NULL};
	static const char *const msg_names[] = {
		"name", "data", "notification", "android", "webpush", "apns", "fcm_options",
		"token", "topic", "condition", NULL
	};
	static const char *const obj_names[] = {
		"notification", "android", "webpush", "apns", "fcm_options", NULL
	};
	const char *tok = bearer_token(r);
	json	   *msg,
			   *data,
			   *target = NULL;
	int			ntargets = 0;
	char		m[512];

	*doc = NULL;
	if (strcmp(r->method, "POST") != 0)
	{
		google_error(r, 405, "INVALID_ARGUMENT", "Method not allowed.", NULL);
		return NULL;
	}
	if (tok == NULL || cfg.fcm_project_id == NULL ||
		access_token_check(tok, strlen(tok), "fcm", cfg.fcm_project_id) != 1)
	{
		google_error(r, 401, "UNAUTHENTICATED",
					 "Request had invalid authentication credentials. Expected OAuth 2 access "
					 "token, login cookie or other valid authentication credential. See "
					 "https://developers.google.com/identity/sign-in/web/devconsole-project.",
					 NULL);
		return NULL;
	}
	if (strcmp(project, cfg.fcm_project_id) != 0)
	{
		snprintf(m, sizeof(m), "Permission 'cloudmessaging.messages.create' denied on resource "
				 "'//cloudresourcemanager.googleapis.com/projects/%.200s' (or it may not exist).",
				 project);
		google_error(r, 403, "PERMISSION_DENIED", m, "SENDER_ID_MISMATCH");
		return NULL;
	}
	if (r->body_too_large)
	{
		bad_argument(r, "Message is too big");
		return NULL;
	}
	*doc = json_parse(r->body.data ? r->body.data : "", r->body.len);
	if (*doc == NULL || (*doc)->type != JSON_OBJ)
	{
		google_error(r, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.", NULL);
		return NULL;
	}
	for (json *k = (*doc)->child; k; k = k->next)
		if (!known_name(k->key, top_names))
		{
			snprintf(m, sizeof(m), "Invalid JSON payload received. Unknown name \"%.200s\": "
					 "Cannot find field.", k->key);
			google_error(r, 400, "INVALID_ARGUMENT", m, NULL);
			return NULL;
		}
	msg = json_get(*doc, "message");
	if (msg == NULL || msg->type != JSON_OBJ)
	{
		bad_argument(r, "Request contains an invalid argument.");
		return NULL;
	}
	for (json *k = msg->child; k; k = k->next)
	{
		if (!known_name(k->key, msg_names))
		{
			snprintf(m, sizeof(m), "Invalid JSON payload received. Unknown name \"%.200s\" at "
					 "'message': Cannot find field.", k->key);
			google_error(r, 400, "INVALID_ARGUMENT", m, NULL);
			return NULL;
		}
		if (known_name(k->key, obj_names) && k->type != JSON_OBJ)
		{
			snprintf(m, sizeof(m), "Invalid value at 'message.%s': expected an object.", k->key);
			google_error(r, 400, "INVALID_ARGUMENT", m, NULL);
			return NULL;
		}
		if (strcmp(k->key, "token") == 0 || strcmp(k->key, "topic") == 0 ||
			strcmp(k->key, "condition") == 0)
		{
			if (k->type != JSON_STR || k->strlen == 0)
			{
				snprintf(m, sizeof(m), "Invalid value at 'message.%s' (TYPE_STRING)", k->key);
				bad_argument(r, m);
				return NULL;
			}
			if (++ntargets > 1)
			{
				snprintf(m, sizeof(m), "Invalid value at 'message' (oneof), oneof field 'target' "
						 "is already set. Cannot set '%s'", k->key);
				google_error(r, 400, "INVALID_ARGUMENT", m, NULL);
				return NULL;
			}
			target = k;
		}
	}
	if (ntargets == 0)
	{
		bad_argument(r, "Recipient of the message is not set.");
		return NULL;
	}
	data = json_get(msg, "data");
	if (data)
	{
		int			i = 0;

		if (data->type != JSON_OBJ)
		{
			bad_argument(r, "Invalid value at 'message.data': expected a map of strings.");
			return NULL;
		}
		for (json *k = data->child; k; k = k->next, i++)
			if (k->type != JSON_STR)
			{
				snprintf(m, sizeof(m), "Invalid value at 'message.data[%d].value' (TYPE_STRING), "
						 "%.100s", i, k->raw);
				google_error(r, 400, "INVALID_ARGUMENT", m, NULL);
				return NULL;
			}
	}
	if (msg->rawlen > FCM_MAX_MESSAGE)
	{
		bad_argument(r, "Message is too big");
		return NULL;
	}
	return strcmp(target->key, "token") == 0 ? target->str : NULL;
}

void
handle_fcm_send(request *r, const char *project)
{
	json	   *doc;
	const char *token;
	char		name[256];

	token = send_answer(r, project, &doc);
	if (r->status == 0)
	{
		switch (fault_pick(r, token, true))
		{
			case F_DROP:
			case F_STALL:
				break;
			case F_500:
				google_error(r, 500, "INTERNAL", "Internal error encountered.", "INTERNAL");
				break;
			case F_5XX:
				google_error(r, 503, "UNAVAILABLE", "The service is currently unavailable.",
							 "UNAVAILABLE");
				resp_header(r, "retry-after", "1");
				break;
			case F_THROTTLE:
				google_error(r, 429, "RESOURCE_EXHAUSTED",
							 "Quota exceeded for quota metric 'Send requests'.", "QUOTA_EXCEEDED");
				resp_header(r, "retry-after", "1");
				break;
			case F_UNREGISTERED:
				google_error(r, 404, "NOT_FOUND", "Requested entity was not found.",
							 "UNREGISTERED");
				break;
			case F_BADDEVICE:
				bad_argument(r, "The registration token is not a valid FCM registration token");
				break;
			case F_NONE:
				{
					json	   *vo = json_get(doc, "validate_only");

					if (vo && vo->type == JSON_BOOL && vo->b)
						snprintf(name, sizeof(name),
								 "{\"name\":\"projects/%s/messages/fake_message_id\"}", project);
					else
						snprintf(name, sizeof(name),
								 "{\"name\":\"projects/%s/messages/0:%ld%%%08lx\"}", project,
								 (long) time(NULL), next_id());
					resp_json(r, 200, name);
					resp_header(r, "content-type", "application/json; charset=UTF-8");
				}
				break;
		}
	}
	record(r, EP_FCM, token);
	json_free(doc);
}
