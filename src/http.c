/*
 * http.c: the curl side of the delivery engine.
 *
 * One long-lived multi handle per engine: HTTP/2 multiplexing (CURLPIPE_MULTIPLEX, PIPEWAIT so
 * new streams wait for a connection that can take them rather than opening another), a cap on
 * connections per host, easy handles reused from a free list (their connection and TLS session
 * caches stay with the multi handle).  https:// is negotiated by ALPN (HTTP/2 where the server
 * offers it: APNs requires it); http:// is spoken as HTTP/1.1, since Debian 12's libcurl 7.88.1
 * breaks h2c prior-knowledge connections after their first request.
 *
 * A request that times out takes its connection down (pp_http_drop): libcurl 7.88.1 resets only
 * the timed-out HTTP/2 stream and keeps the connection in its pool, so when a vendor stops
 * reading one, every later request to that host is queued on it (nghttp2 buffering their frames)
 * and times out in turn, for as long as the peer keeps the connection open.  There is no libcurl
 * call to close one connection of a multi handle: the multi handle opens its sockets through
 * pp_open_socket_cb and closes them through pp_close_socket_cb, so it knows them, and each request
 * learns its connection's ports from CURLOPT_PREREQFUNCTION; the timed-out request's socket is
 * shut down (with SO_LINGER 0, so that libcurl's close resets it) and libcurl, reading the end of
 * the stream, fails what else was on it and drops it from its pool.
 *
 * Connection groups (http.h; APNs ties a connection to one team and key): libcurl 7.88.1 picks a
 * transfer's connection in the connection cache it is attached to, which is the multi handle's
 * unless the easy handle has a share handle that shares connections (CURLOPT_SHARE with
 * CURL_LOCK_DATA_CONNECT: curl_multi_add_handle points the transfer at the share's cache, and
 * url.c's ConnectionExists and the CURLMOPT_MAX_HOST_CONNECTIONS check look only there).  So each
 * group gets a share handle of its own, made on first use and kept until the engine goes: its
 * requests reuse and multiplex only its connections, on the same multi handle (one poll, one
 * pending queue, the same socket callbacks and timeout drop), and requests without a group keep
 * the multi handle's cache.  Nothing on the wire changes.  libcurl documents a shared connection
 * cache as unsafe across threads only; there is one thread here (doc/vendors.md, "Connections":
 * the evidence, and the ways not taken).
 *
 * The callbacks run inside libcurl: they never palloc or ereport (a longjmp through libcurl is
 * undefined).  Response bodies go to malloc'd buffers, capped, and errors are recorded in the
 * request for the engine to turn into outcomes.
 */
#include "pushplan.h"

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <curl/curl.h>

#include "common/hashfn.h"
#include "storage/ipc.h"
#include "utils/timestamp.h"

#include "http.h"

/*
 * Vendor answers are small, but for OPPO's unicast_batch: one result per message, about 100
 * bytes each, 1000 a request.  A larger body is cut (its classification then fails).
 */
#define PP_RESP_MAX			(512 * 1024)
/* Streams on one HTTP/2 connection at most (APNs and the mock allow 1000). */
#define PP_MAX_STREAMS		1000
/* Dropped connections remembered for the error text of their other requests. */
#define PP_DROPPED_KEPT		16
/*
 * The free list follows the load (pp_http_trim): looked at this often, it keeps at least this
 * many handles, and a trim that cleans up at least PP_TRIM_GIVE_BACK of them gives the freed heap
 * back to the system.
 */
#define PP_TRIM_INTERVAL_MS	10000
#define PP_TRIM_KEEP		16
#define PP_TRIM_GIVE_BACK	32

/* A connection group: its connections are in its share handle's connection cache. */
typedef struct PPHttpGroup
{
	uint32		hash;
	char	   *name;			/* malloc'd */
	CURLSH	   *share;
} PPHttpGroup;

struct PPHttp
{
	CURLM	   *multi;
	int			timeout_ms;
	char	   *ca_file;		/* malloc'd; NULL: system CAs */
	int			running;
	/*
	 * Easy handles kept for reuse, up to max_handles of them: memory is what the busiest moment
	 * needed anyway, and a broadcast then never pays curl_easy_init/cleanup (and the malloc churn
	 * under them) per request.
	 */
	CURL	  **free_easy;
	int			nfree;
	int			maxfree;
	/*
	 * Handles whose transfer ended in the last pass: reusable only after libcurl has run once
	 * more.  A backend crashed (SIGSEGV inside libcurl 7.88.1's curl_multi_perform) every time
	 * two transfers each sent their second request (vivo's pushToList right after
	 * saveListPayload) on the handle that had just ended their first one, on the same HTTP/2
	 * connection, before libcurl ran again; with this pause, or without reuse, it never did.
	 */
	CURL	  **cool_easy;
	int			ncool;
	/* the sockets of the multi handle's connections (malloc'd: the socket callbacks keep it) */
	curl_socket_t *socks;
	int			nsocks;
	int			maxsocks;
	/* connections lately dropped after a timeout, to name the cause in the failures they bring */
	struct
	{
		int			local_port;
		int			remote_port;
	}			dropped[PP_DROPPED_KEPT];
	int			ndropped;		/* ever; the last PP_DROPPED_KEPT are kept */
	/* connection groups met so far (malloc'd: made while transfers start) */
	PPHttpGroup *groups;
	int			ngroups;
	int			maxgroups;
	int			lastgroup;		/* the last one asked for: a broadcast asks for one group */

	/*
	 * Threaded (PPHttpOptions.threaded): the thread owns everything above (the multi handle, its
	 * handles, sockets and groups); the caller and the thread share what follows, under lock.
	 */
	bool		threaded;
	bool		thread_live;	/* started and not yet joined (the caller's) */
	pthread_t	thread;
	pthread_mutex_t lock;
	pthread_cond_t finished_cond;	/* something finished */
	bool		stop;
	int			window;			/* requests without a group on the wire at most */
	int			room;			/* ... on the wire, finished or taken since (pp_http_set_limits) */
	int			nfinished;		/* in finished_head's queue */
	int			taken;			/* finished and taken by pp_http_run since pp_http_set_limits */
	int			max_open;		/* requests on the wire at most (urgent ones aside) */
	int			open;			/* requests on the wire */
	int			open_windowed;	/* ... without a connection group */
	int			ready_grouped;	/* ready requests with a connection group */
	PPHttpReq  *urgent_head;	/* ready, urgent: in order */
	PPHttpReq  *urgent_tail;
	PPHttpReq  *ready_head;		/* ready, the others: in order */
	PPHttpReq  *ready_tail;
	PPHttpReq  *finished_head;	/* finished, for pp_http_run */
	PPHttpReq  *finished_tail;
	/* the free list's trim (pp_http_trim): the most transfers at once since the last look */
	int			peak_running;
	TimestampTz trim_at;
};

/* The threaded multi handles alive, joined at process exit (malloc'd). */
static PPHttp **pp_threaded = NULL;
static int	pp_nthreaded = 0;
static int	pp_maxthreaded = 0;
static bool pp_exit_hook = false;

static bool pp_curl_initialised = false;

static void pp_http_thread_stop(PPHttp *h);
static void pp_http_thread_start(PPHttp *h);

static void
pp_curl_global_init(void)
{
	if (!pp_curl_initialised)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			pp_error(PPE_CURL_INIT, "libcurl initialisation failed");
		pp_curl_initialised = true;
	}
}

static size_t
pp_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	PPHttpReq  *r = arg;
	size_t		n = size * nmemb;
	size_t		take = n;

	if (r->resp_len + take > PP_RESP_MAX)
		take = PP_RESP_MAX - r->resp_len;
	if (take > 0)
	{
		if (r->resp_len + take + 1 > r->resp_cap)
		{
			size_t		cap = Max(r->resp_cap * 2, r->resp_len + take + 1);
			char	   *p;

			cap = Max(cap, 512);
			p = realloc(r->resp, cap);
			if (p == NULL)
				return n;		/* keep what we have; the status still classifies */
			r->resp = p;
			r->resp_cap = cap;
		}
		memcpy(r->resp + r->resp_len, data, take);
		r->resp_len += take;
		r->resp[r->resp_len] = '\0';
	}
	return n;
}

/* Case-insensitive "name:" prefix test; returns the value with blanks trimmed, in buf. */
static bool
pp_header_value(const char *line, size_t len, const char *name, char *buf, size_t bufsize)
{
	size_t		nlen = strlen(name);
	size_t		i,
				j;

	if (len <= nlen || pg_strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return false;
	i = nlen + 1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	j = len;
	while (j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' '))
		j--;
	if (j - i >= bufsize)
		j = i + bufsize - 1;
	memcpy(buf, line + i, j - i);
	buf[j - i] = '\0';
	return true;
}

static size_t
pp_header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	PPHttpReq  *r = arg;
	size_t		n = size * nmemb;
	char		val[128];

	if (pp_header_value(data, n, "apns-id", val, sizeof(val)))
		strlcpy(r->apns_id, val, sizeof(r->apns_id));
	return n;
}

/* Opens a connection's socket for libcurl, and keeps it in h->socks (when there is memory). */
static curl_socket_t
pp_open_socket_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	PPHttp	   *h = arg;
	curl_socket_t fd = socket(addr->family, addr->socktype, addr->protocol);

	if (fd == CURL_SOCKET_BAD || purpose != CURLSOCKTYPE_IPCXN)
		return fd;
	if (h->nsocks == h->maxsocks)
	{
		int			n = Max(h->maxsocks * 2, 16);
		curl_socket_t *p = realloc(h->socks, sizeof(curl_socket_t) * n);

		if (p == NULL)
			return fd;			/* not kept: works, but cannot be dropped on a timeout */
		h->socks = p;
		h->maxsocks = n;
	}
	h->socks[h->nsocks++] = fd;
	return fd;
}

static int
pp_close_socket_cb(void *arg, curl_socket_t fd)
{
	PPHttp	   *h = arg;

	for (int i = 0; i < h->nsocks; i++)
		if (h->socks[i] == fd)
		{
			h->socks[i] = h->socks[--h->nsocks];
			break;
		}
	return close(fd);
}

/* The connection a request goes on, as libcurl is about to send it. */
static int
pp_prereq_cb(void *arg, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	PPHttpReq  *r = arg;

	(void) primary_ip;
	(void) local_ip;
	r->local_port = local_port;
	r->remote_port = primary_port;
	return CURL_PREREQFUNC_OK;
}

static int
pp_sock_port(curl_socket_t fd, bool peer)
{
	struct sockaddr_storage a;
	socklen_t	len = sizeof(a);

	if ((peer ? getpeername(fd, (struct sockaddr *) &a, &len) :
		 getsockname(fd, (struct sockaddr *) &a, &len)) != 0)
		return -1;
	if (a.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *) &a)->sin_port);
	if (a.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *) &a)->sin6_port);
	return -1;
}

/* Whether r went on a connection dropped after another request on it timed out. */
static bool
pp_http_was_dropped(const PPHttp *h, const PPHttpReq *r)
{
	for (int i = 0; i < Min(h->ndropped, PP_DROPPED_KEPT); i++)
		if (r->local_port > 0 && h->dropped[i].local_port == r->local_port &&
			h->dropped[i].remote_port == r->remote_port)
			return true;
	return false;
}

/*
 * r timed out: shut its connection down, if it is still open.  libcurl sees the end of the
 * stream at its next read, fails the connection's other transfers and closes it; SO_LINGER 0
 * makes that close a reset, so the kernel drops what the peer never read.
 */
static void
pp_http_drop(PPHttp *h, const PPHttpReq *r)
{
	if (r->local_port <= 0)
		return;					/* it never got a connection (connecting, or waiting for one) */
	for (int i = 0; i < h->nsocks; i++)
	{
		curl_socket_t fd = h->socks[i];

		if (pp_sock_port(fd, false) == r->local_port && pp_sock_port(fd, true) == r->remote_port)
		{
			struct linger lg = {.l_onoff = 1,.l_linger = 0};

			(void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			(void) shutdown(fd, SHUT_RDWR);
			if (pp_http_was_dropped(h, r))
				return;			/* another of its requests timed out in the same pass */
			h->dropped[h->ndropped % PP_DROPPED_KEPT].local_port = r->local_port;
			h->dropped[h->ndropped % PP_DROPPED_KEPT].remote_port = r->remote_port;
			h->ndropped++;
			return;
		}
	}
}

/*
 * Whether a failure of r says nothing of r itself: the connection it was on ended under it
 * (reset, closed without an answer, a stream refused by a GOAWAY), which the other requests on
 * the connection see alike, whichever of them (or none) caused it.  Its own timeout and a
 * failure to connect (DNS, TCP, TLS) are r's own.
 */
static bool
pp_http_failed_with_connection(const PPHttpReq *r)
{
	switch ((CURLcode) r->curl_result)
	{
		case CURLE_RECV_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return true;
		default:
			return false;
	}
}

/* The share handle that holds a connection group's connections, made on first use; NULL: no memory. */
static CURLSH *
pp_http_group(PPHttp *h, const char *name)
{
	uint32		hash = hash_bytes((const unsigned char *) name, (int) strlen(name));
	PPHttpGroup *g;

	for (int k = 0; k < h->ngroups; k++)
	{
		int			i = (h->lastgroup + k) % h->ngroups;

		if (h->groups[i].hash == hash && strcmp(h->groups[i].name, name) == 0)
		{
			h->lastgroup = i;
			return h->groups[i].share;
		}
	}
	if (h->ngroups == h->maxgroups)
	{
		int			n = Max(h->maxgroups * 2, 4);
		PPHttpGroup *p = realloc(h->groups, sizeof(PPHttpGroup) * n);

		if (p == NULL)
			return NULL;
		h->groups = p;
		h->maxgroups = n;
	}
	g = &h->groups[h->ngroups];
	g->hash = hash;
	g->name = strdup(name);
	g->share = curl_share_init();
	if (g->name == NULL || g->share == NULL ||
		curl_share_setopt(g->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK)
	{
		free(g->name);
		if (g->share)
			curl_share_cleanup(g->share);
		return NULL;
	}
	h->lastgroup = h->ngroups++;
	return g->share;
}

/*
 * The answer's status, Retry-After and time of a finished transfer. libcurl reads Retry-After itself,
 * delta-seconds or an HTTP-date (as seconds from now); a day at most is kept.
 */
static void
pp_read_answer(CURL *easy, PPHttpReq *r)
{
	long		status = 0;
	curl_off_t	retry_after = 0;
	curl_off_t	total_us = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	r->status = (int) status;
	if (curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK)
		r->total_us = (int64) total_us;
	if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
		r->retry_after_ms = (int) Min(retry_after, (curl_off_t) 86400) * 1000;
}

PPHttp *
pp_http_create(const PPHttpOptions *o)
{
	PPHttp	   *h;
	int			conns = Max(o->max_conns_per_host, 1);

	pp_curl_global_init();
	h = palloc0(sizeof(PPHttp));
	h->multi = curl_multi_init();
	if (h->multi == NULL)
		pp_error(PPE_CURL_NO_MEMORY, "libcurl could not make a multi handle");
	h->timeout_ms = o->timeout_ms;
	h->maxfree = Max(o->max_handles, 1);
	h->free_easy = palloc(sizeof(CURL *) * h->maxfree);
	h->cool_easy = palloc(sizeof(CURL *) * h->maxfree);
	if (o->ca_file && o->ca_file[0])
		h->ca_file = strdup(o->ca_file);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) conns);
	/*
	 * Spread the requests in flight over the connections a host may have: libcurl fills one
	 * connection up to this many streams before it opens the next.
	 */
	curl_multi_setopt(h->multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
					  (long) Min(PP_MAX_STREAMS, Max(1, (o->max_handles + conns - 1) / conns)));
	if (o->threaded)
	{
		h->max_open = h->maxfree;
		h->window = h->maxfree;
		h->room = INT_MAX;
		pp_http_thread_start(h);
	}
	return h;
}

void
pp_http_destroy(PPHttp *h)
{
	if (h == NULL)
		return;
	if (h->threaded)
	{
		pp_http_thread_stop(h);
		for (int i = 0; i < pp_nthreaded; i++)
			if (pp_threaded[i] == h)
				pp_threaded[i] = pp_threaded[--pp_nthreaded];
		pthread_cond_destroy(&h->finished_cond);
		pthread_mutex_destroy(&h->lock);
		h->threaded = false;
	}
	for (int i = 0; i < h->nfree; i++)
		curl_easy_cleanup(h->free_easy[i]);
	h->nfree = 0;
	for (int i = 0; i < h->ncool; i++)
		curl_easy_cleanup(h->cool_easy[i]);
	h->ncool = 0;
	if (h->multi)
		curl_multi_cleanup(h->multi);	/* closes the sockets, through h */
	h->multi = NULL;
	/* no easy handle uses them any more: each closes its group's connections, through h */
	for (int i = 0; i < h->ngroups; i++)
	{
		curl_share_cleanup(h->groups[i].share);
		free(h->groups[i].name);
	}
	free(h->groups);
	h->groups = NULL;
	h->ngroups = h->maxgroups = 0;
	free(h->ca_file);
	h->ca_file = NULL;
	free(h->socks);
	h->socks = NULL;
	h->nsocks = h->maxsocks = 0;
}

bool
pp_http_header(PPHttpReq *r, const char *header)
{
	struct curl_slist *l = curl_slist_append(r->headers, header);

	if (l == NULL)
		return false;
	r->headers = l;
	return true;
}

/* Options common to engine and blocking requests. */
static void
pp_easy_setup(CURL *easy, PPHttpReq *r, int timeout_ms, const char *ca_file)
{
	bool		tls = pg_strncasecmp(r->url, "https:", 6) == 0;

	curl_easy_setopt(easy, CURLOPT_URL, r->url);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
					 tls ? (long) CURL_HTTP_VERSION_2TLS : (long) CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r->body ? r->body : "");
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, pp_write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, pp_header_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "pushplan/0.1");
	/*
	 * Small buffers: pushes are a few kB, and a sender keeps up to pushplan.max_inflight
	 * handles; at libcurl's defaults (16 kB receive, 64 kB upload) 2000 handles alone hold
	 * 160 MB.  The receive buffer stays at 16 kB, HTTP/2's largest DATA frame: libcurl 7.88.1
	 * writes past a smaller one when a frame of a longer answer (OPPO's unicast_batch, an
	 * HMS list of illegal tokens) is bigger, on a connection busy with other streams
	 * (valgrind: "Invalid write ... 0 bytes after a block of size 4,097").
	 */
	curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 16384L);
	curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
	/*
	 * Certificates and names are always checked (libcurl's defaults, said here so that no
	 * change of default or build can loosen them); there is no setting to turn them off: a
	 * test trusts its mock's CA through pushplan.ca_file (test/integration/tls_verify.sh).
	 */
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file)
		curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file);
	r->errbuf[0] = '\0';
	r->status = 0;
	r->retry_after_ms = 0;
	r->apns_id[0] = '\0';
	r->resp_len = 0;
	if (r->resp)
		r->resp[0] = '\0';
	r->curl_result = CURLE_OK;
	r->collateral = false;
	r->local_port = r->remote_port = 0;
}

static bool
pp_http_start_now(PPHttp *h, PPHttpReq *r)
{
	CURL	   *easy;
	CURLMcode	mc;
	CURLSH	   *share = NULL;

	if (r->conn_group && (share = pp_http_group(h, r->conn_group)) == NULL)
	{
		strlcpy(r->errbuf, "libcurl could not make a connection group", sizeof(r->errbuf));
		r->curl_result = CURLE_OUT_OF_MEMORY;
		return false;
	}
	if (h->nfree > 0)
	{
		easy = h->free_easy[--h->nfree];
		curl_easy_reset(easy);
	}
	else
		easy = curl_easy_init();
	if (easy == NULL)
	{
		strlcpy(r->errbuf, "libcurl could not make an easy handle", sizeof(r->errbuf));
		r->curl_result = CURLE_OUT_OF_MEMORY;
		return false;
	}
	pp_easy_setup(easy, r, h->timeout_ms, h->ca_file);
	/*
	 * Its group's connections, or (NULL) the multi handle's; set every time, as curl_easy_reset
	 * keeps the share of a reused handle.
	 */
	curl_easy_setopt(easy, CURLOPT_SHARE, share);
	/* a stream on an existing connection rather than a new connection per request */
	curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
	/* which connection: a timeout drops it (pp_http_drop) */
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, pp_open_socket_cb);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, h);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, pp_close_socket_cb);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, h);
	curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, pp_prereq_cb);
	curl_easy_setopt(easy, CURLOPT_PREREQDATA, r);
	mc = curl_multi_add_handle(h->multi, easy);
	if (mc != CURLM_OK)
	{
		strlcpy(r->errbuf, curl_multi_strerror(mc), sizeof(r->errbuf));
		r->curl_result = CURLE_FAILED_INIT;
		curl_easy_cleanup(easy);
		return false;
	}
	r->easy = easy;
	h->running++;
	h->peak_running = Max(h->peak_running, h->running);
	return true;
}

/* libcurl has run since the last pass's transfers ended: their handles may be reused */
static void
pp_http_uncool(PPHttp *h)
{
	for (int i = 0; i < h->ncool; i++)
	{
		if (h->nfree < h->maxfree)
			h->free_easy[h->nfree++] = h->cool_easy[i];
		else
			curl_easy_cleanup(h->cool_easy[i]);
	}
	h->ncool = 0;
}

/*
 * Easy handles are kept for reuse (free_easy), but not beyond what the load needs: every
 * PP_TRIM_INTERVAL_MS, the handles beyond the most transfers that ran at once since the last
 * look (and PP_TRIM_KEEP) are cleaned up, and glibc is asked to return the freed heap (it keeps
 * freed memory below its top otherwise).  Each handle holds about 45 kB (libcurl's download and
 * upload buffers and the handle itself), so a burst of max_inflight requests (500) left some
 * 22 MB with the worker for good: the soak saw the express sender grow by 30 MB within a minute
 * and stay there (doc/reliability.md, "Soak").  A broadcast keeps its handles: its transfers stay
 * near max_inflight.  Connections and TLS sessions belong to the multi handle and its shares, not
 * to the easy handles: none is lost.  Whoever owns the handles trims: the network thread when
 * there is one (it wakes at least every 100 ms; GetCurrentTimestamp is gettimeofday, and
 * curl_easy_cleanup and malloc_trim allocate with malloc only), else the caller.
 */
static void
pp_http_trim(PPHttp *h)
{
	TimestampTz now = GetCurrentTimestamp();
	int			keep;
	int			freed = 0;

	if (now < h->trim_at)
		return;
	h->trim_at = TimestampTzPlusMilliseconds(now, PP_TRIM_INTERVAL_MS);
	keep = Max(h->peak_running - h->running, PP_TRIM_KEEP);
	h->peak_running = h->running;
	while (h->nfree > keep)
	{
		curl_easy_cleanup(h->free_easy[--h->nfree]);
		freed++;
	}
#ifdef __GLIBC__
	if (freed >= PP_TRIM_GIVE_BACK)
		malloc_trim(0);
#endif
}

/*
 * A worker with nothing in flight does not call pp_http_run: it calls this while it idles, so
 * that what the last burst left is given back (the soak's senders kept 37 MB, idle, until they
 * did). A network thread trims by itself.
 */
void
pp_http_idle(PPHttp *h)
{
	if (!h->threaded)
		pp_http_trim(h);
}

/* The transfers libcurl has finished, taken off the multi handle (at most max_done). */
static int
pp_http_collect(PPHttp *h, PPHttpReq **done, int max_done)
{
	int			ndone = 0;
	CURLMsg    *msg;
	int			left;

	while (ndone < max_done && (msg = curl_multi_info_read(h->multi, &left)) != NULL)
	{
		PPHttpReq  *r;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &r);
		r->curl_result = msg->data.result;
		if (r->curl_result == CURLE_OK)
			pp_read_answer(msg->easy_handle, r);
		else if (r->curl_result == CURLE_OPERATION_TIMEDOUT)
			pp_http_drop(h, r);
		else if (pp_http_was_dropped(h, r))
		{
			r->collateral = true;
			snprintf(r->errbuf, sizeof(r->errbuf),
					 "connection dropped: another request on it got no answer in time (%s)",
					 curl_easy_strerror((CURLcode) r->curl_result));
		}
		else
			r->collateral = pp_http_failed_with_connection(r);
		curl_multi_remove_handle(h->multi, msg->easy_handle);
		h->running--;
		if (h->ncool < h->maxfree)
			h->cool_easy[h->ncool++] = msg->easy_handle;
		else
			curl_easy_cleanup(msg->easy_handle);
		r->easy = NULL;
		done[ndone++] = r;
	}
	return ndone;
}

/* ---- the network thread (http.h: threaded) -------------------------------------------------- */

/* r leaves the queue it is in (under the lock). */
static void
pp_queue_remove(PPHttpReq **head, PPHttpReq **tail, PPHttpReq *r)
{
	PPHttpReq  *prev = NULL;

	for (PPHttpReq *q = *head; q; prev = q, q = q->next)
		if (q == r)
		{
			if (prev)
				prev->next = r->next;
			else
				*head = r->next;
			if (*tail == r)
				*tail = prev;
			r->next = NULL;
			return;
		}
}

static void
pp_queue_append(PPHttpReq **head, PPHttpReq **tail, PPHttpReq *r)
{
	r->next = NULL;
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
}

/* Finished requests go to the caller (under the lock). */
static void
pp_thread_finished(PPHttp *h, PPHttpReq *r, bool was_open)
{
	if (was_open)
	{
		h->open--;
		if (r->conn_group == NULL)
			h->open_windowed--;
	}
	r->where = PP_HTTP_AT_FINISHED;
	r->started_at = 0;
	pp_queue_append(&h->finished_head, &h->finished_tail, r);
	h->nfinished++;
}

/*
 * Puts on the wire what the window lets go, in order: every urgent request, then the others
 * while fewer than max_open are open and, for those without a connection group (APNs has
 * one: engine.c, pp_engine_start_pending says why it is not windowed), fewer than the window.
 */
static void
pp_thread_start_ready(PPHttp *h)
{
	PPHttpReq  *go = NULL;
	PPHttpReq  *go_tail = NULL;
	PPHttpReq  *r;
	PPHttpReq  *next;
	int64		now = (int64) GetCurrentTimestamp();	/* gettimeofday: no palloc, no elog */

	pthread_mutex_lock(&h->lock);
	while ((r = h->urgent_head) != NULL)
	{
		pp_queue_remove(&h->urgent_head, &h->urgent_tail, r);
		pp_queue_append(&go, &go_tail, r);
	}
	for (r = h->ready_head; r; r = next)
	{
		next = r->next;
		if (h->open >= h->max_open)
			break;
		if (r->conn_group == NULL &&
			(h->open_windowed >= h->window ||
			 h->open_windowed + h->nfinished + h->taken >= h->room))
		{
			if (h->ready_grouped == 0)
				break;
			continue;
		}
		pp_queue_remove(&h->ready_head, &h->ready_tail, r);
		if (r->conn_group)
			h->ready_grouped--;
		pp_queue_append(&go, &go_tail, r);
		h->open++;
		if (r->conn_group == NULL)
			h->open_windowed++;
		r->where = PP_HTTP_AT_RUNNING;
		r->started_at = now;
	}
	/* urgent ones count once they are on their way, as the others */
	for (r = go; r && r->urgent; r = r->next)
	{
		h->open++;
		if (r->conn_group == NULL)
			h->open_windowed++;
		r->where = PP_HTTP_AT_RUNNING;
		r->started_at = now;
	}
	pthread_mutex_unlock(&h->lock);

	for (r = go; r; r = next)
	{
		next = r->next;
		r->next = NULL;
		if (!pp_http_start_now(h, r))
		{
			pthread_mutex_lock(&h->lock);
			pp_thread_finished(h, r, true);
			pthread_cond_signal(&h->finished_cond);
			pthread_mutex_unlock(&h->lock);
		}
	}
}

static void *
pp_http_thread_main(void *arg)
{
	PPHttp	   *h = arg;
	PPHttpReq **done = malloc(sizeof(PPHttpReq *) * 256);

	for (;;)
	{
		int			still;
		int			n;
		bool		stop;

		curl_multi_perform(h->multi, &still);
		pp_http_uncool(h);
		pp_http_trim(h);
		while (done && (n = pp_http_collect(h, done, 256)) > 0)
		{
			pthread_mutex_lock(&h->lock);
			for (int i = 0; i < n; i++)
				pp_thread_finished(h, done[i], true);
			pthread_cond_signal(&h->finished_cond);
			pthread_mutex_unlock(&h->lock);
		}
		pthread_mutex_lock(&h->lock);
		stop = h->stop;
		pthread_mutex_unlock(&h->lock);
		if (stop)
			break;
		pp_thread_start_ready(h);
		/* socket activity, curl's timers, or the caller's wake-up (curl_multi_wakeup) */
		curl_multi_poll(h->multi, NULL, 0, 100, NULL);
	}
	free(done);
	return NULL;
}

/* Stops and joins h's thread: the caller owns the multi handle and every request from here on. */
static void
pp_http_thread_stop(PPHttp *h)
{
	if (!h->thread_live)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_mutex_unlock(&h->lock);
	curl_multi_wakeup(h->multi);
	pthread_join(h->thread, NULL);
	h->thread_live = false;
}

/* At process exit (a FATAL, an ERROR of a worker, SIGTERM): no thread outlives its backend. */
static void
pp_http_threads_exit(int code, Datum arg)
{
	for (int i = 0; i < pp_nthreaded; i++)
		pp_http_thread_stop(pp_threaded[i]);
}

static void
pp_http_thread_start(PPHttp *h)
{
	sigset_t	all;
	sigset_t	old;
	int			rc;

	if (!pp_exit_hook)
	{
		on_proc_exit(pp_http_threads_exit, (Datum) 0);
		pp_exit_hook = true;
	}
	if (pp_nthreaded == pp_maxthreaded)
	{
		int			n = Max(pp_maxthreaded * 2, 4);
		PPHttp	  **p = realloc(pp_threaded, sizeof(PPHttp *) * n);

		if (p == NULL)
			pp_error(PPE_CURL_NO_MEMORY, "out of memory for the network thread");
		pp_threaded = p;
		pp_maxthreaded = n;
	}
	{
		pthread_condattr_t ca;

		pthread_mutex_init(&h->lock, NULL);
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&h->finished_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	h->threaded = true;
	/* the thread inherits this mask: no signal of the backend is ever delivered to it */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&h->thread, NULL, pp_http_thread_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
	{
		pthread_cond_destroy(&h->finished_cond);
		pthread_mutex_destroy(&h->lock);
		h->threaded = false;
		pp_error(PPE_CURL_INIT, "could not start the network thread: %s", strerror(rc));
	}
	h->thread_live = true;
	pp_threaded[pp_nthreaded++] = h;
}

void
pp_http_set_limits(PPHttp *h, int window, int room)
{
	bool		wider;

	if (!h->threaded)
		return;
	pthread_mutex_lock(&h->lock);
	wider = window > h->window || room > h->room - h->taken;
	h->window = Max(window, 1);
	h->room = room;
	h->taken = 0;
	pthread_mutex_unlock(&h->lock);
	if (wider && h->thread_live)
		curl_multi_wakeup(h->multi);
}

int
pp_http_open(PPHttp *h)
{
	int			n;

	if (!h->threaded)
		return h->running;
	pthread_mutex_lock(&h->lock);
	n = h->open;
	pthread_mutex_unlock(&h->lock);
	return n;
}

int64
pp_http_started_at(PPHttp *h, const PPHttpReq *r)
{
	int64		t;

	if (!h->threaded)
		return 0;
	pthread_mutex_lock(&h->lock);
	t = r->started_at;
	pthread_mutex_unlock(&h->lock);
	return t;
}

bool
pp_http_start(PPHttp *h, PPHttpReq *r)
{
	if (!h->threaded)
		return pp_http_start_now(h, r);
	if (!h->thread_live)
	{
		strlcpy(r->errbuf, "the network thread has stopped", sizeof(r->errbuf));
		r->curl_result = CURLE_FAILED_INIT;
		return false;
	}
	r->easy = NULL;
	pthread_mutex_lock(&h->lock);
	r->where = PP_HTTP_AT_READY;
	r->started_at = 0;
	if (r->urgent)
		pp_queue_append(&h->urgent_head, &h->urgent_tail, r);
	else
	{
		pp_queue_append(&h->ready_head, &h->ready_tail, r);
		if (r->conn_group)
			h->ready_grouped++;
	}
	pthread_mutex_unlock(&h->lock);
	curl_multi_wakeup(h->multi);
	return true;
}

int
pp_http_run(PPHttp *h, int timeout_ms, PPHttpReq **done, int max_done)
{
	int			ndone = 0;
	int			still;

	if (h->threaded)
	{
		PPHttpReq  *r;

		pthread_mutex_lock(&h->lock);
		if (h->finished_head == NULL && timeout_ms > 0 && h->thread_live)
		{
			struct timespec until;

			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += timeout_ms / 1000;
			until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L)
			{
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (h->finished_head == NULL &&
				   pthread_cond_timedwait(&h->finished_cond, &h->lock, &until) == 0)
				;
		}
		while (ndone < max_done && (r = h->finished_head) != NULL)
		{
			pp_queue_remove(&h->finished_head, &h->finished_tail, r);
			h->nfinished--;
			h->taken++;
			r->where = PP_HTTP_AT_NONE;
			done[ndone++] = r;
		}
		pthread_mutex_unlock(&h->lock);
		return ndone;
	}

	curl_multi_perform(h->multi, &still);
	pp_http_uncool(h);
	pp_http_trim(h);
	if (h->running > 0 && timeout_ms > 0 && still >= h->running)
	{
		/* nothing finished yet: wait for socket activity or curl's timers */
		curl_multi_poll(h->multi, NULL, 0, timeout_ms, NULL);
		curl_multi_perform(h->multi, &still);
	}
	return pp_http_collect(h, done, max_done);
}

void
pp_http_release(PPHttp *h, PPHttpReq *r)
{
	if (h && h->threaded)
	{
		int			where;

		pthread_mutex_lock(&h->lock);
		where = r->where;
		pthread_mutex_unlock(&h->lock);
		/* the thread still has it (an error, or the engine going): it stops first */
		if (where != PP_HTTP_AT_NONE)
		{
			pp_http_thread_stop(h);
			if (where == PP_HTTP_AT_READY)
			{
				pp_queue_remove(&h->urgent_head, &h->urgent_tail, r);
				pp_queue_remove(&h->ready_head, &h->ready_tail, r);
			}
			else if (where == PP_HTTP_AT_FINISHED)
			{
				pp_queue_remove(&h->finished_head, &h->finished_tail, r);
				h->nfinished--;
			}
			r->where = PP_HTTP_AT_NONE;
		}
	}
	if (r->easy && h)
	{
		curl_multi_remove_handle(h->multi, r->easy);
		curl_easy_cleanup(r->easy);
		h->running--;
		r->easy = NULL;
	}
	curl_slist_free_all(r->headers);
	r->headers = NULL;
	free(r->resp);
	r->resp = NULL;
	r->resp_len = r->resp_cap = 0;
}

void
pp_http_perform_blocking(const PPHttpOptions *o, PPHttpReq *r)
{
	CURL	   *easy;
	CURLcode	rc;

	pp_curl_global_init();
	easy = curl_easy_init();
	if (easy == NULL)
	{
		strlcpy(r->errbuf, "libcurl could not make an easy handle", sizeof(r->errbuf));
		r->curl_result = CURLE_OUT_OF_MEMORY;
		return;
	}
	pp_easy_setup(easy, r, o->timeout_ms, o->ca_file && o->ca_file[0] ? o->ca_file : NULL);
	rc = curl_easy_perform(easy);
	r->curl_result = rc;
	if (rc == CURLE_OK)
		pp_read_answer(easy, r);
	curl_easy_cleanup(easy);
}

const char *
pp_http_error(const PPHttpReq *r)
{
	if (r->curl_result == CURLE_OPERATION_TIMEDOUT)
		return "timeout";
	if (r->errbuf[0])
		return r->errbuf;
	return curl_easy_strerror((CURLcode) r->curl_result);
}

bool
pp_http_error_transient(const PPHttpReq *r)
{
	switch ((CURLcode) r->curl_result)
	{
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_BAD_FUNCTION_ARGUMENT:
		case CURLE_NOT_BUILT_IN:
			return false;
		default:
			return true;
	}
}

/* A URL path segment or form value: RFC 3986 unreserved characters kept, the rest %XX. */
char *
pp_url_escape(const char *s)
{
	char	   *e = curl_easy_escape(NULL, s, 0);
	char	   *out;

	if (e == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	out = pstrdup(e);
	curl_free(e);
	return out;
}
