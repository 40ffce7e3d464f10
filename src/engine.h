/*
 * engine.h: the delivery engine.  Sender workers hand it items (one device, one push) and get
 * back one outcome per item; it builds each vendor's request (vendor_util.c, vendor_<name>.c), gets the
 * vendor's auth token (auth.c, cached in shared memory) and drives the HTTP/2 transfers on one
 * long-lived curl multi handle (http.c).
 *
 * It runs outside transactions: no SPI, no catalog access; everything it needs is in the items.
 * pp_engine_submit copies what it needs, so the caller may free an item right after.  Outcomes
 * are palloc'd in the caller's CurrentMemoryContext at pp_engine_poll.
 */
#ifndef PUSHPLAN_ENGINE_H
#define PUSHPLAN_ENGINE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef enum PPOutcomeKind
{
	PP_OUT_SENT,				/* vendor accepted; vendor_message_id may be set */
	PP_OUT_RETRY,				/* transient (429, 5xx, timeout, dropped connection): retry after
								 * retry_after_ms */
	PP_OUT_INVALID_TOKEN,		/* APNs 410/BadDeviceToken, FCM UNREGISTERED, HMS illegal token:
								 * invalidate device */
	PP_OUT_FAILED				/* permanent failure (other 4xx, payload rejected, bad credentials) */
} PPOutcomeKind;

typedef struct PPSendItem
{
	int64		delivery_id;	/* caller's key, echoed in the outcome */
	int32		app_id;
	const char *vendor;			/* apns | fcm | hms | webhook */
	const char *token;
	const char *platform;		/* android | ios | web | harmony; NULL: the vendor's usual one */
	const char *language;		/* may be NULL */
	const char *task_id;		/* apns-id is derived from task_id + device_id; NULL: random */
	int64		device_id;
	Jsonb	   *push;			/* normalized push of the task (shared by items of one task) */
	Jsonb	   *vendor_config;	/* the app's vendor_configs.config for this vendor */
	TimestampTz expires_at;		/* time_to_live end; 0 (or less): none */
	const char *registration_id;	/* optional: echoed in the webhook body */
	bool		urgent;			/* high lane: ahead of every waiting request, even past
								 * max_inflight */
	const char *fallback;		/* a fallback's message: JSON the webhook body carries as
								 * "fallback" (doc/fallback.md); NULL for a push's delivery */
} PPSendItem;

typedef struct PPSendOutcome
{
	int64		delivery_id;
	PPOutcomeKind kind;
	int			http_status;	/* 0 if no HTTP answer */
	int			retry_after_ms; /* for PP_OUT_RETRY: Retry-After, or 0 = caller's back-off */
	char	   *error;			/* vendor reason, e.g. "Unregistered", "QUOTA_EXCEEDED",
								 * "80300007"; NULL if sent */
	char	   *vendor_message_id;	/* apns-id, FCM name, HMS requestId; NULL if none */
	int			latency_us;		/* request sent to answer read; -1 if no HTTP answer */
	/*
	 * PP_OUT_RETRY without an answer of its own: the connection it was on ended under it
	 * (PPHttpReq.collateral).  The caller retries it without counting an attempt, up to a cap
	 * of its own (doc/reliability.md).
	 */
	bool		collateral;
} PPSendOutcome;

typedef struct PPEngineSettings
{
	int			max_inflight;	/* HTTP requests running at once at most (others wait in the
								 * engine); fewer while fewer suffice (pp_engine_window) */
	int			http_timeout_ms;	/* whole request, connection included */
	const char *ca_file;		/* NULL or "": the system CAs */
	int			max_conns_per_host;
	int			hms_linger_ms;	/* how long an HMS group waits for more tokens (default 5) */
	bool		threaded;		/* a network thread drives the transfers (http.h): they go on
								 * while the caller claims or writes outcomes */
	int			max_unrecorded; /* threaded: items on the wire, answered or held by the caller
								 * unwritten (pp_engine_set_unrecorded), at most; 0: no bound */
} PPEngineSettings;

typedef struct PPEngine PPEngine;

/* Settings from the GUCs, max_inflight as given. */
extern void pp_engine_settings_from_gucs(PPEngineSettings *s, int max_inflight);

/*
 * The engine lives in a memory context made under CurrentMemoryContext; deleting that parent
 * (e.g. at transaction abort in a backend) also releases every curl handle.
 */
extern PPEngine *pp_engine_create(const PPEngineSettings *s);
extern void pp_engine_submit(PPEngine *e, const PPSendItem *item);
/* Items submitted whose outcome has not been returned yet. */
extern int	pp_engine_inflight(PPEngine *e);
extern int	pp_engine_window(PPEngine *e);	/* requests it lets run at once now */
extern int	pp_engine_running(PPEngine *e); /* requests open now */
/*
 * The caller holds n outcomes it has not written yet: with PPEngineSettings.max_unrecorded,
 * the engine keeps items on the wire and answered within what is left (a crash sends all of
 * them again).
 */
extern void pp_engine_set_unrecorded(PPEngine *e, int n);
/* Called while nothing is in flight: the HTTP side gives back what it keeps (pp_http_idle). */
extern void pp_engine_idle(PPEngine *e);

/*
 * Drives the transfers for up to timeout_ms (or until something completes); returns completed
 * outcomes (palloc'd in the caller's current context), at most max_out.
 */
extern int	pp_engine_poll(PPEngine *e, int timeout_ms, PPSendOutcome *out, int max_out);
/* What is left of an answer pp_engine_poll handed out in part (a batched vendor's) */
extern int	pp_engine_answer_left(PPEngine *e);
extern void pp_engine_destroy(PPEngine *e);

/*
 * Build-time check used by push_send: every vendor payload of this push, for each of its
 * platforms and languages, fits the vendor's size limit; ereports 92510 (SQLSTATE 54000)
 * otherwise.
 */
extern void pp_message_check(Jsonb *push);
/* The same, with title and alert limits of the named vendors only (a List of char *). */
extern void pp_message_check_for(Jsonb *push, List *vendors);

extern const char *pp_outcome_name(PPOutcomeKind kind);

/* auth.c: shared token cache, called from _PG_init's shmem hooks */
extern void pp_auth_shmem_request(void);
extern void pp_auth_shmem_startup(void);
/*
 * On the distributed layout, in a unit of work: the vendor tokens this node fetched out to the
 * other nodes, theirs in (auth_share.c); _due says whether there is anything to do.
 */
extern void pp_auth_share(void);
extern bool pp_auth_share_due(void);

#endif							/* PUSHPLAN_ENGINE_H */
