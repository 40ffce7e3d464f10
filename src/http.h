/*
 * http.h: the curl side (http.c): one long-lived multi handle for the engine's transfers, a
 * blocking call for token endpoints.  It knows only its own options: the engine (and auth.c,
 * for token fetches) fill them from their settings.
 *
 * A request may name a connection group: requests of different groups never go on the same
 * connection (each group has its own connections to a host, up to max_conns_per_host), those of
 * one group share them, multiplexed, as requests without a group share theirs.
 */
#ifndef PUSHPLAN_HTTP_H
#define PUSHPLAN_HTTP_H

#include "postgres.h"

/* What a multi handle (or a blocking call) is made with. */
typedef struct PPHttpOptions
{
	int			timeout_ms;		/* whole request, connection included */
	const char *ca_file;		/* NULL or "": the system CAs */
	int			max_conns_per_host; /* multi handle: connections per host and connection
									 * group (at least 1) */
	int			max_handles;	/* multi handle: transfers at once, easy handles kept for reuse */
	bool		threaded;		/* multi handle: driven by a network thread (below) */
} PPHttpOptions;

typedef struct PPHttp PPHttp;

/* One request on the wire.  Inputs are set by the caller and must live until it is done. */
typedef struct PPHttpReq
{
	const char *url;
	const char *conn_group;		/* NULL: none (see above) */
	struct curl_slist *headers;	/* owned: freed when done */
	const char *body;
	size_t		body_len;
	void	   *owner;
	/* results */
	int			status;
	int			retry_after_ms;
	int64		total_us;		/* the whole transfer, connection included, as libcurl timed it */
	char		apns_id[64];
	char	   *resp;			/* malloc'd, NUL-terminated, capped */
	size_t		resp_len;
	size_t		resp_cap;
	int			curl_result;	/* CURLcode */
	/*
	 * Failed without an answer of its own: its connection was reset, closed or GOAWAY'd under
	 * it (what another request on it, or the connection itself, did), or dropped after another
	 * request on it timed out.  Not set for its own timeout, nor for a failure to connect.
	 */
	bool		collateral;
	char		errbuf[256];
	void	   *easy;			/* CURL *, while running */
	int			local_port;		/* the connection it went on (0: none yet) */
	int			remote_port;
	/* a threaded multi handle's (below) */
	bool		urgent;			/* starts ahead of the others, past the window and max_handles */
	int			where;			/* PP_HTTP_AT_*: under the lock */
	int64		started_at;		/* put on the wire by the thread (0: not yet); under the lock */
	struct PPHttpReq *next;		/* in its queue; under the lock */
} PPHttpReq;

#define PP_HTTP_AT_NONE		0	/* the caller's */
#define PP_HTTP_AT_READY	1	/* handed to the thread, waiting for the window */
#define PP_HTTP_AT_RUNNING	2	/* on the wire */
#define PP_HTTP_AT_FINISHED 3	/* finished, not yet taken by pp_http_run */

/*
 * A threaded multi handle (PPHttpOptions.threaded) is driven by a thread of its own: the
 * requests started wait in it until the window (pp_http_set_window) lets them on the wire, and
 * they are sent, answered and their answers read while the caller does other work (claims,
 * writes of outcomes); pp_http_run then only takes what finished.  The thread touches libcurl,
 * the requests handed to it and malloc'd memory only: never palloc, elog or a signal (every
 * signal is blocked in it).  It is joined by pp_http_destroy, by pp_http_release of a request it
 * still has, and at process exit.
 */
extern PPHttp *pp_http_create(const PPHttpOptions *o);
/*
 * Threaded: how many requests without a connection group may be on the wire at once (window),
 * and how many of them may be on the wire or finished and not yet taken by pp_http_run, with
 * those taken since this call (room).
 */
extern void pp_http_set_limits(PPHttp *h, int window, int room);
/* Threaded: requests on the wire now. */
extern int	pp_http_open(PPHttp *h);
/* Threaded: when r went on the wire (0: it waits for the window, or it is done). */
extern int64 pp_http_started_at(PPHttp *h, const PPHttpReq *r);
extern void pp_http_destroy(PPHttp *h);
/* Adds a header ("name: value") to r; false when out of memory. */
extern bool pp_http_header(PPHttpReq *r, const char *header);
/* Starts r; false (with r->errbuf) when curl refused it. */
extern bool pp_http_start(PPHttp *h, PPHttpReq *r);
/*
 * Runs transfers for up to timeout_ms; returns finished requests (at most max_done).  A request
 * that timed out on a connection takes the connection down with it (see http.c): the other
 * requests on it finish as failures, and the next ones open a new connection.
 */
extern int	pp_http_run(PPHttp *h, int timeout_ms, PPHttpReq **done, int max_done);
/* The free list's trim (pp_http_run does it too) for a caller with nothing to run. */
extern void pp_http_idle(PPHttp *h);
/* Releases what a finished (or abandoned) request holds. */
extern void pp_http_release(PPHttp *h, PPHttpReq *r);
/* A blocking request (token endpoints): o's timeout and CA file; status 0 and errbuf on failure. */
extern void pp_http_perform_blocking(const PPHttpOptions *o, PPHttpReq *r);
/* The transport error as text. */
extern const char *pp_http_error(const PPHttpReq *r);
/* Whether a transport failure is worth retrying (timeouts, dropped connections ...). */
extern bool pp_http_error_transient(const PPHttpReq *r);
/* URL path segment or form value escaping (RFC 3986 unreserved characters kept) */
extern char *pp_url_escape(const char *s);

#endif							/* PUSHPLAN_HTTP_H */
