/*
 * engine.c: the delivery engine (engine.h): items in, one outcome per item out.
 *
 * Each request is a "transfer" with its own small memory context (the built request, its
 * items, their results), deleted once its outcomes are handed out: memory stays flat whatever
 * the number of items sent.  A transfer goes
 *   grouping (HMS only: waits up to hms_linger_ms for more tokens of the same message)
 *   -> pending (waits for a free slot under max_inflight; an urgent one, of the high lane,
 *      goes ahead of the others and does not wait for a slot)
 *   -> running (auth token attached, on the curl multi handle)
 *   -> done (results ready; handed out by pp_engine_poll, possibly over several calls).
 * A refused auth token (APNs ExpiredProviderToken, FCM 401, HMS 401, OPPO code 11) sends the
 * transfer back to pending once, with a fresh token; so does, for an urgent transfer, the loss of
 * its connection.  A vendor with a first step
 * (PPVendor.prepare, vivo's saveListPayload) runs it in the same slot: its answer sends the
 * transfer back to pending for the second request (pushToList), or ends it with the first
 * step's result.
 */
#include "pushplan.h"
#include "workers.h"

#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "lib/ilist.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "settings.h"
#include "vendor.h"


#define PP_DEFAULT_LINGER_MS 5

/*
 * The window of requests on the wire (below): at least WINDOW_MIN, at most max_inflight; for
 * each vendor, twice the requests it answers in its quickest answer time. A vendor's answer rate
 * is sampled every RATE_SAMPLE_MS and the highest of the last RATE_SAMPLES samples is kept (one
 * second); its quickest answer time is the lowest of this RTT_EPOCH_MS and the previous one.
 * Requests open for ten of their vendor's quickest answer times, and at least LATE_MIN_MS, are
 * late: they do not count against it.
 */
#define WINDOW_MIN			16
#define WINDOW_GAIN			2
#define RATE_SAMPLE_MS		100
#define RATE_SAMPLES		10
#define RTT_EPOCH_MS		10000
#define LATE_MIN_MS			100

void
pp_engine_settings_from_gucs(PPEngineSettings *s, int max_inflight)
{
	memset(s, 0, sizeof(*s));
	s->max_inflight = max_inflight;
	s->http_timeout_ms = pp_http_timeout_ms;
	s->ca_file = pp_ca_file;
	s->max_conns_per_host = pp_max_conns_per_host;
	s->hms_linger_ms = PP_DEFAULT_LINGER_MS;
	s->max_unrecorded = pp_max_unrecorded;
}

/* ---- the engine ----------------------------------------------------------------------------- */

typedef enum PPXferState
{
	PP_X_GROUPING,
	PP_X_PENDING,
	PP_X_RUNNING,
	PP_X_DONE
} PPXferState;

typedef struct PPXfer
{
	dlist_node	node;
	MemoryContext cxt;
	MemoryContextCallback cb;
	struct PPEngine *engine;
	PPXferState state;
	const PPVendor *vendor;
	PPVendorConfig cfg;
	PPRequest	req;
	char	   *group_key;		/* HMS */
	TimestampTz linger_until;
	int64		group_bytes;	/* built body and token of each item: PPVendor.batch_bytes */
	int			nitems;
	int			cap;
	int64	   *ids;
	char	  **tokens;
	PPItemResult *results;
	char	   *auth_token;
	bool		auth_retried;
	bool		conn_retried;	/* urgent: sent again once at once, its connection lost */
	StringInfoData final_body;	/* HMS: the assembled body */
	bool		preparing;		/* on the wire: the first step (PPVendor.prepare) */
	PPHttpReq	http;
	int			http_status;
	int			retry_after_ms;
	int			handed;
	bool		urgent;			/* PPSendItem.urgent of its items */
	TimestampTz started_at;		/* put on the wire (PP_X_RUNNING) */
	struct PPVendorPace *pace;	/* its vendor's answers, for the window */
} PPXfer;

/* What one vendor's answers measure, for the window (pp_engine_update_window). */
typedef struct PPVendorPace
{
	const PPVendor *vendor;
	int64		rtt_min_us;		/* quickest answer of this epoch (0: none yet) */
	int64		rtt_prev_us;	/* ... and of the previous one */
	int			answered;		/* answers since the engine's rate_start */
	double		rates[RATE_SAMPLES];	/* answers per second, the last samples */
} PPVendorPace;

struct PPEngine
{
	MemoryContext cxt;
	MemoryContextCallback cb;
	PPEngineSettings s;
	PPHttpOptions http_options; /* from s: the multi handle's, and token fetches' */
	PPHttp	   *http;
	dlist_head	grouping;
	dlist_head	pending;
	dlist_head	done;
	dlist_head	running_list;	/* the PP_X_RUNNING transfers, oldest first */
	int			running;		/* transfers on the multi handle */
	int			windowed;		/* ... of vendors without connection groups (the window's) */
	int			pending_grouped;	/* pending transfers of vendors with groups (not windowed) */
	int			inflight;		/* items not yet handed out */
	/*
	 * The window: how many transfers may run at once (urgent ones aside), from what the answers
	 * measure (pp_engine_update_window).
	 */
	int			window;
	int			late;			/* late requests at the last window update */
	int			unrecorded;		/* outcomes handed out and not yet written (the caller's) */
	PPVendorPace *paces;		/* one per vendor of pp_vendors, in its order */
	int			npaces;
	TimestampTz rtt_epoch_start;
	TimestampTz rate_start;		/* the current rate sample began */
	int			rate_next;		/* the sample rate_start began */
	/*
	 * The sender's pauses: the longest time between two polls while requests were open (a
	 * claim, a write of outcomes), per sample. Answers that come during a pause wait for it.
	 */
	TimestampTz poll_end;		/* the last poll returned (0: none yet) */
	int64		pause_us;		/* longest pause of the current sample */
	int64		pauses[RATE_SAMPLES];
	/*
	 * What one pass of the multi handle finished: room for every running transfer, so each
	 * pass takes all of them off the multi handle (curl_multi_perform walks every handle still
	 * on it, finished or not).
	 */
	PPHttpReq **finished;
};

/* Releases curl resources when a context goes without pp_engine_destroy (an error). */
static void
pp_xfer_cleanup_cb(void *arg)
{
	PPXfer	   *x = arg;

	pp_http_release(x->engine->http, &x->http);
}

static void
pp_engine_cleanup_cb(void *arg)
{
	PPEngine   *e = arg;

	pp_http_destroy(e->http);
}

PPEngine *
pp_engine_create(const PPEngineSettings *s)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pushplan engine",
											  ALLOCSET_DEFAULT_SIZES);
	PPEngine   *e = MemoryContextAllocZero(cxt, sizeof(PPEngine));

	e->cxt = cxt;
	e->s = *s;
	if (e->s.max_inflight <= 0)
		e->s.max_inflight = 1000;
	if (e->s.http_timeout_ms <= 0)
		e->s.http_timeout_ms = 10000;
	if (e->s.max_conns_per_host <= 0)
		e->s.max_conns_per_host = 4;
	if (e->s.hms_linger_ms < 0)
		e->s.hms_linger_ms = PP_DEFAULT_LINGER_MS;
	e->s.ca_file = s->ca_file && s->ca_file[0] ? MemoryContextStrdup(cxt, s->ca_file) : NULL;
	e->http_options.timeout_ms = e->s.http_timeout_ms;
	e->http_options.ca_file = e->s.ca_file;
	e->http_options.max_conns_per_host = e->s.max_conns_per_host;
	e->http_options.max_handles = e->s.max_inflight;
	e->http_options.threaded = e->s.threaded;
	dlist_init(&e->grouping);
	dlist_init(&e->pending);
	dlist_init(&e->done);
	dlist_init(&e->running_list);
	e->window = Min(WINDOW_MIN, e->s.max_inflight);
	e->rtt_epoch_start = e->rate_start = GetCurrentTimestamp();
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		e->http = pp_http_create(&e->http_options);
		e->finished = palloc(sizeof(PPHttpReq *) * e->s.max_inflight);
		while (pp_vendors[e->npaces])
			e->npaces++;
		e->paces = palloc0(sizeof(PPVendorPace) * e->npaces);
		for (int i = 0; i < e->npaces; i++)
			e->paces[i].vendor = pp_vendors[i];
		MemoryContextSwitchTo(old);
	}
	e->cb.func = pp_engine_cleanup_cb;
	e->cb.arg = e;
	MemoryContextRegisterResetCallback(cxt, &e->cb);
	return e;
}

void
pp_engine_destroy(PPEngine *e)
{
	if (e)
		MemoryContextDelete(e->cxt);
}

int
pp_engine_inflight(PPEngine *e)
{
	return e->inflight;
}

int
pp_engine_window(PPEngine *e)
{
	return e->window;
}

int
pp_engine_running(PPEngine *e)
{
	return e->s.threaded ? pp_http_open(e->http) : e->running;
}

/*
 * Tells the network thread the window, and how many more items may be on the wire or answered
 * and not handed out: max_unrecorded, less what the caller holds unwritten and what waits here
 * to be handed out. Late requests (below) do not count against it either.
 */
static void
pp_engine_push_limits(PPEngine *e)
{
	int			held = e->unrecorded;
	dlist_iter	it;

	if (!e->s.threaded)
		return;
	if (e->s.max_unrecorded <= 0)
	{
		pp_http_set_limits(e->http, e->window, INT_MAX);
		return;
	}
	dlist_foreach(it, &e->done)
	{
		PPXfer	   *x = dlist_container(PPXfer, node, it.cur);

		held += x->nitems - x->handed;
	}
	/* what the window needs past its floor (a far vendor's answer time) comes on top */
	pp_http_set_limits(e->http, e->window,
					   e->s.max_unrecorded + Max(e->window - e->late - WINDOW_MIN, 0) + e->late - held);
}

void
pp_engine_set_unrecorded(PPEngine *e, int n)
{
	e->unrecorded = n;
	pp_engine_push_limits(e);
}

void
pp_engine_idle(PPEngine *e)
{
	if (e->http)
		pp_http_idle(e->http);
}

/* A vendor's quickest answer time: of this epoch, or of the previous one if that was quicker */
static int64
pp_pace_rtt(const PPVendorPace *p)
{
	return p->rtt_min_us > 0 && (p->rtt_prev_us == 0 || p->rtt_min_us < p->rtt_prev_us) ?
		p->rtt_min_us : p->rtt_prev_us;
}

/*
 * The window of requests on the wire. A request on the wire when the sender dies is sent again
 * after the restart (its answer, if any, was never recorded), so the engine keeps no more of
 * them running than the answer rates need: for each vendor, twice its answers per second times
 * its quickest answer time plus the sender's longest pause between two polls (the
 * bandwidth-delay product, as TCP's BBR sizes its window; the pause because answers wait while
 * the sender claims or writes outcomes, and a window that ran dry in each pause cost 40 % of a
 * broadcast's rate), at least WINDOW_MIN, at most max_inflight. The rest of the items wait in
 * the engine, claimed and not sent. While the window limits the rate, each answer time brings
 * as many answers as the window, so the next window is twice as large: it doubles every sample
 * until the vendor, the network or the sender's CPU is the limit (a far vendor, 150 ms away:
 * 300 requests per sender within a second in the test), and no more requests queue at the
 * vendor or in the sockets than that. Transfers of vendors with connection groups (APNs) are
 * not held by it (pp_engine_start_pending says why).
 */
static void
pp_engine_update_window(PPEngine *e)
{
	TimestampTz now = GetCurrentTimestamp();
	int64		elapsed_us = now - e->rate_start;
	bool		new_epoch;
	double		want = 0;
	int64		pause = 0;
	int			late = 0;
	dlist_iter	it;

	/* with a network thread the transfers go on while the sender pauses: no pause to cover */
	if (e->poll_end > 0 && e->running > 0 && !e->s.threaded)
		e->pause_us = Max(e->pause_us, now - e->poll_end);
	if (elapsed_us < RATE_SAMPLE_MS * 1000L)
		return;
	e->pauses[e->rate_next] = e->pause_us;
	e->pause_us = 0;
	for (int j = 0; j < RATE_SAMPLES; j++)
		pause = Max(pause, e->pauses[j]);
	new_epoch = now - e->rtt_epoch_start >= RTT_EPOCH_MS * 1000L;
	if (new_epoch)
		e->rtt_epoch_start = now;
	for (int i = 0; i < e->npaces; i++)
	{
		PPVendorPace *p = &e->paces[i];
		double		rate = 0;
		int64		rtt;

		p->rates[e->rate_next] = p->answered * 1e6 / (double) elapsed_us;
		p->answered = 0;
		if (new_epoch)
		{
			p->rtt_prev_us = p->rtt_min_us;
			p->rtt_min_us = 0;
		}
		for (int j = 0; j < RATE_SAMPLES; j++)
			rate = Max(rate, p->rates[j]);
		rtt = pp_pace_rtt(p);
		want += WINDOW_GAIN * rate * (rtt + pause) / 1e6;
	}
	e->rate_next = (e->rate_next + 1) % RATE_SAMPLES;
	e->rate_start = now;

	/*
	 * Late requests (a connection the vendor stopped reading, a request it is slow to answer)
	 * do not count against the window: they would hold back every other request of the
	 * sender until http_timeout, while their own connection is the only one stuck. They still
	 * count against max_inflight. The list is oldest first, and no request is late before
	 * LATE_MIN_MS.
	 */
	dlist_foreach(it, &e->running_list)
	{
		PPXfer	   *x = dlist_container(PPXfer, node, it.cur);
		int64		started = e->s.threaded ? pp_http_started_at(e->http, &x->http) : x->started_at;
		int64		open_us = now - started;

		if (started == 0)
			continue;			/* waiting in the network thread for the window */
		if (open_us < LATE_MIN_MS * 1000L)
		{
			if (e->s.threaded)
				continue;		/* handed over in order, but not put on the wire in order */
			break;
		}
		if (open_us >= 10 * pp_pace_rtt(x->pace))
			late++;
	}
	want = Max(want, (double) WINDOW_MIN) + late;
	e->window = (int) Min(want, (double) e->s.max_inflight);
	e->late = late;
}

/* An answer (with an HTTP status) of a request of latency_us: for the window. */
static void
pp_engine_note_answer(PPVendorPace *p, int64 latency_us)
{
	p->answered++;
	if (latency_us > 0 && (p->rtt_min_us == 0 || latency_us < p->rtt_min_us))
		p->rtt_min_us = latency_us;
}

static PPXfer *
pp_xfer_new(PPEngine *e, const PPVendor *v, int cap)
{
	MemoryContext cxt = AllocSetContextCreate(e->cxt, "pushplan delivery",
											  ALLOCSET_SMALL_SIZES);
	PPXfer	   *x = MemoryContextAllocZero(cxt, sizeof(PPXfer));

	x->cxt = cxt;
	x->engine = e;
	x->vendor = v;
	x->cap = cap;
	x->pace = &e->paces[0];
	for (int i = 0; i < e->npaces; i++)
		if (e->paces[i].vendor == v)
			x->pace = &e->paces[i];
	x->ids = MemoryContextAlloc(cxt, sizeof(int64) * cap);
	x->tokens = MemoryContextAlloc(cxt, sizeof(char *) * cap);
	x->results = MemoryContextAllocZero(cxt, sizeof(PPItemResult) * cap);
	x->cb.func = pp_xfer_cleanup_cb;
	x->cb.arg = x;
	MemoryContextRegisterResetCallback(cxt, &x->cb);
	return x;
}

static void
pp_xfer_add_item(PPXfer *x, int64 id, const char *token)
{
	if (x->nitems == x->cap)
	{
		x->cap *= 2;
		x->ids = repalloc(x->ids, sizeof(int64) * x->cap);
		x->tokens = repalloc(x->tokens, sizeof(char *) * x->cap);
		x->results = repalloc(x->results, sizeof(PPItemResult) * x->cap);
	}
	x->ids[x->nitems] = id;
	x->tokens[x->nitems] = MemoryContextStrdup(x->cxt, token ? token : "");
	memset(&x->results[x->nitems], 0, sizeof(PPItemResult));
	x->nitems++;
}

/* Every item of x gets the same result; x goes to done. */
static void
pp_xfer_finish_all(PPEngine *e, PPXfer *x, PPOutcomeKind kind, const char *error)
{
	MemoryContext old = MemoryContextSwitchTo(x->cxt);

	for (int i = 0; i < x->nitems; i++)
		pp_result_set(&x->results[i], kind, error, NULL);
	MemoryContextSwitchTo(old);
	x->state = PP_X_DONE;
	dlist_push_tail(&e->done, &x->node);
}

/* x waits for a slot: behind the urgent transfers already waiting if it is urgent, else last. */
static void
pp_engine_enqueue(PPEngine *e, PPXfer *x)
{
	x->state = PP_X_PENDING;
	if (x->vendor->conn_group)
		e->pending_grouped++;
	if (x->urgent)
	{
		dlist_node *after = NULL;
		dlist_iter	it;

		dlist_foreach(it, &e->pending)
		{
			if (!dlist_container(PPXfer, node, it.cur)->urgent)
				break;
			after = it.cur;
		}
		if (after)
			dlist_insert_after(after, &x->node);
		else
			dlist_push_head(&e->pending, &x->node);
	}
	else
		dlist_push_tail(&e->pending, &x->node);
}

void
pp_engine_submit(PPEngine *e, const PPSendItem *item)
{
	const PPVendor *v = pp_vendor_find(item->vendor);
	/* an unknown vendor's item gets a transfer of any vendor: it fails before it is built */
	PPXfer	   *x = pp_xfer_new(e, v ? v : pp_vendors[0], v ? Min(v->max_tokens, 16) : 1);
	MemoryContext old = MemoryContextSwitchTo(x->cxt);
	PPMsgInput	in = {0};
	char	   *why = NULL;

	e->inflight++;
	pp_xfer_add_item(x, item->delivery_id, item->token);
	x->urgent = item->urgent;
	if (v == NULL)
	{
		pp_xfer_finish_all(e, x, PP_OUT_FAILED,
						   psprintf("vendor \"%s\" is not supported by the delivery engine",
									item->vendor ? item->vendor : ""));
		MemoryContextSwitchTo(old);
		return;
	}
	if (item->token == NULL || item->token[0] == '\0')
	{
		pp_xfer_finish_all(e, x, PP_OUT_INVALID_TOKEN, "empty device token");
		MemoryContextSwitchTo(old);
		return;
	}
	if (item->expires_at > 0 && item->expires_at <= pp_clock_current())
	{
		pp_xfer_finish_all(e, x, PP_OUT_FAILED, "expired before it could be sent");
		MemoryContextSwitchTo(old);
		return;
	}
	if (v->token_problem && (why = v->token_problem(item->token, NULL)) != NULL)
	{
		pp_xfer_finish_all(e, x, PP_OUT_INVALID_TOKEN, why);
		MemoryContextSwitchTo(old);
		return;
	}
	/*
	 * Registration refuses such tokens (92943); this holds for push_vendor_test's token and for
	 * tokens stored before that rule: CR LF or an escape never goes into a URL or a body.
	 */
	if (v->token_problem == NULL && pp_has_control(item->token, strlen(item->token)))
	{
		pp_xfer_finish_all(e, x, PP_OUT_INVALID_TOKEN, "token holds a control character");
		MemoryContextSwitchTo(old);
		return;
	}
	if (item->vendor_config == NULL || !v->config(item->vendor_config, &x->cfg, &why))
	{
		pp_xfer_finish_all(e, x, PP_OUT_FAILED, why ? why : "no vendor config");
		MemoryContextSwitchTo(old);
		return;
	}
	in.push = item->push;
	in.platform = item->platform ? item->platform : v->default_platform;
	in.language = item->language;
	in.token = item->token;
	in.task_id = item->task_id;
	in.device_id = item->device_id;
	in.registration_id = item->registration_id;
	in.expires_at = item->expires_at;
	in.fallback = item->fallback;
	v->build(&x->cfg, &in, &x->req);
	if (x->req.refused)
	{
		pp_xfer_finish_all(e, x, PP_OUT_FAILED, x->req.refused);
		MemoryContextSwitchTo(old);
		return;
	}
	if (x->req.limited_len > v->payload_limit)
	{
		pp_xfer_finish_all(e, x, PP_OUT_FAILED,
						   psprintf(PP_CODE(PPE_PAYLOAD_TOO_LARGE)
									": %s payload is %d bytes; the limit is %d",
									v->name, x->req.limited_len, v->payload_limit));
		MemoryContextSwitchTo(old);
		return;
	}
	MemoryContextSwitchTo(old);

	if (v->max_tokens > 1)
	{
		/* join an open group with the same message, or open one */
		char	   *key = psprintf("%d\n%s\n%s\n%s", item->app_id,
								   item->task_id ? item->task_id : "", x->req.url,
								   x->req.body.data);
		dlist_iter	it;

		dlist_foreach(it, &e->grouping)
		{
			PPXfer	   *g = dlist_container(PPXfer, node, it.cur);

			if (g->vendor == v && strcmp(g->group_key, key) == 0)
			{
				int64		bytes = x->req.body.len + strlen(item->token);

				pp_xfer_add_item(g, item->delivery_id, item->token);
				g->group_bytes += bytes;
				/* full, or the next item of this size would pass the vendor's byte bound */
				if (g->nitems >= v->max_tokens ||
					(v->batch_bytes > 0 && g->group_bytes + bytes > v->batch_bytes))
				{
					dlist_delete(&g->node);
					pp_engine_enqueue(e, g);
				}
				pfree(key);
				MemoryContextDelete(x->cxt);
				return;
			}
		}
		x->group_key = MemoryContextStrdup(x->cxt, key);
		x->group_bytes = x->req.body.len + strlen(item->token);
		pfree(key);
		x->state = PP_X_GROUPING;
		x->linger_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), e->s.hms_linger_ms);
		dlist_push_tail(&e->grouping, &x->node);
		return;
	}
	pp_engine_enqueue(e, x);
}

/* Groups whose linger is over (all when force) become pending. */
static void
pp_engine_close_groups(PPEngine *e, bool force)
{
	dlist_mutable_iter it;
	TimestampTz now = GetCurrentTimestamp();

	dlist_foreach_modify(it, &e->grouping)
	{
		PPXfer	   *g = dlist_container(PPXfer, node, it.cur);

		if (force || g->linger_until <= now)
		{
			dlist_delete(&g->node);
			pp_engine_enqueue(e, g);
		}
	}
}

/* x is not sent: its credential's daily quota is spent until held (Unix seconds). */
static void
pp_engine_hold(PPEngine *e, PPXfer *x, int64 held)
{
	int64		ms = (held - (int64) time(NULL)) * 1000;
	MemoryContext old = MemoryContextSwitchTo(x->cxt);
	char	   *why = psprintf("held until %s: the app's %s daily quota is spent",
							   timestamptz_to_str(time_t_to_timestamptz((pg_time_t) held)),
							   x->vendor->name);

	MemoryContextSwitchTo(old);
	pp_xfer_finish_all(e, x, PP_OUT_RETRY, why);
	for (int i = 0; i < x->nitems; i++)
		x->results[i].retry_after_ms = (int) Max(ms, 1000);
}

/* Attaches the auth token and puts x on the wire; on failure x goes to done. */
static void
pp_engine_start(PPEngine *e, PPXfer *x)
{
	const PPVendor *v = x->vendor;
	MemoryContext old = MemoryContextSwitchTo(x->cxt);
	char	   *why = NULL;
	bool		transient = false;
	ListCell   *lc;
	bool		ok = true;
	PPRequest  *send = &x->req;
	int64		held;

	x->cfg.audience = x->req.auth_audience;
	x->auth_token = pp_auth_token(v, &x->cfg, &e->http_options, &why, &transient, &held);
	if (held > 0)
	{
		/* the credential's daily quota is spent: not sent before it resets */
		MemoryContextSwitchTo(old);
		pp_engine_hold(e, x, held);
		return;
	}
	if (x->auth_token == NULL)
	{
		MemoryContextSwitchTo(old);
		pp_xfer_finish_all(e, x, transient ? PP_OUT_RETRY : PP_OUT_FAILED, why);
		return;
	}
	x->preparing = false;
	if (v->prepare && x->req.prepared == NULL)
	{
		PPRequest  *first = palloc0(sizeof(PPRequest));

		v->prepare(&x->cfg, &x->req, (const char *const *) x->tokens, x->nitems, first);
		if (first->url)
		{
			send = first;
			x->preparing = true;
		}
	}
	memset(&x->http, 0, sizeof(x->http));
	x->http.url = x->nitems > 1 && send->batch_url ? send->batch_url : send->url;
	x->http.owner = x;
	x->http.urgent = x->urgent;
	if (v->conn_group)
	{
		/* the vendor's name first: groups of two vendors never meet */
		StringInfoData g;

		initStringInfo(&g);
		appendStringInfo(&g, "%s:", v->name);
		v->conn_group(&x->cfg, &g);
		x->http.conn_group = g.data;
	}
	if (v->assemble && !x->preparing)
	{
		if (x->final_body.data == NULL)
			initStringInfo(&x->final_body);
		resetStringInfo(&x->final_body);
		v->assemble(&x->req, (const char *const *) x->tokens, x->nitems, &x->final_body);
		x->http.body = x->final_body.data;
		x->http.body_len = x->final_body.len;
	}
	else
	{
		x->http.body = send->body.data;
		x->http.body_len = send->body.len;
	}
	if (v->auth && v->auth->form_field)
	{
		/* the token in the form (OPPO): after the assembled body, or a copy of the built one */
		if (!v->assemble || x->preparing)
		{
			if (x->final_body.data == NULL)
				initStringInfo(&x->final_body);
			resetStringInfo(&x->final_body);
			appendBinaryStringInfo(&x->final_body, send->body.data, send->body.len);
		}
		pp_form_add(&x->final_body, v->auth->form_field, x->auth_token);
		x->http.body = x->final_body.data;
		x->http.body_len = x->final_body.len;
	}
	foreach(lc, send->headers)
		ok = ok && pp_http_header(&x->http, lfirst(lc));
	if (v->auth && v->auth->header)
		ok = ok && pp_http_header(&x->http, psprintf("%s%s", v->auth->header, x->auth_token));
	MemoryContextSwitchTo(old);
	if (!ok || !pp_http_start(e->http, &x->http))
	{
		const char *err = ok ? pstrdup(pp_http_error(&x->http)) : "out of memory";

		pp_http_release(e->http, &x->http);
		pp_xfer_finish_all(e, x, PP_OUT_RETRY, err);
		return;
	}
	x->state = PP_X_RUNNING;
	x->started_at = GetCurrentTimestamp();
	dlist_push_tail(&e->running_list, &x->node);
	e->running++;
	if (x->vendor->conn_group == NULL)
		e->windowed++;
}

static void
pp_engine_start_pending(PPEngine *e)
{
	dlist_mutable_iter it;

	/*
	 * In order; urgent ones (at the head) start even when every slot is taken. A transfer of a
	 * vendor with connection groups (APNs) is not held by the window: with few of its
	 * transfers running, libcurl 7.88.1 reset some of their shared connections under requests
	 * it had just sent (the demo: one APNs request in most runs sent twice or lost on the way,
	 * never with every request started at once), so it starts as before, up to max_inflight.
	 * A windowed transfer that must wait does not hold back the others behind it.
	 */
	dlist_foreach_modify(it, &e->pending)
	{
		PPXfer	   *x = dlist_container(PPXfer, node, it.cur);

		/* a network thread starts them as the window lets it: each is handed over at once */
		if (e->s.threaded)
		{
			dlist_delete(&x->node);
			if (x->vendor->conn_group)
				e->pending_grouped--;
			pp_engine_start(e, x);
			continue;
		}
		if (!x->urgent && e->running >= e->s.max_inflight)
			break;
		if (!x->urgent && x->vendor->conn_group == NULL && e->windowed >= e->window)
		{
			/* only the transfers of vendors with groups could start: none waits, stop here */
			if (e->pending_grouped == 0)
				break;
			continue;
		}
		dlist_delete(&x->node);
		if (x->vendor->conn_group)
			e->pending_grouped--;
		pp_engine_start(e, x);
	}
}

/* A transfer's answer: classify it, or send it back for one retry with a fresh token. */
static void
pp_engine_complete(PPEngine *e, PPXfer *x)
{
	PPHttpReq  *r = &x->http;
	MemoryContext old;

	e->running--;
	if (x->vendor->conn_group == NULL)
		e->windowed--;
	dlist_delete(&x->node);
	if (r->status > 0)
		pp_engine_note_answer(x->pace, r->total_us);
	old = MemoryContextSwitchTo(x->cxt);
	x->http_status = r->status;
	x->retry_after_ms = r->retry_after_ms;
	if (r->status == 0)
	{
		bool		transient = pp_http_error_transient(r);
		bool		collateral = r->collateral;
		char	   *err = pstrdup(pp_http_error(r));

		MemoryContextSwitchTo(old);
		pp_http_release(e->http, r);

		/*
		 * An urgent transfer (the high lane: a transactional push) lost with its connection is
		 * sent again at once, once, on another: the sender's retry would come a quarter of a
		 * second to seconds later, whereas the fault was the connection's, not the push's
		 * (src/worker_sender.c, record_collateral). A broadcast's waits, so that the requests
		 * lost together do not come back together.
		 */
		if (transient && collateral && x->urgent && !x->conn_retried)
		{
			x->conn_retried = true;
			pp_engine_enqueue(e, x);
			return;
		}
		pp_xfer_finish_all(e, x, transient ? PP_OUT_RETRY : PP_OUT_FAILED, err);
		for (int i = 0; i < x->nitems; i++)
			x->results[i].collateral = transient && collateral;
		return;
	}
	else
	{
		PPResponse	resp = {0};
		PPClassify	cls;

		resp.status = r->status;
		resp.retry_after_ms = r->retry_after_ms;
		resp.apns_id = r->apns_id[0] ? pstrdup(r->apns_id) : NULL;
		resp.body = r->resp ? r->resp : "";
		resp.body_len = r->resp_len;
		if (x->preparing)
		{
			char	   *handle = NULL;
			PPItemResult fail = {0};

			cls = x->vendor->prepared(&resp, &handle, &fail);
			for (int i = 0; i < x->nitems && handle == NULL; i++)
				x->results[i] = fail;
			x->req.prepared = handle;
		}
		else
			cls = x->vendor->classify(&resp, (const char *const *) x->tokens, x->nitems,
									  x->results);
		MemoryContextSwitchTo(old);
		pp_http_release(e->http, r);
		if (cls == PP_CLS_QUOTA_SPENT)
		{
			int			ms = 0;

			/* until the soonest retry: the others of the credential wait with them */
			for (int i = 0; i < x->nitems; i++)
				if (x->results[i].kind == PP_OUT_RETRY && x->results[i].retry_after_ms > 0 &&
					(ms == 0 || x->results[i].retry_after_ms < ms))
					ms = x->results[i].retry_after_ms;
			if (ms > 0)
				pp_auth_hold(x->vendor, &x->cfg, (int64) time(NULL) + ms / 1000);
		}
		/* a stale token is renewed once; a first step's answer sends the second request */
		if ((cls == PP_CLS_AUTH_STALE && !x->auth_retried) ||
			(cls == PP_CLS_DONE && x->preparing && x->req.prepared))
		{
			if (cls == PP_CLS_AUTH_STALE)
			{
				pp_auth_invalidate(x->vendor, &x->cfg, x->auth_token);
				x->auth_retried = true;
			}
			x->state = PP_X_PENDING;
			if (x->vendor->conn_group)
				e->pending_grouped++;
			dlist_push_head(&e->pending, &x->node);
			return;
		}
	}
	x->state = PP_X_DONE;
	dlist_push_tail(&e->done, &x->node);
}

/* Copies finished outcomes into out (caller's context); frees transfers fully handed out. */
static int
pp_engine_hand_out(PPEngine *e, PPSendOutcome *out, int max_out)
{
	int			n = 0;

	while (n < max_out && !dlist_is_empty(&e->done))
	{
		PPXfer	   *x = dlist_container(PPXfer, node, dlist_head_node(&e->done));

		while (x->handed < x->nitems && n < max_out)
		{
			PPItemResult *r = &x->results[x->handed];
			PPSendOutcome *o = &out[n++];

			o->delivery_id = x->ids[x->handed];
			o->kind = r->kind;
			o->http_status = x->http_status;
			o->retry_after_ms = r->kind != PP_OUT_RETRY ? 0 :
				r->retry_after_ms > 0 ? r->retry_after_ms : x->retry_after_ms;
			o->error = r->error ? pstrdup(r->error) : NULL;
			o->vendor_message_id = r->vendor_message_id ? pstrdup(r->vendor_message_id) : NULL;
			o->latency_us = x->http_status > 0 ? (int) Min(x->http.total_us, (int64) PG_INT32_MAX) : -1;
			o->collateral = r->kind == PP_OUT_RETRY && r->collateral;
			x->handed++;
			e->inflight--;
		}
		if (x->handed == x->nitems)
		{
			dlist_delete(&x->node);
			MemoryContextDelete(x->cxt);
		}
	}
	return n;
}

/* The outcomes of an answer handed out in part that are not handed out yet; 0 if none is. */
int
pp_engine_answer_left(PPEngine *e)
{
	PPXfer	   *x;

	if (dlist_is_empty(&e->done))
		return 0;
	x = dlist_container(PPXfer, node, dlist_head_node(&e->done));
	return x->handed > 0 ? x->nitems - x->handed : 0;
}

int
pp_engine_poll(PPEngine *e, int timeout_ms, PPSendOutcome *out, int max_out)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Max(timeout_ms, 0));
	bool		last = false;

	if (max_out <= 0)
		return 0;
	pp_engine_update_window(e);
	pp_engine_push_limits(e);
	for (;;)
	{
		int			n = pp_engine_hand_out(e, out, max_out);
		long		wait_ms;
		TimestampTz now;
		int			nfin;

		if (n > 0 || last)
		{
			e->poll_end = GetCurrentTimestamp();
			return n;
		}
		pp_engine_close_groups(e, false);
		pp_engine_start_pending(e);
		if (!dlist_is_empty(&e->done))
			continue;
		if (e->running == 0 && dlist_is_empty(&e->grouping))
		{
			e->poll_end = GetCurrentTimestamp();
			return 0;
		}
		now = GetCurrentTimestamp();
		wait_ms = (deadline - now) / 1000;
		if (wait_ms <= 0)
		{
			wait_ms = 0;
			last = true;		/* one non-blocking pass, then return */
		}
		if (!dlist_is_empty(&e->grouping))
		{
			PPXfer	   *g = dlist_container(PPXfer, node, dlist_head_node(&e->grouping));
			long		linger = (g->linger_until - now) / 1000;

			wait_ms = Min(wait_ms, Max(linger, 0));
		}
		if (e->running > 0)
		{
			nfin = pp_http_run(e->http, (int) wait_ms, e->finished, e->s.max_inflight);
			for (int i = 0; i < nfin; i++)
				pp_engine_complete(e, (PPXfer *) e->finished[i]->owner);
		}
		else if (wait_ms > 0)
			pg_usleep(wait_ms * 1000L);
	}
}
