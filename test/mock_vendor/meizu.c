/*
 * meizu.c: Meizu Push (Flyme) by pushId: POST /garcia/api/server/push/varnished/pushByPushId
 * (notifications) and unvarnished/pushByPushId (pass-through).
 *
 * No token: every request is signed, sign = md5 of the other parameters sorted by name as
 * name=value (raw values) followed by the app secret.  Answers {"code": "<string>", "message",
 * "msgId", "value"}: "200" with value {"110002": [pushIds], "110003": [...]} listing the devices
 * that failed; "1006" bad signature, "1005" bad parameters, "110000" unknown appId, "110010"
 * too fast (fault throttle), "1003" busy (fault fail5xx); a device's daily limit (fault quota)
 * is listed under "110011".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock.h"

#define MEIZU_MAX_PUSHIDS	100

static void
meizu_result(request *r, int status, const char *code, const char *message, const char *value)
{
	buf			b = {0};

	buf_printf(&b, "{\"code\":\"%s\",\"message\":", code);
	buf_json_str(&b, message, strlen(message));
	if (strcmp(code, "200") == 0)
		buf_printf(&b, ",\"msgId\":\"NS%ld%06ld\"", (long) time(NULL), next_id() % 1000000);
	buf_printf(&b, ",\"value\":%s}", value ? value : "{}");
	resp_json(r, status, b.data);
	buf_free(&b);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Whether sign is md5(sorted name=value of the other parameters, raw values, + secret). */
static bool
sign_ok(const char *body, size_t len)
{
	char	  **pairs;
	int			n = split_list(body, '&', &pairs);
	char	  **names = malloc(sizeof(char *) * (n + 1));
	int			k = 0;
	buf			s = {0};
	char	   *sign = form_get(body, len, "sign");
	char		md[33];
	bool		ok;

	for (int i = 0; i < n; i++)
	{
		char	   *eq = strchr(pairs[i], '=');

		if (eq)
			*eq = '\0';
		if (strcmp(pairs[i], "sign") != 0)
			names[k++] = pairs[i];
	}
	qsort(names, k, sizeof(char *), cmp_str);
	for (int i = 0; i < k; i++)
	{
		char	   *v = form_get(body, len, names[i]);

		buf_printf(&s, "%s=%s", names[i], v ? v : "");
		free(v);
	}
	buf_puts(&s, cfg.meizu_app_secret ? cfg.meizu_app_secret : "");
	md5_hex(s.data, s.len, md);
	ok = sign && strcmp(sign, md) == 0;
	for (int i = 0; i < n; i++)
		free(pairs[i]);
	free(pairs);
	free(names);
	free(sign);
	buf_free(&s);
	return ok;
}

/* Characters of UTF-8 text. */
static long
chars(const json *j)
{
	long		n = 0;

	if (j == NULL || j->type != JSON_STR)
		return 0;
	for (const char *s = j->str; *s; s++)
		n += ((unsigned char) *s & 0xc0) != 0x80;
	return n;
}

/* Why messageJson is refused (1005), or NULL. */
static const char *
check_message(const json *m, bool notice)
{
	const json *time_info = json_get(m, "pushTimeInfo");
	const json *off = time_info ? json_get(time_info, "offLine") : NULL;
	const json *valid = time_info ? json_get(time_info, "validTime") : NULL;

	if (m == NULL || m->type != JSON_OBJ)
		return "messageJson is not a JSON object";
	if (notice)
	{
		const json *bar = json_get(m, "noticeBarInfo");
		const json *click = json_get(m, "clickTypeInfo");
		long		t = chars(json_get(bar, "title")),
					c = chars(json_get(bar, "content"));

		if (bar == NULL || t < 1 || t > 32)
			return "noticeBarInfo.title must have 1 to 32 characters";
		if (c < 1 || c > 100)
			return "noticeBarInfo.content must have 1 to 100 characters";
		if (click && json_get(click, "clickType") && json_get(click, "clickType")->num == 2 &&
			chars(json_get(click, "url")) < 1)
			return "clickType 2 needs a url";
	}
	else if (chars(json_get(m, "content")) < 1 || chars(json_get(m, "content")) > 2000)
		return "content must have 1 to 2000 characters";
	if ((off == NULL || off->num == 1) && valid &&
		(valid->type != JSON_NUM || valid->num < 1 || valid->num > 72))
		return "pushTimeInfo.validTime must be 1 to 72 hours";
	return NULL;
}

void
handle_meizu_send(request *r, const char *path)
{
	const char *ct = req_header(r, "content-type");
	const char *body = r->body.data ? r->body.data : "";
	bool		notice = strcmp(path, "varnished/pushByPushId") == 0;
	char	   *app = NULL,
			   *ids = NULL,
			   *mj = NULL;
	char	  **push_ids = NULL;
	int			n = 0;
	json	   *m = NULL;
	const char *why;
	fault_kind	fk = F_NONE;

	if (!notice && strcmp(path, "unvarnished/pushByPushId") != 0)
	{
		resp_json(r, 404, "{\"code\":\"404\",\"message\":\"not found\",\"value\":{}}");
		record(r, EP_MEIZU, NULL);
		return;
	}
	if (strcmp(r->method, "POST") != 0 || ct == NULL ||
		strncmp(ct, "application/x-www-form-urlencoded", 33) != 0)
	{
		meizu_result(r, 200, "1005", "a form POST is expected", NULL);
		record(r, EP_MEIZU, NULL);
		return;
	}
	app = form_get(body, r->body.len, "appId");
	ids = form_get(body, r->body.len, "pushIds");
	mj = form_get(body, r->body.len, "messageJson");
	n = ids ? split_list(ids, ',', &push_ids) : 0;
	m = mj ? json_parse(mj, strlen(mj)) : NULL;
	if (app == NULL || cfg.meizu_app_id == NULL || strcmp(app, cfg.meizu_app_id) != 0)
		meizu_result(r, 200, "110000", "appId不合法", NULL);
	else if (!sign_ok(body, r->body.len))
		meizu_result(r, 200, "1006", "签名认证失败", NULL);
	else if (n < 1 || n > MEIZU_MAX_PUSHIDS)
		meizu_result(r, 200, "1005", "pushIds must hold 1 to 100 pushIds", NULL);
	else if ((why = check_message(m, notice)) != NULL)
		meizu_result(r, 200, "1005", why, NULL);
	else
	{
		for (int i = 0; i < n && fk == F_NONE && r->act == ACT_NONE && r->delay_ms == 0; i++)
			fk = fault_pick(r, push_ids[i], false);
		switch (fk)
		{
			case F_DROP:
			case F_STALL:
				break;
			case F_500:
				resp_json(r, 500, "{\"code\":\"500\",\"message\":\"其他异常\",\"value\":{}}");
				break;
			case F_5XX:
				meizu_result(r, 200, "1003", "服务器忙", NULL);
				break;
			case F_THROTTLE:
				meizu_result(r, 200, "110010", "应用请求频率超过限制", NULL);
				break;
			default:
				{
					buf			unsub = {0},
								bad = {0},
								quota = {0},
								v = {0};

					for (int i = 0; i < n; i++)
					{
						faults		f;

						faults_parse(push_ids[i], &f);
						if (f.unregistered || f.baddevice || f.quota)
						{
							buf		   *l = f.quota ? &quota : f.unregistered ? &unsub : &bad;

							buf_puts(l, l->len ? "," : "");
							buf_json_str(l, push_ids[i], strlen(push_ids[i]));
						}
					}
					buf_puts(&v, "{");
					if (unsub.len)
						buf_printf(&v, "\"110002\":[%s]", unsub.data);
					if (bad.len)
						buf_printf(&v, "%s\"110003\":[%s]", unsub.len ? "," : "", bad.data);
					if (quota.len)
						buf_printf(&v, "%s\"110011\":[%s]", unsub.len || bad.len ? "," : "",
								   quota.data);
					buf_puts(&v, "}");
					meizu_result(r, 200, "200", "", v.data);
					buf_free(&unsub);
					buf_free(&bad);
					buf_free(&quota);
					buf_free(&v);
				}
				break;
		}
	}
	record_many(r, EP_MEIZU, push_ids, n);
	for (int i = 0; i < n; i++)
		free(push_ids[i]);
	free(push_ids);
	json_free(m);
	free(app);
	free(ids);
	free(mj);
}
