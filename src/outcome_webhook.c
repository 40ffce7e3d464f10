/*
 * outcome_webhook.c: the delivery-outcome webhook's poster, driven by the scheduler
 * (doc/statistics.md, "Outcome webhook").
 *
 * The final outcomes of an app that has a webhook are appended to outcome_outbox in the
 * transactions that record them (the senders' outcome statement, push_cancel, the expansion's
 * failed-at-once rows). The scheduler calls pp_outcome_webhook_step on every pass of its loop:
 *
 *  - posts that finished are recorded: 2xx deletes the batch; 408, 429, 5xx and every transport
 *    error (timeout, refused or dropped connection, TLS) try it again after Retry-After or
 *    1 s, 2 s, 4 s ... capped by pushplan.retry_max_backoff; any other status (the receiver
 *    refuses these bytes, and would refuse them again), or pushplan.outcome_max_attempts
 *    attempts, give it up with a LOG line;
 *  - after an answer, or every LOOK_MS, batches are made of the outboxes (_outcome_batches_make:
 *    pushplan.outcome_batch_size outcomes, or fewer once the oldest has waited
 *    pushplan.outcome_batch_wait) and the due ones are started. While no app has a webhook,
 *    the look is every NO_WEBHOOK_LOOK_MS: a database without webhooks pays one small
 *    transaction every 5 s, not one at every pass of the scheduler's loop (a webhook just set
 *    is looked at within those 5 s).
 *
 * Nothing here waits for a receiver. The posts run on a libcurl multi handle of their own,
 * driven with a zero timeout on each pass, so a receiver that answers after seconds delays
 * neither a schedule's firing nor an expansion; the senders never post and never read the
 * outbox, so their sends do not notice it at all. While posts are in flight the idle scheduler
 * wakes every IN_FLIGHT_NAP_MS to drive them (pp_outcome_webhook_nap; a pass that finds
 * nothing finished runs no transaction), and a batch taken is followed at once by the app's
 * next one, so that the posts keep up with a broadcast (about 500 outcomes per round trip).
 *
 * At least once: a batch is committed before it is posted and deleted only once a 2xx answer
 * was read; a crash or restart in between posts it again, with the same id and the same body,
 * which is the receiver's idempotency key. One batch per app at a time
 * (outcome_batches_app_idx): an app's batches reach its receiver one after the other.
 *
 * An ERROR here (a statement that fails) is caught, logged and rolled back, and the look waits
 * ERROR_PAUSE_MS: the webhook must never take the scheduler down with it.
 */
#include "pushplan.h"
#include "workers.h"
#include "outcome_webhook.h"
#include "http.h"
#include "jwt.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define LOOK_MS				200		/* how often the outboxes are looked at */
#define NO_WEBHOOK_LOOK_MS	5000	/* ... while no app has a webhook */
#define IN_FLIGHT_NAP_MS	10		/* the scheduler's longest sleep while posts are in flight */
#define ERROR_PAUSE_MS		10000	/* after a failed statement */
#define MAX_POSTS			32		/* apps posted to at once */
#define PERFORMS_A_STEP		32		/* libcurl passes a step may run, none of them waiting */

/* A batch on the wire. */
typedef struct Post
{
	bool		used;
	bool		finished;		/* answered: its app may have its next batch */
	PPHttpReq	req;
	char		batch_id[40];
	int32		app_id;
	char	   *app;
	int			outcomes;
	int			attempt;		/* this one, from 1 */
	char	   *url;
	char	   *body;
} Post;

/* What a finished post asks of the batch. */
typedef enum PostResult
{
	POST_DELIVERED,
	POST_RETRY,
	POST_GIVE_UP
} PostResult;

static Post posts[MAX_POSTS];
static int	in_flight = 0;
static PPHttp *http = NULL;
static int	http_timeout_ms = 0;	/* what http was made with */
static char *http_ca_file = NULL;
static MemoryContext hook_cxt = NULL;
static TimestampTz last_look = 0;
static TimestampTz pause_until = 0;
static bool waiting = false;	/* the last look saw outcomes or batches waiting */

static SPIPlanPtr make_plan = NULL;
static SPIPlanPtr due_plan = NULL;
static SPIPlanPtr delete_plan = NULL;
static SPIPlanPtr retry_plan = NULL;

static void posts_record(PPHttpReq **done, int n);
static void posts_free(PPHttpReq **done, int n);

/* The multi handle, made again (when nothing is in flight) after ca_file or http_timeout changed. */
static bool
http_ready(void)
{
	const char *ca = pp_ca_file ? pp_ca_file : "";

	if (http && (http_timeout_ms != pp_http_timeout_ms || strcmp(http_ca_file, ca) != 0))
	{
		if (in_flight > 0)
			return false;		/* drains first */
		pp_http_destroy(http);
		pfree(http);
		pfree(http_ca_file);
		http = NULL;
	}
	if (http == NULL)
	{
		PPHttpOptions o = {.timeout_ms = pp_http_timeout_ms, .ca_file = ca,
		.max_conns_per_host = 2, .max_handles = MAX_POSTS};
		MemoryContext old = MemoryContextSwitchTo(hook_cxt);

		http = pp_http_create(&o);
		http_timeout_ms = pp_http_timeout_ms;
		http_ca_file = pstrdup(ca);
		MemoryContextSwitchTo(old);
	}
	return true;
}

/* Starts one batch (a row of the look's due statement); false when no slot is free. */
static bool
post_start(HeapTuple tup, TupleDesc desc)
{
	Post	   *p = NULL;
	bool		isnull;
	char	   *secret;
	char	   *id;
	char		header[80];
	MemoryContext old;

	for (int i = 0; i < MAX_POSTS && p == NULL; i++)
		if (!posts[i].used)
			p = &posts[i];
	if (p == NULL)
		return false;
	old = MemoryContextSwitchTo(hook_cxt);
	memset(p, 0, sizeof(Post));
	id = SPI_getvalue(tup, desc, 1);
	strlcpy(p->batch_id, id, sizeof(p->batch_id));
	pfree(id);
	p->app_id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	p->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull)) + 1;
	p->body = SPI_getvalue(tup, desc, 4);
	p->url = SPI_getvalue(tup, desc, 5);
	secret = SPI_getvalue(tup, desc, 6);
	p->app = SPI_getvalue(tup, desc, 7);
	p->outcomes = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
	MemoryContextSwitchTo(old);

	p->req.url = p->url;
	p->req.body = p->body;
	p->req.body_len = strlen(p->body);
	p->req.owner = p;
	/* signed as the webhook channel signs (src/jwt.c), with the secret as it is now */
	/* "expect:" (empty): no Expect: 100-continue wait before a large body over HTTP/1.1 */
	if (!pp_http_header(&p->req, "content-type: application/json") ||
		!pp_http_header(&p->req, "expect:") ||
		!pp_http_header(&p->req, pp_webhook_signature_header(secret, p->body, p->req.body_len)) ||
		!pp_http_header(&p->req, psprintf("idempotency-key: %s", p->batch_id)) ||
		(snprintf(header, sizeof(header), "x-pushplan-attempt: %d", p->attempt),
		 !pp_http_header(&p->req, header)))
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	memset(secret, 0, strlen(secret));
	pfree(secret);
	p->used = true;
	in_flight++;
	if (!pp_http_start(http, &p->req))
	{
		/* libcurl refused it (memory): an attempt that failed as a transport error would */
		PPHttpReq  *r = &p->req;

		p->req.status = 0;
		posts_record(&r, 1);
		posts_free(&r, 1);
	}
	return true;
}

static PostResult
post_result(const Post *p, char **error, int *wait_ms)
{
	const PPHttpReq *r = &p->req;
	bool		transient;
	int64		wait;

	if (r->curl_result == 0 && r->status >= 200 && r->status < 300)
		return POST_DELIVERED;
	if (r->curl_result != 0)
	{
		*error = pstrdup(pp_http_error(r));
		transient = true;		/* a connection, a certificate or a name may be fixed */
	}
	else
	{
		*error = psprintf("HTTP %d", r->status);
		transient = r->status == 408 || r->status == 429 || r->status >= 500;
	}
	if (!transient || p->attempt >= pp_outcome_max_attempts)
		return POST_GIVE_UP;
	wait = r->curl_result == 0 && r->retry_after_ms > 0 ? r->retry_after_ms :
		1000L << Min(p->attempt - 1, 20);
	*wait_ms = (int) Min(wait, (int64) pp_retry_max_backoff * 1000);
	return POST_RETRY;
}

/* Records what the finished posts ask (one transaction), and frees them. */
static void
posts_record(PPHttpReq **done, int n)
{
	for (int i = 0; i < n; i++)
	{
		Post	   *p = done[i]->owner;
		char	   *error = NULL;
		int			wait_ms = 0;
		PostResult	res = post_result(p, &error, &wait_ms);
		Datum		args[4];
		Oid			types[4] = {TEXTOID, INT4OID, INT4OID, TEXTOID};

		args[0] = CStringGetTextDatum(p->batch_id);
		if (res == POST_RETRY)
		{
			args[1] = Int32GetDatum(p->attempt);
			args[2] = Int32GetDatum(wait_ms);
			args[3] = CStringGetTextDatum(error);
			pp_spi_run_kept(&retry_plan, "keeping an outcome batch for later", SPI_OK_UPDATE,
							"UPDATE pushplan.outcome_batches SET attempts = $2, "
							"  next_at = now() + $3 * interval '1 millisecond', last_error = $4 "
							"WHERE batch_id = $1::uuid",
							4, types, args, NULL, false, 0);
		}
		else
		{
			if (res == POST_GIVE_UP)
				ereport(LOG,
						(errmsg("pushplan: outcome webhook of app \"%s\": batch %s of %d outcomes given up after %d attempt%s: %s",
								p->app, p->batch_id, p->outcomes, p->attempt,
								p->attempt == 1 ? "" : "s", error),
						 errhint("%s", p->req.curl_result == 0 && p->req.status < 500 &&
								 p->req.status != 408 && p->req.status != 429 ?
								 "The receiver refused it: a status other than 2xx, 408, 429 or 5xx is not tried again." :
								 "See pushplan.outcome_max_attempts.")));
			pp_spi_run_kept(&delete_plan, "deleting an outcome batch", SPI_OK_DELETE,
							"DELETE FROM pushplan.outcome_batches WHERE batch_id = $1::uuid",
							1, types, args, NULL, false, 0);
		}
	}
}

static void
posts_free(PPHttpReq **done, int n)
{
	for (int i = 0; i < n; i++)
	{
		Post	   *p = done[i]->owner;

		pp_http_release(http, &p->req);
		pfree(p->body);
		pfree(p->url);
		pfree(p->app);
		p->used = false;
		in_flight--;
	}
}

/* Makes the batches that are ready and starts those due, in one transaction. */
static void
look(void)
{
	Datum		args[2];
	Oid			types[2] = {INT4OID, INT4OID};
	Datum	   *busy;
	int			nbusy = 0;
	HeapTuple	tup;
	bool		isnull;
	uint64		n;

	args[0] = Int32GetDatum(pp_outcome_batch_size);
	args[1] = Int32GetDatum(pp_outcome_batch_wait_ms);
	pp_spi_run_kept(&make_plan, "making outcome batches", SPI_OK_SELECT,
					"SELECT made, waiting, hooked "
					"FROM pushplan._outcome_batches_make($1, $2 * interval '1 millisecond')",
					2, types, args, NULL, false, 0);
	tup = pp_spi_first_row("making outcome batches");
	waiting = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	if (!DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull)))
		pause_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), NO_WEBHOOK_LOOK_MS);
	if (!waiting || in_flight >= MAX_POSTS || !http_ready())
		return;

	busy = palloc(sizeof(Datum) * (in_flight + 1));
	for (int i = 0; i < MAX_POSTS; i++)
		if (posts[i].used && !posts[i].finished)
			busy[nbusy++] = Int32GetDatum(posts[i].app_id);
	args[0] = PointerGetDatum(construct_array(busy, nbusy, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = Int32GetDatum(MAX_POSTS - in_flight);
	types[0] = INT4ARRAYOID;
	n = pp_spi_run_kept(&due_plan, "reading the outcome batches due", SPI_OK_SELECT,
						"SELECT b.batch_id, b.app_id, b.attempts, b.body, w.config->>'url', "
						"  w.config->>'secret', a.app, b.outcomes "
						"FROM pushplan.outcome_batches b "
						"JOIN pushplan.outcome_webhooks w ON w.app_id = b.app_id "
						"JOIN pushplan.apps a ON a.app_id = b.app_id "
						"WHERE b.next_at <= now() AND b.app_id <> ALL ($1) "
						"ORDER BY b.next_at LIMIT $2",
						/* not read-only: it must see what this transaction recorded */
						2, types, args, NULL, false, 0);
	for (uint64 i = 0; i < n; i++)
		if (!post_start(SPI_tuptable->vals[i], SPI_tuptable->tupdesc))
			break;
}

/* One unit of work: what the finished posts ask, then a look if one is due. */
static void
step_work(PPHttpReq **done, int ndone, bool look_now)
{
	if (!pp_work_begin(look_now ? "pushplan: posting outcomes" : NULL))
		return;					/* no extension: nothing to record or post */
	if (ndone > 0)
		posts_record(done, ndone);
	if (look_now)
		look();
	pp_work_end();
}

void
pp_outcome_webhook_step(void)
{
	PPHttpReq  *done[MAX_POSTS];
	volatile int ndone = 0;
	TimestampTz now = GetCurrentTimestamp();
	bool		look_now;
	MemoryContext cxt = CurrentMemoryContext;

	if (hook_cxt == NULL)
		hook_cxt = AllocSetContextCreate(TopMemoryContext, "pushplan outcome webhook",
										 ALLOCSET_SMALL_SIZES);
	/*
	 * A pass of libcurl moves one upload buffer (16 kB) of each transfer: a few passes at once,
	 * each without waiting, so that a batch of 500 outcomes (some 120 kB) leaves in one nap.
	 */
	for (int i = 0; i < PERFORMS_A_STEP && in_flight > 0 && ndone == 0; i++)
		ndone = pp_http_run(http, 0, done, MAX_POSTS);
	/* a batch taken frees its app for the next one at once: a broadcast's outcomes keep up */
	look_now = now >= pause_until &&
		(ndone > 0 || TimestampDifferenceExceeds(last_look, now, LOOK_MS));
	if (ndone == 0 && !look_now)
		return;
	for (int i = 0; i < ndone; i++)
		((Post *) done[i]->owner)->finished = true;
	if (look_now)
		last_look = now;

	PG_TRY();
	{
		step_work(done, ndone, look_now);
	}
	PG_CATCH();
	{
		pp_work_abort_logged(cxt, LOG, "the outcome webhook's work");
		/* the batches whose answers were lost are posted again: at least once */
		pause_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ERROR_PAUSE_MS);
	}
	PG_END_TRY();
	posts_free(done, ndone);
}

long
pp_outcome_webhook_nap(long timeout_ms)
{
	if (in_flight > 0)
		return Min(timeout_ms, IN_FLIGHT_NAP_MS);
	if (waiting)
		return Min(timeout_ms, LOOK_MS);
	return timeout_ms;
}

/* The scheduler's upkeep, once a minute (_outcome_outbox_sweep). */
void
pp_outcome_webhook_sweep(void)
{
	static SPIPlanPtr sweep_plan = NULL;

	pp_spi_run_kept(&sweep_plan, "sweeping the outcome outbox", SPI_OK_SELECT,
					"SELECT pushplan._outcome_outbox_sweep()", 0, NULL, NULL, NULL, false, 0);
}
