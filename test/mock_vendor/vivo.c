/*
 * vivo.c: vivo Push, server API v2.9.2: POST /message/auth (an authToken for an md5-signed
 * request), /message/send (one regId), /message/saveListPayload (a message for a taskId) and
 * /message/pushToList (2 to 1000 regIds and a taskId).  Every body is JSON; every request but
 * the auth one carries the authToken header and the token's appId in its body (10094 when it
 * is another app's), and a requestId of at most 64 characters: a repeated one is answered as the
 * first time and not sent again (counted as vivo_duplicates in /_mock/stats).
 *
 * Answers {"result", "desc", "taskId", "invalidUser" | "invalidUsers": [{"status", "userid"}]}:
 * 0 sent, the regIds with fault unregistered (status 1) or baddevice (status 2) listed as
 * invalid users; 10000 the authToken refused (unknown or expired); 10070 the day's quota
 * (fault quota); 10072 too fast (fault throttle); 10050 a missing or bad parameter (the mock's
 * one code for them); 10200 a refused auth request.  The codes other than 0, 10070 and 10094
 * are not confirmed from vivo's own text (doc/vendors.md, "vivo").  saveListPayload's faults
 * come from its title (it has no regIds): a title "save-throttle1" is throttled once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock.h"

#define VIVO_MAX_REGIDS		1000
#define VIVO_TOKEN_LIFE_S	86400
#define VIVO_DEDUP_SIZE		4096	/* requestIds remembered (a ring) */

long		vivo_stats_duplicates;

static struct
{
	char	   *request_id;
	char	   *answer;
}			dedup[VIVO_DEDUP_SIZE];
static int	dedup_next;
static long tasks_issued;

void
vivo_reset(void)
{
	for (int i = 0; i < VIVO_DEDUP_SIZE; i++)
	{
		free(dedup[i].request_id);
		free(dedup[i].answer);
		dedup[i].request_id = dedup[i].answer = NULL;
	}
	dedup_next = 0;
	vivo_stats_duplicates = 0;
}

static const char *
dedup_find(const char *id)
{
	for (int i = 0; i < VIVO_DEDUP_SIZE; i++)
		if (dedup[i].request_id && strcmp(dedup[i].request_id, id) == 0)
			return dedup[i].answer;
	return NULL;
}

static void
dedup_add(const char *id, const char *answer)
{
	free(dedup[dedup_next].request_id);
	free(dedup[dedup_next].answer);
	dedup[dedup_next].request_id = strdup(id);
	dedup[dedup_next].answer = strdup(answer);
	dedup_next = (dedup_next + 1) % VIVO_DEDUP_SIZE;
}

static void
vivo_result(request *r, int status, long result, const char *desc)
{
	buf			b = {0};

	buf_printf(&b, "{\"result\":%ld,\"desc\":", result);
	buf_json_str(&b, desc, strlen(desc));
	buf_puts(&b, "}");
	resp_json(r, status, b.data);
	buf_free(&b);
}

/* vivo's length: a Latin character counts one, a Chinese (any non-ASCII) one two */
static long
vivo_width(const char *s)
{
	long		n = 0;

	for (; *s; s++)
		if (((unsigned char) *s & 0xc0) != 0x80)
			n += ((unsigned char) *s & 0x80) ? 2 : 1;
	return n;
}

static bool
json_post(request *r)
{
	const char *ct = req_header(r, "content-type");

	return strcmp(r->method, "POST") == 0 && ct && strncmp(ct, "application/json", 16) == 0;
}

/* appId, as a number or a string of the configured one */
static bool
app_id_ok(const json *doc)
{
	json	   *a = json_get(doc, "appId");

	if (a == NULL || cfg.vivo_app_id == NULL)
		return false;
	if (a->type == JSON_STR)
		return strcmp(a->str, cfg.vivo_app_id) == 0;
	return a->type == JSON_NUM && a->rawlen == strlen(cfg.vivo_app_id) &&
		memcmp(a->raw, cfg.vivo_app_id, a->rawlen) == 0;
}

static const char *
str_of(const json *doc, const char *key)
{
	json	   *v = json_get(doc, key);

	return v && v->type == JSON_STR ? v->str : NULL;
}

static void
handle_auth(request *r)
{
	json	   *doc = json_post(r) ? json_parse(r->body.data ? r->body.data : "", r->body.len) : NULL;
	json	   *ts = doc ? json_get(doc, "timestamp") : NULL;
	const char *key = doc ? str_of(doc, "appKey") : NULL;
	const char *sign = doc ? str_of(doc, "sign") : NULL;

	if (doc == NULL || doc->type != JSON_OBJ)
		vivo_result(r, 200, 10200, "a JSON POST is expected");
	else if (!app_id_ok(doc) || key == NULL || cfg.vivo_app_key == NULL ||
			 strcmp(key, cfg.vivo_app_key) != 0)
		vivo_result(r, 200, 10200, "appId or appKey 不合法");
	else if (ts == NULL || ts->type != JSON_NUM ||
			 ts->num / 1000 < (double) time(NULL) - 600 || ts->num / 1000 > (double) time(NULL) + 600)
		vivo_result(r, 200, 10200, "timestamp must be milliseconds within ten minutes of now");
	else
	{
		buf			s = {0},
					t = {0},
					b = {0};
		char		md5[33];

		buf_printf(&s, "%s%s%.*s%s", cfg.vivo_app_id, cfg.vivo_app_key, (int) ts->rawlen, ts->raw,
				   cfg.vivo_app_secret ? cfg.vivo_app_secret : "");
		md5_hex(s.data, s.len, md5);
		if (sign == NULL || strcmp(sign, md5) != 0)
			vivo_result(r, 200, 10200, "sign 不合法");
		else
		{
			access_token_issue(&t, "vivo", cfg.vivo_app_id, (long) time(NULL) + VIVO_TOKEN_LIFE_S);
			buf_puts(&b, "{\"result\":0,\"desc\":\"请求成功\",\"authToken\":");
			buf_json_str(&b, t.data, t.len);
			buf_puts(&b, "}");
			resp_json(r, 200, b.data);
		}
		buf_free(&s);
		buf_free(&t);
		buf_free(&b);
	}
	json_free(doc);
	record(r, EP_VIVO_TOKEN, NULL);
}

/* What a message (send, saveListPayload) must hold; why not, or NULL. */
static const char *
check_message(const json *doc, long min_ttl)
{
	const char *title = str_of(doc, "title");
	const char *content = str_of(doc, "content");
	json	   *ttl = json_get(doc, "timeToLive");
	json	   *skip = json_get(doc, "skipType");
	json	   *notify = json_get(doc, "notifyType");
	json	   *map = json_get(doc, "clientCustomMap");
	const char *skip_content = str_of(doc, "skipContent");

	if (title == NULL || content == NULL || title[0] == '\0' || content[0] == '\0')
		return "title 和 content 不能为空";
	if (vivo_width(title) > 40)
		return "title 最多20个汉字(40个英文字符)";
	if (vivo_width(content) > 100)
		return "content 最多50个汉字(100个英文字符)";
	if (notify == NULL || notify->type != JSON_NUM || notify->num < 1 || notify->num > 4)
		return "notifyType 不合法";
	if (ttl && (ttl->type != JSON_NUM || ttl->num < min_ttl || ttl->num > 7 * 86400))
		return min_ttl > 60 ? "timeToLive must be 900 to 604800 seconds" :
			"timeToLive must be 60 to 604800 seconds";
	if (skip == NULL || skip->type != JSON_NUM || skip->num < 1 || skip->num > 4)
		return "skipType 不合法";
	if (skip->num > 1 && (skip_content == NULL || skip_content[0] == '\0' ||
						  strlen(skip_content) > 1024))
		return "skipContent 不合法";
	if (map && (map->type != JSON_OBJ || json_count(map) > 10 || map->rawlen > 1024))
		return "clientCustomMap 不合法";
	return NULL;
}

/* authToken, appId and requestId: why the request is refused, with its result code, or 0. */
static long
check_common(request *r, json **doc, const char **why)
{
	const char *tok = req_header(r, "authtoken");
	const char *rid;
	int			auth;

	*doc = NULL;
	auth = tok && cfg.vivo_app_id ? access_token_check(tok, strlen(tok), "vivo", cfg.vivo_app_id) : 0;
	if (auth != 1)
	{
		*why = auth == -1 ? "authToken 已过期" : "authToken 不合法";
		return 10000;
	}
	if (!json_post(r) || r->body_too_large)
	{
		*why = "a JSON POST is expected";
		return 10050;
	}
	*doc = json_parse(r->body.data ? r->body.data : "", r->body.len);
	if (*doc == NULL || (*doc)->type != JSON_OBJ)
	{
		*why = "the body is not a JSON object";
		return 10050;
	}
	if (!app_id_ok(*doc))
	{
		*why = "appId 与 authToken 不一致";
		return 10094;
	}
	rid = str_of(*doc, "requestId");
	if (rid == NULL || rid[0] == '\0' || strlen(rid) > 64)
	{
		*why = "requestId 不能为空, 最多64个字符";
		return 10050;
	}
	return 0;
}

/* A fault that decides the answer; true when it is set. */
static bool
answer_fault(request *r, fault_kind fk)
{
	switch (fk)
	{
		case F_DROP:
		case F_STALL:
			return true;
		case F_500:
			vivo_result(r, 500, 10001, "Internet server error!");
			return true;
		case F_5XX:
			vivo_result(r, 503, 10001, "service busy");
			return true;
		case F_THROTTLE:
			vivo_result(r, 200, 10072, "发送频率过快");
			return true;
		default:
			return false;
	}
}

/* result 0 with the invalid users of regids, as one object (send) or an array (pushToList) */
static void
answer_sent(request *r, const char *rid, char *const *regids, int n, bool list)
{
	buf			b = {0};
	int			ninvalid = 0;
	bool		quota = false;

	for (int i = 0; i < n; i++)
	{
		faults		f;

		faults_parse(regids[i], &f);
		quota = quota || f.quota;
	}
	if (quota)
	{
		vivo_result(r, 200, 10070, "发送总量超出限制");
		return;
	}
	buf_printf(&b, "{\"result\":0,\"desc\":\"请求成功\",\"taskId\":\"%ld\"", 600000000 + next_id());
	if (list)
		buf_puts(&b, ",\"invalidUsers\":[");
	for (int i = 0; i < n; i++)
	{
		faults		f;

		faults_parse(regids[i], &f);
		if (!f.unregistered && !f.baddevice)
			continue;
		buf_puts(&b, list ? (ninvalid ? "," : "") : ",\"invalidUser\":");
		buf_printf(&b, "{\"status\":%d,\"userid\":", f.unregistered ? 1 : 2);
		buf_json_str(&b, regids[i], strlen(regids[i]));
		buf_puts(&b, "}");
		ninvalid++;
	}
	if (list)
		buf_puts(&b, "]");
	buf_puts(&b, "}");
	dedup_add(rid, b.data);
	resp_json(r, 200, b.data);
	buf_free(&b);
}

static void
handle_send(request *r)
{
	json	   *doc;
	const char *why = NULL;
	long		code = check_common(r, &doc, &why);
	const char *regid = doc ? str_of(doc, "regId") : NULL;
	const char *dup;

	if (code)
		vivo_result(r, 200, code, why);
	else if ((dup = dedup_find(str_of(doc, "requestId"))) != NULL)
	{
		vivo_stats_duplicates++;
		resp_json(r, 200, dup);
	}
	else if (regid == NULL || regid[0] == '\0')
		vivo_result(r, 200, 10050, "regId 和 alias 不能同时为空");
	else if ((why = check_message(doc, 60)) != NULL)
		vivo_result(r, 200, 10050, why);
	else if (!answer_fault(r, fault_pick(r, regid, false)))
	{
		char	   *one = (char *) regid;

		answer_sent(r, str_of(doc, "requestId"), &one, 1, false);
	}
	record(r, EP_VIVO, regid);
	json_free(doc);
}

static void
handle_save(request *r)
{
	json	   *doc;
	const char *why = NULL;
	long		code = check_common(r, &doc, &why);
	const char *title = doc ? str_of(doc, "title") : NULL;
	char		key[160];

	/* the faults of a saved message are its title's */
	snprintf(key, sizeof(key), "vivo-save:%s", title ? title : "");
	if (code)
		vivo_result(r, 200, code, why);
	else if (json_get(doc, "regId") || json_get(doc, "regIds"))
		vivo_result(r, 200, 10050, "saveListPayload takes no targets");
	else if ((why = check_message(doc, 900)) != NULL)
		vivo_result(r, 200, 10050, why);
	else if (!answer_fault(r, fault_pick(r, key, false)))
	{
		faults		f;

		faults_parse(key, &f);
		if (f.quota)
			vivo_result(r, 200, 10252, "批量发送消息体超出限制");
		else
		{
			buf			b = {0};

			buf_printf(&b, "{\"result\":0,\"desc\":\"请求成功\",\"taskId\":\"L%ld\"", ++tasks_issued);
			buf_puts(&b, "}");
			resp_json(r, 200, b.data);
			buf_free(&b);
		}
	}
	{
		faults		f;

		faults_parse(key, &f);
		record(r, EP_VIVO_SAVE, faults_any(&f) ? key : NULL);
	}
	json_free(doc);
}

static void
handle_list(request *r)
{
	json	   *doc;
	const char *why = NULL;
	long		code = check_common(r, &doc, &why);
	json	   *ids = doc ? json_get(doc, "regIds") : NULL;
	const char *task = doc ? str_of(doc, "taskId") : NULL;
	char	  **regids = NULL;
	int			n = 0;
	const char *dup;
	fault_kind	fk = F_NONE;

	if (ids && ids->type == JSON_ARR)
	{
		regids = malloc(sizeof(char *) * (json_count(ids) + 1));
		for (json *e = ids->child; e; e = e->next)
			if (e->type == JSON_STR)
				regids[n++] = strdup(e->str);
	}
	if (code)
		vivo_result(r, 200, code, why);
	else if ((dup = dedup_find(str_of(doc, "requestId"))) != NULL)
	{
		vivo_stats_duplicates++;
		resp_json(r, 200, dup);
	}
	else if (n < 2 || n > VIVO_MAX_REGIDS || n != json_count(ids))
		vivo_result(r, 200, 10050, "regIds 个数大于等于2, 小于等于1000");
	else if (task == NULL || task[0] != 'L' || atol(task + 1) < 1 || atol(task + 1) > tasks_issued)
		vivo_result(r, 200, 10050, "taskId 不合法");
	else
	{
		for (int i = 0; i < n && fk == F_NONE && r->act == ACT_NONE && r->delay_ms == 0; i++)
			fk = fault_pick(r, regids[i], false);
		if (!answer_fault(r, fk))
			answer_sent(r, str_of(doc, "requestId"), regids, n, true);
	}
	record_many(r, EP_VIVO_LIST, regids, n);
	for (int i = 0; i < n; i++)
		free(regids[i]);
	free(regids);
	json_free(doc);
}

void
handle_vivo(request *r, const char *path)
{
	if (strcmp(path, "/message/auth") == 0)
		handle_auth(r);
	else if (strcmp(path, "/message/send") == 0)
		handle_send(r);
	else if (strcmp(path, "/message/saveListPayload") == 0)
		handle_save(r);
	else if (strcmp(path, "/message/pushToList") == 0)
		handle_list(r);
	else
	{
		/* /message/all, tagPush, ...: not what pushplan sends */
		vivo_result(r, 404, 404, "not found");
		record(r, EP_OTHER, NULL);
	}
}
