/*
 * route.c: dispatches a complete request to its vendor handler, serves the /_mock/
 * introspection endpoints, and holds the helpers the handlers share (faults, forms, auth).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock.h"

static long id_counter;

long
next_id(void)
{
	return ++id_counter;
}

int
recorded_status(const request *r)
{
	if (r->act == ACT_DROP)
		return STATUS_DROP;
	if (r->act == ACT_STALL)
		return STATUS_STALL;
	return r->status;
}

fault_kind
fault_pick(request *r, const char *token, bool device_faults)
{
	faults		f;
	long		seen;

	if (token == NULL)
		return F_NONE;
	faults_parse(token, &f);
	if (!faults_any(&f))
		return F_NONE;
	seen = stats_seen(token);
	r->no_retry_after = r->no_retry_after || f.noretryafter;
	if (f.drop > 0 && seen < f.drop)
	{
		r->act = ACT_DROP;
		return F_DROP;
	}
	if (f.stall > 0 && seen < f.stall)
	{
		r->act = ACT_STALL;
		return F_STALL;
	}
	r->delay_ms = f.slow_ms;
	if (f.goaway)
		r->act = ACT_GOAWAY;
	if (f.error500)
		return F_500;
	if (f.fail5xx >= 0 && seen < f.fail5xx)
		return F_5XX;
	if (f.throttle >= 0 && seen < f.throttle)
		return F_THROTTLE;
	if (device_faults && f.unregistered)
		return F_UNREGISTERED;
	if (device_faults && f.baddevice)
		return F_BADDEVICE;
	return F_NONE;
}

static int
hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *
form_get(const char *s, size_t n, const char *key)
{
	size_t		klen = strlen(key);
	const char *end = s + n;
	const char *p = s;

	while (p < end)
	{
		const char *amp = memchr(p, '&', end - p);
		const char *pe = amp ? amp : end;

		if ((size_t) (pe - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=')
		{
			buf			v = {0};

			buf_reserve(&v, pe - p);
			for (const char *q = p + klen + 1; q < pe; q++)
			{
				char		c = *q;

				if (c == '+')
					c = ' ';
				else if (c == '%' && pe - q >= 3 && hexv(q[1]) >= 0 && hexv(q[2]) >= 0)
				{
					c = (char) (hexv(q[1]) * 16 + hexv(q[2]));
					q += 2;
				}
				buf_append(&v, &c, 1);
			}
			return v.data;
		}
		else if ((size_t) (pe - p) == klen && memcmp(p, key, klen) == 0)
			return strdup("");
		p = pe + 1;
	}
	return NULL;
}

const char *
bearer_token(const request *r)
{
	const char *a = req_header(r, "authorization");

	if (a == NULL || strncasecmp(a, "bearer ", 7) != 0)
		return NULL;
	a += 7;
	while (*a == ' ')
		a++;
	return a;
}

void
record(request *r, endpoint ep, const char *token)
{
	int			status = recorded_status(r);
	lastreq    *l = lastreq_make(r);

	stats_count_request(ep, status);
	stats_endpoint_last(ep, l);
	if (token)
		stats_record(token, status, l);
	lastreq_unref(l);
}

void
record_many(request *r, endpoint ep, char *const *tokens, int ntokens)
{
	int			status = recorded_status(r);
	lastreq    *l = lastreq_make(r);

	stats_count_request(ep, status);
	stats_endpoint_last(ep, l);
	for (int i = 0; i < ntokens; i++)
		stats_record(tokens[i], status, l);
	lastreq_unref(l);
}

void
token_granted(request *r, const char *kind, const char *subject)
{
	buf			t = {0},
				b = {0};

	access_token_issue(&t, kind, subject, (long) time(NULL) + 3600);
	buf_puts(&b, "{\"access_token\":");
	buf_json_str(&b, t.data, t.len);
	buf_puts(&b, ",\"expires_in\":3600,\"token_type\":\"Bearer\"}");
	resp_json(r, 200, b.data);
	buf_free(&t);
	buf_free(&b);
}

long
utf8_chars(const char *s)
{
	long		n = 0;

	for (; *s; s++)
		n += ((unsigned char) *s & 0xc0) != 0x80;
	return n;
}

void
resp_code(request *r, int status, long code, const char *message, const char *data)
{
	buf			b = {0};

	buf_printf(&b, "{\"code\":%ld,\"message\":", code);
	buf_json_str(&b, message, strlen(message));
	if (data)
		buf_printf(&b, ",\"data\":%s", data);
	buf_puts(&b, "}");
	resp_json(r, status, b.data);
	buf_free(&b);
}

int
split_list(const char *s, char sep, char ***out)
{
	int			n = 0,
				cap = 16;
	char	  **v = malloc(sizeof(char *) * cap);
	const char *p = s;

	while (p && *p)
	{
		const char *e = strchr(p, sep);
		size_t		len = e ? (size_t) (e - p) : strlen(p);

		if (n == cap)
			v = realloc(v, sizeof(char *) * (cap *= 2));
		v[n++] = strndup(p, len);
		p = e ? e + 1 : NULL;
	}
	*out = v;
	return n;
}

/* ---- /_mock/ ---- */

/* How long the token endpoints take to answer (POST /_mock/token_delay?ms=N): a slow OAuth
 * server, so that tests can see how many senders fetch a token at once. */
static long token_delay_ms = 0;

static void
handle_mock(request *r, const char *what, const char *query)
{
	size_t		qlen = query ? strlen(query) : 0;
	char	   *token = query ? form_get(query, qlen, "token") : NULL;
	buf			out = {0};

	if (strcmp(what, "stats") == 0 && strcmp(r->method, "GET") == 0)
	{
		stats_json(&out, token);
		resp_json(r, 200, out.data);
	}
	else if (strcmp(what, "last") == 0 && strcmp(r->method, "GET") == 0)
	{
		char	   *ep = query ? form_get(query, qlen, "endpoint") : NULL;

		if (stats_last_json(&out, token, ep))
			resp_json(r, 200, out.data);
		else
			resp_json(r, 404, "{\"error\":\"no such request\"}");
		free(ep);
	}
	else if (strcmp(what, "outcomes") == 0 && strcmp(r->method, "GET") == 0)
	{
		char	   *name = query ? form_get(query, qlen, "name") : NULL;

		outcomes_json(&out, name);
		resp_json(r, 200, out.data);
		free(name);
	}
	else if (strcmp(what, "reset") == 0 && strcmp(r->method, "POST") == 0)
	{
		stats_reset();
		resp_json(r, 200, "{\"ok\":true}");
	}
	else if (strcmp(what, "webpush_subscription") == 0 && strcmp(r->method, "GET") == 0)
	{
		char	   *seed = query ? form_get(query, qlen, "seed") : NULL;

		webpush_subscription(r, seed);
		free(seed);
	}
	else if (strcmp(what, "revoke_tokens") == 0 && strcmp(r->method, "POST") == 0)
	{
		access_tokens_revoke();
		resp_json(r, 200, "{\"ok\":true}");
	}
	else if (strcmp(what, "token_delay") == 0 && strcmp(r->method, "POST") == 0)
	{
		char	   *ms = query ? form_get(query, qlen, "ms") : NULL;

		token_delay_ms = ms ? atol(ms) : 0;
		resp_json(r, 200, "{\"ok\":true}");
		free(ms);
	}
	else if (strcmp(what, "token") == 0)
	{
		/* hands out an access token with any lifetime, so tests can present expired ones */
		char	   *vendor = query ? form_get(query, qlen, "vendor") : NULL;
		char	   *ttl = query ? form_get(query, qlen, "ttl") : NULL;
		long		t = ttl ? atol(ttl) : 3600;

		if (vendor && strcmp(vendor, "fcm") == 0 && cfg.fcm_project_id)
			access_token_issue(&out, "fcm", cfg.fcm_project_id, (long) time(NULL) + t);
		else if (vendor && strcmp(vendor, "hms") == 0 && cfg.hms_app_id)
			access_token_issue(&out, "hms", cfg.hms_app_id, (long) time(NULL) + t);
		else if (vendor && strcmp(vendor, "honor") == 0 && cfg.honor_app_id)
			access_token_issue(&out, "honor", cfg.honor_app_id, (long) time(NULL) + t);
		else if (vendor && strcmp(vendor, "vivo") == 0 && cfg.vivo_app_id)
			access_token_issue(&out, "vivo", cfg.vivo_app_id, (long) time(NULL) + t);
		else if (vendor && strcmp(vendor, "oppo") == 0 && cfg.oppo_app_key)
			access_token_issue(&out, "oppo", cfg.oppo_app_key, (long) time(NULL) + t);
		if (out.len)
		{
			buf			b = {0};

			buf_puts(&b, "{\"access_token\":");
			buf_json_str(&b, out.data, out.len);
			buf_puts(&b, "}");
			resp_json(r, 200, b.data);
			buf_free(&b);
		}
		else
			resp_json(r, 400, "{\"error\":\"vendor must be fcm, hms, honor, vivo or oppo (and configured)\"}");
		free(vendor);
		free(ttl);
	}
	else
		resp_json(r, 404, "{\"error\":\"unknown mock endpoint\"}");
	free(token);
	buf_free(&out);
}

void
handle_request(request *r)
{
	char		path[2048];
	char	   *query;
	size_t		plen = strlen(r->path);

	if (plen >= sizeof(path))
	{
		resp_json(r, 414, "{\"error\":\"URI too long\"}");
		record(r, EP_OTHER, NULL);
		return;
	}
	memcpy(path, r->path, plen + 1);
	query = strchr(path, '?');
	if (query)
		*query++ = '\0';

	if (strncmp(path, "/_mock/", 7) == 0)
		handle_mock(r, path + 7, query);
	else if (strncmp(path, "/3/device", 9) == 0 && (path[9] == '/' || path[9] == '\0'))
		handle_apns(r, path[9] == '/' ? path + 10 : "");
	else if (cfg.fcm_token_path && strcmp(path, cfg.fcm_token_path) == 0)
	{
		r->delay_ms = token_delay_ms;
		handle_fcm_token(r);
	}
	else if (strcmp(path, "/oauth2/v3/token") == 0)
	{
		r->delay_ms = token_delay_ms;
		handle_hms_token(r);
	}
	else if (strcmp(path, "/auth/realms/developer/protocol/openid-connect/token") == 0)
	{
		r->delay_ms = token_delay_ms;
		handle_honor_token(r);
	}
	else if (strncmp(path, "/api/v1/", 8) == 0 && strlen(path) > 20 &&
			 strcmp(path + strlen(path) - 12, "/sendMessage") == 0)
	{
		path[strlen(path) - 12] = '\0';
		handle_honor_send(r, path + 8);
	}
	else if (strncmp(path, "/v3/", 4) == 0 && strlen(path) > 18 &&
			 strcmp(path + strlen(path) - 14, "/messages:send") == 0)
	{
		path[strlen(path) - 14] = '\0';
		handle_harmony_send(r, path + 4);
	}
	else if (strncmp(path, "/v3/message/", 12) == 0 || strncmp(path, "/v2/message/", 12) == 0)
		handle_xiaomi_send(r, path);
	else if (strncmp(path, "/garcia/api/server/push/", 24) == 0)
		handle_meizu_send(r, path + 24);
	else if (strncmp(path, "/message/", 9) == 0)
		handle_vivo(r, path);
	else if (strcmp(path, "/server/v1/auth") == 0)
	{
		r->delay_ms = token_delay_ms;
		handle_oppo_auth(r);
	}
	else if (strncmp(path, "/server/v1/message/notification/", 32) == 0)
		handle_oppo_send(r, path + 32);
	else if (strncmp(path, "/v1/", 4) == 0 && strlen(path) > 18 &&
			 strcmp(path + strlen(path) - 14, "/messages:send") == 0)
	{
		char	   *id = path + 4;

		path[strlen(path) - 14] = '\0';
		if (strncmp(id, "projects/", 9) == 0)
			handle_fcm_send(r, id + 9);
		else
			handle_hms_send(r, id);
	}
	else if (strncmp(path, "/outcomes/", 10) == 0)
		handle_outcomes(r, path + 10, query);
	else if (strncmp(path, "/webhook/", 9) == 0 || strcmp(path, "/webhook") == 0)
		handle_webhook(r);
	else if (strncmp(path, "/wp/", 4) == 0)
		handle_webpush(r, path + 4);
	else
	{
		resp_json(r, 404, "{\"error\":\"not found\"}");
		record(r, EP_OTHER, NULL);
	}
}
