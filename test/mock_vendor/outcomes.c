/*
 * outcomes.c: a receiver of pushplan's delivery-outcome webhook (doc/statistics.md, "Outcome
 * webhook"), for the tests: POST /outcomes/<name>[?fail500=N&slow=MS].
 *
 * It checks what a receiver should: the signature (X-Pushplan-Signature: sha256=<hex
 * HMAC-SHA256(outcomes_secret, raw body)>, else 401), a JSON body with a batch_id and an
 * outcomes array, and an Idempotency-Key header equal to the batch_id (else 400). Faults come
 * from the query: fail500=N answers 500 to the first N requests of that name (since the last
 * reset), slow=MS answers every request after MS ms (a timer: other requests go on).
 *
 * Every request is recorded, answered or refused, with its outcomes as received; GET
 * /_mock/outcomes[?name=X] gives them in the order they came, and /_mock/reset forgets them.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

#define MAX_RECEIVED	100000	/* requests remembered; more are answered, counted, not kept */

typedef struct received
{
	char	   *name;
	char	   *batch_id;		/* from the body; NULL if none */
	char	   *key;			/* the Idempotency-Key header */
	char	   *attempt;		/* the X-Pushplan-Attempt header */
	bool		signature_ok;
	int			status;
	uint64_t	received_at_us;
	int			delay_ms;
	char	   *outcomes;		/* the outcomes array's JSON text, as received */
	int			count;
} received;

static received *recs = NULL;
static int	nrecs = 0;
static int	maxrecs = 0;
static long dropped_records = 0;

static bool
signature_ok(const request *r)
{
	const char *sig = req_header(r, "x-pushplan-signature");
	char		want[65];
	unsigned char diff = 0;

	if (sig == NULL || cfg.outcomes_secret == NULL || strncmp(sig, "sha256=", 7) != 0 ||
		strlen(sig + 7) != 64)
		return false;
	hmac_sha256_hex(cfg.outcomes_secret, strlen(cfg.outcomes_secret),
					r->body.data ? r->body.data : "", r->body.len, want);
	for (int i = 0; i < 64; i++)
		diff |= (unsigned char) (tolower((unsigned char) sig[7 + i]) ^ want[i]);
	return diff == 0;
}

/* requests of this name already seen */
static int
seen(const char *name)
{
	int			n = 0;

	for (int i = 0; i < nrecs; i++)
		if (strcmp(recs[i].name, name) == 0)
			n++;
	return n;
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void
handle_outcomes(request *r, const char *name, const char *query)
{
	size_t		qlen = query ? strlen(query) : 0;
	char	   *fail = query ? form_get(query, qlen, "fail500") : NULL;
	char	   *slow = query ? form_get(query, qlen, "slow") : NULL;
	json	   *doc = NULL;
	json	   *id = NULL;
	json	   *list = NULL;
	const char *key = req_header(r, "idempotency-key");
	bool		sig = false;
	received	rec = {0};

	if (strcmp(r->method, "POST") != 0)
		resp_json(r, 405, "{\"ok\":false,\"error\":\"method not allowed\"}");
	else if (r->body_too_large)
		resp_json(r, 413, "{\"ok\":false,\"error\":\"body too large\"}");
	else if (!(sig = signature_ok(r)))
		resp_json(r, 401, "{\"ok\":false,\"error\":\"bad signature\"}");
	else
	{
		doc = json_parse(r->body.data ? r->body.data : "", r->body.len);
		id = json_get(doc, "batch_id");
		list = json_get(doc, "outcomes");
		if (id == NULL || id->type != JSON_STR || list == NULL || list->type != JSON_ARR)
			resp_json(r, 400, "{\"ok\":false,\"error\":\"a body with batch_id and outcomes expected\"}");
		else if (key == NULL || strcmp(key, id->str) != 0)
			resp_json(r, 400, "{\"ok\":false,\"error\":\"Idempotency-Key is not the batch_id\"}");
		else if (fail && seen(name) < atoi(fail))
			resp_json(r, 500, "{\"ok\":false,\"error\":\"internal error\"}");
		else
			resp_json(r, 200, "{\"ok\":true}");
	}
	if (slow)
		r->delay_ms = atoi(slow);

	if (nrecs < MAX_RECEIVED)
	{
		if (nrecs == maxrecs)
		{
			maxrecs = maxrecs ? maxrecs * 2 : 64;
			recs = realloc(recs, sizeof(received) * maxrecs);
			if (recs == NULL)
				abort();
		}
		rec.name = strdup(name);
		rec.batch_id = id && id->type == JSON_STR ? strdup(id->str) : NULL;
		rec.key = dup_or_null(key);
		rec.attempt = dup_or_null(req_header(r, "x-pushplan-attempt"));
		rec.signature_ok = sig;
		rec.status = r->status;
		rec.received_at_us = r->received_at_us;
		rec.delay_ms = r->delay_ms;
		if (list && list->type == JSON_ARR)
		{
			rec.outcomes = strndup(list->raw, list->rawlen);
			rec.count = json_count(list);
		}
		recs[nrecs++] = rec;
	}
	else
		dropped_records++;
	record(r, EP_OUTCOMES, NULL);
	json_free(doc);
	free(fail);
	free(slow);
}

static void
json_str_or_null(buf *out, const char *s)
{
	if (s)
		buf_json_str(out, s, strlen(s));
	else
		buf_puts(out, "null");
}

void
outcomes_json(buf *out, const char *name)
{
	bool		first = true;

	buf_printf(out, "{\"not_kept\":%ld,\"requests\":[", dropped_records);
	for (int i = 0; i < nrecs; i++)
	{
		received   *c = &recs[i];

		if (name && strcmp(name, c->name) != 0)
			continue;
		buf_puts(out, first ? "{\"name\":" : ",{\"name\":");
		first = false;
		json_str_or_null(out, c->name);
		buf_puts(out, ",\"batch_id\":");
		json_str_or_null(out, c->batch_id);
		buf_puts(out, ",\"key\":");
		json_str_or_null(out, c->key);
		buf_puts(out, ",\"attempt\":");
		json_str_or_null(out, c->attempt);
		buf_printf(out, ",\"signature_ok\":%s,\"status\":%d,\"received_at_us\":%llu,"
				   "\"answered_at_us\":%llu,\"count\":%d,\"outcomes\":",
				   c->signature_ok ? "true" : "false", c->status,
				   (unsigned long long) c->received_at_us,
				   (unsigned long long) (c->received_at_us + (uint64_t) c->delay_ms * 1000),
				   c->count);
		buf_puts(out, c->outcomes ? c->outcomes : "null");
		buf_puts(out, "}");
	}
	buf_puts(out, "]}");
}

void
outcomes_reset(void)
{
	for (int i = 0; i < nrecs; i++)
	{
		free(recs[i].name);
		free(recs[i].batch_id);
		free(recs[i].key);
		free(recs[i].attempt);
		free(recs[i].outcomes);
	}
	free(recs);
	recs = NULL;
	nrecs = maxrecs = 0;
	dropped_records = 0;
}
