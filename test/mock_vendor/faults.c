/*
 * faults.c: the fault grammar read from device tokens, and the statistics the tests read
 * back through /_mock/stats and /_mock/last.
 *
 * Per-token state (request count, statuses, last request) lives in a chained hash table.
 * Tokens that carry a fault keyword are always tracked (their counters drive the fault);
 * other tokens are tracked up to cfg.max_tokens, so a benchmark over millions of devices
 * keeps the mock's memory bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "mock.h"

#define MAX_STATUSES 12

const char *const endpoint_names[EP__COUNT] = {
	"apns", "fcm", "fcm_token", "hms", "hms_token", "webhook", "webpush", "honor", "honor_token",
	"xiaomi", "meizu",
	"vivo", "vivo_list", "vivo_save", "vivo_token",
	"harmony", "oppo", "oppo_token", "outcomes", "other"
};

struct lastreq
{
	int			refs;
	char	   *method;
	char	   *path;
	bool		http2;
	uint64_t	received_at_us;
	buf			hbuf;
	int			nhdr;
	buf			body;
};

typedef struct tokstat
{
	struct tokstat *next;
	char	   *token;
	long		requests;
	int			nstatus;
	int			status[MAX_STATUSES];
	long		count[MAX_STATUSES];
	lastreq    *last;
} tokstat;

static tokstat **table;
static size_t table_size;
static size_t ntokens;
static long untracked;
static long total_requests;
static long by_status[600];
static long by_endpoint[EP__COUNT];
static lastreq *endpoint_last[EP__COUNT];

/* ---- fault grammar ---- */

/* Finds keyword in token; if found, *num gets the decimal number that follows (or dflt). */
static bool
keyword(const char *token, const char *kw, int dflt, int *num)
{
	const char *p = strstr(token, kw);

	if (p == NULL)
		return false;
	if (num)
	{
		const char *d = p + strlen(kw);
		long		v = 0;
		bool		any = false;

		while (*d >= '0' && *d <= '9' && v < 100000000)
		{
			v = v * 10 + (*d++ - '0');
			any = true;
		}
		*num = any ? (int) v : dflt;
	}
	return true;
}

void
faults_parse(const char *token, faults *f)
{
	memset(f, 0, sizeof(*f));
	f->throttle = f->fail5xx = -1;
	if (token == NULL)
		return;
	f->unregistered = keyword(token, "unregistered", 0, NULL);
	f->baddevice = keyword(token, "baddevice", 0, NULL);
	f->error500 = keyword(token, "error500", 0, NULL);
	f->goaway = keyword(token, "goaway", 0, NULL);
	f->quota = keyword(token, "quota", 0, NULL);
	f->noretryafter = keyword(token, "noretryafter", 0, NULL);
	if (!keyword(token, "throttle", 1, &f->throttle))
		f->throttle = -1;
	if (!keyword(token, "fail5xx", 1, &f->fail5xx))
		f->fail5xx = -1;
	if (!keyword(token, "slow", 1000, &f->slow_ms))
		f->slow_ms = 0;
	if (!keyword(token, "drop", 1, &f->drop))
		f->drop = 0;
	if (!keyword(token, "stall", 1, &f->stall))
		f->stall = 0;
}

bool
faults_any(const faults *f)
{
	return f->unregistered || f->baddevice || f->error500 || f->goaway || f->quota ||
		f->throttle >= 0 || f->fail5xx >= 0 || f->slow_ms > 0 || f->drop > 0 || f->stall > 0;
}

/* ---- token table ---- */

static size_t
hash_str(const char *s)
{
	size_t		h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char) *s++) * 1099511628211ULL;
	return h;
}

static tokstat *
lookup(const char *token, bool create)
{
	size_t		h;
	tokstat    *t;

	if (table == NULL)
	{
		if (!create)
			return NULL;
		table_size = 4096;
		table = calloc(table_size, sizeof(tokstat *));
	}
	h = hash_str(token) & (table_size - 1);
	for (t = table[h]; t; t = t->next)
		if (strcmp(t->token, token) == 0)
			return t;
	if (!create)
		return NULL;
	if ((long) ntokens >= cfg.max_tokens)
	{
		faults		f;

		faults_parse(token, &f);
		if (!faults_any(&f))
			return NULL;
	}
	if (ntokens >= table_size)
	{
		/* grow: rehash into twice the buckets */
		size_t		nsize = table_size * 2;
		tokstat   **nt = calloc(nsize, sizeof(tokstat *));

		for (size_t i = 0; i < table_size; i++)
			for (tokstat *e = table[i], *n; e; e = n)
			{
				size_t		b = hash_str(e->token) & (nsize - 1);

				n = e->next;
				e->next = nt[b];
				nt[b] = e;
			}
		free(table);
		table = nt;
		table_size = nsize;
		h = hash_str(token) & (table_size - 1);
	}
	t = calloc(1, sizeof(tokstat));
	t->token = strdup(token);
	t->next = table[h];
	table[h] = t;
	ntokens++;
	return t;
}

long
stats_seen(const char *token)
{
	tokstat    *t = lookup(token, false);

	return t ? t->requests : 0;
}

lastreq *
lastreq_make(const request *r)
{
	lastreq    *l = calloc(1, sizeof(lastreq));

	l->refs = 1;
	l->method = strdup(r->method ? r->method : "");
	l->path = strdup(r->path ? r->path : "");
	l->http2 = r->http2;
	l->received_at_us = r->received_at_us;
	buf_append(&l->hbuf, r->hbuf.data ? r->hbuf.data : "", r->hbuf.len);
	l->nhdr = r->nhdr;
	buf_append(&l->body, r->body.data ? r->body.data : "", r->body.len);
	return l;
}

void
lastreq_unref(lastreq *l)
{
	if (l == NULL || --l->refs > 0)
		return;
	free(l->method);
	free(l->path);
	buf_free(&l->hbuf);
	buf_free(&l->body);
	free(l);
}

void
stats_endpoint_last(endpoint ep, lastreq *l)
{
	l->refs++;
	lastreq_unref(endpoint_last[ep]);
	endpoint_last[ep] = l;
}

void
stats_record(const char *token, int status, lastreq *l)
{
	tokstat    *t;
	int			i;

	if (status < 0 || status >= 600)
		status = 0;
	if (token == NULL)
		return;
	t = lookup(token, true);
	if (t == NULL)
	{
		untracked++;
		return;
	}
	t->requests++;
	for (i = 0; i < t->nstatus; i++)
		if (t->status[i] == status)
			break;
	if (i == t->nstatus && i < MAX_STATUSES)
	{
		t->status[i] = status;
		t->count[i] = 0;
		t->nstatus++;
	}
	if (i < MAX_STATUSES)
		t->count[i]++;
	if (l)
	{
		l->refs++;
		lastreq_unref(t->last);
		t->last = l;
	}
}

/* Counts one request (not per token: an HMS request names up to 1000 tokens). */
void
stats_count_request(endpoint ep, int status)
{
	if (status < 0 || status >= 600)
		status = 0;
	total_requests++;
	by_status[status]++;
	by_endpoint[ep]++;
}

static void
status_key(buf *out, int status)
{
	if (status == STATUS_DROP)
		buf_puts(out, "\"drop\"");
	else if (status == STATUS_STALL)
		buf_puts(out, "\"stall\"");
	else
		buf_printf(out, "\"%d\"", status);
}

static void
token_json(buf *out, const tokstat *t)
{
	buf_json_str(out, t->token, strlen(t->token));
	buf_printf(out, ":{\"requests\":%ld,\"status\":{", t->requests);
	for (int i = 0; i < t->nstatus; i++)
	{
		if (i)
			buf_puts(out, ",");
		status_key(out, t->status[i]);
		buf_printf(out, ":%ld", t->count[i]);
	}
	buf_puts(out, "}}");
}

void
stats_json(buf *out, const char *only_token)
{
	bool		first = true;

	buf_printf(out, "{\"requests\":%ld,\"status\":{", total_requests);
	for (int s = 0; s < 600; s++)
		if (by_status[s])
		{
			if (!first)
				buf_puts(out, ",");
			first = false;
			status_key(out, s);
			buf_printf(out, ":%ld", by_status[s]);
		}
	buf_puts(out, "},\"endpoints\":{");
	for (int e = 0; e < EP__COUNT; e++)
		buf_printf(out, "%s\"%s\":%ld", e ? "," : "", endpoint_names[e], by_endpoint[e]);
	buf_printf(out, "},\"connections\":{\"accepted\":%ld,\"open\":%ld,\"h2\":%ld,\"http1\":%ld,"
			   "\"apns_two_teams\":%ld,\"apns_two_keys\":%ld,\"untrusted\":%ld,\"silent\":%ld}",
			   conn_stats_accepted, conn_stats_open, conn_stats_h2, conn_stats_http1,
			   conn_stats_apns_two_teams, conn_stats_apns_two_keys,
			   listen_untrusted_accepted, listen_silent_accepted);
	buf_printf(out, ",\"revocations\":%ld", revocations);
	buf_printf(out, ",\"vivo_duplicates\":%ld", vivo_stats_duplicates);
	buf_printf(out, ",\"untracked\":%ld,\"tokens\":{", untracked);
	first = true;
	if (only_token)
	{
		tokstat    *t = lookup(only_token, false);

		if (t)
			token_json(out, t);
	}
	else
		for (size_t i = 0; i < table_size; i++)
			for (tokstat *t = table[i]; t; t = t->next)
			{
				if (!first)
					buf_puts(out, ",");
				first = false;
				token_json(out, t);
			}
	buf_puts(out, "}}");
}

static void
last_json(buf *out, const lastreq *l)
{
	size_t		pos = 0;
	bool		first = true;

	buf_puts(out, "{\"method\":");
	buf_json_str(out, l->method, strlen(l->method));
	buf_puts(out, ",\"path\":");
	buf_json_str(out, l->path, strlen(l->path));
	buf_printf(out, ",\"http2\":%s,\"received_at_us\":%llu,\"headers\":{", l->http2 ? "true" : "false",
			   (unsigned long long) l->received_at_us);
	for (int i = 0; i < l->nhdr; i++)
	{
		const char *n = l->hbuf.data + pos;
		const char *v = n + strlen(n) + 1;

		pos = (v + strlen(v) + 1) - l->hbuf.data;
		if (!first)
			buf_puts(out, ",");
		first = false;
		buf_json_str(out, n, strlen(n));
		buf_puts(out, ":");
		buf_json_str(out, v, strlen(v));
	}
	buf_puts(out, "},\"body\":");
	buf_json_str(out, l->body.data ? l->body.data : "", l->body.len);
	buf_puts(out, "}");
}

bool
stats_last_json(buf *out, const char *token, const char *endpoint_name)
{
	if (token)
	{
		tokstat    *t = lookup(token, false);

		if (t == NULL || t->last == NULL)
			return false;
		last_json(out, t->last);
		return true;
	}
	for (int e = 0; e < EP__COUNT; e++)
		if (endpoint_name && strcmp(endpoint_name, endpoint_names[e]) == 0 && endpoint_last[e])
		{
			last_json(out, endpoint_last[e]);
			return true;
		}
	return false;
}

void
stats_reset(void)
{
	for (size_t i = 0; i < table_size; i++)
		for (tokstat *t = table[i], *n; t; t = n)
		{
			n = t->next;
			lastreq_unref(t->last);
			free(t->token);
			free(t);
		}
	free(table);
	table = NULL;
	table_size = ntokens = 0;
	untracked = total_requests = 0;
	memset(by_status, 0, sizeof(by_status));
	memset(by_endpoint, 0, sizeof(by_endpoint));
	for (int e = 0; e < EP__COUNT; e++)
	{
		lastreq_unref(endpoint_last[e]);
		endpoint_last[e] = NULL;
	}
	vivo_reset();
	outcomes_reset();
}

void
stats_free(void)
{
	stats_reset();
}
