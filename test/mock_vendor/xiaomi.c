/*
 * xiaomi.c: Xiaomi Push (MiPush) messages to regids: POST /v3/message/regid (and /v2/).
 *
 * No token: every request carries Authorization: key=<AppSecret>.  The body is a form.
 * Answers {"result": "ok"|"error", "code", "description", "reason", "trace_id", "data": {"id",
 * "bad_regids"}}: code 0 sent, with the regids Xiaomi refused comma-joined in bad_regids;
 * 20301 every regid refused; 10017 a missing or bad parameter (the mock's one code for them);
 * 10027 rate limited (fault throttle), 200001 the app's daily quota (fault quota).  Codes other than 0 and bad_regids are not confirmed
 * from Xiaomi's own text (doc/vendors.md, "Xiaomi").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock.h"

#define XIAOMI_MAX_REGIDS	1000
#define XIAOMI_MAX_TTL_MS	(14L * 86400 * 1000)
#define XIAOMI_MAX_PAYLOAD	4096

static void
xiaomi_result(request *r, int status, long code, const char *reason, const char *data)
{
	buf			b = {0};

	buf_printf(&b, "{\"result\":\"%s\",\"code\":%ld,\"trace_id\":\"Xm%ld\"",
			   code == 0 ? "ok" : "error", code, next_id());
	if (reason)
	{
		buf_puts(&b, ",\"description\":");
		buf_json_str(&b, reason, strlen(reason));
		buf_puts(&b, ",\"reason\":");
		buf_json_str(&b, reason, strlen(reason));
	}
	if (data)
		buf_printf(&b, ",\"data\":%s", data);
	buf_puts(&b, "}");
	resp_json(r, status, b.data);
	buf_free(&b);
}

static bool
all_blank(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

/* Why the form is refused (10017), or NULL. */
static const char *
check_form(const char *body, size_t len)
{
	char	   *pkg = form_get(body, len, "restricted_package_name");
	char	   *pass = form_get(body, len, "pass_through");
	char	   *title = form_get(body, len, "title");
	char	   *desc = form_get(body, len, "description");
	char	   *ttl = form_get(body, len, "time_to_live");
	char	   *payload = form_get(body, len, "payload");
	const char *why = NULL;

	if (pkg == NULL || cfg.xiaomi_package_name == NULL || strcmp(pkg, cfg.xiaomi_package_name) != 0)
		why = "restricted_package_name is missing or not the app's";
	else if (pass && strcmp(pass, "0") != 0 && strcmp(pass, "1") != 0)
		why = "pass_through must be 0 or 1";
	else if ((pass == NULL || strcmp(pass, "0") == 0) &&
			 (title == NULL || desc == NULL || all_blank(title) || all_blank(desc)))
		why = "a notification needs a title and a description";
	else if (title && utf8_chars(title) >= 50)
		why = "title must be shorter than 50 characters";
	else if (desc && utf8_chars(desc) >= 128)
		why = "description must be shorter than 128 characters";
	else if (ttl && (atol(ttl) < 0 || atol(ttl) > XIAOMI_MAX_TTL_MS))
		why = "time_to_live is milliseconds, at most two weeks";
	else if (payload && strlen(payload) > XIAOMI_MAX_PAYLOAD)
		why = "payload is longer than 4096 bytes";
	free(pkg);
	free(pass);
	free(title);
	free(desc);
	free(ttl);
	free(payload);
	return why;
}

void
handle_xiaomi_send(request *r, const char *path)
{
	const char *auth = req_header(r, "authorization");
	const char *ct = req_header(r, "content-type");
	const char *body = r->body.data ? r->body.data : "";
	char	   *ids = NULL;
	char	  **regids = NULL;
	int			n = 0;
	const char *why;
	fault_kind	fk = F_NONE;

	if (strcmp(path, "/v3/message/regid") != 0 && strcmp(path, "/v2/message/regid") != 0)
	{
		/* alias, topic, all ...: not what pushplan sends */
		resp_json(r, 404, "{\"result\":\"error\",\"code\":404,\"reason\":\"not found\"}");
		record(r, EP_XIAOMI, NULL);
		return;
	}
	/* "key" in lower case, then the app secret */
	if (auth == NULL || strncmp(auth, "key=", 4) != 0 || cfg.xiaomi_app_secret == NULL ||
		strcmp(auth + 4, cfg.xiaomi_app_secret) != 0)
	{
		xiaomi_result(r, 401, 22006, "invalid Authorization: key=<AppSecret> expected", NULL);
		record(r, EP_XIAOMI, NULL);
		return;
	}
	if (strcmp(r->method, "POST") != 0 || ct == NULL ||
		strncmp(ct, "application/x-www-form-urlencoded", 33) != 0)
	{
		xiaomi_result(r, 200, 10017, "a form POST is expected", NULL);
		record(r, EP_XIAOMI, NULL);
		return;
	}
	ids = form_get(body, r->body.len, "registration_id");
	n = ids ? split_list(ids, ',', &regids) : 0;
	if (r->body_too_large)
		xiaomi_result(r, 200, 10017, "request too large", NULL);
	else if (n < 1 || n > XIAOMI_MAX_REGIDS)
		xiaomi_result(r, 200, 10017, "registration_id must hold 1 to 1000 regids", NULL);
	else if ((why = check_form(body, r->body.len)) != NULL)
		xiaomi_result(r, 200, 10017, why, NULL);
	else
	{
		for (int i = 0; i < n && fk == F_NONE && r->act == ACT_NONE && r->delay_ms == 0; i++)
			fk = fault_pick(r, regids[i], false);
		switch (fk)
		{
			case F_DROP:
			case F_STALL:
				break;
			case F_500:
				xiaomi_result(r, 500, 10001, "system error", NULL);
				break;
			case F_5XX:
				xiaomi_result(r, 503, 10002, "service busy", NULL);
				break;
			case F_THROTTLE:
				xiaomi_result(r, 200, 10027, "too many requests", NULL);
				break;
			default:
				{
					buf			bad = {0},
								d = {0};
					int			nbad = 0;
					bool		quota = false;

					for (int i = 0; i < n; i++)
					{
						faults		f;

						faults_parse(regids[i], &f);
						quota = quota || f.quota;
						if (f.unregistered || f.baddevice)
						{
							buf_puts(&bad, nbad++ ? "," : "");
							buf_puts(&bad, regids[i]);
						}
					}
					if (quota)
						xiaomi_result(r, 200, 200001, "daily quota exceeded", NULL);
					else if (nbad == n)
						xiaomi_result(r, 200, 20301, "no valid targets", NULL);
					else
					{
						buf_printf(&d, "{\"id\":\"scm%ld%06ld\"", (long) time(NULL), next_id() % 1000000);
						if (nbad)
						{
							buf_puts(&d, ",\"bad_regids\":");
							buf_json_str(&d, bad.data, bad.len);
						}
						buf_puts(&d, "}");
						xiaomi_result(r, 200, 0, "成功", d.data);
					}
					buf_free(&bad);
					buf_free(&d);
				}
				break;
		}
	}
	record_many(r, EP_XIAOMI, regids, n);
	for (int i = 0; i < n; i++)
		free(regids[i]);
	free(regids);
	free(ids);
}
